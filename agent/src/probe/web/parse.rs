//! Parsers for what a website sends: `Strict-Transport-Security` (RFC 6797), `Set-Cookie`
//! (RFC 6265), `security.txt` (RFC 9116) and version banners. Pure; fuzzed by property tests.

use chrono::{DateTime, Utc};
use posture_policies::model::{Banner, CookieFacts, HstsFacts, SecurityTxtFacts};

/// Parse a Strict-Transport-Security value strictly (RFC 6797 §6.1): `;`-separated directives,
/// names case-insensitive, each at most once, `max-age` required with a delta-seconds value
/// (optionally quoted); unknown directives are ignored.
pub fn hsts(raw: &str) -> HstsFacts {
    let mut facts = HstsFacts {
        raw: raw.to_owned(),
        valid: false,
        error: None,
        max_age: None,
        include_subdomains: false,
        preload: false,
    };
    let mut seen: Vec<String> = Vec::new();
    for directive in raw.split(';') {
        let directive = directive.trim();
        if directive.is_empty() {
            continue;
        }
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (directive.to_ascii_lowercase(), None),
        };
        if seen.contains(&name) {
            facts.error = Some(format!("{name} given twice"));
            return facts;
        }
        seen.push(name.clone());
        match name.as_str() {
            "max-age" => {
                let Some(v) = value else {
                    facts.error = Some("max-age without a value".into());
                    return facts;
                };
                let v = v
                    .strip_prefix('"')
                    .and_then(|x| x.strip_suffix('"'))
                    .unwrap_or(v);
                match v.parse::<u64>() {
                    Ok(n) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                        facts.max_age = Some(i64::try_from(n).unwrap_or(i64::MAX));
                    }
                    _ => {
                        facts.error = Some(format!("max-age {v:?} is not a number of seconds"));
                        return facts;
                    }
                }
            }
            "includesubdomains" => facts.include_subdomains = true,
            "preload" => facts.preload = true,
            _ => {}
        }
    }
    if facts.max_age.is_none() {
        facts.error = Some("no max-age directive".into());
        return facts;
    }
    facts.valid = true;
    facts
}

/// Names that mark a cookie as a session cookie even when it has an expiry.
const SESSION_NAMES: [&str; 8] = [
    "sess",
    "sid",
    "auth",
    "token",
    "jsessionid",
    "phpsessid",
    "asp.net_sessionid",
    "login",
];

/// Parse a Set-Cookie value into the attributes the checks read.
pub fn cookie(raw: &str) -> Option<CookieFacts> {
    let mut parts = raw.split(';');
    let name = parts.next()?.split_once('=')?.0.trim().to_owned();
    if name.is_empty() {
        return None;
    }
    let mut facts = CookieFacts {
        name,
        secure: false,
        http_only: false,
        same_site: None,
        session: false,
    };
    let mut expires = false;
    for attr in parts {
        let (k, v) = match attr.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim()),
            None => (attr.trim().to_ascii_lowercase(), ""),
        };
        match k.as_str() {
            "secure" => facts.secure = true,
            "httponly" => facts.http_only = true,
            "samesite" => facts.same_site = Some(v.to_owned()),
            "expires" | "max-age" => expires = true,
            _ => {}
        }
    }
    let lower = facts.name.to_ascii_lowercase();
    facts.session = !expires || SESSION_NAMES.iter().any(|s| lower.contains(s));
    Some(facts)
}

/// Parse a security.txt body (RFC 9116 §2.5) served with `content_type` and `status`.
pub fn security_txt(status: u16, content_type: Option<&str>, body: &[u8]) -> SecurityTxtFacts {
    let text_plain =
        content_type.is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("text/plain"));
    let mut facts = SecurityTxtFacts {
        found: status == 200 && text_plain,
        contact: Vec::new(),
        expires: None,
        errors: Vec::new(),
    };
    if !facts.found {
        if status == 200 {
            facts.errors.push(format!(
                "served as {:?}, not text/plain",
                content_type.unwrap_or("nothing")
            ));
        }
        return facts;
    }
    let text = String::from_utf8_lossy(body);
    let mut expires_seen = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with("-----")
            || line.starts_with("Hash:")
        {
            continue;
        }
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match field.trim().to_ascii_lowercase().as_str() {
            "contact" => facts.contact.push(value.to_owned()),
            "expires" => {
                expires_seen += 1;
                match DateTime::parse_from_rfc3339(value) {
                    Ok(t) => facts.expires = Some(t.with_timezone(&Utc)),
                    Err(e) => facts.errors.push(format!("Expires {value:?}: {e}")),
                }
            }
            _ => {}
        }
    }
    if expires_seen > 1 {
        facts.errors.push("Expires appears more than once".into());
        facts.expires = None;
    }
    facts
}

/// Headers that disclose software versions.
const BANNER_HEADERS: [&str; 6] = [
    "server",
    "x-powered-by",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    "x-generator",
    "x-runtime",
];

/// The headers that disclose a version (a value with a digit in it).
pub fn banners(headers: &[(String, String)]) -> Vec<Banner> {
    let mut out: Vec<Banner> = Vec::new();
    for (name, value) in headers {
        if BANNER_HEADERS.contains(&name.as_str()) && value.bytes().any(|b| b.is_ascii_digit()) {
            let b = Banner {
                header: name.clone(),
                value: value.chars().take(200).collect(),
            };
            if !out.contains(&b) {
                out.push(b);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn hsts_strict_parsing() {
        let h = hsts("max-age=31536000; includeSubDomains; preload");
        assert!(h.valid && h.include_subdomains && h.preload);
        assert_eq!(h.max_age, Some(31_536_000));
        assert_eq!(hsts("Max-Age=\"300\"").max_age, Some(300));
        assert!(!hsts("max-age=1; max-age=2").valid);
        assert!(!hsts("includeSubDomains").valid);
        assert!(!hsts("max-age=-1").valid);
        assert!(!hsts("max-age=1e9").valid);
        assert!(!hsts("max-age=").valid);
        assert!(hsts("max-age=10; unknown=x").valid);
    }

    #[test]
    fn cookies() {
        let c = cookie("SID=abc; Path=/; Secure; HttpOnly; SameSite=Lax").unwrap();
        assert!(c.secure && c.http_only && c.session);
        assert_eq!(c.same_site.as_deref(), Some("Lax"));
        let c = cookie("theme=dark; Max-Age=3600").unwrap();
        assert!(!c.secure && !c.session);
        assert!(cookie("novalue").is_none());
    }

    #[test]
    fn security_txt_fields() {
        let body =
            b"# comment\nContact: mailto:security@example.test\nExpires: 2030-01-01T00:00:00Z\n";
        let f = security_txt(200, Some("text/plain; charset=utf-8"), body);
        assert!(f.found && f.errors.is_empty());
        assert_eq!(f.contact, vec!["mailto:security@example.test"]);
        assert!(f.expires.is_some());
        assert!(!security_txt(200, Some("text/html"), body).found);
        assert!(!security_txt(404, Some("text/plain"), body).found);
        // RFC 9116 §2.5.5: Expires at most once.
        let twice = security_txt(
            200,
            Some("text/plain"),
            b"Contact: mailto:a@example.test\nExpires: 2030-01-01T00:00:00Z\nExpires: 2031-01-01T00:00:00Z\n",
        );
        assert_eq!(twice.expires, None);
        assert!(twice.errors.iter().any(|e| e.contains("more than once")));
        assert!(
            security_txt(200, Some("text/plain"), b"Expires: tomorrow\n")
                .expires
                .is_none()
        );
    }

    #[test]
    fn banner_versions() {
        let h = vec![
            ("server".to_owned(), "nginx/1.22.1".to_owned()),
            ("server".to_owned(), "cloudflare".to_owned()),
            ("x-powered-by".to_owned(), "PHP/8.1.2".to_owned()),
        ];
        assert_eq!(banners(&h).len(), 2);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,400}", b in prop::collection::vec(any::<u8>(), 0..800)) {
            let _ = hsts(&s);
            let _ = cookie(&s);
            let _ = security_txt(200, Some("text/plain"), &b);
            let _ = banners(&[("server".into(), s.clone())]);
        }
    }
}
