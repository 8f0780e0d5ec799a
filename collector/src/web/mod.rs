//! The collector's web pages, rendered on the server from compiled templates (askama) with no
//! JavaScript: a national overview, each organisation, each domain with its findings. A viewer
//! or admin token logs in once and is kept in a cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//! when served over HTTPS); every form carries a CSRF token, and a form posted from another
//! origin is refused. A viewer sees its own organisation only: another's pages answer 403.

pub mod chart;
mod pages;
pub mod table;

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::auth;
use crate::store::Role;

/// The session cookie: the token itself, which the store knows only by its hash, so revoking
/// the token ends the session at once.
const SESSION: &str = "posture_session";
/// The login form's CSRF cookie (double submit: the form must carry the same value).
const LOGIN_CSRF: &str = "posture_login_csrf";
/// How long a session lasts, in seconds.
const SESSION_SECONDS: u32 = 12 * 3600;

/// The pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(pages::national))
        .route("/ui/org/{code}", get(pages::organisation))
        .route("/ui/domain/{name}", get(pages::domain))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/ack", get(ack_form).post(ack))
        .route("/ui/style.css", get(style))
}

/// A URL path segment or query value: everything but RFC 3986's unreserved characters
/// percent-encoded.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Why a page is not shown: each becomes an HTML page with its status (or, for a caller who
/// is not logged in, a redirect to the login form).
#[derive(Debug)]
pub enum PageError {
    /// Not logged in, or the token was revoked.
    LogIn,
    /// Logged in, but not allowed to see this (403).
    Forbidden(String),
    /// No such thing (404).
    NotFound(String),
    /// A bad filter or form (400).
    BadRequest(String),
    /// The database cannot be reached now (503).
    Unavailable,
    /// A fault of the collector (500): logged, not shown.
    Internal(String),
}

impl From<crate::Error> for PageError {
    fn from(e: crate::Error) -> PageError {
        match e {
            crate::Error::NotFound(m) => PageError::NotFound(m),
            crate::Error::Database(d) if crate::api::error::unavailable(&d) => {
                tracing::warn!(error = %d, "the database is unavailable");
                PageError::Unavailable
            }
            other => PageError::Internal(other.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::LogIn => return Redirect::to("/ui/login").into_response(),
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not yours to see", m),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m),
            PageError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                "The collector cannot reach its database just now; try again in a minute.".into(),
            ),
            PageError::Internal(m) => {
                tracing::error!(error = %m, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The collector could not show this page; the fault is in its log.".into(),
                )
            }
        };
        html(status, &ErrorPage { title, message })
    }
}

/// A rendered template with the pages' security headers: no scripts at all, styles and images
/// only from here, no framing, not cached.
fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut r = (status, body).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A cookie's value from the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: always `HttpOnly`, `SameSite=Strict`, `Path=/`; `Secure` over HTTPS.
fn set_cookie(name: &str, value: &str, max_age: u32, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("posture_invalid=; Max-Age=0"))
}

/// Who is logged in: the session's token and what it may do.
#[derive(Debug, Clone)]
pub struct Session {
    /// What the token may do.
    pub role: Role,
    /// The CSRF token of this session's forms.
    pub csrf: String,
}

impl Session {
    /// Who the pages say is logged in.
    pub fn who(&self) -> String {
        match &self.role {
            Role::Viewer(org) => format!("viewer of {org}"),
            Role::National => "national viewer".into(),
            Role::Admin => "admin".into(),
        }
    }

    /// Whether this session may read `organisation`'s pages.
    pub fn may_read(&self, organisation: &str) -> bool {
        match &self.role {
            Role::Viewer(own) => own == organisation,
            Role::National | Role::Admin => true,
        }
    }
}

/// The session of a request, from its cookie.
async fn session(state: &AppState, headers: &HeaderMap) -> Result<Session, PageError> {
    let token = cookie(headers, SESSION)
        .filter(|t| !t.is_empty())
        .ok_or(PageError::LogIn)?;
    let role = state
        .store
        .token(&auth::hash(token))
        .await?
        .ok_or(PageError::LogIn)?;
    Ok(Session {
        role,
        csrf: session_csrf(token),
    })
}

/// The CSRF token of a session's forms: derived from its secret token, so only a page served
/// to that session can carry it.
fn session_csrf(token: &str) -> String {
    let digest = Sha256::digest(format!("posture-csrf\0{token}").as_bytes());
    hex::encode(&digest[..16])
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A form posted from another origin (its `Origin` header names a host other than the one
/// asked) is refused whatever it carries.
fn same_origin(headers: &HeaderMap) -> Result<(), PageError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match origin.split_once("://") {
        Some((_, o)) if o.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(PageError::Forbidden(format!(
            "a form from {origin} may not be posted here"
        ))),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    problem: Option<String>,
}

/// The login form, with a fresh CSRF value in a cookie and in the form.
fn login_page(state: &AppState, status: StatusCode, problem: Option<String>) -> Response {
    let csrf = auth::new_secret("");
    let mut r = html(
        status,
        &LoginPage {
            csrf: csrf.clone(),
            problem,
        },
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF, &csrf, 3600, state.secure_cookies),
    );
    r
}

async fn login_form(State(state): State<AppState>) -> Response {
    login_page(&state, StatusCode::OK, None)
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let expected = cookie(&headers, LOGIN_CSRF).unwrap_or("");
    if expected.is_empty() || !same(expected, &form.csrf) {
        return Err(PageError::Forbidden(
            "the login form had expired or did not come from this site; open it again".into(),
        ));
    }
    let token = form.token.trim();
    // A token is `pt_` and hex; anything else could not be kept in a cookie as it is.
    let well_formed = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !well_formed || state.store.token(&auth::hash(token)).await?.is_none() {
        return Ok(login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("That token is unknown or revoked.".into()),
        ));
    }
    let mut r = Redirect::to("/ui/").into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION, token, SESSION_SECONDS, state.secure_cookies),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF, "", 0, state.secure_cookies),
    );
    Ok(r)
}

/// The logout form's fields.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let token = cookie(&headers, SESSION).unwrap_or("");
    if token.is_empty() || !same(&session_csrf(token), &form.csrf) {
        return Err(PageError::Forbidden(
            "the form did not come from this session".into(),
        ));
    }
    let mut r = Redirect::to("/ui/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION, "", 0, state.secure_cookies),
    );
    Ok(r)
}

/// A signed acknowledgement link's fields (the signature is the credential: no login needed).
#[derive(Debug, Deserialize)]
pub struct AckLink {
    target: String,
    check: String,
    since: i64,
    sig: String,
}

#[derive(Template)]
#[template(path = "ack.html")]
struct AckPage {
    target: String,
    check: String,
    since: i64,
    sig: String,
    done: bool,
}

async fn checked_link(state: &AppState, link: &AckLink) -> Result<(), PageError> {
    let secret = state.store.notifier_secret().await?;
    if crate::notify::render::ack_valid(&secret, &link.target, &link.check, link.since, &link.sig) {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "this acknowledgement link is not valid (altered, or from another collector)".into(),
        ))
    }
}

/// The link from a message: a page with a button (a GET changes nothing, so a mail scanner
/// that follows links acknowledges nothing).
async fn ack_form(
    State(state): State<AppState>,
    axum::extract::Query(link): axum::extract::Query<AckLink>,
) -> Result<Response, PageError> {
    checked_link(&state, &link).await?;
    Ok(html(
        StatusCode::OK,
        &AckPage {
            target: link.target,
            check: link.check,
            since: link.since,
            sig: link.sig,
            done: false,
        },
    ))
}

async fn ack(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(link): Form<AckLink>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    checked_link(&state, &link).await?;
    let now = chrono::Utc::now().timestamp_millis();
    if !state
        .store
        .acknowledge(&link.target, &link.check, link.since, now)
        .await?
    {
        return Err(PageError::NotFound(
            "this alert is no longer open: it was fixed or its status changed".into(),
        ));
    }
    Ok(html(
        StatusCode::OK,
        &AckPage {
            target: link.target,
            check: link.check,
            since: link.since,
            sig: String::new(),
            done: true,
        },
    ))
}

async fn style() -> Response {
    let mut r = include_str!("../../templates/style.css").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_name_and_set_strictly() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; posture_session=pt_abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION), Some("pt_abc"));
        assert_eq!(cookie(&h, "posture"), None);
        let c = set_cookie(SESSION, "pt_abc", 60, true);
        assert_eq!(
            c.to_str().unwrap_or(""),
            "posture_session=pt_abc; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        let plain = set_cookie(SESSION, "x", 60, false);
        assert!(!plain.to_str().unwrap_or("").contains("Secure"));
    }

    #[test]
    fn forms_from_another_origin_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8443"));
        assert!(same_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://127.0.0.1:8443"),
        );
        assert!(same_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(same_origin(&h).is_err());
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&h).is_err());
    }

    #[test]
    fn a_session_csrf_token_depends_on_the_session() {
        assert_ne!(session_csrf("pt_a"), session_csrf("pt_b"));
        assert_eq!(session_csrf("pt_a").len(), 32);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
