//! The I/O half of the TLS probe: dialling, the SMTP STARTTLS prelude, sending a hello and
//! reading the first flight, all under timeouts, size limits, concurrency limits and a time
//! budget, with every connection counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use posture_policies::model::Service;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::wire::{FlightReader, ServerFlight, WireError};

/// Limits that keep a scan gentle and bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// TCP connect time-out.
    pub connect_timeout: Duration,
    /// Time-out for each read of a server's answer.
    pub read_timeout: Duration,
    /// Total time allowed for one target.
    pub target_budget: Duration,
    /// Most bytes read from a server for one hello (a certificate chain fits easily).
    pub max_response: usize,
    /// Connections open at once to one host.
    pub per_host: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(8),
            target_budget: Duration::from_secs(120),
            max_response: 256 * 1024,
            per_host: 3,
        }
    }
}

/// Where to connect and what to say first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The name scanned (also the SNI unless `sni` is set).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The address dialled.
    pub addr: SocketAddr,
    /// The SNI name, when different from `host`; `None` with an IP-address host sends none.
    pub sni: Option<String>,
    /// What speaks on the port.
    pub service: Service,
}

impl Endpoint {
    /// The name to send as SNI and to match the certificate against.
    pub fn server_name(&self) -> &str {
        self.sni.as_deref().unwrap_or(&self.host)
    }
}

/// Why an exchange produced no server flight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The TCP connection could not be made: the network would not let us look.
    #[error("cannot connect to {addr}: {reason}")]
    Unreachable {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The server closed or reset the connection without answering: a refusal.
    #[error("the server closed the connection without answering")]
    Closed,
    /// The server said nothing within the read time-out.
    #[error("no answer within {0:?}")]
    Silent(Duration),
    /// The server answered with something that is not TLS.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The SMTP server does not offer STARTTLS.
    #[error("the SMTP server does not offer STARTTLS")]
    NoStarttls,
    /// The SMTP dialogue went wrong.
    #[error("SMTP: {0}")]
    Smtp(String),
    /// The target's time budget is spent.
    #[error("the per-target time budget of {0:?} is spent")]
    Budget(Duration),
}

/// Opens connections to one endpoint within the limits, and counts them.
#[derive(Debug)]
pub struct Dialer {
    endpoint: Endpoint,
    limits: Limits,
    per_host: Arc<Semaphore>,
    global: Arc<Semaphore>,
    deadline: Instant,
    connections: AtomicU32,
}

/// A connection with its concurrency permits.
#[derive(Debug)]
pub struct Connection {
    /// The stream, after any STARTTLS prelude.
    pub stream: TcpStream,
    _host: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

impl Dialer {
    /// A dialer for `endpoint`, sharing `global` with every other target of the scan.
    pub fn new(endpoint: Endpoint, limits: Limits, global: Arc<Semaphore>) -> Dialer {
        Dialer {
            endpoint,
            limits,
            per_host: Arc::new(Semaphore::new(limits.per_host.max(1))),
            global,
            deadline: Instant::now() + limits.target_budget,
            connections: AtomicU32::new(0),
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Connections opened so far.
    pub fn connections(&self) -> u32 {
        self.connections.load(Ordering::Relaxed)
    }

    fn remaining(&self) -> Result<Duration, Failure> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Failure::Budget(self.limits.target_budget))
        } else {
            Ok(left)
        }
    }

    fn bounded(&self, d: Duration) -> Result<Duration, Failure> {
        Ok(d.min(self.remaining()?))
    }

    /// Open a TCP connection (and do the STARTTLS prelude for SMTP).
    pub async fn connect(&self) -> Result<Connection, Failure> {
        let budget = Failure::Budget(self.limits.target_budget);
        let host = tokio::time::timeout(self.remaining()?, self.per_host.clone().acquire_owned())
            .await
            .map_err(|_| budget.clone())?
            .map_err(|_| budget.clone())?;
        let global = tokio::time::timeout(self.remaining()?, self.global.clone().acquire_owned())
            .await
            .map_err(|_| budget.clone())?
            .map_err(|_| budget)?;
        let addr = self.endpoint.addr;
        self.connections.fetch_add(1, Ordering::Relaxed);
        let stream = match tokio::time::timeout(
            self.bounded(self.limits.connect_timeout)?,
            TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(Failure::Unreachable {
                    addr,
                    reason: e.to_string(),
                });
            }
            Err(_) => {
                return Err(Failure::Unreachable {
                    addr,
                    reason: format!("no TCP answer within {:?}", self.limits.connect_timeout),
                });
            }
        };
        let _ = stream.set_nodelay(true);
        let mut conn = Connection {
            stream,
            _host: host,
            _global: global,
        };
        if self.endpoint.service == Service::SmtpStarttls {
            self.smtp_starttls(&mut conn.stream).await?;
        }
        Ok(conn)
    }

    /// Send `hello` on a new connection and read the server's first flight.
    pub async fn exchange(
        &self,
        hello: &[u8],
        reader: FlightReader,
    ) -> Result<ServerFlight, Failure> {
        let mut conn = self.connect().await?;
        self.exchange_on(&mut conn.stream, hello, reader).await
    }

    /// Send `hello`, read the first flight, then send `follow_up` on the same connection and
    /// return what the server answers to it (at most 64 KiB, within one read time-out).
    pub async fn exchange_then(
        &self,
        hello: &[u8],
        reader: FlightReader,
        follow_up: &[u8],
    ) -> Result<(ServerFlight, Vec<u8>), Failure> {
        let mut conn = self.connect().await?;
        let flight = self.exchange_on(&mut conn.stream, hello, reader).await?;
        if conn.stream.write_all(follow_up).await.is_err() {
            return Ok((flight, Vec::new()));
        }
        let mut reply = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        let deadline = Instant::now() + self.bounded(self.limits.read_timeout)?;
        while reply.len() < 64 * 1024 {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, conn.stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    reply.extend_from_slice(&buf[..n]);
                    if reply.len() >= 5 {
                        break;
                    }
                }
                _ => break,
            }
        }
        Ok((flight, reply))
    }

    async fn exchange_on(
        &self,
        stream: &mut TcpStream,
        hello: &[u8],
        mut reader: FlightReader,
    ) -> Result<ServerFlight, Failure> {
        if stream.write_all(hello).await.is_err() {
            return Err(Failure::Closed);
        }
        let mut buf = vec![0u8; 16 * 1024];
        let mut received = 0usize;
        loop {
            let wait = self.bounded(self.limits.read_timeout)?;
            let n = match tokio::time::timeout(wait, stream.read(&mut buf)).await {
                Err(_) if received == 0 => return Err(Failure::Silent(wait)),
                Err(_) => return Err(Failure::Silent(wait)),
                Ok(Err(_)) | Ok(Ok(0)) => {
                    // Closed or reset: a refusal when nothing came, else whatever was read.
                    if received == 0 {
                        return Err(Failure::Closed);
                    }
                    let flight = reader.into_flight();
                    return if flight.hello.is_some()
                        || flight.alert.is_some()
                        || flight.sslv2.is_some()
                    {
                        Ok(flight)
                    } else {
                        Err(Failure::Closed)
                    };
                }
                Ok(Ok(n)) => n,
            };
            received += n;
            if reader.feed(&buf[..n])? {
                return Ok(reader.into_flight());
            }
        }
    }

    /// Read one SMTP reply (all its lines), bounded in size and time.
    async fn smtp_reply(&self, stream: &mut TcpStream) -> Result<(u16, Vec<String>), Failure> {
        let mut text = Vec::new();
        let mut byte = [0u8; 512];
        loop {
            let wait = self.bounded(self.limits.read_timeout)?;
            let n = match tokio::time::timeout(wait, stream.read(&mut byte)).await {
                Err(_) => return Err(Failure::Silent(wait)),
                Ok(Err(e)) => return Err(Failure::Smtp(e.to_string())),
                Ok(Ok(0)) => return Err(Failure::Smtp("the server closed the connection".into())),
                Ok(Ok(n)) => n,
            };
            text.extend_from_slice(&byte[..n]);
            if text.len() > 16 * 1024 {
                return Err(Failure::Smtp("reply longer than 16 KiB".into()));
            }
            let s = String::from_utf8_lossy(&text);
            let lines: Vec<&str> = s.split("\r\n").collect();
            // Complete when the last full line is "NNN " (not "NNN-").
            if let Some(last) = lines.iter().rev().nth(1).filter(|_| s.ends_with("\r\n")) {
                if last.len() >= 4 && last.as_bytes()[3] == b' ' {
                    let code: u16 = last[..3]
                        .parse()
                        .map_err(|_| Failure::Smtp(format!("not an SMTP reply: {last:?}")))?;
                    let lines = lines
                        .iter()
                        .filter(|l| !l.is_empty())
                        .map(|l| l.to_string())
                        .collect();
                    return Ok((code, lines));
                }
                if last.len() < 4 || !last.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
                    return Err(Failure::Smtp(format!("not an SMTP reply: {last:?}")));
                }
            }
        }
    }

    async fn smtp_starttls(&self, stream: &mut TcpStream) -> Result<(), Failure> {
        let (code, _) = self.smtp_reply(stream).await?;
        if code != 220 {
            return Err(Failure::Smtp(format!("greeting {code}")));
        }
        stream
            .write_all(b"EHLO posture-agent.invalid\r\n")
            .await
            .map_err(|e| Failure::Smtp(e.to_string()))?;
        let (code, lines) = self.smtp_reply(stream).await?;
        if code != 250 {
            return Err(Failure::Smtp(format!("EHLO answered {code}")));
        }
        if !lines.iter().any(|l| {
            l.get(4..)
                .is_some_and(|k| k.trim().eq_ignore_ascii_case("STARTTLS"))
        }) {
            return Err(Failure::NoStarttls);
        }
        stream
            .write_all(b"STARTTLS\r\n")
            .await
            .map_err(|e| Failure::Smtp(e.to_string()))?;
        let (code, _) = self.smtp_reply(stream).await?;
        if code != 220 {
            return Err(Failure::Smtp(format!("STARTTLS answered {code}")));
        }
        Ok(())
    }
}
