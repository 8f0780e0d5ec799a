//! The mandated standards as data: loading `policies/standards/*.yaml`, checking them, and
//! evaluating them against observations.
//!
//! A standard file defines checks (an id, a severity, the part of an observation it reads, an
//! ordered list of `when` outcomes written in CEL, messages, remediation, references and
//! examples) and may include checks defined in another standard with `- ref: ID`. A standard's
//! `params` are the thresholds its expressions read as `params.NAME`; a standard that includes a
//! check may override them, in which case the check is evaluated once per distinct set of
//! parameters and each finding names the standards it speaks for.

mod builtin;
mod eval;
mod expr;
pub(crate) mod file;
mod patch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use eval::EndpointResult;
pub use file::Kind;

use self::expr::Expr;
use self::file::{RawCheck, RawExample, RawReference, RawStandard};
use crate::error::{Error, Result};
use crate::model::{DomainRole, Observation, Severity, Status};
use crate::score::Weights;

/// One standard, as loaded.
#[derive(Debug)]
pub struct Standard {
    /// Its short name (`NCSC-TLS`), which is also its file name.
    pub id: String,
    /// Its full title.
    pub title: String,
    /// Where it is published.
    pub url: Option<String>,
    /// The version of the publication this file encodes.
    pub version: Option<String>,
    /// What it is.
    pub description: String,
    /// Thresholds.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Scoring weights.
    pub weights: Weights,
    /// The checks it mandates, defined here or included, in file order.
    pub checks: Vec<String>,
    /// The file it came from.
    pub file: PathBuf,
    severity_overrides: BTreeMap<String, Severity>,
}

/// One check, as defined in its home standard.
#[derive(Debug)]
pub struct Check {
    /// The id (`TLS-PROTO-LEGACY`).
    pub id: String,
    /// One line.
    pub title: String,
    /// What the check means.
    pub description: String,
    /// Why it matters.
    pub why: String,
    /// The default severity.
    pub severity: Severity,
    /// The part of an observation it reads.
    pub applies_to: Kind,
    /// The domain roles it applies to (empty: all).
    pub roles: Vec<DomainRole>,
    /// The parts of its probe it reads (`spf`, `dmarc`...): when the probe records that one of
    /// them could not be gathered (an error named `<kind>.<part>`), the check is `untestable`
    /// (or `error`) instead of judged on what is missing.
    pub needs: Vec<String>,
    /// A failure zeroes the domain's score (on the domain itself or its main website).
    pub hard_zero: bool,
    /// The message when no `when` outcome matches.
    pub pass_message: String,
    /// How to fix it.
    pub remediation: String,
    /// Published sources.
    pub references: Vec<String>,
    /// The standard that defines it.
    pub defined_in: String,
    /// The file that defines it.
    pub file: PathBuf,
    evidence: Vec<(String, Expr)>,
    when: Vec<Outcome>,
    examples: Vec<RawExample>,
    params_used: BTreeSet<String>,
}

#[derive(Debug)]
struct Outcome {
    status: Status,
    condition: Expr,
    message: String,
    severity: Option<Severity>,
}

impl Check {
    /// The outcomes in order, as `(status, condition source, message)`, for `explain`.
    pub fn outcomes(&self) -> impl Iterator<Item = (Status, &str, &str)> {
        self.when
            .iter()
            .map(|o| (o.status, o.condition.source.as_str(), o.message.as_str()))
    }
}

/// A check as one group of standards mandates it: same severity, same parameter values.
#[derive(Debug, Clone)]
struct Variant {
    check: String,
    severity: Severity,
    params: serde_json::Map<String, serde_json::Value>,
    standards: Vec<String>,
}

/// The fixture observations that policy examples patch: one per [`Kind`].
#[derive(Debug, Clone)]
pub struct Fixtures {
    by_kind: BTreeMap<Kind, serde_json::Value>,
}

/// A loaded, compiled and cross-checked set of standards.
#[derive(Debug)]
pub struct PolicySet {
    standards: Vec<Standard>,
    checks: BTreeMap<String, Check>,
    variants: Vec<Variant>,
    fixtures: Fixtures,
    digest: String,
    /// Each policy file's name and text, in name order: what the digest is over, and what a
    /// collector hands its agents.
    sources: Vec<(String, String)>,
}

/// `sha256:` over each policy file's name and text, in name order.
fn digest_of(sources: &[(PathBuf, String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&(PathBuf, String)> = sources.iter().collect();
    sorted.sort_by(|a, b| a.0.file_name().cmp(&b.0.file_name()));
    let mut hash = Sha256::new();
    for (path, text) in sorted {
        hash.update(
            path.file_name()
                .map(|n| n.as_encoded_bytes())
                .unwrap_or_default(),
        );
        hash.update([0]);
        hash.update(text.as_bytes());
        hash.update([0]);
    }
    let bytes = hash.finalize();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// What `lint` found: every problem, and how many examples were run.
#[derive(Debug, Default, Serialize)]
pub struct LintReport {
    /// Standards loaded.
    pub standards: usize,
    /// Checks defined.
    pub checks: usize,
    /// Examples evaluated.
    pub examples: usize,
}

impl PolicySet {
    /// The standards compiled into this build (the files in `policies/standards`).
    pub fn builtin() -> Result<PolicySet> {
        let sources = builtin::STANDARDS
            .iter()
            .map(|(name, text)| {
                (
                    PathBuf::from("policies/standards").join(name),
                    (*text).to_owned(),
                )
            })
            .collect();
        PolicySet::build(sources, Fixtures::builtin()?, false)
    }

    /// Load every `*.yaml` in `dir`. Examples patch `dir/fixtures/<kind>.json` where present,
    /// the built-in fixtures otherwise.
    pub fn load_dir(dir: &Path) -> Result<PolicySet> {
        let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
            })
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(Error::policy(
                dir,
                None,
                None,
                "no *.yaml policy files here",
            ));
        }
        let mut sources = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            sources.push((path, text));
        }
        let fixtures = Fixtures::load_dir(&dir.join("fixtures"))?;
        PolicySet::from_sources(sources, fixtures)
    }

    /// Parse, compile and cross-check `(file name, YAML text)` pairs. Every problem found is
    /// reported, each naming its file, rule and key.
    pub fn from_sources(sources: Vec<(PathBuf, String)>, fixtures: Fixtures) -> Result<PolicySet> {
        PolicySet::build(sources, fixtures, true)
    }

    /// [`PolicySet::from_sources`]; `eager` false defers compiling each CEL expression to its
    /// first use (the built-in standards only: the test suite compiles them whole).
    fn build(
        sources: Vec<(PathBuf, String)>,
        fixtures: Fixtures,
        eager: bool,
    ) -> Result<PolicySet> {
        let digest = digest_of(&sources);
        let mut kept: Vec<(String, String)> = sources
            .iter()
            .map(|(p, t)| {
                (
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    t.clone(),
                )
            })
            .collect();
        kept.sort();
        let mut errors = Vec::new();
        let mut standards = Vec::new();
        let mut checks: BTreeMap<String, Check> = BTreeMap::new();
        let mut references: Vec<(PathBuf, String, RawReference)> = Vec::new();

        for (file, text) in sources {
            let raw: RawStandard = match serde_yaml_ng::from_str(&text) {
                Ok(raw) => raw,
                Err(e) => {
                    errors.push(Error::policy(&file, None, None, e.to_string()));
                    continue;
                }
            };
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            if raw.standard != stem {
                errors.push(Error::policy(
                    &file,
                    None,
                    Some("standard"),
                    format!(
                        "is {:?} but the file is named {stem:?}: name the file after the standard",
                        raw.standard
                    ),
                ));
            }
            if standards.iter().any(|s: &Standard| s.id == raw.standard) {
                errors.push(Error::policy(
                    &file,
                    None,
                    Some("standard"),
                    format!("{} is defined twice", raw.standard),
                ));
                continue;
            }
            let mut weights = Weights::default();
            for (severity, w) in &raw.weights {
                if !(w.is_finite() && *w >= 0.0) {
                    errors.push(Error::policy(
                        &file,
                        None,
                        Some(&format!("weights.{severity}")),
                        "must be a number >= 0",
                    ));
                }
                weights.set(*severity, *w);
            }
            let mut standard = Standard {
                id: raw.standard.clone(),
                title: raw.title,
                url: raw.url,
                version: raw.version,
                description: raw.description,
                params: raw.params,
                weights,
                checks: Vec::new(),
                file: file.clone(),
                severity_overrides: BTreeMap::new(),
            };
            for (index, entry) in raw.checks.into_iter().enumerate() {
                let label = entry
                    .get("id")
                    .or_else(|| entry.get("ref"))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("checks[{index}]"));
                if entry.get("ref").is_some() {
                    match serde_json::from_value::<RawReference>(entry) {
                        Ok(r) => {
                            if let Some(sev) = r.severity {
                                standard.severity_overrides.insert(r.reference.clone(), sev);
                            }
                            standard.checks.push(r.reference.clone());
                            references.push((file.clone(), standard.id.clone(), r));
                        }
                        Err(e) => {
                            errors.push(Error::policy(&file, Some(&label), None, e.to_string()))
                        }
                    }
                    continue;
                }
                let raw_check = match serde_json::from_value::<RawCheck>(entry) {
                    Ok(c) => c,
                    Err(e) => {
                        errors.push(Error::policy(&file, Some(&label), None, e.to_string()));
                        continue;
                    }
                };
                match compile_check(raw_check, &standard, &file, eager) {
                    Ok(check) => {
                        if let Some(other) = checks.get(&check.id) {
                            errors.push(Error::policy(
                                &file,
                                Some(&check.id),
                                Some("id"),
                                format!(
                                    "already defined in {}; include it here with `- ref: {}`",
                                    other.file.display(),
                                    check.id
                                ),
                            ));
                        } else {
                            standard.checks.push(check.id.clone());
                            checks.insert(check.id.clone(), check);
                        }
                    }
                    Err(mut e) => errors.append(&mut e),
                }
            }
            standards.push(standard);
        }

        for (file, _standard, r) in &references {
            if !checks.contains_key(&r.reference) {
                errors.push(Error::policy(
                    file,
                    Some(&r.reference),
                    Some("ref"),
                    format!("no policy file defines {}", r.reference),
                ));
            }
        }
        for standard in &standards {
            let mut seen = BTreeSet::new();
            for id in &standard.checks {
                if !seen.insert(id) {
                    errors.push(Error::policy(
                        &standard.file,
                        Some(id),
                        None,
                        "listed twice in this standard",
                    ));
                }
            }
        }
        Error::from_list(errors)?;
        standards.sort_by(|a, b| a.id.cmp(&b.id));
        let variants = variants(&standards, &checks);
        Ok(PolicySet {
            standards,
            checks,
            variants,
            fixtures,
            digest,
            sources: kept,
        })
    }

    /// A policy set from files a collector handed out (name, text), with the built-in
    /// fixtures; its digest is the collector's when the files are the same.
    pub fn from_files(files: Vec<(String, String)>) -> Result<PolicySet> {
        let sources = files
            .into_iter()
            .map(|(name, text)| (PathBuf::from(name), text))
            .collect();
        PolicySet::from_sources(sources, Fixtures::builtin()?)
    }

    /// Each policy file's name and text, in name order.
    pub fn sources(&self) -> &[(String, String)] {
        &self.sources
    }

    /// All standards, by id.
    pub fn standards(&self) -> &[Standard] {
        &self.standards
    }

    /// The digest of the policy files this set was loaded from (`sha256:` and 64 hex digits):
    /// the same files give the same digest, any change to one gives another.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// One standard.
    pub fn standard(&self, id: &str) -> Result<&Standard> {
        self.standards
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Error::Unknown {
                what: "standard",
                name: id.to_owned(),
                suggestions: close_names(id, self.standards.iter().map(|s| s.id.as_str())),
            })
    }

    /// All checks, by id.
    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.values()
    }

    /// One check.
    pub fn check(&self, id: &str) -> Result<&Check> {
        self.checks
            .get(&id.to_ascii_uppercase())
            .ok_or_else(|| Error::Unknown {
                what: "check",
                name: id.to_owned(),
                suggestions: close_names(id, self.checks.keys().map(String::as_str)),
            })
    }

    /// The standards that mandate a check, with the severity each gives it.
    pub fn mandated_by(&self, check: &str) -> Vec<(&Standard, Severity)> {
        let default = self.checks.get(check).map(|c| c.severity);
        self.standards
            .iter()
            .filter(|s| s.checks.iter().any(|c| c == check))
            .filter_map(|s| {
                let sev = s.severity_overrides.get(check).copied().or(default)?;
                Some((s, sev))
            })
            .collect()
    }

    /// Evaluate every example of every check against the fixtures and report each example
    /// whose status is not the one it claims, and each check without a passing and a failing
    /// example.
    pub fn lint(&self) -> Result<LintReport> {
        let mut errors = Vec::new();
        let mut report = LintReport {
            standards: self.standards.len(),
            checks: self.checks.len(),
            examples: 0,
        };
        for check in self.checks.values() {
            let expects: BTreeSet<Status> = check.examples.iter().map(|e| e.expect).collect();
            // A check that can only warn (TLS-PROTO-13) shows its shortfall with `warn`.
            let shortfall = if check.when.iter().any(|o| o.status == Status::Fail) {
                Status::Fail
            } else {
                Status::Warn
            };
            for needed in [Status::Pass, shortfall] {
                if !expects.contains(&needed) {
                    errors.push(Error::policy(
                        &check.file,
                        Some(&check.id),
                        Some("examples"),
                        format!("needs at least one example with `expect: {needed}`"),
                    ));
                }
            }
            for (i, example) in check.examples.iter().enumerate() {
                report.examples += 1;
                let key = format!(
                    "examples[{i}]{}",
                    example
                        .name
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                );
                match self.run_example(check, example) {
                    Ok(finding_status) if finding_status == example.expect => {}
                    Ok(got) => errors.push(Error::policy(
                        &check.file,
                        Some(&check.id),
                        Some(&key),
                        format!("expected {} but the check gives {got}", example.expect),
                    )),
                    Err(message) => errors.push(Error::policy(
                        &check.file,
                        Some(&check.id),
                        Some(&key),
                        message,
                    )),
                }
            }
        }
        Error::from_list(errors)?;
        Ok(report)
    }

    fn run_example(
        &self,
        check: &Check,
        example: &RawExample,
    ) -> std::result::Result<Status, String> {
        let mut value = self
            .fixtures
            .by_kind
            .get(&check.applies_to)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "no fixture observation for kind {}",
                    check.applies_to.as_str()
                )
            })?;
        if let Some(patch) = &example.patch {
            patch::merge_patch(&mut value, patch);
        }
        let observation: Observation = serde_json::from_value(value.clone())
            .map_err(|e| format!("the patched fixture is not a valid observation: {e}"))?;
        // Observations tolerate unknown fields (a newer agent's), so a misspelt key in a patch
        // would silently do nothing: name it instead.
        let unknown = crate::model::unknown_keys(
            &value,
            &serde_json::to_value(&observation).unwrap_or_default(),
            "",
        );
        if !unknown.is_empty() {
            return Err(format!(
                "the patch sets keys an observation does not have: {}",
                unknown.join(", ")
            ));
        }
        let endpoints: Vec<EndpointResult> = example
            .endpoints
            .iter()
            .map(|v| serde_json::from_value(v.clone()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| format!("endpoints: {e}"))?;
        let now = match &example.now {
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map_err(|e| format!("now: {e}"))?
                .with_timezone(&Utc),
            None => observation.scan.finished,
        };
        let variant = self
            .variants
            .iter()
            .find(|v| v.check == check.id && v.standards.contains(&check.defined_in))
            .ok_or_else(|| "no variant for the defining standard".to_owned())?;
        let findings = eval::evaluate_variants(
            self,
            std::slice::from_ref(variant),
            &observation,
            &endpoints,
            now,
        );
        match findings.as_slice() {
            [finding] => {
                if finding.status == Status::Error {
                    Err(format!("evaluation failed: {}", finding.message))
                } else {
                    Ok(finding.status)
                }
            }
            [] => {
                Err("the check gave no finding: does the fixture carry its kind and role?".into())
            }
            _ => Err("the check gave several findings".into()),
        }
    }
}

/// The errors in a check's descriptive keys: id, texts, references and the parts it needs.
fn metadata_errors(raw: &RawCheck, err: &dyn Fn(&str, String) -> Error) -> Vec<Error> {
    let mut errors = Vec::new();
    let id = &raw.id;
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
    {
        errors.push(err(
            "id",
            "must be upper-case letters, digits and dashes, as in standards.md".into(),
        ));
    }
    for (key, text) in [
        ("title", &raw.title),
        ("description", &raw.description),
        ("why", &raw.why),
        ("pass", &raw.pass),
        ("remediation", &raw.remediation),
    ] {
        if text.trim().is_empty() {
            errors.push(err(key, "must not be empty".into()));
        }
    }
    if raw.references.is_empty() {
        errors.push(err("references", "name at least one source".into()));
    }
    for (i, part) in raw.needs.iter().enumerate() {
        let known = crate::model::parts_of(raw.applies_to.as_str());
        if !known.contains(&part.as_str()) {
            errors.push(err(
                &format!("needs[{i}]"),
                format!(
                    "{part:?} is not a part of the {} probe (one of: {})",
                    raw.applies_to.as_str(),
                    known.join(", ")
                ),
            ));
        }
    }
    errors
}

/// An error for each `{name}` placeholder of a message that is not an evidence name.
fn placeholder_errors(
    key: &str,
    message: &str,
    evidence_names: &BTreeSet<&str>,
    err: &dyn Fn(&str, String) -> Error,
) -> Vec<Error> {
    placeholders(message)
        .filter(|p| !evidence_names.contains(p))
        .map(|p| err(key, format!("{{{p}}} is not an evidence name")))
        .collect()
}

fn compile_check(
    raw: RawCheck,
    standard: &Standard,
    file: &Path,
    eager: bool,
) -> std::result::Result<Check, Vec<Error>> {
    let compile = |source: &str| {
        if eager {
            Expr::compile(source)
        } else {
            Ok(Expr::deferred(source))
        }
    };
    let id = raw.id.clone();
    let err = |key: &str, message: String| Error::policy(file, Some(&id), Some(key), message);
    let mut errors = metadata_errors(&raw, &err);
    let mut evidence = Vec::new();
    for (name, source) in &raw.evidence {
        match compile(source) {
            Ok(e) => evidence.push((name.clone(), e)),
            Err(m) => errors.push(err(&format!("evidence.{name}"), m)),
        }
    }
    let evidence_names: BTreeSet<&str> = raw.evidence.keys().map(String::as_str).collect();
    let mut when = Vec::new();
    for (i, outcome) in raw.when.into_iter().enumerate() {
        if outcome.status == Status::Pass {
            errors.push(err(
                &format!("when[{i}].status"),
                "`pass` is what remains when no outcome matches; list only the others".into(),
            ));
        }
        errors.extend(placeholder_errors(
            &format!("when[{i}].message"),
            &outcome.message,
            &evidence_names,
            &err,
        ));
        match compile(&outcome.condition) {
            Ok(condition) => when.push(Outcome {
                status: outcome.status,
                condition,
                message: outcome.message,
                severity: outcome.severity,
            }),
            Err(m) => errors.push(err(&format!("when[{i}].if"), m)),
        }
    }
    errors.extend(placeholder_errors("pass", &raw.pass, &evidence_names, &err));
    let params_used: BTreeSet<String> = evidence
        .iter()
        .map(|(_, e)| e)
        .chain(when.iter().map(|o| &o.condition))
        .flat_map(Expr::params_used)
        .collect();
    for p in &params_used {
        if !standard.params.contains_key(p) {
            errors.push(err(
                "params",
                format!(
                    "uses params.{p}, which standard {} does not declare",
                    standard.id
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Check {
        id: raw.id,
        title: raw.title,
        description: raw.description,
        why: raw.why,
        severity: raw.severity,
        applies_to: raw.applies_to,
        roles: raw.roles,
        needs: raw.needs,
        hard_zero: raw.hard_zero,
        pass_message: raw.pass,
        remediation: raw.remediation,
        references: raw.references,
        defined_in: standard.id.clone(),
        file: file.to_owned(),
        evidence,
        when,
        examples: raw.examples,
        params_used,
    })
}

/// The `{name}` placeholders of a message.
fn placeholders(message: &str) -> impl Iterator<Item = &str> {
    message.split('{').skip(1).filter_map(|rest| {
        let name = rest.split('}').next()?;
        (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(name)
    })
}

fn variants(standards: &[Standard], checks: &BTreeMap<String, Check>) -> Vec<Variant> {
    let mut out: Vec<Variant> = Vec::new();
    let home_params = |check: &Check| {
        standards
            .iter()
            .find(|s| s.id == check.defined_in)
            .map(|s| &s.params)
    };
    for standard in standards {
        for id in &standard.checks {
            let Some(check) = checks.get(id) else {
                continue;
            };
            let severity = standard
                .severity_overrides
                .get(id)
                .copied()
                .unwrap_or(check.severity);
            let mut params = serde_json::Map::new();
            for p in &check.params_used {
                let value = standard
                    .params
                    .get(p)
                    .or_else(|| home_params(check).and_then(|h| h.get(p)))
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                params.insert(p.clone(), value);
            }
            match out
                .iter_mut()
                .find(|v| v.check == *id && v.severity == severity && v.params == params)
            {
                Some(v) => v.standards.push(standard.id.clone()),
                None => out.push(Variant {
                    check: id.clone(),
                    severity,
                    params,
                    standards: vec![standard.id.clone()],
                }),
            }
        }
    }
    out.sort_by(|a, b| {
        a.check
            .cmp(&b.check)
            .then_with(|| a.standards.cmp(&b.standards))
    });
    out
}

/// Names among `candidates` that look like `name`: same family prefix or a small edit distance.
fn close_names<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let name = name.to_ascii_uppercase();
    let family = name.rsplit_once('-').map(|(f, _)| f).unwrap_or(&name);
    let mut out: Vec<(usize, &str)> = candidates
        .map(|c| (edit_distance(c, &name), c))
        .filter(|(d, c)| *d <= 2 || (family.len() > 2 && c.starts_with(family)))
        .collect();
    out.sort();
    out.into_iter().take(5).map(|(_, c)| c.to_owned()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

impl Fixtures {
    /// The fixtures shipped with the built-in standards.
    pub fn builtin() -> Result<Fixtures> {
        let mut by_kind = BTreeMap::new();
        for (kind, text) in builtin::FIXTURES {
            let value = serde_json::from_str(text).map_err(|e| Error::Input {
                path: PathBuf::from(format!(
                    "policies/standards/fixtures/{}.json",
                    kind.as_str()
                )),
                message: e.to_string(),
            })?;
            by_kind.insert(*kind, value);
        }
        Ok(Fixtures { by_kind })
    }

    /// `<dir>/<kind>.json` where present, the built-in fixture otherwise.
    pub fn load_dir(dir: &Path) -> Result<Fixtures> {
        let mut fixtures = Fixtures::builtin()?;
        for kind in [Kind::Tls, Kind::Web, Kind::Dns, Kind::Mail] {
            let path = dir.join(format!("{}.json", kind.as_str()));
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| Error::Input {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            let observation =
                serde_json::from_value::<Observation>(value.clone()).map_err(|e| Error::Input {
                    path: path.clone(),
                    message: format!("not a posture/v1 observation: {e}"),
                })?;
            let unknown = crate::model::unknown_keys(
                &value,
                &serde_json::to_value(&observation).unwrap_or_default(),
                "",
            );
            if !unknown.is_empty() {
                return Err(Error::Input {
                    path: path.clone(),
                    message: format!("keys an observation does not have: {}", unknown.join(", ")),
                });
            }
            fixtures.by_kind.insert(kind, value);
        }
        Ok(fixtures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in set compiles its CEL on first use; every expression in it compiles, and
    /// the lazy set and an eagerly compiled one are the same set.
    #[test]
    fn the_builtin_standards_compile_whole() {
        let sources: Vec<(PathBuf, String)> = builtin::STANDARDS
            .iter()
            .map(|(name, text)| (PathBuf::from(name), (*text).to_owned()))
            .collect();
        let eager = PolicySet::from_sources(sources, Fixtures::builtin().unwrap()).unwrap();
        let lazy = PolicySet::builtin().unwrap();
        assert_eq!(eager.digest(), lazy.digest());
        assert_eq!(eager.standards().len(), lazy.standards().len());
        // A deferred expression that does not compile says so when run, not before.
        let broken = Expr::deferred("tls.protocols.exists(p, ");
        let err = broken.execute(&cel::Context::default()).unwrap_err();
        assert!(err.to_string().contains("does not compile"), "{err}");
    }

    #[test]
    fn placeholders_are_found() {
        let p: Vec<_> = placeholders("accepts {accepted} on {port}; {not a name}").collect();
        assert_eq!(p, vec!["accepted", "port"]);
    }

    #[test]
    fn a_check_with_every_kind_of_mistake_reports_each_by_key() {
        let standard = r#"
standard: TEST-STD
title: A test standard
url: https://example.org/
description: Checks for the loader's own test.
params:
  declared: 1
checks:
  - id: mail-spf
    title: Lower-case id
    description: Every mistake the loader names.
    why: " "
    severity: high
    applies_to: mail
    needs: [spf, spff]
    evidence:
      records: "mail.spf.records"
    when:
      - status: pass
        if: "size(mail.spf.records) > params.undeclared"
        message: "{records} and {nope}"
    pass: "fine: {alsonope}"
    remediation: Fix it.
    references: []
"#;
        let error = PolicySet::from_sources(
            vec![(PathBuf::from("TEST-STD.yaml"), standard.to_owned())],
            Fixtures::builtin().unwrap(),
        )
        .expect_err("a broken check must not load");
        let mut keys: Vec<String> = error
            .flatten()
            .into_iter()
            .filter_map(|e| match e {
                Error::Policy { location, message } => {
                    Some(format!("{}: {message}", location.key.clone()?))
                }
                _ => None,
            })
            .collect();
        keys.sort();
        let expected = [
            "id: must be upper-case letters, digits and dashes, as in standards.md",
            "needs[1]: \"spff\" is not a part of the mail probe",
            "params: uses params.undeclared, which standard TEST-STD does not declare",
            "pass: {alsonope} is not an evidence name",
            "references: name at least one source",
            "when[0].message: {nope} is not an evidence name",
            "when[0].status: `pass` is what remains when no outcome matches",
            "why: must not be empty",
        ];
        assert_eq!(keys.len(), expected.len(), "{keys:#?}");
        for (got, want) in keys.iter().zip(expected) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn close_names_suggest_family() {
        let ids = ["TLS-PROTO-SSL", "TLS-PROTO-LEGACY", "MAIL-SPF"];
        let s = close_names("TLS-PROTO-LEGASY", ids.iter().copied());
        assert!(s.contains(&"TLS-PROTO-LEGACY".to_string()));
        assert!(!s.contains(&"MAIL-SPF".to_string()));
    }
}

#[cfg(test)]
mod digest_tests {
    use super::*;

    #[test]
    fn the_digest_follows_the_policy_files() {
        let a = PolicySet::builtin().unwrap();
        let b = PolicySet::builtin().unwrap();
        assert_eq!(a.digest(), b.digest());
        assert!(a.digest().starts_with("sha256:") && a.digest().len() == 7 + 64);
        let mut sources: Vec<(PathBuf, String)> = builtin::STANDARDS
            .iter()
            .map(|(n, t)| (PathBuf::from(n), (*t).to_owned()))
            .collect();
        let same = digest_of(&sources);
        assert_eq!(same, a.digest());
        sources[0].1.push_str("\n# a comment\n");
        assert_ne!(digest_of(&sources), a.digest());
    }
}
