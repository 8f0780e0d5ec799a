//! The collector's benchmark (issue 11's performance figures), run by
//! `scripts/bench-collector.sh`: a collector in this process on loopback (SQLite in a scratch
//! directory, or `--database postgres://...`), one organisation, and N domains' observations
//! posted through the API as an agent posts them (gzip JSON lines, idempotency keys), then
//! `GET /api/v1/scores` asked R times.
//!
//! The observations are the recorded domains of `examples/` (a domain and its HTTPS and MX
//! endpoints, four observations and about 60 findings a domain), renamed `dN.bench.test`,
//! half of them the weak one and half the good one.
//!
//! Usage: posture-collector-bench [--domains N] [--batch DOMAINS] [--posters P]
//!        [--score-requests R] [--database URL] [--keep]
//!
//! `--keep` leaves the SQLite database in its scratch directory, to look into.

#![allow(clippy::unwrap_used)]

use posture_collector::config::{Config, Transport};
use posture_collector::store::Role;
use tokio::time::Instant;

use posture_lab::load::{arg, gzip, observations, percentile};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let domains: usize = arg("--domains", "10000").parse().unwrap();
    let batch: usize = arg("--batch", "25").parse().unwrap();
    let posters: usize = arg("--posters", "2").parse().unwrap();
    let requests: usize = arg("--score-requests", "200").parse().unwrap();
    let scratch = std::env::temp_dir().join(format!("posture-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let database = arg(
        "--database",
        &format!("sqlite://{}", scratch.join("bench.db").display()),
    );
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        transport: Transport::Plain,
        database_url: database.clone(),
        max_body_bytes: 64 * 1024 * 1024,
        max_batch_observations: 100_000,
        ..Config::default()
    };
    let state = posture_collector::server::state(&config).await.unwrap();
    let store = state.store.clone();
    store
        .add_organisation("BENCH", "Benchmark trust", 0)
        .await
        .unwrap();
    store.add_domain("bench.test", "BENCH").await.unwrap();
    store
        .add_enrol_secret(&posture_collector::auth::hash("pe_bench"), "BENCH", 0)
        .await
        .unwrap();
    let token = "pt_bench";
    store
        .add_token(&posture_collector::auth::hash(token), &Role::National, 0)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server_config = config.clone();
    let server = tokio::spawn(async move {
        posture_collector::server::run(listener, &server_config, state, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let client = reqwest::Client::new();
    let enrolled: serde_json::Value = client
        .post(format!("{url}/api/v1/enroll"))
        .json(&serde_json::json!({"secret": "pe_bench", "name": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = enrolled["key"].as_str().unwrap().to_owned();

    // The batches, built before the clock starts.
    let [(weak, _), (good, _)] = posture_lab::load::examples();
    let mut bodies = Vec::new();
    let mut observations_total = 0;
    for chunk in (0..domains).collect::<Vec<_>>().chunks(batch) {
        let mut lines = String::new();
        for i in chunk {
            let domain = format!("d{i}.bench.test");
            let (template, from) = if i % 2 == 0 {
                (&weak, "weak-trust.example")
            } else {
                (&good, "good-trust.example")
            };
            for line in observations(template, from, &domain, "b") {
                lines.push_str(&line);
                lines.push('\n');
                observations_total += 1;
            }
        }
        bodies.push(gzip(&lines));
    }
    let batches = bodies.len();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies.into_iter().enumerate()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..posters {
        let (queue, client, url, key) = (queue.clone(), client.clone(), url.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut findings = 0u64;
            loop {
                let next = queue.lock().unwrap().next();
                let Some((n, body)) = next else { break };
                let r = client
                    .post(format!("{url}/api/v1/observations"))
                    .bearer_auth(&key)
                    .header("content-encoding", "gzip")
                    .header("idempotency-key", format!("batch-{n}"))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap());
                let outcome: serde_json::Value = r.json().await.unwrap();
                findings += outcome["findings"].as_u64().unwrap();
            }
            findings
        }));
    }
    let mut findings = 0;
    for t in tasks {
        findings += t.await.unwrap();
    }
    let took = started.elapsed();

    // Scores: the first request after ingestion rolls them up; the rest are served until the
    // next judgement.
    let mut times = Vec::new();
    let mut first_total = 0;
    for i in 0..requests {
        let level = if i % 2 == 0 { "domain" } else { "organisation" };
        let t = Instant::now();
        let r = client
            .get(format!("{url}/api/v1/scores?level={level}&per_page=100"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let page: serde_json::Value = r.json().await.unwrap();
        times.push(t.elapsed());
        if i == 0 {
            first_total = page["total"].as_u64().unwrap();
        }
    }
    let first = times[0];
    times.sort();
    let _ = stop.send(());
    server.await.unwrap();
    let backend = if database.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    println!(
        "collector benchmark on {backend}: {domains} domains, {observations_total} observations in {batches} batches of {batch} domains, {posters} posters"
    );
    println!(
        "ingestion: {findings} findings judged and stored in {:.2} s = {:.0} findings/s ({:.0} observations/s)",
        took.as_secs_f64(),
        findings as f64 / took.as_secs_f64(),
        observations_total as f64 / took.as_secs_f64()
    );
    println!(
        "scores ({first_total} domain scores): {requests} requests, first {:.1} ms, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        first.as_secs_f64() * 1000.0,
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.95).as_secs_f64() * 1000.0,
        times.last().unwrap().as_secs_f64() * 1000.0
    );
    if std::env::args().any(|a| a == "--keep") {
        println!("kept: {}", scratch.display());
    } else {
        let _ = std::fs::remove_dir_all(&scratch);
    }
}
