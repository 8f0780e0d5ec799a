//! Registration data over RDAP (RFC 9083 JSON, RFC 7482 queries): expiry and status of a
//! registrable domain. Each domain's registry is found in IANA's bootstrap registry (RFC 9224;
//! a copy ships with the agent, see `agent/data/README.md`), or the user names a file or a
//! base URL. Names under a private registry (such as nhs.uk) are not looked up.

use chrono::{DateTime, Utc};
use posture_policies::model::RegistrationFacts;

use super::net::Resolve;
use super::net::cert::TrustStore;
use super::net::http::{Url, WebLimits, fetch};

/// The private registries shipped as the default: suffixes whose names the public suffix list
/// calls registrable but whose registrations are not in the TLD's RDAP service.
pub const DEFAULT_PRIVATE_REGISTRIES: &[&str] = &["nhs.uk"];

pub use crate::target::registrable;

/// The private registry among `private` that `domain` sits under, if any (`trust.nhs.uk`
/// under `nhs.uk`).
pub fn private_registry<'a>(domain: &str, private: &'a [String]) -> Option<&'a str> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    private.iter().map(|p| p.trim_matches('.')).find(|p| {
        !p.is_empty()
            && domain
                .strip_suffix(&p.to_ascii_lowercase())
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

/// Parse an RDAP domain object.
pub fn parse(domain: &str, body: &[u8]) -> Result<RegistrationFacts, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not RDAP JSON: {e}"))?;
    if v.get("objectClassName").and_then(|o| o.as_str()) != Some("domain") {
        return Err("not an RDAP domain object".into());
    }
    let expires = v
        .get("events")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
        .find(|e| e.get("eventAction").and_then(|a| a.as_str()) == Some("expiration"))
        .and_then(|e| e.get("eventDate").and_then(|d| d.as_str()))
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
        .map(|d| d.with_timezone(&Utc));
    let statuses = v
        .get("status")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(|s| s.to_ascii_lowercase()))
        .collect();
    Ok(RegistrationFacts {
        registrable: true,
        registered_domain: Some(domain.to_owned()),
        expires,
        statuses,
    })
}

/// An RDAP bootstrap registry for domain names (RFC 9224), such as IANA's
/// `https://data.iana.org/rdap/dns.json`: which RDAP service answers for which suffix.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    /// `(suffix in lower case without dots at the ends, base URLs)`.
    services: Vec<(String, Vec<String>)>,
    /// The file's `publication` time, as written.
    publication: Option<String>,
}

/// IANA's bootstrap file as shipped (`agent/data/rdap-dns.json`).
const SHIPPED: &[u8] = include_bytes!("../../data/rdap-dns.json");

impl Bootstrap {
    /// The copy of IANA's bootstrap file that ships with the agent. (A unit test parses it, so
    /// the empty fallback is never what ships.)
    pub fn shipped() -> Bootstrap {
        Bootstrap::parse(SHIPPED).unwrap_or_default()
    }

    /// The file's publication time, as written in it.
    pub fn publication(&self) -> Option<&str> {
        self.publication.as_deref()
    }

    /// How many suffixes the file maps to a service.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether the file maps no suffix at all.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Parse a bootstrap file (RFC 9224 section 3: `{"version", "services": [[[entries],
    /// [urls]], ...]}`); malformed services are an error naming their position.
    pub fn parse(body: &[u8]) -> Result<Bootstrap, String> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("not a bootstrap file: {e}"))?;
        let services = v
            .get("services")
            .and_then(|s| s.as_array())
            .ok_or("no \"services\" array")?;
        let mut out = Vec::new();
        for (i, service) in services.iter().enumerate() {
            let pair = service
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or_else(|| format!("services[{i}] is not a pair of arrays"))?;
            let strings = |v: &serde_json::Value, what: &str| {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_owned))
                            .collect::<Vec<_>>()
                    })
                    .ok_or_else(|| format!("services[{i}] {what} is not an array"))
            };
            let entries = strings(&pair[0], "entries")?;
            // RFC 9224 section 3: HTTPS URLs are preferred over HTTP ones.
            let mut urls = strings(&pair[1], "URLs")?;
            urls.retain(|u| u.starts_with("https://") || u.starts_with("http://"));
            urls.sort_by_key(|u| !u.starts_with("https://"));
            if urls.is_empty() {
                continue;
            }
            for entry in entries {
                let entry = entry.trim_matches('.').to_ascii_lowercase();
                out.push((entry, urls.clone()));
            }
        }
        Ok(Bootstrap {
            services: out,
            publication: v
                .get("publication")
                .and_then(|p| p.as_str())
                .map(str::to_owned),
        })
    }

    /// The base URL for `domain`: the service whose entry is the longest label-wise suffix of
    /// the name (RFC 9224 section 4), HTTPS first.
    pub fn base_for(&self, domain: &str) -> Option<&str> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.services
            .iter()
            .filter(|(suffix, _)| {
                !suffix.is_empty()
                    && (domain == *suffix
                        || domain
                            .strip_suffix(suffix.as_str())
                            .is_some_and(|rest| rest.ends_with('.')))
            })
            .max_by_key(|(suffix, _)| suffix.split('.').count())
            .and_then(|(_, urls)| urls.first().map(String::as_str))
    }
}

/// Look `domain` up at `base` (e.g. `https://rdap.example/`): `Ok(None)` when there is no base
/// to ask; not-registrable names and names under one of the `private` registries are answered
/// without asking.
pub async fn lookup(
    domain: &str,
    base: Option<&str>,
    private: &[String],
    resolver: &impl Resolve,
    trust: &TrustStore,
    limits: &WebLimits,
    now: DateTime<Utc>,
) -> Result<Option<RegistrationFacts>, String> {
    if !registrable(domain) || private_registry(domain, private).is_some() {
        return Ok(Some(RegistrationFacts {
            registrable: false,
            registered_domain: psl::domain_str(domain).map(str::to_owned),
            expires: None,
            statuses: Vec::new(),
        }));
    }
    let Some(base) = base else { return Ok(None) };
    let url = Url::parse(&format!("{}/domain/{domain}", base.trim_end_matches('/')))
        .ok_or_else(|| format!("bad RDAP base URL {base:?}"))?;
    let addr = resolver.resolve(&url.host, url.port).await?;
    let response = fetch(&url, addr, trust, limits, now)
        .await
        .map_err(|e| e.to_string())?;
    if url.https && response.tls_valid != Some(true) {
        return Err(format!(
            "{} does not have a valid certificate",
            url.render()
        ));
    }
    match response.status {
        200 => parse(domain, &response.body).map(Some),
        404 => Err(format!("the registry has no record of {domain}")),
        s => Err(format!("RDAP answered HTTP {s}")),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bootstrap_picks_the_longest_suffix_and_https() {
        let file = br#"{"version":"1.0","publication":"2026-01-01T00:00:00Z","services":[
            [["uk"],["http://rdap.uk.test/","https://rdap.uk.test/"]],
            [["co.uk","ORG.UK."],["https://rdap.couk.test/"]],
            [["ftp"],["ftp://nope.test/"]]]}"#;
        let b = Bootstrap::parse(file).unwrap();
        assert_eq!(b.base_for("example.uk"), Some("https://rdap.uk.test/"));
        assert_eq!(
            b.base_for("Example.Co.UK."),
            Some("https://rdap.couk.test/")
        );
        assert_eq!(
            b.base_for("example.org.uk"),
            Some("https://rdap.couk.test/")
        );
        assert_eq!(b.base_for("example.nouk"), None);
        assert_eq!(b.base_for("example.ftp"), None);
        assert!(
            Bootstrap::parse(br#"{"services":[["uk"]]}"#)
                .unwrap_err()
                .contains("services[0]")
        );
    }

    #[test]
    fn the_shipped_iana_file_parses_and_names_the_big_registries() {
        let b = Bootstrap::parse(SHIPPED).unwrap();
        assert!(b.len() > 1000, "{} suffixes", b.len());
        assert_eq!(b.publication(), Some("2026-09-30T23:00:03Z"));
        assert_eq!(
            b.base_for("example.com"),
            Some("https://rdap.verisign.com/com/v1/")
        );
        assert_eq!(
            b.base_for("example.co.uk"),
            Some("https://rdap.nominet.uk/uk/")
        );
        assert_eq!(
            b.base_for("example.org"),
            Some("https://rdap.publicinterestregistry.org/rdap/")
        );
        assert_eq!(b.base_for("example.test"), None);
        assert_eq!(Bootstrap::shipped().len(), b.len());
    }

    #[test]
    fn names_under_a_private_registry_are_recognised() {
        let private = vec!["nhs.uk".to_owned(), ".police.uk.".to_owned()];
        assert_eq!(private_registry("trust.nhs.uk", &private), Some("nhs.uk"));
        assert_eq!(private_registry("Trust.NHS.UK.", &private), Some("nhs.uk"));
        assert_eq!(
            private_registry("force.police.uk", &private),
            Some("police.uk")
        );
        assert_eq!(private_registry("nhs.uk", &private), None);
        assert_eq!(private_registry("notnhs.uk", &private), None);
        assert_eq!(private_registry("example.co.uk", &private), None);
        // The public suffix list alone calls trust.nhs.uk registrable: the list is what stops
        // it from being asked of the uk registry.
        assert!(registrable("trust.nhs.uk"));
    }

    #[test]
    fn rfc9083_domain_object() {
        let body = br#"{"objectClassName":"domain","ldhName":"EXAMPLE.TEST","status":["client transfer prohibited","active"],
            "events":[{"eventAction":"registration","eventDate":"2010-01-01T00:00:00Z"},{"eventAction":"expiration","eventDate":"2027-03-01T00:00:00Z"}]}"#;
        let f = parse("example.test", body).unwrap();
        assert_eq!(f.expires.unwrap().to_rfc3339(), "2027-03-01T00:00:00+00:00");
        assert_eq!(f.statuses[0], "client transfer prohibited");
        assert!(parse("example.test", b"{}").is_err());
        assert!(registrable("example.co.uk") && !registrable("www.example.co.uk"));
    }

    proptest! {
        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse("x.test", &b);
            if let Ok(boot) = Bootstrap::parse(&b) {
                let _ = boot.base_for("x.test");
            }
        }
    }
}
