//! Connecting accounts with OAuth2: the apps a person registered (settings page), "Connect
//! with …" (start), and the platform's redirect back (callback).

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::error::{AppError, AppResult};
use super::session::CurrentUser;
use crate::db::oauth::NewClient;
use crate::platform::Platform;
use crate::{db, oauth, time};

/// The redirect URL platforms send people back to: `public_url` from the configuration,
/// else the address this request came in on.
pub fn redirect_uri(state: &AppState, headers: &HeaderMap) -> String {
    let configured = state.config.public_url.trim().trim_end_matches('/');
    if !configured.is_empty() {
        return format!("{configured}{}", oauth::CALLBACK_PATH);
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or("127.0.0.1:8080");
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    format!("{scheme}://{host}{}", oauth::CALLBACK_PATH)
}

#[derive(Deserialize)]
pub struct ClientForm {
    platform: String,
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    authorize_url: String,
    #[serde(default)]
    token_url: String,
}

fn optional(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// Saves the app a person registered with a platform.
pub async fn save_client(
    State(state): State<AppState>,
    current: CurrentUser,
    Form(form): Form<ClientForm>,
) -> AppResult<Response> {
    let platform = Platform::from_id(&form.platform)
        .filter(|p| oauth::spec(*p).is_some())
        .ok_or_else(|| AppError::BadRequest("that platform does not use OAuth2 apps".into()))?;
    let client_id = optional(&form.client_id)
        .ok_or_else(|| AppError::BadRequest("the client id is required".into()))?;
    for url in [&form.authorize_url, &form.token_url] {
        if let Some(url) = optional(url)
            && url::Url::parse(&url).is_err()
        {
            return Err(AppError::BadRequest(format!("{url:?} is not a URL")));
        }
    }
    let secret = optional(&form.client_secret).map(|s| state.vault.encrypt(s.as_bytes()));
    let user_id = current.user.id;
    let (authorize_url, token_url) = (optional(&form.authorize_url), optional(&form.token_url));
    state
        .db
        .write(move |c| {
            let new = NewClient {
                user_id,
                platform: platform.id(),
                host: "",
                client_id: &client_id,
                client_secret: secret.as_deref(),
                authorize_url: authorize_url.as_deref(),
                token_url: token_url.as_deref(),
            };
            Ok(db::oauth::upsert_client(c, &new, time::now())?)
        })
        .await?;
    Ok(Redirect::to("/settings").into_response())
}

pub async fn delete_client(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let user_id = current.user.id;
    let deleted = state
        .db
        .write(move |c| Ok(db::oauth::delete_client(c, user_id, id)?))
        .await?;
    if !deleted {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/settings").into_response())
}

#[derive(Deserialize)]
pub struct StartForm {
    platform: String,
    #[serde(default)]
    url: String,
}

/// "Connect with …": sends the person to the platform to authorize Lifeboat.
pub async fn start(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> AppResult<Response> {
    let platform = Platform::from_id(&form.platform)
        .ok_or_else(|| AppError::BadRequest(format!("unknown platform {:?}", form.platform)))?;
    let redirect = redirect_uri(&state, &headers);
    let url = optional(&form.url);
    match oauth::begin(&state, current.user.id, platform, url, None, redirect).await {
        Ok(authorize) => Ok(Redirect::to(&authorize).into_response()),
        Err(e) => Err(AppError::BadRequest(format!("{e:#}"))),
    }
}

/// "Reconnect": a new authorization for an existing connection (refresh refused).
pub async fn reconnect(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let user_id = current.user.id;
    let connection = state
        .db
        .read(move |c| Ok(db::connections::for_user_by_id(c, user_id, id)?))
        .await?
        .ok_or(AppError::NotFound)?;
    let platform = Platform::from_id(&connection.platform).ok_or(AppError::NotFound)?;
    let redirect = redirect_uri(&state, &headers);
    match oauth::begin(
        &state,
        user_id,
        platform,
        connection.url,
        Some(id),
        redirect,
    )
    .await
    {
        Ok(authorize) => Ok(Redirect::to(&authorize).into_response()),
        Err(e) => Err(AppError::BadRequest(format!("{e:#}"))),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The platform's redirect back, with a code (or the person's refusal).
pub async fn callback(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(query): Query<CallbackQuery>,
) -> AppResult<Response> {
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        return Err(AppError::BadRequest(format!(
            "the platform did not authorize Lifeboat: {error} {description}"
        )));
    }
    let (Some(code), Some(flow)) = (query.code, query.state) else {
        return Err(AppError::BadRequest(
            "the platform's answer has no code or state".into(),
        ));
    };
    match oauth::finish(&state, current.user.id, &flow, &code).await {
        Ok(id) => Ok(Redirect::to(&format!("/connections/{id}")).into_response()),
        Err(e) => Err(AppError::BadRequest(format!("{e:#}"))),
    }
}
