//! The Facebook "Download your information" importer, on exports built as QUIRKS.md
//! describes them (no licensed sample exists): Danish mojibake and emoji, items with only
//! timestamps, a link (`external_context`), a place listed twice (with and without its
//! url), duplicated media names (` (2).jpg`), `upload_ip` in exif data, comments and group
//! comments, Messenger conversations, and a malformed `your_posts_2.json`. Two layouts: the
//! 2024 one inside a top folder (`your_activity_across_facebook/posts/`) and the older
//! `posts/` at the root.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use common::imports::*;
use lifeboat::connectors::NewPost;
use lifeboat::importers::facebook::Facebook;
use lifeboat::platform::Platform;
use serde_json::json;

const TOP: &str = "facebook-alice-2024-05-01-XyZ/";
const ACTIVITY: &str = "your_activity_across_facebook";
const UPLOAD_IP: &str = "203.0.113.77";

const JPEG: &[u8] =
    b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00 jpeg body";
const JPEG_2: &[u8] =
    b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00 other body";

const PHOTO: &str = "posts/media/Mobileuploads_uqsXWfBGvQ/28055_498092266878953_310909280_n.jpg";
const FIRST: &str = "posts/media/MobileUploads_LvJWqglAvA/28819_1251667781858_646231_n.jpg";
const SECOND: &str = "posts/media/MobileUploads_LvJWqglAvA/28819_1251667781858_646231_n (2).jpg";
const VIDEO: &str = "posts/media/videos/1199405_10200191443018829_7953_n.mp4";

/// `your_posts_1.json`, its media uris under `root` (the folder the export's root holds
/// them in: `your_activity_across_facebook/` since 2024, nothing before).
fn posts_json(root: &str) -> String {
    let posts = r#"[
  {
    "timestamp": 1354805114,
    "attachments": [{"data": [{"media": {
      "uri": "ROOTPHOTO",
      "creation_timestamp": 1354805114,
      "media_metadata": {"photo_metadata": {"exif_data": [{"upload_ip": "UPLOAD_IP", "taken_timestamp": 1354800000}]}},
      "title": "Mobiloverf\u00c3\u00b8rsler",
      "description": "Sne sne!"
    }}]}],
    "data": [{"post": "Sne sne! \u00c3\u00a6\u00c3\u00b8\u00c3\u00a5"}],
    "title": "Alice Jensen har tilf\u00c3\u00b8jet et nyt billede."
  },
  {"timestamp": 1555664152, "attachments": [], "data": [{"update_timestamp": 1555664152}]},
  {"timestamp": 1555664153, "data": [{"update_timestamp": 1555664153}]},
  {
    "timestamp": 1503752400,
    "attachments": [{"data": [{"external_context": {
      "name": "Shinson Hapkido Holb\u00c3\u00a6k", "source": "", "url": "https://www.example.org/hapkido"
    }}]}],
    "data": [{"post": "Vi har en ny side \u00f0\u009f\u0098\u0080"}, {"update_timestamp": 1503760000}]
  },
  {
    "timestamp": 1600000000,
    "attachments": [{"data": [
      {"place": {"name": "Bob's Bakery", "coordinate": {"latitude": 55.676, "longitude": 12.568}, "address": "Main St 1"}},
      {"place": {"name": "Bob's Bakery", "coordinate": {"latitude": 55.676, "longitude": 12.568}, "address": "Main St 1",
                 "url": "https://www.facebook.com/bobsbakery"}}
    ]}],
    "data": [{"post": "Best bread in town"}],
    "title": "Alice Jensen  recommends Bob's Bakery."
  },
  {
    "timestamp": 1273171899,
    "attachments": [{"data": [
      {"media": {"uri": "ROOTFIRST", "creation_timestamp": 1273171899, "title": "Mobile Uploads", "description": "Tja"}},
      {"media": {"uri": "ROOTSECOND", "creation_timestamp": 1273171899, "title": "Mobile Uploads", "description": "Tja (2)"}}
    ]}],
    "data": [{"post": "Tja hvad skal man sige"}],
    "title": "Alice Jensen added a new photo."
  },
  {
    "timestamp": 1501154548,
    "attachments": [{"data": [{"event": {"name": "Hapkido show", "start_timestamp": 1501174800,
                                         "end_timestamp": 1501185600, "secret": "not picked"}}]}],
    "data": [{"update_timestamp": 1501154548}]
  },
  {
    "timestamp": 1565517349, "attachments": [], "data": [{"update_timestamp": 1565517349}],
    "title": "Alice Jensen shared a video from the playlist Trailers."
  },
  {
    "timestamp": 1319393272,
    "attachments": [{"data": [{"media": {
      "uri": "ROOTVIDEO",
      "creation_timestamp": 1319393272,
      "media_metadata": {"video_metadata": {"exif_data": [{"upload_ip": "UPLOAD_IP", "upload_timestamp": 0}]}},
      "thumbnail": {"uri": "https://interncache-eag.fbcdn.net/v/t15.0-10/51259_b.jpg?ccb=1-5"},
      "description": ""
    }}]}],
    "data": []
  }
]"#;
    posts
        .replace("ROOTPHOTO", &format!("{root}{PHOTO}"))
        .replace("ROOTFIRST", &format!("{root}{FIRST}"))
        .replace("ROOTSECOND", &format!("{root}{SECOND}"))
        .replace("ROOTVIDEO", &format!("{root}{VIDEO}"))
        .replace("UPLOAD_IP", UPLOAD_IP)
}

const COMMENTS: &str = r#"{"comments_v2": [
  {"timestamp": 1257938047,
   "data": [{"comment": {"timestamp": 1257938047, "comment": "davs \u00c3\u00b8", "author": "Alice Jensen"}}],
   "title": "Alice Jensen har kommenteret Anders Jacobsens opslag."},
  {"timestamp": 1260359515, "title": "Alice Jensen har kommenteret Anders Jacobsens opslag."}
]}"#;

const GROUP_COMMENTS: &str = r#"{"group_comments_v2": [
  {"timestamp": 1600000100,
   "data": [{"comment": {"timestamp": 1600000100, "comment": "Tak!", "author": "Alice Jensen",
                         "group": "Bagere i K\u00c3\u00b8benhavn"}}],
   "title": "Alice Jensen commented on a post in Bagere."}
]}"#;

const MESSAGE: &str = r#"{"participants": [{"name": "S\u00c3\u00b8ren"}, {"name": "Alice Jensen"}],
  "messages": [{"sender_name": "S\u00c3\u00b8ren", "timestamp_ms": 1600000000000, "content": "Hej", "is_unsent": false}],
  "title": "S\u00c3\u00b8ren", "is_still_participant": true, "thread_path": "inbox/soren_abc123", "magic_words": []}"#;

/// The 2024 layout inside a top folder, as a zip. The video file is missing and
/// `your_posts_2.json` is cut off.
fn export_2024(dir: &Path) -> PathBuf {
    let path = dir.join("facebook-2024.zip");
    let root = format!("{ACTIVITY}/");
    let files: Vec<(String, Vec<u8>)> = vec![
        (format!("{ACTIVITY}/posts/your_posts_1.json"), posts_json(&root).into_bytes()),
        (
            format!("{ACTIVITY}/posts/your_posts_2.json"),
            b"[{\"timestamp\": 1700000000, \"data\": [{\"post\": \"first\"}]}, {\"timestamp\": 17000".to_vec(),
        ),
        (
            format!("{ACTIVITY}/comments_and_reactions/comments.json"),
            COMMENTS.into(),
        ),
        (
            format!("{ACTIVITY}/groups/your_comments_in_groups.json"),
            GROUP_COMMENTS.into(),
        ),
        (
            format!("{ACTIVITY}/messages/inbox/soren_abc123/message_1.json"),
            MESSAGE.into(),
        ),
        (format!("{root}{PHOTO}"), JPEG.into()),
        (format!("{root}{FIRST}"), JPEG.into()),
        (format!("{root}{SECOND}"), JPEG_2.into()),
    ];
    let named: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(n, b)| (format!("{TOP}{n}"), b))
        .collect();
    write_zip(&path, &as_entries(&named));
    path
}

/// The older layout, `posts/` at the root of an unpacked folder, media uris from there.
fn export_old(dir: &Path) -> PathBuf {
    let root = dir.join("facebook-old");
    let posts = posts_json("");
    write_tree(
        &root,
        &[
            ("posts/your_posts_1.json", posts.as_bytes()),
            (PHOTO, JPEG),
            (FIRST, JPEG),
            (SECOND, JPEG_2),
        ],
    );
    root
}

/// The one post created at `time`.
fn at(posts: &HashMap<String, NewPost>, time: i64) -> &NewPost {
    let found: Vec<&NewPost> = posts
        .values()
        .filter(|p| p.created_at == Some(time))
        .collect();
    assert_eq!(found.len(), 1, "posts at {time}: {found:?}");
    found[0]
}

#[test]
fn both_layouts_are_detected_and_other_exports_are_not() {
    let dir = tempfile::tempdir().unwrap();
    for path in [export_2024(dir.path()), export_old(dir.path())] {
        assert!(detects(&Facebook, &path), "{}", path.display());
    }
    let instagram = dir.path().join("instagram.zip");
    write_zip(
        &instagram,
        &[
            ("your_instagram_activity/content/posts_1.json", b"[]"),
            (
                "your_instagram_activity/comments/post_comments_1.json",
                b"[]",
            ),
        ],
    );
    assert!(!detects(&Facebook, &instagram));
}

#[test]
fn the_2024_export_reads_posts_comments_and_media() {
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&Facebook, &export_2024(dir.path()));

    // The cut-off second file is kept as it is; the rest reads.
    assert_eq!(out.unreadable.len(), 1, "{:?}", out.unreadable);
    assert_eq!(
        out.unreadable[0].0,
        format!("{TOP}{ACTIVITY}/posts/your_posts_2.json")
    );
    let skipped = skipped_lines(&out);
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("Messenger conversations are not imported")),
        "{skipped:?}"
    );
    let empty: Vec<&String> = skipped
        .iter()
        .filter(|s| s.contains("only timestamps"))
        .collect();
    assert_eq!(empty.len(), 1, "one line for all of them: {skipped:?}");
    assert!(empty[0].contains("2 posts"), "{skipped:?}");
    assert!(
        skipped.iter().any(|s| s.contains("1 media files")),
        "the video is missing: {skipped:?}"
    );

    // Media URLs are relative to the export's root; ` (2).jpg` is its own file.
    let media: BTreeSet<&str> = out.media.iter().map(|(url, ..)| url.as_str()).collect();
    let url = |uri: &str| format!("archive:facebook/{ACTIVITY}/{uri}");
    assert_eq!(
        media,
        BTreeSet::from([
            url(PHOTO).as_str(),
            url(FIRST).as_str(),
            url(SECOND).as_str()
        ])
    );
    assert!(
        out.media
            .iter()
            .all(|(_, kind, ..)| kind.as_deref() == Some("image"))
    );

    let posts = posts_by_id(&Facebook, &out);
    assert_eq!(posts.len(), 10, "{:?}", posts.keys());
    assert_eq!(posts.values().filter(|p| p.kind == "comment").count(), 3);
    for (id, post) in &posts {
        let shown = format!("{post:?}");
        assert!(
            !shown.contains(UPLOAD_IP) && !shown.contains("upload_ip"),
            "{id}: {shown}"
        );
    }

    let photo = at(&posts, 1354805114);
    assert_eq!(photo.kind, "post");
    assert_eq!(photo.text, "Sne sne! æøå");
    assert_eq!(
        photo.title.as_deref(),
        Some("Alice Jensen har tilføjet et nyt billede.")
    );
    assert_eq!(photo.media.len(), 1);
    assert_eq!(photo.media[0].url, url(PHOTO));
    assert_eq!(photo.media[0].kind.as_deref(), Some("image"));

    let link = at(&posts, 1503752400);
    assert_eq!(link.text, "Vi har en ny side 😀");
    let e = link.engagement.as_ref().unwrap();
    assert_eq!(
        e["links"],
        json!([{"url": "https://www.example.org/hapkido", "name": "Shinson Hapkido Holbæk", "source": ""}])
    );
    assert_eq!(e["updated_at"], json!(1503760000));
    assert_eq!(link.url, None, "a shared link is not the post's permalink");

    let place = at(&posts, 1600000000);
    assert_eq!(
        place.title.as_deref(),
        Some("Alice Jensen recommends Bob's Bakery.")
    );
    assert_eq!(
        place.engagement.as_ref().unwrap()["places"],
        json!([{
            "name": "Bob's Bakery",
            "address": "Main St 1",
            "url": "https://www.facebook.com/bobsbakery",
            "coordinate": {"latitude": 55.676, "longitude": 12.568}
        }])
    );

    let album = at(&posts, 1273171899);
    let urls: Vec<&str> = album.media.iter().map(|m| m.url.as_str()).collect();
    assert_eq!(urls, [url(FIRST), url(SECOND)]);

    let title_only = at(&posts, 1565517349);
    assert_eq!(title_only.text, "");
    assert_eq!(
        title_only.title.as_deref(),
        Some("Alice Jensen shared a video from the playlist Trailers.")
    );

    let event = at(&posts, 1501154548);
    assert_eq!(
        event.engagement.as_ref().unwrap()["events"],
        json!([{"name": "Hapkido show", "start_timestamp": 1501174800, "end_timestamp": 1501185600}])
    );

    let video = at(&posts, 1319393272);
    assert_eq!(video.text, "");
    assert_eq!(video.media.len(), 1, "the missing file stays referenced");
    assert_eq!(video.media[0].kind.as_deref(), Some("video"));

    let comment = at(&posts, 1257938047);
    assert_eq!(comment.kind, "comment");
    assert_eq!(comment.text, "davs ø");
    assert_eq!(comment.author.as_deref(), Some("Alice Jensen"));
    assert_eq!(
        comment.title.as_deref(),
        Some("Alice Jensen har kommenteret Anders Jacobsens opslag.")
    );
    assert_eq!(at(&posts, 1260359515).kind, "comment");
    let group = at(&posts, 1600000100);
    assert_eq!(group.kind, "comment");
    assert_eq!(
        group.engagement.as_ref().unwrap()["group"],
        json!("Bagere i København")
    );
}

#[test]
fn both_layouts_give_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let new = posts_by_id(&Facebook, &collect(&Facebook, &export_2024(dir.path())));
    let old = posts_by_id(&Facebook, &collect(&Facebook, &export_old(dir.path())));
    let posts = |p: &HashMap<String, NewPost>| -> BTreeSet<String> {
        p.iter()
            .filter(|(_, post)| post.kind == "post")
            .map(|(id, _)| id.clone())
            .collect()
    };
    assert_eq!(posts(&new), posts(&old));
    assert_eq!(posts(&new).len(), 7);
}

#[test]
fn an_import_stores_posts_and_files_and_twice_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = export_2024(dir.path());
    let env = ImportEnv::new();
    let first = env.import(&path, None).expect("import");
    assert_eq!(first.platform, Platform::Facebook);
    assert_eq!(first.format, "Facebook download");
    assert_eq!(first.media_new, 3);
    assert!(
        first.skipped.iter().any(|s| s.reason.contains("Messenger")),
        "{:?}",
        first.skipped
    );

    let posts = env.posts("facebook");
    assert_eq!(posts.len(), 10);
    let photo = posts
        .iter()
        .find(|p| p.created_at == Some(1354805114))
        .expect("photo post");
    assert_eq!(photo.text, "Sne sne! æøå");
    assert!(photo.has_media);

    // upload_ip never reaches the posts table; it stays in the raw payload.
    let leaked = env.count(&format!(
        "SELECT COUNT(*) FROM posts WHERE
           (COALESCE(author, '') || COALESCE(title, '') || text || COALESCE(html, '')
            || COALESCE(url, '') || COALESCE(engagement, '') || COALESCE(reply_to, '')
            || COALESCE(repost_of, '')) LIKE '%{UPLOAD_IP}%'
         OR COALESCE(engagement, '') LIKE '%upload_ip%'"
    ));
    assert_eq!(leaked, 0);
    assert_eq!(
        env.count(&format!(
            "SELECT COUNT(*) FROM ingested_posts WHERE payload LIKE '%{UPLOAD_IP}%'"
        )),
        2
    );

    // The cut-off file waits in the dead letters with its reason.
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM ingested_items WHERE status = 'dead_letter'
             AND last_error LIKE '%your_posts_2.json%'"
        ),
        1
    );

    assert_eq!(env.stored_media().len(), 3);
    env.assert_stored_files_on_disk();

    env.assert_import_again_adds_nothing(&path, "facebook");
}
