//! DNSSEC status from a validating resolver against zones signed in process.

use std::time::Duration;

use posture_agent::probe::dns::Dns;

const SIGNED: &str = r#"
$ORIGIN signed.test.
$TTL 300
@    IN SOA ns.signed.test. hostmaster.signed.test. 1 3600 600 86400 300
@    IN NS  ns.signed.test.
ns   IN A   127.0.0.1
www  IN A   192.0.2.80
@    IN MX  10 mail.signed.test.
@    IN TXT "v=spf1 -all"
_dmarc IN TXT "v=DMARC1; p=reject"
@    IN CAA 0 issue "ca.test"
s1._domainkey IN TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
mail IN A   127.0.0.1
"#;

const PLAIN: &str = r#"
$ORIGIN plain.test.
$TTL 300
@    IN SOA ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 300
@    IN NS  ns.plain.test.
ns   IN A   127.0.0.1
@    IN TXT "v=spf1 -all"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_bogus_and_unsigned() {
    let (signed, keys) = posture_lab::dns::serve_signed(&[SIGNED]).await;
    let anchors: Vec<(String, Vec<u8>)> = keys
        .iter()
        .map(|k| (k.zone.clone(), k.public.clone()))
        .collect();
    let dns = Dns::with_nameservers_and_anchors(&[signed.addr], Duration::from_secs(2), &anchors)
        .unwrap();
    // DKIM selectors get a proof too; one that does not exist has no answer to prove.
    let selectors = ["s1".to_owned(), "absent".to_owned()];
    let ok = dns.dnssec_with_selectors("signed.test", &selectors).await;

    let wrong: Vec<(String, Vec<u8>)> = anchors
        .iter()
        .map(|(z, k)| (z.clone(), k.iter().map(|b| b ^ 0x55).collect()))
        .collect();
    let dns =
        Dns::with_nameservers_and_anchors(&[signed.addr], Duration::from_secs(2), &wrong).unwrap();
    let bad = dns.dnssec_with_selectors("signed.test", &selectors).await;

    let plain = posture_lab::dns::serve(&[PLAIN]).await;
    let dns =
        Dns::with_nameservers_and_anchors(&[plain.addr], Duration::from_secs(2), &anchors).unwrap();
    let unsigned = dns.dnssec("plain.test").await;
    assert_eq!(ok.status.as_str(), "secure", "{ok:?}");
    // A key that does not match the zone's: the chain of trust is broken.
    assert_eq!(bad.status.as_str(), "bogus", "{bad:?}");
    // An unsigned zone is insecure, never bogus (bogus zeroes the domain's score).
    assert_eq!(unsigned.status.as_str(), "insecure", "{unsigned:?}");

    // Each answer the mail checks rely on carries its own proof.
    let answers = |f: &posture_policies::model::DnssecFacts| -> Vec<(String, String, String)> {
        f.answers
            .iter()
            .map(|a| (a.name.clone(), a.kind.clone(), a.status.to_string()))
            .collect()
    };
    let expect = |status: &str| {
        vec![
            ("signed.test".to_owned(), "MX".to_owned(), status.to_owned()),
            (
                "signed.test".to_owned(),
                "TXT".to_owned(),
                status.to_owned(),
            ),
            (
                "_dmarc.signed.test".to_owned(),
                "TXT".to_owned(),
                status.to_owned(),
            ),
            (
                "signed.test".to_owned(),
                "CAA".to_owned(),
                status.to_owned(),
            ),
            (
                "s1._domainkey.signed.test".to_owned(),
                "TXT".to_owned(),
                status.to_owned(),
            ),
        ]
    };
    assert_eq!(answers(&ok), expect("secure"));
    assert_eq!(answers(&bad), expect("bogus"));
    // plain.test is unsigned: its TXT is insecure, never bogus; it has no MX or DMARC
    // record, so there is nothing else to prove.
    assert_eq!(
        answers(&unsigned),
        vec![(
            "plain.test".to_owned(),
            "TXT".to_owned(),
            "insecure".to_owned()
        )]
    );
}

/// Scan signed.test; `unsigned` records are added after signing (their RRsets lose their
/// signatures).
async fn judge_signed(
    validity_days: u64,
    break_anchor: bool,
    unsigned: &[&str],
) -> Vec<posture_policies::model::Finding> {
    use posture_agent::probe::domain::DomainOptions;
    use posture_agent::runner::{RunOptions, scan_domains};
    use posture_agent::target::ConnectTo;

    let (server, keys) = posture_lab::dns::serve_signed_then(
        &[SIGNED],
        Duration::from_secs(validity_days * 86_400),
        unsigned,
    )
    .await;
    let mut anchors: Vec<(String, Vec<u8>)> = keys
        .iter()
        .map(|k| (k.zone.clone(), k.public.clone()))
        .collect();
    if break_anchor {
        for (_, k) in &mut anchors {
            k.iter_mut().for_each(|b| *b ^= 0x55);
        }
    }
    let closed = posture_lab::servers::free_port();
    let options = RunOptions {
        dns: Some(
            Dns::with_nameservers_and_anchors(&[server.addr], Duration::from_secs(2), &anchors)
                .unwrap(),
        ),
        domain_probe: DomainOptions {
            ns_port: server.addr.port(),
            timeout: Duration::from_secs(2),
            ..DomainOptions::default()
        },
        connect_to: vec![ConnectTo::parse(&format!("::127.0.0.1:{closed}")).unwrap()],
        ..RunOptions::default()
    };
    posture_lab::scan::judge_observations(scan_domains(&["signed.test".to_owned()], &options).await)
}

fn status_of(
    findings: &[posture_policies::model::Finding],
    check: &str,
) -> posture_policies::model::Finding {
    findings
        .iter()
        .find(|f| f.check == check)
        .cloned()
        .unwrap_or_else(|| panic!("no {check}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnssec_checks_on_signed_zones() {
    use posture_policies::model::{Severity, Status};

    let fine = judge_signed(21, false, &[]).await;
    assert_eq!(status_of(&fine, "DNS-DNSSEC").status, Status::Pass);
    assert_eq!(
        status_of(&fine, "DNS-DNSSEC-EXPIRY").status,
        Status::Pass,
        "{}",
        status_of(&fine, "DNS-DNSSEC-EXPIRY").message
    );

    let expiring = judge_signed(3, false, &[]).await;
    assert_eq!(
        status_of(&expiring, "DNS-DNSSEC-EXPIRY").status,
        Status::Fail,
        "{}",
        status_of(&expiring, "DNS-DNSSEC-EXPIRY").message
    );

    let bogus = judge_signed(21, true, &[]).await;
    let f = status_of(&bogus, "DNS-DNSSEC");
    assert_eq!(
        (f.status, f.severity, f.hard_zero),
        (Status::Fail, Severity::Critical, true)
    );

    // The zone validates, but one RRset was changed after signing and lost its signatures:
    // that answer is bogus, and DNS-DNSSEC fails naming it.
    let tampered = judge_signed(
        21,
        false,
        &["$ORIGIN signed.test.\n_dmarc 300 IN TXT \"v=DMARC1; p=none\"\n"],
    )
    .await;
    let f = status_of(&tampered, "DNS-DNSSEC");
    assert_eq!(
        (f.status, f.severity, f.hard_zero),
        (Status::Fail, Severity::Critical, true),
        "{}",
        f.message
    );
    assert!(
        f.message
            .contains("these answers do not: _dmarc.signed.test TXT"),
        "{}",
        f.message
    );
}

/// `scan DOMAIN --resolver ADDR --trust-anchor FILE`: the lab's key makes the zone secure, a
/// wrong key makes it bogus, and a malformed file is an error naming the file and the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_anchor_file_on_the_command_line() {
    use clap::Parser;

    let (server, keys) = posture_lab::dns::serve_signed(&[SIGNED]).await;
    let dir = posture_lab::pki::TempDir::new("anchors");
    let closed = posture_lab::servers::free_port();
    let scan = |key: Vec<u8>, name: &str| {
        let file = dir.path().join(name);
        let lines: String = keys
            .iter()
            .map(|k| {
                format!(
                    "; lab key\n{}\n",
                    posture_lab::dns::dnskey_line(&k.zone, &key)
                )
            })
            .collect();
        std::fs::write(&file, lines).unwrap();
        let args = vec![
            "posture-agent".to_owned(),
            "scan".into(),
            "signed.test".into(),
            "--resolver".into(),
            server.addr.to_string(),
            "--trust-anchor".into(),
            file.display().to_string(),
            "--connect-to".into(),
            format!("::127.0.0.1:{closed}"),
            "--format".into(),
            "json".into(),
        ];
        move || {
            let cli = posture_agent::cli::Cli::try_parse_from(args).unwrap();
            let mut out = Vec::new();
            let r = posture_agent::run(cli, &mut out);
            (r, String::from_utf8(out).unwrap())
        }
    };
    let dnssec = |out: &str| {
        let report: serde_json::Value = serde_json::from_str(out).unwrap();
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "DNS-DNSSEC")
            .map(|f| f["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let good = keys[0].public.clone();
    let (r, out) = tokio::task::spawn_blocking(scan(good.clone(), "good.keys"))
        .await
        .unwrap();
    crate::scanned(r);
    assert_eq!(dnssec(&out), "pass");

    let wrong: Vec<u8> = good.iter().map(|b| b ^ 0x55).collect();
    let (r, out) = tokio::task::spawn_blocking(scan(wrong, "wrong.keys"))
        .await
        .unwrap();
    crate::scanned(r);
    assert_eq!(dnssec(&out), "fail");

    let bad = dir.path().join("bad.keys");
    std::fs::write(&bad, "signed.test. IN DNSKEY 257 3 15 not-base64!\n").unwrap();
    let args = vec![
        "posture-agent".to_owned(),
        "scan".into(),
        "signed.test".into(),
        "--trust-anchor".into(),
        bad.display().to_string(),
    ];
    let cli = posture_agent::cli::Cli::try_parse_from(args).unwrap();
    let e = posture_agent::run(cli, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.keys") && e.contains("line 1"), "{e}");
}

/// Issue 9, item 14: a zone whose parent publishes DS records but which publishes no DNSKEY
/// breaks the chain of trust: bogus, not insecure. The parent (signed) delegates
/// `child.signed.test` with a DS; the child's own server (the same lab server, which does not
/// hold the child zone) has no DNSKEY to show for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ds_at_the_parent_without_a_dnskey_is_bogus() {
    let parent = format!(
        "{SIGNED}child IN NS ns.signed.test.\nchild IN DS 12345 13 2 {}\n",
        "ab".repeat(32)
    );
    let (signed, keys) = posture_lab::dns::serve_signed(&[&parent]).await;
    let anchors: Vec<(String, Vec<u8>)> = keys
        .iter()
        .map(|k| (k.zone.clone(), k.public.clone()))
        .collect();
    let dns = Dns::with_nameservers_and_anchors(&[signed.addr], Duration::from_secs(2), &anchors)
        .unwrap();
    let child = dns.dnssec("child.signed.test").await;
    assert_eq!(child.status.as_str(), "bogus", "{child:?}");
    assert!(
        child
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("DS record"),
        "{child:?}"
    );
    // The parent itself still validates (an unsigned zone without DS stays insecure: see
    // secure_bogus_and_unsigned).
    assert_eq!(dns.dnssec("signed.test").await.status.as_str(), "secure");
}
