//! Imports whatever the format: bad archives are refused with a clear error and write
//! nothing, uploads stream to disk, a cut-off upload leaves no half-import, and the
//! result is visible on the pages and in the API.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::imports::*;
use common::*;
use lifeboat::importers::{Archive, Limits};

/// A CLI import that must fail: its one error line.
fn import_error(dir: &std::path::Path, path: &std::path::Path) -> String {
    let out = cli(
        dir,
        &["import", "--user", "alice", path.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success(), "import of {path:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {stderr:?}"))
        .to_string()
}

fn posts_and_items(dir: &std::path::Path) -> (i64, i64) {
    let db = rusqlite::Connection::open(dir.join("lifeboat.db")).unwrap();
    let posts = db
        .query_row("SELECT COUNT(*) FROM posts", [], |r| r.get(0))
        .unwrap();
    let items = db
        .query_row("SELECT COUNT(*) FROM ingested_items", [], |r| r.get(0))
        .unwrap();
    (posts, items)
}

fn user_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "alice", "correct horse battery", true);
    dir
}

#[test]
fn unsafe_entry_names_are_refused_and_nothing_is_written_outside() {
    let work = tempfile::tempdir().unwrap();
    let zip = work.path().join("evil.zip");
    write_zip(
        &zip,
        &[
            ("../../escaped.txt", b"gotcha"),
            ("/absolute.txt", b"gotcha"),
            ("data/..\\..\\windows.txt", b"gotcha"),
            ("fine/notes.txt", b"hello"),
        ],
    );
    let archive = Archive::open(&zip, Limits::default()).unwrap();
    let names: Vec<&str> = archive.entries().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, ["fine/notes.txt"]);
    assert_eq!(archive.refused().len(), 3, "{:?}", archive.refused());
    assert!(archive.refused()[0].1.contains("unsafe path"));

    let dir = user_dir();
    let line = import_error(dir.path(), &zip);
    assert!(
        line.contains("not a data export Lifeboat recognises"),
        "{line}"
    );
    for base in [work.path(), dir.path()] {
        for up in [base.to_path_buf(), base.join(".."), base.join("../..")] {
            assert!(!up.join("escaped.txt").exists());
        }
    }
    assert!(!std::path::Path::new("/absolute.txt").exists());
}

#[test]
fn a_zip_bomb_is_stopped_before_it_inflates() {
    let work = tempfile::tempdir().unwrap();
    let zip = work.path().join("bomb.zip");
    // 200 MB of zeros deflate to about 200 KB: a ratio only a bomb has.
    {
        let file = std::fs::File::create(&zip).unwrap();
        let mut writer = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        writer.start_file("data/tweets.js", options).unwrap();
        let block = vec![0u8; 1 << 20];
        for _ in 0..200 {
            writer.write_all(&block).unwrap();
        }
        writer.finish().unwrap();
    }
    assert!(std::fs::metadata(&zip).unwrap().len() < 2 << 20);
    let dir = user_dir();
    let line = import_error(dir.path(), &zip);
    assert!(line.contains("zip bomb"), "{line}");
    assert!(line.contains("data/tweets.js"), "{line}");
    assert_eq!(posts_and_items(dir.path()), (0, 0));
}

#[test]
fn an_entry_that_inflates_past_its_declared_size_fails() {
    // The declared size is what the limits check; the stream holds the entry to it.
    let work = tempfile::tempdir().unwrap();
    let zip = work.path().join("ok.zip");
    write_zip(&zip, &[("a.txt", b"hello world")]);
    let mut archive = Archive::open(&zip, Limits::default()).unwrap();
    let entry = archive.entries()[0].clone();
    assert_eq!(archive.read_entry(&entry).unwrap(), b"hello world");
    let limits = Limits {
        max_entry_bytes: 5,
        ..Limits::default()
    };
    let refused = Archive::open(&zip, limits).err().unwrap().to_string();
    assert!(refused.contains("past the limit of 5 bytes"), "{refused}");
}

#[test]
fn a_truncated_zip_is_refused_clearly() {
    let work = tempfile::tempdir().unwrap();
    let zip = work.path().join("export.zip");
    let big: Vec<u8> = (0..200_000u32).flat_map(|n| n.to_le_bytes()).collect();
    write_zip(
        &zip,
        &[("data/tweets.js", &big), ("data/account.js", b"[]")],
    );
    let bytes = std::fs::read(&zip).unwrap();
    std::fs::write(&zip, &bytes[..bytes.len() / 2]).unwrap();
    let dir = user_dir();
    let line = import_error(dir.path(), &zip);
    assert!(line.contains("damaged or truncated zip"), "{line}");
    assert_eq!(posts_and_items(dir.path()), (0, 0));
}

#[test]
fn a_file_that_is_not_what_its_name_says_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let fake = work.path().join("twitter-2024.zip");
    std::fs::write(&fake, "<html>this is a web page, not an archive</html>").unwrap();
    let dir = user_dir();
    let line = import_error(dir.path(), &fake);
    assert!(
        line.contains("named like a zip archive but is not one"),
        "{line}"
    );
}

#[test]
fn an_unknown_format_lists_the_supported_ones() {
    let work = tempfile::tempdir().unwrap();
    let zip = work.path().join("something.zip");
    write_zip(&zip, &[("notes/a.txt", b"a"), ("photos/b.bin", b"b")]);
    let dir = user_dir();
    let line = import_error(dir.path(), &zip);
    assert!(
        line.contains("is not a data export Lifeboat recognises; these formats are supported:"),
        "{line}"
    );
    let forced = cli(
        dir.path(),
        &[
            "import",
            "--user",
            "alice",
            "--platform",
            "nosuch",
            zip.to_str().unwrap(),
        ],
        None,
    );
    assert!(!forced.status.success());
    assert!(String::from_utf8_lossy(&forced.stderr).contains("unknown platform \"nosuch\""));
}

/// Sends the start of a multipart upload, then drops the connection halfway.
fn cut_off_upload(server: &Server, key: &str) {
    let stream = start_upload(server, key);
    std::thread::sleep(Duration::from_millis(200));
    drop(stream);
}

/// Sends the start of a 10 MB multipart upload and keeps the connection open.
fn start_upload(server: &Server, key: &str) -> TcpStream {
    let addr = server
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    let boundary = "lifeboatboundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"export.zip\"\r\n\
         Content-Type: application/zip\r\n\r\n"
    );
    let declared = head.len() + 10_000_000;
    let request = format!(
        "POST /api/v1/imports HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared}\r\n\r\n{head}"
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(&vec![b'P'; 1_000_000]).unwrap();
    stream.flush().unwrap();
    stream
}

#[tokio::test]
async fn a_cut_off_upload_is_not_shown_as_complete_and_leaves_no_file() {
    let mut server = Server::start();
    add_user(server.data_dir(), "alice", "correct horse battery", true);
    let key = api_key(server.data_dir(), "alice");
    cut_off_upload(&server, &key);
    let api = server.api(&key);
    let deadline = Instant::now() + Duration::from_secs(10);
    let import = loop {
        let list = api.get("/api/v1/imports").await.json();
        if let Some(first) = list["items"].as_array().and_then(|a| a.first()).cloned()
            && first["status"] != "uploading"
        {
            break first;
        }
        assert!(
            Instant::now() < deadline,
            "the cut-off upload stayed 'uploading'"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(import["status"], "failed", "{import}");
    assert!(
        import["error"].as_str().unwrap().contains("cut off"),
        "{import}"
    );
    let uploads = server.data_dir().join("uploads");
    let left: Vec<_> = std::fs::read_dir(&uploads)
        .map(|d| d.filter_map(|e| e.ok()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left in uploads/: {left:?}");
    server.stop();
    assert_eq!(posts_and_items(server.data_dir()), (0, 0));
}

#[tokio::test]
async fn a_server_killed_during_an_upload_cleans_up_when_it_starts_again() {
    let data = tempfile::tempdir().unwrap();
    add_user(data.path(), "alice", "correct horse battery", true);
    let key = api_key(data.path(), "alice");
    let server = Server::start_in(data.path());
    let stream = start_upload(&server, &key);
    let uploads = data.path().join("uploads");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&uploads).map_or(0, |d| d.count()) == 0 {
        assert!(
            Instant::now() < deadline,
            "the upload never reached the disk"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    send_signal(server.pid(), libc::SIGKILL);
    drop(server);
    drop(stream);

    let mut server = Server::start_in(data.path());
    let api = server.api(&key);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = api.get("/api/v1/imports").await.json();
        let left = std::fs::read_dir(&uploads).map_or(0, |d| d.count());
        if list["items"][0]["status"] == "failed" && left == 0 {
            assert!(
                list["items"][0]["error"]
                    .as_str()
                    .unwrap()
                    .contains("cut off"),
                "{list}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not cleaned up: {list}, {left} files"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop();
}

#[tokio::test]
async fn imports_of_other_users_are_not_reachable() {
    let mut server = Server::start();
    add_user(server.data_dir(), "alice", "correct horse battery", true);
    add_user(server.data_dir(), "bob", "another good password", false);
    let alice = api_key(server.data_dir(), "alice");
    let bob = api_key(server.data_dir(), "bob");
    // Something not an export: the import fails, but it exists.
    let sent = server
        .api(&alice)
        .upload(
            "/api/v1/imports",
            None,
            "notes.txt",
            b"just some notes".to_vec(),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let id = sent.json()["id"].as_i64().unwrap();
    let mine = server
        .api(&alice)
        .get(&format!("/api/v1/imports/{id}"))
        .await;
    assert_eq!(mine.status, 200);
    let theirs = server.api(&bob).get(&format!("/api/v1/imports/{id}")).await;
    assert_eq!(theirs.status, 404);
    let list = server.api(&bob).get("/api/v1/imports").await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let browser = server.browser();
    browser.login_ok("bob", "another good password").await;
    assert_eq!(browser.get(&format!("/imports/{id}")).await.status, 404);
    assert_eq!(
        browser.get(&format!("/imports/{id}/status")).await.status,
        404
    );
    server.stop();
}

#[tokio::test]
async fn an_upload_needs_the_csrf_token_and_a_bad_file_fails_clearly() {
    let mut server = Server::start();
    add_user(server.data_dir(), "alice", "correct horse battery", true);
    let browser = server.browser();
    browser.login_ok("alice", "correct horse battery").await;
    let page = browser.get("/imports").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("enctype=\"multipart/form-data\""));
    assert!(page.body.contains("these formats are supported"));
    let csrf = csrf_token(&browser.get("/settings").await.body).unwrap();
    let refused = browser
        .upload("/imports", None, "x.zip", b"PK\x03\x04".to_vec())
        .await;
    assert_eq!(refused.status, 403);
    let sent = browser
        .upload(
            &format!("/imports?csrf_token={csrf}"),
            None,
            "export.zip",
            b"not a zip at all".to_vec(),
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let to = sent.location().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let result = loop {
        let page = browser.get(&to).await;
        if !page.body.contains("hx-trigger=\"every 1s\"") {
            break page;
        }
        assert!(Instant::now() < deadline, "import still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(result.body.contains("badge failed"), "{}", result.body);
    assert!(
        result
            .body
            .contains("named like a zip archive but is not one"),
        "{}",
        result.body
    );
    server.stop();
    let left = std::fs::read_dir(server.data_dir().join("uploads"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "the uploaded file was not removed");
}

fn count(dir: &std::path::Path, sql: &str) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("lifeboat.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.query_row(sql, [], |r| r.get(0)).unwrap_or(0)
}

#[test]
fn a_killed_import_finishes_when_run_again() {
    let work = tempfile::tempdir().unwrap();
    let zip = work.path().join("twitter.zip");
    twitter_archive(&zip, 20_000, 300);
    let dir = user_dir();
    let args = ["import", "--user", "alice", zip.to_str().unwrap()];
    let mut child = lifeboat(dir.path())
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(dir.path(), "SELECT COUNT(*) FROM posts") < 1000 {
        assert!(
            Instant::now() < deadline,
            "the import made no posts in time"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    send_signal(child.id(), libc::SIGKILL);
    child.wait().unwrap();
    let partial = count(dir.path(), "SELECT COUNT(*) FROM posts");
    assert!(
        partial < 20_000,
        "killed too late to prove anything ({partial} posts)"
    );

    let summary = cli_ok(dir.path(), &args, None);
    assert!(summary.contains("posts:"), "{summary}");
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM posts WHERE kind != 'like'"
        ),
        20_000
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(DISTINCT platform_post_id) FROM posts"
        ),
        count(dir.path(), "SELECT COUNT(*) FROM posts")
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM ingested_items WHERE status != 'completed'"
        ),
        0
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM media WHERE status = 'completed'"
        ),
        300
    );
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM connections"), 1);
    // The killed run is recorded as interrupted, the second as completed.
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM imports WHERE status = 'failed' AND error LIKE '%interrupted%'"
        ),
        1
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM imports WHERE status = 'completed'"
        ),
        1
    );
    let verified = cli_ok(dir.path(), &["verify"], None);
    assert!(
        verified.contains("300 files checked, 0 missing, 0 altered"),
        "{verified}"
    );
}

#[test]
fn an_export_goes_into_the_live_connection_of_its_platform() {
    let env = ImportEnv::new();
    let live = env
        .app
        .db
        .write_blocking(|c| {
            let new = lifeboat::db::connections::NewConnection {
                user_id: env.user_id,
                platform: "twitter",
                kind: "api",
                label: "@rescuer",
                url: None,
                handle: Some("rescuer"),
                credentials: None,
            };
            Ok(lifeboat::db::connections::insert(c, &new, 0)?)
        })
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let zip = work.path().join("twitter.zip");
    twitter_archive(&zip, 50, 2);
    let first = env.import(&zip, None).unwrap();
    assert_eq!(first.connection_id, live);
    assert_eq!(first.posts_created, 50);
    let again = env.import(&zip, None).unwrap();
    assert_eq!(
        (again.items_new, again.posts_created, again.media_new),
        (0, 0, 0)
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM connections"), 1);
    assert_eq!(env.count("SELECT COUNT(*) FROM posts"), 50);
}

/// Polls an import through the API until it is no longer running.
async fn finished_import(api: &Api, id: i64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let import = api.get(&format!("/api/v1/imports/{id}")).await.json();
        if !["uploading", "reading", "processing"].contains(&import["status"].as_str().unwrap()) {
            return import;
        }
        assert!(
            Instant::now() < deadline,
            "import {id} still running: {import}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_uploaded_export_lands_in_the_archive_once() {
    let mut server = Server::start();
    add_user(server.data_dir(), "alice", "correct horse battery", true);
    let key = api_key(server.data_dir(), "alice");
    let api = server.api(&key);
    let work = tempfile::tempdir().unwrap();
    let zip = work.path().join("twitter-2026.zip");
    twitter_archive(&zip, 500, 5);
    let bytes = std::fs::read(&zip).unwrap();

    // Through the page, as a browser sends the form.
    let browser = server.browser();
    browser.login_ok("alice", "correct horse battery").await;
    let csrf = csrf_token(&browser.get("/imports").await.body).unwrap();
    let sent = browser
        .upload(
            &format!("/imports?csrf_token={csrf}"),
            None,
            "twitter-2026.zip",
            bytes.clone(),
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let id: i64 = sent
        .location()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let import = finished_import(&api, id).await;
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(import["platform"], "twitter");
    assert_eq!(import["posts_created"], 500);
    assert_eq!(import["media_copied"], 5);
    let page = browser.get(&format!("/imports/{id}")).await;
    assert!(page.body.contains("badge completed"), "{}", page.body);
    assert!(page.body.contains("500 new"), "{}", page.body);

    // Again through the API, forced to the platform: nothing new.
    let sent = api
        .upload(
            "/api/v1/imports",
            Some("twitter"),
            "twitter-2026.zip",
            bytes,
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let again = finished_import(&api, sent.json()["id"].as_i64().unwrap()).await;
    assert_eq!(again["status"], "completed", "{again}");
    assert_eq!(
        (again["items_new"].as_i64(), again["posts_created"].as_i64()),
        (Some(0), Some(0))
    );

    let posts = api
        .get("/api/v1/posts?platform=twitter&limit=200")
        .await
        .json();
    assert_eq!(posts["items"].as_array().unwrap().len(), 200);
    let found = api.get("/api/v1/posts?q=lifeboats").await.json();
    assert!(!found["items"].as_array().unwrap().is_empty());
    server.stop();
    assert_eq!(count(server.data_dir(), "SELECT COUNT(*) FROM posts"), 500);
    let left = std::fs::read_dir(server.data_dir().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(left, 0, "uploaded files are removed once imported");
}
