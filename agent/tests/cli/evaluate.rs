use std::process::Command;

use serde_json::Value;

use crate::{agent, root, stderr, stdout};

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

/// Issue 10, item 9: colour in the table. `--color always` paints the STATUS column (fail red,
/// warn yellow, pass green); `auto` paints only on a terminal (a pseudo-terminal from
/// `script`), and NO_COLOR (not empty) turns `auto` off while an explicit `always` wins over it
/// (no-color.org). Nothing is painted in a pipe.
#[test]
fn the_table_is_coloured_on_a_terminal_unless_no_color() {
    const RED_FAIL: &str = "\x1b[1;31mfail\x1b[0m";
    let file = "examples/weak-domain.json";
    let o = agent(&["evaluate", file, "--all", "--color", "always"]);
    let text = stdout(&o);
    assert!(text.contains(RED_FAIL), "{text}");
    assert!(text.contains("\x1b[32mpass\x1b[0m"), "{text}");
    // The columns stay aligned: the header's CHECK column starts where each row's does.
    let plain = agent(&["evaluate", file, "--all"]);
    let plain_text = stdout(&plain);
    assert!(
        !plain_text.contains('\x1b'),
        "a pipe gets no colour: {plain_text}"
    );
    let unpainted = text
        .replace(RED_FAIL, "fail")
        .replace("\x1b[32mpass\x1b[0m", "pass");
    let unpainted = unpainted.replace("\x1b[33mwarn\x1b[0m", "warn");
    assert_eq!(unpainted, plain_text);

    // On a terminal: colour by default, none with NO_COLOR, colour again with --color always.
    let on_terminal = |no_color: Option<&str>, extra: &str| {
        let bin = env!("CARGO_BIN_EXE_posture-agent");
        let mut c = Command::new("script");
        c.args([
            "-qec",
            &format!("{bin} evaluate {file} {extra}"),
            "/dev/null",
        ])
        .current_dir(root())
        .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert!(on_terminal(None, "").contains(RED_FAIL));
    let off = on_terminal(Some("1"), "");
    assert!(off.contains("fail") && !off.contains('\x1b'), "{off:?}");
    // An empty NO_COLOR does not count.
    assert!(on_terminal(Some(""), "").contains(RED_FAIL));
    assert!(on_terminal(Some("1"), "--color always").contains(RED_FAIL));
    assert!(!on_terminal(None, "--color never").contains('\x1b'));
}
