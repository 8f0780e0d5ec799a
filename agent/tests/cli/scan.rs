use crate::{agent, stderr};

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
            "posture-agent: scanned tls://127.0.0.1:{port} (4 connections"
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
