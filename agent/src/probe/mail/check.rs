//! The mail probe: MX, SPF, DMARC (with the organisational-domain fallback), DKIM, MTA-STS,
//! TLS-RPT and reverse DNS, gathered into [`MailFacts`]. STARTTLS and the MX hosts' TLS are
//! scanned by the TLS engine (see `runner`), which fills in `starttls`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use posture_policies::model::{
    DkimFacts, DkimKey, DmarcFacts, DmarcUri, MailFacts, MtaStsFacts, MtaStsPolicy, MxFacts,
    ProbeError, PtrFacts, ScanMeta, Status, SyntaxError, TlsRptFacts,
};

use super::{dkim, dmarc, mtasts, spf_check, tlsrpt};
use crate::probe::dns::{Answer, Dns, DnsFailure};
use crate::probe::net::Resolve;
use crate::probe::net::cert::TrustStore;
use crate::probe::net::http::{Url, WebLimits, fetch};

/// What the mail probe needs besides the domain.
#[derive(Debug, Clone, Default)]
pub struct MailOptions {
    /// DKIM selectors the domain says it uses.
    pub dkim_selectors: Vec<String>,
}

fn syntax(message: String, position: usize) -> SyntaxError {
    SyntaxError {
        message,
        position: u32::try_from(position).unwrap_or(u32::MAX),
    }
}

/// The organisational domain (RFC 7489 §3.2): the registrable domain by the public suffix list.
pub fn organisational_domain(domain: &str) -> String {
    psl::domain_str(domain).unwrap_or(domain).to_owned()
}

/// What the mail probe gathered: every fact it could, and each part it could not gather, as
/// an error of the probe `mail.<part>` (`mail.spf`, `mail.ptr`...) that makes only the checks
/// needing that part untestable.
#[derive(Debug, Clone, Default)]
pub struct MailProbe {
    /// The facts; a part that failed keeps its defaults (or what was read before it failed).
    pub facts: MailFacts,
    /// The parts that could not be gathered.
    pub failed: Vec<ProbeError>,
}

impl MailProbe {
    /// Record that `part` could not be gathered.
    fn failed(&mut self, part: &str, e: &DnsFailure) {
        self.failed.push(
            ProbeError::new(&format!("mail.{part}"), Status::Untestable, e.to_string())
                .with_code(e.code),
        );
    }

    /// Whether every part failed (nothing was learnt at all).
    pub fn nothing_gathered(&self) -> bool {
        let parts = posture_policies::model::parts_of("mail");
        parts
            .iter()
            .filter(|p| !matches!(**p, "spf-lookups" | "ptr"))
            .all(|p| self.failed.iter().any(|e| e.probe == format!("mail.{p}")))
    }

    /// The facts, with each part that failed recorded in `meta`; when nothing at all could be
    /// gathered, no facts and the whole mail probe recorded as untestable.
    pub fn into_facts(self, meta: &mut ScanMeta) -> Option<MailFacts> {
        if self.nothing_gathered() {
            let message = self
                .failed
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            let code = self.failed.first().and_then(|e| e.code.clone());
            let mut e = ProbeError::new("mail", Status::Untestable, message);
            e.code = code;
            meta.errors.push(e);
            return None;
        }
        meta.errors.extend(self.failed);
        Some(self.facts)
    }
}

/// Gather the mail facts of `domain`. A failed lookup costs only the part it belongs to.
pub async fn probe(
    domain: &str,
    dns: &Dns,
    resolver: &impl Resolve,
    trust: &TrustStore,
    web: &WebLimits,
    options: &MailOptions,
    now: DateTime<Utc>,
) -> MailProbe {
    let mut out = MailProbe::default();

    match mx_facts(domain, dns).await {
        Ok((null_mx, mx)) => {
            out.facts.null_mx = null_mx;
            out.facts.mx = mx;
        }
        Err(e) => out.failed("mx", &e),
    }
    let spf = spf_check::check(domain, dns).await;
    out.facts.spf = spf.facts;
    if let Some(e) = &spf.record_failure {
        out.failed("spf", e);
    }
    if let Some(e) = &spf.walk_failure {
        out.failed("spf-lookups", e);
    }
    match dmarc_facts(domain, dns).await {
        Ok(f) => out.facts.dmarc = f,
        Err(e) => out.failed("dmarc", &e),
    }
    match dkim_facts(domain, dns, &options.dkim_selectors).await {
        Ok(f) => out.facts.dkim = f,
        Err(e) => out.failed("dkim", &e),
    }
    match tlsrpt_facts(domain, dns).await {
        Ok(f) => out.facts.tlsrpt = f,
        Err(e) => out.failed("tlsrpt", &e),
    }
    match mta_sts_facts(domain, dns, resolver, trust, web, now, &out.facts.mx).await {
        Ok(f) => out.facts.mta_sts = f,
        Err(e) => out.failed("mta-sts", &e),
    }

    // Reverse DNS of the hosts the domain sends from; without a list, its MX hosts' addresses.
    let addresses: Vec<IpAddr> = out
        .facts
        .mx
        .iter()
        .flat_map(|m| m.addresses.iter())
        .filter_map(|a| a.parse().ok())
        .take(8)
        .collect();
    for ip in addresses {
        match ptr_facts(ip, dns).await {
            Ok(f) => out.facts.sending_hosts.push(f),
            Err(e) => {
                out.failed("ptr", &e);
                break;
            }
        }
    }
    out
}

/// The MX hosts of `domain` with their addresses, and whether it publishes a null MX.
async fn mx_facts(domain: &str, dns: &Dns) -> Result<(bool, Vec<MxFacts>), DnsFailure> {
    let mut mx = dns.mx(domain).await?.records();
    mx.sort();
    let null_mx = mx.len() == 1 && (mx[0].1.is_empty() || mx[0].1 == ".");
    let mut hosts = Vec::new();
    if !null_mx {
        for (preference, host) in mx {
            let addresses: Vec<String> = dns
                .addresses(&host)
                .await?
                .records()
                .iter()
                .map(ToString::to_string)
                .collect();
            hosts.push(MxFacts {
                host,
                preference,
                addresses,
                starttls: posture_policies::model::StartTls::Untestable,
            });
        }
    }
    Ok((null_mx, hosts))
}

/// The DMARC policy that applies to `domain`: `_dmarc.<domain>`, else the organisational
/// domain's (RFC 7489 §6.6.3), parsed, with each external report destination's authorisation.
pub async fn dmarc_facts(domain: &str, dns: &Dns) -> Result<DmarcFacts, DnsFailure> {
    let org = organisational_domain(domain);
    let mut found_at = format!("_dmarc.{domain}");
    let mut records = dns.txt_matching(&found_at, dmarc::is_dmarc).await?;
    let records_found_at_org = records.is_empty() && org != domain;
    if records_found_at_org {
        found_at = format!("_dmarc.{org}");
        records = dns.txt_matching(&found_at, dmarc::is_dmarc).await?;
    }
    let mut facts = DmarcFacts {
        records: records.clone(),
        found_at: (!records.is_empty()).then_some(found_at),
        pct: 100,
        ..DmarcFacts::default()
    };
    let [record] = records.as_slice() else {
        return Ok(facts);
    };
    match dmarc::parse(record) {
        Err(e) => facts.error = Some(syntax(e.message, e.position)),
        Ok(r) => {
            facts.warnings = r
                .warnings
                .into_iter()
                .map(|w| syntax(w.message, w.position))
                .collect();
            facts.error = r.invalid.map(|e| syntax(e.message, e.position));
            // RFC 7489 §6.6.3: a name without its own record is governed by the organisational
            // domain's sp when it gives one, not by its p.
            let inherited = org != domain && records_found_at_org;
            facts.policy = Some(match (&r.subdomain_policy, inherited) {
                (Some(sp), true) => sp.clone(),
                _ => r.policy,
            });
            facts.subdomain_policy = r.subdomain_policy;
            facts.np = r.np;
            facts.pct = r.pct;
            facts.adkim = r.adkim;
            facts.aspf = r.aspf;
            for (uris, out) in [(r.rua, &mut facts.rua), (r.ruf, &mut facts.ruf)] {
                for u in uris {
                    out.push(report_uri(domain, &org, u, dns).await?);
                }
            }
        }
    }
    Ok(facts)
}

/// A report destination, and for an external one whether it authorises the domain
/// (`<domain>._report._dmarc.<destination>` holding `v=DMARC1`, RFC 7489 §7.1).
async fn report_uri(
    domain: &str,
    org: &str,
    u: dmarc::ReportUri,
    dns: &Dns,
) -> Result<DmarcUri, DnsFailure> {
    let dest = u
        .address
        .as_deref()
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.to_owned());
    let external = dest
        .as_deref()
        .is_some_and(|d| organisational_domain(d) != org);
    // A destination whose DNS cannot be asked stays unknown rather than failing the probe.
    let authorised = match (&dest, external) {
        (Some(d), true) => dns
            .txt_matching(&format!("{domain}._report._dmarc.{d}"), dmarc::is_dmarc)
            .await
            .ok()
            .map(|found| !found.is_empty()),
        _ => None,
    };
    Ok(DmarcUri {
        uri: u.uri,
        scheme: u.scheme,
        address: u.address,
        external,
        authorised,
    })
}

async fn dkim_facts(
    domain: &str,
    dns: &Dns,
    selectors: &[String],
) -> Result<DkimFacts, DnsFailure> {
    let base = format!("_domainkey.{domain}");
    // NOERROR (even empty) means the name exists: an empty non-terminal above the selectors.
    let domainkey_exists = Some(!matches!(dns.txt(&base).await?, Answer::NxDomain));
    let mut facts = DkimFacts {
        domainkey_exists,
        ..DkimFacts::default()
    };
    for selector in selectors {
        facts
            .selectors
            .push(dkim_key(selector, &format!("{selector}.{base}"), dns).await?);
    }
    let wildcard = dkim_key("*", &format!("*.{base}"), dns).await?;
    facts.wildcard = wildcard.found.then_some(wildcard);
    Ok(facts)
}

async fn dkim_key(selector: &str, name: &str, dns: &Dns) -> Result<DkimKey, DnsFailure> {
    let record = dns
        .txt_matching(name, |t| t.contains("p=") || t.starts_with("v=DKIM1"))
        .await?
        .into_iter()
        .next();
    let mut key = DkimKey {
        selector: selector.to_owned(),
        found: record.is_some(),
        key_type: None,
        key_bits: None,
        revoked: false,
        error: None,
    };
    if let Some(r) = record {
        match dkim::parse(&r) {
            Ok(k) => {
                key.key_type = Some(k.key_type);
                key.key_bits = k.key_bits;
                key.revoked = k.revoked;
            }
            Err(e) => key.error = Some(syntax(e, 0)),
        }
    }
    Ok(key)
}

async fn tlsrpt_facts(domain: &str, dns: &Dns) -> Result<TlsRptFacts, DnsFailure> {
    let records = dns
        .txt_matching(&format!("_smtp._tls.{domain}"), |t| {
            t.starts_with("v=TLSRPTv1")
        })
        .await?;
    let mut facts = TlsRptFacts {
        records: records.clone(),
        ..TlsRptFacts::default()
    };
    if let [record] = records.as_slice() {
        match tlsrpt::parse(record) {
            Ok(rua) => facts.rua = rua,
            Err(e) => facts.error = Some(syntax(e, 0)),
        }
    }
    Ok(facts)
}

async fn mta_sts_facts(
    domain: &str,
    dns: &Dns,
    resolver: &impl Resolve,
    trust: &TrustStore,
    web: &WebLimits,
    now: DateTime<Utc>,
    mx: &[MxFacts],
) -> Result<MtaStsFacts, DnsFailure> {
    let record = dns
        .txt_matching(&format!("_mta-sts.{domain}"), |t| t.starts_with("v=STSv1"))
        .await?
        .into_iter()
        .next();
    let mut facts = MtaStsFacts {
        record: record.clone(),
        ..MtaStsFacts::default()
    };
    let Some(record) = record else {
        return Ok(facts);
    };
    if let Err(e) = mtasts::parse_record(&record) {
        facts.record_error = Some(syntax(e, 0));
    }
    let url = Url {
        https: true,
        host: format!("mta-sts.{domain}"),
        port: 443,
        path: "/.well-known/mta-sts.txt".into(),
    };
    let mut policy = MtaStsPolicy {
        fetched: false,
        tls_valid: false,
        error: None,
        mode: None,
        max_age: None,
        mx_patterns: Vec::new(),
        uncovered_mx: Vec::new(),
    };
    // RFC 8461 §3.3: fetched over HTTPS with a valid certificate, no redirects, 200 only; and
    // never from an internal address the domain's DNS points at, unless the domain is internal.
    let response = match web
        .guard
        .resolve_for(resolver, domain, &url.host, url.port)
        .await
    {
        Err(e) => Err(e),
        Ok(addr) => fetch(&url, addr, trust, web, now)
            .await
            .map_err(|e| e.to_string()),
    };
    match response {
        Err(e) => policy.error = Some(e),
        Ok(r) => {
            policy.tls_valid = r.tls_valid == Some(true);
            if r.status != 200 {
                policy.error = Some(format!("HTTP {} (redirects are not followed)", r.status));
            } else {
                policy.fetched = true;
                match mtasts::parse_policy(&String::from_utf8_lossy(&r.body)) {
                    Err(e) => policy.error = Some(e),
                    Ok(p) => {
                        policy.uncovered_mx = mx
                            .iter()
                            .filter(|m| !p.mx.iter().any(|pat| mtasts::mx_matches(pat, &m.host)))
                            .map(|m| m.host.clone())
                            .collect();
                        policy.mode = Some(p.mode);
                        policy.max_age = Some(p.max_age);
                        policy.mx_patterns = p.mx;
                    }
                }
            }
        }
    }
    facts.policy = Some(policy);
    Ok(facts)
}

/// Forward-confirmed reverse DNS of `ip`.
async fn ptr_facts(ip: IpAddr, dns: &Dns) -> Result<PtrFacts, DnsFailure> {
    let names = dns.ptr(ip).await?.records();
    let mut confirmed = false;
    for n in &names {
        // A PTR name whose own lookup fails does not confirm anything, and does not stop the probe.
        if dns
            .addresses(n)
            .await
            .is_ok_and(|a| a.records().contains(&ip))
        {
            confirmed = true;
            break;
        }
    }
    Ok(PtrFacts {
        address: ip.to_string(),
        ptr_names: names,
        forward_confirmed: confirmed,
    })
}
