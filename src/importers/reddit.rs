//! Reddit's data request export ("Request a copy of your data"): a zip of CSV files.
//! `posts.csv` and `comments.csv` hold what the person wrote, `saved_posts.csv` and
//! `saved_comments.csv` what they saved (ids and permalinks only). `*_headers.csv` repeat
//! the rows without bodies: read only when the full file is missing. `checkfile.csv`
//! (`filename,sha256`) lists every file, so the files read are checked against it.
//!
//! Columns drift between exports (`gildings_silver`, `gildings_supergold`, `media`), so
//! every row is kept as an object of header → value and read by name. Rows go into raw
//! items a chunk at a time (a JSON array of row objects); one row is one raw post whose id
//! is Reddit's fullname (`t3_` posts, `t1_` comments), the id the Reddit API gives, so a
//! live connector later merges with imported posts. The `ip` column stays in the raw
//! payload only.

use std::collections::HashMap;
use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::csv_rows::{self, Chunk, each_row};
use super::{Archive, Entry, Importer, Sink, media_kind};
use crate::connectors::{Codec, ItemRef, MediaRef, NewPost, RawPost};
use crate::platform::Platform;
use crate::text::decode_entities;

pub struct Reddit;

const POSTS: &str = "application/vnd.lifeboat.reddit-posts+json";
const COMMENTS: &str = "application/vnd.lifeboat.reddit-comments+json";
const SAVED_POSTS: &str = "application/vnd.lifeboat.reddit-saved-posts+json";
const SAVED_COMMENTS: &str = "application/vnd.lifeboat.reddit-saved-comments+json";

/// A file of the export that holds posts.
struct Source {
    file: &'static str,
    /// The same rows without bodies, used only when `file` is missing.
    headers_file: Option<&'static str>,
    content_type: &'static str,
}

const SOURCES: &[Source] = &[
    Source {
        file: "posts.csv",
        headers_file: Some("post_headers.csv"),
        content_type: POSTS,
    },
    Source {
        file: "comments.csv",
        headers_file: Some("comment_headers.csv"),
        content_type: COMMENTS,
    },
    Source {
        file: "saved_posts.csv",
        headers_file: None,
        content_type: SAVED_POSTS,
    },
    Source {
        file: "saved_comments.csv",
        headers_file: None,
        content_type: SAVED_COMMENTS,
    },
];

/// Files a person may expect to see imported, and why they are not.
const NOT_IMPORTED: &[(&str, &str)] = &[
    ("messages.csv", "direct messages are not imported"),
    ("messages_archive.csv", "direct messages are not imported"),
    ("chat_history.csv", "chats are not imported"),
    (
        "statistics.csv",
        "account details (e-mail address and the like) are not imported",
    ),
    ("ip_logs.csv", "the log of IP addresses is not imported"),
    ("post_votes.csv", "votes are not imported"),
    ("comment_votes.csv", "votes are not imported"),
];

/// Names only Reddit's export uses; two of them in one folder make it a Reddit export.
const ANCHORS: &[&str] = &[
    "checkfile.csv",
    "comment_headers.csv",
    "post_headers.csv",
    "saved_posts.csv",
    "saved_comments.csv",
    "subscribed_subreddits.csv",
    "post_votes.csv",
    "comment_votes.csv",
    "hidden_posts.csv",
    "message_headers.csv",
];

impl Codec for Reddit {
    fn platform(&self) -> Platform {
        Platform::Reddit
    }

    fn split(&self, item: &ItemRef) -> Result<Vec<RawPost>> {
        let prefix = match item.content_type {
            POSTS => "t3_",
            COMMENTS => "t1_",
            SAVED_POSTS => "saved:t3_",
            SAVED_COMMENTS => "saved:t1_",
            other => bail!("not a Reddit export item: {other}"),
        };
        csv_rows::split_rows(item.payload, "Reddit rows", |row| {
            Some(fullname(prefix, field(row, "id")?))
        })
    }

    fn normalize(&self, raw: &RawPost) -> Result<NewPost> {
        let payload = raw.value()?;
        let row = payload
            .as_object()
            .ok_or_else(|| anyhow!("Reddit row {} is not an object", raw.platform_post_id))?;
        let id = raw.platform_post_id.as_str();
        if id.starts_with("saved:") {
            Ok(normalize_saved(row, id))
        } else if id.starts_with("t1_") {
            Ok(normalize_comment(row))
        } else if id.starts_with("t3_") {
            Ok(normalize_post(row))
        } else {
            bail!("{id} is not a Reddit post, comment or saved item")
        }
    }
}

impl Importer for Reddit {
    fn format_name(&self) -> &'static str {
        "Reddit data export"
    }

    fn detect(&self, archive: &mut Archive) -> bool {
        export_root(archive).is_some()
    }

    fn read(&self, archive: &mut Archive, out: &mut dyn Sink) -> Result<()> {
        let root = export_root(archive).context("no Reddit export files found")?;
        let checksums = read_checkfile(archive, &root)?;
        for source in SOURCES {
            let entry = archive
                .find(&format!("{root}{}", source.file))
                .or_else(|| {
                    let headers = source.headers_file?;
                    archive.find(&format!("{root}{headers}"))
                })
                .cloned();
            match entry {
                Some(entry) => read_rows(archive, &entry, source.content_type, &checksums, out)?,
                None if checksums.contains_key(source.file) => out.skip(
                    source.file,
                    "listed in checkfile.csv but missing from the export",
                ),
                None => {}
            }
        }
        for (file, reason) in NOT_IMPORTED {
            if archive.find(&format!("{root}{file}")).is_some() {
                out.skip(file, reason);
            }
        }
        Ok(())
    }
}

/// The folder (`""` or `"name/"`) holding the export: where two names only Reddit uses
/// sit together, or a `posts.csv`/`comments.csv` with Reddit's own header.
fn export_root(archive: &mut Archive) -> Option<String> {
    let mut anchors: HashMap<String, usize> = HashMap::new();
    let mut candidates = Vec::new();
    for entry in archive.entries() {
        let (dir, name) = split_path(&entry.path);
        if ANCHORS.contains(&name) {
            *anchors.entry(dir.to_string()).or_default() += 1;
        }
        if name == "posts.csv" || name == "comments.csv" {
            candidates.push(entry.clone());
        }
    }
    if let Some((dir, _)) = anchors.iter().filter(|(_, n)| **n >= 2).min() {
        return Some(dir.clone());
    }
    candidates
        .into_iter()
        .find(|entry| has_reddit_header(archive, entry))
        .map(|entry| split_path(&entry.path).0.to_string())
}

/// ("dir/", "name") of an entry path.
fn split_path(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    }
}

fn has_reddit_header(archive: &mut Archive, entry: &Entry) -> bool {
    let mut head = Vec::new();
    let Ok(reader) = archive.open_entry(entry) else {
        return false;
    };
    if reader.take(64).read_to_end(&mut head).is_err() {
        return false;
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    head.trim_start_matches('\u{feff}')
        .starts_with("id,permalink,date,")
}

/// `checkfile.csv` as file name → sha256 (lower-case hex); empty when the export has none.
fn read_checkfile(archive: &mut Archive, root: &str) -> Result<HashMap<String, String>> {
    let Some(entry) = archive.find(&format!("{root}checkfile.csv")).cloned() else {
        return Ok(HashMap::new());
    };
    let mut sums = HashMap::new();
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(archive.open_entry(&entry)?);
    for record in csv.records() {
        let record = record.with_context(|| format!("cannot read {}", entry.path))?;
        if let (Some(name), Some(sum)) = (record.get(0), record.get(1)) {
            sums.insert(name.trim().to_string(), sum.trim().to_ascii_lowercase());
        }
    }
    Ok(sums)
}

/// Streams one CSV file into raw items of row objects, and checks the file
/// against its checksum. A file that stops being CSV goes to the dead letters whole; the
/// rows before the fault are already imported.
fn read_rows(
    archive: &mut Archive,
    entry: &Entry,
    content_type: &str,
    checksums: &HashMap<String, String>,
    out: &mut dyn Sink,
) -> Result<()> {
    let (outcome, hasher) = {
        let mut reader = Hashing {
            inner: archive.open_entry(entry)?,
            hasher: Sha256::new(),
        };
        let outcome = emit_rows(&mut reader, entry, content_type, out).and_then(|()| {
            // The CSV reader stops at the last record; the checksum covers the whole file.
            std::io::copy(&mut reader, &mut std::io::sink())?;
            Ok(())
        });
        (outcome, reader.hasher)
    };
    if let Err(error) = outcome {
        let reason = format!("not a readable CSV file: {error:#}");
        let bytes = archive.readable_part(entry);
        return out.unreadable(&entry.path, &reason, bytes);
    }
    let digest = hex::encode(hasher.finalize());
    let name = split_path(&entry.path).1;
    if let Some(expected) = checksums.get(name)
        && *expected != digest
    {
        out.skip(
            &entry.path,
            "its sha256 does not match checkfile.csv: the file may be damaged; \
             its rows were imported as they are",
        );
    }
    Ok(())
}

fn emit_rows(
    reader: &mut dyn Read,
    entry: &Entry,
    content_type: &str,
    out: &mut dyn Sink,
) -> Result<()> {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let headers: Vec<String> = csv
        .byte_headers()?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = String::from_utf8_lossy(h);
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                &h
            };
            h.trim().to_string()
        })
        .collect();
    // A renamed or foreign header must not be misread as Reddit rows.
    if !headers.iter().any(|h| h.eq_ignore_ascii_case("id")) {
        bail!("the header has no id column");
    }
    let mut chunk = Chunk::default();
    each_row(&mut csv, &headers, |row| {
        chunk.add(&row, &entry.path, content_type, out)
    })?;
    chunk.emit(&entry.path, content_type, out)
}

/// Hashes what passes through.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reddit's fullname for a bare id: `t3_abc` for post `abc`. Some exports already write
/// fullnames; those are kept.
fn fullname(prefix: &str, id: &str) -> String {
    let kind = prefix.trim_start_matches("saved:");
    if id.starts_with(kind) {
        format!("{}{id}", &prefix[..prefix.len() - kind.len()])
    } else {
        format!("{prefix}{id}")
    }
}

/// A non-empty column, by name in any case (headers drift: `id` vs `ID`).
fn field<'a>(row: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    let value = match row.get(name) {
        Some(value) => value,
        None => {
            row.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))?
                .1
        }
    };
    value.as_str().map(str::trim).filter(|v| !v.is_empty())
}

fn normalize_post(row: &Map<String, Value>) -> NewPost {
    let permalink = field(row, "permalink").map(absolute);
    let link = field(row, "url")
        .map(absolute)
        .filter(|url| Some(url) != permalink.as_ref());
    let mut media = Vec::new();
    if let Some(file) = link.as_deref().and_then(media_ref) {
        media.push(file);
    }
    let mut engagement = common_engagement(row);
    if let Some(link) = &link {
        engagement.insert("link".into(), json!(link));
    }
    NewPost {
        kind: "post".into(),
        title: field(row, "title").map(decode_entities),
        text: field(row, "body").map(decode_entities).unwrap_or_default(),
        url: permalink,
        created_at: field(row, "date").and_then(parse_date),
        engagement: Some(Value::Object(engagement)),
        media,
        ..NewPost::default()
    }
}

fn normalize_comment(row: &Map<String, Value>) -> NewPost {
    let link = field(row, "link").map(absolute);
    // `parent` is the bare id of the comment answered (a fullname in some exports), empty
    // for a top-level comment, which answers the post in `link`.
    let reply_to = match field(row, "parent") {
        Some(parent) if parent.starts_with("t1_") || parent.starts_with("t3_") => {
            Some(parent.to_string())
        }
        Some(parent) => Some(format!("t1_{parent}")),
        None => link
            .as_deref()
            .and_then(post_id_in)
            .map(|id| format!("t3_{id}")),
    };
    let media: Vec<MediaRef> = field(row, "media")
        .and_then(media_ref)
        .into_iter()
        .collect();
    let mut engagement = common_engagement(row);
    if let Some(link) = &link {
        engagement.insert("link".into(), json!(link));
    }
    NewPost {
        kind: "comment".into(),
        text: field(row, "body").map(decode_entities).unwrap_or_default(),
        url: field(row, "permalink").map(absolute),
        created_at: field(row, "date").and_then(parse_date),
        engagement: Some(Value::Object(engagement)),
        reply_to,
        media,
        ..NewPost::default()
    }
}

/// A saved post or comment: Reddit gives only its id and permalink.
fn normalize_saved(row: &Map<String, Value>, id: &str) -> NewPost {
    let permalink = field(row, "permalink").map(absolute);
    let mut engagement = Map::new();
    engagement.insert("saved".into(), json!(id.trim_start_matches("saved:")));
    if let Some(subreddit) = permalink.as_deref().and_then(subreddit_in) {
        engagement.insert("subreddit".into(), json!(subreddit));
    }
    NewPost {
        kind: "bookmark".into(),
        title: permalink.as_deref().and_then(slug_title),
        url: permalink,
        engagement: Some(Value::Object(engagement)),
        ..NewPost::default()
    }
}

/// What posts and comments share: subreddit, gildings (numbers) and whether Reddit
/// replaced the body with a `[removed]`/`[deleted]` placeholder (kept as it is).
fn common_engagement(row: &Map<String, Value>) -> Map<String, Value> {
    let mut engagement = Map::new();
    if let Some(subreddit) = field(row, "subreddit") {
        engagement.insert("subreddit".into(), json!(subreddit));
    }
    for (key, value) in row {
        if key.to_ascii_lowercase().starts_with("gildings")
            && let Some(n) = value.as_str().and_then(|v| v.trim().parse::<i64>().ok())
        {
            engagement.insert(key.to_ascii_lowercase(), json!(n));
        }
    }
    if let Some(body) = field(row, "body")
        && matches!(body, "[removed]" | "[deleted]")
    {
        engagement.insert("removed".into(), json!(true));
    }
    engagement
}

/// Permalinks of old exports are site-relative.
fn absolute(url: &str) -> String {
    if url.starts_with('/') {
        format!("https://www.reddit.com{url}")
    } else {
        url.to_string()
    }
}

/// A link that is itself an image or video file (`i.redd.it/x.jpg`), to keep while Reddit
/// serves it.
fn media_ref(url: &str) -> Option<MediaRef> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let kind = media_kind(parsed.path())?;
    Some(MediaRef {
        url: url.to_string(),
        kind: Some(kind.to_string()),
    })
}

/// `abc12` from `https://www.reddit.com/r/x/comments/abc12/slug/`.
fn post_id_in(url: &str) -> Option<&str> {
    let rest = &url[url.find("/comments/")? + "/comments/".len()..];
    rest.split('/').next().filter(|id| !id.is_empty())
}

fn subreddit_in(url: &str) -> Option<&str> {
    let rest = &url[url.find("/r/")? + 3..];
    rest.split('/').next().filter(|s| !s.is_empty())
}

/// "my first stew" from `.../comments/abc12/my_first_stew/`: the only title a saved item has.
fn slug_title(url: &str) -> Option<String> {
    let rest = &url[url.find("/comments/")? + "/comments/".len()..];
    let slug = rest.split('/').nth(1).filter(|s| !s.is_empty())?;
    Some(slug.replace('_', " "))
}

/// "2024-01-12 17:29:56 UTC" (also without the zone, or RFC 3339).
fn parse_date(date: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let plain = date.trim().trim_end_matches("UTC").trim();
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    if let Ok(t) = time::PrimitiveDateTime::parse(plain, format) {
        return Some(t.assume_utc().unix_timestamp());
    }
    time::OffsetDateTime::parse(date.trim(), &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_and_dates() {
        assert_eq!(
            decode_entities("&gt; quoted &amp; &lt;b&gt; &#x200B;x & y &bogus;"),
            "> quoted & <b> \u{200B}x & y &bogus;"
        );
        assert_eq!(parse_date("2024-01-12 17:29:56 UTC"), Some(1705080596));
        assert_eq!(parse_date("2024-01-12 17:29:56"), Some(1705080596));
        assert_eq!(parse_date("2024-01-12T17:29:56Z"), Some(1705080596));
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn fullnames_are_not_prefixed_twice() {
        assert_eq!(fullname("t3_", "abc"), "t3_abc");
        assert_eq!(fullname("t3_", "t3_abc"), "t3_abc");
        assert_eq!(fullname("saved:t1_", "t1_abc"), "saved:t1_abc");
        assert_eq!(fullname("saved:t1_", "abc"), "saved:t1_abc");
    }

    #[test]
    fn permalink_parts() {
        let url = "https://www.reddit.com/r/rust/comments/abc12/my_first_stew/";
        assert_eq!(post_id_in(url), Some("abc12"));
        assert_eq!(subreddit_in(url), Some("rust"));
        assert_eq!(slug_title(url).as_deref(), Some("my first stew"));
        assert_eq!(slug_title("https://www.reddit.com/comments/abc12/"), None);
    }
}
