//! The JSON API: `Authorization: Bearer KEY`, JSON in and out,
//! errors as `{"error": "...", "detail": ...}`.

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::archive::PostQuery;
use super::error::{ApiError, ApiResult, AppError};
use super::layout::VERSION;
use crate::db::connections::Connection;
use crate::db::posts::Post;
use crate::db::users::User;
use crate::{auth, connect, db, sync, time};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/platforms", get(platforms))
        .route("/connections", get(connections).post(create_connection))
        .route("/connections/{id}", get(connection))
        .route("/connections/{id}/sync", post(sync_connection))
        .route("/connections/{id}/sync_logs", get(sync_logs))
        .route("/posts", get(posts))
        .route("/posts/{id}", get(post_with_media))
        .route("/media/{id}", get(media))
        .route("/queue", get(queue))
        .route(
            "/imports",
            get(imports)
                .post(create_import)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/imports/{id}", get(import))
        .route(
            "/connections/{id}/webhook",
            post(super::webhooks::create_strava_webhook),
        )
        .route(
            "/webhooks/strava/{token}",
            get(super::webhooks::strava_handshake).post(super::webhooks::strava_event),
        )
        .fallback(|| async { ApiError(AppError::NotFound) })
        .layer(axum::middleware::map_response(json_errors))
}

/// axum's own rejections (a malformed id in the path, a body that is not JSON) answer in
/// plain text; the API promises JSON errors, so they are rewrapped here, in one place.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let detail = String::from_utf8_lossy(&body).trim().to_string();
    let error = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    (status, Json(json!({ "error": error, "detail": detail }))).into_response()
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
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .ok_or(ApiError(AppError::Unauthorized))?;
        let hash = auth::token_hash(key);
        let found = state
            .db
            .read(move |c| Ok(db::api_keys::user_by_hash(c, &hash)?))
            .await?;
        let (key_id, user) = found.ok_or(ApiError(AppError::Unauthorized))?;
        let now = time::now();
        state
            .db
            .write(move |c| Ok(db::api_keys::mark_used(c, key_id, now)?))
            .await?;
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
    (
        status,
        Json(
            json!({ "status": if ok { "ok" } else { "error" }, "version": VERSION, "database": db_status }),
        ),
    )
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

async fn connections(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> ApiResult<Json<Value>> {
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

#[derive(serde::Deserialize)]
struct NewConnectionJson {
    platform: String,
    url: Option<String>,
    handle: Option<String>,
    /// A token or app password; stored encrypted, never returned.
    secret: Option<String>,
}

async fn create_connection(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Json(body): Json<NewConnectionJson>,
) -> ApiResult<(StatusCode, Json<ConnectionJson>)> {
    let request = connect::Request {
        user_id: user.id,
        platform: body.platform,
        url: body.url,
        handle: body.handle,
        secret: body.secret,
    };
    let id = connect::add(&state, request)
        .await
        .map_err(|e| ApiError(AppError::BadRequest(format!("{e:#}"))))?;
    let row = state
        .db
        .read(move |c| Ok(db::connections::for_user_by_id(c, user.id, id)?))
        .await?
        .ok_or(ApiError(AppError::NotFound))?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// A streamed multipart upload (fields `platform`, optional, then `file`); answers 202
/// with the import's id at once, while the import runs.
async fn create_import(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    multipart: axum::extract::Multipart,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = super::imports::receive(&state, user.id, multipart).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "status_url": format!("/api/v1/imports/{id}") })),
    ))
}

async fn imports(State(state): State<AppState>, ApiUser(user): ApiUser) -> ApiResult<Json<Value>> {
    let imports = state
        .db
        .read(move |c| Ok(db::imports::for_user(c, user.id, 100)?))
        .await?;
    Ok(Json(json!({ "items": imports, "cursor": null })))
}

/// One import with its counts; `skipped` lists what was not imported and why.
async fn import(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let status = super::imports::status_of(&state, user.id, id).await?;
    Ok(Json(status.to_json()))
}

/// Starts a sync and answers at once with the id of its log.
async fn sync_connection(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let owned = state
        .db
        .read(move |c| Ok(db::connections::for_user_by_id(c, user.id, id)?))
        .await?;
    if owned.is_none() {
        return Err(ApiError(AppError::NotFound));
    }
    let log = sync::begin(&state, user.id, id, "api")
        .await
        .map_err(|e| ApiError(AppError::Conflict(format!("{e:#}"))))?;
    let app = state.app.clone();
    tokio::spawn(async move {
        if let Err(e) = sync::run(&app, id, log, sync::Wait::Everything).await {
            tracing::error!(connection = id, error = %format!("{e:#}"), "sync failed");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(json!({ "sync_log_id": log }))))
}

async fn sync_logs(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let logs = state
        .db
        .read(move |c| {
            if db::connections::for_user_by_id(c, user.id, id)?.is_none() {
                return Ok(None);
            }
            Ok(Some(db::sync_logs::for_connection(c, user.id, id, 100)?))
        })
        .await?
        .ok_or(ApiError(AppError::NotFound))?;
    Ok(Json(json!({ "items": logs, "cursor": null })))
}

#[derive(Serialize)]
struct PostJson {
    id: i64,
    connection_id: i64,
    platform: String,
    platform_post_id: String,
    kind: String,
    author: Option<String>,
    title: Option<String>,
    text: String,
    url: Option<String>,
    created_at: Option<String>,
    engagement: Option<Value>,
    reply_to: Option<String>,
    repost_of: Option<String>,
    has_media: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<String>,
}

impl From<Post> for PostJson {
    fn from(p: Post) -> Self {
        PostJson {
            id: p.id,
            connection_id: p.connection_id,
            platform: p.platform,
            platform_post_id: p.platform_post_id,
            kind: p.kind,
            author: p.author,
            title: p.title,
            text: p.text,
            url: p.url,
            created_at: p.created_at_platform.map(time::rfc3339),
            engagement: p.engagement.and_then(|e| serde_json::from_str(&e).ok()),
            reply_to: p.reply_to,
            repost_of: p.repost_of,
            has_media: p.has_media,
            snippet: p.snippet.map(|s| {
                s.replace(db::posts::MARK_START, "[")
                    .replace(db::posts::MARK_END, "]")
            }),
        }
    }
}

async fn posts(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Query(query): Query<PostQuery>,
) -> ApiResult<Json<Value>> {
    let filter = query.filter(user.id)?;
    let (rows, next) = state
        .db
        .read(move |c| Ok(db::posts::list(c, &filter)?))
        .await?;
    let items: Vec<PostJson> = rows.into_iter().map(Into::into).collect();
    Ok(Json(
        json!({ "items": items, "cursor": next.map(|c| c.encode()) }),
    ))
}

async fn post_with_media(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let (row, media) = state
        .db
        .read(move |c| {
            let Some(post) = db::posts::for_user_by_id(c, user.id, id)? else {
                return Ok(None);
            };
            let media = db::media::for_post(c, post.id)?;
            Ok(Some((post, media)))
        })
        .await?
        .ok_or(ApiError(AppError::NotFound))?;
    let media: Vec<Value> = media
        .into_iter()
        .map(|m| {
            json!({
                "id": m.id, "url": m.url, "kind": m.kind, "status": m.status,
                "content_type": m.content_type, "size": m.size, "sha256": m.sha256,
                "href": (m.status == "completed").then(|| format!("/api/v1/media/{}", m.id)),
            })
        })
        .collect();
    let mut body = serde_json::to_value(PostJson::from(row)).map_err(AppError::from)?;
    body["media"] = Value::Array(media);
    Ok(Json(body))
}

async fn media(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
    request: Request,
) -> ApiResult<Response> {
    Ok(super::media::serve(&state, user.id, id, request).await?)
}

async fn queue(State(state): State<AppState>, ApiUser(user): ApiUser) -> ApiResult<Json<Value>> {
    let (depths, dead) = state
        .db
        .read(move |c| {
            Ok((
                db::queue::depths(c, user.id)?,
                db::queue::dead_letters(c, user.id, 200)?,
            ))
        })
        .await?;
    Ok(Json(json!({ "stages": depths, "dead_letters": dead })))
}
