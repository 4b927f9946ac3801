use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use super::AppState;
use super::error::AppResult;
use super::layout::Layout;
use super::session::CurrentUser;
use crate::db::connections::Connection;
use crate::db::platforms::PlatformRow;
use crate::db::queue::Depth;
use crate::{db, time};

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    layout: Layout,
    user_name: String,
    now: i64,
    connections: Vec<Connection>,
    platforms: Vec<PlatformRow>,
    queues: Vec<Depth>,
    queues_idle: bool,
}

pub async fn show(State(state): State<AppState>, current: CurrentUser) -> AppResult<DashboardPage> {
    let layout = Layout::for_user(&state, &current).await?;
    let user_id = current.user.id;
    let (connections, platforms, queues) = state
        .db
        .read(move |c| {
            Ok((
                db::connections::for_user(c, user_id)?,
                db::platforms::all(c)?,
                db::queue::depths(c, user_id)?,
            ))
        })
        .await?;
    let queues_idle = queues
        .iter()
        .all(|d| d.pending + d.processing + d.failed + d.dead_letter == 0);
    Ok(DashboardPage {
        layout,
        user_name: current.user.name,
        now: time::now(),
        connections,
        platforms,
        queues,
        queues_idle,
    })
}
