//! TLS interception: is the certificate this agent sees the one the rest of the world sees?
//! Pure: compares two observations of the same endpoint and looks for known inspection CAs.

use posture_policies::model::{InterceptionFacts, TlsFacts};

/// Substrings of issuer names that TLS-inspecting middleboxes and proxies put in the
/// certificates they forge (their vendors' documented default CA names). Matched
/// case-insensitively against every issuer and subject in the chain.
pub const INTERCEPTION_CA_NAMES: &[&str] = &[
    "FortiGate CA",
    "Fortinet CA",
    "Zscaler Root CA",
    "Zscaler Intermediate Root CA",
    "Palo Alto Networks",
    "Sophos SSL CA",
    "Cisco Umbrella",
    "Blue Coat",
    "Netskope",
    "Forcepoint",
    "mitmproxy",
    "Charles Proxy",
    "Burp Suite",
    "Check Point",
    "Barracuda",
    "WatchGuard",
    "Untangle",
    "Kaspersky Anti-Virus Personal Root",
    "ESET SSL Filter",
    "Avast trusted CA",
];

/// Compare what this agent saw with what a second vantage point saw of the same endpoint
/// (`None` when there is no second view). Returns `None` when nothing can be said.
pub fn compare(
    own: &TlsFacts,
    other: Option<&TlsFacts>,
    extra_names: &[String],
) -> Option<InterceptionFacts> {
    let chain = &own.certificate.as_ref()?.chain;
    let interception_ca = chain.iter().any(|c| {
        let names = [
            c.issuer.to_ascii_lowercase(),
            c.subject.to_ascii_lowercase(),
        ];
        INTERCEPTION_CA_NAMES
            .iter()
            .copied()
            .chain(extra_names.iter().map(String::as_str))
            .any(|n| names.iter().any(|x| x.contains(&n.to_ascii_lowercase())))
    });
    let own_leaf = chain.first().map(|c| c.fingerprint_sha256.as_str());
    let other_leaf = other
        .and_then(|o| o.certificate.as_ref())
        .and_then(|c| c.chain.first())
        .map(|c| c.fingerprint_sha256.as_str());
    match (own_leaf, other_leaf) {
        (Some(a), Some(b)) => Some(InterceptionFacts {
            differs: a != b,
            interception_ca,
        }),
        _ if interception_ca => Some(InterceptionFacts {
            differs: false,
            interception_ca,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use posture_policies::model::{CertificateFacts, CertificateInfo};

    use super::*;

    fn facts(fingerprint: &str, issuer: &str) -> TlsFacts {
        TlsFacts {
            certificate: Some(CertificateFacts {
                chain: vec![CertificateInfo {
                    subject: "CN=www.example.test".into(),
                    issuer: issuer.into(),
                    serial: "01".into(),
                    sans: vec![],
                    not_before: DateTime::UNIX_EPOCH,
                    not_after: DateTime::UNIX_EPOCH,
                    key_type: "ec".into(),
                    key_bits: 256,
                    signature_algorithm: "ecdsa-with-SHA256".into(),
                    signature_hash: "SHA256".into(),
                    self_signed: false,
                    is_ca: false,
                    embedded_scts: 0,
                    must_staple: false,
                    fingerprint_sha256: fingerprint.into(),
                }],
                trusted: Some(true),
                trust_error: None,
                publicly_trusted: true,
                name_checked: "www.example.test".into(),
                name_matches: Some(true),
                chain_complete: Some(true),
                chain_ordered: Some(true),
                chain_includes_root: false,
                sct_count: 0,
            }),
            ..TlsFacts::default()
        }
    }

    #[test]
    fn same_leaf_different_leaf_and_inspection_ca() {
        let a = facts("aa", "CN=Example CA");
        assert_eq!(compare(&a, None, &[]), None);
        assert_eq!(
            compare(&a, Some(&facts("aa", "CN=Example CA")), &[]).map(|f| f.differs),
            Some(false)
        );
        assert_eq!(
            compare(&a, Some(&facts("bb", "CN=Example CA")), &[]).map(|f| f.differs),
            Some(true)
        );
        let forged = facts("cc", "CN=FortiGate CA, O=Fortinet");
        assert_eq!(
            compare(&forged, None, &[]).map(|f| f.interception_ca),
            Some(true)
        );
        let custom = facts("dd", "CN=Trust Web Filter");
        assert_eq!(
            compare(&custom, None, &["web filter".into()]).map(|f| f.interception_ca),
            Some(true)
        );
    }
}
