//! Serving the API: HTTPS with rustls (plain HTTP only when the configuration says so), each
//! connection on its own task, and a graceful shutdown that stops accepting and lets requests
//! in flight finish.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::{Config, Transport};
use crate::error::{Error, Result};
use crate::judge::Judge;
use crate::metrics::Metrics;
use crate::store::Store;

/// Batches judged at once; a batch that finds none free is told to come back (503).
const INGEST_SLOTS: usize = 4;

/// How long requests in flight may take to finish after shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(30);

/// Set up the store and the judge for `config`, and judge again what is stored when the policy
/// set is not the one it was judged with.
pub async fn state(config: &Config) -> Result<AppState> {
    let store = Store::connect(&config.database_url, config.database_max_connections).await?;
    let set = match &config.policy_dir {
        Some(dir) => posture_policies::PolicySet::load_dir(dir)?,
        None => posture_policies::PolicySet::builtin()?,
    };
    let judge = Judge::new(set, config.scan_interval);
    if store.policy_digest().await?.as_deref() != Some(judge.digest()) {
        let n = judge.rejudge_all(&store).await?;
        store.set_policy_digest(judge.digest()).await?;
        tracing::info!(
            domains = n,
            digest = judge.digest(),
            "judged again with a new policy set"
        );
    }
    Ok(AppState {
        store,
        judge: Arc::new(judge),
        metrics: Arc::new(Metrics::new()?),
        max_batch_observations: config.max_batch_observations,
        ingest_slots: Arc::new(tokio::sync::Semaphore::new(INGEST_SLOTS)),
        enrol_limit: Arc::new(api::ingest_rate_limit(config.enrol_per_minute)),
        secure_cookies: !matches!(config.transport, Transport::Plain),
    })
}

/// How often the housekeeping runs: retention and the daily score snapshot (today's is
/// replaced each time, so the pages' trends end at the scores of the last few minutes).
const HOUSEKEEPING: Duration = Duration::from_secs(600);

/// Housekeeping, at start and then every ten minutes: raw observations past the retention are
/// removed (each target's latest stays) and today's scores are kept in the snapshots.
async fn housekeeping(state: AppState, retention_days: u32) {
    let mut every = tokio::time::interval(HOUSEKEEPING);
    loop {
        every.tick().await;
        let now = chrono::Utc::now();
        let before = crate::store::millis(now - chrono::Duration::days(i64::from(retention_days)));
        match state.store.prune(before).await {
            Ok(n) if n > 0 => {
                tracing::info!(removed = n, "raw observations past the retention removed")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention failed"),
        }
        if let Err(e) = state.judge.snapshot(&state.store, now).await {
            tracing::warn!(error = %e, "score snapshot failed");
        }
    }
}

/// Serve `state` on `listener` until `shutdown` completes, then drain.
pub async fn run(
    listener: TcpListener,
    config: &Config,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let tls = match &config.transport {
        Transport::Plain => None,
        Transport::Tls { cert, key } => Some(tokio_rustls::TlsAcceptor::from(Arc::new(
            tls_config(cert, key)?,
        ))),
    };
    let state_for_chores = state.clone();
    let app = api::router(
        state,
        api::Limits {
            max_body_bytes: config.max_body_bytes,
            request_timeout: config.request_timeout,
        },
    );
    // The notifier finishes the round it is in when asked to stop (a message half sent is
    // not sent again by the next collector).
    let (stop_notifier, stopping) = tokio::sync::watch::channel(false);
    let notifier = config.notify.clone().map(|settings| {
        tokio::spawn(crate::notify::run(
            state_for_chores.clone(),
            settings,
            stopping,
        ))
    });
    let chores = tokio::spawn(housekeeping(state_for_chores, config.retention_days));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let builder = Builder::new(TokioExecutor::new());
        match &tls {
            None => {
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    else {
                        tracing::debug!(%peer, "TLS handshake failed or timed out");
                        return;
                    };
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                });
            }
        }
    }
    chores.abort();
    let _ = stop_notifier.send(true);
    if let Some(n) = notifier
        && tokio::time::timeout(DRAIN, n).await.is_err()
    {
        tracing::warn!("the notifier did not finish its round in {DRAIN:?}");
    }
    tracing::info!("shutting down: finishing requests in flight");
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {DRAIN:?}; stopping anyway");
    }
    Ok(())
}

fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::Tls(format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::Tls(format!("{}: {e}", key.display())))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
