//! Connections: the list, adding a feed, one connection's page with its sync history,
//! and "Sync now" with live progress.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::error::{AppError, AppResult};
use super::layout::Layout;
use super::session::CurrentUser;
use crate::connectors::{self, Auth};
use crate::db::connections::Connection;
use crate::db::sync_logs::SyncLog;
use crate::{connect, db, sync, time};

#[derive(Template, WebTemplate)]
#[template(path = "connections.html")]
struct ConnectionsPage {
    layout: Layout,
    now: i64,
    connections: Vec<Connection>,
    error: Option<String>,
    url: String,
    options: Vec<ConnectOption>,
}

/// One platform's "connect" form, as its connector's auth asks.
struct ConnectOption {
    platform: &'static str,
    name: &'static str,
    /// oauth2, app_password, token (a feed has its own form).
    how: &'static str,
    /// The person must give a server address (no default host).
    needs_url: bool,
    default_url: &'static str,
    note: Option<&'static str>,
}

fn how(auth: Auth) -> &'static str {
    match auth {
        Auth::None => "none",
        Auth::OAuth2(_) => "oauth2",
        Auth::AppPassword | Auth::Session => "app_password",
        Auth::Token => "token",
    }
}

fn connect_options() -> Vec<ConnectOption> {
    connectors::ALL
        .iter()
        .filter_map(|c| {
            let how = how(c.auth());
            if how == "none" {
                return None;
            }
            Some(ConnectOption {
                platform: c.platform().id(),
                name: c.platform().name(),
                how,
                needs_url: c.default_url().is_none(),
                default_url: c.default_url().unwrap_or(""),
                note: c.note(),
            })
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "connection.html")]
struct ConnectionPage {
    layout: Layout,
    /// How the account connects (oauth2, app_password, token, none): the reconnect form.
    how: &'static str,
    connection: Connection,
    post_count: i64,
    logs: Vec<SyncLog>,
    status: SyncStatus,
}

/// The live part of a connection's page: its latest sync, polled while it runs.
#[derive(Template, WebTemplate)]
#[template(path = "sync_status.html")]
struct SyncStatus {
    connection_id: i64,
    csrf: String,
    syncing: bool,
    latest: Option<SyncLog>,
    error: Option<String>,
}

async fn connections_page(
    state: &AppState,
    current: &CurrentUser,
    error: Option<String>,
    url: String,
) -> AppResult<ConnectionsPage> {
    let user_id = current.user.id;
    let connections = state
        .db
        .read(move |c| Ok(db::connections::for_user(c, user_id)?))
        .await?;
    Ok(ConnectionsPage {
        layout: Layout::for_user(state, current).await?,
        now: time::now(),
        connections,
        error,
        url,
        options: connect_options(),
    })
}

pub async fn list(State(state): State<AppState>, current: CurrentUser) -> AppResult<Response> {
    Ok(connections_page(&state, &current, None, String::new())
        .await?
        .into_response())
}

/// A feed (the default), or an account with an app password or token.
#[derive(Deserialize)]
pub struct NewConnectionForm {
    #[serde(default = "feed")]
    platform: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    handle: String,
    #[serde(default)]
    secret: String,
}

fn feed() -> String {
    "feed".into()
}

pub async fn create(
    State(state): State<AppState>,
    current: CurrentUser,
    Form(form): Form<NewConnectionForm>,
) -> AppResult<Response> {
    let filled = |v: &str| (!v.trim().is_empty()).then(|| v.to_string());
    let request = connect::Request {
        user_id: current.user.id,
        platform: form.platform.clone(),
        url: filled(&form.url),
        handle: filled(&form.handle),
        secret: filled(&form.secret),
    };
    match connect::add(&state, request).await {
        Ok(id) => Ok(Redirect::to(&format!("/connections/{id}")).into_response()),
        Err(e) => {
            let page = connections_page(&state, &current, Some(format!("{e:#}")), form.url).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
    }
}

async fn load(state: &AppState, user_id: i64, id: i64) -> AppResult<Connection> {
    state
        .db
        .read(move |c| Ok(db::connections::for_user_by_id(c, user_id, id)?))
        .await?
        .ok_or(AppError::NotFound)
}

async fn status(
    state: &AppState,
    current: &CurrentUser,
    id: i64,
    error: Option<String>,
) -> AppResult<SyncStatus> {
    let connection = load(state, current.user.id, id).await?;
    let user_id = current.user.id;
    let latest = state
        .db
        .read(move |c| Ok(db::sync_logs::for_connection(c, user_id, id, 1)?.pop()))
        .await?;
    Ok(SyncStatus {
        connection_id: id,
        csrf: current.csrf.clone(),
        syncing: connection.status == "syncing",
        latest,
        error,
    })
}

pub async fn show(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let connection = load(&state, current.user.id, id).await?;
    let user_id = current.user.id;
    let (post_count, logs) = state
        .db
        .read(move |c| {
            Ok((
                db::posts::count_for_connection(c, id)?,
                db::sync_logs::for_connection(c, user_id, id, 50)?,
            ))
        })
        .await?;
    let status = status(&state, &current, id, None).await?;
    let how = crate::platform::Platform::from_id(&connection.platform)
        .and_then(connectors::for_platform)
        .map_or("none", |c| how(c.auth()));
    let page = ConnectionPage {
        layout: Layout::for_user(&state, &current).await?,
        how,
        connection,
        post_count,
        logs,
        status,
    };
    Ok(page.into_response())
}

/// "Sync now": starts the sync in the background and answers at once. htmx swaps in the
/// live status; a browser without JavaScript is sent back to the connection's page.
pub async fn sync_now(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    load(&state, current.user.id, id).await?;
    let error = match sync::begin(&state, current.user.id, id, "manual").await {
        Ok(log) => {
            let app = state.app.clone();
            tokio::spawn(async move {
                if let Err(e) = sync::run(&app, id, log, sync::Wait::Everything).await {
                    tracing::error!(connection = id, error = %format!("{e:#}"), "sync failed");
                }
            });
            None
        }
        Err(e) => Some(format!("{e:#}")),
    };
    if headers.contains_key("hx-request") {
        Ok(status(&state, &current, id, error).await?.into_response())
    } else {
        Ok(Redirect::to(&format!("/connections/{id}")).into_response())
    }
}

pub async fn sync_status(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    Ok(status(&state, &current, id, None).await?.into_response())
}

#[derive(Deserialize)]
pub struct SecretForm {
    secret: String,
}

/// A new app password or token for a connection the platform stopped accepting.
pub async fn replace_secret(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<SecretForm>,
) -> AppResult<Response> {
    load(&state, current.user.id, id).await?;
    connect::replace_secret(&state, current.user.id, id, Some(form.secret))
        .await
        .map_err(|e| AppError::BadRequest(format!("{e:#}")))?;
    Ok(Redirect::to(&format!("/connections/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct ScheduleForm {
    frequency: String,
    #[serde(default)]
    paused: Option<String>,
}

/// How often a connection is backed up, or paused.
pub async fn set_schedule(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<ScheduleForm>,
) -> AppResult<Response> {
    let connection = load(&state, current.user.id, id).await?;
    if !["hourly", "daily", "weekly", "monthly"].contains(&form.frequency.as_str()) {
        return Err(AppError::BadRequest(
            "frequency is hourly, daily, weekly or monthly".into(),
        ));
    }
    let now = time::now();
    let next = connection.last_sync_at.map_or(now, |last| {
        crate::scheduler::next_sync_at(id, &form.frequency, last)
    });
    let (user_id, enabled) = (current.user.id, form.paused.is_none());
    state
        .db
        .write(move |c| {
            db::connections::set_schedule(c, user_id, id, &form.frequency, enabled, next, now)?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/connections/{id}")).into_response())
}
