//! SPF lookup counting against a real authoritative server (hickory-server on loopback):
//! 10 versus 11 lookups through mx and nested includes, void lookups, loops, a missing
//! include target, too many MX hosts, two records.

use std::time::Duration;

use chrono::Utc;
use posture_agent::probe::dns::Dns;
use posture_agent::probe::mail::spf_check;
use posture_policies::PolicySet;
use posture_policies::model::{
    DomainRole, DomainTarget, MailFacts, Observation, ScanMeta, Schema, SpfFacts, Status, Target,
};

const ZONE: &str = r#"
$ORIGIN spflab.test.
$TTL 300
@       IN SOA ns.spflab.test. hostmaster.spflab.test. 1 3600 600 86400 300
@       IN NS  ns.spflab.test.
ns      IN A   127.0.0.1
mail    IN A   192.0.2.25
h1      IN A   192.0.2.1
h2      IN A   192.0.2.2
ten     IN MX  10 mail.spflab.test.
ten     IN TXT "v=spf1 mx include:n1.spflab.test include:n2.spflab.test -all"
eleven  IN MX  10 mail.spflab.test.
eleven  IN A   192.0.2.3
eleven  IN TXT "v=spf1 mx a include:n1.spflab.test include:n2.spflab.test -all"
n1      IN A   192.0.2.4
n1      IN MX  10 mail.spflab.test.
n1      IN TXT "v=spf1 a mx include:n3.spflab.test ~all"
n3      IN TXT "v=spf1 a:h1.spflab.test a:h2.spflab.test ip4:192.0.2.1 -all"
n2      IN TXT "v=spf1 a:h1.spflab.test exists:h2.spflab.test -all"
void    IN TXT "v=spf1 a:nx1.spflab.test a:nx2.spflab.test a:nx3.spflab.test -all"
loop    IN TXT "v=spf1 include:loop2.spflab.test -all"
loop2   IN TXT "v=spf1 include:loop.spflab.test -all"
missing IN TXT "v=spf1 include:nothing.spflab.test -all"
two     IN TXT "v=spf1 -all"
two     IN TXT "v=spf1 mx -all"
split   IN TXT "v=spf1 ip4:192.0.2.0/24 " "ip4:198.51.100.0/24 -all"
manymx  IN TXT "v=spf1 mx -all"
manymx  IN MX 1 m1.spflab.test.
manymx  IN MX 2 m2.spflab.test.
manymx  IN MX 3 m3.spflab.test.
manymx  IN MX 4 m4.spflab.test.
manymx  IN MX 5 m5.spflab.test.
manymx  IN MX 6 m6.spflab.test.
manymx  IN MX 7 m7.spflab.test.
manymx  IN MX 8 m8.spflab.test.
manymx  IN MX 9 m9.spflab.test.
manymx  IN MX 10 m10.spflab.test.
manymx  IN MX 11 m11.spflab.test.
redir   IN TXT "v=spf1 ip4:192.0.2.0/24 redirect=_spf.spflab.test"
_spf    IN TXT "v=spf1 ip4:198.51.100.0/24 -all"
redir2  IN TXT "v=spf1 redirect=soft.spflab.test"
soft    IN TXT "v=spf1 redirect=_soft.spflab.test"
_soft   IN TXT "v=spf1 ~all"
allredir IN TXT "v=spf1 -all redirect=allredir.spflab.test"
"#;

/// The status and message of `check` for a domain whose SPF facts are `spf`.
fn judge_check(domain: &str, spf: SpfFacts, check: &str) -> (Status, String) {
    let now = Utc::now();
    let observation = Observation {
        schema: Schema,
        target: Target::Domain(DomainTarget {
            name: domain.into(),
            roles: vec![DomainRole::MailSending],
        }),
        scan: ScanMeta {
            agent: "lab".into(),
            started: now,
            finished: now,
            connections: 0,
            errors: vec![],
            ..ScanMeta::default()
        },
        tls: None,
        web: None,
        dns: None,
        mail: Some(MailFacts {
            spf,
            ..MailFacts::default()
        }),
    };
    let f = PolicySet::builtin()
        .unwrap()
        .evaluate(&observation, &[], now, None)
        .into_iter()
        .find(|f| f.check == check)
        .unwrap();
    (f.status, f.message)
}

/// Issue 9, item 7 (RFC 7208 §6.1): after a redirect the target's record decides, so its all
/// is the effective one; a redirect in a record that has an all is ignored (no loop, no count).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_targets_decide_the_effective_all() {
    let server = posture_lab::dns::serve(&[ZONE]).await;
    let dns = Dns::with_nameservers(&[server.addr], Duration::from_secs(2)).unwrap();
    let facts = |name: &'static str| {
        let dns = dns.clone();
        async move { spf_check::check(name, &dns).await.into_facts().unwrap() }
    };
    let redir = facts("redir.spflab.test").await;
    assert_eq!(redir.all.as_deref(), Some("-"), "{redir:?}");
    assert_eq!(redir.lookups, 1);
    let (status, message) = judge_check("redir.spflab.test", redir, "MAIL-SPF-ALL");
    assert_eq!(status, Status::Pass, "{message}");
    // Two redirects deep, ending in ~all.
    let redir2 = facts("redir2.spflab.test").await;
    assert_eq!(redir2.all.as_deref(), Some("~"), "{redir2:?}");
    assert_eq!(
        judge_check("redir2.spflab.test", redir2, "MAIL-SPF-ALL").0,
        Status::Pass
    );
    // A redirect back to itself beside an all is ignored: no loop, no lookup.
    let all = facts("allredir.spflab.test").await;
    assert!(!all.loop_detected, "{all:?}");
    assert_eq!(all.lookups, 0);
    assert_eq!(
        judge_check("allredir.spflab.test", all, "MAIL-SPF-LOOKUPS").0,
        Status::Pass
    );
}

fn judge(domain: &str, spf: SpfFacts) -> (Status, Status, String) {
    let (lookups, message) = judge_check(domain, spf.clone(), "MAIL-SPF-LOOKUPS");
    (judge_check(domain, spf, "MAIL-SPF").0, lookups, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_counting_against_a_real_nameserver() {
    let server = posture_lab::dns::serve(&[ZONE]).await;
    let dns = Dns::with_nameservers(&[server.addr], Duration::from_secs(2)).unwrap();

    let ten = spf_check::check("ten.spflab.test", &dns)
        .await
        .into_facts()
        .unwrap();
    assert_eq!(ten.lookups, 10, "{:?}", ten.lookup_terms);
    assert_eq!(ten.void_lookups, 0);
    assert_eq!(
        judge("ten.spflab.test", ten),
        (
            Status::Pass,
            Status::Pass,
            "SPF needs 10 DNS lookups.".into()
        )
    );

    let eleven = spf_check::check("eleven.spflab.test", &dns)
        .await
        .into_facts()
        .unwrap();
    assert_eq!(eleven.lookups, 11, "{:?}", eleven.lookup_terms);
    let (spf, lookups, message) = judge("eleven.spflab.test", eleven);
    assert_eq!((spf, lookups), (Status::Pass, Status::Fail), "{message}");

    let void = spf_check::check("void.spflab.test", &dns)
        .await
        .into_facts()
        .unwrap();
    assert_eq!((void.lookups, void.void_lookups), (3, 3));
    assert_eq!(judge("void.spflab.test", void).1, Status::Fail);

    let looped = spf_check::check("loop.spflab.test", &dns)
        .await
        .into_facts()
        .unwrap();
    assert!(looped.loop_detected);
    assert_eq!(judge("loop.spflab.test", looped).1, Status::Fail);

    let missing = spf_check::check("missing.spflab.test", &dns)
        .await
        .into_facts()
        .unwrap();
    assert!(
        missing
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("nothing.spflab.test"),
        "{:?}",
        missing.error
    );
    assert_eq!(judge("missing.spflab.test", missing).0, Status::Fail);

    let two = spf_check::check("two.spflab.test", &dns)
        .await
        .into_facts()
        .unwrap();
    assert_eq!(two.records.len(), 2);
    assert_eq!(judge("two.spflab.test", two).0, Status::Fail);

    let split = spf_check::check("split.spflab.test", &dns)
        .await
        .into_facts()
        .unwrap();
    assert_eq!(
        split.records,
        vec!["v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 -all"]
    );
    assert_eq!(judge("split.spflab.test", split).0, Status::Pass);

    let many = spf_check::check("manymx.spflab.test", &dns)
        .await
        .into_facts()
        .unwrap();
    assert!(many.mx_over_limit);
    assert_eq!(judge("manymx.spflab.test", many).1, Status::Fail);

    let none = spf_check::check("mail.spflab.test", &dns)
        .await
        .into_facts()
        .unwrap();
    assert!(none.records.is_empty());
    assert_eq!(judge("mail.spflab.test", none).0, Status::Fail);
}
