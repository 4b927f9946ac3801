//! The Instagram "Download your information" importer, on exports built as QUIRKS.md
//! describes them (no licensed sample exists): the 2022 layout (`content/`), the 2024 one
//! (`your_instagram_activity/content/`, inside a top folder) and the 2025 one
//! (`your_instagram_activity/media/`, as a folder); a single-media post, a carousel, a
//! story, a reel, a profile photo, mojibake captions with emoji, exif numbers as strings,
//! an extension-less media uri, a missing media file and a malformed posts file.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use common::imports::*;
use lifeboat::importers::{Collected, instagram::Instagram};
use lifeboat::platform::Platform;
use serde_json::json;

const TOP: &str = "instagram-alice-2024-05-01-AbCdEf/";

const JPEG: &[u8] =
    b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00 jpeg body";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR png body";
const MP4: &[u8] = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2mp41 mp4 body";

/// A single-media post: no top-level title or time; the caption (with a flag emoji as
/// mojibake) and the time are its media's. Exif mixes numbers and numeric strings.
const SINGLE: &str = r#"{
    "media": [
      {
        "uri": "media/posts/202203/275470000_1024_n_17940060624158613.jpg",
        "creation_timestamp": 1646560000,
        "media_metadata": {
          "photo_metadata": {
            "exif_data": [
              {"latitude": -33.45, "longitude": -70.66},
              {"aperture": "2.970854", "iso": 160, "shutter_speed": "0.0041",
               "device_id": "android-0f0f0f0f", "date_time_original": "2022:03:06 10:00:00"}
            ]
          }
        },
        "title": "Un Taxi \u00f0\u009f\u0087\u00a8\u00f0\u009f\u0087\u00b1 en Santiago",
        "cross_post_source": {"source_app": "FB"}
      }
    ]
  }"#;

/// A carousel: top-level title and time, media titles "".
const CAROUSEL: &str = r#"{
    "media": [
      {
        "uri": "media/posts/202204/278000000_2048_n_17950000000000001.jpg",
        "creation_timestamp": 1649000000,
        "media_metadata": {"photo_metadata": {"exif_data": []}},
        "title": ""
      },
      {
        "uri": "media/posts/202204/278000001_2049_n_17950000000000002.mp4",
        "creation_timestamp": 1649000000,
        "media_metadata": {"video_metadata": {"exif_data": [{"device_id": "android-0f0f0f0f"}]}},
        "title": ""
      }
    ],
    "title": "Carousel \u00e2\u0080\u0094 caf\u00c3\u00a9 og kage",
    "creation_timestamp": 1649000100
  }"#;

/// A uri without an extension (seen in the waultar export), and no metadata to tell its kind.
const NO_EXTENSION: &str = r#"{
    "media": [
      {"uri": "media/posts/202205/17960000000000003", "creation_timestamp": 1652000000,
       "title": "No extension here", "media_metadata": {}}
    ]
  }"#;

/// Its file is not in the export.
const LOST: &str = r#"{
    "media": [
      {"uri": "media/posts/202206/280000000_n_17970000000000004.jpg",
       "creation_timestamp": 1655000000, "title": "Lost file"}
    ]
  }"#;

const STORIES: &str = r#"{"ig_stories": [
    {"uri": "media/stories/202207/17980000000000005.mp4", "creation_timestamp": 1657000000,
     "media_metadata": {"video_metadata": {"exif_data": [{"source_type": "4"}]}},
     "title": "", "cross_post_source": {"source_app": "FB"}}
  ]}"#;

const REEL: &str = r#"{"media": [
    {"uri": "media/reels/202208/17990000000000006.mp4", "creation_timestamp": 1660000000,
     "title": "Reel \u00f0\u009f\u008e\u00ac", "cross_post_source": {"source_app": "FB"}}
  ]}"#;

const PROFILE_PHOTOS: &str = r#"{"ig_profile_picture": [
    {"uri": "media/other/123_profile.jpg", "creation_timestamp": 1500000000, "title": ""}
  ]}"#;

const MESSAGE: &str = r#"{"participants": [{"name": "S\u00c3\u00b8ren"}], "messages": []}"#;

fn array(records: &[&str]) -> Vec<u8> {
    format!("[{}]", records.join(",")).into_bytes()
}

/// The 2024 layout inside a top folder, as a zip.
fn export_2024(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("instagram-2024.zip");
    let posts = array(&[SINGLE, CAROUSEL, NO_EXTENSION, LOST]);
    let reels = format!(r#"{{"ig_reels_media": [{REEL}]}}"#);
    let files: Vec<(String, Vec<u8>)> = vec![
        ("your_instagram_activity/content/posts_1.json".into(), posts),
        (
            "your_instagram_activity/content/stories.json".into(),
            STORIES.into(),
        ),
        (
            "your_instagram_activity/content/reels.json".into(),
            reels.into_bytes(),
        ),
        (
            "your_instagram_activity/content/profile_photos.json".into(),
            PROFILE_PHOTOS.into(),
        ),
        (
            "your_instagram_activity/messages/inbox/soren_123/message_1.json".into(),
            MESSAGE.into(),
        ),
        (
            "your_instagram_activity/comments/post_comments_1.json".into(),
            br#"[{"media_owner": "bob", "string_map_data": {"Comment": {"value": "Nice"}}}]"#
                .to_vec(),
        ),
        (
            "personal_information/personal_information/personal_information.json".into(),
            b"{}".to_vec(),
        ),
        (
            "media/posts/202203/275470000_1024_n_17940060624158613.jpg".into(),
            JPEG.into(),
        ),
        (
            "media/posts/202204/278000000_2048_n_17950000000000001.jpg".into(),
            JPEG.into(),
        ),
        (
            "media/posts/202204/278000001_2049_n_17950000000000002.mp4".into(),
            MP4.into(),
        ),
        ("media/posts/202205/17960000000000003".into(), PNG.into()),
        (
            "media/stories/202207/17980000000000005.mp4".into(),
            MP4.into(),
        ),
        (
            "media/reels/202208/17990000000000006.mp4".into(),
            MP4.into(),
        ),
        ("media/other/123_profile.jpg".into(), JPEG.into()),
    ];
    let named: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(n, b)| (format!("{TOP}{n}"), b))
        .collect();
    write_zip(&path, &as_entries(&named));
    path
}

/// The 2022 layout at the root of a zip: the single-media post only.
fn export_2022(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("instagram-2022.zip");
    let posts = array(&[SINGLE]);
    write_zip(
        &path,
        &[
            ("content/posts_1.json", &posts),
            (
                "media/posts/202203/275470000_1024_n_17940060624158613.jpg",
                JPEG,
            ),
        ],
    );
    path
}

/// The 2025 layout as an unpacked folder: the carousel, a reel in a bare array (accepted
/// as well as the wrapped form), and a malformed second posts file.
fn export_2025(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("instagram-2025");
    let posts = array(&[CAROUSEL]);
    let reels = array(&[REEL]);
    write_tree(
        &root,
        &[
            ("your_instagram_activity/media/posts_1.json", &posts),
            (
                "your_instagram_activity/media/posts_2.json",
                b"[{\"media\": [{\"uri\": ",
            ),
            ("your_instagram_activity/media/reels.json", &reels),
            (
                "media/posts/202204/278000000_2048_n_17950000000000001.jpg",
                JPEG,
            ),
            (
                "media/posts/202204/278000001_2049_n_17950000000000002.mp4",
                MP4,
            ),
            ("media/reels/202208/17990000000000006.mp4", MP4),
        ],
    );
    root
}

const SINGLE_ID: &str = "post:1646560000:275470000_1024_n_17940060624158613";
const CAROUSEL_ID: &str = "post:1649000000:278000000_2048_n_17950000000000001";
const NO_EXTENSION_ID: &str = "post:1652000000:17960000000000003";
const LOST_ID: &str = "post:1655000000:280000000_n_17970000000000004";
const STORY_ID: &str = "story:1657000000:17980000000000005";
const REEL_ID: &str = "reel:1660000000:17990000000000006";
const PROFILE_ID: &str = "profile_photo:1500000000:123_profile";

#[test]
fn every_layout_is_detected_and_other_exports_are_not() {
    let dir = tempfile::tempdir().unwrap();
    for path in [
        export_2022(dir.path()),
        export_2024(dir.path()),
        export_2025(dir.path()),
    ] {
        assert!(detects(&Instagram, &path), "{}", path.display());
    }
    let facebook = dir.path().join("facebook.zip");
    write_zip(&facebook, &[("posts/your_posts_1.json", b"[]")]);
    let other = dir.path().join("other.zip");
    write_zip(
        &other,
        &[("site/content/posts_1.json", b"{\"posts\": [{\"id\": 1}]}")],
    );
    for path in [facebook, other] {
        assert!(!detects(&Instagram, &path), "{}", path.display());
    }
}

#[test]
fn the_2024_export_reads_posts_stories_reels_and_media() {
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&Instagram, &export_2024(dir.path()));

    let types: BTreeSet<&str> = out.items.iter().map(|i| i.content_type.as_str()).collect();
    assert_eq!(
        types,
        BTreeSet::from([
            "application/vnd.lifeboat.instagram-posts+json",
            "application/vnd.lifeboat.instagram-profile-photos+json",
            "application/vnd.lifeboat.instagram-reels+json",
            "application/vnd.lifeboat.instagram-stories+json",
        ])
    );
    for item in &out.items {
        let source = item.source_url.as_deref().unwrap();
        assert!(source.starts_with(TOP), "{source}");
    }

    // Media URLs are relative to the export's root, not to the zip's top folder.
    let media: HashMap<&str, (Option<&str>, &str)> = out
        .media
        .iter()
        .map(|(url, kind, path, _)| (url.as_str(), (kind.as_deref(), path.as_str())))
        .collect();
    assert_eq!(media.len(), 7, "{:?}", media.keys());
    assert_eq!(
        media["archive:instagram/media/posts/202203/275470000_1024_n_17940060624158613.jpg"],
        (
            Some("image"),
            "instagram-alice-2024-05-01-AbCdEf/media/posts/202203/275470000_1024_n_17940060624158613.jpg"
        )
    );
    // No extension, no metadata: the file's first bytes say it is an image.
    assert_eq!(
        media["archive:instagram/media/posts/202205/17960000000000003"].0,
        Some("image")
    );
    assert_eq!(
        media["archive:instagram/media/reels/202208/17990000000000006.mp4"].0,
        Some("video")
    );
    assert!(
        !media
            .contains_key("archive:instagram/media/posts/202206/280000000_n_17970000000000004.jpg")
    );

    let skipped = skipped_lines(&out);
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("direct messages are not imported")),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|s| s.contains("1 media files")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("Instagram comments are not imported")),
        "{skipped:?}"
    );
    assert!(out.unreadable.is_empty());

    let posts = posts_by_id(&Instagram, &out);
    let ids: BTreeSet<&str> = posts.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            SINGLE_ID,
            CAROUSEL_ID,
            NO_EXTENSION_ID,
            LOST_ID,
            STORY_ID,
            REEL_ID,
            PROFILE_ID
        ])
    );

    let single = &posts[SINGLE_ID];
    assert_eq!(single.kind, "post");
    assert_eq!(single.text, "Un Taxi 🇨🇱 en Santiago");
    assert_eq!(single.created_at, Some(1646560000));
    assert_eq!(single.title, None);
    assert_eq!(single.url, None);
    let e = single.engagement.as_ref().unwrap();
    assert_eq!(e["cross_post_source"], json!("FB"));
    assert_eq!(
        e["location"],
        json!({"latitude": -33.45, "longitude": -70.66})
    );
    assert_eq!(e["exif"][0]["aperture"], json!(2.970854));
    assert_eq!(e["exif"][0]["iso"], json!(160));
    assert_eq!(e["exif"][0]["shutter_speed"], json!(0.0041));
    assert_eq!(e["exif"][0]["taken_at"], json!("2022:03:06 10:00:00"));
    assert!(
        !e.to_string().contains("android-0f0f0f0f"),
        "device id leaked: {e}"
    );
    assert_eq!(single.media.len(), 1);
    assert_eq!(
        single.media[0].url,
        "archive:instagram/media/posts/202203/275470000_1024_n_17940060624158613.jpg"
    );

    let carousel = &posts[CAROUSEL_ID];
    assert_eq!(carousel.text, "Carousel — café og kage");
    assert_eq!(carousel.created_at, Some(1649000100));
    let kinds: Vec<Option<&str>> = carousel.media.iter().map(|m| m.kind.as_deref()).collect();
    assert_eq!(kinds, [Some("image"), Some("video")]);
    assert_eq!(
        carousel.engagement.as_ref().unwrap()["media_count"],
        json!(2)
    );

    assert_eq!(posts[NO_EXTENSION_ID].text, "No extension here");
    assert_eq!(
        posts[LOST_ID].media.len(),
        1,
        "a missing file stays referenced"
    );

    let story = &posts[STORY_ID];
    assert_eq!(story.kind, "story");
    assert_eq!(story.text, "");
    assert_eq!(story.created_at, Some(1657000000));
    assert_eq!(story.media[0].kind.as_deref(), Some("video"));

    let reel = &posts[REEL_ID];
    assert_eq!(reel.kind, "reel");
    assert_eq!(reel.text, "Reel 🎬");
    assert_eq!(posts[PROFILE_ID].kind, "profile_photo");

    // Every media URL a post gives is one the importer copied (or one that is missing).
    for post in posts.values() {
        for m in &post.media {
            assert!(
                media.contains_key(m.url.as_str()) || m.url.contains("202206"),
                "{} is not copied",
                m.url
            );
        }
    }
}

#[test]
fn reading_twice_gives_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = export_2024(dir.path());
    let (a, b) = (collect(&Instagram, &path), collect(&Instagram, &path));
    let ids = |out: &Collected| -> Vec<String> {
        out.items.iter().map(|i| i.external_id.clone()).collect()
    };
    assert_eq!(ids(&a), ids(&b));
    let mut posts_a: Vec<String> = posts_by_id(&Instagram, &a).into_keys().collect();
    let mut posts_b: Vec<String> = posts_by_id(&Instagram, &b).into_keys().collect();
    posts_a.sort();
    posts_b.sort();
    assert_eq!(posts_a, posts_b);
}

#[test]
fn a_malformed_posts_file_is_unreadable_and_the_rest_reads() {
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&Instagram, &export_2025(dir.path()));
    assert_eq!(out.unreadable.len(), 1, "{:?}", out.unreadable);
    assert_eq!(
        out.unreadable[0].0,
        "your_instagram_activity/media/posts_2.json"
    );
    assert!(
        out.unreadable[0].1.contains("JSON"),
        "{}",
        out.unreadable[0].1
    );
    let posts = posts_by_id(&Instagram, &out);
    let ids: BTreeSet<&str> = posts.keys().map(String::as_str).collect();
    assert_eq!(ids, BTreeSet::from([CAROUSEL_ID, REEL_ID]));
}

#[test]
fn an_import_stores_posts_and_files_and_twice_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = export_2024(dir.path());
    let env = ImportEnv::new();
    let first = env.import(&path, None).expect("import");
    assert_eq!(first.platform, Platform::Instagram);
    assert_eq!(first.format, "Instagram download");
    assert_eq!(first.failed_items, 0);
    assert_eq!(first.media_new, 7);
    assert!(
        first
            .skipped
            .iter()
            .any(|s| s.reason.contains("direct messages")),
        "{:?}",
        first.skipped
    );

    let posts = env.posts("instagram");
    assert_eq!(posts.len(), 7);
    let single = env.post("instagram", SINGLE_ID);
    assert_eq!(single.text, "Un Taxi 🇨🇱 en Santiago");
    assert_eq!(single.created_at, Some(1646560000));
    assert!(single.has_media);
    assert_eq!(env.post("instagram", STORY_ID).kind, "story");
    assert_eq!(env.post("instagram", REEL_ID).kind, "reel");

    assert_eq!(env.stored_media().len(), 7);
    env.assert_stored_files_on_disk();
    // The missing file is linked to its post and waits (its URL cannot be downloaded).
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM media WHERE url LIKE '%280000000_n_17970000000000004.jpg'
             AND status != 'completed'"
        ),
        1
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM post_media"),
        8,
        "every post links its files"
    );

    env.assert_import_again_adds_nothing(&path, "instagram");
}

#[test]
fn the_same_post_in_every_layout_is_one_post() {
    let dir = tempfile::tempdir().unwrap();
    let env = ImportEnv::new();
    env.import(&export_2022(dir.path()), None).expect("2022");
    assert_eq!(env.posts("instagram").len(), 1);
    env.import(&export_2024(dir.path()), None).expect("2024");
    assert_eq!(env.posts("instagram").len(), 7);
    let summary = env.import(&export_2025(dir.path()), None).expect("2025");
    assert_eq!(summary.posts_created, 0);
    assert_eq!(env.posts("instagram").len(), 7);
    // The malformed file of the 2025 export waits in the dead letters, with its reason.
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM ingested_items WHERE status = 'dead_letter'
             AND last_error LIKE '%posts_2.json%'"
        ),
        1
    );
}

#[test]
fn a_big_posts_file_is_read_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<String> = (0..2500)
        .map(|n| {
            format!(
                r#"{{"media": [{{"uri": "media/posts/202301/{n}_n_{n}.jpg", "creation_timestamp": {}, "title": "post {n}"}}]}}"#,
                1672531200 + n
            )
        })
        .collect();
    let posts = format!("[{}]", records.join(",\n"));
    let path = dir.path().join("big.zip");
    write_zip(&path, &[("content/posts_1.json", posts.as_bytes())]);
    let out = collect(&Instagram, &path);
    assert_eq!(out.items.len(), 3, "1000 records per raw item");
    assert!(
        out.items[0]
            .external_id
            .starts_with("content/posts_1.json#0:")
    );
    let all = posts_by_id(&Instagram, &out);
    assert_eq!(all.len(), 2500);
    assert_eq!(all["post:1672533699:2499_n_2499"].text, "post 2499");
    assert!(
        out.skipped
            .iter()
            .any(|(_, r)| r.contains("2500 media files")),
        "{:?}",
        out.skipped
    );
}
