//! The certificate chain of an endpoint, captured with a rustls handshake whose verifier
//! records it (TLS 1.3 encrypts it, so our own hellos cannot see it).

use std::sync::Arc;

use super::conn::{Connection, Dialer, Failure};
use crate::probe::net::cert::{recording_config, server_name};

/// What the rustls handshake recorded.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// The chain, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// A stapled OCSP response.
    pub ocsp: Option<Vec<u8>>,
    /// The protocol version rustls negotiated (`TLSv1.3`).
    pub version: Option<String>,
    /// The ALPN protocol selected.
    pub alpn: Option<String>,
}

/// Handshake with rustls (TLS 1.2 or 1.3) and record the chain and any OCSP staple.
pub async fn capture(dialer: &Dialer, alpn: &[&str]) -> Result<Captured, Failure> {
    let conn = dialer.connect().await?;
    capture_on(conn, dialer, alpn).await
}

/// [`capture`] on a connection already open (an SMTP server's, after STARTTLS).
pub async fn capture_on(
    conn: Connection,
    dialer: &Dialer,
    alpn: &[&str],
) -> Result<Captured, Failure> {
    let (config, seen_slot) = recording_config(alpn).map_err(Failure::Smtp)?;
    let name = server_name(dialer.endpoint().server_name());
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let wait = std::time::Duration::from_secs(10).min(conn.left());
    let outcome = tokio::time::timeout(wait, connector.connect(name, conn.stream)).await;
    let seen = seen_slot.lock().ok().and_then(|mut s| s.take());
    let mut captured = Captured::default();
    if let Some((chain, ocsp)) = seen {
        captured.chain = chain;
        captured.ocsp = (!ocsp.is_empty()).then_some(ocsp);
    }
    match outcome {
        Ok(Ok(stream)) => {
            let (_, session) = stream.get_ref();
            captured.version = session.protocol_version().map(|v| format!("{v:?}"));
            captured.alpn = session
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            Ok(captured)
        }
        _ if !captured.chain.is_empty() => Ok(captured),
        Ok(Err(_)) => Err(Failure::Closed),
        Err(_) => Err(Failure::Silent(wait)),
    }
}
