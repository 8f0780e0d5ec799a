//! The subcommands' bodies. Each writes to the writer it is given, so tests capture output.
//!
//! `scan` reads its [`settings`] (command line over configuration file over defaults), runs
//! its plan through the [`crate::runner`] and hands the judged result to a renderer of
//! [`crate::output`]; `evaluate` judges a file the same way.

mod evaluate;
mod explain;
pub(crate) mod scan;
pub mod settings;

use std::io::Write;
use std::path::Path;

use posture_policies::PolicySet;

use crate::cli::Format;
use crate::error::{Error, Result};

pub use evaluate::{Evaluation, Summary, evaluate, read_observations, run_evaluation};
pub use explain::explain;
pub use scan::scan;
pub use settings::config_check;

/// Load the built-in standards or those in `dir`.
pub fn load_policies(dir: Option<&Path>) -> Result<PolicySet> {
    Ok(match dir {
        Some(dir) => PolicySet::load_dir(dir)?,
        None => PolicySet::builtin()?,
    })
}

/// Load the standards and check that `standard`, when given, is one of them.
fn policies_with(args: &crate::cli::PolicyArgs, standard: Option<&str>) -> Result<PolicySet> {
    let set = load_policies(args.policies.as_deref())?;
    if let Some(s) = standard {
        set.standard(s)?;
    }
    Ok(set)
}

/// `policy lint [DIR]`.
pub fn lint(dir: Option<&Path>, format: Format, out: &mut dyn Write) -> Result<()> {
    let shown = dir.map_or_else(
        || "built-in standards".to_owned(),
        |d| d.display().to_string(),
    );
    let set = load_policies(dir)?;
    let report = set.lint()?;
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Table => writeln!(
            out,
            "{shown}: OK: {} standards, {} checks, {} examples evaluated",
            report.standards, report.checks, report.examples
        )?,
    }
    Ok(())
}

fn seconds(name: &str, v: f64) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Error::Usage(format!("--{name} {v}: give a positive number of seconds")))
}

/// Read the file at `path` and parse it: a file that cannot be read is [`Error::NoInput`], one
/// that does not parse is [`Error::Data`], both naming the file.
fn read_and_parse<T>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| Error::NoInput {
        path: path.to_owned(),
        source,
    })?;
    parse(&bytes).map_err(|message| Error::Data {
        path: path.to_owned(),
        message,
    })
}

fn utf8(bytes: &[u8]) -> std::result::Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "not UTF-8 text".to_owned())
}
