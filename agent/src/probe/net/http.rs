//! One HTTP request on one connection, with every limit a hostile server could push against:
//! connect and read time-outs, a response-head size limit, a body cap, and the target's budget.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::probe::net::cert::{self, TrustStore};

/// Limits for web requests.
#[derive(Debug, Clone)]
pub struct WebLimits {
    /// TCP connect time-out.
    pub connect_timeout: Duration,
    /// Time-out for the whole response of one request.
    pub request_timeout: Duration,
    /// Largest response head (status line and headers) accepted.
    pub max_head: usize,
    /// Most body bytes read; the rest is not downloaded.
    pub max_body: usize,
    /// Redirects followed from one URL.
    pub max_hops: usize,
    /// Where a scanned site's redirects, MTA-STS host and CNAMEs may lead the agent.
    pub guard: super::guard::AddressGuard,
}

impl Default for WebLimits {
    fn default() -> Self {
        WebLimits {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_head: 64 * 1024,
            max_body: 256 * 1024,
            max_hops: 10,
            guard: super::guard::AddressGuard::default(),
        }
    }
}

/// A URL split into what a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`.
    pub https: bool,
    /// Host, lower case.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parse an absolute `http://` or `https://` URL.
    pub fn parse(text: &str) -> Option<Url> {
        let (https, rest) = if let Some(r) = text.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("http://") {
            (false, r)
        } else {
            let lower = text.to_ascii_lowercase();
            return if lower.starts_with("https://") || lower.starts_with("http://") {
                Url::parse(&format!(
                    "{}{}",
                    &lower[..lower.find("://")? + 3],
                    &text[lower.find("://")? + 3..]
                ))
            } else {
                None
            };
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = authority.rsplit('@').next()?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse::<u16>().ok()?),
            _ => (authority, if https { 443 } else { 80 }),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let path = path.split('#').next().unwrap_or("/").to_owned();
        Some(Url {
            https,
            host,
            port,
            path,
        })
    }

    /// Resolve a `Location` against this URL (absolute, scheme-relative, absolute-path or
    /// relative-path references).
    pub fn join(&self, location: &str) -> Option<Url> {
        let location = location.trim();
        if location.contains("://") {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::parse(&format!(
                "{}://{rest}",
                if self.https { "https" } else { "http" }
            ));
        }
        let path = if location.starts_with('/') {
            location.to_owned()
        } else {
            let dir = self.path.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{dir}/{location}")
        };
        Some(Url {
            path,
            ..self.clone()
        })
    }

    /// The origin and path, for people.
    pub fn render(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            format!("{scheme}://{}{}", self.host, self.path)
        } else {
            format!("{scheme}://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

/// A response, reduced to what the checks need.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lower case; repeated headers appear repeatedly.
    pub headers: Vec<(String, String)>,
    /// The first bytes of the body (up to the cap).
    pub body: Vec<u8>,
    /// For HTTPS: the certificate validated for this host.
    pub tls_valid: Option<bool>,
}

impl Response {
    /// All values of header `name`.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of header `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Refused: nothing listens there.
    #[error("connection refused")]
    Refused,
    /// No answer to the connection attempt (filtered, or no route).
    #[error("no TCP answer within {0:?}")]
    Unreachable(Duration),
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The server's answer broke HTTP, or exceeded a limit.
    #[error("{0}")]
    Protocol(String),
    /// The server did not finish answering in time.
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
}

impl FetchError {
    /// The machine-readable kind of failure (the endpoint's `error_code`).
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Refused => "refused",
            FetchError::Unreachable(_) => "unreachable",
            FetchError::Tls(_) => "tls_handshake",
            FetchError::Protocol(_) => "protocol",
            FetchError::Timeout(_) => "timeout",
        }
    }
}

/// Fetch `url` from `addr` (GET, one connection, `Connection: close`).
pub async fn fetch(
    url: &Url,
    addr: SocketAddr,
    trust: &TrustStore,
    limits: &WebLimits,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Response, FetchError> {
    let tcp = match tokio::time::timeout(limits.connect_timeout, TcpStream::connect(addr)).await {
        Err(_) => return Err(FetchError::Unreachable(limits.connect_timeout)),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(FetchError::Refused);
        }
        Ok(Err(e)) => return Err(FetchError::Protocol(e.to_string())),
        Ok(Ok(s)) => s,
    };
    let work = async {
        if url.https {
            let (stream, chain) = tls_connect(tcp, &url.host).await?;
            let valid = cert::facts(&chain, &url.host, trust, now, 0).is_some_and(|c| {
                c.trusted == Some(true)
                    && c.name_matches == Some(true)
                    && c.chain
                        .first()
                        .is_some_and(|l| l.not_before <= now && now <= l.not_after)
            });
            let mut r = request(stream, url, limits).await?;
            r.tls_valid = Some(valid);
            Ok(r)
        } else {
            request(tcp, url, limits).await
        }
    };
    tokio::time::timeout(limits.request_timeout, work)
        .await
        .unwrap_or(Err(FetchError::Timeout(limits.request_timeout)))
}

async fn tls_connect(
    tcp: TcpStream,
    host: &str,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, Vec<Vec<u8>>), FetchError> {
    let (config, seen) = cert::recording_config(&["http/1.1"]).map_err(FetchError::Tls)?;
    let name = cert::server_name(host);
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| FetchError::Tls(e.to_string()))?;
    let chain = seen
        .lock()
        .ok()
        .and_then(|mut s| s.take())
        .map(|(c, _)| c)
        .unwrap_or_default();
    Ok((stream, chain))
}

async fn request<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: S,
    url: &Url,
    limits: &WebLimits,
) -> Result<Response, FetchError> {
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(limits.max_head.max(8192))
        .handshake::<_, Empty<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| FetchError::Protocol(e.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let host_header = if url.port == if url.https { 443 } else { 80 } {
        url.host.clone()
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let req = hyper::Request::get(url.path.as_str())
        .header("host", host_header)
        .header(
            "user-agent",
            concat!("posture-agent/", env!("CARGO_PKG_VERSION")),
        )
        .header("accept", "*/*")
        .header("connection", "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| FetchError::Protocol(e.to_string()))?;
    let response = sender
        .send_request(req)
        .await
        .map_err(|e| FetchError::Protocol(describe(&e)))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Limited::new(response.into_body(), limits.max_body);
    let mut bytes = Vec::new();
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            // Limited stops at the cap (or the peer failed mid-body): keep what was read.
            Some(Err(_)) => break,
        }
    }
    driver.abort();
    Ok(Response {
        status,
        headers,
        body: bytes,
        tls_valid: None,
    })
}

fn describe(e: &hyper::Error) -> String {
    if e.is_parse_too_large() {
        "the response head is larger than the limit".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("https://Example.test/a/b?x=1#frag").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (true, "example.test", 443, "/a/b?x=1")
        );
        assert_eq!(Url::parse("http://example.test:8080").unwrap().path, "/");
        assert_eq!(Url::parse("HTTPS://example.test/").unwrap().port, 443);
        assert_eq!(u.join("/c").unwrap().render(), "https://example.test/c");
        assert_eq!(u.join("c").unwrap().render(), "https://example.test/a/c");
        assert_eq!(
            u.join("//www.example.test/").unwrap().render(),
            "https://www.example.test/"
        );
        assert_eq!(
            u.join("http://www.example.test:81/z").unwrap().render(),
            "http://www.example.test:81/z"
        );
        assert!(Url::parse("ftp://x").is_none());
        assert!(Url::parse("https://").is_none());
    }
}
