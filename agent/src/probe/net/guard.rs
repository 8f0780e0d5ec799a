//! Where a scanned site may send the agent. An agent runs inside a hospital network: a hostile
//! site must not use redirects, an MTA-STS host name or a CNAME to make it fetch internal
//! services. A redirect is followed only within the target's own registrable domain, never to
//! an address literal, and never to an internal address (loopback, private, link-local,
//! unique-local, shared, plus the configured `internal_networks`) unless the target itself
//! resolved to an internal address (an intranet site redirecting within the intranet).

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::probe::net::Resolve;

/// The ranges that are internal whatever the configuration says: RFC 1122 (this network,
/// loopback), RFC 1918 (private), RFC 6598 (shared address space), RFC 3927 (link-local),
/// RFC 4291 (IPv6 unspecified, loopback, link-local), RFC 4193 (unique local), RFC 6052 and
/// RFC 4291 §2.5.5.2 forms are unwrapped to their IPv4 address first.
const BUILT_IN: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// Which addresses count as internal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressGuard {
    /// More internal ranges (the configuration's `internal_networks`).
    pub internal_networks: Vec<IpNet>,
    /// Addresses to treat as public although they are in an internal range. Only the test lab
    /// sets this, to let a loopback address play a public host.
    pub treat_as_public: Vec<IpNet>,
}

/// Why a redirect was not followed.
pub type Refusal = String;

impl AddressGuard {
    /// Whether `ip` is internal.
    pub fn is_internal(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.treat_as_public.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        BUILT_IN
            .iter()
            .filter_map(|n| n.parse::<IpNet>().ok())
            .chain(self.internal_networks.iter().copied())
            .any(|n| n.contains(&ip))
    }

    /// Whether a redirect from `from_host` to `to_host` may be followed before resolving it:
    /// not to an address literal, and within the same registrable domain.
    pub fn redirect_host(&self, from_host: &str, to_host: &str) -> Result<(), Refusal> {
        if to_host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
            return Err("a redirect to an IP address is not followed".into());
        }
        let site = |h: &str| psl::domain_str(h).unwrap_or(h).to_ascii_lowercase();
        if site(from_host) != site(to_host) {
            return Err(format!(
                "a redirect to another registrable domain ({}) is not followed",
                site(to_host)
            ));
        }
        Ok(())
    }

    /// Resolve `host:port`, named by the answers of the scanned `target`, and refuse it when
    /// it is internal and the target itself is not (it resolves elsewhere, or not at all).
    pub async fn resolve_for(
        &self,
        resolver: &impl Resolve,
        target: &str,
        host: &str,
        port: u16,
    ) -> Result<SocketAddr, Refusal> {
        let addr = resolver.resolve(host, port).await?;
        let target_internal = resolver
            .resolve(target, port)
            .await
            .is_ok_and(|a| self.is_internal(a.ip()));
        self.address(target_internal, addr.ip())
            .map_err(|reason| format!("{host} resolves to {reason}"))?;
        Ok(addr)
    }

    /// Whether the agent may connect to `ip` for a target that itself resolved to an internal
    /// address (`target_internal`) or not.
    pub fn address(&self, target_internal: bool, ip: IpAddr) -> Result<(), Refusal> {
        if self.is_internal(ip) && !target_internal {
            return Err(format!(
                "{ip} is an internal address and the target is not internal: not followed"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ranges() {
        let g = AddressGuard::default();
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(g.is_internal(ip(internal)), "{internal}");
        }
        for public in ["192.0.2.1", "8.8.8.8", "172.32.0.1", "2001:db8::1"] {
            assert!(!g.is_internal(ip(public)), "{public}");
        }
        let configured = AddressGuard {
            internal_networks: vec!["192.0.2.0/24".parse().unwrap()],
            treat_as_public: vec!["127.0.0.1/32".parse().unwrap()],
        };
        assert!(configured.is_internal(ip("192.0.2.7")));
        assert!(!configured.is_internal(ip("127.0.0.1")));
        assert!(configured.is_internal(ip("127.0.0.2")));
    }

    #[test]
    fn redirect_rules() {
        let g = AddressGuard::default();
        assert!(
            g.redirect_host("example.co.uk", "www.example.co.uk")
                .is_ok()
        );
        assert!(
            g.redirect_host("www.example.co.uk", "example.co.uk")
                .is_ok()
        );
        assert!(g.redirect_host("example.co.uk", "other.co.uk").is_err());
        assert!(g.redirect_host("example.test", "127.0.0.1").is_err());
        assert!(g.redirect_host("example.test", "[::1]").is_err());
        assert!(g.address(false, ip("10.0.0.1")).is_err());
        assert!(g.address(true, ip("10.0.0.1")).is_ok());
        assert!(g.address(false, ip("192.0.2.1")).is_ok());
    }
}
