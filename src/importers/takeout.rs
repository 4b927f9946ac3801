//! Google Takeout, YouTube part: watch history, uploaded videos and comments.
//!
//! A Takeout zip holds one folder per Google product (`Takeout/<part>/...`); the YouTube
//! part is `YouTube and YouTube Music` (English), `YouTube et YouTube Music` (French), and
//! so on, and its folders and files are localized too. So the part is found by its name
//! *or* by the files in it, and each file by its name pattern or its CSV header, never by
//! its folder. Every other part gets one line on the result page.
//!
//! - `watch-history.json`: a bare array of My Activity records (`title` "Watched …" with a
//!   localized verb, `titleUrl`, `subtitles` = channel, `time`); removed or private videos
//!   have no `titleUrl`; ads (`details: [{"name": "From Google Ads"}]`) are dropped and
//!   counted. Older exports wrote YouTube Data API `youtube#playlistItem` objects instead.
//!   Streamed a thousand records per raw item; one view is one post,
//!   `watch:<videoId>:<time>`.
//! - `video metadata/videos.csv`: one row per uploaded video, keyed by YouTube's video id
//!   (the id the YouTube API gives). The video files in `videos/` are named after the
//!   title (cleaned and cut short), not the id, so rows and files are matched by title;
//!   the matched file's path is added to the row as `lifeboat:file`. A file no row names is
//!   still the person's video: it becomes a post of its own, `file:<path>`.
//! - `comments/comments.csv`: one row per comment; the text is a JSON fragment of
//!   `{"text": …}` segments.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::csv_rows::{Chunk, each_row};
use super::{Archive, Entry, Importer, Sink, chunk_id, json_array_chunks, media_kind};
use crate::connectors::{Codec, ItemRef, MediaRef, NewPost, RawItem, RawPost};
use crate::platform::Platform;

pub struct Takeout;

const WATCH_HISTORY: &str = "application/vnd.lifeboat.youtube-watch-history+json";
const COMMENTS: &str = "application/vnd.lifeboat.youtube-comments+json";
const VIDEOS: &str = "application/vnd.lifeboat.youtube-videos+json";

/// A watch-history raw item holds at most this many records.
const CHUNK: usize = 1000;

/// Added to a videos.csv row: the video file matched to it, relative to the Takeout root.
const FILE: &str = "lifeboat:file";

/// Watch history file names (without `.json`), per language.
const WATCH_HISTORY_NAMES: &[&str] = &["watch-history", "historique des vidéos regardées"];

/// Localized column names, English first.
const VIDEO_ID: &[&str] = &["Video ID", "ID vidéo"];
const VIDEO_TITLE: &[&str] = &[
    "Video Title (Original)",
    "Titre de la vidéo (d'origine)",
    "Video Title",
];
const VIDEO_DESCRIPTION: &[&str] = &["Video Description (Original)", "Video Description"];
const VIDEO_CREATED: &[&str] = &[
    "Video Create Timestamp",
    "Code temporel de création de la vidéo",
];
const VIDEO_PUBLISHED: &[&str] = &["Video Publish Timestamp"];
const CHANNEL_ID: &[&str] = &["Channel ID", "ID de la chaîne"];
const COMMENT_ID: &[&str] = &["Comment ID"];
const COMMENT_TEXT: &[&str] = &["Comment Text"];
const COMMENT_CREATED: &[&str] = &["Comment Create Timestamp"];
const PARENT_COMMENT_ID: &[&str] = &["Parent Comment ID"];
const POST_ID: &[&str] = &["Post ID"];

/// The localized verb in front of a watched title.
const WATCH_VERBS: &[&str] = &["Watched ", "Viewed ", "Vous avez regardé "];

impl Codec for Takeout {
    fn platform(&self) -> Platform {
        Platform::Youtube
    }

    fn split(&self, item: &ItemRef) -> Result<Vec<RawPost>> {
        let records: Vec<Value> =
            serde_json::from_slice(item.payload).context("YouTube records are not a JSON array")?;
        let id_of: fn(&Value) -> Option<String> = match item.content_type {
            WATCH_HISTORY => |v| (!is_ad(v)).then(|| watch_id(v)),
            COMMENTS => |v| Some(column(v.as_object()?, COMMENT_ID)?.to_string()),
            VIDEOS => video_post_id,
            other => bail!("not a YouTube Takeout item: {other}"),
        };
        Ok(records
            .into_iter()
            .filter_map(|record| Some(RawPost::new(id_of(&record)?, &record)))
            .collect())
    }

    fn normalize(&self, raw: &RawPost) -> Result<NewPost> {
        let payload = raw.value()?;
        let record = payload
            .as_object()
            .ok_or_else(|| anyhow!("YouTube record {} is not an object", raw.platform_post_id))?;
        if raw.platform_post_id.starts_with("watch:") {
            Ok(normalize_view(record))
        } else if column(record, COMMENT_ID).is_some() {
            Ok(normalize_comment(record))
        } else if column(record, VIDEO_ID).is_some() || column(record, &[FILE]).is_some() {
            Ok(normalize_video(record))
        } else {
            bail!(
                "YouTube record {} is neither a view, a comment nor a video",
                raw.platform_post_id
            )
        }
    }
}

impl Importer for Takeout {
    fn format_name(&self) -> &'static str {
        "Google Takeout (YouTube)"
    }

    fn detect(&self, archive: &mut Archive) -> bool {
        Layout::of(archive).is_some_and(|layout| layout.has_youtube_data())
    }

    fn read(&self, archive: &mut Archive, out: &mut dyn Sink) -> Result<()> {
        let layout = Layout::of(archive).context("no Google Takeout found")?;
        for part in &layout.other_parts {
            out.skip(
                part,
                &format!("Takeout part {part} is not supported; only YouTube is imported"),
            );
        }
        read_watch_history(archive, &layout.history, out)?;
        for entry in &layout.comments {
            read_csv(archive, entry, COMMENTS, out, |_| {})?;
        }
        let mut files = VideoFiles::new(&layout.video_files, &layout.root);
        for entry in &layout.video_metadata {
            read_csv(archive, entry, VIDEOS, out, |row| files.claim(row))?;
        }
        files.emit_unclaimed(&layout.youtube, out)?;
        for entry in &layout.video_files {
            let url = archive_url(relative(&entry.path, &layout.root));
            let mut reader = archive.open_entry(entry)?;
            out.media(&url, Some("video"), &entry.path, &mut reader)?;
        }
        for (folder, reason) in &layout.not_imported {
            out.skip(folder, reason);
        }
        Ok(())
    }
}

/// Where things are in the export.
#[derive(Default)]
struct Layout {
    /// The prefix up to and including `Takeout/` (empty when the export is unpacked
    /// below it): `archive:` URLs are relative to it, whatever folder the export sits in.
    root: String,
    /// The YouTube part's folder, with its trailing `/`.
    youtube: String,
    history: Vec<Entry>,
    comments: Vec<Entry>,
    video_metadata: Vec<Entry>,
    video_files: Vec<Entry>,
    /// Folders of the YouTube part not imported, and why.
    not_imported: BTreeMap<String, String>,
    other_parts: BTreeSet<String>,
}

impl Layout {
    /// The export's layout, or None when it holds no YouTube part.
    fn of(archive: &mut Archive) -> Option<Layout> {
        let entries = archive.entries().to_vec();
        let root = takeout_root(&entries);
        let mut parts: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        for entry in &entries {
            let Some(rest) = entry.path.strip_prefix(&root) else {
                continue;
            };
            // Files right in the Takeout folder (archive_browser.html) belong to no part.
            let part = rest.split_once('/').map_or("", |(part, _)| part);
            parts.entry(part).or_default().push(entry);
        }
        let youtube = parts.iter().find_map(|(part, entries)| {
            let named = part.to_lowercase().starts_with("youtube");
            (named || entries.iter().any(|e| is_youtube_file(e.name()))).then_some(*part)
        })?;
        let mut layout = Layout {
            youtube: if youtube.is_empty() {
                root.clone()
            } else {
                format!("{root}{youtube}/")
            },
            root: root.clone(),
            ..Layout::default()
        };
        for (part, _) in parts
            .iter()
            .filter(|(p, _)| !p.is_empty() && **p != youtube)
        {
            layout.other_parts.insert(part.to_string());
        }
        for entry in parts.remove(youtube).unwrap_or_default() {
            layout.place(archive, entry);
        }
        Some(layout)
    }

    /// Inside a `Takeout/` folder, a YouTube part with anything to import; elsewhere
    /// (the export unpacked below it), a YouTube file no other export has.
    fn has_youtube_data(&self) -> bool {
        let records = !(self.history.is_empty()
            && self.comments.is_empty()
            && self.video_metadata.is_empty());
        records || (!self.root.is_empty() && !self.video_files.is_empty())
    }

    /// Sorts one file of the YouTube part by what it holds.
    fn place(&mut self, archive: &mut Archive, entry: &Entry) {
        let name = entry.name().to_lowercase();
        if name == "archive_browser.html" {
            return;
        }
        if is_watch_history(&name, ".json") {
            return self.history.push(entry.clone());
        }
        if media_kind(&name) == Some("video") {
            return self.video_files.push(entry.clone());
        }
        if name.ends_with(".csv") {
            let header = csv_header(archive, entry);
            let has = |names: &[&str]| {
                header
                    .iter()
                    .any(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
            };
            if has(COMMENT_ID) && has(COMMENT_TEXT) {
                return self.comments.push(entry.clone());
            }
            if has(VIDEO_ID) && has(VIDEO_TITLE) && has(VIDEO_CREATED) {
                return self.video_metadata.push(entry.clone());
            }
        }
        let folder = match entry.path[self.youtube.len()..].rsplit_once('/') {
            Some((folder, _)) => format!("{}{folder}", self.youtube),
            None => entry.path.clone(),
        };
        let reason = if is_watch_history(&name, ".html") {
            "watch history exported as HTML is not imported; choose JSON as the history \
             format in Takeout to import it"
                .to_string()
        } else {
            "not imported; only YouTube watch history, uploaded videos and comments are".into()
        };
        self.not_imported.entry(folder).or_insert(reason);
    }
}

/// The prefix through the `Takeout/` folder (a person may zip it inside another folder),
/// or `""` when the export was unpacked below it.
fn takeout_root(entries: &[Entry]) -> String {
    entries
        .iter()
        .find_map(|e| {
            let at = if e.path.starts_with("Takeout/") {
                0
            } else {
                e.path.find("/Takeout/")? + 1
            };
            Some(e.path[..at + "Takeout/".len()].to_string())
        })
        .unwrap_or_default()
}

/// Files only the YouTube part has, whatever its folder is called.
fn is_youtube_file(name: &str) -> bool {
    let name = name.to_lowercase();
    is_watch_history(&name, ".json")
        || is_watch_history(&name, ".html")
        || name.starts_with("search-history.")
}

fn is_watch_history(lower_name: &str, extension: &str) -> bool {
    lower_name
        .strip_suffix(extension)
        .is_some_and(|stem| WATCH_HISTORY_NAMES.iter().any(|n| stem.starts_with(n)))
}

/// The column names of a CSV entry (empty when it cannot be read).
fn csv_header(archive: &mut Archive, entry: &Entry) -> Vec<String> {
    let Ok(reader) = archive.open_entry(entry) else {
        return Vec::new();
    };
    let mut csv = csv::ReaderBuilder::new().from_reader(reader.take(16 << 10));
    match csv.byte_headers() {
        Ok(headers) => headers
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_string()
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Streams the watch history files, a thousand records per raw item, ads left out and
/// counted on one line.
fn read_watch_history(archive: &mut Archive, files: &[Entry], out: &mut dyn Sink) -> Result<()> {
    let mut ads = 0usize;
    for entry in files {
        let outcome = {
            let reader = archive.open_entry(entry)?;
            json_array_chunks(reader, CHUNK, |n, chunk| {
                let (kept, dropped) = without_ads(&chunk)?;
                ads += dropped;
                match kept {
                    Some(payload) => out.item(RawItem {
                        external_id: chunk_id(&entry.path, n, &payload),
                        content_type: WATCH_HISTORY.into(),
                        source_url: Some(entry.path.clone()),
                        payload,
                    }),
                    None => Ok(()),
                }
            })
        };
        if let Err(error) = outcome {
            let reason = format!("not a readable watch history: {error:#}");
            out.unreadable(&entry.path, &reason, archive.readable_part(entry))?;
        }
    }
    if ads > 0 {
        out.skip(
            "watch history",
            &format!("{ads} ads (\"From Google Ads\") are not imported"),
        );
    }
    Ok(())
}

/// A chunk without its ad records (each kept record's bytes as they were), and how many
/// ads there were. None when nothing is left.
fn without_ads(chunk: &[u8]) -> Result<(Option<Vec<u8>>, usize)> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        details: Vec<Detail>,
    }
    #[derive(Deserialize)]
    struct Detail {
        name: Option<String>,
    }
    let records: Vec<&RawValue> = serde_json::from_slice(chunk)?;
    let mut kept = Vec::with_capacity(chunk.len());
    let mut ads = 0;
    for record in records {
        let probe: Option<Probe> = serde_json::from_str(record.get()).ok();
        let ad = probe.is_some_and(|p| {
            p.details
                .iter()
                .any(|d| d.name.as_deref().is_some_and(|n| n.contains("Google Ads")))
        });
        if ad {
            ads += 1;
            continue;
        }
        kept.push(if kept.is_empty() { b'[' } else { b',' });
        kept.extend_from_slice(record.get().as_bytes());
    }
    if kept.is_empty() {
        return Ok((None, ads));
    }
    kept.push(b']');
    Ok((Some(kept), ads))
}

fn is_ad(record: &Value) -> bool {
    record["details"].as_array().is_some_and(|details| {
        details
            .iter()
            .any(|d| d["name"].as_str().is_some_and(|n| n.contains("Google Ads")))
    })
}

/// Streams a CSV into raw items of row objects; `each` sees (and may add to) every row.
/// A file that stops being CSV goes to the dead letters; rows before the fault are kept.
fn read_csv(
    archive: &mut Archive,
    entry: &Entry,
    content_type: &str,
    out: &mut dyn Sink,
    mut each: impl FnMut(&mut Map<String, Value>),
) -> Result<()> {
    let outcome = {
        let reader = archive.open_entry(entry)?;
        emit_rows(reader, entry, content_type, out, &mut each)
    };
    if let Err(error) = outcome {
        let reason = format!("not a readable CSV file: {error:#}");
        out.unreadable(&entry.path, &reason, archive.readable_part(entry))?;
    }
    Ok(())
}

fn emit_rows(
    reader: impl Read,
    entry: &Entry,
    content_type: &str,
    out: &mut dyn Sink,
    each: &mut dyn FnMut(&mut Map<String, Value>),
) -> Result<()> {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let headers: Vec<String> = csv
        .byte_headers()?
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_string()
        })
        .collect();
    let mut chunk = Chunk::default();
    each_row(&mut csv, &headers, |mut row| {
        each(&mut row);
        chunk.add(&row, &entry.path, content_type, out)
    })?;
    chunk.emit(&entry.path, content_type, out)
}

/// The uploaded video files, matched to videos.csv rows by title.
struct VideoFiles {
    files: Vec<VideoFile>,
    /// Files by title key, lowest counter first.
    by_key: HashMap<String, Vec<usize>>,
}

struct VideoFile {
    /// Relative to the Takeout root.
    path: String,
    /// The title key of the name without Takeout's counter, and of the whole name.
    key: String,
    whole_key: String,
    claimed: bool,
}

/// A shorter file key can only be a cut-off title if it is this long; below that, a
/// prefix says too little.
const MIN_CUT_KEY: usize = 16;

impl VideoFiles {
    fn new(entries: &[Entry], root: &str) -> VideoFiles {
        let mut files: Vec<(u32, VideoFile)> = entries
            .iter()
            .map(|e| {
                let (stem, counter) = stem_and_counter(e.name());
                let file = VideoFile {
                    path: relative(&e.path, root).to_string(),
                    key: title_key(stem),
                    whole_key: title_key(e.name().rsplit_once('.').map_or(e.name(), |(s, _)| s)),
                    claimed: false,
                };
                (counter, file)
            })
            .collect();
        files.sort_by(|a, b| (&a.1.key, a.0).cmp(&(&b.1.key, b.0)));
        let files: Vec<VideoFile> = files.into_iter().map(|(_, f)| f).collect();
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, file) in files.iter().enumerate() {
            by_key.entry(file.key.clone()).or_default().push(i);
            // A title that ends in "(2)" looks like a counter; its whole name is a key too.
            if file.whole_key != file.key {
                by_key.entry(file.whole_key.clone()).or_default().push(i);
            }
        }
        VideoFiles { files, by_key }
    }

    /// Gives a videos.csv row the first unclaimed file named after its title: the same
    /// title, else a file name YouTube cut short.
    fn claim(&mut self, row: &mut Map<String, Value>) {
        let Some(title) = column(row, VIDEO_TITLE) else {
            return;
        };
        let key = title_key(title);
        let exact = self.by_key.get(&key).and_then(|ids| {
            let mut free = ids.iter().copied().filter(|&i| !self.files[i].claimed);
            // Lowest counter first: ids were added in (key, counter) order, but a whole
            // key may have been added out of it.
            free.clone()
                .find(|&i| self.files[i].key == key)
                .or_else(|| free.next())
        });
        let found = exact.or_else(|| {
            self.files.iter().position(|f| {
                !f.claimed && f.key.chars().count() >= MIN_CUT_KEY && key.starts_with(&f.key)
            })
        });
        if let Some(i) = found {
            self.files[i].claimed = true;
            row.insert(FILE.into(), Value::String(self.files[i].path.clone()));
        }
    }

    /// Files no row claimed: posts of their own, so no video of the person is lost.
    fn emit_unclaimed(&self, source: &str, out: &mut dyn Sink) -> Result<()> {
        let mut chunk = Chunk::default();
        for file in self.files.iter().filter(|f| !f.claimed) {
            let mut row = Map::new();
            row.insert(FILE.into(), Value::String(file.path.clone()));
            chunk.push(&row)?;
        }
        chunk.emit(&format!("{source}videos without metadata"), VIDEOS, out)
    }
}

/// ("My video", 1) from "My video(1).mp4": Takeout numbers files of equal names.
fn stem_and_counter(name: &str) -> (&str, u32) {
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    // "Best of (2020)" is a title; "Best of(1)" is Takeout's counter, glued to the name.
    if let Some(open) = stem.strip_suffix(')').and_then(|s| s.rfind('('))
        && !stem[..open].ends_with(char::is_whitespace)
        && let Ok(n) = stem[open + 1..stem.len() - 1].parse()
    {
        return (&stem[..open], n);
    }
    (stem, 0)
}

/// What survives of a title in a file name: letters and digits, lower-cased (Takeout
/// drops or replaces `\ ; | : ? ' / % * "`).
fn title_key(title: &str) -> String {
    title
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn relative<'a>(path: &'a str, root: &str) -> &'a str {
    path.strip_prefix(root).unwrap_or(path)
}

fn archive_url(relative_path: &str) -> String {
    format!("archive:youtube/{relative_path}")
}

/// A non-empty column by any of its localized names, in any case.
fn column<'a>(row: &'a Map<String, Value>, names: &[&str]) -> Option<&'a str> {
    let value = names.iter().find_map(|name| {
        row.get(*name).or_else(|| {
            row.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    })?;
    value.as_str().map(str::trim).filter(|v| !v.is_empty())
}

/// `watch:<videoId>:<time>`; `watch:unknown:<time>` for a removed video with no link.
fn watch_id(record: &Value) -> String {
    let video = watched_video(record);
    let time = record["time"]
        .as_str()
        .or(record["snippet"]["publishedAt"].as_str())
        .unwrap_or_default();
    format!("watch:{}:{time}", video.as_deref().unwrap_or("unknown"))
}

/// The id of the watched video (or post): from `titleUrl`, from a title that is only a
/// URL (removed videos), or from the old format's `contentDetails`.
fn watched_video(record: &Value) -> Option<String> {
    if let Some(id) = record["contentDetails"]["videoId"]
        .as_str()
        .or(record["snippet"]["resourceId"]["videoId"].as_str())
    {
        return Some(id.to_string());
    }
    let url = record["titleUrl"]
        .as_str()
        .map(str::to_string)
        .or_else(|| title_url(record["title"].as_str()?))?;
    video_id_in(&url)
}

/// The URL a removed video's title is reduced to ("Watched https://…").
fn title_url(title: &str) -> Option<String> {
    let rest = strip_verb(title);
    rest.starts_with("https://").then(|| rest.to_string())
}

/// `v=` of a watch URL, or the last path segment of `/shorts/…` and `/post/…`.
fn video_id_in(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if let Some((_, v)) = parsed.query_pairs().find(|(k, _)| k == "v") {
        return Some(v.into_owned());
    }
    let last = parsed.path_segments()?.next_back()?;
    (!last.is_empty()).then(|| last.to_string())
}

fn strip_verb(title: &str) -> &str {
    WATCH_VERBS
        .iter()
        .find_map(|verb| title.strip_prefix(verb))
        .unwrap_or(title)
}

fn video_post_id(row: &Value) -> Option<String> {
    let row = row.as_object()?;
    match column(row, VIDEO_ID) {
        Some(id) => Some(id.to_string()),
        None => Some(format!("file:{}", column(row, &[FILE])?)),
    }
}

fn normalize_view(record: &Map<String, Value>) -> NewPost {
    let value = Value::Object(record.clone());
    let video = watched_video(&value);
    let mut engagement = Map::new();
    if let Some(video) = &video {
        engagement.insert("video_id".into(), json!(video));
    }
    let (title, url, author, time) = match record.get("snippet") {
        // The old format: a YouTube Data API playlist item.
        Some(snippet) => (
            snippet["title"].as_str().map(str::to_string),
            video
                .as_ref()
                .map(|v| format!("https://www.youtube.com/watch?v={v}")),
            snippet["videoOwnerChannelTitle"]
                .as_str()
                .map(str::to_string),
            snippet["publishedAt"].as_str(),
        ),
        None => {
            let title = record.get("title").and_then(Value::as_str).map(strip_verb);
            let url = record
                .get("titleUrl")
                .and_then(Value::as_str)
                .map(str::to_string);
            if url.is_none() {
                engagement.insert("removed".into(), json!(true));
            }
            let channel = &record.get("subtitles").unwrap_or(&Value::Null)[0];
            if let Some(channel_url) = channel["url"].as_str() {
                engagement.insert("channel_url".into(), json!(channel_url));
            }
            for key in ["header", "products"] {
                if let Some(value) = record.get(key) {
                    engagement.insert(key.into(), value.clone());
                }
            }
            (
                title.map(str::to_string),
                url.or_else(|| title.and_then(title_url)),
                channel["name"].as_str().map(str::to_string),
                record.get("time").and_then(Value::as_str),
            )
        }
    };
    NewPost {
        kind: "view".into(),
        author,
        title,
        url,
        created_at: time.and_then(parse_time),
        engagement: Some(Value::Object(engagement)),
        ..NewPost::default()
    }
}

fn normalize_comment(row: &Map<String, Value>) -> NewPost {
    let id = column(row, COMMENT_ID).unwrap_or_default();
    let video = column(row, VIDEO_ID);
    let post = column(row, POST_ID);
    let parent = column(row, PARENT_COMMENT_ID);
    let url = match (video, post) {
        (Some(video), _) => Some(format!("https://www.youtube.com/watch?v={video}&lc={id}")),
        (None, Some(post)) => Some(format!("https://www.youtube.com/post/{post}?lc={id}")),
        (None, None) => None,
    };
    let mut engagement = Map::new();
    for (key, value) in [
        ("video_id", video),
        ("post_id", post),
        ("parent_comment_id", parent),
    ] {
        if let Some(value) = value {
            engagement.insert(key.into(), json!(value));
        }
    }
    if let Some(price) = column(row, &["Price"]).and_then(|p| p.parse::<f64>().ok()) {
        engagement.insert("price".into(), json!(price));
    }
    NewPost {
        kind: "comment".into(),
        author: column(row, CHANNEL_ID).map(str::to_string),
        text: column(row, COMMENT_TEXT)
            .map(comment_text)
            .unwrap_or_default(),
        url,
        created_at: column(row, COMMENT_CREATED).and_then(parse_time),
        engagement: Some(Value::Object(engagement)),
        // A reply answers its parent; a top-level comment, the video (or post) itself.
        reply_to: parent.or(video).or(post).map(str::to_string),
        ..NewPost::default()
    }
}

/// Comment text as Takeout writes it: `{"takeoutSegments":[{"text":…}]}` (until 2024),
/// then bare segments `{"text":…},{"text":…}`; plain text in some exports.
fn comment_text(raw: &str) -> String {
    let joined = |segments: &[Value]| -> String {
        segments.iter().filter_map(|s| s["text"].as_str()).collect()
    };
    if raw.starts_with('{') {
        if let Ok(value) = serde_json::from_str::<Value>(raw)
            && let Some(segments) = value["takeoutSegments"].as_array()
        {
            return joined(segments);
        }
        if let Ok(Value::Array(segments)) = serde_json::from_str(&format!("[{raw}]")) {
            return joined(&segments);
        }
    }
    raw.to_string()
}

fn normalize_video(row: &Map<String, Value>) -> NewPost {
    let id = column(row, VIDEO_ID);
    let file = column(row, &[FILE]);
    let mut engagement = Map::new();
    let labels = [
        ("privacy", "Privacy"),
        ("state", "Video State"),
        ("category", "Video Category"),
        ("language", "Video Audio Language"),
    ];
    for (key, name) in labels {
        if let Some(value) = column(row, &[name]) {
            engagement.insert(key.into(), json!(value));
        }
    }
    if let Some(ms) = column(row, &["Approx Duration (ms)"]).and_then(|d| d.parse::<i64>().ok()) {
        engagement.insert("duration_ms".into(), json!(ms));
    }
    let tags: Vec<&str> = row
        .iter()
        .filter(|(key, _)| key.to_lowercase().starts_with("tag "))
        .filter_map(|(_, v)| v.as_str().map(str::trim).filter(|t| !t.is_empty()))
        .collect();
    if !tags.is_empty() {
        engagement.insert("tags".into(), json!(tags));
    }
    if let Some(file) = file {
        engagement.insert("file".into(), json!(file));
    }
    let title = column(row, VIDEO_TITLE).map(str::to_string).or_else(|| {
        let name = file?.rsplit('/').next()?;
        Some(stem_and_counter(name).0.to_string())
    });
    NewPost {
        kind: "video".into(),
        author: column(row, CHANNEL_ID).map(str::to_string),
        title,
        text: column(row, VIDEO_DESCRIPTION)
            .unwrap_or_default()
            .to_string(),
        url: id.map(|id| format!("https://www.youtube.com/watch?v={id}")),
        created_at: column(row, VIDEO_CREATED)
            .or(column(row, VIDEO_PUBLISHED))
            .and_then(parse_time),
        engagement: Some(Value::Object(engagement)),
        media: file
            .map(|file| MediaRef {
                url: archive_url(file),
                kind: Some("video".into()),
            })
            .into_iter()
            .collect(),
        ..NewPost::default()
    }
}

/// RFC 3339, with or without fractions (`2023-09-19T17:42:53.434647+00:00`).
fn parse_time(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_text_forms() {
        assert_eq!(
            comment_text(r#"{"takeoutSegments":[{"text":"coalowl the legend"}]}"#),
            "coalowl the legend"
        );
        assert_eq!(
            comment_text(
                r#"{"text":"\u003e I am about"},{"text":"\n"},{"text":"@x","mention":{"externalChannelId":"UCx"}}"#
            ),
            "> I am about\n@x"
        );
        assert_eq!(comment_text("plain, text"), "plain, text");
        assert_eq!(comment_text("{not json"), "{not json");
    }

    #[test]
    fn video_file_names() {
        assert_eq!(stem_and_counter("My video(1).mp4"), ("My video", 1));
        assert_eq!(stem_and_counter("My video.mp4"), ("My video", 0));
        assert_eq!(
            stem_and_counter("Best of (2020).mp4"),
            ("Best of (2020)", 0)
        );
        assert_eq!(title_key("What's new? A/B: 50%"), "whatsnewab50");
        assert_eq!(title_key("What_s new A_B 50_"), "whatsnewab50");
    }

    #[test]
    fn watch_ids() {
        let watched = json!({"title": "Watched x", "titleUrl": "https://www.youtube.com/watch?v=abc&t=1", "time": "2024-01-01T00:00:00.123Z"});
        assert_eq!(watch_id(&watched), "watch:abc:2024-01-01T00:00:00.123Z");
        let removed = json!({"title": "Watched https://www.youtube.com/watch?v=gone", "time": "t"});
        assert_eq!(watch_id(&removed), "watch:gone:t");
        let unknown = json!({"title": "Watched a video that has been removed", "time": "t"});
        assert_eq!(watch_id(&unknown), "watch:unknown:t");
        let post = json!({"title": "Viewed x", "titleUrl": "https://www.youtube.com/post/Ugkx1", "time": "t"});
        assert_eq!(watch_id(&post), "watch:Ugkx1:t");
    }
}
