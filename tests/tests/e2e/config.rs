//! The agent configuration file driving a real domain scan through the command line: its
//! resolver, DNSSEC trust anchors, CA file and private registries reach the probes, the shipped
//! IANA RDAP bootstrap file finds the registry, and the command line wins over the file.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use hyper::body::Bytes;
use posture_lab::pki::{LeafSpec, Pki, TempDir};
use posture_lab::web::{Reply, Seen, serve};

const PUBLIC: &str = r#"
$ORIGIN example.co.uk.
$TTL 300
@    IN SOA ns.example.co.uk. hostmaster.example.co.uk. 1 3600 600 86400 300
@    IN NS  ns.example.co.uk.
ns   IN A   127.0.0.1
@    IN TXT "v=spf1 -all"
"#;

const PRIVATE: &str = r#"
$ORIGIN trust.nhs.uk.
$TTL 300
@    IN SOA ns.trust.nhs.uk. hostmaster.trust.nhs.uk. 1 3600 600 86400 300
@    IN NS  ns.trust.nhs.uk.
ns   IN A   127.0.0.1
"#;

fn finding(report: &serde_json::Value, domain: &str, check: &str) -> (String, String) {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check && f["domain"] == domain)
        .map(|f| {
            (
                f["status"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .unwrap_or_else(|| panic!("no {check} for {domain}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_file_drives_a_domain_scan() {
    use clap::Parser;

    let (dns, keys) = posture_lab::dns::serve_signed(&[PUBLIC, PRIVATE]).await;
    // The uk registry's RDAP service, as the shipped IANA file names it
    // (https://rdap.nominet.uk/uk/), played by a lab server with a lab certificate.
    let pki = Pki::new();
    let leaf = pki.leaf(&LeafSpec::valid(&["rdap.nominet.uk"]));
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let expires = (Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    let registry = {
        let asked = asked.clone();
        serve(
            Some(&leaf),
            Arc::new(move |s: &Seen| {
                asked.lock().unwrap().push(s.path.clone());
                if s.path != "/uk/domain/example.co.uk" {
                    return Reply { status: 404, ..Reply::default() };
                }
                Reply {
                    status: 200,
                    headers: vec![("content-type".into(), "application/rdap+json".into())],
                    body: Bytes::from(format!(
                        r#"{{"objectClassName":"domain","status":["client transfer prohibited"],"events":[{{"eventAction":"expiration","eventDate":"{expires}"}}]}}"#
                    )),
                }
            }),
        )
        .await
    };
    let closed = posture_lab::servers::free_port();

    let dir = TempDir::new("agent-config");
    let anchors = |flip: u8| -> String {
        keys.iter()
            .map(|k| {
                let key: Vec<u8> = k.public.iter().map(|b| b ^ flip).collect();
                format!("{}\n", posture_lab::dns::dnskey_line(&k.zone, &key))
            })
            .collect()
    };
    dir.write("lab.keys", anchors(0));
    let wrong = dir.write("wrong.keys", anchors(0x55));
    dir.write("lab-ca.pem", pki.root_pem());
    let config = dir.write(
        "agent.toml",
        format!(
            r#"targets = ["example.co.uk", "trust.nhs.uk"]
organisation = "RXX"
[scan]
read_timeout = 2
[dns]
resolvers = ["{}"]
trust_anchors = "lab.keys"
[registration]
private_registries = ["nhs.uk"]
[tls]
ca_file = "lab-ca.pem"
"#,
            dns.addr
        ),
    );
    let run = |extra: Vec<String>| {
        let mut args = vec![
            "posture-agent".to_owned(),
            "scan".into(),
            "--config".into(),
            config.display().to_string(),
            "--connect-to".into(),
            format!("rdap.nominet.uk:443:127.0.0.1:{}", registry.addr.port()),
            "--connect-to".into(),
            format!("::127.0.0.1:{closed}"),
            "--format".into(),
            "json".into(),
        ];
        args.extend(extra);
        move || {
            let cli = posture_agent::cli::Cli::try_parse_from(args).unwrap();
            let mut out = Vec::new();
            crate::scanned(posture_agent::run(cli, &mut out));
            serde_json::from_slice::<serde_json::Value>(&out).unwrap()
        }
    };

    let report = tokio::task::spawn_blocking(run(Vec::new())).await.unwrap();
    // The configuration's organisation is in every observation (issue 10, item 1).
    for o in report["observations"].as_array().unwrap() {
        assert_eq!(o["scan"]["organisation"], "RXX", "{o}");
    }
    // The configuration's resolver and trust anchors: the signed zone validates.
    let (status, message) = finding(&report, "example.co.uk", "DNS-DNSSEC");
    assert_eq!(status, "pass", "{message}");
    // The shipped IANA bootstrap file sent example.co.uk to the uk registry, whose lab
    // certificate the configuration's CA file trusts.
    let (status, message) = finding(&report, "example.co.uk", "DOMAIN-EXPIRY");
    assert_eq!(status, "pass", "{message}");
    assert_eq!(finding(&report, "example.co.uk", "DOMAIN-LOCK").0, "pass");
    // trust.nhs.uk is under a private registry: not looked up, not applicable.
    assert_eq!(
        finding(&report, "trust.nhs.uk", "DOMAIN-EXPIRY").0,
        "not_applicable"
    );
    assert_eq!(
        *asked.lock().unwrap(),
        vec!["/uk/domain/example.co.uk".to_owned()]
    );

    // The command line wins over the file: wrong anchors make the same zone bogus, and an
    // empty private-registry override is not possible, so name another suffix instead.
    asked.lock().unwrap().clear();
    let report = tokio::task::spawn_blocking(run(vec![
        "--trust-anchor".into(),
        wrong.display().to_string(),
        "--private-registry".into(),
        "co.uk".into(),
        "trust.nhs.uk".into(),
    ]))
    .await
    .unwrap();
    assert_eq!(finding(&report, "trust.nhs.uk", "DNS-DNSSEC").0, "fail");
    // Only the command line's target was scanned, and with nhs.uk no longer private its
    // registration was asked of the uk registry (which has no record: untestable, not fail).
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["domain"] == "trust.nhs.uk"),
        "the configuration's targets were scanned too"
    );
    let (status, message) = finding(&report, "trust.nhs.uk", "DOMAIN-EXPIRY");
    assert_eq!(status, "untestable", "{message}");
    assert_eq!(
        *asked.lock().unwrap(),
        vec!["/uk/domain/trust.nhs.uk".to_owned()]
    );
}
