use serde::{Deserialize, Serialize};

/// What a domain's mail records and servers show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MailFacts {
    /// MX hosts, by preference.
    #[serde(default)]
    pub mx: Vec<MxFacts>,
    /// The domain publishes the null MX `0 .` (RFC 7505).
    #[serde(default)]
    pub null_mx: bool,
    /// SPF.
    #[serde(default)]
    pub spf: SpfFacts,
    /// DMARC.
    #[serde(default)]
    pub dmarc: DmarcFacts,
    /// DKIM.
    #[serde(default)]
    pub dkim: DkimFacts,
    /// MTA-STS.
    #[serde(default)]
    pub mta_sts: MtaStsFacts,
    /// SMTP TLS reporting.
    #[serde(default)]
    pub tlsrpt: TlsRptFacts,
    /// Hosts the domain sends from, with their reverse DNS.
    #[serde(default)]
    pub sending_hosts: Vec<PtrFacts>,
}

/// One MX host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MxFacts {
    /// Host name.
    pub host: String,
    /// MX preference.
    pub preference: u16,
    /// Its addresses (empty: it does not resolve).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// STARTTLS on port 25.
    pub starttls: StartTls,
}

/// What an MX host's port 25 said to STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartTls {
    /// Offered (and the TLS scan ran).
    Offered,
    /// The server does not offer STARTTLS.
    NotOffered,
    /// The port could not be reached (filtered, no route).
    Untestable,
    /// The server answered something broken.
    Error,
}

impl std::fmt::Display for StartTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StartTls::Offered => "offered",
            StartTls::NotOffered => "not_offered",
            StartTls::Untestable => "untestable",
            StartTls::Error => "error",
        })
    }
}

/// A sending host's reverse DNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PtrFacts {
    /// The address.
    pub address: String,
    /// PTR names found.
    #[serde(default)]
    pub ptr_names: Vec<String>,
    /// A PTR name resolves back to the address (FCrDNS).
    pub forward_confirmed: bool,
}

/// A syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the record.
    pub position: u32,
}

/// SPF (RFC 7208) as found and evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpfFacts {
    /// Every `v=spf1` TXT record at the domain, raw.
    #[serde(default)]
    pub records: Vec<String>,
    /// The first syntax error, in the record or in one it includes.
    #[serde(default)]
    pub error: Option<SyntaxError>,
    /// DNS-querying terms, counted as RFC 7208 §4.6.4 defines, across includes.
    #[serde(default)]
    pub lookups: u32,
    /// Each querying term and what it cost, for the evidence.
    #[serde(default)]
    pub lookup_terms: Vec<String>,
    /// Lookups that returned no answer (NXDOMAIN or empty).
    #[serde(default)]
    pub void_lookups: u32,
    /// An `mx` term named more than 10 MX hosts.
    #[serde(default)]
    pub mx_over_limit: bool,
    /// An include or redirect loops back.
    #[serde(default)]
    pub loop_detected: bool,
    /// The qualifier of the final `all` (`-`, `~`, `+`, `?`), or absent when none (a
    /// `redirect` is followed).
    #[serde(default)]
    pub all: Option<String>,
    /// The record uses the `ptr` mechanism.
    #[serde(default)]
    pub uses_ptr: bool,
}

/// DMARC (RFC 7489) as found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DmarcFacts {
    /// Every `v=DMARC1` record at the name where it was found, raw.
    #[serde(default)]
    pub records: Vec<String>,
    /// `_dmarc.<domain>` or `_dmarc.<organisational domain>`.
    #[serde(default)]
    pub found_at: Option<String>,
    /// The error that makes receivers apply no DMARC policy (no `v=DMARC1` first, or no usable
    /// `p=` and no valid `rua=`).
    #[serde(default)]
    pub error: Option<SyntaxError>,
    /// Mistakes receivers discard, using the default instead (RFC 7489 §6.3), with positions.
    #[serde(default)]
    pub warnings: Vec<SyntaxError>,
    /// p (`none` when only a valid `rua=` is given, RFC 7489 §6.6.3).
    #[serde(default)]
    pub policy: Option<String>,
    /// sp (absent when not given; it then inherits p).
    #[serde(default)]
    pub subdomain_policy: Option<String>,
    /// np (RFC 9091).
    #[serde(default)]
    pub np: Option<String>,
    /// pct (100 when absent).
    #[serde(default = "hundred")]
    pub pct: u8,
    /// adkim (`r` when absent).
    #[serde(default)]
    pub adkim: Option<String>,
    /// aspf (`r` when absent).
    #[serde(default)]
    pub aspf: Option<String>,
    /// Aggregate report destinations.
    #[serde(default)]
    pub rua: Vec<DmarcUri>,
    /// Failure report destinations.
    #[serde(default)]
    pub ruf: Vec<DmarcUri>,
}

fn hundred() -> u8 {
    100
}

/// A DMARC report URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DmarcUri {
    /// As written.
    pub uri: String,
    /// `mailto` or another scheme.
    pub scheme: String,
    /// The mail address, for `mailto`.
    #[serde(default)]
    pub address: Option<String>,
    /// The destination is outside the domain's organisational domain.
    #[serde(default)]
    pub external: bool,
    /// For an external destination, `<domain>._report._dmarc.<dest>` authorises it.
    #[serde(default)]
    pub authorised: Option<bool>,
}

/// DKIM (RFC 6376) keys as found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DkimFacts {
    /// `_domainkey.<domain>` exists (NOERROR, even empty); false on NXDOMAIN; absent when
    /// the lookup failed.
    #[serde(default)]
    pub domainkey_exists: Option<bool>,
    /// The configured selectors.
    #[serde(default)]
    pub selectors: Vec<DkimKey>,
    /// `*._domainkey.<domain>` (the non-sending pattern publishes an empty key there).
    #[serde(default)]
    pub wildcard: Option<DkimKey>,
}

/// A DKIM key record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DkimKey {
    /// The selector.
    pub selector: String,
    /// A key record was found.
    pub found: bool,
    /// `rsa` or `ed25519`.
    #[serde(default)]
    pub key_type: Option<String>,
    /// Key size in bits.
    #[serde(default)]
    pub key_bits: Option<u32>,
    /// `p=` is empty (a revoked key).
    #[serde(default)]
    pub revoked: bool,
    /// A syntax error in the record.
    #[serde(default)]
    pub error: Option<SyntaxError>,
}

/// MTA-STS (RFC 8461).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MtaStsFacts {
    /// The `_mta-sts` TXT record, raw.
    #[serde(default)]
    pub record: Option<String>,
    /// The record's syntax error.
    #[serde(default)]
    pub record_error: Option<SyntaxError>,
    /// The policy file (absent: no record, so not fetched).
    #[serde(default)]
    pub policy: Option<MtaStsPolicy>,
}

/// An MTA-STS policy fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MtaStsPolicy {
    /// Fetched with 200 over HTTPS.
    pub fetched: bool,
    /// The HTTPS certificate validated.
    pub tls_valid: bool,
    /// Why the fetch or the parse failed.
    #[serde(default)]
    pub error: Option<String>,
    /// `enforce`, `testing` or `none`.
    #[serde(default)]
    pub mode: Option<String>,
    /// max_age in seconds.
    #[serde(default)]
    pub max_age: Option<u64>,
    /// `mx` patterns.
    #[serde(default)]
    pub mx_patterns: Vec<String>,
    /// MX hosts that no pattern covers.
    #[serde(default)]
    pub uncovered_mx: Vec<String>,
}

/// SMTP TLS reporting (RFC 8460).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TlsRptFacts {
    /// `v=TLSRPTv1` records at `_smtp._tls.<domain>`, raw.
    #[serde(default)]
    pub records: Vec<String>,
    /// The syntax error.
    #[serde(default)]
    pub error: Option<SyntaxError>,
    /// Report destinations (`mailto:` and `https:` URIs).
    #[serde(default)]
    pub rua: Vec<String>,
}
