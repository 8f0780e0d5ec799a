//! What was found on each target, before the findings: TLS versions and suites (marked as
//! the policies judged them), and a domain's site, DNS and mail facts.

use std::collections::BTreeMap;
use std::io::Write;

use posture_policies::model::{Finding, Observation, Status};

use super::{Style, Term};
use crate::error::Result;

/// What was found on `o`, marked by the `findings` about it.
pub(super) fn print_target(
    o: &Observation,
    findings: &[Finding],
    out: &mut Term<'_>,
) -> Result<()> {
    let marks = suite_marks(findings.iter().filter(|f| f.target == o.target));
    print_tls_summary(o, &marks, out)
}

fn suite_marks<'a>(findings: impl Iterator<Item = &'a Finding>) -> BTreeMap<String, &'static str> {
    let mut marks = BTreeMap::new();
    for f in findings.filter(|f| matches!(f.status, Status::Fail | Status::Warn)) {
        let (key, mark, with_version) = match f.check.as_str() {
            "TLS-CIPHER-BROKEN" => ("broken", "broken", true),
            "TLS-CIPHER-3DES" => ("suites", "weak", true),
            "TLS-CIPHER-FS" => ("static", "weak", true),
            "TLS-CIPHER-CBC" => ("cbc", "weak", false),
            _ => continue,
        };
        let mut names = Vec::new();
        flatten_strings(f.evidence.get(key), &mut names);
        for name in names {
            let name = if with_version {
                name
            } else {
                format!("TLSv1.2 {name}")
            };
            // Broken outranks weak.
            let entry = marks.entry(name).or_insert(mark);
            if mark == "broken" {
                *entry = mark;
            }
        }
    }
    marks
}

fn flatten_strings(value: Option<&serde_json::Value>, out: &mut Vec<String>) {
    match value {
        Some(serde_json::Value::String(s)) => out.push(s.clone()),
        Some(serde_json::Value::Array(items)) => {
            for i in items {
                flatten_strings(Some(i), out);
            }
        }
        _ => {}
    }
}

fn print_tls_summary(
    o: &posture_policies::model::Observation,
    marks: &BTreeMap<String, &'static str>,
    out: &mut Term<'_>,
) -> Result<()> {
    writeln!(
        out,
        "{}  ({} connections, {:.1}s)",
        o.target,
        o.scan.connections,
        (o.scan.finished - o.scan.started).num_milliseconds() as f64 / 1000.0
    )?;
    for e in &o.scan.errors {
        writeln!(out, "  {}: {}", e.status, e.message)?;
    }
    let Some(tls) = &o.tls else {
        return print_domain_summary(o, out);
    };
    for p in &tls.protocols {
        let order = match p.server_order {
            Some(true) => ", server order",
            Some(false) => ", client order",
            None => "",
        };
        let detail = p
            .detail
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:<8} {:?}{detail}{}",
            p.version.as_str(),
            p.result,
            if p.cipher_suites.is_empty() {
                String::new()
            } else {
                format!(": {} suites{order}", p.cipher_suites.len())
            }
        )?;
        for s in &p.cipher_suites {
            let mark = marks
                .get(&format!("{} {}", p.version.as_str(), s.name))
                .copied()
                .unwrap_or("ok");
            write!(out, "             ")?;
            out.paint(Style::of(mark), mark)?;
            writeln!(out, "{:pad$}{}", "", s.name, pad = 7 - mark.len())?;
        }
    }
    if !tls.groups.is_empty() {
        writeln!(
            out,
            "  groups   {}",
            tls.groups
                .iter()
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    if let Some(c) = &tls.certificate {
        if let Some(leaf) = c.chain.first() {
            writeln!(
                out,
                "  cert     {} ({} {} bits, {}), valid {} to {}",
                leaf.subject,
                leaf.key_type,
                leaf.key_bits,
                leaf.signature_algorithm,
                leaf.not_before.date_naive(),
                leaf.not_after.date_naive()
            )?;
        }
        writeln!(
            out,
            "           trusted: {}, name {}: {}",
            match c.trusted {
                Some(true) => "yes".to_owned(),
                Some(false) => format!("no ({})", c.trust_error.as_deref().unwrap_or("?")),
                None => "?".into(),
            },
            c.name_checked,
            match c.name_matches {
                Some(true) => "matches",
                Some(false) => "does not match",
                None => "?",
            }
        )?;
    }
    writeln!(out)?;
    Ok(())
}

/// What a domain scan found, a line per area, as facts (the findings below judge them).
fn print_domain_summary(
    o: &posture_policies::model::Observation,
    out: &mut Term<'_>,
) -> Result<()> {
    let none = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    if let Some(w) = &o.web {
        writeln!(
            out,
            "  web      {}{}",
            match (
                &w.canonical_url,
                w.endpoints.iter().any(|e| e.status.is_some())
            ) {
                (Some(url), _) => url.as_str(),
                (None, true) if !w.responds_https => "answers over plain HTTP only",
                (None, true) => "answers, with no canonical URL",
                (None, false) => "no site answered",
            },
            match &w.hsts {
                Some(h) if h.valid => format!(", HSTS max-age={}", h.max_age.unwrap_or(0)),
                Some(_) => ", HSTS invalid".to_owned(),
                None => String::new(),
            }
        )?;
    }
    if let Some(d) = &o.dns {
        let servers: Vec<String> = d
            .nameservers
            .iter()
            .map(|n| {
                let state = match (n.authoritative, n.axfr) {
                    (Some(false), _) => " (lame)",
                    (_, posture_policies::model::Transfer::Allowed) => " (gives zone transfers)",
                    _ => "",
                };
                format!("{}{state}", n.name)
            })
            .collect();
        writeln!(out, "  NS       {}", none(servers))?;
        if let Some(sec) = &d.dnssec {
            writeln!(out, "  DNSSEC   {}", sec.status)?;
        }
        if let Some(caa) = &d.caa {
            let issuers = caa
                .iter()
                .filter(|r| r.tag == "issue")
                .map(|r| r.value.clone())
                .collect();
            writeln!(out, "  CAA      {}", none(issuers))?;
        }
        if let Some(r) = &d.registration {
            let expiry = r.expires.map_or("expiry unknown".to_owned(), |e| {
                format!("expires {}", e.date_naive())
            });
            if r.registrable {
                writeln!(out, "  registry {expiry}")?;
            }
        }
        for dangling in &d.dangling {
            writeln!(
                out,
                "  dangling {} {} -> {} ({})",
                dangling.name, dangling.record_type, dangling.target, dangling.reason
            )?;
        }
    }
    if let Some(m) = &o.mail {
        let mx: Vec<String> =
            m.mx.iter()
                .map(|x| {
                    format!(
                        "{} (STARTTLS {})",
                        x.host,
                        x.starttls.to_string().replace('_', " ")
                    )
                })
                .collect();
        writeln!(
            out,
            "  MX       {}",
            if m.null_mx {
                "null MX (receives no mail)".to_owned()
            } else {
                none(mx)
            }
        )?;
        writeln!(out, "  SPF      {}", none(m.spf.records.clone()))?;
        writeln!(out, "  DMARC    {}", none(m.dmarc.records.clone()))?;
        let mode = m
            .mta_sts
            .policy
            .as_ref()
            .and_then(|p| p.mode.clone())
            .map(|mode| format!(", mode {mode}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  MTA-STS  {}{mode}",
            m.mta_sts.record.as_deref().unwrap_or("none")
        )?;
        writeln!(out, "  TLS-RPT  {}", none(m.tlsrpt.records.clone()))?;
    }
    writeln!(out)?;
    Ok(())
}
