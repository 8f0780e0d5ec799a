//! HTTP and HTTPS servers for the web checks: hyper on 127.0.0.1:0, each answering with what a
//! test's handler says, plus raw sockets for the hostile cases (trickling answers).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::pki::Leaf;
use crate::servers::Running;

/// What a handler answers.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// Status code (200 when 0).
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: &str) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: Bytes::from(body.to_owned()),
        }
    }

    /// A redirect.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply {
            status,
            headers: vec![("location".into(), location.into())],
            body: Bytes::new(),
        }
    }

    /// 200 with `body` and the headers a well-run site sends: HSTS (two years, subdomains,
    /// preload), a CSP that forbids framing, nosniff, a referrer policy and a secure cookie.
    pub fn well_run(body: &str) -> Reply {
        Reply::ok(body)
            .header(
                "strict-transport-security",
                "max-age=63072000; includeSubDomains; preload",
            )
            .header(
                "content-security-policy",
                "default-src 'self'; frame-ancestors 'none'",
            )
            .header("x-content-type-options", "nosniff")
            .header("referrer-policy", "no-referrer")
            .header(
                "set-cookie",
                "session=abc; Path=/; Secure; HttpOnly; SameSite=Lax",
            )
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A request as handlers see it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Host header.
    pub host: String,
    /// Path and query.
    pub path: String,
}

/// A handler.
pub type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// Serve HTTP (or HTTPS with `leaf`) on 127.0.0.1:0 with `handler`.
pub async fn serve(leaf: Option<&Leaf>, handler: Handler) -> Running {
    serve_at(([127, 0, 0, 1], 0).into(), leaf, handler).await
}

/// [`serve`] on `addr`.
pub async fn serve_at(
    addr: std::net::SocketAddr,
    leaf: Option<&Leaf>,
    handler: Handler,
) -> Running {
    let acceptor = leaf.map(|leaf| {
        let mut chain = vec![CertificateDer::from(leaf.cert_der.clone())];
        chain.extend(
            leaf.chain_der
                .iter()
                .map(|d| CertificateDer::from(d.clone())),
        );
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap_or_else(|e| panic!("{e}"));
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let (listener, addr) = crate::servers::listen_at(addr).await;
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            crate::servers::ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let handler = handler.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let seen = Seen {
                            host: req
                                .headers()
                                .get("host")
                                .and_then(|h| h.to_str().ok())
                                .unwrap_or_default()
                                .to_owned(),
                            path: req
                                .uri()
                                .path_and_query()
                                .map(|p| p.as_str().to_owned())
                                .unwrap_or_default(),
                        };
                        let reply = handler(&seen);
                        let mut resp = hyper::Response::builder().status(if reply.status == 0 {
                            200
                        } else {
                            reply.status
                        });
                        for (n, v) in &reply.headers {
                            resp = resp.header(n.as_str(), v.as_str());
                        }
                        Ok::<_, Infallible>(resp.body(Full::new(reply.body)).unwrap_or_default())
                    }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(a) => {
                        if let Ok(tls) = a.accept(tcp).await {
                            let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    });
    Running::from_task(addr, task)
}

/// A plain-HTTP "internal service" on 127.0.0.1:0 that answers every request with a secret
/// and counts the requests: what a scanned site must not steer the agent into.
pub async fn internal_service() -> (Running, Arc<AtomicUsize>) {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let running = serve(
        None,
        Arc::new(move |_: &Seen| {
            counter.fetch_add(1, Ordering::SeqCst);
            Reply::ok("the internal service's secret")
        }),
    )
    .await;
    (running, asked)
}

/// A plain-HTTP peer that answers every request by trickling one byte of a response head
/// every `every`, forever; the counter tells how many clients have hung up on it.
pub async fn trickle_http(every: Duration) -> (Running, Arc<AtomicUsize>) {
    let (listener, addr) = crate::servers::listen().await;
    let hung_up = Arc::new(AtomicUsize::new(0));
    let counter = hung_up.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = tcp.read(&mut buf).await;
                for b in b"HTTP/1.1 200 OK\r\nX-Slow: "
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(b'a'))
                {
                    if tcp.write_all(&[b]).await.is_err() {
                        counter.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    tokio::time::sleep(every).await;
                }
            });
        }
    });
    (Running::from_task(addr, task), hung_up)
}

/// What a webhook receiver was sent: (path, JSON body), in the order received.
pub type Received = Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;

/// A webhook receiver on 127.0.0.1:0: every POST body (JSON, at most 1 MiB) is kept with its
/// path, and answered 200.
pub async fn webhook_receiver() -> (Running, Received) {
    use http_body_util::BodyExt;
    let (listener, addr) = crate::servers::listen().await;
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = received.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<Incoming>| {
                    let kept = kept.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let body = http_body_util::Limited::new(req.into_body(), 1 << 20)
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let status = match serde_json::from_slice(&body) {
                            Ok(v) => {
                                kept.lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push((path, v));
                                200
                            }
                            Err(_) => 400,
                        };
                        let resp = hyper::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::new()))
                            .unwrap_or_default();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (Running::from_task(addr, task), received)
}
