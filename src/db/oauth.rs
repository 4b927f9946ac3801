//! OAuth2 apps people registered, and authorizations under way.

use rusqlite::{Connection, OptionalExtension, params};

/// A registered app. The secret stays vault ciphertext until a flow needs it.
#[derive(Debug, Clone)]
pub struct ClientRow {
    pub id: i64,
    pub platform: String,
    pub host: String,
    pub client_id: String,
    pub client_secret: Option<Vec<u8>>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
}

pub struct NewClient<'a> {
    pub user_id: i64,
    pub platform: &'a str,
    pub host: &'a str,
    pub client_id: &'a str,
    pub client_secret: Option<&'a [u8]>,
    pub authorize_url: Option<&'a str>,
    pub token_url: Option<&'a str>,
}

const CLIENT_COLUMNS: &str =
    "id, platform, host, client_id, client_secret, authorize_url, token_url";

fn client_from_row(r: &rusqlite::Row) -> rusqlite::Result<ClientRow> {
    Ok(ClientRow {
        id: r.get(0)?,
        platform: r.get(1)?,
        host: r.get(2)?,
        client_id: r.get(3)?,
        client_secret: r.get(4)?,
        authorize_url: r.get(5)?,
        token_url: r.get(6)?,
    })
}

/// Saves a user's app for a platform (and host), replacing the one before.
pub fn upsert_client(conn: &Connection, new: &NewClient, now: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "INSERT INTO oauth_clients
             (user_id, platform, host, client_id, client_secret, authorize_url, token_url,
              created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
         ON CONFLICT (user_id, platform, host) DO UPDATE SET
             client_id = excluded.client_id,
             -- An empty secret field keeps the saved secret.
             client_secret = COALESCE(excluded.client_secret, oauth_clients.client_secret),
             authorize_url = excluded.authorize_url, token_url = excluded.token_url,
             updated_at = excluded.updated_at
         RETURNING id",
        params![
            new.user_id,
            new.platform,
            new.host,
            new.client_id,
            new.client_secret,
            new.authorize_url,
            new.token_url,
            now
        ],
        |r| r.get(0),
    )
}

pub fn client(
    conn: &Connection,
    user_id: i64,
    platform: &str,
    host: &str,
) -> rusqlite::Result<Option<ClientRow>> {
    conn.query_row(
        &format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients
             WHERE user_id = ?1 AND platform = ?2 AND host = ?3"
        ),
        params![user_id, platform, host],
        client_from_row,
    )
    .optional()
}

pub fn clients_for_user(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<ClientRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE user_id = ?1 ORDER BY platform, host"
    ))?;
    stmt.query_map([user_id], client_from_row)?.collect()
}

pub fn delete_client(conn: &Connection, user_id: i64, id: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "DELETE FROM oauth_clients WHERE user_id = ?1 AND id = ?2",
        params![user_id, id],
    )?;
    Ok(n == 1)
}

pub struct NewState<'a> {
    pub state_hash: &'a str,
    pub user_id: i64,
    pub platform: &'a str,
    pub url: Option<&'a str>,
    pub connection_id: Option<i64>,
    pub pending: &'a [u8],
    pub redirect_uri: &'a str,
    pub expires_at: i64,
}

pub fn insert_state(conn: &Connection, new: &NewState, now: i64) -> rusqlite::Result<()> {
    // Abandoned flows go when new ones start.
    conn.execute("DELETE FROM oauth_states WHERE expires_at < ?1", [now])?;
    conn.execute(
        "INSERT INTO oauth_states
             (state_hash, user_id, platform, url, connection_id, pending, redirect_uri, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            new.state_hash,
            new.user_id,
            new.platform,
            new.url,
            new.connection_id,
            new.pending,
            new.redirect_uri,
            new.expires_at
        ],
    )?;
    Ok(())
}

pub struct StateRow {
    pub platform: String,
    pub url: Option<String>,
    pub connection_id: Option<i64>,
    pub pending: Vec<u8>,
    pub redirect_uri: String,
}

/// Takes (deletes and returns) the user's unexpired flow with this state: a state works
/// once, and only for the person who started it.
pub fn take_state(
    conn: &Connection,
    user_id: i64,
    state_hash: &str,
    now: i64,
) -> rusqlite::Result<Option<StateRow>> {
    conn.query_row(
        "DELETE FROM oauth_states WHERE state_hash = ?1 AND user_id = ?2 AND expires_at >= ?3
         RETURNING platform, url, connection_id, pending, redirect_uri",
        params![state_hash, user_id, now],
        |r| {
            Ok(StateRow {
                platform: r.get(0)?,
                url: r.get(1)?,
                connection_id: r.get(2)?,
                pending: r.get(3)?,
                redirect_uri: r.get(4)?,
            })
        },
    )
    .optional()
}
