//! `evaluate FILE`: judge and score an observation set.

use std::collections::BTreeMap;
use std::io::Read;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use posture_policies::PolicySet;
use posture_policies::model::{Finding, ObservationSet, Status};
use posture_policies::score::{
    self, DomainScore, NationalScore, OrganisationScore, ScoreContext, Weights,
};
use serde::Serialize;

use super::policies_with;
use crate::cli::{EvaluateArgs, Format, ScanFormat};
use crate::error::{Error, Result};
use crate::output::{Report, View};
use posture_policies::score::parse_interval;

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
    let interval = parse_interval(&args.scan_interval).ok_or_else(|| {
        Error::Usage(format!(
            "--scan-interval {:?}: use e.g. 3600s, 30m, 24h or 7d",
            args.scan_interval
        ))
    })?;
    let observations = read_observations(&args.file)?;
    let evaluation = run_evaluation(&set, &observations, now, interval, args.standard.as_deref());
    let format = match args.format {
        Format::Json => ScanFormat::Json,
        Format::Table => ScanFormat::Table,
    };
    let view = View {
        all: args.all,
        quiet: false,
        colour: crate::output::colour(args.color),
    };
    let report = Report {
        observations: None,
        evaluation: &evaluation,
        set: &set,
    };
    crate::output::renderer(format, view).render(&report, out)
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
