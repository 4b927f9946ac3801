//! Import benchmark: a generated Twitter/X archive (100,000 tweets, 5,000 media files of
//! ~20 KB, the real 2022+ layout) imported by the established Python tool
//! (`twitter-to-sqlite import`) and by Lifeboat's whole import (raw stages, posts, FTS,
//! media copied and hashed), each as a child process measured for wall time and peak RSS
//! (`wait4`'s `ru_maxrss`), three times each, taking turns; the ratio is of the medians.
//! Then Lifeboat alone on 400,000 tweets, to show its peak memory does not grow with the
//! archive.
//!
//! `cargo bench --bench import`. Sizes: LIFEBOAT_BENCH_TWEETS (100000),
//! LIFEBOAT_BENCH_TWEETS_BIG (400000, 0 to skip), LIFEBOAT_BENCH_MEDIA (5000);
//! LIFEBOAT_BENCH_RUNS (3): how many times each tool imports the 100,000 tweets.
//! LIFEBOAT_BENCH_KEEP=1 keeps the generated archives (to profile an import by hand).
//! twitter-to-sqlite is installed into target/bench-venv (PyPI) when missing; if it cannot
//! be, the comparison is skipped and said so.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const LIFEBOAT: &str = env!("CARGO_BIN_EXE_lifeboat");
const MEDIA_BYTES: usize = 20 * 1024;

fn main() -> Result<()> {
    let tweets = env_size("LIFEBOAT_BENCH_TWEETS", 100_000);
    let big = env_size("LIFEBOAT_BENCH_TWEETS_BIG", 400_000);
    let media = env_size("LIFEBOAT_BENCH_MEDIA", 5_000).min(tweets);
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target)?;
    let work = tempfile::tempdir_in(&target)?;
    let keep = std::env::var_os("LIFEBOAT_BENCH_KEEP").is_some();
    let runs = env_size("LIFEBOAT_BENCH_RUNS", 3).max(1);

    println!("import benchmark: Twitter/X archive, {tweets} tweets, {media} media files");
    let started = Instant::now();
    let archive = work.path().join("twitter-archive.zip");
    let size = generate(&archive, tweets, media, Naming::Current)?;
    println!(
        "  generated {} ({:.0} MB) in {:.1} s",
        archive.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    // Both tools run `runs` times, taking turns, and are compared by their median time:
    // on a shared machine one run of either can be a third slower than the next.
    let python = twitter_to_sqlite(&target.join("bench-venv"));
    let old = work.path().join("twitter-archive-tweet-js.zip");
    if let Err(e) = &python {
        println!("  twitter-to-sqlite: not measured ({e:#})");
    } else {
        // twitter-to-sqlite 0.22 only knows the pre-2022 name (tweet.js); given tweets.js
        // it imports no tweet at all. It gets the same tweets under that name.
        generate(&old, tweets, media, Naming::Old)?;
    }
    let (mut theirs, mut ours) = (Vec::new(), Vec::new());
    for n in 1..=runs {
        if let Ok(tool) = &python {
            let db = work.path().join(format!("twitter-to-sqlite-{n}.db"));
            let run = measure(Command::new(tool).arg("import").arg(&db).arg(&old))?;
            let rows = sqlite_count(&db, "archive_tweet");
            let what = format!("twitter-to-sqlite import, run {n}");
            report(&what, &run, &format!("{rows} rows in archive_tweet"));
            theirs.push(run);
        }
        let imported = lifeboat_import(work.path(), &archive, &format!("lifeboat-100k-{n}"))?;
        report(
            &format!("lifeboat import, run {n}"),
            &imported.run,
            &imported.note,
        );
        ours.push(imported.run);
    }
    let ours = Run::median(&ours);
    report("lifeboat import, median", &ours, "peak RSS: the highest");
    if !theirs.is_empty() {
        let theirs = Run::median(&theirs);
        report(
            "twitter-to-sqlite import, median",
            &theirs,
            "peak RSS: the highest",
        );
        println!(
            "  ratio lifeboat / twitter-to-sqlite: time {:.2}x, peak RSS {:.2}x",
            ours.wall.as_secs_f64() / theirs.wall.as_secs_f64(),
            ours.peak_mb / theirs.peak_mb
        );
    }

    if big > 0 {
        let archive = work.path().join("twitter-archive-big.zip");
        let started = Instant::now();
        let size = generate(&archive, big, media, Naming::Current)?;
        println!(
            "  generated {big} tweets ({:.0} MB) in {:.1} s",
            size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        let large = lifeboat_import(work.path(), &archive, "lifeboat-big")?;
        report(
            &format!("lifeboat import, {big} tweets"),
            &large.run,
            &large.note,
        );
        println!(
            "  peak RSS {tweets} → {big} tweets: {:.0} MB → {:.0} MB ({:+.0}%)",
            ours.peak_mb,
            large.run.peak_mb,
            (large.run.peak_mb / ours.peak_mb - 1.0) * 100.0
        );
    }
    // Last, because it holds the whole archive's items in this process: a child started
    // after it would be charged for them (Linux counts the memory of the process that
    // spawned a child in the child's peak RSS, through the exec).
    breakdown(&archive, work.path())?;
    if keep {
        println!("  archives kept in {}", work.keep().display());
    }
    Ok(())
}

fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// Measuring a child

struct Run {
    wall: Duration,
    peak_mb: f64,
}

impl Run {
    /// The median wall time of `runs`, with the highest peak RSS of any of them.
    fn median(runs: &[Run]) -> Run {
        let mut walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
        walls.sort();
        Run {
            wall: walls[walls.len() / 2],
            peak_mb: runs.iter().map(|r| r.peak_mb).fold(0.0, f64::max),
        }
    }
}

/// Runs `command` to the end; its wall time and peak RSS from `wait4`. Dirty pages left by
/// what ran before (the other importer's database, a generated archive) are flushed first,
/// so neither run pays for the other's writes.
fn measure(command: &mut Command) -> Result<Run> {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let started = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {command:?}"))?;
    let pid = child.id() as libc::pid_t;
    // stderr is read on a thread so a chatty child cannot fill the pipe and stall.
    let mut stderr = child.stderr.context("no stderr")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet waited for.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    let errors = errors.join().unwrap_or_default();
    if waited != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("{command:?} failed (status {status}): {errors}");
    }
    Ok(Run {
        wall,
        // Linux reports kilobytes.
        peak_mb: usage.ru_maxrss as f64 / 1024.0,
    })
}

fn report(what: &str, run: &Run, note: &str) {
    println!(
        "  {what:<40} {:>8.1} s  peak RSS {:>7.1} MB  ({note})",
        run.wall.as_secs_f64(),
        run.peak_mb
    );
}

// ---------------------------------------------------------------------------------------
// The two importers

/// twitter-to-sqlite in a venv under `venv`, installed from PyPI when missing.
fn twitter_to_sqlite(venv: &Path) -> Result<PathBuf> {
    let tool = venv.join("bin/twitter-to-sqlite");
    if tool.exists() {
        return Ok(tool);
    }
    let quiet = |c: &mut Command| -> Result<()> {
        let out = c.output().with_context(|| format!("cannot run {c:?}"))?;
        if !out.status.success() {
            bail!(
                "{c:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    };
    println!("  installing twitter-to-sqlite into {}", venv.display());
    quiet(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    quiet(Command::new(venv.join("bin/pip")).args(["install", "-q", "twitter-to-sqlite"]))?;
    if !tool.exists() {
        bail!("pip installed no twitter-to-sqlite command");
    }
    Ok(tool)
}

struct Imported {
    run: Run,
    note: String,
}

/// A fresh data directory with user `bench`, then `lifeboat import` of `archive`.
fn lifeboat_import(work: &Path, archive: &Path, name: &str) -> Result<Imported> {
    let data = work.join(name);
    let mut add = Command::new(LIFEBOAT)
        .arg("--data")
        .arg(&data)
        .args(["user", "add", "bench"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    add.stdin
        .take()
        .context("no stdin")?
        .write_all(b"bench-password-123\n")?;
    if !add.wait()?.success() {
        bail!("lifeboat user add failed");
    }
    let run = measure(
        Command::new(LIFEBOAT)
            .arg("--data")
            .arg(&data)
            .args(["import", "--user", "bench"])
            .arg(archive),
    )?;
    let db = data.join("lifeboat.db");
    let note = format!(
        "{} posts, {} in FTS, {} media files stored",
        sqlite_count(&db, "posts"),
        sqlite_count(&db, "posts_fts"),
        sqlite_scalar(&db, "SELECT count(*) FROM media WHERE status = 'completed'"),
    );
    // The data directory stays until the end: deleting thousands of files right before the
    // next measured run makes the kernel's inode allocator slow on some filesystems (ext4
    // without a journal skips recently freed inodes one by one), which is not Lifeboat's time.
    Ok(Imported { run, note })
}

fn sqlite_count(db: &Path, table: &str) -> i64 {
    sqlite_scalar(db, &format!("SELECT count(*) FROM {table}"))
}

/// One number from a database, or -1 when it cannot be had.
fn sqlite_scalar(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
        .unwrap_or(-1)
}

/// Where Lifeboat's time goes, measured in this process, one part at a time:
/// `json_array_chunks` alone over `data/tweets.js` (the shared streaming parser); the
/// Twitter importer reading the whole archive into a sink that keeps nothing (no
/// database, no media store); its codec splitting and normalizing every raw item on one
/// thread (`split_normalized`, as the pipeline does); and the shared media store copying,
/// hashing and fsyncing every media file. The rest of `lifeboat import` is the shared
/// pipeline (stage tables, posts, FTS).
fn breakdown(archive: &Path, work: &Path) -> Result<()> {
    use lifeboat::connectors::{Codec, ItemRef};
    use lifeboat::importers::{Archive, Importer, Limits, json_array_chunks, twitter::Twitter};

    let mut opened = Archive::open(archive, Limits::default())?;
    let tweets = opened
        .ending_with("data/tweets.js")
        .next()
        .cloned()
        .context("no data/tweets.js")?;
    let started = Instant::now();
    let mut chunk_bytes = 0;
    json_array_chunks(opened.open_entry(&tweets)?, 1000, |_, chunk| {
        chunk_bytes += chunk.len();
        Ok(())
    })?;
    let chunks = started.elapsed();

    let started = Instant::now();
    let mut opened = Archive::open(archive, Limits::default())?;
    let mut sink = Counting::default();
    Twitter.read(&mut opened, &mut sink)?;
    let read = started.elapsed();

    let started = Instant::now();
    let mut posts = 0;
    for (content_type, payload) in &sink.items {
        let item = ItemRef {
            content_type,
            source_url: None,
            payload,
        };
        for raw in Twitter.split_normalized(&item)? {
            raw.post?;
            posts += 1;
        }
    }
    let codec = started.elapsed();
    sink.items.clear();

    let app = lifeboat::app::App::open(&work.join("media-store-alone"))?;
    let media: Vec<_> = opened
        .entries()
        .iter()
        .filter(|e| e.path.contains("_media/"))
        .cloned()
        .collect();
    let started = Instant::now();
    for entry in &media {
        let url = format!("https://pbs.twimg.com/media/{}", entry.name());
        let mut file = opened.open_entry(entry)?;
        app.downloader
            .store_local(1, "twitter", &url, &entry.path, &mut file)?;
    }
    let store = started.elapsed();
    drop(app);

    println!(
        "    json_array_chunks alone over data/tweets.js: {:.2} s ({:.0} MB of chunks)",
        chunks.as_secs_f64(),
        chunk_bytes as f64 / 1e6
    );
    println!(
        "    Twitter importer read, nothing stored: {:.2} s ({} items, {:.0} MB; {} media files read, {:.0} MB)",
        read.as_secs_f64(),
        sink.item_count,
        sink.item_bytes as f64 / 1e6,
        sink.media,
        sink.media_bytes as f64 / 1e6,
    );
    println!(
        "    Twitter split+normalize, one thread: {:.2} s ({posts} posts)",
        codec.as_secs_f64()
    );
    println!(
        "    media store alone (Downloader::store_local: copy, sha256, fsync): {:.2} s for {} files",
        store.as_secs_f64(),
        media.len()
    );
    Ok(())
}

/// Keeps raw items (to split them afterwards) and only counts media bytes.
#[derive(Default)]
struct Counting {
    items: Vec<(String, Vec<u8>)>,
    item_count: usize,
    item_bytes: usize,
    media: usize,
    media_bytes: u64,
}

impl lifeboat::importers::Sink for Counting {
    fn item(&mut self, item: lifeboat::connectors::RawItem) -> Result<()> {
        self.item_count += 1;
        self.item_bytes += item.payload.len();
        self.items.push((item.content_type, item.payload));
        Ok(())
    }

    fn media(
        &mut self,
        _url: &str,
        _kind: Option<&str>,
        _entry_path: &str,
        file: &mut dyn std::io::Read,
    ) -> Result<()> {
        self.media += 1;
        self.media_bytes += std::io::copy(file, &mut std::io::sink())?;
        Ok(())
    }

    fn skip(&mut self, _what: &str, _reason: &str) {}

    fn unreadable(&mut self, entry_path: &str, reason: &str, _payload: Vec<u8>) -> Result<()> {
        bail!("{entry_path} unreadable: {reason}")
    }
}

// ---------------------------------------------------------------------------------------
// The generated archive

#[derive(Clone, Copy, PartialEq)]
enum Naming {
    /// `data/tweets.js`, `YTD.tweets`, `tweets_media/` (2022+).
    Current,
    /// `data/tweet.js`, `YTD.tweet`, `tweet_media/` (before 2022).
    Old,
}

const ACCOUNT_ID: &str = "1964312974236991488";
const FRIENDS: &[&str] = &[
    "SamaHoole",
    "river_notes",
    "harbor_cat",
    "trail_runner",
    "bread_baker",
];

/// Writes the archive zip; returns its size in bytes. Deterministic for given sizes.
fn generate(path: &Path, tweets: usize, media: usize, naming: Naming) -> Result<u64> {
    let (file, global, media_dir) = match naming {
        Naming::Current => ("tweets", "tweets", "tweets_media"),
        Naming::Old => ("tweet", "tweet", "tweet_media"),
    };
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(std::fs::File::create(path)?));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);

    zip.start_file("data/manifest.js", deflated)?;
    zip.write_all(manifest(file, global, media_dir, tweets).as_bytes())?;
    zip.start_file("data/account.js", deflated)?;
    zip.write_all(ACCOUNT.as_bytes())?;

    // Media tweets are spread evenly through the file, as in a real timeline.
    let every = (tweets / media.max(1)).max(1);
    let has_media = |i: usize| media > 0 && i.is_multiple_of(every) && i / every < media;
    zip.start_file(format!("data/{file}.js"), deflated)?;
    zip.write_all(format!("window.YTD.{global}.part0 = [\n").as_bytes())?;
    let mut seed = 0x5eed_u64;
    for i in 0..tweets {
        let separator = if i + 1 < tweets { ",\n" } else { "\n" };
        let element = tweet_element(i, has_media(i), &mut seed);
        zip.write_all(element.as_bytes())?;
        zip.write_all(separator.as_bytes())?;
    }
    zip.write_all(b"]")?;

    let mut bytes = vec![0u8; MEDIA_BYTES];
    for i in (0..tweets).filter(|&i| has_media(i)) {
        zip.start_file(
            format!("data/{media_dir}/{}-{}.jpg", tweet_id(i), media_key(i)),
            stored,
        )?;
        fill_jpeg(&mut bytes, &mut seed);
        zip.write_all(&bytes)?;
    }
    zip.finish()?.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

const ACCOUNT: &str = r#"window.YTD.account.part0 = [
  {
    "account" : {
      "email" : "bench@example.org",
      "createdVia" : "web",
      "username" : "benchbird",
      "accountId" : "1964312974236991488",
      "createdAt" : "2015-09-06T13:02:20.496Z",
      "accountDisplayName" : "Bench Bird"
    }
  }
]"#;

fn manifest(file: &str, global: &str, media_dir: &str, tweets: usize) -> String {
    format!(
        r#"window.__THAR_CONFIG = {{
  "userInfo" : {{
    "accountId" : "{ACCOUNT_ID}",
    "userName" : "benchbird",
    "displayName" : "Bench Bird"
  }},
  "archiveInfo" : {{
    "generationDate" : "2026-03-06T13:15:31.187Z",
    "isPartialArchive" : false
  }},
  "dataTypes" : {{
    "account" : {{
      "files" : [ {{
        "fileName" : "data/account.js",
        "globalName" : "YTD.account.part0",
        "count" : "1"
      }} ]
    }},
    "{global}" : {{
      "mediaDirectory" : "data/{media_dir}",
      "files" : [ {{
        "fileName" : "data/{file}.js",
        "globalName" : "YTD.{global}.part0",
        "count" : "{tweets}"
      }} ]
    }}
  }}
}}"#
    )
}

fn tweet_id(i: usize) -> u64 {
    // Real ids: above 2^53, decreasing through the file (newest first).
    2_029_905_358_261_502_168 - i as u64 * 1_000_003
}

fn media_key(i: usize) -> String {
    format!("HC{:013X}", i as u64 * 2_654_435_761)
}

fn created_at(i: usize) -> String {
    const DAYS: &[&str] = &["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: &[&str] = &[
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = 1_772_802_125 - i as i64 * 1_800;
    let days = t.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let s = t.rem_euclid(86_400);
    format!(
        "{} {} {d:02} {:02}:{:02}:{:02} +0000 {y}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[m as usize - 1],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// One `{"tweet": {...}}` element in the archive's own pretty layout: about 60% replies,
/// 12% retweets, a third with a link, every number a string.
fn tweet_element(i: usize, with_media: bool, seed: &mut u64) -> String {
    let id = tweet_id(i);
    let roll = next(seed) % 100;
    let friend = FRIENDS[(next(seed) % FRIENDS.len() as u64) as usize];
    let words = 8 + (next(seed) % 30) as usize;
    let body = common::sentence(seed, words);
    let link = next(seed).is_multiple_of(3);
    let tco = format!("https://t.co/{:010x}", next(seed) % 0xff_ffff_ffff);
    let media_tco = format!("https://t.co/{:010x}", next(seed) % 0xff_ffff_ffff);

    let (prefix, reply) = match roll {
        0..=11 => (format!("RT @{friend}: "), None),
        12..=71 => (format!("@{friend} "), Some(id + 7_919)),
        _ => (String::new(), None),
    };
    let mut text = format!("{prefix}{body} &amp; more &gt; less");
    if link {
        text.push_str(&format!(" {tco}"));
    }
    if with_media {
        text.push_str(&format!(" {media_tco}"));
    }
    let len = text.chars().count();

    let mentions = if prefix.is_empty() {
        String::new()
    } else {
        let start = if reply.is_some() { 0 } else { 3 };
        format!(
            r#"
          {{
            "name" : "{friend}",
            "screen_name" : "{friend}",
            "indices" : [
              "{start}",
              "{}"
            ],
            "id_str" : "2253756806",
            "id" : "2253756806"
          }}
        "#,
            start + friend.len() + 1
        )
    };
    let urls = if link {
        format!(
            r#"
          {{
            "url" : "{tco}",
            "expanded_url" : "https://example.org/articles/{i}",
            "display_url" : "example.org/articles/{i}",
            "indices" : [
              "0",
              "23"
            ]
          }}
        "#
        )
    } else {
        String::new()
    };
    let media = if with_media {
        media_entity(i, id, &media_tco)
    } else {
        String::new()
    };
    let entities_media = if with_media {
        format!(",\n        \"media\" : [{media}]")
    } else {
        String::new()
    };
    let extended = if with_media {
        format!(",\n      \"extended_entities\" : {{\n        \"media\" : [{media}]\n      }}")
    } else {
        String::new()
    };
    let reply_fields = match reply {
        Some(to) => format!(
            r#"
      "in_reply_to_status_id_str" : "{to}",
      "in_reply_to_user_id" : "2253756806",
      "in_reply_to_status_id" : "{to}",
      "in_reply_to_screen_name" : "{friend}",
      "in_reply_to_user_id_str" : "2253756806","#
        ),
        None => String::new(),
    };
    format!(
        r#"  {{
    "tweet" : {{
      "edit_info" : {{
        "initial" : {{
          "editTweetIds" : [
            "{id}"
          ],
          "editableUntil" : "2026-03-06T14:02:05.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }}
      }},
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {{
        "hashtags" : [ ],
        "symbols" : [ ],
        "user_mentions" : [{mentions}],
        "urls" : [{urls}]{entities_media}
      }},
      "display_text_range" : [
        "0",
        "{len}"
      ],
      "favorite_count" : "{fav}",{reply_fields}
      "id_str" : "{id}",
      "truncated" : false,
      "retweet_count" : "{rts}",
      "id" : "{id}",
      "possibly_sensitive" : false,
      "created_at" : "{created}",
      "favorited" : false,
      "full_text" : "{text}",
      "lang" : "en"{extended}
    }}
  }}"#,
        fav = next(seed) % 50,
        rts = next(seed) % 10,
        created = created_at(i),
    )
}

fn media_entity(i: usize, id: u64, tco: &str) -> String {
    let key = media_key(i);
    format!(
        r#"
          {{
            "expanded_url" : "https://x.com/benchbird/status/{id}/photo/1",
            "indices" : [
              "60",
              "83"
            ],
            "url" : "{tco}",
            "media_url" : "http://pbs.twimg.com/media/{key}.jpg",
            "id_str" : "{mid}",
            "id" : "{mid}",
            "media_url_https" : "https://pbs.twimg.com/media/{key}.jpg",
            "sizes" : {{
              "small" : {{
                "w" : "680",
                "h" : "453",
                "resize" : "fit"
              }},
              "large" : {{
                "w" : "1536",
                "h" : "1024",
                "resize" : "fit"
              }},
              "medium" : {{
                "w" : "1200",
                "h" : "800",
                "resize" : "fit"
              }},
              "thumb" : {{
                "w" : "150",
                "h" : "150",
                "resize" : "crop"
              }}
            }},
            "type" : "photo",
            "display_url" : "pic.x.com/{key}"
          }}
        "#,
        mid = id - 1
    )
}

/// Random bytes behind a JPEG header: incompressible, like a real photo.
fn fill_jpeg(bytes: &mut [u8], seed: &mut u64) {
    for chunk in bytes.chunks_mut(8) {
        let r = next(seed).to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    bytes[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
}
