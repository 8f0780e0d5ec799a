//! What agents call: enrolment, heartbeats and batches of observations.

use std::sync::Mutex;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use posture_policies::model::Observation;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, AppState};
use crate::auth;
use crate::store::{Agent, millis};

/// Enrolment attempts allowed per minute, over all callers: a guessed secret costs time.
#[derive(Debug)]
pub struct RateLimit {
    per_minute: u32,
    window: Mutex<(i64, u32)>,
}

impl RateLimit {
    /// `per_minute` attempts in each minute.
    pub fn new(per_minute: u32) -> RateLimit {
        RateLimit {
            per_minute,
            window: Mutex::new((0, 0)),
        }
    }

    /// Take an attempt at `now_ms`, or the seconds to wait.
    fn take(&self, now_ms: i64) -> Result<(), u64> {
        let minute = now_ms / 60_000;
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.0 != minute {
            *w = (minute, 0);
        }
        if w.1 >= self.per_minute {
            let wait = 60 - (now_ms % 60_000) / 1000;
            return Err(u64::try_from(wait).unwrap_or(60).max(1));
        }
        w.1 += 1;
        Ok(())
    }
}

/// An enrolment request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The organisation's enrolment secret.
    pub secret: String,
    /// A name for the agent (its host, say).
    pub name: String,
}

/// An enrolled agent's credentials: the key is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enrolled {
    /// The agent's id.
    pub agent: String,
    /// The organisation it writes for.
    pub organisation: String,
    /// Its key, for `Authorization: Bearer KEY`.
    pub key: String,
}

/// Enrol an agent with an organisation's enrolment secret.
#[utoipa::path(post, path = "/api/v1/enroll", request_body = EnrolRequest,
    responses((status = 201, body = Enrolled), (status = 401, body = super::ErrorBody), (status = 429, body = super::ErrorBody)))]
pub async fn enroll(
    State(state): State<AppState>,
    body: Result<Json<EnrolRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Enrolled>), ApiError> {
    let now = millis(Utc::now());
    state.enrol_limit.take(now).map_err(|wait| {
        tracing::warn!(
            retry_after = wait,
            "enrolment attempts over the limit: refused"
        );
        ApiError::TooMany(wait)
    })?;
    let Json(request) = body?;
    let name = request.name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "name the agent (1 to 200 printable characters)".into(),
        ));
    }
    let agent = uuid::Uuid::now_v7().to_string();
    let key = auth::new_secret("pa_");
    let organisation = state
        .store
        .enrol(
            &auth::hash(&request.secret),
            &agent,
            name,
            &auth::hash(&key),
            now,
        )
        .await?
        .ok_or_else(|| {
            tracing::warn!(name, "enrolment refused: unknown or revoked secret");
            ApiError::Unauthorized("unknown or revoked enrolment secret".into())
        })?;
    tracing::info!(%agent, %organisation, "agent enrolled");
    Ok((
        StatusCode::CREATED,
        Json(Enrolled {
            agent,
            organisation,
            key,
        }),
    ))
}

/// The agent a request's key belongs to, if it is live.
pub(super) async fn agent(state: &AppState, headers: &HeaderMap) -> Result<Agent, ApiError> {
    let key = auth::bearer(headers).ok_or_else(|| {
        ApiError::Unauthorized("send the agent key as Authorization: Bearer KEY".into())
    })?;
    let agent = state
        .store
        .agent_by_key(&auth::hash(key))
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown agent key".into()))?;
    if agent.revoked {
        return Err(ApiError::Unauthorized("this agent key was revoked".into()));
    }
    Ok(agent)
}

/// A heartbeat.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Heartbeat {
    /// The agent's version.
    pub version: Option<String>,
    /// When its last round of scans finished (RFC 3339).
    pub last_scan: Option<String>,
    /// Observations waiting in its spool.
    pub spool_depth: Option<u64>,
    /// Its last error, if its last attempt failed.
    pub last_error: Option<String>,
}

/// An agent says it is alive.
#[utoipa::path(post, path = "/api/v1/heartbeat", request_body = Heartbeat,
    responses((status = 204), (status = 401, body = super::ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Heartbeat>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let agent = agent(&state, &headers).await?;
    let Json(beat) = body?;
    if let Some(t) = &beat.last_scan
        && chrono::DateTime::parse_from_rfc3339(t).is_err()
    {
        return Err(ApiError::BadRequest(format!(
            "last_scan: {t:?} is not an RFC 3339 time"
        )));
    }
    state
        .store
        .heartbeat(&agent.id, beat.version.as_deref(), millis(Utc::now()))
        .await?;
    // What the agent says of itself is kept as it says it, bounded.
    let bounded = |t: Option<String>| t.map(|t| t.chars().take(2000).collect::<String>());
    state
        .store
        .report(
            &agent.id,
            &crate::store::Reported {
                last_scan: beat.last_scan,
                spool_depth: beat
                    .spool_depth
                    .map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
                last_error: bounded(beat.last_error),
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What became of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOutcome {
    /// Observations stored now.
    pub accepted: usize,
    /// Observations stored before (a replayed batch, or ids already seen).
    pub duplicates: usize,
    /// Findings judged from the targets' latest observations.
    pub findings: usize,
    /// Observations whose scan claimed to finish in the future (the agent's clock ahead of
    /// the collector's by more than a minute): stored as finished when they arrived, so a
    /// later observation is not taken for an older one.
    #[serde(skip_serializing_if = "is_zero")]
    pub clock_adjusted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How far ahead of the collector's clock an agent's may be before its times are adjusted.
const CLOCK_TOLERANCE: chrono::Duration = chrono::Duration::minutes(1);

/// Observations dated in the future (beyond [`CLOCK_TOLERANCE`]) are dated `now`, keeping how
/// long the scan took; how many were.
fn clamp_clocks(
    observations: &mut [Observation],
    now: chrono::DateTime<Utc>,
    agent: &str,
) -> usize {
    let mut adjusted = 0;
    for o in observations.iter_mut() {
        let ahead = o.scan.finished - now;
        if ahead > CLOCK_TOLERANCE {
            let took = o.scan.finished - o.scan.started;
            o.scan.finished = now;
            o.scan.started = now - took.max(chrono::Duration::zero());
            adjusted += 1;
            tracing::warn!(
                %agent,
                ahead_seconds = ahead.num_seconds(),
                "an observation dated in the future: the agent's clock is ahead; dated on arrival"
            );
        }
    }
    adjusted
}

/// A batch of posture/v1 observations: JSON lines, gzip-compressed (`Content-Encoding:
/// gzip`), with an `Idempotency-Key`. Stored whole or not at all.
#[utoipa::path(post, path = "/api/v1/observations",
    request_body(content = String, content_type = "application/x-ndjson", description = "one posture/v1 observation per line, gzip"),
    params(("Idempotency-Key" = String, Header, description = "the same key for a retried batch")),
    responses((status = 200, body = BatchOutcome), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 413, body = super::ErrorBody), (status = 503, body = super::ErrorBody)))]
pub async fn observations(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<BatchOutcome>, ApiError> {
    let result = ingest(&state, &headers, body).await;
    if let Err(e) = &result {
        state.metrics.rejected(e);
    }
    result.map(Json)
}

async fn ingest(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<BatchOutcome, ApiError> {
    let agent = agent(state, headers).await?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .ok_or_else(|| {
            ApiError::BadRequest("send an Idempotency-Key header (1 to 200 characters)".into())
        })?
        .to_owned();
    let body = body?;
    let mut observations = parse_batch(&body, state.max_batch_observations)?;
    let clock_adjusted = clamp_clocks(&mut observations, Utc::now(), &agent.id);
    // Every target must be the agent's organisation's: one that is not refuses the batch.
    let owned = state.store.domains_of(&agent.organisation).await?;
    let endpoints: Vec<(String, u16)> = state
        .store
        .endpoints(Some(&agent.organisation))
        .await?
        .into_iter()
        .map(|(host, port, _)| (host, port))
        .collect();
    for (i, o) in observations.iter().enumerate() {
        if !auth::may_write(&owned, &endpoints, &o.target) {
            return Err(ApiError::Forbidden(format!(
                "line {}: {} is not a target of organisation {}",
                i + 1,
                o.target,
                agent.organisation
            )));
        }
    }
    let _slot = state
        .ingest_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy(1))?;
    let now = millis(Utc::now());
    let stored = state
        .store
        .store_batch(&agent.id, &agent.organisation, &key, &observations, now)
        .await?;
    state.store.heartbeat(&agent.id, None, now).await?;
    // A batch sent again (after a time-out, say) may have been stored by a request that did
    // not live to judge it: its domains are judged again (judging what was judged already
    // changes nothing).
    let inserted = stored.inserted;
    let mut judge_now = stored.domains;
    if stored.duplicates > 0 {
        judge_now.extend(
            observations
                .iter()
                .map(|o| o.target.scoring_domain().to_ascii_lowercase()),
        );
    }
    let domains: Vec<(String, String)> = judge_now
        .into_iter()
        .map(|d| (d, agent.organisation.clone()))
        .collect();
    // The observations stored now are judged as parsed, not read back.
    let known: std::collections::HashMap<&str, &Observation> = observations
        .iter()
        .filter_map(|o| o.scan.id.as_deref().map(|id| (id, o)))
        .filter(|(id, _)| inserted.contains(*id))
        .collect();
    let findings = state
        .judge
        .rejudge_many(&state.store, &domains, &known)
        .await?;
    state
        .metrics
        .ingested(stored.accepted, stored.duplicates, findings);
    Ok(BatchOutcome {
        accepted: stored.accepted,
        duplicates: stored.duplicates,
        findings,
        clock_adjusted,
    })
}

/// The observations of a batch body: one JSON document a line (blank lines skipped), each a
/// posture/v1 observation (unknown fields tolerated, an unknown schema refused), with an id.
pub fn parse_batch(body: &[u8], max: usize) -> Result<Vec<Observation>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the batch is not UTF-8 text (byte {})",
            e.valid_up_to()
        ))
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if out.len() == max {
            return Err(ApiError::TooLarge(format!(
                "more than {max} observations in one batch"
            )));
        }
        let o: Observation = serde_json::from_str(line).map_err(|e| {
            ApiError::BadRequest(format!("line {}: not a posture/v1 observation: {e}", i + 1))
        })?;
        if o.scan.id.is_none() {
            return Err(ApiError::BadRequest(format!(
                "line {}: the observation has no scan.id",
                i + 1
            )));
        }
        out.push(o);
    }
    if out.is_empty() {
        return Err(ApiError::BadRequest(
            "the batch holds no observation".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_refills_each_minute() {
        let limit = RateLimit::new(2);
        assert!(limit.take(60_000).is_ok());
        assert!(limit.take(61_000).is_ok());
        assert_eq!(limit.take(90_000), Err(30));
        assert!(limit.take(120_000).is_ok());
    }

    #[test]
    fn a_batch_names_the_line_that_is_wrong() {
        let e = parse_batch(b"\n{\"schema\":\"posture/v1\"}\n", 10).unwrap_err();
        assert!(
            matches!(e, ApiError::BadRequest(ref m) if m.starts_with("line 2:")),
            "{e:?}"
        );
        assert!(matches!(
            parse_batch(b"  \n", 10),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_batch(&[0xff, 0xfe], 10),
            Err(ApiError::BadRequest(_))
        ));
    }
}
