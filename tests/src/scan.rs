//! Scan a lab server with the agent's TLS engine and judge the result with the built-in
//! policies, as `posture-agent scan` does.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::Utc;
use posture_agent::probe::net::Gate;
use posture_agent::probe::net::cert::TrustStore;
use posture_agent::probe::tls::conn::{Endpoint, Limits};
use posture_agent::probe::tls::scan::{TlsOptions, TlsScan, scan};
use posture_policies::PolicySet;
use posture_policies::model::{
    EndpointTarget, Finding, Observation, ProbeError, ProbeOutcome, ProtocolVersion, ScanMeta,
    Schema, Service, Status, Target,
};

/// What a lab scan produced.
#[derive(Debug)]
pub struct Judged {
    /// The engine's result.
    pub scan: TlsScan,
    /// The findings.
    pub findings: Vec<Finding>,
}

impl Judged {
    /// The status of `check` (panics when the check gave no finding).
    pub fn status(&self, check: &str) -> Status {
        self.findings
            .iter()
            .find(|f| f.check == check)
            .map(|f| f.status)
            .unwrap_or_else(|| panic!("no finding for {check}; failure: {:?}", self.scan.failure))
    }

    /// The message of `check`.
    pub fn message(&self, check: &str) -> String {
        self.findings
            .iter()
            .find(|f| f.check == check)
            .map(|f| f.message.clone())
            .unwrap_or_default()
    }

    /// Accepted suite names for `version`.
    pub fn suites(&self, version: ProtocolVersion) -> Vec<String> {
        self.scan
            .facts
            .protocols
            .iter()
            .find(|p| p.version == version)
            .map(|p| p.cipher_suites.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default()
    }

    /// The versions accepted.
    pub fn accepted_versions(&self) -> Vec<ProtocolVersion> {
        self.scan
            .facts
            .protocols
            .iter()
            .filter(|p| p.result == ProbeOutcome::Accepted)
            .map(|p| p.version)
            .collect()
    }
}

/// Limits short enough for tests, long enough for a loaded two-core machine.
pub fn test_limits() -> Limits {
    Limits {
        connect_timeout: Duration::from_secs(3),
        read_timeout: Duration::from_secs(3),
        target_budget: Duration::from_secs(30),
        ..Limits::default()
    }
}

/// Scan `addr` as `name` and judge it.
pub async fn scan_and_judge(
    addr: SocketAddr,
    name: &str,
    service: Service,
    trust: TrustStore,
) -> Judged {
    scan_with(addr, name, service, trust, test_limits()).await
}

/// Scan with explicit limits.
pub async fn scan_with(
    addr: SocketAddr,
    name: &str,
    service: Service,
    trust: TrustStore,
    limits: Limits,
) -> Judged {
    scan_full(addr, name, service, trust, limits, false).await
}

/// Scan with explicit limits, optionally running the intrusive probes.
pub async fn scan_full(
    addr: SocketAddr,
    name: &str,
    service: Service,
    trust: TrustStore,
    limits: Limits,
    intrusive: bool,
) -> Judged {
    let endpoint = Endpoint {
        host: name.to_owned(),
        port: addr.port(),
        addr,
        sni: None,
        service,
    };
    let started = Utc::now();
    let result = scan(
        endpoint,
        &TlsOptions {
            limits,
            trust,
            intrusive,
        },
        Gate::new(16, limits.per_host),
        started,
    )
    .await;
    let mut errors = Vec::new();
    if let Some(failed) = &result.failure {
        errors.push(
            ProbeError::new("tls", failed.status, failed.message.clone()).with_code(failed.code),
        );
    }
    let observation = Observation {
        schema: Schema,
        target: Target::Endpoint(EndpointTarget {
            host: name.to_owned(),
            port: addr.port(),
            sni: None,
            service,
            domain: None,
        }),
        scan: ScanMeta {
            agent: "lab".into(),
            started,
            finished: Utc::now(),
            connections: result.connections,
            errors,
            ..ScanMeta::default()
        },
        tls: result.failure.is_none().then(|| result.facts.clone()),
        web: None,
        dns: None,
        mail: None,
    };
    let policies = PolicySet::builtin().unwrap_or_else(|e| panic!("{e}"));
    let findings = policies.evaluate(&observation, &[], Utc::now(), None);
    Judged {
        scan: result,
        findings,
    }
}

/// Judge what a domain scan observed with the built-in policies, now, as `posture-agent
/// scan DOMAIN` does.
pub fn judge_observations(observations: Vec<Observation>) -> Vec<Finding> {
    let set = posture_policies::model::ObservationSet {
        schema: Schema,
        organisation: None,
        observations,
    };
    PolicySet::builtin()
        .unwrap_or_else(|e| panic!("{e}"))
        .evaluate_set(&set, Some(Utc::now()), None)
}
