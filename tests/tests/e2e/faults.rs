//! Faults the collector must live through: its database out of reach, an agent's clock
//! ahead. The collector's link to
//! PostgreSQL runs through a proxy that the test cuts: meanwhile the collector answers 503 with
//! Retry-After (API and pages) within seconds, stays up, and once the link is back it recovers
//! by itself; the batch refused meanwhile, sent again, is stored once and nothing stored before
//! is lost.

use std::time::Duration;

use posture_lab::pki::{LeafSpec, Pki, TempDir};
use posture_lab::servers::{RustlsServer, TcpProxy};

use super::collector::{Collector, expired_a_minute_later, psql, scan};

/// A lab scan of RX1's www.a.test, an agent key of RX1 and a national token: (report, key,
/// token).
async fn scanned_and_enrolled(pki: &Pki, c: &Collector) -> (serde_json::Value, String, String) {
    let scratch = TempDir::new("fault-scan");
    let server = RustlsServer::new(&pki.leaf(&LeafSpec::valid(&["www.a.test"])))
        .start()
        .await;
    let report = scan(
        "a.test",
        &server,
        &pki.root_file(),
        &scratch.path().join("a.json"),
    );
    let secret = c.admin(&["enrol-secret", "create", "--org", "RX1"]);
    let national = c.admin(&["token", "create", "--national"]);
    let (_, agent) = c.enrol(&secret).await;
    (report, agent["key"].as_str().unwrap().to_owned(), national)
}

/// While the database is out of reach: `batch` is refused with 503 "busy", the scores with 503
/// and Retry-After 10, both within 20 s (well within a request's time-out).
async fn refused_promptly(
    c: &Collector,
    http: &reqwest::Client,
    key: &str,
    batch: &[u8],
    national: &str,
) {
    let started = tokio::time::Instant::now();
    let (status, body) = c.post_batch(key, batch.to_vec(), false, "second").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("busy")),
        "{body}"
    );
    let scores = http
        .get(format!("{}/api/v1/scores?level=organisation", c.url))
        .bearer_auth(national)
        .send()
        .await
        .unwrap();
    assert_eq!(scores.status().as_u16(), 503);
    assert_eq!(
        scores
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("10")
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// Once the database is back: `batch`, sent again every half second (503 meanwhile, up to
/// `tries` times), is stored, and sent once more it is recognised (nothing stored twice).
async fn stored_once_when_back(c: &Collector, key: &str, batch: &[u8], tries: usize) {
    let mut stored = serde_json::Value::Null;
    for _ in 0..tries {
        let (status, body) = c.post_batch(key, batch.to_vec(), false, "second").await;
        if status == 200 {
            stored = body;
            break;
        }
        assert_eq!(status, 503, "{body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(stored["accepted"], 1, "{stored}");
    let (status, again) = c.post_batch(key, batch.to_vec(), false, "second").await;
    assert_eq!(
        (status, again["accepted"].as_u64()),
        (200, Some(0)),
        "{again}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_says_503_while_its_database_is_out_of_reach_and_recovers() {
    let name = format!("posture_e2e_dbcut_{}", std::process::id());
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name}"));
    let proxy = TcpProxy::start(([127, 0, 0, 1], 5432).into()).await;
    let database = format!(
        "[database]\nurl = \"postgres://postgres@127.0.0.1:{}/{name}\"\nmax_connections = 4\n",
        proxy.addr.port()
    );
    let pki = Pki::new();
    let c = Collector::start_on(&pki, &database, true);
    let (report, key, national) = scanned_and_enrolled(&pki, &c).await;
    let first = serde_json::to_vec(&report["observations"][0]).unwrap();
    let (status, body) = c.post_batch(&key, first, false, "first").await;
    assert_eq!(status, 200, "{body}");

    // The link to the database is cut: 503 with Retry-After, well within the request's
    // time-out, from the API and the pages alike; the collector stays up.
    proxy.cut();
    let later = serde_json::to_vec(&expired_a_minute_later(&report, "during-the-cut")).unwrap();
    let http = pki.client(true);
    refused_promptly(&c, &http, &key, &later, &national).await;
    let page = http
        .get(format!("{}/ui/org/RX1", c.url))
        .header("cookie", format!("posture_session={national}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 503);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("cannot reach its database")
    );

    // Mended: the same batch again is stored (once), and the first is still there.
    proxy.mend();
    stored_once_when_back(&c, &key, &later, 30).await;
    let (_, regressions) = c.get("/api/v1/regressions", &national).await;
    assert!(
        regressions["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["check"] == "TLS-CERT-EXPIRED"),
        "the batch sent again was judged: {regressions}"
    );
    let store = posture_collector::store::Store::connect(
        &format!("postgres://postgres@127.0.0.1:5432/{name}"),
        1,
    )
    .await
    .unwrap();
    assert_eq!(
        store.counts().await.unwrap().0,
        2,
        "two observations, each once"
    );
    drop(store);
    drop(c);
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// Issue 15, faults: an agent whose clock is ten minutes ahead. Its observation, dated in the
/// future, is dated on arrival (and said so), so the next observation of the same target (made
/// when the clock was right, the certificate now expired) is taken as the newer one: the
/// regression is seen at once instead of ten minutes late, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_clock_ten_minutes_ahead_does_not_hide_the_next_observation() {
    let pki = Pki::new();
    let c = Collector::start(&pki);
    let (report, key, national) = scanned_and_enrolled(&pki, &c).await;
    let ahead = chrono::Utc::now() + chrono::Duration::minutes(10);
    let mut first = report["observations"][0].clone();
    first["scan"]["id"] = "clock-ahead".into();
    first["scan"]["started"] = (ahead - chrono::Duration::seconds(2)).to_rfc3339().into();
    first["scan"]["finished"] = ahead.to_rfc3339().into();
    let (status, body) = c
        .post_batch(&key, serde_json::to_vec(&first).unwrap(), false, "ahead")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(body["clock_adjusted"], 1, "{body}");
    // The clock put right; a minute later the certificate has expired.
    let mut second = expired_a_minute_later(&report, "clock-right");
    second["scan"]["finished"] = chrono::Utc::now().to_rfc3339().into();
    let (status, body) = c
        .post_batch(&key, serde_json::to_vec(&second).unwrap(), false, "right")
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("clock_adjusted").is_none(), "{body}");
    let (_, findings) = c
        .get("/api/v1/findings?check=TLS-CERT-EXPIRED", &national)
        .await;
    assert_eq!(findings["items"][0]["status"], "fail", "{findings}");
    let (_, regressions) = c.get("/api/v1/regressions", &national).await;
    assert!(
        regressions["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["check"] == "TLS-CERT-EXPIRED"),
        "{regressions}"
    );
    let log = std::fs::read_to_string(c.log()).unwrap_or_default();
    assert!(log.contains("the agent's clock is ahead"), "{log}");
}

/// Issue 15, item 3: PostgreSQL itself stopped for a minute (a server of the test's own, so
/// the lab's shared one serves the other tests) and started again. Throughout the minute the
/// collector answers 503 with Retry-After, promptly, and stays up; once the server is back the
/// collector recovers by itself (no restart): the batch refused meanwhile is stored once and
/// what was stored before is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_stopped_for_a_minute_then_started_again() {
    let pg = posture_lab::postgres::PrivatePostgres::start();
    let database = format!("[database]\nurl = \"{}\"\nmax_connections = 4\n", pg.url());
    let pki = Pki::new();
    let c = Collector::start_on(&pki, &database, true);
    let (report, key, national) = scanned_and_enrolled(&pki, &c).await;
    let first = serde_json::to_vec(&report["observations"][0]).unwrap();
    let (status, body) = c.post_batch(&key, first, false, "first").await;
    assert_eq!(status, 200, "{body}");

    pg.stop();
    let later = serde_json::to_vec(&expired_a_minute_later(&report, "during-the-stop")).unwrap();
    let http = pki.client(true);
    let outage = tokio::time::Instant::now();
    let mut refused = 0;
    while outage.elapsed() < Duration::from_secs(60) {
        refused_promptly(&c, &http, &key, &later, &national).await;
        refused += 1;
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    assert!(refused >= 3, "{refused}");

    pg.start_again();
    // Recovered without a restart.
    stored_once_when_back(&c, &key, &later, 60).await;
    let store = posture_collector::store::Store::connect(&pg.url(), 1)
        .await
        .unwrap();
    assert_eq!(
        store.counts().await.unwrap().0,
        2,
        "two observations, each once"
    );
}
