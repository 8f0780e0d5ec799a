//! What viewers read: organisations, domains, findings, a target's history, agents, scores,
//! the policy set, the OpenAPI document and the metrics. Each list is paginated and scoped by
//! the caller's token: an organisation's viewer sees that organisation only.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{ApiError, AppState};
use crate::auth;
use crate::store::{FindingFilter, Role};

/// The caller's role, from its token.
pub(super) async fn role(state: &AppState, headers: &HeaderMap) -> Result<Role, ApiError> {
    let token = auth::bearer(headers).ok_or_else(|| {
        ApiError::Unauthorized("send a viewer token as Authorization: Bearer TOKEN".into())
    })?;
    state
        .store
        .token(&auth::hash(token))
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown or revoked token".into()))
}

/// The organisation a request is limited to: the viewer's own (asking for another is
/// forbidden), or what a national caller asked for.
pub(super) fn scope(role: &Role, asked: Option<&str>) -> Result<Option<String>, ApiError> {
    match (role, asked) {
        (Role::Viewer(own), Some(a)) if a != own => Err(ApiError::Forbidden(format!(
            "this token may read organisation {own} only"
        ))),
        (Role::Viewer(own), _) => Ok(Some(own.clone())),
        (_, a) => Ok(a.map(str::to_owned)),
    }
}

/// Pagination: `page` from 1, `per_page` up to 1000 (100 unless given).
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
pub struct PageQuery {
    /// The page, from 1.
    pub page: Option<usize>,
    /// Items per page (at most 1000).
    pub per_page: Option<usize>,
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The page, from 1.
    pub page: usize,
    /// Items per page.
    pub per_page: usize,
    /// Items in all pages.
    pub total: usize,
}

pub(super) fn paginate<T>(all: Vec<T>, q: PageQuery) -> Result<Page<T>, ApiError> {
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(100);
    if page == 0 || per_page == 0 || per_page > 1000 {
        return Err(ApiError::BadRequest(
            "page starts at 1; per_page is 1 to 1000".into(),
        ));
    }
    let total = all.len();
    let items = all
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    Ok(Page {
        items,
        page,
        per_page,
        total,
    })
}

/// A standard of the policy set.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyStandard {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// The policy set the collector judges with.
#[derive(Debug, Serialize, ToSchema)]
pub struct Policy {
    /// SHA-256 over the policy files (also the ETag).
    pub digest: String,
    /// The scoring method.
    pub method: &'static str,
    /// The standards.
    pub standards: Vec<PolicyStandard>,
    /// The policy files, which agents judge with locally (the digest is over them).
    pub files: Vec<PolicyFile>,
}

/// One policy file.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyFile {
    /// Its name (`NCSC-TLS.yaml`).
    pub name: String,
    /// Its text.
    pub text: String,
}

/// The policy set the collector judges with, with an ETag (its digest).
#[utoipa::path(get, path = "/api/v1/policy", responses((status = 200, body = Policy), (status = 304)))]
pub async fn policy(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let digest = state.judge.digest().to_owned();
    let etag = format!("\"{digest}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let body = Policy {
        digest,
        method: posture_policies::score::METHOD_VERSION,
        standards: state
            .judge
            .standards()
            .iter()
            .map(|s| PolicyStandard {
                id: s.id.clone(),
                name: s.title.clone(),
            })
            .collect(),
        files: state
            .judge
            .sources()
            .iter()
            .map(|(name, text)| PolicyFile {
                name: name.clone(),
                text: text.clone(),
            })
            .collect(),
    };
    let mut r = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// An organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Organisation {
    /// Its code (an ODS code).
    pub code: String,
    /// Its name.
    pub name: String,
}

/// Organisations the caller may see.
#[utoipa::path(get, path = "/api/v1/organisations", params(PageQuery),
    responses((status = 200, body = Page<Organisation>), (status = 401, body = super::ErrorBody)))]
pub async fn organisations(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Organisation>>, ApiError> {
    let only = scope(&role(&state, &headers).await?, None)?;
    let all = state
        .store
        .organisations()
        .await?
        .into_iter()
        .filter(|(code, _)| only.as_ref().is_none_or(|o| o == code))
        .map(|(code, name)| Organisation { code, name })
        .collect();
    Ok(Json(paginate(all, q)?))
}

/// A registered domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Domain {
    /// The domain.
    pub name: String,
    /// Its organisation.
    pub organisation: String,
}

/// Filter by organisation.
#[derive(Debug, Deserialize, IntoParams)]
pub struct OrganisationQuery {
    /// Only this organisation's.
    pub organisation: Option<String>,
}

/// Registered domains the caller may see.
#[utoipa::path(get, path = "/api/v1/domains", params(PageQuery, OrganisationQuery),
    responses((status = 200, body = Page<Domain>), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn domains(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    Query(o): Query<OrganisationQuery>,
) -> Result<Json<Page<Domain>>, ApiError> {
    let only = scope(&role(&state, &headers).await?, o.organisation.as_deref())?;
    let all = state
        .store
        .all_domains()
        .await?
        .into_iter()
        .filter(|(_, org)| only.as_ref().is_none_or(|o| o == org))
        .map(|(name, organisation)| Domain { name, organisation })
        .collect();
    Ok(Json(paginate(all, q)?))
}

/// Findings filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct FindingQuery {
    /// Only this organisation's.
    pub organisation: Option<String>,
    /// Only findings counted by this standard.
    pub standard: Option<String>,
    /// Only this check's.
    pub check: Option<String>,
    /// Only this status (pass, fail, warn, untestable, error, not_applicable).
    pub status: Option<String>,
    /// Only this severity.
    pub severity: Option<String>,
    /// Only this domain's.
    pub domain: Option<String>,
}

/// The latest finding of each target and check, each with `stale`: observed more than three
/// scan intervals ago, so shown but no longer scored.
#[utoipa::path(get, path = "/api/v1/findings", params(PageQuery, FindingQuery),
    responses((status = 200, description = "a page of posture/v1 findings"), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn findings(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    Query(f): Query<FindingQuery>,
) -> Result<Json<Page<serde_json::Value>>, ApiError> {
    let only = scope(&role(&state, &headers).await?, f.organisation.as_deref())?;
    let stale_before = state.judge.stale_before(Utc::now());
    let filter = FindingFilter {
        organisation: only,
        check: f.check,
        status: f.status,
        severity: f.severity,
        domain: f.domain,
    };
    let all = state
        .store
        .findings(&filter)
        .await?
        .into_iter()
        .filter(|s| {
            f.standard.as_ref().is_none_or(|want| {
                s.finding
                    .standards
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(want))
            })
        })
        .map(|s| {
            let mut v = serde_json::to_value(&s.finding).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "stale".into(),
                    (s.finding.observed_at < stale_before).into(),
                );
            }
            v
        })
        .collect();
    Ok(Json(paginate(all, q)?))
}

/// Regression filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RegressionQuery {
    /// Only this organisation's.
    pub organisation: Option<String>,
    /// Only those recorded since (RFC 3339); all kept history by default.
    pub since: Option<String>,
}

/// A check of a target that passed (or warned) and now fails.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegressionView {
    /// The target's store key (for `/api/v1/targets/{key}/history`).
    pub target: String,
    /// The check.
    pub check: String,
    /// The organisation.
    pub organisation: String,
    /// The domain it is scored under.
    pub domain: String,
    /// The status before: pass or warn.
    pub from: String,
    /// Always fail.
    pub to: String,
    /// When the failure was recorded (RFC 3339).
    pub at: String,
    /// The observation that showed it.
    pub observation: String,
}

/// Regressions, newest first: each time a check that passed (or warned) failed.
#[utoipa::path(get, path = "/api/v1/regressions", params(PageQuery, RegressionQuery),
    responses((status = 200, body = Page<RegressionView>), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn regressions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    Query(r): Query<RegressionQuery>,
) -> Result<Json<Page<RegressionView>>, ApiError> {
    let only = scope(&role(&state, &headers).await?, r.organisation.as_deref())?;
    let since = match r.since.as_deref() {
        None => 0,
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|e| {
                ApiError::BadRequest(format!("since: {t:?} is not an RFC 3339 time: {e}"))
            })?
            .timestamp_millis(),
    };
    let all = state
        .store
        .regressions(only.as_deref(), since)
        .await?
        .into_iter()
        .map(|g| RegressionView {
            target: g.target,
            check: g.check,
            organisation: g.organisation,
            domain: g.domain,
            from: g.from,
            to: "fail".into(),
            at: chrono::DateTime::from_timestamp_millis(g.at)
                .unwrap_or_default()
                .to_rfc3339(),
            observation: g.observation,
        })
        .collect();
    Ok(Json(paginate(all, q)?))
}

/// A status change of a target's check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    /// The check.
    pub check: String,
    /// The status before (none: first seen).
    pub from: Option<String>,
    /// The status after.
    pub to: String,
    /// When it was recorded (RFC 3339).
    pub at: String,
}

/// A target's history: each status change of its checks, newest first. `key` is the target's
/// store key (`domain:NAME`, `endpoint:SERVICE:HOST:PORT:SNI`).
#[utoipa::path(get, path = "/api/v1/targets/{key}/history", params(("key" = String, Path), PageQuery),
    responses((status = 200, body = Page<Event>), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Event>>, ApiError> {
    let role = role(&state, &headers).await?;
    if let Role::Viewer(own) = &role {
        let owned = state.store.domains_of(own).await?;
        let name = key
            .split(':')
            .nth(if key.starts_with("endpoint:") { 2 } else { 1 })
            .unwrap_or("");
        if !auth::owns(&owned, name) && !state.store.is_endpoint_of(name, own).await? {
            return Err(ApiError::Forbidden(format!(
                "this token may read organisation {own} only"
            )));
        }
    }
    let all = state
        .store
        .history(&key)
        .await?
        .into_iter()
        .map(|(check, from, to, at)| Event {
            check,
            from,
            to,
            at: chrono::DateTime::from_timestamp_millis(at)
                .unwrap_or_default()
                .to_rfc3339(),
        })
        .collect();
    Ok(Json(paginate(all, q)?))
}

/// An agent as viewers see it (never its key).
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    /// Its id.
    pub id: String,
    /// Its organisation.
    pub organisation: String,
    /// Its name.
    pub name: String,
    /// When it was last heard from (RFC 3339).
    pub last_seen: Option<String>,
    /// The version it last reported.
    pub version: Option<String>,
    /// Whether its key was revoked.
    pub revoked: bool,
    /// When its last round of scans finished, as it said (RFC 3339).
    pub last_scan: Option<String>,
    /// Observations waiting in its spool, as it said.
    pub spool_depth: Option<i64>,
    /// Its last error, as it said.
    pub last_error: Option<String>,
}

/// Agents the caller may see.
#[utoipa::path(get, path = "/api/v1/agents", params(PageQuery, OrganisationQuery),
    responses((status = 200, body = Page<AgentView>), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn agents(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    Query(o): Query<OrganisationQuery>,
) -> Result<Json<Page<AgentView>>, ApiError> {
    let only = scope(&role(&state, &headers).await?, o.organisation.as_deref())?;
    let all = state
        .store
        .agents(only.as_deref())
        .await?
        .into_iter()
        .map(|a| AgentView {
            id: a.id,
            organisation: a.organisation,
            name: a.name,
            last_seen: a
                .last_seen
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339()),
            version: a.version,
            revoked: a.revoked,
            last_scan: a.reported.last_scan,
            spool_depth: a.reported.spool_depth,
            last_error: a.reported.last_error,
        })
        .collect();
    Ok(Json(paginate(all, q)?))
}

/// Which scores.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ScoreQuery {
    /// `domain` (default), `organisation`, `standard` or `national`.
    pub level: Option<String>,
    /// Only this organisation's.
    pub organisation: Option<String>,
    /// Only this standard's.
    pub standard: Option<String>,
}

/// Scores, computed from the latest findings as standards.md defines them: per domain and
/// standard, per organisation and standard, or nationally per standard.
#[utoipa::path(get, path = "/api/v1/scores", params(PageQuery, ScoreQuery),
    responses((status = 200, description = "a page of scores"), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn scores(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    Query(s): Query<ScoreQuery>,
) -> Result<Json<Page<serde_json::Value>>, ApiError> {
    let role = role(&state, &headers).await?;
    let only = scope(&role, s.organisation.as_deref())?;
    let level = s.level.as_deref().unwrap_or("domain");
    if let (Role::Viewer(_), "national" | "standard") = (&role, level) {
        // National figures are over every organisation: a national token reads them.
        return Err(ApiError::Forbidden(
            "national scores need a national token".into(),
        ));
    }
    let scores = state.judge.scores(&state.store, Utc::now()).await?;
    let wanted = |std: &str| {
        s.standard
            .as_ref()
            .is_none_or(|w| w.eq_ignore_ascii_case(std))
    };
    let in_scope = |org: &str| only.as_ref().is_none_or(|o| o == org);
    // Filtered by reference and paginated first: only the page is turned into JSON.
    fn page<T: serde::Serialize>(
        all: Vec<&T>,
        q: PageQuery,
    ) -> Result<Page<serde_json::Value>, ApiError> {
        let p = paginate(all, q)?;
        Ok(Page {
            items: p
                .items
                .into_iter()
                .map(|x| serde_json::to_value(x).unwrap_or_default())
                .collect(),
            page: p.page,
            per_page: p.per_page,
            total: p.total,
        })
    }
    let page = match level {
        "domain" => page(
            scores
                .domains
                .iter()
                .filter(|d| {
                    wanted(&d.standard)
                        && (only.is_none() || in_scope(&scores.organisation_of(&d.domain)))
                })
                .collect(),
            q,
        )?,
        "organisation" => page(
            scores
                .organisations
                .iter()
                .filter(|o| wanted(&o.standard) && in_scope(&o.organisation))
                .collect(),
            q,
        )?,
        "standard" | "national" => page(
            scores
                .national
                .iter()
                .filter(|n| wanted(&n.standard))
                .collect(),
            q,
        )?,
        other => {
            return Err(ApiError::BadRequest(format!(
                "level {other:?}: use domain, organisation, standard or national"
            )));
        }
    };
    Ok(Json(page))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", responses((status = 200, description = "the OpenAPI 3.1 document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::ApiDoc::openapi())
}

/// Prometheus metrics, in the text exposition format.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format 0.0.4")))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state.metrics.render(&state.store, &state.judge).await?;
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}
