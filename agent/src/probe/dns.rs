//! DNS through hickory-resolver: the system resolver by default, or the nameservers the user
//! names (`--resolver ADDR:PORT`). Answers are reduced to what the checks need, and "no such
//! name" and "no data" are told apart from "could not ask".

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{TokioResolver, proto::rr::Name};

/// An answer: the records, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// Records of the asked type.
    Records(Vec<T>),
    /// NOERROR with no records of that type.
    NoData,
    /// NXDOMAIN.
    NxDomain,
}

impl<T> Answer<T> {
    /// The records (empty for NODATA and NXDOMAIN).
    pub fn records(self) -> Vec<T> {
        match self {
            Answer::Records(r) => r,
            _ => Vec::new(),
        }
    }

    /// RFC 7208 §4.6.4's "void lookup": NXDOMAIN or an empty answer.
    pub fn is_void(&self) -> bool {
        match self {
            Answer::Records(r) => r.is_empty(),
            _ => true,
        }
    }
}

/// Why a question could not be answered (time-out, refusal, SERVFAIL): `untestable`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DNS lookup of {name} {kind} failed: {reason}")]
pub struct DnsFailure {
    /// The name asked.
    pub name: String,
    /// The type asked.
    pub kind: String,
    /// Why.
    pub reason: String,
}

/// A resolver.
#[derive(Clone)]
pub struct Dns {
    resolver: TokioResolver,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dns")
    }
}

impl Dns {
    /// Ask these nameservers (UDP, then TCP for truncated answers).
    pub fn with_nameservers(servers: &[SocketAddr], timeout: Duration) -> Result<Dns, String> {
        let mut config = ResolverConfig::from_parts(None, vec![], vec![]);
        for s in servers {
            let mut udp = ConnectionConfig::udp();
            udp.port = s.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = s.port();
            let mut ns = NameServerConfig::udp_and_tcp(s.ip());
            ns.connections = vec![udp, tcp];
            config.add_name_server(ns);
        }
        Dns::build(config, timeout)
    }

    /// The system's resolver (/etc/resolv.conf).
    pub fn system(timeout: Duration) -> Result<Dns, String> {
        // The test suite sets this so that nothing reaches the machine's resolver.
        if std::env::var_os("POSTURE_NO_SYSTEM_DNS").is_some() {
            return Err(
                "system DNS is disabled (POSTURE_NO_SYSTEM_DNS); name a nameserver with --resolver"
                    .into(),
            );
        }
        let (config, _) = hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("reading the system resolver configuration: {e}"))?;
        Dns::build(config, timeout)
    }

    fn build(config: ResolverConfig, timeout: Duration) -> Result<Dns, String> {
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 2;
        opts.ndots = 0;
        // Answers come from DNS only: /etc/hosts would put the agent's own view in the facts.
        opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Dns { resolver })
    }

    async fn raw(&self, name: &str, kind: RecordType) -> Result<Answer<RData>, DnsFailure> {
        let fail = |reason: String| DnsFailure {
            name: name.to_owned(),
            kind: kind.to_string(),
            reason,
        };
        let fqdn = Name::from_ascii(if name.ends_with('.') {
            name.to_owned()
        } else {
            format!("{name}.")
        })
        .map_err(|e| fail(e.to_string()))?;
        match self.resolver.lookup(fqdn, kind).await {
            Ok(lookup) => {
                let records: Vec<RData> = lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == kind)
                    .map(|r| r.data.clone())
                    .collect();
                Ok(if records.is_empty() {
                    Answer::NoData
                } else {
                    Answer::Records(records)
                })
            }
            Err(NetError::Dns(DnsError::NoRecordsFound(no))) => {
                Ok(if no.response_code == ResponseCode::NXDomain {
                    Answer::NxDomain
                } else {
                    Answer::NoData
                })
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// TXT records, each with its strings concatenated (RFC 7208 §3.3).
    pub async fn txt(&self, name: &str) -> Result<Answer<String>, DnsFailure> {
        Ok(map(self.raw(name, RecordType::TXT).await?, |r| match r {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<Vec<_>>()
                    .concat(),
            ),
            _ => None,
        }))
    }

    /// MX records as `(preference, host)`, host without the trailing dot.
    pub async fn mx(&self, name: &str) -> Result<Answer<(u16, String)>, DnsFailure> {
        Ok(map(self.raw(name, RecordType::MX).await?, |r| match r {
            RData::MX(mx) => Some((
                mx.preference,
                mx.exchange
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase(),
            )),
            _ => None,
        }))
    }

    /// A and AAAA addresses.
    pub async fn addresses(&self, name: &str) -> Result<Answer<IpAddr>, DnsFailure> {
        let a = self.raw(name, RecordType::A).await?;
        let aaaa = self.raw(name, RecordType::AAAA).await?;
        if matches!((&a, &aaaa), (Answer::NxDomain, _) | (_, Answer::NxDomain)) {
            return Ok(Answer::NxDomain);
        }
        let mut out: Vec<IpAddr> = map(a, |r| match r {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .records();
        out.extend(
            map(aaaa, |r| match r {
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .records(),
        );
        Ok(if out.is_empty() {
            Answer::NoData
        } else {
            Answer::Records(out)
        })
    }
}

impl Dns {
    /// PTR names of `ip`, without trailing dots.
    pub async fn ptr(&self, ip: IpAddr) -> Result<Answer<String>, DnsFailure> {
        let name = match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
            }
            IpAddr::V6(v6) => {
                let mut labels: Vec<String> = v6
                    .octets()
                    .iter()
                    .flat_map(|b| [b >> 4, b & 0xf])
                    .map(|n| format!("{n:x}"))
                    .collect();
                labels.reverse();
                format!("{}.ip6.arpa", labels.join("."))
            }
        };
        Ok(map(self.raw(&name, RecordType::PTR).await?, |r| match r {
            RData::PTR(p) => Some(p.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        }))
    }
}

fn map<T>(answer: Answer<RData>, f: impl Fn(RData) -> Option<T>) -> Answer<T> {
    match answer {
        Answer::Records(r) => {
            let v: Vec<T> = r.into_iter().filter_map(f).collect();
            if v.is_empty() {
                Answer::NoData
            } else {
                Answer::Records(v)
            }
        }
        Answer::NoData => Answer::NoData,
        Answer::NxDomain => Answer::NxDomain,
    }
}
