//! `posture-demo`: starts a set of deliberately varied TLS servers on loopback, in this process
//! (nothing to install), and scans them with `posture-agent scan`, printing the findings.
//!
//! Extra arguments go to `scan`, e.g. `cargo run -p posture-lab --bin posture-demo -- --format json`.

use std::io::Write;
use std::process::ExitCode;

use chrono::{Duration, Utc};
use clap::Parser;
use posture_agent::cli::Cli;
use posture_lab::pki::{LeafSpec, Pki, TempDir};
use posture_lab::servers::{LegacyTls, Running, RustlsServer, RustlsVersions, Script, scripted};

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
    let now = Utc::now();
    let valid = |name: &str| LeafSpec::valid(&[name]);

    let servers: Vec<(&str, Running)> = runtime.block_on(async {
        let mut s = Vec::new();
        let good = pki.leaf(&valid("www.good.demo.test"));
        s.push((
            "https://www.good.demo.test",
            RustlsServer::new(&good)
                .ocsp(vec![0x30, 0x03, 0x0a, 0x01, 0x00])
                .start()
                .await,
        ));
        let only12 = pki.leaf(&valid("tls12-only.demo.test"));
        s.push((
            "https://tls12-only.demo.test",
            RustlsServer::new(&only12)
                .versions(RustlsVersions::Tls12)
                .start()
                .await,
        ));
        let expired = pki.leaf(&LeafSpec {
            not_before: now - Duration::days(120),
            not_after: now - Duration::days(3),
            ..valid("expired.demo.test")
        });
        s.push((
            "https://expired.demo.test",
            RustlsServer::new(&expired).start().await,
        ));
        let wrong = pki.leaf(&valid("someone-else.demo.test"));
        s.push((
            "https://wrong-name.demo.test",
            RustlsServer::new(&wrong).start().await,
        ));
        let selfsigned = pki.leaf(&LeafSpec {
            self_signed: true,
            ..valid("self-signed.demo.test")
        });
        s.push((
            "https://self-signed.demo.test",
            RustlsServer::new(&selfsigned).start().await,
        ));
        let chainless = pki.leaf(&valid("no-intermediate.demo.test"));
        s.push((
            "https://no-intermediate.demo.test",
            RustlsServer::new(&chainless)
                .without_intermediate()
                .start()
                .await,
        ));
        let legacy = pki.leaf(&valid("legacy.demo.test"));
        s.push((
            "tls://legacy.demo.test",
            scripted(Script::LegacyTls(LegacyTls {
                versions: vec![0x0301, 0x0302, 0x0303],
                // EXPORT RC4, static-RSA AES-CBC, 3DES.
                suites: vec![0x0003, 0x002f, 0x000a],
                compress: true,
                certificate: legacy.cert_der.clone(),
                heartbleed: false,
            }))
            .await,
        ));
        let v2 = pki.leaf(&valid("sslv2.demo.test"));
        s.push((
            "tls://sslv2.demo.test",
            scripted(Script::Sslv2 {
                certificate: v2.cert_der.clone(),
                kinds: vec![0x01_0080, 0x02_0080, 0x07_00c0],
            })
            .await,
        ));
        s
    });

    // Each demo name is dialled at its loopback server, as `--connect-to` lets users do with
    // split DNS.
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
    args.extend(std::env::args().skip(1));
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(64);
        }
    };
    println!(
        "posture demo: {} local TLS servers, each misconfigured in its own way\n",
        servers.len()
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = posture_agent::run(cli, &mut out);
    let _ = out.flush();
    drop(servers);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("posture-demo: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
