use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a domain's website does, judged as CISA's pshtt defines its terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WebFacts {
    /// Each URL probed (`http://` and `https://`, apex and `www`) and where it led.
    #[serde(default)]
    pub endpoints: Vec<HttpEndpoint>,
    /// Something answers HTTPS on 443 for the apex or `www`.
    pub responds_https: bool,
    /// An HTTPS endpoint answered with a certificate that validates.
    #[serde(default)]
    pub valid_https: bool,
    /// An HTTPS endpoint redirects to plain HTTP.
    #[serde(default)]
    pub downgrades: bool,
    /// Plain HTTP's first hop goes to HTTPS on the same host (absent: nothing on port 80).
    #[serde(default)]
    pub strictly_enforces_https: Option<bool>,
    /// Where the domain's site settles.
    #[serde(default)]
    pub canonical_url: Option<String>,
    /// The domain is a registrable domain (eTLD+1), where includeSubDomains matters.
    #[serde(default)]
    pub registrable_domain: bool,
    /// The HSTS header of the canonical HTTPS response (absent: none sent over HTTPS).
    #[serde(default)]
    pub hsts: Option<HstsFacts>,
    /// Security headers of the canonical HTTPS response.
    #[serde(default)]
    pub headers: SecurityHeaders,
    /// Cookies set over HTTPS.
    #[serde(default)]
    pub cookies: Vec<CookieFacts>,
    /// `/.well-known/security.txt`.
    #[serde(default)]
    pub security_txt: Option<SecurityTxtFacts>,
    /// Headers that disclose a server or framework version.
    #[serde(default)]
    pub banners: Vec<Banner>,
}

/// One URL and the redirects it led through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HttpEndpoint {
    /// The URL requested first.
    pub url: String,
    /// The final HTTP status (absent: no response).
    #[serde(default)]
    pub status: Option<u16>,
    /// Each hop, first one first.
    #[serde(default)]
    pub hops: Vec<RedirectHop>,
    /// Why there was no response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why there was no response, for machines: `refused` (nothing listens), `unreachable`
    /// (no TCP answer, or the name does not resolve), `tls_handshake`, `protocol`, `timeout`,
    /// `redirect_refused`, `too_many_redirects`, `redirect_loop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// A redirect the agent would not follow (to an address literal, another registrable
    /// domain or an internal address), kept as a fact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_redirect: Option<RefusedRedirect>,
}

/// A redirect that was not followed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefusedRedirect {
    /// Where it pointed (the `Location`, made absolute).
    pub location: String,
    /// Why it was not followed.
    pub reason: String,
}

/// One redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RedirectHop {
    /// The URL that answered.
    pub url: String,
    /// Its status.
    pub status: u16,
    /// Its `Location`.
    pub location: String,
    /// The target is HTTPS.
    pub to_https: bool,
    /// The target host equals this hop's host.
    pub same_host: bool,
}

/// A parsed `Strict-Transport-Security` header (RFC 6797).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HstsFacts {
    /// The header as sent.
    pub raw: String,
    /// It parses under RFC 6797 (no duplicate directive, a valid max-age).
    pub valid: bool,
    /// Why it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// max-age in seconds.
    #[serde(default)]
    pub max_age: Option<i64>,
    /// includeSubDomains present.
    #[serde(default)]
    pub include_subdomains: bool,
    /// preload present.
    #[serde(default)]
    pub preload: bool,
}

/// Security headers as sent (absent when missing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecurityHeaders {
    /// Content-Security-Policy.
    #[serde(default)]
    pub content_security_policy: Option<String>,
    /// The CSP has a frame-ancestors directive.
    #[serde(default)]
    pub csp_frame_ancestors: bool,
    /// X-Content-Type-Options.
    #[serde(default)]
    pub x_content_type_options: Option<String>,
    /// X-Frame-Options.
    #[serde(default)]
    pub x_frame_options: Option<String>,
    /// Referrer-Policy.
    #[serde(default)]
    pub referrer_policy: Option<String>,
    /// Permissions-Policy.
    #[serde(default)]
    pub permissions_policy: Option<String>,
}

/// A cookie set over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CookieFacts {
    /// Cookie name.
    pub name: String,
    /// Secure attribute.
    pub secure: bool,
    /// HttpOnly attribute.
    pub http_only: bool,
    /// SameSite value.
    #[serde(default)]
    pub same_site: Option<String>,
    /// Looks like a session cookie (no Expires/Max-Age, or a session-like name).
    #[serde(default)]
    pub session: bool,
}

/// `/.well-known/security.txt` (RFC 9116).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecurityTxtFacts {
    /// Served with 200 and a text/plain body.
    pub found: bool,
    /// Contact fields.
    #[serde(default)]
    pub contact: Vec<String>,
    /// The Expires field.
    #[serde(default)]
    pub expires: Option<DateTime<Utc>>,
    /// Parse problems.
    #[serde(default)]
    pub errors: Vec<String>,
}

/// A header that discloses a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Banner {
    /// Header name (`Server`, `X-Powered-By`).
    pub header: String,
    /// Its value.
    pub value: String,
}
