//! The administration commands and `submit`. Secrets are printed once and stored as hashes.

use std::io::Write;

use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::auth;
use crate::cli::{
    AgentCommand, ConfigArg, ContactCommand, DomainCommand, EndpointCommand, OrgCommand,
    SecretCommand, SubmitArgs, TokenCommand,
};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{Role, Store, endpoint_name, millis};

async fn store(config: &ConfigArg) -> Result<Store> {
    let config = Config::load(&config.config)?;
    Store::connect(&config.database_url, 2).await
}

fn now() -> i64 {
    millis(Utc::now())
}

/// `org add|list`.
pub async fn org(command: OrgCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        OrgCommand::Add { code, name, config } => {
            let code = code.trim().to_owned();
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(Error::BadInput(format!(
                    "{code:?}: an organisation code is letters, digits and '-'"
                )));
            }
            store(&config)
                .await?
                .add_organisation(&code, name.trim(), now())
                .await?;
            writeln!(out, "organisation {code} added").map_err(Error::Io)
        }
        OrgCommand::List(config) => {
            for (code, name) in store(&config).await?.organisations().await? {
                writeln!(out, "{code}\t{name}").map_err(Error::Io)?;
            }
            Ok(())
        }
    }
}

/// `domain add|remove`.
pub async fn domain(command: DomainCommand, out: &mut dyn Write) -> Result<()> {
    let normal = |d: &str| d.trim().trim_end_matches('.').to_ascii_lowercase();
    match command {
        DomainCommand::Add {
            domain,
            org,
            config,
        } => {
            let domain = normal(&domain);
            if !domain.contains('.')
                || domain
                    .bytes()
                    .any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
            {
                return Err(Error::BadInput(format!("{domain:?} is not a domain name")));
            }
            store(&config).await?.add_domain(&domain, &org).await?;
            writeln!(out, "{domain} registered to {org}").map_err(Error::Io)
        }
        DomainCommand::Remove { domain, config } => {
            let domain = normal(&domain);
            if store(&config).await?.remove_domain(&domain).await? {
                writeln!(out, "{domain} removed").map_err(Error::Io)
            } else {
                Err(Error::NotFound(format!("{domain} is not registered")))
            }
        }
    }
}

/// `endpoint add|remove|list`.
pub async fn endpoint(command: EndpointCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        EndpointCommand::Add {
            endpoint,
            org,
            config,
        } => {
            let (host, port) = parse_endpoint(&endpoint)?;
            store(&config)
                .await?
                .add_endpoint(&host, port, &org)
                .await?;
            let name = endpoint_name(&host, port);
            writeln!(out, "{name} registered to {org}").map_err(Error::Io)
        }
        EndpointCommand::Remove { endpoint, config } => {
            let (host, port) = parse_endpoint(&endpoint)?;
            let name = endpoint_name(&host, port);
            if store(&config).await?.remove_endpoint(&host, port).await? {
                writeln!(out, "{name} removed").map_err(Error::Io)
            } else {
                Err(Error::NotFound(format!("{name} is not registered")))
            }
        }
        EndpointCommand::List { org, config } => {
            for (host, port, org) in store(&config).await?.endpoints(org.as_deref()).await? {
                writeln!(out, "{}\t{org}", endpoint_name(&host, port)).map_err(Error::Io)?;
            }
            Ok(())
        }
    }
}

/// Check a contact's kind and address: an email address, or an http(s) URL.
pub fn check_contact(kind: &str, address: &str) -> Result<()> {
    let ok = match kind {
        "email" => address.parse::<lettre::Address>().is_ok(),
        "webhook" | "chat" | "alertmanager" => {
            address.starts_with("https://") || address.starts_with("http://")
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::BadInput(format!(
            "{kind} {address:?}: an email address, or an http(s) URL for a webhook or an Alertmanager"
        )))
    }
}

/// `contact add|remove|list`.
pub async fn contact(command: ContactCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        ContactCommand::Add {
            org,
            scope,
            email,
            webhook,
            chat,
            alertmanager,
            config,
        } => {
            let (kind, address) = match (email, webhook, chat, alertmanager) {
                (Some(a), ..) => ("email", a),
                (_, Some(a), ..) => ("webhook", a),
                (_, _, Some(a), _) => ("chat", a),
                (.., Some(a)) => ("alertmanager", a),
                _ => {
                    return Err(Error::BadInput(
                        "give --email, --webhook, --chat or --alertmanager".into(),
                    ));
                }
            };
            check_contact(kind, &address)?;
            let scope = scope
                .map(|s| s.trim_end_matches('.').to_ascii_lowercase())
                .unwrap_or_default();
            let id = store(&config)
                .await?
                .add_contact(&org, &scope, kind, &address, now())
                .await?;
            writeln!(out, "{id}").map_err(Error::Io)
        }
        ContactCommand::Remove { id, config } => {
            if store(&config).await?.remove_contact(&id).await? {
                writeln!(out, "{id} removed").map_err(Error::Io)
            } else {
                Err(Error::NotFound(format!("no contact {id}")))
            }
        }
        ContactCommand::List { org, config } => {
            for c in store(&config).await?.contacts(org.as_deref()).await? {
                let scope = if c.scope.is_empty() {
                    "(default)"
                } else {
                    &c.scope
                };
                writeln!(
                    out,
                    "{}	{}	{scope}	{}	{}",
                    c.id, c.organisation, c.kind, c.address
                )
                .map_err(Error::Io)?;
            }
            Ok(())
        }
    }
}

/// `HOST`, `HOST:PORT`, `IPv6` or `[IPv6]:PORT`: the host, lower case, and the port (0: any).
pub fn parse_endpoint(text: &str) -> Result<(String, u16)> {
    let text = text.trim();
    let bad = |why: &str| Error::BadInput(format!("{text:?} is not an endpoint: {why}"));
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("no closing ]"))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("expected :PORT after ]"))?,
                ),
            ),
        }
    } else if text.matches(':').count() > 1 {
        (text, None) // a bare IPv6 address
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let port = match port {
        None => 0,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("the port is 1 to 65535"))?,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let name_like = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !name_like && host.parse::<std::net::IpAddr>().is_err() {
        return Err(bad("the host is a name or an IP address"));
    }
    Ok((host, port))
}

/// `enrol-secret create|revoke`.
pub async fn enrol_secret(command: SecretCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        SecretCommand::Create { org, config } => {
            let secret = auth::new_secret("pe_");
            store(&config)
                .await?
                .add_enrol_secret(&auth::hash(&secret), &org, now())
                .await?;
            writeln!(out, "{secret}").map_err(Error::Io)?;
            eprintln!(
                "posture-collector: the enrolment secret for {org} is shown this once; it is stored only as a hash"
            );
            Ok(())
        }
        SecretCommand::Revoke { secret, config } => {
            if store(&config)
                .await?
                .revoke_enrol_secret(&auth::hash(&secret), now())
                .await?
            {
                writeln!(out, "revoked").map_err(Error::Io)
            } else {
                Err(Error::NotFound("no live enrolment secret like that".into()))
            }
        }
    }
}

/// `token create|revoke`.
pub async fn token(command: TokenCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        TokenCommand::Create {
            org,
            national,
            admin,
            config,
        } => {
            let role = match (org, national, admin) {
                (Some(o), false, false) => Role::Viewer(o),
                (None, true, false) => Role::National,
                (None, false, true) => Role::Admin,
                _ => {
                    return Err(Error::BadInput(
                        "give one of --org CODE, --national or --admin".into(),
                    ));
                }
            };
            let token = auth::new_secret("pt_");
            store(&config)
                .await?
                .add_token(&auth::hash(&token), &role, now())
                .await?;
            writeln!(out, "{token}").map_err(Error::Io)?;
            eprintln!(
                "posture-collector: the token is shown this once; it is stored only as a hash"
            );
            Ok(())
        }
        TokenCommand::Revoke { token, config } => {
            if store(&config)
                .await?
                .revoke_token(&auth::hash(&token), now())
                .await?
            {
                writeln!(out, "revoked").map_err(Error::Io)
            } else {
                Err(Error::NotFound("no live token like that".into()))
            }
        }
    }
}

/// `agent list|revoke`.
pub async fn agent(command: AgentCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        AgentCommand::List { org, config } => {
            for a in store(&config).await?.agents(org.as_deref()).await? {
                let seen = a
                    .last_seen
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map_or("never".to_owned(), |t| t.to_rfc3339());
                let state = if a.revoked { "revoked" } else { "live" };
                writeln!(
                    out,
                    "{}\t{}\t{}\t{state}\tlast seen {seen}",
                    a.id, a.organisation, a.name
                )
                .map_err(Error::Io)?;
            }
            Ok(())
        }
        AgentCommand::Revoke { id, config } => {
            if store(&config).await?.revoke_agent(&id, now()).await? {
                writeln!(out, "agent {id} revoked").map_err(Error::Io)
            } else {
                Err(Error::NotFound(format!("no live agent {id}")))
            }
        }
    }
}

/// `submit FILE`: the file's observations as one gzip JSON-lines batch.
pub async fn submit(args: SubmitArgs, out: &mut dyn Write) -> Result<()> {
    let bytes = std::fs::read(&args.file).map_err(Error::Io)?;
    #[derive(serde::Deserialize)]
    struct Input {
        observations: Vec<serde_json::Value>,
    }
    let input: Input = serde_json::from_slice(&bytes).map_err(|e| {
        Error::BadInput(format!(
            "{}: not a posture/v1 scan report: {e}",
            args.file.display()
        ))
    })?;
    let mut lines = Vec::new();
    let mut ids = Sha256::new();
    for o in &input.observations {
        serde_json::to_writer(&mut lines, o).map_err(|e| Error::BadInput(e.to_string()))?;
        lines.push(b'\n');
        ids.update(o["scan"]["id"].as_str().unwrap_or("").as_bytes());
    }
    let key = args
        .idempotency_key
        .unwrap_or_else(|| format!("submit-{}", hex::encode(ids.finalize())));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&lines).map_err(Error::Io)?;
    let body = gz.finish().map_err(Error::Io)?;
    let mut client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
    if let Some(ca) = &args.ca_file {
        let pem = std::fs::read(ca).map_err(Error::Io)?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| Error::BadInput(format!("{}: {e}", ca.display())))?;
        client = client.add_root_certificate(cert);
    }
    let client = client.build().map_err(|e| Error::Remote(e.to_string()))?;
    let url = format!("{}/api/v1/observations", args.url.trim_end_matches('/'));
    let response = client
        .post(&url)
        .bearer_auth(&args.key)
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .header("idempotency-key", &key)
        .body(body)
        .send()
        .await
        .map_err(|e| Error::Remote(format!("{url}: {e}")))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| Error::Remote(e.to_string()))?;
    if !status.is_success() {
        return Err(Error::Rejected {
            url,
            status: status.as_u16(),
            body: text,
        });
    }
    writeln!(out, "{text}").map_err(Error::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_and_without_ports() {
        let ok = |t: &str| parse_endpoint(t).unwrap();
        assert_eq!(ok("PACS.Internal:8443"), ("pacs.internal".into(), 8443));
        assert_eq!(ok("10.0.0.5"), ("10.0.0.5".into(), 0));
        assert_eq!(ok("[fd00::5]:443"), ("fd00::5".into(), 443));
        assert_eq!(ok("fd00::5"), ("fd00::5".into(), 0));
        assert_eq!(ok("[::1]"), ("::1".into(), 0));
        for bad in [
            "",
            "host:0",
            "host:99999",
            "host:x",
            "[::1",
            "[::1]443",
            "a b",
            "fd00::zz",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad:?}");
        }
        assert_eq!(endpoint_name("fd00::5", 443), "[fd00::5]:443");
        assert_eq!(endpoint_name("10.0.0.5", 0), "10.0.0.5");
    }
}
