//! Turning observations into findings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::expr::{cel_to_json, json_to_cel, json_to_val, root_context};
use super::{Check, Kind, PolicySet, Variant};
use crate::model::{
    DomainRole, Finding, Observation, ObservationSet, Schema, Service, Status, Target,
};

/// A TLS endpoint check's result, as domain checks see it (`endpoints` in CEL): MAIL-TLS
/// reads the results of its MX hosts' TLS checks this way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointResult {
    /// The endpoint's host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Its service.
    pub service: Service,
    /// The check id.
    pub check: String,
    /// Its status.
    pub status: Status,
}

impl PolicySet {
    /// Evaluate every observation of a file. Endpoint observations go first, so that a domain's
    /// checks can read the results of the endpoints that belong to it. `now` (for expiry
    /// arithmetic) defaults to each observation's scan time, so recorded observations give
    /// the same findings whenever they are evaluated.
    pub fn evaluate_set(
        &self,
        set: &ObservationSet,
        now: Option<DateTime<Utc>>,
        standard: Option<&str>,
    ) -> Vec<Finding> {
        let (endpoints, domains): (Vec<&Observation>, Vec<&Observation>) = set
            .observations
            .iter()
            .partition(|o| matches!(o.target, Target::Endpoint(_)));
        let mut findings = Vec::new();
        for obs in endpoints {
            findings.extend(self.evaluate(obs, &[], now.unwrap_or(obs.scan.finished), standard));
        }
        let results: Vec<(String, EndpointResult)> = findings
            .iter()
            .filter_map(|f| match &f.target {
                Target::Endpoint(e) => Some((
                    f.domain.clone(),
                    EndpointResult {
                        host: e.host.clone(),
                        port: e.port,
                        service: e.service,
                        check: f.check.clone(),
                        status: f.status,
                    },
                )),
                Target::Domain(_) => None,
            })
            .collect();
        for obs in domains {
            let mine: Vec<EndpointResult> = results
                .iter()
                .filter(|(d, _)| d == obs.target.scoring_domain())
                .map(|(_, r)| r.clone())
                .collect();
            findings.extend(self.evaluate(obs, &mine, now.unwrap_or(obs.scan.finished), standard));
        }
        findings
    }

    /// Evaluate one observation, optionally only the checks of one standard.
    pub fn evaluate(
        &self,
        observation: &Observation,
        endpoints: &[EndpointResult],
        now: DateTime<Utc>,
        standard: Option<&str>,
    ) -> Vec<Finding> {
        let variants: Vec<Variant> = self
            .variants
            .iter()
            .filter(|v| {
                standard.is_none_or(|s| v.standards.iter().any(|x| x.eq_ignore_ascii_case(s)))
            })
            .cloned()
            .collect();
        evaluate_variants(self, &variants, observation, endpoints, now)
    }
}

pub(super) fn evaluate_variants(
    set: &PolicySet,
    variants: &[Variant],
    observation: &Observation,
    endpoints: &[EndpointResult],
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let mut root = root_context(now);
    // The model has no maps with non-string keys, so serialising it cannot fail.
    let target = serde_json::to_value(&observation.target).unwrap_or_default();
    root.add_variable_from_value("target", json_to_cel(&target));
    for kind in [Kind::Tls, Kind::Web, Kind::Dns, Kind::Mail] {
        if let Some(facts) = facts_json(observation, kind) {
            root.add_variable_as_val(kind.as_str(), json_to_val(&facts));
        }
    }
    let endpoints_json = serde_json::to_value(endpoints).unwrap_or_default();
    root.add_variable_from_value("endpoints", json_to_cel(&endpoints_json));

    let mut findings = Vec::new();
    for variant in variants {
        let Some(check) = set.checks.get(&variant.check) else {
            continue;
        };
        let other_role =
            !check.roles.is_empty() && !check.roles.iter().any(|r| observation.target.has_role(*r));
        // A check for another kind of domain is said not to apply, with why, where the probe it
        // reads ran; where that probe did not finish, whether it applies is unknown and it is
        // untestable (below). A domain's checks are never silently absent; checks of other
        // kinds of target, and of probes that were not asked for, are not listed at all.
        let probe_failed = observation
            .scan
            .errors
            .iter()
            .any(|e| e.probe == check.applies_to.as_str());
        if other_role
            && !(matches!(observation.target, Target::Domain(_))
                && (has_facts(observation, check.applies_to) || probe_failed))
        {
            continue;
        }
        let mut finding = Finding {
            schema: Schema,
            check: check.id.clone(),
            target: observation.target.clone(),
            domain: observation.target.scoring_domain().to_owned(),
            status: Status::Pass,
            severity: variant.severity,
            title: check.title.clone(),
            message: String::new(),
            evidence: serde_json::Map::new(),
            remediation: check.remediation.trim_end().to_owned(),
            standards: variant.standards.clone(),
            references: check.references.clone(),
            observed_at: observation.scan.finished,
            hard_zero: false,
            observation: observation.scan.id.clone(),
            policy_digest: Some(set.digest().to_owned()),
        };
        if !has_facts(observation, check.applies_to) {
            // The probe did not run, or ran and could not finish.
            let Some(err) = observation
                .scan
                .errors
                .iter()
                .find(|e| e.probe == check.applies_to.as_str())
            else {
                continue;
            };
            finding.status = if err.status == Status::Untestable {
                Status::Untestable
            } else {
                Status::Error
            };
            finding.message = format!("The {} probe did not finish: {}", err.probe, err.message);
            findings.push(finding);
            continue;
        }
        if other_role {
            finding.status = Status::NotApplicable;
            finding.message = not_for_these_roles(&check.roles, &observation.target);
            findings.push(finding);
            continue;
        }
        // A part the check reads could not be gathered: it is not judged on what is missing.
        let missing = check.needs.iter().find_map(|part| {
            let probe = format!("{}.{part}", check.applies_to.as_str());
            observation.scan.errors.iter().find(|e| e.probe == probe)
        });
        if let Some(err) = missing {
            finding.status = if err.status == Status::Error {
                Status::Error
            } else {
                Status::Untestable
            };
            finding.message = format!("Could not be tested: {}", err.message);
            findings.push(finding);
            continue;
        }
        judge(check, variant, &root, &mut finding);
        finding.hard_zero = check.hard_zero
            && finding.status == Status::Fail
            && (matches!(observation.target, Target::Domain(_))
                || observation.target.is_main_website());
        findings.push(finding);
    }
    findings
}

/// Why a check for `roles` does not apply to `target`.
fn not_for_these_roles(roles: &[DomainRole], target: &Target) -> String {
    let names = |roles: &[DomainRole]| {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let has = match target {
        Target::Domain(d) if !d.roles.is_empty() => names(&d.roles),
        _ => "none".to_owned(),
    };
    format!(
        "Applies to domains with the role {}; this domain's roles are {has} (found from its DNS and website, or given with --role).",
        names(roles)
    )
}

fn judge(
    check: &Check,
    variant: &Variant,
    root: &cel::Context<'static, 'static>,
    finding: &mut Finding,
) {
    let mut scope = root.new_inner_scope();
    scope.add_variable_from_value(
        "params",
        json_to_cel(&serde_json::Value::Object(variant.params.clone())),
    );
    for (name, expr) in &check.evidence {
        if let Ok(value) = expr.execute(&scope) {
            finding.evidence.insert(name.clone(), cel_to_json(&value));
        }
    }
    scope.add_variable_from_value(
        "evidence",
        json_to_cel(&serde_json::Value::Object(finding.evidence.clone())),
    );
    for outcome in &check.when {
        match outcome.condition.test(&scope) {
            Ok(true) => {
                finding.status = outcome.status;
                finding.message = render(&outcome.message, &finding.evidence);
                if let Some(sev) = outcome.severity {
                    // A tier may raise severity (DOMAIN-EXPIRY within 7 days is critical); it
                    // never lowers what the standard set.
                    finding.severity = finding.severity.max(sev);
                }
                return;
            }
            Ok(false) => {}
            Err(message) => {
                finding.status = Status::Error;
                finding.message = format!("policy {} could not be evaluated: {message}", check.id);
                return;
            }
        }
    }
    finding.status = Status::Pass;
    finding.message = render(&check.pass_message, &finding.evidence);
}

/// Whether the probe of `kind` gave facts (cheap: serialising them is what `facts_json` costs,
/// and each check asks).
fn has_facts(observation: &Observation, kind: Kind) -> bool {
    match kind {
        Kind::Tls => observation.tls.is_some(),
        Kind::Web => observation.web.is_some(),
        Kind::Dns => observation.dns.is_some(),
        Kind::Mail => observation.mail.is_some(),
    }
}

fn facts_json(observation: &Observation, kind: Kind) -> Option<serde_json::Value> {
    let value = match kind {
        Kind::Tls => observation.tls.as_ref().map(serde_json::to_value),
        Kind::Web => observation.web.as_ref().map(serde_json::to_value),
        Kind::Dns => observation.dns.as_ref().map(serde_json::to_value),
        Kind::Mail => observation.mail.as_ref().map(serde_json::to_value),
    }?;
    value.ok()
}

/// Fill `{name}` from the evidence: lists joined with commas, strings bare.
fn render(template: &str, evidence: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) if evidence.contains_key(&after[..end]) => {
                out.push_str(&plain(&evidence[&after[..end]]));
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_owned()
}

fn plain(value: &serde_json::Value) -> String {
    fn flatten<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
        match value {
            serde_json::Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
            other => out.push(other),
        }
    }
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(_) => {
            let mut items = Vec::new();
            flatten(value, &mut items);
            if items.is_empty() {
                "none".into()
            } else {
                items.into_iter().map(plain).collect::<Vec<_>>().join(", ")
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_and_leaves_unknown() {
        let mut ev = serde_json::Map::new();
        ev.insert("accepted".into(), serde_json::json!(["TLSv1.0", "TLSv1.1"]));
        ev.insert("days".into(), serde_json::json!(12));
        ev.insert(
            "nested".into(),
            serde_json::json!([[], ["TLSv1.0 A"], ["TLSv1.2 B", "TLSv1.2 C"]]),
        );
        assert_eq!(render("{nested}", &ev), "TLSv1.0 A, TLSv1.2 B, TLSv1.2 C");
        assert_eq!(
            render("accepts {accepted}; {days} days; {other}", &ev),
            "accepts TLSv1.0, TLSv1.1; 12 days; {other}"
        );
    }
}
