//! SPF and DMARC verdicts compared with checkdmarc (PyPI, installed by scripts/test.sh) on the same
//! zone, served on 127.0.0.35:53 because checkdmarc cannot be given a port (needs root, as CI
//! and the test script run).

use std::process::Command;
use std::time::Duration;

use posture_agent::probe::dns::Dns;
use posture_agent::probe::mail::{check, spf_check};
use posture_policies::model::SpfFacts;

const ZONE: &str = r#"
$ORIGIN cdlab.test.
$TTL 300
@       IN SOA ns.cdlab.test. hostmaster.cdlab.test. 1 3600 600 86400 300
@       IN NS  ns.cdlab.test.
ns      IN A   127.0.0.35
mail    IN A   192.0.2.25
h1      IN A   192.0.2.1
h2      IN A   192.0.2.2
ten     IN MX  10 mail.cdlab.test.
ten     IN TXT "v=spf1 mx include:n1.cdlab.test include:n2.cdlab.test -all"
eleven  IN MX  10 mail.cdlab.test.
eleven  IN A   192.0.2.3
eleven  IN TXT "v=spf1 mx a include:n1.cdlab.test include:n2.cdlab.test -all"
n1      IN A   192.0.2.4
n1      IN MX  10 mail.cdlab.test.
n1      IN TXT "v=spf1 a mx include:n3.cdlab.test ~all"
n3      IN TXT "v=spf1 a:h1.cdlab.test a:h2.cdlab.test ip4:192.0.2.1 -all"
n2      IN TXT "v=spf1 a:h1.cdlab.test exists:h2.cdlab.test -all"
void    IN TXT "v=spf1 a:nx1.cdlab.test a:nx2.cdlab.test a:nx3.cdlab.test -all"
loop    IN TXT "v=spf1 include:loop2.cdlab.test -all"
loop2   IN TXT "v=spf1 include:loop.cdlab.test -all"
missing IN TXT "v=spf1 include:nothing.cdlab.test -all"
two     IN TXT "v=spf1 -all"
two     IN TXT "v=spf1 mx -all"
syntax  IN TXT "v=spf1 inclde:cdlab.test -all"
badip   IN TXT "v=spf1 ip4:192.0.2.300 -all"
plain   IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc.dmok     IN TXT "v=DMARC1; p=reject; rua=mailto:agg@cdlab.test"
_dmarc.dmnone   IN TXT "v=DMARC1; p=none"
_dmarc.dmpct    IN TXT "v=DMARC1; p=quarantine; sp=none; pct=50; adkim=s; aspf=r"
_dmarc.dmbadp   IN TXT "v=DMARC1; p=block"
_dmarc.dmtwo    IN TXT "v=DMARC1; p=reject"
_dmarc.dmtwo    IN TXT "v=DMARC1; p=none"
_dmarc.dmpctbad IN TXT "v=DMARC1; p=reject; pct=150"
_dmarc.dmadkim  IN TXT "v=DMARC1; p=reject; adkim=x"
_dmarc.dmnop    IN TXT "v=DMARC1; rua=mailto:agg@cdlab.test"
_dmarc.dmspace  IN TXT "v=DMARC1;p=reject;sp=quarantine"
"#;

/// Names with DMARC records, compared for validity and policy.
const DMARC_DOMAINS: [&str; 9] = [
    "dmok", "dmnone", "dmpct", "dmbadp", "dmtwo", "dmpctbad", "dmadkim", "dmnop", "dmspace",
];

const DOMAINS: [&str; 10] = [
    "ten", "eleven", "void", "loop", "missing", "two", "syntax", "badip", "plain", "h1",
];

fn checkdmarc() -> std::path::PathBuf {
    std::env::var_os("POSTURE_CHECKDMARC")
        .map(Into::into)
        .unwrap_or_else(|| "/opt/posture-venvs/checkdmarc/bin/checkdmarc".into())
}

/// RFC 7208 validity as posture judges it: one record, no syntax error, at most 10 lookups
/// and 2 void lookups, no loop, no mx over 10 hosts.
fn valid(f: &SpfFacts) -> bool {
    f.records.len() == 1
        && f.error.is_none()
        && f.lookups <= 10
        && f.void_lookups <= 2
        && !f.loop_detected
        && !f.mx_over_limit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_and_dmarc_verdicts_agree_with_checkdmarc() {
    let server = posture_lab::dns::serve_on(([127, 0, 0, 35], 53).into(), &[ZONE], false).await;
    let dns = Dns::with_nameservers(&[server.addr], Duration::from_secs(2)).unwrap();
    let names: Vec<String> = DOMAINS.iter().map(|d| format!("{d}.cdlab.test")).collect();
    let dmarc_names: Vec<String> = DMARC_DOMAINS
        .iter()
        .map(|d| format!("{d}.cdlab.test"))
        .collect();
    let mut args: Vec<String> = names.iter().chain(&dmarc_names).cloned().collect();
    args.extend([
        "--skip-tls".into(),
        "-f".into(),
        "json".into(),
        "-n".into(),
        "127.0.0.35".into(),
        "-t".into(),
        "3".into(),
    ]);
    // Run under strace, recording every address checkdmarc sends to: the network rule allows
    // loopback only, and checkdmarc is third-party code.
    let dir = posture_lab::pki::TempDir::new("checkdmarc");
    let trace = dir.path().join("net.strace");
    let mut traced: Vec<String> = [
        "-f",
        "-qq",
        "-e",
        "trace=connect,sendto,sendmsg,sendmmsg",
        "-o",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    traced.push(trace.display().to_string());
    traced.push(checkdmarc().display().to_string());
    traced.extend(args);
    let out = tokio::task::spawn_blocking(move || Command::new("strace").args(&traced).output())
        .await
        .unwrap()
        .unwrap_or_else(|e| {
            panic!(
                "strace {}: {e}; scripts/test.sh installs both",
                checkdmarc().display()
            )
        });
    let syscalls = std::fs::read_to_string(&trace).unwrap();
    let addresses = network_addresses(&syscalls);
    assert!(
        !addresses.is_empty(),
        "strace saw no network use:\n{syscalls}"
    );
    assert!(
        addresses.iter().all(|a| a == "127.0.0.35"),
        "checkdmarc sent to {addresses:?}"
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "checkdmarc output: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let theirs = theirs
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![theirs.clone()]);
    let mut disagreements = Vec::new();
    for name in &names {
        let ours = spf_check::check(name, &dns).await.into_facts().unwrap();
        let t = theirs
            .iter()
            .find(|d| d["domain"] == name.as_str())
            .unwrap_or_else(|| panic!("checkdmarc said nothing of {name}"));
        let their_valid = t["spf"]["valid"].as_bool().unwrap_or(false);
        if valid(&ours) != their_valid {
            disagreements.push(format!(
                "{name}: posture {} ({:?}), checkdmarc {} ({})",
                valid(&ours),
                ours,
                their_valid,
                t["spf"]
            ));
        }
        if let (true, Some(n)) = (their_valid, t["spf"]["dns_lookups"].as_u64()) {
            assert_eq!(u64::from(ours.lookups), n, "{name}: lookup counts differ");
        }
    }
    // DMARC: the same verdict (one record that receivers apply) and, where both apply it, the
    // same p and effective sp. posture also fails MAIL-DMARC for a record without p= that a
    // valid rua= rescues (RFC 7489 §6.3 makes p REQUIRED), which receivers still apply as
    // p=none: the verdict compared is "receivers apply it".
    for name in &dmarc_names {
        let t = theirs
            .iter()
            .find(|d| d["domain"] == name.as_str())
            .unwrap_or_else(|| panic!("checkdmarc said nothing of {name}"));
        let ours = check::dmarc_facts(name, &dns).await.unwrap();
        let our_valid = ours.records.len() == 1 && ours.policy.is_some();
        let their_valid = t["dmarc"]["valid"].as_bool().unwrap_or(false);
        if our_valid != their_valid {
            disagreements.push(format!(
                "{name}: posture {our_valid} ({ours:?}), checkdmarc {their_valid} ({})",
                t["dmarc"]
            ));
            continue;
        }
        if our_valid {
            let p = ours.policy.clone().unwrap_or_default();
            let sp = ours.subdomain_policy.clone().unwrap_or_else(|| p.clone());
            let tags = &t["dmarc"]["tags"];
            if tags["p"]["value"] != p.as_str() || tags["sp"]["value"] != sp.as_str() {
                disagreements.push(format!("{name}: posture p={p} sp={sp}, checkdmarc {tags}"));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // The comparison is not vacuous: checkdmarc validated the good records and counted.
    let ten = theirs
        .iter()
        .find(|d| d["domain"] == "ten.cdlab.test")
        .unwrap();
    assert_eq!(ten["spf"]["valid"], true, "{ten}");
    assert_eq!(ten["spf"]["dns_lookups"], 10, "{ten}");
    // Where both accept a record with a mistake, posture keeps the mistake as a warning.
    let pct = check::dmarc_facts("dmpctbad.cdlab.test", &dns)
        .await
        .unwrap();
    assert_eq!(pct.policy.as_deref(), Some("reject"));
    assert_eq!(pct.warnings.len(), 1, "{pct:?}");
    assert_eq!(pct.warnings[0].position, 24, "{pct:?}");
    let ok = theirs
        .iter()
        .find(|d| d["domain"] == "dmok.cdlab.test")
        .unwrap();
    assert_eq!(ok["dmarc"]["valid"], true, "{ok}");
    let bad = theirs
        .iter()
        .find(|d| d["domain"] == "dmbadp.cdlab.test")
        .unwrap();
    assert_eq!(bad["dmarc"]["valid"], false, "{bad}");
}

/// The IP addresses in strace's `inet_addr("...")` / `inet_pton(AF_INET6, "...")` renderings.
pub(crate) fn network_addresses(strace: &str) -> Vec<String> {
    let mut out = Vec::new();
    for marker in ["inet_addr(\"", "inet_pton(AF_INET6, \""] {
        let mut rest = strace;
        while let Some(i) = rest.find(marker) {
            rest = &rest[i + marker.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}
