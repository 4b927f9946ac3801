//! Health signals: what the connectors, feeds and people observed about a platform.

use rusqlite::{Connection, params};

/// Telemetry rows kept per platform; older ones are pruned as new ones arrive.
pub const MAX_TELEMETRY_ROWS: i64 = 5_000;

pub struct NewSignal<'a> {
    pub platform: &'a str,
    pub source: &'a str,
    pub value: Option<f64>,
    pub detail: Option<&'a str>,
    pub url: Option<&'a str>,
    pub created_at: i64,
}

pub fn insert_signal(conn: &Connection, new: &NewSignal) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO health_signals (platform, source, value, detail, url, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        new.platform,
        new.source,
        new.value,
        new.detail,
        new.url,
        new.created_at
    ])?;
    Ok(())
}

/// Keeps the newest `keep` rows of one platform's source.
pub fn prune(
    conn: &Connection,
    platform: &str,
    source: &str,
    keep: i64,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM health_signals WHERE platform = ?1 AND source = ?2 AND id <= (
             SELECT id FROM health_signals WHERE platform = ?1 AND source = ?2
             ORDER BY id DESC LIMIT 1 OFFSET ?3)",
    )?
    .execute(params![platform, source, keep])
}

#[derive(Debug, Clone)]
pub struct SignalRow {
    pub source: String,
    pub value: Option<f64>,
    pub detail: Option<String>,
    pub url: Option<String>,
    pub created_at: i64,
}

/// A platform's signals since `since`, newest first.
pub fn recent(
    conn: &Connection,
    platform: &str,
    since: i64,
    limit: i64,
) -> rusqlite::Result<Vec<SignalRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT source, value, detail, url, created_at FROM health_signals
         WHERE platform = ?1 AND created_at >= ?2 ORDER BY created_at DESC, id DESC LIMIT ?3",
    )?;
    stmt.query_map(params![platform, since, limit], |r| {
        Ok(SignalRow {
            source: r.get(0)?,
            value: r.get(1)?,
            detail: r.get(2)?,
            url: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?
    .collect()
}
