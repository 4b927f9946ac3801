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
    pub id: i64,
    pub source: String,
    pub value: Option<f64>,
    pub detail: Option<String>,
    pub url: Option<String>,
    pub created_at: i64,
}

/// A platform's signals since `since`, newest first; the raw per-request telemetry only
/// when asked (the monitor summarises it into signals of its own).
pub fn recent(
    conn: &Connection,
    platform: &str,
    since: i64,
    limit: i64,
    with_telemetry: bool,
) -> rusqlite::Result<Vec<SignalRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, source, value, detail, url, created_at FROM health_signals
         WHERE platform = ?1 AND created_at >= ?2 AND (?4 OR source != 'telemetry')
         ORDER BY created_at DESC, id DESC LIMIT ?3",
    )?;
    stmt.query_map(params![platform, since, limit, with_telemetry], |r| {
        Ok(SignalRow {
            id: r.get(0)?,
            source: r.get(1)?,
            value: r.get(2)?,
            detail: r.get(3)?,
            url: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?
    .collect()
}

/// Does a signal from this source with this URL exist already (a headline seen before)?
pub fn signal_exists(
    conn: &Connection,
    platform: &str,
    source: &str,
    url: &str,
) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM health_signals WHERE platform = ?1 AND source = ?2 AND url = ?3)",
        params![platform, source, url],
        |r| r.get(0),
    )
}

pub struct NewAssessment<'a> {
    pub platform: &'a str,
    pub score: i64,
    pub status: &'a str,
    pub reason: &'a str,
    /// JSON list of the signals it relied on.
    pub signals: &'a str,
    pub produced_by: &'a str,
    pub model: Option<&'a str>,
    pub created_at: i64,
}

/// Stores an assessment and makes it the platform's current health.
pub fn insert_assessment(conn: &Connection, new: &NewAssessment) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO health_assessments
             (platform, score, status, reason, signals, produced_by, model, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            new.platform,
            new.score,
            new.status,
            new.reason,
            new.signals,
            new.produced_by,
            new.model,
            new.created_at
        ],
    )?;
    let id = conn.last_insert_rowid();
    conn.execute(
        "UPDATE platforms SET health_score = ?2, status = ?3, updated_at = ?4 WHERE id = ?1",
        params![new.platform, new.score, new.status, new.created_at],
    )?;
    Ok(id)
}

#[derive(Debug, Clone)]
pub struct AssessmentRow {
    pub score: i64,
    pub status: String,
    pub reason: String,
    pub signals: String,
    pub produced_by: String,
    pub model: Option<String>,
    pub created_at: i64,
}

/// A platform's assessments, newest first.
pub fn assessments(
    conn: &Connection,
    platform: &str,
    limit: i64,
) -> rusqlite::Result<Vec<AssessmentRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT score, status, reason, signals, produced_by, model, created_at
         FROM health_assessments WHERE platform = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
    )?;
    stmt.query_map(params![platform, limit], |r| {
        Ok(AssessmentRow {
            score: r.get(0)?,
            status: r.get(1)?,
            reason: r.get(2)?,
            signals: r.get(3)?,
            produced_by: r.get(4)?,
            model: r.get(5)?,
            created_at: r.get(6)?,
        })
    })?
    .collect()
}

/// Platforms someone backs up (live or imported): the ones worth watching.
pub fn watched_platforms(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT platform FROM connections ORDER BY platform")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// Connections of a platform, and how many of them wait for a person to reconnect.
pub fn auth_failures(conn: &Connection, platform: &str) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(status = 'reconnect'), 0) FROM connections
         WHERE platform = ?1 AND kind = 'api'",
        [platform],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// A shutdown date a person or an announcement gave.
pub fn set_shutdown_date(
    conn: &Connection,
    platform: &str,
    date: Option<i64>,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE platforms SET shutdown_date = ?2, updated_at = ?3 WHERE id = ?1",
        params![platform, date, now],
    )?;
    Ok(())
}
