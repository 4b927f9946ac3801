//! What the emergency page shows of each connection of a platform in emergency mode.

use rusqlite::{Connection, params};

#[derive(Debug, Clone)]
pub struct Progress {
    pub connection_id: i64,
    pub label: String,
    pub status: String,
    pub last_error: Option<String>,
    /// Posts archived in all.
    pub posts: i64,
    /// Posts archived since emergency mode started.
    pub posts_since: i64,
    /// The newest and oldest post dates archived (what the walk back has reached).
    pub oldest: Option<i64>,
    pub media_done: i64,
    pub media_left: i64,
    /// What the platform said the account holds, when it says.
    pub expected: Option<i64>,
    /// A sync since the start of emergency mode went through to the end.
    pub synced_through: bool,
}

/// The user's connections of `platform`, with their progress since `since`.
pub fn progress(
    conn: &Connection,
    user_id: i64,
    platform: &str,
    since: i64,
) -> rusqlite::Result<Vec<Progress>> {
    let mut stmt = conn.prepare(
        "SELECT c.id, c.label, c.status, c.last_error,
             (SELECT COUNT(*) FROM posts p WHERE p.connection_id = c.id),
             (SELECT COUNT(*) FROM posts p WHERE p.connection_id = c.id AND p.created_at >= ?3),
             (SELECT MIN(p.sort_at) FROM posts p WHERE p.connection_id = c.id),
             (SELECT COUNT(*) FROM media m WHERE m.connection_id = c.id AND m.status = 'completed'),
             (SELECT COUNT(*) FROM media m WHERE m.connection_id = c.id
                 AND m.status IN ('pending', 'processing', 'failed')),
             c.expected_items,
             EXISTS (SELECT 1 FROM sync_logs l WHERE l.connection_id = c.id
                 AND l.status = 'completed' AND l.started_at >= ?3)
         FROM connections c
         WHERE c.user_id = ?1 AND c.platform = ?2 AND c.kind != 'import'
         ORDER BY c.id",
    )?;
    stmt.query_map(params![user_id, platform, since], |r| {
        Ok(Progress {
            connection_id: r.get(0)?,
            label: r.get(1)?,
            status: r.get(2)?,
            last_error: r.get(3)?,
            posts: r.get(4)?,
            posts_since: r.get(5)?,
            oldest: r.get(6)?,
            media_done: r.get(7)?,
            media_left: r.get(8)?,
            expected: r.get(9)?,
            synced_through: r.get(10)?,
        })
    })?
    .collect()
}

/// True when every live connection of the platform (all users) synced through since
/// `since` and nothing of the platform waits in a queue.
pub fn finished(conn: &Connection, platform: &str, since: i64) -> rusqlite::Result<bool> {
    conn.query_row(FINISHED, params![platform, since], |r| r.get(0))
}

/// The stage tables are read through their partial indexes of open rows, which SQLite
/// uses only when the query repeats the index's condition word for word; the rows left
/// are few, where a full scan would read every raw post ever archived.
const FINISHED: &str = "SELECT NOT EXISTS (
         SELECT 1 FROM connections c WHERE c.platform = ?1 AND c.kind != 'import'
           AND c.sync_enabled = 1
           AND NOT EXISTS (SELECT 1 FROM sync_logs l WHERE l.connection_id = c.id
                           AND l.status = 'completed' AND l.started_at >= ?2))
     AND NOT EXISTS (SELECT 1 FROM media m WHERE m.platform = ?1
           AND m.status IN ('pending', 'processing', 'failed'))
     AND NOT EXISTS (SELECT 1 FROM ingested_items i JOIN connections c ON c.id = i.connection_id
           WHERE c.platform = ?1 AND i.status NOT IN ('completed', 'discarded')
             AND i.status IN ('pending', 'processing', 'failed'))
     AND NOT EXISTS (SELECT 1 FROM ingested_posts i JOIN connections c ON c.id = i.connection_id
           WHERE c.platform = ?1 AND i.status NOT IN ('completed', 'discarded')
             AND i.status IN ('pending', 'processing', 'failed'))";

/// What a connector said the account holds.
pub fn set_expected(conn: &Connection, connection_id: i64, total: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE connections SET expected_items = ?2 WHERE id = ?1",
        params![connection_id, total],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn finishing_reads_only_open_stage_rows() {
        let plan = crate::db::query_plan(super::FINISHED);
        for table in ["ingested_items", "ingested_posts"] {
            assert!(
                plan.iter()
                    .any(|step| step.contains(&format!("{table}_open"))),
                "{table}: {plan:?}"
            );
        }
        assert!(!plan.iter().any(|step| step == "SCAN i"), "{plan:?}");
    }
}
