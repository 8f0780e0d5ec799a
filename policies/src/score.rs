//! Compliance scores, internet.nl-style, as `standards.md` ("Scoring") defines them.
//!
//! - A domain's score per standard is `100 × earned / possible` over its findings for that
//!   standard: a `pass` earns its severity's weight, a `warn` half of it, a `fail` nothing; each
//!   of the three adds its weight to `possible`. `untestable`, `error` and `not_applicable` leave
//!   both sums.
//! - A hard-zero failure (expired or untrusted certificate on the main website, bogus DNSSEC)
//!   makes the score 0.
//! - A finding older than three scan intervals is stale: shown, not scored.
//! - An organisation's score is the mean of its domains' scores, published with the share of
//!   its domains that have a critical failure; the national score is the mean of the
//!   organisations'.
//!
//! Every score carries [`METHOD_VERSION`]; change it whenever any rule above changes.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Finding, Severity, Status};

/// The version of the method in this module.
pub const METHOD_VERSION: &str = "posture-score/1";

/// How many scan intervals a finding stays fresh.
pub const STALE_AFTER_INTERVALS: i32 = 3;

/// A scan interval as people write it: `90s`, `30m`, `24h`, `7d`, or bare seconds; positive.
/// The agent's `--scan-interval` and the collector's `policy.scan_interval` both read it.
pub fn parse_interval(text: &str) -> Option<Duration> {
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

/// Weight per severity. Defaults: critical 10, high 5, medium 2, low 1, info 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// info.
    pub info: f64,
    /// low.
    pub low: f64,
    /// medium.
    pub medium: f64,
    /// high.
    pub high: f64,
    /// critical.
    pub critical: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            info: 0.0,
            low: 1.0,
            medium: 2.0,
            high: 5.0,
            critical: 10.0,
        }
    }
}

impl Weights {
    /// The weight of `severity`.
    pub fn weight(&self, severity: Severity) -> f64 {
        match severity {
            Severity::Info => self.info,
            Severity::Low => self.low,
            Severity::Medium => self.medium,
            Severity::High => self.high,
            Severity::Critical => self.critical,
        }
    }

    /// Override one weight.
    pub fn set(&mut self, severity: Severity, weight: f64) {
        match severity {
            Severity::Info => self.info = weight,
            Severity::Low => self.low = weight,
            Severity::Medium => self.medium = weight,
            Severity::High => self.high = weight,
            Severity::Critical => self.critical = weight,
        }
    }
}

/// What scoring needs besides the findings.
#[derive(Debug, Clone, Copy)]
pub struct ScoreContext {
    /// The time the score is for.
    pub now: DateTime<Utc>,
    /// The scan interval; findings older than three of them are stale.
    pub scan_interval: Duration,
}

impl ScoreContext {
    /// Whether `finding` is too old to score.
    pub fn is_stale(&self, finding: &Finding) -> bool {
        self.now.signed_duration_since(finding.observed_at)
            > self.scan_interval * STALE_AFTER_INTERVALS
    }
}

/// One domain's score for one standard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainScore {
    /// The domain.
    pub domain: String,
    /// The standard.
    pub standard: String,
    /// 0 to 100; absent when no weight was at stake (no finding ended in pass, warn or fail,
    /// or only zero-weight ones did).
    pub score: Option<f64>,
    /// Weight earned.
    pub earned: f64,
    /// Weight at stake.
    pub possible: f64,
    /// A hard-zero failure set the score to 0.
    pub hard_zero: bool,
    /// Fresh failures of critical severity.
    pub critical_failures: usize,
    /// Findings that counted (pass, warn, fail).
    pub counted: usize,
    /// Findings left out as untestable, error or not applicable.
    pub excluded: usize,
    /// Findings left out as stale.
    pub stale: usize,
    /// [`METHOD_VERSION`].
    pub method: String,
}

/// Score one domain for one standard from its findings (findings of other domains or
/// standards are ignored).
pub fn score_domain(
    domain: &str,
    standard: &str,
    findings: &[Finding],
    weights: &Weights,
    ctx: &ScoreContext,
) -> DomainScore {
    score_group(
        domain,
        standard,
        findings
            .iter()
            .filter(|f| f.domain == domain && f.standards.iter().any(|x| x == standard)),
        weights,
        ctx,
    )
}

/// Score `findings`, all of `domain` and `standard`.
fn score_group<'a>(
    domain: &str,
    standard: &str,
    findings: impl Iterator<Item = &'a Finding>,
    weights: &Weights,
    ctx: &ScoreContext,
) -> DomainScore {
    let mut s = DomainScore {
        domain: domain.to_owned(),
        standard: standard.to_owned(),
        score: None,
        earned: 0.0,
        possible: 0.0,
        hard_zero: false,
        critical_failures: 0,
        counted: 0,
        excluded: 0,
        stale: 0,
        method: METHOD_VERSION.to_owned(),
    };
    for f in findings {
        if ctx.is_stale(f) {
            s.stale += 1;
            continue;
        }
        let w = weights.weight(f.severity);
        match f.status {
            Status::Pass => {
                s.earned += w;
                s.possible += w;
            }
            Status::Warn => {
                s.earned += w / 2.0;
                s.possible += w;
            }
            Status::Fail => {
                s.possible += w;
                s.hard_zero |= f.hard_zero;
                if f.severity == Severity::Critical {
                    s.critical_failures += 1;
                }
            }
            Status::Error | Status::Untestable | Status::NotApplicable => {
                s.excluded += 1;
                continue;
            }
        }
        s.counted += 1;
    }
    s.score = if s.hard_zero {
        Some(0.0)
    } else if s.possible > 0.0 {
        Some((100.0 * s.earned / s.possible).clamp(0.0, 100.0))
    } else {
        // Nothing at stake (no findings, or only zero-weight info ones): 0/0 is no score.
        None
    };
    s
}

/// An organisation's score for one standard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganisationScore {
    /// The organisation.
    pub organisation: String,
    /// The standard.
    pub standard: String,
    /// Mean of its domains' scores (absent when none has a score).
    pub score: Option<f64>,
    /// Domains considered.
    pub domains: usize,
    /// Domains with a score.
    pub scored_domains: usize,
    /// Share (0 to 1) of its domains with at least one critical failure.
    pub critical_share: f64,
    /// [`METHOD_VERSION`].
    pub method: String,
}

/// Aggregate domain scores (all of one organisation and one standard).
pub fn score_organisation(
    organisation: &str,
    standard: &str,
    domains: &[DomainScore],
) -> OrganisationScore {
    let scores: Vec<f64> = domains.iter().filter_map(|d| d.score).collect();
    let critical = domains.iter().filter(|d| d.critical_failures > 0).count();
    OrganisationScore {
        organisation: organisation.to_owned(),
        standard: standard.to_owned(),
        score: mean(&scores),
        domains: domains.len(),
        scored_domains: scores.len(),
        critical_share: if domains.is_empty() {
            0.0
        } else {
            critical as f64 / domains.len() as f64
        },
        method: METHOD_VERSION.to_owned(),
    }
}

/// The national score for one standard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NationalScore {
    /// The standard.
    pub standard: String,
    /// Mean of the organisations' scores.
    pub score: Option<f64>,
    /// Organisations with a score.
    pub organisations: usize,
    /// [`METHOD_VERSION`].
    pub method: String,
}

/// Aggregate organisation scores (all of one standard).
pub fn score_national(standard: &str, organisations: &[OrganisationScore]) -> NationalScore {
    let scores: Vec<f64> = organisations.iter().filter_map(|o| o.score).collect();
    NationalScore {
        standard: standard.to_owned(),
        score: mean(&scores),
        organisations: scores.len(),
        method: METHOD_VERSION.to_owned(),
    }
}

/// Every domain's score for every standard that any finding names, by standard then domain.
/// Findings are grouped once, so the work grows with their number, not with domains times
/// findings.
pub fn score_domains(
    findings: &[Finding],
    weights: &BTreeMap<String, Weights>,
    ctx: &ScoreContext,
) -> Vec<DomainScore> {
    let mut groups: BTreeMap<(&str, &str), Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        for standard in &f.standards {
            groups
                .entry((standard.as_str(), f.domain.as_str()))
                .or_default()
                .push(f);
        }
    }
    groups
        .into_iter()
        .map(|((standard, domain), group)| {
            let w = weights.get(standard).copied().unwrap_or_default();
            score_group(domain, standard, group.into_iter(), &w, ctx)
        })
        .collect()
}

/// Scores at every level, from one set of findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Per domain and standard.
    pub domains: Vec<DomainScore>,
    /// Per organisation and standard.
    pub organisations: Vec<OrganisationScore>,
    /// Per standard, over organisations.
    pub national: Vec<NationalScore>,
}

/// Score every domain, then roll up: each organisation (as `organisation_of` names a domain's)
/// per standard, then the nation per standard. Linear in the number of findings.
pub fn score_all(
    findings: &[Finding],
    organisation_of: impl Fn(&str) -> String,
    weights: &BTreeMap<String, Weights>,
    ctx: &ScoreContext,
) -> Scores {
    roll_up(score_domains(findings, weights, ctx), organisation_of)
}

/// Roll domain scores up: each organisation (as `organisation_of` names a domain's) per
/// standard, then the nation per standard. The collector keeps domain scores as it judges and
/// rolls them up when asked.
pub fn roll_up(domains: Vec<DomainScore>, organisation_of: impl Fn(&str) -> String) -> Scores {
    let mut by_organisation: BTreeMap<(String, &str), Vec<DomainScore>> = BTreeMap::new();
    for d in &domains {
        by_organisation
            .entry((organisation_of(&d.domain), d.standard.as_str()))
            .or_default()
            .push(d.clone());
    }
    let organisations: Vec<OrganisationScore> = by_organisation
        .iter()
        .map(|((org, standard), ds)| score_organisation(org, standard, ds))
        .collect();
    let mut by_standard: BTreeMap<&str, Vec<OrganisationScore>> = BTreeMap::new();
    for o in &organisations {
        by_standard
            .entry(o.standard.as_str())
            .or_default()
            .push(o.clone());
    }
    let national = by_standard
        .iter()
        .map(|(standard, os)| score_national(standard, os))
        .collect();
    Scores {
        domains,
        organisations,
        national,
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::{DomainTarget, Schema, Target};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_interval("24h"), Some(Duration::hours(24)));
        assert_eq!(parse_interval("90"), Some(Duration::seconds(90)));
        assert_eq!(parse_interval(" 30m "), Some(Duration::minutes(30)));
        assert_eq!(parse_interval("7d"), Some(Duration::days(7)));
        assert_eq!(parse_interval("0s"), None);
        assert_eq!(parse_interval("1w"), None);
        assert_eq!(parse_interval("h"), None);
    }

    fn finding(check: &str, status: Status, severity: Severity) -> Finding {
        Finding {
            schema: Schema,
            check: check.into(),
            target: Target::Domain(DomainTarget {
                name: "example.test".into(),
                roles: vec![],
            }),
            domain: "example.test".into(),
            status,
            severity,
            title: String::new(),
            message: String::new(),
            evidence: Default::default(),
            remediation: String::new(),
            standards: vec!["S".into()],
            references: vec![],
            observed_at: at("2026-11-25T00:00:00Z"),
            hard_zero: false,
            observation: None,
            policy_digest: None,
        }
    }

    fn ctx() -> ScoreContext {
        ScoreContext {
            now: at("2026-11-25T12:00:00Z"),
            scan_interval: Duration::hours(24),
        }
    }

    #[test]
    fn score_all_rolls_up_per_organisation_and_nationally() {
        let mut findings = Vec::new();
        for (domain, status) in [
            ("a.org1.test", Status::Pass),
            ("b.org1.test", Status::Fail),
            ("c.org2.test", Status::Pass),
        ] {
            let mut f = finding("X", status, Severity::High);
            f.domain = domain.into();
            findings.push(f);
        }
        let weights = BTreeMap::from([("S".to_owned(), Weights::default())]);
        let org = |d: &str| d.split('.').nth(1).unwrap_or_default().to_owned();
        let scores = score_all(&findings, org, &weights, &ctx());
        // The same domain scores as one domain at a time.
        for d in &scores.domains {
            assert_eq!(
                *d,
                score_domain(&d.domain, "S", &findings, &Weights::default(), &ctx())
            );
        }
        let orgs: Vec<(&str, Option<f64>)> = scores
            .organisations
            .iter()
            .map(|o| (o.organisation.as_str(), o.score))
            .collect();
        assert_eq!(orgs, [("org1", Some(50.0)), ("org2", Some(100.0))]);
        assert_eq!(scores.national.len(), 1);
        assert_eq!(scores.national[0].score, Some(75.0));
        assert_eq!(scores.national[0].organisations, 2);
    }

    fn score(findings: &[Finding]) -> DomainScore {
        score_domain("example.test", "S", findings, &Weights::default(), &ctx())
    }

    #[test]
    fn weights_warn_half_and_exclusions() {
        let fs = vec![
            finding("A", Status::Pass, Severity::Critical), // 10 / 10
            finding("B", Status::Fail, Severity::High),     // 0 / 5
            finding("C", Status::Warn, Severity::Medium),   // 1 / 2
            finding("D", Status::Untestable, Severity::Critical),
            finding("E", Status::Error, Severity::High),
            finding("F", Status::NotApplicable, Severity::High),
        ];
        let s = score(&fs);
        assert_eq!((s.earned, s.possible), (11.0, 17.0));
        assert!((s.score.unwrap() - 100.0 * 11.0 / 17.0).abs() < 1e-9);
        assert_eq!((s.counted, s.excluded), (3, 3));
        assert_eq!(s.method, METHOD_VERSION);
    }

    #[test]
    fn hard_zero_and_critical_count() {
        let mut bad = finding("TLS-CERT-EXPIRED", Status::Fail, Severity::Critical);
        bad.hard_zero = true;
        let s = score(&[finding("A", Status::Pass, Severity::High), bad]);
        assert_eq!(s.score, Some(0.0));
        assert_eq!(s.critical_failures, 1);
    }

    #[test]
    fn stale_findings_are_not_scored() {
        let mut old = finding("B", Status::Fail, Severity::High);
        old.observed_at = at("2026-11-21T00:00:00Z"); // 4.5 days before now, interval 1 day
        let s = score(&[finding("A", Status::Pass, Severity::High), old]);
        assert_eq!((s.score, s.stale), (Some(100.0), 1));
    }

    #[test]
    fn nothing_scorable_is_no_score() {
        assert_eq!(
            score(&[finding("A", Status::Untestable, Severity::High)]).score,
            None
        );
    }

    #[test]
    fn organisation_and_national_means() {
        let mut a = score(&[finding("A", Status::Pass, Severity::High)]);
        a.domain = "a.test".into();
        let mut b = score(&[finding("A", Status::Fail, Severity::Critical)]);
        b.domain = "b.test".into();
        let none = score(&[]);
        let org = score_organisation("X", "S", &[a, b, none]);
        assert_eq!(org.score, Some(50.0));
        assert_eq!((org.domains, org.scored_domains), (3, 2));
        assert!((org.critical_share - 1.0 / 3.0).abs() < 1e-9);
        let mut other = org.clone();
        other.score = Some(100.0);
        let n = score_national("S", &[org, other]);
        assert_eq!(n.score, Some(75.0));
    }

    fn any_status() -> impl Strategy<Value = Status> {
        prop::sample::select(Status::ALL.to_vec())
    }

    fn any_severity() -> impl Strategy<Value = Severity> {
        prop::sample::select(vec![
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ])
    }

    fn any_findings() -> impl Strategy<Value = Vec<Finding>> {
        prop::collection::vec((any_status(), any_severity(), any::<bool>()), 0..30).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (st, sev, hz))| {
                    let mut f = finding(&format!("C{i}"), st, sev);
                    f.hard_zero = hz && st == Status::Fail;
                    f
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn score_is_within_0_and_100(fs in any_findings()) {
            if let Some(s) = score(&fs).score {
                prop_assert!((0.0..=100.0).contains(&s));
            }
        }

        #[test]
        fn turning_a_fail_into_a_pass_never_lowers(fs in any_findings(), pick in any::<prop::sample::Index>()) {
            let fails: Vec<usize> = fs.iter().enumerate().filter(|(_, f)| f.status == Status::Fail).map(|(i, _)| i).collect();
            prop_assume!(!fails.is_empty());
            let i = fails[pick.index(fails.len())];
            let before = score(&fs).score;
            let mut better = fs.clone();
            better[i].status = Status::Pass;
            better[i].hard_zero = false;
            let after = score(&better).score;
            // The weights at stake do not change, so a score exists after whenever one did before
            // (but see the hard-zero case below).
            match (before, after) {
                (Some(b), Some(a)) => prop_assert!(a >= b - 1e-9, "{b} -> {a}"),
                (None, None) => {}
                // A hard zero with no weight at stake (an info check) is a score of 0; fixing it
                // leaves nothing to score, which is not lower.
                (Some(b), None) => prop_assert!(b == 0.0),
                other => prop_assert!(false, "{other:?}"),
            }
        }

        #[test]
        fn adding_an_untestable_finding_changes_nothing(fs in any_findings(), sev in any_severity(), status in prop::sample::select(vec![Status::Untestable, Status::Error, Status::NotApplicable])) {
            let before = score(&fs).score;
            let mut more = fs.clone();
            more.push(finding("NEW", status, sev));
            prop_assert_eq!(score(&more).score, before);
        }
    }
}
