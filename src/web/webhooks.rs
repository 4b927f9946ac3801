//! Platform webhooks, under `/api/v1/webhooks/{platform}/{token}`: the token is the
//! connection's secret path segment (`connections.webhook_token`), so a webhook reaches
//! exactly one connection and an unknown path answers 404. Handlers only store the event
//! as a raw item (source 'webhook') and answer at once; the pipeline and the next sync do
//! the rest.
//!
//! Strava (https://developers.strava.com/docs/webhooks/): the subscription is verified by
//! `GET ?hub.mode=subscribe&hub.challenge=..&hub.verify_token=..`, answered with
//! `{"hub.challenge": ..}` within two seconds; Lifeboat's verify token is the path token
//! itself. Events are `POST`ed as JSON and must be acknowledged with a 200 within two
//! seconds.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::AppState;
use super::api::ApiUser;
use super::error::{ApiError, ApiResult, AppError};
use crate::connectors::strava;
use crate::db::stages::{ItemState, NewItem};
use crate::db::{self, immediate};
use crate::{auth, time};

/// The connection a Strava webhook path names: (id, user_id).
async fn strava_connection(state: &AppState, token: String) -> ApiResult<(i64, i64)> {
    state
        .db
        .read(move |c| Ok(db::connections::by_webhook_token(c, "strava", &token)?))
        .await?
        .ok_or(ApiError(AppError::NotFound))
}

/// Strava's subscription check.
pub async fn strava_handshake(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    strava_connection(&state, token.clone()).await?;
    let verify = query.get("hub.verify_token").map(String::as_str);
    if !verify.is_some_and(|v| auth::constant_time_eq(v, &token)) {
        return Err(ApiError(AppError::Forbidden(
            "the verify token does not match".into(),
        )));
    }
    let challenge = query.get("hub.challenge");
    match (query.get("hub.mode").map(String::as_str), challenge) {
        (Some("subscribe"), Some(challenge)) => Ok(Json(json!({ "hub.challenge": challenge }))),
        _ => Err(ApiError(AppError::BadRequest(
            "expected hub.mode=subscribe and a hub.challenge".into(),
        ))),
    }
}

/// A Strava event: stored, the connection asked to sync soon when an activity changed.
pub async fn strava_event(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (connection_id, user_id) = strava_connection(&state, token).await?;
    let event = strava::webhook_event(&body).map_err(|e| ApiError(AppError::BadRequest(e)))?;
    state
        .db
        .write(move |c| {
            let tx = immediate(c)?;
            let now = time::now();
            let new = NewItem {
                user_id,
                connection_id,
                sync_log_id: None,
                source: "webhook",
                item: &event.item,
                compressed: None,
            };
            db::stages::insert_item(&tx, &new, ItemState::Pending, now)?;
            if event.sync_soon {
                db::connections::sync_soon(&tx, connection_id, now)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.wake.notify_one();
    Ok(Json(json!({ "status": "ok" })))
}

/// `POST /api/v1/connections/{id}/webhook`: gives a Strava connection a webhook path (a
/// new one replaces the old) and answers what to register with Strava.
pub async fn create_strava_webhook(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let connection = state
        .db
        .read(move |c| Ok(db::connections::for_user_by_id(c, user.id, id)?))
        .await?
        .ok_or(ApiError(AppError::NotFound))?;
    if connection.platform != "strava" {
        return Err(ApiError(AppError::BadRequest(
            "only Strava connections have webhooks".into(),
        )));
    }
    let token = auth::random_token();
    let stored = token.clone();
    state
        .db
        .write(move |c| {
            Ok(db::connections::set_webhook_token(
                c,
                user.id,
                id,
                &stored,
                time::now(),
            )?)
        })
        .await?;
    let path = format!("/api/v1/webhooks/strava/{token}");
    let public = state.config.public_url.trim_end_matches('/');
    Ok(Json(json!({
        "callback_url": format!("{public}{path}"),
        "verify_token": token,
    })))
}
