//! The server's background work: the pipeline and the media downloader, woken when work is
//! queued and otherwise checking every few seconds (work queued by a CLI command in
//! another process is found that way).

use std::time::Duration;

use anyhow::Result;
use tokio::sync::watch;

use crate::app::App;
use crate::{db, ingest, time};

const IDLE_CHECK: Duration = Duration::from_secs(2);

/// Puts back work whose process is gone (killed, crashed, powered off): its downloads
/// return to the queue, its syncs are marked interrupted. Work of live processes (a CLI
/// sync beside the server) is left alone. Cheap: called at start and when idle.
pub fn reclaim_abandoned(app: &App) -> Result<()> {
    let now = time::now();
    let changed = app.db.write_blocking(|c| {
        let tx = db::immediate(c)?;
        let mut changed = 0;
        for owner in db::queue::claimants(&tx)? {
            if owner.as_deref().is_some_and(|o| app.owner.is_alive(o)) {
                continue;
            }
            changed += db::queue::reclaim(&tx, owner.as_deref(), now)?;
        }
        for owner in db::imports::claimants(&tx)? {
            if !app.owner.is_alive(&owner) {
                changed += db::imports::abandon(&tx, &owner, now)?;
            }
        }
        tx.commit()?;
        Ok(changed)
    })?;
    if changed > 0 {
        tracing::warn!(
            rows = changed,
            "took back work from a Lifeboat process that stopped"
        );
    }
    remove_stale_uploads(app)
}

/// Uploaded exports whose import is over (a server killed mid-upload or mid-import
/// leaves them behind): they can be large, and importing again needs a new upload.
fn remove_stale_uploads(app: &App) -> Result<()> {
    let Ok(dir) = std::fs::read_dir(app.config.data_dir.join("uploads")) else {
        return Ok(());
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name
            .strip_suffix(".upload")
            .and_then(|id| id.parse::<i64>().ok())
        else {
            continue;
        };
        let running = app
            .db
            .read_blocking(|c| Ok(db::imports::is_running(c, id)?))?;
        if !running {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

pub async fn run(app: App, mut stop: watch::Receiver<bool>) {
    loop {
        let db = app.db.clone();
        let pipeline =
            tokio::task::spawn_blocking(move || ingest::run_once(&db, time::now())).await;
        let busy = match pipeline {
            Ok(Ok(progress)) => !progress.is_idle(),
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "pipeline round failed");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "pipeline worker panicked");
                false
            }
        };
        let downloads = match app.downloader.run_once(&app.db, time::now()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "media round failed");
                0
            }
        };
        if *stop.borrow() {
            return;
        }
        if !busy && downloads == 0 {
            let reclaimer = app.clone();
            if let Ok(Err(e)) =
                tokio::task::spawn_blocking(move || reclaim_abandoned(&reclaimer)).await
            {
                tracing::error!(error = %format!("{e:#}"), "cannot take back abandoned work");
            }
            tokio::select! {
                _ = app.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_CHECK) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
