//! # posture-collector
//!
//! The national collector: agents send it what they observed ([`api`]); it keeps every
//! observation ([`store`], SQLite by default, PostgreSQL for a national deployment), judges
//! each against its own policy set with the [`posture_policies`] crate the agent uses
//! ([`judge`]), computes scores per domain, organisation, standard and nationally, and exposes
//! them over the API and as Prometheus metrics ([`metrics`]).
//!
//! The binary is thin: [`run`] does the work and returns an error that carries its exit code.

pub mod admin;
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod judge;
pub mod metrics;
pub mod notify;
pub mod server;
pub mod store;
pub mod web;

use std::io::Write;

pub use error::{Error, Result};

/// The scoring method the collector publishes, re-exported so dashboards and the agent agree.
pub const SCORE_METHOD: &str = posture_policies::score::METHOD_VERSION;

/// The exit code for an error (sysexits).
pub fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Config(_) | Error::NotFound(_) | Error::Conflict(_) => 64,
        Error::BadInput(_) | Error::Corrupt(_) => 65,
        Error::Io(_) => 66,
        Error::Database(_) | Error::Remote(_) => 69,
        // EX_NOPERM for a key the collector refused, EX_DATAERR for a batch it refused.
        Error::Rejected {
            status: 401 | 403, ..
        } => 77,
        Error::Rejected { status, .. } if (400..500).contains(status) => 65,
        Error::Rejected { .. } => 69,
        _ => 1,
    }
}

/// The program: parse `args`, run the command on a new runtime, and turn its error into an
/// exit code with one line on standard error.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> std::process::ExitCode {
    use clap::Parser;
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { 64 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("posture-collector: {e}");
            return std::process::ExitCode::from(71);
        }
    };
    let mut out = std::io::stdout();
    match runtime.block_on(run(cli, &mut out)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("posture-collector: {e}");
            std::process::ExitCode::from(exit_code(&e))
        }
    }
}

/// Run one command line.
pub async fn run(cli: cli::Cli, out: &mut dyn Write) -> Result<()> {
    use cli::Command;
    match cli.command {
        Command::Serve(c) => serve(&c.config).await,
        Command::Org(c) => admin::org(c, out).await,
        Command::Domain(c) => admin::domain(c, out).await,
        Command::Endpoint(c) => admin::endpoint(c, out).await,
        Command::Contact(c) => admin::contact(c, out).await,
        Command::EnrolSecret(c) => admin::enrol_secret(c, out).await,
        Command::Token(c) => admin::token(c, out).await,
        Command::Agent(c) => admin::agent(c, out).await,
        Command::Submit(a) => admin::submit(a, out).await,
    }
}

/// `serve`: load and check the configuration before binding, then serve until SIGTERM or
/// Ctrl-C.
async fn serve(path: &std::path::Path) -> Result<()> {
    let config = config::Config::load(path)?;
    init_logs(&config);
    let state = server::state(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(Error::Io)?;
    let scheme = match config.transport {
        config::Transport::Tls { .. } => "https",
        config::Transport::Plain => "http",
    };
    tracing::info!(address = %listener.local_addr().map_err(Error::Io)?, scheme, "serving");
    // The lab and scripts read the bound address from standard error.
    eprintln!(
        "posture-collector: listening on {scheme}://{}",
        listener.local_addr().map_err(Error::Io)?
    );
    server::run(listener, &config, state, shutdown_signal()).await
}

fn init_logs(config: &config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log_json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
