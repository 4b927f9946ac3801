// Shared by the benchmarks: a user with a feed connection, generated posts, peak RSS.
// Each benchmark uses part of it.
#![allow(dead_code)]

use lifeboat::app::App;
use lifeboat::connectors::RawItem;
use lifeboat::db;
use lifeboat::db::connections::NewConnection;

const WORDS: &[&str] = &[
    "the", "a", "lifeboat", "archive", "photo", "run", "morning", "river", "coffee", "friends",
    "walk", "city", "night", "music", "book", "garden", "rain", "sunset", "bike", "trail",
    "family", "dinner", "project", "release", "notes", "travel", "mountain", "ocean", "winter",
    "summer", "kitchen", "code", "rust", "sqlite", "platform", "export", "backup", "memory",
    "history", "train", "station", "market", "bread", "cat", "dog", "birthday", "concert",
    "museum", "library", "park", "snow", "storm", "harbor", "island", "bridge", "tower",
];

/// A vocabulary of 20,000 words with Zipf-distributed frequencies, like real text: the
/// named words above sit at chosen ranks (the first few are very common, the last ones
/// rare), the rest are made up.
const VOCABULARY: usize = 20_000;

fn word_at(rank: usize) -> String {
    // Real words spread over the ranks: WORDS[i] sits at rank i * i * 6.
    match (0..WORDS.len()).find(|i| i * i * 6 == rank) {
        Some(i) => WORDS[i].to_string(),
        None => format!("w{rank}"),
    }
}

fn cumulative() -> &'static [f64] {
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut total = 0.0;
        (1..=VOCABULARY)
            .map(|k| {
                total += 1.0 / k as f64;
                total
            })
            .collect()
    })
}

fn word(seed: &mut u64) -> String {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let table = cumulative();
    let r = (*seed % 1_000_000) as f64 / 1_000_000.0 * table[table.len() - 1];
    word_at(table.partition_point(|&c| c < r))
}

pub fn sentence(seed: &mut u64, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&word(seed));
    }
    s
}

pub fn user_and_feed(app: &App) -> anyhow::Result<(i64, i64)> {
    app.db.write_blocking(|c| {
        let user_id = db::users::insert(c, "bench", "x", true, 0)?;
        let new = NewConnection {
            user_id,
            platform: "feed",
            kind: "feed",
            label: "bench",
            url: Some("https://bench.example/feed.json"),
            handle: None,
            credentials: None,
        };
        Ok((user_id, db::connections::insert(c, &new, 0)?))
    })
}

/// One JSON Feed 1.1 document with `count` posts.
pub fn json_feed_page(page: usize, count: usize) -> RawItem {
    let mut seed = page as u64 * 7919 + 1;
    let items: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            let n = page * 1000 + i;
            serde_json::json!({
                "id": format!("https://bench.example/p/{n}"),
                "url": format!("https://bench.example/p/{n}"),
                "title": sentence(&mut seed, 5),
                "content_html": format!("<p>{}</p>", sentence(&mut seed, 40)),
                "date_published": format!("2024-{:02}-{:02}T10:{:02}:00Z", n % 12 + 1, n % 28 + 1, n % 60),
                "authors": [{"name": "Bench Author"}],
            })
        })
        .collect();
    let body = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Bench",
        "home_page_url": "https://bench.example/",
        "items": items,
    });
    RawItem {
        external_id: format!("page-{page}"),
        content_type: "application/feed+json".into(),
        source_url: Some("https://bench.example/feed.json".into()),
        payload: body.to_string().into_bytes(),
    }
}

/// Peak resident memory of this process (Linux), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Starts a new peak-RSS measurement (Linux: writing 5 to clear_refs resets VmHWM).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
