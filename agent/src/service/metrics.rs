//! The agent's own Prometheus metrics, served on a local address when `[metrics] listen` is
//! set: rounds and targets scanned, connections opened, observations spooled and dropped, the
//! spool's depth, uploads by result, and a histogram of how long targets take to scan.
//!
//! The server answers `GET /metrics` and nothing else, over HTTP/1.1 with `Connection:
//! close`; it reads at most 8 KiB of request within 5 seconds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::spool::Spool;
use posture_policies::model::Observation;

/// The agent's metrics.
#[derive(Debug, Clone)]
pub struct AgentMetrics {
    registry: Registry,
    rounds: IntCounter,
    targets: IntCounter,
    connections: IntCounter,
    spooled: IntCounter,
    uploads: IntCounterVec,
    duration: Histogram,
    depth: IntGauge,
    dropped: IntGauge,
    findings: IntGauge,
    failing: IntGauge,
}

fn err(e: prometheus::Error) -> String {
    format!("metrics: {e}")
}

impl AgentMetrics {
    /// Register them.
    pub fn new() -> Result<AgentMetrics, String> {
        let registry = Registry::new();
        let m = AgentMetrics {
            rounds: IntCounter::new("posture_agent_rounds_total", "Rounds of scans finished.")
                .map_err(err)?,
            targets: IntCounter::new(
                "posture_agent_targets_scanned_total",
                "Targets scanned (observations made).",
            )
            .map_err(err)?,
            connections: IntCounter::new(
                "posture_agent_connections_total",
                "Network connections opened by scans.",
            )
            .map_err(err)?,
            spooled: IntCounter::new(
                "posture_agent_observations_spooled_total",
                "Observations written to the spool.",
            )
            .map_err(err)?,
            uploads: IntCounterVec::new(
                Opts::new(
                    "posture_agent_uploads_total",
                    "Upload attempts by result (ok, failed, rejected).",
                ),
                &["result"],
            )
            .map_err(err)?,
            duration: Histogram::with_opts(
                HistogramOpts::new(
                    "posture_agent_scan_duration_seconds",
                    "Time to scan one target.",
                )
                .buckets(vec![
                    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                ]),
            )
            .map_err(err)?,
            depth: IntGauge::new(
                "posture_agent_spool_observations",
                "Observations waiting in the spool.",
            )
            .map_err(err)?,
            dropped: IntGauge::new(
                "posture_agent_spool_dropped",
                "Observations dropped, ever, because the spool was full.",
            )
            .map_err(err)?,
            findings: IntGauge::new(
                "posture_agent_round_findings",
                "Findings of the last round, judged here with the local policy set.",
            )
            .map_err(err)?,
            failing: IntGauge::new(
                "posture_agent_round_failing",
                "Failing findings of the last round, judged here.",
            )
            .map_err(err)?,
            registry,
        };
        for c in [&m.rounds, &m.targets, &m.connections, &m.spooled] {
            m.registry.register(Box::new(c.clone())).map_err(err)?;
        }
        m.registry
            .register(Box::new(m.uploads.clone()))
            .map_err(err)?;
        m.registry
            .register(Box::new(m.duration.clone()))
            .map_err(err)?;
        m.registry
            .register(Box::new(m.depth.clone()))
            .map_err(err)?;
        m.registry
            .register(Box::new(m.dropped.clone()))
            .map_err(err)?;
        for result in ["ok", "failed", "rejected"] {
            m.uploads.with_label_values(&[result]);
        }
        Ok(m)
    }

    /// A target was scanned and its observation spooled.
    pub fn scanned(&self, o: &Observation) {
        self.targets.inc();
        self.spooled.inc();
        self.connections.inc_by(u64::from(o.scan.connections));
        let took = (o.scan.finished - o.scan.started).num_milliseconds().max(0);
        self.duration.observe(took as f64 / 1000.0);
    }

    /// A round was judged here: its findings, and how many fail.
    pub fn judged(&self, findings: usize, failing: usize) {
        self.findings
            .set(i64::try_from(findings).unwrap_or(i64::MAX));
        self.failing.set(i64::try_from(failing).unwrap_or(i64::MAX));
    }

    /// A round finished.
    pub fn round(&self) {
        self.rounds.inc();
    }

    /// An upload attempt ended with `result` (ok, failed, rejected).
    pub fn upload(&self, result: &str) {
        self.uploads.with_label_values(&[result]).inc();
    }

    /// The text exposition, with the spool read now.
    fn render(&self, spool: &Mutex<Spool>) -> String {
        if let Ok(d) = spool.lock().unwrap_or_else(|p| p.into_inner()).depth() {
            self.depth
                .set(i64::try_from(d.observations).unwrap_or(i64::MAX));
            self.dropped
                .set(i64::try_from(d.dropped).unwrap_or(i64::MAX));
        }
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Serve `/metrics` on `listener` until `stop`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: AgentMetrics,
    spool: Arc<Mutex<Spool>>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stop.cancelled() => return,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let (metrics, spool) = (metrics.clone(), spool.clone());
        tokio::spawn(async move {
            let mut request = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await;
            let line = String::from_utf8_lossy(&request);
            let first = line.lines().next().unwrap_or("");
            let (status, body, kind) = if read.is_err() {
                return;
            } else if first.starts_with("GET /metrics ") {
                (
                    "200 OK",
                    metrics.render(&spool),
                    "text/plain; version=0.0.4; charset=utf-8",
                )
            } else {
                (
                    "404 Not Found",
                    "only GET /metrics is served here\n".to_owned(),
                    "text/plain; charset=utf-8",
                )
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            // A reader that does not read is given up on.
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            })
            .await;
        });
    }
}
