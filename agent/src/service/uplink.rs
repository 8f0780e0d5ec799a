//! The uplink to the collector: enrolment, batches of observations and heartbeats, over
//! HTTPS (reqwest with rustls). The agent's key is kept in a file only its user may read.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::CollectorConfig;

/// What an upload or enrolment came to, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UplinkError {
    /// The collector does not take this agent's key (revoked or unknown), and enrolling again
    /// did not get a new one.
    #[error("the collector refuses this agent's key: {0}")]
    Refused(String),
    /// The collector refused the batch itself for good (400, 403, 413): it must not be sent
    /// again as it is.
    #[error("the collector refused the batch ({status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The collector's message.
        message: String,
    },
    /// Come back later: the collector is busy (429, 503) or failed (5xx, 408).
    #[error("the collector asks to come back later ({status}): {message}")]
    Later {
        /// The HTTP status.
        status: u16,
        /// Retry-After, when it said.
        after: Option<Duration>,
        /// The collector's message.
        message: String,
    },
    /// The collector could not be reached.
    #[error("the collector cannot be reached: {0}")]
    Unreachable(String),
    /// The key file or the enrolment secret file could not be read or written.
    #[error("{0}")]
    Files(String),
}

/// The collector's answer to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct Ack {
    /// Observations stored now.
    pub accepted: usize,
    /// Observations it had already.
    pub duplicates: usize,
}

/// A heartbeat's content.
#[derive(Debug, Clone, Serialize)]
pub struct Beat {
    /// The agent's version.
    pub version: &'static str,
    /// When the last round of scans finished (RFC 3339).
    pub last_scan: Option<String>,
    /// Observations waiting in the spool.
    pub spool_depth: u64,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
}

/// The connection to the collector.
#[derive(Debug)]
pub struct Uplink {
    client: reqwest::Client,
    url: String,
    key_file: PathBuf,
    secret_file: Option<PathBuf>,
    key: Option<String>,
}

impl Uplink {
    /// A client for `config`'s collector (trusting only `ca_file` when it is given).
    pub fn new(config: &CollectorConfig) -> Result<Uplink, UplinkError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("posture-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| UplinkError::Files(format!("{}: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| UplinkError::Files(format!("{}: {e}", ca.display())))?;
            builder = builder.tls_built_in_root_certs(false);
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let client = builder
            .build()
            .map_err(|e| UplinkError::Files(format!("the HTTPS client: {e}")))?;
        Ok(Uplink {
            client,
            url: config.url.clone(),
            key_file: config.key_file.clone(),
            secret_file: config.enrol_secret_file.clone(),
            key: None,
        })
    }

    /// The agent's key: from the key file, or else enrolled for now.
    async fn key(&mut self) -> Result<String, UplinkError> {
        if let Some(k) = &self.key {
            return Ok(k.clone());
        }
        match std::fs::read_to_string(&self.key_file) {
            Ok(k) if !k.trim().is_empty() => {
                self.key = Some(k.trim().to_owned());
                Ok(k.trim().to_owned())
            }
            Ok(_) | Err(_) => self.enrol().await,
        }
    }

    /// Exchange the enrolment secret for a key and keep it in the key file (mode 0600).
    pub async fn enrol(&mut self) -> Result<String, UplinkError> {
        let Some(secret_file) = &self.secret_file else {
            return Err(UplinkError::Refused(format!(
                "no key in {} and no collector.enrol_secret_file to enrol with",
                self.key_file.display()
            )));
        };
        let secret = std::fs::read_to_string(secret_file)
            .map_err(|e| UplinkError::Files(format!("{}: {e}", secret_file.display())))?;
        let name = host_name();
        let response = self
            .client
            .post(format!("{}/api/v1/enroll", self.url))
            .json(&serde_json::json!({ "secret": secret.trim(), "name": name }))
            .send()
            .await
            .map_err(|e| UplinkError::Unreachable(chain(&e)))?;
        let status = response.status().as_u16();
        let body = read_json(response).await?;
        if status != 201 {
            return Err(answer(status, None, &body, true));
        }
        let key = body["key"]
            .as_str()
            .ok_or_else(|| UplinkError::Unreachable("the enrolment answer has no key".into()))?
            .to_owned();
        write_private(&self.key_file, &key)?;
        say(&format!(
            "enrolled with the collector as agent {} of {}; the key is in {}",
            body["agent"].as_str().unwrap_or("?"),
            body["organisation"].as_str().unwrap_or("?"),
            self.key_file.display()
        ));
        self.key = Some(key.clone());
        Ok(key)
    }

    /// POST a batch (JSON lines, gzip'd here) with its idempotency key. A revoked or unknown
    /// key is answered by enrolling again once (said loudly), then sending again.
    pub async fn upload(&mut self, idempotency: &str, lines: &[u8]) -> Result<Ack, UplinkError> {
        let body = gzip(lines).map_err(|e| UplinkError::Files(format!("gzip: {e}")))?;
        let mut enrolled_again = false;
        loop {
            let key = self.key().await?;
            let response = self
                .client
                .post(format!("{}/api/v1/observations", self.url))
                .bearer_auth(&key)
                .header("content-encoding", "gzip")
                .header("content-type", "application/x-ndjson")
                .header("idempotency-key", idempotency)
                .body(body.clone())
                .send()
                .await
                .map_err(|e| UplinkError::Unreachable(chain(&e)))?;
            let status = response.status().as_u16();
            let after = retry_after(response.headers());
            let answer_body = read_json(response).await?;
            if status == 200 {
                return serde_json::from_value(answer_body)
                    .map_err(|e| UplinkError::Unreachable(format!("the collector's answer: {e}")));
            }
            if status == 401 && !enrolled_again && self.secret_file.is_some() {
                eprintln!(
                    "posture-agent: ERROR: the collector refuses this agent's key ({}); enrolling again",
                    answer_body["message"].as_str().unwrap_or("401")
                );
                self.key = None;
                let _ = std::fs::remove_file(&self.key_file);
                enrolled_again = true;
                self.enrol().await?;
                continue;
            }
            return Err(answer(status, after, &answer_body, status == 401));
        }
    }

    /// The collector's policy set, unless it is still `etag`: (its ETag, its digest, its files).
    pub async fn policy(
        &self,
        etag: Option<&str>,
    ) -> Result<Option<(String, String, Vec<(String, String)>)>, UplinkError> {
        let mut request = self
            .client
            .get(format!("{}/api/v1/policy", self.url))
            .timeout(Duration::from_secs(30));
        if let Some(tag) = etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        let response = request
            .send()
            .await
            .map_err(|e| UplinkError::Unreachable(chain(&e)))?;
        let status = response.status().as_u16();
        if status == 304 {
            return Ok(None);
        }
        let tag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = read_body(response, MAX_POLICY).await?;
        if status != 200 {
            return Err(UplinkError::Later {
                status,
                after: None,
                message: format!("the policy set: HTTP {status}, {} bytes", bytes.len()),
            });
        }
        #[derive(serde::Deserialize)]
        struct File {
            name: String,
            text: String,
        }
        #[derive(serde::Deserialize)]
        struct Policy {
            digest: String,
            #[serde(default)]
            files: Vec<File>,
        }
        let policy: Policy = serde_json::from_slice(&bytes)
            .map_err(|e| UplinkError::Unreachable(format!("the policy set: {e}")))?;
        Ok(Some((
            tag,
            policy.digest,
            policy.files.into_iter().map(|f| (f.name, f.text)).collect(),
        )))
    }

    /// Whether the collector answers: a GET of its heartbeat route, which needs no key and
    /// answers in a few bytes (405: heartbeats are POSTed).
    pub async fn reachable(&self) -> Result<(), UplinkError> {
        let response = self
            .client
            .get(format!("{}/api/v1/heartbeat", self.url))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| UplinkError::Unreachable(chain(&e)))?;
        match response.status().as_u16() {
            405 | 200..=299 => Ok(()),
            status => Err(UplinkError::Later {
                status,
                after: None,
                message: format!("HTTP {status}"),
            }),
        }
    }

    /// Say the agent is alive, with its state.
    pub async fn heartbeat(&mut self, beat: &Beat) -> Result<(), UplinkError> {
        let key = self.key().await?;
        let response = self
            .client
            .post(format!("{}/api/v1/heartbeat", self.url))
            .bearer_auth(&key)
            .json(beat)
            .send()
            .await
            .map_err(|e| UplinkError::Unreachable(chain(&e)))?;
        let status = response.status().as_u16();
        if status == 204 || status == 200 {
            return Ok(());
        }
        let after = retry_after(response.headers());
        let body = read_json(response).await?;
        Err(answer(status, after, &body, status == 401))
    }
}

/// Most bytes read of an answer: acknowledgements, enrolments and errors are small.
const MAX_ANSWER: usize = 64 * 1024;

/// Most bytes read of the policy set (every standard's file).
const MAX_POLICY: usize = 16 << 20;

/// The body of `response`, read a chunk at a time and refused past `max` bytes (the client's
/// time-out bounds the time).
async fn read_body(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, UplinkError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| UplinkError::Unreachable(chain(&e)))?
    {
        if body.len() + chunk.len() > max {
            return Err(UplinkError::Unreachable(format!(
                "the collector's answer is over {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body of `response` as JSON (`Null` when it is not JSON), at most `MAX_ANSWER` bytes.
async fn read_json(response: reqwest::Response) -> Result<serde_json::Value, UplinkError> {
    let body = read_body(response, MAX_ANSWER).await?;
    Ok(serde_json::from_slice(&body).unwrap_or_default())
}

/// An unsuccessful answer, as an error.
fn answer(
    status: u16,
    after: Option<Duration>,
    body: &serde_json::Value,
    refused: bool,
) -> UplinkError {
    let message = body["message"]
        .as_str()
        .map_or_else(|| format!("HTTP {status}"), str::to_owned);
    match status {
        _ if refused => UplinkError::Refused(message),
        400 | 403 | 413 | 422 => UplinkError::Rejected { status, message },
        _ => UplinkError::Later {
            status,
            after,
            message,
        },
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// An error with its causes (reqwest's own message hides why a connection failed).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes)?;
    e.finish()
}

/// Write `text` to `path`, readable and writable by this user only, replacing it whole.
fn write_private(path: &Path, text: &str) -> Result<(), UplinkError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| UplinkError::Files(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let partial = path.with_extension("partial");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(fail)?;
    f.write_all(text.as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&partial, path).map_err(fail)
}

/// This machine's name, for the collector's list of agents.
fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "posture-agent".into())
}

/// A line on standard error that says what the service did.
pub(super) fn say(message: &str) {
    eprintln!(
        "{} posture-agent: {message}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTP server on loopback that answers every request with `body`.
    async fn answering(body: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn answers_are_read_up_to_a_limit() {
        let small = answering(br#"{"accepted": 1}"#.to_vec()).await;
        let r = reqwest::get(&small).await.unwrap();
        assert_eq!(read_json(r).await.unwrap()["accepted"], 1);
        let big = answering(vec![b' '; MAX_ANSWER + 1]).await;
        let r = reqwest::get(&big).await.unwrap();
        let e = read_json(r).await.unwrap_err();
        assert_eq!(
            e,
            UplinkError::Unreachable(format!("the collector's answer is over {MAX_ANSWER} bytes"))
        );
    }
}
