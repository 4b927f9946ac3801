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
use serde_json::value::RawValue;

use crate::connectors::{self, Codec, ItemRef, NewPost, Normalized, RawPost};
use crate::db::posts::{PostKey, SearchIndex, Upserted};
use crate::db::queue::{self, Stage};
use crate::db::stages::{ClaimedItem, ClaimedPost, ItemKey, ItemState, NewItem};
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

/// What split and normalize made of one raw item (pure: no database): its raw posts, or
/// why it could not be split.
pub struct Prepared(Result<Vec<Split>, String>);

/// One raw post, its payload as stored, and what the normalizer made of it. Only
/// strings: the parsed payload is dropped on the preparing thread, not by the writer.
struct Split {
    platform_post_id: String,
    payload: String,
    post: Result<ReadyPost, String>,
}

/// A normalized post with its engagement already serialized: that JSON is written and its
/// tree freed by the preparing thread, not by the one holding the write lock.
struct ReadyPost {
    post: NewPost,
    engagement: Option<String>,
}

impl ReadyPost {
    fn new(mut post: NewPost) -> ReadyPost {
        let engagement = post.engagement.take().map(|v| v.to_string());
        ReadyPost { post, engagement }
    }
}

impl Prepared {
    /// Splits `item` (a raw item of `platform`) and normalizes its raw posts.
    pub fn new(platform: &str, item: &ItemRef) -> Prepared {
        let outcome = split_normalized(platform, item)
            .map_err(|e| format!("{e:#}"))
            .map(|raws| {
                raws.into_iter()
                    .map(|raw| Split {
                        post: raw.post.map(ReadyPost::new).map_err(|e| format!("{e:#}")),
                        payload: raw.payload,
                        platform_post_id: raw.platform_post_id,
                    })
                    .collect()
            });
        Prepared(outcome)
    }
}

/// `f` over every element of `items`, on as many threads as there are cores; the results
/// in the order of `items`.
fn parallel_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

/// Raw items read from the queue and prepared, ready to be written.
struct Batch {
    last_id: i64,
    items: Vec<(ClaimedItem, Prepared)>,
}

/// Reads due items after id `after` (within the round's budget) and prepares them. No
/// write lock is held meanwhile.
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
    let Some(last_id) = items.last().map(|i| i.key.id) else {
        return Ok(None);
    };
    let prepared = parallel_map(&items, |item| {
        Prepared::new(&item.key.platform, &item.item_ref())
    });
    let items = items.into_iter().zip(prepared).collect();
    Ok(Some(Batch { last_id, items }))
}

fn write_batch(c: &mut Connection, batch: Batch, now: i64) -> Result<Progress> {
    let tx = immediate(c)?;
    let mut round = Round::default();
    for (item, prepared) in batch.items {
        if !db::stages::item_is_due(&tx, item.key.id)? {
            continue;
        }
        match prepared.0 {
            Ok(splits) => {
                store_splits(&tx, &mut round, &item.key, &splits, now)?;
                queue::complete(&tx, Stage::Items, &[item.key.id], now)?;
            }
            Err(e) => queue::fail(&tx, Stage::Items, item.key.id, &e, now)?,
        }
        round.progress.items += 1;
    }
    round.finish(tx)
}

/// What one write transaction of the pipeline did so far: progress, counts per sync log,
/// and new posts waiting for the full-text index (written at the end, see `SearchIndex`).
#[derive(Default)]
pub struct Round {
    progress: Progress,
    counts: LogCounts,
    search_index: SearchIndex,
}

impl Round {
    /// Writes the counts and the search index, and commits.
    pub fn finish(mut self, tx: rusqlite::Transaction) -> Result<Progress> {
        add_counts(&tx, &self.counts)?;
        self.search_index.flush(&tx)?;
        tx.commit()?;
        Ok(self.progress)
    }
}

/// Stores a raw item that arrives already prepared (an import: the importer's thread split
/// it while the previous batch was written): the item, its raw posts and its posts in the
/// caller's transaction, so none of them is ever there without the others. An item that
/// cannot be split is kept as failed (the import sends it to the dead letters). Returns
/// false when the connection already had the item; nothing is written then.
pub fn store_prepared(
    tx: &Connection,
    round: &mut Round,
    new: &NewItem,
    platform: &str,
    prepared: &Prepared,
    now: i64,
) -> Result<bool> {
    let state = match &prepared.0 {
        Ok(_) => ItemState::Completed,
        Err(e) => ItemState::Failed(e),
    };
    let Some(id) = db::stages::insert_item(tx, new, state, now)? else {
        return Ok(false);
    };
    round.progress.items += 1;
    if let Ok(splits) = &prepared.0 {
        let key = ItemKey {
            id,
            user_id: new.user_id,
            connection_id: new.connection_id,
            platform: platform.to_string(),
            sync_log_id: new.sync_log_id,
        };
        store_splits(tx, round, &key, splits, now)?;
    }
    Ok(true)
}

/// The raw posts of one item and, for those that normalized, their posts.
fn store_splits(
    tx: &Connection,
    round: &mut Round,
    item: &ItemKey,
    splits: &[Split],
    now: i64,
) -> Result<()> {
    if let Some(log) = item.sync_log_id {
        round.counts.entry(log).or_default().posts_fetched += splits.len() as i64;
    }
    for Split {
        platform_post_id,
        payload,
        post,
    } in splits
    {
        let error = post.as_ref().err().map(String::as_str);
        let stored = db::stages::upsert_raw_post(tx, item, platform_post_id, payload, error, now)?;
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
            store_post(tx, round, &target, post, now)?;
            round.progress.posts += 1;
        }
    }
    Ok(())
}

fn codec_for(platform: &str) -> Result<&'static dyn Codec> {
    Platform::from_id(platform)
        .and_then(connectors::codec_for)
        .with_context(|| format!("no connector or importer reads {platform} data"))
}

fn split_normalized(platform: &str, item: &ItemRef) -> Result<Vec<Normalized>> {
    if item.content_type == crate::importers::UNREADABLE {
        anyhow::bail!("a file of the export that could not be read (kept as it was)");
    }
    codec_for(platform)?.split_normalized(item)
}

fn normalize(platform: &str, raw: &RawPost) -> Result<NewPost> {
    codec_for(platform)?.normalize(raw)
}

/// Per sync log, what this round added.
type LogCounts = HashMap<i64, Counts>;

fn normalize_due_posts(c: &mut Connection, now: i64) -> Result<usize> {
    let tx = immediate(c)?;
    let due: Vec<ClaimedPost> = db::stages::due_posts(&tx, POST_BATCH, now)?;
    let attempted = due.len();
    let mut round = Round::default();
    let mut done = Vec::with_capacity(attempted);
    for raw in due {
        let normalized = RawValue::from_string(raw.payload)
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
                store_post(&tx, &mut round, &target, &ReadyPost::new(post), now)?;
                done.push(raw.id);
            }
            Err(e) => queue::fail(&tx, Stage::Posts, raw.id, &format!("{e:#}"), now)?,
        }
    }
    queue::complete(&tx, Stage::Posts, &done, now)?;
    round.finish(tx)?;
    Ok(attempted)
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
    round: &mut Round,
    t: &Target,
    ready: &ReadyPost,
    now: i64,
) -> Result<()> {
    let post = &ready.post;
    let key = PostKey {
        user_id: t.user_id,
        connection_id: t.connection_id,
        ingested_post_id: t.raw_id,
        platform: t.platform,
        platform_post_id: t.platform_post_id,
    };
    let engagement = ready.engagement.as_deref();
    let upserted = db::posts::upsert(tx, &mut round.search_index, &key, post, engagement, now)?;
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
        let c = round.counts.entry(log).or_default();
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
