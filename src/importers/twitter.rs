//! The Twitter/X archive ("Download an archive of your data"): a zip (or its unpacked
//! folder) of `data/*.js` files, each a JavaScript assignment of one JSON array
//! (`window.YTD.tweets.part0 = [ ... ]`), plus the media of the person's tweets.
//!
//! Imported: tweets (`tweets.js` since 2022, `tweet.js` before, split into
//! `tweets-partN.js` when large), deleted tweets still in the archive, community tweets,
//! likes, and the media files of all of them. `manifest.js` lists the files and parts
//! and is read when present; names are matched too, so an archive without it still
//! imports. Everything else (direct messages, followers, ads, settings) is reported as
//! not imported.
//!
//! Tweet files are streamed in chunks of `CHUNK` elements: each chunk is one raw item,
//! kept byte for byte. The account's user name (from `account.js`, read first) rides
//! along as a content-type parameter, because tweets in the archive do not carry their
//! author; `split` puts it back where the platform's API puts it (`user.screen_name`).
//! Media files are named `<tweet id>-<key>.<ext>`; while tweets stream by, the URL
//! `normalize` gives each file's media is noted in a map of the media files' names.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::{
    Archive, Entry, Importer, Sink, check_json, chunk_id, json_array_chunks,
    json_array_chunks_checked, media_kind,
};
use crate::connectors::{
    Codec, ItemRef, MediaRef, NewPost, Normalized, RawItem, RawPost, split_then_normalize,
};
use crate::platform::Platform;
use crate::text::decode_entities;

pub struct Twitter;

/// A chunk of a tweet file: `[{"tweet": {...}}, ...]` (older archives: bare tweets).
const TWEETS: &str = "application/vnd.lifeboat.twitter-tweets+json";
/// A chunk of `like.js`: `[{"like": {"tweetId", "fullText", "expandedUrl"}}, ...]`.
const LIKES: &str = "application/vnd.lifeboat.twitter-likes+json";

/// Elements per raw item: about 2 MB of pretty-printed tweets.
const CHUNK: usize = 1000;

/// Platform post ids of likes start with this, so a like never collides with the
/// person's own tweet of the same id.
const LIKE_PREFIX: &str = "like:";

impl Codec for Twitter {
    fn platform(&self) -> Platform {
        Platform::Twitter
    }

    fn split(&self, item: &ItemRef) -> Result<Vec<RawPost>> {
        let (base, params) = parse_content_type(item.content_type);
        match base {
            TWEETS => split_tweets(item.payload, &params),
            LIKES => split_likes(item.payload),
            other => bail!("not a Twitter archive payload: {other}"),
        }
    }

    fn normalize(&self, raw: &RawPost) -> Result<NewPost> {
        if raw.platform_post_id.starts_with(LIKE_PREFIX) {
            normalize_like(raw)
        } else {
            normalize_tweet(raw)
        }
    }

    fn split_normalized(&self, item: &ItemRef) -> Result<Vec<Normalized>> {
        match parse_content_type(item.content_type) {
            (TWEETS, params) => split_normalized_tweets(item.payload, &params),
            _ => split_then_normalize(self, item),
        }
    }
}

impl Importer for Twitter {
    fn format_name(&self) -> &'static str {
        "Twitter/X archive"
    }

    fn detect(&self, archive: &mut Archive) -> bool {
        let candidates: Vec<Entry> = archive
            .entries()
            .iter()
            .filter(|e| identifying_file(e.name()))
            .take(4)
            .cloned()
            .collect();
        candidates
            .iter()
            .any(|entry| starts_like_archive_js(archive, entry))
    }

    fn read(&self, archive: &mut Archive, out: &mut dyn Sink) -> Result<()> {
        let layout = Layout::of(archive, out);
        let account = read_account(archive, &layout, out);
        let content_type = tweets_content_type(&account);
        let mut media_names = MediaNames::new(&layout.media);
        for entry in &layout.tweets {
            let check = |bytes: &[u8]| media_names.check_chunk(bytes);
            stream_file(archive, entry, &content_type, check, out)?;
        }
        for entry in &layout.likes {
            stream_file(archive, entry, LIKES, check_json, out)?;
        }
        for entry in &layout.media {
            let (url, kind) = media_names.url_for(entry);
            let mut file = archive.open_entry(entry)?;
            out.media(&url, kind.as_deref(), &entry.path, &mut file)?;
        }
        layout.report_skipped(archive, out);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Reading the export

/// A name that only a Twitter archive has, checked by content before it is believed.
fn identifying_file(name: &str) -> bool {
    matches!(name, "manifest.js" | "account.js" | "like.js")
        || matches!(
            file_stem(name),
            Some(("tweets" | "tweet" | "deleted-tweets", _))
        )
}

/// Whether an entry starts like an archive file (`window.YTD.` or `window.__THAR_CONFIG`).
fn starts_like_archive_js(archive: &mut Archive, entry: &Entry) -> bool {
    let head = head(archive, entry, 64);
    let text = String::from_utf8_lossy(&head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    text.starts_with("window.YTD.") || text.starts_with("window.__THAR_CONFIG")
}

/// The first `n` bytes of an entry (fewer if it is shorter or cannot be read).
fn head(archive: &mut Archive, entry: &Entry, n: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(n);
    if let Ok(reader) = archive.open_entry(entry) {
        let _ = reader.take(n as u64).read_to_end(&mut bytes);
    }
    bytes
}

/// Whether a data file holds an empty array (`= [ ]`, `= []`): nothing to report.
fn holds_nothing(archive: &mut Archive, entry: &Entry) -> bool {
    let head = head(archive, entry, 4096);
    let Some(open) = head.iter().position(|&b| b == b'[') else {
        return head.iter().all(u8::is_ascii_whitespace);
    };
    head[open + 1..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b']')
}

/// `tweets-part2.js` → ("tweets", 2); `tweets.js` → ("tweets", 0); not a `.js` → None.
fn file_stem(name: &str) -> Option<(&str, u32)> {
    let stem = name.strip_suffix(".js")?;
    if let Some((base, part)) = stem.rsplit_once("-part")
        && let Ok(n) = part.parse()
    {
        return Some((base, n));
    }
    Some((stem, 0))
}

/// Media folders of the tweet files (2022+: `tweets_media`, 2020: `tweet_media`).
const MEDIA_DIRS: &[&str] = &[
    "tweets_media",
    "tweet_media",
    "deleted_tweets_media",
    "community_tweet_media",
];

/// Files that hold something a person may look for, and why they are not imported.
const NOT_IMPORTED: &[(&str, &str)] = &[
    (
        "direct-messages",
        "direct messages are private messages; they are not imported",
    ),
    (
        "direct-messages-group",
        "group direct messages are private messages; they are not imported",
    ),
    ("follower", "the list of followers is not imported"),
    ("following", "the list of accounts followed is not imported"),
    ("block", "blocked accounts are not imported"),
    ("mute", "muted accounts are not imported"),
    ("lists-created", "lists are not imported"),
    (
        "note-tweet",
        "the full text of long posts (note-tweet.js) is not imported; those posts keep the text tweets.js has",
    ),
    (
        "profile",
        "the profile (bio, avatar, header) is not imported",
    ),
    ("article", "articles are not imported"),
    ("grok-chat-item", "Grok chats are not imported"),
];

/// Which entries of the export hold what.
#[derive(Default)]
struct Layout {
    account: Option<Entry>,
    manifest: Option<Entry>,
    /// Tweet files in reading order: tweets by part, then deleted and community tweets.
    tweets: Vec<Entry>,
    likes: Vec<Entry>,
    media: Vec<Entry>,
    /// Files a person may look for, and why they are not imported.
    not_imported: Vec<(Entry, &'static str)>,
    /// The folder of profile pictures, if the export has one.
    profile_media: Option<String>,
    /// Data files not imported and not worth a line each (ads, devices, settings).
    others: usize,
    /// Files `manifest.js` lists that the export does not have.
    missing: Vec<String>,
}

/// What a file of the `data/` folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Holds {
    Tweets,
    DeletedTweets,
    CommunityTweets,
    Likes,
}

impl Holds {
    fn of(base: &str) -> Option<Holds> {
        match base {
            "tweets" | "tweet" => Some(Holds::Tweets),
            "deleted-tweets" | "deleted-tweet" => Some(Holds::DeletedTweets),
            "community-tweet" => Some(Holds::CommunityTweets),
            "like" => Some(Holds::Likes),
            _ => None,
        }
    }

    /// The same, from a `manifest.js` data type.
    fn of_data_type(name: &str) -> Option<Holds> {
        match name {
            "tweets" | "tweet" => Some(Holds::Tweets),
            "deletedTweets" => Some(Holds::DeletedTweets),
            "communityTweet" => Some(Holds::CommunityTweets),
            "like" => Some(Holds::Likes),
            _ => None,
        }
    }
}

impl Layout {
    fn of(archive: &mut Archive, out: &mut dyn Sink) -> Layout {
        let mut layout = Layout::default();
        let mut data: Vec<(Holds, u32, Entry)> = Vec::new();
        for entry in archive.entries() {
            let name = entry.name();
            let parent = parent_name(&entry.path);
            if MEDIA_DIRS.contains(&parent) {
                layout.media.push(entry.clone());
                continue;
            }
            if parent == "profile_media" && layout.profile_media.is_none() {
                let folder = entry.path.rsplit_once('/').map_or("", |(dir, _)| dir);
                layout.profile_media = Some(folder.to_string());
            }
            if !(parent == "data" || parent.is_empty()) {
                continue;
            }
            let Some((base, part)) = file_stem(name) else {
                continue;
            };
            match (base, Holds::of(base)) {
                ("account", _) => layout.account = Some(entry.clone()),
                ("manifest", _) => layout.manifest = Some(entry.clone()),
                (_, Some(holds)) => data.push((holds, part, entry.clone())),
                (base, None) => match NOT_IMPORTED.iter().find(|(b, _)| *b == base) {
                    Some((_, reason)) => layout.not_imported.push((entry.clone(), reason)),
                    _ => layout.others += 1,
                },
            }
        }
        if let Some(manifest) = layout.manifest.clone() {
            layout.check_manifest(archive, &manifest, &data, out);
        }
        data.sort_by(|a, b| (a.0, a.1, &a.2.path).cmp(&(b.0, b.1, &b.2.path)));
        for (holds, _, entry) in data {
            match holds {
                Holds::Likes => layout.likes.push(entry),
                _ => layout.tweets.push(entry),
            }
        }
        layout
    }

    /// Notes the files `manifest.js` lists that are missing from the export (a partial
    /// download). A manifest that cannot be read changes nothing: names are enough.
    fn check_manifest(
        &mut self,
        archive: &mut Archive,
        manifest: &Entry,
        found: &[(Holds, u32, Entry)],
        out: &mut dyn Sink,
    ) {
        let parsed = archive
            .read_entry(manifest)
            .and_then(|bytes| parse_manifest(&bytes));
        let manifest_data = match parsed {
            Ok(m) => m,
            Err(e) => {
                out.skip(
                    &manifest.path,
                    &format!("manifest.js could not be read ({e:#}); files were found by name"),
                );
                return;
            }
        };
        for (data_type, listing) in &manifest_data.data_types {
            if Holds::of_data_type(data_type).is_none() {
                continue;
            }
            for file in &listing.files {
                let present = found
                    .iter()
                    .any(|(_, _, e)| same_file(&e.path, &file.file_name));
                if !present && file.count.as_deref() != Some("0") {
                    self.missing.push(file.file_name.clone());
                }
            }
        }
    }

    fn report_skipped(&self, archive: &mut Archive, out: &mut dyn Sink) {
        for (entry, reason) in &self.not_imported {
            if !holds_nothing(archive, entry) {
                out.skip(&entry.path, reason);
            }
        }
        if let Some(folder) = &self.profile_media {
            out.skip(folder, "profile pictures are not imported");
        }
        for path in &self.missing {
            out.skip(
                path,
                "listed in manifest.js but missing from the export; the archive may be incomplete",
            );
        }
        if self.others > 0 {
            out.skip(
                &format!("{} other data files", self.others),
                "account settings, ads, devices and similar records are not imported",
            );
        }
    }
}

/// Whether an entry path is the manifest's `fileName` (an export may sit in a folder).
fn same_file(entry_path: &str, manifest_name: &str) -> bool {
    entry_path == manifest_name || entry_path.ends_with(&format!("/{manifest_name}"))
}

/// The name of the folder an entry is in ("" at the top).
fn parent_name(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some((dir, _)) => dir.rsplit('/').next().unwrap_or(dir),
        None => "",
    }
}

/// The part of an entry path from the export's `data/` folder on, so ids do not depend
/// on the folder the export was unpacked into.
fn export_path(path: &str) -> &str {
    if path.starts_with("data/") {
        return path;
    }
    match path.find("/data/") {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// `window.__THAR_CONFIG = {...}`: the data types and their files.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    user_info: Option<UserInfo>,
    #[serde(default)]
    data_types: HashMap<String, DataType>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserInfo {
    user_name: Option<String>,
    account_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DataType {
    #[serde(default)]
    files: Vec<ManifestFile>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestFile {
    file_name: String,
    count: Option<String>,
}

fn parse_manifest(bytes: &[u8]) -> Result<Manifest> {
    let start = bytes
        .iter()
        .position(|&b| b == b'{')
        .context("no JSON object in manifest.js")?;
    let body = trim_statement_end(&bytes[start..]);
    Ok(serde_json::from_slice(body)?)
}

/// Drops trailing whitespace and a `;` after the JSON value.
fn trim_statement_end(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 0 && (bytes[end - 1].is_ascii_whitespace() || bytes[end - 1] == b';') {
        end -= 1;
    }
    &bytes[..end]
}

/// Who the archive belongs to.
#[derive(Debug, Default, Clone, PartialEq)]
struct Account {
    username: Option<String>,
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AccountElement {
    account: AccountRecord,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountRecord {
    username: Option<String>,
    account_id: Option<String>,
}

/// The account from `account.js`, else from `manifest.js`. Without either, tweets are
/// imported without an author; that is worth a line on the result page.
fn read_account(archive: &mut Archive, layout: &Layout, out: &mut dyn Sink) -> Account {
    if let Some(entry) = &layout.account {
        let parsed = archive.read_entry(entry).and_then(|bytes| {
            let mut elements: Vec<AccountElement> = Vec::new();
            json_array_chunks(&bytes[..], CHUNK, |_, chunk| {
                elements.extend(serde_json::from_slice::<Vec<AccountElement>>(&chunk)?);
                Ok(())
            })?;
            Ok(elements)
        });
        match parsed {
            Ok(elements) => {
                if let Some(first) = elements.into_iter().next() {
                    return Account {
                        username: first.account.username.filter(|u| !u.is_empty()),
                        id: first.account.account_id,
                    };
                }
            }
            Err(e) => out.skip(&entry.path, &format!("account.js could not be read: {e:#}")),
        }
    }
    let from_manifest = layout.manifest.as_ref().and_then(|m| {
        let info = archive
            .read_entry(m)
            .and_then(|b| parse_manifest(&b))
            .ok()?
            .user_info?;
        Some(Account {
            username: info.user_name,
            id: info.account_id,
        })
    });
    from_manifest.unwrap_or_else(|| {
        out.skip(
            "account.js",
            "the archive has no account.js: tweets are imported without their author's name",
        );
        Account::default()
    })
}

/// The tweets' content type, carrying the account (names are `[A-Za-z0-9_]`, ids digits;
/// anything else is left out rather than escaped).
fn tweets_content_type(account: &Account) -> String {
    let mut content_type = TWEETS.to_string();
    let plain = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if let Some(name) = account.username.as_deref().filter(|n| plain(n)) {
        content_type.push_str(&format!("; account={name}"));
    }
    if let Some(id) = account.id.as_deref().filter(|i| plain(i)) {
        content_type.push_str(&format!("; account_id={id}"));
    }
    content_type
}

/// `type; key=value; ...` → (type, params).
fn parse_content_type(content_type: &str) -> (&str, Vec<(&str, &str)>) {
    let mut parts = content_type.split(';');
    let base = parts.next().unwrap_or("").trim();
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    (base, params)
}

/// Streams one data file into raw items of `CHUNK` elements, each checked to be JSON by
/// `check` first. A file that stops being JSON goes to the dead letters whole (the chunks
/// before the fault are imported); the rest of the export goes on.
fn stream_file(
    archive: &mut Archive,
    entry: &Entry,
    content_type: &str,
    check: impl FnMut(&[u8]) -> serde_json::Result<()>,
    out: &mut dyn Sink,
) -> Result<()> {
    if entry.size == 0 {
        return Ok(());
    }
    let id_path = export_path(&entry.path).to_string();
    let mut sink_error = None;
    let outcome = {
        let reader = archive.open_entry(entry)?;
        json_array_chunks_checked(reader, CHUNK, check, |n, chunk| {
            let item = RawItem {
                external_id: chunk_id(&id_path, n, &chunk),
                content_type: content_type.to_string(),
                source_url: Some(entry.path.clone()),
                payload: chunk,
            };
            out.item(item).map_err(|e| {
                let message = format!("{e:#}");
                sink_error = Some(e);
                anyhow!(message)
            })
        })
    };
    if let Some(e) = sink_error {
        return Err(e);
    }
    if let Err(e) = outcome {
        let (payload, note) = unreadable_bytes(archive, entry)?;
        out.unreadable(&entry.path, &format!("{e:#}{note}"), payload)?;
    }
    Ok(())
}

/// The bytes of a malformed file for the dead letters, and a note if they were cut.
fn unreadable_bytes(archive: &mut Archive, entry: &Entry) -> Result<(Vec<u8>, &'static str)> {
    let payload = archive.readable_part(entry);
    let note = if entry.size > super::archive::MAX_UNREADABLE_BYTES {
        " (only its first 256 MB are kept)"
    } else {
        ""
    };
    Ok((payload, note))
}

/// The export's media files by name (`<tweet id>-<key>.<ext>`), each with the URL and
/// kind `normalize` gives it once a tweet naming it has streamed by. Only files the
/// export has are in it, so it is no larger than the media folders' listing.
struct MediaNames {
    urls: HashMap<String, Option<(String, &'static str)>>,
}

/// Just enough of a tweet element to find its media: `{"tweet": {...}}`, or a bare
/// tweet in archives before 2019.
#[derive(Deserialize)]
struct ScanElement<'a> {
    #[serde(borrow)]
    tweet: Option<ScanTweet<'a>>,
    #[serde(borrow)]
    id_str: Option<Cow<'a, str>>,
    #[serde(borrow)]
    extended_entities: Option<MediaEntities<'a>>,
    #[serde(borrow)]
    entities: Option<MediaEntities<'a>>,
}

#[derive(Deserialize)]
struct ScanTweet<'a> {
    #[serde(borrow)]
    id_str: Option<Cow<'a, str>>,
    #[serde(borrow)]
    extended_entities: Option<MediaEntities<'a>>,
    #[serde(borrow)]
    entities: Option<MediaEntities<'a>>,
}

impl MediaNames {
    fn new(media: &[Entry]) -> MediaNames {
        let urls = media.iter().map(|e| (e.name().to_string(), None)).collect();
        MediaNames { urls }
    }

    /// Checks that a chunk of tweets is JSON (see `json_array_chunks_checked`) and notes
    /// its media, with one parse. An element of an unexpected shape only loses its
    /// files' link to the tweet (they are still stored).
    fn check_chunk(&mut self, chunk: &[u8]) -> serde_json::Result<()> {
        // Chunks without media need no more than the check, nor do archives without
        // media files.
        if self.urls.is_empty() || !contains(chunk, b"\"media_url") {
            return check_json(chunk);
        }
        // One pass for the whole chunk; element by element only when one of them does
        // not look like a tweet (it is skipped, the others still count).
        let elements = match serde_json::from_slice::<Vec<ScanElement>>(chunk) {
            Ok(elements) => elements,
            Err(_) => serde_json::from_slice::<Vec<&RawValue>>(chunk)?
                .into_iter()
                .filter_map(|raw| serde_json::from_str(raw.get()).ok())
                .collect(),
        };
        for element in elements {
            let tweet = element.tweet.unwrap_or(ScanTweet {
                id_str: element.id_str,
                extended_entities: element.extended_entities,
                entities: element.entities,
            });
            let Some(id) = tweet.id_str else { continue };
            let media = tweet
                .extended_entities
                .or(tweet.entities)
                .map(|e| e.media)
                .unwrap_or_default();
            for m in &media {
                let Some(chosen) = m.chosen() else { continue };
                for key in m.file_keys(&chosen) {
                    if let Some(slot) = self.urls.get_mut(&format!("{id}-{key}")) {
                        *slot = Some((chosen.url.clone(), chosen.kind));
                    }
                }
            }
        }
        Ok(())
    }

    /// The URL a media file is stored under: the tweet's media URL when a tweet names
    /// the file, else an `archive:` URL (the file is kept, linked to no post).
    fn url_for(&self, entry: &Entry) -> (String, Option<String>) {
        let name = entry.name();
        match self.urls.get(name) {
            Some(Some((url, kind))) => (url.clone(), Some((*kind).to_string())),
            _ => (
                format!("archive:twitter/{}", export_path(&entry.path)),
                media_kind(name).map(str::to_string),
            ),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

// ---------------------------------------------------------------------------------------
// split

fn split_tweets(payload: &[u8], params: &[(&str, &str)]) -> Result<Vec<RawPost>> {
    let account = account_user(params);
    split_objects(payload, "tweet", |n, tweet| {
        tweet_raw_post(n, tweet, account.as_ref())
    })
}

/// What `split_tweets` and `normalize` make of a chunk of tweets, with one parse of each
/// tweet instead of two (the split's and the normalizer's).
fn split_normalized_tweets(payload: &[u8], params: &[(&str, &str)]) -> Result<Vec<Normalized>> {
    let account = account_user(params);
    split_objects(payload, "tweet", |n, object| {
        let Ok(tweet) = serde_json::from_str::<Tweet>(object.get()) else {
            // Not a tweet the normalizer can read: split and normalize it one after the
            // other, for the very same outcome and errors.
            let raw = tweet_raw_post(n, object, account.as_ref())?;
            let post = normalize_tweet(&raw);
            return Ok(Normalized::new(raw, post));
        };
        let id_str = tweet.id_str.as_deref().filter(|s| !s.is_empty());
        let id = tweet_id(n, id_str.map(str::to_string), tweet.id)?;
        let added = account.as_ref().filter(|_| tweet.user.is_none());
        // The author `normalize` reads from the raw post: the tweet's own user, else the
        // one `split` adds.
        let author = match &tweet.user {
            Some(user) => user.as_ref().and_then(|u| u.screen_name.as_deref()),
            None => added.map(|a| a.name),
        };
        let post = tweet_post(&tweet, &id, author);
        Ok(Normalized {
            payload: raw_post_text(object, added.map(|a| ("user", a.json.as_str()))),
            platform_post_id: id,
            post: Ok(post),
        })
    })
}

/// The account's user, as added to the tweets that have none (see `split_tweets`).
struct AccountUser<'a> {
    name: &'a str,
    /// `{"screen_name": ..., "id_str": ...}`
    json: String,
}

fn account_user<'a>(params: &[(&str, &'a str)]) -> Option<AccountUser<'a>> {
    let param = |key: &str| params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    // The account's name is added to every tweet (as the API's `user`) when the tweet
    // has none, so a raw post says whose it is on its own.
    let name = param("account")?;
    let mut user = Map::new();
    user.insert("screen_name".into(), Value::String(name.to_string()));
    if let Some(id) = param("account_id") {
        user.insert("id_str".into(), Value::String(id.to_string()));
    }
    Some(AccountUser {
        name,
        json: Value::Object(user).to_string(),
    })
}

/// The raw post of tweet `n` of a chunk, the account's user added when it has none.
fn tweet_raw_post(n: usize, tweet: &RawValue, account: Option<&AccountUser>) -> Result<RawPost> {
    let fields = element_fields(n, tweet, "tweet")?;
    let id = tweet_id(n, id_text(fields.id_str), fields.id)?;
    let user = account.filter(|_| !fields.user).map(|a| a.json.as_str());
    raw_post(id, tweet, user.map(|u| ("user", u)))
}

/// The id of tweet `n` of a chunk: its `id_str` (read, not empty), else its `id`.
fn tweet_id(n: usize, id_str: Option<String>, id: Option<&RawValue>) -> Result<String> {
    id_str
        .or_else(|| id_text(id))
        .with_context(|| format!("tweet {n} of the chunk has no id"))
}

fn split_likes(payload: &[u8]) -> Result<Vec<RawPost>> {
    split_objects(payload, "like", |n, like| {
        let fields = element_fields(n, like, "like")?;
        let id = id_text(fields.tweet_id)
            .with_context(|| format!("like {n} of the chunk has no tweetId"))?;
        raw_post(format!("{LIKE_PREFIX}{id}"), like, None)
    })
}

/// What `post` makes of each `wrapper` object (`tweet`, `like`) of a chunk, given the
/// object's number in the chunk and its text.
fn split_objects<T>(
    payload: &[u8],
    wrapper: &str,
    post: impl Fn(usize, &RawValue) -> Result<T>,
) -> Result<Vec<T>> {
    let objects = objects(payload, wrapper)
        .with_context(|| format!("a {wrapper} chunk is not a JSON array"))?;
    objects
        .into_iter()
        .enumerate()
        .map(|(n, object)| {
            let object = object.with_context(|| not_an_object(n, wrapper))?;
            post(n, object)
        })
        .collect()
}

fn not_an_object(n: usize, wrapper: &str) -> String {
    format!("element {n} of the chunk is not a {wrapper} object")
}

/// The fields split needs of object `n` of a chunk.
fn element_fields<'a>(n: usize, object: &'a RawValue, wrapper: &str) -> Result<Element<'a>> {
    serde_json::from_str(object.get()).with_context(|| not_an_object(n, wrapper))
}

/// An element of a chunk: `{"tweet": {...}}`, `{"like": {...}}`, or (archives before
/// 2019) the bare object.
#[derive(Deserialize)]
struct Wrapped<'a> {
    #[serde(borrow)]
    tweet: Option<&'a RawValue>,
    #[serde(borrow)]
    like: Option<&'a RawValue>,
}

impl<'a> Wrapped<'a> {
    fn inner(&self, wrapper: &str) -> Option<&'a RawValue> {
        match wrapper {
            "tweet" => self.tweet,
            _ => self.like,
        }
    }
}

/// What split needs of an object: values left as JSON text, so no tree of every tweet
/// is built.
#[derive(Deserialize)]
struct Element<'a> {
    #[serde(borrow)]
    id_str: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow, rename = "tweetId")]
    tweet_id: Option<&'a RawValue>,
    /// Whether the object has a `user` field (even a null one).
    #[serde(default, deserialize_with = "present")]
    user: bool,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// The objects of a chunk, each unwrapped from `wrapper` (None for an element that is
/// not an object). The usual chunk, all `{"tweet": {...}}`, takes one pass; a chunk with
/// bare objects (archives before 2019) a second.
fn objects<'a>(payload: &'a [u8], wrapper: &str) -> serde_json::Result<Vec<Option<&'a RawValue>>> {
    if let Ok(elements) = serde_json::from_slice::<Vec<Wrapped>>(payload)
        && elements.iter().all(|e| e.inner(wrapper).is_some())
    {
        return Ok(elements.iter().map(|e| e.inner(wrapper)).collect());
    }
    let elements: Vec<&RawValue> = serde_json::from_slice(payload)?;
    Ok(elements
        .into_iter()
        .map(|element| {
            let wrapped: Wrapped = serde_json::from_str(element.get()).ok()?;
            Some(wrapped.inner(wrapper).unwrap_or(element))
        })
        .collect())
}

/// A string or integer id as a string (ids are strings in the archive; an integer is
/// taken as it is written, never through f64).
fn id_text(value: Option<&RawValue>) -> Option<String> {
    let text = value?.get();
    if text.starts_with('"') {
        let id: Cow<str> = serde_json::from_str(text).ok()?;
        return (!id.is_empty()).then(|| id.into_owned());
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| text.to_string())
}

/// A raw post of an object from the export (see `raw_post_text`).
fn raw_post(id: String, object: &RawValue, extra: Option<(&str, &str)>) -> Result<RawPost> {
    let payload = match extra {
        None => object.to_owned(),
        Some(_) => {
            RawValue::from_string(raw_post_text(object, extra)).context("a raw post is not JSON")?
        }
    };
    Ok(RawPost {
        platform_post_id: id,
        payload,
    })
}

/// The JSON text of an object from the export as the chunk has it (without the export's
/// indentation, see `json_array_chunks`), with `extra` (a field name and its JSON text)
/// added first when given.
fn raw_post_text(object: &RawValue, extra: Option<(&str, &str)>) -> String {
    let Some((name, value)) = extra else {
        return object.get().to_string();
    };
    // `{` + the extra field + the object's own fields (none: its `}`).
    let rest = &object.get()[1..];
    let comma = if rest.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    format!("{{\"{name}\":{value}{comma}{rest}")
}

// ---------------------------------------------------------------------------------------
// normalize

/// A tweet as the archive (and API v1.1) has it; only what the timeline uses.
#[derive(Deserialize)]
struct Tweet<'a> {
    #[serde(borrow)]
    id_str: Option<Cow<'a, str>>,
    /// Archives before 2019 may have only this, a string or an integer.
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    full_text: Option<Cow<'a, str>>,
    /// API v1.1 without `tweet_mode=extended`.
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    created_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    deleted_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    in_reply_to_status_id_str: Option<Cow<'a, str>>,
    #[serde(borrow)]
    in_reply_to_screen_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    in_reply_to_user_id_str: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "count")]
    favorite_count: Option<i64>,
    #[serde(default, deserialize_with = "count")]
    retweet_count: Option<i64>,
    #[serde(borrow)]
    lang: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
    possibly_sensitive: Option<bool>,
    #[serde(borrow)]
    community_id_str: Option<Cow<'a, str>>,
    /// None: no `user` field; Some(None): a null one.
    #[serde(borrow, default, deserialize_with = "some")]
    user: Option<Option<User<'a>>>,
    #[serde(borrow)]
    entities: Option<Entities<'a>>,
    #[serde(borrow)]
    extended_entities: Option<MediaEntities<'a>>,
    /// API v1.1 retweets carry the original; archives do not.
    #[serde(borrow)]
    retweeted_status: Option<RetweetedStatus<'a>>,
}

#[derive(Deserialize)]
struct User<'a> {
    #[serde(borrow)]
    screen_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RetweetedStatus<'a> {
    #[serde(borrow)]
    id_str: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user: Option<User<'a>>,
}

#[derive(Default, Deserialize)]
struct Entities<'a> {
    #[serde(borrow, default)]
    urls: Vec<UrlEntity<'a>>,
    #[serde(borrow, default)]
    hashtags: Vec<Hashtag<'a>>,
    #[serde(borrow, default)]
    user_mentions: Vec<Mention<'a>>,
    #[serde(borrow, default)]
    media: Vec<Media<'a>>,
}

#[derive(Deserialize)]
struct UrlEntity<'a> {
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    expanded_url: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Hashtag<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Mention<'a> {
    #[serde(borrow)]
    screen_name: Cow<'a, str>,
}

#[derive(Default, Deserialize)]
struct MediaEntities<'a> {
    #[serde(borrow, default)]
    media: Vec<Media<'a>>,
}

#[derive(Deserialize)]
struct Media<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    /// The t.co link the tweet's text ends with.
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    media_url_https: Option<Cow<'a, str>>,
    #[serde(borrow)]
    media_url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    video_info: Option<VideoInfo<'a>>,
}

#[derive(Deserialize)]
struct VideoInfo<'a> {
    #[serde(borrow, default)]
    variants: Vec<Variant<'a>>,
}

#[derive(Deserialize)]
struct Variant<'a> {
    #[serde(default, deserialize_with = "count")]
    bitrate: Option<i64>,
    #[serde(borrow)]
    content_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    url: Cow<'a, str>,
}

/// The file a tweet's media is kept as.
struct Chosen {
    url: String,
    kind: &'static str,
}

impl Media<'_> {
    fn is_video(&self) -> bool {
        matches!(self.kind.as_deref(), Some("video" | "animated_gif"))
    }

    /// The best mp4 of a video or GIF (what the archive stores), else the image.
    fn chosen(&self) -> Option<Chosen> {
        if self.is_video() {
            let best = self
                .mp4_variants()
                .max_by_key(|v| v.bitrate.unwrap_or(0))
                .map(|v| v.url.to_string());
            if let Some(url) = best {
                return Some(Chosen { url, kind: "video" });
            }
        }
        let image = self.media_url_https.as_ref().or(self.media_url.as_ref())?;
        Some(Chosen {
            url: image.to_string(),
            kind: "image",
        })
    }

    fn mp4_variants(&self) -> impl Iterator<Item = &Variant<'_>> {
        self.video_info
            .iter()
            .flat_map(|v| &v.variants)
            .filter(|v| v.content_type.as_deref() == Some("video/mp4") || v.url.contains(".mp4"))
    }

    /// The names the archive may give this media's file after `<tweet id>-`: a photo's
    /// image name; a video's or GIF's mp4 name (of whichever variant it chose), never
    /// its thumbnail's.
    fn file_keys(&self, chosen: &Chosen) -> Vec<String> {
        if chosen.kind == "video" {
            return self
                .mp4_variants()
                .filter_map(|v| url_basename(&v.url))
                .collect();
        }
        [&self.media_url_https, &self.media_url]
            .into_iter()
            .flatten()
            .filter_map(|url| url_basename(url))
            .collect()
    }
}

/// The last path segment of a URL, without query or fragment.
fn url_basename(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let name = path.rsplit('/').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// A count the archive writes as a string ("12") and the API as a number.
fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    struct Count;
    impl de::Visitor<'_> for Count {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a count, as a number or a string")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(i64::try_from(v).ok())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v as i64))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.trim().parse().ok())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Count)
}

fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

fn normalize_tweet(raw: &RawPost) -> Result<NewPost> {
    let tweet = raw
        .parse::<Tweet>()
        .with_context(|| format!("tweet {} is not a tweet object", raw.platform_post_id))?;
    let author = tweet
        .user
        .as_ref()
        .and_then(|user| user.as_ref()?.screen_name.as_deref());
    Ok(tweet_post(&tweet, &raw.platform_post_id, author))
}

/// The post of a tweet whose raw post has id `platform_post_id`, written by `author`.
fn tweet_post(tweet: &Tweet, platform_post_id: &str, author: Option<&str>) -> NewPost {
    let id = tweet.id_str.as_deref().unwrap_or(platform_post_id);
    let no_entities = Entities::default();
    let entities = tweet.entities.as_ref().unwrap_or(&no_entities);
    let media: &[Media] = match &tweet.extended_entities {
        Some(e) if !e.media.is_empty() => &e.media,
        _ => &entities.media,
    };
    let full_text = tweet
        .full_text
        .as_deref()
        .or(tweet.text.as_deref())
        .unwrap_or("");
    let text = plain_text(full_text, &entities.urls, media);

    let retweeted_user = retweeted_user(full_text);
    let repost_of = tweet
        .retweeted_status
        .as_ref()
        .and_then(|rt| rt.id_str.as_deref())
        .map(str::to_string);
    let is_repost = repost_of.is_some() || retweeted_user.is_some();
    let reply_to = tweet
        .in_reply_to_status_id_str
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let kind = if is_repost {
        "repost"
    } else if reply_to.is_some() {
        "reply"
    } else {
        "post"
    };

    let mut engagement = Map::new();
    let mut put = |key: &str, value: Value| {
        engagement.insert(key.to_string(), value);
    };
    if let Some(n) = tweet.favorite_count {
        put("favorite_count", json!(n));
    }
    if let Some(n) = tweet.retweet_count {
        put("retweet_count", json!(n));
    }
    if let Some(lang) = tweet.lang.as_deref() {
        put("lang", json!(lang));
    }
    if let Some(source) = tweet.source.as_deref() {
        put("source", json!(source_name(source)));
    }
    if let Some(sensitive) = tweet.possibly_sensitive {
        put("possibly_sensitive", json!(sensitive));
    }
    if let Some(name) = tweet.in_reply_to_screen_name.as_deref() {
        put("in_reply_to_screen_name", json!(name));
    }
    if let Some(user) = tweet.in_reply_to_user_id_str.as_deref() {
        put("in_reply_to_user_id", json!(user));
    }
    if let Some(deleted) = tweet.deleted_at.as_deref() {
        put("deleted_at", json!(parse_date(deleted)));
    }
    if let Some(community) = tweet.community_id_str.as_deref() {
        put("community_id", json!(community));
    }
    let rt_user = tweet
        .retweeted_status
        .as_ref()
        .and_then(|rt| rt.user.as_ref())
        .and_then(|u| u.screen_name.as_deref())
        .or(retweeted_user);
    if let Some(user) = rt_user {
        put("retweeted_user", json!(user));
    }
    if !entities.hashtags.is_empty() {
        let tags: Vec<&str> = entities.hashtags.iter().map(|h| &*h.text).collect();
        put("hashtags", json!(tags));
    }
    if !entities.user_mentions.is_empty() {
        let names: Vec<&str> = entities
            .user_mentions
            .iter()
            .map(|m| &*m.screen_name)
            .collect();
        put("mentions", json!(names));
    }

    NewPost {
        kind: kind.into(),
        author: author.map(str::to_string),
        title: None,
        text,
        html: None,
        url: Some(permalink(author, id)),
        created_at: tweet.created_at.as_deref().and_then(parse_date),
        engagement: Some(Value::Object(engagement)),
        reply_to,
        repost_of,
        media: media
            .iter()
            .filter_map(Media::chosen)
            .map(|c| MediaRef {
                url: c.url,
                kind: Some(c.kind.into()),
            })
            .collect(),
    }
}

/// A like: the liked tweet's id, text and link; no author and no date in the archive.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Like<'a> {
    #[serde(borrow)]
    full_text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    expanded_url: Option<Cow<'a, str>>,
}

fn normalize_like(raw: &RawPost) -> Result<NewPost> {
    let like = raw
        .parse::<Like>()
        .with_context(|| format!("{} is not a like object", raw.platform_post_id))?;
    let tweet_id = raw
        .platform_post_id
        .strip_prefix(LIKE_PREFIX)
        .unwrap_or(&raw.platform_post_id);
    let url = like
        .expanded_url
        .as_deref()
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| permalink(None, tweet_id));
    Ok(NewPost {
        kind: "like".into(),
        text: decode_entities(like.full_text.as_deref().unwrap_or("")),
        url: Some(url),
        engagement: Some(json!({ "tweet_id": tweet_id })),
        ..NewPost::default()
    })
}

/// The tweet's text as a person reads it: entities decoded, t.co links expanded, and the
/// links to attached media (shown as media) removed.
fn plain_text(full_text: &str, urls: &[UrlEntity], media: &[Media]) -> String {
    let mut text = decode_entities(full_text);
    for u in urls {
        if let (Some(short), Some(long)) = (u.url.as_deref(), u.expanded_url.as_deref())
            && !short.is_empty()
        {
            text = text.replace(short, long);
        }
    }
    for m in media {
        if let Some(short) = m.url.as_deref().filter(|s| !s.is_empty()) {
            text = text.replace(short, "");
        }
    }
    let trimmed = text.trim_end();
    if trimmed.len() != text.len() {
        text.truncate(trimmed.len());
    }
    text
}

/// `RT @user: ...` → "user". The archive marks retweets only this way (`retweeted` is
/// always false).
fn retweeted_user(full_text: &str) -> Option<&str> {
    let rest = full_text.strip_prefix("RT @")?;
    let end = rest.find(':')?;
    let name = &rest[..end];
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name)
}

/// `<a href="..." rel="nofollow">Twitter Web App</a>` → "Twitter Web App".
fn source_name(source: &str) -> String {
    match (source.find('>'), source.rfind("</a>")) {
        (Some(start), Some(end)) if start < end => decode_entities(&source[start + 1..end]),
        _ => decode_entities(source),
    }
}

fn permalink(author: Option<&str>, id: &str) -> String {
    match author {
        Some(name) => format!("https://x.com/{name}/status/{id}"),
        None => format!("https://x.com/i/web/status/{id}"),
    }
}

/// "Fri Mar 06 13:02:05 +0000 2026" → unix seconds.
fn parse_date(text: &str) -> Option<i64> {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let classic = format_description!(
        "[weekday repr:short] [month repr:short] [day] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute] [year]"
    );
    OffsetDateTime::parse(text.trim(), classic)
        .or_else(|_| OffsetDateTime::parse(text.trim(), &Rfc3339))
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_archive_format() {
        assert_eq!(
            parse_date("Fri Mar 06 13:02:05 +0000 2026"),
            Some(1772802125)
        );
        assert_eq!(parse_date("2026-03-06T13:02:05.000Z"), Some(1772802125));
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn tweet_text_is_decoded_once_and_links_expanded() {
        let urls = [UrlEntity {
            url: Some("https://t.co/abc".into()),
            expanded_url: Some("https://example.org/?a=1&b=2".into()),
        }];
        assert_eq!(
            plain_text("a &gt; b &amp;gt; https://t.co/abc ", &urls, &[]),
            "a > b &gt; https://example.org/?a=1&b=2"
        );
    }

    #[test]
    fn file_names_and_parts() {
        assert_eq!(file_stem("tweets-part12.js"), Some(("tweets", 12)));
        assert_eq!(file_stem("tweet.js"), Some(("tweet", 0)));
        assert_eq!(file_stem("deleted-tweets.js"), Some(("deleted-tweets", 0)));
        assert_eq!(file_stem("README.txt"), None);
        assert_eq!(export_path("twitter-2026/data/tweets.js"), "data/tweets.js");
        assert_eq!(export_path("data/tweets.js"), "data/tweets.js");
        assert_eq!(parent_name("x/data/tweets_media/1-a.jpg"), "tweets_media");
    }

    #[test]
    fn retweets_are_found_by_their_prefix() {
        assert_eq!(retweeted_user("RT @elonmusk: hi"), Some("elonmusk"));
        assert_eq!(retweeted_user("RT @a b: hi"), None);
        assert_eq!(retweeted_user("hello"), None);
    }
}
