//! The web server: server-rendered pages (askama + htmx) and the JSON API.
//! Handlers only read or enqueue; every query lives in `db/`.

mod api;
mod archive;
mod assets;
mod auth_pages;
mod connections;
mod dashboard;
mod emergency;
pub mod error;
mod health;
mod imports;
mod layout;
mod media;
mod oauth;
mod queue;
mod session;
mod settings;
mod users;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::app::App;
use crate::auth::LoginThrottle;
use error::AppError;

pub use session::{Csrf, CurrentUser};

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub throttle: Arc<LoginThrottle>,
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

pub fn router(app: App) -> Router {
    let state = AppState {
        app,
        throttle: Arc::new(LoginThrottle::default()),
    };
    let pages = Router::new()
        .route("/", get(dashboard::show))
        .route(
            "/setup",
            get(auth_pages::setup_form).post(auth_pages::setup),
        )
        .route(
            "/login",
            get(auth_pages::login_form).post(auth_pages::login),
        )
        .route("/logout", post(auth_pages::logout))
        .route("/settings", get(settings::show))
        .route("/settings/password", post(settings::change_password))
        .route("/settings/api-keys", post(settings::create_api_key))
        .route(
            "/settings/api-keys/{id}/delete",
            post(settings::delete_api_key),
        )
        .route("/users", get(users::list).post(users::create))
        .route(
            "/connections",
            get(connections::list).post(connections::create),
        )
        .route("/connections/oauth", post(oauth::start))
        .route("/connections/{id}/reconnect", post(oauth::reconnect))
        .route(
            "/connections/{id}/schedule",
            post(connections::set_schedule),
        )
        .route(
            "/connections/{id}/credentials",
            post(connections::replace_secret),
        )
        .route("/oauth/callback", get(oauth::callback))
        .route("/settings/oauth-clients", post(oauth::save_client))
        .route(
            "/settings/oauth-clients/{id}/delete",
            post(oauth::delete_client),
        )
        .route("/connections/{id}", get(connections::show))
        .route("/connections/{id}/sync", post(connections::sync_now))
        .route("/connections/{id}/status", get(connections::sync_status))
        .route("/archive", get(archive::timeline))
        .route("/posts/{id}", get(archive::show))
        .route("/media/{id}", get(media::show))
        .route(
            "/imports",
            get(imports::list)
                .post(imports::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/imports/{id}", get(imports::show))
        .route("/imports/{id}/status", get(imports::status))
        .route("/emergency", get(emergency::show))
        .route("/emergency/status", get(emergency::live))
        .route("/emergency/settings", post(emergency::settings))
        .route("/emergency/start", post(emergency::start_chosen))
        .route("/emergency/{platform}/start", post(emergency::start))
        .route("/emergency/{platform}/stop", post(emergency::stop))
        .route("/health", get(health::show))
        .route("/health/check", post(health::check))
        .route("/health/ollama", post(health::set_ollama))
        .route("/health/{platform}/signals", post(health::add_signal))
        .route("/health/{platform}/sources", post(health::set_sources))
        .route("/queue", get(queue::show))
        .route("/queue/{stage}/{id}/retry", post(queue::retry))
        .route("/queue/{stage}/{id}/discard", post(queue::discard))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::layer,
        ))
        .layer(middleware::from_fn(page_headers));
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/static/{*path}", get(assets::serve))
        .nest("/api/v1", api::router())
        .merge(pages)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Defence in depth for pages: even if archived HTML slipped past the sanitizer, no
/// script but our own runs, and no page can be framed by another site.
async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key("content-security-policy") {
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' https: data:; media-src 'self'; \
                 style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
            ),
        );
    }
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    html_errors(response).await
}

/// axum's own rejections (a malformed id in a URL, a bad form) answer in plain text;
/// people get the same error page as for every other error.
async fn html_errors(response: Response) -> Response {
    let status = response.status();
    let is_plain = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    if !status.is_client_error() || !is_plain {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&body).trim().to_string();
    let error = match status.as_u16() {
        404 => AppError::NotFound,
        _ => AppError::BadRequest(message),
    };
    let mut page = error.into_response();
    *page.status_mut() = status;
    page
}

async fn not_found() -> AppError {
    AppError::NotFound
}

/// One line per request. The route pattern is logged, never the raw path or query, since
/// those can carry secrets (webhook tokens, OAuth codes).
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "(unmatched)".into());
    let response = next.run(request).await;
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish (up to a few
/// seconds) and closes the database cleanly.
pub async fn serve(app: App, listen: SocketAddr) -> Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, data = %app.config.data_dir.display(), "Lifeboat is serving");
    println!("Lifeboat is serving on http://{local}");

    let db = app.db.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(crate::workers::run(app.clone(), stop_rx.clone()));
    let tick = Duration::from_secs(app.config.scheduler_tick_secs.max(1));
    let mut scheduler = match app.config.scheduler_enabled {
        true => Some(crate::scheduler::start(&app, tick).await?),
        false => None,
    };
    let server = axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut stop = stop_rx.clone();
    let grace = async move {
        let _ = stop.wait_for(|s| *s).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    tokio::select! {
        result = server => result.context("server failed")?,
        _ = grace => tracing::warn!("requests still running after 5 s; stopping anyway"),
    }
    if let Some(scheduler) = scheduler.as_mut()
        && let Err(e) = scheduler.shutdown().await
    {
        tracing::warn!(error = %e, "scheduler did not stop cleanly");
    }
    // Workers finish their current round (a batch commits or rolls back whole).
    if tokio::time::timeout(Duration::from_secs(5), workers)
        .await
        .is_err()
    {
        tracing::warn!("background work still running after 5 s; it resumes at next start");
    }
    tokio::task::spawn_blocking(move || db.close()).await??;
    tracing::info!("Lifeboat stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
