//! Imports of official data exports: progress and result of each one.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Import {
    pub id: i64,
    pub connection_id: Option<i64>,
    pub sync_log_id: Option<i64>,
    pub file_name: String,
    pub platform: Option<String>,
    pub status: String,
    pub bytes_total: i64,
    pub bytes_done: i64,
    pub items: i64,
    pub media_files: i64,
    /// JSON list of {"what", "reason"}.
    pub skipped: String,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, connection_id, sync_log_id, file_name, platform, status, bytes_total,
    bytes_done, items, media_files, skipped, error, created_at, finished_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Import> {
    Ok(Import {
        id: r.get(0)?,
        connection_id: r.get(1)?,
        sync_log_id: r.get(2)?,
        file_name: r.get(3)?,
        platform: r.get(4)?,
        status: r.get(5)?,
        bytes_total: r.get(6)?,
        bytes_done: r.get(7)?,
        items: r.get(8)?,
        media_files: r.get(9)?,
        skipped: r.get(10)?,
        error: r.get(11)?,
        created_at: r.get(12)?,
        finished_at: r.get(13)?,
    })
}

/// A new import, claimed by `owner` (the process that receives or reads the file).
pub fn create(
    conn: &Connection,
    user_id: i64,
    file_name: &str,
    status: &str,
    owner: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO imports (user_id, file_name, status, claimed_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![user_id, file_name, status, owner, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The export has been recognised: reading starts.
pub fn start_reading(
    conn: &Connection,
    id: i64,
    platform: &str,
    connection_id: i64,
    sync_log_id: i64,
    bytes_total: i64,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE imports SET status = 'reading', platform = ?2, connection_id = ?3,
             sync_log_id = ?4, bytes_total = ?5, updated_at = ?6
         WHERE id = ?1",
        params![id, platform, connection_id, sync_log_id, bytes_total, now],
    )?;
    Ok(())
}

pub fn progress(
    conn: &Connection,
    id: i64,
    bytes_done: i64,
    items: i64,
    media_files: i64,
    now: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE imports SET bytes_done = ?2, items = ?3, media_files = ?4, updated_at = ?5
         WHERE id = ?1",
    )?
    .execute(params![id, bytes_done, items, media_files, now])?;
    Ok(())
}

pub fn set_status(conn: &Connection, id: i64, status: &str, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE imports SET status = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, status, now],
    )?;
    Ok(())
}

/// Done: completed when `error` is None, else failed with it.
pub fn finish(
    conn: &Connection,
    id: i64,
    skipped_json: &str,
    error: Option<&str>,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE imports SET status = CASE WHEN ?3 IS NULL THEN 'completed' ELSE 'failed' END,
             skipped = ?2, error = ?3, claimed_by = NULL, updated_at = ?4, finished_at = ?4
         WHERE id = ?1",
        params![id, skipped_json, error, now],
    )?;
    Ok(())
}

pub fn for_user(conn: &Connection, user_id: i64, limit: i64) -> rusqlite::Result<Vec<Import>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM imports WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2"
    ))?
    .query_map(params![user_id, limit], from_row)?
    .collect()
}

/// One import, only if it belongs to `user_id`.
pub fn for_user_by_id(
    conn: &Connection,
    user_id: i64,
    id: i64,
) -> rusqlite::Result<Option<Import>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM imports WHERE id = ?1 AND user_id = ?2"),
        params![id, user_id],
        from_row,
    )
    .optional()
}

/// Whether import `id` is still being uploaded or worked on.
pub fn is_running(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM imports WHERE id = ?1
             AND status IN ('uploading', 'reading', 'processing'))",
        [id],
        |r| r.get(0),
    )
}

/// Processes with unfinished imports (see `queue::claimants`).
pub fn claimants(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare(
        "SELECT DISTINCT claimed_by FROM imports
         WHERE claimed_by IS NOT NULL AND status NOT IN ('completed', 'failed')",
    )?
    .query_map([], |r| r.get(0))?
    .collect()
}

/// The imports of a process that died: failed, with what to do. Whatever they had
/// written stays (it is idempotent), and importing the file again finishes the job.
pub fn abandon(conn: &Connection, owner: &str, now: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE imports SET status = 'failed', claimed_by = NULL, finished_at = ?2, updated_at = ?2,
             error = CASE status WHEN 'uploading'
                 THEN 'the upload was cut off; upload the file again'
                 ELSE 'interrupted (Lifeboat stopped); import the file again to finish it' END
         WHERE claimed_by = ?1 AND status NOT IN ('completed', 'failed')",
        params![owner, now],
    )
}
