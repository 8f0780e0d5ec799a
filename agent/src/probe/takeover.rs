//! Subdomain-takeover fingerprints: third-party services that a CNAME can point at, and what
//! they answer when the resource behind the name has been deleted (so anyone can claim it).
//! The shipped table is deliberately small; users extend it with their own entries.

/// One service's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The service.
    pub service: String,
    /// CNAME target suffix that identifies it (`.github.io`).
    pub cname_suffix: String,
    /// Text in the HTTP answer that says the resource is unclaimed; empty when NXDOMAIN alone
    /// is the sign.
    pub body: String,
}

/// The shipped table: the services' documented "not found" pages (as listed by the community
/// project can-i-take-over-xyz) and suffixes.
pub fn shipped() -> Vec<Fingerprint> {
    [
        (
            "GitHub Pages",
            ".github.io",
            "There isn't a GitHub Pages site here.",
        ),
        ("Heroku", ".herokuapp.com", "No such app"),
        ("AWS S3", ".s3.amazonaws.com", "NoSuchBucket"),
        ("Azure App Service", ".azurewebsites.net", ""),
        ("Azure Cloud Services", ".cloudapp.net", ""),
        ("Azure Traffic Manager", ".trafficmanager.net", ""),
        ("Azure Blob Storage", ".blob.core.windows.net", ""),
        ("Azure CDN", ".azureedge.net", ""),
        ("AWS Elastic Beanstalk", ".elasticbeanstalk.com", ""),
        ("Fastly", ".fastly.net", "Fastly error: unknown domain"),
        (
            "Shopify",
            ".myshopify.com",
            "Sorry, this shop is currently unavailable.",
        ),
    ]
    .into_iter()
    .map(|(service, cname_suffix, body)| Fingerprint {
        service: service.into(),
        cname_suffix: cname_suffix.into(),
        body: body.into(),
    })
    .collect()
}

/// Parse user entries, one per line: `service|cname-suffix|body text` (`#` starts a comment).
pub fn parse(text: &str) -> Result<Vec<Fingerprint>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.splitn(3, '|').map(str::trim).collect();
        let [service, suffix, body] = parts.as_slice() else {
            return Err(format!(
                "line {}: write service|cname-suffix|body text",
                n + 1
            ));
        };
        if service.is_empty() || suffix.is_empty() {
            return Err(format!(
                "line {}: service and cname suffix must not be empty",
                n + 1
            ));
        }
        out.push(Fingerprint {
            service: (*service).to_owned(),
            cname_suffix: suffix.to_ascii_lowercase(),
            body: (*body).to_owned(),
        });
    }
    Ok(out)
}

/// The fingerprint whose suffix the CNAME target ends with.
pub fn matching<'a>(table: &'a [Fingerprint], target: &str) -> Option<&'a Fingerprint> {
    let target = target.trim_end_matches('.').to_ascii_lowercase();
    table
        .iter()
        .find(|f| target.ends_with(f.cname_suffix.trim_end_matches('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_user_entries() {
        let table = shipped();
        assert_eq!(
            matching(&table, "acme.github.io.").map(|f| f.service.as_str()),
            Some("GitHub Pages")
        );
        assert!(matching(&table, "www.example.org").is_none());
        let user = parse("# ours\nPortal|.portal.example|Site not configured\n").unwrap();
        assert_eq!(user[0].body, "Site not configured");
        assert!(parse("just-a-name").is_err());
    }
}
