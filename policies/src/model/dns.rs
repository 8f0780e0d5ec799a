use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What DNS and the registry say about a domain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DnsFacts {
    /// DNSSEC validation of the zone.
    #[serde(default)]
    pub dnssec: Option<DnssecFacts>,
    /// The delegated nameservers, each queried directly.
    #[serde(default)]
    pub nameservers: Vec<NameserverFacts>,
    /// Distinct IPv4 /24 prefixes across all nameserver addresses (`192.0.2.0/24`).
    #[serde(default)]
    pub ns_ipv4_prefixes: Vec<String>,
    /// Distinct IPv6 /48 prefixes across all nameserver addresses.
    #[serde(default)]
    pub ns_ipv6_prefixes: Vec<String>,
    /// CAA records in effect for the domain (absent: the lookup failed).
    #[serde(default)]
    pub caa: Option<Vec<CaaRecord>>,
    /// Records whose target does not resolve or matches a takeover fingerprint.
    #[serde(default)]
    pub dangling: Vec<DanglingRecord>,
    /// The website has an AAAA record (absent: no web role).
    #[serde(default)]
    pub web_ipv6: Option<bool>,
    /// Every MX host has an AAAA record (absent: no MX).
    #[serde(default)]
    pub mx_ipv6: Option<bool>,
    /// RDAP registration data (absent: not looked up).
    #[serde(default)]
    pub registration: Option<RegistrationFacts>,
}

/// DNSSEC state of a zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DnssecFacts {
    /// `secure`, `insecure` (unsigned), `bogus` or `indeterminate`.
    pub status: DnssecStatus,
    /// The earliest RRSIG expiration among the records looked up.
    #[serde(default)]
    pub earliest_rrsig_expiry: Option<DateTime<Utc>>,
    /// Why the chain is bogus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The validation state of each other answer the checks rely on (MX, the SPF, DMARC,
    /// MTA-STS and TLS-RPT TXT records, CAA), as the validating resolver proved it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<AnswerProof>,
}

/// Whether one DNS answer (an RRset) validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AnswerProof {
    /// The owner name.
    pub name: String,
    /// The record type, e.g. `MX`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `secure`, `insecure`, `bogus` or `indeterminate`.
    pub status: DnssecStatus,
}

/// What a validating resolver could prove (RFC 4035 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DnssecStatus {
    /// The chain of trust validates.
    Secure,
    /// Provably unsigned.
    Insecure,
    /// Signed, but the chain does not validate.
    Bogus,
    /// Could not be decided.
    Indeterminate,
}

impl DnssecStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DnssecStatus::Secure => "secure",
            DnssecStatus::Insecure => "insecure",
            DnssecStatus::Bogus => "bogus",
            DnssecStatus::Indeterminate => "indeterminate",
        }
    }
}

impl std::fmt::Display for DnssecStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a nameserver did with a zone transfer request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transfer {
    /// It sent the zone.
    Allowed,
    /// It refused.
    Refused,
    /// It could not be asked.
    Untestable,
}

impl std::fmt::Display for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transfer::Allowed => "allowed",
            Transfer::Refused => "refused",
            Transfer::Untestable => "untestable",
        })
    }
}

/// One delegated nameserver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NameserverFacts {
    /// Its name.
    pub name: String,
    /// Its addresses.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// It answered SOA for the zone with the AA bit (absent: it did not answer).
    #[serde(default)]
    pub authoritative: Option<bool>,
    /// What it did with a zone transfer request.
    pub axfr: Transfer,
}

/// A CAA record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaaRecord {
    /// Flags (128 = critical).
    pub flags: u8,
    /// `issue`, `issuewild`, `iodef` ...
    pub tag: String,
    /// The value.
    pub value: String,
}

/// A record pointing at something that is not there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DanglingRecord {
    /// The owner name.
    pub name: String,
    /// `CNAME`, `MX`, `SRV` or `NS`.
    pub record_type: String,
    /// The target.
    pub target: String,
    /// `nxdomain`, `no_soa` or `takeover_fingerprint`.
    pub reason: String,
    /// The third-party service a fingerprint matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// RDAP registration data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistrationFacts {
    /// The domain is registrable at a public registry (false under a private one such as
    /// nhs.uk, where DOMAIN-* checks do not apply).
    pub registrable: bool,
    /// The registrable domain looked up.
    #[serde(default)]
    pub registered_domain: Option<String>,
    /// Registration expiry.
    #[serde(default)]
    pub expires: Option<DateTime<Utc>>,
    /// RDAP status values (`client transfer prohibited` ...).
    #[serde(default)]
    pub statuses: Vec<String>,
}
