use rusqlite::{Connection, OptionalExtension, params};

use super::users::User;

/// A logged-in browser: its user and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user: User,
    pub csrf_token: String,
    pub last_seen_at: i64,
}

pub fn insert(
    conn: &Connection,
    token_hash: &str,
    user_id: i64,
    csrf_token: &str,
    now: i64,
    expires_at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        params![token_hash, user_id, csrf_token, now, expires_at],
    )?;
    Ok(())
}

pub fn by_token_hash(
    conn: &Connection,
    token_hash: &str,
    now: i64,
) -> rusqlite::Result<Option<Session>> {
    conn.query_row(
        "SELECT s.id, s.csrf_token, s.last_seen_at, u.id, u.name, u.is_admin, u.created_at
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = ?1 AND s.expires_at > ?2",
        params![token_hash, now],
        |r| {
            Ok(Session {
                id: r.get(0)?,
                csrf_token: r.get(1)?,
                last_seen_at: r.get(2)?,
                user: User {
                    id: r.get(3)?,
                    name: r.get(4)?,
                    is_admin: r.get(5)?,
                    created_at: r.get(6)?,
                },
            })
        },
    )
    .optional()
}

/// Sliding expiry: a session in use stays alive.
pub fn touch(conn: &Connection, id: i64, now: i64, expires_at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE id = ?1",
        params![id, now, expires_at],
    )?;
    Ok(())
}

pub fn delete_by_token_hash(conn: &Connection, token_hash: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
    Ok(())
}

/// After a password change every other browser must log in again.
pub fn delete_for_user_except(
    conn: &Connection,
    user_id: i64,
    keep_id: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM sessions WHERE user_id = ?1 AND id != ?2",
        params![user_id, keep_id],
    )?;
    Ok(())
}

pub fn delete_expired(conn: &Connection, now: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])
}
