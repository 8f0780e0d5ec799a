//! SMTP TLS reporting records (RFC 8460 §3): `v=TLSRPTv1; rua=mailto:...,https://...`. Pure.

/// Parse a record; returns the report URIs.
pub fn parse(text: &str) -> Result<Vec<String>, String> {
    let mut fields = text.split(';').map(str::trim).filter(|f| !f.is_empty());
    match fields.next().and_then(|f| f.split_once('=')) {
        Some((v, value)) if v.trim() == "v" && value.trim() == "TLSRPTv1" => {}
        _ => return Err("the record must start with v=TLSRPTv1".into()),
    }
    let mut rua: Option<Vec<String>> = None;
    for f in fields {
        let Some((k, v)) = f.split_once('=') else {
            return Err(format!("{f:?} is not key=value"));
        };
        if k.trim() == "rua" {
            if rua.is_some() {
                return Err("rua given twice".into());
            }
            let uris: Vec<String> = v.split(',').map(|u| u.trim().to_owned()).collect();
            for u in &uris {
                let lower = u.to_ascii_lowercase();
                let ok = (lower.starts_with("mailto:") && u.contains('@'))
                    || (lower.starts_with("https://") && u.len() > 8);
                if !ok {
                    return Err(format!("{u:?} is neither a mailto: nor an https: URI"));
                }
            }
            rua = Some(uris);
        }
    }
    rua.ok_or_else(|| "no rua".into())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn records() {
        assert_eq!(
            parse("v=TLSRPTv1; rua=mailto:tls-rua@mailcheck.service.ncsc.gov.uk,https://r.example/report").unwrap().len(),
            2
        );
        assert!(parse("v=TLSRPTv1").is_err());
        assert!(parse("rua=mailto:a@b; v=TLSRPTv1").is_err());
        assert!(parse("v=TLSRPTv1; rua=http://insecure.example").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,300}") {
            let _ = parse(&s);
        }
    }
}
