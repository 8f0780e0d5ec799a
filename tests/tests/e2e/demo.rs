//! The README's main job, `posture-demo`, run as a newcomer runs it: every server it starts is
//! on loopback, and the findings say what each demo target was built to show.

use std::process::Command;

fn status(findings: &[serde_json::Value], target: &str, check: &str) -> String {
    findings
        .iter()
        .find(|f| f["check"] == check && f["target"].to_string().contains(target))
        .and_then(|f| f["status"].as_str())
        .unwrap_or_else(|| panic!("no {check} for {target}"))
        .to_owned()
}

#[test]
fn the_demo_shows_what_each_target_was_built_to_show() {
    // Under strace, to check that the main job sends to loopback only.
    let dir = posture_lab::pki::TempDir::new("demo");
    let trace = dir.path().join("net.strace");
    let out = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=connect,sendto,sendmsg,sendmmsg",
            "-o",
        ])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_posture-demo"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addresses = crate::checkdmarc::network_addresses(&std::fs::read_to_string(&trace).unwrap());
    assert!(!addresses.is_empty());
    assert!(
        addresses.iter().all(|a| a == "::1"
            || a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())),
        "the demo sent to {addresses:?}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();

    for (target, check, expected) in [
        // The TLS servers.
        ("expired.demo.test", "TLS-CERT-EXPIRED", "fail"),
        ("self-signed.demo.test", "TLS-CERT-TRUST", "fail"),
        ("wrong-name.demo.test", "TLS-CERT-NAME", "fail"),
        ("sslv2.demo.test", "TLS-PROTO-SSL", "fail"),
        ("legacy.demo.test", "TLS-PROTO-LEGACY", "fail"),
        ("www.good.demo.test", "TLS-PROTO-LEGACY", "pass"),
        // The well-run domain.
        ("well-run.test", "WEB-HSTS", "pass"),
        ("well-run.test", "WEB-REDIRECT", "pass"),
        ("well-run.test", "DNS-NS-COUNT", "pass"),
        ("well-run.test", "DNS-NS-DIVERSITY", "pass"),
        ("well-run.test", "DNS-AXFR", "pass"),
        ("well-run.test", "DNS-CAA", "pass"),
        ("well-run.test", "MAIL-SPF-ALL", "pass"),
        ("well-run.test", "MAIL-DMARC-POLICY", "pass"),
        ("well-run.test", "MAIL-DMARC-RUA", "pass"),
        ("well-run.test", "MAIL-DKIM", "pass"),
        ("well-run.test", "MAIL-MTASTS", "pass"),
        ("well-run.test", "MAIL-TLSRPT", "pass"),
        ("well-run.test", "MAIL-STARTTLS", "pass"),
        ("well-run.test", "MAIL-PTR", "pass"),
        ("well-run.test", "DOMAIN-EXPIRY", "pass"),
        ("well-run.test", "DOMAIN-LOCK", "pass"),
        // The neglected one.
        ("neglected.test", "WEB-HTTPS", "fail"),
        ("neglected.test", "DNS-AXFR", "fail"),
        ("neglected.test", "DNS-NS-COUNT", "fail"),
        ("neglected.test", "DNS-DANGLING", "fail"),
        ("neglected.test", "MAIL-SPF-ALL", "fail"),
        ("neglected.test", "MAIL-DMARC-POLICY", "fail"),
        ("neglected.test", "MAIL-STARTTLS", "fail"),
        ("neglected.test", "DOMAIN-EXPIRY", "fail"),
        ("neglected.test", "DOMAIN-LOCK", "warn"),
    ] {
        assert_eq!(
            status(findings, target, check),
            expected,
            "{target} {check}"
        );
    }
}

#[test]
fn the_demo_table_summarises_each_domain() {
    let out = Command::new(env!("CARGO_BIN_EXE_posture-demo"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "  web      https://well-run.test/, HSTS max-age=63072000",
        "  NS       ns1.well-run.test, ns2.well-run.test",
        "  MX       mx.well-run.test (STARTTLS offered)",
        "  MTA-STS  v=STSv1; id=20261125, mode enforce",
        "  web      answers over plain HTTP only",
        "  NS       ns1.neglected.test (gives zone transfers)",
        "  MX       mx.neglected.test (STARTTLS not offered)",
        "  dangling www.neglected.test CNAME -> old-site.neglected.test (nxdomain)",
        "  DMARC    v=DMARC1; p=none",
        "The collector (SQLite, in this process, http://127.0.0.1:",
        "Organisation DEMO's scores:",
        "  NCSC-TLS     ",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    // Every target's observation reached the collector, and it judged them.
    let accepted = text
        .split(" observations accepted")
        .next()
        .and_then(|t| t.rsplit(' ').next())
        .and_then(|n| n.parse::<u32>().ok());
    assert!(accepted.is_some_and(|n| n >= 10), "{text}");
    // The collector, judging centrally, scores the organisation as the agent's own table did.
    let (agent_part, collector_part) = text.split_once("Organisation DEMO's scores:").unwrap();
    let mut compared = 0;
    for line in collector_part.lines().filter(|l| l.starts_with("  ")) {
        let mut cells = line.split_whitespace();
        let (Some(standard), Some(score)) = (cells.next(), cells.next()) else {
            continue;
        };
        let agent_line = agent_part
            .lines()
            .rev()
            .find(|l| l.split_whitespace().next() == Some(standard))
            .unwrap_or_else(|| panic!("{standard} not in the agent's table"));
        assert_eq!(
            agent_line.split_whitespace().nth(1),
            Some(score),
            "{standard}: {agent_line}"
        );
        compared += 1;
    }
    assert!(compared >= 10, "{collector_part}");
}

/// The README's main job: the whole system (a collector, two organisations' agents as
/// services, the demo's targets) shows findings of both organisations through the collector's
/// API within two minutes.
#[test]
fn the_whole_system_shows_both_organisations_findings_within_two_minutes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_posture-system"))
        .arg("--once")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Two minutes, in steps of a fifth of a second.
    let mut status = None;
    for _ in 0..600 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("posture-system --once took more than two minutes");
    };
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for code in ["RXA", "RXB"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{code}: ")))
            .unwrap_or_else(|| panic!("no findings line for {code}: {out}"));
        let n: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(n > 10, "{line}");
    }
    // The neglected trust fails more than the well-run one, as its targets were built to.
    let failing = |code: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{code}: ")))
            .unwrap();
        line.split(", ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(failing("RXB") > failing("RXA"), "{out}");
    assert!(
        out.contains("/metrics") && out.contains("national token pt_"),
        "{out}"
    );
    assert!(
        out.contains("Scores per organisation and standard"),
        "{out}"
    );
}
