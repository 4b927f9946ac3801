//! The JSON API: `Authorization: Bearer KEY`, JSON in and out,
//! errors as `{"error": "...", "detail": ...}`.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, ApiResult, AppError};
use super::layout::VERSION;
use crate::db::connections::Connection;
use crate::db::users::User;
use crate::{auth, db, time};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/platforms", get(platforms))
        .route("/connections", get(connections))
        .route("/connections/{id}", get(connection))
        .fallback(|| async { ApiError(AppError::NotFound) })
}

/// The owner of the API key the request carries.
pub struct ApiUser(pub User);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError(AppError::Unauthorized))?;
        let hash = auth::token_hash(key);
        let found = state
            .db
            .read(move |c| Ok(db::api_keys::user_by_hash(c, &hash)?))
            .await?;
        let (key_id, user) = found.ok_or(ApiError(AppError::Unauthorized))?;
        let now = time::now();
        state.db.write(move |c| Ok(db::api_keys::mark_used(c, key_id, now)?)).await?;
        Ok(ApiUser(user))
    }
}

/// Liveness and database status, without a login (for launchd checks and monitors).
pub async fn healthz(State(state): State<AppState>) -> (axum::http::StatusCode, Json<Value>) {
    let database = state
        .db
        .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await;
    let (status, db_status) = match database {
        Ok(_) => (axum::http::StatusCode::OK, "ok"),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    };
    let ok = status.is_success();
    (status, Json(json!({ "status": if ok { "ok" } else { "error" }, "version": VERSION, "database": db_status })))
}

#[derive(Serialize)]
struct PlatformJson {
    id: String,
    name: String,
    status: String,
    health_score: Option<i64>,
    emergency: bool,
    shutdown_date: Option<String>,
}

async fn platforms(State(state): State<AppState>, _user: ApiUser) -> ApiResult<Json<Value>> {
    let rows = state.db.read(|c| Ok(db::platforms::all(c)?)).await?;
    let items: Vec<PlatformJson> = rows
        .into_iter()
        .map(|p| PlatformJson {
            id: p.id,
            name: p.name,
            status: p.status,
            health_score: p.health_score,
            emergency: p.emergency,
            shutdown_date: p.shutdown_date.map(time::rfc3339),
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(Serialize)]
struct ConnectionJson {
    id: i64,
    platform: String,
    kind: String,
    label: String,
    url: Option<String>,
    handle: Option<String>,
    has_credentials: bool,
    backup_frequency: String,
    sync_enabled: bool,
    status: String,
    last_sync_at: Option<String>,
    last_error: Option<String>,
    error_count: i64,
    created_at: String,
}

impl From<Connection> for ConnectionJson {
    fn from(c: Connection) -> Self {
        ConnectionJson {
            id: c.id,
            platform: c.platform,
            kind: c.kind,
            label: c.label,
            url: c.url,
            handle: c.handle,
            has_credentials: c.has_credentials,
            backup_frequency: c.backup_frequency,
            sync_enabled: c.sync_enabled,
            status: c.status,
            last_sync_at: c.last_sync_at.map(time::rfc3339),
            last_error: c.last_error,
            error_count: c.error_count,
            created_at: time::rfc3339(c.created_at),
        }
    }
}

async fn connections(State(state): State<AppState>, ApiUser(user): ApiUser) -> ApiResult<Json<Value>> {
    let rows = state
        .db
        .read(move |c| Ok(db::connections::for_user(c, user.id)?))
        .await?;
    let items: Vec<ConnectionJson> = rows.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "items": items, "cursor": null })))
}

async fn connection(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<ConnectionJson>> {
    let row = state
        .db
        .read(move |c| Ok(db::connections::for_user_by_id(c, user.id, id)?))
        .await?
        .ok_or(ApiError(AppError::NotFound))?;
    Ok(Json(row.into()))
}
