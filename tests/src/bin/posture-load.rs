//! `posture-load`: N simulated agents against one collector, all at once, on loopback only. The
//! collector runs as its own process (`posture-collector-lab serve`, plain HTTP on 127.0.0.1,
//! SQLite in a scratch directory or `--database postgres://...`), so its memory is its own.
//! Each agent enrols with its organisation's secret, sends a heartbeat, then posts `--batches`
//! batches of its domain's observations (gzip JSON lines, an idempotency key each), waiting and
//! sending again when told 503 or 429 (Retry-After), as the agent's uplink does.
//!
//! It prints accepted observations and findings per second, POST latency percentiles, the
//! waits it was told to make, errors and the collector's peak memory, and exits 1 if any agent
//! failed or anything was not accepted exactly once. Bounded: `--max-seconds` (default 600).
//!
//! With `--kill-after S` the collector is killed (SIGKILL) S seconds in and started again on the
//! same port and database: agents keep retrying (connection errors too, as the agent's uplink
//! does), and the run passes only if every observation is stored exactly once.
//!
//! Usage: posture-load [--agents N] [--batches B] [--database URL] [--max-seconds S]
//!        [--kill-after S]

#![allow(clippy::unwrap_used)]

use std::io::BufRead;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use posture_collector::auth::hash;
use posture_collector::store::{Role, Store};
use posture_lab::load::{arg, examples, gzip, observations, percentile};
use tokio::time::Instant;

/// Organisations the agents belong to.
const ORGANISATIONS: usize = 10;

/// What one agent did.
#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    accepted: u64,
    duplicates: u64,
    findings: u64,
    waits: u64,
    error: Option<String>,
}

/// POST `body` to `url` until it is not 503 or 429 (waiting as told); the answer.
async fn send(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: reqwest::Body,
    headers: &[(&str, String)],
    out: &mut Outcome,
) -> Result<serde_json::Value, String> {
    let bytes = body.as_bytes().map(<[u8]>::to_vec).unwrap_or_default();
    for _ in 0..1000 {
        let mut r = client.post(url).body(bytes.clone());
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        let started = Instant::now();
        let answer = match r.send().await {
            Ok(a) => a,
            Err(e) if e.is_connect() || e.is_request() => {
                // The collector is away (restarting): come back, as the agent does.
                out.waits += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => return Err(format!("{url}: {e}")),
        };
        out.latencies.push(started.elapsed());
        let status = answer.status().as_u16();
        if status == 503 || status == 429 {
            let wait: u64 = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            out.waits += 1;
            // Jitter, as agents spread themselves.
            let jitter = rand_ms(&bytes, out.waits) % 1000;
            tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(jitter)).await;
            continue;
        }
        let text = answer.text().await.map_err(|e| e.to_string())?;
        if !(200..300).contains(&status) {
            return Err(format!("{url}: {status} {text}"));
        }
        return Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null));
    }
    Err(format!("{url}: still refused after 1000 tries"))
}

/// A cheap spread from the body and the attempt, for jitter.
fn rand_ms(bytes: &[u8], n: u64) -> u64 {
    bytes
        .iter()
        .take(64)
        .fold(n.wrapping_mul(2_654_435_761), |h, b| {
            h.rotate_left(5) ^ u64::from(*b)
        })
}

async fn agent(
    i: usize,
    batches: usize,
    url: Arc<String>,
    client: reqwest::Client,
    templates: Arc<[(String, &'static str); 2]>,
) -> Outcome {
    let mut out = Outcome::default();
    let org = i % ORGANISATIONS;
    let domain = format!("a{i}.load.test");
    let run = async {
        let enrolled = send(
            &client,
            &format!("{url}/api/v1/enroll"),
            None,
            serde_json::json!({"secret": format!("pe_load_{org}"), "name": format!("agent {i}")})
                .to_string()
                .into(),
            &[("content-type", "application/json".into())],
            &mut out,
        )
        .await?;
        let key = enrolled["key"].as_str().ok_or("no key")?.to_owned();
        send(
            &client,
            &format!("{url}/api/v1/heartbeat"),
            Some(&key),
            r#"{"version":"load"}"#.into(),
            &[("content-type", "application/json".into())],
            &mut out,
        )
        .await?;
        let (template, from) = &templates[i % 2];
        for b in 0..batches {
            let lines = observations(template, from, &domain, &format!("l{b}")).join("\n");
            let answer = send(
                &client,
                &format!("{url}/api/v1/observations"),
                Some(&key),
                gzip(&lines).into(),
                &[
                    ("content-encoding", "gzip".into()),
                    ("content-type", "application/x-ndjson".into()),
                    ("idempotency-key", format!("{domain}-{b}")),
                ],
                &mut out,
            )
            .await?;
            out.accepted += answer["accepted"].as_u64().unwrap_or(0);
            out.duplicates += answer["duplicates"].as_u64().unwrap_or(0);
            out.findings += answer["findings"].as_u64().unwrap_or(0);
        }
        Ok::<(), String>(())
    };
    if let Err(e) = run.await {
        out.error = Some(e);
    }
    out
}

/// Organisations, their agents' domains and enrolment secrets, and a national token, written
/// to the store before the collector starts.
async fn prepare(database: &str, agents: usize) {
    let store = Store::connect(database, 2).await.unwrap();
    for o in 0..ORGANISATIONS {
        let code = format!("L{o:02}");
        store
            .add_organisation(&code, &format!("Load trust {o}"), 0)
            .await
            .unwrap();
        store
            .add_enrol_secret(&hash(&format!("pe_load_{o}")), &code, 0)
            .await
            .unwrap();
    }
    for i in 0..agents {
        store
            .add_domain(
                &format!("a{i}.load.test"),
                &format!("L{:02}", i % ORGANISATIONS),
            )
            .await
            .unwrap();
    }
    store
        .add_token(&hash("pt_load"), &Role::National, 0)
        .await
        .unwrap();
}

/// `posture-collector-lab serve --config CONFIG`, once it listens.
fn serve(config: &std::path::Path) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe.with_file_name("posture-collector-lab"))
        .args(["serve", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("posture-collector-lab beside posture-load (cargo build -p posture-lab --bins)");
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .expect("the collector said where it listens")
            .unwrap();
        if line.starts_with("posture-collector: listening on") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    child
}

/// The collector's peak resident memory (VmHWM), KiB.
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let agents: usize = arg("--agents", "1000").parse().unwrap();
    let batches: usize = arg("--batches", "3").parse().unwrap();
    let max_seconds: u64 = arg("--max-seconds", "600").parse().unwrap();
    let scratch = std::env::temp_dir().join(format!("posture-load-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let database = arg(
        "--database",
        &format!("sqlite://{}", scratch.join("load.db").display()),
    );
    prepare(&database, agents).await;
    let config = scratch.join("collector.toml");
    let port = posture_lab::servers::free_port();
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nplain_http = true\nenrol_per_minute = 1000000\n[database]\nurl = \"{database}\"\n[log]\nlevel = \"warn\"\n"
        ),
    )
    .unwrap();
    let collector = Arc::new(std::sync::Mutex::new(serve(&config)));
    let kill_after: Option<u64> = arg("--kill-after", "").parse().ok();
    let restarts = kill_after.map(|after| {
        let (collector, config) = (collector.clone(), config.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(after)).await;
            let mut c = collector.lock().unwrap();
            let _ = c.kill();
            let _ = c.wait();
            *c = serve(&config);
            println!("collector killed at {after} s and started again");
        })
    });
    let url = Arc::new(format!("http://127.0.0.1:{port}"));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let templates = Arc::new(examples());
    let started = Instant::now();
    let tasks: Vec<_> = (0..agents)
        .map(|i| {
            tokio::spawn(agent(
                i,
                batches,
                url.clone(),
                client.clone(),
                templates.clone(),
            ))
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(max_seconds), async {
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap_or_default());
        }
        outcomes
    })
    .await;
    let took = started.elapsed();
    if let Some(r) = restarts {
        let _ = r.await;
    }
    let peak = {
        let mut c = collector.lock().unwrap();
        let peak = peak_kib(c.id());
        let _ = c.kill();
        let _ = c.wait();
        peak
    };
    let stored = Store::connect(&database, 1)
        .await
        .map(|s| async move { s.counts().await.map(|c| c.0).unwrap_or(-1) });
    let stored = match stored {
        Ok(f) => f.await,
        Err(_) => -1,
    };
    let Ok(outcomes) = all else {
        eprintln!("posture-load: not finished within {max_seconds} s");
        return ExitCode::FAILURE;
    };
    let run = Run {
        agents,
        batches,
        took,
        stored,
        peak_kib: peak,
        backend: if database.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
    };
    let passed = summarise(&outcomes, &run, kill_after.is_some());
    let _ = std::fs::remove_dir_all(&scratch);
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What a run was, for its summary.
struct Run {
    agents: usize,
    batches: usize,
    took: Duration,
    stored: i64,
    peak_kib: u64,
    backend: &'static str,
}

/// Print the run's figures; whether it passed: no agent failed and the store holds every
/// observation exactly once (and, without a restart, every batch was accepted on its first
/// answer).
fn summarise(outcomes: &[Outcome], run: &Run, restarted: bool) -> bool {
    let Run {
        agents,
        batches,
        took,
        stored,
        peak_kib: peak,
        backend,
    } = *run;
    let mut latencies: Vec<Duration> = outcomes.iter().flat_map(|o| o.latencies.clone()).collect();
    latencies.sort();
    let accepted: u64 = outcomes.iter().map(|o| o.accepted).sum();
    let duplicates: u64 = outcomes.iter().map(|o| o.duplicates).sum();
    let findings: u64 = outcomes.iter().map(|o| o.findings).sum();
    let waits: u64 = outcomes.iter().map(|o| o.waits).sum();
    let errors: Vec<&String> = outcomes.iter().filter_map(|o| o.error.as_ref()).collect();
    let expected = (agents * batches * 4) as u64;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "posture-load on {backend}: {agents} agents at once, {batches} batches of 4 observations each, in {:.1} s",
        took.as_secs_f64()
    );
    println!(
        "stored {stored} of {expected} observations; answers: {accepted} accepted, {duplicates} already stored (a batch sent again after its answer was lost)"
    );
    println!(
        "accepted {accepted} of {expected} observations ({:.0}/s), {findings} findings ({:.0}/s)",
        accepted as f64 / took.as_secs_f64(),
        findings as f64 / took.as_secs_f64()
    );
    println!(
        "requests {}: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms; told to wait (503/429) {waits} times",
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.95)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default())
    );
    println!(
        "errors: {}; collector peak memory {} MiB",
        errors.len(),
        peak / 1024
    );
    for e in errors.iter().take(5) {
        println!("  {e}");
    }
    let exactly_once = stored == expected as i64 && accepted + duplicates >= expected;
    errors.is_empty() && exactly_once && (restarted || accepted == expected)
}
