use std::fmt;

use serde::{Deserialize, Serialize};

/// What is scanned: a domain with its roles, or one TLS endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// A domain name and what it is used for.
    Domain(DomainTarget),
    /// A TLS endpoint: HTTPS, SMTP with STARTTLS or any TLS service.
    Endpoint(EndpointTarget),
}

/// A domain target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DomainTarget {
    /// The domain, lower case, without a trailing dot.
    pub name: String,
    /// What the domain is used for; decides which checks apply.
    #[serde(default)]
    pub roles: Vec<DomainRole>,
}

/// What a domain is used for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DomainRole {
    /// Serves a website (apex and/or `www`).
    Web,
    /// Receives mail (has MX records).
    MailReceiving,
    /// Sends mail.
    MailSending,
    /// Sends no mail: GOV.UK's "protect domains that do not send email" applies.
    NonSending,
}

impl DomainRole {
    /// The wire name (`mail-receiving`).
    pub fn as_str(self) -> &'static str {
        match self {
            DomainRole::Web => "web",
            DomainRole::MailReceiving => "mail-receiving",
            DomainRole::MailSending => "mail-sending",
            DomainRole::NonSending => "non-sending",
        }
    }
}

/// A TLS endpoint target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EndpointTarget {
    /// The host name (or address) scanned.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// The SNI name sent, when it differs from `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// What speaks on the port.
    pub service: Service,
    /// The domain this endpoint belongs to (its website or one of its MX hosts), which is
    /// where its findings are scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// The protocol on a TLS endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    /// HTTPS.
    Https,
    /// SMTP upgraded with STARTTLS (ports 25 and 587).
    SmtpStarttls,
    /// Any other service that speaks TLS from the first byte.
    Tls,
}

impl Service {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Https => "https",
            Service::SmtpStarttls => "smtp-starttls",
            Service::Tls => "tls",
        }
    }
}

impl Target {
    /// The domain whose score this target's findings count towards: the domain itself, the
    /// endpoint's `domain`, or else the endpoint's host.
    pub fn scoring_domain(&self) -> &str {
        match self {
            Target::Domain(d) => &d.name,
            Target::Endpoint(e) => e.domain.as_deref().unwrap_or(&e.host),
        }
    }

    /// The name connected to: the domain's name, or the endpoint's host.
    pub fn host(&self) -> &str {
        match self {
            Target::Domain(d) => &d.name,
            Target::Endpoint(e) => &e.host,
        }
    }

    /// Whether this is the main website of its scoring domain: an HTTPS endpoint on the
    /// domain itself or on `www.` of it. An expired or untrusted certificate here zeroes the
    /// domain's score.
    pub fn is_main_website(&self) -> bool {
        match self {
            Target::Domain(_) => false,
            Target::Endpoint(e) => {
                let domain = self.scoring_domain();
                e.service == Service::Https
                    && (e.host.eq_ignore_ascii_case(domain)
                        || e.host
                            .strip_prefix("www.")
                            .is_some_and(|rest| rest.eq_ignore_ascii_case(domain)))
            }
        }
    }

    /// The target's identity in a store: built only from what was asked for (kind, name,
    /// port, SNI, service), never from inferred roles or the domain it is scored under, so the
    /// same target always has the same key. Host names are compared without regard to case.
    pub fn key(&self) -> String {
        match self {
            Target::Domain(d) => format!("domain:{}", d.name.to_ascii_lowercase()),
            Target::Endpoint(e) => format!(
                "endpoint:{}:{}:{}:{}",
                e.service.as_str(),
                e.host.to_ascii_lowercase(),
                e.port,
                e.sni.as_deref().unwrap_or("").to_ascii_lowercase()
            ),
        }
    }

    /// Whether the domain has `role` (endpoints have no roles).
    pub fn has_role(&self, role: DomainRole) -> bool {
        matches!(self, Target::Domain(d) if d.roles.contains(&role))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Domain(d) => f.write_str(&d.name),
            Target::Endpoint(e) => {
                let scheme = match e.service {
                    Service::Https => "https",
                    Service::SmtpStarttls => "smtp",
                    Service::Tls => "tls",
                };
                // An IPv6 address in brackets, as in a URL, so what is shown parses back.
                if e.host.contains(':') {
                    write!(f, "{scheme}://[{}]:{}", e.host, e.port)
                } else {
                    write!(f, "{scheme}://{}:{}", e.host, e.port)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_what_was_asked_for() {
        let endpoint = |domain: Option<&str>, sni: Option<&str>, port: u16| {
            Target::Endpoint(EndpointTarget {
                host: "WWW.Example.test".into(),
                port,
                sni: sni.map(str::to_owned),
                service: Service::Https,
                domain: domain.map(str::to_owned),
            })
        };
        // The scoring context does not change the key; what was asked for does.
        assert_eq!(
            endpoint(None, None, 443).key(),
            endpoint(Some("example.test"), None, 443).key()
        );
        assert_eq!(
            endpoint(None, None, 443).key(),
            "endpoint:https:www.example.test:443:"
        );
        assert_ne!(
            endpoint(None, None, 443).key(),
            endpoint(None, None, 8443).key()
        );
        assert_ne!(
            endpoint(None, None, 443).key(),
            endpoint(None, Some("intranet.test"), 443).key()
        );
        let domain = |roles: Vec<DomainRole>| {
            Target::Domain(DomainTarget {
                name: "example.test".into(),
                roles,
            })
        };
        assert_eq!(domain(vec![]).key(), domain(vec![DomainRole::Web]).key());
        assert_eq!(domain(vec![]).key(), "domain:example.test");
    }
}
