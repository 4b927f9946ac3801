//! Emergency export mode: a platform about to go away gets everything Lifeboat can save,
//! now. Its connections sync at once (each platform under its own quota, so in parallel
//! with the others) and again every hour until the deadline; the connectors walk newest
//! first, so the last 90 days come first; its media jump the download queue (last 90
//! days, then posts people engaged with, then the rest). The household hears of it on
//! every page (a banner) and through the notification webhook (ntfy-compatible).

use anyhow::{Context, Result, bail};

use crate::app::App;
use crate::health::assess::Assessment;
use crate::platform::Platform;
use crate::{db, sync, time};

/// "Recent" for the order of work.
pub const RECENT_SECS: i64 = 90 * 86_400;
/// Syncs of a platform in emergency mode, once the first went through.
pub const EMERGENCY_PERIOD_SECS: i64 = 3600;

/// Starts emergency mode for a platform (a person, or an automatic start). With
/// `run_syncs`, its syncs start in this process now; without (the CLI, which exits), the
/// server's scheduler starts them at its next tick (they are due now either way).
pub async fn start(
    app: &App,
    platform: Platform,
    deadline: Option<i64>,
    by: &str,
    run_syncs: bool,
) -> Result<()> {
    let now = time::now();
    let started = app
        .db
        .write(move |c| {
            Ok(db::platforms::start_emergency(
                c,
                platform.id(),
                deadline,
                now,
            )?)
        })
        .await?;
    if !started {
        bail!("{} is already in emergency export mode", platform.name());
    }
    tracing::warn!(platform = %platform, by, "emergency export mode started");
    let deadline_text = deadline
        .map(|d| format!(" before {}", time::display(d)))
        .unwrap_or_default();
    notify(
        app,
        &format!("{} is in emergency export mode", platform.name()),
        &format!(
            "Lifeboat is saving everything it can from {}{deadline_text} (started by {by}).",
            platform.name()
        ),
    )
    .await;
    boost(app, platform).await?;
    if run_syncs {
        sync_all(app, platform).await;
    }
    Ok(())
}

pub async fn stop(app: &App, platform: Platform) -> Result<()> {
    let now = time::now();
    let stopped = app
        .db
        .write(move |c| Ok(db::platforms::stop_emergency(c, platform.id(), now)?))
        .await?;
    if !stopped {
        bail!("{} is not in emergency export mode", platform.name());
    }
    Ok(())
}

/// Starts a sync of each of the platform's connections now, all at once: the platform's
/// gate keeps them within its quota, and other platforms are not waited for.
async fn sync_all(app: &App, platform: Platform) {
    let due = app
        .db
        .read(move |c| {
            let all = db::connections::due(c, time::now())?;
            Ok(all
                .into_iter()
                .filter(|d| d.platform == platform.id())
                .collect::<Vec<_>>())
        })
        .await
        .unwrap_or_default();
    for connection in due {
        match sync::begin(app, connection.user_id, connection.id, "emergency").await {
            Ok(log) => {
                let app = app.clone();
                tokio::spawn(async move {
                    if let Err(e) =
                        sync::run(&app, connection.id, log, sync::Wait::Everything).await
                    {
                        tracing::error!(error = %format!("{e:#}"), "emergency sync failed");
                    }
                });
            }
            Err(e) => {
                tracing::info!(connection = connection.id, error = %format!("{e:#}"), "emergency sync not started")
            }
        }
    }
}

/// Media of a platform in emergency mode go first.
pub async fn boost(app: &App, platform: Platform) -> Result<()> {
    let recent = time::now() - RECENT_SECS;
    app.db
        .write(move |c| Ok(db::media::boost_platform(c, platform.id(), recent)?))
        .await?;
    app.wake.notify_one();
    Ok(())
}

/// After each sync of a platform in emergency mode: raise its new media, and say when
/// everything is saved (once).
pub async fn after_sync(app: &App, platform: Platform) -> Result<()> {
    let row = app
        .db
        .read(move |c| {
            Ok(db::platforms::all(c)?
                .into_iter()
                .find(|p| p.id == platform.id()))
        })
        .await?;
    let Some(row) = row.filter(|p| p.emergency) else {
        return Ok(());
    };
    boost(app, platform).await?;
    let since = row.emergency_started_at.unwrap_or(0);
    let now = time::now();
    let done = app
        .db
        .write(move |c| {
            let tx = db::immediate(c)?;
            let finished = db::emergency::finished(&tx, platform.id(), since)?
                && db::platforms::finish_emergency(&tx, platform.id(), now)?;
            tx.commit()?;
            Ok(finished)
        })
        .await?;
    if done {
        notify(
            app,
            &format!("{}: emergency export finished", platform.name()),
            &format!(
                "Everything Lifeboat could reach on {} is saved. It keeps syncing every hour \
                 until you end emergency mode.",
                platform.name()
            ),
        )
        .await;
    }
    Ok(())
}

/// What the automatic start setting allows: "off", "confirm" (the default: propose, a
/// person confirms) or "start".
pub fn auto_setting(app: &App) -> Result<String> {
    Ok(app
        .db
        .read_blocking(|c| Ok(db::settings::get(c, "emergency.auto")?))?
        .unwrap_or_else(|| "confirm".into()))
}

/// After a health assessment: a dying platform or an announced shutdown starts emergency
/// mode, or proposes it, as the setting says.
pub async fn consider(app: &App, platform: Platform, assessment: &Assessment) -> Result<()> {
    let row = app
        .db
        .read(move |c| {
            Ok(db::platforms::all(c)?
                .into_iter()
                .find(|p| p.id == platform.id()))
        })
        .await?
        .context("unknown platform")?;
    if row.emergency {
        return Ok(());
    }
    let reason = if assessment.status == "dying" {
        format!(
            "its health assessment says dying ({}/100)",
            assessment.score
        )
    } else if let Some(date) = row.shutdown_date {
        format!("a shutdown was announced for {}", time::display(date))
    } else {
        return Ok(());
    };
    let setting = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || auto_setting(&app)).await??
    };
    match setting.as_str() {
        "start" => {
            start(
                app,
                platform,
                row.shutdown_date,
                "the health monitor",
                false,
            )
            .await
        }
        "off" => Ok(()),
        _ => {
            let (text, now) = (reason.clone(), time::now());
            let proposed = app
                .db
                .write(move |c| {
                    Ok(db::platforms::propose_emergency(
                        c,
                        platform.id(),
                        &text,
                        now,
                    )?)
                })
                .await?;
            if proposed {
                notify(
                    app,
                    &format!("{} may be shutting down", platform.name()),
                    &format!(
                        "Lifeboat proposes emergency export for {}: {reason}. Confirm it on the health page.",
                        platform.name()
                    ),
                )
                .await;
            }
            Ok(())
        }
    }
}

/// Tells the household: an ntfy-compatible POST (the message as the body, a Title header)
/// to the notification URL, if one is set. A failure is logged, never fatal.
pub async fn notify(app: &App, title: &str, message: &str) {
    let url = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || {
            app.db
                .read_blocking(|c| Ok(db::settings::get(c, "notify.url")?))
        })
        .await
    };
    let Ok(Ok(Some(url))) = url else {
        return;
    };
    let sent = app
        .http
        .post(&url)
        .header("Title", title)
        .header("Priority", "high")
        .header("Tags", "warning,floppy_disk")
        .body(message.to_string())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(status = %r.status(), "notification refused"),
        Err(e) => {
            tracing::warn!(error = %crate::connectors::api::error_chain(&e), "notification not sent")
        }
    }
}
