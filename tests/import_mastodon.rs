//! The Mastodon archive importer, on archives built here as QUIRKS.md describes them (no
//! licensed sample exists): a 2024 archive (one top-level `@context` list, attachment
//! URLs with a bucket prefix, a compact one-line outbox whose `totalItems` is wrong) and
//! a 2022 archive (an `@context` inside every item, URLs without prefix), both with
//! `\u003c`-escaped HTML; posts, a poll of each kind, a boost of a bare URL, a reply, an
//! edited post, a content warning, every visibility, a missing media file, likes and
//! bookmarks; a malformed outbox that must not stop likes and bookmarks.

mod common;

use std::collections::HashMap;

use common::imports::*;
use lifeboat::connectors::{Codec, ItemRef, NewPost};
use lifeboat::importers::Collected;
use lifeboat::importers::mastodon::Mastodon;
use lifeboat::platform::Platform;
use serde_json::{Value, json};

const ACTOR: &str = "https://indieweb.social/users/alice";
const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
const FOLLOWERS: &str = "https://indieweb.social/users/alice/followers";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00fake jpeg bytes\xff\xd9";
const MP4: &[u8] = b"\x00\x00\x00\x18ftypmp42fake mp4";

/// Compact JSON the way Mastodon (Rails) writes it: `<`, `>` and `&` escaped.
fn rails_json(value: &Value) -> Vec<u8> {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .into_bytes()
}

fn status(n: u64) -> String {
    format!("{ACTOR}/statuses/{n}")
}

/// A `Create` around `object`, with the usual note fields filled in.
fn create(n: u64, mut object: Value, to: Value, cc: Value) -> Value {
    let defaults = json!({
        "id": status(n),
        "type": "Note",
        "summary": null,
        "inReplyTo": null,
        "published": "2024-03-01T10:00:00Z",
        "url": format!("https://indieweb.social/@alice/{n}"),
        "attributedTo": ACTOR,
        "to": to,
        "cc": cc,
        "sensitive": false,
        "atomUri": status(n),
        "conversation": "tag:indieweb.social,2024-03-01:objectId=1:objectType=Conversation",
        "content": "<p>hello</p>",
        "contentMap": {"en": "<p>hello</p>"},
        "attachment": [],
        "tag": [],
        "replies": {"id": format!("{}/replies", status(n)), "type": "Collection"},
    });
    let object_map = object.as_object_mut().unwrap();
    for (key, value) in defaults.as_object().unwrap() {
        object_map.entry(key.clone()).or_insert(value.clone());
    }
    json!({
        "id": format!("{}/activity", status(n)),
        "type": "Create",
        "actor": ACTOR,
        "published": object_map["published"],
        "to": object_map["to"],
        "cc": object_map["cc"],
        "object": object,
    })
}

fn public() -> (Value, Value) {
    (json!([PUBLIC]), json!([FOLLOWERS]))
}

/// The activities both archive styles share, with attachment URLs under `media_prefix`.
fn activities(media_prefix: &str) -> Vec<Value> {
    let (to, cc) = public();
    vec![
        create(
            109876543210,
            json!({
                "content": "<p>First <a href=\"https://indieweb.social/tags/rust\" class=\"mention hashtag\" rel=\"tag\">#<span>rust</span></a> post &amp; a photo</p><p>Second line</p>",
                "contentMap": {"en": "<p>First post</p>"},
                "tag": [{"type": "Hashtag", "href": "https://indieweb.social/tags/rust", "name": "#rust"}],
                "attachment": [{
                    "type": "Document",
                    "mediaType": "image/jpeg",
                    "url": format!("{media_prefix}/media_attachments/files/109/876/543/210/original/aa11bb.jpeg"),
                    "name": null,
                    "blurhash": "UBL_:rOpGG-;~qRjWBay",
                    "focalPoint": [0.0, 0.0],
                    "width": 1200,
                    "height": 800
                }]
            }),
            to.clone(),
            cc.clone(),
        ),
        create(
            109876543211,
            json!({
                "type": "Question",
                "content": "<p>Tabs or spaces?</p>",
                "endTime": "2024-03-02T10:00:00Z",
                "closed": "2024-03-02T10:00:00Z",
                "votersCount": 7,
                "oneOf": [
                    {"type": "Note", "name": "Tabs", "replies": {"type": "Collection", "totalItems": 3}},
                    {"type": "Note", "name": "Spaces", "replies": {"type": "Collection", "totalItems": 4}}
                ]
            }),
            to.clone(),
            cc.clone(),
        ),
        create(
            109876543212,
            json!({
                "type": "Question",
                "content": "<p>Which fruit?</p>",
                "endTime": "2024-03-05T10:00:00Z",
                "votersCount": 2,
                "anyOf": [
                    {"type": "Note", "name": "Apple", "replies": {"type": "Collection", "totalItems": 2}},
                    {"type": "Note", "name": "Pear", "replies": {"type": "Collection", "totalItems": 1}}
                ]
            }),
            to.clone(),
            cc.clone(),
        ),
        json!({
            "id": format!("{}/activity", status(109876543213)),
            "type": "Announce",
            "actor": ACTOR,
            "published": "2024-03-01T11:00:00Z",
            "to": [PUBLIC],
            "cc": ["https://mastodon.social/users/bob", FOLLOWERS],
            "object": "https://mastodon.social/users/bob/statuses/111222333444555666"
        }),
        // A reply, unlisted (Public only in cc).
        create(
            109876543214,
            json!({
                "inReplyTo": "https://mastodon.social/users/bob/statuses/111222333444555666",
                "content": "<p><span class=\"h-card\"><a href=\"https://mastodon.social/@bob\" class=\"u-url mention\">@<span>bob</span></a></span> agreed</p>",
                "tag": [{"type": "Mention", "href": "https://mastodon.social/users/bob", "name": "@bob@mastodon.social"}]
            }),
            json!([FOLLOWERS]),
            json!([PUBLIC, "https://mastodon.social/users/bob"]),
        ),
        // Edited, followers only, behind a content warning.
        create(
            109876543215,
            json!({
                "summary": "spoilers",
                "sensitive": true,
                "updated": "2024-03-03T09:30:00Z",
                "content": "<p>The butler did it</p>"
            }),
            json!([FOLLOWERS]),
            json!([]),
        ),
        // Direct, without contentMap, with an attachment whose file is missing.
        create(
            109876543216,
            json!({
                "content": "<p>just for you, 1 &lt; 2</p>",
                "contentMap": null,
                "attachment": [{
                    "type": "Document",
                    "mediaType": "video/mp4",
                    "url": format!("{media_prefix}/media_attachments/files/109/876/543/216/original/gone.mp4"),
                    "name": ""
                }, {
                    "type": "Document",
                    "mediaType": "video/mp4",
                    "url": format!("{media_prefix}/media_attachments/files/109/876/543/216/original/clip.mp4"),
                    "name": "a short clip"
                }]
            }),
            json!(["https://mastodon.social/users/bob"]),
            json!([]),
        ),
    ]
}

fn actor() -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": ACTOR,
        "type": "Person",
        "following": format!("{ACTOR}/following"),
        "followers": FOLLOWERS,
        "inbox": format!("{ACTOR}/inbox"),
        "outbox": "outbox.json",
        "preferredUsername": "alice",
        "name": "Alice Example",
        "summary": "<p>hi</p>",
        "url": "https://indieweb.social/@alice",
        "icon": {"type": "Image", "mediaType": "image/jpeg", "url": "avatar.jpg"},
        "image": {"type": "Image", "mediaType": "image/jpeg", "url": "header.jpeg"},
        "likes": "likes.json",
        "bookmarks": "bookmarks.json"
    })
}

fn collection(id: &str, items: Vec<Value>) -> Value {
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": id,
        "type": "OrderedCollection",
        "orderedItems": items
    })
}

fn likes() -> Value {
    collection(
        "likes.json",
        vec![
            json!("https://mastodon.social/users/bob/statuses/111"),
            json!("https://fosstodon.org/users/carol/statuses/222"),
        ],
    )
}

fn bookmarks() -> Value {
    collection(
        "bookmarks.json",
        vec![json!("https://mastodon.social/users/bob/statuses/111")],
    )
}

/// 2024: one top-level context list, bucket-prefixed media URLs, files stored without
/// the prefix, `totalItems` that does not match.
fn archive_2024() -> Vec<(String, Vec<u8>)> {
    let outbox = json!({
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            {"ostatus": "http://ostatus.org#", "atomUri": "ostatus:atomUri",
             "sensitive": "as:sensitive", "toot": "http://joinmastodon.org/ns#",
             "votersCount": "toot:votersCount", "blurhash": "toot:blurhash",
             "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"}}
        ],
        "id": "outbox.json",
        "type": "OrderedCollection",
        "totalItems": 5,
        "orderedItems": activities("/indiewebsocial"),
    });
    vec![
        ("outbox.json".into(), rails_json(&outbox)),
        ("actor.json".into(), rails_json(&actor())),
        ("likes.json".into(), rails_json(&likes())),
        ("bookmarks.json".into(), rails_json(&bookmarks())),
        ("avatar.jpg".into(), JPEG.to_vec()),
        ("header.jpeg".into(), JPEG.to_vec()),
        (
            "media_attachments/files/109/876/543/210/original/aa11bb.jpeg".into(),
            JPEG.to_vec(),
        ),
        (
            "media_attachments/files/109/876/543/216/original/clip.mp4".into(),
            MP4.to_vec(),
        ),
    ]
}

/// 2022: an `@context` inside every item, media URLs and files without a prefix.
fn archive_2022() -> Vec<(String, Vec<u8>)> {
    let items: Vec<Value> = activities("")
        .into_iter()
        .map(|mut item| {
            item["@context"] = json!([
                "https://www.w3.org/ns/activitystreams",
                {"ostatus": "http://ostatus.org#", "sensitive": "as:sensitive"}
            ]);
            item
        })
        .collect();
    let outbox = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": "outbox.json",
        "type": "OrderedCollection",
        "totalItems": 12,
        "orderedItems": items,
    });
    vec![
        ("outbox.json".into(), rails_json(&outbox)),
        ("actor.json".into(), rails_json(&actor())),
        ("likes.json".into(), rails_json(&likes())),
        ("bookmarks.json".into(), rails_json(&bookmarks())),
        (
            "media_attachments/files/109/876/543/210/original/aa11bb.jpeg".into(),
            JPEG.to_vec(),
        ),
    ]
}

fn engagement(post: &NewPost) -> &Value {
    post.engagement.as_ref().expect("engagement")
}

/// What both archive styles must give.
fn check_posts(posts: &HashMap<String, NewPost>) {
    assert_eq!(posts.len(), 7 + 2 + 1, "7 activities, 2 likes, 1 bookmark");

    let first = &posts["109876543210"];
    assert_eq!(first.kind, "post");
    assert_eq!(first.author.as_deref(), Some("@alice@indieweb.social"));
    assert_eq!(first.text, "First #rust post & a photo\n\nSecond line");
    assert!(
        first
            .html
            .as_deref()
            .unwrap()
            .starts_with("<p>First <a href=")
    );
    assert_eq!(
        first.url.as_deref(),
        Some("https://indieweb.social/@alice/109876543210")
    );
    assert_eq!(first.created_at, Some(1709287200));
    assert_eq!(first.title, None);
    assert_eq!(engagement(first)["visibility"], "public");
    assert_eq!(engagement(first)["tags"], json!(["rust"]));
    assert_eq!(engagement(first)["language"], "en");
    assert!(engagement(first).get("edited_at").is_none());
    assert_eq!(
        first.media[0].url,
        "archive:mastodon/media_attachments/files/109/876/543/210/original/aa11bb.jpeg"
    );
    assert_eq!(first.media[0].kind.as_deref(), Some("image"));
    assert!(engagement(first)["attachments"][0]["alt"].is_null());

    let poll = &engagement(&posts["109876543211"])["poll"];
    assert_eq!(poll["multiple"], false);
    assert_eq!(poll["voters_count"], 7);
    assert_eq!(
        poll["options"],
        json!([{"title": "Tabs", "votes": 3}, {"title": "Spaces", "votes": 4}])
    );
    assert_eq!(poll["ends_at"], 1709373600);
    let multiple = &engagement(&posts["109876543212"])["poll"];
    assert_eq!(multiple["multiple"], true);
    assert_eq!(multiple["options"][1], json!({"title": "Pear", "votes": 1}));

    let boost = &posts["109876543213"];
    assert_eq!(boost.kind, "repost");
    assert_eq!(
        boost.repost_of.as_deref(),
        Some("https://mastodon.social/users/bob/statuses/111222333444555666")
    );
    assert_eq!(boost.created_at, Some(1709290800));

    let reply = &posts["109876543214"];
    assert_eq!(reply.kind, "reply");
    assert_eq!(
        reply.reply_to.as_deref(),
        Some("https://mastodon.social/users/bob/statuses/111222333444555666")
    );
    assert_eq!(reply.text, "@bob agreed");
    assert_eq!(engagement(reply)["visibility"], "unlisted");
    assert_eq!(
        engagement(reply)["mentions"][0]["name"],
        "@bob@mastodon.social"
    );

    let edited = &posts["109876543215"];
    assert_eq!(edited.title.as_deref(), Some("spoilers"));
    assert_eq!(engagement(edited)["content_warning"], "spoilers");
    assert_eq!(engagement(edited)["sensitive"], true);
    assert_eq!(engagement(edited)["edited_at"], 1709458200);
    assert_eq!(engagement(edited)["visibility"], "private");

    let direct = &posts["109876543216"];
    assert_eq!(direct.text, "just for you, 1 < 2");
    assert_eq!(engagement(direct)["visibility"], "direct");
    assert!(engagement(direct).get("language").is_none());
    assert_eq!(direct.media.len(), 2);
    assert_eq!(direct.media[0].kind.as_deref(), Some("video"));
    assert!(engagement(direct)["attachments"][0]["alt"].is_null());
    assert_eq!(engagement(direct)["attachments"][1]["alt"], "a short clip");

    let like = &posts["like:https://mastodon.social/users/bob/statuses/111"];
    assert_eq!(like.kind, "like");
    assert_eq!(like.text, "https://mastodon.social/users/bob/statuses/111");
    assert_eq!(like.author.as_deref(), Some("@alice@indieweb.social"));
    assert_eq!(
        posts["bookmark:https://mastodon.social/users/bob/statuses/111"].kind,
        "bookmark"
    );
}

#[test]
fn archive_2024_zip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive-20240301.zip");
    write_zip(&path, &as_entries(&archive_2024()));
    let out = collect(&Mastodon, &path);
    assert!(out.unreadable.is_empty(), "{:?}", out.unreadable);
    check_posts(&posts_by_id(&Mastodon, &out));
    let mut media: Vec<(&str, Option<&str>)> = out
        .media
        .iter()
        .map(|(url, kind, _, _)| (url.as_str(), kind.as_deref()))
        .collect();
    media.sort();
    assert_eq!(
        media,
        vec![
            (
                "archive:mastodon/media_attachments/files/109/876/543/210/original/aa11bb.jpeg",
                Some("image")
            ),
            (
                "archive:mastodon/media_attachments/files/109/876/543/216/original/clip.mp4",
                Some("video")
            ),
        ],
        "avatar and header are not post media"
    );
    let skipped: Vec<&str> = out.skipped.iter().map(|(what, _)| what.as_str()).collect();
    assert_eq!(skipped, vec!["avatar.jpg", "header.jpeg"]);
    // The outbox is one compact line.
    assert!(!archive_2024()[0].1.contains(&b'\n'));
}

#[test]
fn archive_2022_folder_in_a_top_folder() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(String, Vec<u8>)> = archive_2022()
        .into_iter()
        .map(|(name, bytes)| (format!("archive-2022/{name}"), bytes))
        .collect();
    write_tree(dir.path(), &as_entries(&files));
    let out = collect(&Mastodon, dir.path());
    check_posts(&posts_by_id(&Mastodon, &out));
    assert_eq!(out.media.len(), 1);
    assert_eq!(
        out.media[0].0,
        "archive:mastodon/media_attachments/files/109/876/543/210/original/aa11bb.jpeg"
    );
    // Raw item ids do not depend on the folder the archive sits in.
    let flat = tempfile::tempdir().unwrap();
    write_tree(flat.path(), &as_entries(&archive_2022()));
    let ids = |out: &Collected| -> Vec<String> {
        out.items.iter().map(|i| i.external_id.clone()).collect()
    };
    assert_eq!(ids(&out), ids(&collect(&Mastodon, flat.path())));
}

#[test]
fn outbox_is_chunked_and_the_raw_posts_keep_the_activity() {
    let (to, cc) = public();
    let many: Vec<Value> = (0..1234)
        .map(|i| create(110000000000000000 + i, json!({}), to.clone(), cc.clone()))
        .collect();
    let outbox = json!({
        "@context": ["https://www.w3.org/ns/activitystreams", {"a": "b"}],
        "id": "outbox.json",
        "type": "OrderedCollection",
        "totalItems": 1,
        "orderedItems": many,
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.zip");
    write_zip(
        &path,
        &[
            ("outbox.json", &rails_json(&outbox)),
            ("actor.json", &rails_json(&actor())),
        ],
    );
    let out = collect(&Mastodon, &path);
    assert_eq!(out.items.len(), 3, "1234 activities, 500 per item");
    let item = &out.items[0];
    let raws = Mastodon
        .split(&ItemRef {
            content_type: &item.content_type,
            source_url: item.source_url.as_deref(),
            payload: &item.payload,
        })
        .unwrap();
    assert_eq!(raws.len(), 500);
    // Ids above 2^53 stay exact.
    assert_eq!(raws[7].platform_post_id, "110000000000000007");
    assert_eq!(raws[7].value().unwrap()["type"], "Create");
    assert_eq!(
        raws[7].value().unwrap()["actor"]["preferredUsername"],
        "alice"
    );
    assert_eq!(
        raws[7].value().unwrap()["object"]["atomUri"],
        status(110000000000000007)
    );
    assert_eq!(posts_by_id(&Mastodon, &out).len(), 1234);
}

#[test]
fn detection_is_specific() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.zip");
    write_zip(&path, &as_entries(&archive_2024()));
    assert_eq!(detected_platform(&path), Platform::Mastodon);
    // An outbox alone, or an actor in another folder, is not this archive.
    let other = dir.path().join("other.zip");
    write_zip(&other, &[("a/outbox.json", b"{}"), ("b/actor.json", b"{}")]);
    assert!(!detects(&Mastodon, &other));
}

#[test]
fn malformed_outbox_is_unreadable_and_likes_still_import() {
    let mut files = archive_2024();
    let outbox = &mut files[0].1;
    outbox.truncate(outbox.len() / 2);
    outbox.extend_from_slice(b"\"oops");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.zip");
    write_zip(&path, &as_entries(&files));

    let out = collect(&Mastodon, &path);
    assert_eq!(out.unreadable.len(), 1, "{:?}", out.unreadable);
    assert_eq!(out.unreadable[0].0, "outbox.json");
    assert!(
        out.unreadable[0].1.contains("not valid JSON"),
        "{}",
        out.unreadable[0].1
    );
    let posts = posts_by_id(&Mastodon, &out);
    assert_eq!(posts.len(), 3, "likes and bookmarks: {:?}", posts.keys());
    assert_eq!(out.media.len(), 2, "files are still copied");

    let env = ImportEnv::new();
    let summary = env.import(&path, None).expect("the import still succeeds");
    assert_eq!(summary.platform, Platform::Mastodon);
    assert_eq!(env.posts("mastodon").len(), 3);
    assert_eq!(
        env.count("SELECT count(*) FROM ingested_items WHERE status = 'dead_letter'"),
        1
    );
}

#[test]
fn import_end_to_end_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive-20240301.zip");
    write_zip(&path, &as_entries(&archive_2024()));
    let env = ImportEnv::new();
    let summary = env.import(&path, None).expect("import");
    assert_eq!(summary.format, "Mastodon archive");
    assert_eq!(summary.failed_items, 0);
    assert_eq!(summary.media_new, 2);
    let posts = env.posts("mastodon");
    assert_eq!(posts.len(), 10);

    let first = env.post("mastodon", "109876543210");
    assert!(first.has_media);
    assert_eq!(first.text, "First #rust post & a photo\n\nSecond line");
    assert_eq!(first.engagement.unwrap()["visibility"], "public");
    let stored = env.stored_media();
    assert_eq!(stored.len(), 2);
    let (url, file, _, size) = &stored[0];
    assert_eq!(
        url,
        "archive:mastodon/media_attachments/files/109/876/543/210/original/aa11bb.jpeg"
    );
    assert_eq!(*size, JPEG.len() as i64);
    assert_eq!(std::fs::read(env.media_root().join(file)).unwrap(), JPEG);
    // The missing file stays a reference without a stored file.
    assert!(env.post("mastodon", "109876543216").has_media);
    assert!(!stored.iter().any(|(url, ..)| url.ends_with("gone.mp4")));

    env.assert_import_again_adds_nothing(&path, "mastodon");
}
