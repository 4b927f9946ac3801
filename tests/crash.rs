//! Crashes: `lifeboat sync` and `lifeboat reprocess` are killed with SIGKILL in the middle of
//! their work on a big feed (20,000 entries, hundreds of images), and the next run (or the
//! server, which recovers interrupted work at start) must finish the job with every entry
//! archived exactly once and every stored file intact.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::site::{Route, Site};
use common::{Api, Server, add_user, api_key, cli, cli_ok, png};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const ENTRIES: i64 = 20_000;
const IMAGES: i64 = 300;
const FEED_ETAG: &str = "\"big-1\"";

// ---- the big feed ---------------------------------------------------------------------------

fn guid(i: i64) -> String {
    format!("urn:uuid:00000000-0000-4000-8000-{i:012}")
}

/// One RSS 2.0 document, newest entry first, the first `images` entries with a same-host
/// image enclosure.
fn big_feed(base: &str, entries: i64, images: i64) -> Vec<u8> {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">\n<channel>\n\
         <title>Everything, ever</title>\n<link>{base}/</link>\n\
         <description>A very long-running blog</description>\n"
    );
    for i in (0..entries).rev() {
        let date = httpdate::fmt_http_date(start + Duration::from_secs(i as u64 * 3600));
        let enclosure = if i < images {
            format!("<enclosure url=\"{base}/img/{i}.png\" length=\"700\" type=\"image/png\"/>")
        } else {
            String::new()
        };
        xml.push_str(&format!(
            "<item><title>Entry {i}</title><link>{base}/entries/{i}</link>\
             <guid isPermaLink=\"false\">{}</guid><pubDate>{date}</pubDate>\
             <description>Entry number {i} says hello &amp; goodbye.</description>{enclosure}</item>\n",
            guid(i)
        ));
    }
    xml.push_str("</channel>\n</rss>\n");
    xml.into_bytes()
}

// ---- the archive ------------------------------------------------------------------------

struct Env {
    data: TempDir,
    site: Site,
    key: String,
    connection: i64,
    images: BTreeMap<i64, Vec<u8>>,
    entries: i64,
}

impl Env {
    /// alice, her key, the big feed (images served `image_delay` slowly), and a connection.
    fn new(entries: i64, images: i64, image_delay: Duration) -> Env {
        let data = tempfile::tempdir().expect("data dir");
        add_user(data.path(), "alice", "correct horse battery", true);
        let key = api_key(data.path(), "alice");
        let site = Site::start();
        site.route(
            "/feed.xml",
            Route::ok("application/rss+xml", big_feed(&site.base, entries, images)).etag(FEED_ETAG),
        );
        let mut served = BTreeMap::new();
        for i in 0..images {
            let bytes = png(i as u32, 16, 12);
            site.route(
                &format!("/img/{i}.png"),
                Route::png(&bytes).delay(image_delay),
            );
            served.insert(i, bytes);
        }
        let id = cli_ok(
            data.path(),
            &[
                "connect",
                "--user",
                "alice",
                "feed",
                "--url",
                &site.url("/feed.xml"),
            ],
            None,
        );
        Env {
            data,
            site,
            key,
            connection: id.parse().expect("connection id"),
            entries,
            images: served,
        }
    }

    fn dir(&self) -> &Path {
        self.data.path()
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.dir().join("lifeboat.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the database read-only")
    }

    fn sync_args(&self) -> Vec<String> {
        vec![
            "sync".into(),
            "--connection".into(),
            self.connection.to_string(),
            "--wait".into(),
        ]
    }

    fn spawn(&self, args: &[String]) -> Child {
        common::lifeboat(self.dir())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn lifeboat")
    }

    fn run(&self, args: &[String]) -> Output {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(self.dir(), &args, None)
    }
}

fn count(db: &rusqlite::Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Starts `args`, polls the database until `midway` says the work is half done, and kills
/// the process with SIGKILL right there. Returns what `midway` saw. Panics if the command
/// finished first: then nothing was interrupted.
fn kill_midway(
    env: &Env,
    args: &[String],
    limit: Duration,
    midway: impl Fn(&rusqlite::Connection) -> Option<String>,
) -> String {
    let db = env.db();
    let mut child = env.spawn(args);
    let started = Instant::now();
    loop {
        if let Some(state) = midway(&db) {
            assert!(
                child.try_wait().expect("poll child").is_none(),
                "{args:?} had already exited at {state}"
            );
            child.kill().expect("SIGKILL");
            let status = child.wait().expect("reap");
            assert!(!status.success(), "{status}");
            return state;
        }
        if let Some(status) = child.try_wait().expect("poll child") {
            panic!("{args:?} finished ({status}) before it could be interrupted");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} never reached the middle of its work");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Polls `/api/v1/queue` until no stage has work waiting; the last answer either way.
async fn try_wait_until_drained(api: &Api, limit: Duration) -> Result<Value, Value> {
    let started = Instant::now();
    loop {
        let page = api.get("/api/v1/queue").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let queue = page.json();
        let busy = queue["stages"].as_array().unwrap().iter().any(|s| {
            ["pending", "processing", "failed"]
                .iter()
                .any(|k| s[*k].as_i64() != Some(0))
        });
        if !busy {
            return Ok(queue);
        }
        if started.elapsed() > limit {
            return Err(queue);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_until_drained(api: &Api, limit: Duration) -> Value {
    try_wait_until_drained(api, limit)
        .await
        .unwrap_or_else(|queue| panic!("the queue never drained: {queue}"))
}

/// The invariants after any crash and recovery: every entry exactly once, nothing half
/// claimed, every stored file present and intact.
fn assert_archive_whole(env: &Env, images: i64) {
    let db = env.db();
    assert_eq!(count(&db, "SELECT COUNT(*) FROM posts"), env.entries);
    assert_eq!(
        count(&db, "SELECT COUNT(DISTINCT platform_post_id) FROM posts"),
        env.entries
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM ingested_posts"),
        env.entries
    );
    // Exactly the feed's entries, by id.
    let mut stmt = db
        .prepare("SELECT platform_post_id FROM posts ORDER BY platform_post_id")
        .unwrap();
    let found: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expected: Vec<String> = (0..env.entries).map(guid).collect();
    expected.sort();
    assert!(
        found == expected,
        "the posts are not exactly the feed's entries"
    );
    for table in ["ingested_items", "ingested_posts", "media"] {
        assert_eq!(
            count(
                &db,
                &format!("SELECT COUNT(*) FROM {table} WHERE status NOT IN ('completed')")
            ),
            0,
            "{table} has rows that are not completed"
        );
    }
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM posts WHERE has_media = 1"),
        images
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM media"), images);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM post_media"), images);
    // The full-text index has every post once.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM posts_fts WHERE posts_fts MATCH 'goodbye'"
        ),
        env.entries
    );
    // Each stored file is the file the site served (not a mix of two downloads).
    let mut stmt = db
        .prepare("SELECT url, sha256, size, path FROM media ORDER BY id")
        .unwrap();
    let rows: Vec<(String, String, i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (url, sha, size, path) in &rows {
        let i: i64 = url
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".png"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("odd media URL {url}"));
        let served = &env.images[&i];
        assert_eq!(*sha, hex::encode(Sha256::digest(served)), "{url}");
        assert_eq!(*size, served.len() as i64, "{url}");
        assert_eq!(
            std::fs::read(env.dir().join("media").join(path)).expect("stored file"),
            *served,
            "{url}"
        );
    }
    // Nothing else in the media directory: no partial download left behind.
    let stored = common::snapshot(&env.dir().join("media"));
    assert_eq!(
        stored.len() as i64,
        images,
        "{:?}",
        stored.keys().collect::<Vec<_>>()
    );
    let verify = cli_ok(env.dir(), &["verify"], None);
    assert_eq!(
        verify,
        format!("{images} files checked, 0 missing, 0 altered")
    );
}

/// Media rows that are not completed, with their errors (for failure messages).
fn unfinished_media(env: &Env) -> String {
    let db = env.db();
    let mut stmt = db
        .prepare(
            "SELECT id, url, status, attempts, last_error, next_attempt_at - strftime('%s', 'now')
             FROM media WHERE status != 'completed' ORDER BY id",
        )
        .unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "media {} ({}) {} after {} attempts, next try in {} s: {:?}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<String>>(4)?
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.join("\n")
}

fn media_path_list(env: &Env) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = common::snapshot(&env.dir().join("media"))
        .into_keys()
        .collect();
    files.sort();
    files
}

// ---- the tests ------------------------------------------------------------------------------

/// SIGKILL while the feed's 20,000 entries go into the archive; then the same command again.
#[tokio::test]
async fn sync_killed_while_archiving_posts_is_finished_by_the_next_sync() {
    let env = Env::new(ENTRIES, IMAGES, Duration::ZERO);
    let args = env.sync_args();
    let seen = kill_midway(&env, &args, Duration::from_secs(60), |db| {
        let items = count(db, "SELECT COUNT(*) FROM ingested_items");
        let posts = count(db, "SELECT COUNT(*) FROM posts");
        (items == 1 && posts < ENTRIES).then(|| format!("{items} raw items, {posts} posts"))
    });
    eprintln!("killed at {seen}");
    let db = env.db();
    let posts_after_kill = count(&db, "SELECT COUNT(*) FROM posts");
    assert!(posts_after_kill < ENTRIES, "killed at {seen}");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM sync_logs WHERE status = 'running'"
        ),
        1
    );

    // The same command again must finish the work.
    let rerun = env.run(&args);
    let rerun_stdout = String::from_utf8_lossy(&rerun.stdout).into_owned();
    let rerun_stderr = String::from_utf8_lossy(&rerun.stderr).into_owned();
    if rerun.status.success() {
        assert_eq!(count(&db, "SELECT COUNT(*) FROM posts"), ENTRIES);
        assert_eq!(
            count(&db, "SELECT COUNT(DISTINCT platform_post_id) FROM posts"),
            ENTRIES
        );
    }

    // The server takes over whatever is left (files of the killed sync), then all is whole.
    let server = Server::start_in(env.dir());
    let api = server.api(&env.key);
    wait_until_drained(&api, Duration::from_secs(60)).await;
    assert_archive_whole(&env, IMAGES);
    let log = count(
        &db,
        "SELECT COUNT(*) FROM sync_logs WHERE status = 'running'",
    );
    assert_eq!(log, 0, "a sync log still says running");
    let connection = api
        .get(&format!("/api/v1/connections/{}", env.connection))
        .await
        .json();
    assert_eq!(connection["status"], "active", "{connection}");
    // Once the server has recovered the connection, the CLI can sync it again.
    let after = env.run(&args);
    assert!(
        after.status.success(),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&after.stdout).trim_end(),
        format!(
            "connection {}: completed · fetched 0 posts · 0 created · 0 updated · 0 files saved · \
             0 files failed · Nothing new: feed unchanged (304 Not Modified).",
            env.connection
        )
    );
    assert_archive_whole(&env, IMAGES);

    assert!(
        rerun.status.success(),
        "`lifeboat sync` after a crash must finish the interrupted work, but it failed:\n\
         stdout: {rerun_stdout}\nstderr: {rerun_stderr}"
    );
}

/// SIGKILL while the images download (a few are done, most are not); the server, started
/// next, recovers the interrupted rows and finishes.
#[tokio::test]
async fn sync_killed_while_downloading_is_finished_by_the_server() {
    let env = Env::new(ENTRIES, IMAGES, Duration::from_millis(15));
    let args = env.sync_args();
    let seen = kill_midway(&env, &args, Duration::from_secs(60), |db| {
        let (done, claimed): (i64, i64) = db
            .query_row(
                "SELECT COALESCE(SUM(status = 'completed'), 0), COALESCE(SUM(status = 'processing'), 0)
                 FROM media",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        ((10..IMAGES - 50).contains(&done) && claimed > 0)
            .then(|| format!("{done} files stored, {claimed} being downloaded"))
    });
    eprintln!("killed at {seen}");
    let db = env.db();
    // Downloads were in flight: their rows were claimed ("processing") when the process died.
    assert!(
        count(
            &db,
            "SELECT COUNT(*) FROM media WHERE status = 'processing'"
        ) > 0
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM posts"),
        ENTRIES,
        "killed at {seen}"
    );
    let stored_at_kill = count(&db, "SELECT COUNT(*) FROM media WHERE status = 'completed'");
    assert!(stored_at_kill < IMAGES);

    let server = Server::start_in(env.dir());
    let api = server.api(&env.key);
    let queue = wait_until_drained(&api, Duration::from_secs(60)).await;
    assert_eq!(queue["dead_letters"], serde_json::json!([]), "{queue}");
    assert_archive_whole(&env, IMAGES);
    // Each image fetched at most twice: once by the killed sync (perhaps cut off), once more.
    for i in 0..IMAGES {
        let hits = env.site.hits(&format!("/img/{i}.png"));
        assert!((1..=2).contains(&hits), "image {i} fetched {hits} times");
    }
    // The killed sync is on record as interrupted; the connection is usable again.
    let logs = api
        .get(&format!("/api/v1/connections/{}/sync_logs", env.connection))
        .await
        .json();
    assert_eq!(logs["items"][0]["status"], "failed", "{logs}");
    assert_eq!(
        logs["items"][0]["error"],
        "interrupted: Lifeboat stopped during the sync; the next sync resumes it"
    );
    let again = api
        .post_json(
            &format!("/api/v1/connections/{}/sync", env.connection),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.body);
    let log_id = again.json()["sync_log_id"].as_i64().unwrap();
    let started = Instant::now();
    let log = loop {
        let logs = api
            .get(&format!("/api/v1/connections/{}/sync_logs", env.connection))
            .await
            .json();
        let log = logs["items"][0].clone();
        assert_eq!(log["id"], log_id);
        if log["status"] != "running" {
            break log;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(log["status"], "completed", "{log}");
    assert_eq!(log["posts_created"], 0);
    assert_eq!(
        log["message"],
        "Nothing new: feed unchanged (304 Not Modified)."
    );
    assert_archive_whole(&env, IMAGES);
}

/// SIGKILL in the middle of `lifeboat reprocess`, twice: once the server finishes the
/// work, once the next `reprocess` does. Posts keep their ids and contents.
#[tokio::test]
async fn reprocess_killed_midway_loses_and_duplicates_nothing() {
    let env = Env::new(ENTRIES, 0, Duration::ZERO);
    let out = env.run(&env.sync_args());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snapshot = || {
        let db = env.db();
        let mut stmt = db
            .prepare(
                "SELECT id, platform_post_id, ingested_post_id, kind, title, text, url,
                        created_at_platform, sort_at
                 FROM posts ORDER BY id",
            )
            .unwrap();
        let rows: Vec<String> = stmt
            .query_map([], |r| {
                Ok(format!(
                    "{}|{}|{}|{}|{:?}|{}|{:?}|{:?}|{}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                    r.get::<_, i64>(8)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows
    };
    let before = snapshot();
    assert_eq!(before.len() as i64, ENTRIES);
    assert_archive_whole(&env, 0);

    // Half of the raw posts normalized again, half waiting.
    let midway = |db: &rusqlite::Connection| {
        // One statement, so both numbers come from the same moment.
        let (done, waiting): (i64, i64) = db
            .query_row(
                "SELECT COALESCE(SUM(status = 'completed'), 0), COALESCE(SUM(status != 'completed'), 0)
                 FROM ingested_posts",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        (done > 0 && waiting > 0).then(|| format!("{done} raw posts done, {waiting} waiting"))
    };
    let reprocess = vec!["reprocess".to_string()];
    let seen = kill_midway(&env, &reprocess, Duration::from_secs(60), midway);
    eprintln!("first kill at {seen}");
    assert!(
        count(
            &env.db(),
            "SELECT COUNT(*) FROM ingested_posts WHERE status != 'completed'"
        ) > 0
    );
    {
        let server = Server::start_in(env.dir());
        let api = server.api(&env.key);
        wait_until_drained(&api, Duration::from_secs(60)).await;
    }
    assert_eq!(snapshot(), before, "the server's recovery changed posts");
    assert_archive_whole(&env, 0);

    let seen = kill_midway(&env, &reprocess, Duration::from_secs(60), midway);
    eprintln!("second kill at {seen}");
    let out = env.run(&reprocess);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(snapshot(), before, "reprocess after a crash changed posts");
    assert_archive_whole(&env, 0);
    assert!(media_path_list(&env).is_empty());
}

/// A server started while a CLI sync is downloading (launchd restarting it, a person
/// running `serve` in another terminal) must not treat that live sync as crashed: its
/// log stays "running", its connection stays busy, and no file is fetched twice.
#[tokio::test]
async fn starting_the_server_leaves_a_running_cli_sync_alone() {
    let env = Env::new(100, 100, Duration::from_millis(30));
    let db = env.db();
    let mut child = env.spawn(&env.sync_args());
    let started = Instant::now();
    while count(
        &db,
        "SELECT COUNT(*) FROM media WHERE status = 'processing'",
    ) == 0
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended too soon"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no download started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let server = Server::start_in(env.dir());
    let api = server.api(&env.key);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the sync ended too soon"
    );
    let logs = api
        .get(&format!("/api/v1/connections/{}/sync_logs", env.connection))
        .await
        .json();
    let running_log = logs["items"][0]["status"].clone();
    let second = api
        .post_json(
            &format!("/api/v1/connections/{}/sync", env.connection),
            &serde_json::json!({}),
        )
        .await;
    let status = common::wait_with_timeout(child, Duration::from_secs(60), "lifeboat sync").status;
    assert!(status.success(), "the CLI sync failed: {status}");
    let drained = try_wait_until_drained(&api, Duration::from_secs(30)).await;
    let hits: Vec<usize> = (0..100)
        .map(|i| env.site.hits(&format!("/img/{i}.png")))
        .collect();
    let twice = hits.iter().filter(|h| **h > 1).count();

    assert_eq!(
        running_log, "running",
        "the server marked a live CLI sync as interrupted"
    );
    assert_eq!(
        second.status, 409,
        "a second sync of a connection that is syncing was started: {}",
        second.body
    );
    assert_eq!(twice, 0, "{twice} files were downloaded twice: {hits:?}");
    if let Err(queue) = drained {
        panic!(
            "the queue did not drain: {queue}\n{}",
            unfinished_media(&env)
        );
    }
    assert_archive_whole(&env, 100);
}

/// A CLI command run beside a busy server (here a sync of another feed) must not put the
/// server's in-flight downloads back in the queue: each file is fetched once.
#[tokio::test]
async fn a_cli_sync_beside_a_busy_server_leaves_its_downloads_alone() {
    let env = Env::new(100, 100, Duration::from_millis(30));
    env.site.route(
        "/small.xml",
        Route::ok(
            "application/rss+xml",
            b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Small</title>\
              <item><title>Only</title><guid isPermaLink=\"false\">only</guid>\
              <description>Just one.</description></item></channel></rss>"
                .to_vec(),
        ),
    );
    let small: i64 = cli_ok(
        env.dir(),
        &[
            "connect",
            "--user",
            "alice",
            "feed",
            "--url",
            &env.site.url("/small.xml"),
        ],
        None,
    )
    .parse()
    .unwrap();
    let server = Server::start_in(env.dir());
    let api = server.api(&env.key);
    let started = api
        .post_json(
            &format!("/api/v1/connections/{}/sync", env.connection),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.body);
    let db = env.db();
    let begun = Instant::now();
    while count(
        &db,
        "SELECT COUNT(*) FROM media WHERE status = 'processing'",
    ) == 0
    {
        assert!(
            begun.elapsed() < Duration::from_secs(30),
            "no download started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = cli(
        env.dir(),
        &["sync", "--connection", &small.to_string(), "--wait"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drained = try_wait_until_drained(&api, Duration::from_secs(30)).await;
    let hits: Vec<usize> = (0..100)
        .map(|i| env.site.hits(&format!("/img/{i}.png")))
        .collect();
    let twice = hits.iter().filter(|h| **h > 1).count();
    let verify = cli(env.dir(), &["verify"], None);
    let verify = String::from_utf8_lossy(&verify.stdout).into_owned();
    let downloaded: i64 = {
        let logs = api
            .get(&format!("/api/v1/connections/{}/sync_logs", env.connection))
            .await
            .json();
        logs["items"][0]["media_downloaded"].as_i64().unwrap()
    };
    assert_eq!(verify.trim_end(), "100 files checked, 0 missing, 0 altered");
    assert_eq!(twice, 0, "{twice} files were downloaded twice: {hits:?}");
    if let Err(queue) = drained {
        panic!(
            "the queue did not drain: {queue}\n{}",
            unfinished_media(&env)
        );
    }
    assert_eq!(
        downloaded, 100,
        "the sync log counts {downloaded} files saved"
    );
}
