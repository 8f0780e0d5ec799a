//! The crate's one error type.

use std::fmt;
use std::path::PathBuf;

/// Where in the policy files a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The policy file.
    pub file: PathBuf,
    /// The rule (check id), when the problem is inside one.
    pub rule: Option<String>,
    /// The key inside the rule or file (`when[1].if`, `params.hsts_min_max_age`).
    pub key: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(rule) = &self.rule {
            write!(f, ": rule {rule}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in the policy crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A policy file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A policy file is wrong: bad YAML, an unknown key, an expression that does not compile,
    /// an example that does not give the status it claims.
    #[error("{location}: {message}")]
    Policy {
        /// Where.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// Several problems, all reported at once so a policy author fixes them in one pass.
    #[error("{}", display_many(.0))]
    Many(Vec<Error>),
    /// An observation or finding file is not valid `posture/v1` JSON.
    #[error("{path}: {message}")]
    Input {
        /// The file (or `-`).
        path: PathBuf,
        /// What is wrong, with line and column where serde gives them.
        message: String,
    },
    /// A check id or standard that no policy file defines.
    #[error("unknown {what} {name:?}{}", suggestion(.suggestions))]
    Unknown {
        /// `check` or `standard`.
        what: &'static str,
        /// The name asked for.
        name: String,
        /// Close names that do exist.
        suggestions: Vec<String>,
    },
}

fn display_many(errors: &[Error]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("{} problems:\n  {}", errors.len(), lines.join("\n  "))
}

fn suggestion(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", names.join(" or "))
    }
}

impl Error {
    /// A problem in a policy file.
    pub fn policy(
        file: impl Into<PathBuf>,
        rule: Option<&str>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Error::Policy {
            location: Location {
                file: file.into(),
                rule: rule.map(str::to_owned),
                key: key.map(str::to_owned),
            },
            message: message.into(),
        }
    }

    /// Each single error inside this one (itself when it is not [`Error::Many`]).
    pub fn flatten(&self) -> Vec<&Error> {
        match self {
            Error::Many(all) => all.iter().flat_map(Error::flatten).collect(),
            other => vec![other],
        }
    }

    /// Collapse a list of errors: `Ok` when empty, the error itself when one.
    pub fn from_list(mut errors: Vec<Error>) -> Result<(), Error> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Many(errors)),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
