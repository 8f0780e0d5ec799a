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
"#;

const PLAIN: &str = r#"
$ORIGIN plain.test.
$TTL 300
@    IN SOA ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 300
@    IN NS  ns.plain.test.
ns   IN A   127.0.0.1
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
    let ok = dns.dnssec("signed.test").await;

    let wrong: Vec<(String, Vec<u8>)> = anchors
        .iter()
        .map(|(z, k)| (z.clone(), k.iter().map(|b| b ^ 0x55).collect()))
        .collect();
    let dns =
        Dns::with_nameservers_and_anchors(&[signed.addr], Duration::from_secs(2), &wrong).unwrap();
    let bad = dns.dnssec("signed.test").await;

    let plain = posture_lab::dns::serve(&[PLAIN]).await;
    let dns =
        Dns::with_nameservers_and_anchors(&[plain.addr], Duration::from_secs(2), &anchors).unwrap();
    let unsigned = dns.dnssec("plain.test").await;
    assert_eq!(ok.status, "secure", "{ok:?}");
    // A key that does not match the zone's: the chain of trust is broken.
    assert_eq!(bad.status, "bogus", "{bad:?}");
    // An unsigned zone is insecure, never bogus (bogus zeroes the domain's score).
    assert_eq!(unsigned.status, "insecure", "{unsigned:?}");
}

async fn judge_signed(
    validity_days: u64,
    break_anchor: bool,
) -> Vec<posture_policies::model::Finding> {
    use chrono::Utc;
    use posture_agent::probe::domain::DomainOptions;
    use posture_agent::runner::{RunOptions, scan_domains};
    use posture_agent::target::ConnectTo;
    use posture_policies::PolicySet;
    use posture_policies::model::{ObservationSet, Schema};

    let (server, keys) =
        posture_lab::dns::serve_signed_for(&[SIGNED], Duration::from_secs(validity_days * 86_400))
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
    let observations = scan_domains(&["signed.test".to_owned()], &options).await;
    let set = ObservationSet {
        schema: Schema,
        organisation: None,
        observations,
    };
    PolicySet::builtin()
        .unwrap()
        .evaluate_set(&set, Some(Utc::now()), None)
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

    let fine = judge_signed(21, false).await;
    assert_eq!(status_of(&fine, "DNS-DNSSEC").status, Status::Pass);
    assert_eq!(
        status_of(&fine, "DNS-DNSSEC-EXPIRY").status,
        Status::Pass,
        "{}",
        status_of(&fine, "DNS-DNSSEC-EXPIRY").message
    );

    let expiring = judge_signed(3, false).await;
    assert_eq!(
        status_of(&expiring, "DNS-DNSSEC-EXPIRY").status,
        Status::Fail,
        "{}",
        status_of(&expiring, "DNS-DNSSEC-EXPIRY").message
    );

    let bogus = judge_signed(21, true).await;
    let f = status_of(&bogus, "DNS-DNSSEC");
    assert_eq!(
        (f.status, f.severity, f.hard_zero),
        (Status::Fail, Severity::Critical, true)
    );
}
