//! Scan targets as users write them: `tls://HOST:PORT`, `https://HOST[:PORT]`,
//! `smtp://HOST[:PORT]`, bare domain names, and curl-style `--connect-to` rules.
//!
//! Every host is normalised once, here: an internationalised name becomes its A-label
//! (UTS #46 / RFC 5890, through the `idna` crate), upper case becomes lower case, a trailing
//! dot is removed, each label is checked against RFC 1123 (letters, digits and inner hyphens,
//! 1 to 63 octets, 253 in all), and an IPv6 address is kept without brackets (and shown with
//! them). SNI, certificate matching and `--connect-to` rules all see that one form.

use std::net::IpAddr;

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
    Ok((normalise_host(&host)?, port))
}

/// The one form of a host name or address that SNI, certificate names and `--connect-to`
/// rules use (see the module documentation).
pub fn normalise_host(text: &str) -> Result<String, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    if text.contains('@') {
        return Err(format!(
            "{text:?}: a user name is not part of a host (remove everything up to '@')"
        ));
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    let ascii = idna::domain_to_ascii_cow(name.as_bytes(), idna::AsciiDenyList::STD3)
        .map_err(|_| format!("{text:?}: not a valid host name (RFC 1123, RFC 5890)"))?
        .into_owned();
    if ascii.is_empty() || ascii.len() > 253 {
        return Err(format!("{text:?}: a host name has 1 to 253 characters"));
    }
    for label in ascii.split('.') {
        let problem = if label.is_empty() {
            Some("an empty label (two dots in a row, or a leading dot)")
        } else if label.len() > 63 {
            Some("a label longer than 63 characters")
        } else if label.starts_with('-') || label.ends_with('-') {
            Some("a label that starts or ends with a hyphen")
        } else if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            Some("a character other than letters, digits and hyphens")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(format!(
                "{text:?}: not a valid host name: {problem} in {label:?}"
            ));
        }
    }
    Ok(ascii)
}

/// A host as it is written in a URL: an IPv6 address in brackets.
pub fn host_for_url(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Parse `tls://HOST:PORT`, `https://HOST[:PORT]` or `smtp://HOST[:PORT]`.
pub fn parse_target(text: &str) -> Result<TargetSpec, String> {
    parse_target_noting(text).map(|(spec, _)| spec)
}

/// [`parse_target`], and a note for the user when part of what they wrote is not scanned
/// (a URL's path, query or fragment: the scan is of the endpoint, not of one page).
pub fn parse_target_noting(text: &str) -> Result<(TargetSpec, Option<String>), String> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| format!("{text:?}: write the target as tls://HOST:PORT, https://HOST[:PORT] or smtp://HOST[:PORT]"))?;
    let (rest, dropped) = match rest.find(['/', '?', '#']) {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
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
    let spec = TargetSpec {
        service,
        host,
        port,
    };
    let note = (!dropped.is_empty() && dropped != "/").then(|| {
        format!(
            "{text}: {dropped:?} is not scanned; scanning the endpoint {}",
            spec.url()
        )
    });
    Ok((spec, note))
}

impl TargetSpec {
    /// The target as a URL, IPv6 in brackets, always with its port.
    pub fn url(&self) -> String {
        let scheme = match self.service {
            Service::Https => "https",
            Service::SmtpStarttls => "smtp",
            Service::Tls => "tls",
        };
        format!("{scheme}://{}:{}", host_for_url(&self.host), self.port)
    }
}

/// Whether `domain` is itself registrable (its public-suffix-list registrable domain is
/// itself); names under another registrable name (e.g. `www.example.co.uk`) are not.
pub fn registrable(domain: &str) -> bool {
    psl::domain_str(domain) == Some(domain)
}

/// Check a bare domain name (`example.nhs.uk`, or an internationalised one, which becomes its
/// A-label): a valid host name with at least one dot, not an address; lower-cased, trailing
/// dot removed.
pub fn parse_domain(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "{text:?} is an address, not a domain: scan its endpoints as tls://{}:PORT, https://{} or smtp://{}",
            host_for_url(trimmed),
            host_for_url(trimmed),
            host_for_url(trimmed)
        ));
    }
    let d = normalise_host(trimmed)
        .map_err(|e| format!("{e} (write URLs as tls://, https:// or smtp://)"))?;
    if d.contains('.') {
        Ok(d)
    } else {
        Err(format!(
            "{text:?}: not a domain name: it has no dot (write URLs as tls://, https:// or smtp://)"
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
        let from_host = if h1.is_empty() {
            None
        } else {
            Some(normalise_host(h1).map_err(|e| format!("--connect-to {text:?}: {e}"))?)
        };
        Ok(ConnectTo {
            from_host,
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
    fn targets_as_users_write_them() {
        // A path, query or fragment is dropped with a note; the host is the host.
        let (t, note) = parse_target_noting("https://x.test/login?next=1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("x.test", 443));
        assert!(note.unwrap().contains("\"/login?next=1\" is not scanned"));
        assert_eq!(parse_target_noting("https://x.test/").unwrap().1, None);
        assert_eq!(parse_target("https://x.test:8443#top").unwrap().port, 8443);
        // IDN names become A-labels; a trailing dot goes.
        assert_eq!(
            parse_target("https://bücher.example").unwrap().host,
            "xn--bcher-kva.example"
        );
        assert_eq!(parse_target("https://X.test.").unwrap().host, "x.test");
        assert_eq!(
            parse_domain("Bücher.Example.").unwrap(),
            "xn--bcher-kva.example"
        );
        // Not hosts.
        for bad in [
            "https://user@x.test",
            "https://-bad-.test",
            "https://a..b",
            "https://x_y.test",
            "https://.x.test",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
        assert!(parse_domain("a..b").is_err());
        assert!(parse_domain("-bad-.test").is_err());
        assert!(parse_domain("user@x.test").is_err());
        let long = format!("{}.test", "a".repeat(64));
        assert!(parse_domain(&long).unwrap_err().contains("longer than 63"));
        // An address is not a domain, and the error says what to write.
        assert!(
            parse_domain("127.0.0.1")
                .unwrap_err()
                .contains("tls://127.0.0.1:PORT")
        );
        assert!(
            parse_domain("::1")
                .unwrap_err()
                .contains("tls://[::1]:PORT")
        );
        // IPv6 is shown in brackets, and what is shown parses back to the same target.
        let v6 = parse_target("tls://[::1]:8443").unwrap();
        assert_eq!(v6.url(), "tls://[::1]:8443");
        assert_eq!(parse_target(&v6.url()).unwrap(), v6);
        assert_eq!(
            parse_target("tls://[0:0:0:0:0:0:0:1]:8443").unwrap(),
            v6,
            "one form of an address"
        );
    }

    #[test]
    fn connect_to_rules_match_the_normal_form() {
        let idn = parse_target("https://bücher.example").unwrap();
        let rule = ConnectTo::parse("BÜCHER.example.:443:127.0.0.1:8443").unwrap();
        assert_eq!(rule.apply(&idn), Some(("127.0.0.1".into(), 8443)));
        let dotted = parse_target("https://x.test.").unwrap();
        let rule = ConnectTo::parse("x.test:443:127.0.0.1:1").unwrap();
        assert_eq!(rule.apply(&dotted), Some(("127.0.0.1".into(), 1)));
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
