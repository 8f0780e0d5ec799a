//! `scan DOMAIN` for mail against a real nameserver, SMTP servers with and without STARTTLS and
//! an HTTPS server for the MTA-STS policy, all on loopback.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hyper::body::Bytes;
use posture_agent::probe::dns::Dns;
use posture_agent::probe::mail::check::MailOptions;
use posture_agent::probe::tls::cert::TrustStore;
use posture_agent::probe::tls::conn::Limits;
use posture_agent::probe::tls::scan::TlsOptions;
use posture_agent::probe::web::http::WebLimits;
use posture_agent::runner::{RunOptions, scan_domains};
use posture_agent::target::ConnectTo;
use posture_lab::pki::{LeafSpec, Pki};
use posture_lab::servers::{RustlsServer, free_port, smtp_server};
use posture_lab::web::{Reply, serve};
use posture_policies::model::{Finding, Status, Target};

const GOOD: &str = r#"
$ORIGIN maillab.test.
$TTL 300
@        IN SOA ns.maillab.test. hostmaster.maillab.test. 1 3600 600 86400 300
@        IN NS  ns.maillab.test.
ns       IN A   127.0.0.1
@        IN MX  10 mx.maillab.test.
mx       IN A   127.0.0.1
mx       IN AAAA ::1
@        IN TXT "v=spf1 mx -all"
_dmarc   IN TXT "v=DMARC1; p=reject; sp=reject; adkim=s; aspf=s; rua=mailto:dmarc-rua@dmarc.service.gov.uk"
s2026._domainkey IN TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
_mta-sts IN TXT "v=STSv1; id=20261125"
_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tls-rua@mailcheck.service.ncsc.gov.uk"
"#;

const REPORTS: &str = r#"
$ORIGIN dmarc.service.gov.uk.
$TTL 300
@ IN SOA ns.maillab.test. hostmaster.maillab.test. 1 3600 600 86400 300
@ IN NS  ns.maillab.test.
maillab.test._report._dmarc IN TXT "v=DMARC1"
"#;

const REVERSE: &str = r#"
$ORIGIN 0.0.127.in-addr.arpa.
$TTL 300
@ IN SOA ns.maillab.test. hostmaster.maillab.test. 1 3600 600 86400 300
@ IN NS  ns.maillab.test.
1 IN PTR mx.maillab.test.
"#;

const REVERSE6: &str = r#"
$ORIGIN ip6.arpa.
$TTL 300
@ IN SOA ns.maillab.test. hostmaster.maillab.test. 1 3600 600 86400 300
@ IN NS  ns.maillab.test.
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 IN PTR mx.maillab.test.
"#;

const EXPIRED_MX: &str = r#"
$ORIGIN oldmx.test.
$TTL 300
@        IN SOA ns.oldmx.test. hostmaster.oldmx.test. 1 3600 600 86400 300
@        IN NS  ns.oldmx.test.
@        IN MX  10 mx.oldmx.test.
mx       IN A   127.0.0.1
@        IN TXT "v=spf1 mx -all"
"#;

const BAD: &str = r#"
$ORIGIN badmail.test.
$TTL 300
@        IN SOA ns.badmail.test. hostmaster.badmail.test. 1 3600 600 86400 300
@        IN NS  ns.badmail.test.
ns       IN A   127.0.0.1
@        IN MX  10 mx.badmail.test.
mx       IN A   127.0.0.2
@        IN TXT "v=spf1 mx ?all"
_dmarc   IN TXT "v=DMARC1; p=none"
"#;

const NOSEND: &str = r#"
$ORIGIN nosend.test.
$TTL 300
@        IN SOA ns.nosend.test. hostmaster.nosend.test. 1 3600 600 86400 300
@        IN NS  ns.nosend.test.
@        IN MX  0 .
@        IN TXT "v=spf1 -all"
_dmarc   IN TXT "v=DMARC1; p=reject; sp=reject; adkim=s; aspf=s; rua=mailto:dmarc-rua@dmarc.service.gov.uk"
*._domainkey IN TXT "v=DKIM1; p="
"#;

const HALF: &str = r#"
$ORIGIN halfsend.test.
$TTL 300
@        IN SOA ns.halfsend.test. hostmaster.halfsend.test. 1 3600 600 86400 300
@        IN NS  ns.halfsend.test.
@        IN TXT "v=spf1 -all"
"#;

fn status(findings: &[Finding], check: &str) -> Status {
    findings
        .iter()
        .find(|f| f.check == check && matches!(f.target, Target::Domain(_)))
        .map(|f| f.status)
        .unwrap_or_else(|| panic!("no {check}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_well_configured_mail_domain_passes_and_a_neglected_one_fails() {
    let pki = Pki::new();
    let dns = posture_lab::dns::serve(&[
        GOOD, REPORTS, REVERSE, REVERSE6, BAD, NOSEND, HALF, EXPIRED_MX,
    ])
    .await;
    let mx_leaf = pki.leaf(&LeafSpec::valid(&["mx.maillab.test"]));
    let smtp = smtp_server(Some(RustlsServer::new(&mx_leaf).config())).await;
    let plain_smtp = smtp_server(None).await;
    // An MX whose certificate expired: its TLS fails, so MAIL-TLS fails for the domain.
    let old_leaf = pki.leaf(&LeafSpec {
        not_before: Utc::now() - chrono::Duration::days(100),
        not_after: Utc::now() - chrono::Duration::days(2),
        ..LeafSpec::valid(&["mx.oldmx.test"])
    });
    let old_smtp = smtp_server(Some(RustlsServer::new(&old_leaf).config())).await;
    let sts_leaf = pki.leaf(&LeafSpec::valid(&["mta-sts.maillab.test"]));
    let policy = serve(
        Some(&sts_leaf),
        Arc::new(|s: &posture_lab::web::Seen| {
            if s.path == "/.well-known/mta-sts.txt" {
                Reply {
                    status: 200,
                    headers: vec![("content-type".into(), "text/plain".into())],
                    body: Bytes::from_static(
                        b"version: STSv1\nmode: enforce\nmx: mx.maillab.test\nmax_age: 1209600\n",
                    ),
                }
            } else {
                Reply {
                    status: 404,
                    ..Reply::default()
                }
            }
        }),
    )
    .await;
    let closed = free_port();
    let rules = [
        format!("mx.maillab.test:25:127.0.0.1:{}", smtp.addr.port()),
        format!("mx.badmail.test:25:127.0.0.1:{}", plain_smtp.addr.port()),
        format!("mx.oldmx.test:25:127.0.0.1:{}", old_smtp.addr.port()),
        format!("mta-sts.maillab.test:443:127.0.0.1:{}", policy.addr.port()),
        // No websites: every other host and port is refused.
        format!("::127.0.0.1:{closed}"),
    ];
    let options = RunOptions {
        tls: TlsOptions {
            limits: Limits {
                connect_timeout: Duration::from_secs(2),
                read_timeout: Duration::from_secs(3),
                target_budget: Duration::from_secs(30),
                ..Limits::default()
            },
            trust: TrustStore::default().with_der(&pki.root_der()).unwrap(),
            intrusive: false,
        },
        connect_to: rules.iter().map(|r| ConnectTo::parse(r).unwrap()).collect(),
        web: WebLimits {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
            ..WebLimits::default()
        },
        dns: Some(Dns::with_nameservers(&[dns.addr], Duration::from_secs(2)).unwrap()),
        mail: MailOptions {
            dkim_selectors: vec!["s2026".into()],
        },
        ..RunOptions::default()
    };
    let domains = [
        "maillab.test",
        "badmail.test",
        "nosend.test",
        "halfsend.test",
        "oldmx.test",
    ]
    .map(String::from);
    let observations = scan_domains(&domains, &options).await;
    let findings = posture_lab::scan::judge_observations(observations.clone());
    let good: Vec<Finding> = findings
        .iter()
        .filter(|f| f.domain == "maillab.test")
        .cloned()
        .collect();
    let bad: Vec<Finding> = findings
        .iter()
        .filter(|f| f.domain == "badmail.test")
        .cloned()
        .collect();

    let good_obs = observations
        .iter()
        .find(|o| matches!(&o.target, Target::Domain(d) if d.name == "maillab.test"))
        .unwrap();
    let mail = good_obs
        .mail
        .as_ref()
        .unwrap_or_else(|| panic!("no mail facts: {:?}", good_obs.scan.errors));
    assert_eq!(mail.mx[0].starttls, "offered", "{:?}", mail.mx);
    for check in [
        "MAIL-SPF",
        "MAIL-SPF-ALL",
        "MAIL-SPF-LOOKUPS",
        "MAIL-DMARC",
        "MAIL-DMARC-POLICY",
        "MAIL-DMARC-SUBDOMAIN",
        "MAIL-DMARC-RUA",
        "MAIL-DKIM",
        "MAIL-MTASTS",
        "MAIL-TLSRPT",
        "MAIL-STARTTLS",
        "MAIL-TLS",
        "MAIL-PTR",
    ] {
        let f = good
            .iter()
            .find(|f| f.check == check && matches!(f.target, Target::Domain(_)))
            .unwrap_or_else(|| panic!("no {check}"));
        assert_eq!(
            f.status,
            Status::Pass,
            "{check}: {} / {:?}",
            f.message,
            mail
        );
    }

    for (check, expected) in [
        ("MAIL-SPF-ALL", Status::Fail),
        ("MAIL-DMARC-POLICY", Status::Fail),
        ("MAIL-DMARC-RUA", Status::Fail),
        ("MAIL-MTASTS", Status::Fail),
        ("MAIL-TLSRPT", Status::Fail),
        ("MAIL-STARTTLS", Status::Fail),
        ("MAIL-PTR", Status::Fail),
    ] {
        assert_eq!(status(&bad, check), expected, "{check}");
    }
    // The configured selector does not exist at badmail.test, and its DMARC is p=none.
    assert_eq!(status(&bad, "MAIL-DKIM"), Status::Fail);
    assert_eq!(status(&bad, "MAIL-DMARC-SUBDOMAIN"), Status::Fail);

    // Non-sending domains: inferred from the null MX and "v=spf1 -all".
    let of = |d: &str| {
        findings
            .iter()
            .filter(|f| f.domain == d)
            .cloned()
            .collect::<Vec<_>>()
    };
    let nosend_obs = observations
        .iter()
        .find(|o| matches!(&o.target, Target::Domain(d) if d.name == "nosend.test"))
        .unwrap_or_else(|| {
            panic!(
                "{:?}",
                observations
                    .iter()
                    .map(|o| o.target.to_string())
                    .collect::<Vec<_>>()
            )
        });
    assert!(
        nosend_obs.mail.is_some(),
        "{:?} {:?}",
        nosend_obs.scan.errors,
        nosend_obs.target
    );
    assert_eq!(
        status(&of("nosend.test"), "MAIL-NOSEND"),
        Status::Pass,
        "{:?}",
        nosend_obs.target
    );
    let half = of("halfsend.test");
    assert_eq!(status(&half, "MAIL-NOSEND"), Status::Fail);
    assert_eq!(status(&half, "MAIL-DMARC"), Status::Fail);

    // An MX presenting an expired certificate: MAIL-TLS fails.
    assert_eq!(status(&of("oldmx.test"), "MAIL-TLS"), Status::Fail);
    // The good domain's MX has an AAAA record: DNS-IPV6 passes; badmail's has none.
    assert_eq!(status(&good, "DNS-IPV6"), Status::Pass);
    assert_eq!(status(&bad, "DNS-IPV6"), Status::Fail);
}
