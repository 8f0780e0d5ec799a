//! The policy file format, exactly as written in YAML. [`super::PolicySet`] checks and compiles
//! it; nothing else reads these types.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{DomainRole, Severity, Status};

/// One standard: `policies/standards/<ID>.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStandard {
    pub standard: String,
    pub title: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    pub description: String,
    /// Thresholds, referenced from expressions as `params.NAME`.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Severity weights for scoring; missing ones keep the defaults.
    #[serde(default)]
    pub weights: BTreeMap<Severity, f64>,
    /// Each entry is a [`RawCheck`] or, when it has a `ref` key, a [`RawReference`]; they are
    /// told apart before deserialising so that an error names the key that is wrong.
    pub checks: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReference {
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(default)]
    pub severity: Option<Severity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub id: String,
    pub title: String,
    /// What the check means.
    pub description: String,
    /// Why it matters.
    pub why: String,
    pub severity: Severity,
    pub applies_to: Kind,
    #[serde(default)]
    pub roles: Vec<DomainRole>,
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default)]
    pub hard_zero: bool,
    #[serde(default)]
    pub evidence: BTreeMap<String, String>,
    #[serde(default)]
    pub when: Vec<RawOutcome>,
    pub pass: String,
    pub remediation: String,
    pub references: Vec<String>,
    #[serde(default)]
    pub examples: Vec<RawExample>,
}

/// Which part of an observation a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `tls`: TLS endpoints.
    Tls,
    /// `web`: a domain's website.
    Web,
    /// `dns`: a domain's DNS and registration.
    Dns,
    /// `mail`: a domain's mail.
    Mail,
}

impl Kind {
    /// The name, which is also the observation field and the CEL variable.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tls => "tls",
            Kind::Web => "web",
            Kind::Dns => "dns",
            Kind::Mail => "mail",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutcome {
    pub status: Status,
    #[serde(rename = "if")]
    pub condition: String,
    pub message: String,
    #[serde(default)]
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExample {
    pub expect: Status,
    #[serde(default)]
    pub name: Option<String>,
    /// A JSON merge patch (RFC 7396) over the fixture observation for the check's kind.
    #[serde(default)]
    pub patch: Option<serde_json::Value>,
    /// Endpoint findings visible to a domain check: `{host, port, service, check, status}`.
    #[serde(default)]
    pub endpoints: Vec<serde_json::Value>,
    /// `now` for this example (RFC 3339); the fixtures' scan time by default.
    #[serde(default)]
    pub now: Option<String>,
}
