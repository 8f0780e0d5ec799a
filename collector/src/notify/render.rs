//! What owners receive: the items of one evaluation grouped into one message per contact, each
//! item saying what failed, the evidence, why it matters, the standards that mandate it, the
//! exact fix and (for a regression) what it was before, with a link to the domain's page and a
//! signed link that acknowledges it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::plan::{Item, Reason};
use crate::judge::Judge;
use crate::store::notify::{Contact, NewNotification};
use crate::web::percent_encode;

/// The signature of an acknowledgement of (target, check)'s episode that began at `since`.
pub fn ack_signature(secret: &str, target: &str, check: &str, since: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("{target}\n{check}\n{since}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `signature` acknowledges (target, check, since) for `secret` (compared in constant
/// time).
pub fn ack_valid(secret: &str, target: &str, check: &str, since: i64, signature: &str) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(format!("{target}\n{check}\n{since}").as_bytes());
    hex::decode(signature).is_ok_and(|s| mac.verify_slice(&s).is_ok())
}

/// Who hears of an item: the contacts for its domain or its target's host, else the
/// organisation's default contacts.
fn recipients<'a>(contacts: &'a [Contact], item: &Item) -> Vec<&'a Contact> {
    let host = item.finding.target.host().to_ascii_lowercase();
    let specific: Vec<&Contact> = contacts
        .iter()
        .filter(|c| !c.scope.is_empty() && (c.scope == item.domain || c.scope == host))
        .collect();
    if specific.is_empty() {
        contacts.iter().filter(|c| c.scope.is_empty()).collect()
    } else {
        specific
    }
}

/// Links and signing for the messages.
#[derive(Debug, Clone)]
pub struct Links {
    /// The collector's public URL (`https://posture.example.nhs.uk`), without a trailing `/`.
    pub base_url: String,
    /// The acknowledgement secret.
    pub secret: String,
}

/// The messages for `items`: one per contact that hears of any, items in a stable order.
/// `id` makes each message's id.
pub fn messages(
    items: &[Item],
    contacts: &BTreeMap<String, Vec<Contact>>,
    judge: &Judge,
    links: &Links,
    mut id: impl FnMut() -> String,
) -> Vec<NewNotification> {
    let mut by_contact: BTreeMap<(String, String, String), (String, Vec<&Item>)> = BTreeMap::new();
    for item in items {
        let Some(of_org) = contacts.get(&item.organisation) else {
            continue;
        };
        for c in recipients(of_org, item) {
            by_contact
                .entry((c.organisation.clone(), c.kind.clone(), c.address.clone()))
                .or_insert_with(|| (c.organisation.clone(), Vec::new()))
                .1
                .push(item);
        }
    }
    by_contact
        .into_iter()
        .map(|((_, kind, address), (organisation, items))| {
            let views: Vec<Value> = items.iter().map(|i| view(i, judge, links)).collect();
            let subject = subject(&organisation, &items);
            let text = text(&subject, &views);
            let html = html(&subject, &views);
            let payload = json!({
                "schema": "posture/notification/v1",
                "organisation": organisation,
                "subject": subject,
                "items": views,
            });
            NewNotification {
                id: id(),
                organisation,
                kind,
                address,
                subject,
                body: json!({"text": text, "html": html, "payload": payload}).to_string(),
                items: items
                    .iter()
                    .map(|i| {
                        (
                            i.target.clone(),
                            i.check.clone(),
                            i.domain.clone(),
                            i.reason.as_str().to_owned(),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

fn subject(organisation: &str, items: &[&Item]) -> String {
    let count = |r: &[Reason]| items.iter().filter(|i| r.contains(&i.reason)).count();
    let mut parts = Vec::new();
    for (n, what) in [
        (count(&[Reason::Failing, Reason::Regression]), "failing"),
        (count(&[Reason::Reminder]), "still failing"),
        (count(&[Reason::Resolved]), "fixed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let mut domains: Vec<&str> = items.iter().map(|i| i.domain.as_str()).collect();
    domains.sort_unstable();
    domains.dedup();
    let shown = if domains.len() > 3 {
        format!("{} and {} more", domains[..3].join(", "), domains.len() - 3)
    } else {
        domains.join(", ")
    };
    format!("[posture] {organisation}: {} ({shown})", parts.join(", "))
}

/// One item as data (the webhook payload's element, and what the text and HTML show).
fn view(i: &Item, judge: &Judge, links: &Links) -> Value {
    let f = &i.finding;
    let why = judge
        .check(&i.check)
        .map(|c| c.why.trim().to_owned())
        .unwrap_or_default();
    let page = format!("{}/ui/domain/{}", links.base_url, percent_encode(&i.domain));
    let ack = (i.reason != Reason::Resolved).then(|| {
        format!(
            "{}/ui/ack?target={}&check={}&since={}&sig={}",
            links.base_url,
            percent_encode(&i.target),
            percent_encode(&i.check),
            i.since,
            ack_signature(&links.secret, &i.target, &i.check, i.since)
        )
    });
    json!({
        "reason": i.reason.as_str(),
        "check": i.check,
        "title": f.title,
        "target": f.target.to_string(),
        "target_key": i.target,
        "domain": i.domain,
        "status": f.status.as_str(),
        "was": i.from,
        "severity": f.severity.as_str(),
        "standards": f.standards,
        "message": f.message,
        "evidence": f.evidence,
        "why": why,
        "fix": f.remediation,
        "references": f.references,
        "observed_at": f.observed_at.to_rfc3339(),
        "since": chrono::DateTime::from_timestamp_millis(i.since).unwrap_or_default().to_rfc3339(),
        "page": page,
        "acknowledge": ack,
    })
}

fn heading(v: &Value) -> String {
    let what = match v["reason"].as_str() {
        Some("regression") => "FAILING (was passing)",
        Some("failing") => "FAILING",
        Some("reminder") => "STILL FAILING",
        _ => "FIXED",
    };
    format!(
        "{what}: {} on {} ({})",
        v["check"].as_str().unwrap_or(""),
        v["target"].as_str().unwrap_or(""),
        v["domain"].as_str().unwrap_or("")
    )
}

fn text(subject: &str, views: &[Value]) -> String {
    let mut t = format!("{subject}\n");
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
    for v in views {
        let _ = write!(
            t,
            "\n{}\n  {}: {}\n",
            heading(v),
            s(v, "title"),
            s(v, "message")
        );
        if let Some(was) = v["was"].as_str().filter(|_| v["reason"] == "regression") {
            let _ = writeln!(t, "  Before: {was}");
        }
        let standards: Vec<&str> = v["standards"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let _ = writeln!(
            t,
            "  Severity: {}; mandated by {}",
            s(v, "severity"),
            standards.join(", ")
        );
        if v["reason"] != "resolved" {
            if !s(v, "why").is_empty() {
                let _ = writeln!(t, "  Why it matters: {}", s(v, "why"));
            }
            let _ = writeln!(t, "  The fix:");
            for line in s(v, "fix").lines() {
                let _ = writeln!(t, "    {line}");
            }
            if v["evidence"].as_object().is_some_and(|o| !o.is_empty()) {
                let _ = writeln!(t, "  Evidence: {}", v["evidence"]);
            }
        }
        let _ = writeln!(t, "  Details: {}", s(v, "page"));
        if let Some(ack) = v["acknowledge"].as_str() {
            let _ = writeln!(
                t,
                "  Acknowledge (no more reminders until it changes): {ack}"
            );
        }
    }
    t
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html(subject: &str, views: &[Value]) -> String {
    let s = |v: &Value, k: &str| escape(v[k].as_str().unwrap_or(""));
    let mut h = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head><body><h1>{}</h1>",
        escape(subject),
        escape(subject)
    );
    for v in views {
        let _ = write!(
            h,
            "<h2>{}</h2><p><strong>{}</strong>: {}</p>",
            escape(&heading(v)),
            s(v, "title"),
            s(v, "message")
        );
        if let Some(was) = v["was"].as_str().filter(|_| v["reason"] == "regression") {
            let _ = write!(h, "<p>Before: {}</p>", escape(was));
        }
        if v["reason"] != "resolved" {
            let _ = write!(
                h,
                "<p>Why it matters: {}</p><h3>The fix</h3><pre>{}</pre>",
                s(v, "why"),
                s(v, "fix")
            );
        }
        let _ = write!(h, "<p><a href=\"{}\">Details</a>", s(v, "page"));
        if let Some(ack) = v["acknowledge"].as_str() {
            let _ = write!(h, " | <a href=\"{}\">Acknowledge</a>", escape(ack));
        }
        h.push_str("</p>");
    }
    h.push_str("</body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgement_signatures_hold_for_their_episode_only() {
        let sig = ack_signature(
            "k",
            "endpoint:https:www.b.test:443:",
            "TLS-CERT-EXPIRING",
            5,
        );
        assert_eq!(sig.len(), 64);
        assert!(ack_valid(
            "k",
            "endpoint:https:www.b.test:443:",
            "TLS-CERT-EXPIRING",
            5,
            &sig
        ));
        assert!(!ack_valid(
            "k",
            "endpoint:https:www.b.test:443:",
            "TLS-CERT-EXPIRING",
            6,
            &sig
        ));
        assert!(!ack_valid(
            "other",
            "endpoint:https:www.b.test:443:",
            "TLS-CERT-EXPIRING",
            5,
            &sig
        ));
        assert!(!ack_valid(
            "k",
            "endpoint:https:www.b.test:443:",
            "TLS-CERT-EXPIRING",
            5,
            "zz"
        ));
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap_or_else(|e| panic!("{e}"));
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
