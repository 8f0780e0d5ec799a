//! The subcommands' bodies. Each writes to the writer it is given, so tests capture output.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use posture_policies::model::{Finding, ObservationSet, Status};
use posture_policies::rules::Kind;
use posture_policies::score::{
    self, DomainScore, NationalScore, OrganisationScore, ScoreContext, Weights,
};
use posture_policies::{Check, PolicySet};
use serde::Serialize;

use crate::cli::{EvaluateArgs, ExplainArgs, Format, ScanArgs, ScanFormat};
use crate::error::{Error, Result};
use crate::output::{Table, indent, score as fmt_score};

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

/// What `evaluate --format json` prints.
#[derive(Debug, Serialize)]
pub struct Evaluation {
    /// Always `posture/v1`.
    pub schema: &'static str,
    /// The scoring method version.
    pub method: &'static str,
    /// The time scores are computed for.
    pub scored_at: DateTime<Utc>,
    /// Every finding.
    pub findings: Vec<Finding>,
    /// Per domain and standard.
    pub domain_scores: Vec<DomainScore>,
    /// Per organisation and standard.
    pub organisation_scores: Vec<OrganisationScore>,
    /// Per standard, over organisations.
    pub national_scores: Vec<NationalScore>,
    /// Counts by status and failing severity.
    pub summary: Summary,
}

/// How many findings ended in each status, and how many failures of each severity: the one
/// summary that scan and evaluate print, in the table and in JSON.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// All findings.
    pub findings: usize,
    /// Findings by status (`not_applicable` included).
    pub by_status: BTreeMap<String, usize>,
    /// Failing findings by severity.
    pub failing_by_severity: BTreeMap<String, usize>,
}

impl Summary {
    /// Count `findings`.
    pub fn of(findings: &[Finding]) -> Summary {
        let mut s = Summary {
            findings: findings.len(),
            ..Summary::default()
        };
        for f in findings {
            *s.by_status.entry(f.status.to_string()).or_default() += 1;
            if f.status == Status::Fail {
                *s.failing_by_severity
                    .entry(f.severity.to_string())
                    .or_default() += 1;
            }
        }
        s
    }

    /// One line for people: `12 findings: 3 fail (1 critical, 2 high), 1 warn, 8 pass`.
    pub fn line(&self) -> String {
        let order = [
            Status::Fail,
            Status::Warn,
            Status::Error,
            Status::Untestable,
            Status::Pass,
            Status::NotApplicable,
        ];
        let mut parts = Vec::new();
        for status in order {
            let Some(n) = self.by_status.get(&status.to_string()) else {
                continue;
            };
            let mut part = format!("{n} {status}");
            if status == Status::Fail {
                let severities: Vec<String> = ["critical", "high", "medium", "low", "info"]
                    .iter()
                    .filter_map(|sev| {
                        self.failing_by_severity
                            .get(*sev)
                            .map(|n| format!("{n} {sev}"))
                    })
                    .collect();
                part.push_str(&format!(" ({})", severities.join(", ")));
            }
            parts.push(part);
        }
        if parts.is_empty() {
            return format!("{} findings", self.findings);
        }
        format!("{} findings: {}", self.findings, parts.join(", "))
    }
}

/// `evaluate FILE`.
pub fn evaluate(args: &EvaluateArgs, out: &mut dyn Write) -> Result<()> {
    let set = policies_with(&args.policy, args.standard.as_deref())?;
    let now = args
        .now
        .as_deref()
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| Error::Usage(format!("--now {t:?}: not an RFC 3339 time ({e})")))
        })
        .transpose()?;
    let interval = parse_duration(&args.scan_interval).ok_or_else(|| {
        Error::Usage(format!(
            "--scan-interval {:?}: use e.g. 3600s, 30m, 24h or 7d",
            args.scan_interval
        ))
    })?;
    let observations = read_observations(&args.file)?;
    let evaluation = run_evaluation(&set, &observations, now, interval, args.standard.as_deref());
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &evaluation).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Table => print_evaluation(
            &evaluation,
            args.all,
            &mut crate::output::EscapingWriter::new(out),
        )?,
    }
    Ok(())
}

/// Evaluate and score: the whole of `evaluate` but the printing.
pub fn run_evaluation(
    set: &PolicySet,
    observations: &ObservationSet,
    now: Option<DateTime<Utc>>,
    scan_interval: Duration,
    standard: Option<&str>,
) -> Evaluation {
    let findings = set.evaluate_set(observations, now, standard);
    let scored_at = now
        .or_else(|| findings.iter().map(|f| f.observed_at).max())
        .or_else(|| {
            observations
                .observations
                .iter()
                .map(|o| o.scan.finished)
                .max()
        })
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let ctx = ScoreContext {
        now: scored_at,
        scan_interval,
    };
    let weights: BTreeMap<String, Weights> = set
        .standards()
        .iter()
        .map(|s| (s.id.clone(), s.weights))
        .collect();
    let organisation = observations
        .organisation
        .clone()
        .unwrap_or_else(|| "(unassigned)".to_owned());
    let wanted = |s: &str| standard.is_none_or(|w| s.eq_ignore_ascii_case(w));
    let mut scores = score::score_all(&findings, |_| organisation.clone(), &weights, &ctx);
    scores.domains.retain(|d| wanted(&d.standard));
    scores.organisations.retain(|o| wanted(&o.standard));
    scores.national.retain(|n| wanted(&n.standard));
    let score::Scores {
        domains: domain_scores,
        organisations: organisation_scores,
        national: national_scores,
    } = scores;
    Evaluation {
        schema: posture_policies::model::SCHEMA,
        method: score::METHOD_VERSION,
        scored_at,
        summary: Summary::of(&findings),
        findings,
        domain_scores,
        organisation_scores,
        national_scores,
    }
}

/// The findings as an aligned table (or "No problems found."). The checks of one target that
/// could not be tested for one reason (a probe that did not run) share one row.
fn findings_table(findings: &[&Finding], out: &mut dyn Write) -> Result<()> {
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
        write!(out, "{}", t.render())?;
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

fn print_evaluation(e: &Evaluation, all: bool, out: &mut dyn Write) -> Result<()> {
    let mut findings: Vec<&Finding> = e.findings.iter().collect();
    findings.sort_by(|a, b| {
        a.domain
            .cmp(&b.domain)
            .then_with(|| a.target.to_string().cmp(&b.target.to_string()))
            .then_with(|| status_rank(a.status).cmp(&status_rank(b.status)))
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| a.check.cmp(&b.check))
    });
    let shown: Vec<&Finding> = findings
        .iter()
        .copied()
        .filter(|f| all || !matches!(f.status, Status::Pass | Status::NotApplicable))
        .collect();
    findings_table(&shown, out)?;
    writeln!(out, "\n{}", e.summary.line())?;
    if !all {
        writeln!(
            out,
            "(passing and not-applicable findings hidden; --all shows them, `explain CHECK` explains one)"
        )?;
    }

    print_scores(e, out)
}

/// The scores of an evaluation: per domain and standard, then per organisation.
fn print_scores(e: &Evaluation, out: &mut dyn Write) -> Result<()> {
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

/// Read an observation set from a file or `-` (standard input).
pub fn read_observations(path: &Path) -> Result<ObservationSet> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|source| Error::NoInput {
                path: path.to_owned(),
                source,
            })?;
        s
    } else {
        let bytes = std::fs::read(path).map_err(|source| Error::NoInput {
            path: path.to_owned(),
            source,
        })?;
        String::from_utf8(bytes).map_err(|e| Error::Data {
            path: path.to_owned(),
            message: format!(
                "not text (invalid UTF-8 at byte {}): a posture/v1 observation set is JSON",
                e.utf8_error().valid_up_to()
            ),
        })?
    };
    /// An observation set, or what `scan --format json` prints (the same, with the findings,
    /// summary and anything else a newer agent adds beside it: readers tolerate unknown
    /// fields, and findings are judged anew).
    #[derive(serde::Deserialize)]
    struct Input {
        schema: posture_policies::model::Schema,
        #[serde(default)]
        organisation: Option<String>,
        observations: Vec<posture_policies::model::Observation>,
    }
    let input: Input = serde_json::from_str(&text).map_err(|e| Error::Data {
        path: path.to_owned(),
        message: format!("not a posture/v1 observation set: {e}"),
    })?;
    Ok(ObservationSet {
        schema: input.schema,
        organisation: input.organisation,
        observations: input.observations,
    })
}

/// `90s`, `30m`, `24h`, `7d`, or bare seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: i64 = number.parse().ok()?;
    let d = match unit {
        "s" => Duration::try_seconds(n)?,
        "m" => Duration::try_minutes(n)?,
        "h" => Duration::try_hours(n)?,
        "d" => Duration::try_days(n)?,
        _ => return None,
    };
    (d > Duration::zero()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("24h"), Some(Duration::hours(24)));
        assert_eq!(parse_duration("90"), Some(Duration::seconds(90)));
        assert_eq!(parse_duration("7d"), Some(Duration::days(7)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration("h"), None);
    }
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

/// What `scan --format json` prints.
#[derive(Debug, Serialize)]
pub struct ScanReport {
    /// Always `posture/v1`.
    pub schema: &'static str,
    /// The observations, one per target.
    pub observations: Vec<posture_policies::model::Observation>,
    /// The findings.
    pub findings: Vec<Finding>,
    /// Counts by status and failing severity.
    pub summary: Summary,
}

/// `scan TARGET...`.
pub fn scan(args: &ScanArgs, out: &mut dyn Write) -> Result<()> {
    let config = match &args.config {
        Some(path) => load_config(path)?,
        None => crate::config::Config::default(),
    };
    let policy_args = crate::cli::PolicyArgs {
        policies: args.policy.policies.clone().or(config.policies.clone()),
    };
    let set = policies_with(&policy_args, args.standard.as_deref())?;
    let plan = plan(args, &config)?;
    let (options, finished) = run_options(args, &config, &plan)?;
    // Say now, not after the whole scan, that the output file cannot be written.
    if let Some(path) = &args.output {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|source| Error::CantCreate {
                path: path.clone(),
                source,
            })?;
    }
    let (observations, interrupted) = execute(&plan, &options, &finished)?;
    let observation_set = ObservationSet {
        schema: posture_policies::model::Schema,
        organisation: config.organisation.clone(),
        observations,
    };
    // Judged and scored as `evaluate` would, so both print the same.
    let evaluation = run_evaluation(
        &set,
        &observation_set,
        None,
        Duration::hours(24),
        args.standard.as_deref(),
    );
    // Decided before the report takes the findings and observations.
    let outcome = if interrupted {
        Err(Error::Interrupted)
    } else {
        scan_outcome(
            args.fail_on,
            &evaluation.findings,
            &observation_set.observations,
        )
    };
    let report = ScanReport {
        schema: posture_policies::model::SCHEMA,
        summary: Summary::of(&evaluation.findings),
        observations: observation_set.observations,
        findings: evaluation.findings.clone(),
    };
    match &args.output {
        None => render_scan(&report, &evaluation, args.format, args, &set, out)?,
        Some(path) => {
            let mut file = Vec::new();
            render_scan(&report, &evaluation, args.format, args, &set, &mut file)?;
            std::fs::write(path, file).map_err(|source| Error::CantCreate {
                path: path.clone(),
                source,
            })?;
            render_scan(&report, &evaluation, ScanFormat::Table, args, &set, out)?;
        }
    }
    outcome
}

/// What a scan was asked to look at, each target once and in the normal form.
struct Plan {
    /// Bare domain names: every check.
    domains: Vec<String>,
    /// Endpoints.
    targets: Vec<crate::target::TargetSpec>,
    /// Sites whose web checks `https://HOST` adds (www. removed).
    web_only: Vec<String>,
    /// `https://HOST:PORT` origins on another port, which get the web checks of that origin.
    origins: Vec<crate::target::TargetSpec>,
}

/// The targets of the command line (or else of the configuration), parsed.
fn plan(args: &ScanArgs, config: &crate::config::Config) -> Result<Plan> {
    let target_texts = if args.targets.is_empty() {
        &config.targets
    } else {
        &args.targets
    };
    if target_texts.is_empty() {
        return Err(Error::Usage(
            "name at least one TARGET (or `targets` in the --config file)".into(),
        ));
    }
    // A bare name is a domain (website, and the TLS of its HTTPS hosts); a URL is one endpoint.
    let (domain_args, url_args): (Vec<&String>, Vec<&String>) =
        target_texts.iter().partition(|t| !t.contains("://"));
    // Each target once, in the normal form (A-labels, no trailing dot), in the order given.
    let mut domains: Vec<String> = Vec::new();
    for d in &domain_args {
        let d = crate::target::parse_domain(d).map_err(Error::Usage)?;
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    let mut targets: Vec<crate::target::TargetSpec> = Vec::new();
    for t in &url_args {
        let (spec, note) = crate::target::parse_target_noting(t).map_err(Error::Usage)?;
        if let Some(note) = note {
            eprintln!("posture-agent: {note}");
        }
        if !targets.contains(&spec) {
            targets.push(spec);
        }
    }
    // https://HOST on the default port also gets the web checks of HOST's site (www. removed).
    let mut web_only: Vec<String> = Vec::new();
    for t in targets
        .iter()
        .filter(|t| t.service == posture_policies::model::Service::Https && t.port == 443)
    {
        let site = t.host.strip_prefix("www.").unwrap_or(&t.host).to_owned();
        if !domains.contains(&site)
            && !web_only.contains(&site)
            && t.host.parse::<std::net::IpAddr>().is_err()
        {
            web_only.push(site);
        }
    }
    // https://HOST:PORT on another port gets the web checks of that origin.
    let origins: Vec<crate::target::TargetSpec> = targets
        .iter()
        .filter(|t| t.service == posture_policies::model::Service::Https && t.port != 443)
        .cloned()
        .collect();
    Ok(Plan {
        domains,
        targets,
        web_only,
        origins,
    })
}

/// Observations as targets finish, kept for an interrupted scan.
type Finished = std::sync::Arc<std::sync::Mutex<Vec<posture_policies::model::Observation>>>;

/// The run's options: the command line over the configuration over the defaults.
fn run_options(
    args: &ScanArgs,
    config: &crate::config::Config,
    plan: &Plan,
) -> Result<(crate::runner::RunOptions, Finished)> {
    use crate::runner::RunOptions;
    use crate::target::ConnectTo;

    let connect_to = args
        .connect_to
        .iter()
        .map(|r| ConnectTo::parse(r).map_err(Error::Usage))
        .collect::<Result<Vec<_>>>()?;
    let trust = trust_store(args, config)?;
    let (limits, max_connections) = scan_limits(args, config)?;
    let per_host = limits.per_host;
    let dns = scan_dns(args, config, limits.read_timeout)?;
    let rdap_bootstrap = match &args.rdap_bootstrap {
        Some(path) => read_and_parse(path, crate::probe::rdap::Bootstrap::parse)?,
        None => config
            .rdap_bootstrap
            .clone()
            .unwrap_or_else(crate::probe::rdap::Bootstrap::shipped),
    };
    let takeover = takeover_table(args, config)?;
    let or_config = |arg: &Vec<String>, configured: &Vec<String>| {
        if arg.is_empty() {
            configured.clone()
        } else {
            arg.clone()
        }
    };
    let guard = address_guard(args, config)?;
    let progress = !args.quiet
        && match args.progress {
            crate::cli::ProgressWhen::Always => true,
            crate::cli::ProgressWhen::Never => false,
            crate::cli::ProgressWhen::Auto => {
                use std::io::IsTerminal;
                std::io::stderr().is_terminal()
            }
        };
    let finished = Finished::default();
    let options = RunOptions {
        progress: Some(progress_hook(progress, plan, finished.clone())),
        // --budget bounds a whole domain scan too (default 300 s) and each endpoint within it.
        domain_budget: match args.budget {
            Some(v) => seconds("budget", v)?,
            None => config
                .budget
                .unwrap_or(crate::runner::DEFAULT_DOMAIN_BUDGET),
        },
        tls: crate::probe::tls::scan::TlsOptions {
            limits,
            trust,
            intrusive: args.intrusive,
        },
        sni: args
            .sni
            .as_deref()
            .map(|n| {
                crate::target::normalise_host(n).map_err(|e| Error::Usage(format!("--sni {e}")))
            })
            .transpose()?,
        connect_to,
        max_connections,
        gate: Some(crate::probe::net::Gate::new(max_connections, per_host)),
        run: crate::runner::new_id(),
        organisation: config.organisation.clone(),
        agent: "local".into(),
        domain: args.domain.clone(),
        vantage: match &args.vantage {
            Some(path) => read_observations(path)?.observations,
            None => Vec::new(),
        },
        interception_names: or_config(&args.interception_ca, &config.interception_ca),
        web: crate::probe::web::http::WebLimits {
            connect_timeout: limits.connect_timeout,
            request_timeout: limits.read_timeout,
            guard: guard.clone(),
            ..Default::default()
        },
        dns,
        mail: crate::probe::mail::check::MailOptions {
            dkim_selectors: or_config(&args.dkim_selector, &config.dkim_selectors),
        },
        roles: if args.role.is_empty() {
            config.roles.clone()
        } else {
            args.role.clone()
        },
        rdap_base: args.rdap_base.clone().or(config.rdap_base.clone()),
        rdap_bootstrap: Some(rdap_bootstrap),
        private_registries: if !args.private_registry.is_empty() {
            args.private_registry
                .iter()
                .map(|s| s.trim_matches('.').to_ascii_lowercase())
                .collect()
        } else if let Some(list) = &config.private_registries {
            list.clone()
        } else {
            RunOptions::default().private_registries
        },
        domain_probe: crate::probe::domain::DomainOptions {
            ns_port: args
                .nameserver_port
                .or(config.nameserver_port)
                .unwrap_or(53),
            timeout: limits.read_timeout,
            takeover,
            guard,
        },
    };
    Ok((options, finished))
}

/// Collects every observation as it finishes and, with `progress`, reports "[N of M] scanned
/// TARGET ...; still running: ..." on standard error.
fn progress_hook(progress: bool, plan: &Plan, keep: Finished) -> crate::runner::Progress {
    // The targets asked for, to say how many are done and which are still running.
    let asked: Vec<String> = plan
        .domains
        .iter()
        .cloned()
        .chain(plan.targets.iter().map(crate::target::TargetSpec::url))
        .collect();
    crate::runner::Progress(std::sync::Arc::new(
        move |o: &posture_policies::model::Observation| {
            // A poisoned lock only means a report panicked; the list itself is whole.
            let mut done = keep.lock().unwrap_or_else(|p| p.into_inner());
            done.push(o.clone());
            if !progress {
                return;
            }
            let seconds = (o.scan.finished - o.scan.started).num_milliseconds() as f64 / 1000.0;
            let problems = if o.scan.errors.is_empty() {
                String::new()
            } else {
                format!(", {} probe(s) did not finish", o.scan.errors.len())
            };
            let finished: Vec<String> = done.iter().map(|o| target_key(&o.target)).collect();
            let running: Vec<&String> = asked.iter().filter(|a| !finished.contains(a)).collect();
            let still = match running.as_slice() {
                [] => String::new(),
                [a, b, c, rest @ ..] if !rest.is_empty() => {
                    format!("; still running: {a}, {b}, {c} and {} more", rest.len())
                }
                some => format!(
                    "; still running: {}",
                    some.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            eprintln!(
                "posture-agent: [{} of {}] scanned {} ({} connections, {seconds:.1}s{problems}){still}",
                asked.len() - running.len(),
                asked.len(),
                o.target,
                o.scan.connections
            );
        },
    ))
}

/// The subdomain-takeover fingerprints: the shipped table, the configuration's and
/// `--takeover-fingerprints`.
fn takeover_table(
    args: &ScanArgs,
    config: &crate::config::Config,
) -> Result<Vec<crate::probe::takeover::Fingerprint>> {
    let mut takeover = crate::probe::takeover::shipped();
    takeover.extend(config.takeover_fingerprints.iter().cloned());
    if let Some(path) = &args.takeover_fingerprints {
        takeover.extend(read_and_parse(path, |b| {
            crate::probe::takeover::parse(&utf8(b)?)
        })?);
    }
    Ok(takeover)
}

/// The trust store: the Mozilla roots plus `--ca-file` (or the configuration's).
fn trust_store(
    args: &ScanArgs,
    config: &crate::config::Config,
) -> Result<crate::probe::tls::cert::TrustStore> {
    use crate::probe::tls::cert::TrustStore;
    let mut trust = TrustStore::default();
    if let Some(path) = args.ca_file.as_ref().or(config.ca_file.as_ref()) {
        if let Err(source) = std::fs::metadata(path) {
            return Err(Error::NoInput {
                path: path.clone(),
                source,
            });
        }
        trust = trust.with_pem_bundle(path).map_err(|message| Error::Data {
            path: path.clone(),
            message,
        })?;
    }
    Ok(trust)
}

/// Connection limits, and the run's overall connection limit.
fn scan_limits(
    args: &ScanArgs,
    config: &crate::config::Config,
) -> Result<(crate::probe::tls::conn::Limits, usize)> {
    use crate::probe::tls::conn::Limits;
    let defaults = Limits::default();
    let per_host = args
        .per_host
        .or(config.per_host)
        .unwrap_or(defaults.per_host);
    let max_connections = args
        .max_connections
        .or(config.max_connections)
        .unwrap_or(32);
    if per_host == 0 || max_connections == 0 {
        return Err(Error::Usage(
            "--per-host and --max-connections must be at least 1".into(),
        ));
    }
    if args.nameserver_port == Some(0) {
        return Err(Error::Usage("--nameserver-port must be 1 to 65535".into()));
    }
    let duration = |name: &str,
                    arg: Option<f64>,
                    configured: Option<std::time::Duration>,
                    default: std::time::Duration| match arg {
        Some(v) => seconds(name, v),
        None => Ok(configured.unwrap_or(default)),
    };
    let limits = Limits {
        connect_timeout: duration(
            "connect-timeout",
            args.connect_timeout,
            config.connect_timeout,
            defaults.connect_timeout,
        )?,
        read_timeout: duration(
            "read-timeout",
            args.read_timeout,
            config.read_timeout,
            defaults.read_timeout,
        )?,
        target_budget: duration("budget", args.budget, config.budget, defaults.target_budget)?,
        per_host,
        ..defaults
    };
    Ok((limits, max_connections))
}

/// The resolver for DNS and mail: the configured nameservers and trust anchors, or the
/// system's (`None`).
fn scan_dns(
    args: &ScanArgs,
    config: &crate::config::Config,
    timeout: std::time::Duration,
) -> Result<Option<crate::probe::dns::Dns>> {
    let resolvers = if args.resolver.is_empty() {
        config.resolvers.clone()
    } else {
        args.resolver.clone()
    };
    let anchors = match &args.trust_anchor {
        Some(path) => Some(read_and_parse(path, |b| {
            crate::probe::dns::parse_trust_anchors(&utf8(b)?)
        })?),
        None => config.trust_anchors.clone(),
    };
    let dns = match (&anchors, resolvers.is_empty()) {
        (Some(anchors), _) => Some(
            crate::probe::dns::Dns::with_trust_anchors(&resolvers, timeout, anchors)
                .map_err(Error::Usage)?,
        ),
        (None, true) => None,
        (None, false) => Some(
            crate::probe::dns::Dns::with_nameservers(&resolvers, timeout).map_err(Error::Usage)?,
        ),
    };
    Ok(dns)
}

/// Where a scanned site may send the agent: the built-in internal ranges plus
/// `--internal-network` (or the configuration's).
fn address_guard(
    args: &ScanArgs,
    config: &crate::config::Config,
) -> Result<crate::probe::web::guard::AddressGuard> {
    let internal_networks = if args.internal_network.is_empty() {
        config.internal_networks.clone()
    } else {
        args.internal_network
            .iter()
            .map(|n| {
                n.parse::<ipnet::IpNet>().map_err(|_| {
                    Error::Usage(format!(
                        "--internal-network {n:?}: not a network such as 10.0.0.0/8"
                    ))
                })
            })
            .collect::<Result<_>>()?
    };
    Ok(crate::probe::web::guard::AddressGuard {
        internal_networks,
        treat_as_public: Vec::new(),
    })
}

/// Run the plan to the end, or until Ctrl-C: the observations, and whether it was
/// interrupted (then the ones that had finished).
fn execute(
    plan: &Plan,
    options: &crate::runner::RunOptions,
    finished: &Finished,
) -> Result<(Vec<posture_policies::model::Observation>, bool)> {
    let Plan {
        domains,
        targets,
        web_only,
        origins,
    } = plan;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Output)?;
    let scanned = runtime.block_on(async {
        let scan = async {
            let mut all = crate::runner::scan_domains(domains, options).await;
            all.extend(crate::runner::scan_sites(web_only, options).await);
            let endpoints = crate::runner::scan_tls_targets(targets, options).await;
            all.extend(crate::runner::scan_origins(origins, options, &endpoints).await);
            all.extend(endpoints);
            all
        };
        tokio::select! {
            all = scan => Some(all),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    // Ctrl-C: what finished is reported and written, then the scan ends with exit 130.
    let interrupted = scanned.is_none();
    let observations = scanned.unwrap_or_else(|| {
        std::mem::take(&mut *finished.lock().unwrap_or_else(|p| p.into_inner()))
    });
    runtime.shutdown_background();
    if interrupted {
        eprintln!(
            "posture-agent: interrupted; reporting the {} target(s) that finished",
            observations.len()
        );
    }
    Ok((observations, interrupted))
}

/// Write a scan's report in `format`.
fn render_scan(
    report: &ScanReport,
    evaluation: &Evaluation,
    format: ScanFormat,
    args: &ScanArgs,
    set: &PolicySet,
    out: &mut dyn Write,
) -> Result<()> {
    let findings = &report.findings;
    let all = args.all;
    match format {
        ScanFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        ScanFormat::Ndjson => crate::report::ndjson(findings, out)?,
        ScanFormat::Csv => crate::report::csv(findings, out)?,
        ScanFormat::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &crate::report::sarif(findings, set))
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        ScanFormat::Table => {
            let mut escaping = crate::output::EscapingWriter::new(out);
            let out: &mut dyn Write = &mut escaping;
            if !args.quiet {
                for o in &report.observations {
                    let marks = suite_marks(findings.iter().filter(|f| f.target == o.target));
                    print_tls_summary(o, &marks, out)?;
                }
            }
            let mut sorted: Vec<&Finding> = findings
                .iter()
                .filter(|f| all || !matches!(f.status, Status::Pass | Status::NotApplicable))
                .collect();
            sorted.sort_by(|a, b| {
                status_rank(a.status)
                    .cmp(&status_rank(b.status))
                    .then_with(|| b.severity.cmp(&a.severity))
                    .then_with(|| a.check.cmp(&b.check))
            });
            let passed = findings.iter().filter(|f| f.status == Status::Pass).count();
            if sorted.is_empty() && passed == 0 {
                // Nothing failed because nothing was tested: never say "no problems" then.
                writeln!(
                    out,
                    "Nothing could be tested: no check gave a result for these targets (see each target's errors above)."
                )?;
            } else {
                findings_table(&sorted, out)?;
            }
            writeln!(out, "\n{}", report.summary.line())?;
            if !all {
                writeln!(
                    out,
                    "(passing and not-applicable findings hidden; --all shows them, `explain CHECK` explains one)"
                )?;
            }
            if !evaluation.domain_scores.is_empty() {
                print_scores(evaluation, out)?;
            }
        }
    }
    Ok(())
}

/// How a target is named in the list of targets asked for: a domain by its name, an endpoint
/// by its URL.
fn target_key(target: &posture_policies::model::Target) -> String {
    match target {
        posture_policies::model::Target::Domain(d) => d.name.clone(),
        posture_policies::model::Target::Endpoint(_) => target.to_string(),
    }
}

/// How a finished scan ends for a pipeline: failing findings at or above `fail_on` (exit 1),
/// else targets that could not be scanned at all (exit 2), else success.
fn scan_outcome(
    fail_on: crate::cli::FailOn,
    findings: &[Finding],
    observations: &[posture_policies::model::Observation],
) -> Result<()> {
    if let crate::cli::FailOn::AtLeast(severity) = fail_on {
        let count = findings
            .iter()
            .filter(|f| f.status == Status::Fail && f.severity >= severity)
            .count();
        if count > 0 {
            return Err(Error::Failing {
                count,
                severity: severity.as_str(),
            });
        }
    }
    let unscanned: Vec<String> = observations
        .iter()
        .filter(|o| {
            !o.scan.errors.is_empty()
                && o.tls.is_none()
                && o.web.is_none()
                && o.dns.is_none()
                && o.mail.is_none()
        })
        .map(|o| o.target.to_string())
        .collect();
    if unscanned.is_empty() {
        Ok(())
    } else {
        Err(Error::Unscanned(unscanned))
    }
}

/// How the standards judged each accepted suite (`"TLSv1.2 NAME"` -> `broken` or `weak`), read
/// from the findings' evidence: the table marks what the policies found, it does not judge.
fn suite_marks<'a>(findings: impl Iterator<Item = &'a Finding>) -> BTreeMap<String, &'static str> {
    let mut marks = BTreeMap::new();
    for f in findings.filter(|f| matches!(f.status, Status::Fail | Status::Warn)) {
        let (key, mark, with_version) = match f.check.as_str() {
            "TLS-CIPHER-BROKEN" => ("broken", "broken", true),
            "TLS-CIPHER-3DES" => ("suites", "weak", true),
            "TLS-CIPHER-FS" => ("static", "weak", true),
            "TLS-CIPHER-CBC" => ("cbc", "weak", false),
            _ => continue,
        };
        let mut names = Vec::new();
        flatten_strings(f.evidence.get(key), &mut names);
        for name in names {
            let name = if with_version {
                name
            } else {
                format!("TLSv1.2 {name}")
            };
            // Broken outranks weak.
            let entry = marks.entry(name).or_insert(mark);
            if mark == "broken" {
                *entry = mark;
            }
        }
    }
    marks
}

fn flatten_strings(value: Option<&serde_json::Value>, out: &mut Vec<String>) {
    match value {
        Some(serde_json::Value::String(s)) => out.push(s.clone()),
        Some(serde_json::Value::Array(items)) => {
            for i in items {
                flatten_strings(Some(i), out);
            }
        }
        _ => {}
    }
}

fn print_tls_summary(
    o: &posture_policies::model::Observation,
    marks: &BTreeMap<String, &'static str>,
    out: &mut dyn Write,
) -> Result<()> {
    writeln!(
        out,
        "{}  ({} connections, {:.1}s)",
        o.target,
        o.scan.connections,
        (o.scan.finished - o.scan.started).num_milliseconds() as f64 / 1000.0
    )?;
    for e in &o.scan.errors {
        writeln!(out, "  {}: {}", e.status, e.message)?;
    }
    let Some(tls) = &o.tls else {
        return print_domain_summary(o, out);
    };
    for p in &tls.protocols {
        let order = match p.server_order {
            Some(true) => ", server order",
            Some(false) => ", client order",
            None => "",
        };
        let detail = p
            .detail
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:<8} {:?}{detail}{}",
            p.version.as_str(),
            p.result,
            if p.cipher_suites.is_empty() {
                String::new()
            } else {
                format!(": {} suites{order}", p.cipher_suites.len())
            }
        )?;
        for s in &p.cipher_suites {
            let mark = marks
                .get(&format!("{} {}", p.version.as_str(), s.name))
                .copied()
                .unwrap_or("ok");
            writeln!(out, "             {mark:<7}{}", s.name)?;
        }
    }
    if !tls.groups.is_empty() {
        writeln!(
            out,
            "  groups   {}",
            tls.groups
                .iter()
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    if let Some(c) = &tls.certificate {
        if let Some(leaf) = c.chain.first() {
            writeln!(
                out,
                "  cert     {} ({} {} bits, {}), valid {} to {}",
                leaf.subject,
                leaf.key_type,
                leaf.key_bits,
                leaf.signature_algorithm,
                leaf.not_before.date_naive(),
                leaf.not_after.date_naive()
            )?;
        }
        writeln!(
            out,
            "           trusted: {}, name {}: {}",
            match c.trusted {
                Some(true) => "yes".to_owned(),
                Some(false) => format!("no ({})", c.trust_error.as_deref().unwrap_or("?")),
                None => "?".into(),
            },
            c.name_checked,
            match c.name_matches {
                Some(true) => "matches",
                Some(false) => "does not match",
                None => "?",
            }
        )?;
    }
    writeln!(out)?;
    Ok(())
}

/// What a domain scan found, a line per area, as facts (the findings below judge them).
fn print_domain_summary(
    o: &posture_policies::model::Observation,
    out: &mut dyn Write,
) -> Result<()> {
    let none = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    if let Some(w) = &o.web {
        writeln!(
            out,
            "  web      {}{}",
            match (
                &w.canonical_url,
                w.endpoints.iter().any(|e| e.status.is_some())
            ) {
                (Some(url), _) => url.as_str(),
                (None, true) if !w.responds_https => "answers over plain HTTP only",
                (None, true) => "answers, with no canonical URL",
                (None, false) => "no site answered",
            },
            match &w.hsts {
                Some(h) if h.valid => format!(", HSTS max-age={}", h.max_age.unwrap_or(0)),
                Some(_) => ", HSTS invalid".to_owned(),
                None => String::new(),
            }
        )?;
    }
    if let Some(d) = &o.dns {
        let servers: Vec<String> = d
            .nameservers
            .iter()
            .map(|n| {
                let state = match (n.authoritative, n.axfr) {
                    (Some(false), _) => " (lame)",
                    (_, posture_policies::model::Transfer::Allowed) => " (gives zone transfers)",
                    _ => "",
                };
                format!("{}{state}", n.name)
            })
            .collect();
        writeln!(out, "  NS       {}", none(servers))?;
        if let Some(sec) = &d.dnssec {
            writeln!(out, "  DNSSEC   {}", sec.status)?;
        }
        if let Some(caa) = &d.caa {
            let issuers = caa
                .iter()
                .filter(|r| r.tag == "issue")
                .map(|r| r.value.clone())
                .collect();
            writeln!(out, "  CAA      {}", none(issuers))?;
        }
        if let Some(r) = &d.registration {
            let expiry = r.expires.map_or("expiry unknown".to_owned(), |e| {
                format!("expires {}", e.date_naive())
            });
            if r.registrable {
                writeln!(out, "  registry {expiry}")?;
            }
        }
        for dangling in &d.dangling {
            writeln!(
                out,
                "  dangling {} {} -> {} ({})",
                dangling.name, dangling.record_type, dangling.target, dangling.reason
            )?;
        }
    }
    if let Some(m) = &o.mail {
        let mx: Vec<String> =
            m.mx.iter()
                .map(|x| {
                    format!(
                        "{} (STARTTLS {})",
                        x.host,
                        x.starttls.to_string().replace('_', " ")
                    )
                })
                .collect();
        writeln!(
            out,
            "  MX       {}",
            if m.null_mx {
                "null MX (receives no mail)".to_owned()
            } else {
                none(mx)
            }
        )?;
        writeln!(out, "  SPF      {}", none(m.spf.records.clone()))?;
        writeln!(out, "  DMARC    {}", none(m.dmarc.records.clone()))?;
        let mode = m
            .mta_sts
            .policy
            .as_ref()
            .and_then(|p| p.mode.clone())
            .map(|mode| format!(", mode {mode}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  MTA-STS  {}{mode}",
            m.mta_sts.record.as_deref().unwrap_or("none")
        )?;
        writeln!(out, "  TLS-RPT  {}", none(m.tlsrpt.records.clone()))?;
    }
    writeln!(out)?;
    Ok(())
}

/// The configuration file at `path`: one that cannot be read is missing input (exit 66), one
/// that is wrong names its key (exit 64).
fn load_config(path: &Path) -> Result<crate::config::Config> {
    if let Err(source) = std::fs::metadata(path) {
        return Err(Error::NoInput {
            path: path.to_owned(),
            source,
        });
    }
    Ok(crate::config::Config::load(path)?)
}

/// `config check FILE`: check a configuration file and print what it sets, with the defaults
/// it leaves in place.
pub fn config_check(path: &Path, out: &mut dyn Write) -> Result<()> {
    use crate::probe::tls::conn::Limits;

    let c = load_config(path)?;
    let defaults = Limits::default();
    let list = |v: &[String], none: &str| {
        if v.is_empty() {
            none.to_owned()
        } else {
            v.join(", ")
        }
    };
    writeln!(out, "{}: OK", path.display())?;
    writeln!(
        out,
        "  organisation:       {}",
        c.organisation
            .as_deref()
            .unwrap_or("(none: an ad-hoc scan)")
    )?;
    writeln!(
        out,
        "  targets:            {}",
        list(&c.targets, "(none: name them on the command line)")
    )?;
    let resolvers: Vec<String> = c.resolvers.iter().map(ToString::to_string).collect();
    writeln!(
        out,
        "  resolvers:          {}",
        list(&resolvers, "the system resolver")
    )?;
    writeln!(
        out,
        "  nameservers asked:  on port {}",
        c.nameserver_port.unwrap_or(53)
    )?;
    writeln!(
        out,
        "  DNSSEC anchors:     {}",
        c.trust_anchors
            .as_ref()
            .map_or("the root's keys (built in)".to_owned(), |a| format!(
                "{} keys from the file",
                a.len()
            ))
    )?;
    let shipped;
    let (bootstrap, what) = match &c.rdap_bootstrap {
        Some(b) => (b, "bootstrap file"),
        None => {
            shipped = crate::probe::rdap::Bootstrap::shipped();
            (&shipped, "IANA bootstrap shipped with the agent")
        }
    };
    match &c.rdap_base {
        Some(base) => writeln!(out, "  RDAP:               {base} for every domain")?,
        None => writeln!(
            out,
            "  RDAP:               {what} ({} suffixes, published {})",
            bootstrap.len(),
            bootstrap.publication().unwrap_or("unknown")
        )?,
    }
    let private = c.private_registries.clone().unwrap_or_else(|| {
        crate::probe::rdap::DEFAULT_PRIVATE_REGISTRIES
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    });
    writeln!(out, "  private registries: {}", list(&private, "(none)"))?;
    writeln!(
        out,
        "  DKIM selectors:     {}",
        list(&c.dkim_selectors, "(none)")
    )?;
    let roles: Vec<String> = c.roles.iter().map(|r| r.as_str().to_owned()).collect();
    writeln!(
        out,
        "  roles:              {}",
        list(&roles, "inferred from what is found")
    )?;
    writeln!(
        out,
        "  limits:             connect {:?}, read {:?}, budget {:?}, {} per host, {} in all",
        c.connect_timeout.unwrap_or(defaults.connect_timeout),
        c.read_timeout.unwrap_or(defaults.read_timeout),
        c.budget.unwrap_or(defaults.target_budget),
        c.per_host.unwrap_or(defaults.per_host),
        c.max_connections.unwrap_or(32)
    )?;
    if let Some(ca) = &c.ca_file {
        writeln!(out, "  extra CAs:          {}", ca.display())?;
    }
    if let Some(p) = &c.policies {
        writeln!(out, "  standards from:     {}", p.display())?;
    }
    Ok(())
}
