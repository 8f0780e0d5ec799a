//! Real TLS servers on loopback, port 0, each stopped when dropped: rustls in process,
//! Debian's `openssl s_server` and `gnutls-serv` as child processes, and small scripted peers
//! for what nothing here can serve (SSLv2) or for hostile behaviour (silence, garbage).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::pki::{Leaf, TempDir};

/// A server that stops when dropped.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    task: Option<JoinHandle<()>>,
    child: Option<Child>,
    _dir: Option<TempDir>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
        }
    }
}

/// The OpenSSL 1.1.1w `openssl` program with SSLv3 and zlib, built by
/// `scripts/build-openssl-1.1.1.sh` (which `scripts/test.sh` runs).
pub fn openssl_111() -> PathBuf {
    let path = std::env::var_os("POSTURE_OPENSSL111")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repository_root().join("target/lab/openssl-1.1.1w/apps/openssl"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-openssl-1.1.1.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

impl Running {
    /// A server run by `task` (aborted on drop).
    pub fn from_task(addr: SocketAddr, task: JoinHandle<()>) -> Running {
        Running {
            addr,
            task: Some(task),
            child: None,
            _dir: None,
        }
    }
}

/// A TCP listener on 127.0.0.1 port 0, and the address it got.
pub async fn listen() -> (TcpListener, SocketAddr) {
    listen_at(([127, 0, 0, 1], 0).into()).await
}

/// A TCP listener on `addr` (another loopback address, port 443 or 25 as root), and the
/// address it got.
pub async fn listen_at(addr: SocketAddr) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    (listener, addr)
}

/// Connections accepted by the lab's web and SMTP servers in this process, all together (the
/// national sweep counts connections on the servers' side with it).
pub static ACCEPTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A loopback port that was free a moment ago (for servers that cannot bind port 0).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Which TLS versions a rustls server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RustlsVersions {
    /// TLS 1.2 and 1.3.
    Both,
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// A rustls server.
#[derive(Debug)]
pub struct RustlsServer {
    versions: RustlsVersions,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ocsp: Option<Vec<u8>>,
    send_chain: bool,
}

impl RustlsServer {
    /// A server presenting `leaf` (and its chain).
    pub fn new(leaf: &Leaf) -> RustlsServer {
        let mut chain = vec![CertificateDer::from(leaf.cert_der.clone())];
        chain.extend(
            leaf.chain_der
                .iter()
                .map(|d| CertificateDer::from(d.clone())),
        );
        RustlsServer {
            versions: RustlsVersions::Both,
            chain,
            key: PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes())
                .unwrap_or_else(|e| panic!("{e}")),
            ocsp: None,
            send_chain: true,
        }
    }

    /// Choose the versions.
    pub fn versions(mut self, v: RustlsVersions) -> Self {
        self.versions = v;
        self
    }

    /// Staple this OCSP response.
    pub fn ocsp(mut self, response: Vec<u8>) -> Self {
        self.ocsp = Some(response);
        self
    }

    /// Send the leaf only, without its intermediate.
    pub fn without_intermediate(mut self) -> Self {
        self.send_chain = false;
        self
    }

    /// Bind 127.0.0.1:0 and serve until dropped.
    pub async fn start(self) -> Running {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = match self.versions {
            RustlsVersions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
            RustlsVersions::Tls12 => &[&rustls::version::TLS12],
            RustlsVersions::Tls13 => &[&rustls::version::TLS13],
        };
        let chain = if self.send_chain {
            self.chain
        } else {
            self.chain.into_iter().take(1).collect()
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_no_client_auth();
        let mut config = match self.ocsp {
            Some(ocsp) => builder.with_single_cert_with_ocsp(chain, self.key, ocsp),
            None => builder.with_single_cert(chain, self.key),
        }
        .unwrap_or_else(|e| panic!("{e}"));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (listener, addr) = listen().await;
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(mut tls)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        Running::from_task(addr, task)
    }
}

/// Debian's `openssl s_server`, for what rustls will not serve: TLS 1.0/1.1, NULL, anonymous,
/// static RSA, CBC, CAMELLIA, ARIA, weak DH, RSA-1024 and SHA-1 certificates.
#[derive(Debug)]
pub struct OpensslServer {
    args: Vec<String>,
    leaf_files: Option<(String, String, String)>,
    binary: PathBuf,
}

impl OpensslServer {
    /// A server presenting `leaf` with these extra `s_server` arguments, e.g.
    /// `["-tls1", "-cipher", "ALL:@SECLEVEL=0"]`.
    pub fn new(leaf: &Leaf, args: &[&str]) -> OpensslServer {
        OpensslServer {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            leaf_files: Some((
                leaf.cert_pem.clone(),
                leaf.key_pem.clone(),
                leaf.chain_pem.clone(),
            )),
            binary: PathBuf::from("openssl"),
        }
    }

    /// Use another `openssl` binary (the 1.1.1 build with SSLv3).
    pub fn binary(mut self, path: PathBuf) -> Self {
        self.binary = path;
        self
    }

    /// Start it and wait for its `ACCEPT` line.
    pub async fn start(self) -> Running {
        self.start_at("127.0.0.1:0").await
    }

    /// Start it on a loopback address (`127.0.0.2:0`, `[::1]:0`).
    pub async fn start_at(self, accept: &str) -> Running {
        let dir = TempDir::new("s_server");
        let mut cmd = Command::new(&self.binary);
        cmd.arg("s_server").arg("-accept").arg(accept).arg("-www");
        if let Some((cert, key, chain)) = &self.leaf_files {
            cmd.arg("-cert").arg(dir.write("cert.pem", cert));
            cmd.arg("-key").arg(dir.write("key.pem", key));
            if !chain.is_empty() {
                cmd.arg("-cert_chain").arg(dir.write("chain.pem", chain));
            }
        }
        cmd.args(&self.args);
        // stderr goes to a file: s_server logs every failed handshake there, and an undrained
        // pipe would fill and stall it.
        let log =
            std::fs::File::create(dir.path().join("stderr.log")).unwrap_or_else(|e| panic!("{e}"));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.binary.display()));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(a) = line.strip_prefix("ACCEPT ") {
                    return a.trim().parse::<SocketAddr>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(addr) = addr else {
            let err = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
            panic!("s_server {:?} did not start: {err}", self.args);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        let task = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Running {
            addr,
            task: Some(task),
            child: Some(child),
            _dir: Some(dir),
        }
    }
}

/// Debian's `gnutls-serv`, for RC4, 3DES and servers without secure renegotiation.
#[derive(Debug)]
pub struct GnutlsServer {
    priority: String,
    cert_pem: String,
    key_pem: String,
}

impl GnutlsServer {
    /// A server presenting `leaf` with this GnuTLS priority string.
    pub fn new(leaf: &Leaf, priority: &str) -> GnutlsServer {
        GnutlsServer {
            priority: priority.to_owned(),
            cert_pem: leaf.full_chain_pem(),
            key_pem: leaf.key_pem.clone(),
        }
    }

    /// Start it (it binds every address; we only ever dial 127.0.0.1) and wait until it accepts.
    pub async fn start(self) -> Running {
        let dir = TempDir::new("gnutls");
        let port = free_port();
        let mut cmd = Command::new("gnutls-serv");
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--x509certfile")
            .arg(dir.write("cert.pem", &self.cert_pem))
            .arg("--x509keyfile")
            .arg(dir.write("key.pem", &self.key_pem))
            .arg("--priority")
            .arg(&self.priority)
            .arg("--http")
            .arg("--quiet");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("gnutls-serv: {e} (apt-get install gnutls-bin)"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Running {
            addr,
            task: None,
            child: Some(child),
            _dir: Some(dir),
        }
    }
}

/// How a scripted peer behaves.
#[derive(Debug, Clone)]
pub enum Script {
    /// Accept the connection, then say nothing until dropped.
    Silent,
    /// Answer any hello with these bytes (non-TLS text, or records without a hello), then
    /// close.
    Garbage(&'static [u8]),
    /// Answer an SSLv2 CLIENT-HELLO with a SERVER-HELLO carrying `certificate` and these
    /// cipher kinds (three-byte codes); answer anything else by closing.
    Sslv2 {
        /// The certificate, DER.
        certificate: Vec<u8>,
        /// The kinds the server claims.
        kinds: Vec<u32>,
    },
    /// Send one byte of a TLS alert record every `every`, forever.
    Trickle(Duration),
    /// A minimal TLS 1.0-1.2 server that answers a ClientHello with ServerHello, Certificate
    /// and ServerHelloDone, for what no server on this machine will do: EXPORT suites, DEFLATE
    /// compression, and ignoring TLS_FALLBACK_SCSV.
    LegacyTls(LegacyTls),
    /// Answer any hello with ChangeCipherSpec records, as fast as the client reads, forever.
    EndlessChangeCipherSpec,
    /// Answer any hello with a TLS 1.2 ServerHello and then `count` Certificate messages of
    /// `size` bytes each (split into records of 16 KiB), then wait.
    HugeCertificates {
        /// How many Certificate messages.
        count: usize,
        /// The size of each.
        size: usize,
    },
    /// An SMTP server whose banner arrives one byte every `every`.
    SmtpTrickle(Duration),
}

/// What the scripted legacy TLS peer accepts.
#[derive(Debug, Clone, Default)]
pub struct LegacyTls {
    /// Wire versions it speaks (0x0301..=0x0303).
    pub versions: Vec<u16>,
    /// Suites it accepts, by code point; it picks the client's first that is in this list.
    pub suites: Vec<u16>,
    /// Select DEFLATE when the client offers it.
    pub compress: bool,
    /// The certificate to send, DER.
    pub certificate: Vec<u8>,
    /// Negotiate the heartbeat extension and answer a heartbeat request with 16 KiB of
    /// "memory", as OpenSSL 1.0.1 to 1.0.1f did (CVE-2014-0160).
    pub heartbleed: bool,
    /// For DHE suites, send a ServerKeyExchange with this prime (the rest of it is garbage).
    pub dhe_prime: Option<Vec<u8>>,
}

/// Start a scripted peer.
pub async fn scripted(script: Script) -> Running {
    let (listener, addr) = listen().await;
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            match &script {
                Script::Silent => held.push(tcp),
                other => {
                    tokio::spawn(answer(other.clone(), tcp));
                }
            }
        }
    });
    Running::from_task(addr, task)
}

/// How a scripted peer answers one connection (a `Silent` one is held by the caller).
async fn answer(script: Script, mut tcp: TcpStream) {
    let mut buf = [0u8; 4096];
    match script {
        Script::Silent => {}
        Script::Garbage(bytes) => {
            let _ = tcp.read(&mut buf).await;
            let _ = tcp.write_all(bytes).await;
            let _ = tcp.shutdown().await;
        }
        Script::Trickle(every) => {
            let _ = tcp.read(&mut buf).await;
            // A handshake record header announcing 16 KiB, then a byte at a time.
            trickle(&mut tcp, &[22, 3, 3, 0x40, 0], 0, every).await;
        }
        Script::SmtpTrickle(every) => trickle(&mut tcp, b"220-", b'x', every).await,
        Script::LegacyTls(config) => legacy_tls(tcp, &config).await,
        Script::EndlessChangeCipherSpec => {
            let _ = tcp.read(&mut buf).await;
            let block: Vec<u8> = std::iter::repeat_n([20u8, 3, 3, 0, 1, 1], 1000)
                .flatten()
                .collect();
            while tcp.write_all(&block).await.is_ok() {}
        }
        Script::HugeCertificates { count, size } => {
            let _ = tcp.read(&mut buf).await;
            for chunk in huge_certificates(count, size).chunks(16_384) {
                if tcp.write_all(&record(22, 0x0303, chunk)).await.is_err() {
                    return;
                }
            }
            let _ = tcp.read(&mut buf).await;
        }
        Script::Sslv2 { certificate, kinds } => {
            let n = tcp.read(&mut buf).await.unwrap_or(0);
            if n >= 3 && buf[0] & 0x80 != 0 && buf[2] == 1 {
                let _ = tcp
                    .write_all(&sslv2_server_hello(&certificate, &kinds))
                    .await;
            }
            let _ = tcp.shutdown().await;
        }
    }
}

/// Write `prefix`, then `fill` forever, one byte every `every`, until the client hangs up.
async fn trickle(tcp: &mut TcpStream, prefix: &[u8], fill: u8, every: Duration) {
    for b in prefix.iter().copied().chain(std::iter::repeat(fill)) {
        if tcp.write_all(&[b]).await.is_err() {
            break;
        }
        tokio::time::sleep(every).await;
    }
}

/// The scripted legacy server: read one hello record, answer it, and for Heartbleed answer
/// the heartbeat request with far more than it sent.
async fn legacy_tls(mut tcp: TcpStream, config: &LegacyTls) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read until one whole record has arrived (a hello fits in one).
    while buf.len() < 5 || buf.len() < 5 + usize::from(u16::from_be_bytes([buf[3], buf[4]])) {
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 65_536 {
            return;
        }
    }
    let _ = tcp.write_all(&legacy_answer(config, &buf)).await;
    if config.heartbleed {
        let mut req = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut req)).await;
        if matches!(read, Ok(Ok(n)) if n >= 6) && req[0] == 24 {
            let mut leak = vec![2u8, 0x40, 0x00];
            leak.extend(std::iter::repeat_n(0x5a, 16_000));
            let version = u16::from_be_bytes([req[1], req[2]]);
            let _ = tcp.write_all(&record(24, version, &leak)).await;
        }
    }
    let _ = tcp.shutdown().await;
}

/// A TLS 1.2 ServerHello followed by `count` Certificate messages of `size` bytes, each a
/// well-formed certificate_list holding one "certificate", as one handshake stream.
fn huge_certificates(count: usize, size: usize) -> Vec<u8> {
    let mut hello = 0x0303u16.to_be_bytes().to_vec();
    hello.extend_from_slice(&[0x11; 32]);
    hello.extend_from_slice(&[0, 0xc0, 0x2f, 0]);
    let mut stream = handshake(2, &hello);
    let cert = size.saturating_sub(6);
    let mut body = u32::try_from(cert + 3).unwrap_or(0).to_be_bytes()[1..].to_vec();
    body.extend_from_slice(&u32::try_from(cert).unwrap_or(0).to_be_bytes()[1..]);
    body.resize(size, 0x30);
    for _ in 0..count {
        stream.extend_from_slice(&handshake(11, &body));
    }
    stream
}

/// An SSLv2 SERVER-HELLO (draft-hickman-netscape-ssl-00 §2.6).
fn sslv2_server_hello(certificate: &[u8], kinds: &[u32]) -> Vec<u8> {
    let conn_id = [0x42u8; 16];
    let mut body = vec![4u8, 0, 1]; // SERVER-HELLO, no session hit, X.509 certificate
    body.extend_from_slice(&0x0002u16.to_be_bytes());
    body.extend_from_slice(&u16::try_from(certificate.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&u16::try_from(kinds.len() * 3).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&u16::try_from(conn_id.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(certificate);
    for k in kinds {
        body.extend_from_slice(&k.to_be_bytes()[1..]);
    }
    body.extend_from_slice(&conn_id);
    let mut out = (0x8000u16 | u16::try_from(body.len()).unwrap_or(0))
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(&body);
    out
}

fn record(kind: u8, version: u16, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&u16::try_from(body.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(0).to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

/// The scripted legacy server's answer to a ClientHello record.
fn legacy_answer(config: &LegacyTls, hello_record: &[u8]) -> Vec<u8> {
    let alert = |desc: u8| record(21, 0x0301, &[2, desc]);
    let Ok((_, plain)) = tls_parser::parse_tls_plaintext(hello_record) else {
        return alert(50);
    };
    let Some(tls_parser::TlsMessage::Handshake(tls_parser::TlsMessageHandshake::ClientHello(ch))) =
        plain.msg.first()
    else {
        return alert(10);
    };
    let max = config.versions.iter().copied().max().unwrap_or(0x0301);
    let version = ch.version.0.min(max);
    if !config.versions.contains(&version) {
        return alert(70);
    }
    let Some(suite) = ch
        .ciphers
        .iter()
        .map(|c| c.0)
        .find(|c| config.suites.contains(c))
    else {
        return alert(40);
    };
    let compression = u8::from(config.compress && ch.comp.iter().any(|c| c.0 == 1));
    let mut hello = version.to_be_bytes().to_vec();
    hello.extend_from_slice(&[0x11; 32]);
    hello.push(0); // no session id
    hello.extend_from_slice(&suite.to_be_bytes());
    hello.push(compression);
    let heartbeat = config.heartbleed
        && ch.ext.is_some_and(|e| {
            tls_parser::parse_tls_client_hello_extensions(e)
                .map(|(_, exts)| {
                    exts.iter()
                        .any(|x| matches!(x, tls_parser::TlsExtension::Heartbeat(_)))
                })
                .unwrap_or(false)
        });
    if heartbeat {
        hello.extend_from_slice(&[0, 10, 0xff, 0x01, 0, 1, 0, 0, 15, 0, 1, 1]); // renegotiation_info, heartbeat
    } else {
        hello.extend_from_slice(&[0, 5, 0xff, 0x01, 0, 1, 0]); // renegotiation_info
    }
    let mut certs = Vec::new();
    certs.extend_from_slice(
        &u32::try_from(config.certificate.len())
            .unwrap_or(0)
            .to_be_bytes()[1..],
    );
    certs.extend_from_slice(&config.certificate);
    let mut list = u32::try_from(certs.len()).unwrap_or(0).to_be_bytes()[1..].to_vec();
    list.extend_from_slice(&certs);
    let mut flight = handshake(2, &hello);
    flight.extend_from_slice(&handshake(11, &list));
    if let Some(prime) = &config.dhe_prime {
        // ServerDHParams: p, g, Ys (RFC 5246 §7.4.3); the signature is left out.
        let mut ske = u16::try_from(prime.len())
            .unwrap_or(0)
            .to_be_bytes()
            .to_vec();
        ske.extend_from_slice(prime);
        ske.extend_from_slice(&[0, 1, 2, 0, 1, 5]);
        flight.extend_from_slice(&handshake(12, &ske));
    }
    flight.extend_from_slice(&handshake(14, &[]));
    record(22, version, &flight)
}

/// An SMTP server on 127.0.0.1:0 that offers STARTTLS (or not) and, after it, speaks TLS with
/// rustls using `config`.
pub async fn smtp_server(config: Option<Arc<rustls::ServerConfig>>) -> Running {
    smtp_server_at(([127, 0, 0, 1], 0).into(), config).await
}

/// [`smtp_server`] on `addr`.
pub async fn smtp_server_at(
    addr: SocketAddr,
    config: Option<Arc<rustls::ServerConfig>>,
) -> Running {
    let (listener, addr) = listen_at(addr).await;
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let config = config.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(tcp);
                if lines
                    .get_mut()
                    .write_all(b"220 mx.lab.test ESMTP posture-lab\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut line = String::new();
                loop {
                    line.clear();
                    match tokio::time::timeout(Duration::from_secs(10), lines.read_line(&mut line))
                        .await
                    {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return,
                    }
                    let verb = line.trim().to_ascii_uppercase();
                    let tcp = lines.get_mut();
                    if verb.starts_with("EHLO") {
                        let caps: &[u8] = if config.is_some() {
                            b"250-mx.lab.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
                        } else {
                            b"250-mx.lab.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                        };
                        let _ = tcp.write_all(caps).await;
                    } else if verb == "STARTTLS" && config.is_some() {
                        let _ = tcp.write_all(b"220 2.0.0 Ready to start TLS\r\n").await;
                        break;
                    } else if verb == "QUIT" {
                        let _ = tcp.write_all(b"221 2.0.0 Bye\r\n").await;
                        return;
                    } else {
                        let _ = tcp.write_all(b"502 5.5.2 Command not recognised\r\n").await;
                    }
                }
                let Some(config) = config else { return };
                let tcp = lines.into_inner();
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                if let Ok(Ok(mut tls)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                {
                    let _ = tls.write_all(b"220 mx.lab.test ESMTP\r\n").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    Running::from_task(addr, task)
}

impl RustlsServer {
    /// The rustls configuration this builder would serve, for servers that speak TLS after a
    /// prelude (SMTP STARTTLS).
    pub fn config(self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| panic!("{e}"))
            .with_no_client_auth()
            .with_single_cert(self.chain, self.key)
            .unwrap_or_else(|e| panic!("{e}"));
        Arc::new(config)
    }
}

/// A TCP proxy on 127.0.0.1:0 to `upstream` that counts the connections it accepts and can
/// be cut, as a network between a collector and its database can: while cut, connections in
/// flight are dropped and new ones are closed at once.
pub struct TcpProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    up: Arc<std::sync::atomic::AtomicBool>,
    accepted: Arc<std::sync::atomic::AtomicU32>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Start forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let (listener, addr) = listen().await;
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let accepted = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let (is_up, kept, counted) = (up.clone(), links.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if !is_up.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                kept.retain(|h| !h.is_finished());
                kept.push(link.abort_handle());
            }
        });
        TcpProxy {
            addr,
            up,
            accepted,
            links,
            task,
        }
    }

    /// Connections accepted so far (counted on this side, not by the client).
    pub fn connections(&self) -> u32 {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Cut the network: drop every connection, refuse new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for h in self
            .links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            h.abort();
        }
    }

    /// Mend it.
    pub fn mend(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}
