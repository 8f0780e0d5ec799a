//! Domain scans: the site, DNS, mail and registration of each domain, then the TLS of its
//! HTTPS and MX hosts, within the domain's time budget.

use std::sync::Arc;

use chrono::Utc;
use posture_policies::model::{
    Observation, ProbeError, ScanMeta, Schema, StartTls, Status, Target,
};

use super::endpoint::{https_from_handshakes, scan_tls_targets};
use super::{Progress, RunOptions, meta, panic_message, untestable};
use crate::probe::dns::{Answer, Dns};
use crate::probe::domain as domain_check;
use crate::probe::mail::check as mail_check;
use crate::probe::net::Resolver;
use crate::probe::rdap;
use crate::probe::web;
use crate::target::TargetSpec;

/// Scan domains: the website (apex and www, http and https) and the TLS of each HTTPS host
/// that answers. One domain observation and one endpoint observation per HTTPS host.
pub async fn scan_domains(domains: &[String], options: &RunOptions) -> Vec<Observation> {
    scan_domains_with(domains, options, true).await
}

/// The web checks of each domain's site only (what `scan https://HOST` adds to its TLS scan).
pub async fn scan_sites(domains: &[String], options: &RunOptions) -> Vec<Observation> {
    scan_domains_with(domains, options, false).await
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
/// Domains are scanned a few at a time (`domains_at_once`), each in its own task, so that a
/// probe that panics leaves its domain in the output as `error` instead of ending the run. Dropping the returned
/// future (a cancelled run) aborts the domain's task with it.
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
    // Up to `domains_at_once` domains at a time, each in its own task (a JoinSet aborts its
    // tasks when dropped); results kept in the plan's order unless the caller only streams
    // them (`keep` false: a sweep of thousands of domains holds none of them here).
    let mut slots: Vec<Vec<Observation>> = Vec::new();
    let mut running = tokio::task::JoinSet::new();
    let mut index = std::collections::HashMap::new();
    let at_once = options.domains_at_once.max(1);
    let mut next = 0usize;
    while next < domains.len() || !running.is_empty() {
        while next < domains.len() && running.len() < at_once {
            let handle = running.spawn(scan_domain(
                domains[next].clone(),
                options.clone(),
                dns.clone(),
                full,
            ));
            index.insert(handle.id(), next);
            next += 1;
        }
        let Some(done) = running.join_next_with_id().await else {
            break;
        };
        let (at, observations) = match done {
            Ok((id, observations)) => (index.remove(&id).unwrap_or(0), observations),
            Err(e) => {
                let at = index.remove(&e.id()).unwrap_or(0);
                let domain = &domains[at];
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
                (at, vec![observation])
            }
        };
        if options.keep {
            if slots.len() <= at {
                slots.resize_with(at + 1, Vec::new);
            }
            slots[at] = observations;
        }
    }
    slots.into_iter().flatten().collect()
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
                .filter_map(|e| crate::probe::net::http::Url::parse(&e.url).map(|u| u.host))
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
