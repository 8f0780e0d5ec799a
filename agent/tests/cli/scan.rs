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
    assert!(o.status.success(), "{}", stderr(&o));
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
