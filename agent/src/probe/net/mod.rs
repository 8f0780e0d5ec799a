//! What every probe stands on: turning a host into an address to dial (the scan's own
//! resolver, after `--connect-to` rules), the connection gate that holds `--per-host` per
//! address and `--max-connections` over the whole run, the HTTP client ([`http`]), the address
//! guard that keeps a scanned site from steering the agent inside ([`guard`]) and the trust
//! store with certificate judging ([`cert`]). Probes take these as arguments; none reaches up
//! into the runner or into another probe for them.

pub mod cert;
pub mod guard;
pub mod http;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::probe::dns::Dns;
use crate::target::{ConnectTo, TargetSpec};

/// Turns a host and port into an address to dial (system DNS, or `--connect-to` rules).
pub trait Resolve: Sync {
    /// The address for `host:port`.
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl std::future::Future<Output = Result<SocketAddr, String>> + Send;
}

/// Resolves names after applying `--connect-to` rules: through the scan's own DNS resolver
/// when there is one (so web, TLS, DNS and mail checks share one cache), else the system's.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// The rules, first match wins.
    pub rules: Vec<ConnectTo>,
    /// The resolver the DNS and mail checks use.
    pub dns: Option<Dns>,
}

impl Resolve for Resolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let spec = TargetSpec {
            service: posture_policies::model::Service::Tls,
            host: host.to_owned(),
            port,
        };
        let (host, port) = self
            .rules
            .iter()
            .find_map(|rule| rule.apply(&spec))
            .unwrap_or_else(|| (spec.host.clone(), spec.port));
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        if let Some(dns) = &self.dns {
            let addresses = dns
                .addresses(&host)
                .await
                .map_err(|e| e.to_string())?
                .records();
            // IPv4 first: the agent's network may have no IPv6 route.
            let ip = addresses
                .iter()
                .find(|a| a.is_ipv4())
                .or(addresses.first())
                .copied();
            return ip
                .map(|ip| SocketAddr::new(ip, port))
                .ok_or_else(|| format!("{host} has no address"));
        }
        // The test suite sets this so that a name no --connect-to rule covers fails loudly
        // instead of reaching the machine's resolver.
        if std::env::var_os("POSTURE_NO_SYSTEM_DNS").is_some() {
            return Err(format!(
                "{host}: system DNS is disabled (POSTURE_NO_SYSTEM_DNS) and no --connect-to rule covers it"
            ));
        }
        let mut addrs = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        addrs.next().ok_or_else(|| format!("{host} has no address"))
    }
}

/// Connection limits shared by every target of a run: at most `max` connections open at once
/// overall, and at most `per_host` to any one address, however many targets resolve to it.
#[derive(Debug, Clone)]
pub struct Gate {
    global: Arc<Semaphore>,
    per_host: usize,
    hosts: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
}

impl Gate {
    /// A gate for `max` connections overall and `per_host` per address.
    pub fn new(max: usize, per_host: usize) -> Gate {
        Gate {
            global: Arc::new(Semaphore::new(max.max(1))),
            per_host: per_host.max(1),
            hosts: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn host(&self, ip: IpAddr) -> Arc<Semaphore> {
        // A poisoned lock only means another task panicked while inserting; the map is intact.
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts
            .entry(ip)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }

    /// Wait (at most `wait`) for a permit for `ip` and one overall; `None` when the wait ran out.
    pub async fn enter(&self, ip: IpAddr, wait: Duration) -> Option<Permits> {
        let host = self.host(ip);
        tokio::time::timeout(wait, async {
            let host = host.acquire_owned().await.ok()?;
            let global = self.global.clone().acquire_owned().await.ok()?;
            Some(Permits {
                _host: host,
                _global: global,
            })
        })
        .await
        .ok()
        .flatten()
    }
}

/// The permits a connection holds while it is open.
#[derive(Debug)]
pub struct Permits {
    _host: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}
