//! The renderers of a judged scan or evaluation, behind one interface: table, JSON, NDJSON,
//! CSV and SARIF. `scan` and `evaluate` both pick one with [`renderer`].

use std::io::Write;

use posture_policies::PolicySet;
use posture_policies::model::{Finding, Observation};
use serde::Serialize;

use super::Term;
use crate::cli::ScanFormat;
use crate::commands::{Evaluation, Summary};
use crate::error::Result;

/// What every renderer is given.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// The observations judged, when the report is a scan's: the table prints what was
    /// found on each target before the findings, and the JSON document holds them.
    pub observations: Option<&'a [Observation]>,
    /// The findings and scores.
    pub evaluation: &'a Evaluation,
    /// The standards that judged them (for SARIF's rules).
    pub set: &'a PolicySet,
}

/// How much the table shows, and how.
#[derive(Debug, Clone, Copy, Default)]
pub struct View {
    /// Passing and not-applicable findings too.
    pub all: bool,
    /// No per-target facts before the findings.
    pub quiet: bool,
    /// ANSI colour (on a terminal, unless `NO_COLOR`).
    pub colour: bool,
}

/// A way of writing a report.
pub trait Render {
    /// Write `report` to `out`.
    fn render(&self, report: &Report<'_>, out: &mut dyn Write) -> Result<()>;
}

/// The renderer of `format`.
pub fn renderer(format: ScanFormat, view: View) -> Box<dyn Render> {
    match format {
        ScanFormat::Table => Box::new(TableRenderer(view)),
        ScanFormat::Json => Box::new(JsonRenderer),
        ScanFormat::Ndjson => Box::new(NdjsonRenderer),
        ScanFormat::Csv => Box::new(CsvRenderer),
        ScanFormat::Sarif => Box::new(SarifRenderer),
    }
}

/// What `scan --format json` prints: the observations with their findings and summary
/// (`evaluate` reads it back).
#[derive(Debug, Serialize)]
struct ScanDocument<'a> {
    /// Always `posture/v1`.
    schema: &'static str,
    observations: &'a [Observation],
    findings: &'a [Finding],
    summary: &'a Summary,
}

struct JsonRenderer;

impl Render for JsonRenderer {
    fn render(&self, report: &Report<'_>, out: &mut dyn Write) -> Result<()> {
        let e = report.evaluation;
        let written = match report.observations {
            Some(observations) => serde_json::to_writer_pretty(
                &mut *out,
                &ScanDocument {
                    schema: posture_policies::model::SCHEMA,
                    observations,
                    findings: &e.findings,
                    summary: &e.summary,
                },
            ),
            None => serde_json::to_writer_pretty(&mut *out, e),
        };
        written.map_err(std::io::Error::from)?;
        writeln!(out)?;
        Ok(())
    }
}

struct NdjsonRenderer;

impl Render for NdjsonRenderer {
    fn render(&self, report: &Report<'_>, out: &mut dyn Write) -> Result<()> {
        Ok(super::formats::ndjson(&report.evaluation.findings, out)?)
    }
}

struct CsvRenderer;

impl Render for CsvRenderer {
    fn render(&self, report: &Report<'_>, out: &mut dyn Write) -> Result<()> {
        Ok(super::formats::csv(&report.evaluation.findings, out)?)
    }
}

struct SarifRenderer;

impl Render for SarifRenderer {
    fn render(&self, report: &Report<'_>, out: &mut dyn Write) -> Result<()> {
        let log = super::formats::sarif(&report.evaluation.findings, report.set);
        serde_json::to_writer_pretty(&mut *out, &log).map_err(std::io::Error::from)?;
        writeln!(out)?;
        Ok(())
    }
}

/// The table for people: each scanned target's facts (unless quiet), the findings that need
/// attention (all with `--all`), the one summary line, and the scores.
struct TableRenderer(View);

impl Render for TableRenderer {
    fn render(&self, report: &Report<'_>, out: &mut dyn Write) -> Result<()> {
        let view = self.0;
        let e = report.evaluation;
        let out = &mut Term::new(out, view.colour);
        if let (Some(observations), false) = (report.observations, view.quiet) {
            for o in observations {
                super::summary::print_target(o, &e.findings, out)?;
            }
        }
        super::table::print_findings(e, report.observations.is_some(), view.all, out)?;
        writeln!(out, "\n{}", e.summary.line())?;
        if !view.all {
            writeln!(
                out,
                "(passing and not-applicable findings hidden; --all shows them, `explain CHECK` explains one)"
            )?;
        }
        if !e.domain_scores.is_empty() {
            super::table::print_scores(e, out)?;
        }
        Ok(())
    }
}
