//! The Twitter/X archive importer: the real 2026 sample (as a folder and as a zip), a
//! 2020-style archive with the old names, split parts, empty and unterminated files, and
//! a malformed part that must not stop the rest.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use common::imports::*;
use lifeboat::connectors::{Codec, ItemRef, NewPost, split_then_normalize};
use lifeboat::importers::{Archive, Collected, Importer, Limits, twitter::Twitter};

const SAMPLE: &str = "twitter/milahu104-2026";

/// Reads an export with the importer alone.
fn collect(path: &Path) -> Collected {
    let mut archive = Archive::open(path, Limits::default()).expect("open export");
    assert!(
        Twitter.detect(&mut archive),
        "not detected: {}",
        path.display()
    );
    let mut out = Collected::default();
    Twitter.read(&mut archive, &mut out).expect("read export");
    out
}

/// Splits and normalizes every raw item, by platform post id.
fn normalize_all(out: &Collected) -> HashMap<String, NewPost> {
    let mut posts = HashMap::new();
    for item in &out.items {
        let raws = Twitter
            .split(&ItemRef {
                content_type: &item.content_type,
                source_url: item.source_url.as_deref(),
                payload: &item.payload,
            })
            .expect("split");
        for raw in raws {
            let post = Twitter.normalize(&raw).expect("normalize");
            assert!(
                posts.insert(raw.platform_post_id.clone(), post).is_none(),
                "{} twice",
                raw.platform_post_id
            );
        }
    }
    posts
}

/// Every file of the real sample, as `(path in export, bytes)`, under `prefix`.
fn sample_files(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let root = fixture(SAMPLE);
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read sample dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(&root).expect("relative");
                let name = format!("{prefix}{}", relative.to_string_lossy());
                files.push((name, std::fs::read(&path).expect("read sample file")));
            }
        }
    }
    files.sort();
    files
}

fn zip_of(path: &Path, files: &[(String, Vec<u8>)]) {
    write_zip(path, &as_entries(files));
}

#[test]
fn real_archive_reads_into_tweets_likes_and_media() {
    let out = collect(&fixture(SAMPLE));

    // 2045 tweets in chunks of 1000, 47 deleted tweets, 3 community tweets, 100 likes.
    assert_eq!(
        out.items.len(),
        6,
        "{:?}",
        out.items.iter().map(|i| &i.external_id).collect::<Vec<_>>()
    );
    assert!(out.unreadable.is_empty(), "{:?}", out.unreadable);
    for item in &out.items {
        assert!(item.source_url.as_deref().unwrap().starts_with("data/"));
        if item.content_type.contains("tweets") {
            assert!(
                item.content_type.contains("account=milahu104"),
                "{}",
                item.content_type
            );
        }
    }

    // Media files under the URL normalize gives: photo by media_url_https, GIF by its mp4.
    let media: BTreeSet<(&str, Option<&str>, &str)> = out
        .media
        .iter()
        .map(|(url, kind, path, _)| (url.as_str(), kind.as_deref(), path.as_str()))
        .collect();
    let expected: BTreeSet<(&str, Option<&str>, &str)> = [
        (
            "https://pbs.twimg.com/media/FH1cIfBXMAQsROP.jpg",
            Some("image"),
            "data/tweets_media/2011460031385047365-FH1cIfBXMAQsROP.jpg",
        ),
        (
            "https://pbs.twimg.com/media/G-ORHopX0AExj6w.png",
            Some("image"),
            "data/tweets_media/2009609488027070672-G-ORHopX0AExj6w.png",
        ),
        (
            "https://video.twimg.com/tweet_video/G-ulHZgW0AE_yfP.mp4",
            Some("video"),
            "data/tweets_media/2011883284482207917-G-ulHZgW0AE_yfP.mp4",
        ),
    ]
    .into();
    assert_eq!(media, expected);
    assert_eq!(out.media[0].3.len(), 23000, "the png's bytes");

    // What is not imported is said once per kind, DMs as private messages.
    let skipped = |what: &str| out.skipped.iter().find(|(w, _)| w.ends_with(what));
    let dms = skipped("data/direct-messages.js").expect("DMs reported");
    assert!(dms.1.contains("private messages"), "{dms:?}");
    assert!(skipped("data/follower.js").is_some(), "{:?}", out.skipped);
    assert!(skipped("data/following.js").is_some());
    assert!(skipped("data/profile_media").is_some(), "{:?}", out.skipped);
    assert!(skipped("other data files").is_some());
    assert!(
        skipped("data/note-tweet.js").is_none(),
        "an empty note-tweet.js is nothing to report"
    );

    let posts = normalize_all(&out);
    assert_eq!(posts.len(), 2045 + 47 + 3 + 100);
    // Every media file the importer stored is the media of some post.
    let referenced: BTreeSet<&str> = posts
        .values()
        .flat_map(|p| p.media.iter().map(|m| m.url.as_str()))
        .collect();
    for (url, _, _, _) in &out.media {
        assert!(
            referenced.contains(url.as_str()),
            "{url} is no post's media"
        );
    }
}

#[test]
fn real_archive_normalizes_replies_retweets_media_and_likes() {
    let posts = normalize_all(&collect(&fixture(SAMPLE)));

    // A reply: t.co link expanded, the account's name as author, ids past 2^53 intact.
    let reply = &posts["2029905358261502168"];
    assert_eq!(reply.kind, "reply");
    assert_eq!(reply.author.as_deref(), Some("milahu104"));
    assert_eq!(
        reply.text,
        "@SamaHoole https://x.com/milahu104/status/2027739112069878026"
    );
    assert_eq!(reply.reply_to.as_deref(), Some("2029903943413772741"));
    assert_eq!(reply.created_at, Some(1772802125)); // Fri Mar 06 13:02:05 +0000 2026
    assert_eq!(
        reply.url.as_deref(),
        Some("https://x.com/milahu104/status/2029905358261502168")
    );
    let e = reply.engagement.as_ref().unwrap();
    assert_eq!(e["favorite_count"], 0);
    assert_eq!(e["retweet_count"], 0);
    assert_eq!(e["lang"], "qme");
    assert_eq!(e["source"], "Twitter Web App");
    assert_eq!(e["in_reply_to_screen_name"], "milahu104");

    // A retweet, known only by its "RT @" prefix; its media t.co link is dropped.
    let rt = &posts["2029604193200152772"];
    assert_eq!(rt.kind, "repost");
    assert_eq!(
        rt.text,
        "RT @StephanRPalm: @CDU Das hier ist der Grund für die schwindende Akzeptanz."
    );
    assert_eq!(
        rt.engagement.as_ref().unwrap()["retweeted_user"],
        "StephanRPalm"
    );
    assert_eq!(rt.media.len(), 1);
    assert_eq!(
        rt.media[0].url,
        "https://pbs.twimg.com/media/HCo5t1CbQAA4FOT.jpg"
    );
    assert_eq!(rt.media[0].kind.as_deref(), Some("image"));
    let retweets = posts.values().filter(|p| p.kind == "repost").count();
    assert_eq!(
        retweets,
        239 + 4,
        "every RT @ tweet of tweets.js and deleted-tweets.js"
    );

    // HTML entities decoded.
    let quoted = &posts["2028424720790491260"];
    assert!(
        quoted.text.contains("> no species smarter"),
        "{}",
        quoted.text
    );
    assert!(
        !posts
            .values()
            .any(|p| p.text.contains("&gt;") || p.text.contains("&amp;"))
    );

    // A video: the best mp4 variant (the file is missing from the sample: a download).
    let video = &posts["2027108952211693705"];
    assert_eq!(video.media.len(), 1);
    assert_eq!(
        video.media[0].url,
        "https://video.twimg.com/amplify_video/2027011045949161472/vid/avc1/1080x1920/ut37uMPNHhBkwLa6.mp4?tag=16"
    );
    assert_eq!(video.media[0].kind.as_deref(), Some("video"));

    // A deleted tweet carries when it was deleted.
    let deleted = posts
        .values()
        .find(|p| {
            p.engagement
                .as_ref()
                .is_some_and(|e| e.get("deleted_at").is_some())
        })
        .expect("a deleted tweet");
    assert!(
        deleted.engagement.as_ref().unwrap()["deleted_at"]
            .as_i64()
            .unwrap()
            > 1_700_000_000
    );
    assert_eq!(
        posts
            .values()
            .filter(|p| p
                .engagement
                .as_ref()
                .is_some_and(|e| e.get("deleted_at").is_some()))
            .count(),
        47
    );

    // A community tweet.
    let community = &posts["2027697170808189417"];
    assert!(
        community
            .engagement
            .as_ref()
            .unwrap()
            .get("community_id")
            .is_some()
    );

    // A like: the liked tweet's text and link, under its own id space.
    let like = &posts["like:2029894586810667242"];
    assert_eq!(like.kind, "like");
    assert_eq!(
        like.text,
        "@SamaHoole #oxalate #kidneystones \nhttps://t.co/al9UuLawYv"
    );
    assert_eq!(
        like.url.as_deref(),
        Some("https://twitter.com/i/web/status/2029894586810667242")
    );
    assert_eq!(like.created_at, None);
    assert!(
        posts
            .values()
            .filter(|p| p.kind == "like")
            .all(|p| !p.text.contains("&amp;"))
    );
}

#[test]
fn real_archive_imports_end_to_end_as_folder_and_zip() {
    let env = ImportEnv::new();
    let folder = fixture(SAMPLE);
    let summary = env.import(&folder, None).expect("import folder");
    assert_eq!(summary.format, "Twitter/X archive");
    assert_eq!(summary.items_new, 6);
    assert_eq!(summary.failed_items, 0);
    assert_eq!(summary.media_new, 3);
    let posts = env.posts("twitter");
    assert_eq!(posts.len(), 2195);
    assert!(
        summary
            .skipped
            .iter()
            .any(|s| s.what.ends_with("direct-messages.js") && s.reason.contains("private"))
    );

    // Stored files: in the media store, linked to their posts, hashed.
    let stored = env.stored_media();
    assert_eq!(stored.len(), 3);
    for (url, path, sha256, size) in &stored {
        let bytes = std::fs::read(env.media_root().join(path)).expect("stored file");
        assert_eq!(bytes.len() as i64, *size, "{url}");
        assert_eq!(sha256.len(), 64);
    }
    let gif = env.post("twitter", "2011883284482207917");
    assert!(gif.has_media);
    let linked = env.count(
        "SELECT count(*) FROM post_media pm JOIN media m ON m.id = pm.media_id
         WHERE m.status = 'completed'",
    );
    assert!(linked >= 3, "stored files are linked to posts: {linked}");
    // Media the sample lacks (three videos, most photos) wait as downloads.
    let pending = env.count("SELECT count(*) FROM media WHERE status = 'pending'");
    assert!(pending >= 15, "{pending}");
    let reply = env.post("twitter", "2029905358261502168");
    assert_eq!(reply.kind, "reply");
    assert_eq!(reply.author.as_deref(), Some("milahu104"));

    // The same export again adds nothing.
    let again = env.import(&folder, None).expect("import again");
    assert_eq!(again.items_new, 0);
    assert_eq!(again.media_new, 0);
    assert_eq!(env.posts("twitter").len(), 2195);

    // The same export zipped inside a top folder is still the same export.
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("twitter-2026-03-06.zip");
    zip_of(&zip, &sample_files("twitter-2026-03-06/"));
    let zipped = env.import(&zip, None).expect("import zip");
    assert_eq!(zipped.items_new, 0, "ids do not depend on the top folder");
    assert_eq!(env.posts("twitter").len(), 2195);

    // And into a fresh archive the zip gives the same posts as the folder.
    let fresh = ImportEnv::new();
    let from_zip = fresh.import(&zip, None).expect("import zip fresh");
    assert_eq!(from_zip.items_new, 6);
    assert_eq!(from_zip.media_new, 3);
    let ids = |env: &ImportEnv| -> Vec<String> {
        env.posts("twitter").into_iter().map(|p| p.id).collect()
    };
    assert_eq!(ids(&fresh), ids(&env));
    let direct = collect(&zip);
    assert_eq!(direct.media.len(), 3);
}

// ---------------------------------------------------------------------------------------
// Archives built in the test

/// One tweet as the archive writes it (all numbers as strings).
fn tweet(id: &str, text: &str, extra: &str) -> String {
    format!(
        r#"{{
    "tweet" : {{
      "retweeted" : false,
      "source" : "<a href=\"http://twitter.com/download/android\" rel=\"nofollow\">Twitter for Android</a>",
      "entities" : {{ "hashtags" : [ ], "symbols" : [ ], "user_mentions" : [ ], "urls" : [ ] }},
      "display_text_range" : [ "0", "{len}" ],
      "favorite_count" : "7",
      "id_str" : "{id}",
      "truncated" : false,
      "retweet_count" : "2",
      "id" : "{id}",
      "created_at" : "Sat Feb 01 10:00:00 +0000 2020",
      "favorited" : false,
      "full_text" : "{text}",
      "lang" : "en"{extra}
    }}
  }}"#,
        len = text.len()
    )
}

/// A photo attached to a tweet, with its t.co link.
fn photo(key: &str, tco: &str) -> String {
    format!(
        r#",
      "extended_entities" : {{ "media" : [ {{
        "expanded_url" : "https://twitter.com/old/status/1/photo/1",
        "url" : "{tco}",
        "media_url" : "http://pbs.twimg.com/media/{key}.jpg",
        "media_url_https" : "https://pbs.twimg.com/media/{key}.jpg",
        "id_str" : "1", "id" : "1",
        "sizes" : {{ "large" : {{ "w" : "800", "h" : "600", "resize" : "fit" }} }},
        "type" : "photo",
        "display_url" : "pic.twitter.com/x"
      }} ] }}"#
    )
}

const ACCOUNT_2020: &str = r#"window.YTD.account.part0 = [ {
  "account" : {
    "email" : "old@example.org",
    "username" : "oldbird",
    "accountId" : "12345",
    "createdAt" : "2010-01-01T00:00:00.000Z",
    "accountDisplayName" : "Old Bird"
  }
} ]"#;

/// A 2020-style archive: `tweet.js`, `YTD.tweet`, `tweet_media/`, compact `[ {` layout.
fn archive_2020(dir: &Path) -> PathBuf {
    let tweets = format!(
        "window.YTD.tweet.part0 = [ {}, {}, {} ]",
        tweet(
            "1223000000000000001",
            "hello &amp; welcome https://t.co/pic0000001",
            &photo("EPxAbCdWsAE1234", "https://t.co/pic0000001")
        ),
        // A retweet of the same photo: the archive keeps the file again, under its id.
        tweet(
            "1223000000000000002",
            "RT @friend: look at this https://t.co/pic0000001",
            &photo("EPxAbCdWsAE1234", "https://t.co/pic0000001")
        ),
        tweet(
            "1223000000000000003",
            "@friend agreed",
            r#",
      "in_reply_to_status_id_str" : "1222999999999999999",
      "in_reply_to_screen_name" : "friend""#
        ),
    );
    let manifest = r#"window.__THAR_CONFIG = {
  "userInfo" : { "accountId" : "12345", "userName" : "oldbird", "displayName" : "Old Bird" },
  "dataTypes" : {
    "tweet" : { "mediaDirectory" : "data/tweet_media",
      "files" : [ { "fileName" : "data/tweet.js", "globalName" : "YTD.tweet.part0", "count" : "3" } ] }
  }
}"#;
    let path = dir.join("twitter-2020-02-02.zip");
    let jpeg = b"\xFF\xD8\xFF\xE0 fake jpeg";
    write_zip(
        &path,
        &[
            ("data/manifest.js", manifest.as_bytes()),
            ("data/account.js", ACCOUNT_2020.as_bytes()),
            ("data/tweet.js", tweets.as_bytes()),
            (
                "data/tweet_media/1223000000000000001-EPxAbCdWsAE1234.jpg",
                jpeg,
            ),
            (
                "data/tweet_media/1223000000000000002-EPxAbCdWsAE1234.jpg",
                jpeg,
            ),
            ("data/tweet_media/999-orphan.jpg", jpeg),
            ("assets/js/app.js", b"window.something = 1;"),
        ],
    );
    path
}

#[test]
fn old_naming_2020_archive_imports() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = archive_2020(tmp.path());
    let out = collect(&zip);
    assert_eq!(out.items.len(), 1);
    let media: Vec<(&str, &str)> = out
        .media
        .iter()
        .map(|(url, _, path, _)| (url.as_str(), path.as_str()))
        .collect();
    assert_eq!(
        media,
        [
            (
                "https://pbs.twimg.com/media/EPxAbCdWsAE1234.jpg",
                "data/tweet_media/1223000000000000001-EPxAbCdWsAE1234.jpg"
            ),
            (
                "https://pbs.twimg.com/media/EPxAbCdWsAE1234.jpg",
                "data/tweet_media/1223000000000000002-EPxAbCdWsAE1234.jpg"
            ),
            // No tweet names it: kept under its place in the export.
            (
                "archive:twitter/data/tweet_media/999-orphan.jpg",
                "data/tweet_media/999-orphan.jpg"
            ),
        ]
    );

    let posts = normalize_all(&out);
    let first = &posts["1223000000000000001"];
    assert_eq!(first.kind, "post");
    assert_eq!(first.author.as_deref(), Some("oldbird"));
    assert_eq!(first.text, "hello & welcome");
    assert_eq!(first.created_at, Some(1580551200));
    assert_eq!(first.media.len(), 1);
    let e = first.engagement.as_ref().unwrap();
    assert_eq!(
        (e["favorite_count"].as_i64(), e["retweet_count"].as_i64()),
        (Some(7), Some(2))
    );
    assert_eq!(e["source"], "Twitter for Android");
    let retweet = &posts["1223000000000000002"];
    assert_eq!(retweet.kind, "repost");
    assert_eq!(retweet.text, "RT @friend: look at this");
    assert_eq!(retweet.media, first.media);
    assert_eq!(posts["1223000000000000003"].kind, "reply");
    assert_eq!(
        posts["1223000000000000003"].reply_to.as_deref(),
        Some("1222999999999999999")
    );

    let env = ImportEnv::new();
    let summary = env.import(&zip, None).expect("import 2020 archive");
    assert_eq!(summary.items_new, 1);
    // The retweet's copy of the photo is the same media: stored once.
    assert_eq!((summary.media_new, summary.media_known), (2, 1));
    assert_eq!(env.posts("twitter").len(), 3);
    assert!(env.post("twitter", "1223000000000000001").has_media);
    let linked = env.count(
        "SELECT count(*) FROM post_media pm JOIN media m ON m.id = pm.media_id
         WHERE m.status = 'completed'",
    );
    assert_eq!(linked, 2, "the photo is both tweets' media, not a download");
    let again = env.import(&zip, None).expect("import again");
    assert_eq!((again.items_new, again.media_new), (0, 0));
    assert_eq!(env.posts("twitter").len(), 3);
}

/// A 2022+ archive whose tweets come in parts; some files empty, some unterminated.
fn parts_archive(dir: &Path, part1: &str) -> PathBuf {
    let part0 = format!(
        "window.YTD.tweets.part0 = [\n  {},\n  {}\n]\n",
        tweet("1500000000000000001", "first part", ""),
        tweet("1500000000000000002", "also first part", "")
    );
    let manifest = r#"window.__THAR_CONFIG = {
  "userInfo" : { "accountId" : "777", "userName" : "parted", "displayName" : "P" },
  "dataTypes" : {
    "tweets" : { "mediaDirectory" : "data/tweets_media", "files" : [
      { "fileName" : "data/tweets.js", "globalName" : "YTD.tweets.part0", "count" : "2" },
      { "fileName" : "data/tweets-part1.js", "globalName" : "YTD.tweets.part1", "count" : "1" },
      { "fileName" : "data/tweets-part2.js", "globalName" : "YTD.tweets.part2", "count" : "1" }
    ] },
    "like" : { "files" : [ { "fileName" : "data/like.js", "globalName" : "YTD.like.part0", "count" : "0" } ] }
  }
};"#;
    let account = r#"window.YTD.account.part0 = [ { "account" : { "username" : "parted", "accountId" : "777" } } ];"#;
    let path = dir.join("parts.zip");
    write_zip(
        &path,
        &[
            ("data/manifest.js", manifest.as_bytes()),
            ("data/account.js", account.as_bytes()),
            ("data/tweets.js", part0.as_bytes()),
            ("data/tweets-part1.js", part1.as_bytes()),
            // Empty files, both spellings, one without a trailing newline.
            ("data/like.js", b"window.YTD.like.part0 = [ ]"),
            (
                "data/deleted-tweets.js",
                b"window.YTD.deleted_tweets.part0 = []\n",
            ),
            ("data/community-tweet.js", b""),
            (
                "data/direct-messages.js",
                b"window.YTD.direct_messages.part0 = [ ]",
            ),
        ],
    );
    path
}

#[test]
fn parts_empty_files_and_missing_terminators() {
    let tmp = tempfile::tempdir().unwrap();
    // Part 1 ends in `]` with neither newline nor semicolon, as real files do.
    let part1 = format!(
        "window.YTD.tweets.part1 = [\n  {}\n]",
        tweet("1500000000000000003", "second part", "")
    );
    let zip = parts_archive(tmp.path(), &part1);
    let out = collect(&zip);
    assert!(out.unreadable.is_empty(), "{:?}", out.unreadable);
    assert_eq!(out.items.len(), 2, "one item per non-empty part");
    let posts = normalize_all(&out);
    let ids: BTreeSet<&str> = posts.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "1500000000000000001",
            "1500000000000000002",
            "1500000000000000003"
        ]
        .into()
    );
    assert_eq!(
        posts["1500000000000000003"].author.as_deref(),
        Some("parted")
    );
    // The manifest's part 2 is not in the export: said, not fatal.
    assert!(
        out.skipped
            .iter()
            .any(|(w, r)| w == "data/tweets-part2.js" && r.contains("missing")),
        "{:?}",
        out.skipped
    );

    let env = ImportEnv::new();
    let summary = env.import(&zip, None).expect("import parts");
    assert_eq!((summary.items_new, summary.failed_items), (2, 0));
    assert_eq!(env.posts("twitter").len(), 3);
    let again = env.import(&zip, None).expect("again");
    assert_eq!(again.items_new, 0);
    assert_eq!(env.posts("twitter").len(), 3);
}

#[test]
fn a_malformed_part_goes_to_the_dead_letters_and_the_rest_imports() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = format!(
        "window.YTD.tweets.part1 = [\n  {},\n  {{ \"tweet\" : {{ \"id_str\" : \"15000",
        tweet("1500000000000000004", "before the damage", "")
    );
    let zip = parts_archive(tmp.path(), &broken);
    let out = collect(&zip);
    assert_eq!(out.unreadable.len(), 1);
    assert_eq!(out.unreadable[0].0, "data/tweets-part1.js");
    assert!(
        out.unreadable[0].1.contains("not valid JSON"),
        "{}",
        out.unreadable[0].1
    );

    let env = ImportEnv::new();
    let summary = env
        .import(&zip, None)
        .expect("a broken part does not fail the import");
    let posts: BTreeSet<String> = env.posts("twitter").into_iter().map(|p| p.id).collect();
    assert!(posts.contains("1500000000000000001"));
    assert!(posts.contains("1500000000000000002"));
    let dead = env.count(
        "SELECT count(*) FROM ingested_items WHERE status = 'dead_letter'
         AND source_url = 'data/tweets-part1.js'",
    );
    assert_eq!(dead, 1, "the broken file is kept in the dead letters");
    let again = env.import(&zip, None).expect("again");
    assert_eq!(again.items_new, 0);
    assert!(summary.items_new >= 2);
}

#[test]
fn other_exports_are_not_claimed() {
    let tmp = tempfile::tempdir().unwrap();
    // Plain JSON named like a tweet file, and an unrelated zip.
    let plain = tmp.path().join("plain.zip");
    write_zip(&plain, &[("data/tweets.js", b"[{\"id\": 1}]")]);
    let other = tmp.path().join("other.zip");
    write_zip(&other, &[("posts/posts_index.html", b"<html></html>")]);
    for path in [plain, other] {
        let mut archive = Archive::open(&path, Limits::default()).unwrap();
        assert!(!Twitter.detect(&mut archive), "{} claimed", path.display());
    }
    // A single tweets.js on its own is an archive file.
    let single = tmp.path().join("tweets.js");
    std::fs::write(
        &single,
        format!("window.YTD.tweets.part0 = [ {} ]", tweet("42", "alone", "")),
    )
    .unwrap();
    let out = collect(&single);
    assert_eq!(normalize_all(&out).len(), 1);
}

#[test]
fn split_rejects_what_is_not_a_tweet_chunk() {
    let item = |content_type: &'static str, payload: &'static [u8]| ItemRef {
        content_type,
        source_url: None,
        payload,
    };
    assert!(
        Twitter
            .split(&item(
                "application/vnd.lifeboat.twitter-tweets+json",
                b"{\"not\": \"array\"}"
            ))
            .is_err()
    );
    assert!(
        Twitter
            .split(&item(
                "application/vnd.lifeboat.twitter-tweets+json",
                b"[{\"tweet\": {\"full_text\": \"no id\"}}]"
            ))
            .is_err()
    );
    assert!(Twitter.split(&item("text/plain", b"[]")).is_err());
    // Ids as JSON numbers past 2^53 stay exact.
    let raws = Twitter
        .split(&item(
            "application/vnd.lifeboat.twitter-tweets+json",
            b"[{\"tweet\": {\"id\": 1500000000000000001, \"full_text\": \"n\"}}]",
        ))
        .unwrap();
    assert_eq!(raws[0].platform_post_id, "1500000000000000001");
}

/// `split_normalized` (one parse of each tweet) gives what `split` then `normalize` give:
/// the same raw posts, byte for byte, the same posts and the same errors. Over the real
/// sample and over chunks with every shape a tweet can take.
#[test]
fn split_normalized_is_split_then_normalize() {
    fn same(item: &ItemRef) {
        let what = String::from_utf8_lossy(item.payload);
        let fast = Twitter.split_normalized(item);
        let slow = split_then_normalize(&Twitter, item);
        let (fast, slow) = match (fast, slow) {
            (Ok(fast), Ok(slow)) => (fast, slow),
            (Err(a), Err(b)) => return assert_eq!(format!("{a:#}"), format!("{b:#}"), "{what}"),
            (a, b) => panic!(
                "{what}: split_normalized {:?}, split {:?}",
                a.err(),
                b.err()
            ),
        };
        assert_eq!(fast.len(), slow.len(), "{what}");
        for (a, b) in fast.iter().zip(&slow) {
            assert_eq!(a.platform_post_id, b.platform_post_id, "{what}");
            assert_eq!(a.payload, b.payload, "{what}");
            match (&a.post, &b.post) {
                (Ok(x), Ok(y)) => assert_eq!(x, y, "{what}"),
                (Err(x), Err(y)) => assert_eq!(format!("{x:#}"), format!("{y:#}"), "{what}"),
                (x, y) => panic!("{what}: {:?} vs {:?}", x.as_ref().err(), y.as_ref().err()),
            }
        }
    }

    let out = collect(&fixture(SAMPLE));
    let mut tweets = 0;
    for item in &out.items {
        let item = ItemRef {
            content_type: &item.content_type,
            source_url: item.source_url.as_deref(),
            payload: &item.payload,
        };
        tweets += Twitter.split(&item).map_or(0, |raws| raws.len());
        same(&item);
    }
    assert!(tweets > 20, "the sample has {tweets} tweets and likes");

    let chunks: &[&str] = &[
        // No user: the account's is added.
        r#"[{"tweet":{"id_str":"1","full_text":"hi https://t.co/x","entities":{"urls":[{"url":"https://t.co/x","expanded_url":"https://example.org"}]}}}]"#,
        // A null user, and a user of its own: nothing added.
        r#"[{"tweet":{"id_str":"2","user":null,"full_text":"x"}},{"tweet":{"id_str":"3","user":{"screen_name":"bob"},"full_text":"y"}}]"#,
        // Ids: an integer past 2^53, an empty id_str beside an id, none at all.
        r#"[{"tweet":{"id":1500000000000000001,"full_text":"n"}}]"#,
        r#"[{"tweet":{"id_str":"","id":"77","full_text":"e"}}]"#,
        r#"[{"tweet":{"full_text":"no id"}}]"#,
        r#"[{"tweet":{}}]"#,
        // What the normalizer refuses, the split keeps: a count that is an object, a
        // user that is a string.
        r#"[{"tweet":{"id_str":"5","favorite_count":{"a":1}}},{"tweet":{"id_str":"6","user":"bob"}}]"#,
        // A field twice; an element that is not an object; not an array.
        r#"[{"tweet":{"id_str":"7","id_str":"8"}}]"#,
        r#"[{"tweet":{"id_str":"9"}},5]"#,
        r#"{"tweet":{"id_str":"9"}}"#,
        // Bare tweets of archives before 2019, one with a retweet and media.
        r#"[{"id_str":"10","full_text":"old"},{"id":11,"text":"RT @carol: older","retweeted_status":{"id_str":"4","user":{"screen_name":"carol"}},"extended_entities":{"media":[{"type":"photo","url":"https://t.co/m","media_url_https":"https://pbs.twimg.com/media/A.jpg"}]}}]"#,
        // Spaces a stored item may still have.
        r#"[ { "tweet" : { "id_str" : "12" , "full_text" : "spaced" } } , {"tweet":{ }}]"#,
        r#"[{"tweet":{ }}]"#,
    ];
    let with_account = "application/vnd.lifeboat.twitter-tweets+json; account=alice; account_id=42";
    for chunk in chunks {
        for content_type in [with_account, "application/vnd.lifeboat.twitter-tweets+json"] {
            same(&ItemRef {
                content_type,
                source_url: None,
                payload: chunk.as_bytes(),
            });
        }
    }
}
