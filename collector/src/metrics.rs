//! `/metrics`: counters and latency histograms kept as requests happen, and gauges computed
//! from the store when scraped (cached for a few seconds), so a domain that is removed
//! disappears. Labels are bounded: organisation, standard, status, severity, reason, route,
//! protocol; never a domain, a host or an address, except in one capped exception series
//! (`posture_certificate_expiry_timestamp_seconds`: the soonest expiring certificates, at most
//! [`EXPIRING_LISTED`]). Names follow Prometheus conventions (base units,
//! `_total` counters); every name is in [`NAMES`].

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::api::{ApiError, AppState};
use crate::error::{Error, Result};
use crate::judge::Judge;
use crate::store::Store;

/// Every metric the collector exports (dashboards and alert rules may use only these).
pub const NAMES: &[&str] = &[
    "posture_observations_ingested_total",
    "posture_observations_duplicate_total",
    "posture_findings_judged_total",
    "posture_batches_rejected_total",
    "posture_http_request_duration_seconds",
    "posture_compliance_score",
    "posture_national_compliance_score",
    "posture_findings",
    "posture_domains_with_critical_failure",
    "posture_agents",
    "posture_agent_heartbeat_age_seconds",
    "posture_db_pool_connections",
    "posture_tls_endpoints",
    "posture_certificates_expiring",
    "posture_certificate_expiry_timestamp_seconds",
    "posture_regressions",
    "posture_agent_spool_observations",
    "posture_failing_targets",
    "posture_targets",
];

/// Certificates expiring within this many days are counted, and the soonest listed.
const EXPIRING_DAYS: i64 = 30;

/// At most this many certificates are listed by target (the exception series): the soonest
/// to expire. `posture_certificates_expiring` counts them all.
pub const EXPIRING_LISTED: usize = 50;

/// How long computed gauges are reused.
const CACHE: Duration = Duration::from_secs(5);

/// The collector's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    ingested: IntCounter,
    duplicates: IntCounter,
    judged: IntCounter,
    rejected: IntCounterVec,
    latency: HistogramVec,
    cached: Mutex<Option<(Instant, String)>>,
}

impl Metrics {
    /// Register the kept metrics.
    pub fn new() -> Result<Metrics> {
        let registry = Registry::new();
        let m = Metrics {
            ingested: IntCounter::new(NAMES[0], "Observations stored.").map_err(metric)?,
            duplicates: IntCounter::new(
                NAMES[1],
                "Observations received again (replayed batches, ids seen before).",
            )
            .map_err(metric)?,
            judged: IntCounter::new(NAMES[2], "Findings judged from stored observations.")
                .map_err(metric)?,
            rejected: IntCounterVec::new(
                Opts::new(NAMES[3], "Batches refused, by reason."),
                &["reason"],
            )
            .map_err(metric)?,
            latency: HistogramVec::new(
                HistogramOpts::new(
                    NAMES[4],
                    "Time to answer a request, by route, method and status class.",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["route", "method", "status"],
            )
            .map_err(metric)?,
            cached: Mutex::new(None),
            registry,
        };
        m.registry
            .register(Box::new(m.ingested.clone()))
            .map_err(metric)?;
        m.registry
            .register(Box::new(m.duplicates.clone()))
            .map_err(metric)?;
        m.registry
            .register(Box::new(m.judged.clone()))
            .map_err(metric)?;
        m.registry
            .register(Box::new(m.rejected.clone()))
            .map_err(metric)?;
        m.registry
            .register(Box::new(m.latency.clone()))
            .map_err(metric)?;
        for reason in [
            "unauthorized",
            "forbidden",
            "bad_request",
            "too_large",
            "busy",
            "timeout",
            "internal",
        ] {
            m.rejected.with_label_values(&[reason]);
        }
        Ok(m)
    }

    /// A batch was stored.
    pub fn ingested(&self, accepted: usize, duplicates: usize, findings: usize) {
        self.ingested.inc_by(accepted as u64);
        self.duplicates.inc_by(duplicates as u64);
        self.judged.inc_by(findings as u64);
    }

    /// A batch was refused.
    pub fn rejected(&self, e: &ApiError) {
        let reason = match e {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::BadRequest(_) | ApiError::NotFound(_) | ApiError::Conflict(_) => {
                "bad_request"
            }
            ApiError::TooLarge(_) => "too_large",
            ApiError::TooMany(_) | ApiError::Busy(_) => "busy",
            ApiError::TimedOut(_) => "timeout",
            ApiError::Internal(_) => "internal",
        };
        self.rejected.with_label_values(&[reason]).inc();
    }

    /// The text exposition: the kept metrics, and the gauges computed from the store.
    pub async fn render(&self, store: &Store, judge: &Judge) -> Result<String> {
        let mut text = encode(&self.registry)?;
        let fresh = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(at, _)| at.elapsed() < CACHE)
            .map(|(_, t)| t.clone());
        let computed = match fresh {
            Some(t) => t,
            None => {
                let t = computed(store, judge).await?;
                *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), t.clone()));
                t
            }
        };
        text.push_str(&computed);
        Ok(text)
    }
}

fn metric(e: prometheus::Error) -> Error {
    Error::BadInput(format!("metrics: {e}"))
}

fn encode(registry: &Registry) -> Result<String> {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .map_err(metric)?;
    String::from_utf8(buf).map_err(|e| Error::BadInput(e.to_string()))
}

/// The gauges of this moment, from the store.
async fn computed(store: &Store, judge: &Judge) -> Result<String> {
    let registry = Registry::new();
    let score = GaugeVec::new(
        Opts::new(
            NAMES[5],
            "Compliance score (0-100) per organisation and standard.",
        ),
        &["organisation", "standard"],
    )
    .map_err(metric)?;
    let national = GaugeVec::new(
        Opts::new(NAMES[6], "National compliance score (0-100) per standard."),
        &["standard"],
    )
    .map_err(metric)?;
    let findings = IntGaugeVec::new(
        Opts::new(
            NAMES[7],
            "Latest findings by organisation, status and severity.",
        ),
        &["organisation", "status", "severity"],
    )
    .map_err(metric)?;
    let critical = IntGaugeVec::new(
        Opts::new(
            NAMES[8],
            "Domains with a failing critical check, per organisation.",
        ),
        &["organisation"],
    )
    .map_err(metric)?;
    let agents = IntGaugeVec::new(
        Opts::new(
            NAMES[9],
            "Agents by organisation and state (live, silent, revoked).",
        ),
        &["organisation", "state"],
    )
    .map_err(metric)?;
    let age = GaugeVec::new(
        Opts::new(
            NAMES[10],
            "Seconds since the least recently heard live agent of an organisation last called.",
        ),
        &["organisation"],
    )
    .map_err(metric)?;
    let pool = IntGaugeVec::new(
        Opts::new(NAMES[11], "Database pool connections by state."),
        &["state"],
    )
    .map_err(metric)?;
    for c in [&score, &national, &age] {
        registry.register(Box::new(c.clone())).map_err(metric)?;
    }
    for c in [&findings, &critical, &agents, &pool] {
        registry.register(Box::new(c.clone())).map_err(metric)?;
    }
    let now = Utc::now();
    let board = judge.scores(store, now).await?;
    for o in &board.organisations {
        if let Some(s) = o.score {
            score
                .with_label_values(&[&o.organisation, &o.standard])
                .set(s);
        }
    }
    for n in &board.national {
        if let Some(s) = n.score {
            national.with_label_values(&[&n.standard]).set(s);
        }
    }
    for (org, status, severity, n) in store.finding_counts().await? {
        findings
            .with_label_values(&[&org, &status, &severity])
            .set(n);
    }
    for (org, n) in store.critical_domains().await? {
        critical.with_label_values(&[&org]).set(n);
    }
    let now_ms = now.timestamp_millis();
    for a in store.agents(None).await? {
        let state = match (a.revoked, a.last_seen) {
            (true, _) => "revoked",
            (false, Some(seen)) if now_ms - seen < 3 * 3_600_000 => "live",
            _ => "silent",
        };
        agents.with_label_values(&[&a.organisation, state]).inc();
        if let (false, Some(seen)) = (a.revoked, a.last_seen) {
            let seconds = (now_ms - seen) as f64 / 1000.0;
            let g = age.with_label_values(&[&a.organisation]);
            if seconds > g.get() {
                g.set(seconds);
            }
        }
    }
    tls_gauges(&registry, store, now).await?;
    let regressions = IntGaugeVec::new(
        Opts::new(
            NAMES[15],
            "Checks that passed (or warned) and failed in the last 24 hours, per organisation.",
        ),
        &["organisation"],
    )
    .map_err(metric)?;
    registry
        .register(Box::new(regressions.clone()))
        .map_err(metric)?;
    let day_ago = (now - chrono::Duration::hours(24)).timestamp_millis();
    for g in store.regressions(None, day_ago).await? {
        regressions.with_label_values(&[&g.organisation]).inc();
    }
    let spooled = IntGaugeVec::new(
        Opts::new(
            NAMES[16],
            "Observations waiting in the spools of an organisation's live agents, as they last said.",
        ),
        &["organisation"],
    )
    .map_err(metric)?;
    registry
        .register(Box::new(spooled.clone()))
        .map_err(metric)?;
    for a in store.agents(None).await?.iter().filter(|a| !a.revoked) {
        if let Some(depth) = a.reported.spool_depth {
            spooled.with_label_values(&[&a.organisation]).add(depth);
        }
    }
    freshness_gauges(&registry, store, judge, now).await?;
    let (size, idle) = store.pool_state();
    pool.with_label_values(&["open"]).set(i64::from(size));
    pool.with_label_values(&["idle"]).set(idle as i64);
    encode(&registry)
}

/// Targets failing each critical check (the policy set says which are critical; alert rules
/// pick checks by id, `TLS-CERT-TRUST`, ...), and targets whose latest
/// observation is stale (older than three scan intervals), per organisation.
async fn freshness_gauges(
    registry: &Registry,
    store: &Store,
    judge: &Judge,
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    let failing = IntGaugeVec::new(
        Opts::new(
            NAMES[17],
            "Targets failing each critical check, per organisation (latest findings).",
        ),
        &["organisation", "check"],
    )
    .map_err(metric)?;
    let targets = IntGaugeVec::new(
        Opts::new(
            NAMES[18],
            "Observed targets per organisation, by freshness: stale when the latest observation is older than three scan intervals.",
        ),
        &["organisation", "freshness"],
    )
    .map_err(metric)?;
    registry
        .register(Box::new(failing.clone()))
        .map_err(metric)?;
    registry
        .register(Box::new(targets.clone()))
        .map_err(metric)?;
    for (org, check, n) in store.failing_critical().await? {
        failing.with_label_values(&[&org, &check]).set(n);
    }
    let stale_before = judge.stale_before(now).timestamp_millis();
    for (org, stale, all) in store.target_freshness(stale_before).await? {
        targets.with_label_values(&[&org, "stale"]).set(stale);
        targets.with_label_values(&[&org, "fresh"]).set(all - stale);
    }
    Ok(())
}

/// The protocol mix and the certificates about to expire, from each target's latest
/// observation.
async fn tls_gauges(registry: &Registry, store: &Store, now: chrono::DateTime<Utc>) -> Result<()> {
    let protocols = IntGaugeVec::new(
        Opts::new(
            NAMES[12],
            "TLS endpoints accepting each protocol version, per organisation (latest observations).",
        ),
        &["organisation", "protocol"],
    )
    .map_err(metric)?;
    let expiring = IntGaugeVec::new(
        Opts::new(
            NAMES[13],
            "Leaf certificates expiring within 30 days (or expired), per organisation.",
        ),
        &["organisation"],
    )
    .map_err(metric)?;
    let expiry = GaugeVec::new(
        Opts::new(
            NAMES[14],
            "When the soonest expiring certificates (within 30 days, at most 50) expire, Unix seconds.",
        ),
        &["organisation", "target"],
    )
    .map_err(metric)?;
    registry
        .register(Box::new(protocols.clone()))
        .map_err(metric)?;
    registry
        .register(Box::new(expiring.clone()))
        .map_err(metric)?;
    registry
        .register(Box::new(expiry.clone()))
        .map_err(metric)?;
    let horizon = (now + chrono::Duration::days(EXPIRING_DAYS)).timestamp_millis();
    let mut soon = Vec::new();
    for t in store.tls_summaries().await? {
        for p in &t.protocols {
            protocols.with_label_values(&[&t.organisation, p]).inc();
        }
        if let Some(at) = t.certificate_expires.filter(|at| *at <= horizon) {
            expiring.with_label_values(&[&t.organisation]).inc();
            soon.push((at, t.organisation, t.target));
        }
    }
    soon.sort();
    for (at, organisation, target) in soon.into_iter().take(EXPIRING_LISTED) {
        expiry
            .with_label_values(&[&organisation, &target])
            .set(at as f64 / 1000.0);
    }
    Ok(())
}

/// Middleware: the latency of every request, labelled by its route (not its path).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let class = format!("{}xx", response.status().as_u16() / 100);
    state
        .metrics
        .latency
        .with_label_values(&[&route, &method, &class])
        .observe(started.elapsed().as_secs_f64());
    response
}
