//! DMARC records (RFC 7489 §6.3-6.4, and `np` from RFC 9091), parsed as receivers read them:
//! a record must start with `v=DMARC1`; a bad value of another tag is discarded in favour of
//! the default (RFC 7489 §6.3) and reported as a warning with its position; a missing or bad
//! `p` with a valid `rua` acts as `p=none` (§6.6.3) but leaves the record invalid (§6.3: p is
//! REQUIRED), and without one the record is an error. Pure.

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
    /// Mistakes receivers discard (the default or nothing is used instead), in order.
    pub warnings: Vec<DmarcError>,
    /// A rule RFC 7489 makes mandatory that the record breaks although receivers still apply
    /// it: no usable `p=` (§6.3: p is REQUIRED) rescued by a valid `rua=` (§6.6.3).
    pub invalid: Option<DmarcError>,
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
    Err(problem(position, message))
}

fn problem(position: usize, message: impl Into<String>) -> DmarcError {
    DmarcError {
        message: message.into(),
        position,
    }
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
        warnings: Vec::new(),
        invalid: None,
    };
    // Where a p= tag with an unusable value was, to name it if no rua= rescues the record.
    let mut bad_policy: Option<DmarcError> = None;
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
            if index == 0 {
                return err(tag_at, "the first tag must be v=DMARC1");
            }
            record.warnings.push(problem(
                tag_at,
                format!("{part:?} is not tag=value (ignored)"),
            ));
            continue;
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
            record.warnings.push(problem(
                tag_at,
                format!("{name} given twice (the first is used)"),
            ));
            continue;
        }
        seen.push(lname.clone());
        apply_tag(&mut record, &mut bad_policy, name, value, value_at);
    }
    if record.policy.is_empty() {
        no_policy(&mut record, bad_policy, text.len())?;
    }
    record.warnings.sort_by_key(|w| w.position);
    Ok(record)
}

/// One tag after `v=DMARC1`, `value` found at `value_at`: recorded in `record`; a value
/// receivers discard is a warning and the default applies; an unusable p= is kept in
/// `bad_policy`, to name if no rua= rescues the record.
fn apply_tag(
    record: &mut DmarcRecord,
    bad_policy: &mut Option<DmarcError>,
    name: &str,
    value: &str,
    value_at: usize,
) {
    let lname = name.to_ascii_lowercase();
    let policy = |v: &str| {
        let v = v.to_ascii_lowercase();
        ["none", "quarantine", "reject"]
            .contains(&v.as_str())
            .then_some(v)
    };
    let mut discard = |what: &str| {
        record.warnings.push(problem(
            value_at,
            format!("{name}={value:?}: {what} (ignored; the default applies)"),
        ));
    };
    match lname.as_str() {
        "v" => discard("v must be the first tag only"),
        "p" => match policy(value) {
            Some(p) => record.policy = p,
            None => {
                *bad_policy = Some(problem(
                    value_at,
                    format!("p={value:?}: use none, quarantine or reject"),
                ));
            }
        },
        "sp" | "np" => match policy(value) {
            Some(p) if lname == "sp" => record.subdomain_policy = Some(p),
            Some(p) => record.np = Some(p),
            None => discard("use none, quarantine or reject"),
        },
        "pct" => match value.parse::<u8>() {
            Ok(n) if n <= 100 && value.bytes().all(|b| b.is_ascii_digit()) => record.pct = n,
            _ => discard("use a whole number from 0 to 100"),
        },
        "adkim" | "aspf" => {
            let v = value.to_ascii_lowercase();
            if v != "r" && v != "s" {
                discard("use r or s");
            } else if lname == "adkim" {
                record.adkim = Some(v);
            } else {
                record.aspf = Some(v);
            }
        }
        "rua" | "ruf" => {
            let (uris, problems) = uri_list(value, value_at);
            record.warnings.extend(problems);
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
            discard("use a number of seconds");
        }
        "fo" if value.is_empty()
            || !value
                .split(':')
                .all(|o| ["0", "1", "d", "s"].contains(&o.trim())) =>
        {
            discard("use 0, 1, d or s, separated by ':'");
        }
        "rf" if !value
            .split(':')
            .all(|f| f.trim().eq_ignore_ascii_case("afrf")) =>
        {
            discard("only afrf is defined");
        }
        // Unknown tags are ignored (§6.3).
        _ => {}
    }
}

/// A record without a usable p= (RFC 7489 §6.3 requires one; §6.6.3: a valid rua= makes
/// receivers act as if p=none had been given). `end` is where the missing tag would be.
fn no_policy(
    record: &mut DmarcRecord,
    bad_policy: Option<DmarcError>,
    end: usize,
) -> Result<(), DmarcError> {
    let missing = bad_policy.unwrap_or_else(|| problem(end, "no p= tag"));
    if record.rua.is_empty() {
        return Err(DmarcError {
            message: format!(
                "{}; with no valid rua= either, receivers apply no DMARC policy",
                missing.message
            ),
            position: missing.position,
        });
    }
    // RFC 7489 §6.6.3: a valid rua= makes receivers act as if p=none had been given, but
    // §6.3 makes p= REQUIRED: the record is invalid all the same.
    record.policy = "none".into();
    record.invalid = Some(DmarcError {
        message: format!(
            "{}: RFC 7489 §6.3 requires p= (none, quarantine or reject); receivers fall back to p=none only because rua= is valid",
            missing.message
        ),
        position: missing.position,
    });
    Ok(())
}

/// The URIs of a `rua` / `ruf` list; one that does not parse is left out with a warning.
fn uri_list(value: &str, at: usize) -> (Vec<ReportUri>, Vec<DmarcError>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
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
                    problems.push(problem(
                        item_at,
                        format!("{item:?}: bad size limit (ignored)"),
                    ));
                    continue;
                }
                u
            }
            None => item,
        };
        let Some((scheme, rest)) = uri.split_once(':') else {
            problems.push(problem(item_at, format!("{uri:?} is not a URI (ignored)")));
            continue;
        };
        let scheme_ok = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !scheme_ok || rest.is_empty() || uri.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            problems.push(problem(item_at, format!("{uri:?} is not a URI (ignored)")));
            continue;
        }
        let scheme = scheme.to_ascii_lowercase();
        let address = (scheme == "mailto")
            .then(|| rest.split('?').next().unwrap_or(rest).to_ascii_lowercase());
        if address
            .as_ref()
            .is_some_and(|a| !a.contains('@') || a.starts_with('@') || a.ends_with('@'))
        {
            problems.push(problem(
                item_at,
                format!("{uri:?}: not a mail address (ignored)"),
            ));
            continue;
        }
        out.push(ReportUri {
            uri: uri.to_owned(),
            scheme,
            address,
        });
    }
    (out, problems)
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
    fn records_receivers_reject_with_positions() {
        for (text, position) in [
            ("p=reject; v=DMARC1", 0),
            ("v=DMARC2; p=reject", 0),
            ("v=dmarc1; p=reject", 0),
            ("", 0),
            // A bad or missing p= and no rua= to fall back on (§6.6.3).
            ("v=DMARC1; p=rejected", 12),
            ("v=DMARC1; sp=none", 17),
            ("v=DMARC1; p", 11),
            ("v=DMARC1; p=none2; rua=dmarc@example.org", 12),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.position, position, "{text:?}: {e}");
        }
    }

    #[test]
    fn mistakes_receivers_discard_are_warnings_with_positions() {
        for (text, position, policy, fix) in [
            ("v=DMARC1; p=none; p=reject", 18, "none", "given twice"),
            ("v=DMARC1; p=reject; pct=101", 24, "reject", "0 to 100"),
            ("v=DMARC1; p=reject; adkim=x", 26, "reject", "use r or s"),
            (
                "v=DMARC1; p=reject; rua=dmarc@example.org",
                24,
                "reject",
                "not a URI",
            ),
            (
                "v=DMARC1; p=reject; rua=mailto:nobody",
                24,
                "reject",
                "not a mail address",
            ),
            (
                "v=DMARC1; p=reject; sp=block",
                23,
                "reject",
                "none, quarantine or reject",
            ),
            (
                "v=DMARC1; p=reject; nonsense",
                20,
                "reject",
                "not tag=value",
            ),
        ] {
            let r = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(r.policy, policy, "{text:?}");
            assert_eq!(r.warnings.len(), 1, "{text:?}: {:?}", r.warnings);
            assert_eq!(
                r.warnings[0].position, position,
                "{text:?}: {:?}",
                r.warnings
            );
            assert!(
                r.warnings[0].message.contains(fix),
                "{text:?}: {:?}",
                r.warnings
            );
        }
        // The discarded value leaves the default.
        let r = parse("v=DMARC1; p=reject; pct=101; adkim=x").unwrap();
        assert_eq!((r.pct, r.adkim.as_deref()), (100, None));
        assert_eq!(r.warnings.len(), 2);
        let r = parse("v=DMARC1; p=reject; rua=bad,mailto:ok@example.org").unwrap();
        assert_eq!(r.rua.len(), 1);
        assert_eq!(r.rua[0].address.as_deref(), Some("ok@example.org"));
        assert_eq!(r.invalid, None);
    }

    #[test]
    fn a_missing_or_bad_p_is_invalid_even_when_rua_rescues_it() {
        // RFC 7489 §6.3: p is REQUIRED; §6.6.3: receivers act as if p=none when rua is valid.
        for (text, position, what) in [
            ("v=DMARC1; rua=mailto:d@example.org", 34, "no p= tag"),
            (
                "v=DMARC1; p=block; rua=mailto:d@example.org",
                12,
                "p=\"block\"",
            ),
        ] {
            let r = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(r.policy, "none", "{text:?}");
            assert!(r.warnings.is_empty(), "{text:?}: {:?}", r.warnings);
            let invalid = r.invalid.unwrap_or_else(|| panic!("{text:?} is invalid"));
            assert_eq!(invalid.position, position, "{text:?}");
            assert!(invalid.message.starts_with(what), "{}", invalid.message);
            assert!(
                invalid.message.contains("requires p=")
                    && invalid.message.contains("fall back to p=none"),
                "{}",
                invalid.message
            );
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
