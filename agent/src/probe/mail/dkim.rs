//! DKIM key records (RFC 6376 §3.6.1, RFC 8463 for Ed25519): tags, the key type and size.
//! Pure.

use x509_parser::prelude::FromDer;

/// A parsed key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKeyRecord {
    /// `rsa` (the default) or `ed25519`.
    pub key_type: String,
    /// Key size in bits (absent when revoked).
    pub key_bits: Option<u32>,
    /// `p=` is empty: the key is revoked (the non-sending pattern publishes this).
    pub revoked: bool,
}

/// Parse a key record.
pub fn parse(text: &str) -> Result<DkimKeyRecord, String> {
    let mut key_type = "rsa".to_owned();
    let mut p: Option<String> = None;
    let mut seen: Vec<String> = Vec::new();
    for (i, field) in text
        .split(';')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .enumerate()
    {
        let Some((k, v)) = field.split_once('=') else {
            return Err(format!("{field:?} is not tag=value"));
        };
        let (k, v) = (k.trim().to_owned(), v.trim());
        if seen.contains(&k) {
            return Err(format!("{k} given twice"));
        }
        seen.push(k.clone());
        match k.as_str() {
            "v" if i != 0 || v != "DKIM1" => return Err("v must be first and DKIM1".into()),
            "k" => {
                let t = v.to_ascii_lowercase();
                if t != "rsa" && t != "ed25519" {
                    return Err(format!("unknown key type {v:?}"));
                }
                key_type = t;
            }
            "p" => p = Some(v.chars().filter(|c| !c.is_whitespace()).collect()),
            _ => {}
        }
    }
    let p = p.ok_or("no p= tag")?;
    if p.is_empty() {
        return Ok(DkimKeyRecord {
            key_type,
            key_bits: None,
            revoked: true,
        });
    }
    let der = base64(&p).ok_or("p= is not base64")?;
    let key_bits = if key_type == "ed25519" {
        if der.len() != 32 {
            return Err(format!("an Ed25519 key is 32 bytes, not {}", der.len()));
        }
        256
    } else {
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der)
            .map_err(|e| format!("p= is not a public key: {e}"))?;
        match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(k)) => {
                u32::try_from(k.key_size()).unwrap_or(0)
            }
            _ => return Err("p= is not an RSA public key".into()),
        }
    };
    Ok(DkimKeyRecord {
        key_type,
        key_bits: Some(key_bits),
        revoked: false,
    })
}

/// Standard base64 (RFC 4648 §4), padding optional.
pub(crate) fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        for (enc, dec) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(base64(enc).unwrap(), dec.as_bytes());
        }
        assert!(base64("Zm9v!").is_none());
    }

    #[test]
    fn records() {
        let r = parse("v=DKIM1; p=").unwrap();
        assert!(r.revoked);
        let ed =
            parse("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").unwrap();
        assert_eq!(ed.key_bits, Some(256));
        assert!(parse("k=rsa; v=DKIM1; p=").is_err());
        assert!(parse("v=DKIM1; k=dsa; p=AAAA").is_err());
        assert!(parse("v=DKIM1").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,300}") {
            let _ = parse(&s);
            let _ = base64(&s);
        }
    }
}
