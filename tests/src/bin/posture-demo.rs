//! `posture-demo`: starts a set of deliberately varied TLS servers, and two demo domains (their
//! DNS, websites, mail servers, MTA-STS policy and registry), on loopback in this process
//! (nothing to install), and scans them with `posture-agent scan`, printing the findings.
//!
//! Extra arguments go to `scan`, e.g. `cargo run -p posture-lab --bin posture-demo -- --format json`.
//!
//! `posture-demo --serve` (as root) scans nothing: it serves the demo domains (and their zones
//! on 127.0.0.36:53 too, for tools that cannot be given a port), prints one JSON line with the
//! `scan` arguments that reach them, then answers each line read on standard input with the
//! number of DNS requests its nameservers have been sent so far, until standard input ends
//! (scripts/lib/bench_domains.py drives it).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use posture_agent::cli::Cli;
use posture_lab::pki::{Pki, TempDir};
use posture_lab::servers::Running;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("posture-demo: {e}");
            return ExitCode::from(70);
        }
    };
    let pki = Pki::new();
    let dir = TempDir::new("demo");
    let root = dir.write("demo-root.pem", pki.root_pem());

    let servers: Vec<(&str, Running)> = runtime.block_on(posture_lab::demo::endpoints(&pki));
    let (domain_servers, domain_args) = runtime.block_on(posture_lab::demo::domains(&pki));
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        let port53 = runtime.block_on(posture_lab::dns::serve_on(
            ([127, 0, 0, 36], 53).into(),
            &posture_lab::demo::ZONES,
            false,
        ));
        let mut scan_args = vec!["--ca-file".to_owned(), root.display().to_string()];
        scan_args.extend(domain_args);
        println!(
            "{}",
            serde_json::json!({"scan_args": scan_args, "port_53": "127.0.0.36"})
        );
        for line in std::io::stdin().lines() {
            if line.is_err() {
                break;
            }
            println!(
                "{}",
                posture_lab::dns::QUERIES.load(std::sync::atomic::Ordering::SeqCst)
            );
        }
        drop((port53, servers, domain_servers));
        return ExitCode::SUCCESS;
    }

    // Each demo name is dialled at its loopback server, as `--connect-to` lets users do with
    // split DNS. The endpoint rules come first: the domains' catch-all rule is last.
    let mut args: Vec<String> = vec![
        "posture-agent".into(),
        "scan".into(),
        "--ca-file".into(),
        root.display().to_string(),
    ];
    for (url, server) in &servers {
        let host = url.split("://").nth(1).unwrap_or_default();
        let port = server.addr.port();
        args.push(format!("{url}:{port}"));
        args.push("--connect-to".into());
        args.push(format!("{host}:{port}:127.0.0.1:{port}"));
    }
    args.extend(domain_args);
    let extra: Vec<String> = std::env::args().skip(1).collect();
    // With no output options of the user's, the scan's report also goes to a file, which a
    // collector in this process (SQLite) then receives as an agent's batch.
    let report = dir.path().join("scan.json");
    let central = !extra
        .iter()
        .any(|a| a == "--format" || a == "-o" || a == "--output" || a.starts_with("--format="));
    if central {
        args.extend([
            "--format".into(),
            "json".into(),
            "-o".into(),
            report.display().to_string(),
        ]);
        args.extend(["--color".into(), "auto".into()]);
    }
    args.extend(extra);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(64);
        }
    };
    // On standard error, so that `--format json` output stays one JSON document.
    eprintln!(
        "posture demo: {} local TLS servers, each misconfigured in its own way, and two \
         domains (well-run.test, neglected.test) with their DNS, websites, mail \
         servers and registry, all on loopback\n",
        servers.len()
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = posture_agent::run(cli, &mut out);
    let _ = out.flush();
    if central
        && report.exists()
        && let Err(e) = runtime.block_on(collect(&report, &dir, &mut out))
    {
        eprintln!("posture-demo: the collector step failed: {e}");
        return ExitCode::from(70);
    }
    drop(servers);
    drop(domain_servers);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The demo's targets are misconfigured on purpose: failing findings are its result.
        Err(e @ (posture_agent::Error::Failing { .. } | posture_agent::Error::Unscanned(_))) => {
            eprintln!("posture-demo: {e} (as the demo's targets were built to)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("posture-demo: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// The collector's side of the demo: a collector in this process on SQLite (plain HTTP on
/// loopback), one organisation owning the demo's domains, an agent enrolled with its secret,
/// the scan's report posted as that agent's batch, and the scores the collector computes.
async fn collect(
    report: &std::path::Path,
    dir: &TempDir,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    let e = |e: posture_collector::Error| e.to_string();
    let collector = posture_lab::demo::LocalCollector::start(dir.path()).await?;
    let (store, url) = (collector.store.clone(), collector.url.clone());
    store
        .add_organisation("DEMO", "Demo trust", 0)
        .await
        .map_err(e)?;
    for d in ["demo.test", "well-run.test", "neglected.test"] {
        store.add_domain(d, "DEMO").await.map_err(e)?;
    }
    let secret = posture_collector::auth::new_secret("pe_");
    store
        .add_enrol_secret(&posture_collector::auth::hash(&secret), "DEMO", 0)
        .await
        .map_err(e)?;
    let token = posture_collector::auth::new_secret("pt_");
    store
        .add_token(
            &posture_collector::auth::hash(&token),
            &posture_collector::store::Role::National,
            0,
        )
        .await
        .map_err(e)?;
    let client = reqwest::Client::new();
    let enrolled: serde_json::Value = client
        .post(format!("{url}/api/v1/enroll"))
        .json(&serde_json::json!({"secret": secret, "name": "demo agent"}))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let key = enrolled["key"].as_str().unwrap_or_default().to_owned();
    let mut answer = Vec::new();
    posture_collector::admin::submit(
        posture_collector::cli::SubmitArgs {
            file: report.to_owned(),
            key,
            url: url.clone(),
            ca_file: None,
            idempotency_key: None,
        },
        &mut answer,
    )
    .await
    .map_err(e)?;
    let outcome: serde_json::Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
    let scores: serde_json::Value = client
        .get(format!("{url}/api/v1/scores?level=organisation"))
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let w = |e: std::io::Error| e.to_string();
    writeln!(
        out,
        "\nThe collector (SQLite, in this process, {url}) received the scan as organisation DEMO's agent: \
         {} observations accepted, {} findings judged centrally.\nOrganisation DEMO's scores:",
        outcome["accepted"], outcome["findings"]
    )
    .map_err(w)?;
    for s in scores["items"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  {:<14} {}",
            s["standard"].as_str().unwrap_or(""),
            s["score"]
                .as_f64()
                .map_or("-".to_owned(), |v| format!("{v:.1}"))
        )
        .map_err(w)?;
    }
    collector.stop().await
}
