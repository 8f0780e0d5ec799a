//! # posture-agent
//!
//! The agent that security teams run on their own networks. It scans TLS endpoints
//! ([`probe::tls`]), evaluates observations against the built-in standards, explains checks
//! and lints policy files. The network-facing code lives in [`probe`] and [`runner`]; the TLS
//! wire format in [`probe::tls::wire`] is sans-I/O.
//!
//! The binary is thin: [`run`] does the work and returns an error that carries its exit code,
//! so every command is testable in-process.

pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod output;
pub mod probe;
pub mod runner;
pub mod service;
pub mod target;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

pub use error::{Error, Result};

use crate::cli::{Cli, Command, ConfigCommand, PolicyCommand};

/// Run one command line, writing its output to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    match cli.command {
        Command::Policy(PolicyCommand::Lint { dir, format }) => {
            commands::lint(dir.as_deref(), format, out)
        }
        Command::Explain(args) => commands::explain(&args, out),
        Command::Evaluate(args) => commands::evaluate(&args, out),
        Command::Scan(args) => commands::scan(&args, out),
        Command::Config(ConfigCommand::Check { file }) => commands::config_check(&file, out),
        Command::Run(args) => service::run(&args),
        Command::Status(args) => service::status(&args, out),
    }
}

/// The whole `posture-agent` program: parse `args` (the program name first), run the command
/// with standard output, print any error on standard error and give the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's own help and version requests are successes.
            return if e.use_stderr() {
                ExitCode::from(64)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(cli, &mut out) {
        Ok(()) => {
            let _ = out.flush();
            ExitCode::SUCCESS
        }
        // A reader that stopped early (`| head`) is not an error worth reporting.
        Err(Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = out.flush();
            eprintln!("posture-agent: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
