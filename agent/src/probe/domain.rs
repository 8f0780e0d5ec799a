//! The domain's DNS: its nameservers (each asked directly: authoritative or lame, and whether
//! it hands out a zone transfer), their network diversity, CAA, dangling CNAME, MX, SRV and NS
//! targets (including subdomains delegated to servers that do not serve them), IPv6
//! reachability and DNSSEC status (secure, insecure, bogus or indeterminate, from a
//! validating resolver).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use posture_policies::model::{
    CaaRecord, DanglingRecord, DnsFacts, MailFacts, NameserverFacts, Transfer,
};

use super::dns::{Answer, Axfr, Dns, DnsFailure, ask, axfr};
use super::net::Resolve;
use super::net::cert::TrustStore;
use super::net::guard::AddressGuard;
use super::net::http::{Url, WebLimits, fetch};
use super::takeover::{self, Fingerprint};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RecordType;

/// SRV owner names (under the domain) whose targets are checked: Microsoft 365 / Teams and
/// Exchange autodiscover, mail submission and access (RFC 6186, RFC 8314), XMPP (RFC 6120)
/// and SIP (RFC 3263).
const SRV_NAMES: &[&str] = &[
    "_autodiscover._tcp",
    "_sip._tls",
    "_sipfederationtls._tcp",
    "_submission._tcp",
    "_submissions._tcp",
    "_imaps._tcp",
    "_pop3s._tcp",
    "_xmpp-client._tcp",
    "_xmpp-server._tcp",
];

/// Subdomains checked for delegations to other nameservers: the ones a domain scan relies on
/// and those most often handed to a provider's DNS.
const DELEGATION_NAMES: &[&str] = &["www", "mta-sts", "mail", "autodiscover", "_domainkey"];

/// The nameservers `child` is delegated to, as the parent zone's server `parent` says (a
/// referral: NS records in the authority section, or in the answer when the same server
/// serves both). Empty when `child` is not delegated or the server cannot be asked.
async fn delegation(parent: SocketAddr, child: &str, options: &DomainOptions) -> Vec<String> {
    let Ok(m) = ask(parent, child, RecordType::NS, options.timeout).await else {
        return Vec::new();
    };
    let Ok(owner) = hickory_resolver::proto::rr::Name::from_ascii(format!("{child}.")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = m
        .answers
        .iter()
        .chain(m.authorities.iter())
        .filter(|r| r.name == owner)
        .filter_map(|r| match &r.data {
            hickory_resolver::proto::rr::RData::NS(n) => {
                Some(n.0.to_ascii().trim_end_matches('.').to_ascii_lowercase())
            }
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Why the delegation of `child` to `ns` dangles: `nxdomain` (the server's name does not
/// exist) or `no_soa` (every address answered, none serves the subdomain). `None` when it is
/// served, or when no address could be asked (that is untestable, not dangling).
async fn lame_delegation(
    dns: &Dns,
    child: &str,
    ns: &str,
    options: &DomainOptions,
) -> Option<&'static str> {
    let addresses = match dns.addresses(ns).await {
        Ok(Answer::NxDomain) => return Some("nxdomain"),
        Ok(a) => a.records(),
        Err(_) => return None,
    };
    let mut answered = 0;
    for ip in &addresses {
        let Ok(m) = ask(
            SocketAddr::new(*ip, options.ns_port),
            child,
            RecordType::SOA,
            options.timeout,
        )
        .await
        else {
            continue;
        };
        answered += 1;
        let serves = m.metadata.authoritative
            && m.metadata.response_code == ResponseCode::NoError
            && m.answers.iter().any(|r| r.record_type() == RecordType::SOA);
        if serves {
            return None;
        }
    }
    (answered > 0 && answered == addresses.len()).then_some("no_soa")
}

/// Options for the direct questions to each nameserver, and the takeover fingerprints.
#[derive(Debug, Clone)]
pub struct DomainOptions {
    /// The port nameservers are asked on (53; a lab may run them elsewhere).
    pub ns_port: u16,
    /// Time-out per question.
    pub timeout: Duration,
    /// Subdomain-takeover fingerprints (the shipped table plus the user's).
    pub takeover: Vec<Fingerprint>,
    /// Where a CNAME may lead the takeover probe (never to an internal address unless the
    /// domain itself is internal).
    pub guard: AddressGuard,
}

impl Default for DomainOptions {
    fn default() -> Self {
        DomainOptions {
            ns_port: 53,
            timeout: Duration::from_secs(5),
            takeover: takeover::shipped(),
            guard: AddressGuard::default(),
        }
    }
}

/// Gather the DNS facts of `domain` (`mail` supplies the MX hosts already looked up).
pub async fn probe(
    domain: &str,
    dns: &Dns,
    mail: Option<&MailFacts>,
    web_role: bool,
    options: &DomainOptions,
    resolver: &impl Resolve,
) -> Result<DnsFacts, DnsFailure> {
    let mut facts = DnsFacts {
        dnssec: Some(Box::pin(dns.dnssec_with_selectors(domain, &found_selectors(mail))).await),
        ..DnsFacts::default()
    };
    nameservers(dns, domain, options, &mut facts).await?;
    rrsig_expiry(domain, options, &mut facts).await;
    // A failed CAA lookup (a parent's servers refusing, say) leaves CAA unknown, not the
    // whole probe failed.
    facts.caa = caa_in_effect(dns, domain).await.ok();
    let cnames = dangling_cnames(dns, domain, options, resolver).await?;
    facts.dangling.extend(cnames);
    facts.dangling.extend(dangling_srv(dns, domain).await);
    let delegations = dangling_delegations(dns, domain, &facts, options).await;
    facts.dangling.extend(delegations);
    if let Some(mail) = mail {
        mail_hosts(dns, domain, mail, &mut facts).await?;
    }
    if web_role {
        facts.web_ipv6 = Some(web_ipv6(dns, domain).await?);
    }
    Ok(facts)
}

/// Each nameserver of `domain`: its addresses (and their /24 and /48 prefixes), whether it
/// answers authoritatively, whether it hands out the zone; a name that does not exist is
/// dangling.
async fn nameservers(
    dns: &Dns,
    domain: &str,
    options: &DomainOptions,
    facts: &mut DnsFacts,
) -> Result<(), DnsFailure> {
    let names = dns.ns(domain).await?.records();
    let mut v4 = BTreeSet::new();
    let mut v6 = BTreeSet::new();
    for name in names {
        let answer = dns.addresses(&name).await?;
        if matches!(answer, Answer::NxDomain) {
            facts.dangling.push(DanglingRecord {
                name: domain.to_owned(),
                record_type: "NS".into(),
                target: name.clone(),
                reason: "nxdomain".into(),
                service: None,
            });
        }
        let addresses = answer.records();
        let mut authoritative = None;
        let mut transfer = Transfer::Untestable;
        for ip in &addresses {
            match ip {
                IpAddr::V4(a) => {
                    let o = a.octets();
                    v4.insert(format!("{}.{}.{}.0/24", o[0], o[1], o[2]));
                }
                IpAddr::V6(a) => {
                    let s = a.segments();
                    v6.insert(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]));
                }
            }
            let server = SocketAddr::new(*ip, options.ns_port);
            if let Ok(m) = ask(server, domain, RecordType::SOA, options.timeout).await {
                let aa = m.metadata.authoritative
                    && m.metadata.response_code == ResponseCode::NoError
                    && m.answers.iter().any(|r| r.record_type() == RecordType::SOA);
                authoritative = Some(authoritative.unwrap_or(true) && aa);
            }
            transfer = match axfr(server, domain, options.timeout).await {
                Axfr::Allowed { .. } => Transfer::Allowed,
                Axfr::Refused if transfer != Transfer::Allowed => Transfer::Refused,
                Axfr::Untestable(_) if transfer == Transfer::Untestable => Transfer::Untestable,
                _ => transfer,
            };
        }
        facts.nameservers.push(NameserverFacts {
            name,
            addresses: addresses.iter().map(ToString::to_string).collect(),
            authoritative,
            axfr: transfer,
        });
    }
    facts.ns_ipv4_prefixes = v4.into_iter().collect();
    facts.ns_ipv6_prefixes = v6.into_iter().collect();
    Ok(())
}

/// The earliest RRSIG expiry of a secure zone, as the first authoritative server that
/// answers serves it.
async fn rrsig_expiry(domain: &str, options: &DomainOptions, facts: &mut DnsFacts) {
    if facts
        .dnssec
        .as_ref()
        .is_some_and(|d| d.status == posture_policies::model::DnssecStatus::Secure)
    {
        for ip in facts
            .nameservers
            .iter()
            .flat_map(|n| n.addresses.iter())
            .filter_map(|a| a.parse::<IpAddr>().ok())
        {
            let expiry = super::dns::earliest_rrsig_expiry(
                SocketAddr::new(ip, options.ns_port),
                domain,
                options.timeout,
            )
            .await;
            if let (Some(e), Some(d)) = (expiry, facts.dnssec.as_mut()) {
                d.earliest_rrsig_expiry = Some(e);
                break;
            }
        }
    }
}

/// Dangling targets: CNAMEs of the domain and www to names that do not exist, or to a
/// third-party service that says the resource is unclaimed.
async fn dangling_cnames(
    dns: &Dns,
    domain: &str,
    options: &DomainOptions,
    resolver: &impl Resolve,
) -> Result<Vec<DanglingRecord>, DnsFailure> {
    let mut dangling = Vec::new();
    for host in [domain.to_owned(), format!("www.{domain}")] {
        let Some(target) = dns.cname(&host).await? else {
            continue;
        };
        let service = takeover::matching(&options.takeover, &target);
        if matches!(dns.addresses(&target).await?, Answer::NxDomain) {
            dangling.push(DanglingRecord {
                name: host,
                record_type: "CNAME".into(),
                target,
                reason: "nxdomain".into(),
                service: service.map(|f| f.service.clone()),
            });
            continue;
        }
        // The target exists: a third-party service may still say the resource is unclaimed.
        let Some(fp) = service.filter(|f| !f.body.is_empty()) else {
            continue;
        };
        let url = Url {
            https: false,
            host: host.clone(),
            port: 80,
            path: "/".into(),
        };
        let limits = WebLimits {
            request_timeout: options.timeout,
            connect_timeout: options.timeout,
            ..WebLimits::default()
        };
        // A CNAME is the scanned domain's own answer: it must not steer the agent inside.
        let Ok(addr) = options
            .guard
            .resolve_for(resolver, domain, &url.host, url.port)
            .await
        else {
            continue;
        };
        // Plain HTTP: no certificate is judged here, so the time given is immaterial.
        let answer = fetch(
            &url,
            addr,
            &TrustStore::default(),
            &limits,
            chrono::DateTime::UNIX_EPOCH,
        )
        .await;
        if answer.is_ok_and(|r| String::from_utf8_lossy(&r.body).contains(&fp.body)) {
            dangling.push(DanglingRecord {
                name: host,
                record_type: "CNAME".into(),
                target,
                reason: "takeover_fingerprint".into(),
                service: Some(fp.service.clone()),
            });
        }
    }
    Ok(dangling)
}

/// Dangling SRV targets of the common services (a target of "." says "no service").
async fn dangling_srv(dns: &Dns, domain: &str) -> Vec<DanglingRecord> {
    let mut dangling = Vec::new();
    for label in SRV_NAMES {
        let name = format!("{label}.{domain}");
        let Ok(Answer::Records(targets)) = dns.srv(&name).await else {
            continue;
        };
        for target in targets.into_iter().filter(|t| !t.is_empty()) {
            if matches!(dns.addresses(&target).await, Ok(Answer::NxDomain)) {
                dangling.push(DanglingRecord {
                    name: name.clone(),
                    record_type: "SRV".into(),
                    target,
                    reason: "nxdomain".into(),
                    service: None,
                });
            }
        }
    }
    dangling
}

/// Subdomains delegated away: the parent's own servers say who serves them; a delegation to
/// names that do not exist, or to servers that answer but do not serve the subdomain, can be
/// claimed at the DNS provider (NS takeover).
async fn dangling_delegations(
    dns: &Dns,
    domain: &str,
    facts: &DnsFacts,
    options: &DomainOptions,
) -> Vec<DanglingRecord> {
    let mut dangling = Vec::new();
    let parents: Vec<IpAddr> = facts
        .nameservers
        .iter()
        .filter(|n| n.authoritative == Some(true))
        .flat_map(|n| n.addresses.iter().filter_map(|a| a.parse().ok()))
        .collect();
    if let Some(parent) = parents.first() {
        for label in DELEGATION_NAMES {
            let child = format!("{label}.{domain}");
            let delegated =
                delegation(SocketAddr::new(*parent, options.ns_port), &child, options).await;
            for ns in delegated {
                if let Some(reason) = lame_delegation(dns, &child, &ns, options).await {
                    dangling.push(DanglingRecord {
                        name: child.clone(),
                        record_type: "NS".into(),
                        target: ns,
                        reason: reason.into(),
                        service: None,
                    });
                }
            }
        }
    }
    dangling
}

/// MX hosts that do not exist are dangling; whether every MX host has an IPv6 address.
async fn mail_hosts(
    dns: &Dns,
    domain: &str,
    mail: &MailFacts,
    facts: &mut DnsFacts,
) -> Result<(), DnsFailure> {
    for mx in &mail.mx {
        if mx.addresses.is_empty() && matches!(dns.addresses(&mx.host).await?, Answer::NxDomain) {
            facts.dangling.push(DanglingRecord {
                name: domain.to_owned(),
                record_type: "MX".into(),
                target: mx.host.clone(),
                reason: "nxdomain".into(),
                service: None,
            });
        }
    }
    if !mail.mx.is_empty() {
        facts.mx_ipv6 = Some(
            mail.mx
                .iter()
                .all(|m| m.addresses.iter().any(|a| a.contains(':'))),
        );
    }
    Ok(())
}

/// Whether the apex or www has an IPv6 address.
async fn web_ipv6(dns: &Dns, domain: &str) -> Result<bool, DnsFailure> {
    let mut any = false;
    for host in [domain.to_owned(), format!("www.{domain}")] {
        any |= dns
            .addresses(&host)
            .await?
            .records()
            .iter()
            .any(IpAddr::is_ipv6);
    }
    Ok(any)
}

/// The CAA records in effect for `domain`: the closest CAA RRset walking up from the domain to
/// just below its top-level domain (RFC 8659 §3).
async fn caa_in_effect(dns: &Dns, domain: &str) -> Result<Vec<CaaRecord>, String> {
    let mut name = domain.to_owned();
    loop {
        let found = dns.caa(&name).await.map_err(|e| e.to_string())?.records();
        if !found.is_empty() {
            return Ok(found
                .into_iter()
                .map(|(flags, tag, value)| CaaRecord { flags, tag, value })
                .collect());
        }
        match name.split_once('.') {
            Some((_, parent)) if parent.contains('.') => name = parent.to_owned(),
            _ => return Ok(Vec::new()),
        }
    }
}

/// The DKIM selectors whose key records were found, whose TXT answers get a DNSSEC proof too.
fn found_selectors(mail: Option<&MailFacts>) -> Vec<String> {
    mail.map(|m| {
        m.dkim
            .selectors
            .iter()
            .filter(|k| k.found)
            .map(|k| k.selector.clone())
            .collect()
    })
    .unwrap_or_default()
}
