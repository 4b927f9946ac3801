use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};

use super::AppState;
use super::error::{AppError, AppResult};
use super::layout::Layout;
use super::session::CurrentUser;
use crate::db;
use crate::db::connections::Connection;

#[derive(Template, WebTemplate)]
#[template(path = "connection.html")]
pub struct ConnectionPage {
    layout: Layout,
    connection: Connection,
}

pub async fn show(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<ConnectionPage> {
    let user_id = current.user.id;
    let connection = state
        .db
        .read(move |c| Ok(db::connections::for_user_by_id(c, user_id, id)?))
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(ConnectionPage { layout: Layout::for_user(&state, &current).await?, connection })
}
