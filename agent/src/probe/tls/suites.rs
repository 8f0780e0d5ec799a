//! The cipher suite table: every suite in the IANA TLS Cipher Suites registry (as shipped by
//! `tls-parser`, generated from the registry), plus the seven SSLv2 cipher kinds, each with the
//! attributes policies judge it by.

use std::collections::HashMap;
use std::sync::LazyLock;

use posture_policies::model::{CipherSuite, ProtocolVersion};
use tls_parser::{
    TlsCipherAu, TlsCipherEnc, TlsCipherEncMode, TlsCipherKx, TlsCipherMac, TlsCipherSuite,
};

/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3).
pub const EMPTY_RENEGOTIATION_INFO_SCSV: u16 = 0x00ff;
/// TLS_FALLBACK_SCSV (RFC 7507 §6).
pub const FALLBACK_SCSV: u16 = 0x5600;

/// One suite and the protocol versions it can be negotiated in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteInfo {
    /// The facts reported for an accepted suite.
    pub suite: CipherSuite,
    /// Lowest version it exists in.
    pub min_version: ProtocolVersion,
    /// Highest version it exists in.
    pub max_version: ProtocolVersion,
}

impl SuiteInfo {
    /// Whether it can be negotiated in `v`.
    pub fn valid_in(&self, v: ProtocolVersion) -> bool {
        self.min_version <= v && v <= self.max_version
    }
}

/// The SSLv2 cipher kinds (draft-hickman-netscape-ssl-00, appendix C.4): code, name, cipher,
/// effective bits, mode, block bits, export.
const SSL2_KINDS: [(u32, &str, &str, u16, &str, u16, bool); 7] = [
    (
        0x01_0080,
        "SSL_CK_RC4_128_WITH_MD5",
        "RC4",
        128,
        "stream",
        0,
        false,
    ),
    (
        0x02_0080,
        "SSL_CK_RC4_128_EXPORT40_WITH_MD5",
        "RC4",
        40,
        "stream",
        0,
        true,
    ),
    (
        0x03_0080,
        "SSL_CK_RC2_128_CBC_WITH_MD5",
        "RC2",
        128,
        "cbc",
        64,
        false,
    ),
    (
        0x04_0080,
        "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5",
        "RC2",
        40,
        "cbc",
        64,
        true,
    ),
    (
        0x05_0080,
        "SSL_CK_IDEA_128_CBC_WITH_MD5",
        "IDEA",
        128,
        "cbc",
        64,
        false,
    ),
    (
        0x06_0040,
        "SSL_CK_DES_64_CBC_WITH_MD5",
        "DES",
        56,
        "cbc",
        64,
        false,
    ),
    (
        0x07_00c0,
        "SSL_CK_DES_192_EDE3_CBC_WITH_MD5",
        "3DES",
        112,
        "cbc",
        64,
        false,
    ),
];

static TABLE: LazyLock<HashMap<u32, SuiteInfo>> = LazyLock::new(|| {
    let mut table = HashMap::new();
    for id in 0..=u16::MAX {
        if id == EMPTY_RENEGOTIATION_INFO_SCSV || id == FALLBACK_SCSV {
            continue;
        }
        if let Some(s) = TlsCipherSuite::from_id(id) {
            table.insert(u32::from(id), from_registry(s));
        }
    }
    for (id, name, cipher, bits, mode, block_bits, export) in SSL2_KINDS {
        table.insert(
            id,
            SuiteInfo {
                suite: CipherSuite {
                    name: name.to_owned(),
                    id,
                    kex: "RSA".into(),
                    auth: "RSA".into(),
                    cipher: cipher.into(),
                    bits,
                    mode: mode.into(),
                    block_bits,
                    forward_secrecy: false,
                    export,
                },
                min_version: ProtocolVersion::Ssl2,
                max_version: ProtocolVersion::Ssl2,
            },
        );
    }
    table
});

fn from_registry(s: &TlsCipherSuite) -> SuiteInfo {
    let anonymous =
        s.au == TlsCipherAu::Null && !matches!(s.kx, TlsCipherKx::Null | TlsCipherKx::Psk);
    let kex = match s.kx {
        TlsCipherKx::Null => "NULL",
        TlsCipherKx::Psk => "PSK",
        TlsCipherKx::Krb5 => "KRB5",
        TlsCipherKx::Srp => "SRP",
        TlsCipherKx::Rsa => "RSA",
        // Anonymous DH is ephemeral; the registry files it under DH.
        TlsCipherKx::Dh if anonymous => "DHE",
        TlsCipherKx::Dh => "DH",
        TlsCipherKx::Dhe => "DHE",
        TlsCipherKx::Ecdh if anonymous => "ECDHE",
        TlsCipherKx::Ecdh => "ECDH",
        TlsCipherKx::Ecdhe | TlsCipherKx::Aecdh => "ECDHE",
        TlsCipherKx::Eccpwd => "ECCPWD",
        TlsCipherKx::Tls13 => "ANY",
    };
    let auth = match s.au {
        TlsCipherAu::Null if s.kx == TlsCipherKx::Psk => "PSK",
        TlsCipherAu::Null if s.kx == TlsCipherKx::Null => "NULL",
        TlsCipherAu::Null => "anon",
        TlsCipherAu::Psk => "PSK",
        TlsCipherAu::Krb5 => "KRB5",
        TlsCipherAu::Srp => "SRP",
        TlsCipherAu::Srp_Dss => "DSS",
        TlsCipherAu::Srp_Rsa | TlsCipherAu::Rsa => "RSA",
        TlsCipherAu::Dss => "DSS",
        TlsCipherAu::Dhe => "DHE",
        TlsCipherAu::Ecdsa => "ECDSA",
        TlsCipherAu::Eccpwd => "ECCPWD",
        TlsCipherAu::Tls13 => "ANY",
    };
    let (cipher, block_bits) = match s.enc {
        TlsCipherEnc::Null => ("NULL", 0),
        TlsCipherEnc::Des => ("DES", 64),
        TlsCipherEnc::TripleDes => ("3DES", 64),
        TlsCipherEnc::Rc2 => ("RC2", 64),
        TlsCipherEnc::Rc4 => ("RC4", 0),
        TlsCipherEnc::Aria => ("ARIA", 128),
        TlsCipherEnc::Idea => ("IDEA", 64),
        TlsCipherEnc::Seed => ("SEED", 128),
        TlsCipherEnc::Aes => ("AES", 128),
        TlsCipherEnc::Camellia => ("CAMELLIA", 128),
        TlsCipherEnc::Chacha20_Poly1305 => ("CHACHA20", 0),
        TlsCipherEnc::Sm4 => ("SM4", 128),
        TlsCipherEnc::Aegis => ("AEGIS", 0),
    };
    let mode = match (s.enc, s.enc_mode) {
        (TlsCipherEnc::Null, _) => "null",
        (_, TlsCipherEncMode::Cbc) => "cbc",
        (_, TlsCipherEncMode::Gcm | TlsCipherEncMode::Ccm) => "aead",
        (TlsCipherEnc::Chacha20_Poly1305 | TlsCipherEnc::Aegis, _) => "aead",
        (TlsCipherEnc::Rc4, _) => "stream",
        _ => "cbc",
    };
    let block_bits = if mode == "cbc" { block_bits } else { 0 };
    // 3DES's 168-bit key gives 112 bits of security (meet-in-the-middle); report the latter.
    let bits = if s.enc == TlsCipherEnc::TripleDes {
        112
    } else {
        s.enc_size
    };
    let tls12_only = matches!(
        s.mac,
        TlsCipherMac::HmacSha256 | TlsCipherMac::HmacSha384 | TlsCipherMac::Aead
    ) || mode == "aead";
    let (min_version, max_version) = if s.kx == TlsCipherKx::Tls13 {
        (ProtocolVersion::Tls13, ProtocolVersion::Tls13)
    } else if tls12_only {
        (ProtocolVersion::Tls12, ProtocolVersion::Tls12)
    } else {
        (ProtocolVersion::Ssl3, ProtocolVersion::Tls12)
    };
    SuiteInfo {
        suite: CipherSuite {
            name: s.name.to_owned(),
            id: u32::from(s.id.0),
            kex: kex.into(),
            auth: auth.into(),
            cipher: cipher.into(),
            bits,
            mode: mode.into(),
            block_bits,
            forward_secrecy: matches!(kex, "DHE" | "ECDHE" | "ANY"),
            export: s.name.contains("_EXPORT"),
        },
        min_version,
        max_version,
    }
}

/// The suite with code `id` (two bytes; three for SSLv2 kinds).
pub fn lookup(id: u32) -> Option<&'static SuiteInfo> {
    TABLE.get(&id)
}

/// A suite the server chose that is in no registry: reported by its code point.
pub fn unknown(id: u32) -> CipherSuite {
    CipherSuite {
        name: format!("UNKNOWN_0x{id:04X}"),
        id,
        kex: "UNKNOWN".into(),
        auth: "UNKNOWN".into(),
        cipher: "UNKNOWN".into(),
        bits: 0,
        mode: "unknown".into(),
        block_bits: 0,
        forward_secrecy: false,
        export: false,
    }
}

/// Every suite that can be negotiated in `v`, ordered by code point.
pub fn for_version(v: ProtocolVersion) -> Vec<&'static SuiteInfo> {
    let mut out: Vec<&SuiteInfo> = TABLE.values().filter(|s| s.valid_in(v)).collect();
    out.sort_by_key(|s| s.suite.id);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_complete_enough() {
        // IANA lists well over 300 TLS suites; SSLv2 has 7 kinds.
        assert!(TABLE.len() > 330, "{}", TABLE.len());
        assert_eq!(for_version(ProtocolVersion::Ssl2).len(), 7);
        assert!(for_version(ProtocolVersion::Tls13).len() >= 5);
    }

    #[test]
    fn attributes_of_well_known_suites() {
        let s = &lookup(0xc02f).unwrap().suite;
        assert_eq!(s.name, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(
            (
                s.kex.as_str(),
                s.auth.as_str(),
                s.cipher.as_str(),
                s.bits,
                s.mode.as_str()
            ),
            ("ECDHE", "RSA", "AES", 128, "aead")
        );
        assert!(s.forward_secrecy);
        assert!(!lookup(0xc02f).unwrap().valid_in(ProtocolVersion::Tls10));

        let s = &lookup(0x000a).unwrap().suite;
        assert_eq!(
            (s.cipher.as_str(), s.bits, s.block_bits, s.forward_secrecy),
            ("3DES", 112, 64, false)
        );
        assert!(lookup(0x000a).unwrap().valid_in(ProtocolVersion::Ssl3));

        let s = &lookup(0x0018).unwrap().suite; // TLS_DH_anon_WITH_RC4_128_MD5
        assert_eq!(
            (s.auth.as_str(), s.kex.as_str(), s.mode.as_str()),
            ("anon", "DHE", "stream")
        );
        assert!(lookup(0x0003).unwrap().suite.export);
        assert_eq!(lookup(0x1301).unwrap().suite.name, "TLS_AES_128_GCM_SHA256");
        assert_eq!(lookup(0x0001).unwrap().suite.cipher, "NULL");
        assert!(lookup(u32::from(FALLBACK_SCSV)).is_none());
        assert!(lookup(0x07_00c0).unwrap().valid_in(ProtocolVersion::Ssl2));
    }
}
