//! Owner contacts (admin tokens), the notifications made and their delivery (scoped like the
//! rest of the read API), and acknowledgement of a failure (no reminders until its status
//! changes).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::read::{PageQuery, paginate, role, scope};
use super::{ApiError, AppState};
use crate::store::Role;

/// An owner contact.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactView {
    /// Its id (absent when adding).
    #[serde(default)]
    pub id: String,
    /// The organisation.
    pub organisation: String,
    /// The domain or endpoint host it is for; empty for the organisation's default.
    #[serde(default)]
    pub scope: String,
    /// `email`, `webhook` (the JSON payload), `chat` (`{"text": ...}` for Slack / Teams) or
    /// `alertmanager` (its URL; each item becomes an alert).
    pub kind: String,
    /// The address or URL.
    pub address: String,
}

async fn admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match role(state, headers).await? {
        Role::Admin => Ok(()),
        _ => Err(ApiError::Forbidden("contacts need an admin token".into())),
    }
}

/// Contacts (admin tokens).
#[utoipa::path(get, path = "/api/v1/contacts", params(PageQuery),
    responses((status = 200, body = super::read::Page<ContactView>), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn contacts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Json<super::read::Page<ContactView>>, ApiError> {
    admin(&state, &headers).await?;
    let all = state
        .store
        .contacts(None)
        .await?
        .into_iter()
        .map(|c| ContactView {
            id: c.id,
            organisation: c.organisation,
            scope: c.scope,
            kind: c.kind,
            address: c.address,
        })
        .collect();
    Ok(Json(paginate(all, q)?))
}

/// Add a contact (admin tokens); 201 with its id.
#[utoipa::path(post, path = "/api/v1/contacts", request_body = ContactView,
    responses((status = 201, body = ContactView), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn add_contact(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ContactView>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<ContactView>), ApiError> {
    admin(&state, &headers).await?;
    let Json(mut c) = body?;
    crate::admin::check_contact(&c.kind, &c.address)?;
    c.scope = c.scope.trim_end_matches('.').to_ascii_lowercase();
    c.id = state
        .store
        .add_contact(
            &c.organisation,
            &c.scope,
            &c.kind,
            &c.address,
            chrono::Utc::now().timestamp_millis(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// Remove a contact (admin tokens).
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn remove_contact(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&state, &headers).await?;
    if state.store.remove_contact(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no contact {id}")))
    }
}

/// Notification filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationQuery {
    /// Only this organisation's.
    pub organisation: Option<String>,
    /// Only those that spoke of this domain.
    pub domain: Option<String>,
}

/// A notification and its delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    /// Its id.
    pub id: String,
    /// The organisation.
    pub organisation: String,
    /// `email`, `webhook` or `chat`.
    pub kind: String,
    /// To whom.
    pub address: String,
    /// Its subject.
    pub subject: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// `delivered`, `pending` (to be tried again) or `failed` (given up).
    pub delivery: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When it was delivered (RFC 3339).
    pub delivered_at: Option<String>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// What it said: (target, check, domain, reason: failing, regression, reminder, resolved).
    pub items: Vec<NotificationItem>,
}

/// What a notification said of one check of one target.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationItem {
    /// The target's store key.
    pub target: String,
    /// The check.
    pub check: String,
    /// The domain.
    pub domain: String,
    /// failing, regression, reminder or resolved.
    pub reason: String,
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339()
}

/// Notifications made, newest first (at most 1000), scoped by the caller's token.
#[utoipa::path(get, path = "/api/v1/notifications", params(PageQuery, NotificationQuery),
    responses((status = 200, body = super::read::Page<NotificationView>), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn notifications(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    Query(n): Query<NotificationQuery>,
) -> Result<Json<super::read::Page<NotificationView>>, ApiError> {
    let only = scope(&role(&state, &headers).await?, n.organisation.as_deref())?;
    let all = state
        .store
        .notifications(only.as_deref(), n.domain.as_deref(), 1000)
        .await?
        .into_iter()
        .map(|(r, items)| NotificationView {
            delivery: match (r.delivered_at, r.failed_at) {
                (Some(_), _) => "delivered",
                (None, Some(_)) => "failed",
                _ => "pending",
            }
            .into(),
            id: r.id,
            organisation: r.organisation,
            kind: r.kind,
            address: r.address,
            subject: r.subject,
            created_at: time(r.created_at),
            attempts: r.attempts,
            delivered_at: r.delivered_at.map(time),
            last_error: r.last_error,
            items: items
                .into_iter()
                .map(|(target, check, domain, reason)| NotificationItem {
                    target,
                    check,
                    domain,
                    reason,
                })
                .collect(),
        })
        .collect();
    Ok(Json(paginate(all, q)?))
}

/// What to acknowledge.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Acknowledgement {
    /// The target's store key.
    pub target: String,
    /// The check.
    pub check: String,
}

/// Acknowledge a failure that owners were told of: no reminders until its status changes. A
/// viewer may acknowledge its own organisation's only.
#[utoipa::path(post, path = "/api/v1/acknowledgements", request_body = Acknowledgement,
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn acknowledge(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Acknowledgement>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let role = role(&state, &headers).await?;
    let Json(a) = body?;
    let open = state
        .store
        .alert_state(&a.target, &a.check)
        .await?
        .filter(|s| s.state == "open")
        .ok_or_else(|| {
            ApiError::NotFound(format!("{} on {} is not an open alert", a.check, a.target))
        })?;
    scope(&role, Some(&open.organisation))?;
    state
        .store
        .acknowledge(
            &a.target,
            &a.check,
            open.since,
            chrono::Utc::now().timestamp_millis(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
