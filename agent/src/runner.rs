//! Runs scans: resolves targets, applies `--connect-to`, bounds concurrency overall and per
//! host, and turns probe results into observations.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use posture_policies::model::{
    EndpointTarget, Observation, ProbeError, ScanMeta, Schema, Status, Target,
};

use crate::probe::dns::{Answer, Dns};
use crate::probe::domain::{self as domain_check, DomainOptions};
use crate::probe::mail::check::{self as mail_check, MailOptions};
use crate::probe::net::Gate;
use crate::probe::net::{Resolve, Resolver};
use crate::probe::rdap;
use crate::probe::tls::conn::Endpoint;
use crate::probe::tls::intercept;
use crate::probe::tls::scan::{self as tls_scan, TlsOptions};
use crate::probe::web;
use crate::target::{ConnectTo, TargetSpec};
use posture_policies::model::{DomainRole, StartTls};

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
    pub web: web::http::WebLimits,
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
            max_connections: 32,
            gate: None,
            agent: "local".into(),
            run: new_id(),
            organisation: None,
            domain: None,
            vantage: Vec::new(),
            interception_names: Vec::new(),
            web: web::http::WebLimits::default(),
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
        }
    }
}

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

/// Scan domains: the website (apex and www, http and https) and the TLS of each HTTPS host
/// that answers. One domain observation and one endpoint observation per HTTPS host.
pub async fn scan_domains(domains: &[String], options: &RunOptions) -> Vec<Observation> {
    scan_domains_with(domains, options, true).await
}

/// The web checks of each domain's site only (what `scan https://HOST` adds to its TLS scan).
pub async fn scan_sites(domains: &[String], options: &RunOptions) -> Vec<Observation> {
    scan_domains_with(domains, options, false).await
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

/// `domain`'s registration over RDAP, from the configured base URL or the bootstrap file's.
async fn registration(
    domain: &str,
    options: &RunOptions,
    resolver: &Resolver,
    now: chrono::DateTime<Utc>,
) -> Result<Option<posture_policies::model::RegistrationFacts>, String> {
    let base = options.rdap_base.as_deref().or_else(|| {
        options
            .rdap_bootstrap
            .as_ref()
            .and_then(|b| b.base_for(domain))
    });
    rdap::lookup(
        domain,
        base,
        &options.private_registries,
        resolver,
        &options.tls.trust,
        &options.web,
        now,
    )
    .await
}

/// [`scan_domains`], or with `full` false the web checks alone (no mail, no TLS scans).
/// Domains are scanned one after another, each in its own task, so that a probe that panics
/// leaves its domain in the output as `error` instead of ending the run.
async fn scan_domains_with(
    domains: &[String],
    options: &RunOptions,
    full: bool,
) -> Vec<Observation> {
    let dns = match &options.dns {
        Some(d) => Ok(d.clone()),
        None => Dns::system(options.web.request_timeout),
    };
    // The endpoint scans below share the same resolver and connection gate.
    let options = Arc::new(RunOptions {
        dns: dns.as_ref().ok().cloned(),
        ..options.gated()
    });
    let mut out = Vec::new();
    for domain in domains {
        let task = tokio::spawn(scan_domain(
            domain.clone(),
            options.clone(),
            dns.clone(),
            full,
        ));
        match task.await {
            Ok(observations) => out.extend(observations),
            Err(e) => {
                let message = format!("the scan of {domain} failed: {}", panic_message(e));
                let observation = not_scanned(
                    domain,
                    &options,
                    full,
                    Status::Error,
                    &message,
                    Some("panic"),
                );
                Progress::report(options.progress.as_ref(), &observation);
                out.push(observation);
            }
        }
    }
    out
}

/// The observation of a domain that could not be scanned at all: every probe that was asked
/// for is recorded as not finished, with why.
fn not_scanned(
    domain: &str,
    options: &RunOptions,
    full: bool,
    status: Status,
    message: &str,
    code: Option<&str>,
) -> Observation {
    let now = Utc::now();
    let probes: &[&str] = if full {
        &["web", "dns", "mail"]
    } else {
        &["web"]
    };
    Observation {
        schema: Schema,
        target: Target::Domain(posture_policies::model::DomainTarget {
            name: domain.to_owned(),
            roles: options.roles.clone(),
        }),
        scan: ScanMeta {
            errors: probes
                .iter()
                .map(|p| ProbeError {
                    code: code.map(str::to_owned),
                    ..ProbeError::new(p, status, message)
                })
                .collect(),
            ..meta(options, now)
        },
        tls: None,
        web: None,
        dns: None,
        mail: None,
    }
}

/// The time a whole domain scan may take: web, mail, DNS, registration and its endpoints'
/// TLS. A part that has not finished when it runs out is dropped and recorded as untestable
/// with code `budget_exhausted`; what the parts before it gathered stands.
struct Budget {
    deadline: tokio::time::Instant,
    total: std::time::Duration,
}

impl Budget {
    fn new(total: std::time::Duration) -> Budget {
        Budget {
            deadline: tokio::time::Instant::now() + total,
            total,
        }
    }

    fn left(&self) -> std::time::Duration {
        self.deadline
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// `part` within what is left, or `None` (recorded in `meta`) when the budget runs out.
    async fn run<T>(
        &self,
        meta: &mut ScanMeta,
        probe: &str,
        part: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        match tokio::time::timeout(self.left(), part).await {
            Ok(v) => Some(v),
            Err(_) => {
                meta.errors.push(
                    ProbeError::new(
                        probe,
                        Status::Untestable,
                        format!(
                            "the domain's time budget of {}s ran out before the {probe} probe finished",
                            self.total.as_secs_f64()
                        ),
                    )
                    .with_code("budget_exhausted"),
                );
                None
            }
        }
    }
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

/// One domain: its site, and with `full` its DNS, mail, registration and the TLS of its
/// HTTPS and MX hosts. The domain's observation first, then its endpoints'.
async fn scan_domain(
    domain: String,
    options: Arc<RunOptions>,
    dns: Result<Dns, String>,
    full: bool,
) -> Vec<Observation> {
    let domain = &domain;
    let options = &*options;
    let resolver = Resolver {
        rules: options.connect_to.clone(),
        dns: dns.as_ref().ok().cloned(),
    };
    let mut out = Vec::new();
    let budget = Budget::new(options.domain_budget);
    // A name that does not exist has nothing to judge: every check would otherwise fail on
    // what is missing (no SPF, no DMARC...) for a domain nobody can use.
    if let Ok(dns) = &dns
        && matches!(
            tokio::time::timeout(budget.left(), dns.ns(domain)).await,
            Ok(Ok(Answer::NxDomain))
        )
    {
        let observation = not_scanned(
            domain,
            options,
            full,
            Status::Untestable,
            &format!("{domain} does not exist (the DNS answers NXDOMAIN)"),
            Some("nxdomain"),
        );
        Progress::report(options.progress.as_ref(), &observation);
        out.push(observation);
        return out;
    }
    let started = Utc::now();
    let mut meta = meta(options, started);
    let ctx = DomainScan {
        domain,
        options,
        resolver: &resolver,
        budget: &budget,
        started,
    };
    let web = ctx.web(&mut meta).await;
    let mail = match (&dns, full) {
        (_, false) => None,
        (Ok(dns), true) => ctx.mail(dns, &mut meta).await,
        (Err(e), true) => {
            untestable(&mut meta, "mail", "dns_unavailable", e.clone());
            None
        }
    };
    let https_hosts = https_hosts(&web);
    let dns_facts = match (&dns, full) {
        (Ok(d), true) => {
            let web_live = web.facts.as_ref().is_some_and(|w| {
                w.responds_https || w.endpoints.iter().any(|e| e.status.is_some())
            });
            let found = Found {
                mail: mail.as_ref(),
                web_live,
            };
            ctx.dns(d, found, &mut meta).await
        }
        _ => None,
    };
    let roles = if options.roles.is_empty() {
        posture_policies::roles::infer(web.facts.as_ref(), mail.as_ref())
    } else {
        options.roles.clone()
    };
    let mut observation = Observation {
        schema: Schema,
        target: Target::Domain(posture_policies::model::DomainTarget {
            name: domain.clone(),
            roles,
        }),
        scan: meta,
        tls: None,
        web: web.facts,
        dns: dns_facts,
        mail,
    };
    if !full {
        Progress::report(options.progress.as_ref(), &observation);
        out.push(observation);
        return out;
    }
    let endpoints = scan_endpoints(
        domain,
        &mut observation,
        https_hosts,
        &web.https_unread,
        options,
        &budget,
    )
    .await;
    Progress::report(options.progress.as_ref(), &observation);
    out.push(observation);
    out.extend(endpoints);
    out
}

/// The HTTPS hosts of a domain's site whose TLS is scanned: those that answered, and those
/// that accepted a connection but gave no page.
fn https_hosts(web: &web::WebScan) -> Vec<String> {
    web.facts
        .as_ref()
        .map(|f| {
            f.endpoints
                .iter()
                .filter(|e| {
                    e.url.starts_with("https://") && (e.status.is_some() || !e.hops.is_empty())
                })
                .filter_map(|e| web::http::Url::parse(&e.url).map(|u| u.host))
                .chain(web.https_unread.iter().map(|(host, _)| host.clone()))
                .chain(web.https_broken.iter().cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// What the domain probe needs from the probes before it.
struct Found<'a> {
    mail: Option<&'a posture_policies::model::MailFacts>,
    web_live: bool,
}

/// One domain's scan in progress: what its probes share.
struct DomainScan<'a> {
    domain: &'a str,
    options: &'a RunOptions,
    resolver: &'a Resolver,
    budget: &'a Budget,
    started: chrono::DateTime<Utc>,
}

impl DomainScan<'_> {
    /// The domain's website within its budget.
    async fn web(&self, meta: &mut ScanMeta) -> web::WebScan {
        let web = self
            .budget
            .run(
                meta,
                "web",
                Box::pin(web::probe(
                    self.domain,
                    self.resolver,
                    &self.options.tls.trust,
                    &self.options.web,
                    self.started,
                )),
            )
            .await
            .unwrap_or_default();
        meta.connections = web.connections;
        if let Some((status, message)) = &web.failure {
            // Nothing answered on 80 or 443 for the apex or www.
            meta.errors
                .push(ProbeError::new("web", *status, message.clone()).with_code("unreachable"));
        }
        web
    }

    /// The domain's mail facts within its budget; parts that could not be gathered are
    /// recorded in `meta`.
    async fn mail(
        &self,
        dns: &Dns,
        meta: &mut ScanMeta,
    ) -> Option<posture_policies::model::MailFacts> {
        self.budget
            .run(
                meta,
                "mail",
                Box::pin(mail_check::probe(
                    self.domain,
                    dns,
                    self.resolver,
                    &self.options.tls.trust,
                    &self.options.web,
                    &self.options.mail,
                    self.started,
                )),
            )
            .await
            .and_then(|m| m.into_facts(meta))
    }

    /// The domain's DNS facts and registration within its budget; what could not be gathered
    /// is recorded in `meta`.
    async fn dns(
        &self,
        d: &Dns,
        found: Found<'_>,
        meta: &mut ScanMeta,
    ) -> Option<posture_policies::model::DnsFacts> {
        let facts = self
            .budget
            .run(
                meta,
                "dns",
                Box::pin(domain_check::probe(
                    self.domain,
                    d,
                    found.mail,
                    found.web_live,
                    &self.options.domain_probe,
                    self.resolver,
                )),
            )
            .await
            .and_then(|r| {
                r.map_err(|e| untestable(meta, "dns", e.code, e.to_string()))
                    .ok()
            });
        match facts {
            Some(mut f) => {
                f.registration = self
                    .budget
                    .run(
                        meta,
                        "rdap",
                        Box::pin(registration(
                            self.domain,
                            self.options,
                            self.resolver,
                            self.started,
                        )),
                    )
                    .await
                    .and_then(|r| r.map_err(|e| untestable(meta, "rdap", "rdap", e)).ok())
                    .flatten();
                Some(f)
            }
            None => None,
        }
    }
}

/// The TLS of a domain's HTTPS hosts and (at most three of) its MX hosts, within what is left
/// of the domain's budget, with what they tell the domain's own observation: each MX host's
/// STARTTLS, and whether HTTPS answers where no page could be read.
async fn scan_endpoints(
    domain: &str,
    observation: &mut Observation,
    https_hosts: Vec<String>,
    https_unread: &[(String, String)],
    options: &RunOptions,
    budget: &Budget,
) -> Vec<Observation> {
    let mut per_domain = RunOptions {
        domain: Some(domain.to_owned()),
        ..options.clone()
    };
    // The endpoints get what is left of the domain's budget.
    per_domain.tls.limits.target_budget = per_domain.tls.limits.target_budget.min(budget.left());
    let mut specs: Vec<TargetSpec> = https_hosts
        .into_iter()
        .map(|host| TargetSpec {
            service: posture_policies::model::Service::Https,
            host,
            port: 443,
        })
        .collect();
    // STARTTLS and TLS of (at most three of) the MX hosts.
    let mx_hosts: Vec<String> = observation
        .mail
        .as_ref()
        .map(|m| m.mx.iter().take(3).map(|x| x.host.clone()).collect())
        .unwrap_or_default();
    specs.extend(mx_hosts.iter().map(|host| TargetSpec {
        service: posture_policies::model::Service::SmtpStarttls,
        host: host.clone(),
        port: 25,
    }));
    let endpoints = if budget.left().is_zero() {
        Vec::new()
    } else {
        Box::pin(scan_tls_targets(&specs, &per_domain)).await
    };
    if let Some(mail) = observation.mail.as_mut() {
        for mx in &mut mail.mx {
            let Some(o) = endpoints.iter().find(
                |o| matches!(&o.target, Target::Endpoint(e) if e.host == mx.host && e.port == 25),
            ) else {
                continue;
            };
            mx.starttls = match o.scan.errors.first() {
                None => StartTls::Offered,
                Some(e) if e.code.as_deref() == Some("no_starttls") => StartTls::NotOffered,
                Some(e) if e.status == Status::Untestable => StartTls::Untestable,
                Some(_) => StartTls::Error,
            };
        }
    }
    https_from_handshakes(observation, https_unread, 443, &endpoints);
    observation.scan.connections += endpoints.iter().map(|o| o.scan.connections).sum::<u32>();
    observation.scan.finished = Utc::now();
    endpoints
}

/// The web checks of HTTPS origins on ports other than 443 (`scan https://HOST:PORT`, where
/// internal web applications live): one observation each, named for the host with the role
/// `web`. `endpoints` are the same targets' TLS scans, which decide whether HTTPS answers
/// where no page could be read.
pub async fn scan_origins(
    origins: &[TargetSpec],
    options: &RunOptions,
    endpoints: &[Observation],
) -> Vec<Observation> {
    let resolver = Resolver {
        rules: options.connect_to.clone(),
        dns: options.dns.clone(),
    };
    let mut out = Vec::new();
    for spec in origins {
        let started = Utc::now();
        let url = web::http::Url {
            https: true,
            host: spec.host.clone(),
            port: spec.port,
            path: "/".into(),
        };
        let scan = Box::pin(web::probe_origin(
            &url,
            &resolver,
            &options.tls.trust,
            &options.web,
            started,
        ))
        .await;
        let mut observation = Observation {
            schema: Schema,
            target: Target::Domain(posture_policies::model::DomainTarget {
                name: spec.host.clone(),
                roles: vec![DomainRole::Web],
            }),
            scan: ScanMeta {
                finished: Utc::now(),
                connections: scan.connections,
                ..meta(options, started)
            },
            tls: None,
            web: scan.facts,
            dns: None,
            mail: None,
        };
        https_from_handshakes(&mut observation, &scan.https_unread, spec.port, endpoints);
        Progress::report(options.progress.as_ref(), &observation);
        out.push(observation);
    }
    out
}

/// Whether HTTPS answers is decided by the TLS engine's own handshakes: a host where the web
/// probe's HTTP client read no page (a server speaking only TLS 1.0/1.1 or only CBC suites, which
/// it will not speak) still answers HTTPS when the TLS scan found a version it accepts. Then
/// the site responds over HTTPS, its certificate decides whether that HTTPS is valid, and the
/// checks that need a page read over HTTPS are untestable, with why.
fn https_from_handshakes(
    observation: &mut Observation,
    unread: &[(String, String)],
    port: u16,
    endpoints: &[Observation],
) {
    let Some(web) = observation.web.as_mut() else {
        return;
    };
    // Only when no page at all was read over HTTPS: otherwise the pages read stand, and the
    // unread host's TLS is judged on its own endpoint.
    if web.responds_https {
        return;
    }
    for (host, why) in unread {
        let Some(tls) = endpoints
            .iter()
            .filter(
                |o| matches!(&o.target, Target::Endpoint(e) if &e.host == host && e.port == port),
            )
            .find_map(|o| o.tls.as_ref())
        else {
            continue;
        };
        let accepted: Vec<&str> = tls
            .protocols
            .iter()
            .filter(|p| p.result == posture_policies::model::ProbeOutcome::Accepted)
            .map(|p| p.version.as_str())
            .collect();
        if accepted.is_empty() {
            continue;
        }
        web.responds_https = true;
        web.valid_https |= tls
            .certificate
            .as_ref()
            .is_some_and(|c| c.trusted == Some(true) && c.name_matches == Some(true));
        observation.scan.errors.push(
            ProbeError::new(
                "web.https-answer",
                Status::Untestable,
                format!(
                    "https://{}:{port}/ answers the TLS handshake ({}), but no page could be read over it: {why}",
                    crate::target::host_for_url(host),
                    accepted.join(", ")
                ),
            )
            .with_code("tls_handshake"),
        );
    }
}

/// Scan every target (concurrently, within the limits) and return one observation each, in
/// the order given.
pub async fn scan_tls_targets(targets: &[TargetSpec], options: &RunOptions) -> Vec<Observation> {
    let gate = options.the_gate();
    let options = Arc::new(options.clone());
    let tasks = targets.iter().cloned().map(|spec| {
        let (gate, options) = (gate.clone(), options.clone());
        async move {
            let observation = scan_one(spec, &options, gate).await;
            Progress::report(options.progress.as_ref(), &observation);
            observation
        }
    });
    // A panicking probe is a bug: its target stays in the output as an error, and the other
    // targets' results still stand.
    join_in_order(tasks, |index, message| {
        let observation = panicked(&targets[index], &options, message);
        Progress::report(options.progress.as_ref(), &observation);
        observation
    })
    .await
}

/// Run `tasks` concurrently, each in its own task, and return their outputs in the order
/// given; a task that panicked is replaced by `on_panic(its index, what it said)`.
async fn join_in_order<T, F>(
    tasks: impl IntoIterator<Item = F>,
    on_panic: impl Fn(usize, String) -> T,
) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut index_of = std::collections::HashMap::new();
    for (index, task) in tasks.into_iter().enumerate() {
        let handle = set.spawn(task);
        index_of.insert(handle.id(), index);
    }
    let mut done: Vec<(usize, T)> = Vec::with_capacity(index_of.len());
    while let Some(joined) = set.join_next_with_id().await {
        match joined {
            Ok((id, output)) => done.push((index_of[&id], output)),
            Err(e) => {
                let index = index_of[&e.id()];
                done.push((index, on_panic(index, panic_message(e))));
            }
        }
    }
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, o)| o).collect()
}

/// The observation of an endpoint whose probe panicked.
fn panicked(spec: &TargetSpec, options: &RunOptions, message: String) -> Observation {
    let now = Utc::now();
    Observation {
        schema: Schema,
        target: endpoint_target(spec, options),
        scan: ScanMeta {
            errors: vec![ProbeError::new("tls", Status::Error, message).with_code("panic")],
            ..meta(options, now)
        },
        tls: None,
        web: None,
        dns: None,
        mail: None,
    }
}

fn endpoint_target(spec: &TargetSpec, options: &RunOptions) -> Target {
    Target::Endpoint(EndpointTarget {
        host: spec.host.clone(),
        port: spec.port,
        sni: options.sni.clone(),
        service: spec.service,
        domain: options.domain.clone(),
    })
}

async fn scan_one(spec: TargetSpec, options: &RunOptions, gate: Gate) -> Observation {
    let started = Utc::now();
    let target = endpoint_target(&spec, options);
    let mut meta = meta(options, started);
    let tls = match resolve(&spec, options).await {
        Err(message) => {
            untestable(&mut meta, "tls", "unresolvable", message);
            None
        }
        Ok(addr) => {
            meta.address = Some(addr.to_string());
            let endpoint = Endpoint {
                host: spec.host.clone(),
                port: spec.port,
                addr,
                sni: options.sni.clone(),
                service: spec.service,
            };
            let result = tls_scan::scan(endpoint, &options.tls, gate, started).await;
            meta.connections = result.connections;
            match result.failure {
                Some(failed) => {
                    meta.errors.push(
                        ProbeError::new("tls", failed.status, failed.message)
                            .with_code(failed.code),
                    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_kept_in_its_place_with_its_message() {
        let tasks = (0..4).map(|i| async move {
            assert!(i != 2, "probe {i} met a hostile peer");
            format!("done {i}")
        });
        let out = join_in_order(tasks, |i, message| format!("task {i}: {message}")).await;
        assert_eq!(out.len(), 4);
        assert_eq!(out[0], "done 0");
        assert_eq!(out[3], "done 3");
        assert!(
            out[2].starts_with(
                "task 2: the probe panicked (a bug in posture): probe 2 met a hostile peer"
            ),
            "{}",
            out[2]
        );
    }
}
