//! Media files: the download queue, the post ↔ file links, and the stored-file records
//! that `lifeboat verify` checks.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub fn url_sha256(url: &str) -> String {
    hex::encode(Sha256::digest(url.as_bytes()))
}

pub struct MediaLink<'a> {
    pub user_id: i64,
    pub connection_id: i64,
    pub sync_log_id: Option<i64>,
    pub platform: &'a str,
    pub url: &'a str,
    pub kind: Option<&'a str>,
}

/// Queues a file for download (once per user, platform and URL) and links it to a post.
pub fn link(
    conn: &Connection,
    post_id: i64,
    position: usize,
    m: &MediaLink,
    now: i64,
) -> rusqlite::Result<i64> {
    let hash = url_sha256(m.url);
    conn.prepare_cached(
        "INSERT INTO media (user_id, connection_id, sync_log_id, platform, url, url_sha256, kind,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
         ON CONFLICT (user_id, platform, url_sha256) DO NOTHING",
    )?
    .execute(params![
        m.user_id,
        m.connection_id,
        m.sync_log_id,
        m.platform,
        m.url,
        hash,
        m.kind,
        now
    ])?;
    let media_id: i64 = conn
        .prepare_cached(
            "SELECT id FROM media WHERE user_id = ?1 AND platform = ?2 AND url_sha256 = ?3",
        )?
        .query_row(params![m.user_id, m.platform, hash], |r| r.get(0))?;
    conn.prepare_cached(
        "INSERT INTO post_media (post_id, media_id, position) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![post_id, media_id, position as i64])?;
    Ok(media_id)
}

/// A file that came inside an export, already in the media store: recorded as stored
/// under its URL, whether or not a post already asked for it. Returns false when that URL
/// already had a stored file (importing twice changes nothing).
pub fn record_imported(
    conn: &Connection,
    m: &MediaLink,
    file: &StoredFile,
    now: i64,
) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO media (user_id, connection_id, sync_log_id, platform, url, url_sha256, kind,
                 path, content_type, size, sha256, status, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'completed', ?12, ?12)
             ON CONFLICT (user_id, platform, url_sha256) DO UPDATE SET
                 path = excluded.path, content_type = excluded.content_type, size = excluded.size,
                 sha256 = excluded.sha256, status = 'completed', last_error = NULL,
                 kind = COALESCE(media.kind, excluded.kind),
                 claimed_by = NULL, updated_at = excluded.updated_at
             WHERE media.status != 'completed'",
        )?
        .execute(params![
            m.user_id,
            m.connection_id,
            m.sync_log_id,
            m.platform,
            m.url,
            url_sha256(m.url),
            m.kind,
            file.path,
            file.content_type,
            file.size,
            file.sha256,
            now
        ])?;
    Ok(changed == 1)
}

/// Whether a stored file exists for this URL (an import skips copying it again).
pub fn is_stored(
    conn: &Connection,
    user_id: i64,
    platform: &str,
    url: &str,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM media WHERE user_id = ?1 AND platform = ?2
             AND url_sha256 = ?3 AND status = 'completed')",
    )?
    .query_row(params![user_id, platform, url_sha256(url)], |r| r.get(0))
}

/// A file to download, with the URL the person configured for its connection (downloads
/// from that host are trusted even on a private network).
pub struct ClaimedMedia {
    pub id: i64,
    pub user_id: i64,
    pub platform: String,
    pub url: String,
    pub url_sha256: String,
    pub kind: Option<String>,
    pub sync_log_id: Option<i64>,
    pub connection_url: Option<String>,
}

/// Claims due downloads for `owner`. Call inside an IMMEDIATE transaction.
pub fn claim(
    conn: &Connection,
    owner: &str,
    limit: usize,
    now: i64,
) -> rusqlite::Result<Vec<ClaimedMedia>> {
    let rows: Vec<ClaimedMedia> = conn
        .prepare_cached(
            "SELECT m.id, m.user_id, m.platform, m.url, m.url_sha256, m.kind, m.sync_log_id, c.url
             FROM media m JOIN connections c ON c.id = m.connection_id
             WHERE m.status IN ('pending', 'failed') AND m.next_attempt_at <= ?1
             ORDER BY m.priority DESC, m.id LIMIT ?2",
        )?
        .query_map(params![now, limit as i64], |r| {
            Ok(ClaimedMedia {
                id: r.get(0)?,
                user_id: r.get(1)?,
                platform: r.get(2)?,
                url: r.get(3)?,
                url_sha256: r.get(4)?,
                kind: r.get(5)?,
                sync_log_id: r.get(6)?,
                connection_url: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(
        "UPDATE media SET status = 'processing', claimed_by = ?3, updated_at = ?2 WHERE id = ?1",
    )?;
    for row in &rows {
        stmt.execute(params![row.id, now, owner])?;
    }
    Ok(rows)
}

pub struct StoredFile<'a> {
    pub path: &'a str,
    pub content_type: &'a str,
    pub size: i64,
    pub sha256: &'a str,
}

pub fn complete(conn: &Connection, id: i64, file: &StoredFile, now: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE media SET status = 'completed', path = ?2, content_type = ?3, size = ?4, sha256 = ?5,
             last_error = NULL, attempts = attempts + 1, updated_at = ?6
         WHERE id = ?1 AND status != 'completed'",
    )?
    .execute(params![id, file.path, file.content_type, file.size, file.sha256, now])?;
    Ok(())
}

/// A download that must not be tried again (a private address, a forbidden type, too
/// large): straight to the dead letters with the reason.
pub fn refuse(conn: &Connection, id: i64, reason: &str, now: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE media SET status = 'dead_letter', attempts = attempts + 1, last_error = ?2,
             updated_at = ?3 WHERE id = ?1 AND status != 'completed'",
    )?
    .execute(params![id, reason, now])?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct MediaFile {
    pub id: i64,
    pub url: String,
    pub kind: Option<String>,
    pub status: String,
    pub path: Option<String>,
    pub content_type: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub last_error: Option<String>,
}

const COLUMNS: &str =
    "m.id, m.url, m.kind, m.status, m.path, m.content_type, m.size, m.sha256, m.last_error";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<MediaFile> {
    Ok(MediaFile {
        id: r.get(0)?,
        url: r.get(1)?,
        kind: r.get(2)?,
        status: r.get(3)?,
        path: r.get(4)?,
        content_type: r.get(5)?,
        size: r.get(6)?,
        sha256: r.get(7)?,
        last_error: r.get(8)?,
    })
}

pub fn for_post(conn: &Connection, post_id: i64) -> rusqlite::Result<Vec<MediaFile>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM post_media pm JOIN media m ON m.id = pm.media_id
         WHERE pm.post_id = ?1 ORDER BY pm.position"
    ))?
    .query_map([post_id], from_row)?
    .collect()
}

/// One file, only if it belongs to `user_id`.
pub fn for_user_by_id(
    conn: &Connection,
    user_id: i64,
    id: i64,
) -> rusqlite::Result<Option<MediaFile>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM media m WHERE m.id = ?1 AND m.user_id = ?2"),
        params![id, user_id],
        from_row,
    )
    .optional()
}

/// Every stored file, for `lifeboat verify`.
pub fn all_stored(conn: &Connection) -> rusqlite::Result<Vec<MediaFile>> {
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM media m WHERE m.status = 'completed' ORDER BY m.id"
    ))?
    .query_map([], from_row)?
    .collect()
}

/// Emergency export: a platform's waiting downloads go first — files of the last 90 days'
/// posts first, then those of posts people engaged with, then the rest.
pub fn boost_platform(
    conn: &Connection,
    platform: &str,
    recent_since: i64,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE media SET priority = CASE
             WHEN EXISTS (SELECT 1 FROM post_media pm JOIN posts p ON p.id = pm.post_id
                          WHERE pm.media_id = media.id AND p.sort_at >= ?2) THEN 3
             WHEN EXISTS (SELECT 1 FROM post_media pm JOIN posts p ON p.id = pm.post_id
                          WHERE pm.media_id = media.id AND p.engagement IS NOT NULL
                            AND (SELECT COALESCE(SUM(CASE WHEN typeof(value) IN ('integer', 'real')
                                                 THEN value ELSE 0 END), 0)
                                 FROM json_each(p.engagement)) > 0) THEN 2
             ELSE 1 END
         WHERE platform = ?1 AND status IN ('pending', 'failed') AND priority = 0",
        params![platform, recent_since],
    )
}
