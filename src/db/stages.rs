//! The two raw stages: `ingested_items` (payloads as they arrived) and `ingested_posts`
//! (one raw post each). Both are kept forever; their status columns make them queues.

use rusqlite::{Connection, OptionalExtension, params};

use crate::connectors::{ItemRef, RawItem};

pub struct NewItem<'a> {
    pub user_id: i64,
    pub connection_id: i64,
    pub sync_log_id: Option<i64>,
    /// sync, backfill, webhook or import
    pub source: &'a str,
    pub item: &'a RawItem,
    /// The payload as `compress` gave it, stored instead of `item.payload` (which may
    /// then be empty: a caller holding many items keeps only the compressed bytes).
    pub compressed: Option<&'a Compressed>,
}

/// Payloads smaller than this are stored as they are: too small to gain much.
const COMPRESS_FROM: usize = 16 << 10;

/// The payload compressed for storage (zstd), when it is big enough to be worth it and
/// gets smaller. Pure CPU work: callers do it before taking the write lock.
pub fn compress(payload: &[u8]) -> Option<Compressed> {
    if payload.len() < COMPRESS_FROM {
        return None;
    }
    zstd::bulk::compress(payload, 1)
        .ok()
        .filter(|c| c.len() < payload.len())
        .map(|bytes| Compressed {
            bytes,
            size: payload.len(),
        })
}

/// A payload compressed for storage, and its size before.
pub struct Compressed {
    bytes: Vec<u8>,
    size: usize,
}

/// What a new raw item is when it is stored: waiting for the pipeline, or (an import,
/// whose items are split before they are written) already split, or not splittable.
#[derive(Debug, Clone, Copy)]
pub enum ItemState<'a> {
    Pending,
    Completed,
    /// Split failed with this error (retried like any failure, or sent to the dead letters).
    Failed(&'a str),
    /// Known to be unreadable, for this reason: straight to the dead letters.
    DeadLetter(&'a str),
}

/// Stores a raw payload; returns its id, or None when the connection already has it.
pub fn insert_item(
    conn: &Connection,
    new: &NewItem,
    state: ItemState,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    let (status, error) = match state {
        ItemState::Pending => ("pending", None),
        ItemState::Completed => ("completed", None),
        ItemState::Failed(e) => ("failed", Some(e)),
        ItemState::DeadLetter(e) => ("dead_letter", Some(e)),
    };
    let (payload, encoding, size) = match new.compressed {
        Some(c) => (&c.bytes[..], Some("zstd"), Some(c.size as i64)),
        None => (&new.item.payload[..], None, None),
    };
    conn.prepare_cached(
        "INSERT INTO ingested_items (user_id, connection_id, sync_log_id, source, external_id,
             content_type, source_url, payload, encoding, payload_size, status, attempts,
             last_error, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?12, ?13, ?9, ?10 IS NOT NULL, ?10,
                 CASE WHEN ?10 IS NULL THEN 0 ELSE ?11 + 30 END, ?11, ?11)
         ON CONFLICT (connection_id, external_id) DO NOTHING
         RETURNING id",
    )?
    .query_row(
        params![
            new.user_id,
            new.connection_id,
            new.sync_log_id,
            new.source,
            new.item.external_id,
            new.item.content_type,
            new.item.source_url,
            payload,
            status,
            error,
            now,
            encoding,
            size
        ],
        |r| r.get(0),
    )
    .optional()
}

/// Which raw item a raw post comes from, and whose it is.
pub struct ItemKey {
    pub id: i64,
    pub user_id: i64,
    pub connection_id: i64,
    pub platform: String,
    pub sync_log_id: Option<i64>,
}

/// A raw item being split.
pub struct ClaimedItem {
    pub key: ItemKey,
    pub content_type: String,
    pub source_url: Option<String>,
    pub payload: Vec<u8>,
}

impl ClaimedItem {
    pub fn item_ref(&self) -> ItemRef<'_> {
        ItemRef {
            content_type: &self.content_type,
            source_url: self.source_url.as_deref(),
            payload: &self.payload,
        }
    }
}

/// Ids and payload sizes of up to `limit` due items (pending, or failed and due again)
/// after id `after`, so the worker can load them one at a time within a memory budget.
pub fn due_items(
    conn: &Connection,
    after: i64,
    limit: usize,
    now: i64,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    conn.prepare_cached(
        "SELECT id, COALESCE(payload_size, length(payload)) FROM ingested_items
         WHERE status IN ('pending', 'failed') AND next_attempt_at <= ?1 AND id > ?2
         ORDER BY id LIMIT ?3",
    )?
    .query_map(params![now, after, limit as i64], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?
    .collect()
}

/// Whether an item still waits to be split (another process may have done it meanwhile).
pub fn item_is_due(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT status IN ('pending', 'failed') FROM ingested_items WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()
        .map(|due| due.unwrap_or(false))
}

/// A raw item with its payload as it arrived (decompressed when it was stored compressed).
pub fn load_item(conn: &Connection, id: i64) -> rusqlite::Result<ClaimedItem> {
    conn.prepare_cached(
        "SELECT i.id, i.user_id, i.connection_id, c.platform, i.sync_log_id, i.content_type,
                i.source_url, i.payload, i.encoding
         FROM ingested_items i JOIN connections c ON c.id = i.connection_id WHERE i.id = ?1",
    )?
    .query_row([id], |r| {
        let stored: Vec<u8> = r.get(7)?;
        let payload = match r.get_ref(8)?.as_str_or_null()? {
            None => stored,
            Some("zstd") => zstd::stream::decode_all(&stored[..]).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Blob, e.into())
            })?,
            Some(other) => {
                return Err(rusqlite::Error::FromSqlConversionFailure(
                    8,
                    rusqlite::types::Type::Text,
                    format!("unknown payload encoding {other}").into(),
                ));
            }
        };
        Ok(ClaimedItem {
            key: ItemKey {
                id: r.get(0)?,
                user_id: r.get(1)?,
                connection_id: r.get(2)?,
                platform: r.get(3)?,
                sync_log_id: r.get(4)?,
            },
            content_type: r.get(5)?,
            source_url: r.get(6)?,
            payload,
        })
    })
}

/// Stores one raw post of an item, already normalized (`error` is None) or not (the
/// normalizer's error; the row is then retried through the raw-post queue). Returns the
/// row's id when it was new or its payload changed (an edit), None when the same raw post,
/// or a newer one, was already there: its timeline post is then already up to date.
pub fn upsert_raw_post(
    conn: &Connection,
    item: &ItemKey,
    platform_post_id: &str,
    payload: &str,
    error: Option<&str>,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    let values = params![
        item.user_id,
        item.connection_id,
        item.id,
        platform_post_id,
        payload,
        error,
        now
    ];
    // Most raw posts are new (a backfill, an import): a plain insert first, which is
    // several times cheaper than an upsert with RETURNING.
    let inserted = conn
        .prepare_cached(
            "INSERT INTO ingested_posts (user_id, connection_id, item_id, platform_post_id,
                 payload, status, attempts, last_error, next_attempt_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5,
                     CASE WHEN ?6 IS NULL THEN 'completed' ELSE 'failed' END,
                     ?6 IS NOT NULL, ?6, ?7 + 30, ?7, ?7)
             ON CONFLICT (connection_id, platform_post_id) DO NOTHING",
        )?
        .execute(values)?;
    if inserted == 1 {
        return Ok(Some(conn.last_insert_rowid()));
    }
    conn.prepare_cached(
        "UPDATE ingested_posts SET payload = ?5, item_id = ?3,
             status = CASE WHEN ?6 IS NULL THEN 'completed' ELSE 'failed' END,
             attempts = ?6 IS NOT NULL, last_error = ?6, next_attempt_at = ?7 + 30,
             updated_at = ?7
         WHERE connection_id = ?2 AND platform_post_id = ?4 AND user_id = ?1
           AND payload != ?5
           -- An older payload never replaces a newer one (reprocessing re-splits old items).
           AND ?3 >= item_id
         RETURNING id",
    )?
    .query_row(values, |r| r.get(0))
    .optional()
}

/// A raw post waiting for the normalizer (a retry, or `lifeboat reprocess`).
pub struct ClaimedPost {
    pub id: i64,
    pub user_id: i64,
    pub connection_id: i64,
    pub platform: String,
    pub platform_post_id: String,
    pub payload: String,
    pub sync_log_id: Option<i64>,
}

pub fn due_posts(conn: &Connection, limit: usize, now: i64) -> rusqlite::Result<Vec<ClaimedPost>> {
    conn.prepare_cached(
        "SELECT p.id, p.user_id, p.connection_id, c.platform, p.platform_post_id, p.payload,
                    i.sync_log_id
             FROM ingested_posts p
             JOIN connections c ON c.id = p.connection_id
             JOIN ingested_items i ON i.id = p.item_id
             WHERE p.status IN ('pending', 'failed') AND p.next_attempt_at <= ?1
             ORDER BY p.id LIMIT ?2",
    )?
    .query_map(params![now, limit as i64], |r| {
        Ok(ClaimedPost {
            id: r.get(0)?,
            user_id: r.get(1)?,
            connection_id: r.get(2)?,
            platform: r.get(3)?,
            platform_post_id: r.get(4)?,
            payload: r.get(5)?,
            sync_log_id: r.get(6)?,
        })
    })?
    .collect()
}

/// How many rows of one sync are still waiting: raw items not yet split (their posts are
/// normalized in the same transaction) and, optionally, media not yet downloaded.
pub fn unfinished_for_sync(
    conn: &Connection,
    sync_log_id: i64,
    with_media: bool,
) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT
           (SELECT COUNT(*) FROM ingested_items WHERE sync_log_id = ?1 AND status = 'pending')
         + (SELECT COUNT(*) FROM media
             WHERE ?2 AND sync_log_id = ?1 AND status IN ('pending', 'processing'))",
        params![sync_log_id, with_media],
        |r| r.get(0),
    )
}

/// For `lifeboat reprocess`: every raw item (of one connection, or all) is split and
/// normalized again. Nothing is fetched; posts are updated in place.
pub fn requeue_all(
    conn: &Connection,
    connection_id: Option<i64>,
    now: i64,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE ingested_items SET status = 'pending', attempts = 0, next_attempt_at = 0,
             last_error = NULL, updated_at = ?2
         WHERE (?1 IS NULL OR connection_id = ?1) AND status != 'discarded'",
        params![connection_id, now],
    )?;
    // Raw posts are queued too, so a post whose item no longer yields it still gets
    // the new normalizer.
    conn.execute(
        "UPDATE ingested_posts SET status = 'pending', attempts = 0, next_attempt_at = 0,
             last_error = NULL, updated_at = ?2
         WHERE (?1 IS NULL OR connection_id = ?1) AND status != 'discarded'",
        params![connection_id, now],
    )
}

/// The raw post and raw item a normalized post came from (for the post page).
pub fn raw_for_post(
    conn: &Connection,
    ingested_post_id: i64,
) -> rusqlite::Result<Option<(String, String, Option<String>)>> {
    conn.query_row(
        "SELECT p.payload, i.content_type, i.source_url FROM ingested_posts p
         JOIN ingested_items i ON i.id = p.item_id WHERE p.id = ?1",
        [ingested_post_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}
