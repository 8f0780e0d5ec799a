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
