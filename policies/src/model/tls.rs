use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a TLS endpoint accepts and presents.
///
/// A fact the probe could not establish is absent (`null`), never guessed: policies test it
/// with `has(...)` and end in `untestable` rather than `fail`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TlsFacts {
    /// One entry per protocol version probed.
    #[serde(default)]
    pub protocols: Vec<ProtocolResult>,
    /// Named groups the server accepted for key exchange.
    #[serde(default)]
    pub groups: Vec<GroupSupport>,
    /// Finite-field DH parameters seen in DHE suites.
    #[serde(default)]
    pub dh_params: Vec<DhParams>,
    /// The certificate chain and its validation, when a handshake got that far.
    #[serde(default)]
    pub certificate: Option<CertificateFacts>,
    /// Whether the server stapled an OCSP response.
    #[serde(default)]
    pub ocsp_stapled: Option<bool>,
    /// RFC 5746 secure renegotiation on TLS 1.2 and below (absent: only TLS 1.3 accepted, or
    /// not established).
    #[serde(default)]
    pub secure_renegotiation: Option<bool>,
    /// Whether the server accepted TLS compression (CRIME).
    #[serde(default)]
    pub compression: Option<bool>,
    /// Whether the server protects against downgrades: it refused a handshake carrying
    /// TLS_FALLBACK_SCSV at a lower version, or marked it with the TLS 1.3 downgrade sentinel
    /// (absent when it accepts one protocol version only).
    #[serde(default)]
    pub fallback_scsv: Option<bool>,
    /// ALPN protocols the server selected when offered (`h2`, `http/1.1`).
    #[serde(default)]
    pub alpn: Vec<String>,
    /// Vulnerabilities derived from what was accepted, and any opt-in intrusive probes.
    #[serde(default)]
    pub vulnerabilities: Vec<Vulnerability>,
    /// Interception evidence, when a second vantage point was compared.
    #[serde(default)]
    pub interception: Option<InterceptionFacts>,
}

/// A protocol version by its conventional name.
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
pub enum ProtocolVersion {
    /// SSL 2.0.
    #[serde(rename = "SSLv2")]
    Ssl2,
    /// SSL 3.0.
    #[serde(rename = "SSLv3")]
    Ssl3,
    /// TLS 1.0.
    #[serde(rename = "TLSv1.0")]
    Tls10,
    /// TLS 1.1.
    #[serde(rename = "TLSv1.1")]
    Tls11,
    /// TLS 1.2.
    #[serde(rename = "TLSv1.2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "TLSv1.3")]
    Tls13,
}

impl ProtocolVersion {
    /// All versions, oldest first.
    pub const ALL: [ProtocolVersion; 6] = [
        ProtocolVersion::Ssl2,
        ProtocolVersion::Ssl3,
        ProtocolVersion::Tls10,
        ProtocolVersion::Tls11,
        ProtocolVersion::Tls12,
        ProtocolVersion::Tls13,
    ];

    /// The conventional name (`TLSv1.2`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::Ssl2 => "SSLv2",
            ProtocolVersion::Ssl3 => "SSLv3",
            ProtocolVersion::Tls10 => "TLSv1.0",
            ProtocolVersion::Tls11 => "TLSv1.1",
            ProtocolVersion::Tls12 => "TLSv1.2",
            ProtocolVersion::Tls13 => "TLSv1.3",
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one probe: did the peer accept what was offered?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// The server completed (or clearly agreed to) the handshake.
    Accepted,
    /// The server refused: an alert, a lower version, or a closed connection after the hello.
    Rejected,
    /// The network would not let us tell (time-out before any byte, connection refused).
    Untestable,
    /// The peer answered with something we could not make sense of.
    Error,
}

/// What the server did with one protocol version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProtocolResult {
    /// The version.
    pub version: ProtocolVersion,
    /// Accepted, rejected, untestable or error.
    pub result: ProbeOutcome,
    /// Whether the server imposes its own suite order (absent when fewer than two suites).
    #[serde(default)]
    pub server_order: Option<bool>,
    /// Accepted suites, in the server's order when it has one.
    #[serde(default)]
    pub cipher_suites: Vec<CipherSuite>,
    /// Why the result is untestable or error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An accepted cipher suite, with the attributes policies judge it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CipherSuite {
    /// IANA name (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`), or the SSLv2 kind name.
    pub name: String,
    /// The code point (two bytes; three for SSLv2 kinds).
    pub id: u32,
    /// Key exchange: `RSA`, `DHE`, `ECDHE`, `DH`, `ECDH`, `PSK`, `SRP`, `KRB5`, `ANY` (TLS 1.3) ...
    pub kex: String,
    /// Authentication: `RSA`, `ECDSA`, `DSS`, `anon`, `PSK`, `ANY` (TLS 1.3) ...
    pub auth: String,
    /// Bulk cipher family: `AES`, `CHACHA20`, `CAMELLIA`, `ARIA`, `3DES`, `DES`, `RC4`, `RC2`,
    /// `IDEA`, `SEED`, `NULL`.
    pub cipher: String,
    /// Effective key bits of the bulk cipher (0 for NULL).
    pub bits: u16,
    /// `aead`, `cbc`, `stream` or `null`.
    pub mode: String,
    /// Block size in bits (64 for 3DES and IDEA; 0 for stream and AEAD).
    #[serde(default)]
    pub block_bits: u16,
    /// Whether the key exchange gives forward secrecy.
    pub forward_secrecy: bool,
    /// An EXPORT suite (weakened on purpose in the 1990s).
    #[serde(default)]
    pub export: bool,
}

/// A named group the server accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroupSupport {
    /// IANA name: `x25519`, `secp256r1`, `ffdhe2048`, `X25519MLKEM768` ...
    pub name: String,
    /// `ecdhe`, `ffdhe` or `hybrid`.
    pub kind: String,
    /// Security-relevant size: curve bits or DH modulus bits.
    pub bits: u16,
}

/// Finite-field DH parameters offered in a ServerKeyExchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DhParams {
    /// Modulus size in bits.
    pub bits: u16,
    /// The prime is a known-weak or widely shared one (e.g. the Logjam-era 1024-bit primes).
    #[serde(default)]
    pub known_weak: bool,
    /// The prime's name when it is a well-known one (`ffdhe2048`, `RFC 2409 group 2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The presented chain and what validation made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CertificateFacts {
    /// As sent, leaf first.
    pub chain: Vec<CertificateInfo>,
    /// The chain validates to a configured trust store (absent: not attempted).
    #[serde(default)]
    pub trusted: Option<bool>,
    /// Why validation failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_error: Option<String>,
    /// The trust anchor reached is a public root (rather than the organisation's own CA).
    #[serde(default)]
    pub publicly_trusted: bool,
    /// The name the certificate was matched against.
    pub name_checked: String,
    /// The leaf covers `name_checked`.
    #[serde(default)]
    pub name_matches: Option<bool>,
    /// Every certificate up to a trust anchor was sent (no missing intermediate).
    #[serde(default)]
    pub chain_complete: Option<bool>,
    /// Each certificate is followed by its issuer.
    #[serde(default)]
    pub chain_ordered: Option<bool>,
    /// The chain carries the self-signed root.
    #[serde(default)]
    pub chain_includes_root: bool,
    /// SCTs from any source: embedded, TLS extension or stapled OCSP.
    #[serde(default)]
    pub sct_count: u32,
}

/// One certificate of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CertificateInfo {
    /// Subject distinguished name, RFC 4514 form.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// DNS names and IP addresses in subjectAltName.
    #[serde(default)]
    pub sans: Vec<String>,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// `rsa`, `ec`, `ed25519`, `ed448`, `dsa` or `unknown`.
    pub key_type: String,
    /// Key size: RSA modulus bits, EC field bits.
    pub key_bits: u32,
    /// Signature algorithm name (`sha256WithRSAEncryption`, `ecdsa-with-SHA384`).
    pub signature_algorithm: String,
    /// The hash inside the signature: `SHA256`, `SHA384`, `SHA512`, `SHA1`, `MD5`, `none`.
    pub signature_hash: String,
    /// Subject equals issuer and the signature verifies with its own key.
    #[serde(default)]
    pub self_signed: bool,
    /// basicConstraints CA.
    #[serde(default)]
    pub is_ca: bool,
    /// SCTs embedded in the certificate.
    #[serde(default)]
    pub embedded_scts: u32,
    /// TLS Feature extension asks for OCSP stapling.
    #[serde(default)]
    pub must_staple: bool,
    /// SHA-256 of the DER.
    pub fingerprint_sha256: String,
}

/// A derived or probed vulnerability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Vulnerability {
    /// `POODLE`, `SWEET32`, `FREAK`, `LOGJAM`, `DROWN`, `BEAST`, `RC4`, `HEARTBLEED` ...
    pub name: String,
    /// Whether it applies.
    pub vulnerable: bool,
    /// What it was derived from.
    pub detail: String,
}

/// What a second vantage point saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InterceptionFacts {
    /// The leaf seen here differs from the one the other vantage point saw.
    pub differs: bool,
    /// The chain ends at a known interception CA.
    pub interception_ca: bool,
}
