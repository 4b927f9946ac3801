//! Serving stored media to its owner only, with Range support (video and audio seek).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::AppState;
use super::error::{AppError, AppResult};
use super::session::CurrentUser;
use crate::db;

/// The file of media `id` if `user_id` owns it and it is stored. Shared by the pages and
/// `GET /api/v1/media/{id}`.
pub async fn serve(
    state: &AppState,
    user_id: i64,
    id: i64,
    request: Request,
) -> AppResult<Response> {
    let file = state
        .db
        .read(move |c| Ok(db::media::for_user_by_id(c, user_id, id)?))
        .await?
        .ok_or(AppError::NotFound)?;
    let (Some(path), Some(content_type)) = (file.path, file.content_type) else {
        return Err(AppError::NotFound);
    };
    let full = state.downloader.root().join(&path);
    let response = ServeFile::new(full)
        .oneshot(request)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let mut response = response.map(Body::new);
    if response.status().is_success()
        && let Ok(value) = HeaderValue::from_str(&content_type)
    {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    let headers = response.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    // An archived SVG opened directly must not run scripts on our origin.
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    Ok(response.into_response())
}

pub async fn show(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
    request: Request,
) -> AppResult<Response> {
    serve(&state, current.user.id, id, request).await
}
