//! MTA-STS (RFC 8461): the `_mta-sts` TXT record (§3.1), the policy file (§3.2) and MX
//! pattern matching (§4.1). Pure.

/// A parsed `_mta-sts` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsRecord {
    /// The policy id.
    pub id: String,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsPolicy {
    /// `enforce`, `testing` or `none`.
    pub mode: String,
    /// Seconds.
    pub max_age: u64,
    /// `mx` patterns, lower case.
    pub mx: Vec<String>,
}

/// Parse the TXT record: `v=STSv1; id=...;` (v first, id 1 to 32 alphanumerics).
pub fn parse_record(text: &str) -> Result<StsRecord, String> {
    let mut fields = text.split(';').map(str::trim).filter(|f| !f.is_empty());
    match fields.next().and_then(|f| f.split_once('=')) {
        Some((v, value)) if v.trim() == "v" && value.trim() == "STSv1" => {}
        _ => return Err("the record must start with v=STSv1".into()),
    }
    let mut id = None;
    for f in fields {
        let Some((k, v)) = f.split_once('=') else {
            return Err(format!("{f:?} is not key=value"));
        };
        if k.trim() == "id" {
            let v = v.trim();
            if id.is_some() {
                return Err("id given twice".into());
            }
            if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("id {v:?} must be 1 to 32 letters and digits"));
            }
            id = Some(v.to_owned());
        }
    }
    id.map(|id| StsRecord { id }).ok_or_else(|| "no id".into())
}

/// Parse a policy file.
pub fn parse_policy(text: &str) -> Result<StsPolicy, String> {
    let mut version = None;
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(format!("line {}: {line:?} is not key: value", n + 1));
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "version" if n == 0 || version.is_none() => {
                if v != "STSv1" {
                    return Err(format!("version {v:?} is not STSv1"));
                }
                version = Some(());
            }
            "mode" => {
                if !["enforce", "testing", "none"].contains(&v) {
                    return Err(format!("mode {v:?}: use enforce, testing or none"));
                }
                if mode.replace(v.to_owned()).is_some() {
                    return Err("mode given twice".into());
                }
            }
            "max_age" => {
                let age: u64 = v
                    .parse()
                    .ok()
                    .filter(|a| *a <= 31_557_600 && v.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| format!("max_age {v:?} must be 0 to 31557600"))?;
                if max_age.replace(age).is_some() {
                    return Err("max_age given twice".into());
                }
            }
            "mx" => mx.push(v.trim_end_matches('.').to_ascii_lowercase()),
            _ => {}
        }
    }
    version.ok_or("no version: STSv1 line")?;
    let mode = mode.ok_or("no mode")?;
    let max_age = max_age.ok_or("no max_age")?;
    if mx.is_empty() && mode != "none" {
        return Err("no mx line".into());
    }
    Ok(StsPolicy { mode, max_age, mx })
}

/// Whether `host` matches an `mx` pattern (§4.1: `*.` matches exactly one leftmost label).
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => host == pattern,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn records() {
        assert_eq!(
            parse_record("v=STSv1; id=20261125T01;").unwrap().id,
            "20261125T01"
        );
        assert!(parse_record("id=1; v=STSv1").is_err());
        assert!(parse_record("v=STSv1").is_err());
        assert!(parse_record("v=STSv1; id=has-dash").is_err());
    }

    #[test]
    fn policies() {
        let p = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 1209600\r\n").unwrap();
        assert_eq!(
            (p.mode.as_str(), p.max_age, p.mx.len()),
            ("enforce", 1_209_600, 2)
        );
        assert!(parse_policy("version: STSv1\nmode: enforce\nmax_age: 86400\n").is_err());
        assert!(parse_policy("version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n").is_err());
        assert!(parse_policy("mode: enforce\nmx: a.b\nmax_age: 1\n").is_err());
        assert!(parse_policy("version: STSv1\nmode: none\nmax_age: 1\n").is_ok());
    }

    #[test]
    fn mx_patterns() {
        assert!(mx_matches("*.example.net", "mx1.example.net."));
        assert!(!mx_matches("*.example.net", "a.b.example.net"));
        assert!(!mx_matches("*.example.net", "example.net"));
        assert!(mx_matches("Mail.Example.com", "mail.example.com"));
    }

    proptest! {
        #[test]
        fn never_panic(s in ".{0,300}") {
            let _ = parse_record(&s);
            let _ = parse_policy(&s);
            let _ = mx_matches(&s, &s);
        }
    }
}
