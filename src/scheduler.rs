//! The one in-process scheduler `serve` starts (tokio-cron-scheduler): a tick that starts
//! the syncs that are due, the platform health check every six hours, media retries, and
//! a nightly online backup of the database.
//!
//! When a connection syncs next lives in the database (`connections.next_sync_at`), set
//! when a sync ends: a restart finds the same plan and runs nothing twice, and a run
//! missed while the machine slept is simply overdue, so it runs once, soon after start.
//! Deciding what is due is separate from running it and takes the time as an argument,
//! so tests can walk through a simulated month in a moment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::app::App;
use crate::{db, sync, time};

/// Scheduled syncs running at once; more wait for the next tick. After a long sleep
/// everything is overdue: this spreads the catch-up instead of starting it all at once.
pub const MAX_RUNNING: usize = 4;
/// Backups kept in `DATA/backups/`.
pub const BACKUPS_KEPT: usize = 7;
/// Nightly backup, 03:17 UTC (cron with seconds).
const BACKUP_CRON: &str = "0 17 3 * * *";
/// The platform health check, every six hours.
const HEALTH_CRON: &str = "0 40 */6 * * *";
/// Failed downloads wait out their backoff (`next_attempt_at`); this wakes the workers to
/// retry those now due even when nothing else is happening.
const MEDIA_RETRY_CRON: &str = "0 */10 * * * *";

/// The seconds between two syncs of a connection backed up at `frequency`.
pub fn period(frequency: &str) -> i64 {
    match frequency {
        "hourly" => 3600,
        "weekly" => 7 * 86_400,
        "monthly" => 30 * 86_400,
        _ => 86_400,
    }
}

/// When a connection that finished a sync at `finished` syncs next. Each connection has
/// its own slot within the period (from its id), so connections of one frequency are
/// spread over the hour, day, week or month instead of all firing together, and runs do
/// not drift: every slot is `offset + k * period`. The next slot is at least half a
/// period away, so the first sync after a manual one is not minutes later.
pub fn next_sync_at(connection_id: i64, frequency: &str, finished: i64) -> i64 {
    let period = period(frequency);
    // Knuth's multiplicative hash: neighbouring ids land far apart in the period.
    let offset = ((connection_id as u64).wrapping_mul(2_654_435_761) % period as u64) as i64;
    let earliest = finished + period / 2;
    let slots = (earliest - offset).div_euclid(period) + 1;
    offset + slots * period
}

/// Connections due at `now`, oldest due first, that may start now: enabled, not already
/// syncing, at most one per platform at a time and `MAX_RUNNING` in all — except those of
/// a platform in emergency export mode, which all start at once (the platform's gate
/// keeps them within its quota).
pub fn due(app: &App, now: i64) -> Result<Vec<(i64, i64)>> {
    app.db.read_blocking(move |c| {
        let running = db::connections::syncing_platforms(c)?;
        let mut busy: Vec<String> = running.clone();
        let mut picked = Vec::new();
        for candidate in db::connections::due(c, now)? {
            if candidate.emergency {
                picked.push((candidate.user_id, candidate.id));
                continue;
            }
            if running.len() + picked.len() >= MAX_RUNNING {
                break;
            }
            if busy.contains(&candidate.platform) {
                continue;
            }
            busy.push(candidate.platform.clone());
            picked.push((candidate.user_id, candidate.id));
        }
        Ok(picked)
    })
}

/// One tick: starts every sync that is due, each in its own task. Returns how many started.
pub async fn tick(app: &App, now: i64) -> Result<usize> {
    // Ticks never overlap: what one tick started is marked syncing before the next
    // looks for due connections, so nothing starts twice.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let ready = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || due(&app, now)).await??
    };
    let mut started = 0;
    for (user_id, id) in ready {
        match sync::begin(app, user_id, id, "schedule").await {
            Ok(log) => {
                started += 1;
                let app = app.clone();
                tokio::spawn(async move {
                    // Emergency syncs wait for their media, so the platform's finish is
                    // known when it happens.
                    let emergency = crate::db::platforms::is_emergency_connection(&app.db, id)
                        .await
                        .unwrap_or(false);
                    let wait = if emergency {
                        sync::Wait::Everything
                    } else {
                        sync::Wait::Posts
                    };
                    if let Err(e) = sync::run(&app, id, log, wait).await {
                        tracing::error!(connection = id, error = %format!("{e:#}"), "scheduled sync failed");
                    }
                });
            }
            // Someone else (a CLI sync, "Sync now") got there first: fine.
            Err(e) => tracing::debug!(connection = id, error = %format!("{e:#}"), "not started"),
        }
    }
    Ok(started)
}

/// Starts the scheduler; dropping nothing stops it: it lives as long as the process.
pub async fn start(app: &App, tick_every: Duration) -> Result<JobScheduler> {
    let scheduler = JobScheduler::new()
        .await
        .context("cannot start the scheduler")?;
    let ticker = app.clone();
    scheduler
        .add(Job::new_repeated_async(tick_every, move |_, _| {
            let app = ticker.clone();
            Box::pin(async move {
                if let Err(e) = tick(&app, time::now()).await {
                    tracing::error!(error = %format!("{e:#}"), "scheduler tick failed");
                }
            })
        })?)
        .await?;
    let backup = app.clone();
    scheduler
        .add(Job::new_async(BACKUP_CRON, move |_, _| {
            let app = backup.clone();
            Box::pin(async move {
                let result =
                    tokio::task::spawn_blocking(move || nightly_backup(&app, time::now())).await;
                match result {
                    Ok(Ok(path)) => tracing::info!(path = %path.display(), "database backed up"),
                    Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "backup failed"),
                    Err(e) => tracing::error!(error = %e, "backup panicked"),
                }
            })
        })?)
        .await?;
    let monitor = app.clone();
    scheduler
        .add(Job::new_async(HEALTH_CRON, move |_, _| {
            let app = monitor.clone();
            Box::pin(async move {
                match crate::health::check_all(&app).await {
                    Ok(done) => tracing::info!(platforms = done.len(), "health checked"),
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "health check failed"),
                }
            })
        })?)
        .await?;
    let waker = app.wake.clone();
    scheduler
        .add(Job::new_async(MEDIA_RETRY_CRON, move |_, _| {
            let waker = waker.clone();
            Box::pin(async move { waker.notify_one() })
        })?)
        .await?;
    scheduler.start().await?;
    // The first tick right away: overdue syncs (the Mac was asleep) need not wait.
    let first = app.clone();
    tokio::spawn(async move {
        if let Err(e) = tick(&first, time::now()).await {
            tracing::error!(error = %format!("{e:#}"), "first scheduler tick failed");
        }
    });
    Ok(scheduler)
}

/// An online, consistent copy of the database (`VACUUM INTO`, which readers and the
/// writer keep working through) into `DATA/backups/`, keeping the newest `BACKUPS_KEPT`.
pub fn nightly_backup(app: &App, now: i64) -> Result<PathBuf> {
    let dir = app.config.data_dir.join("backups");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = format!("lifeboat-{}.db", backup_stamp(now));
    let path = dir.join(&name);
    let partial = dir.join(format!("{name}.part"));
    let _ = std::fs::remove_file(&partial);
    let target = partial.to_string_lossy().into_owned();
    app.db
        .read_blocking(move |c| Ok(c.execute("VACUUM INTO ?1", [&target])?))
        .context("cannot copy the database")?;
    std::fs::rename(&partial, &path)?;
    prune_backups(&dir, BACKUPS_KEPT)?;
    Ok(path)
}

fn backup_stamp(now: i64) -> String {
    let t = ::time::OffsetDateTime::from_unix_timestamp(now)
        .unwrap_or(::time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Names sort by time: the oldest go first.
fn prune_backups(dir: &Path, keep: usize) -> Result<()> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("lifeboat-") && n.ends_with(".db"))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    for old in &backups[..excess] {
        std::fs::remove_file(old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_keep_their_slot_a_period_apart_and_are_spread_over_the_period() {
        let finished = 1_700_000_000;
        for (frequency, period) in [
            ("hourly", 3600),
            ("daily", 86_400),
            ("weekly", 604_800),
            ("monthly", 2_592_000),
        ] {
            let mut slots = std::collections::HashSet::new();
            for id in 1..=20 {
                let next = next_sync_at(id, frequency, finished);
                let gap = next - finished;
                assert!(
                    gap >= period / 2 && gap <= period * 3 / 2,
                    "{frequency} {gap}"
                );
                // Finishing a little late does not move the slot after.
                let after = next_sync_at(id, frequency, next + 120);
                assert_eq!(after - next, period, "{frequency}");
                slots.insert(next.rem_euclid(period));
            }
            assert!(slots.len() >= 15, "{frequency}: {slots:?}");
        }
    }

    #[test]
    fn backup_names_sort_by_time() {
        assert_eq!(backup_stamp(1_700_000_000), "2023-11-14T221320Z");
        assert!(backup_stamp(1_700_000_000) < backup_stamp(1_700_086_400));
    }
}
