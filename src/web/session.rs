//! Browser sessions and CSRF protection for the pages.
//!
//! A session is a random token in an HttpOnly, SameSite=Lax cookie; the database keeps its
//! sha256. Every state-changing request must carry the CSRF token (form field `csrf_token`,
//! header `X-CSRF-Token`, or `?csrf_token=` for multipart uploads): the session's own token
//! when logged in, else the value of a pre-login cookie (double submit, for setup and login).

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use super::error::AppError;
use crate::auth::{self, SESSION_DAYS};
use crate::config::SecureCookies;
use crate::db::sessions::Session;
use crate::db::users::User;
use crate::{db, time};

pub const SESSION_COOKIE: &str = "lb_session";
const CSRF_COOKIE: &str = "lb_csrf";
const CSRF_FIELD: &str = "csrf_token";
const CSRF_HEADER: &str = "x-csrf-token";
const MAX_FORM_BYTES: usize = 1 << 20;
/// Sliding expiry is written at most this often, not on every request.
const TOUCH_EVERY: i64 = 3600;

/// The CSRF token that forms on this page must carry.
#[derive(Clone)]
pub struct Csrf(pub String);

/// Whether cookies set on this response should be `Secure`.
#[derive(Clone, Copy)]
pub struct SecureCookie(pub bool);

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, request).await {
        Ok((request, new_csrf_cookie, secure)) => {
            let mut response = next.run(request).await;
            if let Some(token) = new_csrf_cookie {
                append_cookie(&mut response, &cookie(CSRF_COOKIE, &token, None, secure));
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn check(
    state: &AppState,
    request: Request,
) -> Result<(Request, Option<String>, bool), AppError> {
    let secure = match state.config.secure_cookies {
        SecureCookies::Always => true,
        SecureCookies::Never => false,
        SecureCookies::Auto => {
            header_str(request.headers(), "x-forwarded-proto").is_some_and(|p| p == "https")
        }
    };
    let session = match cookie_value(request.headers(), SESSION_COOKIE) {
        Some(token) => load_session(state, auth::token_hash(&token)).await?,
        None => None,
    };
    let mut new_csrf_cookie = None;
    let csrf = match &session {
        Some(s) => s.csrf_token.clone(),
        None => match cookie_value(request.headers(), CSRF_COOKIE).filter(|v| v.len() >= 32) {
            Some(value) => value,
            None => {
                let token = auth::random_token();
                new_csrf_cookie = Some(token.clone());
                token
            }
        },
    };

    let mut request = request;
    if !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        request = verify_csrf(request, &csrf).await?;
    }
    request.extensions_mut().insert(Csrf(csrf));
    request.extensions_mut().insert(SecureCookie(secure));
    if let Some(session) = session {
        request.extensions_mut().insert(session);
    }
    Ok((request, new_csrf_cookie, secure))
}

async fn load_session(state: &AppState, token_hash: String) -> Result<Option<Session>, AppError> {
    let now = time::now();
    let session = state
        .db
        .read(move |c| Ok(db::sessions::by_token_hash(c, &token_hash, now)?))
        .await?;
    if let Some(s) = &session
        && now - s.last_seen_at > TOUCH_EVERY
    {
        let id = s.id;
        state
            .db
            .write(move |c| {
                Ok(db::sessions::touch(
                    c,
                    id,
                    now,
                    now + SESSION_DAYS * 86_400,
                )?)
            })
            .await?;
    }
    Ok(session)
}

async fn verify_csrf(request: Request, expected: &str) -> Result<Request, AppError> {
    let refused = || {
        AppError::Forbidden(
            "This form has expired or was sent from another site. Go back, reload the page \
             and try again."
                .into(),
        )
    };
    // A browser that names the page's origin must name ours.
    if let (Some(origin), Some(host)) = (
        header_str(request.headers(), "origin"),
        header_str(request.headers(), "host"),
    ) {
        let origin_host = origin.split("://").nth(1).unwrap_or("");
        if origin_host != host {
            return Err(refused());
        }
    }
    if let Some(sent) = header_str(request.headers(), CSRF_HEADER) {
        return if auth::constant_time_eq(sent, expected) {
            Ok(request)
        } else {
            Err(refused())
        };
    }
    if let Some(sent) = request
        .uri()
        .query()
        .and_then(|q| form_field(q.as_bytes(), CSRF_FIELD))
    {
        return if auth::constant_time_eq(&sent, expected) {
            Ok(request)
        } else {
            Err(refused())
        };
    }
    let is_form = header_str(request.headers(), "content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(refused());
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| AppError::BadRequest("The form is too large.".into()))?;
    match form_field(&bytes, CSRF_FIELD) {
        Some(sent) if auth::constant_time_eq(&sent, expected) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(refused()),
    }
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `max_age` None is a browser-session cookie; Some(0) deletes it.
pub fn cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

pub fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The logged-in user of a page. Without one, pages send the browser to the login form,
/// or to the setup form while no user exists yet.
#[derive(Clone)]
pub struct CurrentUser {
    pub user: User,
    pub session_id: i64,
    pub csrf: String,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Some(session) = parts.extensions.get::<Session>() {
            let csrf = session.csrf_token.clone();
            return Ok(CurrentUser {
                user: session.user.clone(),
                session_id: session.id,
                csrf,
            });
        }
        let users = state
            .db
            .read(|c| Ok(db::users::count(c)?))
            .await
            .map_err(|e| AppError::from(e).into_response())?;
        let to = if users == 0 { "/setup" } else { "/login" };
        Err(Redirect::to(to).into_response())
    }
}

/// A logged-in administrator.
pub struct AdminUser(pub CurrentUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let current = CurrentUser::from_request_parts(parts, state).await?;
        if !current.user.is_admin {
            return Err(
                AppError::Forbidden("Only an administrator can do this.".into()).into_response(),
            );
        }
        Ok(AdminUser(current))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Csrf {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<Csrf>()
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("CSRF layer missing")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SecureCookie {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<SecureCookie>()
            .copied()
            .unwrap_or(SecureCookie(false)))
    }
}
