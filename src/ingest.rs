//! The pipeline between the stage tables: raw items are split into raw posts, raw posts
//! are normalized into the timeline and their media queued. The only writer of the
//! stage tables.
//!
//! Each round is one write transaction: split and normalize are pure and fast, so doing
//! them inside it costs the lock a few milliseconds and saves marking rows "processing"
//! and back. A crash rolls the whole round back; nothing is half done. Rounds are bounded
//! in items, bytes and posts, so memory does not grow with the size of an import, and
//! thousands of rows commit at once, so throughput is limited by SQLite, not round trips.

use std::collections::HashMap;

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::connectors::{self, Connector, ItemRef, NewPost, RawPost};
use crate::db::posts::{PostKey, SearchIndex, Upserted};
use crate::db::queue::{self, Stage};
use crate::db::stages::{ClaimedItem, ClaimedPost};
use crate::db::sync_logs::Counts;
use crate::db::{self, Db, immediate};
use crate::platform::Platform;

/// A round stops taking items after this many, this many payload bytes or this many posts.
const ITEM_BATCH: usize = 50;
const ITEM_BYTES: i64 = 16 << 20;
const POST_BATCH: usize = 5000;

/// What one round did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Progress {
    pub items: usize,
    pub posts: usize,
}

impl Progress {
    pub fn is_idle(&self) -> bool {
        self.items == 0 && self.posts == 0
    }
}

/// One round: due raw items split and their posts normalized, then due raw posts (retries,
/// reprocessing) normalized. Blocking (SQLite and CPU work): call from a blocking thread.
pub fn run_once(db: &Db, now: i64) -> Result<Progress> {
    let items = db.write_blocking(|c| split_items(c, now))?;
    let retried = db.write_blocking(|c| normalize_due_posts(c, now))?;
    Ok(Progress {
        items: items.items,
        posts: items.posts + retried,
    })
}

/// Runs rounds until nothing is due.
pub fn drain(db: &Db, now: impl Fn() -> i64) -> Result<Progress> {
    let mut total = Progress::default();
    loop {
        let round = run_once(db, now())?;
        if round.is_idle() {
            return Ok(total);
        }
        total.items += round.items;
        total.posts += round.posts;
    }
}

fn connector_for(platform: &str) -> Result<&'static dyn Connector> {
    Platform::from_id(platform)
        .and_then(connectors::for_platform)
        .with_context(|| format!("no connector or importer reads {platform} data"))
}

fn split(item: &ClaimedItem) -> Result<Vec<RawPost>> {
    connector_for(&item.platform)?.split(&ItemRef {
        content_type: &item.content_type,
        source_url: item.source_url.as_deref(),
        payload: &item.payload,
    })
}

fn normalize(platform: &str, raw: &RawPost) -> Result<NewPost> {
    connector_for(platform)?.normalize(raw)
}

/// Per sync log, what this round added.
type LogCounts = HashMap<i64, Counts>;

fn split_items(c: &mut Connection, now: i64) -> Result<Progress> {
    let tx = immediate(c)?;
    let mut progress = Progress::default();
    let mut counts = LogCounts::new();
    let mut search_index = SearchIndex::default();
    let mut bytes = 0;
    for (id, size) in db::stages::due_items(&tx, ITEM_BATCH, now)? {
        if progress.items > 0 && (bytes + size > ITEM_BYTES || progress.posts >= POST_BATCH) {
            break;
        }
        bytes += size;
        progress.items += 1;
        let item = db::stages::load_item(&tx, id)?;
        let raws = match split(&item) {
            Ok(raws) => raws,
            Err(e) => {
                queue::fail(&tx, Stage::Items, item.id, &format!("{e:#}"), now)?;
                continue;
            }
        };
        progress.posts += raws.len();
        if let Some(log) = item.sync_log_id {
            counts.entry(log).or_default().posts_fetched += raws.len() as i64;
        }
        for raw in &raws {
            let normalized = normalize(&item.platform, raw);
            let error = normalized.as_ref().err().map(|e| format!("{e:#}"));
            let Some(raw_id) = db::stages::upsert_raw_post(&tx, &item, raw, error.as_deref(), now)?
            else {
                continue; // seen before, unchanged
            };
            if let Ok(post) = normalized {
                let target = Target {
                    raw_id,
                    user_id: item.user_id,
                    connection_id: item.connection_id,
                    platform: &item.platform,
                    platform_post_id: &raw.platform_post_id,
                    sync_log_id: item.sync_log_id,
                };
                store_post(&tx, &mut search_index, &target, &post, now, &mut counts)?;
            }
        }
        queue::complete(&tx, Stage::Items, &[item.id], now)?;
    }
    add_counts(&tx, &counts)?;
    search_index.flush(&tx)?;
    tx.commit()?;
    Ok(progress)
}

fn normalize_due_posts(c: &mut Connection, now: i64) -> Result<usize> {
    let tx = immediate(c)?;
    let due: Vec<ClaimedPost> = db::stages::due_posts(&tx, POST_BATCH, now)?;
    let mut counts = LogCounts::new();
    let mut search_index = SearchIndex::default();
    let mut done = Vec::with_capacity(due.len());
    for raw in &due {
        let normalized = serde_json::from_str(&raw.payload)
            .context("raw post is not JSON")
            .and_then(|payload| {
                normalize(
                    &raw.platform,
                    &RawPost {
                        platform_post_id: raw.platform_post_id.clone(),
                        payload,
                    },
                )
            });
        match normalized {
            Ok(post) => {
                let target = Target {
                    raw_id: raw.id,
                    user_id: raw.user_id,
                    connection_id: raw.connection_id,
                    platform: &raw.platform,
                    platform_post_id: &raw.platform_post_id,
                    sync_log_id: raw.sync_log_id,
                };
                store_post(&tx, &mut search_index, &target, &post, now, &mut counts)?;
                done.push(raw.id);
            }
            Err(e) => queue::fail(&tx, Stage::Posts, raw.id, &format!("{e:#}"), now)?,
        }
    }
    queue::complete(&tx, Stage::Posts, &done, now)?;
    add_counts(&tx, &counts)?;
    search_index.flush(&tx)?;
    tx.commit()?;
    Ok(due.len())
}

/// Where a normalized post goes.
struct Target<'a> {
    raw_id: i64,
    user_id: i64,
    connection_id: i64,
    platform: &'a str,
    platform_post_id: &'a str,
    sync_log_id: Option<i64>,
}

fn store_post(
    tx: &Connection,
    search_index: &mut SearchIndex,
    t: &Target,
    post: &NewPost,
    now: i64,
    counts: &mut LogCounts,
) -> Result<()> {
    let key = PostKey {
        user_id: t.user_id,
        connection_id: t.connection_id,
        ingested_post_id: t.raw_id,
        platform: t.platform,
        platform_post_id: t.platform_post_id,
    };
    let upserted = db::posts::upsert(tx, search_index, &key, post, !post.media.is_empty(), now)?;
    for (position, media) in post.media.iter().enumerate() {
        let link = db::media::MediaLink {
            user_id: t.user_id,
            connection_id: t.connection_id,
            sync_log_id: t.sync_log_id,
            platform: t.platform,
            url: &media.url,
            kind: media.kind.as_deref(),
        };
        db::media::link(tx, upserted.id(), position, &link, now)?;
    }
    if let Some(log) = t.sync_log_id {
        let c = counts.entry(log).or_default();
        match upserted {
            Upserted::Created(_) => c.posts_created += 1,
            Upserted::Updated(_) => c.posts_updated += 1,
            Upserted::Unchanged(_) => {}
        }
    }
    Ok(())
}

fn add_counts(tx: &Connection, counts: &LogCounts) -> Result<()> {
    for (log, c) in counts {
        db::sync_logs::add(tx, *log, c)?;
    }
    Ok(())
}
