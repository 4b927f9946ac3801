//! The queue page: depth per stage and the dead letters, each with Retry / Discard.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::Redirect;

use super::AppState;
use super::error::{AppError, AppResult};
use super::layout::Layout;
use super::session::CurrentUser;
use crate::db::queue::{DeadLetter, Depth, Stage};
use crate::{db, time};

#[derive(Template, WebTemplate)]
#[template(path = "queue.html")]
pub struct QueuePage {
    layout: Layout,
    depths: Vec<Depth>,
    dead_letters: Vec<DeadLetter>,
}

pub async fn show(State(state): State<AppState>, current: CurrentUser) -> AppResult<QueuePage> {
    let user_id = current.user.id;
    let (depths, dead_letters) = state
        .db
        .read(move |c| {
            Ok((
                db::queue::depths(c, user_id)?,
                db::queue::dead_letters(c, user_id, 200)?,
            ))
        })
        .await?;
    Ok(QueuePage {
        layout: Layout::for_user(&state, &current).await?,
        depths,
        dead_letters,
    })
}

pub async fn retry(
    State(state): State<AppState>,
    current: CurrentUser,
    Path((stage, id)): Path<(String, i64)>,
) -> AppResult<Redirect> {
    act(&state, &current, &stage, id, db::queue::retry).await?;
    state.wake.notify_one();
    Ok(Redirect::to("/queue"))
}

pub async fn discard(
    State(state): State<AppState>,
    current: CurrentUser,
    Path((stage, id)): Path<(String, i64)>,
) -> AppResult<Redirect> {
    act(&state, &current, &stage, id, db::queue::discard).await?;
    Ok(Redirect::to("/queue"))
}

type Action = fn(&rusqlite::Connection, Stage, i64, i64, i64) -> rusqlite::Result<bool>;

async fn act(
    state: &AppState,
    current: &CurrentUser,
    stage: &str,
    id: i64,
    action: Action,
) -> AppResult<()> {
    let stage = Stage::from_name(stage).ok_or(AppError::NotFound)?;
    let user_id = current.user.id;
    let changed = state
        .db
        .write(move |c| Ok(action(c, stage, user_id, id, time::now())?))
        .await?;
    if changed {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}
