//! The pipeline between the stage tables: raw items are split into raw posts, raw posts
//! are normalized into the timeline and their media queued. The only writer of the
//! stage tables.
//!
//! Split and normalize are pure, so a round runs them first, without the write lock, and
//! then writes everything in one transaction (re-checking that each item is still due, in
//! case another process got there first). A crash rolls the whole round back; nothing is
//! half done, and no row is ever left "processing". Rounds are bounded in items and bytes,
//! so memory does not grow with the size of an import, and thousands of rows commit at
//! once, so throughput is limited by SQLite, not round trips.

use std::collections::HashMap;

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::connectors::{self, Codec, ItemRef, NewPost, RawPost};
use crate::db::posts::{PostKey, SearchIndex, Upserted};
use crate::db::queue::{self, Stage};
use crate::db::stages::{ClaimedItem, ClaimedPost};
use crate::db::sync_logs::Counts;
use crate::db::{self, Db, immediate};
use crate::platform::Platform;

/// A round takes at most this many raw items, or this many payload bytes (but at least
/// one item), and normalizes at most this many queued raw posts.
const ITEM_BATCH: usize = 4;
const ITEM_BYTES: i64 = 8 << 20;
const POST_BATCH: usize = 5000;

/// What one round did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Progress {
    /// Raw items split.
    pub items: usize,
    /// Raw posts normalized into the timeline (new or changed ones; unchanged raw posts
    /// found again in an item are not counted).
    pub posts: usize,
}

impl Progress {
    pub fn is_idle(&self) -> bool {
        self.items == 0 && self.posts == 0
    }
}

/// One round: a batch of due raw items split and their posts normalized, then due raw
/// posts (retries, reprocessing) normalized. Blocking (SQLite and CPU work): call from a
/// blocking thread.
pub fn run_once(db: &Db, now: i64) -> Result<Progress> {
    let mut progress = match prepare(db, 0, now)? {
        Some(batch) => db.write_blocking(|c| write_batch(c, batch, now))?,
        None => Progress::default(),
    };
    progress.posts += db.write_blocking(|c| normalize_due_posts(c, now))?;
    Ok(progress)
}

/// Works everything that is due. Reading and splitting the next batch (on a second thread)
/// overlaps with writing the current one, so both cores are busy during a big import.
pub fn drain(db: &Db, now: impl Fn() -> i64 + Sync) -> Result<Progress> {
    let mut total = Progress::default();
    std::thread::scope(|scope| -> Result<()> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Result<Batch>>(1);
        let now = &now;
        scope.spawn(move || {
            let mut after = 0;
            loop {
                let batch = prepare(db, after, now());
                if let Ok(Some(b)) = &batch {
                    after = b.last_id;
                }
                let last = !matches!(batch, Ok(Some(_)));
                let message = batch.transpose();
                if message.is_some_and(|m| sender.send(m).is_err()) || last {
                    return;
                }
            }
        });
        for batch in receiver {
            let round = db.write_blocking(|c| write_batch(c, batch?, now()))?;
            total.items += round.items;
            total.posts += round.posts;
        }
        Ok(())
    })?;
    loop {
        let retried = db.write_blocking(|c| normalize_due_posts(c, now()))?;
        if retried == 0 {
            return Ok(total);
        }
        total.posts += retried;
    }
}

/// Raw items read and worked through the pure functions, ready to be written.
struct Batch {
    last_id: i64,
    items: Vec<(ClaimedItem, Result<Vec<Split>, String>)>,
}

/// One raw post, its payload as stored, and what the normalizer made of it. Only
/// strings: the parsed payload is dropped on the preparing thread, not by the writer.
struct Split {
    platform_post_id: String,
    payload: String,
    post: Result<NewPost, String>,
}

/// Reads due items after id `after` (within the round's budget) and splits and normalizes
/// them, on as many threads as there are cores. No write lock is held meanwhile.
fn prepare(db: &Db, after: i64, now: i64) -> Result<Option<Batch>> {
    let items = db.read_blocking(|c| {
        let mut items = Vec::new();
        let mut bytes = 0;
        for (id, size) in db::stages::due_items(c, after, ITEM_BATCH, now)? {
            if !items.is_empty() && bytes + size > ITEM_BYTES {
                break;
            }
            bytes += size;
            items.push(db::stages::load_item(c, id)?);
        }
        Ok(items)
    })?;
    let Some(last_id) = items.last().map(|i| i.id) else {
        return Ok(None);
    };
    let work = |item: ClaimedItem| {
        let outcome = split(&item).map_err(|e| format!("{e:#}")).map(|raws| {
            raws.into_iter()
                .map(|raw| {
                    let post = normalize(&item.platform, &raw).map_err(|e| format!("{e:#}"));
                    Split {
                        payload: raw.payload.to_string(),
                        platform_post_id: raw.platform_post_id,
                        post,
                    }
                })
                .collect()
        });
        (item, outcome)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    let items = if threads <= 1 {
        items.into_iter().map(work).collect()
    } else {
        let mut chunks: Vec<Vec<ClaimedItem>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, item) in items.into_iter().enumerate() {
            chunks[i % threads].push(item);
        }
        let mut done: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| scope.spawn(move || chunk.into_iter().map(work).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("split worker panicked"))
                .collect()
        });
        done.sort_by_key(|(item, _)| item.id);
        done
    };
    Ok(Some(Batch { last_id, items }))
}

fn write_batch(c: &mut Connection, batch: Batch, now: i64) -> Result<Progress> {
    let tx = immediate(c)?;
    let mut progress = Progress::default();
    let mut counts = LogCounts::new();
    let mut search_index = SearchIndex::default();
    for (item, outcome) in batch.items {
        if !db::stages::item_is_due(&tx, item.id)? {
            continue;
        }
        progress.items += 1;
        let splits = match outcome {
            Ok(splits) => splits,
            Err(e) => {
                queue::fail(&tx, Stage::Items, item.id, &e, now)?;
                continue;
            }
        };
        if let Some(log) = item.sync_log_id {
            counts.entry(log).or_default().posts_fetched += splits.len() as i64;
        }
        for Split {
            platform_post_id,
            payload,
            post,
        } in &splits
        {
            let error = post.as_ref().err().map(String::as_str);
            let stored =
                db::stages::upsert_raw_post(&tx, &item, platform_post_id, payload, error, now)?;
            let Some(raw_id) = stored else {
                continue; // seen before, unchanged
            };
            if let Ok(post) = post {
                let target = Target {
                    raw_id,
                    user_id: item.user_id,
                    connection_id: item.connection_id,
                    platform: &item.platform,
                    platform_post_id,
                    sync_log_id: item.sync_log_id,
                };
                store_post(&tx, &mut search_index, &target, post, now, &mut counts)?;
                progress.posts += 1;
            }
        }
        queue::complete(&tx, Stage::Items, &[item.id], now)?;
    }
    add_counts(&tx, &counts)?;
    search_index.flush(&tx)?;
    tx.commit()?;
    Ok(progress)
}

fn codec_for(platform: &str) -> Result<&'static dyn Codec> {
    Platform::from_id(platform)
        .and_then(connectors::codec_for)
        .with_context(|| format!("no connector or importer reads {platform} data"))
}

fn split(item: &ClaimedItem) -> Result<Vec<RawPost>> {
    if item.content_type == crate::importers::UNREADABLE {
        anyhow::bail!("a file of the export that could not be read (kept as it was)");
    }
    codec_for(&item.platform)?.split(&ItemRef {
        content_type: &item.content_type,
        source_url: item.source_url.as_deref(),
        payload: &item.payload,
    })
}

fn normalize(platform: &str, raw: &RawPost) -> Result<NewPost> {
    codec_for(platform)?.normalize(raw)
}

/// Per sync log, what this round added.
type LogCounts = HashMap<i64, Counts>;

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
