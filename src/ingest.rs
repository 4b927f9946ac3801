//! The pipeline between the stage tables: raw items are split into raw posts, raw posts
//! are normalized into the timeline and their media queued. The only writer of the
//! stage tables. Works in batches, thousands of rows per transaction, so a big import
//! is limited by SQLite and not by round trips.

use std::collections::HashMap;

use anyhow::{Context, Result};

use crate::connectors::{self, Connector, ItemRef, NewPost, RawPost};
use crate::db::posts::{PostKey, Upserted};
use crate::db::queue::{self, Stage};
use crate::db::stages::{ClaimedItem, ClaimedPost};
use crate::db::sync_logs::Counts;
use crate::db::{self, Db, immediate};
use crate::platform::Platform;

/// Raw items can be large (a whole feed, a page of 100 posts); raw posts are small.
const ITEM_BATCH: usize = 50;
const POST_BATCH: usize = 2000;

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

/// One round: a batch of raw items split, then a batch of raw posts normalized.
/// Blocking (SQLite and CPU work): call from a blocking thread.
pub fn run_once(db: &Db, now: i64) -> Result<Progress> {
    Ok(Progress { items: split_batch(db, now)?, posts: normalize_batch(db, now)? })
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
    let connector = connector_for(&item.platform)?;
    connector.split(&ItemRef {
        content_type: &item.content_type,
        source_url: item.source_url.as_deref(),
        payload: &item.payload,
    })
}

fn normalize(post: &ClaimedPost) -> Result<NewPost> {
    let connector = connector_for(&post.platform)?;
    let payload = serde_json::from_str(&post.payload).context("raw post is not JSON")?;
    connector.normalize(&RawPost { platform_post_id: post.platform_post_id.clone(), payload })
}

fn claim<T>(db: &Db, f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<Vec<T>>) -> Result<Vec<T>> {
    db.write_blocking(|c| {
        let tx = immediate(c)?;
        let rows = f(&tx)?;
        tx.commit()?;
        Ok(rows)
    })
}

fn split_batch(db: &Db, now: i64) -> Result<usize> {
    let items = claim(db, |c| db::stages::claim_items(c, ITEM_BATCH, now))?;
    if items.is_empty() {
        return Ok(0);
    }
    // CPU work happens outside the write lock.
    let results: Vec<Result<Vec<RawPost>>> = items.iter().map(split).collect();
    db.write_blocking(|c| {
        let tx = immediate(c)?;
        let mut done = Vec::new();
        let mut counts: HashMap<i64, Counts> = HashMap::new();
        for (item, result) in items.iter().zip(&results) {
            match result {
                Ok(posts) => {
                    for post in posts {
                        db::stages::upsert_raw_post(&tx, item, post, now)?;
                    }
                    done.push(item.id);
                    if let Some(log) = item.sync_log_id {
                        counts.entry(log).or_default().posts_fetched += posts.len() as i64;
                    }
                }
                Err(e) => queue::fail(&tx, Stage::Items, item.id, &format!("{e:#}"), now)?,
            }
        }
        queue::complete(&tx, Stage::Items, &done, now)?;
        for (log, c) in &counts {
            db::sync_logs::add(&tx, *log, c)?;
        }
        tx.commit()?;
        Ok(())
    })?;
    Ok(items.len())
}

fn normalize_batch(db: &Db, now: i64) -> Result<usize> {
    let posts = claim(db, |c| db::stages::claim_posts(c, POST_BATCH, now))?;
    if posts.is_empty() {
        return Ok(0);
    }
    let results: Vec<Result<NewPost>> = posts.iter().map(normalize).collect();
    db.write_blocking(|c| {
        let tx = immediate(c)?;
        let mut done = Vec::with_capacity(posts.len());
        let mut counts: HashMap<i64, Counts> = HashMap::new();
        for (raw, result) in posts.iter().zip(&results) {
            let post = match result {
                Ok(post) => post,
                Err(e) => {
                    queue::fail(&tx, Stage::Posts, raw.id, &format!("{e:#}"), now)?;
                    continue;
                }
            };
            let key = PostKey {
                user_id: raw.user_id,
                connection_id: raw.connection_id,
                ingested_post_id: raw.id,
                platform: &raw.platform,
                platform_post_id: &raw.platform_post_id,
            };
            let upserted = db::posts::upsert(&tx, &key, post, !post.media.is_empty(), now)?;
            for (position, media) in post.media.iter().enumerate() {
                let link = db::media::MediaLink {
                    user_id: raw.user_id,
                    connection_id: raw.connection_id,
                    sync_log_id: raw.sync_log_id,
                    platform: &raw.platform,
                    url: &media.url,
                    kind: media.kind.as_deref(),
                };
                db::media::link(&tx, upserted.id(), position, &link, now)?;
            }
            if let Some(log) = raw.sync_log_id {
                let c = counts.entry(log).or_default();
                match upserted {
                    Upserted::Created(_) => c.posts_created += 1,
                    Upserted::Updated(_) => c.posts_updated += 1,
                    Upserted::Unchanged(_) => {}
                }
            }
            done.push(raw.id);
        }
        queue::complete(&tx, Stage::Posts, &done, now)?;
        for (log, c) in &counts {
            db::sync_logs::add(&tx, *log, c)?;
        }
        tx.commit()?;
        Ok(())
    })?;
    Ok(posts.len())
}
