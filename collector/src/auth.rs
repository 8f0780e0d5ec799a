//! Keys, tokens and enrolment secrets: random, shown once, stored only as SHA-256 hashes.

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
    fn ownership_is_a_domain_and_its_subdomains() {
        let owned = vec!["trust-a.nhs.uk".to_owned()];
        assert!(owns(&owned, "trust-a.nhs.uk"));
        assert!(owns(&owned, "www.Trust-A.nhs.uk."));
        assert!(!owns(&owned, "eviltrust-a.nhs.uk"));
        assert!(!owns(&owned, "trust-b.nhs.uk"));
        assert!(!owns(&owned, "nhs.uk"));
    }
}
