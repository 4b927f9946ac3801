//! Any public feed: RSS 2.0, RSS 1.0, Atom and JSON Feed. That covers blogs (WordPress,
//! Medium, Substack, Tumblr), YouTube channels and Mastodon profiles (`.rss`).
//!
//! `fetch` keeps the whole feed document exactly as served as one raw item whose identity is
//! the body's sha256, so a server that ignores conditional requests and sends the same feed
//! again still adds nothing. `split` turns the document into one raw post per entry, kept in
//! a JSON shape of our own (feed formats differ too much to keep each entry's own markup),
//! and `normalize` reads only that shape.

use std::collections::HashSet;
use std::error::Error as _;
use std::time::{Duration, SystemTime};

use feed_rs::model::{
    Entry, Feed as Document, FeedType, Link, LinkTarget, MediaObject, Person, Text,
};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use super::*;

pub struct Feed;

impl Connector for Feed {
    fn platform(&self) -> Platform {
        Platform::Feed
    }

    fn auth(&self) -> Auth {
        Auth::None
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a FetchContext<'a>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(fetch_feed(ctx, cursor))
    }

    fn split(&self, item: &ItemRef) -> anyhow::Result<Vec<RawPost>> {
        let document = parse_document(item.payload, item.source_url)
            .map_err(|message| anyhow::anyhow!(message))?;
        let mut seen = HashSet::new();
        let mut posts = Vec::new();
        for entry in &document.entries {
            let id = post_id(entry);
            // Some feeds repeat an entry; one raw post per id keeps the insert idempotent.
            if seen.insert(id.clone()) {
                let payload = entry_payload(&document, entry, &id, item.source_url);
                posts.push(RawPost {
                    platform_post_id: id,
                    payload,
                });
            }
        }
        Ok(posts)
    }

    fn normalize(&self, raw: &RawPost) -> anyhow::Result<NewPost> {
        normalize_entry(&raw.payload).ok_or_else(|| {
            anyhow::anyhow!("feed post {} is not an entry object", raw.platform_post_id)
        })
    }
}

/// Larger than any real feed (a podcast's whole back catalogue is a few MB): past this,
/// the URL is serving something else.
const MAX_BODY: usize = 20 * 1024 * 1024;

/// Servers that vary on Accept (some Mastodon and WordPress setups) then send a feed.
const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
     application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, text/html;q=0.5, */*;q=0.1";

/// What a 429 without a usable Retry-After costs.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Feed types a page may announce with `<link rel="alternate">`, best first. Plain JSON
/// comes last: WordPress announces its REST API that way beside its real feeds.
const FEED_LINK_TYPES: &[&str] = &[
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
];

/// What `fetch` remembers between syncs, stored as
/// `{"etag": "...", "last_modified": "...", "newest": 1700000000}` (each may be null):
/// the validators for a conditional GET, and the newest entry date seen so far.
#[derive(Debug, Default, PartialEq, Deserialize)]
struct Cursor {
    etag: Option<String>,
    last_modified: Option<String>,
    newest: Option<i64>,
}

impl Cursor {
    /// A cursor we cannot read costs one unconditional GET, nothing more, so it is not an error.
    fn parse(cursor: Option<&str>) -> Cursor {
        cursor
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default()
    }

    fn to_json(&self) -> String {
        json!({"etag": self.etag, "last_modified": self.last_modified, "newest": self.newest})
            .to_string()
    }

    /// The cursor after a 200: the response's own validators (a server that stopped sending
    /// one must not get the old one back) and the newest entry date ever seen.
    fn after(&self, headers: &HeaderMap, document: &Document) -> Cursor {
        let newest_here = document.entries.iter().filter_map(entry_date).max();
        Cursor {
            etag: header_text(headers, header::ETAG),
            last_modified: header_text(headers, header::LAST_MODIFIED),
            newest: newest_here.max(self.newest),
        }
    }
}

async fn fetch_feed(ctx: &FetchContext<'_>, cursor: Option<&str>) -> Result<Page, FetchError> {
    let url = ctx
        .url
        .ok_or_else(|| FetchError::Invalid("the feed connection has no URL".into()))?;
    let previous = Cursor::parse(cursor);
    let response = send(feed_request(ctx.http, url, &previous)).await?;
    if response.status() == StatusCode::NOT_MODIFIED {
        return Ok(Page {
            items: vec![],
            cursor: cursor.map(String::from),
            done: true,
            note: Some("feed unchanged (304 Not Modified)".into()),
        });
    }

    let final_url = response.url().to_string();
    let headers = response.headers().clone();
    let body = read_body(response).await?;
    let document = parse_document(&body, Some(&final_url)).map_err(FetchError::Invalid)?;
    let content_type = header_text(&headers, header::CONTENT_TYPE)
        .unwrap_or_else(|| sniffed_content_type(&document.feed_type).into());
    let note = format!("{} entries in the feed", document.entries.len());
    Ok(Page {
        items: vec![RawItem {
            external_id: sha256_hex(&body),
            content_type,
            source_url: Some(final_url),
            payload: body,
        }],
        cursor: Some(previous.after(&headers, &document).to_json()),
        done: true,
        note: Some(note),
    })
}

/// Finds the feed behind `url`: the URL itself when it is a feed, else the first feed a web
/// page announces in its head (what a person pastes is usually the blog or channel page).
pub async fn discover(http: &reqwest::Client, url: &str) -> Result<String, FetchError> {
    let response = send(http.get(url).header(header::ACCEPT, ACCEPT)).await?;
    let page_url = response.url().clone();
    let body = read_body(response).await?;
    if parse_document(&body, Some(page_url.as_str())).is_ok() {
        return Ok(page_url.to_string());
    }
    feed_links(&String::from_utf8_lossy(&body), &page_url)
        .into_iter()
        .next()
        .ok_or_else(|| {
            FetchError::Invalid(format!(
                "no feed found at {url}: it is neither a feed nor a page that links to one"
            ))
        })
}

fn feed_request(http: &reqwest::Client, url: &str, cursor: &Cursor) -> reqwest::RequestBuilder {
    let mut request = http.get(url).header(header::ACCEPT, ACCEPT);
    if let Some(etag) = &cursor.etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(last_modified) = &cursor.last_modified {
        request = request.header(header::IF_MODIFIED_SINCE, last_modified);
    }
    request
}

async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, FetchError> {
    let response = request.send().await.map_err(request_error)?;
    check_status(
        response.status(),
        response.headers(),
        response.url().as_str(),
        SystemTime::now(),
    )?;
    Ok(response)
}

fn request_error(err: reqwest::Error) -> FetchError {
    // reqwest's own message hides the cause ("connection refused", "dns error") in its sources.
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    if err.is_builder() {
        FetchError::Invalid(message)
    } else {
        FetchError::Transient(message)
    }
}

/// Sorts a response status into what the ingest layer does next. 304 passes: it is the
/// answer a conditional GET hopes for.
fn check_status(
    status: StatusCode,
    headers: &HeaderMap,
    url: &str,
    now: SystemTime,
) -> Result<(), FetchError> {
    let answered = || format!("{url} answered HTTP {status}");
    match status.as_u16() {
        200..=299 | 304 => Ok(()),
        429 => Err(FetchError::RateLimited {
            retry_after: retry_after(headers.get(header::RETRY_AFTER), now),
        }),
        401 | 403 => Err(FetchError::Auth(answered())),
        // 408 is the server's own timeout: as passing as ours.
        408 | 500..=599 => Err(FetchError::Transient(answered())),
        _ => Err(FetchError::Invalid(answered())),
    }
}

/// Retry-After is either seconds or an HTTP date.
fn retry_after(value: Option<&HeaderValue>, now: SystemTime) -> Duration {
    let Some(value) = value.and_then(|v| v.to_str().ok()).map(str::trim) else {
        return DEFAULT_RETRY_AFTER;
    };
    if let Ok(seconds) = value.parse::<u64>() {
        return Duration::from_secs(seconds);
    }
    match httpdate::parse_http_date(value) {
        // A date already past means "now".
        Ok(when) => when.duration_since(now).unwrap_or(Duration::ZERO),
        Err(_) => DEFAULT_RETRY_AFTER,
    }
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
    let too_large = || {
        FetchError::Invalid(format!(
            "the response is larger than {} MB; no feed is that big",
            MAX_BODY / (1024 * 1024)
        ))
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(String::from)
}

fn sniffed_content_type(feed_type: &FeedType) -> &'static str {
    match feed_type {
        FeedType::Atom => "application/atom+xml",
        FeedType::RSS0 | FeedType::RSS2 => "application/rss+xml",
        FeedType::RSS1 => "application/rdf+xml",
        FeedType::JSON => "application/feed+json",
    }
}

/// Parses any feed format; the error is a sentence for the person who configured the URL.
fn parse_document(body: &[u8], source_url: Option<&str>) -> Result<Document, String> {
    // feed-rs refuses a base it cannot parse, and only an absolute URL can resolve links.
    let base = source_url.filter(|url| Url::parse(url).is_ok());
    feed_rs::parser::Builder::new()
        .base_uri(base)
        // Left empty, a missing id falls back to our own stable choice (`post_id`); feed-rs
        // would make up a random one, and a post would then come back twice on reprocess.
        .id_generator(|_, _, _| String::new())
        // Raw data stays as published; HTML is sanitized when it is rendered.
        .sanitize_content(false)
        .build()
        .parse(body)
        .map_err(|err| {
            if looks_like_html(body) {
                "the URL is a web page, not a feed; use the address of its RSS or Atom feed".into()
            } else {
                format!("not an RSS, Atom or JSON feed ({err})")
            }
        })
}

fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(1024)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    head.starts_with("<!doctype html") || head.contains("<html")
}

/// The feeds a page announces, best type first, then in page order.
fn feed_links(html: &str, page_url: &Url) -> Vec<String> {
    let mut found: Vec<(usize, String)> = tags(html, "link")
        .iter()
        .filter_map(|attrs| {
            let rel = attr(attrs, "rel")?;
            if !rel
                .split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("alternate"))
            {
                return None;
            }
            let media_type = attr(attrs, "type")?
                .split(';')
                .next()?
                .trim()
                .to_ascii_lowercase();
            let rank = FEED_LINK_TYPES.iter().position(|t| *t == media_type)?;
            let href = page_url.join(attr(attrs, "href")?.trim()).ok()?;
            Some((rank, href.to_string()))
        })
        .collect();
    found.sort_by_key(|(rank, _)| *rank);
    found.into_iter().map(|(_, href)| href).collect()
}

fn entry_date(entry: &Entry) -> Option<i64> {
    entry
        .published
        .or(entry.updated)
        .map(|date| date.timestamp())
}

/// The entry's own id (guid, atom:id, JSON Feed id); without one its link; without that a
/// hash of what it says, so the same entry always gets the same id.
fn post_id(entry: &Entry) -> String {
    if !entry.id.trim().is_empty() {
        return entry.id.trim().to_string();
    }
    if let Some(link) = entry.links.iter().find(|l| is_alternate(l)) {
        return link.href.clone();
    }
    let title = entry.title.as_ref().map_or("", |t| t.content.as_str());
    let body = entry
        .content
        .as_ref()
        .and_then(|c| c.body.as_deref())
        .or(entry.summary.as_ref().map(|s| s.content.as_str()))
        .unwrap_or("");
    sha256_hex(format!("{title}\n{body}").as_bytes())
}

/// A link to the entry's page rather than to comments, a file or the feed itself.
fn is_alternate(link: &Link) -> bool {
    matches!(link.rel.as_deref(), None | Some("alternate"))
        && link.target.is_none()
        && link.media_type.as_deref().is_none_or(is_html_type)
}

fn is_html_type(media_type: &str) -> bool {
    media_type.starts_with("text/html") || media_type.starts_with("application/xhtml")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The raw post: everything `normalize` (today's or a better one later) may need from one
/// entry, in one shape for every feed format. Dates are unix seconds, URLs as the feed gave
/// them (resolved against the document where the format allows), texts as
/// `{"type": MIME, "body": ...}` so HTML is never mistaken for plain text.
fn entry_payload(document: &Document, entry: &Entry, id: &str, source_url: Option<&str>) -> Value {
    let feed_link = document
        .links
        .iter()
        .find(|l| l.rel.as_deref() != Some("self") && l.rel.as_deref() != Some("hub"))
        .map(|l| l.href.clone());
    json!({
        "id": id,
        "title": entry.title.as_ref().map(text_json),
        "links": entry.links.iter().map(link_json).collect::<Vec<_>>(),
        "content": entry.content.as_ref().map(|c| json!({
            "type": c.content_type.essence().to_string(),
            "body": c.body,
            "src": c.src.as_ref().map(|s| &s.href),
        })),
        "summary": entry.summary.as_ref().map(text_json),
        // xml:base of the content, for relative links inside it.
        "base": entry.base,
        "published": entry.published.map(|d| d.timestamp()),
        "updated": entry.updated.map(|d| d.timestamp()),
        "authors": entry.authors.iter().map(person_json).collect::<Vec<_>>(),
        "categories": entry.categories.iter().map(|c| &c.term).collect::<Vec<_>>(),
        "media": entry.media.iter().map(media_json).collect::<Vec<_>>(),
        "feed": {
            "title": document.title.as_ref().map(text_json),
            "link": feed_link,
            "format": match document.feed_type {
                FeedType::Atom => "atom",
                FeedType::JSON => "json",
                FeedType::RSS0 => "rss0.9",
                FeedType::RSS1 => "rss1.0",
                FeedType::RSS2 => "rss2.0",
            },
            "authors": document.authors.iter().map(person_json).collect::<Vec<_>>(),
            "source_url": source_url,
        },
    })
}

fn text_json(text: &Text) -> Value {
    json!({"type": text.content_type.essence().to_string(), "body": text.content})
}

fn link_json(link: &Link) -> Value {
    let target = link.target.as_ref().map(|target| match target {
        LinkTarget::Comments => "comments",
        LinkTarget::CommentsFeed => "comments_feed",
    });
    json!({
        "href": link.href,
        "rel": link.rel,
        "type": link.media_type,
        "title": link.title,
        "length": link.length,
        "target": target,
    })
}

fn person_json(person: &Person) -> Value {
    json!({"name": person.name, "email": person.email, "uri": person.uri})
}

fn media_json(media: &MediaObject) -> Value {
    let content: Vec<Value> = media
        .content
        .iter()
        .map(|c| {
            json!({
                "url": c.url.as_ref().map(Url::as_str),
                "type": c.content_type.as_ref().map(|t| t.essence().to_string()),
                "width": c.width,
                "height": c.height,
                "duration": c.duration.map(|d| d.as_secs()),
                "size": c.size,
            })
        })
        .collect();
    let thumbnails: Vec<Value> = media
        .thumbnails
        .iter()
        .map(|t| json!({"url": t.image.uri, "width": t.image.width, "height": t.image.height}))
        .collect();
    json!({
        "title": media.title.as_ref().map(text_json),
        "description": media.description.as_ref().map(text_json),
        "duration": media.duration.map(|d| d.as_secs()),
        "content": content,
        "thumbnails": thumbnails,
        "community": media.community.as_ref().map(|c| json!({
            "views": c.stats_views,
            "favorites": c.stats_favorites,
            "star_count": c.stars_count,
            "star_average": c.stars_avg,
        })),
    })
}

/// Raw post (the shape `entry_payload` writes) → post. None when it is not that shape.
fn normalize_entry(entry: &Value) -> Option<NewPost> {
    entry.as_object()?;
    let url = entry_url(entry);
    let base = content_base(entry, url.as_deref());
    let title = entry
        .get("title")
        .and_then(text_of)
        .filter(|t| !t.is_empty());

    // Full content first, then the summary; a YouTube entry has only its media description.
    let body = ["content", "summary"]
        .iter()
        .filter_map(|key| entry.get(*key))
        .chain(media_objects(entry).filter_map(|m| m.get("description")))
        .find(|text| {
            text.get("body")
                .and_then(Value::as_str)
                .is_some_and(|b| !b.trim().is_empty())
        });
    let html = body
        .filter(|text| is_html_text(text))
        .and_then(|text| text.get("body")?.as_str())
        .map(String::from);
    let text = body.and_then(text_of).unwrap_or_default();

    let media = entry_media(entry, html.as_deref(), base.as_ref());
    Some(NewPost {
        kind: post_kind(entry, url.as_deref(), title.is_some(), &media).into(),
        author: author(entry),
        title,
        text,
        html,
        url,
        created_at: ["published", "updated"]
            .iter()
            .find_map(|key| entry.get(*key)?.as_i64()),
        engagement: engagement(entry),
        reply_to: None,
        repost_of: None,
        media,
    })
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key)?.as_str()
}

fn array_at<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn media_objects(entry: &Value) -> impl Iterator<Item = &Value> {
    array_at(entry, "media")
}

fn is_html_text(text: &Value) -> bool {
    str_at(text, "type").is_some_and(is_html_type)
}

/// The plain text of a `{"type", "body"}` text.
fn text_of(text: &Value) -> Option<String> {
    let body = str_at(text, "body")?;
    Some(if is_html_text(text) {
        html_to_text(body)
    } else {
        collapse_whitespace(body)
    })
}

/// The entry's page: its alternate link, else an id that is a URL (an RSS guid is a
/// permalink unless it says otherwise).
fn entry_url(entry: &Value) -> Option<String> {
    let source = str_at(&entry["feed"], "source_url").and_then(|s| Url::parse(s).ok());
    array_at(entry, "links")
        .filter(|link| {
            matches!(str_at(link, "rel"), None | Some("alternate"))
                && link.get("target").is_none_or(Value::is_null)
                && str_at(link, "type").is_none_or(is_html_type)
        })
        .filter_map(|link| resolve(source.as_ref(), str_at(link, "href")?))
        .chain(str_at(entry, "id").and_then(|id| resolve(None, id)))
        .next()
}

/// Where relative links inside the content point from: the content's xml:base, else the
/// entry's page (WordPress and most blogs write them relative to the post), else the feed.
fn content_base(entry: &Value, entry_url: Option<&str>) -> Option<Url> {
    let page = entry_url
        .or(str_at(&entry["feed"], "source_url"))
        .and_then(|u| Url::parse(u).ok());
    match str_at(entry, "base") {
        Some(base) => page
            .as_ref()
            .map_or(Url::parse(base), |p| p.join(base))
            .ok()
            .or(page),
        None => page,
    }
}

/// An absolute http(s) URL for `href`, or None: anything else (data:, javascript:, a
/// relative path with no base) cannot be fetched or linked to.
fn resolve(base: Option<&Url>, href: &str) -> Option<String> {
    let href = href.trim();
    let url = match base {
        Some(base) => base.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

fn author(entry: &Value) -> Option<String> {
    let person_name = |p: &Value| {
        str_at(p, "name")
            .or(str_at(p, "email"))
            .map(str::trim)
            .map(String::from)
    };
    array_at(entry, "authors")
        .chain(array_at(&entry["feed"], "authors"))
        .find_map(person_name)
        .filter(|name| !name.is_empty())
}

/// Files of the entry, in order: media content, enclosure links, thumbnails, then images in
/// the HTML. Absolute URLs only, each once.
fn entry_media(entry: &Value, html: Option<&str>, base: Option<&Url>) -> Vec<MediaRef> {
    let mut found: Vec<(String, Option<&str>)> = Vec::new();
    for media in media_objects(entry) {
        for content in array_at(media, "content") {
            found.extend(str_at(content, "url").map(|u| (u.to_string(), str_at(content, "type"))));
        }
    }
    for link in array_at(entry, "links") {
        // Atom enclosures say rel="enclosure"; JSON Feed attachments only carry a type.
        let media_type = str_at(link, "type");
        let attached = str_at(link, "rel") == Some("enclosure")
            || media_type.is_some_and(|t| media_kind_of_type(t).is_some());
        if attached && let Some(href) = str_at(link, "href") {
            found.push((href.to_string(), media_type));
        }
    }
    for media in media_objects(entry) {
        for thumbnail in array_at(media, "thumbnails") {
            found.extend(str_at(thumbnail, "url").map(|u| (u.to_string(), Some("image/*"))));
        }
    }
    for img in html.map(|h| tags(h, "img")).unwrap_or_default() {
        // 1×1 images are view-counting pixels (Medium, WordPress.com), not part of the post.
        let pixel = attr(&img, "width") == Some("1") && attr(&img, "height") == Some("1");
        if !pixel && let Some(src) = attr(&img, "src") {
            found.push((src.to_string(), Some("image/*")));
        }
    }

    let mut seen = HashSet::new();
    found
        .into_iter()
        .filter_map(|(href, media_type)| {
            let url = resolve(base, &href)?;
            let kind = match media_type {
                // A declared type that is no file kind is a player or a page (YouTube's
                // media:content is a Flash player URL): nothing to download.
                Some(t) => Some(media_kind_of_type(t)?),
                None => media_kind_of_url(&url),
            };
            seen.insert(url.clone()).then(|| MediaRef {
                url,
                kind: kind.map(String::from),
            })
        })
        .collect()
}

fn media_kind_of_type(media_type: &str) -> Option<&'static str> {
    match media_type
        .split('/')
        .next()?
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "image" => Some("image"),
        "video" => Some("video"),
        "audio" => Some("audio"),
        _ => None,
    }
}

fn media_kind_of_url(url: &str) -> Option<&'static str> {
    let path = Url::parse(url).ok()?.path().to_string();
    media_kind_of_type(mime_guess::from_path(path).first()?.essence_str())
}

fn post_kind(
    entry: &Value,
    url: Option<&str>,
    has_title: bool,
    media: &[MediaRef],
) -> &'static str {
    let has = |kind: &str| media.iter().any(|m| m.kind.as_deref() == Some(kind));
    // feed-rs drops yt:videoId, but YouTube's atom:id carries it: "yt:video:<id>".
    let youtube = str_at(entry, "id").is_some_and(|id| id.starts_with("yt:video:"))
        || url
            .and_then(|u| Url::parse(u).ok())
            .and_then(|u| u.host_str().map(String::from))
            .is_some_and(|host| {
                matches!(
                    host.as_str(),
                    "www.youtube.com" | "youtube.com" | "m.youtube.com" | "youtu.be"
                )
            });
    // A titled entry around an audio or video file is an episode; an untitled one is a
    // social post (a toot) that happens to carry a file.
    if youtube || (has_title && has("video")) {
        "video"
    } else if has_title && has("audio") {
        "audio"
    } else if has_title {
        "article"
    } else {
        "post"
    }
}

/// Counts the feed itself publishes (YouTube's media:community); None when it has none.
fn engagement(entry: &Value) -> Option<Value> {
    let mut counts = serde_json::Map::new();
    for community in media_objects(entry).filter_map(|m| m.get("community")) {
        for (from, to) in [
            ("views", "views"),
            ("favorites", "favorites"),
            ("star_count", "ratings"),
        ] {
            if let Some(n) = community.get(from).and_then(Value::as_u64) {
                counts.entry(to).or_insert(n.into());
            }
        }
    }
    (!counts.is_empty()).then_some(Value::Object(counts))
}

/// The attributes of every `<name ...>` tag, names lowercased, values entity-decoded. A scan,
/// not a parser: enough for `<link>` in a page head and `<img>` in feed content, which is all
/// Lifeboat reads from HTML.
fn tags(html: &str, name: &str) -> Vec<Vec<(String, String)>> {
    // ASCII lowercasing keeps every byte offset, so positions found in `lower` index `html`.
    let lower = html.to_ascii_lowercase();
    let open = format!("<{name}");
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(at) = lower[pos..].find(&open) {
        pos += at + open.len();
        // `<linkage>` or `<image>` are other tags.
        if lower[pos..]
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
        {
            let (attrs, consumed) = attributes(&html[pos..]);
            found.push(attrs);
            pos += consumed;
        }
    }
    found
}

/// Reads attributes up to the closing `>`; returns them and the bytes consumed. Quoted with
/// `"` or `'`, or unquoted, in any order, as real pages write them.
fn attributes(tag: &str) -> (Vec<(String, String)>, usize) {
    let bytes = tag.as_bytes();
    let skip = |mut i: usize, stop: &dyn Fn(u8) -> bool| {
        while i < bytes.len() && !stop(bytes[i]) {
            i += 1;
        }
        i
    };
    let mut attrs = Vec::new();
    let mut i = 0;
    loop {
        i = skip(i, &|b| !b.is_ascii_whitespace() && b != b'/');
        match bytes.get(i) {
            None => return (attrs, i),
            Some(b'>') => return (attrs, i + 1),
            Some(_) => {}
        }
        let name_start = i;
        i = skip(i, &|b| {
            b.is_ascii_whitespace() || matches!(b, b'=' | b'>' | b'/')
        });
        let name = tag[name_start..i].to_ascii_lowercase();
        i = skip(i, &|b| !b.is_ascii_whitespace());
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i = skip(i + 1, &|b| !b.is_ascii_whitespace());
            match bytes.get(i) {
                Some(&quote @ (b'"' | b'\'')) => {
                    let end = skip(i + 1, &|b| b == quote);
                    value = decode_entities(&tag[i + 1..end]);
                    i = (end + 1).min(bytes.len());
                }
                _ => {
                    let end = skip(i, &|b| b.is_ascii_whitespace() || b == b'>');
                    value = decode_entities(&tag[i..end]);
                    i = end;
                }
            }
        }
        attrs.push((name, value));
    }
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Tags that sit inside a line of text; any other tag breaks words apart.
const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "font", "i", "ins",
    "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
];

/// The plain text of an HTML fragment, for search and the timeline: tags dropped, scripts
/// and styles with their contents, entities decoded, whitespace collapsed.
fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text.push_str(&decode_entities(&rest[..lt]));
        rest = &rest[lt..];
        if rest.starts_with("<!--") {
            rest = rest.find("-->").map_or("", |end| &rest[end + 3..]);
            continue;
        }
        let starts_tag = rest[1..]
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'/' || b == b'!');
        let Some(gt) = rest.find('>').filter(|_| starts_tag) else {
            // A bare "<" in text ("a < b"), kept as written.
            text.push('<');
            rest = &rest[1..];
            continue;
        };
        let name: String = rest[1..gt]
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        rest = &rest[gt + 1..];
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            rest = rest
                .to_ascii_lowercase()
                .find(&close)
                .and_then(|end| rest[end..].find('>').map(|gt| &rest[end + gt + 1..]))
                .unwrap_or("");
        } else if !INLINE_TAGS.contains(&name.as_str()) {
            text.push(' ');
        }
    }
    text.push_str(&decode_entities(rest));
    collapse_whitespace(&text)
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decodes `&amp;`, `&#8217;`, `&#x2019;` and the named entities feeds really use. Anything
/// else, a lone `&` included, is kept as written.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // Entity names are short; looking further would make long texts of bare `&` slow.
        let decoded = rest[1..]
            .bytes()
            .take(12)
            .position(|b| b == b';')
            .and_then(|end| Some((entity(&rest[1..=end])?, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 2..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "deg" => '°',
        "times" => '×',
        "euro" => '€',
        "pound" => '£',
        _ => return None,
    })
}
