//! DMARC records (RFC 7489 §6.3-6.4, and `np` from RFC 9091), parsed strictly with the
//! position of the first error. Pure.

/// A report destination (`dmarc-uri`: a URI with an optional size limit after `!`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportUri {
    /// The URI as written (without the size limit).
    pub uri: String,
    /// Its scheme, lower case.
    pub scheme: String,
    /// For `mailto:`, the address, lower case.
    pub address: Option<String>,
}

/// A parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcRecord {
    /// p.
    pub policy: String,
    /// sp.
    pub subdomain_policy: Option<String>,
    /// np.
    pub np: Option<String>,
    /// pct (100 when absent).
    pub pct: u8,
    /// adkim.
    pub adkim: Option<String>,
    /// aspf.
    pub aspf: Option<String>,
    /// rua.
    pub rua: Vec<ReportUri>,
    /// ruf.
    pub ruf: Vec<ReportUri>,
}

/// A syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at position {position})")]
pub struct DmarcError {
    /// What is wrong.
    pub message: String,
    /// Byte offset.
    pub position: usize,
}

fn err<T>(position: usize, message: impl Into<String>) -> Result<T, DmarcError> {
    Err(DmarcError {
        message: message.into(),
        position,
    })
}

/// Whether a TXT string claims to be DMARC (starts with `v=DMARC1`, spaces allowed around `=`).
pub fn is_dmarc(txt: &str) -> bool {
    let t = txt.trim_start();
    t.strip_prefix('v')
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('='))
        .map(str::trim_start)
        .is_some_and(|r| r.starts_with("DMARC1"))
}

/// Parse a record.
pub fn parse(text: &str) -> Result<DmarcRecord, DmarcError> {
    let mut record = DmarcRecord {
        policy: String::new(),
        subdomain_policy: None,
        np: None,
        pct: 100,
        adkim: None,
        aspf: None,
        rua: Vec::new(),
        ruf: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    let mut at = 0;
    for (index, part) in text.split(';').enumerate() {
        let start = at;
        at += part.len() + 1;
        let lead = part.len() - part.trim_start().len();
        let tag_at = start + lead;
        let part = part.trim();
        if part.is_empty() {
            if index == 0 {
                return err(0, "empty record");
            }
            continue;
        }
        let Some((name, value)) = part.split_once('=') else {
            return err(tag_at, format!("{part:?} is not tag=value"));
        };
        let name = name.trim();
        let value = value.trim();
        let eq = part.find('=').unwrap_or(0) + 1;
        let value_at = tag_at + eq + (part[eq..].len() - part[eq..].trim_start().len());
        if index == 0 {
            if name != "v" || value != "DMARC1" {
                return err(tag_at, "the first tag must be v=DMARC1");
            }
            seen.push("v".into());
            continue;
        }
        let lname = name.to_ascii_lowercase();
        if seen.contains(&lname) {
            return err(tag_at, format!("{name} given twice"));
        }
        seen.push(lname.clone());
        let policy = |v: &str| -> Result<String, DmarcError> {
            let v = v.to_ascii_lowercase();
            if ["none", "quarantine", "reject"].contains(&v.as_str()) {
                Ok(v)
            } else {
                err(
                    value_at,
                    format!("{name}={value:?}: use none, quarantine or reject"),
                )
            }
        };
        match lname.as_str() {
            "v" => return err(tag_at, "v must be the first tag only"),
            "p" => record.policy = policy(value)?,
            "sp" => record.subdomain_policy = Some(policy(value)?),
            "np" => record.np = Some(policy(value)?),
            "pct" => {
                record.pct = match value.parse::<u8>() {
                    Ok(n)
                        if n <= 100
                            && !value.is_empty()
                            && value.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        n
                    }
                    _ => {
                        return err(
                            value_at,
                            format!("pct={value:?}: use a whole number from 0 to 100"),
                        );
                    }
                }
            }
            "adkim" | "aspf" => {
                let v = value.to_ascii_lowercase();
                if v != "r" && v != "s" {
                    return err(value_at, format!("{name}={value:?}: use r or s"));
                }
                if lname == "adkim" {
                    record.adkim = Some(v);
                } else {
                    record.aspf = Some(v);
                }
            }
            "rua" | "ruf" => {
                let uris = uri_list(value, value_at)?;
                if lname == "rua" {
                    record.rua = uris;
                } else {
                    record.ruf = uris;
                }
            }
            "ri" if value.is_empty()
                || !value.bytes().all(|b| b.is_ascii_digit())
                || value.len() > 10 =>
            {
                return err(value_at, format!("ri={value:?}: use a number of seconds"));
            }
            "fo" if value.is_empty()
                || !value
                    .split(':')
                    .all(|o| ["0", "1", "d", "s"].contains(&o.trim())) =>
            {
                return err(
                    value_at,
                    format!("fo={value:?}: use 0, 1, d or s, separated by ':'"),
                );
            }
            "rf" if !value
                .split(':')
                .all(|f| f.trim().eq_ignore_ascii_case("afrf")) =>
            {
                return err(value_at, format!("rf={value:?}: only afrf is defined"));
            }
            // Unknown tags are ignored (§6.3).
            _ => {}
        }
    }
    if record.policy.is_empty() {
        return err(text.len(), "no p= tag");
    }
    Ok(record)
}

fn uri_list(value: &str, at: usize) -> Result<Vec<ReportUri>, DmarcError> {
    let mut out = Vec::new();
    let mut offset = 0;
    for item in value.split(',') {
        let item_at = at + offset + (item.len() - item.trim_start().len());
        offset += item.len() + 1;
        let item = item.trim();
        // An optional size limit: "!" 1*DIGIT [ "k" / "m" / "g" / "t" ].
        let uri = match item.rsplit_once('!') {
            Some((u, limit)) => {
                let digits = limit.trim_end_matches(['k', 'm', 'g', 't', 'K', 'M', 'G', 'T']);
                if digits.is_empty()
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || limit.len() > digits.len() + 1
                {
                    return err(item_at, format!("{item:?}: bad size limit"));
                }
                u
            }
            None => item,
        };
        let Some((scheme, rest)) = uri.split_once(':') else {
            return err(item_at, format!("{uri:?} is not a URI"));
        };
        let scheme_ok = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !scheme_ok || rest.is_empty() || uri.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            return err(item_at, format!("{uri:?} is not a URI"));
        }
        let scheme = scheme.to_ascii_lowercase();
        let address = (scheme == "mailto")
            .then(|| rest.split('?').next().unwrap_or(rest).to_ascii_lowercase());
        if address
            .as_ref()
            .is_some_and(|a| !a.contains('@') || a.starts_with('@') || a.ends_with('@'))
        {
            return err(item_at, format!("{uri:?}: not a mail address"));
        }
        out.push(ReportUri {
            uri: uri.to_owned(),
            scheme,
            address,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn valid_records() {
        let r = parse("v=DMARC1; p=reject; sp=quarantine; pct=50; adkim=s; aspf=r; rua=mailto:dmarc-rua@dmarc.service.gov.uk,mailto:d@example.org!10m; ruf=mailto:f@example.org; fo=1:d; ri=86400; x=ignored").unwrap();
        assert_eq!(r.policy, "reject");
        assert_eq!(r.subdomain_policy.as_deref(), Some("quarantine"));
        assert_eq!(r.pct, 50);
        assert_eq!(r.rua.len(), 2);
        assert_eq!(
            r.rua[0].address.as_deref(),
            Some("dmarc-rua@dmarc.service.gov.uk")
        );
        assert_eq!(r.rua[1].uri, "mailto:d@example.org");
        let r = parse("v = DMARC1 ;p=none;").unwrap();
        assert_eq!((r.policy.as_str(), r.pct), ("none", 100));
        assert!(is_dmarc("v=DMARC1; p=none") && !is_dmarc("v=spf1 -all"));
    }

    #[test]
    fn invalid_records_with_positions() {
        for (text, position) in [
            ("p=reject; v=DMARC1", 0),
            ("v=DMARC2; p=reject", 0),
            ("v=dmarc1; p=reject", 0),
            ("v=DMARC1; p=rejected", 12),
            ("v=DMARC1; p=none; p=reject", 18),
            ("v=DMARC1; p=none; pct=101", 22),
            ("v=DMARC1; p=none; adkim=x", 24),
            ("v=DMARC1; p=none; rua=dmarc@example.org", 22),
            ("v=DMARC1; p=none; rua=mailto:nobody", 22),
            ("v=DMARC1; sp=none", 17),
            ("v=DMARC1; p", 10),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.position, position, "{text:?}: {e}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "v=DMARC1;[ -~]{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_any_text(s in ".{0,200}") {
            let _ = parse(&s);
        }
    }
}
