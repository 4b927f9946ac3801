//! The Mastodon account archive ("Request your archive" in the settings): a zip of
//! ActivityPub documents. `outbox.json` is an OrderedCollection of the person's
//! activities (`Create` around a `Note` or a `Question` poll, `Announce` of another
//! status), `actor.json` is the account, `likes.json` and `bookmarks.json` are
//! OrderedCollections of bare status URLs, and `media_attachments/` holds the files of
//! the person's posts. Pleroma and Akkoma write the same layout.
//!
//! Imported: posts, replies, polls, boosts, likes, bookmarks and attached files. The
//! avatar and header pictures are not.
//!
//! `outbox.json` is one compact line that can be many megabytes; only its
//! `orderedItems` array is streamed, `ORDERED_CHUNK` activities per raw item (its
//! `@context`, an array too, comes first and is skipped). `totalItems` is never trusted:
//! real archives disagree with their own item count. Each raw item carries the account
//! from `actor.json` beside the chunk (`{"actor": {...}, "orderedItems": [...]}`), and
//! `split` embeds it as the activity's `actor`, which ActivityPub allows, so one raw post
//! is one activity that knows its author.
//!
//! Ids: a status's id is the last path segment of its ActivityPub id
//! (`https://host/users/alice/statuses/109876543210` → `109876543210`), the same id
//! Mastodon's REST API gives, so a live connector's posts merge with these. A boost's id
//! is its own status id, the segment before the trailing `/activity` of the `Announce`
//! id (Mastodon gives boosts a status id too). Likes and bookmarks have no id of their
//! own: `like:<status URL>` and `bookmark:<status URL>`.
//!
//! Media: attachment URLs are paths inside the export, with an instance or bucket prefix
//! in recent archives (`/indiewebsocial/media_attachments/files/109/…/original/x.jpeg`)
//! and without one in older ones (`/media_attachments/files/…`). Both the attachment and
//! the file in the export are named by the part from `media_attachments/` on, as
//! `archive:mastodon/media_attachments/files/…`, so they meet whatever the prefix.

use std::collections::HashSet;
use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use serde::de::{DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Archive, Entry, Importer, Sink, chunk_id, media_kind};
use crate::connectors::{Codec, ItemRef, MediaRef, NewPost, RawItem, RawPost};
use crate::platform::Platform;

pub struct Mastodon;

/// A chunk of the outbox: `{"actor": {...} | null, "orderedItems": [activity, ...]}`.
const OUTBOX: &str = "application/vnd.lifeboat.mastodon-outbox+json";
/// A chunk of `likes.json`: `{"actor": ..., "orderedItems": ["<status URL>", ...]}`.
const LIKES: &str = "application/vnd.lifeboat.mastodon-likes+json";
/// A chunk of `bookmarks.json`, shaped like `LIKES`.
const BOOKMARKS: &str = "application/vnd.lifeboat.mastodon-bookmarks+json";

/// Activities per raw item: a few hundred KB of compact JSON.
const ORDERED_CHUNK: usize = 500;
/// Status URLs per raw item of likes and bookmarks.
const URL_CHUNK: usize = 1000;

/// The public audience of ActivityPub, in the three spellings servers use.
const PUBLIC: &[&str] = &[
    "https://www.w3.org/ns/activitystreams#Public",
    "as:Public",
    "Public",
];

const MEDIA_DIR: &str = "media_attachments/";
const ARCHIVE_PREFIX: &str = "archive:mastodon/";

impl Codec for Mastodon {
    fn platform(&self) -> Platform {
        Platform::Mastodon
    }

    fn split(&self, item: &ItemRef) -> Result<Vec<RawPost>> {
        let chunk: Chunk = serde_json::from_slice(item.payload)
            .context("not a Mastodon archive chunk ({\"actor\", \"orderedItems\"})")?;
        match item.content_type {
            OUTBOX => Ok(split_outbox(chunk)),
            LIKES => Ok(split_urls(chunk, "Like")),
            BOOKMARKS => Ok(split_urls(chunk, "Bookmark")),
            other => bail!("not a Mastodon archive payload: {other}"),
        }
    }

    fn normalize(&self, raw: &RawPost) -> Result<NewPost> {
        let activity = &raw.value()?;
        match str_at(activity, "type") {
            Some("Create") => normalize_create(activity),
            Some("Announce") => Ok(normalize_announce(activity)),
            Some("Like") => Ok(normalize_saved(activity, "like")),
            Some("Bookmark") => Ok(normalize_saved(activity, "bookmark")),
            other => bail!(
                "Mastodon post {} is not an activity Lifeboat reads (type {other:?})",
                raw.platform_post_id
            ),
        }
    }
}

impl Importer for Mastodon {
    fn format_name(&self) -> &'static str {
        "Mastodon archive"
    }

    /// Both `outbox.json` and `actor.json`, side by side: no other platform's export
    /// has that pair.
    fn detect(&self, archive: &mut Archive) -> bool {
        let outboxes: Vec<String> = archive
            .ending_with("outbox.json")
            .map(|e| folder(&e.path).to_string())
            .collect();
        archive
            .ending_with("actor.json")
            .any(|actor| outboxes.iter().any(|dir| dir == folder(&actor.path)))
    }

    fn read(&self, archive: &mut Archive, out: &mut dyn Sink) -> Result<()> {
        let layout = Layout::of(archive)?;
        let actor = read_actor(archive, layout.actor.as_ref(), out);
        let actor = actor.as_deref().unwrap_or("null");
        stream_collection(
            archive,
            &layout.outbox,
            &layout.root,
            OUTBOX,
            ORDERED_CHUNK,
            actor,
            out,
        )?;
        for (entry, content_type) in [(&layout.likes, LIKES), (&layout.bookmarks, BOOKMARKS)] {
            if let Some(entry) = entry {
                stream_collection(
                    archive,
                    entry,
                    &layout.root,
                    content_type,
                    URL_CHUNK,
                    actor,
                    out,
                )?;
            }
        }
        for entry in &layout.pictures {
            out.skip(
                &entry.path,
                "profile pictures (avatar, header) are not imported",
            );
        }
        for entry in &layout.media {
            let Some(url) = file_url(&entry.path) else {
                continue;
            };
            let mut file = archive.open_entry(entry)?;
            out.media(&url, media_kind(entry.name()), &entry.path, &mut file)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Reading the export

/// Which entries of the export hold what.
struct Layout {
    /// The folder the archive sits in inside the zip ("" at the top).
    root: String,
    outbox: Entry,
    actor: Option<Entry>,
    likes: Option<Entry>,
    bookmarks: Option<Entry>,
    media: Vec<Entry>,
    /// `avatar.*` and `header.*` beside `actor.json`.
    pictures: Vec<Entry>,
}

impl Layout {
    fn of(archive: &Archive) -> Result<Layout> {
        let outbox = archive
            .ending_with("outbox.json")
            .min_by_key(|e| e.path.len())
            .cloned()
            .context("the Mastodon archive has no outbox.json")?;
        let root = folder(&outbox.path).to_string();
        let beside = |name: &str| archive.find(&join(&root, name)).cloned();
        let prefix = if root.is_empty() {
            String::new()
        } else {
            format!("{root}/")
        };
        let media = archive
            .entries()
            .iter()
            .filter(|e| e.path.starts_with(&prefix) && e.path.contains(MEDIA_DIR))
            .cloned()
            .collect();
        let pictures = archive
            .entries()
            .iter()
            .filter(|e| folder(&e.path) == root)
            .filter(|e| e.name().starts_with("avatar.") || e.name().starts_with("header."))
            .cloned()
            .collect();
        Ok(Layout {
            pictures,
            actor: beside("actor.json"),
            likes: beside("likes.json"),
            bookmarks: beside("bookmarks.json"),
            root,
            outbox,
            media,
        })
    }
}

/// The folder part of an entry path ("" at the top).
fn folder(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The path of an entry from the archive's own folder on, so raw item ids do not depend
/// on the folder the archive was unpacked into.
fn export_path<'a>(root: &str, path: &'a str) -> &'a str {
    if root.is_empty() {
        return path;
    }
    path.strip_prefix(root)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(path)
}

/// The account, as the JSON text to put beside each chunk: the fields `normalize` uses.
/// An archive without a readable `actor.json` still imports; authors then come from
/// the activities' actor URLs.
fn read_actor(archive: &mut Archive, entry: Option<&Entry>, out: &mut dyn Sink) -> Option<String> {
    let entry = entry?;
    let parsed = archive
        .read_entry(entry)
        .and_then(|bytes| Ok(serde_json::from_slice::<Value>(&bytes)?));
    match parsed {
        Ok(actor) => {
            let mut summary = Map::new();
            for key in ["id", "type", "preferredUsername", "name", "url"] {
                if let Some(value) = actor.get(key).filter(|v| !v.is_null()) {
                    summary.insert(key.to_string(), value.clone());
                }
            }
            Some(Value::Object(summary).to_string())
        }
        Err(e) => {
            out.skip(
                &entry.path,
                &format!("the account file could not be read ({e:#}); posts are imported without the display name"),
            );
            None
        }
    }
}

/// Streams one OrderedCollection file into raw items of `chunk` elements. A file that
/// stops being JSON goes to the dead letters whole (the chunks before the fault are
/// already imported) and the rest of the export goes on.
fn stream_collection(
    archive: &mut Archive,
    entry: &Entry,
    root: &str,
    content_type: &str,
    chunk: usize,
    actor: &str,
    out: &mut dyn Sink,
) -> Result<()> {
    let id_path = export_path(root, &entry.path).to_string();
    let mut sink_failed = false;
    let outcome = {
        let reader = archive.open_entry(entry)?;
        ordered_items_chunks(reader, chunk, |n, items| {
            let mut payload = Vec::with_capacity(items.len() + actor.len() + 32);
            payload.extend_from_slice(b"{\"actor\":");
            payload.extend_from_slice(actor.as_bytes());
            payload.extend_from_slice(b",\"orderedItems\":");
            payload.extend_from_slice(&items);
            payload.push(b'}');
            let item = RawItem {
                external_id: chunk_id(&id_path, n, &payload),
                content_type: content_type.to_string(),
                source_url: Some(entry.path.clone()),
                payload,
            };
            out.item(item).inspect_err(|_| sink_failed = true)
        })
    };
    match outcome {
        Ok(()) => Ok(()),
        // The import itself failed (the database), not the file.
        Err(e) if sink_failed => Err(e),
        Err(e) => {
            let bytes = archive.readable_part(entry);
            out.unreadable(&entry.path, &format!("{e:#}"), bytes)
        }
    }
}

/// Streams the `orderedItems` array of an ActivityStreams collection (a JSON object)
/// and hands its elements, `chunk` at a time, to `emit` as the text of a JSON array.
/// Every other member is skipped without being kept, whatever its size; memory stays
/// bounded by one chunk. An error names the byte position where the file stops being
/// JSON; chunks before it have already been emitted.
fn ordered_items_chunks(
    reader: impl Read,
    chunk: usize,
    mut emit: impl FnMut(usize, Vec<u8>) -> Result<()>,
) -> Result<()> {
    let reader = std::io::BufReader::with_capacity(1 << 20, reader);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut failed = None;
    let mut found = false;
    let outcome = (&mut de).deserialize_map(Collection {
        items: Items {
            chunk: chunk.max(1),
            emit: &mut emit,
            failed: &mut failed,
        },
        found: &mut found,
    });
    match (outcome, failed) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(anyhow!("not valid JSON: {e}")),
        (Ok(()), None) => {
            de.end().map_err(|e| anyhow!("not valid JSON: {e}"))?;
            if !found {
                bail!("not an ActivityStreams collection: it has no orderedItems");
            }
            Ok(())
        }
    }
}

/// The collection object: finds `orderedItems`, skips the rest.
struct Collection<'e, F> {
    items: Items<'e, F>,
    found: &'e mut bool,
}

impl<'de, F: FnMut(usize, Vec<u8>) -> Result<()>> Visitor<'de> for Collection<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an ActivityStreams OrderedCollection object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "orderedItems" && !*self.found {
                *self.found = true;
                map.next_value_seed(&mut self.items)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `orderedItems` array, cut into chunks. An error from `emit` is kept aside, since
/// serde only carries its own error type through the parser.
struct Items<'e, F> {
    chunk: usize,
    emit: &'e mut F,
    failed: &'e mut Option<anyhow::Error>,
}

impl<'de, F: FnMut(usize, Vec<u8>) -> Result<()>> DeserializeSeed<'de> for &mut Items<'_, F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(usize, Vec<u8>) -> Result<()>> Visitor<'de> for &mut Items<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut buffer = Vec::new();
        let mut in_chunk = 0;
        let mut n = 0;
        loop {
            let element = seq.next_element::<Box<RawValue>>()?;
            let last = element.is_none();
            if let Some(element) = element {
                buffer.push(if buffer.is_empty() { b'[' } else { b',' });
                buffer.extend_from_slice(element.get().as_bytes());
                in_chunk += 1;
            }
            if (in_chunk == self.chunk || last) && !buffer.is_empty() {
                buffer.push(b']');
                if let Err(e) = (self.emit)(n, std::mem::take(&mut buffer)) {
                    *self.failed = Some(e);
                    return Err(serde::de::Error::custom("stopped"));
                }
                n += 1;
                in_chunk = 0;
            }
            if last {
                return Ok(());
            }
        }
    }
}

/// The URL a file of the export is stored under: the part of its path from
/// `media_attachments/` on. `attachment_url` derives the same from an attachment.
fn file_url(entry_path: &str) -> Option<String> {
    let at = entry_path.find(MEDIA_DIR)?;
    Some(format!("{ARCHIVE_PREFIX}{}", &entry_path[at..]))
}

// ---------------------------------------------------------------------------------------
// Split

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chunk {
    #[serde(default)]
    actor: Value,
    ordered_items: Vec<Value>,
}

/// One raw post per activity the timeline shows (`Create`, `Announce`), each with the
/// account embedded as its `actor`. Activities without a usable id are left out.
fn split_outbox(chunk: Chunk) -> Vec<RawPost> {
    let mut seen = HashSet::new();
    let mut posts = Vec::new();
    for mut activity in chunk.ordered_items {
        let Some(id) = activity_post_id(&activity) else {
            continue;
        };
        embed_actor(&mut activity, &chunk.actor);
        if seen.insert(id.clone()) {
            posts.push(RawPost::new(id, &activity));
        }
    }
    posts
}

/// `{"type": "Like"|"Bookmark", "actor": {...}, "object": "<status URL>"}` per URL.
fn split_urls(chunk: Chunk, kind: &str) -> Vec<RawPost> {
    let prefix = kind.to_ascii_lowercase();
    let mut seen = HashSet::new();
    chunk
        .ordered_items
        .iter()
        .filter_map(Value::as_str)
        .filter(|url| seen.insert(*url))
        .map(|url| {
            let mut payload = json!({"type": kind, "object": url});
            if chunk.actor.is_object() {
                payload["actor"] = chunk.actor.clone();
            }
            RawPost::new(format!("{prefix}:{url}"), &payload)
        })
        .collect()
}

/// The status id of an activity (see the module comment), None for activities the
/// timeline does not show.
fn activity_post_id(activity: &Value) -> Option<String> {
    match str_at(activity, "type")? {
        "Create" => {
            let object = activity.get("object")?;
            let id = str_at(object, "id").or(object.as_str())?;
            status_id(id)
        }
        "Announce" => status_id(str_at(activity, "id")?),
        _ => None,
    }
}

/// The last path segment of an ActivityPub id, a trailing `/activity` left out.
pub fn status_id(ap_id: &str) -> Option<String> {
    let path = ap_id.split(['?', '#']).next().unwrap_or(ap_id);
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix("/activity").unwrap_or(path);
    let last = path.rsplit('/').next()?;
    (!last.is_empty() && !last.contains(':')).then(|| last.to_string())
}

/// Replaces the activity's actor URL by the account object, when they are the same
/// account (or the activity names none).
fn embed_actor(activity: &mut Value, actor: &Value) {
    let Some(actor_id) = str_at(actor, "id") else {
        return;
    };
    let same = match activity.get("actor") {
        None | Some(Value::Null) => true,
        Some(Value::String(url)) => url == actor_id,
        Some(_) => false,
    };
    if same && let Some(object) = activity.as_object_mut() {
        object.insert("actor".into(), actor.clone());
    }
}

// ---------------------------------------------------------------------------------------
// Normalize

/// A `Create`: the person's own status (a `Note`, or a `Question` poll).
fn normalize_create(activity: &Value) -> Result<NewPost> {
    let object = activity
        .get("object")
        .filter(|o| o.is_object())
        .ok_or_else(|| anyhow!("the Create activity has no embedded object"))?;
    let html = content_html(object);
    let text = html.as_deref().map(html_to_text).unwrap_or_default();
    let reply_to = str_at(object, "inReplyTo").map(String::from);
    let summary = str_at(object, "summary")
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut engagement = Map::new();
    engagement.insert("visibility".into(), visibility(object, activity).into());
    if object.get("sensitive").and_then(Value::as_bool) == Some(true) {
        engagement.insert("sensitive".into(), true.into());
    }
    if let Some(summary) = summary {
        engagement.insert("content_warning".into(), summary.into());
    }
    if let Some(edited) = str_at(object, "updated").and_then(parse_date) {
        engagement.insert("edited_at".into(), edited.into());
    }
    if let Some(language) = language(object) {
        engagement.insert("language".into(), language.into());
    }
    add_tags(object, &mut engagement);
    if str_at(object, "type") == Some("Question") {
        engagement.insert("poll".into(), poll(object));
    }
    let (media, attachments) = attachments(object);
    if !attachments.is_empty() {
        engagement.insert("attachments".into(), attachments.into());
    }
    if let Some(conversation) = str_at(object, "conversation") {
        engagement.insert("conversation".into(), conversation.into());
    }
    Ok(NewPost {
        kind: if reply_to.is_some() { "reply" } else { "post" }.into(),
        author: author(activity).or_else(|| author_from_url(str_at(object, "attributedTo")?)),
        title: summary.map(String::from),
        text,
        html,
        url: str_at(object, "url")
            .or(str_at(object, "id"))
            .map(String::from),
        created_at: str_at(object, "published")
            .or(str_at(activity, "published"))
            .and_then(parse_date),
        engagement: Some(Value::Object(engagement)),
        reply_to,
        repost_of: None,
        media,
    })
}

/// An `Announce` (a boost): the archive has only the boosted status's URL.
fn normalize_announce(activity: &Value) -> NewPost {
    let target = activity
        .get("object")
        .and_then(|o| o.as_str().or(str_at(o, "id")))
        .map(String::from);
    NewPost {
        kind: "repost".into(),
        author: author(activity),
        text: target.clone().unwrap_or_default(),
        url: target.clone(),
        created_at: str_at(activity, "published").and_then(parse_date),
        engagement: Some(json!({"visibility": visibility(activity, activity)})),
        repost_of: target,
        ..NewPost::default()
    }
}

/// A like or a bookmark: only the status URL is known (no date, no content).
fn normalize_saved(activity: &Value, kind: &str) -> NewPost {
    let url = str_at(activity, "object").map(String::from);
    NewPost {
        kind: kind.into(),
        author: author(activity),
        text: url.clone().unwrap_or_default(),
        url,
        ..NewPost::default()
    }
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key)?.as_str()
}

/// `content`, else the first translation of `contentMap` (some servers send only that).
fn content_html(object: &Value) -> Option<String> {
    str_at(object, "content")
        .or_else(|| {
            object
                .get("contentMap")?
                .as_object()?
                .values()
                .find_map(Value::as_str)
        })
        .map(String::from)
}

fn language(object: &Value) -> Option<String> {
    let map = object.get("contentMap")?.as_object()?;
    map.keys().next().cloned()
}

/// public (Public in `to`), unlisted (Public in `cc`), private (followers only), or
/// direct (only the people named).
fn visibility(object: &Value, activity: &Value) -> &'static str {
    let audience = |key: &str| -> Vec<String> {
        let value = object
            .get(key)
            .filter(|v| !v.is_null())
            .or(activity.get(key));
        match value {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            _ => Vec::new(),
        }
    };
    let (to, cc) = (audience("to"), audience("cc"));
    let public = |list: &[String]| list.iter().any(|a| PUBLIC.contains(&a.as_str()));
    if public(&to) {
        "public"
    } else if public(&cc) {
        "unlisted"
    } else if to.iter().chain(&cc).any(|a| a.ends_with("/followers")) {
        "private"
    } else {
        "direct"
    }
}

/// Hashtags and mentions from the `tag` list.
fn add_tags(object: &Value, engagement: &mut Map<String, Value>) {
    let tags: Vec<&Value> = match object.get("tag") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(tag @ Value::Object(_)) => vec![tag],
        _ => Vec::new(),
    };
    let names = |kind: &str| -> Vec<Value> {
        tags.iter()
            .filter(|t| str_at(t, "type") == Some(kind))
            .filter_map(|t| str_at(t, "name"))
            .map(|name| Value::from(name.trim_start_matches('#')))
            .collect()
    };
    let hashtags = names("Hashtag");
    if !hashtags.is_empty() {
        engagement.insert("tags".into(), hashtags.into());
    }
    let mentions: Vec<Value> = tags
        .iter()
        .filter(|t| str_at(t, "type") == Some("Mention"))
        .map(|t| json!({"name": str_at(t, "name"), "url": str_at(t, "href")}))
        .collect();
    if !mentions.is_empty() {
        engagement.insert("mentions".into(), mentions.into());
    }
}

/// A `Question`: options with their vote counts, whether several may be chosen, when it
/// ends and how many voted.
fn poll(object: &Value) -> Value {
    let multiple = object.get("anyOf").is_some_and(Value::is_array);
    let options: Vec<Value> = object
        .get(if multiple { "anyOf" } else { "oneOf" })
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|option| {
            json!({
                "title": str_at(option, "name"),
                "votes": option.get("replies").and_then(|r| r.get("totalItems")),
            })
        })
        .collect();
    json!({
        "options": options,
        "multiple": multiple,
        "ends_at": str_at(object, "endTime").and_then(parse_date),
        "closed": object.get("closed").filter(|c| !c.is_null()),
        "voters_count": object.get("votersCount"),
    })
}

/// The media of a status, and what the archive says of each (alt text, type, size).
fn attachments(object: &Value) -> (Vec<MediaRef>, Vec<Value>) {
    let list: Vec<&Value> = match object.get("attachment") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let mut media = Vec::new();
    let mut described = Vec::new();
    for attachment in list {
        let Some(url) = str_at(attachment, "url").and_then(attachment_url) else {
            continue;
        };
        let media_type = str_at(attachment, "mediaType");
        let kind = media_type
            .and_then(kind_of_type)
            .or_else(|| media_kind(&url));
        let alt = str_at(attachment, "name").filter(|n| !n.trim().is_empty());
        described.push(json!({
            "url": url,
            "alt": alt,
            "media_type": media_type,
            "width": attachment.get("width"),
            "height": attachment.get("height"),
            "blurhash": str_at(attachment, "blurhash"),
        }));
        media.push(MediaRef {
            url,
            kind: kind.map(String::from),
        });
    }
    (media, described)
}

/// The URL an attachment's file is stored under: `archive:mastodon/media_attachments/…`
/// for a file in the export (see the module comment), the URL itself for a web address.
pub fn attachment_url(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Some(url.to_string());
    }
    Some(match url.find(MEDIA_DIR) {
        Some(at) => format!("{ARCHIVE_PREFIX}{}", &url[at..]),
        None => format!("{ARCHIVE_PREFIX}{}", url.trim_start_matches('/')),
    })
}

fn kind_of_type(media_type: &str) -> Option<&'static str> {
    match media_type.split('/').next()? {
        "image" => Some("image"),
        "video" => Some("video"),
        "audio" => Some("audio"),
        _ => None,
    }
}

/// `@name@host` of the account: from the embedded actor, else from its URL.
fn author(activity: &Value) -> Option<String> {
    match activity.get("actor")? {
        Value::String(url) => author_from_url(url),
        actor => {
            let id = str_at(actor, "id")?;
            match str_at(actor, "preferredUsername") {
                Some(name) => {
                    let host = url::Url::parse(id).ok()?.host_str()?.to_string();
                    Some(format!("@{name}@{host}"))
                }
                None => author_from_url(id),
            }
        }
    }
}

/// `https://host/users/alice` → `@alice@host`; another shape of URL is kept as it is.
pub fn author_from_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let segments: Vec<&str> = parsed.path_segments()?.filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["users", name] => Some(format!("@{name}@{host}")),
        [name] if name.starts_with('@') => Some(format!("{name}@{host}")),
        _ => Some(url.to_string()),
    }
}

fn parse_date(value: &str) -> Option<i64> {
    OffsetDateTime::parse(value.trim(), &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Block elements: each ends a paragraph (or a line, for `li`) in the plain text.
const BLOCK_TAGS: &[&str] = &[
    "p",
    "br",
    "li",
    "div",
    "blockquote",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
];

/// The plain text of a status's HTML: an HTML parser (ammonia's html5ever) drops every
/// tag but the block ones and decodes all entities; paragraphs and line breaks become
/// blank lines and newlines. Mastodon's hidden link parts (`<span class="invisible">`)
/// stay, so links read in full.
pub fn html_to_text(html: &str) -> String {
    let cleaned = ammonia::Builder::empty()
        .tags(BLOCK_TAGS.iter().copied().collect())
        .generic_attributes(HashSet::new())
        .link_rel(None)
        .clean(html)
        .to_string();
    // The serializer escapes `<` in text, so each `<` left opens one of BLOCK_TAGS.
    let mut text = String::with_capacity(cleaned.len());
    let mut rest = cleaned.as_str();
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        let closing = tag.starts_with('/');
        let name = tag
            .trim_start_matches('/')
            .split([' ', '/'])
            .next()
            .unwrap_or("");
        match (name, closing) {
            ("br", _) | ("li", true) => text.push('\n'),
            (_, true) => text.push_str("\n\n"),
            _ => {}
        }
        rest = &rest[lt + gt + 1..];
    }
    text.push_str(rest);
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    tidy_lines(&text)
}

/// Trims each line, and keeps at most one blank line between paragraphs.
fn tidy_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ids() {
        let id = |s| status_id(s);
        assert_eq!(
            id("https://indieweb.social/users/alice/statuses/109876543210").as_deref(),
            Some("109876543210")
        );
        assert_eq!(
            id("https://indieweb.social/users/alice/statuses/109876543211/activity").as_deref(),
            Some("109876543211")
        );
        assert_eq!(
            id("https://pleroma.example/objects/6d1c1a3e-7f3b").as_deref(),
            Some("6d1c1a3e-7f3b")
        );
        assert_eq!(id("https:"), None);
    }

    #[test]
    fn attachment_urls_meet_file_urls() {
        let file = file_url("archive-2024/media_attachments/files/109/1/original/x.jpeg");
        assert_eq!(
            attachment_url("/indiewebsocial/media_attachments/files/109/1/original/x.jpeg"),
            file
        );
        assert_eq!(
            attachment_url("/media_attachments/files/109/1/original/x.jpeg"),
            file
        );
        assert_eq!(
            file.as_deref(),
            Some("archive:mastodon/media_attachments/files/109/1/original/x.jpeg")
        );
    }

    #[test]
    fn html_becomes_text() {
        let html = "<p>Hello <a href=\"https://x.example/@bob\" class=\"u-url mention\">@<span>bob</span></a> &amp; <b>friends</b> 1 &lt; 2</p><p>line one<br />line two <a href=\"https://example.com/a/long/path\"><span class=\"invisible\">https://</span><span class=\"ellipsis\">example.com/a/lo</span><span class=\"invisible\">ng/path</span></a></p><script>alert(1)</script>";
        assert_eq!(
            html_to_text(html),
            "Hello @bob & friends 1 < 2\n\nline one\nline two https://example.com/a/long/path"
        );
    }

    #[test]
    fn collection_streams_only_ordered_items() {
        let doc = br#"{"@context":["https://www.w3.org/ns/activitystreams",{"a":"b"}],"id":"outbox.json","totalItems":9,"orderedItems":[{"n":1},{"n":2},{"n":3}],"type":"OrderedCollection"}"#;
        let mut chunks = Vec::new();
        ordered_items_chunks(&doc[..], 2, |n, bytes| {
            chunks.push((n, String::from_utf8(bytes).unwrap()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            chunks,
            vec![
                (0, r#"[{"n":1},{"n":2}]"#.to_string()),
                (1, r#"[{"n":3}]"#.to_string())
            ]
        );
        let err = ordered_items_chunks(&br#"{"orderedItems":[{"n":1},{"n"#[..], 1, |_, _| Ok(()))
            .unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = ordered_items_chunks(&br#"{"items":[]}"#[..], 1, |_, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("no orderedItems"), "{err}");
    }
}
