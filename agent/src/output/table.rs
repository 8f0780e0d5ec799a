//! The findings and scores as tables for people.

use std::io::Write;

use posture_policies::model::{Finding, Status};

use super::{Style, Table, Term, score as fmt_score};
use crate::commands::Evaluation;
use crate::error::Result;

/// The findings as an aligned table (or "No problems found."). The checks of one target that
/// could not be tested for one reason (a probe that did not run) share one row.
fn findings_table(findings: &[&Finding], out: &mut Term<'_>) -> Result<()> {
    struct Row<'a> {
        first: &'a Finding,
        checks: usize,
        severity: posture_policies::model::Severity,
    }
    let mut rows: Vec<Row<'_>> = Vec::new();
    for f in findings {
        let shared = matches!(f.status, Status::Untestable | Status::Error);
        let same = |r: &Row<'_>| {
            shared
                && r.first.status == f.status
                && r.first.message == f.message
                && r.first.target == f.target
        };
        match rows.iter_mut().find(|r| same(r)) {
            Some(r) => {
                r.checks += 1;
                r.severity = r.severity.max(f.severity);
            }
            None => rows.push(Row {
                first: f,
                checks: 1,
                severity: f.severity,
            }),
        }
    }
    let mut t = Table::new(&["TARGET", "CHECK", "STATUS", "SEVERITY", "MESSAGE"]);
    for r in &rows {
        t.row(vec![
            r.first.target.to_string(),
            if r.checks == 1 {
                r.first.check.clone()
            } else {
                format!("{} checks", r.checks)
            },
            r.first.status.to_string(),
            r.severity.to_string(),
            r.first.message.clone(),
        ]);
    }
    if t.is_empty() {
        writeln!(out, "No problems found.")?;
    } else {
        // The STATUS column in colour.
        t.write_styled(out, |column, text| {
            (column == 2).then(|| Style::of(text)).flatten()
        })?;
    }
    Ok(())
}

fn status_rank(s: Status) -> u8 {
    match s {
        Status::Fail => 0,
        Status::Warn => 1,
        Status::Error => 2,
        Status::Untestable => 3,
        Status::Pass => 4,
        Status::NotApplicable => 5,
    }
}

/// The findings of `e` that need attention (every one with `all`), worst first: a scan's by
/// status, an evaluation's by domain and target first. Never "no problems" when nothing was
/// tested.
pub(super) fn print_findings(
    e: &Evaluation,
    scan_order: bool,
    all: bool,
    out: &mut Term<'_>,
) -> Result<()> {
    let mut shown: Vec<&Finding> = e
        .findings
        .iter()
        .filter(|f| all || !matches!(f.status, Status::Pass | Status::NotApplicable))
        .collect();
    let worst_first = |a: &&Finding, b: &&Finding| {
        status_rank(a.status)
            .cmp(&status_rank(b.status))
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| a.check.cmp(&b.check))
    };
    if scan_order {
        shown.sort_by(worst_first);
    } else {
        shown.sort_by(|a, b| {
            a.domain
                .cmp(&b.domain)
                .then_with(|| a.target.to_string().cmp(&b.target.to_string()))
                .then_with(|| worst_first(a, b))
        });
    }
    let passed = e.findings.iter().any(|f| f.status == Status::Pass);
    if shown.is_empty() && !passed {
        // Nothing failed because nothing was tested: never say "no problems" then.
        writeln!(
            out,
            "Nothing could be tested: no check gave a result for these targets (see each target's errors above)."
        )?;
        return Ok(());
    }
    findings_table(&shown, out)
}

/// The scores of an evaluation: per domain and standard, then per organisation.
pub(super) fn print_scores(e: &Evaluation, out: &mut Term<'_>) -> Result<()> {
    writeln!(
        out,
        "\nScores ({}, as of {})",
        e.method,
        e.scored_at.to_rfc3339()
    )?;
    let mut t = Table::new(&[
        "DOMAIN",
        "STANDARD",
        "SCORE",
        "COUNTED",
        "CRITICAL-FAILS",
        "NOTE",
    ]);
    for d in &e.domain_scores {
        let mut note = Vec::new();
        if d.hard_zero {
            note.push("hard zero".to_owned());
        }
        if d.excluded > 0 {
            note.push(format!("{} not scored (untestable/error/n.a.)", d.excluded));
        }
        if d.stale > 0 {
            note.push(format!("{} stale", d.stale));
        }
        t.row(vec![
            d.domain.clone(),
            d.standard.clone(),
            fmt_score(d.score),
            d.counted.to_string(),
            d.critical_failures.to_string(),
            note.join("; "),
        ]);
    }
    write!(out, "{}", t.render())?;
    if let Some(first) = e.organisation_scores.first() {
        writeln!(out, "\nOrganisation {}", first.organisation)?;
        let mut t = Table::new(&["STANDARD", "SCORE", "DOMAINS", "WITH-CRITICAL-FAILURE"]);
        for o in &e.organisation_scores {
            t.row(vec![
                o.standard.clone(),
                fmt_score(o.score),
                o.domains.to_string(),
                format!("{:.0}%", 100.0 * o.critical_share),
            ]);
        }
        write!(out, "{}", t.render())?;
    }
    Ok(())
}
