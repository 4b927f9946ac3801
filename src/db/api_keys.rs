use rusqlite::{Connection, OptionalExtension, params};

use super::users::User;

pub struct ApiKeyInfo {
    pub id: i64,
    pub label: String,
    pub key_prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub fn insert(
    conn: &Connection,
    user_id: i64,
    label: &str,
    key_hash: &str,
    key_prefix: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO api_keys (user_id, label, key_hash, key_prefix, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user_id, label, key_hash, key_prefix, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The owner of a key, by the key's hash, with the key's id.
pub fn user_by_hash(conn: &Connection, key_hash: &str) -> rusqlite::Result<Option<(i64, User)>> {
    conn.query_row(
        "SELECT k.id, u.id, u.name, u.is_admin, u.created_at
         FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1",
        [key_hash],
        |r| {
            Ok((
                r.get(0)?,
                User {
                    id: r.get(1)?,
                    name: r.get(2)?,
                    is_admin: r.get(3)?,
                    created_at: r.get(4)?,
                },
            ))
        },
    )
    .optional()
}

pub fn mark_used(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

pub fn for_user(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<ApiKeyInfo>> {
    let mut stmt = conn.prepare(
        "SELECT id, label, key_prefix, created_at, last_used_at FROM api_keys
         WHERE user_id = ?1 ORDER BY id",
    )?;
    stmt.query_map([user_id], |r| {
        Ok(ApiKeyInfo {
            id: r.get(0)?,
            label: r.get(1)?,
            key_prefix: r.get(2)?,
            created_at: r.get(3)?,
            last_used_at: r.get(4)?,
        })
    })?
    .collect()
}

pub fn delete(conn: &Connection, user_id: i64, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "DELETE FROM api_keys WHERE id = ?1 AND user_id = ?2",
        params![id, user_id],
    )? == 1)
}
