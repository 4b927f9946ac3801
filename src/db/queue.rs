//! Depths of the stage tables, which double as durable queues.

use rusqlite::Connection;
use serde::Serialize;

pub const STAGES: [&str; 3] = ["ingested_items", "ingested_posts", "media"];

#[derive(Debug, Clone, Default, Serialize)]
pub struct Depth {
    pub stage: &'static str,
    pub pending: i64,
    pub processing: i64,
    pub failed: i64,
    pub dead_letter: i64,
    pub completed: i64,
}

/// Per stage, how many rows of `user_id` sit in each status.
pub fn depths(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<Depth>> {
    STAGES
        .iter()
        .map(|&stage| {
            let mut depth = Depth { stage, ..Depth::default() };
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT status, COUNT(*) FROM {stage} WHERE user_id = ?1 GROUP BY status"
            ))?;
            let rows = stmt.query_map([user_id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
            for row in rows {
                let (status, count) = row?;
                match status.as_str() {
                    "pending" => depth.pending = count,
                    "processing" => depth.processing = count,
                    "failed" => depth.failed = count,
                    "dead_letter" => depth.dead_letter = count,
                    _ => depth.completed = count,
                }
            }
            Ok(depth)
        })
        .collect()
}
