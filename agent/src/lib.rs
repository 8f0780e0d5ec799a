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
mod output;
pub mod probe;
pub mod runner;
pub mod target;

use std::io::Write;

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
    }
}
