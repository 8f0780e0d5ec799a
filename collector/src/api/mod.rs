//! The HTTP API under `/api/v1`, with `/metrics`, described by the OpenAPI 3.1 document
//! served at `/api/v1/openapi.json` (generated from the handlers with utoipa).

pub mod error;
mod ingest;
mod notify;
mod read;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::decompression::RequestDecompressionLayer;
use utoipa::OpenApi;

use crate::judge::Judge;
use crate::metrics::Metrics;
use crate::store::Store;

pub use error::{ApiError, ErrorBody};
pub use ingest::{RateLimit, parse_batch};

/// The enrolment rate limit: `per_minute` attempts a minute.
pub fn ingest_rate_limit(per_minute: u32) -> RateLimit {
    RateLimit::new(per_minute)
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The policy set and scoring.
    pub judge: Arc<Judge>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Most observations in one batch.
    pub max_batch_observations: usize,
    /// Batches judged at once; more wait for none, they get 503.
    pub ingest_slots: Arc<tokio::sync::Semaphore>,
    /// Enrolment attempts left this minute.
    pub enrol_limit: Arc<RateLimit>,
    /// Whether the pages' cookies are marked `Secure` (served over HTTPS).
    pub secure_cookies: bool,
}

/// Every route: method and path (the OpenAPI test checks each is documented).
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/enroll"),
    ("post", "/api/v1/heartbeat"),
    ("post", "/api/v1/observations"),
    ("get", "/api/v1/policy"),
    ("get", "/api/v1/organisations"),
    ("get", "/api/v1/domains"),
    ("get", "/api/v1/findings"),
    ("get", "/api/v1/targets/{key}/history"),
    ("get", "/api/v1/regressions"),
    ("get", "/api/v1/agents"),
    ("get", "/api/v1/scores"),
    ("get", "/api/v1/contacts"),
    ("post", "/api/v1/contacts"),
    ("delete", "/api/v1/contacts/{id}"),
    ("get", "/api/v1/notifications"),
    ("post", "/api/v1/acknowledgements"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/metrics"),
];

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "posture collector",
        description = "Ingestion, judgement and scores of posture observations."
    ),
    paths(
        ingest::enroll,
        ingest::heartbeat,
        ingest::observations,
        read::policy,
        read::organisations,
        read::domains,
        read::findings,
        read::history,
        read::regressions,
        read::agents,
        read::scores,
        notify::contacts,
        notify::add_contact,
        notify::remove_contact,
        notify::notifications,
        notify::acknowledge,
        read::openapi,
        read::metrics,
    ),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

/// Limits of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body accepted, decompressed.
    pub max_body_bytes: usize,
    /// Time a request may take.
    pub request_timeout: Duration,
}

/// The router, with its limits: the body is decompressed (gzip) as it is read and reading
/// stops at the limit (so a compression bomb costs no more than a plain body), with a 413 that
/// says so; every request ends within the time-out.
pub fn router(state: AppState, limits: Limits) -> Router {
    Router::new()
        .route("/api/v1/enroll", post(ingest::enroll))
        .route("/api/v1/heartbeat", post(ingest::heartbeat))
        .route("/api/v1/observations", post(ingest::observations))
        .route("/api/v1/policy", get(read::policy))
        .route("/api/v1/organisations", get(read::organisations))
        .route("/api/v1/domains", get(read::domains))
        .route("/api/v1/findings", get(read::findings))
        .route("/api/v1/targets/{key}/history", get(read::history))
        .route("/api/v1/regressions", get(read::regressions))
        .route("/api/v1/agents", get(read::agents))
        .route("/api/v1/scores", get(read::scores))
        .route(
            "/api/v1/contacts",
            get(notify::contacts).post(notify::add_contact),
        )
        .route(
            "/api/v1/contacts/{id}",
            axum::routing::delete(notify::remove_contact),
        )
        .route("/api/v1/notifications", get(notify::notifications))
        .route("/api/v1/acknowledgements", post(notify::acknowledge))
        .route("/api/v1/openapi.json", get(read::openapi))
        .route("/metrics", get(read::metrics))
        .merge(crate::web::routes())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(RequestDecompressionLayer::new().gzip(true))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                let limit = limits.request_timeout;
                match tokio::time::timeout(limit, next.run(request)).await {
                    Ok(response) => response,
                    Err(_) => axum::response::IntoResponse::into_response(ApiError::TimedOut(
                        limit.as_secs().max(1),
                    )),
                }
            },
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_past_the_time_out_gets_a_json_408() {
        let dir = std::env::temp_dir().join(format!("posture-timeout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let config = crate::config::Config {
            database_url: format!("sqlite://{}", dir.join("t.db").display()),
            ..crate::config::Config::default()
        };
        let state = crate::server::state(&config).await.expect("state");
        let app = router(
            state,
            Limits {
                max_body_bytes: 1 << 20,
                request_timeout: Duration::from_millis(300),
            },
        );
        // A body whose sender never sends: the request cannot finish.
        let (_sender, stalled) =
            http_body_util::channel::Channel::<axum::body::Bytes, axum::Error>::new(1);
        let request = axum::http::Request::post("/api/v1/observations")
            .header("content-type", "application/x-ndjson")
            .body(axum::body::Body::new(stalled))
            .expect("request");
        let started = tokio::time::Instant::now();
        let response = tower::ServiceExt::oneshot(app, request)
            .await
            .expect("response");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(response.status(), axum::http::StatusCode::REQUEST_TIMEOUT);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(json["error"], "timeout", "{json}");
        assert!(
            json["message"]
                .as_str()
                .unwrap_or("")
                .contains("Idempotency-Key"),
            "{json}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn every_route_is_in_the_openapi_document() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        assert!(
            doc["openapi"].as_str().unwrap_or("").starts_with("3.1"),
            "{doc}"
        );
        for (method, path) in ROUTES {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is not in the OpenAPI document"
            );
        }
        let documented: usize = doc["paths"].as_object().map_or(0, |p| {
            p.values()
                .map(|m| m.as_object().map_or(0, |m| m.len()))
                .sum()
        });
        assert_eq!(
            documented,
            ROUTES.len(),
            "a documented operation is not routed"
        );
    }
}
