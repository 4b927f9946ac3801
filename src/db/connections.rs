use rusqlite::{Connection as Sqlite, OptionalExtension, Row, params};
use serde::Serialize;

/// A connection as pages and the API show it. Credentials are never part of it.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub id: i64,
    pub user_id: i64,
    pub platform: String,
    pub kind: String,
    pub label: String,
    pub url: Option<String>,
    pub handle: Option<String>,
    pub has_credentials: bool,
    pub backup_frequency: String,
    pub sync_enabled: bool,
    pub status: String,
    pub last_sync_at: Option<i64>,
    pub next_sync_at: Option<i64>,
    pub last_error: Option<String>,
    pub error_count: i64,
    pub created_at: i64,
}

pub struct NewConnection<'a> {
    pub user_id: i64,
    pub platform: &'a str,
    pub kind: &'a str,
    pub label: &'a str,
    pub url: Option<&'a str>,
    pub handle: Option<&'a str>,
    pub credentials: Option<&'a [u8]>,
}

const COLUMNS: &str = "id, user_id, platform, kind, label, url, handle, credentials IS NOT NULL,
    backup_frequency, sync_enabled, status, last_sync_at, next_sync_at, last_error, error_count,
    created_at";

fn from_row(r: &Row) -> rusqlite::Result<Connection> {
    Ok(Connection {
        id: r.get(0)?,
        user_id: r.get(1)?,
        platform: r.get(2)?,
        kind: r.get(3)?,
        label: r.get(4)?,
        url: r.get(5)?,
        handle: r.get(6)?,
        has_credentials: r.get(7)?,
        backup_frequency: r.get(8)?,
        sync_enabled: r.get(9)?,
        status: r.get(10)?,
        last_sync_at: r.get(11)?,
        next_sync_at: r.get(12)?,
        last_error: r.get(13)?,
        error_count: r.get(14)?,
        created_at: r.get(15)?,
    })
}

pub fn insert(conn: &Sqlite, new: &NewConnection, now: i64) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO connections (user_id, platform, kind, label, url, handle, credentials,
                                  created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        params![
            new.user_id,
            new.platform,
            new.kind,
            new.label,
            new.url,
            new.handle,
            new.credentials,
            now
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// One connection, only if it belongs to `user_id`: ids in URLs never cross users.
pub fn for_user_by_id(
    conn: &Sqlite,
    user_id: i64,
    id: i64,
) -> rusqlite::Result<Option<Connection>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM connections WHERE id = ?1 AND user_id = ?2"),
        params![id, user_id],
        from_row,
    )
    .optional()
}

pub fn for_user(conn: &Sqlite, user_id: i64) -> rusqlite::Result<Vec<Connection>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM connections WHERE user_id = ?1 ORDER BY platform, label, id"
    ))?;
    stmt.query_map([user_id], from_row)?.collect()
}

/// The connection an export of `platform` goes into: the user's live connection for it
/// when there is one (so a post from both routes is one post), else an earlier import's.
pub fn for_import(conn: &Sqlite, user_id: i64, platform: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM connections WHERE user_id = ?1 AND platform = ?2
         ORDER BY kind = 'import', id LIMIT 1",
        params![user_id, platform],
        |r| r.get(0),
    )
    .optional()
}

/// The encrypted credentials of a connection (vault ciphertext), for the sync worker only.
pub fn credentials(conn: &Sqlite, id: i64) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row(
        "SELECT credentials FROM connections WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .optional()
    .map(Option::flatten)
}

/// What a sync needs to know about its connection.
pub struct SyncTarget {
    pub id: i64,
    pub user_id: i64,
    pub platform: String,
    pub url: Option<String>,
    pub handle: Option<String>,
    pub cursor: Option<String>,
    pub credentials: Option<Vec<u8>>,
    pub backup_frequency: String,
}

pub fn sync_target(conn: &Sqlite, id: i64) -> rusqlite::Result<Option<SyncTarget>> {
    conn.query_row(
        "SELECT id, user_id, platform, url, cursor, credentials, backup_frequency, handle
         FROM connections WHERE id = ?1",
        [id],
        |r| {
            Ok(SyncTarget {
                id: r.get(0)?,
                user_id: r.get(1)?,
                platform: r.get(2)?,
                url: r.get(3)?,
                cursor: r.get(4)?,
                credentials: r.get(5)?,
                backup_frequency: r.get(6)?,
                handle: r.get(7)?,
            })
        },
    )
    .optional()
}

/// Marks a connection as syncing; false if a sync is already running, so two syncs of one
/// connection never overlap (the server's and a CLI's included).
pub fn begin_sync(conn: &Sqlite, id: i64, owner: &str, now: i64) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE connections SET status = 'syncing', sync_owner = ?3, updated_at = ?2
         WHERE id = ?1 AND status != 'syncing'",
        params![id, now, owner],
    )?;
    Ok(changed == 1)
}

/// Saved with every page, in the page's transaction: an interrupted sync resumes here.
pub fn set_cursor(conn: &Sqlite, id: i64, cursor: Option<&str>) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE connections SET cursor = ?2 WHERE id = ?1")?
        .execute(params![id, cursor])?;
    Ok(())
}

pub fn finish_sync_ok(conn: &Sqlite, id: i64, now: i64, next_sync_at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE connections SET status = 'active', sync_owner = NULL, last_sync_at = ?2, next_sync_at = ?3,
             last_error = NULL, consecutive_errors = 0, updated_at = ?2
         WHERE id = ?1",
        params![id, now, next_sync_at],
    )?;
    Ok(())
}

/// `status` is 'error', or 'reconnect' when only a person can fix it.
pub fn finish_sync_err(
    conn: &Sqlite,
    id: i64,
    status: &str,
    error: &str,
    now: i64,
    next_sync_at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE connections SET status = ?2, sync_owner = NULL, last_error = ?3, error_count = error_count + 1,
             consecutive_errors = consecutive_errors + 1, next_sync_at = ?5, updated_at = ?4
         WHERE id = ?1",
        params![id, status, error, now, next_sync_at],
    )?;
    Ok(())
}

/// New credentials from a reconnect: the connection is usable again.
pub fn set_credentials(
    conn: &Sqlite,
    user_id: i64,
    id: i64,
    credentials: &[u8],
    now: i64,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE connections SET credentials = ?3, status = CASE WHEN status = 'syncing'
             THEN status ELSE 'active' END, last_error = NULL, consecutive_errors = 0,
             updated_at = ?4
         WHERE user_id = ?1 AND id = ?2",
        params![user_id, id, credentials, now],
    )?;
    Ok(n == 1)
}

/// Credentials a sync renewed (a refresh, a rotated refresh token), saved at once.
pub fn store_credentials(conn: &Sqlite, id: i64, credentials: &[u8]) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE connections SET credentials = ?2 WHERE id = ?1",
        params![id, credentials],
    )?;
    Ok(())
}

/// A connection the scheduler may start.
pub struct Due {
    pub id: i64,
    pub user_id: i64,
    pub platform: String,
    /// Its platform is in emergency export mode.
    pub emergency: bool,
}

/// Connections whose next sync is due at `now`, longest overdue first. Paused ones, those
/// waiting for a person to reconnect, imports and running syncs are not due.
pub fn due(conn: &Sqlite, now: i64) -> rusqlite::Result<Vec<Due>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.user_id, c.platform, COALESCE(p.emergency, 0) FROM connections c
         LEFT JOIN platforms p ON p.id = c.platform
         WHERE c.sync_enabled = 1 AND c.kind != 'import' AND c.status NOT IN ('syncing', 'reconnect')
           AND COALESCE(c.next_sync_at, 0) <= ?1
         ORDER BY COALESCE(p.emergency, 0) DESC, COALESCE(c.next_sync_at, 0), c.id",
    )?;
    stmt.query_map([now], |r| {
        Ok(Due {
            id: r.get(0)?,
            user_id: r.get(1)?,
            platform: r.get(2)?,
            emergency: r.get(3)?,
        })
    })?
    .collect()
}

/// Platforms with a sync running now (one entry per running sync).
pub fn syncing_platforms(conn: &Sqlite) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT platform FROM connections WHERE status = 'syncing'")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// A person changed how often a connection is backed up, or paused it. The next run is
/// planned from the last one (or now, if it never ran).
pub fn set_schedule(
    conn: &Sqlite,
    user_id: i64,
    id: i64,
    frequency: &str,
    enabled: bool,
    next_sync_at: i64,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE connections SET backup_frequency = ?3, sync_enabled = ?4, next_sync_at = ?5,
             updated_at = ?6
         WHERE user_id = ?1 AND id = ?2",
        params![user_id, id, frequency, enabled, next_sync_at, now],
    )?;
    Ok(n == 1)
}

/// The connection a platform webhook's secret path names: (id, user_id).
pub fn by_webhook_token(
    conn: &Sqlite,
    platform: &str,
    token: &str,
) -> rusqlite::Result<Option<(i64, i64)>> {
    conn.query_row(
        "SELECT id, user_id FROM connections WHERE webhook_token = ?1 AND platform = ?2",
        params![token, platform],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Gives a connection the secret path segment of its webhook (a new one replaces the old).
pub fn set_webhook_token(
    conn: &Sqlite,
    user_id: i64,
    id: i64,
    token: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE connections SET webhook_token = ?3, updated_at = ?4 WHERE user_id = ?1 AND id = ?2",
        params![user_id, id, token, now],
    )?;
    Ok(n == 1)
}

/// A webhook said something changed: the scheduler picks the connection up at its next tick.
pub fn sync_soon(conn: &Sqlite, id: i64, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE connections SET next_sync_at = MIN(COALESCE(next_sync_at, ?2), ?2) WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}
