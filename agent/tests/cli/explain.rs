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
fn explain_lists_all_checks_without_an_id() {
    let o = agent(&["explain"]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o)
            .lines()
            .filter(|l| l.starts_with("TLS-")
                || l.starts_with("WEB-")
                || l.starts_with("DNS-")
                || l.starts_with("DOMAIN-")
                || l.starts_with("MAIL-"))
            .count(),
        56
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
