//! Machine formats of a scan's findings besides the table and the JSON report: NDJSON (one
//! finding document a line, for `jq` and log shippers), CSV (one finding a row, for
//! spreadsheets) and SARIF 2.1.0 (for code-scanning dashboards: a rule per check, a result per
//! failing or warning finding, located by its target).

use std::collections::BTreeSet;
use std::io::Write;

use posture_policies::PolicySet;
use posture_policies::model::{Finding, Severity, Status};
use serde_json::json;

/// The SARIF version written, and the schema it follows.
pub const SARIF_VERSION: &str = "2.1.0";
const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// One finding document per line.
pub fn ndjson(findings: &[Finding], out: &mut dyn Write) -> std::io::Result<()> {
    for f in findings {
        serde_json::to_writer(&mut *out, f).map_err(std::io::Error::from)?;
        writeln!(out)?;
    }
    Ok(())
}

/// One finding a row, RFC 4180 quoting.
pub fn csv(findings: &[Finding], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "target,domain,check,status,severity,title,message,standards,observed_at"
    )?;
    for f in findings {
        let cells = [
            f.target.to_string(),
            f.domain.clone(),
            f.check.clone(),
            f.status.to_string(),
            f.severity.to_string(),
            f.title.clone(),
            f.message.clone(),
            f.standards.join(" "),
            f.observed_at.to_rfc3339(),
        ];
        let row: Vec<String> = cells
            .iter()
            .map(|c| posture_policies::csv::field(c))
            .collect();
        writeln!(out, "{}", row.join(","))?;
    }
    Ok(())
}

/// SARIF's level for a finding: failures by severity, warnings as warnings.
fn level(f: &Finding) -> &'static str {
    match (f.status, f.severity) {
        (Status::Fail, Severity::Critical | Severity::High) => "error",
        (Status::Fail, Severity::Medium) | (Status::Warn, _) => "warning",
        _ => "note",
    }
}

/// The default SARIF level of a check of this severity.
fn default_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// A SARIF 2.1.0 log of one run: every check that gave a finding is a rule (its title, what it
/// means, why, and the fix); every failing or warning finding is a result at its target.
pub fn sarif(findings: &[Finding], set: &PolicySet) -> serde_json::Value {
    let ids: BTreeSet<&str> = findings.iter().map(|f| f.check.as_str()).collect();
    let ids: Vec<&str> = ids.into_iter().collect();
    let rules: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| match set.check(id) {
            Ok(c) => json!({
                "id": c.id,
                "name": c.id,
                "shortDescription": {"text": c.title},
                "fullDescription": {"text": c.description.trim()},
                "help": {"text": format!("{}\n\nWhy: {}\n\nFix:\n{}", c.description.trim(), c.why.trim(), c.remediation.trim())},
                "defaultConfiguration": {"level": default_level(c.severity)},
                "properties": {
                    "tags": set.mandated_by(id).iter().map(|(s, _)| s.id.clone()).collect::<Vec<_>>(),
                    "severity": c.severity.as_str(),
                },
            }),
            Err(_) => json!({"id": id}),
        })
        .collect();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Warn))
        .map(|f| {
            json!({
                "ruleId": f.check,
                "ruleIndex": ids.iter().position(|id| *id == f.check).unwrap_or(0),
                "level": level(f),
                "message": {"text": f.message},
                "locations": [{
                    "logicalLocations": [{
                        "fullyQualifiedName": f.target.to_string(),
                        "kind": "resource",
                    }],
                }],
                "properties": {
                    "domain": f.domain,
                    "severity": f.severity.as_str(),
                    "standards": f.standards,
                },
            })
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "posture",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
