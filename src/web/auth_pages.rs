//! First-run setup, login and logout.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::error::{AppError, AppResult};
use super::layout::Layout;
use super::session::{self, Csrf, SecureCookie};
use crate::auth::{self, MIN_PASSWORD_LEN, SESSION_DAYS};
use crate::db::sessions::Session;
use crate::{db, time};

#[derive(Template, WebTemplate)]
#[template(path = "setup.html")]
struct SetupPage {
    layout: Layout,
    error: Option<String>,
    name: String,
    min_password: usize,
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
    name: String,
}

#[derive(Deserialize)]
pub struct SetupForm {
    name: String,
    password: String,
    password_again: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
}

async fn user_count(state: &AppState) -> AppResult<i64> {
    Ok(state.db.read(|c| Ok(db::users::count(c)?)).await?)
}

pub async fn setup_form(State(state): State<AppState>, csrf: Csrf) -> AppResult<Response> {
    if user_count(&state).await? > 0 {
        return Ok(Redirect::to("/login").into_response());
    }
    let page = SetupPage {
        layout: Layout::anonymous(csrf),
        error: None,
        name: String::new(),
        min_password: MIN_PASSWORD_LEN,
    };
    Ok(page.into_response())
}

pub async fn setup(
    State(state): State<AppState>,
    csrf: Csrf,
    secure: SecureCookie,
    Form(form): Form<SetupForm>,
) -> AppResult<Response> {
    let name = form.name.trim().to_string();
    let problem = auth::check_user_name(&name)
        .and_then(|_| auth::check_new_password(&form.password))
        .and_then(|_| {
            (form.password == form.password_again)
                .then_some(())
                .ok_or_else(|| "The two passwords differ.".to_string())
        });
    if let Err(error) = problem {
        let page = SetupPage {
            layout: Layout::anonymous(csrf),
            error: Some(error),
            name,
            min_password: MIN_PASSWORD_LEN,
        };
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    let hash = hash_password(form.password).await?;
    let now = time::now();
    let created = state
        .db
        .write(move |c| Ok(db::users::insert_first_admin(c, &name, &hash, now)?))
        .await?;
    let Some(user_id) = created else {
        return Ok(Redirect::to("/login").into_response());
    };
    start_session(&state, user_id, secure).await
}

pub async fn login_form(
    State(state): State<AppState>,
    csrf: Csrf,
    session: Option<axum::Extension<Session>>,
) -> AppResult<Response> {
    if session.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    if user_count(&state).await? == 0 {
        return Ok(Redirect::to("/setup").into_response());
    }
    let page = LoginPage {
        layout: Layout::anonymous(csrf),
        error: None,
        name: String::new(),
    };
    Ok(page.into_response())
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    csrf: Csrf,
    secure: SecureCookie,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let name = form.name.trim().to_string();
    let mut keys = vec![format!("user:{}", name.to_lowercase())];
    // Behind `tailscale serve` every request comes from loopback; throttling that address
    // would lock the whole household out, so only remote addresses get their own key.
    if !peer.ip().is_loopback() {
        keys.push(format!("ip:{}", peer.ip()));
    }
    if let Some(wait) = state.throttle.wait(&keys) {
        return Err(AppError::TooManyRequests(format!(
            "Too many failed logins. Try again in {} seconds.",
            wait.as_secs().max(1)
        )));
    }
    let lookup = name.clone();
    let found = state
        .db
        .read(move |c| Ok(db::users::credentials_by_name(c, &lookup)?))
        .await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, auth::dummy_hash().to_string()),
    };
    let password = form.password;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash)).await?;
    match user {
        Some(user) if ok => {
            state.throttle.record_success(&keys);
            tracing::info!(user = %user.name, "login");
            start_session(&state, user.id, secure).await
        }
        _ => {
            state.throttle.record_failure(&keys);
            tracing::warn!(user = %name, "failed login");
            let page = LoginPage {
                layout: Layout::anonymous(csrf),
                error: Some("Wrong user name or password.".into()),
                name,
            };
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    secure: SecureCookie,
    headers: axum::http::HeaderMap,
) -> AppResult<Response> {
    if let Some(token) = session::cookie_value(&headers, session::SESSION_COOKIE) {
        let hash = auth::token_hash(&token);
        state
            .db
            .write(move |c| Ok(db::sessions::delete_by_token_hash(c, &hash)?))
            .await?;
    }
    let mut response = Redirect::to("/login").into_response();
    session::append_cookie(
        &mut response,
        &session::cookie(session::SESSION_COOKIE, "", Some(0), secure.0),
    );
    Ok(response)
}

pub async fn hash_password(password: String) -> AppResult<String> {
    Ok(tokio::task::spawn_blocking(move || auth::hash_password(&password)).await??)
}

async fn start_session(
    state: &AppState,
    user_id: i64,
    secure: SecureCookie,
) -> AppResult<Response> {
    let token = auth::random_token();
    let (hash, csrf) = (auth::token_hash(&token), auth::random_token());
    let now = time::now();
    state
        .db
        .write(move |c| {
            db::sessions::delete_expired(c, now)?;
            db::sessions::insert(c, &hash, user_id, &csrf, now, now + SESSION_DAYS * 86_400)?;
            Ok(())
        })
        .await?;
    let mut response = Redirect::to("/").into_response();
    let max_age = Some(SESSION_DAYS * 86_400);
    session::append_cookie(
        &mut response,
        &session::cookie(session::SESSION_COOKIE, &token, max_age, secure.0),
    );
    Ok(response)
}
