//! The health page: each watched platform's score history (a server-rendered SVG chart),
//! its latest assessment and who produced it, its signals; forms for a manual signal, the
//! platform's sources, the Ollama to ask, and "Check now".

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::error::{AppError, AppResult};
use super::layout::Layout;
use super::session::{AdminUser, CurrentUser};
use crate::db::health::{AssessmentRow, SignalRow};
use crate::health::{self, signals::Sources};
use crate::platform::Platform;
use crate::{db, time};

#[derive(Template, WebTemplate)]
#[template(path = "health.html")]
struct HealthPage {
    layout: Layout,
    now: i64,
    platforms: Vec<PlatformHealth>,
    ollama_url: String,
    ollama_model: String,
}

struct PlatformHealth {
    id: &'static str,
    name: &'static str,
    latest: Option<AssessmentRow>,
    chart: Chart,
    signals: Vec<SignalRow>,
    sources: Sources,
    shutdown_date: Option<i64>,
}

/// Score history as SVG coordinates (oldest left), drawn by the template.
struct Chart {
    points: String,
    dots: Vec<(f64, f64, i64, String)>,
    first: Option<i64>,
    last: Option<i64>,
}

const CHART_W: f64 = 600.0;
const CHART_H: f64 = 120.0;

fn chart(history: &[AssessmentRow]) -> Chart {
    let oldest_first: Vec<&AssessmentRow> = history.iter().rev().collect();
    let (first, last) = (
        oldest_first.first().map(|a| a.created_at),
        oldest_first.last().map(|a| a.created_at),
    );
    let span = match (first, last) {
        (Some(a), Some(b)) if b > a => (b - a) as f64,
        _ => 1.0,
    };
    let dots: Vec<(f64, f64, i64, String)> = oldest_first
        .iter()
        .map(|a| {
            let x = if oldest_first.len() == 1 {
                CHART_W / 2.0
            } else {
                (a.created_at - first.unwrap_or(0)) as f64 / span * (CHART_W - 20.0) + 10.0
            };
            let y = CHART_H - 10.0 - a.score as f64 / 100.0 * (CHART_H - 20.0);
            (
                (x * 10.0).round() / 10.0,
                (y * 10.0).round() / 10.0,
                a.score,
                time::display(a.created_at),
            )
        })
        .collect();
    let points = dots
        .iter()
        .map(|(x, y, _, _)| format!("{x},{y}"))
        .collect::<Vec<_>>()
        .join(" ");
    Chart {
        points,
        dots,
        first,
        last,
    }
}

pub async fn show(State(state): State<AppState>, current: CurrentUser) -> AppResult<Response> {
    let app = state.app.clone();
    let (platforms, settings) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let watched = app
            .db
            .read_blocking(|c| Ok(db::health::watched_platforms(c)?))?;
        let rows = app.db.read_blocking(|c| Ok(db::platforms::all(c)?))?;
        let mut out = Vec::new();
        for platform in watched.iter().filter_map(|p| Platform::from_id(p)) {
            let (history, signals) = app.db.read_blocking(|c| {
                Ok((
                    db::health::assessments(c, platform.id(), 60)?,
                    db::health::recent(
                        c,
                        platform.id(),
                        time::now() - health::WINDOW_SECS,
                        50,
                        false,
                    )?,
                ))
            })?;
            out.push(PlatformHealth {
                id: platform.id(),
                name: platform.name(),
                latest: history.first().cloned(),
                chart: chart(&history),
                signals,
                sources: health::sources(&app, platform)?,
                shutdown_date: rows
                    .iter()
                    .find(|r| r.id == platform.id())
                    .and_then(|r| r.shutdown_date),
            });
        }
        Ok((out, health::ollama_settings(&app)?))
    })
    .await??;
    let page = HealthPage {
        layout: Layout::for_user(&state, &current).await?,
        now: time::now(),
        platforms,
        ollama_url: settings.url,
        ollama_model: settings.model,
    };
    Ok(page.into_response())
}

fn platform(id: &str) -> AppResult<Platform> {
    Platform::from_id(id).ok_or(AppError::NotFound)
}

/// "Check now": the same check the scheduler runs every six hours.
pub async fn check(State(state): State<AppState>, _current: CurrentUser) -> AppResult<Response> {
    health::check_all(&state).await?;
    Ok(Redirect::to("/health").into_response())
}

#[derive(Deserialize)]
pub struct SignalForm {
    note: String,
    #[serde(default)]
    shutdown: String,
    #[serde(default)]
    url: String,
}

/// A person's note about a platform, with an announced shutdown date if there is one.
pub async fn add_signal(
    State(state): State<AppState>,
    _current: CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<SignalForm>,
) -> AppResult<Response> {
    let platform = platform(&id)?;
    let note = form.note.trim().to_string();
    if note.is_empty() {
        return Err(AppError::BadRequest("write what you noticed".into()));
    }
    let shutdown = match form.shutdown.trim() {
        "" => None,
        date => Some(time::parse_date(date).map_err(|e| AppError::BadRequest(format!("{e:#}")))?),
    };
    let url = Some(form.url.trim().to_string()).filter(|u| !u.is_empty());
    let app = state.app.clone();
    tokio::task::spawn_blocking(move || {
        health::add_manual_signal(&app, platform, &note, shutdown, url.as_deref())
    })
    .await??;
    Ok(Redirect::to("/health").into_response())
}

#[derive(Deserialize)]
pub struct SourcesForm {
    #[serde(default)]
    news: String,
    #[serde(default)]
    status_page: String,
    #[serde(default)]
    home: String,
}

/// Where to look for a platform's news, status and home page (household-wide: admins).
pub async fn set_sources(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
    Form(form): Form<SourcesForm>,
) -> AppResult<Response> {
    let platform = platform(&id)?;
    let filled = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let sources = Sources {
        news: form.news.lines().filter_map(filled).collect(),
        status_page: filled(&form.status_page),
        home: filled(&form.home),
    };
    for url in sources
        .news
        .iter()
        .chain(&sources.status_page)
        .chain(&sources.home)
    {
        if url::Url::parse(url).is_err() {
            return Err(AppError::BadRequest(format!("{url:?} is not a URL")));
        }
    }
    let app = state.app.clone();
    tokio::task::spawn_blocking(move || health::set_sources(&app, platform, &sources)).await??;
    Ok(Redirect::to("/health").into_response())
}

#[derive(Deserialize)]
pub struct OllamaForm {
    url: String,
    model: String,
}

pub async fn set_ollama(
    State(state): State<AppState>,
    _admin: AdminUser,
    Form(form): Form<OllamaForm>,
) -> AppResult<Response> {
    let (url, model) = (form.url.trim().to_string(), form.model.trim().to_string());
    if url::Url::parse(&url).is_err() || model.is_empty() {
        return Err(AppError::BadRequest(
            "give Ollama's URL and a model name".into(),
        ));
    }
    state
        .db
        .write(move |c| {
            let now = time::now();
            db::settings::set(c, "ollama.url", &url, now)?;
            db::settings::set(c, "ollama.model", &model, now)?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to("/health").into_response())
}
