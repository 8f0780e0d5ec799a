//! An authoritative DNS server in process: hickory-server on loopback (UDP and TCP on one
//! port), serving zones written as master files.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::LowerName;
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
    // UDP and TCP on the same port: bind UDP first, then TCP on its port (retry on a clash).
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = udp.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            break (udp, tcp);
        }
    };
    start(catalog(zones, allow_axfr), udp, tcp)
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

fn catalog(zones: &[&str], allow_axfr: bool) -> Catalog {
    let mut catalog = Catalog::new();
    for text in zones {
        let (origin, records) = Parser::new(*text, None, None)
            .parse()
            .unwrap_or_else(|e| panic!("zone does not parse: {e}\n{text}"));
        let policy = if allow_axfr {
            AxfrPolicy::AllowAll
        } else {
            AxfrPolicy::Deny
        };
        let handler =
            InMemoryZoneHandler::<hickory_server::net::runtime::TokioRuntimeProvider>::new(
                origin.clone(),
                records,
                ZoneType::Primary,
                policy,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let handlers: Vec<Arc<dyn ZoneHandler>> = vec![Arc::new(handler)];
        catalog.upsert(LowerName::new(&origin), handlers);
    }
    catalog
}

fn start(catalog: Catalog, udp: UdpSocket, tcp: TcpListener) -> Running {
    let addr: SocketAddr = udp.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let mut server = Server::new(catalog);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
    let task = tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    Running::from_task(addr, task)
}
