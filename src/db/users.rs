use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
    pub created_at: i64,
}

const COLUMNS: &str = "id, name, is_admin, created_at";

fn from_row(row: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        is_admin: row.get(2)?,
        created_at: row.get(3)?,
    })
}

pub fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
}

pub fn insert(
    conn: &Connection,
    name: &str,
    password_hash: &str,
    is_admin: bool,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO users (name, password_hash, is_admin, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, password_hash, is_admin, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The first user of a fresh install, created only while there is none: two setup forms
/// submitted at once cannot both become admin.
pub fn insert_first_admin(
    conn: &Connection,
    name: &str,
    password_hash: &str,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    let changed = conn.execute(
        "INSERT INTO users (name, password_hash, is_admin, created_at)
         SELECT ?1, ?2, 1, ?3 WHERE NOT EXISTS (SELECT 1 FROM users)",
        params![name, password_hash, now],
    )?;
    Ok((changed == 1).then(|| conn.last_insert_rowid()))
}

pub fn by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

pub fn by_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<User>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE name = ?1"),
        [name],
        from_row,
    )
    .optional()
}

/// The user and their password hash, for login.
pub fn credentials_by_name(
    conn: &Connection,
    name: &str,
) -> rusqlite::Result<Option<(User, String)>> {
    conn.query_row(
        &format!("SELECT {COLUMNS}, password_hash FROM users WHERE name = ?1"),
        [name],
        |r| Ok((from_row(r)?, r.get(4)?)),
    )
    .optional()
}

pub fn password_hash(conn: &Connection, id: i64) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT password_hash FROM users WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
}

pub fn set_password_hash(conn: &Connection, id: i64, hash: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![id, hash],
    )?;
    Ok(())
}

pub fn all(conn: &Connection) -> rusqlite::Result<Vec<User>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY name"))?;
    stmt.query_map([], from_row)?.collect()
}
