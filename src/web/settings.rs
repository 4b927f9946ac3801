//! A person's own settings: password and API keys.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::auth_pages::hash_password;
use super::error::AppResult;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::auth::{self, MIN_PASSWORD_LEN};
use crate::db;
use crate::db::api_keys::ApiKeyInfo;
use crate::oauth;
use crate::platform::Platform;
use axum::http::HeaderMap;

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    notice: Option<String>,
    error: Option<String>,
    new_key: Option<String>,
    api_keys: Vec<ApiKeyInfo>,
    data_dir: String,
    media_dir: String,
    min_password: usize,
    oauth_apps: Vec<OAuthApp>,
    redirect_uri: String,
}

/// A platform that needs the person's own OAuth2 app, and the app saved for it, if any.
struct OAuthApp {
    platform: &'static str,
    name: &'static str,
    register_at: &'static str,
    default_authorize: &'static str,
    default_token: &'static str,
    saved: Option<SavedApp>,
}

struct SavedApp {
    id: i64,
    client_id: String,
    has_secret: bool,
    authorize_url: Option<String>,
    token_url: Option<String>,
}

#[derive(Default)]
struct Messages {
    notice: Option<String>,
    error: Option<String>,
    new_key: Option<String>,
}

async fn page(
    state: &AppState,
    current: &CurrentUser,
    headers: &HeaderMap,
    messages: Messages,
) -> AppResult<SettingsPage> {
    let user_id = current.user.id;
    let (api_keys, clients) = state
        .db
        .read(move |c| {
            Ok((
                db::api_keys::for_user(c, user_id)?,
                db::oauth::clients_for_user(c, user_id)?,
            ))
        })
        .await?;
    let oauth_apps = Platform::ALL
        .into_iter()
        .filter_map(|p| Some((p, oauth::spec(p)?)))
        .filter(|(_, spec)| !spec.registers_itself)
        .map(|(p, spec)| OAuthApp {
            platform: p.id(),
            name: p.name(),
            register_at: spec.register_at,
            default_authorize: spec.authorize_url,
            default_token: spec.token_url,
            saved: clients
                .iter()
                .find(|c| c.platform == p.id() && c.host.is_empty())
                .map(|c| SavedApp {
                    id: c.id,
                    client_id: c.client_id.clone(),
                    has_secret: c.client_secret.is_some(),
                    authorize_url: c.authorize_url.clone(),
                    token_url: c.token_url.clone(),
                }),
        })
        .collect();
    Ok(SettingsPage {
        layout: Layout::for_user(state, current).await?,
        notice: messages.notice,
        error: messages.error,
        new_key: messages.new_key,
        api_keys,
        data_dir: state.config.data_dir.display().to_string(),
        media_dir: state.config.media_root().display().to_string(),
        min_password: MIN_PASSWORD_LEN,
        oauth_apps,
        redirect_uri: super::oauth::redirect_uri(state, headers),
    })
}

pub async fn show(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
) -> AppResult<Response> {
    Ok(page(&state, &current, &headers, Messages::default())
        .await?
        .into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let user_id = current.user.id;
    let stored = state
        .db
        .read(move |c| Ok(db::users::password_hash(c, user_id)?))
        .await?
        .unwrap_or_default();
    let given = form.current;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&given, &stored)).await?;
    let problem = if ok {
        auth::check_new_password(&form.password).err()
    } else {
        Some("The current password is wrong.".to_string())
    };
    if let Some(error) = problem {
        let messages = Messages {
            error: Some(error),
            ..Messages::default()
        };
        return Ok((
            StatusCode::BAD_REQUEST,
            page(&state, &current, &headers, messages).await?,
        )
            .into_response());
    }
    let hash = hash_password(form.password).await?;
    let session_id = current.session_id;
    state
        .db
        .write(move |c| {
            db::users::set_password_hash(c, user_id, &hash)?;
            db::sessions::delete_for_user_except(c, user_id, session_id)?;
            Ok(())
        })
        .await?;
    let notice = "Password changed. Other browsers have been logged out.".to_string();
    let messages = Messages {
        notice: Some(notice),
        ..Messages::default()
    };
    Ok(page(&state, &current, &headers, messages)
        .await?
        .into_response())
}

#[derive(Deserialize)]
pub struct ApiKeyForm {
    label: String,
}

pub async fn create_api_key(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<ApiKeyForm>,
) -> AppResult<Response> {
    let label: String = form.label.trim().chars().take(100).collect();
    let label = if label.is_empty() {
        "unnamed".to_string()
    } else {
        label
    };
    let user_id = current.user.id;
    let key = state
        .db
        .write(move |c| auth::issue_api_key(c, user_id, &label))
        .await?;
    let messages = Messages {
        new_key: Some(key),
        ..Messages::default()
    };
    let mut response = page(&state, &current, &headers, messages)
        .await?
        .into_response();
    // The key is on this page only; it must not linger in a cache.
    response.headers_mut().insert(
        "cache-control",
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

pub async fn delete_api_key(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Redirect> {
    let user_id = current.user.id;
    state
        .db
        .write(move |c| Ok(db::api_keys::delete(c, user_id, id)?))
        .await?;
    Ok(Redirect::to("/settings"))
}
