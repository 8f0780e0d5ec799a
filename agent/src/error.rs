//! The agent library's error type.

use std::path::PathBuf;

/// What can go wrong in an agent command. Each variant maps to one exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line asks for something impossible (exit 64).
    #[error("{0}")]
    Usage(String),
    /// An input file is missing or unreadable (exit 66).
    #[error("{path}: {source}")]
    NoInput {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An output file cannot be created or written (exit 73, EX_CANTCREAT).
    #[error("{path}: cannot write: {source}")]
    CantCreate {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An input file's content is wrong (exit 65).
    #[error("{path}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// The configuration file is wrong (exit 64): the error names the file and the key.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Policy files are wrong, or a check or standard is unknown (exit 1 for lint problems,
    /// 64 for an unknown name).
    #[error(transparent)]
    Policy(#[from] posture_policies::Error),
    /// Writing the output failed (exit 74).
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// The scan finished and findings at or above `--fail-on` failed (exit 1).
    #[error("{count} finding(s) at or above {severity} failed (--fail-on {severity})")]
    Failing {
        /// How many.
        count: usize,
        /// The `--fail-on` severity.
        severity: &'static str,
    },
    /// The service cannot go on: its state directory cannot be used (exit 69,
    /// EX_UNAVAILABLE).
    #[error("{0}")]
    Unavailable(String),
    /// The user interrupted the scan (Ctrl-C) after what finished was reported (exit 130, as a
    /// shell reports SIGINT).
    #[error("interrupted")]
    Interrupted,
    /// The scan finished, nothing at or above `--fail-on` failed, but some targets could not
    /// be scanned at all (exit 2).
    #[error("could not scan {}", .0.join(", "))]
    Unscanned(Vec<String>),
}

impl Error {
    /// The exit code, following BSD sysexits where one fits.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Config(_) => 64,
            Error::Data { .. } => 65,
            Error::NoInput { .. } => 66,
            Error::CantCreate { .. } => 73,
            Error::Policy(posture_policies::Error::Unknown { .. }) => 64,
            Error::Policy(posture_policies::Error::Io { .. }) => 66,
            Error::Policy(_) => 1,
            Error::Output(_) => 74,
            Error::Failing { .. } => 1,
            Error::Unscanned(_) => 2,
            Error::Interrupted => 130,
            Error::Unavailable(_) => 69,
        }
    }
}

/// The agent library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
