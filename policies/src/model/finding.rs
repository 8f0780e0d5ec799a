use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Schema, Severity, Status, Target};

/// What one check concluded about one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// Always `posture/v1`.
    pub schema: Schema,
    /// The check id, as in standards.md and the policy files (`TLS-PROTO-LEGACY`).
    pub check: String,
    /// What was checked.
    pub target: Target,
    /// The domain this finding is scored under.
    pub domain: String,
    /// How it ended.
    pub status: Status,
    /// How much it matters.
    pub severity: Severity,
    /// The check's one-line title.
    pub title: String,
    /// What was found, for people.
    pub message: String,
    /// Structured evidence (accepted suites, the raw record, days left ...).
    #[serde(default)]
    pub evidence: serde_json::Map<String, serde_json::Value>,
    /// How to fix it.
    pub remediation: String,
    /// The standards (policy file ids) that mandate the check with these parameters.
    pub standards: Vec<String>,
    /// Published sources behind the check.
    #[serde(default)]
    pub references: Vec<String>,
    /// When the observation behind it was made.
    pub observed_at: DateTime<Utc>,
    /// This failure zeroes the domain's score for each of `standards`.
    #[serde(default)]
    pub hard_zero: bool,
    /// The id of the observation it judges, when that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<String>,
    /// The digest of the policy set that judged it (`sha256:...`), so a finding can be told
    /// from one a changed policy would give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_digest: Option<String>,
}
