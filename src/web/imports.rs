//! Imports: uploading an export (streamed to disk, never held in memory), the list of the
//! user's imports, and one import's page with live progress and, at the end, what was
//! imported, skipped and why. `receive` is shared with `POST /api/v1/imports`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tokio::io::AsyncWriteExt;

use super::AppState;
use super::error::{AppError, AppResult};
use super::layout::Layout;
use super::session::CurrentUser;
use crate::db::imports::Import;
use crate::db::sync_logs::SyncLog;
use crate::import::{self, Skipped};
use crate::platform::Platform;
use crate::{db, importers};

#[derive(Template, WebTemplate)]
#[template(path = "imports.html")]
struct ImportsPage {
    layout: Layout,
    imports: Vec<Import>,
    platforms: Vec<(&'static str, &'static str)>,
    formats: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "import.html")]
struct ImportPage {
    layout: Layout,
    import: Import,
    status: ImportStatus,
}

/// The live part of an import's page, polled while it runs.
#[derive(Template, WebTemplate)]
#[template(path = "import_status.html")]
pub struct ImportStatus {
    import: Import,
    log: Option<SyncLog>,
    /// Raw items still waiting for the pipeline.
    left: i64,
    skipped: Vec<Skipped>,
    running: bool,
    percent: i64,
}

impl ImportStatus {
    pub fn to_json(&self) -> serde_json::Value {
        let i = &self.import;
        serde_json::json!({
            "id": i.id,
            "file_name": i.file_name,
            "platform": i.platform,
            "status": i.status,
            "connection_id": i.connection_id,
            "sync_log_id": i.sync_log_id,
            "bytes_total": i.bytes_total,
            "bytes_done": i.bytes_done,
            "items_read": i.items,
            "media_files": i.media_files,
            "items_left": self.left,
            "percent": self.percent,
            "posts_created": self.log.as_ref().map(|l| l.posts_created),
            "posts_updated": self.log.as_ref().map(|l| l.posts_updated),
            "items_new": self.log.as_ref().map(|l| l.items_fetched),
            "media_copied": self.log.as_ref().map(|l| l.media_downloaded),
            "problems": self.log.as_ref().and_then(|l| l.error.clone()),
            "skipped": self.skipped,
            "error": i.error,
            "created_at": i.created_at,
            "finished_at": i.finished_at,
        })
    }
}

pub async fn list(State(state): State<AppState>, current: CurrentUser) -> AppResult<Response> {
    let user_id = current.user.id;
    let imports = state
        .db
        .read(move |c| Ok(db::imports::for_user(c, user_id, 50)?))
        .await?;
    Ok(ImportsPage {
        layout: Layout::for_user(&state, &current).await?,
        imports,
        platforms: importers::ALL
            .iter()
            .map(|i| (i.platform().id(), i.format_name()))
            .collect(),
        formats: importers::supported(),
    }
    .into_response())
}

/// `POST /imports`: the upload. A browser is sent on to the import's page (htmx follows
/// `HX-Redirect`), where the progress shows.
pub async fn upload(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    multipart: Multipart,
) -> AppResult<Response> {
    let htmx = headers.contains_key("hx-request");
    let id = match receive(&state, current.user.id, multipart).await {
        Ok(id) => id,
        // htmx swaps only successful answers: the reason goes into the form's alert.
        Err(AppError::BadRequest(message)) if htmx => {
            return Ok(Html(format!(
                "<p class=\"error\">{}</p>",
                ammonia::clean_text(&message)
            ))
            .into_response());
        }
        Err(e) => return Err(e),
    };
    let to = format!("/imports/{id}");
    if htmx {
        return Ok(([("hx-redirect", to)], "").into_response());
    }
    Ok(Redirect::to(&to).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let status = status_of(&state, current.user.id, id).await?;
    Ok(ImportPage {
        layout: Layout::for_user(&state, &current).await?,
        import: status.import.clone(),
        status,
    }
    .into_response())
}

pub async fn status(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    Ok(status_of(&state, current.user.id, id)
        .await?
        .into_response())
}

/// One import of `user_id` with its sync log and progress (404 for anyone else's).
pub async fn status_of(state: &AppState, user_id: i64, id: i64) -> AppResult<ImportStatus> {
    let (import, log, left) = state
        .db
        .read(move |c| {
            let Some(import) = db::imports::for_user_by_id(c, user_id, id)? else {
                return Ok(None);
            };
            let log = match import.sync_log_id {
                Some(log_id) => db::sync_logs::for_user_by_id(c, user_id, log_id)?,
                None => None,
            };
            let left = match import.sync_log_id {
                Some(log_id) if import.status == "processing" => {
                    db::stages::unfinished_for_sync(c, log_id, false)?
                }
                _ => 0,
            };
            Ok(Some((import, log, left)))
        })
        .await?
        .ok_or(AppError::NotFound)?;
    let skipped = serde_json::from_str(&import.skipped).unwrap_or_default();
    let running = matches!(
        import.status.as_str(),
        "uploading" | "reading" | "processing"
    );
    let percent = match import.status.as_str() {
        "reading" if import.bytes_total > 0 => import.bytes_done * 100 / import.bytes_total,
        "processing" => {
            let total = log.as_ref().map_or(0, |l| l.items_fetched).max(1);
            100 - (left * 100 / total).min(100)
        }
        "completed" => 100,
        _ => 0,
    };
    Ok(ImportStatus {
        import,
        log,
        left,
        skipped,
        running,
        percent: percent.clamp(0, 100),
    })
}

/// Streams a multipart upload (an optional `platform` field, then the `file` field) to
/// `DATA/uploads/`, then starts the import in the background and returns its id. A
/// cut-off upload or a full disk leaves no file behind and a failed import that says so.
pub async fn receive(state: &AppState, user_id: i64, mut multipart: Multipart) -> AppResult<i64> {
    let mut platform: Option<Platform> = None;
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| AppError::BadRequest(format!("the upload could not be read: {e}")))?;
        let Some(mut field) = field else {
            return Err(AppError::BadRequest(
                "choose an export file to upload".into(),
            ));
        };
        match field.name() {
            Some("platform") => {
                let value = field.text().await.map_err(|e| {
                    AppError::BadRequest(format!("the upload could not be read: {e}"))
                })?;
                let value = value.trim();
                if !value.is_empty() {
                    platform = Some(Platform::from_id(value).ok_or_else(|| {
                        AppError::BadRequest(format!("unknown platform {value:?}"))
                    })?);
                }
            }
            Some("file") => {
                let file_name = field
                    .file_name()
                    .map(display_name)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "upload".into());
                let app = state.app.clone();
                let name = file_name.clone();
                let id = tokio::task::spawn_blocking(move || {
                    import::create(&app, user_id, &name, "uploading")
                })
                .await
                .map_err(|e| AppError::Internal(e.into()))??;
                let dir = state.config.data_dir.join("uploads");
                let path = dir.join(format!("{id}.upload"));
                let written = async {
                    tokio::fs::create_dir_all(&dir).await?;
                    let mut file = tokio::fs::File::create(&path).await?;
                    while let Some(chunk) = field.chunk().await.map_err(|e| {
                        std::io::Error::other(format!("the upload was cut off ({e})"))
                    })? {
                        file.write_all(&chunk).await?;
                    }
                    file.sync_all().await?;
                    Ok::<(), std::io::Error>(())
                }
                .await;
                if let Err(e) = written {
                    let _ = tokio::fs::remove_file(&path).await;
                    let message = format!("the upload of {file_name} failed: {e}");
                    let app = state.app.clone();
                    let recorded = message.clone();
                    let _ = tokio::task::spawn_blocking(move || import::fail(&app, id, &recorded))
                        .await;
                    return Err(AppError::BadRequest(message));
                }
                start(state, id, user_id, path, file_name, platform);
                return Ok(id);
            }
            _ => {}
        }
    }
}

/// Runs the import on a blocking thread; the uploaded file is removed afterwards (its
/// contents now live in the archive).
fn start(
    state: &AppState,
    id: i64,
    user_id: i64,
    path: std::path::PathBuf,
    file_name: String,
    platform: Option<Platform>,
) {
    let app = state.app.clone();
    tokio::task::spawn_blocking(move || {
        let options = import::Options {
            platform,
            file_name: Some(file_name),
            ..Default::default()
        };
        if let Err(e) = import::run(&app, id, user_id, &path, &options, &|_| {}) {
            tracing::warn!(import = id, error = %format!("{e:#}"), "import failed");
        }
        let _ = std::fs::remove_file(&path);
    });
}

/// A browser's file name, for display only (never used as a path).
fn display_name(name: &str) -> String {
    name.rsplit(['/', '\\'])
        .next()
        .unwrap_or(name)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}
