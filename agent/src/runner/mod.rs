//! Runs scans: resolves targets, applies `--connect-to`, bounds concurrency overall and per
//! host, and turns probe results into observations.
//!
//! [`start`] runs a [`Plan`] and hands back each observation as its target finishes, with a
//! cancellation token to stop it; `scan` and the agent's scheduler both use it. The
//! [`scan_domains`] and [`scan_tls_targets`] steps it is made of are public for the lab tests.

mod domain;
mod endpoint;

pub use domain::{scan_domains, scan_sites};
pub use endpoint::{scan_origins, scan_tls_targets};

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use posture_policies::model::{Observation, ProbeError, ScanMeta, Status, Target};

use tokio::sync::mpsc;
/// The token that cancels a [`start`]ed run (re-exported so callers need not name tokio-util).
pub use tokio_util::sync::CancellationToken;

use crate::probe::dns::Dns;
use crate::probe::domain::DomainOptions;
use crate::probe::mail::check::MailOptions;
use crate::probe::net::Gate;
use crate::probe::net::{Resolve, Resolver};
use crate::probe::rdap;
use crate::probe::tls::scan::TlsOptions;
use crate::target::{ConnectTo, TargetSpec};
use posture_policies::model::DomainRole;

/// Called with each observation as soon as it is finished (for progress on long scans).
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(&Observation) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

impl Progress {
    fn report(progress: Option<&Progress>, observation: &Observation) {
        if let Some(p) = progress {
            (p.0)(observation);
        }
    }
}

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
    /// The connection gate of the whole run (overall and per-address limits); made from
    /// `max_connections` and the TLS limits' `per_host` when absent, once per call.
    pub gate: Option<Gate>,
    /// The agent id written into observations.
    pub agent: String,
    /// The run every observation of this scan belongs to (a UUID v7).
    pub run: String,
    /// The organisation code from the configuration (`None` for an ad-hoc scan).
    pub organisation: Option<String>,
    /// The domain findings are scored under, if given.
    pub domain: Option<String>,
    /// Observations of the same targets from a second vantage point (the collector, another
    /// agent), to detect TLS interception.
    pub vantage: Vec<Observation>,
    /// Extra issuer-name fragments that mark an interception CA.
    pub interception_names: Vec<String>,
    /// Web probe limits.
    pub web: crate::probe::net::http::WebLimits,
    /// The resolver for the DNS and mail checks (the system's when absent).
    pub dns: Option<Dns>,
    /// Mail probe options (DKIM selectors).
    pub mail: MailOptions,
    /// Roles to give every scanned domain; inferred from what is found when empty.
    pub roles: Vec<DomainRole>,
    /// How nameservers are asked directly.
    pub domain_probe: DomainOptions,
    /// The RDAP base URL for registration data (none: registration is not looked up).
    pub rdap_base: Option<String>,
    /// An RDAP bootstrap registry, asked when there is no `rdap_base` (the command line and
    /// the configuration default to the copy of IANA's that ships with the agent).
    pub rdap_bootstrap: Option<rdap::Bootstrap>,
    /// Suffixes run by private registries, whose names are not looked up over RDAP.
    pub private_registries: Vec<String>,
    /// Told of each observation as it is finished.
    pub progress: Option<Progress>,
    /// The time a whole domain scan may take (web, DNS, mail, registration and the TLS of its
    /// endpoints).
    pub domain_budget: std::time::Duration,
    /// Domains scanned at once (each within the connection gate's limits).
    pub domains_at_once: usize,
    /// Keep every observation for [`Run::finish`]; a service that only streams them (through
    /// [`Run::next`]) does not, so a sweep of thousands of domains holds none in memory.
    pub keep: bool,
}

impl RunOptions {
    /// These options with a gate, made from the limits when none was given, so that every
    /// target below shares it.
    fn gated(&self) -> RunOptions {
        RunOptions {
            gate: Some(self.the_gate()),
            ..self.clone()
        }
    }

    /// The run's gate, or a new one from the limits.
    fn the_gate(&self) -> Gate {
        self.gate
            .clone()
            .unwrap_or_else(|| Gate::new(self.max_connections, self.tls.limits.per_host))
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            tls: TlsOptions::default(),
            sni: None,
            connect_to: Vec::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            gate: None,
            agent: "local".into(),
            run: new_id(),
            organisation: None,
            domain: None,
            vantage: Vec::new(),
            interception_names: Vec::new(),
            web: crate::probe::net::http::WebLimits::default(),
            dns: None,
            mail: MailOptions::default(),
            roles: Vec::new(),
            domain_probe: DomainOptions::default(),
            rdap_base: None,
            rdap_bootstrap: None,
            private_registries: rdap::DEFAULT_PRIVATE_REGISTRIES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            progress: None,
            domain_budget: DEFAULT_DOMAIN_BUDGET,
            domains_at_once: DEFAULT_DOMAINS_AT_ONCE,
            keep: true,
        }
    }
}

/// Connections open at once across a run unless `--max-connections` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 32;

/// Domains scanned at once unless `scan.domains_at_once` says otherwise.
pub const DEFAULT_DOMAINS_AT_ONCE: usize = 8;

/// A domain scan's budget unless `--budget` says otherwise.
pub const DEFAULT_DOMAIN_BUDGET: std::time::Duration = std::time::Duration::from_secs(300);

async fn resolve(spec: &TargetSpec, options: &RunOptions) -> Result<SocketAddr, String> {
    Resolver {
        rules: options.connect_to.clone(),
        dns: options.dns.clone(),
    }
    .resolve(&spec.host, spec.port)
    .await
}

/// A new unique id: a UUID v7, so that ids sort by the time they were made.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The metadata of a new observation made now for `options`' run.
fn meta(options: &RunOptions, started: chrono::DateTime<Utc>) -> ScanMeta {
    ScanMeta {
        id: Some(new_id()),
        run: Some(options.run.clone()),
        agent: options.agent.clone(),
        agent_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        organisation: options.organisation.clone(),
        address: None,
        started,
        finished: started,
        connections: 0,
        errors: Vec::new(),
    }
}

/// Record that `probe` could not finish, and why (`code`, for machines).
fn untestable(meta: &mut ScanMeta, probe: &str, code: &str, message: String) {
    meta.errors
        .push(ProbeError::new(probe, Status::Untestable, message).with_code(code));
}

/// What a panicking task said, for the report.
fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            format!("the probe panicked (a bug in posture): {text}")
        }
        Err(e) => format!("the probe was cancelled: {e}"),
    }
}

/// What a scan is asked to look at, each target once and in the normal form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Bare domain names: every check.
    pub domains: Vec<String>,
    /// Endpoints.
    pub targets: Vec<TargetSpec>,
    /// Sites whose web checks `https://HOST` adds (www. removed).
    pub web_only: Vec<String>,
    /// `https://HOST:PORT` origins on another port, which get the web checks of that origin.
    pub origins: Vec<TargetSpec>,
}

impl Plan {
    /// The targets asked for, named as [`Plan::key_of`] names an observation's target.
    pub fn asked(&self) -> Vec<String> {
        self.domains
            .iter()
            .cloned()
            .chain(self.targets.iter().map(TargetSpec::url))
            .collect()
    }

    /// How a target is named in [`Plan::asked`]: a domain by its name, an endpoint by its URL.
    pub fn key_of(target: &Target) -> String {
        match target {
            Target::Domain(d) => d.name.clone(),
            Target::Endpoint(_) => target.to_string(),
        }
    }
}

/// A plan being run: its observations as their targets finish.
#[derive(Debug)]
pub struct Run {
    finished: mpsc::UnboundedReceiver<Observation>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<Option<Vec<Observation>>>,
}

impl Run {
    /// The next observation to finish, or `None` once the plan is done or cancelled.
    pub async fn next(&mut self) -> Option<Observation> {
        tokio::select! {
            biased;
            o = self.finished.recv() => o,
            // What finished before the cancellation is still handed out; nothing after it.
            () = self.cancel.cancelled() => self.finished.try_recv().ok(),
        }
    }

    /// Every observation in the plan's order (domains, then their sites, origins and
    /// endpoints), or `None` when the run was cancelled: then what [`Run::next`] gave is all
    /// there is. Call it after `next` has returned `None`.
    pub async fn finish(self) -> Option<Vec<Observation>> {
        self.task.await.ok().flatten()
    }
}

/// Start running `plan` on the current tokio runtime. Each observation is handed out by
/// [`Run::next`] as soon as its target finishes (and given to `options.progress` too); when
/// `cancel` fires, the targets still running are dropped (their connections closed) and the
/// stream ends.
pub fn start(plan: Plan, options: RunOptions, cancel: CancellationToken) -> Run {
    let (tx, finished) = mpsc::unbounded_channel();
    let before = options.progress.clone();
    let options = RunOptions {
        progress: Some(Progress(Arc::new(move |o: &Observation| {
            Progress::report(before.as_ref(), o);
            // The receiver may be gone (a caller that only wants the whole list): fine.
            let _ = tx.send(o.clone());
        }))),
        ..options.gated()
    };
    let stop = cancel.clone();
    let task = tokio::spawn(async move {
        let all = async {
            let mut all = scan_domains(&plan.domains, &options).await;
            all.extend(scan_sites(&plan.web_only, &options).await);
            let endpoints = scan_tls_targets(&plan.targets, &options).await;
            all.extend(scan_origins(&plan.origins, &options, &endpoints).await);
            all.extend(endpoints);
            all
        };
        tokio::select! {
            all = all => Some(all),
            () = stop.cancelled() => None,
        }
        // `options` (and with it the sender) is dropped here, which ends the stream.
    });
    Run {
        finished,
        cancel,
        task,
    }
}
