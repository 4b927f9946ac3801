//! Any public feed: RSS 2.0, RSS 1.0, Atom and JSON Feed. That covers blogs (WordPress,
//! Medium, Substack, Tumblr), YouTube channels and Mastodon profiles (`.rss`).
//!
//! `fetch` keeps the whole feed document exactly as served as one raw item whose identity is
//! the body's sha256, so a server that ignores conditional requests and sends the same feed
//! again still adds nothing. `split` turns the document into one raw post per entry, kept in
//! a JSON shape of our own (feed formats differ too much to keep each entry's own markup),
//! and `normalize` reads only that shape.

use std::collections::HashSet;

use feed_rs::model::{
    Entry, Feed as Document, FeedType, Link, LinkTarget, MediaObject, Person, Text,
};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use super::api::read_body;
use super::*;
use crate::text::{attr, collapse_whitespace, html_to_text, tags};

pub struct Feed;

impl Codec for Feed {
    fn platform(&self) -> Platform {
        Platform::Feed
    }

    fn split(&self, item: &ItemRef) -> anyhow::Result<Vec<RawPost>> {
        split_feed(item)
    }

    fn normalize(&self, raw: &RawPost) -> anyhow::Result<NewPost> {
        normalize_entry(&raw.value()?).ok_or_else(|| {
            anyhow::anyhow!("feed post {} is not an entry object", raw.platform_post_id)
        })
    }
}

impl Connector for Feed {
    fn auth(&self) -> Auth {
        Auth::None
    }

    /// Feeds live on many hosts and are read once per sync; this only stops a runaway.
    fn quota(&self) -> Quota {
        Quota::per_minute(120)
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a FetchContext<'a>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(fetch_feed(ctx, cursor))
    }
}

fn split_feed(item: &ItemRef) -> anyhow::Result<Vec<RawPost>> {
    let document = parse_document(item.payload, item.source_url)
        .map_err(|message| anyhow::anyhow!(message))?;
    let mut seen = HashSet::new();
    let mut posts = Vec::new();
    for entry in &document.entries {
        let id = post_id(entry);
        // Some feeds repeat an entry; one raw post per id keeps the insert idempotent.
        if seen.insert(id.clone()) {
            let payload = entry_payload(&document, entry, &id, item.source_url);
            posts.push(RawPost::new(id, &payload));
        }
    }
    Ok(posts)
}

/// Feed types first, so a server that varies on Accept answers with its feed; HTML is
/// accepted too because `discover` is given web pages.
const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
     application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, text/html;q=0.5, */*;q=0.1";

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
        super::position(cursor)
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
    let response = ctx
        .api
        .send(|http| feed_request(http, url, &previous))
        .await?;
    if response.status() == StatusCode::NOT_MODIFIED {
        return Ok(Page {
            items: vec![],
            cursor: cursor.map(String::from),
            done: true,
            backfill: false,
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
        backfill: cursor.is_none(),
        note: Some(note),
    })
}

/// Finds the feed behind `url`: the URL itself when it is a feed, else the first feed a web
/// page announces in its head (what a person pastes is usually the blog or channel page).
pub async fn discover(http: &reqwest::Client, url: &str) -> Result<String, FetchError> {
    // Before a connection exists: a gate of its own, the usual retries.
    let gate = std::sync::Arc::new(gate::Gate::new(Feed.quota(), Default::default()));
    let api = Api::new(http.clone(), &Feed, gate, Default::default(), None);
    let response = api
        .send_anonymous(|http| http.get(url).header(header::ACCEPT, ACCEPT))
        .await?;
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
        .chain(array_at(entry, "media").filter_map(|m| m.get("description")))
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
    // (URL, declared MIME type); "image/*" for what can only be an image.
    let mut found: Vec<(String, Option<&str>)> = Vec::new();
    for media in array_at(entry, "media") {
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
    for media in array_at(entry, "media") {
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
    for community in array_at(entry, "media").filter_map(|m| m.get("community")) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// split + normalize, the way the ingest layer runs them.
    fn posts(document: &str, source_url: &str) -> Vec<(RawPost, NewPost)> {
        let item = ItemRef {
            content_type: "application/xml",
            source_url: Some(source_url),
            payload: document.as_bytes(),
        };
        Feed.split(&item)
            .expect("split")
            .into_iter()
            .map(|raw| {
                let post = Feed.normalize(&raw).expect("normalize");
                (raw, post)
            })
            .collect()
    }

    fn media(list: &[(&str, Option<&str>)]) -> Vec<MediaRef> {
        list.iter()
            .map(|(url, kind)| MediaRef {
                url: url.to_string(),
                kind: kind.map(String::from),
            })
            .collect()
    }

    const WORDPRESS_RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"
	xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:wfw="http://wellformedweb.org/CommentAPI/"
	xmlns:dc="http://purl.org/dc/elements/1.1/"
	xmlns:atom="http://www.w3.org/2005/Atom"
	xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"
	xmlns:slash="http://purl.org/rss/1.0/modules/slash/"
	>

<channel>
	<title>Field Notes</title>
	<atom:link href="https://fieldnotes.example.com/feed/" rel="self" type="application/rss+xml" />
	<link>https://fieldnotes.example.com</link>
	<description>Notes from the allotment</description>
	<lastBuildDate>Tue, 16 Jan 2024 08:12:45 +0000</lastBuildDate>
	<language>en-GB</language>
	<sy:updatePeriod>
	hourly	</sy:updatePeriod>
	<sy:updateFrequency>
	1	</sy:updateFrequency>
	<generator>https://wordpress.org/?v=6.4.2</generator>
	<item>
		<title>Tomatoes &#038; the first frost&#8217;s lesson</title>
		<link>https://fieldnotes.example.com/2024/01/15/tomatoes-first-frost/</link>
		<comments>https://fieldnotes.example.com/2024/01/15/tomatoes-first-frost/#respond</comments>
		<dc:creator><![CDATA[Ada Gardener]]></dc:creator>
		<pubDate>Mon, 15 Jan 2024 09:30:00 +0000</pubDate>
				<category><![CDATA[Garden]]></category>
		<category><![CDATA[Tomatoes]]></category>
		<guid isPermaLink="false">https://fieldnotes.example.com/?p=1234</guid>

					<description><![CDATA[The frost came early this year &#8230; and the tomatoes knew. [&#8230;]]]></description>
										<content:encoded><![CDATA[<p>The frost came early this year &amp; the tomatoes knew it&#8217;s over.</p>
<figure class="wp-block-image size-large"><img decoding="async" width="1024" height="768" src="https://fieldnotes.example.com/wp-content/uploads/2024/01/frost-1024x768.jpg" alt="Frost on leaves" class="wp-image-1235" srcset="https://fieldnotes.example.com/wp-content/uploads/2024/01/frost-1024x768.jpg 1024w, https://fieldnotes.example.com/wp-content/uploads/2024/01/frost-300x225.jpg 300w" sizes="(max-width: 1024px) 100vw, 1024px" /></figure>
<p>Next year: <strong>cloches</strong> &gt; hope.</p>
<p><img src="/wp-content/uploads/2024/01/cloche.png" alt=""></p>
<img alt="" border="0" src="https://pixel.wp.com/b.gif?host=fieldnotes.example.com&#038;blog=1&#038;post=1234&#038;subd=fieldnotes&#038;ref=&#038;feed=1" width="1" height="1" />]]></content:encoded>
					<wfw:commentRss>https://fieldnotes.example.com/2024/01/15/tomatoes-first-frost/feed/</wfw:commentRss>
			<slash:comments>3</slash:comments>
		</item>
	<item>
		<title>Seed catalogue season</title>
		<link>https://fieldnotes.example.com/2024/01/14/seed-catalogue/</link>
		<dc:creator><![CDATA[Ada Gardener]]></dc:creator>
		<pubDate>Sun, 14 Jan 2024 18:05:00 +0000</pubDate>
		<guid isPermaLink="false">https://fieldnotes.example.com/?p=1229</guid>
		<description><![CDATA[Catalogues arrived. I ordered too much.]]></description>
	</item>
	</channel>
</rss>
"#;

    #[test]
    fn wordpress_rss() {
        let posts = posts(WORDPRESS_RSS, "https://fieldnotes.example.com/feed/");
        assert_eq!(posts.len(), 2);
        let (raw, post) = &posts[0];
        assert_eq!(
            raw.platform_post_id,
            "https://fieldnotes.example.com/?p=1234"
        );
        assert_eq!(
            raw.value().unwrap()["categories"],
            json!(["Garden", "Tomatoes"])
        );
        assert_eq!(raw.value().unwrap()["feed"]["title"]["body"], "Field Notes");
        assert_eq!(
            raw.value().unwrap()["feed"]["link"],
            "https://fieldnotes.example.com/"
        );
        assert_eq!(raw.value().unwrap()["feed"]["format"], "rss2.0");
        assert_eq!(raw.value().unwrap()["summary"]["type"], "text/html");
        assert_eq!(post.kind, "article");
        assert_eq!(
            post.title.as_deref(),
            Some("Tomatoes & the first frost’s lesson")
        );
        assert_eq!(post.author.as_deref(), Some("Ada Gardener"));
        assert_eq!(
            post.url.as_deref(),
            Some("https://fieldnotes.example.com/2024/01/15/tomatoes-first-frost/")
        );
        assert_eq!(post.created_at, Some(1705311000));
        assert_eq!(
            post.text,
            "The frost came early this year & the tomatoes knew it’s over. Next year: cloches > hope."
        );
        let html = post.html.as_deref().unwrap_or_default();
        assert!(html.starts_with("<p>The frost came early this year &amp; the tomatoes"));
        // The relative image resolves against the post; the tracking pixel is left out.
        assert_eq!(
            post.media,
            media(&[
                (
                    "https://fieldnotes.example.com/wp-content/uploads/2024/01/frost-1024x768.jpg",
                    Some("image")
                ),
                (
                    "https://fieldnotes.example.com/wp-content/uploads/2024/01/cloche.png",
                    Some("image")
                ),
            ])
        );
        assert_eq!(post.engagement, None);

        // Without content:encoded the description is the content.
        let (raw, post) = &posts[1];
        assert_eq!(
            raw.platform_post_id,
            "https://fieldnotes.example.com/?p=1229"
        );
        assert_eq!(post.text, "Catalogues arrived. I ordered too much.");
        assert_eq!(post.created_at, Some(1705255500));
        assert!(post.media.is_empty());
    }

    const MEDIUM_RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><rss xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:atom="http://www.w3.org/2005/Atom" version="2.0" xmlns:cc="http://cyber.law.harvard.edu/rss/creativeCommonsRssModule.html">
    <channel>
        <title><![CDATA[Stories by Jane Doe on Medium]]></title>
        <description><![CDATA[Stories by Jane Doe on Medium]]></description>
        <link>https://medium.com/@janedoe?source=rss-5f3c1d2e9a7b------2</link>
        <image>
            <url>https://cdn-images-1.medium.com/fit/c/150/150/1*abcdef.jpeg</url>
            <title>Stories by Jane Doe on Medium</title>
            <link>https://medium.com/@janedoe?source=rss-5f3c1d2e9a7b------2</link>
        </image>
        <generator>Medium</generator>
        <lastBuildDate>Wed, 07 Feb 2024 18:02:11 GMT</lastBuildDate>
        <atom:link href="https://medium.com/@janedoe/feed" rel="self" type="application/rss+xml"/>
        <webMaster><![CDATA[yourfriends@medium.com]]></webMaster>
        <atom:link href="http://medium.superfeedr.com" rel="hub"/>
        <item>
            <title><![CDATA[Why I Back Up Everything]]></title>
            <link>https://medium.com/@janedoe/why-i-back-up-everything-3b1f0c9d8e2a?source=rss-5f3c1d2e9a7b------2</link>
            <guid isPermaLink="false">https://medium.com/p/3b1f0c9d8e2a</guid>
            <category><![CDATA[backup]]></category>
            <category><![CDATA[data]]></category>
            <dc:creator><![CDATA[Jane Doe]]></dc:creator>
            <pubDate>Wed, 07 Feb 2024 17:45:03 GMT</pubDate>
            <atom:updated>2024-02-07T17:58:40.112Z</atom:updated>
            <content:encoded><![CDATA[<h3>Why I Back Up Everything</h3><p>Platforms die. <a href="https://example.org/graveyard">The graveyard</a> is long.</p><figure><img alt="A server rack" src="https://cdn-images-1.medium.com/max/1024/1*Xy9_ZzQw.png" /><figcaption>Photo by someone</figcaption></figure><p>So I keep copies.</p><img src="https://medium.com/_/stat?event=post.clientViewed&amp;referrerSource=full_rss&amp;postId=3b1f0c9d8e2a" width="1" height="1" alt="">]]></content:encoded>
        </item>
    </channel>
</rss>"#;

    #[test]
    fn medium_rss() {
        let posts = posts(MEDIUM_RSS, "https://medium.com/feed/@janedoe");
        assert_eq!(posts.len(), 1);
        let (raw, post) = &posts[0];
        assert_eq!(raw.platform_post_id, "https://medium.com/p/3b1f0c9d8e2a");
        assert_eq!(raw.value().unwrap()["published"], 1707327903);
        assert_eq!(raw.value().unwrap()["updated"], 1707328720);
        assert_eq!(post.kind, "article");
        assert_eq!(post.title.as_deref(), Some("Why I Back Up Everything"));
        assert_eq!(post.author.as_deref(), Some("Jane Doe"));
        assert_eq!(
            post.url.as_deref(),
            Some(
                "https://medium.com/@janedoe/why-i-back-up-everything-3b1f0c9d8e2a?source=rss-5f3c1d2e9a7b------2"
            )
        );
        assert_eq!(post.created_at, Some(1707327903));
        assert_eq!(
            post.text,
            "Why I Back Up Everything Platforms die. The graveyard is long. Photo by someone So I keep copies."
        );
        assert_eq!(
            post.media,
            media(&[(
                "https://cdn-images-1.medium.com/max/1024/1*Xy9_ZzQw.png",
                Some("image")
            )])
        );
    }

    const ATOM_WITH_XML_BASE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://notes.example.net/blog/" xml:lang="en">
  <title type="text">Slow Notes</title>
  <subtitle type="html">Thinking &lt;em&gt;slowly&lt;/em&gt;</subtitle>
  <updated>2024-03-02T10:00:00Z</updated>
  <id>tag:notes.example.net,2024:blog</id>
  <link rel="alternate" type="text/html" href="./"/>
  <link rel="self" type="application/atom+xml" href="feed.atom"/>
  <author><name>Kim Lee</name><uri>https://notes.example.net/</uri></author>
  <entry>
    <title type="html">On &lt;code&gt;fsync&lt;/code&gt; &amp;amp; friends</title>
    <link rel="alternate" type="text/html" href="2024/03/fsync"/>
    <link rel="enclosure" type="image/png" href="files/fsync-diagram.png" length="48213"/>
    <link rel="replies" type="text/html" href="2024/03/fsync#comments"/>
    <id>tag:notes.example.net,2024:fsync</id>
    <published>2024-03-01T21:15:00+01:00</published>
    <updated>2024-03-02T09:00:00+01:00</updated>
    <category term="storage" label="Storage"/>
    <summary type="text">Why rename is not enough.</summary>
    <content type="html" xml:base="https://notes.example.net/static/">&lt;p&gt;Write, fsync, rename&amp;hellip; then fsync the directory.&lt;/p&gt;&lt;p&gt;&lt;img src="img/fsync.svg" alt="diagram"&gt;&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Undated scribble</title>
    <link href="scribble"/>
    <id>tag:notes.example.net,2024:scribble</id>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>No date on <em>this</em> one.</p></div></content>
  </entry>
</feed>"#;

    #[test]
    fn atom_resolves_relative_links_against_xml_base() {
        let posts = posts(
            ATOM_WITH_XML_BASE,
            "https://notes.example.net/blog/feed.atom",
        );
        assert_eq!(posts.len(), 2);
        let (raw, post) = &posts[0];
        assert_eq!(raw.platform_post_id, "tag:notes.example.net,2024:fsync");
        assert_eq!(
            raw.value().unwrap()["feed"]["link"],
            "https://notes.example.net/blog/"
        );
        assert_eq!(raw.value().unwrap()["feed"]["format"], "atom");
        assert_eq!(raw.value().unwrap()["categories"], json!(["storage"]));
        assert_eq!(post.kind, "article");
        assert_eq!(post.title.as_deref(), Some("On fsync & friends"));
        assert_eq!(
            post.url.as_deref(),
            Some("https://notes.example.net/blog/2024/03/fsync")
        );
        // The entry has no author of its own: the feed's speaks for it.
        assert_eq!(post.author.as_deref(), Some("Kim Lee"));
        assert_eq!(post.created_at, Some(1709324100));
        assert_eq!(post.text, "Write, fsync, rename… then fsync the directory.");
        assert_eq!(
            post.media,
            media(&[
                (
                    "https://notes.example.net/blog/files/fsync-diagram.png",
                    Some("image")
                ),
                // Relative to the content's own xml:base, not to the entry's page.
                (
                    "https://notes.example.net/static/img/fsync.svg",
                    Some("image")
                ),
            ])
        );

        let (raw, post) = &posts[1];
        assert_eq!(raw.platform_post_id, "tag:notes.example.net,2024:scribble");
        assert_eq!(
            post.url.as_deref(),
            Some("https://notes.example.net/blog/scribble")
        );
        assert_eq!(post.text, "No date on this one.");
        // Atom's xhtml content comes without its wrapping div, as the spec says.
        assert_eq!(
            post.html.as_deref(),
            Some("<p>No date on <em>this</em> one.</p>")
        );
        assert_eq!(post.created_at, None);
    }

    const YOUTUBE_ATOM: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href="http://www.youtube.com/feeds/videos.xml?channel_id=UCxyz123"/>
 <id>yt:channel:xyz123</id>
 <yt:channelId>xyz123</yt:channelId>
 <title>Repair Café</title>
 <link rel="alternate" href="https://www.youtube.com/channel/UCxyz123"/>
 <author>
  <name>Repair Café</name>
  <uri>https://www.youtube.com/channel/UCxyz123</uri>
 </author>
 <published>2015-06-01T10:00:00+00:00</published>
 <entry>
  <id>yt:video:dQw4w9WgXcQ</id>
  <yt:videoId>dQw4w9WgXcQ</yt:videoId>
  <yt:channelId>UCxyz123</yt:channelId>
  <title>Fixing a 1970s radio</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"/>
  <author>
   <name>Repair Café</name>
   <uri>https://www.youtube.com/channel/UCxyz123</uri>
  </author>
  <published>2024-04-10T15:00:06+00:00</published>
  <updated>2024-04-12T08:21:44+00:00</updated>
  <media:group>
   <media:title>Fixing a 1970s radio</media:title>
   <media:content url="https://www.youtube.com/v/dQw4w9WgXcQ?version=3" type="application/x-shockwave-flash" width="640" height="390"/>
   <media:thumbnail url="https://i2.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg" width="480" height="360"/>
   <media:description>Capacitors, &amp; patience.
Parts list: https://example.org/parts</media:description>
   <media:community>
    <media:starRating count="1523" average="5.00" min="1" max="5"/>
    <media:statistics views="48211"/>
   </media:community>
  </media:group>
 </entry>
</feed>"#;

    #[test]
    fn youtube_channel_feed() {
        let posts = posts(
            YOUTUBE_ATOM,
            "https://www.youtube.com/feeds/videos.xml?channel_id=UCxyz123",
        );
        assert_eq!(posts.len(), 1);
        let (raw, post) = &posts[0];
        assert_eq!(raw.platform_post_id, "yt:video:dQw4w9WgXcQ");
        assert_eq!(
            raw.value().unwrap()["media"][0]["community"]["views"],
            48211
        );
        assert_eq!(
            raw.value().unwrap()["media"][0]["content"][0]["type"],
            "application/x-shockwave-flash"
        );
        assert_eq!(post.kind, "video");
        assert_eq!(post.title.as_deref(), Some("Fixing a 1970s radio"));
        assert_eq!(post.author.as_deref(), Some("Repair Café"));
        assert_eq!(
            post.url.as_deref(),
            Some("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
        );
        assert_eq!(post.created_at, Some(1712761206));
        assert_eq!(
            post.text,
            "Capacitors, & patience. Parts list: https://example.org/parts"
        );
        assert_eq!(post.html, None);
        // The Flash player URL is no file; the thumbnail is.
        assert_eq!(
            post.media,
            media(&[(
                "https://i2.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg",
                Some("image")
            )])
        );
        assert_eq!(
            post.engagement,
            Some(json!({"views": 48211, "ratings": 1523}))
        );
    }

    const MASTODON_RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:webfeeds="http://webfeeds.org/rss/1.0" xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>Ada Lovelace</title>
    <description>Public posts from @ada@social.example</description>
    <link>https://social.example/@ada</link>
    <image>
      <url>https://files.social.example/accounts/avatars/000/000/001/original/ab12.png</url>
      <title>Ada Lovelace</title>
      <link>https://social.example/@ada</link>
    </image>
    <lastBuildDate>Sat, 18 May 2024 12:00:00 +0000</lastBuildDate>
    <webfeeds:icon>https://files.social.example/accounts/avatars/000/000/001/original/ab12.png</webfeeds:icon>
    <generator>Mastodon v4.2.8</generator>
    <item>
      <guid isPermaLink="true">https://social.example/@ada/112458734563412345</guid>
      <link>https://social.example/@ada/112458734563412345</link>
      <pubDate>Sat, 18 May 2024 11:42:17 +0000</pubDate>
      <description>&lt;p&gt;Backed up my garden photos &amp;amp; notes today. &lt;a href="https://social.example/tags/backup" class="mention hashtag" rel="tag"&gt;#&lt;span&gt;backup&lt;/span&gt;&lt;/a&gt;&lt;/p&gt;</description>
      <media:content url="https://files.social.example/media_attachments/files/112/458/734/original/f00d.jpeg" type="image/jpeg" fileSize="482133" medium="image">
        <media:rating scheme="urn:simple">nonadult</media:rating>
        <media:description type="plain">Tomato seedlings on a windowsill</media:description>
      </media:content>
      <media:content url="https://files.social.example/media_attachments/files/112/458/735/original/beef.mp4" type="video/mp4" fileSize="2048000" medium="video">
        <media:rating scheme="urn:simple">nonadult</media:rating>
      </media:content>
      <category>backup</category>
    </item>
  </channel>
</rss>"#;

    #[test]
    fn mastodon_profile_rss() {
        let posts = posts(MASTODON_RSS, "https://social.example/@ada.rss");
        assert_eq!(posts.len(), 1);
        let (raw, post) = &posts[0];
        assert_eq!(
            raw.platform_post_id,
            "https://social.example/@ada/112458734563412345"
        );
        // Untitled, so a post, even with a video attached.
        assert_eq!(post.kind, "post");
        assert_eq!(post.title, None);
        assert_eq!(post.author, None);
        assert_eq!(
            post.url.as_deref(),
            Some("https://social.example/@ada/112458734563412345")
        );
        assert_eq!(post.created_at, Some(1716032537));
        assert_eq!(
            post.text,
            "Backed up my garden photos & notes today. #backup"
        );
        assert_eq!(
            post.media,
            media(&[
                (
                    "https://files.social.example/media_attachments/files/112/458/734/original/f00d.jpeg",
                    Some("image")
                ),
                (
                    "https://files.social.example/media_attachments/files/112/458/735/original/beef.mp4",
                    Some("video")
                ),
            ])
        );
    }

    const JSON_FEED: &str = r#"{
  "version": "https://jsonfeed.org/version/1.1",
  "title": "Morning Pages",
  "home_page_url": "https://pages.example.org/",
  "feed_url": "https://pages.example.org/feed.json",
  "language": "en",
  "authors": [{"name": "Sam Rivera", "url": "https://pages.example.org/about"}],
  "items": [
    {
      "id": "https://pages.example.org/2024/06/01/rain",
      "url": "https://pages.example.org/2024/06/01/rain",
      "title": "Rain, finally",
      "content_html": "<p>It rained &mdash; at last.</p><p><img src=\"/media/rain.webp\" alt=\"\"></p>",
      "summary": "It rained.",
      "date_published": "2024-06-01T07:30:00-04:00",
      "date_modified": "2024-06-01T08:00:00-04:00",
      "tags": ["weather", "garden"],
      "attachments": [
        {"url": "https://pages.example.org/media/rain-full.jpg", "mime_type": "image/jpeg", "size_in_bytes": 183022}
      ]
    },
    {
      "id": "42",
      "content_text": "Just a short note.\n\nTwo paragraphs.",
      "date_published": "2024-06-02T12:00:00Z"
    }
  ]
}"#;

    #[test]
    fn json_feed() {
        let posts = posts(JSON_FEED, "https://pages.example.org/feed.json");
        assert_eq!(posts.len(), 2);
        let (raw, post) = &posts[0];
        assert_eq!(
            raw.platform_post_id,
            "https://pages.example.org/2024/06/01/rain"
        );
        assert_eq!(
            raw.value().unwrap()["categories"],
            json!(["weather", "garden"])
        );
        assert_eq!(raw.value().unwrap()["feed"]["format"], "json");
        assert_eq!(post.kind, "article");
        assert_eq!(post.title.as_deref(), Some("Rain, finally"));
        assert_eq!(post.author.as_deref(), Some("Sam Rivera"));
        assert_eq!(
            post.url.as_deref(),
            Some("https://pages.example.org/2024/06/01/rain")
        );
        assert_eq!(post.created_at, Some(1717241400));
        assert_eq!(post.text, "It rained — at last.");
        assert_eq!(
            post.media,
            media(&[
                (
                    "https://pages.example.org/media/rain-full.jpg",
                    Some("image")
                ),
                ("https://pages.example.org/media/rain.webp", Some("image")),
            ])
        );

        let (raw, post) = &posts[1];
        assert_eq!(raw.platform_post_id, "42");
        assert_eq!(post.kind, "post");
        assert_eq!(post.url, None);
        assert_eq!(post.html, None);
        assert_eq!(post.text, "Just a short note. Two paragraphs.");
        assert_eq!(post.created_at, Some(1717329600));
    }

    const PODCAST_RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:content="http://purl.org/rss/1.0/modules/content/">
  <channel>
    <title>Soil Matters</title>
    <link>https://soilmatters.example.fm</link>
    <language>en-us</language>
    <itunes:author>Priya N.</itunes:author>
    <itunes:image href="https://soilmatters.example.fm/cover.jpg"/>
    <itunes:category text="Leisure"><itunes:category text="Home &amp; Garden"/></itunes:category>
    <item>
      <title>Ep. 12: Worms &amp; Why</title>
      <itunes:title>Worms &amp; Why</itunes:title>
      <description><![CDATA[<p>We dig into worms.</p>]]></description>
      <enclosure url="https://cdn.example.fm/soilmatters/ep12.mp3" length="34567890" type="audio/mpeg"/>
      <guid isPermaLink="false">soilmatters-ep12</guid>
      <pubDate>Thu, 04 Jul 2024 05:00:00 -0700</pubDate>
      <itunes:duration>00:42:17</itunes:duration>
      <itunes:episode>12</itunes:episode>
      <itunes:image href="https://soilmatters.example.fm/ep12.jpg"/>
      <itunes:explicit>false</itunes:explicit>
    </item>
  </channel>
</rss>"#;

    #[test]
    fn podcast_with_audio_enclosure() {
        let posts = posts(PODCAST_RSS, "https://soilmatters.example.fm/feed.xml");
        assert_eq!(posts.len(), 1);
        let (raw, post) = &posts[0];
        assert_eq!(raw.platform_post_id, "soilmatters-ep12");
        assert_eq!(post.kind, "audio");
        assert_eq!(post.title.as_deref(), Some("Ep. 12: Worms & Why"));
        // The show's itunes:author speaks for its episodes.
        assert_eq!(post.author.as_deref(), Some("Priya N."));
        assert_eq!(post.text, "We dig into worms.");
        assert_eq!(post.created_at, Some(1720094400));
        // No <link>, and the guid is no URL.
        assert_eq!(post.url, None);
        assert_eq!(
            post.media,
            media(&[
                ("https://cdn.example.fm/soilmatters/ep12.mp3", Some("audio")),
                ("https://soilmatters.example.fm/ep12.jpg", Some("image")),
            ])
        );
    }

    const RSS1_RDF: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://diary.example.jp/rss">
    <title>Garden Diary</title>
    <link>https://diary.example.jp/</link>
    <description>Daily notes</description>
    <items><rdf:Seq><rdf:li rdf:resource="https://diary.example.jp/2024/08/01"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://diary.example.jp/2024/08/01">
    <title>Cucumbers everywhere</title>
    <link>https://diary.example.jp/2024/08/01</link>
    <description>Too many   cucumbers.</description>
    <dc:creator>Hana</dc:creator>
    <dc:date>2024-08-01T21:00:00+09:00</dc:date>
  </item>
</rdf:RDF>"#;

    #[test]
    fn rss1_rdf() {
        let posts = posts(RSS1_RDF, "https://diary.example.jp/rss");
        assert_eq!(posts.len(), 1);
        let (raw, post) = &posts[0];
        // RSS 1.0 has no guid: the link stands in.
        assert_eq!(raw.platform_post_id, "https://diary.example.jp/2024/08/01");
        assert_eq!(raw.value().unwrap()["feed"]["format"], "rss1.0");
        assert_eq!(post.kind, "article");
        assert_eq!(post.author.as_deref(), Some("Hana"));
        assert_eq!(post.text, "Too many cucumbers.");
        assert_eq!(post.html, None);
        assert_eq!(post.created_at, Some(1722513600));
    }

    const RSS_WITHOUT_IDS_OR_DATES: &str = r#"<?xml version="1.0"?>
<rss version="2.0"><channel>
  <title>Old school</title>
  <link>http://oldschool.example.com/</link>
  <item>
    <title>Linked, no guid</title>
    <link>http://oldschool.example.com/posts/7.html</link>
    <description>Seven.</description>
  </item>
  <item>
    <title>Nothing but words</title>
    <description>&lt;b&gt;Eight&lt;/b&gt;.</description>
  </item>
</channel></rss>"#;

    #[test]
    fn entries_without_id_or_date() {
        let posts = posts(
            RSS_WITHOUT_IDS_OR_DATES,
            "http://oldschool.example.com/rss.xml",
        );
        assert_eq!(posts.len(), 2);
        let (raw, post) = &posts[0];
        assert_eq!(
            raw.platform_post_id,
            "http://oldschool.example.com/posts/7.html"
        );
        assert_eq!(post.created_at, None);
        assert_eq!(raw.value().unwrap()["published"], Value::Null);

        let (raw, post) = &posts[1];
        assert_eq!(
            raw.platform_post_id,
            sha256_hex(b"Nothing but words\n<b>Eight</b>.")
        );
        assert_eq!(post.created_at, None);
        assert_eq!(post.text, "Eight.");
        // The same document always yields the same ids (reprocess must not duplicate).
        let again = self::posts(
            RSS_WITHOUT_IDS_OR_DATES,
            "http://oldschool.example.com/rss.xml",
        );
        assert_eq!(again[1].0.platform_post_id, raw.platform_post_id);
    }

    #[test]
    fn non_feeds_are_refused_with_a_reason() {
        let split = |body: &[u8]| {
            Feed.split(&ItemRef {
                content_type: "text/html",
                source_url: Some("https://example.com/"),
                payload: body,
            })
            .map(|posts| posts.len())
            .map_err(|err| err.to_string())
        };
        let page = b"<!DOCTYPE html>\n<html lang=\"en\"><head><title>Blog</title></head><body></body></html>";
        assert_eq!(
            split(page),
            Err(
                "the URL is a web page, not a feed; use the address of its RSS or Atom feed".into()
            )
        );
        let garbage = split(b"Service temporarily unavailable, please retry").unwrap_err();
        assert!(
            garbage.starts_with("not an RSS, Atom or JSON feed"),
            "{garbage}"
        );
        let json = split(br#"{"error": "not found"}"#).unwrap_err();
        assert!(json.starts_with("not an RSS, Atom or JSON feed"), "{json}");
        assert!(split(b"<?xml version=\"1.0\"?><note>hi</note>").is_err());
        // An empty feed is still a feed.
        assert_eq!(
            split(b"<rss version=\"2.0\"><channel><title>t</title></channel></rss>"),
            Ok(0)
        );
    }

    #[test]
    fn normalize_refuses_payloads_it_did_not_write() {
        let raw = RawPost::new("x", &json!("just a string"));
        assert!(Feed.normalize(&raw).is_err());
    }

    #[test]
    fn feed_links_in_page_heads() {
        let url = |u: &str| Url::parse(u).expect("test URL");

        let wordpress = r#"<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="UTF-8">
<title>Field Notes &#8211; Notes from the allotment</title>
<link rel='dns-prefetch' href='//fieldnotes.example.com' />
<link rel="alternate" type="application/json" href="https://fieldnotes.example.com/wp-json/wp/v2/pages/2" />
<link rel="alternate" type="application/rss+xml" title="Field Notes &raquo; Feed" href="https://fieldnotes.example.com/feed/" />
<link rel="alternate" type="application/rss+xml" title="Field Notes &raquo; Comments Feed" href="https://fieldnotes.example.com/comments/feed/" />
<link rel='stylesheet' id='wp-block-library-css' href='https://fieldnotes.example.com/wp-includes/css/dist/block-library/style.min.css?ver=6.4.2' media='all' />
<link rel="https://api.w.org/" href="https://fieldnotes.example.com/wp-json/" />
<link rel="alternate" type="application/json+oembed" href="https://fieldnotes.example.com/wp-json/oembed/1.0/embed?url=https%3A%2F%2Ffieldnotes.example.com%2F&#038;format=json" />
</head>"#;
        assert_eq!(
            feed_links(wordpress, &url("https://fieldnotes.example.com/")),
            [
                "https://fieldnotes.example.com/feed/",
                "https://fieldnotes.example.com/comments/feed/",
                // The REST API is a last resort, after every real feed.
                "https://fieldnotes.example.com/wp-json/wp/v2/pages/2",
            ]
        );

        let medium = r#"<head><title data-rh="true">Jane Doe – Medium</title><link data-rh="true" rel="icon" href="https://miro.medium.com/v2/1*m-R_BkNf1Qjr1YbyOIJY2w.png"/><link data-rh="true" rel="alternate" href="android-app://com.medium.reader/https/medium.com/@janedoe"/><link rel="alternate" type="application/rss+xml" title="RSS" href="https://medium.com/feed/@janedoe"/></head>"#;
        assert_eq!(
            feed_links(medium, &url("https://medium.com/@janedoe")),
            ["https://medium.com/feed/@janedoe"]
        );

        let youtube = r#"<link rel="canonical" href="https://www.youtube.com/channel/UCxyz123"><link rel="alternate" media="handheld" href="https://m.youtube.com/@repaircafe"><link rel="alternate" type="application/rss+xml" title="RSS" href="https://www.youtube.com/feeds/videos.xml?channel_id=UCxyz123">"#;
        assert_eq!(
            feed_links(youtube, &url("https://www.youtube.com/@repaircafe")),
            ["https://www.youtube.com/feeds/videos.xml?channel_id=UCxyz123"]
        );

        let mastodon = r#"<link href='https://social.example/users/ada' rel='alternate' type='application/activity+json'>
<link href='https://social.example/@ada.rss' rel='alternate' type='application/rss+xml'>"#;
        assert_eq!(
            feed_links(mastodon, &url("https://social.example/@ada")),
            ["https://social.example/@ada.rss"]
        );

        // Hand-written pages: upper case, unquoted, relative, with parameters.
        let hand_written = r#"<HEAD><LINK REL=alternate TYPE="application/atom+xml; charset=utf-8" HREF=/blog/atom.xml>
<link rel="alternate home" type="application/feed+json" href="feed.json?a=1&amp;b=2"/></HEAD>"#;
        assert_eq!(
            feed_links(hand_written, &url("https://example.org/blog/post.html")),
            [
                "https://example.org/blog/atom.xml",
                "https://example.org/blog/feed.json?a=1&b=2",
            ]
        );

        assert!(
            feed_links(
                "<html><head><title>No feed</title></head></html>",
                &url("https://x.example/")
            )
            .is_empty()
        );
    }

    #[test]
    fn html_to_plain_text() {
        assert_eq!(
            html_to_text(
                "<p>One&nbsp;&amp; two</p><p>Three&#8217;s <em>company</em>,\n   4 &lt; 5 &#x2014; &bogus; R&D</p>"
            ),
            "One & two Three’s company, 4 < 5 — &bogus; R&D"
        );
        assert_eq!(
            html_to_text(
                "a<br>b<!-- <p>hidden</p> -->c<script>var x = '<p>';</script><style>p{}</style>d"
            ),
            // Comments and scripts vanish without breaking the word around them.
            "a bcd"
        );
        assert_eq!(html_to_text("x < y and y > z"), "x < y and y > z");
    }

    #[test]
    fn cursor_drives_conditional_requests() {
        let http = reqwest::Client::new();
        let url = "https://fieldnotes.example.com/feed/";
        let headers = |cursor: &Cursor| {
            feed_request(&http, url, cursor)
                .build()
                .expect("request")
                .headers()
                .clone()
        };

        let fresh = headers(&Cursor::parse(None));
        assert!(fresh.get(header::IF_NONE_MATCH).is_none());
        assert!(fresh.get(header::IF_MODIFIED_SINCE).is_none());
        assert!(fresh.get(header::ACCEPT).is_some());

        let stored = r#"{"etag":"W/\"5f3c-1d2e\"","last_modified":"Tue, 16 Jan 2024 08:12:45 GMT","newest":1705311000}"#;
        let cursor = Cursor::parse(Some(stored));
        let conditional = headers(&cursor);
        assert_eq!(conditional[header::IF_NONE_MATCH], "W/\"5f3c-1d2e\"");
        assert_eq!(
            conditional[header::IF_MODIFIED_SINCE],
            "Tue, 16 Jan 2024 08:12:45 GMT"
        );

        // A stored cursor we cannot read costs one full GET, not an error.
        assert_eq!(Cursor::parse(Some("not json")), Cursor::default());

        // After a 200: the response's validators, and the newest date ever seen.
        let mut response = HeaderMap::new();
        response.insert(
            header::ETAG,
            reqwest::header::HeaderValue::from_static("\"abc\""),
        );
        let document = parse_document(WORDPRESS_RSS.as_bytes(), None).expect("feed");
        let next = cursor.after(&response, &document);
        assert_eq!(
            next,
            Cursor {
                etag: Some("\"abc\"".into()),
                last_modified: None,
                newest: Some(1705311000),
            }
        );
        let older = Cursor {
            newest: Some(1800000000),
            ..Cursor::default()
        };
        assert_eq!(older.after(&response, &document).newest, Some(1800000000));
        assert_eq!(Cursor::parse(Some(&next.to_json())), next);
        assert_eq!(
            serde_json::from_str::<Value>(&next.to_json()).expect("json"),
            json!({"etag": "\"abc\"", "last_modified": null, "newest": 1705311000})
        );
    }

    #[test]
    fn content_type_is_sniffed_from_the_format() {
        let sniff = |doc: &str| {
            sniffed_content_type(
                &parse_document(doc.as_bytes(), None)
                    .expect("feed")
                    .feed_type,
            )
        };
        assert_eq!(sniff(WORDPRESS_RSS), "application/rss+xml");
        assert_eq!(sniff(YOUTUBE_ATOM), "application/atom+xml");
        assert_eq!(sniff(JSON_FEED), "application/feed+json");
    }
}
