//! The I/O half of the TLS probe: dialling, the SMTP STARTTLS prelude, sending a hello and
//! reading the first flight, all under timeouts, size limits, concurrency limits and a time
//! budget, with every connection counted.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use posture_policies::model::Service;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::wire::{FlightReader, ServerFlight, WireError};
use crate::probe::net::{Gate, Permits};

/// Limits that keep a scan gentle and bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// TCP connect time-out.
    pub connect_timeout: Duration,
    /// Time-out for each read of a server's answer.
    pub read_timeout: Duration,
    /// Total time allowed for one target.
    pub target_budget: Duration,
    /// Most bytes read on one connection, everything included (a certificate chain fits
    /// easily).
    pub max_response: usize,
    /// Connections open at once to one address (across every target of a run, when they
    /// share a [`Gate`]).
    pub per_host: usize,
}

impl Limits {
    /// The most time one connection may live once dialled, whatever the server sends: the
    /// STARTTLS prelude, the hello and the whole first flight. Twice the read time-out, so a
    /// slow but honest server still fits, and a trickling one is cut off.
    pub fn connection_time(&self) -> Duration {
        self.read_timeout * 2
    }
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

/// A stream that refuses to read more than a byte budget: a hostile server cannot make a
/// connection read without end, however it spreads its bytes over records and messages.
#[derive(Debug)]
pub struct Bounded<S> {
    inner: S,
    read: usize,
    max: usize,
}

impl<S> Bounded<S> {
    /// Wrap `inner`, allowing `max` bytes to be read from it.
    pub fn new(inner: S, max: usize) -> Bounded<S> {
        Bounded {
            inner,
            read: 0,
            max,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> usize {
        self.read
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.read >= self.max {
            return Poll::Ready(Err(std::io::Error::other(format!(
                "the server sent more than {} bytes on one connection",
                self.max
            ))));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.read += buf.filled().len() - before;
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
        /// `refused` (nothing listens) or `timeout` (no answer: filtered, no route).
        code: &'static str,
    },
    /// The server closed or reset the connection without answering: a refusal.
    #[error("the server closed the connection without answering")]
    Closed,
    /// The server sent bytes that hold neither a hello nor an alert, then closed: not a
    /// refusal, a broken or hostile peer.
    #[error("the server sent {0} bytes without a hello or an alert, then closed the connection")]
    ClosedMidFlight(usize),
    /// The connection's own time or byte budget ran out before the flight was complete.
    #[error("{0}")]
    Exhausted(String),
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

impl Failure {
    /// The machine-readable kind of failure, for probe errors (nothing downstream reads the
    /// message).
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Unreachable { code, .. } => code,
            Failure::Closed => "reset",
            Failure::ClosedMidFlight(_) | Failure::Wire(_) => "protocol",
            Failure::Silent(_) => "timeout",
            Failure::NoStarttls => "no_starttls",
            Failure::Smtp(_) => "smtp",
            Failure::Budget(_) => "budget_exhausted",
            Failure::Exhausted(_) => "limit_exceeded",
        }
    }
}

/// Opens connections to one endpoint within the limits, and counts them.
#[derive(Debug)]
pub struct Dialer {
    endpoint: Endpoint,
    limits: Limits,
    gate: Gate,
    deadline: Instant,
    connections: AtomicU32,
}

/// A connection with its concurrency permits, its deadline and its byte budget.
#[derive(Debug)]
pub struct Connection {
    /// The stream, after any STARTTLS prelude; reading past the byte budget fails.
    pub stream: Bounded<TcpStream>,
    /// When the connection must be done, whatever the server does.
    pub deadline: Instant,
    _permits: Permits,
}

impl Connection {
    /// Time left before the connection's deadline.
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

impl Dialer {
    /// A dialer for `endpoint`, sharing `gate` with every other target of the run.
    pub fn new(endpoint: Endpoint, limits: Limits, gate: Gate) -> Dialer {
        Dialer {
            endpoint,
            limits,
            gate,
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

    /// How long to wait for the next read on `conn`: the read time-out, cut short by the
    /// connection's deadline and the target's budget.
    fn read_wait(&self, conn: &Connection) -> Result<Duration, Failure> {
        let left = conn.left();
        if left.is_zero() {
            return Err(self.out_of_time());
        }
        self.bounded(self.limits.read_timeout.min(left))
    }

    /// The failure of a connection whose own time limit ran out.
    fn out_of_time(&self) -> Failure {
        Failure::Exhausted(format!(
            "the connection's time limit of {:?} ran out before the server finished",
            self.limits.connection_time()
        ))
    }

    /// Open a TCP connection (and do the STARTTLS prelude for SMTP).
    pub async fn connect(&self) -> Result<Connection, Failure> {
        let permits = self
            .gate
            .enter(self.endpoint.addr.ip(), self.remaining()?)
            .await
            .ok_or(Failure::Budget(self.limits.target_budget))?;
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
                    code: if e.kind() == std::io::ErrorKind::ConnectionRefused {
                        "refused"
                    } else {
                        "unreachable"
                    },
                    reason: e.to_string(),
                });
            }
            Err(_) => {
                return Err(Failure::Unreachable {
                    addr,
                    code: "timeout",
                    reason: format!("no TCP answer within {:?}", self.limits.connect_timeout),
                });
            }
        };
        let _ = stream.set_nodelay(true);
        let mut conn = Connection {
            stream: Bounded::new(stream, self.limits.max_response),
            deadline: Instant::now() + self.limits.connection_time(),
            _permits: permits,
        };
        if self.endpoint.service == Service::SmtpStarttls {
            self.smtp_starttls(&mut conn).await?;
        }
        Ok(conn)
    }

    /// One read on `conn` within its limits; `Ok(0)` when the server closed.
    async fn read(&self, conn: &mut Connection, buf: &mut [u8]) -> Result<usize, Failure> {
        let wait = self.read_wait(conn)?;
        match tokio::time::timeout(wait, conn.stream.read(buf)).await {
            Err(_) if conn.left().is_zero() => Err(self.out_of_time()),
            Err(_) => Err(Failure::Silent(wait)),
            // The byte budget ran out: the error says so.
            Ok(Err(e)) if conn.stream.bytes_read() >= self.limits.max_response => {
                Err(Failure::Exhausted(e.to_string()))
            }
            Ok(Err(_)) => Ok(0),
            Ok(Ok(n)) => Ok(n),
        }
    }

    /// Send `hello` on a new connection and read the server's first flight.
    pub async fn exchange(
        &self,
        hello: &[u8],
        reader: FlightReader,
    ) -> Result<ServerFlight, Failure> {
        let mut conn = self.connect().await?;
        self.exchange_on(&mut conn, hello, reader).await
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
        let flight = self.exchange_on(&mut conn, hello, reader).await?;
        if conn.stream.write_all(follow_up).await.is_err() {
            return Ok((flight, Vec::new()));
        }
        let mut reply = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        while reply.len() < 64 * 1024 {
            match self.read(&mut conn, &mut buf).await {
                Ok(n) if n > 0 => {
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
        conn: &mut Connection,
        hello: &[u8],
        mut reader: FlightReader,
    ) -> Result<ServerFlight, Failure> {
        if conn.stream.write_all(hello).await.is_err() {
            return Err(Failure::Closed);
        }
        let mut buf = vec![0u8; 16 * 1024];
        let mut received = 0usize;
        loop {
            let n = self.read(conn, &mut buf).await?;
            if n == 0 {
                // Closed or reset: a refusal when nothing came, else whatever was read.
                if received == 0 {
                    return Err(Failure::Closed);
                }
                let flight = reader.into_flight();
                return if flight.hello.is_some() || flight.alert.is_some() || flight.sslv2.is_some()
                {
                    Ok(flight)
                } else {
                    Err(Failure::ClosedMidFlight(received))
                };
            }
            received += n;
            if reader.feed(&buf[..n])? {
                return Ok(reader.into_flight());
            }
        }
    }

    /// Read one SMTP reply (all its lines), bounded in size and time.
    async fn smtp_reply(&self, conn: &mut Connection) -> Result<(u16, Vec<String>), Failure> {
        let mut text = Vec::new();
        let mut byte = [0u8; 512];
        loop {
            let n = match self.read(conn, &mut byte).await? {
                0 => return Err(Failure::Smtp("the server closed the connection".into())),
                n => n,
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

    async fn smtp_starttls(&self, conn: &mut Connection) -> Result<(), Failure> {
        let (code, _) = self.smtp_reply(conn).await?;
        if code != 220 {
            return Err(Failure::Smtp(format!("greeting {code}")));
        }
        conn.stream
            .write_all(b"EHLO posture-agent.invalid\r\n")
            .await
            .map_err(|e| Failure::Smtp(e.to_string()))?;
        let (code, lines) = self.smtp_reply(conn).await?;
        if code != 250 {
            return Err(Failure::Smtp(format!("EHLO answered {code}")));
        }
        if !lines.iter().any(|l| {
            l.get(4..)
                .is_some_and(|k| k.trim().eq_ignore_ascii_case("STARTTLS"))
        }) {
            return Err(Failure::NoStarttls);
        }
        conn.stream
            .write_all(b"STARTTLS\r\n")
            .await
            .map_err(|e| Failure::Smtp(e.to_string()))?;
        let (code, _) = self.smtp_reply(conn).await?;
        if code != 220 {
            return Err(Failure::Smtp(format!("STARTTLS answered {code}")));
        }
        Ok(())
    }
}
