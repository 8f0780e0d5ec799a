//! Scan targets as users write them: `tls://HOST:PORT`, `https://HOST[:PORT]`,
//! `smtp://HOST[:PORT]`, and curl-style `--connect-to` rules.

use posture_policies::model::Service;

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// What speaks on the port.
    pub service: Service,
    /// Host name or address (no brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Split `HOST:PORT` where HOST may be `[v6]`; the port may be absent.
fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| format!("{s:?}: unclosed '['"))?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("{s:?}: unexpected {after:?} after the address")),
        };
        (host.to_owned(), port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_owned(), Some(p)),
            Some(_) => {
                return Err(format!(
                    "{s:?}: write IPv6 addresses in brackets, e.g. [::1]:443"
                ));
            }
            None => (s.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err(format!("{s:?}: no host"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{s:?}: {p:?} is not a port"))?,
        ),
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Parse `tls://HOST:PORT`, `https://HOST[:PORT]` or `smtp://HOST[:PORT]`.
pub fn parse_target(text: &str) -> Result<TargetSpec, String> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| format!("{text:?}: write the target as tls://HOST:PORT, https://HOST[:PORT] or smtp://HOST[:PORT]"))?;
    let rest = rest.trim_end_matches('/');
    let (service, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "https" => (Service::Https, Some(443)),
        "smtp" => (Service::SmtpStarttls, Some(25)),
        "tls" => (Service::Tls, None),
        other => {
            return Err(format!(
                "{text:?}: unknown scheme {other:?} (use tls, https or smtp)"
            ));
        }
    };
    let (host, port) = split_host_port(rest)?;
    let port = port
        .or(default_port)
        .ok_or_else(|| format!("{text:?}: tls:// targets need a port"))?;
    Ok(TargetSpec {
        service,
        host,
        port,
    })
}

/// Whether `domain` is itself registrable (its public-suffix-list registrable domain is
/// itself); names under another registrable name (e.g. `www.example.co.uk`) are not.
pub fn registrable(domain: &str) -> bool {
    psl::domain_str(domain) == Some(domain)
}

/// Check a bare domain name (`example.nhs.uk`): letters, digits, hyphens and dots, at least
/// one dot; lower-cased, trailing dot removed.
pub fn parse_domain(text: &str) -> Result<String, String> {
    let d = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = d.contains('.')
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(d)
    } else {
        Err(format!(
            "{text:?}: not a domain name (write URLs as tls://, https:// or smtp://)"
        ))
    }
}

/// A `--connect-to HOST1:PORT1:HOST2:PORT2` rule: connections for HOST1:PORT1 go to
/// HOST2:PORT2; an empty HOST1 or PORT1 matches any (as in curl).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    from_host: Option<String>,
    from_port: Option<u16>,
    /// Address or name to dial.
    pub to_host: String,
    /// Port to dial (the target's when empty).
    pub to_port: Option<u16>,
}

impl ConnectTo {
    /// Parse a rule.
    pub fn parse(text: &str) -> Result<ConnectTo, String> {
        let parts = split_colons(text);
        let [h1, p1, h2, p2] = parts.as_slice() else {
            return Err(format!(
                "--connect-to {text:?}: expected HOST1:PORT1:HOST2:PORT2"
            ));
        };
        let port = |p: &str| -> Result<Option<u16>, String> {
            if p.is_empty() {
                Ok(None)
            } else {
                p.parse::<u16>()
                    .map(Some)
                    .map_err(|_| format!("--connect-to {text:?}: {p:?} is not a port"))
            }
        };
        if h2.is_empty() {
            return Err(format!("--connect-to {text:?}: no host to connect to"));
        }
        Ok(ConnectTo {
            from_host: (!h1.is_empty()).then(|| h1.to_ascii_lowercase()),
            from_port: port(p1)?,
            to_host: (*h2).to_owned(),
            to_port: port(p2)?,
        })
    }

    /// Where to dial for `target`, if this rule matches it.
    pub fn apply(&self, target: &TargetSpec) -> Option<(String, u16)> {
        let host_ok = self.from_host.as_ref().is_none_or(|h| *h == target.host);
        let port_ok = self.from_port.is_none_or(|p| p == target.port);
        (host_ok && port_ok).then(|| (self.to_host.clone(), self.to_port.unwrap_or(target.port)))
    }
}

/// Split on ':' outside brackets, removing the brackets.
fn split_colons(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(|p| p.trim_start_matches('[').trim_end_matches(']'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("https://WWW.Example.test").unwrap(),
            TargetSpec {
                service: Service::Https,
                host: "www.example.test".into(),
                port: 443
            }
        );
        assert_eq!(
            parse_target("smtp://mx.example.test:587").unwrap().port,
            587
        );
        assert_eq!(parse_target("tls://[::1]:8443").unwrap().host, "::1");
        assert!(parse_target("tls://host").is_err());
        assert!(parse_target("ftp://host").is_err());
        assert!(parse_target("example.test").is_err());
        assert!(parse_target("https://::1").is_err());
        assert!(parse_target("https://host:0").is_err());
    }

    #[test]
    fn connect_to_rules() {
        let t = parse_target("https://www.example.test").unwrap();
        let r = ConnectTo::parse("www.example.test:443:127.0.0.1:8443").unwrap();
        assert_eq!(r.apply(&t), Some(("127.0.0.1".into(), 8443)));
        let any = ConnectTo::parse("::[::1]:").unwrap();
        assert_eq!(any.apply(&t), Some(("::1".into(), 443)));
        let other = ConnectTo::parse("other.test:443:127.0.0.1:1").unwrap();
        assert_eq!(other.apply(&t), None);
        assert!(ConnectTo::parse("a:1:b").is_err());
        assert!(ConnectTo::parse("a:x:b:1").is_err());
    }
}
