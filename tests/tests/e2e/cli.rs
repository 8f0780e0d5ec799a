//! `posture-agent scan` as a user runs it, against lab servers: --connect-to, --sni, --ca-file,
//! JSON output and the observation file that `evaluate` reads back.

use clap::Parser;
use posture_agent::cli::Cli;
use posture_lab::pki::{LeafSpec, Pki, TempDir};
use posture_lab::servers::RustlsServer;

/// Run the command in this process. Its standard output may be a terminal (a developer's), so
/// the table's colour is off unless the test asks for it.
fn run(mut args: Vec<String>) -> (Result<(), posture_agent::Error>, String) {
    if !args.iter().any(|a| a == "--color") && matches!(args[0].as_str(), "scan" | "evaluate") {
        args.extend(["--color".to_owned(), "never".to_owned()]);
    }
    let cli = Cli::try_parse_from(std::iter::once("posture-agent".to_owned()).chain(args)).unwrap();
    let mut out = Vec::new();
    let r = posture_agent::run(cli, &mut out);
    (r, String::from_utf8(out).unwrap())
}

/// [`run`] off the async runtime: the command builds its own.
async fn run_async(args: Vec<String>) -> (Result<(), posture_agent::Error>, String) {
    tokio::task::spawn_blocking(move || run(args))
        .await
        .unwrap()
}

/// `evaluate FILE --format json`, run as the CLI runs it; the printed findings, parsed.
async fn evaluate_json(file: &std::path::Path) -> serde_json::Value {
    let (result, out) = run_async(vec![
        "evaluate".into(),
        file.display().to_string(),
        "--format".into(),
        "json".into(),
    ])
    .await;
    crate::scanned(result);
    serde_json::from_str(&out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_command_with_connect_to_ca_file_and_output() {
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::valid(&["www.cli.test"]));
    let server = RustlsServer::new(&leaf).start().await;
    let port = server.addr.port();
    let dir = TempDir::new("cli");
    let root = pki.root_file();
    let saved = dir.path().join("observations.json");
    let args = vec![
        "scan".to_owned(),
        format!("https://www.cli.test:{port}"),
        "--connect-to".into(),
        format!("www.cli.test:{port}:127.0.0.1:{port}"),
        "--ca-file".into(),
        root.display().to_string(),
        "--format".into(),
        "json".into(),
        "-o".into(),
        saved.display().to_string(),
    ];
    // The command runs its own runtime, so it is called from a blocking thread.
    let (result, out) = run_async(args).await;
    crate::scanned(result);
    // With -o the chosen format goes to the file and the table to standard output (issue 10,
    // item 8, as testssl.sh's --jsonfile).
    assert!(
        out.contains(" findings: ") && out.contains("TARGET"),
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    // The origin's web observation comes first, then its endpoint's TLS scan.
    assert_eq!(report["observations"][0]["target"]["name"], "www.cli.test");
    let obs = &report["observations"][1];
    assert_eq!(obs["target"]["host"], "www.cli.test");
    check_record_fields(&report, port);
    assert_eq!(obs["tls"]["certificate"]["trusted"], true);
    let connections = obs["scan"]["connections"].as_u64().unwrap();
    assert!((10..=50).contains(&connections), "{connections}");
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "TLS-CERT-TRUST" && f["status"] == "pass")
    );

    // The saved report evaluates offline to the same findings.
    let evaluated = evaluate_json(&saved).await;
    let statuses = |v: &serde_json::Value| {
        let mut s: Vec<(String, String)> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["check"].as_str().unwrap().to_owned(),
                    f["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        s.sort();
        s
    };
    assert_eq!(statuses(&report), statuses(&evaluated));

    // What `scan --format json` printed is itself valid input for `evaluate` (issue 10,
    // item 4), and gives the same findings.
    let printed = dir.path().join("printed.json");
    std::fs::write(&printed, serde_json::to_string(&report).unwrap()).unwrap();
    let again = evaluate_json(&printed).await;
    assert_eq!(statuses(&report), statuses(&again));
    assert!(!statuses(&again).is_empty());
    // The JSON summary counts what the findings say.
    let json_summary = &report["summary"];
    let total = report["findings"].as_array().unwrap().len();
    assert_eq!(json_summary["findings"], total);
    let passed = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "pass")
        .count();
    assert_eq!(json_summary["by_status"]["pass"], passed);
}

/// Issue 10, item 1: each observation has its own UUID v7, the run's id, the agent's version,
/// no organisation (an ad-hoc scan) and the address dialled; each finding names its
/// observation and the digest of the policies that judged it. `report` holds the origin's web
/// observation and then the endpoint's, dialled at 127.0.0.1:`port`.
fn check_record_fields(report: &serde_json::Value, port: u16) {
    let obs = &report["observations"][1];
    let ids: Vec<&str> = report["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["scan"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(&id[14..15], "7", "a UUID v7: {id}");
    }
    assert_eq!(
        report["observations"][0]["scan"]["run"],
        report["observations"][1]["scan"]["run"]
    );
    assert_eq!(obs["scan"]["agent_version"], env!("CARGO_PKG_VERSION"));
    assert!(obs["scan"]["organisation"].is_null());
    assert_eq!(obs["scan"]["address"], format!("127.0.0.1:{port}"));
    for f in report["findings"].as_array().unwrap() {
        assert!(ids.contains(&f["observation"].as_str().unwrap()), "{f}");
        let digest = f["policy_digest"].as_str().unwrap();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "{digest}"
        );
    }
}

/// A name mismatch: the finding, the exit codes under --fail-on (issue 10, item 7), the
/// scores and summary that end the table, and --all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_mismatch_sets_the_exit_code_and_the_table_ends_with_scores() {
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::valid(&["www.cli.test"]));
    let server = RustlsServer::new(&leaf).start().await;
    let port = server.addr.port();
    let root = pki.root_file();
    // With --sni naming a host the certificate does not cover, the name check fails.
    let args = vec![
        "scan".to_owned(),
        format!("tls://127.0.0.1:{port}"),
        "--sni".into(),
        "intranet.cli.test".into(),
        "--ca-file".into(),
        root.display().to_string(),
    ];
    let sni_args = args.clone();
    let (result, out) = run_async(args).await;
    // A failing critical finding (the name) makes the scan exit 1 under the default
    // --fail-on high, and under --fail-on critical; --fail-on never exits 0.
    assert_eq!(crate::scanned(result), 1);
    assert!(
        out.contains("TLS-CERT-NAME") && out.contains("intranet.cli.test"),
        "{out}"
    );
    // The table ends with the scores, as evaluate prints them (issue 10, item 9): the
    // critical name failure zeroes nothing here (an endpoint, not a main website), but NCSC-TLS
    // is scored for the endpoint's host.
    assert!(out.contains("Scores (posture-score/1"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("127.0.0.1") && l.contains("NCSC-TLS") && l.contains('.')),
        "{out}"
    );
    // The summary line counts failures by severity.
    assert!(
        out.contains(" findings: ") && out.contains(" fail (1 critical"),
        "{out}"
    );
    // --all shows the passing findings in the table too.
    let mut all = sni_args.clone();
    all.push("--all".into());
    let (_, with_passes) = run_async(all).await;
    assert!(!out.contains("TLS-PROTO-13"), "{out}");
    assert!(
        with_passes
            .lines()
            .any(|l| l.contains("TLS-PROTO-13") && l.contains("pass")),
        "{with_passes}"
    );
    for (fail_on, code) in [("critical", 1), ("never", 0)] {
        let mut args = sni_args.clone();
        args.extend(["--fail-on".into(), fail_on.into()]);
        let (result, _) = run_async(args).await;
        assert_eq!(crate::scanned(result), code, "--fail-on {fail_on}");
    }
}

#[test]
fn bad_scan_arguments_are_usage_errors() {
    for args in [
        vec!["scan", "ftp://x.test"],
        vec!["scan", "tls://x.test"],
        vec!["scan", "https://x.test", "--connect-to", "nonsense"],
        vec!["scan", "https://x.test", "--budget", "0"],
        vec!["scan", "https://x.test", "--standard", "NO-SUCH"],
    ] {
        let (result, _) = run(args.iter().map(|s| (*s).to_owned()).collect());
        let err = result.unwrap_err();
        assert_eq!(err.exit_code(), 64, "{args:?}: {err}");
    }
    let (result, _) = run(vec![
        "scan".into(),
        "https://x.test".into(),
        "--ca-file".into(),
        "/no/such/file.pem".into(),
    ]);
    assert_eq!(result.unwrap_err().exit_code(), 66);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interception_is_seen_against_a_second_vantage_point() {
    let pki = Pki::new();
    let real = RustlsServer::new(&pki.leaf(&LeafSpec::valid(&["www.cli.test"])))
        .start()
        .await;
    // A "middlebox" presenting another certificate for the same name.
    let forged = RustlsServer::new(&pki.leaf(&LeafSpec::valid(&["www.cli.test"])))
        .start()
        .await;
    let dir = TempDir::new("vantage");
    let root = pki.root_file().display().to_string();
    let elsewhere = dir.path().join("elsewhere.json").display().to_string();
    // Every other host and port (the web checks of cli.test) goes to a closed loopback port,
    // so nothing asks a real resolver.
    let closed = posture_lab::servers::free_port();
    let scan = move |via: u16, extra: Vec<String>| {
        let mut a = vec![
            "scan".to_owned(),
            "https://www.cli.test".into(),
            "--connect-to".into(),
            format!("www.cli.test:443:127.0.0.1:{via}"),
            "--connect-to".into(),
            format!("::127.0.0.1:{closed}"),
            "--ca-file".into(),
            root.clone(),
            "--format".into(),
            "json".into(),
        ];
        a.extend(extra);
        a
    };
    // The second vantage point sees the real server.
    let args = scan(real.addr.port(), vec!["-o".into(), elsewhere.clone()]);
    let (r, _) = run_async(args).await;
    crate::scanned(r);
    let status = |out: &str| {
        let v: serde_json::Value = serde_json::from_str(out).unwrap();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "TLS-INTERCEPT")
            .map(|f| f["status"].as_str().unwrap().to_owned())
    };
    let args = scan(
        real.addr.port(),
        vec!["--vantage".into(), elsewhere.clone()],
    );
    let (r, out) = run_async(args).await;
    crate::scanned(r);
    assert_eq!(status(&out).as_deref(), Some("pass"));
    let args = scan(
        forged.addr.port(),
        vec!["--vantage".into(), elsewhere.clone()],
    );
    let (r, out) = run_async(args).await;
    crate::scanned(r);
    assert_eq!(status(&out).as_deref(), Some("fail"));
    // Without a second view the check does not apply, unless the issuer is a known inspection CA.
    let args = scan(forged.addr.port(), vec![]);
    let (r, out) = run_async(args).await;
    crate::scanned(r);
    assert_eq!(status(&out).as_deref(), Some("not_applicable"));
    let args = scan(
        forged.addr.port(),
        vec!["--interception-ca".into(), "posture lab issuing".into()],
    );
    let (r, out) = run_async(args).await;
    crate::scanned(r);
    assert_eq!(status(&out).as_deref(), Some("fail"));
}

/// Item 5 of issue 9: targets are parsed as users write them. A URL's path is not part of the
/// SNI, an IDN name is sent as its A-label and matched by `--connect-to` in that form, a
/// trailing dot neither reaches the SNI nor escapes `--connect-to`, the same target written
/// three ways is scanned once, and an IPv6 target is shown in brackets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_are_read_as_users_write_them() {
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::valid(&["x.cli.test", "xn--bcher-kva.cli.test"]));
    let server = RustlsServer::new(&leaf).start().await;
    let port = server.addr.port();
    let root = pki.root_file().display().to_string();
    let args = vec![
        "scan".to_owned(),
        format!("https://x.cli.test:{port}/login?next=%2F"),
        format!("https://X.cli.test.:{port}"),
        format!("https://x.cli.test:{port}/"),
        format!("https://bücher.cli.test:{port}"),
        // Rules written with the trailing dot and the U-label still match.
        "--connect-to".into(),
        format!("x.cli.test.:{port}:127.0.0.1:{port}"),
        "--connect-to".into(),
        format!("BÜCHER.cli.test:{port}:127.0.0.1:{port}"),
        "--ca-file".into(),
        root,
        "--format".into(),
        "json".into(),
    ];
    let (result, out) = run_async(args).await;
    crate::scanned(result);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let hosts: Vec<&str> = report["observations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["target"]["host"].as_str())
        .collect();
    assert_eq!(hosts, ["x.cli.test", "xn--bcher-kva.cli.test"], "{out}");
    let names: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "TLS-CERT-NAME")
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pass", "pass"], "{out}");

    // What is shown for an IPv6 target parses back; refused hosts are usage errors.
    let closed = posture_lab::servers::free_port();
    let args = vec![
        "scan".to_owned(),
        format!("tls://[::1]:{closed}"),
        "--connect-timeout".into(),
        "1".into(),
    ];
    let (result, out) = run_async(args).await;
    crate::scanned(result);
    assert!(out.contains(&format!("tls://[::1]:{closed}")), "{out}");
    assert!(out.contains("untestable"), "{out}");
    assert!(!out.contains("No problems found"), "{out}");
    for bad in [
        "https://user@x.cli.test",
        "https://-bad-.cli.test",
        "https://a..cli.test",
        "127.0.0.1",
        "a..b.test",
    ] {
        let (result, _) = run(vec!["scan".into(), bad.into()]);
        assert_eq!(result.unwrap_err().exit_code(), 64, "{bad}");
    }
}

/// Item 13 of issue 9: strings from servers (here a TXT record holding an escape sequence and
/// a carriage return) are printed with their control characters escaped in the table, and
/// exactly in JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_from_servers_are_escaped_in_tables_only() {
    // Raw control characters in the zone's quoted string.
    let zone = "
$ORIGIN ctl.test.
$TTL 300
@   IN SOA ns.ctl.test. hostmaster.ctl.test. 1 3600 600 86400 300
@   IN NS  ns.ctl.test.
@   IN TXT \"v=spf1 \u{1b}[2J\u{1b}[31mFAKE\r -all\"
";
    let dns = posture_lab::dns::serve(&[zone]).await;
    let closed = posture_lab::servers::free_port();
    let base = vec![
        "scan".to_owned(),
        "ctl.test".into(),
        "--resolver".into(),
        dns.addr.to_string(),
        "--nameserver-port".into(),
        dns.addr.port().to_string(),
        "--connect-to".into(),
        format!("::127.0.0.1:{closed}"),
        "--connect-timeout".into(),
        "1".into(),
        "--read-timeout".into(),
        "2".into(),
    ];
    let args = base.clone();
    let (result, table) = run_async(args).await;
    crate::scanned(result);
    assert!(
        table.contains("v=spf1 \\u{1b}[2J\\u{1b}[31mFAKE\\r -all"),
        "{table}"
    );
    assert!(
        !table.bytes().any(|b| b == 0x1b || b == b'\r'),
        "raw control characters in the table"
    );
    let mut args = base;
    args.extend(["--format".into(), "json".into()]);
    let (result, json) = run_async(args).await;
    crate::scanned(result);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["observations"][0]["mail"]["spf"]["records"][0],
        "v=spf1 \u{1b}[2J\u{1b}[31mFAKE\r -all"
    );
}

/// Issue 9, item 3: `https://HOST:PORT` on a port other than 443 gets the header, cookie and
/// HSTS checks of that origin, not only its TLS scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_origin_on_another_port_gets_the_web_checks() {
    use posture_lab::web::{Reply, serve};
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::valid(&[
        "app.cli.test",
        "old.cli.test",
        "127.0.0.1",
    ]));
    let good = serve(
        Some(&leaf),
        std::sync::Arc::new(|_: &posture_lab::web::Seen| Reply::well_run("the app")),
    )
    .await;
    let bare = serve(
        Some(&leaf),
        std::sync::Arc::new(|_: &posture_lab::web::Seen| Reply::ok("the old app")),
    )
    .await;
    let root = pki.root_file().display().to_string();
    let (g, b) = (good.addr.port(), bare.addr.port());
    let args = vec![
        "scan".to_owned(),
        format!("https://app.cli.test:{g}"),
        format!("https://old.cli.test:{b}"),
        "--connect-to".into(),
        format!("app.cli.test:{g}:127.0.0.1:{g}"),
        "--connect-to".into(),
        format!("old.cli.test:{b}:127.0.0.1:{b}"),
        "--ca-file".into(),
        root,
        "--format".into(),
        "json".into(),
    ];
    let (result, out) = run_async(args).await;
    crate::scanned(result);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let status = |domain: &str, check: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                f["check"] == check && f["target"]["type"] == "domain" && f["domain"] == domain
            })
            .map(|f| f["status"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {check} for {domain}: {out}"))
    };
    for check in ["WEB-HTTPS", "WEB-HSTS", "WEB-HEADERS"] {
        assert_eq!(status("app.cli.test", check), "pass", "{check}");
    }
    assert_eq!(status("old.cli.test", "WEB-HSTS"), "fail");
    assert_eq!(status("old.cli.test", "WEB-HEADERS"), "fail");
    // The same well-run origin reached by its address: browsers never note HSTS from an
    // IP-address host (RFC 6797 §8.1.1), so neither does posture.
    let args = vec![
        "scan".to_owned(),
        format!("https://127.0.0.1:{g}"),
        "--ca-file".into(),
        pki.root_file().display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    let (result, out) = run_async(args).await;
    crate::scanned(result);
    let by_ip: serde_json::Value = serde_json::from_str(&out).unwrap();
    let hsts = by_ip["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "WEB-HSTS")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(hsts["status"], "fail", "{hsts}");
    assert!(
        hsts["message"]
            .as_str()
            .unwrap()
            .contains("RFC 6797 §8.1.1"),
        "{hsts}"
    );
    // The TLS scans are still there, one per origin.
    let endpoints = report["observations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["target"]["type"] == "endpoint")
        .count();
    assert_eq!(endpoints, 2);
}

/// Issue 10, item 8: ndjson, csv and SARIF 2.1.0 (validated against the official schema).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_csv_and_sarif_formats() {
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::valid(&["www.fmt.test"]));
    let server = RustlsServer::new(&leaf).start().await;
    let port = server.addr.port();
    let root = pki.root_file().display().to_string();
    let scan = move |format: &str| {
        let args = vec![
            "scan".to_owned(),
            format!("tls://127.0.0.1:{port}"),
            "--sni".into(),
            "other.fmt.test".into(),
            "--ca-file".into(),
            root.clone(),
            "--format".into(),
            format.into(),
        ];
        let (result, out) = run(args);
        assert_eq!(crate::scanned(result), 1, "{format}");
        out
    };
    let (ndjson, csv, sarif) =
        tokio::task::spawn_blocking(move || (scan("ndjson"), scan("csv"), scan("sarif")))
            .await
            .unwrap();

    let findings: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(findings.len() > 10, "{ndjson}");
    assert!(findings.iter().all(|f| f["schema"] == "posture/v1"));
    assert!(
        findings
            .iter()
            .any(|f| f["check"] == "TLS-CERT-NAME" && f["status"] == "fail")
    );

    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("target,domain,check,status,severity,title,message,standards,observed_at")
    );
    assert_eq!(rows.clone().count(), findings.len(), "{csv}");
    assert!(
        rows.any(|r| r.contains(",TLS-CERT-NAME,fail,critical,")),
        "{csv}"
    );

    let log: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            posture_lab::repository_root().join("tests/schemas/sarif-schema-2.1.0.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let run0 = &log["runs"][0];
    let rule = run0["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "TLS-CERT-NAME")
        .unwrap();
    assert!(
        rule["help"]["text"].as_str().unwrap().contains("Fix:"),
        "{rule}"
    );
    let result = run0["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "TLS-CERT-NAME")
        .unwrap();
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        format!("tls://127.0.0.1:{port}")
    );
    // A result's ruleIndex points at its rule.
    let index = usize::try_from(result["ruleIndex"].as_u64().unwrap()).unwrap();
    assert_eq!(
        run0["tool"]["driver"]["rules"][index]["id"],
        "TLS-CERT-NAME"
    );
    // A schema violation is caught: the test can fail.
    let mut broken = log.clone();
    broken["version"] = "2.0.0".into();
    assert!(!validator.is_valid(&broken));
}

/// Issue 10, item 9: the suite lists mark each suite as the standards judged it (broken, weak
/// or ok), from the findings' evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_lists_are_marked_broken_weak_or_ok() {
    use posture_lab::servers::{LegacyTls, Script, scripted};
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::valid(&["marks.cli.test"]));
    // TLS_RSA_EXPORT_WITH_RC4_40_MD5 (0x0003, broken), TLS_RSA_WITH_AES_128_CBC_SHA (0x002f,
    // no forward secrecy: weak).
    let legacy = scripted(Script::LegacyTls(LegacyTls {
        versions: vec![0x0303],
        suites: vec![0x0003, 0x002f],
        certificate: leaf.cert_der.clone(),
        ..LegacyTls::default()
    }))
    .await;
    let modern = RustlsServer::new(&leaf).start().await;
    let args = vec![
        "scan".to_owned(),
        format!("tls://127.0.0.1:{}", legacy.addr.port()),
        format!("tls://127.0.0.2:{}", modern.addr.port()),
        "--connect-to".into(),
        format!("127.0.0.2:{0}:127.0.0.1:{0}", modern.addr.port()),
    ];
    // The line that lists suite `name`, in the table of `out`.
    fn line(out: &str, name: &str) -> String {
        out.lines()
            .find(|l| l.trim_end().ends_with(name))
            .unwrap_or_else(|| panic!("no {name}: {out}"))
            .to_owned()
    }
    let (result, out) = run_async(args.clone()).await;
    assert_eq!(crate::scanned(result), 1);
    // In colour too: broken bold red, weak yellow, ok green; the failing status red.
    let mut coloured = args.clone();
    coloured.extend(["--color".to_owned(), "always".to_owned()]);
    let (_, painted) = run_async(coloured).await;
    for (suite, mark, sgr) in [
        ("TLS_RSA_EXPORT_WITH_RC4_40_MD5", "broken", "\x1b[1;31m"),
        ("TLS_RSA_WITH_AES_128_CBC_SHA", "weak", "\x1b[33m"),
        ("TLS_AES_256_GCM_SHA384", "ok", "\x1b[32m"),
    ] {
        assert!(line(&out, suite).contains(&format!(" {mark} ")), "{out}");
        assert!(
            line(&painted, suite).contains(&format!("{sgr}{mark}\x1b[0m")),
            "{painted}"
        );
    }
    assert!(painted.contains("\x1b[1;31mfail\x1b[0m"), "{painted}");
}

/// Issue 10, item 9: on a terminal a multi-target scan shows a progress bar (N of M, the
/// time, what is still running) under the lines each finished target prints. The agent runs
/// under `script`, which gives it a pseudo-terminal; a silent peer keeps the scan going long
/// enough for the bar to be drawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_gets_a_progress_bar() {
    use posture_lab::servers::{Script, scripted};
    let silent = scripted(Script::Silent).await;
    let closed = posture_lab::servers::free_port();
    let command = format!(
        "{} scan tls://127.0.0.2:{closed} tls://127.0.0.1:{} --read-timeout 2 --connect-timeout 1",
        env!("CARGO_BIN_EXE_posture-agent-lab"),
        silent.addr.port()
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // The line of the first target to finish, and the bar while the silent peer runs.
    assert!(
        text.contains(&format!("[1 of 2] scanned tls://127.0.0.2:{closed}")),
        "{text}"
    );
    let bar = "1 of 2 ";
    let drawn = text.split(['\r', '\n']).any(|l| {
        l.contains(bar)
            && l.contains(&format!("running: tls://127.0.0.1:{}", silent.addr.port()))
            && !l.contains("scanned")
    });
    assert!(drawn, "{text:?}");
}
