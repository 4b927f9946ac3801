//! The Reddit data export importer, on archives shaped as QUIRKS.md describes (there is no
//! licensed sample): CSV files with drifting columns, multi-line quoted Markdown bodies,
//! `&gt;` entities, `[removed]` placeholders, `*_headers.csv` twins, header-only files,
//! `checkfile.csv` and the PII-holding `statistics.csv`.

mod common;

use common::imports::*;

use lifeboat::importers::Collected;
use lifeboat::importers::reddit::Reddit;
use lifeboat::platform::Platform;
use sha2::{Digest, Sha256};

const COMMENTS: &str = "id,permalink,date,ip,subreddit,gildings,link,parent,body,media\n\
kx1a2b3,https://www.reddit.com/r/rust/comments/18abcde/borrowck_woes/kx1a2b3/,2024-01-12 17:29:56 UTC,,rust,0,https://www.reddit.com/r/rust/comments/18abcde/borrowck_woes/,,\"&gt; the borrow checker hates me\n\nIt does not, it \"\"loves\"\" you &amp; wants you safe.\nSee <https://doc.rust-lang.org>\",\n\
kx1a2b4,https://www.reddit.com/r/rust/comments/18abcde/borrowck_woes/kx1a2b4/,2024-01-12 18:00:00 UTC,,rust,1,https://www.reddit.com/r/rust/comments/18abcde/borrowck_woes/,kx1a2b3,[removed],\n\
kx1a2b5,https://www.reddit.com/r/pics/comments/18zzzzz/sunset/kx1a2b5/,2024-02-01 08:00:00 UTC,,pics,0,https://www.reddit.com/r/pics/comments/18zzzzz/sunset/,,Nice one,https://i.redd.it/abc123.png\n\
kx1a2b6,https://www.reddit.com/r/rust/comments/18abcde/borrowck_woes/kx1a2b6/,2024-01-13 09:00:00 UTC,,rust,0,https://www.reddit.com/r/rust/comments/18abcde/borrowck_woes/,t1_kx1a2b4,Older exports write fullnames,\n";

/// Fewer columns than comments.csv, no bodies: only read when comments.csv is missing.
const COMMENT_HEADERS: &str = "id,permalink,date,ip,subreddit,gildings,link,parent\n\
kx1a2b3,https://www.reddit.com/r/rust/comments/18abcde/borrowck_woes/kx1a2b3/,2024-01-12 17:29:56 UTC,,rust,0,https://www.reddit.com/r/rust/comments/18abcde/borrowck_woes/,\n";

/// With the extra gildings columns other exports show.
const POSTS: &str = "id,permalink,date,ip,subreddit,gildings,gildings_silver,gildings_supergold,title,url,body\n\
18abcde,https://www.reddit.com/r/rust/comments/18abcde/borrowck_woes/,2024-01-12 17:00:00 UTC,,rust,0,2,0,Borrowck woes &amp; how I cope,https://www.reddit.com/r/rust/comments/18abcde/borrowck_woes/,\"Line one\nline two &lt;3\"\n\
18zzzzz,https://www.reddit.com/r/pics/comments/18zzzzz/sunset/,2024-02-01 07:00:00 UTC,,pics,0,0,0,Sunset,https://i.redd.it/sunset.jpg,\n\
18ddddd,https://www.reddit.com/r/rust/comments/18ddddd/gone/,2023-05-05 05:05:05 UTC,,rust,0,0,0,Gone,https://www.reddit.com/r/rust/comments/18ddddd/gone/,[deleted]\n";

const SAVED_POSTS: &str = "id,permalink\n\
sav001,https://www.reddit.com/r/cooking/comments/sav001/my_first_stew/\n";

const SAVED_COMMENTS: &str = "id,permalink\n\
cmm777,https://www.reddit.com/r/cooking/comments/sav001/my_first_stew/cmm777/\n";

const STATISTICS: &str =
    "statistic,value\naccount name,someone\nemail address,someone@example.com\n";

fn sha256(bytes: &str) -> String {
    hex::encode(Sha256::digest(bytes.as_bytes()))
}

/// A whole export inside a top folder, as a person would re-zip it. `posts.csv` does not
/// match its checksum.
fn export_zip(dir: &std::path::Path) -> std::path::PathBuf {
    let checkfile = format!(
        "filename,sha256\ncomments.csv,{}\nposts.csv,{}\nsaved_posts.csv,{}\n",
        sha256(COMMENTS),
        sha256("something else"),
        sha256(SAVED_POSTS)
    );
    let path = dir.join("reddit.zip");
    let p = "export_someone_20240301/";
    write_zip(
        &path,
        &[
            (&format!("{p}comments.csv"), COMMENTS.as_bytes()),
            (
                &format!("{p}comment_headers.csv"),
                COMMENT_HEADERS.as_bytes(),
            ),
            (&format!("{p}posts.csv"), POSTS.as_bytes()),
            (
                &format!("{p}post_headers.csv"),
                b"id,permalink,date,ip,subreddit,gildings,title,url\n",
            ),
            (&format!("{p}saved_posts.csv"), SAVED_POSTS.as_bytes()),
            (&format!("{p}saved_comments.csv"), SAVED_COMMENTS.as_bytes()),
            (&format!("{p}checkfile.csv"), checkfile.as_bytes()),
            (&format!("{p}statistics.csv"), STATISTICS.as_bytes()),
            (
                &format!("{p}messages.csv"),
                b"id,message_id,thread_id,date,ip,from,to,subject,body,permalink\n",
            ),
            (
                &format!("{p}subscribed_subreddits.csv"),
                b"subreddit\nrust\n",
            ),
            (&format!("{p}post_votes.csv"), b"id,permalink,direction\n"),
        ],
    );
    path
}

#[test]
fn reads_posts_comments_and_saved_items_by_column_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&Reddit, &export_zip(dir.path()));
    let all = normalize_all(&Reddit, &out);
    let ids: Vec<&str> = all
        .iter()
        .map(|(r, _)| r.platform_post_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "saved:t1_cmm777",
            "saved:t3_sav001",
            "t1_kx1a2b3",
            "t1_kx1a2b4",
            "t1_kx1a2b5",
            "t1_kx1a2b6",
            "t3_18abcde",
            "t3_18ddddd",
            "t3_18zzzzz"
        ],
        "comments.csv wins over comment_headers.csv; the header-only post_headers.csv adds nothing"
    );

    let (raw, comment) = find(&all, "t1_kx1a2b3");
    assert_eq!(comment.kind, "comment");
    assert_eq!(
        comment.text,
        "> the borrow checker hates me\n\nIt does not, it \"loves\" you & wants you safe.\nSee <https://doc.rust-lang.org>"
    );
    assert_eq!(comment.html, None);
    assert_eq!(comment.created_at, Some(1705080596));
    assert_eq!(
        comment.url.as_deref(),
        Some("https://www.reddit.com/r/rust/comments/18abcde/borrowck_woes/kx1a2b3/")
    );
    assert_eq!(
        comment.reply_to.as_deref(),
        Some("t3_18abcde"),
        "top level: answers the post"
    );
    assert_eq!(comment.author, None);
    assert_eq!(
        raw.value().unwrap()["ip"],
        "",
        "the raw row keeps every column"
    );
    let engagement = comment.engagement.as_ref().unwrap();
    assert_eq!(engagement["subreddit"], "rust");
    assert_eq!(engagement["gildings"], 0);
    assert!(engagement.get("ip").is_none() && engagement.get("removed").is_none());

    let (_, removed) = find(&all, "t1_kx1a2b4");
    assert_eq!(removed.text, "[removed]", "the placeholder is kept");
    assert_eq!(removed.engagement.as_ref().unwrap()["removed"], true);
    assert_eq!(
        removed.reply_to.as_deref(),
        Some("t1_kx1a2b3"),
        "bare parent id → t1_"
    );

    let (_, prefixed) = find(&all, "t1_kx1a2b6");
    assert_eq!(
        prefixed.reply_to.as_deref(),
        Some("t1_kx1a2b4"),
        "not t1_t1_"
    );

    let (_, with_media) = find(&all, "t1_kx1a2b5");
    assert_eq!(with_media.media.len(), 1);
    assert_eq!(with_media.media[0].url, "https://i.redd.it/abc123.png");
    assert_eq!(with_media.media[0].kind.as_deref(), Some("image"));

    let (_, post) = find(&all, "t3_18abcde");
    assert_eq!(post.kind, "post");
    assert_eq!(post.title.as_deref(), Some("Borrowck woes & how I cope"));
    assert_eq!(post.text, "Line one\nline two <3");
    assert_eq!(post.created_at, Some(1705078800));
    let engagement = post.engagement.as_ref().unwrap();
    assert_eq!(
        engagement["gildings_silver"], 2,
        "drifting columns are read by name"
    );
    assert!(
        engagement.get("link").is_none(),
        "a self post links to itself"
    );
    assert!(post.media.is_empty());

    let (_, deleted) = find(&all, "t3_18ddddd");
    assert_eq!(deleted.engagement.as_ref().unwrap()["removed"], true);

    let (_, link_post) = find(&all, "t3_18zzzzz");
    assert_eq!(
        link_post.engagement.as_ref().unwrap()["link"],
        "https://i.redd.it/sunset.jpg"
    );
    assert_eq!(link_post.media[0].url, "https://i.redd.it/sunset.jpg");
    assert_eq!(link_post.text, "");

    let (_, saved) = find(&all, "saved:t3_sav001");
    assert_eq!(saved.kind, "bookmark");
    assert_eq!(saved.title.as_deref(), Some("my first stew"));
    assert_eq!(
        saved.url.as_deref(),
        Some("https://www.reddit.com/r/cooking/comments/sav001/my_first_stew/")
    );
    assert_eq!(saved.engagement.as_ref().unwrap()["saved"], "t3_sav001");
    assert_eq!(saved.engagement.as_ref().unwrap()["subreddit"], "cooking");
    let (_, saved_comment) = find(&all, "saved:t1_cmm777");
    assert_eq!(saved_comment.kind, "bookmark");
}

#[test]
fn checkfile_pii_and_unimported_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&Reddit, &export_zip(dir.path()));
    let skipped = skipped_lines(&out);
    let mismatch: Vec<&String> = skipped.iter().filter(|s| s.contains("checkfile")).collect();
    assert_eq!(mismatch.len(), 1, "{skipped:?}");
    assert!(mismatch[0].starts_with("export_someone_20240301/posts.csv"));
    assert!(
        skipped.iter().any(|s| s.starts_with("statistics.csv")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.starts_with("messages.csv: direct messages"))
    );
    assert!(skipped.iter().any(|s| s.starts_with("post_votes.csv")));
    // statistics.csv is never read: its e-mail address is nowhere in what was kept.
    for item in &out.items {
        assert!(!String::from_utf8_lossy(&item.payload).contains("someone@example.com"));
        assert!(
            item.source_url
                .as_deref()
                .unwrap()
                .starts_with("export_someone_20240301/")
        );
    }
    assert!(out.unreadable.is_empty());
}

#[test]
fn headers_file_stands_in_when_the_full_file_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("headers-only.zip");
    write_zip(
        &path,
        &[
            ("comment_headers.csv", COMMENT_HEADERS.as_bytes()),
            (
                "post_headers.csv",
                b"id,permalink,date,ip,subreddit,gildings,title,url\n",
            ),
            ("saved_posts.csv", b"id,permalink\n"),
        ],
    );
    let all = normalize_all(&Reddit, &collect(&Reddit, &path));
    assert_eq!(all.len(), 1);
    let (raw, comment) = &all[0];
    assert_eq!(raw.platform_post_id, "t1_kx1a2b3");
    assert_eq!(comment.text, "");
    assert_eq!(comment.created_at, Some(1705080596));
}

#[test]
fn big_files_are_chunked_with_stable_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut comments =
        String::from("id,permalink,date,ip,subreddit,gildings,link,parent,body,media\n");
    for i in 0..2500 {
        comments.push_str(&format!(
            "c{i},https://www.reddit.com/r/x/comments/p1/t/c{i}/,2024-01-12 17:29:56 UTC,,x,0,https://www.reddit.com/r/x/comments/p1/t/,,\"body {i}\nsecond line\",\n"
        ));
    }
    let path = dir.path().join("big.zip");
    write_zip(
        &path,
        &[
            ("comments.csv", comments.as_bytes()),
            (
                "posts.csv",
                b"id,permalink,date,ip,subreddit,gildings,title,url,body\n",
            ),
        ],
    );
    let first = collect(&Reddit, &path);
    assert_eq!(first.items.len(), 3, "1000 rows per raw item");
    assert_eq!(normalize_all(&Reddit, &first).len(), 2500);
    let again = collect(&Reddit, &path);
    let ids = |c: &Collected| {
        c.items
            .iter()
            .map(|i| i.external_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ids(&again));
    assert!(ids(&first)[0].starts_with("comments.csv#0:"));
}

#[test]
fn a_file_with_a_foreign_header_is_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.zip");
    write_zip(
        &path,
        &[
            (
                "comments.csv",
                b"identifier,link\nabc,https://example.com\n".as_slice(),
            ),
            ("posts.csv", POSTS.as_bytes()),
            ("subscribed_subreddits.csv", b"subreddit\n"),
        ],
    );
    let out = collect(&Reddit, &path);
    assert_eq!(out.unreadable.len(), 1);
    assert_eq!(out.unreadable[0].0, "comments.csv");
    assert!(
        out.unreadable[0].1.contains("no id column"),
        "{:?}",
        out.unreadable
    );
    assert_eq!(
        normalize_all(&Reddit, &out).len(),
        3,
        "the rest of the export still imports"
    );
}

#[test]
fn detection_claims_only_reddit_exports() {
    let dir = tempfile::tempdir().unwrap();
    let reddit = export_zip(dir.path());
    assert_eq!(detected_platform(&reddit), Platform::Reddit);

    // Strava also ships a comments.csv beside its activities.csv.
    let strava = dir.path().join("strava.zip");
    write_zip(
        &strava,
        &[
            (
                "activities.csv",
                b"Activity ID,Activity Date,Activity Name\n1,\"Oct 5, 2014, 4:15:21 PM\",Ride\n"
                    .as_slice(),
            ),
            (
                "comments.csv",
                b"Activity ID,Comment Date,Comment\n1,2014-10-05,nice\n",
            ),
            ("profile.csv", b"Athlete ID\n1\n"),
        ],
    );
    assert!(!detects(&Reddit, &strava));

    let takeout = dir.path().join("takeout.zip");
    write_zip(
        &takeout,
        &[
            ("Takeout/archive_browser.html", b"<html></html>".as_slice()),
            (
                "Takeout/YouTube and YouTube Music/comments/comments.csv",
                b"Comment ID,Channel ID\n",
            ),
            (
                "Takeout/YouTube and YouTube Music/history/watch-history.json",
                b"[]",
            ),
        ],
    );
    assert!(!detects(&Reddit, &takeout));
}

#[test]
fn imports_end_to_end_once() {
    let env = ImportEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let path = export_zip(dir.path());
    let summary = env.import(&path, None).expect("import");
    assert_eq!(summary.platform, Platform::Reddit);
    assert_eq!(summary.format, "Reddit data export");
    assert_eq!(summary.failed_items, 0);
    assert!(summary.items_new > 0);
    assert!(summary.skipped.iter().any(|s| s.what == "statistics.csv"));

    let rows = env.posts("reddit");
    assert_eq!(rows.len(), 9);
    let comment = env.post("reddit", "t1_kx1a2b3");
    assert_eq!(comment.kind, "comment");
    assert!(comment.text.starts_with("> the borrow checker"));
    assert_eq!(comment.reply_to.as_deref(), Some("t3_18abcde"));
    let post = env.post("reddit", "t3_18zzzzz");
    assert!(post.has_media);
    let saved = env.post("reddit", "saved:t3_sav001");
    assert_eq!(saved.kind, "bookmark");
    let raw_ip = env.count("SELECT count(*) FROM posts WHERE engagement LIKE '%\"ip\"%'");
    assert_eq!(raw_ip, 0, "ip never leaves the raw payload");

    env.assert_import_again_adds_nothing(&path, "reddit");
}
