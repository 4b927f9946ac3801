//! One row per sync (or import): what it fetched, created, updated and downloaded.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct SyncLog {
    pub id: i64,
    pub connection_id: i64,
    pub trigger: String,
    pub status: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub items_fetched: i64,
    pub posts_fetched: i64,
    pub posts_created: i64,
    pub posts_updated: i64,
    pub posts_deleted: i64,
    pub media_downloaded: i64,
    pub media_failed: i64,
    pub duration_ms: Option<i64>,
    pub message: Option<String>,
    pub error: Option<String>,
}

const COLUMNS: &str = "id, connection_id, trigger, status, started_at, finished_at, items_fetched,
    posts_fetched, posts_created, posts_updated, posts_deleted, media_downloaded, media_failed,
    duration_ms, message, error";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<SyncLog> {
    Ok(SyncLog {
        id: r.get(0)?,
        connection_id: r.get(1)?,
        trigger: r.get(2)?,
        status: r.get(3)?,
        started_at: r.get(4)?,
        finished_at: r.get(5)?,
        items_fetched: r.get(6)?,
        posts_fetched: r.get(7)?,
        posts_created: r.get(8)?,
        posts_updated: r.get(9)?,
        posts_deleted: r.get(10)?,
        media_downloaded: r.get(11)?,
        media_failed: r.get(12)?,
        duration_ms: r.get(13)?,
        message: r.get(14)?,
        error: r.get(15)?,
    })
}

pub fn start(
    conn: &Connection,
    user_id: i64,
    connection_id: i64,
    trigger: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO sync_logs (user_id, connection_id, trigger, started_at) VALUES (?1, ?2, ?3, ?4)",
        params![user_id, connection_id, trigger, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Counters that workers add to as the sync's rows move through the pipeline.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub items_fetched: i64,
    pub posts_fetched: i64,
    pub posts_created: i64,
    pub posts_updated: i64,
    pub media_downloaded: i64,
    pub media_failed: i64,
}

pub fn add(conn: &Connection, id: i64, c: &Counts) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE sync_logs SET items_fetched = items_fetched + ?2, posts_fetched = posts_fetched + ?3,
             posts_created = posts_created + ?4, posts_updated = posts_updated + ?5,
             media_downloaded = media_downloaded + ?6, media_failed = media_failed + ?7
         WHERE id = ?1 AND status = 'running'",
    )?
    .execute(params![
        id,
        c.items_fetched,
        c.posts_fetched,
        c.posts_created,
        c.posts_updated,
        c.media_downloaded,
        c.media_failed
    ])?;
    Ok(())
}

pub fn finish(
    conn: &Connection,
    id: i64,
    error: Option<&str>,
    message: Option<&str>,
    duration_ms: i64,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sync_logs SET status = CASE WHEN ?2 IS NULL THEN 'completed' ELSE 'failed' END,
             error = ?2, message = ?3, duration_ms = ?4, finished_at = ?5
         WHERE id = ?1",
        params![id, error, message, duration_ms, now],
    )?;
    Ok(())
}

pub fn for_connection(
    conn: &Connection,
    user_id: i64,
    connection_id: i64,
    limit: i64,
) -> rusqlite::Result<Vec<SyncLog>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sync_logs WHERE connection_id = ?1 AND user_id = ?2
         ORDER BY id DESC LIMIT ?3"
    ))?
    .query_map(params![connection_id, user_id, limit], from_row)?
    .collect()
}

pub fn for_user_by_id(
    conn: &Connection,
    user_id: i64,
    id: i64,
) -> rusqlite::Result<Option<SyncLog>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM sync_logs WHERE id = ?1 AND user_id = ?2"),
        params![id, user_id],
        from_row,
    )
    .optional()
}
