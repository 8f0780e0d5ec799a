//! The store suite: every case runs on SQLite (a file in a scratch directory) and on
//! PostgreSQL (a database of its own at 127.0.0.1:5432, created and dropped here; override
//! with POSTURE_PG_URL). Then two stores on one PostgreSQL database, as two collector replicas,
//! ingest and judge the same batches at once.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use posture_collector::judge::Judge;
use posture_collector::store::{FindingFilter, Role, Store};
use posture_policies::PolicySet;
use posture_policies::model::{Observation, ObservationSet};

/// A database for one test: a SQLite file, or a fresh PostgreSQL database dropped on `close`.
struct Db {
    url: String,
    drop_pg: Option<(String, String)>,
    dir: Option<PathBuf>,
}

fn pg_admin_url() -> String {
    std::env::var("POSTURE_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

impl Db {
    async fn new(backend: &str, name: &str) -> Db {
        let unique = format!("posture_{name}_{}", std::process::id());
        if backend == "sqlite" {
            let dir = std::env::temp_dir().join(&unique);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            return Db {
                url: format!("sqlite://{}", dir.join("store.db").display()),
                drop_pg: None,
                dir: Some(dir),
            };
        }
        sqlx::any::install_default_drivers();
        let admin = pg_admin_url();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e} (scripts/test.sh starts it)"));
        sqlx::query(&format!("DROP DATABASE IF EXISTS {unique}"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {unique}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin.rsplit_once('/').unwrap().0;
        Db {
            url: format!("{base}/{unique}"),
            drop_pg: Some((admin, unique)),
            dir: None,
        }
    }

    async fn close(self) {
        if let Some((admin, name)) = self.drop_pg {
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        if let Some(dir) = self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The observations of a recorded example, each with a fresh id (and `tag` in it).
fn example(name: &str, tag: &str) -> Vec<Observation> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/").to_owned() + name;
    let set: ObservationSet =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    set.observations
        .into_iter()
        .enumerate()
        .map(|(i, mut o)| {
            o.scan.id = Some(format!("{tag}-{i}"));
            o
        })
        .collect()
}

fn judge() -> Judge {
    Judge::new(PolicySet::builtin().unwrap(), chrono::Duration::hours(24))
}

async fn with_org(store: &Store) {
    store.add_organisation("RX1", "Trust A", 1).await.unwrap();
    store.add_domain("weak-trust.example", "RX1").await.unwrap();
}

/// Organisations, domains, secrets, agents and tokens.
async fn tenancy(backend: &str) {
    let db = Db::new(backend, "tenancy").await;
    let store = Store::connect(&db.url, 4).await.unwrap();
    with_org(&store).await;
    assert!(
        store.add_organisation("RX1", "again", 2).await.is_err(),
        "{backend}: a code is unique"
    );
    assert!(store.add_domain("x.example", "NOPE").await.is_err());
    assert_eq!(
        store.domains_of("RX1").await.unwrap(),
        ["weak-trust.example"]
    );
    store
        .add_enrol_secret("secret-hash", "RX1", 3)
        .await
        .unwrap();
    assert_eq!(
        store
            .enrol("wrong", "a1", "host", "key-hash", 4)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .enrol("secret-hash", "a1", "host", "key-hash", 4)
            .await
            .unwrap()
            .as_deref(),
        Some("RX1")
    );
    let agent = store.agent_by_key("key-hash").await.unwrap().unwrap();
    assert_eq!((agent.organisation.as_str(), agent.revoked), ("RX1", false));
    assert!(store.revoke_enrol_secret("secret-hash", 5).await.unwrap());
    assert_eq!(
        store
            .enrol("secret-hash", "a2", "host", "key-2", 6)
            .await
            .unwrap(),
        None,
        "{backend}: revoked"
    );
    assert!(store.revoke_agent("a1", 7).await.unwrap());
    assert!(
        store
            .agent_by_key("key-hash")
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    store
        .add_token("t1", &Role::Viewer("RX1".into()), 8)
        .await
        .unwrap();
    store.add_token("t2", &Role::National, 8).await.unwrap();
    assert_eq!(
        store.token("t1").await.unwrap(),
        Some(Role::Viewer("RX1".into()))
    );
    assert!(store.revoke_token("t2", 9).await.unwrap());
    assert_eq!(store.token("t2").await.unwrap(), None);

    // Endpoints: a host with a port or any port, once each; removed with what is scored
    // under the host.
    store.add_endpoint("10.0.0.5", 0, "RX1").await.unwrap();
    store
        .add_endpoint("pacs.internal", 8443, "RX1")
        .await
        .unwrap();
    assert!(
        store.add_endpoint("10.0.0.5", 0, "RX1").await.is_err(),
        "{backend}"
    );
    assert!(store.add_endpoint("10.0.0.9", 0, "NOPE").await.is_err());
    assert_eq!(
        store.endpoints(Some("RX1")).await.unwrap(),
        [
            ("10.0.0.5".to_owned(), 0, "RX1".to_owned()),
            ("pacs.internal".to_owned(), 8443, "RX1".to_owned())
        ]
    );
    assert!(store.endpoints(Some("RX2")).await.unwrap().is_empty());
    assert!(store.remove_endpoint("10.0.0.5", 0).await.unwrap());
    assert!(!store.remove_endpoint("10.0.0.5", 0).await.unwrap());
    assert_eq!(store.endpoints(None).await.unwrap().len(), 1);
    db.close().await;
}

/// Batches: whole, idempotent, and the latest observation of a target only moves forwards.
async fn batches_and_judgement(backend: &str) {
    let db = Db::new(backend, "batches").await;
    let store = Store::connect(&db.url, 4).await.unwrap();
    with_org(&store).await;
    let judge = judge();
    let weak = example("weak-domain.json", "w");
    let stored = store
        .store_batch("a1", "RX1", "k1", &weak, 10)
        .await
        .unwrap();
    assert_eq!((stored.accepted, stored.duplicates), (4, 0), "{backend}");
    assert_eq!(
        stored.domains.iter().collect::<Vec<_>>(),
        ["weak-trust.example"]
    );
    // The same batch again, and the same observations under another key: duplicates.
    let again = store
        .store_batch("a1", "RX1", "k1", &weak, 11)
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 4));
    let other_key = store
        .store_batch("a1", "RX1", "k2", &weak, 12)
        .await
        .unwrap();
    assert_eq!((other_key.accepted, other_key.duplicates), (0, 4));
    assert_eq!(store.counts().await.unwrap().0, 4);
    // What /metrics counts of each target: the TLS endpoints' certificate expiry and the
    // protocol versions they accepted, from their latest observations.
    let summaries = store.tls_summaries().await.unwrap();
    let expected: Vec<(Option<i64>, Vec<String>)> = weak
        .iter()
        .filter_map(|o| o.tls.as_ref())
        .map(|t| {
            (
                t.certificate
                    .as_ref()
                    .and_then(|c| c.chain.first())
                    .map(|l| l.not_after.timestamp_millis()),
                t.protocols
                    .iter()
                    .filter(|p| p.result == posture_policies::model::ProbeOutcome::Accepted)
                    .map(|p| p.version.as_str().to_owned())
                    .collect(),
            )
        })
        .collect();
    let mut got: Vec<(Option<i64>, Vec<String>)> = summaries
        .iter()
        .map(|s| (s.certificate_expires, s.protocols.clone()))
        .collect();
    let mut want = expected.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{backend}");
    assert!(
        want.iter()
            .any(|(at, p)| at.is_some() && p.iter().any(|v| v == "TLSv1.0")),
        "the weak example has a certificate and accepts TLS 1.0: {want:?}"
    );
    assert!(summaries.iter().all(|s| s.organisation == "RX1"));

    // Judged centrally as the agent judges the same file.
    let n = judge
        .rejudge(&store, "weak-trust.example", "RX1")
        .await
        .unwrap();
    let expected = PolicySet::builtin()
        .unwrap()
        .evaluate_set(
            &ObservationSet {
                schema: posture_policies::model::Schema,
                organisation: None,
                observations: weak.clone(),
            },
            None,
            None,
        )
        .len();
    assert_eq!(n, expected, "{backend}");
    let findings = store.findings(&FindingFilter::default()).await.unwrap();
    assert_eq!(findings.len(), expected);
    let events = store.counts().await.unwrap().1;
    assert_eq!(
        events as usize, expected,
        "{backend}: one event per first-seen finding"
    );
    // The scores kept with the judgement are those of the policies crate over the same
    // findings, rolled up for the organisation.
    let board = judge.scores(&store, chrono::Utc::now()).await.unwrap();
    let direct = posture_policies::score::score_all(
        &findings
            .iter()
            .map(|f| f.finding.clone())
            .collect::<Vec<_>>(),
        |_| "RX1".to_owned(),
        &PolicySet::builtin()
            .unwrap()
            .standards()
            .iter()
            .map(|s| (s.id.clone(), s.weights))
            .collect(),
        &posture_policies::score::ScoreContext {
            now: chrono::Utc::now(),
            scan_interval: chrono::Duration::hours(24),
        },
    );
    assert_eq!(board.domains, direct.domains, "{backend}");
    assert_eq!(board.organisations, direct.organisations, "{backend}");
    assert!(!board.organisations.is_empty());
    // Judging the same observations again changes nothing.
    judge
        .rejudge(&store, "weak-trust.example", "RX1")
        .await
        .unwrap();
    assert_eq!(store.counts().await.unwrap().1, events);

    // A later, better scan: the statuses that changed get an event each.
    let mut good = example("weak-domain.json", "g");
    let fixed: ObservationSet = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/good-domain.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for (o, better) in good.iter_mut().zip(fixed.observations) {
        // Same targets as the weak file, facts of the good one, an hour later.
        o.tls = better.tls;
        o.web = better.web;
        o.mail = better.mail;
        o.dns = better.dns;
        o.scan.finished += chrono::Duration::hours(1);
    }
    store
        .store_batch("a1", "RX1", "k3", &good, 13)
        .await
        .unwrap();
    judge
        .rejudge(&store, "weak-trust.example", "RX1")
        .await
        .unwrap();
    let after = store.counts().await.unwrap().1;
    assert!(after > events, "{backend}: fixes are status changes");
    let fails = store
        .findings(&FindingFilter {
            status: Some("fail".into()),
            ..FindingFilter::default()
        })
        .await
        .unwrap();
    let failed_before = findings
        .iter()
        .filter(|f| f.finding.status.to_string() == "fail")
        .count();
    assert!(
        fails.len() < failed_before,
        "{backend}: {} < {failed_before}",
        fails.len()
    );
    let history = store.history("domain:weak-trust.example").await.unwrap();
    assert!(
        history
            .iter()
            .any(|(_, from, to, _)| from.as_deref() == Some("fail") && to == "pass"),
        "{history:?}"
    );

    // An older observation arriving late does not replace the newer one.
    let late = example("weak-domain.json", "late");
    let stored = store
        .store_batch("a1", "RX1", "k4", &late, 14)
        .await
        .unwrap();
    assert_eq!(stored.accepted, 4);
    assert!(
        stored.domains.is_empty(),
        "{backend}: the targets' latest stay the newer scan"
    );

    // Worse again, two hours after the first scan: each check that passed (or warned) and
    // now fails is a regression; a fix, or a first failure, is not.
    let good_findings = store.findings(&FindingFilter::default()).await.unwrap();
    let mut worse = example("weak-domain.json", "r");
    for o in &mut worse {
        o.scan.finished += chrono::Duration::hours(2);
    }
    store
        .store_batch("a1", "RX1", "k5", &worse, 15)
        .await
        .unwrap();
    judge
        .rejudge(&store, "weak-trust.example", "RX1")
        .await
        .unwrap();
    let key = |f: &posture_collector::store::StoredFinding| {
        (f.finding.target.key(), f.finding.check.clone())
    };
    let passed: std::collections::BTreeSet<_> = good_findings
        .iter()
        .filter(|f| matches!(f.finding.status.to_string().as_str(), "pass" | "warn"))
        .map(key)
        .collect();
    let failing: std::collections::BTreeSet<_> = store
        .findings(&FindingFilter::default())
        .await
        .unwrap()
        .iter()
        .filter(|f| f.finding.status.to_string() == "fail")
        .map(key)
        .collect();
    let want: std::collections::BTreeSet<_> = passed.intersection(&failing).cloned().collect();
    let regressions = store.regressions(None, 0).await.unwrap();
    let got: std::collections::BTreeSet<_> = regressions
        .iter()
        .map(|r| (r.target.clone(), r.check.clone()))
        .collect();
    assert!(!want.is_empty(), "{backend}");
    assert_eq!(got, want, "{backend}");
    assert!(
        regressions
            .iter()
            .all(|r| r.organisation == "RX1" && r.domain == "weak-trust.example")
    );
    assert_eq!(
        store.regressions(Some("RX1"), 0).await.unwrap().len(),
        regressions.len()
    );
    assert!(store.regressions(Some("RX2"), 0).await.unwrap().is_empty());
    assert!(store.regressions(None, i64::MAX).await.unwrap().is_empty());
    let after = store.counts().await.unwrap().1;

    // What the pages and /metrics read: every change (newest first, limited), failing
    // checks counted by target, the observed targets and their freshness.
    let changes = store.changes(None, 0, i64::MAX).await.unwrap();
    assert_eq!(changes.len() as i64, after, "{backend}");
    assert!(changes.windows(2).all(|w| w[0].at >= w[1].at));
    assert_eq!(store.changes(Some("RX1"), 0, 3).await.unwrap().len(), 3);
    assert!(store.changes(Some("RX2"), 0, 100).await.unwrap().is_empty());
    let regressed: std::collections::BTreeSet<_> = changes
        .iter()
        .filter(|c| matches!(c.from.as_deref(), Some("pass" | "warn")) && c.to == "fail")
        .map(|c| (c.target.clone(), c.check.clone()))
        .collect();
    let recorded: std::collections::BTreeSet<_> = store
        .regressions(None, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.target, r.check))
        .collect();
    assert!(!recorded.is_empty());
    assert_eq!(regressed, recorded, "{backend}");
    let latest = store.findings(&FindingFilter::default()).await.unwrap();
    let mut by_check: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    let mut critical: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    for f in latest
        .iter()
        .filter(|f| f.finding.status.to_string() == "fail")
    {
        by_check
            .entry(f.finding.check.clone())
            .or_default()
            .insert(f.finding.target.key());
        if f.finding.severity.as_str() == "critical" {
            critical
                .entry(f.finding.check.clone())
                .or_default()
                .insert(f.finding.target.key());
        }
    }
    let counted: std::collections::BTreeMap<String, i64> = store
        .failing_checks(None)
        .await
        .unwrap()
        .into_iter()
        .map(|(check, _, targets, domains, orgs)| {
            assert_eq!((domains, orgs), (1, 1), "{backend}: {check}");
            (check, targets)
        })
        .collect();
    let want_counts: std::collections::BTreeMap<String, i64> = by_check
        .iter()
        .map(|(c, t)| (c.clone(), t.len() as i64))
        .collect();
    assert_eq!(counted, want_counts, "{backend}");
    assert!(store.failing_checks(Some("RX2")).await.unwrap().is_empty());
    let critical_counted: Vec<(String, String, i64)> = store.failing_critical().await.unwrap();
    let want_critical: Vec<(String, String, i64)> = critical
        .iter()
        .map(|(c, t)| ("RX1".to_owned(), c.clone(), t.len() as i64))
        .collect();
    assert!(
        !want_critical.is_empty(),
        "{backend}: the weak example fails a critical check"
    );
    assert_eq!(critical_counted, want_critical, "{backend}");
    let targets = store.targets(Some("RX1")).await.unwrap();
    assert_eq!(targets.len(), 4, "{backend}");
    assert!(targets.iter().all(|t| t.domain == "weak-trust.example"));
    assert!(store.targets(Some("RX2")).await.unwrap().is_empty());
    assert_eq!(
        store.target_freshness(0).await.unwrap(),
        [("RX1".to_owned(), 0, 4)],
        "{backend}"
    );
    assert_eq!(
        store.target_freshness(i64::MAX).await.unwrap(),
        [("RX1".to_owned(), 4, 4)],
        "{backend}"
    );

    // Daily snapshots: today's scores kept, a second snapshot the same day replaces them.
    let rows = judge.snapshot(&store, chrono::Utc::now()).await.unwrap();
    assert!(rows > 0);
    judge.snapshot(&store, chrono::Utc::now()).await.unwrap();
    let kept = store.score_history("organisation", "RX1").await.unwrap();
    assert!(!kept.is_empty(), "{backend}");
    assert_eq!(
        kept.len(),
        board.organisations.len(),
        "{backend}: one row per standard and day"
    );
    // Retention: every raw observation is older than "now + 1 day", but each target's latest
    // stays for judgement.
    let removed = store.prune(i64::MAX / 2).await.unwrap();
    assert_eq!(removed, 12, "{backend}: 16 stored, the 4 latest kept");
    assert_eq!(store.counts().await.unwrap().0, 4);
    judge
        .rejudge(&store, "weak-trust.example", "RX1")
        .await
        .unwrap();

    // Removing the domain removes its latest findings; history stays.
    assert!(store.remove_domain("weak-trust.example").await.unwrap());
    assert!(
        store
            .findings(&FindingFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.counts().await.unwrap().1, after);
    db.close().await;
}

#[tokio::test]
async fn tenancy_on_sqlite() {
    tenancy("sqlite").await;
}

#[tokio::test]
async fn tenancy_on_postgres() {
    tenancy("postgres").await;
}

#[tokio::test]
async fn batches_and_judgement_on_sqlite() {
    batches_and_judgement("sqlite").await;
}

#[tokio::test]
async fn batches_and_judgement_on_postgres() {
    batches_and_judgement("postgres").await;
}

/// Two replicas (two pools) on one PostgreSQL database ingest and judge the same batches at
/// once: each observation is stored once, and each first-seen finding has one event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_store_each_observation_once() {
    let db = Db::new("postgres", "replicas").await;
    let one = Store::connect(&db.url, 4).await.unwrap();
    let two = Store::connect(&db.url, 4).await.unwrap();
    with_org(&one).await;
    let judge = std::sync::Arc::new(judge());
    let mut tasks = Vec::new();
    for round in 0..10 {
        for store in [one.clone(), two.clone()] {
            let judge = judge.clone();
            tasks.push(tokio::spawn(async move {
                // The same batch (same agent and key) sent to both replicas.
                let batch = example("weak-domain.json", &format!("r{round}"));
                let s = store
                    .store_batch("a1", "RX1", &format!("key-{round}"), &batch, round)
                    .await
                    .unwrap();
                for d in &s.domains {
                    judge.rejudge(&store, d, "RX1").await.unwrap();
                }
                (s.accepted, s.duplicates)
            }));
        }
    }
    let mut accepted = 0;
    let mut duplicates = 0;
    for t in tasks {
        let (a, d) = t.await.unwrap();
        accepted += a;
        duplicates += d;
    }
    assert_eq!((accepted, duplicates), (40, 40));
    let (observations, events) = one.counts().await.unwrap();
    assert_eq!(observations, 40);
    let findings = one.findings(&FindingFilter::default()).await.unwrap().len();
    // Every round has the same facts: each finding was first seen once, and never changed.
    assert_eq!(events as usize, findings);
    db.close().await;
}

/// What the notifier keeps, on one backend: contacts (a duplicate refused), evaluations one
/// after another (a second waits for the first to commit), the cursor, messages leased to one
/// sender at a time with retries, and acknowledgement of an open episode only.
async fn notifications(backend: &str) {
    use posture_collector::store::notify::{AlertState, NewNotification};
    let db = Db::new(backend, "notify").await;
    let store = Store::connect(&db.url, 4).await.unwrap();
    with_org(&store).await;
    let id = store
        .add_contact("RX1", "", "email", "owner@a.test", 1)
        .await
        .unwrap();
    let again = store
        .add_contact("RX1", "", "email", "owner@a.test", 2)
        .await;
    assert!(
        matches!(again, Err(posture_collector::Error::Conflict(_))),
        "{backend}: {again:?}"
    );
    assert!(
        store
            .add_contact("RX9", "", "email", "x@y.test", 2)
            .await
            .is_err()
    );
    assert_eq!(store.contacts(Some("RX1")).await.unwrap().len(), 1);

    // Evaluations one after another.
    let first = store.begin_notify().await.unwrap();
    assert_eq!(first.cursor, 0);
    let other = store.clone();
    let second = tokio::spawn(async move { other.begin_notify().await.unwrap().cursor });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "{backend}: a second evaluation waits"
    );
    first.commit(7).await.unwrap();
    assert_eq!(
        second.await.unwrap(),
        7,
        "{backend}: it sees the first's cursor"
    );

    // A message, leased to one sender; a failed attempt is retried when due; then delivered.
    let mut tx = store.begin_notify().await.unwrap();
    tx.put_state(&AlertState {
        target: "domain:weak-trust.example".into(),
        check: "MAIL-DMARC-POLICY".into(),
        organisation: "RX1".into(),
        domain: "weak-trust.example".into(),
        state: "open".into(),
        since: 100,
        last_sent: 100,
        next_reminder: Some(1_000),
        reminders: 0,
        acked_at: None,
    })
    .await
    .unwrap();
    tx.add_notification(
        &NewNotification {
            id: "n_1".into(),
            organisation: "RX1".into(),
            kind: "email".into(),
            address: "owner@a.test".into(),
            subject: "s".into(),
            body: "{}".into(),
            items: vec![(
                "domain:weak-trust.example".into(),
                "MAIL-DMARC-POLICY".into(),
                "weak-trust.example".into(),
                "regression".into(),
            )],
        },
        100,
    )
    .await
    .unwrap();
    assert_eq!(tx.due(999).await.unwrap().len(), 0);
    assert_eq!(tx.due(1_000).await.unwrap().len(), 1);
    tx.commit(8).await.unwrap();
    let taken = store
        .claim_notification(200, 10_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((taken.id.as_str(), taken.attempts), ("n_1", 1));
    assert!(
        store
            .claim_notification(300, 10_000)
            .await
            .unwrap()
            .is_none(),
        "{backend}: leased"
    );
    store
        .delivery("n_1", 400, Err(("refused".into(), Some(1_400))))
        .await
        .unwrap();
    assert!(
        store
            .claim_notification(1_000, 20_000)
            .await
            .unwrap()
            .is_none()
    );
    let retried = store
        .claim_notification(1_400, 20_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retried.attempts, 2);
    store.delivery("n_1", 1_500, Ok(())).await.unwrap();
    assert!(
        store
            .claim_notification(99_999, 200_000)
            .await
            .unwrap()
            .is_none()
    );
    let listed = store
        .notifications(Some("RX1"), Some("weak-trust.example"), 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0.delivered_at, Some(1_500));
    assert_eq!(listed[0].1[0].3, "regression");
    assert!(
        store
            .notifications(Some("RX2"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Acknowledgement: of the open episode that began at 100 only.
    assert!(
        !store
            .acknowledge("domain:weak-trust.example", "MAIL-DMARC-POLICY", 99, 5)
            .await
            .unwrap()
    );
    assert!(
        store
            .acknowledge("domain:weak-trust.example", "MAIL-DMARC-POLICY", 100, 5)
            .await
            .unwrap()
    );
    let mut tx = store.begin_notify().await.unwrap();
    assert!(
        tx.due(2_000).await.unwrap().is_empty(),
        "{backend}: acknowledged"
    );
    tx.commit(8).await.unwrap();
    assert!(store.remove_contact(&id).await.unwrap());
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_on_sqlite() {
    notifications("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_on_postgres() {
    notifications("postgres").await;
}
