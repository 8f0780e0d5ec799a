//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// posture-agent: checks TLS, DNS, email and web configuration against the mandated standards.
///
/// The standards (NCSC, GOV.UK, NHS, Mozilla, CISA BOD 18-01 and the protocol RFCs) are
/// compiled in as policy files; `--policies DIR` uses another copy, for example one a national
/// team has tightened.
#[derive(Debug, Parser)]
#[command(
    name = "posture-agent",
    version,
    propagate_version = true,
    after_help = "Examples:\n  \
        posture-agent explain TLS-PROTO-LEGACY\n  \
        posture-agent evaluate examples/weak-domain.json\n  \
        posture-agent evaluate examples/weak-domain.json --standard NCSC-TLS --format json\n  \
        posture-agent policy lint policies/standards\n\n\
        Exit codes: 0 success, 1 problems found (lint), 64 bad usage, 65 bad input data, 66 input missing."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Explain a check: what it means, why it matters, which standards mandate it, how to fix it.
    ///
    /// Without a CHECK-ID, lists every check.
    Explain(ExplainArgs),
    /// Evaluate recorded observations offline and print findings and scores.
    ///
    /// The file is a posture/v1 observation set, as a scan writes it (see examples/). Checks
    /// are judged as of each observation's scan time unless --now says otherwise, so a recorded
    /// file gives the same findings whenever it is evaluated.
    Evaluate(EvaluateArgs),
}

/// `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy files: YAML shape, CEL expressions, references between standards, and that
    /// every example observation gives the status it claims. Exits 1 on any problem.
    Lint {
        /// The directory of standard files (*.yaml); the built-in standards when omitted.
        dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Options shared by commands that read policies.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Read standards from this directory instead of the built-in ones.
    #[arg(long, value_name = "DIR", global = true)]
    pub policies: Option<PathBuf>,
}

/// `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The check id, e.g. TLS-PROTO-LEGACY or MAIL-DMARC-POLICY (case-insensitive).
    #[arg(value_name = "CHECK-ID")]
    pub check: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Where the standards come from.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The observation set to evaluate (JSON, schema posture/v1); `-` reads standard input.
    #[arg(value_name = "OBSERVATIONS.json")]
    pub file: PathBuf,
    /// Only the checks and scores of this standard (e.g. NCSC-TLS, GOVUK-EMAIL).
    #[arg(long, value_name = "S")]
    pub standard: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Judge as of this time (RFC 3339) instead of each observation's scan time.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// The scan interval, for staleness: findings older than three intervals are not scored.
    /// Accepts s, m, h and d suffixes.
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub scan_interval: String,
    /// Show passing and not-applicable findings in the table too.
    #[arg(long)]
    pub all: bool,
    /// Where the standards come from.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Table,
    /// One JSON document.
    Json,
}
