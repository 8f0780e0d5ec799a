//! `scan DOMAIN` for mail against a real nameserver, SMTP servers with and without STARTTLS and
//! an HTTPS server for the MTA-STS policy, all on loopback.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hyper::body::Bytes;
use posture_agent::probe::dns::Dns;
use posture_agent::probe::mail::check::MailOptions;
use posture_agent::probe::net::cert::TrustStore;
use posture_agent::probe::net::http::WebLimits;
use posture_agent::probe::tls::conn::Limits;
use posture_agent::probe::tls::scan::TlsOptions;
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
    assert_eq!(
        mail.mx[0].starttls,
        posture_policies::model::StartTls::Offered,
        "{:?}",
        mail.mx
    );
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

/// A domain that publishes no SPF record (only TXT records that are not SPF: `v=spf10`,
/// `spf2.0/pra`, a verification token).
const NO_SPF: &str = r#"
$ORIGIN nospf.test.
$TTL 300
@        IN SOA ns.nospf.test. hostmaster.nospf.test. 1 3600 600 86400 300
@        IN NS  ns.nospf.test.
@        IN TXT "v=spf10 ip4:192.0.2.1 -all"
@        IN TXT "spf2.0/pra ip4:192.0.2.1 -all"
@        IN TXT "example-site-verification=4f2a9c"
"#;

/// A domain whose SPF includes a name nobody answers for, and whose MX's reverse zone is not
/// served either: only the lookups that depend on those are lost. The MX address is from the
/// documentation range (RFC 5737) because the resolver answers 127.0.0.0/8's reverse names
/// itself (RFC 6761); the test's catch-all `--connect-to` rule sends every connection to
/// loopback, so nothing is ever sent to it.
const PARTIAL: &str = r#"
$ORIGIN partial.test.
$TTL 300
@        IN SOA ns.partial.test. hostmaster.partial.test. 1 3600 600 86400 300
@        IN NS  ns.partial.test.
@        IN MX  10 mx.partial.test.
mx       IN A   192.0.2.1
@        IN TXT "v=spf1 include:_spf.unanswered.example -all"
_dmarc   IN TXT "v=DMARC1; p=reject; sp=reject; rua=mailto:dmarc@partial.test"
"#;

/// Issue 9, items 1 and 2: a domain without SPF still fails MAIL-SPF and MAIL-DMARC (and
/// MAIL-NOSEND when the user says it sends no mail); checks for other roles say why they do
/// not apply; a lookup that fails costs only the checks that need it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spf_is_a_failure_and_a_failed_lookup_costs_only_its_checks() {
    let dns = posture_lab::dns::serve(&[NO_SPF, PARTIAL]).await;
    let closed = free_port();
    let options = RunOptions {
        tls: TlsOptions {
            limits: Limits {
                connect_timeout: Duration::from_secs(2),
                read_timeout: Duration::from_secs(2),
                target_budget: Duration::from_secs(20),
                ..Limits::default()
            },
            trust: TrustStore::default(),
            intrusive: false,
        },
        // No websites and no mail servers: every host and port is refused.
        connect_to: vec![ConnectTo::parse(&format!("::127.0.0.1:{closed}")).unwrap()],
        web: WebLimits {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(2),
            ..WebLimits::default()
        },
        dns: Some(Dns::with_nameservers(&[dns.addr], Duration::from_secs(2)).unwrap()),
        ..RunOptions::default()
    };
    let domains = ["nospf.test", "partial.test"].map(String::from);
    let observations = scan_domains(&domains, &options).await;
    let findings = posture_lab::scan::judge_observations(observations.clone());
    let of = |d: &str| {
        findings
            .iter()
            .filter(|f| f.domain == d && matches!(f.target, Target::Domain(_)))
            .cloned()
            .collect::<Vec<_>>()
    };
    let nospf = of("nospf.test");
    let find = |fs: &[Finding], check: &str| {
        fs.iter()
            .find(|f| f.check == check)
            .cloned()
            .unwrap_or_else(|| panic!("no {check} in {fs:#?}"))
    };
    assert_eq!(status(&nospf, "MAIL-SPF"), Status::Fail);
    assert_eq!(
        find(&nospf, "MAIL-SPF").message,
        "No SPF record is published."
    );
    assert_eq!(status(&nospf, "MAIL-DMARC"), Status::Fail);
    assert_eq!(status(&nospf, "MAIL-DMARC-POLICY"), Status::Fail);
    // Checks for roles it does not have are listed as not applying, and say why.
    let dkim = find(&nospf, "MAIL-DKIM");
    assert_eq!(dkim.status, Status::NotApplicable);
    assert!(
        dkim.message.contains("mail-sending") && dkim.message.contains("--role"),
        "{}",
        dkim.message
    );
    assert_eq!(status(&nospf, "MAIL-NOSEND"), Status::NotApplicable);

    // Said to send no mail, it fails MAIL-NOSEND as well.
    let said = RunOptions {
        roles: vec![posture_policies::model::DomainRole::NonSending],
        ..options.clone()
    };
    let nosend = posture_lab::scan::judge_observations(scan_domains(&domains[..1], &said).await);
    assert_eq!(status(&nosend, "MAIL-NOSEND"), Status::Fail);
    assert_eq!(status(&nosend, "MAIL-SPF"), Status::Fail);

    // A name that does not exist is untestable, not a list of failures (issue 9, item 4).
    let gone = scan_domains(&["gone.nospf.test".to_owned()], &options).await;
    assert_eq!(gone.len(), 1);
    assert!(
        gone[0]
            .scan
            .errors
            .iter()
            .all(|e| e.code.as_deref() == Some("nxdomain") && e.message.contains("does not exist")),
        "{:?}",
        gone[0].scan.errors
    );
    let judged = posture_lab::scan::judge_observations(gone);
    assert!(!judged.is_empty());
    assert!(
        judged
            .iter()
            .all(|f| matches!(f.status, Status::Untestable | Status::NotApplicable)),
        "{judged:#?}"
    );

    // partial.test: the include and the PTR lookups fail; the rest stands.
    let partial = of("partial.test");
    let obs = observations
        .iter()
        .find(|o| matches!(&o.target, Target::Domain(d) if d.name == "partial.test"))
        .unwrap();
    let mail = obs.mail.as_ref().expect("mail facts are kept");
    assert_eq!(
        mail.spf.records,
        ["v=spf1 include:_spf.unanswered.example -all"]
    );
    assert_eq!(mail.dmarc.policy.as_deref(), Some("reject"));
    let failed: Vec<&str> = obs.scan.errors.iter().map(|e| e.probe.as_str()).collect();
    // Each says why for machines too (issue 10, item 3): the lab server refuses names it
    // does not serve.
    let codes: Vec<Option<&str>> = obs.scan.errors.iter().map(|e| e.code.as_deref()).collect();
    assert_eq!(codes, [Some("dns_refused"), Some("dns_refused")]);
    assert_eq!(
        failed,
        ["mail.spf-lookups", "mail.ptr"],
        "{:?}",
        obs.scan.errors
    );
    for (check, expected) in [
        ("MAIL-SPF", Status::Pass),
        ("MAIL-SPF-ALL", Status::Pass),
        ("MAIL-SPF-LOOKUPS", Status::Untestable),
        ("MAIL-DMARC", Status::Pass),
        ("MAIL-DMARC-POLICY", Status::Pass),
        ("MAIL-PTR", Status::Untestable),
    ] {
        let f = find(&partial, check);
        assert_eq!(f.status, expected, "{check}: {}", f.message);
    }
    assert!(
        find(&partial, "MAIL-SPF-LOOKUPS")
            .message
            .contains("_spf.unanswered.example"),
        "the message names the lookup that failed"
    );
}

const INHERIT: &str = r#"
$ORIGIN inherit.test.
$TTL 300
@        IN SOA ns.inherit.test. hostmaster.inherit.test. 1 3600 600 86400 300
@        IN NS  ns.inherit.test.
@        IN TXT "v=spf1 -all"
_dmarc   IN TXT "v=DMARC1; p=reject; sp=none; rua=mailto:dmarc-rua@dmarc.service.gov.uk"
sub      IN TXT "v=spf1 -all"
nop      IN TXT "v=spf1 -all"
_dmarc.nop IN TXT "v=DMARC1; rua=mailto:dmarc-rua@dmarc.service.gov.uk"
"#;

/// Issue 9, item 8 (RFC 7489 §6.3 and §6.6.3): a record without p= is invalid even when a
/// valid rua= makes receivers apply p=none, and a name that inherits the organisational
/// domain's record is governed by its sp, not its p.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_p_is_required_and_an_inheriting_name_gets_sp() {
    let dns = posture_lab::dns::serve(&[INHERIT]).await;
    let closed = free_port();
    let options = RunOptions {
        connect_to: vec![ConnectTo::parse(&format!("::127.0.0.1:{closed}")).unwrap()],
        web: WebLimits {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(2),
            ..WebLimits::default()
        },
        dns: Some(Dns::with_nameservers(&[dns.addr], Duration::from_secs(2)).unwrap()),
        ..RunOptions::default()
    };
    let domains = ["inherit.test", "sub.inherit.test", "nop.inherit.test"].map(String::from);
    let findings = posture_lab::scan::judge_observations(scan_domains(&domains, &options).await);
    let finding = |domain: &str, check: &str| {
        findings
            .iter()
            .find(|f| f.domain == domain && f.check == check)
            .cloned()
            .unwrap_or_else(|| panic!("no {check} for {domain}"))
    };
    assert_eq!(
        finding("inherit.test", "MAIL-DMARC-POLICY").status,
        Status::Pass
    );
    let sub = finding("sub.inherit.test", "MAIL-DMARC-POLICY");
    assert_eq!(sub.status, Status::Fail, "{}", sub.message);
    assert!(sub.message.contains("p=none"), "{}", sub.message);
    let nop = finding("nop.inherit.test", "MAIL-DMARC");
    assert_eq!(nop.status, Status::Fail);
    assert!(
        nop.message.contains("requires p=") && nop.message.contains("fall back to p=none"),
        "{}",
        nop.message
    );
    assert_eq!(
        finding("nop.inherit.test", "MAIL-DMARC-POLICY").status,
        Status::Fail
    );
}

/// Issue 9, item 12: a scanned domain's own DNS cannot steer the MTA-STS policy fetch into an
/// internal service. guard.test plays a public host (127.0.0.1 declared public); its
/// `mta-sts` name leads to 127.0.0.2, an internal address, and is not fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mta_sts_host_is_not_fetched_from_an_internal_address() {
    let zone = r#"
$ORIGIN guard.test.
$TTL 300
@        IN SOA ns.guard.test. hostmaster.guard.test. 1 3600 600 86400 300
@        IN NS  ns.guard.test.
@        IN MX  10 mx.guard.test.
@        IN TXT "v=spf1 mx -all"
_mta-sts IN TXT "v=STSv1; id=1"
"#;
    let dns = posture_lab::dns::serve(&[zone]).await;
    // Nothing need listen at 127.0.0.2: the refusal comes before any connection.
    let policy_port = free_port();
    let closed = free_port();
    let mut options = RunOptions {
        connect_to: [
            format!("mta-sts.guard.test:443:127.0.0.2:{policy_port}"),
            format!("guard.test:443:127.0.0.1:{closed}"),
            format!("::127.0.0.1:{closed}"),
        ]
        .iter()
        .map(|r| ConnectTo::parse(r).unwrap())
        .collect(),
        dns: Some(Dns::with_nameservers(&[dns.addr], Duration::from_secs(2)).unwrap()),
        ..RunOptions::default()
    };
    options.web.guard.treat_as_public = vec!["127.0.0.1/32".parse().unwrap()];
    options.web.connect_timeout = Duration::from_secs(2);
    options.web.request_timeout = Duration::from_secs(2);
    let observations = scan_domains(&["guard.test".to_owned()], &options).await;
    let mail = observations[0].mail.clone().expect("mail facts");
    let error = mail
        .mta_sts
        .policy
        .and_then(|p| p.error)
        .unwrap_or_default();
    assert!(
        error.contains("mta-sts.guard.test resolves to 127.0.0.2 is an internal address"),
        "{error}"
    );
}
