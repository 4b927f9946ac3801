//! The household: an administrator adds users.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::auth_pages::hash_password;
use super::error::AppResult;
use super::layout::Layout;
use super::session::AdminUser;
use crate::auth::{self, MIN_PASSWORD_LEN};
use crate::db::users::User;
use crate::{db, time};

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<User>,
    notice: Option<String>,
    error: Option<String>,
    min_password: usize,
}

#[derive(Deserialize)]
pub struct NewUserForm {
    name: String,
    password: String,
    admin: Option<String>,
}

async fn page(
    state: &AppState,
    admin: &AdminUser,
    notice: Option<String>,
    error: Option<String>,
) -> AppResult<UsersPage> {
    let users = state.db.read(|c| Ok(db::users::all(c)?)).await?;
    Ok(UsersPage {
        layout: Layout::for_user(state, &admin.0).await?,
        users,
        notice,
        error,
        min_password: MIN_PASSWORD_LEN,
    })
}

pub async fn list(State(state): State<AppState>, admin: AdminUser) -> AppResult<Response> {
    Ok(page(&state, &admin, None, None).await?.into_response())
}

pub async fn create(
    State(state): State<AppState>,
    admin: AdminUser,
    Form(form): Form<NewUserForm>,
) -> AppResult<Response> {
    let name = form.name.trim().to_string();
    let problem =
        auth::check_user_name(&name).and_then(|_| auth::check_new_password(&form.password));
    if let Err(error) = problem {
        let page = page(&state, &admin, None, Some(error)).await?;
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    let hash = hash_password(form.password).await?;
    let is_admin = form.admin.is_some();
    let (lookup, now) = (name.clone(), time::now());
    let created = state
        .db
        .write(move |c| {
            if db::users::by_name(c, &lookup)?.is_some() {
                return Ok(false);
            }
            db::users::insert(c, &lookup, &hash, is_admin, now)?;
            Ok(true)
        })
        .await?;
    if !created {
        let page = page(
            &state,
            &admin,
            None,
            Some(format!("There is already a user named {name}.")),
        )
        .await?;
        return Ok((StatusCode::CONFLICT, page).into_response());
    }
    tracing::info!(user = %name, admin = is_admin, "user added");
    Ok(page(&state, &admin, Some(format!("Added {name}.")), None)
        .await?
        .into_response())
}
