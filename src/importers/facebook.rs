//! Facebook's "Download your information" export, JSON flavour: the person's posts
//! (`your_posts_1.json`, `_2`, …; the folder moved over the years, so files are found by
//! name) and comments (`comments.json` with `comments_v2`, `your_comments_in_groups.json`
//! with `group_comments_v2`). Messenger conversations are private and are not imported.
//!
//! Facebook gives no ids in these files. A post's id is its kind, its time, and a hash of
//! the first of: its first media file's name (Facebook names files after its own photo ids,
//! while the `<Album>_<random>/` folder changes from one export to the next), its first
//! link, its text, its title. The same export read twice, or a later export of the same
//! account, gives the same ids; editing a text-only post gives it a new one.
//!
//! Media metadata carries `upload_ip`. It stays in the raw payload (kept as the export
//! wrote it) and is never copied into a post: `normalize` picks fields by name.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::meta::{self, MediaFile};
use super::{Archive, Importer, Sink};
use crate::connectors::{Codec, ItemRef, NewPost, RawPost};
use crate::platform::Platform;

pub struct Facebook;

impl Codec for Facebook {
    fn platform(&self) -> Platform {
        Platform::Facebook
    }

    fn split(&self, item: &ItemRef) -> Result<Vec<RawPost>> {
        let Some(content) = Content::from_content_type(item.content_type) else {
            bail!("{} is not Facebook export content", item.content_type);
        };
        meta::split_records(item.payload, "the item", |record| {
            let parsed = Record::parse(record)?;
            // An empty one is counted by `read`, on the result page.
            Ok((!parsed.is_empty()).then(|| post_id(content, &parsed)))
        })
    }

    fn normalize(&self, raw: &RawPost) -> Result<NewPost> {
        let content = Content::from_post_id(&raw.platform_post_id).with_context(|| {
            format!("{} is not an id this importer gives", raw.platform_post_id)
        })?;
        let record = Record::parse(&raw.value()?)?;
        let comment = record.comment();
        let title = record.title.as_deref().map(collapse_spaces);
        Ok(NewPost {
            kind: content.kind().to_string(),
            author: comment.and_then(|c| c.author.clone()),
            title: title.filter(|t| !t.is_empty()),
            text: record.text(),
            created_at: record
                .timestamp
                .or_else(|| comment.and_then(|c| c.timestamp)),
            engagement: engagement(&record),
            media: meta::media_refs(Platform::Facebook, record.media_files()),
            ..NewPost::default()
        })
    }
}

impl Importer for Facebook {
    fn format_name(&self) -> &'static str {
        "Facebook download"
    }

    fn detect(&self, archive: &mut Archive) -> bool {
        archive.entries().iter().any(|e| {
            matches!(Content::of_path(&e.path), Some(Content::Posts))
                || e.path.split('/').any(|part| {
                    part == "your_activity_across_facebook" || part == "your_facebook_activity"
                })
        })
    }

    fn read(&self, archive: &mut Archive, out: &mut dyn Sink) -> Result<()> {
        let mut empty = 0usize;
        meta::read_content(
            archive,
            Platform::Facebook,
            Content::of_path,
            Content::content_type,
            |_, record| match Record::parse(&record) {
                Ok(parsed) if parsed.is_empty() => {
                    empty += 1;
                    Vec::new()
                }
                Ok(parsed) => parsed.media_files(),
                Err(_) => Vec::new(), // its item fails in `split`, with the reason
            },
            out,
        )?;
        if empty > 0 {
            out.skip(
                "posts without content",
                &format!(
                    "{empty} posts hold only timestamps (no text, title or attachment) and were not imported"
                ),
            );
        }
        if meta::has_messages(archive) {
            out.skip("messages", "Messenger conversations are not imported");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    /// `your_posts_N.json` (newer: `your_posts__check_ins__photos_and_videos_N.json`).
    Posts,
    /// `comments.json` (`comments_v2`) and `your_comments_in_groups.json`
    /// (`group_comments_v2`): the same record shape.
    Comments,
}

impl Content {
    /// Which content an entry holds, judged by its name (and, for the plain
    /// `comments.json`, its folder).
    fn of_path(path: &str) -> Option<Content> {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
        if is_posts_file(name) {
            return Some(Content::Posts);
        }
        let folder_name = folder.rsplit('/').next().unwrap_or(folder);
        let comments = name == "your_comments_in_groups.json"
            || (name == "comments.json"
                && matches!(folder_name, "comments_and_reactions" | "comments"));
        comments.then_some(Content::Comments)
    }

    fn content_type(self) -> &'static str {
        match self {
            Content::Posts => "application/vnd.lifeboat.facebook-posts+json",
            Content::Comments => "application/vnd.lifeboat.facebook-comments+json",
        }
    }

    fn from_content_type(content_type: &str) -> Option<Content> {
        [Content::Posts, Content::Comments]
            .into_iter()
            .find(|c| c.content_type() == content_type)
    }

    fn kind(self) -> &'static str {
        match self {
            Content::Posts => "post",
            Content::Comments => "comment",
        }
    }

    /// The start of its posts' ids: the records do not say which file they came from,
    /// so the id carries it to `normalize`.
    fn id_prefix(self) -> &'static str {
        self.kind()
    }

    fn from_post_id(id: &str) -> Option<Content> {
        let prefix = id.split(':').next()?;
        [Content::Posts, Content::Comments]
            .into_iter()
            .find(|c| c.id_prefix() == prefix)
    }
}

fn is_posts_file(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("your_posts") else {
        return false;
    };
    let rest = rest
        .strip_prefix("__check_ins__photos_and_videos")
        .unwrap_or(rest);
    rest.strip_prefix('_')
        .and_then(|r| r.strip_suffix(".json"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// One post or comment. `data[]` holds `post` (the text), `update_timestamp` (an edit), or
/// for comments `comment`. `title` is prose Facebook writes ("X  recommends Y.").
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Record {
    #[serde(deserialize_with = "meta::lenient_timestamp")]
    timestamp: Option<i64>,
    #[serde(deserialize_with = "meta::lenient_string")]
    title: Option<String>,
    data: Vec<Data>,
    attachments: Vec<Attachment>,
    tags: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Data {
    #[serde(deserialize_with = "meta::lenient_string")]
    post: Option<String>,
    #[serde(deserialize_with = "meta::lenient_timestamp")]
    update_timestamp: Option<i64>,
    comment: Option<Comment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Comment {
    #[serde(deserialize_with = "meta::lenient_timestamp")]
    timestamp: Option<i64>,
    #[serde(deserialize_with = "meta::lenient_string")]
    comment: Option<String>,
    #[serde(deserialize_with = "meta::lenient_string")]
    author: Option<String>,
    #[serde(deserialize_with = "meta::lenient_string")]
    group: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Attachment {
    data: Vec<AttachmentData>,
}

/// One attachment: a media file, a link, a place, a name, a text, an event or a note.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AttachmentData {
    media: Option<Media>,
    external_context: Option<ExternalContext>,
    place: Option<Place>,
    #[serde(deserialize_with = "meta::lenient_string")]
    name: Option<String>,
    #[serde(deserialize_with = "meta::lenient_string")]
    text: Option<String>,
    event: Option<Value>,
    note: Option<Note>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Media {
    #[serde(deserialize_with = "meta::lenient_string")]
    uri: Option<String>,
    #[serde(deserialize_with = "meta::lenient_string")]
    description: Option<String>,
    media_metadata: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExternalContext {
    #[serde(deserialize_with = "meta::lenient_string")]
    url: Option<String>,
    #[serde(deserialize_with = "meta::lenient_string")]
    name: Option<String>,
    #[serde(deserialize_with = "meta::lenient_string")]
    source: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct Place {
    #[serde(deserialize_with = "meta::lenient_string")]
    name: Option<String>,
    #[serde(deserialize_with = "meta::lenient_string")]
    address: Option<String>,
    #[serde(deserialize_with = "meta::lenient_string")]
    url: Option<String>,
    coordinate: Option<Coordinate>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
struct Coordinate {
    #[serde(deserialize_with = "meta::lenient_number")]
    latitude: Option<f64>,
    #[serde(deserialize_with = "meta::lenient_number")]
    longitude: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Note {
    #[serde(deserialize_with = "meta::lenient_string")]
    title: Option<String>,
    #[serde(deserialize_with = "meta::lenient_string")]
    text: Option<String>,
    media: Vec<Media>,
}

fn non_empty(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

impl Record {
    fn parse(record: &Value) -> Result<Record> {
        Record::deserialize(record).context("a record is not a Facebook post or comment object")
    }

    fn attachment_data(&self) -> impl Iterator<Item = &AttachmentData> {
        self.attachments.iter().flat_map(|a| &a.data)
    }

    fn comment(&self) -> Option<&Comment> {
        self.data.iter().find_map(|d| d.comment.as_ref())
    }

    /// An item with no text, no title and no attachment: Facebook lists bare
    /// `{"timestamp", "data": [{"update_timestamp"}]}` items with nothing to show.
    fn is_empty(&self) -> bool {
        self.text().is_empty()
            && non_empty(&self.title).is_none()
            && self.attachment_data().next().is_none()
    }

    /// The post's or comment's own words; else texts of its attachments (a note, a life
    /// event), else the first media description (photo uploads put the caption there).
    fn text(&self) -> String {
        let own: Vec<&str> = self
            .data
            .iter()
            .filter_map(|d| {
                non_empty(&d.post)
                    .or_else(|| d.comment.as_ref().and_then(|c| non_empty(&c.comment)))
            })
            .collect();
        if !own.is_empty() {
            return own.join("\n\n");
        }
        let attached: Vec<&str> = self
            .attachment_data()
            .flat_map(|d| {
                let note = d.note.as_ref();
                [
                    non_empty(&d.text),
                    note.and_then(|n| non_empty(&n.title)),
                    note.and_then(|n| non_empty(&n.text)),
                ]
            })
            .flatten()
            .collect();
        if !attached.is_empty() {
            return attached.join("\n\n");
        }
        self.all_media()
            .find_map(|m| non_empty(&m.description))
            .unwrap_or_default()
            .to_string()
    }

    fn all_media(&self) -> impl Iterator<Item = &Media> {
        self.attachment_data().flat_map(|d| {
            d.media
                .iter()
                .chain(d.note.iter().flat_map(|n| n.media.iter()))
        })
    }

    fn media_files(&self) -> Vec<MediaFile> {
        self.all_media()
            .filter_map(|m| {
                let uri = non_empty(&m.uri)?;
                Some(MediaFile {
                    uri: uri.to_string(),
                    kind: meta::kind_of(uri, m.media_metadata.as_ref()),
                })
            })
            .collect()
    }

    /// Places, once each: exports repeat a place with and without its `url`.
    fn places(&self) -> Vec<Place> {
        let mut places: Vec<Place> = Vec::new();
        for place in self.attachment_data().filter_map(|d| d.place.as_ref()) {
            let same = places
                .iter_mut()
                .find(|p| p.name == place.name && p.coordinate == place.coordinate);
            match same {
                Some(known) => {
                    known.url = known.url.take().or_else(|| place.url.clone());
                    known.address = known.address.take().or_else(|| place.address.clone());
                }
                None => places.push(place.clone()),
            }
        }
        places
    }
}

/// `<kind>:<unix time>:<hash>` (see the module comment for what the hash covers).
fn post_id(content: Content, record: &Record) -> String {
    let media = record.media_files();
    let link = record
        .attachment_data()
        .find_map(|d| d.external_context.as_ref().and_then(|c| non_empty(&c.url)));
    let text = record.text();
    let key = media
        .first()
        .map(|m| meta::file_stem(&m.uri))
        .or(link)
        .or((!text.is_empty()).then_some(text.as_str()))
        .or(non_empty(&record.title))
        .unwrap_or_default();
    let group = record.comment().and_then(|c| non_empty(&c.group));
    let key = match group {
        Some(group) => format!("{group}\n{key}"),
        None => key.to_string(),
    };
    let when = record
        .timestamp
        .or_else(|| record.comment().and_then(|c| c.timestamp))
        .unwrap_or(0);
    format!("{}:{when}:{}", content.id_prefix(), meta::short_hash(&key))
}

/// Facebook's generated titles have double spaces ("X  recommends Y.").
fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Links, places, names, events and tags, picked field by field: nothing from media
/// metadata (it holds `upload_ip`) reaches the post.
fn engagement(record: &Record) -> Option<Value> {
    let mut e = Map::new();
    let edited = record
        .data
        .iter()
        .filter_map(|d| d.update_timestamp)
        .max()
        .filter(|t| Some(*t) != record.timestamp);
    if let Some(edited) = edited {
        e.insert("updated_at".into(), json!(edited));
    }
    let links: Vec<Value> = record
        .attachment_data()
        .filter_map(|d| d.external_context.as_ref())
        .map(|c| without_nulls(json!({"url": c.url, "name": c.name, "source": c.source})))
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        .collect();
    if !links.is_empty() {
        e.insert("links".into(), Value::Array(links));
    }
    let places: Vec<Value> = record.places().iter().map(place_json).collect();
    if !places.is_empty() {
        e.insert("places".into(), Value::Array(places));
    }
    let names: Vec<&str> = record
        .attachment_data()
        .filter_map(|d| non_empty(&d.name))
        .collect();
    if !names.is_empty() {
        e.insert("names".into(), json!(names));
    }
    let events: Vec<Value> = record
        .attachment_data()
        .filter_map(|d| d.event.as_ref())
        .map(|event| {
            let pick = |field: &str| event.get(field).cloned().unwrap_or(Value::Null);
            without_nulls(json!({
                "name": pick("name"),
                "start_timestamp": pick("start_timestamp"),
                "end_timestamp": pick("end_timestamp"),
            }))
        })
        .collect();
    if !events.is_empty() {
        e.insert("events".into(), Value::Array(events));
    }
    let tags: Vec<&str> = record
        .tags
        .iter()
        .filter_map(|t| t.as_str().or_else(|| t.get("name")?.as_str()))
        .collect();
    if !tags.is_empty() {
        e.insert("tags".into(), json!(tags));
    }
    if let Some(group) = record.comment().and_then(|c| non_empty(&c.group)) {
        e.insert("group".into(), json!(group));
    }
    (!e.is_empty()).then_some(Value::Object(e))
}

fn place_json(place: &Place) -> Value {
    let coordinate = place
        .coordinate
        .as_ref()
        .and_then(|c| Some(json!({"latitude": c.latitude?, "longitude": c.longitude?})));
    without_nulls(json!({
        "name": place.name,
        "address": place.address,
        "url": place.url,
        "coordinate": coordinate,
    }))
}

fn without_nulls(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.retain(|_, v| !v.is_null());
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_found_by_name() {
        for path in [
            "posts/your_posts_1.json",
            "fb/your_activity_across_facebook/posts/your_posts_12.json",
            "your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.json",
            "your_posts_2.json",
        ] {
            assert_eq!(Content::of_path(path), Some(Content::Posts), "{path}");
        }
        assert_eq!(
            Content::of_path("comments_and_reactions/comments.json"),
            Some(Content::Comments)
        );
        assert_eq!(
            Content::of_path("x/groups/your_comments_in_groups.json"),
            Some(Content::Comments)
        );
        assert_eq!(Content::of_path("your_posts_.json"), None);
        assert_eq!(Content::of_path("your_posts_1.json.bak"), None);
        assert_eq!(Content::of_path("photos/comments.json"), None);
    }

    #[test]
    fn empty_items_are_recognised() {
        let bare = Record::parse(&json!({"timestamp": 1, "data": [{"update_timestamp": 1}]}));
        assert!(bare.unwrap().is_empty());
        let no_attachment =
            Record::parse(&json!({"timestamp": 1, "attachments": [], "data": []})).unwrap();
        assert!(no_attachment.is_empty());
        let titled = Record::parse(&json!({"timestamp": 1, "title": "A shared a video."}));
        assert!(!titled.unwrap().is_empty());
        let link = Record::parse(&json!({"timestamp": 1,
            "attachments": [{"data": [{"external_context": {"url": "http://x.test/"}}]}]}));
        assert!(!link.unwrap().is_empty());
    }

    #[test]
    fn places_are_merged() {
        let record = Record::parse(&json!({"timestamp": 1, "attachments": [{"data": [
            {"place": {"name": "Café", "coordinate": {"latitude": 55.6, "longitude": 12.5}}},
            {"place": {"name": "Café", "coordinate": {"latitude": 55.6, "longitude": 12.5},
                       "url": "https://www.facebook.com/cafe"}},
            {"place": {"name": "Other"}}
        ]}]}))
        .unwrap();
        let places = record.places();
        assert_eq!(places.len(), 2);
        assert_eq!(
            places[0].url.as_deref(),
            Some("https://www.facebook.com/cafe")
        );
    }

    #[test]
    fn titles_lose_double_spaces() {
        assert_eq!(
            collapse_spaces("Alice  recommends Bob's Bakery."),
            "Alice recommends Bob's Bakery."
        );
    }
}
