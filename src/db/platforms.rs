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
        "SELECT id, name, health_score, status, shutdown_date, emergency, emergency_deadline
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
        })
    })?
    .collect()
}
