//! The data model: what a probe saw ([`Observation`]), what a policy made of it ([`Finding`]),
//! and the versioned wire format both travel in.
//!
//! Every type here is plain data: serde-serialisable, no behaviour beyond small accessors.
//! Field names are the names policy expressions use (`tls.protocols`, `mail.dmarc.policy`), so a
//! rename here is a breaking change of the policy language and needs a new [`SCHEMA`].

mod dns;
mod finding;
mod mail;
mod target;
mod tls;
mod web;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use dns::*;
pub use finding::*;
pub use mail::*;
pub use target::*;
pub use tls::*;
pub use web::*;

/// The wire-format version carried by every observation, finding and file.
pub const SCHEMA: &str = "posture/v1";

/// The `"schema": "posture/v1"` marker. Deserialising any other value fails with a message
/// that names both versions, so an old agent talking to a new collector is told why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schema;

impl schemars::JsonSchema for Schema {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Schema".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "The record's version: always posture/v1.",
            "const": SCHEMA,
        })
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(SCHEMA)
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let found = String::deserialize(deserializer)?;
        if found == SCHEMA {
            Ok(Schema)
        } else {
            Err(serde::de::Error::custom(format!(
                "unsupported schema {found:?}: this build reads {SCHEMA:?}"
            )))
        }
    }
}

/// A file of observations: what `posture-agent evaluate` reads and what a scan writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ObservationSet {
    /// Always `posture/v1`.
    pub schema: Schema,
    /// The organisation whose targets these are (an ODS code or short name), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// The observations, one per scanned target.
    pub observations: Vec<Observation>,
}

/// Everything the probes saw of one target in one scan.
///
/// A domain target carries `dns`, `mail` and `web` facts; a TLS endpoint carries `tls`. Each
/// part is absent when that probe did not run, which makes the checks that need it silent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observation {
    /// Always `posture/v1`.
    pub schema: Schema,
    /// What was scanned.
    pub target: Target,
    /// When, by whom and at what cost.
    pub scan: ScanMeta,
    /// TLS facts (endpoint targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
    /// Web facts (domains with the web role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<WebFacts>,
    /// DNS and registration facts (domains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsFacts>,
    /// Email facts (domains with a mail role or the non-sending role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailFacts>,
}

/// Scan metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScanMeta {
    /// This observation's unique id (a UUID v7, so ids sort by time); absent in files written
    /// before ids existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The id of the run (one `scan`, one scheduled sweep) it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// The agent's id (as registered with the collector) or `local`.
    pub agent: String,
    /// The agent's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// The organisation code from the agent's configuration; `null` for ad-hoc scans.
    #[serde(default)]
    pub organisation: Option<String>,
    /// For a network target, the address actually dialled (`127.0.0.1:8443`, `[::1]:443`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// When the first probe started.
    pub started: DateTime<Utc>,
    /// When the last probe finished; findings are dated by this.
    pub finished: DateTime<Utc>,
    /// Network connections opened for this target.
    #[serde(default)]
    pub connections: u32,
    /// Probe failures: a probe that broke, or a network that would not let us look.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProbeError>,
}

/// The parts of a probe that can fail on their own while the rest of its facts stand; an
/// error for one is recorded with the probe `<kind>.<part>` (`mail.spf`), and checks list the
/// parts they need.
pub fn parts_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "mail" => &[
            "mx",
            "spf",
            "spf-lookups",
            "dmarc",
            "dkim",
            "mta-sts",
            "tlsrpt",
            "ptr",
        ],
        // What only an HTTP answer over HTTPS shows (headers, cookies, security.txt).
        "web" => &["https-answer"],
        _ => &[],
    }
}

/// The paths of keys in `given` (a document as read) that the typed value `known` (the same
/// document parsed and serialised again) does not have: what a reader that tolerates unknown
/// fields dropped. Nulls and empty lists are skipped (the
/// model leaves absent values out).
pub fn unknown_keys(given: &serde_json::Value, known: &serde_json::Value, at: &str) -> Vec<String> {
    use serde_json::Value;
    match (given, known) {
        (Value::Object(g), Value::Object(k)) => g
            .iter()
            .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
            .flat_map(|(key, v)| {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match k.get(key) {
                    Some(kv) => unknown_keys(v, kv, &path),
                    None => vec![path],
                }
            })
            .collect(),
        (Value::Array(g), Value::Array(k)) => g
            .iter()
            .zip(k)
            .enumerate()
            .flat_map(|(i, (gv, kv))| unknown_keys(gv, kv, &format!("{at}[{i}]")))
            .collect(),
        (Value::Object(g), _) if !g.is_empty() => vec![at.to_owned()],
        _ => Vec::new(),
    }
}

/// A probe that could not finish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProbeError {
    /// Which probe: `tls`, `web`, `dns`, `mail`, `rdap`.
    pub probe: String,
    /// `error` (a bug or a hostile peer) or `untestable` (the network would not let us look).
    pub status: Status,
    /// What happened, for people.
    pub message: String,
    /// What happened, for machines: `refused`, `timeout`, `unreachable`, `reset`,
    /// `protocol`, `no_starttls`, `smtp`, `limit_exceeded`, `tls_handshake` (TLS and web);
    /// `dns_timeout`, `dns_servfail`, `dns_refused`, `dns_bad_name`, `dns_protocol`,
    /// `dns_error`, `dns_unavailable`, `unresolvable` (DNS); `rdap`; `budget_exhausted` (the
    /// time budget ran out first); `panic` (a bug in the probe); `nxdomain` (the domain does
    /// not exist). Nothing downstream reads the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl ProbeError {
    /// An error of `probe` with no code.
    pub fn new(probe: &str, status: Status, message: impl Into<String>) -> ProbeError {
        ProbeError {
            probe: probe.to_owned(),
            status,
            message: message.into(),
            code: None,
        }
    }

    /// The same error with a code.
    pub fn with_code(mut self, code: &str) -> ProbeError {
        self.code = Some(code.to_owned());
        self
    }
}

/// How a check ended. `untestable` and `error` are never a `fail` and never a `pass`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The requirement is met.
    Pass,
    /// The requirement is not met.
    Fail,
    /// A recommendation is missed (scores half).
    Warn,
    /// The probe broke: a bug or a hostile peer.
    Error,
    /// The network would not let us look.
    Untestable,
    /// The check does not apply to this target.
    NotApplicable,
}

impl Status {
    /// All statuses, in display order.
    pub const ALL: [Status; 6] = [
        Status::Pass,
        Status::Fail,
        Status::Warn,
        Status::Error,
        Status::Untestable,
        Status::NotApplicable,
    ];

    /// The wire name (`not_applicable`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Error => "error",
            Status::Untestable => "untestable",
            Status::NotApplicable => "not_applicable",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a failure matters. Scoring weights come from the standard (defaults in
/// [`crate::score::Weights`]).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational: weight 0 by default.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical: counted in an organisation's share of domains with a critical failure.
    Critical,
}

impl Severity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
