//! Runs scans: resolves targets, applies `--connect-to`, bounds concurrency overall and per
//! host, and turns probe results into observations.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use posture_policies::model::{
    EndpointTarget, Observation, ProbeError, ScanMeta, Schema, Status, Target,
};
use tokio::sync::Semaphore;

use crate::probe::tls::conn::Endpoint;
use crate::probe::tls::intercept;
use crate::probe::tls::scan::{self as tls_scan, TlsOptions};
use crate::probe::web::{self, Resolve};
use crate::target::{ConnectTo, TargetSpec};

/// How a scan run is set up.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// TLS probe options.
    pub tls: TlsOptions,
    /// SNI to send instead of the target's host.
    pub sni: Option<String>,
    /// `--connect-to` rules, first match wins.
    pub connect_to: Vec<ConnectTo>,
    /// Connections open at once across all targets.
    pub max_connections: usize,
    /// The agent id written into observations.
    pub agent: String,
    /// The domain findings are scored under, if given.
    pub domain: Option<String>,
    /// Observations of the same targets from a second vantage point (the collector, another
    /// agent), to detect TLS interception.
    pub vantage: Vec<Observation>,
    /// Extra issuer-name fragments that mark an interception CA.
    pub interception_names: Vec<String>,
    /// Web probe limits.
    pub web: web::http::WebLimits,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            tls: TlsOptions::default(),
            sni: None,
            connect_to: Vec::new(),
            max_connections: 32,
            agent: "local".into(),
            domain: None,
            vantage: Vec::new(),
            interception_names: Vec::new(),
            web: web::http::WebLimits::default(),
        }
    }
}

/// Resolves names with the system resolver after applying `--connect-to` rules.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// The rules, first match wins.
    pub rules: Vec<ConnectTo>,
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

async fn resolve(spec: &TargetSpec, options: &RunOptions) -> Result<SocketAddr, String> {
    Resolver {
        rules: options.connect_to.clone(),
    }
    .resolve(&spec.host, spec.port)
    .await
}

/// Scan domains: the website (apex and www, http and https) and the TLS of each HTTPS host
/// that answers. One domain observation and one endpoint observation per HTTPS host.
pub async fn scan_domains(domains: &[String], options: &RunOptions) -> Vec<Observation> {
    scan_domains_with(domains, options, true).await
}

/// [`scan_domains`], optionally without the TLS scans of the HTTPS hosts (when the caller
/// scans an endpoint itself).
pub async fn scan_domains_with(
    domains: &[String],
    options: &RunOptions,
    with_tls: bool,
) -> Vec<Observation> {
    let resolver = Resolver {
        rules: options.connect_to.clone(),
    };
    let mut out = Vec::new();
    for domain in domains {
        let started = Utc::now();
        let web = web::probe(domain, &resolver, &options.tls.trust, &options.web, started).await;
        let mut meta = ScanMeta {
            agent: options.agent.clone(),
            started,
            finished: Utc::now(),
            connections: web.connections,
            errors: Vec::new(),
        };
        if let Some((status, message)) = &web.failure {
            meta.errors.push(ProbeError {
                probe: "web".into(),
                status: *status,
                message: message.clone(),
            });
        }
        let https_hosts: Vec<String> = web
            .facts
            .as_ref()
            .map(|f| {
                f.endpoints
                    .iter()
                    .filter(|e| {
                        e.url.starts_with("https://") && (e.status.is_some() || !e.hops.is_empty())
                    })
                    .filter_map(|e| web::http::Url::parse(&e.url).map(|u| u.host))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Observation {
            schema: Schema,
            target: Target::Domain(posture_policies::model::DomainTarget {
                name: domain.clone(),
                roles: vec![posture_policies::model::DomainRole::Web],
            }),
            scan: meta,
            tls: None,
            web: web.facts,
            dns: None,
            mail: None,
        });
        if !with_tls {
            continue;
        }
        let specs: Vec<TargetSpec> = https_hosts
            .into_iter()
            .map(|host| TargetSpec {
                service: posture_policies::model::Service::Https,
                host,
                port: 443,
            })
            .collect();
        let per_domain = RunOptions {
            domain: Some(domain.clone()),
            ..options.clone()
        };
        out.extend(scan_tls_targets(&specs, &per_domain).await);
    }
    out
}

/// Scan every target (concurrently, within the limits) and return one observation each, in
/// the order given.
pub async fn scan_tls_targets(targets: &[TargetSpec], options: &RunOptions) -> Vec<Observation> {
    let global = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let options = Arc::new(options.clone());
    let mut set = tokio::task::JoinSet::new();
    for (index, spec) in targets.iter().cloned().enumerate() {
        let (global, options) = (global.clone(), options.clone());
        set.spawn(async move { (index, scan_one(spec, &options, global).await) });
    }
    let mut done: Vec<(usize, Observation)> = Vec::with_capacity(targets.len());
    while let Some(joined) = set.join_next().await {
        // A panicking probe is a bug; the other targets' results still stand.
        if let Ok(pair) = joined {
            done.push(pair);
        }
    }
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, o)| o).collect()
}

async fn scan_one(spec: TargetSpec, options: &RunOptions, global: Arc<Semaphore>) -> Observation {
    let started = Utc::now();
    let target = Target::Endpoint(EndpointTarget {
        host: spec.host.clone(),
        port: spec.port,
        sni: options.sni.clone(),
        service: spec.service,
        domain: options.domain.clone(),
    });
    let mut meta = ScanMeta {
        agent: options.agent.clone(),
        started,
        finished: started,
        connections: 0,
        errors: Vec::new(),
    };
    let tls = match resolve(&spec, options).await {
        Err(message) => {
            meta.errors.push(ProbeError {
                probe: "tls".into(),
                status: Status::Untestable,
                message,
            });
            None
        }
        Ok(addr) => {
            let endpoint = Endpoint {
                host: spec.host.clone(),
                port: spec.port,
                addr,
                sni: options.sni.clone(),
                service: spec.service,
            };
            let result = tls_scan::scan(endpoint, &options.tls, global, started).await;
            meta.connections = result.connections;
            match result.failure {
                Some((status, message)) => {
                    meta.errors.push(ProbeError {
                        probe: "tls".into(),
                        status,
                        message,
                    });
                    None
                }
                None => {
                    let mut facts = result.facts;
                    let other = options
                        .vantage
                        .iter()
                        .find(|o| same_endpoint(&o.target, &spec))
                        .and_then(|o| o.tls.as_ref());
                    facts.interception =
                        intercept::compare(&facts, other, &options.interception_names);
                    Some(facts)
                }
            }
        }
    };
    meta.finished = Utc::now();
    Observation {
        schema: Schema,
        target,
        scan: meta,
        tls,
        web: None,
        dns: None,
        mail: None,
    }
}

fn same_endpoint(target: &Target, spec: &TargetSpec) -> bool {
    matches!(target, Target::Endpoint(e) if e.host.eq_ignore_ascii_case(&spec.host) && e.port == spec.port && e.service == spec.service)
}
