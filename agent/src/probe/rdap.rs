//! Registration data over RDAP (RFC 9083 JSON, RFC 7482 queries): expiry and status of a
//! registrable domain. The RDAP base URL comes from the user or the national configuration;
//! no registry is assumed.

use chrono::{DateTime, Utc};
use posture_policies::model::RegistrationFacts;

use super::tls::cert::TrustStore;
use super::web::Resolve;
use super::web::http::{Url, WebLimits, fetch};

/// Whether `domain` is itself registrable (its public-suffix-list registrable domain is
/// itself); names under another registrable name (e.g. `trust.nhs.uk`) are not.
pub fn registrable(domain: &str) -> bool {
    psl::domain_str(domain) == Some(domain)
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

/// Look `domain` up at `base` (e.g. `https://rdap.example/`): `Ok(None)` when there is no base
/// to ask; not-registrable names are answered without asking.
pub async fn lookup(
    domain: &str,
    base: Option<&str>,
    resolver: &impl Resolve,
    trust: &TrustStore,
    limits: &WebLimits,
    now: DateTime<Utc>,
) -> Result<Option<RegistrationFacts>, String> {
    if !registrable(domain) {
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
        }
    }
}
