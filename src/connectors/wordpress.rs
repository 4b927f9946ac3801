//! A WordPress site, self-hosted or on WordPress.com, through its REST API
//! (https://developer.wordpress.org/rest-api/): the site's posts, pages and media library.
//!
//! The connection's URL is the site; the API is at `{site}/wp-json/wp/v2/` (or, on a site
//! without pretty permalinks, at `{site}/?rest_route=/wp/v2/`, tried after a 404). A person
//! connects with their user name and an application password (WordPress 5.6+), sent as
//! HTTP Basic with every request. Lists are read in the `view` context, which any account
//! may ask for (`edit` needs editing rights an application password may lack), so what is
//! archived is what the site publishes.
//!
//! The backfill walks `/posts`, then `/pages`, then `/media`, newest first
//! (`orderby=date&order=desc`, `per_page=100`), pages 1 to `X-WP-TotalPages`. Later syncs
//! ask each list for what changed since the newest `modified_gmt` archived
//! (`modified_after`, `orderby=modified`), so edited posts come back and update the archived
//! ones (a post is identified by its id). WordPress has no query over several post types
//! that filters on the modification date (`/wp/v2/search` gives neither content nor dates),
//! so a later sync asks `/posts` every time and `/pages` and `/media` in turn: two requests
//! when little changed; a new page or upload waits one sync more than a new post. A post's
//! featured image comes embedded with it (`_embed=author,wp:featuredmedia,wp:term`), with
//! its author's name and its categories and tags, so a new post needs no media request.
//!
//! Each answer (a JSON array) is kept as sent; one raw post per object, identified by its
//! id: ids are unique across posts, pages and attachments (one `wp_posts` table). Posts
//! and pages become articles; media library items their own posts (kind `media`) holding
//! the file, and naming the post they are attached to.

use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use super::*;
use crate::importers::media_kind;
use crate::text::{attr, html_to_text, tags};

pub struct Wordpress;

/// One answer of `/wp/v2/posts`, `/pages` or `/media`: a JSON array of objects.
pub const LIST: &str = "application/vnd.lifeboat.wordpress-api-list+json";

/// The most the API gives at once.
const PER_PAGE: u32 = 100;
/// What a post or page list embeds: the author's name, the featured image, the terms.
const EMBED: &str = "author,wp:featuredmedia,wp:term";

impl Codec for Wordpress {
    fn platform(&self) -> Platform {
        Platform::Wordpress
    }

    fn split(&self, item: &ItemRef) -> anyhow::Result<Vec<RawPost>> {
        let objects: Vec<Value> = serde_json::from_slice(item.payload)
            .context("a WordPress API answer is not a list of objects")?;
        Ok(objects
            .into_iter()
            .filter_map(|object| {
                let id = object.get("id")?.as_u64()?;
                Some(RawPost::new(id.to_string(), &object))
            })
            .collect())
    }

    fn normalize(&self, raw: &RawPost) -> anyhow::Result<NewPost> {
        let object = raw.value()?;
        Ok(if text_at(&object, "type") == Some("attachment") {
            normalize_attachment(&object)
        } else {
            normalize_article(&object)
        })
    }
}

impl Connector for Wordpress {
    fn auth(&self) -> Auth {
        Auth::AppPassword
    }

    /// WordPress documents no limit: a site is one PHP server, often on shared hosting, and
    /// a page of 100 posts with their embeds is real work for it. Five requests a second
    /// (shared by all WordPress connections of this Lifeboat) backs up 30,000 posts a
    /// minute and leaves the site to its readers; a host that wants fewer says so with a 429.
    fn quota(&self) -> Quota {
        Quota {
            requests: 5,
            per: Duration::from_secs(1),
        }
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "Connect with your WordPress user name and an application password (Users → \
             Profile → Application Passwords, WordPress 5.6 or later) and your site's address. \
             Lifeboat archives what the site publishes: posts, pages and the media library. \
             Drafts, private posts and comments are not read; WordPress's own export \
             (Tools → Export) has them.",
        )
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a FetchContext<'a>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(fetch_page(ctx, cursor))
    }
}

/// Which list is being read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    #[default]
    Posts,
    Pages,
    Media,
}

impl Step {
    fn path(self) -> &'static str {
        match self {
            Step::Posts => "posts",
            Step::Pages => "pages",
            Step::Media => "media",
        }
    }
}

/// Where one list stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct List {
    /// True once the first walk reached the oldest item.
    #[serde(default)]
    backfilled: bool,
    /// The next page of the walk under way (1 when none is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<u32>,
    /// The newest `modified_gmt` a finished walk archived: the next walk asks for what
    /// changed after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// The newest `modified_gmt` of the walk under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    #[serde(default)]
    step: Step,
    #[serde(default)]
    posts: List,
    #[serde(default)]
    pages: List,
    #[serde(default)]
    media: List,
    /// Later syncs read pages on even turns, media on odd ones.
    #[serde(default)]
    turn: u32,
    /// The site has plain permalinks: its API is at `?rest_route=`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    plain: bool,
}

impl Position {
    fn list(&mut self, step: Step) -> &mut List {
        match step {
            Step::Posts => &mut self.posts,
            Step::Pages => &mut self.pages,
            Step::Media => &mut self.media,
        }
    }

    /// The list after `step` in this sync, if any.
    fn after(&self, step: Step) -> Option<Step> {
        match step {
            Step::Posts if !self.pages.backfilled => Some(Step::Pages),
            Step::Posts if !self.media.backfilled => Some(Step::Media),
            Step::Posts if self.turn.is_multiple_of(2) => Some(Step::Pages),
            Step::Posts => Some(Step::Media),
            Step::Pages if !self.media.backfilled => Some(Step::Media),
            _ => None,
        }
    }
}

async fn fetch_page(ctx: &FetchContext<'_>, cursor: Option<&str>) -> Result<Page, FetchError> {
    let mut position: Position = super::position(cursor);
    let base = ctx.base()?;
    let step = position.step;
    let mut plain = position.plain;
    let list = position.list(step);
    let backfill = !list.backfilled;
    let page = list.page.unwrap_or(1);
    let mut query = vec![
        ("per_page", PER_PAGE.to_string()),
        ("page", page.to_string()),
        ("order", "desc".to_string()),
    ];
    match list.since.as_deref().and_then(modified_after) {
        Some(after) if !backfill => {
            query.push(("orderby", "modified".into()));
            query.push(("modified_after", after));
        }
        _ => query.push(("orderby", "date".into())),
    }
    if step != Step::Media {
        query.push(("_embed", EMBED.into()));
    }
    let mut answer = request(ctx, base, plain, step, &query).await;
    if !plain && matches!(&answer, Err(FetchError::Invalid(m)) if m.contains("HTTP 404")) {
        // A site without pretty permalinks has no /wp-json/: its API answers at
        // ?rest_route=. Asked once; the cursor remembers.
        if let Ok(found) = request(ctx, base, true, step, &query).await {
            plain = true;
            answer = Ok(found);
        }
    }
    let answer = match answer {
        Ok(answer) => Some(answer),
        // Items deleted during a walk leave it fewer pages than it was told: its end.
        Err(FetchError::Invalid(message)) if message.contains("rest_post_invalid_page_number") => {
            None
        }
        Err(e) => return Err(e),
    };
    let mut items = Vec::new();
    let mut finished = true;
    if let Some(answer) = answer {
        if backfill
            && step == Step::Posts
            && page == 1
            && let Some(total) = header_number(&answer.headers, "x-wp-total")
        {
            ctx.api.report_total(total as i64);
        }
        for object in &answer.value {
            if let Some(modified) = text_at(object, "modified_gmt")
                && list.newest.as_deref().is_none_or(|n| modified > n)
            {
                list.newest = Some(modified.to_string());
            }
        }
        let pages = header_number(&answer.headers, "x-wp-totalpages");
        finished = match pages {
            Some(pages) => u64::from(page) >= pages,
            None => answer.value.len() < PER_PAGE as usize,
        } || answer.value.is_empty();
        if !answer.value.is_empty() {
            items.push(RawItem {
                external_id: hex::encode(Sha256::digest(&answer.body)),
                content_type: LIST.into(),
                source_url: Some(answer.url),
                payload: answer.body,
            });
        }
    }
    let mut done = false;
    if finished {
        list.page = None;
        if let Some(newest) = list.newest.take()
            && list.since.as_deref().is_none_or(|s| newest.as_str() > s)
        {
            list.since = Some(newest);
        }
        list.backfilled = true;
        match position.after(step) {
            Some(next) => position.step = next,
            None => {
                position.step = Step::Posts;
                position.turn += 1;
                done = true;
            }
        }
    } else {
        list.page = Some(page + 1);
    }
    position.plain = plain;
    Ok(Page::at(items, &position, done, backfill))
}

/// One list request, at `/wp-json/wp/v2/{list}` or, on a site with plain permalinks, at
/// `/?rest_route=/wp/v2/{list}`.
async fn request(
    ctx: &FetchContext<'_>,
    base: &str,
    plain: bool,
    step: Step,
    query: &[(&str, String)],
) -> Result<api::Json<Vec<Value>>, FetchError> {
    let route = format!("/wp/v2/{}", step.path());
    let (url, route) = if plain {
        (format!("{base}/"), vec![("rest_route", route)])
    } else {
        (format!("{base}/wp-json{route}"), Vec::new())
    };
    ctx.api
        .get_json::<Vec<Value>>(|http| http.get(&url).query(&route).query(query))
        .await
}

/// `modified_after` for a walk: a second before the newest modification archived, so a
/// post saved in that same second after the last sync read the list is not missed (the
/// newest archived one comes again and changes nothing). WordPress reads a date with an
/// offset in the site's time zone, so the GMT time is sent with its `Z`.
fn modified_after(since: &str) -> Option<String> {
    let at = gmt(since)? - 1;
    let at = ::time::OffsetDateTime::from_unix_timestamp(at).ok()?;
    let format =
        ::time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.format(&format).ok()
}

fn header_number(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// A `*_gmt` date ("2024-01-12T17:29:56", no offset, UTC) as unix seconds.
fn gmt(text: &str) -> Option<i64> {
    let format =
        ::time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let text = text.trim().trim_end_matches('Z');
    let text = text.split('.').next()?;
    ::time::PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

fn text_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `{"rendered": "..."}`, as titles, contents, excerpts and captions come.
fn rendered<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    text_at(value.get(key)?, "rendered")
}

/// When it was published: `date_gmt`, else (drafts have none) the site's local `date`.
fn created(object: &Value) -> Option<i64> {
    text_at(object, "date_gmt")
        .and_then(gmt)
        .or_else(|| text_at(object, "date").and_then(gmt))
}

/// The first embedded object of a link relation.
fn embedded<'a>(object: &'a Value, relation: &str) -> Option<&'a Value> {
    object
        .get("_embedded")?
        .get(relation)?
        .as_array()?
        .first()
        // A hidden author or a deleted image is embedded as an error object.
        .filter(|e| e.get("code").is_none())
}

fn normalize_article(object: &Value) -> NewPost {
    let html = rendered(object, "content");
    let link = text_at(object, "link");
    let base = link.and_then(|l| Url::parse(l).ok());
    let mut text = html.map(html_to_text).unwrap_or_default();
    if text.is_empty() {
        // A password-protected post shows only its excerpt.
        text = rendered(object, "excerpt")
            .map(html_to_text)
            .unwrap_or_default();
    }
    let mut engagement = Map::new();
    if let Some(kind) = text_at(object, "type") {
        engagement.insert("type".into(), json!(kind));
    }
    for key in ["slug", "status", "format", "comment_status"] {
        if let Some(value) = text_at(object, key) {
            engagement.insert(key.into(), json!(value));
        }
    }
    if let Some(edited) = text_at(object, "modified_gmt").and_then(gmt) {
        engagement.insert("edited_at".into(), json!(edited));
    }
    if object.get("sticky").and_then(Value::as_bool) == Some(true) {
        engagement.insert("sticky".into(), json!(true));
    }
    if object["content"].get("protected").and_then(Value::as_bool) == Some(true) {
        engagement.insert("protected".into(), json!(true));
    }
    // Term names when embedded, else the ids the post carries.
    let terms = object
        .get("_embedded")
        .and_then(|e| e.get("wp:term"))
        .and_then(Value::as_array);
    for (taxonomy, key) in [("category", "categories"), ("post_tag", "tags")] {
        let names: Vec<&str> = terms
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter(|t| text_at(t, "taxonomy") == Some(taxonomy))
            .filter_map(|t| text_at(t, "name"))
            .collect();
        let ids = object
            .get(key)
            .filter(|ids| ids.as_array().is_some_and(|a| !a.is_empty()));
        if !names.is_empty() {
            engagement.insert(key.into(), json!(names));
        } else if let Some(ids) = ids {
            engagement.insert(key.into(), ids.clone());
        }
    }
    let mut media = Vec::new();
    let mut add = |url: String, kind: Option<&str>| {
        if !media.iter().any(|m: &MediaRef| m.url == url) {
            media.push(MediaRef {
                url,
                kind: kind.map(String::from),
            });
        }
    };
    if let Some(featured) = embedded(object, "wp:featuredmedia")
        && let Some(url) = text_at(featured, "source_url")
    {
        engagement.insert("featured_media".into(), featured["id"].clone());
        add(url.to_string(), Some(attachment_kind(featured, url)));
    }
    for src in html.map(image_sources).unwrap_or_default() {
        let url = match &base {
            Some(base) => base.join(&src).map(String::from).unwrap_or(src),
            None => src,
        };
        if url.starts_with("http") {
            add(url, Some("image"));
        }
    }
    NewPost {
        kind: "article".into(),
        author: embedded(object, "author")
            .and_then(|a| text_at(a, "name"))
            .map(String::from),
        title: rendered(object, "title")
            .map(html_to_text)
            .filter(|t| !t.is_empty()),
        text,
        html: html.map(String::from),
        url: link.map(String::from),
        created_at: created(object),
        engagement: Some(Value::Object(engagement)),
        media,
        ..NewPost::default()
    }
}

/// A media library item: its file, caption and description, and the post it is attached to.
fn normalize_attachment(object: &Value) -> NewPost {
    let caption = rendered(object, "caption");
    let description = rendered(object, "description");
    let text = [caption, description, text_at(object, "alt_text")]
        .into_iter()
        .flatten()
        .map(html_to_text)
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let mut engagement = Map::new();
    engagement.insert("type".into(), json!("attachment"));
    if let Some(parent) = object
        .get("post")
        .and_then(Value::as_u64)
        .filter(|p| *p > 0)
    {
        engagement.insert("attached_to".into(), json!(parent.to_string()));
    }
    for key in ["mime_type", "alt_text", "slug"] {
        if let Some(value) = text_at(object, key) {
            engagement.insert(key.into(), json!(value));
        }
    }
    let media = text_at(object, "source_url")
        .map(|url| MediaRef {
            url: url.to_string(),
            kind: Some(attachment_kind(object, url).to_string()),
        })
        .into_iter()
        .collect();
    NewPost {
        kind: "media".into(),
        title: rendered(object, "title")
            .map(html_to_text)
            .filter(|t| !t.is_empty()),
        text,
        html: caption.map(String::from),
        url: text_at(object, "link").map(String::from),
        created_at: created(object),
        engagement: Some(Value::Object(engagement)),
        media,
        ..NewPost::default()
    }
}

/// image, video or audio from the attachment's MIME type (`media_type` only says
/// "image" or "file"), else from its file name; "file" for documents.
fn attachment_kind(object: &Value, url: &str) -> &'static str {
    match text_at(object, "mime_type").and_then(|m| m.split('/').next()) {
        Some("image") => "image",
        Some("video") => "video",
        Some("audio") => "audio",
        _ if text_at(object, "media_type") == Some("image") => "image",
        _ => media_kind(url.split('?').next().unwrap_or(url)).unwrap_or("file"),
    }
}

/// The `src` of every `<img>` in a fragment, except 1×1 tracking pixels.
fn image_sources(html: &str) -> Vec<String> {
    tags(html, "img")
        .iter()
        .filter(|a| !(attr(a, "width") == Some("1") && attr(a, "height") == Some("1")))
        .filter_map(|a| attr(a, "src").map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post() -> Value {
        json!({
            "id": 4182,
            "date": "2024-03-02T10:15:00",
            "date_gmt": "2024-03-02T09:15:00",
            "guid": {"rendered": "https://blog.example.com/?p=4182"},
            "modified": "2024-03-05T08:00:00",
            "modified_gmt": "2024-03-05T07:00:00",
            "slug": "spring-stew",
            "status": "publish",
            "type": "post",
            "link": "https://blog.example.com/2024/03/02/spring-stew/",
            "title": {"rendered": "Spring stew &#8211; a recipe"},
            "content": {
                "rendered": "<p>Leeks &amp; peas.</p>\n<figure class=\"wp-block-image\"><img decoding=\"async\" width=\"1024\" height=\"768\" src=\"https://blog.example.com/wp-content/uploads/2024/03/stew.jpg\" alt=\"\" class=\"wp-image-4183\"/></figure>\n<p>Serve <em>hot</em>.</p><img src=\"https://pixel.wp.com/g.gif\" width=\"1\" height=\"1\">",
                "protected": false
            },
            "excerpt": {"rendered": "<p>Leeks &amp; peas.</p>\n", "protected": false},
            "author": 1,
            "featured_media": 4183,
            "comment_status": "open",
            "ping_status": "open",
            "sticky": false,
            "template": "",
            "format": "standard",
            "meta": {"footnotes": ""},
            "categories": [3],
            "tags": [7, 9],
            "_links": {"self": [{"href": "https://blog.example.com/wp-json/wp/v2/posts/4182"}]},
            "_embedded": {
                "author": [{"id": 1, "name": "Alice Cook", "url": "", "slug": "alice"}],
                "wp:featuredmedia": [{
                    "id": 4183, "date": "2024-03-02T10:10:00", "slug": "stew", "type": "attachment",
                    "media_type": "image", "mime_type": "image/jpeg",
                    "source_url": "https://blog.example.com/wp-content/uploads/2024/03/stew-hero.jpg"
                }],
                "wp:term": [
                    [{"id": 3, "name": "Recipes", "slug": "recipes", "taxonomy": "category"}],
                    [{"id": 7, "name": "spring", "taxonomy": "post_tag"}, {"id": 9, "name": "soup", "taxonomy": "post_tag"}]
                ]
            }
        })
    }

    fn split(objects: Value) -> Vec<RawPost> {
        Wordpress
            .split(&ItemRef {
                content_type: LIST,
                source_url: None,
                payload: &serde_json::to_vec(&objects).unwrap(),
            })
            .unwrap()
    }

    #[test]
    fn a_post_is_an_article_with_its_featured_image_and_terms() {
        let raws = split(json!([post()]));
        assert_eq!(raws[0].platform_post_id, "4182");
        let article = Wordpress.normalize(&raws[0]).unwrap();
        assert_eq!(article.kind, "article");
        assert_eq!(article.title.as_deref(), Some("Spring stew – a recipe"));
        assert_eq!(article.text, "Leeks & peas. Serve hot.");
        assert_eq!(article.author.as_deref(), Some("Alice Cook"));
        assert_eq!(article.created_at, Some(1709370900));
        assert_eq!(
            article.url.as_deref(),
            Some("https://blog.example.com/2024/03/02/spring-stew/")
        );
        let urls: Vec<&str> = article.media.iter().map(|m| m.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://blog.example.com/wp-content/uploads/2024/03/stew-hero.jpg",
                "https://blog.example.com/wp-content/uploads/2024/03/stew.jpg"
            ]
        );
        let engagement = article.engagement.unwrap();
        assert_eq!(engagement["categories"], json!(["Recipes"]));
        assert_eq!(engagement["tags"], json!(["spring", "soup"]));
        assert_eq!(engagement["edited_at"], json!(1709622000));
        assert_eq!(engagement["type"], json!("post"));
    }

    #[test]
    fn an_attachment_is_a_media_post_naming_its_parent() {
        let raws = split(json!([{
            "id": 4190, "date": "2024-03-04T12:00:00", "date_gmt": "2024-03-04T11:00:00",
            "modified_gmt": "2024-03-04T11:00:00", "slug": "interview", "status": "inherit",
            "type": "attachment", "link": "https://blog.example.com/interview/",
            "title": {"rendered": "Interview"}, "author": 1,
            "caption": {"rendered": "<p>With the chef</p>\n"}, "alt_text": "",
            "media_type": "file", "mime_type": "audio/mpeg", "post": 4182,
            "source_url": "https://blog.example.com/wp-content/uploads/2024/03/interview.mp3"
        }]));
        let media = Wordpress.normalize(&raws[0]).unwrap();
        assert_eq!(media.kind, "media");
        assert_eq!(media.text, "With the chef");
        assert_eq!(
            media.media,
            vec![MediaRef {
                url: "https://blog.example.com/wp-content/uploads/2024/03/interview.mp3".into(),
                kind: Some("audio".into())
            }]
        );
        assert_eq!(media.engagement.unwrap()["attached_to"], json!("4182"));
    }

    #[test]
    fn modified_after_is_a_second_before_in_utc() {
        assert_eq!(
            modified_after("2024-03-05T07:00:00").as_deref(),
            Some("2024-03-05T06:59:59Z")
        );
    }

    #[test]
    fn syncs_after_the_backfill_read_pages_and_media_in_turn() {
        let mut position = Position::default();
        for list in [
            &mut position.posts,
            &mut position.pages,
            &mut position.media,
        ] {
            list.backfilled = true;
        }
        assert_eq!(position.after(Step::Posts), Some(Step::Pages));
        position.turn += 1;
        assert_eq!(position.after(Step::Posts), Some(Step::Media));
        assert_eq!(position.after(Step::Media), None);
    }
}
