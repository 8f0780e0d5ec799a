//! `explain [CHECK]`: what a check means, why, who mandates it and how to fix it.

use std::io::Write;

use posture_policies::rules::Kind;
use posture_policies::{Check, PolicySet};
use serde::Serialize;

use super::load_policies;
use crate::cli::{ExplainArgs, Format};
use crate::error::Result;
use crate::output::{Table, indent};
use posture_policies::model::Status;

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Tls => "TLS endpoints (HTTPS, SMTP STARTTLS, any TLS service)",
        Kind::Web => "websites (domains with the web role)",
        Kind::Dns => "domains (DNS and registration)",
        Kind::Mail => "domains' email",
    }
}

#[derive(Serialize)]
struct Explained<'a> {
    id: &'a str,
    title: &'a str,
    severity: String,
    applies_to: &'a str,
    roles: Vec<&'static str>,
    description: &'a str,
    why: &'a str,
    mandated_by: Vec<Mandate>,
    outcomes: Vec<ExplainedOutcome<'a>>,
    remediation: &'a str,
    references: &'a [String],
    defined_in: String,
}

#[derive(Serialize)]
struct Mandate {
    standard: String,
    title: String,
    url: Option<String>,
    severity: String,
}

#[derive(Serialize)]
struct ExplainedOutcome<'a> {
    status: Status,
    condition: &'a str,
    message: &'a str,
}

/// `explain [CHECK-ID]`.
pub fn explain(args: &ExplainArgs, out: &mut dyn Write) -> Result<()> {
    let set = load_policies(args.policy.policies.as_deref())?;
    let Some(id) = &args.check else {
        return list_checks(&set, args.standard.as_deref(), args.format, out);
    };
    let check = set.check(id)?;
    let explained = explained(&set, check);
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &explained).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{}: {}", check.id, check.title)?;
    writeln!(
        out,
        "Severity {}; applies to {}{}",
        check.severity,
        kind_name(check.applies_to),
        if check.roles.is_empty() {
            String::new()
        } else {
            format!(" with role {}", explained.roles.join(" or "))
        }
    )?;
    writeln!(out, "\nWhat it means\n{}", indent(&check.description, 2))?;
    writeln!(out, "\nWhy it matters\n{}", indent(&check.why, 2))?;
    writeln!(out, "\nMandated by")?;
    let mut t = Table::new(&["  STANDARD", "SEVERITY", "TITLE"]);
    for m in &explained.mandated_by {
        let title = match &m.url {
            Some(url) => format!("{} <{url}>", m.title),
            None => m.title.clone(),
        };
        t.row(vec![format!("  {}", m.standard), m.severity.clone(), title]);
    }
    write!(out, "{}", t.render())?;
    writeln!(
        out,
        "\nHow it is judged (the first outcome whose condition holds; otherwise pass)"
    )?;
    let mut t = Table::new(&["  STATUS", "CONDITION (CEL)"]);
    for o in &explained.outcomes {
        t.row(vec![format!("  {}", o.status), o.condition.to_owned()]);
    }
    t.row(vec!["  pass".into(), "otherwise".into()]);
    write!(out, "{}", t.render())?;
    writeln!(out, "\nHow to fix it\n{}", indent(&check.remediation, 2))?;
    writeln!(out, "\nReferences: {}", check.references.join("; "))?;
    writeln!(out, "Defined in {}", explained.defined_in)?;
    Ok(())
}

fn explained<'a>(set: &'a PolicySet, check: &'a Check) -> Explained<'a> {
    Explained {
        id: &check.id,
        title: &check.title,
        severity: check.severity.to_string(),
        applies_to: check.applies_to.as_str(),
        roles: check.roles.iter().map(|r| r.as_str()).collect(),
        description: check.description.trim(),
        why: check.why.trim(),
        mandated_by: set
            .mandated_by(&check.id)
            .into_iter()
            .map(|(s, sev)| Mandate {
                standard: s.id.clone(),
                title: s.title.clone(),
                url: s.url.clone(),
                severity: sev.to_string(),
            })
            .collect(),
        outcomes: check
            .outcomes()
            .map(|(status, condition, message)| ExplainedOutcome {
                status,
                condition,
                message,
            })
            .collect(),
        remediation: check.remediation.trim(),
        references: &check.references,
        defined_in: check.file.display().to_string(),
    }
}

/// Every check (or one standard's), grouped by the standards that mandate them, with the
/// severity each standard gives it.
fn list_checks(
    set: &PolicySet,
    standard: Option<&str>,
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    let standards: Vec<&posture_policies::Standard> = match standard {
        Some(id) => vec![set.standard(id)?],
        None => set.standards().iter().collect(),
    };
    if format == Format::Json {
        let all: Vec<Explained<'_>> = set
            .checks()
            .filter(|c| standards.iter().any(|s| s.checks.contains(&c.id)))
            .map(|c| explained(set, c))
            .collect();
        serde_json::to_writer_pretty(&mut *out, &all).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    for (i, s) in standards.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let url = s
            .url
            .as_deref()
            .map(|u| format!(" <{u}>"))
            .unwrap_or_default();
        writeln!(out, "{}: {}{url}", s.id, s.title)?;
        let mut t = Table::new(&["  CHECK", "SEVERITY", "TITLE"]);
        for id in &s.checks {
            let Ok(check) = set.check(id) else { continue };
            let severity = set
                .mandated_by(id)
                .iter()
                .find(|(m, _)| m.id == s.id)
                .map_or(check.severity, |(_, sev)| *sev);
            t.row(vec![
                format!("  {}", check.id),
                severity.to_string(),
                check.title.clone(),
            ]);
        }
        write!(out, "{}", t.render())?;
    }
    writeln!(
        out,
        "\n`posture-agent explain CHECK-ID` tells more about one check; `--standard NAME` (these \
         names) limits explain, scan and evaluate to one standard."
    )?;
    Ok(())
}
