//! Tumblr, through its API v2 (https://www.tumblr.com/docs/en/api/v2) with OAuth2: the
//! posts and reblogs of the person's blog, in the Neue Post Format
//! (https://www.tumblr.com/docs/npf).
//!
//! `GET /v2/user/info` names the blog once (the primary one, unless the connection names a
//! blog as its handle; kept in the cursor). Then `GET /v2/blog/{blog}/posts?npf=true&limit=20`
//! newest first, each next page as the answer's `_links.next.query_params` say (an
//! `offset`), back to the oldest post. Later syncs read from the newest down to the
//! newest post archived before: one request when fewer than 20 posts are new. A pinned
//! post sits on top of the first page whatever its age, so a page ends the walk only when
//! its last (oldest) post is one archived before.
//!
//! Each answer is kept as sent (one raw item, identified by its sha256); one raw post per
//! post, identified by its `id_string`: Tumblr's ids exceed 2^53, so the number is never
//! read as one. Reblogs are reposts of `parent_post_url`; text, image, video, audio and
//! link blocks become the text and the files, the reblog trail's too.
//!
//! Access tokens last about 40 minutes (`expires_in` 2520); Api refreshes them with the
//! refresh token `offline_access` gives (client id and secret in the form body, as the
//! documentation's examples send them).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::*;

pub struct Tumblr;

/// One answer of `/v2/blog/{blog}/posts`: `{meta, response: {posts, total_posts, _links}}`.
pub const POSTS: &str = "application/vnd.lifeboat.tumblr-api-posts+json";

/// The most `/posts` gives at once.
const LIMIT: usize = 20;

static OAUTH: OAuthSpec = OAuthSpec {
    authorize_url: "https://www.tumblr.com/oauth2/authorize",
    token_url: "https://api.tumblr.com/v2/oauth2/token",
    // Read access, and a refresh token.
    scopes: &["basic", "offline_access"],
    authorize_params: &[],
    secret_in_body: true,
    register_at: "https://www.tumblr.com/oauth/apps",
    registers_itself: false,
};

impl Codec for Tumblr {
    fn platform(&self) -> Platform {
        Platform::Tumblr
    }

    fn split(&self, item: &ItemRef) -> anyhow::Result<Vec<RawPost>> {
        let answer: Envelope = serde_json::from_slice(item.payload)
            .context("a Tumblr API answer is not a list of posts")?;
        Ok(answer
            .response
            .posts
            .into_iter()
            .filter_map(|post| Some(RawPost::new(post_id(&post)?, &post)))
            .collect())
    }

    fn normalize(&self, raw: &RawPost) -> anyhow::Result<NewPost> {
        Ok(normalize_post(&raw.value()?))
    }
}

impl Connector for Tumblr {
    fn auth(&self) -> Auth {
        Auth::OAuth2(&OAUTH)
    }

    /// Tumblr allows an app 1,000 calls an hour and 5,000 a day. A steady 200 an hour
    /// keeps under both (4,800 a day), even when a backfill runs all day: 4,000 posts an hour.
    fn quota(&self) -> Quota {
        Quota {
            requests: 200,
            per: std::time::Duration::from_secs(3600),
        }
    }

    fn default_url(&self) -> Option<&'static str> {
        Some("https://api.tumblr.com")
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "Lifeboat backs up your primary blog's posts and reblogs (give another blog's \
             name as the handle to back up that one). Drafts, the queue, likes and messages \
             are not read; Tumblr's own export (Settings → Account → Export) has them.",
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

#[derive(Deserialize)]
struct Envelope {
    response: Posts,
}

#[derive(Deserialize)]
struct Posts {
    #[serde(default)]
    posts: Vec<Value>,
    #[serde(default)]
    total_posts: Option<i64>,
    #[serde(default, rename = "_links")]
    links: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blog: Option<String>,
    /// `next` holds the next page's query parameters (JSON), `stop_at` and `newest` post ids.
    #[serde(default, flatten)]
    walk: Walk,
}

async fn fetch_page(ctx: &FetchContext<'_>, cursor: Option<&str>) -> Result<Page, FetchError> {
    let mut position: Position = super::position(cursor);
    let base = ctx.base()?;
    let blog = match position.blog.clone() {
        Some(blog) => blog,
        None => {
            let blog = match ctx.handle.map(str::trim).filter(|h| !h.is_empty()) {
                Some(handle) => handle.trim_start_matches('@').to_string(),
                None => primary_blog(ctx, base).await?,
            };
            position.blog = Some(blog.clone());
            blog
        }
    };
    let backfill = position.walk.is_backfill();
    let url = format!("{base}/v2/blog/{blog}/posts");
    let mut query: Vec<(String, String)> = position
        .walk
        .next
        .as_deref()
        .and_then(|next| serde_json::from_str::<Map<String, Value>>(next).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, value)| Some((key, scalar(&value)?)))
        .filter(|(key, _)| !matches!(key.as_str(), "npf" | "limit"))
        .collect();
    query.push(("npf".into(), "true".into()));
    query.push(("limit".into(), LIMIT.to_string()));
    let page = ctx
        .api
        .get_json::<Envelope>(|http| http.get(&url).query(&query))
        .await?;
    let posts = &page.value.response.posts;
    if backfill
        && position.walk.next.is_none()
        && let Some(total) = page.value.response.total_posts
    {
        ctx.api.report_total(total);
    }
    for id in posts.iter().filter_map(post_id) {
        if position
            .walk
            .newest
            .as_deref()
            .is_none_or(|n| newer(&id, n))
        {
            position.walk.newest = Some(id);
        }
    }
    // The oldest post of the page is one archived before: everything newer is in hand.
    let reached_stop = match (&position.walk.stop_at, posts.last().and_then(post_id)) {
        (Some(stop), Some(last)) => !newer(&last, stop),
        _ => false,
    };
    let next = next_query(&page.value.response, &query);
    let done = position.walk.advance(next, reached_stop);
    let items = if posts.is_empty() {
        Vec::new()
    } else {
        vec![RawItem {
            external_id: hex::encode(Sha256::digest(&page.body)),
            content_type: POSTS.into(),
            source_url: Some(page.url),
            payload: page.body,
        }]
    };
    Ok(Page::at(items, &position, done, backfill))
}

/// The account's primary blog (`/v2/user/info`).
async fn primary_blog(ctx: &FetchContext<'_>, base: &str) -> Result<String, FetchError> {
    let url = format!("{base}/v2/user/info");
    let info = ctx.api.get_json::<Value>(|http| http.get(&url)).await?;
    let blogs = info.value["response"]["user"]["blogs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let blog = blogs
        .iter()
        .find(|b| b["primary"].as_bool() == Some(true))
        .or(blogs.first())
        .and_then(|b| b["name"].as_str())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| FetchError::Invalid(format!("{} names no blog", info.url)))?;
    Ok(blog.to_string())
}

/// The next page's query, as `_links.next.query_params` gives it (JSON, for the cursor);
/// else the next offset while `total_posts` says there are more; None at the end.
fn next_query(answer: &Posts, sent: &[(String, String)]) -> Option<String> {
    let count = answer.posts.len();
    if count == 0 {
        return None;
    }
    if let Some(params) = answer
        .links
        .as_ref()
        .and_then(|l| l.get("next"))
        .and_then(|n| n.get("query_params"))
        .and_then(Value::as_object)
    {
        return Some(Value::Object(params.clone()).to_string());
    }
    let offset: i64 = sent
        .iter()
        .find(|(k, _)| k == "offset")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let next = offset + count as i64;
    let more = match answer.total_posts {
        Some(total) => next < total,
        None => count == LIMIT,
    };
    more.then(|| json!({"offset": next.to_string()}).to_string())
}

/// A query parameter's value: strings as they are, numbers and booleans written out.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The post's id as Tumblr writes it in `id_string`; the number only as a fallback (serde
/// reads a u64 exactly, never through f64).
fn post_id(post: &Value) -> Option<String> {
    if let Some(id) = post.get("id_string").and_then(Value::as_str) {
        return Some(id.to_string());
    }
    post.get("id")
        .and_then(Value::as_u64)
        .map(|id| id.to_string())
}

/// Tumblr ids grow with time; compared as decimal numbers of any length.
fn newer(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

fn text_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn normalize_post(post: &Value) -> NewPost {
    let content = post["content"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let trail = post["trail"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut media = Vec::new();
    let own = blocks_text(content, &mut media);
    // What the reblogged posts said, each under its blog's name.
    let mut quoted = Vec::new();
    for entry in trail {
        let blocks = entry["content"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let said = blocks_text(blocks, &mut media);
        if !said.is_empty() {
            let name = text_at(&entry["blog"], "name").or(text_at(&entry["broken_blog"], "name"));
            quoted.push(match name {
                Some(name) => format!("{name}: {said}"),
                None => said,
            });
        }
    }
    let parent = text_at(post, "parent_post_url")
        .or(text_at(post, "reblogged_from_url"))
        .map(String::from);
    let repost = parent.is_some() || !trail.is_empty();
    let text = [own]
        .into_iter()
        .chain(quoted)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut engagement = Map::new();
    if let Some(notes) = post.get("note_count").and_then(Value::as_i64) {
        engagement.insert("notes".into(), json!(notes));
    }
    if let Some(tags) = post["tags"].as_array().filter(|t| !t.is_empty()) {
        engagement.insert("tags".into(), Value::Array(tags.clone()));
    }
    for key in ["blog_name", "state", "original_type", "slug"] {
        if let Some(value) = text_at(post, key) {
            engagement.insert(key.into(), json!(value));
        }
    }
    if let Some(root) = text_at(post, "reblogged_root_url") {
        engagement.insert("reblogged_root_url".into(), json!(root));
    }
    NewPost {
        kind: if repost { "repost" } else { "post" }.into(),
        author: text_at(post, "blog_name")
            .or(text_at(&post["blog"], "name"))
            .map(String::from),
        title: heading(content),
        text,
        url: text_at(post, "post_url").map(String::from),
        created_at: post.get("timestamp").and_then(Value::as_i64),
        engagement: Some(Value::Object(engagement)),
        // Without a parent URL, the trail's last entry is the post reblogged.
        repost_of: parent.or_else(|| {
            trail
                .last()
                .and_then(|t| text_at(&t["post"], "id"))
                .map(String::from)
        }),
        media,
        ..NewPost::default()
    }
}

/// A post's first block, when it is a heading: its title.
fn heading(content: &[Value]) -> Option<String> {
    let first = content.first()?;
    (text_at(first, "type") == Some("text")
        && matches!(text_at(first, "subtype"), Some("heading1" | "heading2")))
    .then(|| text_at(first, "text").map(String::from))
    .flatten()
}

/// The plain text of NPF blocks, one line each; their files go to `media`.
fn blocks_text(blocks: &[Value], media: &mut Vec<MediaRef>) -> String {
    let mut lines = Vec::new();
    for block in blocks {
        match text_at(block, "type") {
            Some("text") => lines.extend(text_at(block, "text").map(String::from)),
            Some("image") => {
                if let Some(url) = best_image(block) {
                    add(media, url, "image");
                }
                lines.extend(text_at(block, "alt_text").map(|alt| format!("[{alt}]")));
                lines.extend(text_at(block, "caption").map(String::from));
            }
            Some(kind @ ("video" | "audio")) => {
                // Files Tumblr hosts; an embed (YouTube, Spotify) is a link to a page.
                let file = text_at(&block["media"], "url").or_else(|| {
                    block["media"]
                        .as_array()
                        .and_then(|m| m.first())
                        .and_then(|m| text_at(m, "url"))
                });
                match file {
                    Some(url) => add(media, url, kind),
                    None => lines.extend(text_at(block, "url").map(String::from)),
                }
                for key in ["title", "artist"] {
                    lines.extend(text_at(block, key).map(String::from));
                }
                if let Some(poster) = block["poster"].as_array().and_then(|p| p.first())
                    && let Some(url) = text_at(poster, "url")
                {
                    add(media, url, "image");
                }
            }
            Some("link") => {
                let title = text_at(block, "title");
                let url = text_at(block, "url");
                lines.push(
                    [title, text_at(block, "description"), url]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" — "),
                );
            }
            _ => {}
        }
    }
    lines.retain(|l| !l.is_empty());
    lines.join("\n")
}

/// The original of an image block: the size Tumblr marks as original, else the widest.
fn best_image(block: &Value) -> Option<&str> {
    let sizes = block["media"].as_array()?;
    sizes
        .iter()
        .find(|m| m["has_original_dimensions"].as_bool() == Some(true))
        .or_else(|| {
            sizes
                .iter()
                .max_by_key(|m| m["width"].as_i64().unwrap_or(0))
        })
        .and_then(|m| text_at(m, "url"))
}

fn add(media: &mut Vec<MediaRef>, url: &str, kind: &str) {
    if !media.iter().any(|m| m.url == url) {
        media.push(MediaRef {
            url: url.to_string(),
            kind: Some(kind.into()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"{"meta":{"status":200,"msg":"OK"},"response":{"blog":{"name":"fieldnotes","title":"Field notes","posts":2},"posts":[
      {"object_type":"post","type":"blocks","id":741234567890123457,"id_string":"741234567890123457",
       "blog_name":"fieldnotes","post_url":"https://fieldnotes.tumblr.com/post/741234567890123457/spring",
       "slug":"spring","date":"2024-03-02 09:15:00 GMT","timestamp":1709370900,"state":"published",
       "tags":["birds","spring"],"note_count":42,"original_type":"photo",
       "content":[
         {"type":"text","subtype":"heading1","text":"Spring"},
         {"type":"image","media":[
           {"url":"https://64.media.tumblr.com/abc/s1280x1920/x.jpg","type":"image/jpeg","width":1280,"height":960},
           {"url":"https://64.media.tumblr.com/abc/s2048x3072/x.jpg","type":"image/jpeg","width":2048,"height":1536,"has_original_dimensions":true},
           {"url":"https://64.media.tumblr.com/abc/s400x600/x.jpg","type":"image/jpeg","width":400,"height":300}],
          "alt_text":"A robin"},
         {"type":"text","text":"First robin of the year."},
         {"type":"link","url":"https://birds.example.org/robin","title":"Robins"}],
       "layout":[],"trail":[]},
      {"object_type":"post","type":"blocks","id":741234567890123456,"id_string":"741234567890123456",
       "blog_name":"fieldnotes","post_url":"https://fieldnotes.tumblr.com/post/741234567890123456",
       "timestamp":1709300000,"tags":[],"note_count":7,
       "parent_post_url":"https://birder.tumblr.com/post/741111111111111111",
       "reblogged_root_url":"https://birder.tumblr.com/post/741111111111111111",
       "content":[{"type":"text","text":"So good"}],
       "trail":[{"post":{"id":"741111111111111111"},"blog":{"name":"birder"},
                 "content":[{"type":"text","text":"A heron at dawn"},
                            {"type":"video","provider":"tumblr","url":"https://va.media.tumblr.com/tumblr_heron.mp4",
                             "media":{"url":"https://va.media.tumblr.com/tumblr_heron.mp4","type":"video/mp4","width":540,"height":960},
                             "poster":[{"url":"https://64.media.tumblr.com/heron_frame1.jpg","type":"image/jpeg","width":540,"height":960}]}],
                 "layout":[]}]}
    ],"total_posts":2}}"#;

    fn raws() -> Vec<RawPost> {
        Tumblr
            .split(&ItemRef {
                content_type: POSTS,
                source_url: None,
                payload: ANSWER.as_bytes(),
            })
            .unwrap()
    }

    #[test]
    fn ids_are_the_id_strings_never_a_rounded_number() {
        let raws = raws();
        // 741234567890123457 is not a double: read as f64 it would end in ...456 or ...460.
        assert_eq!(raws[0].platform_post_id, "741234567890123457");
        assert_eq!(raws[1].platform_post_id, "741234567890123456");
        assert!(newer("741234567890123457", "741234567890123456"));
        assert!(newer("1000", "999"));
    }

    #[test]
    fn npf_blocks_become_text_and_files() {
        let post = Tumblr.normalize(&raws()[0]).unwrap();
        assert_eq!(post.kind, "post");
        assert_eq!(post.title.as_deref(), Some("Spring"));
        assert_eq!(
            post.text,
            "Spring\n[A robin]\nFirst robin of the year.\nRobins — https://birds.example.org/robin"
        );
        assert_eq!(post.created_at, Some(1709370900));
        assert_eq!(
            post.media,
            vec![MediaRef {
                url: "https://64.media.tumblr.com/abc/s2048x3072/x.jpg".into(),
                kind: Some("image".into())
            }]
        );
        let engagement = post.engagement.unwrap();
        assert_eq!(engagement["notes"], json!(42));
        assert_eq!(engagement["tags"], json!(["birds", "spring"]));
    }

    #[test]
    fn a_reblog_is_a_repost_with_the_trail() {
        let post = Tumblr.normalize(&raws()[1]).unwrap();
        assert_eq!(post.kind, "repost");
        assert_eq!(
            post.repost_of.as_deref(),
            Some("https://birder.tumblr.com/post/741111111111111111")
        );
        assert_eq!(post.text, "So good\n\nbirder: A heron at dawn");
        let urls: Vec<&str> = post.media.iter().map(|m| m.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://va.media.tumblr.com/tumblr_heron.mp4",
                "https://64.media.tumblr.com/heron_frame1.jpg"
            ]
        );
    }

    #[test]
    fn the_next_page_follows_the_links_else_the_offset() {
        let answer = |count: usize, total: Option<i64>, links: Option<Value>| Posts {
            posts: vec![json!({}); count],
            total_posts: total,
            links,
        };
        let links = json!({"next": {"href": "/v2/blog/fieldnotes/posts?npf=true&offset=20", "method": "GET",
            "query_params": {"npf": "true", "offset": "20", "page_number": "2"}}});
        let next = next_query(&answer(20, Some(45), Some(links)), &[]).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&next).unwrap()["offset"],
            json!("20")
        );
        let sent = [("offset".to_string(), "40".to_string())];
        assert_eq!(
            next_query(&answer(20, Some(100), None), &sent).as_deref(),
            Some(r#"{"offset":"60"}"#)
        );
        assert_eq!(next_query(&answer(20, Some(60), None), &sent), None);
        assert_eq!(next_query(&answer(7, None, None), &sent), None);
    }
}
