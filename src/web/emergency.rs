//! The emergency export page: each platform in emergency mode (or proposed for it), and
//! for each of the person's connections what is saved, what is left, the observed rate
//! and the estimated finish against the deadline, refreshed live.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::error::{AppError, AppResult};
use super::layout::Layout;
use super::session::{AdminUser, CurrentUser};
use crate::db::emergency::Progress;
use crate::platform::Platform;
use crate::{db, emergency, time};

#[derive(Template, WebTemplate)]
#[template(path = "emergency.html")]
struct EmergencyPage {
    layout: Layout,
    status: EmergencyStatus,
    platforms: Vec<(&'static str, &'static str)>,
    notify_url: String,
    auto: String,
}

/// The live part, polled every two seconds while anything runs.
#[derive(Template, WebTemplate)]
#[template(path = "emergency_status.html")]
struct EmergencyStatus {
    csrf: String,
    now: i64,
    active: Vec<Active>,
    proposed: Vec<(String, String, String)>,
}

struct Active {
    id: String,
    name: String,
    deadline: Option<i64>,
    started_at: i64,
    finished_at: Option<i64>,
    connections: Vec<Estimate>,
}

struct Estimate {
    progress: Progress,
    /// Posts per minute since emergency mode started.
    rate: f64,
    left: Option<i64>,
    finish_at: Option<i64>,
    /// The estimated finish is after the deadline.
    late: bool,
}

fn estimate(progress: Progress, started_at: i64, now: i64, deadline: Option<i64>) -> Estimate {
    let elapsed = (now - started_at).max(1) as f64;
    let rate = progress.posts_since as f64 / elapsed * 60.0;
    let left = progress
        .expected
        .map(|total| (total - progress.posts).max(0));
    let finish_at = match left {
        Some(0) => Some(now),
        Some(left) if rate > 0.0 => Some(now + (left as f64 / rate * 60.0).ceil() as i64),
        _ => None,
    };
    let late = matches!((finish_at, deadline), (Some(f), Some(d)) if f > d);
    Estimate {
        progress,
        rate: (rate * 10.0).round() / 10.0,
        left,
        finish_at,
        late,
    }
}

async fn status(state: &AppState, current: &CurrentUser) -> AppResult<EmergencyStatus> {
    let user_id = current.user.id;
    let now = time::now();
    let (active, proposed) = state
        .db
        .read(move |c| {
            let mut active = Vec::new();
            let mut proposed = Vec::new();
            for p in db::platforms::all(c)? {
                if p.emergency {
                    let started = p.emergency_started_at.unwrap_or(now);
                    let connections = db::emergency::progress(c, user_id, &p.id, started)?
                        .into_iter()
                        .map(|progress| estimate(progress, started, now, p.emergency_deadline))
                        .collect();
                    active.push(Active {
                        id: p.id.clone(),
                        name: p.name.clone(),
                        deadline: p.emergency_deadline,
                        started_at: started,
                        finished_at: p.emergency_finished_at,
                        connections,
                    });
                } else if let Some(reason) = p.emergency_proposed {
                    proposed.push((p.id, p.name, reason));
                }
            }
            Ok((active, proposed))
        })
        .await?;
    Ok(EmergencyStatus {
        csrf: current.csrf.clone(),
        now,
        active,
        proposed,
    })
}

pub async fn show(State(state): State<AppState>, current: CurrentUser) -> AppResult<Response> {
    let settings = state
        .db
        .read(|c| {
            Ok((
                db::settings::get(c, "notify.url")?.unwrap_or_default(),
                db::settings::get(c, "emergency.auto")?.unwrap_or_else(|| "confirm".into()),
            ))
        })
        .await?;
    let page = EmergencyPage {
        layout: Layout::for_user(&state, &current).await?,
        status: status(&state, &current).await?,
        platforms: Platform::ALL
            .into_iter()
            .filter(|p| *p != Platform::Feed)
            .map(|p| (p.id(), p.name()))
            .collect(),
        notify_url: settings.0,
        auto: settings.1,
    };
    Ok(page.into_response())
}

pub async fn live(State(state): State<AppState>, current: CurrentUser) -> AppResult<Response> {
    Ok(status(&state, &current).await?.into_response())
}

#[derive(Deserialize)]
pub struct StartForm {
    #[serde(default)]
    deadline: String,
    /// When the platform is not in the path (the "Start" form).
    #[serde(default)]
    platform: String,
}

/// The "Start" form: the platform is a field.
pub async fn start_chosen(
    state: State<AppState>,
    current: CurrentUser,
    Form(form): Form<StartForm>,
) -> AppResult<Response> {
    let id = form.platform.clone();
    start(state, current, Path(id), Form(form)).await
}

fn platform(id: &str) -> AppResult<Platform> {
    Platform::from_id(id).ok_or(AppError::NotFound)
}

/// "Start emergency export" (or "Confirm" a proposal): any household member may, since
/// waiting for an administrator could cost the data.
pub async fn start(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<StartForm>,
) -> AppResult<Response> {
    let platform = platform(&id)?;
    let deadline = match form.deadline.trim() {
        "" => {
            let row = state
                .db
                .read(move |c| {
                    Ok(db::platforms::all(c)?
                        .into_iter()
                        .find(|p| p.id == platform.id()))
                })
                .await?;
            row.and_then(|p| p.shutdown_date)
        }
        date => Some(time::parse_date(date).map_err(|e| AppError::BadRequest(format!("{e:#}")))?),
    };
    let by = format!("{} on the emergency page", current.user.name);
    emergency::start(&state, platform, deadline, &by, true)
        .await
        .map_err(|e| AppError::Conflict(format!("{e:#}")))?;
    Ok(Redirect::to("/emergency").into_response())
}

pub async fn stop(
    State(state): State<AppState>,
    _current: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    emergency::stop(&state, platform(&id)?)
        .await
        .map_err(|e| AppError::Conflict(format!("{e:#}")))?;
    Ok(Redirect::to("/emergency").into_response())
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    notify_url: String,
    auto: String,
}

/// The notification webhook and what an automatic start may do (household-wide: admins).
pub async fn settings(
    State(state): State<AppState>,
    _admin: AdminUser,
    Form(form): Form<SettingsForm>,
) -> AppResult<Response> {
    let url = form.notify_url.trim().to_string();
    if !url.is_empty() && url::Url::parse(&url).is_err() {
        return Err(AppError::BadRequest(format!("{url:?} is not a URL")));
    }
    if !["off", "confirm", "start"].contains(&form.auto.as_str()) {
        return Err(AppError::BadRequest(
            "automatic start is off, confirm or start".into(),
        ));
    }
    state
        .db
        .write(move |c| {
            let now = time::now();
            db::settings::set(c, "notify.url", &url, now)?;
            db::settings::set(c, "emergency.auto", &form.auto, now)?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to("/emergency").into_response())
}
