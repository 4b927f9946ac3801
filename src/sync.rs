//! Running a sync: fetch pages from a connector into `ingested_items` (the cursor saved
//! with every page), let the pipeline and the downloader finish this sync's rows, and
//! write down what happened in `sync_logs` and on the connection.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::app::App;
use crate::connectors::{self, Api, Credentials, FetchContext, FetchError};
use crate::db::stages::{ItemState, NewItem};
use crate::db::sync_logs::Counts;
use crate::db::{self, immediate};
use crate::platform::Platform;
use crate::{ingest, time};

/// A runaway connector (a cursor that never ends) stops here.
const MAX_PAGES_PER_SYNC: usize = 100_000;
/// How long a sync waits for its media downloads before it reports.
const MAX_DRAIN: Duration = Duration::from_secs(15 * 60);

/// Opens a sync log and marks the connection as syncing. Refuses when a sync of the same
/// connection is already running.
pub async fn begin(app: &App, user_id: i64, connection_id: i64, trigger: &str) -> Result<i64> {
    // A sync left "running" by a process that died must not block this one.
    let reclaimer = app.clone();
    tokio::task::spawn_blocking(move || crate::workers::reclaim_abandoned(&reclaimer)).await??;
    let trigger = trigger.to_string();
    let owner = app.owner.id().to_string();
    app.db
        .write(move |c| {
            let tx = immediate(c)?;
            let Some(connection) = db::connections::for_user_by_id(&tx, user_id, connection_id)?
            else {
                bail!("no connection {connection_id}");
            };
            let now = time::now();
            if !db::connections::begin_sync(&tx, connection.id, &owner, now)? {
                bail!("connection {connection_id} is already syncing");
            }
            let log = db::sync_logs::start(&tx, user_id, connection.id, &trigger, now)?;
            tx.commit()?;
            Ok(log)
        })
        .await
}

/// How much of a sync's work `run` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Until its posts are in the archive; media downloads are left to the server.
    Posts,
    /// Until its media are downloaded too.
    Everything,
}

/// Runs the sync that `begin` opened, to the end. Errors are recorded in the log and on
/// the connection; the returned error is only for problems recording them.
pub async fn run(app: &App, connection_id: i64, log_id: i64, wait: Wait) -> Result<()> {
    let started = Instant::now();
    let outcome = fetch_all(app, connection_id, log_id).await;
    if let Err(e) = drain(app, log_id, wait).await {
        tracing::error!(error = %format!("{e:#}"), "pipeline failed during sync");
    }
    let target = app
        .db
        .read(move |c| Ok(db::connections::sync_target(c, connection_id)?))
        .await?
        .context("connection disappeared during its sync")?;
    let now = time::now();
    let platform = Platform::from_id(&target.platform);
    let platform_id = target.platform.clone();
    let emergency = app
        .db
        .read(move |c| Ok(db::platforms::is_emergency(c, &platform_id)?))
        .await?;
    // In emergency mode a platform syncs every hour, whatever its usual frequency.
    let next = if emergency {
        now + crate::emergency::EMERGENCY_PERIOD_SECS
    } else {
        crate::scheduler::next_sync_at(connection_id, &target.backup_frequency, now)
    };
    let duration_ms = started.elapsed().as_millis() as i64;
    app.db
        .write(move |c| {
            let tx = immediate(c)?;
            match &outcome {
                Ok(note) => {
                    let log = db::sync_logs::for_user_by_id(&tx, target.user_id, log_id)?;
                    let changed = log.map(|l| l.posts_created + l.posts_updated).unwrap_or(0);
                    let message = match (changed, note) {
                        (0, Some(note)) => format!("Nothing new: {note}."),
                        (0, None) => "Nothing new.".to_string(),
                        _ => note.clone().unwrap_or_default(),
                    };
                    let message = (!message.is_empty()).then_some(message);
                    db::sync_logs::finish(&tx, log_id, None, message.as_deref(), duration_ms, now)?;
                    db::connections::finish_sync_ok(&tx, connection_id, now, next)?;
                }
                Err(e) => {
                    let text = e.to_string();
                    let (status, next) = match e {
                        FetchError::Auth(_) => ("reconnect", next),
                        FetchError::RateLimited { retry_after } => {
                            ("error", now + retry_after.as_secs() as i64)
                        }
                        _ => ("error", next),
                    };
                    db::sync_logs::finish(&tx, log_id, Some(&text), None, duration_ms, now)?;
                    db::connections::finish_sync_err(&tx, connection_id, status, &text, now, next)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    if emergency && let Some(platform) = platform {
        crate::emergency::after_sync(app, platform).await?;
    }
    Ok(())
}

/// `begin` + `run`, for callers that wait (the CLI).
pub async fn sync_now(
    app: &App,
    user_id: i64,
    connection_id: i64,
    trigger: &str,
    wait: Wait,
) -> Result<i64> {
    let log = begin(app, user_id, connection_id, trigger).await?;
    run(app, connection_id, log, wait).await?;
    Ok(log)
}

/// Fetches every page; returns the connector's note for the log. Each page is stored in
/// one transaction with the cursor after it, the credentials if a refresh renewed them,
/// and the telemetry of its requests.
async fn fetch_all(
    app: &App,
    connection_id: i64,
    log_id: i64,
) -> Result<Option<String>, FetchError> {
    let invalid = |e: anyhow::Error| FetchError::Invalid(format!("{e:#}"));
    let target = app
        .db
        .read(move |c| Ok(db::connections::sync_target(c, connection_id)?))
        .await
        .map_err(invalid)?
        .ok_or_else(|| FetchError::Invalid("connection not found".into()))?;
    let platform = Platform::from_id(&target.platform)
        .ok_or_else(|| FetchError::Invalid(format!("unknown platform {}", target.platform)))?;
    let connector = connectors::for_platform(platform).ok_or_else(|| {
        FetchError::Invalid(format!(
            "{} has no live connector; import its export instead",
            target.platform
        ))
    })?;
    let credentials = match &target.credentials {
        Some(record) => Some(Credentials::parse(
            &app.vault.decrypt(record).map_err(invalid)?,
        )),
        None => None,
    };
    let url = target.url.as_deref().or(connector.default_url());
    let host = url
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(String::from))
        .unwrap_or_default();
    let api = Api::new(
        app.http.clone(),
        connector,
        app.gates.for_target(platform, &host, connector.quota()),
        app.config.retry_policy(),
        credentials,
    );
    let ctx = FetchContext {
        api: &api,
        url,
        handle: target.handle.as_deref(),
    };
    let mut cursor = target.cursor.clone();
    let mut note = None;
    for _ in 0..MAX_PAGES_PER_SYNC {
        let page = match connector.fetch(&ctx, cursor.as_deref()).await {
            Ok(page) => page,
            Err(e) => {
                // What the failed page learned (a rotated token, the errors) is kept.
                let saved = save_page(app, &api, target.user_id, connection_id, log_id, None).await;
                if let Err(save_error) = saved {
                    tracing::error!(error = %format!("{save_error:#}"), "cannot save after a failed page");
                }
                return Err(e);
            }
        };
        cursor = page.cursor.clone();
        note = page.note.clone();
        let done = page.done;
        save_page(app, &api, target.user_id, connection_id, log_id, Some(page))
            .await
            .map_err(invalid)?;
        app.wake.notify_one();
        if done {
            break;
        }
    }
    Ok(note)
}

/// Stores one page (if any) with its cursor, renewed credentials and telemetry.
async fn save_page(
    app: &App,
    api: &Api,
    user_id: i64,
    connection_id: i64,
    log_id: i64,
    page: Option<connectors::Page>,
) -> Result<()> {
    let credentials = api
        .take_changed_credentials()
        .map(|c| app.vault.encrypt(&c.to_bytes()));
    let signals = api.take_signals();
    let total = api.take_total();
    let platform = api.platform().id();
    let compressed: Vec<_> = page
        .iter()
        .flat_map(|p| &p.items)
        .map(|item| db::stages::compress(&item.payload))
        .collect();
    app.db
        .write(move |c| {
            let tx = immediate(c)?;
            let now = time::now();
            if let Some(page) = &page {
                let source = if page.backfill { "backfill" } else { "sync" };
                for (item, compressed) in page.items.iter().zip(&compressed) {
                    let new = NewItem {
                        user_id,
                        connection_id,
                        sync_log_id: Some(log_id),
                        source,
                        item,
                        compressed: compressed.as_ref(),
                    };
                    db::stages::insert_item(&tx, &new, ItemState::Pending, now)?;
                }
                db::connections::set_cursor(&tx, connection_id, page.cursor.as_deref())?;
                let counts = Counts {
                    items_fetched: page.items.len() as i64,
                    ..Counts::default()
                };
                db::sync_logs::add(&tx, log_id, &counts)?;
            }
            if let Some(record) = &credentials {
                db::connections::store_credentials(&tx, connection_id, record)?;
            }
            if let Some(total) = total {
                db::emergency::set_expected(&tx, connection_id, total)?;
            }
            for signal in &signals {
                db::health::insert_signal(
                    &tx,
                    &db::health::NewSignal {
                        platform,
                        source: signal.source,
                        value: Some(signal.value),
                        detail: Some(&signal.detail),
                        url: signal.url.as_deref(),
                        created_at: signal.at,
                    },
                )?;
            }
            if !signals.is_empty() {
                db::health::prune(&tx, platform, "telemetry", db::health::MAX_TELEMETRY_ROWS)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
}

/// Works this sync's rows through the pipeline and the downloader until none is waiting.
/// Rows that failed and wait for a retry do not hold the sync up.
async fn drain(app: &App, log_id: i64, wait: Wait) -> Result<()> {
    let deadline = Instant::now() + MAX_DRAIN;
    let with_media = wait == Wait::Everything;
    while Instant::now() < deadline {
        let db = app.db.clone();
        tokio::task::spawn_blocking(move || ingest::drain(&db, time::now)).await??;
        let tried = if with_media {
            app.downloader.run_once(&app.db, time::now()).await?
        } else {
            0
        };
        let waiting = app
            .db
            .read(move |c| Ok(db::stages::unfinished_for_sync(c, log_id, with_media)?))
            .await?;
        if waiting == 0 {
            return Ok(());
        }
        if tried == 0 {
            // Another worker (the server's) holds the rows; give it a moment.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
