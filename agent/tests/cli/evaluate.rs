use serde_json::Value;

use crate::{agent, stderr, stdout};

fn evaluate_json(file: &str, extra: &[&str]) -> Value {
    let mut args = vec!["evaluate", file, "--format", "json"];
    args.extend_from_slice(extra);
    let o = agent(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn statuses(v: &Value, domain: &str, check: &str) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["domain"] == domain && f["check"] == check)
        .map(|f| f["status"].as_str().unwrap().to_owned())
        .collect()
}

fn score(v: &Value, standard: &str) -> f64 {
    v["domain_scores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["standard"] == standard)
        .and_then(|d| d["score"].as_f64())
        .unwrap_or_else(|| panic!("no score for {standard}"))
}

#[test]
fn the_weak_example_fails_legacy_tls_dmarc_and_hsts_and_scores_below_the_good_one() {
    let weak = evaluate_json("examples/weak-domain.json", &[]);
    let good = evaluate_json("examples/good-domain.json", &[]);
    let d = "weak-trust.example";
    assert!(
        statuses(&weak, d, "TLS-PROTO-LEGACY")
            .iter()
            .all(|s| s == "fail")
    );
    assert_eq!(
        statuses(&weak, d, "TLS-PROTO-LEGACY").len(),
        3,
        "apex, www and the MX"
    );
    assert_eq!(statuses(&weak, d, "MAIL-DMARC-POLICY"), vec!["fail"]);
    assert_eq!(statuses(&weak, d, "WEB-HSTS"), vec!["fail"]);
    for f in good["findings"].as_array().unwrap() {
        assert!(
            matches!(f["status"].as_str(), Some("pass" | "not_applicable")),
            "the good example should pass: {f}"
        );
    }
    for standard in [
        "NCSC-TLS",
        "GOVUK-EMAIL",
        "GOVUK-HTTPS",
        "NHS-WEB",
        "MOZ-INT",
        "BOD-18-01",
    ] {
        let (w, g) = (score(&weak, standard), score(&good, standard));
        assert!(w < g, "{standard}: weak {w} is not below good {g}");
    }
    assert_eq!(weak["method"], "posture-score/1");
    assert_eq!(weak["schema"], "posture/v1");
}

#[test]
fn the_table_names_the_failing_checks_and_the_scores() {
    let o = agent(&["evaluate", "examples/weak-domain.json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "TLS-PROTO-LEGACY",
        "MAIL-DMARC-POLICY",
        "WEB-HSTS",
        "Scores (posture-score/1",
        "Organisation WEAK01",
    ] {
        assert!(text.contains(needle), "missing {needle:?}");
    }
}

#[test]
fn standard_filter_keeps_only_that_standard() {
    let v = evaluate_json("examples/weak-domain.json", &["--standard", "GOVUK-HTTPS"]);
    let findings = v["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    assert!(findings.iter().all(|f| {
        f["standards"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "GOVUK-HTTPS")
    }));
    assert!(
        findings
            .iter()
            .all(|f| f["check"].as_str().unwrap().starts_with("WEB-"))
    );
    assert!(
        v["domain_scores"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["standard"] == "GOVUK-HTTPS")
    );
}

#[test]
fn judging_later_turns_an_in_date_certificate_into_an_expired_one() {
    // 73 days after the scan: a 30-day scan interval keeps the findings fresh (3 x 30 days).
    let v = evaluate_json(
        "examples/good-domain.json",
        &["--now", "2027-02-01T00:00:00Z", "--scan-interval", "30d"],
    );
    let expired = statuses(&v, "good-trust.example", "TLS-CERT-EXPIRED");
    assert_eq!(expired, vec!["fail", "fail", "fail"]);
    // Expired certificate on the main website: hard zero for the standards that mandate the check.
    assert_eq!(score(&v, "NHS-WEB"), 0.0);

    // With the default daily interval the same findings are stale and no longer scored.
    let v = evaluate_json(
        "examples/good-domain.json",
        &["--now", "2027-02-01T00:00:00Z"],
    );
    let scores = v["domain_scores"].as_array().unwrap();
    assert!(
        scores
            .iter()
            .all(|d| d["score"].is_null() && d["stale"].as_u64() > Some(0))
    );
}

#[test]
fn bad_input_is_reported_with_the_file_and_an_exit_code() {
    let dir = std::env::temp_dir().join(format!("posture-cli-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"schema": "posture/v2", "observations": []}"#).unwrap();
    let o = agent(&["evaluate", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(65));
    assert!(
        stderr(&o).contains("bad.json") && stderr(&o).contains("posture/v2"),
        "{}",
        stderr(&o)
    );

    std::fs::write(
        &bad,
        r#"{"schema": "posture/v1", "observations": [], "extra": 1}"#,
    )
    .unwrap();
    // A field this version does not know (a newer agent's) is tolerated (issue 10, item 2);
    // a newer schema version is not (above).
    let o = agent(&["evaluate", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let o = agent(&["evaluate", "no-such-file.json"]);
    assert_eq!(o.status.code(), Some(66));

    let o = agent(&[
        "evaluate",
        "examples/weak-domain.json",
        "--standard",
        "NCSC-TSL",
    ]);
    assert_eq!(o.status.code(), Some(64));

    let o = agent(&[
        "evaluate",
        "examples/weak-domain.json",
        "--now",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(64));
    std::fs::remove_dir_all(&dir).unwrap();
}
