//! The queue side of the stage tables (`ingested_items`, `ingested_posts`, `media`):
//! depths, failures with backoff, dead letters, and recovery after a crash.

use rusqlite::{Connection, params};
use serde::Serialize;

/// After this many failed attempts a row becomes a dead letter and waits for a person.
pub const MAX_ATTEMPTS: i64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Items,
    Posts,
    Media,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Items, Stage::Posts, Stage::Media];

    pub fn table(self) -> &'static str {
        match self {
            Stage::Items => "ingested_items",
            Stage::Posts => "ingested_posts",
            Stage::Media => "media",
        }
    }

    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL
            .into_iter()
            .find(|s| s.table() == name || s.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::Items => "items",
            Stage::Posts => "posts",
            Stage::Media => "media",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Stage::Items => "Raw payloads",
            Stage::Posts => "Raw posts",
            Stage::Media => "Media downloads",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Depth {
    pub stage: Stage,
    pub label: &'static str,
    pub pending: i64,
    pub processing: i64,
    pub failed: i64,
    pub dead_letter: i64,
    /// Media only (see `depths`).
    pub completed: Option<i64>,
}

/// Per stage, how many rows of `user_id` sit in each open status. "Done" is counted for
/// media only: the raw stages hold every post ever archived, and counting them on every
/// page load would cost more than it tells (the archive shows the post count).
pub fn depths(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<Depth>> {
    Stage::ALL
        .iter()
        .map(|&stage| {
            let mut depth = Depth {
                stage,
                label: stage.label(),
                pending: 0,
                processing: 0,
                failed: 0,
                dead_letter: 0,
                completed: (stage == Stage::Media).then_some(0),
            };
            let open = if stage == Stage::Media {
                ""
            } else {
                "AND status NOT IN ('completed', 'discarded')"
            };
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT status, COUNT(*) FROM {} WHERE user_id = ?1 {open} GROUP BY status",
                stage.table()
            ))?;
            let rows = stmt.query_map([user_id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
            for row in rows {
                let (status, count) = row?;
                match status.as_str() {
                    "pending" => depth.pending = count,
                    "processing" => depth.processing = count,
                    "failed" => depth.failed = count,
                    "dead_letter" => depth.dead_letter = count,
                    "completed" => depth.completed = Some(count),
                    _ => {}
                }
            }
            Ok(depth)
        })
        .collect()
}

/// Records a failed attempt: retried later with a growing delay, or, after
/// `MAX_ATTEMPTS`, parked as a dead letter.
pub fn fail(
    conn: &Connection,
    stage: Stage,
    id: i64,
    error: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "UPDATE {} SET attempts = attempts + 1, last_error = ?2, updated_at = ?3,
             status = CASE WHEN attempts + 1 >= ?4 THEN 'dead_letter' ELSE 'failed' END,
             next_attempt_at = ?3 + 30 * (1 << (2 * attempts))
         WHERE id = ?1 AND status NOT IN ('completed', 'discarded')",
        stage.table()
    ))?
    .execute(params![id, error, now, MAX_ATTEMPTS])?;
    Ok(())
}

// Raw posts have no index by item: these queries repeat the condition of a partial index
// on status word for word (SQLite uses one only then), so they read the few open rows,
// not every raw post of the archive.
const DEAD_LETTER_FAILED_POSTS: &str =
    "UPDATE ingested_posts SET status = 'dead_letter', updated_at = ?2
     WHERE status IN ('pending', 'failed') AND status = 'failed'
       AND item_id IN (SELECT id FROM ingested_items WHERE sync_log_id = ?1)";
const COUNT_DEAD_LETTERS: &str = "SELECT
       (SELECT COUNT(*) FROM ingested_items WHERE sync_log_id = ?1 AND status = 'dead_letter')
     + (SELECT COUNT(*) FROM ingested_posts
          WHERE status NOT IN ('completed', 'discarded') AND status = 'dead_letter'
            AND item_id IN (SELECT id FROM ingested_items WHERE sync_log_id = ?1))";

/// The failed raw items and raw posts of one sync (an import), to the dead letters now.
/// Returns how many rows of this sync are dead letters in all.
pub fn dead_letter_failed_for_sync(
    conn: &Connection,
    sync_log_id: i64,
    now: i64,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE ingested_items SET status = 'dead_letter', updated_at = ?2
         WHERE sync_log_id = ?1 AND status = 'failed'",
        params![sync_log_id, now],
    )?;
    conn.execute(DEAD_LETTER_FAILED_POSTS, params![sync_log_id, now])?;
    conn.query_row(COUNT_DEAD_LETTERS, [sync_log_id], |r| {
        r.get::<_, i64>(0).map(|n| n as usize)
    })
}

/// Marks rows done.
pub fn complete(conn: &Connection, stage: Stage, ids: &[i64], now: i64) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE {} SET status = 'completed', last_error = NULL, updated_at = ?2 WHERE id = ?1",
        stage.table()
    ))?;
    for id in ids {
        stmt.execute(params![id, now])?;
    }
    Ok(())
}

/// The processes that hold claimed work: running syncs and downloads in progress
/// (None where no claimant was recorded).
pub fn claimants(conn: &Connection) -> rusqlite::Result<Vec<Option<String>>> {
    conn.prepare(
        "SELECT sync_owner FROM connections WHERE status = 'syncing'
         UNION SELECT claimed_by FROM media WHERE status = 'processing'",
    )?
    .query_map([], |r| r.get(0))?
    .collect()
}

/// Puts back the work of a process that is gone (see src/owner.rs): its downloads return
/// to the queue, its syncs are marked interrupted and their connections freed. Returns
/// how many rows changed.
pub fn reclaim(conn: &Connection, owner: Option<&str>, now: i64) -> rusqlite::Result<usize> {
    let downloads = conn.execute(
        "UPDATE media SET status = 'pending', claimed_by = NULL
         WHERE status = 'processing' AND claimed_by IS ?1",
        params![owner],
    )?;
    let syncs = conn.execute(
        "UPDATE sync_logs SET status = 'failed', finished_at = ?2,
             error = 'interrupted: Lifeboat stopped during the sync; the next sync resumes it'
         WHERE status = 'running' AND connection_id IN
             (SELECT id FROM connections WHERE status = 'syncing' AND sync_owner IS ?1)",
        params![owner, now],
    )?;
    let connections = conn.execute(
        "UPDATE connections SET status = 'active', sync_owner = NULL, updated_at = ?2
         WHERE status = 'syncing' AND sync_owner IS ?1",
        params![owner, now],
    )?;
    Ok(downloads + syncs + connections)
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub stage: Stage,
    pub id: i64,
    pub connection_id: i64,
    pub label: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// The user's dead letters in every stage, newest first.
pub fn dead_letters(
    conn: &Connection,
    user_id: i64,
    limit: i64,
) -> rusqlite::Result<Vec<DeadLetter>> {
    let mut all = Vec::new();
    for stage in Stage::ALL {
        let label = match stage {
            Stage::Items => "external_id",
            Stage::Posts => "platform_post_id",
            Stage::Media => "url",
        };
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, connection_id, {label}, attempts, last_error, updated_at FROM {}
             WHERE user_id = ?1 AND status = 'dead_letter'
               AND status NOT IN ('completed', 'discarded')
             ORDER BY updated_at DESC LIMIT ?2",
            stage.table()
        ))?;
        let rows = stmt.query_map(params![user_id, limit], |r| {
            Ok(DeadLetter {
                stage,
                id: r.get(0)?,
                connection_id: r.get(1)?,
                label: r.get(2)?,
                attempts: r.get(3)?,
                last_error: r.get(4)?,
                updated_at: r.get(5)?,
            })
        })?;
        for row in rows {
            all.push(row?);
        }
    }
    all.sort_by_key(|d| std::cmp::Reverse(d.updated_at));
    Ok(all)
}

/// A person asks for another try: the row rejoins the queue with fresh attempts.
/// Only the user's own dead letters can be touched.
pub fn retry(
    conn: &Connection,
    stage: Stage,
    user_id: i64,
    id: i64,
    now: i64,
) -> rusqlite::Result<bool> {
    resolve_dead_letter(
        conn,
        stage,
        user_id,
        id,
        "status = 'pending', attempts = 0, next_attempt_at = 0",
        now,
    )
}

/// A person gives up on a row. It is kept (raw data is never thrown away) but leaves the queue.
pub fn discard(
    conn: &Connection,
    stage: Stage,
    user_id: i64,
    id: i64,
    now: i64,
) -> rusqlite::Result<bool> {
    resolve_dead_letter(conn, stage, user_id, id, "status = 'discarded'", now)
}

fn resolve_dead_letter(
    conn: &Connection,
    stage: Stage,
    user_id: i64,
    id: i64,
    set: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        &format!(
            "UPDATE {} SET {set}, updated_at = ?3
             WHERE id = ?1 AND user_id = ?2 AND status = 'dead_letter'",
            stage.table()
        ),
        params![id, user_id, now],
    )?;
    Ok(changed == 1)
}

#[cfg(test)]
mod tests {
    use super::{COUNT_DEAD_LETTERS, DEAD_LETTER_FAILED_POSTS};

    #[test]
    fn the_end_of_an_import_reads_only_open_raw_posts() {
        for sql in [DEAD_LETTER_FAILED_POSTS, COUNT_DEAD_LETTERS] {
            let plan = crate::db::query_plan(sql);
            assert!(
                !plan.iter().any(|step| step == "SCAN ingested_posts"),
                "{plan:?}"
            );
        }
    }
}
