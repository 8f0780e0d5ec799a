use crate::{agent, stderr, stdout};

#[test]
fn explain_tls_proto_legacy_gives_meaning_sources_and_fix() {
    let o = agent(&["explain", "TLS-PROTO-LEGACY"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "TLS-PROTO-LEGACY: TLS 1.0 and 1.1 are refused",
        "What it means",
        "Why it matters",
        "RFC 8996",
        "Mandated by",
        "NCSC-TLS",
        "NHS-WEB",
        "MOZ-INT",
        "How to fix it",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "SSLProtocol -all +TLSv1.2 +TLSv1.3",
        "IIS",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn explain_mail_dmarc_policy_gives_meaning_sources_and_fix() {
    let o = agent(&["explain", "mail-dmarc-policy"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "DMARC policy is reject",
        "GOVUK-EMAIL",
        "BOD-18-01",
        "NHS-EMAIL",
        "p=reject",
        "quarantine",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn explain_json_is_structured() {
    let o = agent(&["explain", "WEB-HSTS", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["id"], "WEB-HSTS");
    assert_eq!(v["mandated_by"][0]["standard"], "GOVUK-HTTPS");
    assert!(v["outcomes"].as_array().unwrap().len() >= 3);
}

#[test]
fn explain_lists_checks_by_standard_without_an_id() {
    let o = agent(&["explain"]);
    assert!(o.status.success());
    let text = stdout(&o);
    // Each of the 56 checks appears under at least one of the 13 standards.
    let mut ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|id| id.contains('-') && *id != "CHECK")
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 56, "{text}");
    let headers: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(": "))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(headers.len(), 13, "{headers:?}");
    assert!(headers.contains(&"NCSC-TLS") && headers.contains(&"GOVUK-EMAIL"));
    // Every name printed there is accepted by --standard, here and in evaluate.
    for name in headers {
        let o = agent(&["explain", "--standard", name]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(stdout(&o).starts_with(&format!("{name}: ")), "{name}");
        let o = agent(&["evaluate", "examples/weak-domain.json", "--standard", name]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    }
    // One standard's list holds its checks only.
    let https = stdout(&agent(&["explain", "--standard", "govuk-https"]));
    assert!(
        https.contains("WEB-HSTS") && !https.contains("MAIL-SPF"),
        "{https}"
    );
    let o = agent(&["explain", "--standard", "NCSC"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(
        stderr(&o).contains("did you mean NCSC-TLS"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unknown_check_is_a_usage_error_with_suggestions() {
    let o = agent(&["explain", "TLS-PROTO-LEGASY"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(
        stderr(&o).contains("did you mean TLS-PROTO-LEGACY"),
        "{}",
        stderr(&o)
    );
}
