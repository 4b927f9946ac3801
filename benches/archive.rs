//! Times the archive's queries at 1,000,000 posts: the first timeline page, a deep page by
//! cursor, a filtered page, and searches (common word, rare word, phrase, prefix).
//! Prints p50/p95 per query.
//!
//!     cargo bench --bench archive
//!     LIFEBOAT_BENCH_POSTS=200000 cargo bench --bench archive

use std::time::{Duration, Instant};

use lifeboat::app::App;
use lifeboat::db;
use lifeboat::db::posts::{Cursor, Filter};

mod common;

const RUNS: usize = 100;

fn main() -> anyhow::Result<()> {
    let total: i64 = std::env::var("LIFEBOAT_BENCH_POSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let app = App::open(dir.path())?;
    let (user_id, connection_id) = common::user_and_feed(&app)?;
    let started = Instant::now();
    fill(&app, user_id, connection_id, total)?;
    println!(
        "archive: {total} posts generated and indexed in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let base = Filter {
        user_id,
        limit: 30,
        ..Filter::default()
    };
    // A cursor from the middle of the timeline: keyset paging costs the same at any depth.
    let middle = app.db.read_blocking(move |c| {
        Ok(c.query_row(
            "SELECT sort_at, id FROM posts WHERE user_id = ?1 ORDER BY sort_at DESC, id DESC LIMIT 1 OFFSET ?2",
            rusqlite::params![user_id, total / 2],
            |r| Ok(Cursor::Timeline { sort_at: r.get(0)?, id: r.get(1)? }),
        )?)
    })?;
    let q = |text: &str| Filter {
        query: Some(text.into()),
        ..base.clone()
    };
    let cases: Vec<(&str, Filter)> = vec![
        ("timeline, first page", base.clone()),
        (
            "timeline, page at the middle",
            Filter {
                after: Some(middle),
                ..base.clone()
            },
        ),
        (
            "timeline, has media + kind",
            Filter {
                has_media: true,
                kind: Some("article".into()),
                ..base.clone()
            },
        ),
        (
            "timeline, one month",
            Filter {
                since: Some(1_709_251_200),
                until: Some(1_711_929_600),
                ..base.clone()
            },
        ),
        // Word frequencies follow Zipf: "the" is in nearly every post, "a" in most, and
        // the others get rarer down the list.
        ("search, word in most posts", q("a")),
        ("search, common word", q("lifeboat")),
        ("search, rarer word", q("friends")),
        ("search, rare word", q("harbor")),
        ("search, two words", q("lifeboat archive")),
        ("search, phrase", q("\"lifeboat archive\"")),
        ("search, phrase of the 2 top words", q("\"the a\"")),
        ("search, prefix", q("mus*")),
        (
            "search + platform filter",
            Filter {
                platform: Some("bluesky".into()),
                ..q("archive")
            },
        ),
    ];
    println!(
        "{:<32} {:>9} {:>9} {:>7}",
        "query", "p50 ms", "p95 ms", "rows"
    );
    for (name, filter) in cases {
        let mut times = Vec::with_capacity(RUNS);
        let mut rows = 0;
        for _ in 0..RUNS {
            let f = filter.clone();
            let t = Instant::now();
            let (posts, _) = app.db.read_blocking(move |c| Ok(db::posts::list(c, &f)?))?;
            times.push(t.elapsed());
            rows = posts.len();
        }
        times.sort();
        let pct = |p: f64| ms(times[((times.len() as f64 * p) as usize).min(times.len() - 1)]);
        println!("{name:<32} {:>9.2} {:>9.2} {rows:>7}", pct(0.50), pct(0.95));
    }
    println!("peak RSS: {:.1} MB", common::peak_rss_mb());
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Writes posts straight into the timeline table (the pipeline has its own benchmark),
/// in large transactions. Needs raw rows for the foreign keys.
fn fill(app: &App, user_id: i64, connection_id: i64, total: i64) -> anyhow::Result<()> {
    let mut seed = 42u64;
    let mut n = 0;
    while n < total {
        let batch = (total - n).min(50_000);
        let texts: Vec<(String, String)> = (0..batch)
            .map(|_| {
                (
                    common::sentence(&mut seed, 5),
                    common::sentence(&mut seed, 40),
                )
            })
            .collect();
        let start = n;
        app.db.write_blocking(move |c| {
            let tx = db::immediate(c)?;
            tx.execute(
                "INSERT INTO ingested_items (user_id, connection_id, source, external_id, content_type, payload, status, created_at, updated_at)
                 VALUES (?1, ?2, 'import', ?3, 'application/json', x'7b7d', 'completed', 0, 0)",
                rusqlite::params![user_id, connection_id, format!("bench-{start}")],
            )?;
            let item_id = tx.last_insert_rowid();
            let mut raw = tx.prepare("INSERT INTO ingested_posts (user_id, connection_id, item_id, platform_post_id, payload, status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, '{}', 'completed', 0, 0)")?;
            let mut post = tx.prepare(
                "INSERT INTO posts (user_id, connection_id, ingested_post_id, platform, platform_post_id, kind, author, title, text, created_at_platform, sort_at, has_media, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'Bench Author', ?7, ?8, ?9, ?9, ?10, 0, 0)",
            )?;
            for (i, (title, text)) in texts.iter().enumerate() {
                let k = start + i as i64;
                let id = format!("p{k}");
                raw.execute(rusqlite::params![user_id, connection_id, item_id, id])?;
                let raw_id = tx.last_insert_rowid();
                // Ten years of posts, spread evenly; a quarter have media; three kinds, four platforms.
                let at = 1_420_070_400 + k * (315_360_000 / total);
                let kind = ["post", "article", "reply"][(k % 3) as usize];
                let platform = ["feed", "mastodon", "bluesky", "twitter"][(k % 4) as usize];
                post.execute(rusqlite::params![user_id, connection_id, raw_id, platform, id, kind, title, text, at, k % 4 == 0])?;
            }
            drop(raw);
            drop(post);
            tx.commit()?;
            Ok(())
        })?;
        n += batch;
    }
    app.db.write_blocking(|c| {
        // Bulk-loaded rows are indexed in one pass.
        c.execute_batch("INSERT INTO posts_fts(posts_fts) VALUES ('rebuild'); ANALYZE;")?;
        Ok(())
    })
}
