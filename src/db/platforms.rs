use rusqlite::{Connection, params};
use serde::Serialize;

use crate::platform::Platform;

#[derive(Debug, Clone, Serialize)]
pub struct PlatformRow {
    pub id: String,
    pub name: String,
    pub health_score: Option<i64>,
    pub status: String,
    pub shutdown_date: Option<i64>,
    pub emergency: bool,
    pub emergency_deadline: Option<i64>,
    pub emergency_started_at: Option<i64>,
    pub emergency_finished_at: Option<i64>,
    /// Why Lifeboat proposes emergency mode, waiting for a person's confirmation.
    pub emergency_proposed: Option<String>,
}

/// Mirrors the code's platform list into the table; health data already there is kept.
pub fn upsert_known(conn: &Connection, now: i64) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "INSERT INTO platforms (id, name, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name",
    )?;
    for platform in Platform::ALL {
        stmt.execute(params![platform.id(), platform.name(), now])?;
    }
    Ok(())
}

pub fn all(conn: &Connection) -> rusqlite::Result<Vec<PlatformRow>> {
    let mut stmt = conn.prepare(
        "SELECT id, name, health_score, status, shutdown_date, emergency, emergency_deadline,
                emergency_started_at, emergency_finished_at, emergency_proposed
         FROM platforms ORDER BY name",
    )?;
    stmt.query_map([], |r| {
        Ok(PlatformRow {
            id: r.get(0)?,
            name: r.get(1)?,
            health_score: r.get(2)?,
            status: r.get(3)?,
            shutdown_date: r.get(4)?,
            emergency: r.get(5)?,
            emergency_deadline: r.get(6)?,
            emergency_started_at: r.get(7)?,
            emergency_finished_at: r.get(8)?,
            emergency_proposed: r.get(9)?,
        })
    })?
    .collect()
}

/// Emergency export mode on: syncs now and hourly, media first. Returns false if it was on.
pub fn start_emergency(
    conn: &Connection,
    platform: &str,
    deadline: Option<i64>,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE platforms SET emergency = 1, emergency_deadline = ?2, emergency_started_at = ?3,
             emergency_finished_at = NULL, emergency_proposed = NULL, updated_at = ?3
         WHERE id = ?1 AND emergency = 0",
        rusqlite::params![platform, deadline, now],
    )?;
    // Its connections are due now, whatever their frequency.
    conn.execute(
        "UPDATE connections SET next_sync_at = ?2 WHERE platform = ?1 AND kind != 'import'",
        rusqlite::params![platform, now],
    )?;
    Ok(n == 1)
}

pub fn stop_emergency(conn: &Connection, platform: &str, now: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE platforms SET emergency = 0, emergency_proposed = NULL, updated_at = ?2
         WHERE id = ?1 AND (emergency = 1 OR emergency_proposed IS NOT NULL)",
        rusqlite::params![platform, now],
    )?;
    Ok(n == 1)
}

/// Everything there was is saved; returns false if it was marked before.
pub fn finish_emergency(conn: &Connection, platform: &str, now: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE platforms SET emergency_finished_at = ?2, updated_at = ?2
         WHERE id = ?1 AND emergency = 1 AND emergency_finished_at IS NULL",
        rusqlite::params![platform, now],
    )?;
    Ok(n == 1)
}

/// An automatic proposal, waiting for a person; false if one is already waiting or the
/// platform is in emergency mode already.
pub fn propose_emergency(
    conn: &Connection,
    platform: &str,
    reason: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE platforms SET emergency_proposed = ?2, updated_at = ?3
         WHERE id = ?1 AND emergency = 0 AND emergency_proposed IS NULL",
        rusqlite::params![platform, reason, now],
    )?;
    Ok(n == 1)
}

pub fn is_emergency(conn: &Connection, platform: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COALESCE((SELECT emergency FROM platforms WHERE id = ?1), 0)",
        [platform],
        |r| r.get(0),
    )
}

/// Whether a connection's platform is in emergency export mode.
pub async fn is_emergency_connection(db: &super::Db, connection_id: i64) -> anyhow::Result<bool> {
    db.read(move |c| {
        Ok(c.query_row(
            "SELECT COALESCE(p.emergency, 0) FROM connections c
             LEFT JOIN platforms p ON p.id = c.platform WHERE c.id = ?1",
            [connection_id],
            |r| r.get(0),
        )?)
    })
    .await
}
