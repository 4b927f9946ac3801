//! Pushes generated posts through the whole pipeline (raw items → raw posts → normalized
//! posts + FTS) and prints posts/second and peak RSS.
//!
//!     cargo bench --bench pipeline            # 200,000 posts
//!     LIFEBOAT_BENCH_POSTS=50000 cargo bench --bench pipeline

use std::time::Instant;

use lifeboat::app::App;
use lifeboat::connectors::{ItemRef, RawItem};
use lifeboat::db::stages::{ItemState, NewItem};
use lifeboat::{db, ingest, time};

mod common;

const POSTS_PER_ITEM: usize = 1000;

fn main() -> anyhow::Result<()> {
    let total: usize = std::env::var("LIFEBOAT_BENCH_POSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir()?;
    let app = App::open(dir.path())?;
    let (user_id, connection_id) = common::user_and_feed(&app)?;

    // Stage 1 is what a connector or importer hands over: JSON Feed pages of 1,000 posts.
    let pages = total.div_ceil(POSTS_PER_ITEM);
    let page = |n: usize| common::json_feed_page(n, POSTS_PER_ITEM.min(total - n * POSTS_PER_ITEM));
    let started = Instant::now();
    app.db.write_blocking(|c| {
        let tx = db::immediate(c)?;
        for n in 0..pages {
            let item = page(n);
            let new = NewItem {
                user_id,
                connection_id,
                sync_log_id: None,
                source: "import",
                item: &item,
                compressed: None,
            };
            db::stages::insert_item(&tx, &new, ItemState::Pending, time::now())?;
        }
        tx.commit()?;
        Ok(())
    })?;
    let enqueue = started.elapsed();

    // The pure part alone (no database) on the first ten pages, to show where time goes.
    let feed = lifeboat::connectors::for_platform(lifeboat::platform::Platform::Feed)
        .expect("feed connector");
    let sample: Vec<RawItem> = (0..pages.min(10)).map(page).collect();
    let started = Instant::now();
    let mut raw_posts = Vec::new();
    for item in &sample {
        let r = ItemRef {
            content_type: &item.content_type,
            source_url: item.source_url.as_deref(),
            payload: &item.payload,
        };
        raw_posts.extend(feed.split(&r)?);
    }
    let split_rate = raw_posts.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for raw in &raw_posts {
        feed.normalize(raw)?;
    }
    let normalize_rate = raw_posts.len() as f64 / started.elapsed().as_secs_f64();
    drop(raw_posts);
    drop(sample);
    common::reset_peak_rss();

    let started = Instant::now();
    let progress = ingest::drain(&app.db, time::now)?;
    let elapsed = started.elapsed();
    let posts: i64 = app
        .db
        .read_blocking(|c| Ok(c.query_row("SELECT COUNT(*) FROM posts", [], |r| r.get(0))?))?;
    let indexed: i64 = app.db.read_blocking(|c| {
        Ok(c.query_row(
            "SELECT COUNT(*) FROM posts_fts WHERE posts_fts MATCH 'lifeboat'",
            [],
            |r| r.get(0),
        )?)
    })?;
    assert_eq!(
        posts as usize, total,
        "every generated post reaches the timeline"
    );
    assert_eq!(progress.posts, total);
    assert!(indexed > 0, "the FTS index answers");

    println!("pipeline: {total} posts in {} raw items", progress.items);
    println!("  enqueue raw items : {:>8.2} s", enqueue.as_secs_f64());
    println!("  split alone (no db)    : {:>8.0} posts/s", split_rate);
    println!("  normalize alone (no db): {:>8.0} posts/s", normalize_rate);
    println!(
        "  split + normalize + FTS: {:>8.2} s",
        elapsed.as_secs_f64()
    );
    println!(
        "  throughput        : {:>8.0} posts/s",
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  peak RSS during the pipeline: {:>8.1} MB",
        common::peak_rss_mb()
    );
    Ok(())
}
