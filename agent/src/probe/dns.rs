//! DNS through hickory-resolver: the system resolver by default, or the nameservers the user
//! names (`--resolver ADDR:PORT`). Answers are reduced to what the checks need, and "no such
//! name" and "no data" are told apart from "could not ask".

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use std::sync::Arc;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::{Algorithm, PublicKeyBuf, TrustAnchors};
use hickory_resolver::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_resolver::proto::rr::LowerName;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{TokioResolver, proto::rr::Name};
use posture_policies::model::DnssecStatus;

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
    /// Why, for machines: `dns_timeout`, `dns_servfail`, `dns_refused`, `dns_bad_name`,
    /// `dns_protocol` (an answer that does not decode) or `dns_error`.
    pub code: &'static str,
}

/// The code of a resolver error.
fn dns_code(e: &NetError) -> &'static str {
    match e {
        NetError::Timeout => "dns_timeout",
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => "dns_servfail",
        NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => "dns_refused",
        NetError::Proto(_) => "dns_protocol",
        _ => "dns_error",
    }
}

/// A resolver, and a validating twin for DNSSEC status.
#[derive(Clone)]
pub struct Dns {
    resolver: TokioResolver,
    validating: TokioResolver,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dns")
    }
}

impl Dns {
    /// Ask these nameservers (UDP, then TCP for truncated answers).
    pub fn with_nameservers(servers: &[SocketAddr], timeout: Duration) -> Result<Dns, String> {
        Dns::build(Dns::nameserver_config(servers), timeout)
    }

    /// The system's resolver (/etc/resolv.conf).
    pub fn system(timeout: Duration) -> Result<Dns, String> {
        Dns::build(Dns::system_config()?, timeout)
    }

    fn system_config() -> Result<ResolverConfig, String> {
        // The test suite sets this so that nothing reaches the machine's resolver.
        if std::env::var_os("POSTURE_NO_SYSTEM_DNS").is_some() {
            return Err(
                "system DNS is disabled (POSTURE_NO_SYSTEM_DNS); name a nameserver with --resolver"
                    .into(),
            );
        }
        let (config, _) = hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("reading the system resolver configuration: {e}"))?;
        Ok(config)
    }

    fn build(config: ResolverConfig, timeout: Duration) -> Result<Dns, String> {
        Dns::build_with(config, timeout, Arc::new(TrustAnchors::default()))
    }

    /// Like [`Dns::with_nameservers`], validating DNSSEC against these zone keys (Ed25519
    /// public key bytes) instead of the root's: a private chain of trust.
    pub fn with_nameservers_and_anchors(
        servers: &[SocketAddr],
        timeout: Duration,
        anchors: &[(String, Vec<u8>)],
    ) -> Result<Dns, String> {
        let anchors: Vec<TrustAnchor> = anchors
            .iter()
            .map(|(zone, key)| TrustAnchor {
                zone: zone.clone(),
                algorithm: u8::from(Algorithm::ED25519),
                key: key.clone(),
            })
            .collect();
        Dns::with_trust_anchors(servers, timeout, &anchors)
    }

    /// Ask `servers` (the system resolver when empty), validating DNSSEC against `anchors`
    /// instead of the root's keys.
    pub fn with_trust_anchors(
        servers: &[SocketAddr],
        timeout: Duration,
        anchors: &[TrustAnchor],
    ) -> Result<Dns, String> {
        let mut trust = TrustAnchors::empty();
        for a in anchors {
            let name = Name::from_ascii(&a.zone).map_err(|e| e.to_string())?;
            trust.insert_with_name(
                &PublicKeyBuf::new(a.key.clone(), Algorithm::from_u8(a.algorithm)),
                LowerName::new(&name),
            );
        }
        let config = if servers.is_empty() {
            Dns::system_config()?
        } else {
            Dns::nameserver_config(servers)
        };
        Dns::build_with(config, timeout, Arc::new(trust))
    }

    fn opts(timeout: Duration) -> ResolverOpts {
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 2;
        opts.ndots = 0;
        // Answers come from DNS only: /etc/hosts would put the agent's own view in the facts.
        opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        opts
    }

    fn resolver(
        config: ResolverConfig,
        timeout: Duration,
        anchors: Option<Arc<TrustAnchors>>,
    ) -> Result<TokioResolver, String> {
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
                .with_options(Dns::opts(timeout));
        if let Some(a) = anchors {
            builder = builder.with_trust_anchor(a);
        }
        builder.build().map_err(|e| e.to_string())
    }

    fn build_with(
        config: ResolverConfig,
        timeout: Duration,
        anchors: Arc<TrustAnchors>,
    ) -> Result<Dns, String> {
        let resolver = Dns::resolver(config.clone(), timeout, None)?;
        let validating = Dns::resolver(config, timeout, Some(anchors))?;
        Ok(Dns {
            resolver,
            validating,
        })
    }

    fn nameserver_config(servers: &[SocketAddr]) -> ResolverConfig {
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
        config
    }

    /// The DNSSEC status of `domain`'s SOA (`secure`, `insecure`, `bogus` or
    /// `indeterminate`), with the status of each MX, TXT, `_dmarc`, `_mta-sts` and `_smtp._tls`
    /// TXT and CAA answer that exists.
    pub async fn dnssec(&self, domain: &str) -> posture_policies::model::DnssecFacts {
        self.dnssec_with_selectors(domain, &[]).await
    }

    /// [`Dns::dnssec`], also proving the TXT RRsets of these DKIM selectors
    /// (`<selector>._domainkey.<domain>`).
    pub async fn dnssec_with_selectors(
        &self,
        domain: &str,
        dkim_selectors: &[String],
    ) -> posture_policies::model::DnssecFacts {
        let mut facts = self.zone_dnssec(domain).await;
        let domain = domain.trim_end_matches('.');
        let mut asked = vec![
            (domain.to_owned(), RecordType::MX),
            (domain.to_owned(), RecordType::TXT),
            (format!("_dmarc.{domain}"), RecordType::TXT),
            (format!("_mta-sts.{domain}"), RecordType::TXT),
            (format!("_smtp._tls.{domain}"), RecordType::TXT),
            (domain.to_owned(), RecordType::CAA),
        ];
        asked.extend(
            dkim_selectors
                .iter()
                .map(|s| (format!("{s}._domainkey.{domain}"), RecordType::TXT)),
        );
        for (name, kind) in asked {
            // Only RRsets that exist are answers to prove (the plain resolver's cache is
            // shared with the mail checks that ask for them anyway).
            if !matches!(self.raw(&name, kind).await, Ok(Answer::Records(r)) if !r.is_empty()) {
                continue;
            }
            // In an insecure zone every answer not proven secure is insecure (the rule below),
            // and none can be proven secure without the chain the zone lacks: proving each
            // again would walk the chain of trust once per RRset (hundreds of NS and DS
            // requests a domain), to the same result.
            if facts.status == DnssecStatus::Insecure {
                facts.answers.push(posture_policies::model::AnswerProof {
                    name,
                    kind: kind.to_string(),
                    status: DnssecStatus::Insecure,
                });
                continue;
            }
            if let Some(mut status) = answer_proof(&self.validating, &name, kind).await {
                // An unsigned zone's answers cannot be bogus, whatever the validator said
                // about the missing chain (the same rule as for the zone above).
                if facts.status == DnssecStatus::Insecure && status != DnssecStatus::Secure {
                    status = DnssecStatus::Insecure;
                }
                facts.answers.push(posture_policies::model::AnswerProof {
                    name,
                    kind: kind.to_string(),
                    status,
                });
            }
        }
        facts
    }

    async fn zone_dnssec(&self, domain: &str) -> posture_policies::model::DnssecFacts {
        let facts =
            |status: DnssecStatus, detail: Option<String>| posture_policies::model::DnssecFacts {
                status,
                earliest_rrsig_expiry: None,
                detail,
                answers: Vec::new(),
            };
        let Ok(name) = Name::from_ascii(format!("{}.", domain.trim_end_matches('.'))) else {
            return facts(DnssecStatus::Indeterminate, Some("bad name".into()));
        };
        // A zone that publishes no DNSKEY is unsigned (or, with DS records at its parent,
        // bogus) whatever a validator would add: two plain questions settle it, where proving
        // the insecure delegation walks the chain of trust with hundreds of requests.
        let unsigned = match self.raw(domain, RecordType::DNSKEY).await {
            Ok(Answer::Records(keys)) => keys.is_empty(),
            Ok(Answer::NoData) => true,
            _ => false,
        };
        if unsigned {
            match self.raw(domain, RecordType::DS).await {
                Ok(Answer::Records(ds)) if !ds.is_empty() => {
                    return facts(
                        DnssecStatus::Bogus,
                        Some(format!(
                            "the parent publishes {} DS record(s) for the zone, but the zone publishes no DNSKEY",
                            ds.len()
                        )),
                    );
                }
                Ok(_) => {
                    return facts(
                        DnssecStatus::Insecure,
                        Some("the zone publishes no DNSKEY".into()),
                    );
                }
                Err(_) => {}
            }
        }
        match self.validating.lookup(name, RecordType::SOA).await {
            Ok(lookup) => match proof_status(&lookup, RecordType::SOA) {
                DnssecStatus::Bogus => facts(
                    DnssecStatus::Bogus,
                    Some("an RRSIG over the SOA does not validate".into()),
                ),
                status => facts(status, None),
            },
            Err(e) => {
                // A zone that publishes no DNSKEY is unsigned, whatever the validator could
                // prove about its delegation: calling it bogus would zero its score falsely.
                let text = e.to_string();
                match self.raw(domain, RecordType::DNSKEY).await {
                    Ok(Answer::Records(_)) if is_bogus(&e) => {
                        facts(DnssecStatus::Bogus, Some(text))
                    }
                    // ... unless its parent says it is signed: DS records with no DNSKEY to
                    // match them break the chain (RFC 4035 §5.2), which validators treat as
                    // bogus and refuse to answer from.
                    Ok(_) => match self.raw(domain, RecordType::DS).await {
                        Ok(Answer::Records(ds)) if !ds.is_empty() => facts(
                            DnssecStatus::Bogus,
                            Some(format!(
                                "the parent publishes {} DS record(s) for the zone, but the zone publishes no DNSKEY",
                                ds.len()
                            )),
                        ),
                        _ => facts(
                            DnssecStatus::Insecure,
                            Some("the zone publishes no DNSKEY".into()),
                        ),
                    },
                    Err(_) => facts(DnssecStatus::Indeterminate, Some(text)),
                }
            }
        }
    }

    async fn raw(&self, name: &str, kind: RecordType) -> Result<Answer<RData>, DnsFailure> {
        let fail = |reason: String, code: &'static str| DnsFailure {
            name: name.to_owned(),
            kind: kind.to_string(),
            reason,
            code,
        };
        let fqdn = dns_name(name).map_err(|e| fail(e, "dns_bad_name"))?;
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
            Err(e) => Err(fail(e.to_string(), dns_code(&e))),
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

    /// The TXT records at `name` (strings concatenated) that `keep` selects, such as the ones
    /// that start with a version tag; none when the name does not exist.
    pub async fn txt_matching(
        &self,
        name: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, DnsFailure> {
        Ok(self
            .txt(name)
            .await?
            .records()
            .into_iter()
            .filter(|t| keep(t))
            .collect())
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

/// One question sent straight to one server (no recursion), as a checker must to see what a
/// particular nameserver says: over UDP, or TCP when the answer is truncated.
pub async fn ask(
    server: SocketAddr,
    name: &str,
    kind: RecordType,
    timeout: Duration,
) -> Result<Message, String> {
    ask_with(server, name, kind, timeout, false).await
}

/// [`ask`], with the DNSSEC OK bit set so signatures come back (RFC 3225).
pub async fn ask_with(
    server: SocketAddr,
    name: &str,
    kind: RecordType,
    timeout: Duration,
    dnssec_ok: bool,
) -> Result<Message, String> {
    let fqdn = Name::from_ascii(if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    })
    .map_err(|e| e.to_string())?;
    let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = false;
    message.add_query(Query::query(fqdn, kind));
    if dnssec_ok {
        let mut edns = hickory_resolver::proto::op::Edns::new();
        edns.set_dnssec_ok(true);
        edns.set_max_payload(4096);
        message.set_edns(edns);
    }
    let bytes = message.to_vec().map_err(|e| e.to_string())?;
    let ignored = std::sync::atomic::AtomicUsize::new(0);
    let udp = async {
        let socket = tokio::net::UdpSocket::bind(if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })
        .await
        .map_err(|e| e.to_string())?;
        // Connected, so an ICMP "port unreachable" ends the wait at once, and only the
        // server's own address can answer.
        socket.connect(server).await.map_err(|e| e.to_string())?;
        socket.send(&bytes).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
            // RFC 5452 §9.1: an answer whose ID or question does not match the query is not an
            // answer to it (a forgery or a stray); it is dropped and the wait goes on.
            match Message::from_vec(&buf[..n]) {
                Ok(m) if answers(&message, &m) => return Ok::<Message, String>(m),
                _ => {
                    ignored.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    };
    let answer = tokio::time::timeout(timeout, udp).await.map_err(|_| {
        match ignored.load(std::sync::atomic::Ordering::Relaxed) {
            0 => format!("no answer from {server} within {timeout:?}"),
            n => format!(
                "no answer from {server} within {timeout:?} ({n} replies with the wrong ID or question ignored)"
            ),
        }
    })??;
    if !answer.metadata.truncation {
        return Ok(answer);
    }
    let (mut replies, _) = tcp_exchange(server, &bytes, timeout, 64 * 1024, |_| true).await?;
    replies.pop().ok_or_else(|| "empty TCP answer".into())
}

/// Whether `reply` answers `query`: a response with the same ID and the same question (the
/// name compared without regard to case, RFC 4343).
fn answers(query: &Message, reply: &Message) -> bool {
    reply.metadata.message_type == MessageType::Response
        && reply.metadata.id == query.metadata.id
        && reply.queries.len() == query.queries.len()
        && reply.queries.iter().zip(&query.queries).all(|(a, q)| {
            a.query_type() == q.query_type()
                && a.query_class() == q.query_class()
                && a.name().to_lowercase() == q.name().to_lowercase()
        })
}

/// Send a query over TCP and read replies until `done` says the last one ends the answer,
/// within `timeout` and `max_bytes`; the flag says the byte cap cut the answer short. A reply
/// with another ID than the query's ends the exchange with an error.
async fn tcp_exchange(
    server: SocketAddr,
    query: &[u8],
    timeout: Duration,
    max_bytes: usize,
    done: impl Fn(&Message) -> bool,
) -> Result<(Vec<Message>, bool), String> {
    let id = query
        .get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or("empty query")?;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let work = async {
        let mut stream = tokio::net::TcpStream::connect(server)
            .await
            .map_err(|e| e.to_string())?;
        let mut framed = u16::try_from(query.len())
            .map_err(|e| e.to_string())?
            .to_be_bytes()
            .to_vec();
        framed.extend_from_slice(query);
        stream.write_all(&framed).await.map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut total = 0usize;
        loop {
            let mut len = [0u8; 2];
            if stream.read_exact(&mut len).await.is_err() {
                return Ok((out, false));
            }
            let n = usize::from(u16::from_be_bytes(len));
            total += n;
            if total > max_bytes {
                return Ok((out, true));
            }
            let mut buf = vec![0u8; n];
            stream
                .read_exact(&mut buf)
                .await
                .map_err(|e| e.to_string())?;
            let m = Message::from_vec(&buf).map_err(|e| e.to_string())?;
            if m.metadata.id != id {
                return Err(format!(
                    "a reply over TCP with ID {} for a query with ID {id}",
                    m.metadata.id
                ));
            }
            let finished = done(&m);
            out.push(m);
            if finished {
                return Ok((out, false));
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no complete answer from {server} within {timeout:?}"))?
}

/// `name` as an absolute DNS name. A label may hold any octet but a dot (RFC 2181 §11), so
/// names from records (an SPF domain-spec may contain ':' or '/', RFC 7208 §7.1) are built
/// from their labels when they are not host names.
fn dns_name(name: &str) -> Result<Name, String> {
    let trimmed = name.trim_end_matches('.');
    Name::from_ascii(format!("{trimmed}.")).or_else(|_| {
        let mut n = Name::from_labels(trimmed.split('.').map(str::as_bytes))
            .map_err(|e| format!("{name:?} is not a DNS name: {e}"))?;
        n.set_fqdn(true);
        Ok(n)
    })
}

/// What a zone transfer attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Axfr {
    /// The server sent the zone: this many records were read, and whether the 1 MiB cap cut
    /// the transfer short (the zone is bigger).
    Allowed {
        /// Records read.
        records: usize,
        /// The cap was reached before the transfer ended.
        truncated: bool,
    },
    /// The server refused (or sent no records).
    Refused,
    /// The server could not be asked.
    Untestable(String),
}

/// Ask `server` for a full transfer of `zone` (RFC 5936), reading at most 1 MiB.
pub async fn axfr(server: SocketAddr, zone: &str, timeout: Duration) -> Axfr {
    let Ok(fqdn) = Name::from_ascii(format!("{}.", zone.trim_end_matches('.'))) else {
        return Axfr::Untestable("bad zone name".into());
    };
    let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    message.add_query(Query::query(fqdn, RecordType::AXFR));
    let Ok(bytes) = message.to_vec() else {
        return Axfr::Untestable("cannot encode the query".into());
    };
    let soas = std::sync::atomic::AtomicUsize::new(0);
    let done = |m: &Message| {
        let n = m
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::SOA)
            .count();
        let seen = soas.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        m.metadata.response_code != ResponseCode::NoError || m.answers.is_empty() || seen >= 2
    };
    match tcp_exchange(server, &bytes, timeout, 1 << 20, done).await {
        Err(e) => Axfr::Untestable(e),
        Ok((replies, truncated)) => {
            let records: usize = replies
                .iter()
                .filter(|m| m.metadata.response_code == ResponseCode::NoError)
                .map(|m| m.answers.len())
                .sum();
            if records > 0 {
                Axfr::Allowed { records, truncated }
            } else if truncated {
                // Over the cap before one whole message: the server was sending, so it allows.
                Axfr::Allowed {
                    records: 0,
                    truncated,
                }
            } else {
                Axfr::Refused
            }
        }
    }
}

impl Dns {
    /// Names of the NS records at `name`.
    pub async fn ns(&self, name: &str) -> Result<Answer<String>, DnsFailure> {
        Ok(map(self.raw(name, RecordType::NS).await?, |r| match r {
            RData::NS(n) => Some(n.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        }))
    }

    /// SRV targets at `name`, without the trailing dot (`""` is the root: "no service here",
    /// RFC 2782).
    pub async fn srv(&self, name: &str) -> Result<Answer<String>, DnsFailure> {
        Ok(map(self.raw(name, RecordType::SRV).await?, |r| match r {
            RData::SRV(s) => Some(
                s.target
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase(),
            ),
            _ => None,
        }))
    }

    /// CAA records at `name` as `(flags, tag, value)`.
    pub async fn caa(&self, name: &str) -> Result<Answer<(u8, String, String)>, DnsFailure> {
        Ok(map(self.raw(name, RecordType::CAA).await?, caa_fact))
    }

    /// The CNAME target at `name`, if any.
    pub async fn cname(&self, name: &str) -> Result<Option<String>, DnsFailure> {
        Ok(map(self.raw(name, RecordType::CNAME).await?, |r| match r {
            RData::CNAME(c) => Some(c.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        })
        .records()
        .into_iter()
        .next())
    }
}

/// The earliest RRSIG expiration over `zone`'s SOA, NS and DNSKEY as `server` serves them.
pub async fn earliest_rrsig_expiry(
    server: SocketAddr,
    zone: &str,
    timeout: Duration,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let mut earliest: Option<u32> = None;
    for kind in [RecordType::SOA, RecordType::NS, RecordType::DNSKEY] {
        let Ok(m) = ask_with(server, zone, kind, timeout, true).await else {
            continue;
        };
        for r in &m.answers {
            if let RData::DNSSEC(hickory_resolver::proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) =
                &r.data
            {
                let exp = sig.input().sig_expiration.get();
                earliest = Some(earliest.map_or(exp, |e| e.min(exp)));
            }
        }
    }
    earliest.and_then(|e| chrono::DateTime::from_timestamp(i64::from(e), 0))
}

/// Whether the validating resolver refused an answer because its DNSSEC chain is bogus.
fn is_bogus(e: &NetError) -> bool {
    matches!(e, NetError::Dns(DnsError::DnssecBogus))
}

/// What the validator proved of the `kind` records in `lookup`: `bogus` if any is, `secure` if
/// there are some and all are, else `insecure` if any is, else `indeterminate`.
fn proof_status(lookup: &hickory_resolver::lookup::Lookup, kind: RecordType) -> DnssecStatus {
    use hickory_resolver::proto::dnssec::Proof;
    let proofs: Vec<Proof> = lookup
        .answers()
        .iter()
        .filter(|r| r.record_type() == kind)
        .map(|r| r.proof)
        .collect();
    if proofs.contains(&Proof::Bogus) {
        DnssecStatus::Bogus
    } else if !proofs.is_empty() && proofs.iter().all(|p| *p == Proof::Secure) {
        DnssecStatus::Secure
    } else if proofs.contains(&Proof::Insecure) {
        DnssecStatus::Insecure
    } else {
        DnssecStatus::Indeterminate
    }
}

/// How the validating resolver proved the `kind` RRset at `name`: `None` when there is no
/// such RRset (a negative answer is not an answer the checks rely on).
async fn answer_proof(v: &TokioResolver, name: &str, kind: RecordType) -> Option<DnssecStatus> {
    let fqdn = Name::from_ascii(format!("{name}.")).ok()?;
    match v.lookup(fqdn, kind).await {
        Ok(lookup) if lookup.answers().iter().all(|r| r.record_type() != kind) => None,
        Ok(lookup) => Some(proof_status(&lookup, kind)),
        Err(e) if e.is_no_records_found() => None,
        Err(e) if is_bogus(&e) => Some(DnssecStatus::Bogus),
        Err(_) => Some(DnssecStatus::Indeterminate),
    }
}

/// A DNSSEC trust anchor: a zone's DNSKEY, as an operator of a private chain of trust (or a
/// lab) would give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The zone the key signs, e.g. `example.` or `.`.
    pub zone: String,
    /// The DNSSEC algorithm number (IANA "DNS Security Algorithm Numbers", e.g. 8, 13, 15).
    pub algorithm: u8,
    /// The public key field of the DNSKEY record (RFC 4034 section 2.1.4), decoded.
    pub key: Vec<u8>,
}

/// Read trust anchors from DNSKEY records in zone-file presentation format (RFC 4034 section
/// 2.2), one per line: `zone. [TTL] [IN] DNSKEY flags 3 algorithm base64-key`. Blank lines and
/// `;` comments are skipped; an error names the line.
pub fn parse_trust_anchors(text: &str) -> Result<Vec<TrustAnchor>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split(';').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}", n + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields
            .iter()
            .position(|f| f.eq_ignore_ascii_case("DNSKEY"))
            .ok_or_else(|| bad("not a DNSKEY record"))?;
        let zone = fields[0];
        if at == 0
            || !fields[1..at]
                .iter()
                .all(|f| f.eq_ignore_ascii_case("IN") || f.parse::<u32>().is_ok())
        {
            return Err(bad("expected `zone. [TTL] [IN] DNSKEY ...`"));
        }
        let rest = &fields[at + 1..];
        if rest.len() < 4 {
            return Err(bad("a DNSKEY needs flags, protocol, algorithm and key"));
        }
        let flags: u16 = rest[0].parse().map_err(|_| bad("flags are not a number"))?;
        if flags & 0x0100 == 0 {
            return Err(bad("the Zone Key flag (256) is not set"));
        }
        if rest[1] != "3" {
            return Err(bad("the protocol field must be 3 (RFC 4034 section 2.1.2)"));
        }
        let algorithm: u8 = rest[2]
            .parse()
            .map_err(|_| bad("the algorithm is not a number"))?;
        let key = super::mail::dkim::base64(&rest[3..].concat())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| bad("the key is not base64"))?;
        Name::from_ascii(zone).map_err(|e| bad(&format!("zone {zone:?}: {e}")))?;
        out.push(TrustAnchor {
            zone: zone.to_owned(),
            algorithm,
            key,
        });
    }
    if out.is_empty() {
        return Err("no DNSKEY records".into());
    }
    Ok(out)
}

/// The CAA records of a DNS response in wire form, as `(flags, tag, value)`: how the agent
/// reads what a nameserver sent (the fuzzing entry point for CAA).
pub fn caa_records(message: &[u8]) -> Result<Vec<(u8, String, String)>, String> {
    let m = Message::from_vec(message).map_err(|e| e.to_string())?;
    Ok(m.answers
        .iter()
        .filter_map(|r| caa_fact(r.data.clone()))
        .collect())
}

/// One CAA record as `(flags, tag, value)`; the value is read as text, lossily.
fn caa_fact(r: RData) -> Option<(u8, String, String)> {
    match r {
        RData::CAA(c) => Some((
            if c.issuer_critical { 128 } else { 0 },
            c.tag.to_string(),
            String::from_utf8_lossy(&c.value).into_owned(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A DNS response for `example.test. CAA` carrying one answer with the given RDATA
    /// fields, built byte by byte (RFC 1035 section 4.1, RFC 8659 section 4.1).
    fn caa_response(flags: u8, tag: &[u8], value: &[u8]) -> Vec<u8> {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07example\x04test\x00\x01\x01\x00\x01");
        m.extend_from_slice(&[0xc0, 0x0c, 0x01, 0x01, 0x00, 0x01, 0, 0, 1, 44]);
        let rdata_len = 2 + tag.len() + value.len();
        m.extend_from_slice(&u16::try_from(rdata_len).unwrap().to_be_bytes());
        m.push(flags);
        m.push(u8::try_from(tag.len()).unwrap());
        m.extend_from_slice(tag);
        m.extend_from_slice(value);
        m
    }

    fn facts(bytes: &[u8]) -> Option<Vec<(u8, String, String)>> {
        let message = Message::from_vec(bytes).ok()?;
        Some(
            message
                .answers
                .iter()
                .filter_map(|r| caa_fact(r.data.clone()))
                .collect(),
        )
    }

    #[test]
    fn trust_anchor_files() {
        let a = parse_trust_anchors(
            "; the lab's key\nlab.test. 3600 IN DNSKEY 257 3 15 AAEC Aw==\n\nx. DNSKEY 256 3 8 AQ==",
        )
        .unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].zone, "lab.test.");
        assert_eq!((a[0].algorithm, a[0].key.clone()), (15, vec![0, 1, 2, 3]));
        assert_eq!(a[1].algorithm, 8);
        for (text, why) in [
            ("lab.test. IN A 127.0.0.1", "line 1: not a DNSKEY"),
            (
                "lab.test. IN DNSKEY 1 3 15 AA==",
                "line 1: the Zone Key flag",
            ),
            ("lab.test. IN DNSKEY 257 2 15 AA==", "line 1: the protocol"),
            (
                "\nlab.test. IN DNSKEY 257 3 15 !!",
                "line 2: the key is not base64",
            ),
            ("lab.test. IN DNSKEY 257 3", "line 1: a DNSKEY needs"),
            ("", "no DNSKEY records"),
        ] {
            let e = parse_trust_anchors(text).unwrap_err();
            assert!(e.starts_with(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_caa_answer_is_read() {
        let got = facts(&caa_response(128, b"issue", b"letsencrypt.org")).unwrap();
        assert_eq!(
            got,
            vec![(128, "issue".to_string(), "letsencrypt.org".to_string())]
        );
        let got = facts(&caa_response(0, b"iodef", b"mailto:security@example.test")).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 0);
        assert_eq!(got[0].1, "iodef");
    }

    proptest! {
        /// Whatever bytes a nameserver sends back, decoding them returns an error or a
        /// message; it never panics.
        #[test]
        fn trust_anchor_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse_trust_anchors(&text);
        }

        #[test]
        fn responses_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = facts(&bytes);
        }

        /// CAA answers with any flags, tag and value bytes decode without panicking.
        #[test]
        fn caa_answers_with_any_bytes(
            flags in any::<u8>(),
            tag in prop::collection::vec(any::<u8>(), 0..20),
            value in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            let _ = facts(&caa_response(flags, &tag, &value));
        }

        /// A well-formed `issue` answer (RFC 8659 section 4.2) is read back exactly: one
        /// record, its critical flag, its tag and its value.
        #[test]
        fn well_formed_issue_answers_are_read(
            critical in any::<bool>(),
            ca in "[a-z]{1,12}\\.[a-z]{2,6}",
        ) {
            let flags = if critical { 128 } else { 0 };
            let got = facts(&caa_response(flags, b"issue", ca.as_bytes()));
            prop_assert_eq!(got, Some(vec![(flags, "issue".to_owned(), ca)]));
        }
    }
}
