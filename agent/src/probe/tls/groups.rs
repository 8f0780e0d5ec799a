//! Named groups (IANA TLS Supported Groups registry; RFC 8422, RFC 7919, RFC 8446, and
//! draft-ietf-tls-ecdhe-mlkem for the hybrids): code, name, kind and security-relevant size.

use posture_policies::model::GroupSupport;

/// `(code, name, kind, bits)`.
pub const GROUPS: [(u16, &str, &str, u16); 37] = [
    (1, "sect163k1", "ecdhe", 163),
    (2, "sect163r1", "ecdhe", 163),
    (3, "sect163r2", "ecdhe", 163),
    (4, "sect193r1", "ecdhe", 193),
    (5, "sect193r2", "ecdhe", 193),
    (6, "sect233k1", "ecdhe", 233),
    (7, "sect233r1", "ecdhe", 233),
    (8, "sect239k1", "ecdhe", 239),
    (9, "sect283k1", "ecdhe", 283),
    (10, "sect283r1", "ecdhe", 283),
    (11, "sect409k1", "ecdhe", 409),
    (12, "sect409r1", "ecdhe", 409),
    (13, "sect571k1", "ecdhe", 571),
    (14, "sect571r1", "ecdhe", 571),
    (15, "secp160k1", "ecdhe", 160),
    (16, "secp160r1", "ecdhe", 160),
    (17, "secp160r2", "ecdhe", 160),
    (18, "secp192k1", "ecdhe", 192),
    (19, "secp192r1", "ecdhe", 192),
    (20, "secp224k1", "ecdhe", 224),
    (21, "secp224r1", "ecdhe", 224),
    (22, "secp256k1", "ecdhe", 256),
    (23, "secp256r1", "ecdhe", 256),
    (24, "secp384r1", "ecdhe", 384),
    (25, "secp521r1", "ecdhe", 521),
    (26, "brainpoolP256r1", "ecdhe", 256),
    (27, "brainpoolP384r1", "ecdhe", 384),
    (28, "brainpoolP512r1", "ecdhe", 512),
    (29, "x25519", "ecdhe", 253),
    (30, "x448", "ecdhe", 448),
    (256, "ffdhe2048", "ffdhe", 2048),
    (257, "ffdhe3072", "ffdhe", 3072),
    (258, "ffdhe4096", "ffdhe", 4096),
    (259, "ffdhe6144", "ffdhe", 6144),
    (260, "ffdhe8192", "ffdhe", 8192),
    (0x11eb, "SecP256r1MLKEM768", "hybrid", 256),
    (0x11ec, "X25519MLKEM768", "hybrid", 253),
];

/// The facts for group `code`.
pub fn support(code: u16) -> GroupSupport {
    match GROUPS.iter().find(|g| g.0 == code) {
        Some((_, name, kind, bits)) => GroupSupport {
            name: (*name).to_owned(),
            kind: (*kind).to_owned(),
            bits: *bits,
        },
        None => GroupSupport {
            name: format!("unknown_0x{code:04x}"),
            kind: "unknown".into(),
            bits: 0,
        },
    }
}

/// Groups usable in TLS 1.3 (RFC 8446 §4.2.7 plus the hybrids).
pub fn tls13_codes() -> Vec<u16> {
    GROUPS
        .iter()
        .map(|g| g.0)
        .filter(|c| matches!(c, 23..=25 | 29 | 30 | 256..=260 | 0x11eb | 0x11ec))
        .collect()
}

/// Groups usable for ECDHE in TLS 1.2 and earlier.
pub fn ecdhe_codes() -> Vec<u16> {
    GROUPS
        .iter()
        .filter(|g| g.2 == "ecdhe")
        .map(|g| g.0)
        .collect()
}

/// The name of a finite-field prime that is one of the RFC 7919 groups or a well-known
/// weak one, by its bytes.
pub fn known_prime(prime: &[u8]) -> Option<&'static str> {
    // RFC 7919 primes all start with 64 one-bits and the Oakley/RFC 2409 and RFC 3526 primes
    // too; they differ in length and in the digits of e or pi that follow. Recognising them by
    // their leading and trailing bytes plus size is enough to name them.
    let ff = prime.len() >= 8 && prime[..8] == [0xff; 8] && prime[prime.len() - 8..] == [0xff; 8];
    if !ff {
        return None;
    }
    // Digits after the leading ones: RFC 7919 groups continue with ADF85458 (from e); the
    // RFC 2409/3526 MODP groups continue with C90FDAA2 (from pi).
    // A hostile server may send a prime of fewer than 12 bytes that is all ones.
    let next = prime.get(8..12)?;
    match (next, prime.len() * 8) {
        ([0xad, 0xf8, 0x54, 0x58], 2048) => Some("ffdhe2048"),
        ([0xad, 0xf8, 0x54, 0x58], 3072) => Some("ffdhe3072"),
        ([0xad, 0xf8, 0x54, 0x58], 4096) => Some("ffdhe4096"),
        ([0xc9, 0x0f, 0xda, 0xa2], 768) => Some("RFC 2409 group 1"),
        ([0xc9, 0x0f, 0xda, 0xa2], 1024) => Some("RFC 2409 group 2"),
        ([0xc9, 0x0f, 0xda, 0xa2], 1536) => Some("RFC 3526 group 5"),
        ([0xc9, 0x0f, 0xda, 0xa2], 2048) => Some("RFC 3526 group 14"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(support(29).name, "x25519");
        assert_eq!(support(0x11ec).kind, "hybrid");
        assert_eq!(support(999).kind, "unknown");
        assert!(tls13_codes().contains(&29) && !tls13_codes().contains(&22));
        assert_eq!(ecdhe_codes().len(), 30);
    }

    #[test]
    fn rfc2409_group2_is_named() {
        let mut p = vec![0xff; 8];
        p.extend_from_slice(&[0xc9, 0x0f, 0xda, 0xa2]);
        p.resize(120, 0x42);
        p.extend_from_slice(&[0xff; 8]);
        assert_eq!(known_prime(&p), Some("RFC 2409 group 2"));
        assert_eq!(known_prime(&[1, 2, 3]), None);
        for len in 8..=12 {
            assert_eq!(known_prime(&vec![0xff; len]), None, "{len} bytes of ones");
        }
    }
}
