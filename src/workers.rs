//! The server's background work: the pipeline and the media downloader, woken when work is
//! queued and otherwise checking every few seconds (work queued by a CLI command in
//! another process is found that way).

use std::time::Duration;

use anyhow::Result;
use tokio::sync::watch;

use crate::app::App;
use crate::{db, ingest, time};

const IDLE_CHECK: Duration = Duration::from_secs(2);

/// Puts back what a crash interrupted: claimed rows return to their queues, syncs that
/// were running are marked failed, no connection stays "syncing".
pub fn recover(app: &App) -> Result<()> {
    let now = time::now();
    let (rows, syncs) = app.db.write_blocking(|c| {
        let rows = db::queue::requeue_interrupted(c)?;
        let syncs = db::sync_logs::fail_interrupted(c, now)?;
        db::connections::reset_syncing(c, now)?;
        Ok((rows, syncs))
    })?;
    if rows + syncs > 0 {
        tracing::warn!(rows, syncs, "recovered work interrupted by the last stop");
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
            tokio::select! {
                _ = app.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_CHECK) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
