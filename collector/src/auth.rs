//! Keys, tokens and enrolment secrets: random, shown once, stored only as SHA-256 hashes.

use posture_policies::model::Target;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new secret with a prefix that says what it is (`pa_` agent key, `pt_` token, `pe_`
/// enrolment secret): 32 random bytes, hex.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The secret of an `Authorization: Bearer SECRET` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Whether an organisation that owns `domains` may write an observation of `name` (a
/// domain, or an endpoint's host or scoring domain): `name` is one of them or under one.
pub fn owns(domains: &[String], name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    domains.iter().any(|d| {
        name == *d
            || name
                .strip_suffix(d.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

/// Whether an organisation owning `domains` and the registered `endpoints` (host, port; 0
/// for any port) may write an observation of `target`: a domain it owns or one under it; an
/// endpoint whose host is under one of its domains or registered to it, and whose findings
/// are scored under one of its domains or under that registered host.
pub fn may_write(domains: &[String], endpoints: &[(String, u16)], target: &Target) -> bool {
    match target {
        Target::Domain(d) => owns(domains, &d.name),
        Target::Endpoint(e) => {
            let host = e.host.trim_end_matches('.').to_ascii_lowercase();
            let registered = endpoints
                .iter()
                .any(|(h, p)| *h == host && (*p == 0 || *p == e.port));
            let scored = target.scoring_domain();
            (owns(domains, &host) || registered)
                && (owns(domains, scored)
                    || (registered && scored.trim_end_matches('.').eq_ignore_ascii_case(&host)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = new_secret("pa_");
        assert!(a.starts_with("pa_") && a.len() == 3 + 64);
        assert_ne!(a, new_secret("pa_"));
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), a);
    }

    #[test]
    fn registered_endpoints_are_written_by_their_organisation_only() {
        let endpoint = |host: &str, port: u16, domain: Option<&str>| {
            Target::Endpoint(posture_policies::model::EndpointTarget {
                host: host.into(),
                port,
                sni: None,
                service: posture_policies::model::Service::Tls,
                domain: domain.map(str::to_owned),
            })
        };
        let domains = vec!["trust.nhs.uk".to_owned()];
        let endpoints = vec![
            ("10.0.0.5".to_owned(), 0),
            ("pacs.internal".to_owned(), 8443),
        ];
        assert!(may_write(
            &domains,
            &endpoints,
            &endpoint("10.0.0.5", 636, None)
        ));
        assert!(may_write(
            &domains,
            &endpoints,
            &endpoint("PACS.internal", 8443, None)
        ));
        assert!(!may_write(
            &domains,
            &endpoints,
            &endpoint("pacs.internal", 443, None)
        ));
        assert!(!may_write(
            &domains,
            &endpoints,
            &endpoint("10.0.0.6", 443, None)
        ));
        // Scored under a domain of its own organisation, or of none it may claim.
        assert!(may_write(
            &domains,
            &endpoints,
            &endpoint("10.0.0.5", 443, Some("trust.nhs.uk"))
        ));
        assert!(!may_write(
            &domains,
            &endpoints,
            &endpoint("10.0.0.5", 443, Some("other.nhs.uk"))
        ));
        assert!(may_write(
            &domains,
            &[],
            &endpoint("www.trust.nhs.uk", 443, Some("trust.nhs.uk"))
        ));
        assert!(!may_write(
            &domains,
            &[],
            &endpoint("www.trust.nhs.uk", 443, Some("other.nhs.uk"))
        ));
    }

    #[test]
    fn ownership_is_a_domain_and_its_subdomains() {
        let owned = vec!["trust-a.nhs.uk".to_owned()];
        assert!(owns(&owned, "trust-a.nhs.uk"));
        assert!(owns(&owned, "www.Trust-A.nhs.uk."));
        assert!(!owns(&owned, "eviltrust-a.nhs.uk"));
        assert!(!owns(&owned, "trust-b.nhs.uk"));
        assert!(!owns(&owned, "nhs.uk"));
    }
}
