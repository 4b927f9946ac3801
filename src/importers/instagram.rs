//! Instagram's "Download your information" export, JSON flavour. The person's own content
//! sits in a handful of files whose folder moved over the years: `content/` (2022),
//! `your_instagram_activity/content/` (2024), `your_instagram_activity/media/` (2025).
//! `posts_N.json` is a bare array of posts; `stories.json`, `reels.json` and the others wrap
//! their array in one key (`{"ig_stories": [...]}`), which `json_array_chunks` reads alike.
//!
//! Instagram gives no post ids and no permalinks in these files. A post's id is built from
//! what stays the same from one export to the next: its kind, and the time and file name of
//! its first media file, which Instagram names after its own media id
//! (`media/posts/202203/<digits>_n_<id>.jpg`). So the same post from a 2022 and a 2025
//! export, or from the same export imported twice, is one post. Editing a caption keeps
//! the id (the caption is not part of it).

use std::io::Read;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::meta::{self, MediaFile};
use super::{Archive, Importer, Sink};
use crate::connectors::{Codec, ItemRef, NewPost, RawPost};
use crate::platform::Platform;

pub struct Instagram;

impl Codec for Instagram {
    fn platform(&self) -> Platform {
        Platform::Instagram
    }

    fn split(&self, item: &ItemRef) -> Result<Vec<RawPost>> {
        let Some(content) = Content::from_content_type(item.content_type) else {
            bail!("{} is not Instagram export content", item.content_type);
        };
        meta::split_records(item.payload, content.file(), |record| {
            post_id(content, record).map(Some)
        })
    }

    fn normalize(&self, raw: &RawPost) -> Result<NewPost> {
        let content = Content::from_post_id(&raw.platform_post_id).with_context(|| {
            format!("{} is not an id this importer gives", raw.platform_post_id)
        })?;
        let post = Post::parse(content, &raw.value()?)?;
        Ok(NewPost {
            kind: content.kind().to_string(),
            text: post.caption().to_string(),
            created_at: post.created_at(),
            engagement: engagement(content, &post),
            media: meta::media_refs(Platform::Instagram, post.media_files()),
            ..NewPost::default()
        })
    }
}

impl Importer for Instagram {
    fn format_name(&self) -> &'static str {
        "Instagram download"
    }

    fn detect(&self, archive: &mut Archive) -> bool {
        let has_activity_folder = archive.entries().iter().any(|e| {
            e.path
                .split('/')
                .any(|part| part == "your_instagram_activity")
        });
        if has_activity_folder {
            return true;
        }
        // The 2022 layout's `content/posts_1.json` is a plainer name: look inside too.
        let candidates: Vec<_> = archive
            .entries()
            .iter()
            .filter(|e| e.path.contains('/') && Content::of_path(&e.path).is_some())
            .cloned()
            .collect();
        candidates.iter().any(|entry| {
            let mut head = Vec::new();
            let read = archive
                .open_entry(entry)
                .and_then(|r| Ok(r.take(1024).read_to_end(&mut head)?));
            read.is_ok() && looks_like_content(&head)
        })
    }

    fn read(&self, archive: &mut Archive, out: &mut dyn Sink) -> Result<()> {
        meta::read_content(
            archive,
            Platform::Instagram,
            Content::of_path,
            Content::content_type,
            |content, record| {
                Post::parse(content, &record)
                    .map(|post| post.media_files())
                    .unwrap_or_default()
            },
            out,
        )?;
        if meta::has_messages(archive) {
            out.skip("messages", "Instagram direct messages are not imported");
        }
        report_not_imported(archive, out);
        Ok(())
    }
}

/// Lines for the result page about the person's own words this importer leaves out:
/// Threads posts (another platform, in Instagram's export) and comments, whose records
/// name neither the post nor its id, and whose field names are localised.
fn report_not_imported(archive: &Archive, out: &mut dyn Sink) {
    let names = |wanted: fn(&str) -> bool| archive.entries().iter().any(|e| wanted(e.name()));
    if names(|n| n == "threads_and_replies.json") {
        out.skip(
            "threads",
            "Threads posts in the Instagram export are not imported",
        );
    }
    if names(|n| n.starts_with("post_comments_") || n == "reels_comments.json") {
        out.skip("comments", "Instagram comments are not imported");
    }
}

/// The first bytes of a 2022-layout content file: an array of posts, or an `ig_` wrapper.
fn looks_like_content(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start();
    (text.starts_with('[')
        && (text.contains("\"media\"") || text[1..].trim_start().starts_with(']')))
        || (text.starts_with('{') && text.contains("\"ig_"))
}

/// The files of an export that hold the person's own content, and what each holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    /// `posts_N.json`: posts, each with its `media`.
    Posts,
    /// `archived_posts.json`: posts hidden from the profile, same shape.
    Archived,
    /// `stories.json`: each record is one media file.
    Stories,
    /// `reels.json`: each record has a `media` list, like a post.
    Reels,
    /// `igtv_videos.json`: like reels.
    Igtv,
    /// `profile_photos.json`: each record is one media file.
    ProfilePhotos,
}

const CONTENTS: [Content; 6] = [
    Content::Posts,
    Content::Archived,
    Content::Stories,
    Content::Reels,
    Content::Igtv,
    Content::ProfilePhotos,
];

impl Content {
    /// Which content an entry holds, judged by its name and folder.
    fn of_path(path: &str) -> Option<Content> {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
        let in_content_folder = folder.is_empty()
            || folder == "content"
            || folder.ends_with("/content")
            || folder == "your_instagram_activity/media"
            || folder.ends_with("/your_instagram_activity/media");
        if !in_content_folder {
            return None;
        }
        if let Some(n) = name
            .strip_prefix("posts_")
            .and_then(|rest| rest.strip_suffix(".json"))
        {
            return (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then_some(Content::Posts);
        }
        CONTENTS
            .into_iter()
            .find(|c| *c != Content::Posts && c.file() == name)
    }

    fn file(self) -> &'static str {
        match self {
            Content::Posts => "posts_N.json",
            Content::Archived => "archived_posts.json",
            Content::Stories => "stories.json",
            Content::Reels => "reels.json",
            Content::Igtv => "igtv_videos.json",
            Content::ProfilePhotos => "profile_photos.json",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Content::Posts => "application/vnd.lifeboat.instagram-posts+json",
            Content::Archived => "application/vnd.lifeboat.instagram-archived-posts+json",
            Content::Stories => "application/vnd.lifeboat.instagram-stories+json",
            Content::Reels => "application/vnd.lifeboat.instagram-reels+json",
            Content::Igtv => "application/vnd.lifeboat.instagram-igtv+json",
            Content::ProfilePhotos => "application/vnd.lifeboat.instagram-profile-photos+json",
        }
    }

    fn from_content_type(content_type: &str) -> Option<Content> {
        CONTENTS
            .into_iter()
            .find(|c| c.content_type() == content_type)
    }

    /// The start of its posts' ids. The records do not say which file they came from, so
    /// the id carries it to `normalize`.
    fn id_prefix(self) -> &'static str {
        match self {
            Content::Posts => "post",
            Content::Archived => "archived",
            Content::Stories => "story",
            Content::Reels => "reel",
            Content::Igtv => "igtv",
            Content::ProfilePhotos => "profile_photo",
        }
    }

    fn from_post_id(id: &str) -> Option<Content> {
        let prefix = id.split(':').next()?;
        CONTENTS.into_iter().find(|c| c.id_prefix() == prefix)
    }

    fn kind(self) -> &'static str {
        match self {
            Content::Posts | Content::Archived => "post",
            Content::Stories => "story",
            Content::Reels => "reel",
            Content::Igtv => "video",
            Content::ProfilePhotos => "profile_photo",
        }
    }

    /// Whether each record is one media file rather than a post with a `media` list.
    fn is_single_media(self) -> bool {
        matches!(self, Content::Stories | Content::ProfilePhotos)
    }
}

/// A post, reel or story in one shape. A single-media post has no top-level `title` or
/// `creation_timestamp`: its caption and time are its media's. A carousel has both, and
/// its media titles are "".
#[derive(Debug, Deserialize)]
struct Post {
    #[serde(default, deserialize_with = "meta::lenient_string")]
    title: Option<String>,
    #[serde(default, deserialize_with = "meta::lenient_timestamp")]
    creation_timestamp: Option<i64>,
    #[serde(default)]
    media: Vec<Media>,
}

#[derive(Debug, Deserialize)]
struct Media {
    #[serde(default, deserialize_with = "meta::lenient_string")]
    uri: Option<String>,
    #[serde(default, deserialize_with = "meta::lenient_timestamp")]
    creation_timestamp: Option<i64>,
    #[serde(default, deserialize_with = "meta::lenient_string")]
    title: Option<String>,
    #[serde(default)]
    media_metadata: Option<Value>,
    #[serde(default)]
    cross_post_source: Option<Value>,
}

impl Post {
    fn parse(content: Content, record: &Value) -> Result<Post> {
        if content.is_single_media() {
            let media = Media::deserialize(record)
                .with_context(|| format!("a record of {} is not a media object", content.file()))?;
            return Ok(Post {
                title: None,
                creation_timestamp: None,
                media: vec![media],
            });
        }
        Post::deserialize(record)
            .with_context(|| format!("a record of {} is not a post object", content.file()))
    }

    fn caption(&self) -> &str {
        let top = self
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        top.or_else(|| {
            self.media
                .iter()
                .filter_map(|m| m.title.as_deref().map(str::trim))
                .find(|t| !t.is_empty())
        })
        .unwrap_or_default()
    }

    fn created_at(&self) -> Option<i64> {
        self.creation_timestamp
            .or_else(|| self.media.first().and_then(|m| m.creation_timestamp))
    }

    fn media_files(&self) -> Vec<MediaFile> {
        self.media
            .iter()
            .filter_map(|m| {
                let uri = m.uri.as_deref()?.trim();
                (!uri.is_empty()).then(|| MediaFile {
                    uri: uri.to_string(),
                    kind: meta::kind_of(uri, m.media_metadata.as_ref()),
                })
            })
            .collect()
    }
}

/// `<kind>:<unix time>:<first media file's stem>`. The time is the first media file's:
/// every layout gives it, while the post-level time exists only for carousels. A post
/// without media (none seen in real exports) uses a hash of its caption instead.
fn post_id(content: Content, record: &Value) -> Result<String> {
    let post = Post::parse(content, record)?;
    let when = post
        .media
        .first()
        .and_then(|m| m.creation_timestamp)
        .or(post.creation_timestamp)
        .unwrap_or(0);
    let key = match post.media_files().first() {
        Some(file) => meta::file_stem(&file.uri).to_string(),
        None => meta::short_hash(post.caption()),
    };
    Ok(format!("{}:{when}:{key}", content.id_prefix()))
}

/// What is worth keeping beside the caption: where a post was cross-posted from, and a few
/// camera fields per media file, numbers made numbers (exif mixes `"aperture": "2.97"` with
/// `"iso": 160`). Device ids and the like stay in the raw payload only.
fn engagement(content: Content, post: &Post) -> Option<Value> {
    let mut e = Map::new();
    if content == Content::Archived {
        e.insert("archived".into(), json!(true));
    }
    let source_app = post.media.iter().find_map(|m| {
        m.cross_post_source
            .as_ref()?
            .get("source_app")?
            .as_str()
            .map(str::to_string)
    });
    if let Some(app) = source_app {
        e.insert("cross_post_source".into(), json!(app));
    }
    if post.media.len() > 1 {
        e.insert("media_count".into(), json!(post.media.len()));
    }
    let exif: Vec<Map<String, Value>> = post.media.iter().map(picked_exif).collect();
    if let Some(location) = exif.iter().find_map(location) {
        e.insert("location".into(), location);
    }
    if exif.iter().any(|m| !m.is_empty()) {
        e.insert(
            "exif".into(),
            Value::Array(exif.into_iter().map(Value::Object).collect()),
        );
    }
    (!e.is_empty()).then_some(Value::Object(e))
}

/// Exif fields a person may search or look at, from all of a media file's exif objects.
fn picked_exif(media: &Media) -> Map<String, Value> {
    /// Kept as written: dates and names.
    const TEXT: [(&str, &str); 3] = [
        ("date_time_original", "taken_at"),
        ("lens_make", "lens_make"),
        ("lens_model", "lens_model"),
    ];
    /// Made numbers where they are numeric strings.
    const NUMBERS: [&str; 5] = ["aperture", "iso", "focal_length", "latitude", "longitude"];
    let mut picked = Map::new();
    let objects = media
        .media_metadata
        .iter()
        .flat_map(|m| ["photo_metadata", "video_metadata"].map(|k| m.get(k)))
        .flatten()
        .filter_map(|m| m.get("exif_data")?.as_array())
        .flatten()
        .filter_map(Value::as_object);
    for object in objects {
        for (field, name) in TEXT {
            if let Some(value) = object.get(field).filter(|v| v.is_string()) {
                picked.entry(name).or_insert(value.clone());
            }
        }
        for field in NUMBERS {
            if let Some(n) = object.get(field).and_then(meta::number) {
                picked.entry(field).or_insert(number_json(n));
            }
        }
        // Seconds ("0.0041") or a fraction ("1/120"): a number when it is one.
        if let Some(value) = object.get("shutter_speed").filter(|v| !v.is_null()) {
            let value = meta::number(value).map_or_else(|| value.clone(), number_json);
            picked.entry("shutter_speed").or_insert(value);
        }
    }
    picked
}

/// An integer stays an integer (`"iso": 160`), anything else a float.
fn number_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// The first real coordinate (Instagram writes 0,0 for none).
fn location(exif: &Map<String, Value>) -> Option<Value> {
    let lat = exif.get("latitude")?.as_f64()?;
    let lon = exif.get("longitude")?.as_f64()?;
    (lat != 0.0 || lon != 0.0).then(|| json!({"latitude": lat, "longitude": lon}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_files_are_found_in_every_layout() {
        for path in [
            "content/posts_1.json",
            "top/content/posts_12.json",
            "your_instagram_activity/content/posts_1.json",
            "ig-alice/your_instagram_activity/media/posts_2.json",
        ] {
            assert_eq!(Content::of_path(path), Some(Content::Posts), "{path}");
        }
        assert_eq!(
            Content::of_path("your_instagram_activity/media/stories.json"),
            Some(Content::Stories)
        );
        assert_eq!(Content::of_path("media/posts/202203/posts_1.json"), None);
        assert_eq!(Content::of_path("content/posts_.json"), None);
        assert_eq!(
            Content::of_path("your_instagram_activity/comments/posts_1.json"),
            None
        );
    }

    #[test]
    fn detection_peeks_at_plain_names() {
        assert!(looks_like_content(b"[\n  {\n    \"media\": ["));
        assert!(looks_like_content(b" [ ]"));
        assert!(looks_like_content(b"{\"ig_stories\": []}"));
        assert!(!looks_like_content(b"{\"posts\": []}"));
        assert!(!looks_like_content(b"[{\"id\": 1}]"));
    }

    #[test]
    fn exif_numbers_are_made_numbers() {
        let media: Media = serde_json::from_value(json!({
            "uri": "media/posts/202203/1_n_2.jpg",
            "media_metadata": {"photo_metadata": {"exif_data": [
                {"latitude": 55.67, "longitude": "12.56"},
                {"aperture": "2.970854", "iso": 160, "shutter_speed": "1/120",
                 "device_id": "android-123", "date_time_original": "2022:03:01 10:00:00"}
            ]}}
        }))
        .unwrap();
        let exif = picked_exif(&media);
        assert_eq!(exif["aperture"], json!(2.970854));
        assert_eq!(exif["iso"], json!(160));
        assert_eq!(exif["shutter_speed"], json!("1/120"));
        assert_eq!(exif["taken_at"], json!("2022:03:01 10:00:00"));
        assert!(!exif.contains_key("device_id"));
        assert_eq!(
            location(&exif),
            Some(json!({"latitude": 55.67, "longitude": 12.56}))
        );
    }
}
