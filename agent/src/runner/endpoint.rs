//! Endpoint scans: the TLS of each endpoint, concurrently within the gate, and the web
//! checks of HTTPS origins on other ports.

use std::sync::Arc;

use chrono::Utc;
use posture_policies::model::{
    DomainRole, EndpointTarget, Observation, ProbeError, ScanMeta, Schema, Status, Target,
};

use super::{Progress, RunOptions, meta, panic_message, resolve, untestable};
use crate::probe::net::{Gate, Resolver};
use crate::probe::tls::conn::Endpoint;
use crate::probe::tls::intercept;
use crate::probe::tls::scan as tls_scan;
use crate::probe::web;
use crate::target::TargetSpec;

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
        let url = crate::probe::net::http::Url {
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
pub(super) fn https_from_handshakes(
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
