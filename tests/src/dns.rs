//! An authoritative DNS server in process: hickory-server on loopback (UDP and TCP on one
//! port), serving zones written as master files.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{LowerName, Name};
use hickory_proto::serialize::txt::Parser;
use hickory_server::Server;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

use crate::servers::Running;

/// Serve `zones` (master-file text, each with its `$ORIGIN` and an SOA) on 127.0.0.1 until
/// dropped, refusing zone transfers.
pub async fn serve(zones: &[&str]) -> Running {
    serve_with(zones, false).await
}

/// [`serve`], allowing zone transfers to anyone when `allow_axfr`.
pub async fn serve_with(zones: &[&str], allow_axfr: bool) -> Running {
    let (udp, tcp) = bind_udp_and_tcp().await;
    start(catalog(zones, allow_axfr), udp, tcp)
}

/// [`serve`], and a count of the requests this server alone has been sent.
pub async fn serve_counted(zones: &[&str]) -> (Running, Arc<std::sync::atomic::AtomicU64>) {
    let (udp, tcp) = bind_udp_and_tcp().await;
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    (
        start_counted(catalog(zones, false), udp, tcp, count.clone()),
        count,
    )
}

/// Serve `zones` on a given loopback address and port: another "host" at the same port as a
/// first server, or port 53 (as root) for tools that cannot be given a port.
pub async fn serve_on(addr: SocketAddr, zones: &[&str], allow_axfr: bool) -> Running {
    let udp = UdpSocket::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    let tcp = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    start(catalog(zones, allow_axfr), udp, tcp)
}

type Handler = InMemoryZoneHandler<hickory_server::net::runtime::TokioRuntimeProvider>;

/// A primary zone from master-file `text`, and its origin.
fn zone(
    text: &str,
    axfr: AxfrPolicy,
    nx_proofs: Option<hickory_server::dnssec::NxProofKind>,
) -> (Name, Handler) {
    let (origin, records) = Parser::new(text, None, None)
        .parse()
        .unwrap_or_else(|e| panic!("zone does not parse: {e}\n{text}"));
    let handler = Handler::new(origin.clone(), records, ZoneType::Primary, axfr, nx_proofs)
        .unwrap_or_else(|e| panic!("{e}"));
    (origin, handler)
}

fn catalog(zones: &[&str], allow_axfr: bool) -> Catalog {
    let mut catalog = Catalog::new();
    for text in zones {
        let policy = if allow_axfr {
            AxfrPolicy::AllowAll
        } else {
            AxfrPolicy::Deny
        };
        let (origin, handler) = zone(text, policy, None);
        let handlers: Vec<Arc<dyn ZoneHandler>> = vec![Arc::new(handler)];
        catalog.upsert(LowerName::new(&origin), handlers);
    }
    catalog
}

/// A zone signing key: what a resolver must trust to validate the zone.
#[derive(Debug, Clone)]
pub struct ZoneKey {
    /// The zone.
    pub zone: String,
    /// The Ed25519 public key bytes.
    pub public: Vec<u8>,
}

/// A trust-anchor line for `zone` with the Ed25519 public key `public`, in the presentation
/// format `--trust-anchor` files take (`zone. 300 IN DNSKEY 257 3 15 <base64>`), written by
/// hickory.
pub fn dnskey_line(zone: &str, public: &[u8]) -> String {
    use hickory_proto::dnssec::rdata::DNSKEY;
    use hickory_proto::dnssec::{Algorithm, PublicKeyBuf};
    let key = DNSKEY::with_flags(257, PublicKeyBuf::new(public.to_vec(), Algorithm::ED25519));
    format!("{zone} 300 IN DNSKEY {key}")
}

/// Serve `zones` on 127.0.0.1, each signed with a fresh Ed25519 key (NSEC denial) and
/// signatures valid for a week, and return the keys a validating resolver must trust.
pub async fn serve_signed(zones: &[&str]) -> (Running, Vec<ZoneKey>) {
    serve_signed_for(zones, Duration::from_secs(7 * 86_400)).await
}

/// [`serve_signed`] with signatures valid for `validity` from now.
pub async fn serve_signed_for(zones: &[&str], validity: Duration) -> (Running, Vec<ZoneKey>) {
    serve_signed_then(zones, validity, &[]).await
}

/// [`serve_signed_for`], then add the records of `unsigned` (master-file text with the
/// `$ORIGIN` of one of `zones`, no SOA needed) after signing: each RRset they touch loses its
/// signatures, so a validating resolver finds it bogus inside an otherwise secure zone.
pub async fn serve_signed_then(
    zones: &[&str],
    validity: Duration,
    unsigned: &[&str],
) -> (Running, Vec<ZoneKey>) {
    use hickory_proto::dnssec::crypto::Ed25519SigningKey;
    use hickory_proto::dnssec::rdata::DNSKEY;
    use hickory_proto::dnssec::{DnssecSigner, PublicKey, SigningKey};

    let mut catalog = Catalog::new();
    let mut keys = Vec::new();
    for text in zones {
        let (origin, mut handler) = zone(
            text,
            AxfrPolicy::Deny,
            Some(hickory_server::dnssec::NxProofKind::Nsec),
        );
        let pkcs8 = Ed25519SigningKey::generate_pkcs8().unwrap_or_else(|e| panic!("{e}"));
        let key = Ed25519SigningKey::from_pkcs8(&pkcs8).unwrap_or_else(|e| panic!("{e}"));
        let public = key.to_public_key().unwrap_or_else(|e| panic!("{e}"));
        keys.push(ZoneKey {
            zone: origin.to_ascii(),
            public: public.public_bytes().to_vec(),
        });
        let signer = DnssecSigner::new(
            DNSKEY::from_key(&public),
            Box::new(key),
            origin.clone(),
            validity,
        );
        handler
            .add_zone_signing_key_mut(signer)
            .unwrap_or_else(|e| panic!("{e}"));
        handler.secure_zone_mut().unwrap_or_else(|e| panic!("{e}"));
        for late in unsigned {
            let (late_origin, late_records) = Parser::new(*late, None, None)
                .parse()
                .unwrap_or_else(|e| panic!("records do not parse: {e}\n{late}"));
            if late_origin != origin {
                continue;
            }
            for record in late_records
                .values()
                .flat_map(|set| set.records_without_rrsigs())
            {
                assert!(
                    handler.upsert_mut(record.clone(), 0),
                    "{record} was not added"
                );
            }
        }
        let handlers: Vec<Arc<dyn ZoneHandler>> = vec![Arc::new(handler)];
        catalog.upsert(LowerName::new(&origin), handlers);
    }
    let (udp, tcp) = bind_udp_and_tcp().await;
    (start(catalog, udp, tcp), keys)
}

/// A UDP socket and a TCP listener on the same free loopback port: UDP first, then TCP on its
/// port (retry on a clash).
pub async fn bind_udp_and_tcp() -> (UdpSocket, TcpListener) {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = udp.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            return (udp, tcp);
        }
    }
}

/// DNS requests the lab's nameservers in this process have been sent, all together (the
/// domain benchmark counts a tool's queries with it).
pub static QUERIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A catalog that counts the requests it answers (in [`QUERIES`] and its own count).
struct Counting(Catalog, Arc<std::sync::atomic::AtomicU64>);

#[async_trait::async_trait]
impl hickory_server::server::RequestHandler for Counting {
    async fn handle_request<
        R: hickory_server::server::ResponseHandler,
        T: hickory_server::net::runtime::Time,
    >(
        &self,
        request: &hickory_server::server::Request,
        response_handle: R,
    ) -> hickory_server::server::ResponseInfo {
        QUERIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // POSTURE_LAB_DNS_LOG: each question on standard error, to see what a scan asks.
        if std::env::var_os("POSTURE_LAB_DNS_LOG").is_some()
            && let Ok(info) = request.request_info()
        {
            eprintln!(
                "dns-query {} {}",
                info.query.name(),
                info.query.query_type()
            );
        }
        self.0
            .handle_request::<R, T>(request, response_handle)
            .await
    }
}

fn start(catalog: Catalog, udp: UdpSocket, tcp: TcpListener) -> Running {
    start_counted(catalog, udp, tcp, Arc::default())
}

fn start_counted(
    catalog: Catalog,
    udp: UdpSocket,
    tcp: TcpListener,
    count: Arc<std::sync::atomic::AtomicU64>,
) -> Running {
    let addr: SocketAddr = udp.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let mut server = Server::new(Counting(catalog, count));
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
    let task = tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    Running::from_task(addr, task)
}
