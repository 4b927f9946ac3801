//! What Meta's two "Download your information" exports, Instagram's and Facebook's, have in
//! common: text written as mojibake, records without ids, media paths relative to the
//! export's root, and JSON files of records that can be large enough to need streaming.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Read;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Archive, Entry, Sink, chunk_id, json_array_chunks, media_kind};
use crate::connectors::{MediaRef, RawItem, RawPost};
use crate::platform::Platform;

/// Records per raw item: small enough for the pipeline's batches, large enough that a
/// big export is not millions of rows in `ingested_items`.
const CHUNK: usize = 1000;

/// How much of an unreadable file goes to the dead letters. A JSON file of posts is a few
/// MB; one past this is kept in part (the export itself still has all of it).
const UNREADABLE_KEEP: u64 = 64 << 20;

/// Bytes read from a media file to recognise its type when its name has no extension.
const SNIFF_BYTES: u64 = 16;

/// Meta writes UTF-8 text as if each byte were a Latin-1 character: "tilføjet" arrives as
/// "tilf\u00c3\u00b8jet" and an emoji as four characters. When every character of a string
/// fits in one byte, those bytes are the original UTF-8. Anything else stays as it is: a
/// character past U+00FF means the text was never broken (or is already repaired), and
/// bytes that are not UTF-8 mean it is genuine Latin-1 ("café").
pub fn repair(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    let bytes: Option<Vec<u8>> = text
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect();
    match bytes.and_then(|b| String::from_utf8(b).ok()) {
        Some(repaired) => Cow::Owned(repaired),
        None => Cow::Borrowed(text),
    }
}

/// `repair` on every string of a JSON value, object keys included (Meta localises some keys,
/// and they carry the same mojibake).
pub fn repair_value(value: &mut Value) {
    match value {
        Value::String(text) => {
            if let Cow::Owned(repaired) = repair(text) {
                *text = repaired;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(repair_value),
        Value::Object(map) => {
            if map.keys().any(|k| !k.is_ascii()) {
                let fields = std::mem::take(map);
                for (key, field) in fields {
                    map.insert(repair(&key).into_owned(), field);
                }
            }
            map.values_mut().for_each(repair_value);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Unix seconds from a number or a string of digits; Meta writes 0 for "unknown".
pub fn timestamp(value: &Value) -> Option<i64> {
    let seconds = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    seconds.filter(|s| *s > 0)
}

/// A number from a number or a numeric string (exif values come as either).
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

/// For serde: a timestamp field that may be a number, a string, null or absent.
pub fn lenient_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .as_ref()
        .and_then(timestamp))
}

/// For serde: a text field; anything but a string (null, a number) counts as absent.
pub fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        _ => None,
    })
}

/// For serde: a number field that may be a number or a numeric string.
pub fn lenient_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.as_ref().and_then(number))
}

/// A short, stable digest of some text, for ids built from content.
pub fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// The records of an item (`what`, for the error) as raw posts: each repaired, given the id
/// `id_of` derives from it (`None`: not a post), made unique within the item.
pub fn split_records(
    payload: &[u8],
    what: &str,
    mut id_of: impl FnMut(&Value) -> Result<Option<String>>,
) -> Result<Vec<RawPost>> {
    let records: Vec<Value> = serde_json::from_slice(payload)
        .with_context(|| format!("{what} is not a JSON array of records"))?;
    let mut seen = HashSet::new();
    let mut posts = Vec::with_capacity(records.len());
    for mut record in records {
        repair_value(&mut record);
        let Some(id) = id_of(&record)? else {
            continue;
        };
        posts.push(RawPost::new(unique_id(&mut seen, id), &record));
    }
    Ok(posts)
}

/// `id`, or `id#2`, `id#3`… when an item already gave it: two records that derive the same
/// id both stay, in file order, which is the same every time the export is read.
pub fn unique_id(seen: &mut HashSet<String>, id: String) -> String {
    if seen.insert(id.clone()) {
        return id;
    }
    let mut n = 2;
    loop {
        let candidate = format!("{id}#{n}");
        if seen.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

/// A media path as the export writes it, without a leading `./` or `/`.
fn clean_uri(uri: &str) -> &str {
    let mut uri = uri.trim();
    loop {
        if let Some(rest) = uri.strip_prefix("./") {
            uri = rest;
        } else if let Some(rest) = uri.strip_prefix('/') {
            uri = rest;
        } else {
            return uri;
        }
    }
}

fn is_web(uri: &str) -> bool {
    let lower = uri.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// The URL a media file is stored under: the address itself when the export gives a web
/// one (a thumbnail on Meta's CDN), else `archive:<platform>/<uri>`. The uri is relative to
/// the export's root, so the URL is the same whatever top folder the export was unpacked in.
pub fn media_url(platform: Platform, uri: &str) -> String {
    if is_web(uri) {
        uri.trim().to_string()
    } else {
        format!("archive:{}/{}", platform.id(), clean_uri(uri))
    }
}

/// The file name without folders and extension. Meta names media files after its own media
/// ids (`<digits>_n_<id>.jpg`), so this stays the same from one export to the next, while
/// folders (Facebook's `<Album>_<random>/`) do not.
pub fn file_stem(uri: &str) -> &str {
    let name = clean_uri(uri).rsplit('/').next().unwrap_or_default();
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    }
}

/// The kind of a media file from its name, else from which metadata Meta recorded for it
/// (`photo_metadata` or `video_metadata`): some exports have uris without an extension.
pub fn kind_of(uri: &str, metadata: Option<&Value>) -> Option<&'static str> {
    media_kind(clean_uri(uri)).or_else(|| {
        let metadata = metadata?.as_object()?;
        if metadata.contains_key("video_metadata") {
            Some("video")
        } else if metadata.contains_key("photo_metadata") {
            Some("image")
        } else {
            None
        }
    })
}

/// The kind of a media file from its first bytes, for files named without an extension.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    let at = |range: std::ops::Range<usize>, magic: &[u8]| head.get(range) == Some(magic);
    if head.starts_with(b"\xFF\xD8\xFF")
        || head.starts_with(b"\x89PNG")
        || head.starts_with(b"GIF8")
        || (head.starts_with(b"RIFF") && at(8..12, b"WEBP"))
    {
        return Some("image");
    }
    if at(4..8, b"ftyp") {
        return match head.get(8..12)? {
            b"heic" | b"heix" | b"mif1" | b"msf1" | b"avif" => Some("image"),
            b"M4A " | b"M4B " => Some("audio"),
            _ => Some("video"),
        };
    }
    if head.starts_with(b"\x1A\x45\xDF\xA3") {
        return Some("video");
    }
    if head.starts_with(b"ID3") {
        return Some("audio");
    }
    None
}

/// A media file a record refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaFile {
    pub uri: String,
    pub kind: Option<&'static str>,
}

/// The media of a post, under the URLs `MediaCopier` stores the files at.
pub fn media_refs(platform: Platform, files: Vec<MediaFile>) -> Vec<MediaRef> {
    files
        .into_iter()
        .map(|f| MediaRef {
            url: media_url(platform, &f.uri),
            kind: f.kind.map(str::to_string),
        })
        .collect()
}

/// Streams every file of the export that `content_of` says holds content (of kind `C`)
/// into raw items of `content_type(C)`, and copies the media files its records name
/// (`media_of`, given each repaired record; see `stream_records`).
pub fn read_content<C: Copy>(
    archive: &mut Archive,
    platform: Platform,
    content_of: impl Fn(&str) -> Option<C>,
    content_type: impl Fn(C) -> &'static str,
    mut media_of: impl FnMut(C, Value) -> Vec<MediaFile>,
    out: &mut dyn Sink,
) -> Result<()> {
    let files: Vec<_> = archive
        .entries()
        .iter()
        .filter_map(|e| content_of(&e.path).map(|c| (e.clone(), c)))
        .collect();
    let mut copier = MediaCopier::new(platform, archive);
    for (entry, content) in files {
        let mut media = Vec::new();
        stream_records(archive, &entry, content_type(content), out, |record| {
            media.extend(media_of(content, record));
        })?;
        copier.copy(archive, &entry.path, media, out)?;
    }
    copier.report(out);
    Ok(())
}

/// Whether the export holds private conversations (Messenger, Instagram direct messages),
/// which Lifeboat does not import.
pub fn has_messages(archive: &Archive) -> bool {
    archive.entries().iter().any(|e| {
        let in_inbox = e.path.starts_with("messages/inbox/") || e.path.contains("/messages/inbox/");
        in_inbox && e.name().starts_with("message_") && e.name().ends_with(".json")
    })
}

/// Streams a JSON file of records (a bare array, or one wrapped in an object such as
/// `{"ig_stories": [...]}`) into raw items of `CHUNK` records, and hands each record,
/// repaired, to `inspect` (to collect its media files). A file that stops being JSON goes
/// to `out.unreadable` after the records before the fault; only a failing sink is an error.
pub fn stream_records(
    archive: &mut Archive,
    entry: &Entry,
    content_type: &str,
    out: &mut dyn Sink,
    mut inspect: impl FnMut(Value),
) -> Result<()> {
    let mut sink_failed = None;
    let outcome = archive.open_entry(entry).and_then(|reader| {
        json_array_chunks(reader, CHUNK, |n, bytes| {
            if let Ok(Value::Array(records)) = serde_json::from_slice::<Value>(&bytes) {
                for mut record in records {
                    repair_value(&mut record);
                    inspect(record);
                }
            }
            let item = RawItem {
                external_id: chunk_id(&entry.path, n, &bytes),
                content_type: content_type.to_string(),
                source_url: Some(entry.path.clone()),
                payload: bytes,
            };
            out.item(item).map_err(|e| {
                sink_failed = Some(e);
                anyhow!("stopped")
            })
        })
    });
    match (outcome, sink_failed) {
        (_, Some(e)) => Err(e),
        (Ok(()), None) => Ok(()),
        (Err(e), None) => keep_unreadable(archive, entry, &format!("{e:#}"), out),
    }
}

/// Sends a file that cannot be read as records to the dead letters, as it is.
fn keep_unreadable(
    archive: &mut Archive,
    entry: &Entry,
    reason: &str,
    out: &mut dyn Sink,
) -> Result<()> {
    let mut bytes = Vec::new();
    // A file that cannot even be read again is kept as far as it goes: the reason says why.
    let _ = archive
        .open_entry(entry)
        .and_then(|r| Ok(r.take(UNREADABLE_KEEP).read_to_end(&mut bytes)?));
    let reason = if entry.size > UNREADABLE_KEEP {
        format!(
            "{reason} (only its first {} MiB are kept here)",
            UNREADABLE_KEEP >> 20
        )
    } else {
        reason.to_string()
    };
    out.unreadable(&entry.path, &reason, bytes)
}

/// Copies the media files records refer to from the export into the sink, once each.
pub struct MediaCopier {
    platform: Platform,
    /// Every entry by path: media lookups stay cheap in an export of 100,000 files.
    entries: HashMap<String, Entry>,
    copied: HashSet<String>,
    missing: usize,
}

impl MediaCopier {
    pub fn new(platform: Platform, archive: &Archive) -> MediaCopier {
        MediaCopier {
            platform,
            entries: archive
                .entries()
                .iter()
                .map(|e| (e.path.clone(), e.clone()))
                .collect(),
            copied: HashSet::new(),
            missing: 0,
        }
    }

    /// The entry a uri names. Uris are relative to the export's root, and the export may
    /// sit in a top folder, so the uri is tried against each folder that holds the JSON
    /// file, outermost first.
    fn resolve(&self, json_path: &str, uri: &str) -> Option<&Entry> {
        let uri = clean_uri(uri);
        std::iter::once(0)
            .chain(json_path.match_indices('/').map(|(i, _)| i + 1))
            .find_map(|end| self.entries.get(&format!("{}{uri}", &json_path[..end])))
    }

    /// Copies `files`, referred to from the JSON file at `json_path`. A file the export
    /// lacks is counted (see `report`); a web address is left for the downloader.
    pub fn copy(
        &mut self,
        archive: &mut Archive,
        json_path: &str,
        files: Vec<MediaFile>,
        out: &mut dyn Sink,
    ) -> Result<()> {
        for file in files {
            if is_web(&file.uri) || file.uri.trim().is_empty() {
                continue;
            }
            let url = media_url(self.platform, &file.uri);
            if self.copied.contains(&url) {
                continue;
            }
            let Some(entry) = self.resolve(json_path, &file.uri).cloned() else {
                self.missing += 1;
                self.copied.insert(url);
                continue;
            };
            let mut head = Vec::new();
            let opened = archive.open_entry(&entry).and_then(|mut reader| {
                (&mut reader).take(SNIFF_BYTES).read_to_end(&mut head)?;
                Ok(reader)
            });
            match opened {
                Ok(rest) => {
                    let kind = file.kind.or_else(|| sniff(&head));
                    let mut whole = std::io::Cursor::new(head).chain(rest);
                    out.media(&url, kind, &entry.path, &mut whole)?;
                }
                Err(_) => self.missing += 1,
            }
            self.copied.insert(url);
        }
        Ok(())
    }

    /// One line for the result page when files were missing: a person should know the
    /// posts are there but some pictures are not.
    pub fn report(&self, out: &mut dyn Sink) {
        if self.missing > 0 {
            out.skip(
                "media files",
                &format!(
                    "{} media files the export refers to are missing from it or unreadable",
                    self.missing
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mojibake_is_repaired() {
        // "Un Taxi 🇨🇱" as Meta writes it: each UTF-8 byte of the flag as its own character.
        let broken = "Un Taxi \u{f0}\u{9f}\u{87}\u{a8}\u{f0}\u{9f}\u{87}\u{b1}";
        assert_eq!(repair(broken), "Un Taxi 🇨🇱");
        assert_eq!(
            repair("Alice har tilf\u{c3}\u{b8}jet et nyt billede."),
            "Alice har tilføjet et nyt billede."
        );
    }

    #[test]
    fn text_that_is_not_mojibake_stays() {
        for text in ["plain ascii", "tilføjet", "Un Taxi 🇨🇱", "ø and 🇨🇱", ""] {
            assert_eq!(repair(text), text, "{text}");
            assert!(matches!(repair(text), Cow::Borrowed(_)));
        }
        // Genuine Latin-1: the bytes are not UTF-8, so nothing changes.
        assert_eq!(repair("café"), "café");
        assert_eq!(repair("Ã"), "Ã");
        // Repairing twice changes nothing more.
        assert_eq!(repair(&repair("tilf\u{c3}\u{b8}jet")), "tilføjet");
    }

    #[test]
    fn values_are_repaired_everywhere() {
        let mut value = json!({
            "title": "tilf\u{c3}\u{b8}jet",
            "participants": [{"name": "S\u{c3}\u{b8}ren"}],
            "S\u{c3}\u{b8}g": ["caf\u{c3}\u{a9}", 1, null, {"deep": ["\u{c3}\u{a6}"]}],
        });
        repair_value(&mut value);
        assert_eq!(
            value,
            json!({
                "title": "tilføjet",
                "participants": [{"name": "Søren"}],
                "Søg": ["café", 1, null, {"deep": ["æ"]}],
            })
        );
    }

    #[test]
    fn media_urls_and_kinds() {
        let p = Platform::Instagram;
        assert_eq!(
            media_url(p, "media/posts/202203/1_n_2.jpg"),
            "archive:instagram/media/posts/202203/1_n_2.jpg"
        );
        assert_eq!(
            media_url(p, "./media/x.jpg"),
            "archive:instagram/media/x.jpg"
        );
        assert_eq!(
            media_url(p, "https://cdn.test/a.jpg"),
            "https://cdn.test/a.jpg"
        );
        assert_eq!(file_stem("media/posts/202203/1_n_2.jpg"), "1_n_2");
        assert_eq!(
            file_stem("media/posts/202203/17940060624158613"),
            "17940060624158613"
        );
        assert_eq!(kind_of("a/b.mp4", None), Some("video"));
        let photo = json!({"photo_metadata": {"exif_data": []}});
        assert_eq!(kind_of("a/b", Some(&photo)), Some("image"));
        assert_eq!(kind_of("a/b", None), None);
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Some("image"));
        assert_eq!(sniff(b"\0\0\0\x20ftypisom\0\0\x02\0"), Some("video"));
        assert_eq!(sniff(b"\0\0\0\x20ftypheic\0\0\0\0"), Some("image"));
        assert_eq!(sniff(b"hello"), None);
    }

    #[test]
    fn lenient_numbers_and_timestamps() {
        assert_eq!(timestamp(&json!(1354805114)), Some(1354805114));
        assert_eq!(timestamp(&json!("1354805114")), Some(1354805114));
        assert_eq!(timestamp(&json!(0)), None);
        assert_eq!(number(&json!("2.970854")), Some(2.970854));
        assert_eq!(number(&json!(160)), Some(160.0));
        assert_eq!(number(&json!("1/120")), None);
    }

    #[test]
    fn repeated_ids_get_a_suffix() {
        let mut seen = HashSet::new();
        assert_eq!(unique_id(&mut seen, "a".into()), "a");
        assert_eq!(unique_id(&mut seen, "a".into()), "a#2");
        assert_eq!(unique_id(&mut seen, "a".into()), "a#3");
    }
}
