use crate::{agent, stderr, stdout};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn progress_is_reported_on_standard_error_when_asked() {
    let port = closed_port();
    let target = format!("tls://127.0.0.1:{port}");
    let o = agent(&["scan", &target, "--progress", "always", "--format", "json"]);
    // Nothing could be scanned there: exit 2, saying which target.
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("could not scan tls://127.0.0.1:{port}")),
        "{}",
        stderr(&o)
    );
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "posture-agent: [1 of 1] scanned tls://127.0.0.1:{port} (4 connections"
        )),
        "{err}"
    );
    // A closed port: the first wave of four probes, not the second.
    assert!(err.contains("1 probe(s) did not finish"), "{err}");
    // Standard output stays one JSON document.
    serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap();

    let o = agent(&["scan", &target, "--progress", "never"]);
    assert!(!stderr(&o).contains("scanned"), "{}", stderr(&o));
}

#[test]
fn fail_on_takes_a_severity_or_never() {
    let port = closed_port();
    let target = format!("tls://127.0.0.1:{port}");
    let o = agent(&["scan", &target, "--fail-on", "sometimes"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(
        stderr(&o).contains("use critical, high, medium, low, info or never"),
        "{}",
        stderr(&o)
    );
    // Nothing fails on a closed port, but nothing was scanned either: 2 whatever --fail-on.
    let o = agent(&["scan", &target, "--fail-on", "never"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let help = agent(&["scan", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("Exit codes: 0 no finding at or above --fail-on failed"),
        "{text}"
    );
}

/// Issue 10, item 11: what a new user ran into.
#[test]
fn what_a_new_user_ran_into() {
    let port = closed_port();
    let target = format!("tls://127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("posture-cli-newuser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // -o to a path that cannot be written fails before scanning (exit 73), printing no table.
    let unwritable = dir.join("no-such-dir").join("out.json");
    let o = agent(&["scan", &target, "-o", unwritable.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(73), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("out.json: cannot write"),
        "{}",
        stderr(&o)
    );

    // A binary file given to evaluate is bad data (65), not missing input.
    let binary = dir.join("binary.json");
    std::fs::write(&binary, [0u8, 0xff, 0xfe, 0x00]).unwrap();
    let o = agent(&["evaluate", binary.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(65), "{}", stderr(&o));
    // The file is named once.
    assert_eq!(
        stderr(&o).matches("binary.json").count(),
        1,
        "{}",
        stderr(&o)
    );

    // --config naming a missing file is missing input (66), in scan and in config check.
    let missing = dir.join("missing.toml");
    let o = agent(&["scan", "--config", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(66), "{}", stderr(&o));
    let o = agent(&["config", "check", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(66), "{}", stderr(&o));

    // JSON into a reader that stops early (`| head`): silent, exit 0, as the table is.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_posture-agent"))
        .args(["explain", "--format", "json"])
        .current_dir(crate::root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

/// Issue 10, items 9 and 11: a target whose probe did not run is one table row, not one per
/// check, and the same summary line (counts by status, failures by severity) ends the table.
#[test]
fn an_unprobed_target_is_one_row_and_the_summary_counts_by_status() {
    let port = closed_port();
    let target = format!("tls://127.0.0.1:{port}");
    let o = agent(&["scan", &target, "--connect-timeout", "1"]);
    let text = stdout(&o);
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with(&target)).collect();
    assert_eq!(rows.len(), 2, "{text}"); // the summary line and one finding row
    assert!(
        rows[1].contains("23 checks") && rows[1].contains("untestable"),
        "{text}"
    );
    assert!(text.contains("23 findings: 23 untestable"), "{text}");
    let o = agent(&[
        "scan",
        &target,
        "--connect-timeout",
        "1",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["findings"], 23);
    assert_eq!(v["summary"]["by_status"]["untestable"], 23);
}

/// Issue 10, item 11: progress says N of M and what is still running; -q keeps the table to
/// the findings and silences progress; scan --help has examples.
#[test]
fn progress_counts_targets_and_quiet_is_quiet() {
    let (a, b) = (closed_port(), closed_port());
    let first = format!("tls://127.0.0.1:{a}");
    let second = format!("tls://127.0.0.2:{b}");
    let o = agent(&["scan", &first, &second, "--progress", "always"]);
    let err = stderr(&o);
    assert!(err.contains("[1 of 2] scanned"), "{err}");
    assert!(err.contains("[2 of 2] scanned"), "{err}");
    assert!(err.contains("; still running: tls://127.0.0."), "{err}");
    let loud = stdout(&o);
    assert!(loud.contains("(4 connections"), "{loud}");
    let o = agent(&["scan", &first, &second, "--progress", "always", "-q"]);
    assert!(!stderr(&o).contains("scanned"), "{}", stderr(&o));
    let quiet = stdout(&o);
    assert!(!quiet.contains("(4 connections"), "{quiet}");
    assert!(quiet.contains("findings"), "{quiet}");
    let help = stdout(&agent(&["scan", "--help"]));
    assert!(help.contains("Examples:") && help.contains("posture-agent scan example.nhs.uk"));
}
