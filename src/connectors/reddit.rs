//! Reddit, through its OAuth API (https://www.reddit.com/dev/api/): what the person posted,
//! commented and saved.
//!
//! `GET /api/v1/me` names the account once (kept in the cursor). The backfill walks the
//! account's three listings, `/user/{name}/submitted`, `/comments` and `/saved`
//! (`limit=100`, `raw_json=1` so texts come unescaped, paged by the Listing's `after`
//! fullname until it is null). Later syncs read `/user/{name}/overview` (posts and comments
//! together, newest first) down to the first item archived before, and `/saved` down to a
//! saved item archived before: two requests when little is new. Reddit's listings reach
//! back about 1,000 items each, whatever the account's age; the data export (Reddit
//! importer) has the rest.
//!
//! Each Listing is kept as sent (one raw item, identified by its sha256); one raw post per
//! child (`{"kind": "t3"|"t1", "data": {...}}`), identified by its fullname (`t3_…` posts,
//! `t1_…` comments, `saved:` before either for saved items): the ids of the Reddit export
//! importer (`importers::reddit`), so an imported post and the same post synced are one.
//! The export's raw items share this codec and go to the importer's.
//!
//! Access tokens last an hour; Api refreshes them (HTTP Basic client authentication, a
//! permanent refresh token asked for with `duration=permanent`).

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::*;
use crate::importers::media_kind;
use crate::importers::reddit::Reddit as Export;

pub struct Reddit;

/// One Listing of the person's posts and comments (`submitted`, `comments`, `overview`).
pub const LISTING: &str = "application/vnd.lifeboat.reddit-api-listing+json";
/// One Listing of `saved`.
pub const SAVED: &str = "application/vnd.lifeboat.reddit-api-saved+json";

/// The most a Listing gives at once.
const LIMIT: usize = 100;
/// Fullnames a finished walk keeps to stop at next time, per listing.
const KNOWN: usize = 20;
const WEB: &str = "https://www.reddit.com";

static OAUTH: OAuthSpec = OAuthSpec {
    authorize_url: "https://www.reddit.com/api/v1/authorize",
    token_url: "https://www.reddit.com/api/v1/access_token",
    scopes: &["identity", "history", "read"],
    // A refresh token is only given for permanent access.
    authorize_params: &[("duration", "permanent")],
    secret_in_body: false,
    register_at: "https://www.reddit.com/prefs/apps",
    registers_itself: false,
};

impl Codec for Reddit {
    fn platform(&self) -> Platform {
        Platform::Reddit
    }

    fn split(&self, item: &ItemRef) -> anyhow::Result<Vec<RawPost>> {
        let prefix = match item.content_type {
            LISTING => "",
            SAVED => "saved:",
            _ => return Export.split(item),
        };
        let listing: Listing =
            serde_json::from_slice(item.payload).context("a Reddit API answer is not a Listing")?;
        Ok(listing
            .data
            .children
            .into_iter()
            .filter_map(|child| {
                let name = fullname(&child)?;
                Some(RawPost::new(format!("{prefix}{name}"), &child))
            })
            .collect())
    }

    fn normalize(&self, raw: &RawPost) -> anyhow::Result<NewPost> {
        // The export's rows are flat objects of strings; the API's things are
        // `{"kind", "data"}`.
        let payload = raw.value()?;
        let (Some(kind), Some(data)) = (
            payload.get("kind").and_then(Value::as_str),
            payload.get("data").filter(|d| d.is_object()),
        ) else {
            return Export.normalize(raw);
        };
        let post = match kind {
            "t3" => normalize_link(data),
            "t1" => normalize_comment(data),
            other => bail!(
                "Reddit item {} is a {other}, not a post or a comment",
                raw.platform_post_id
            ),
        };
        Ok(if raw.platform_post_id.starts_with("saved:") {
            saved(post, data)
        } else {
            post
        })
    }
}

impl Connector for Reddit {
    fn auth(&self) -> Auth {
        Auth::OAuth2(&OAUTH)
    }

    /// 100 queries a minute per OAuth client id (averaged over ten minutes).
    fn quota(&self) -> Quota {
        Quota {
            requests: 100,
            per: std::time::Duration::from_secs(60),
        }
    }

    fn default_url(&self) -> Option<&'static str> {
        Some("https://oauth.reddit.com")
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "Reddit's API lists only about the last 1,000 posts, 1,000 comments and 1,000 \
             saved items of an account. For everything older, request your data at \
             https://www.reddit.com/settings/data-request and import it on the Imports page.",
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
struct Listing {
    data: ListingData,
}

#[derive(Deserialize)]
struct ListingData {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    children: Vec<Value>,
}

/// Which listing is being walked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    #[default]
    Submitted,
    Comments,
    Saved,
    Overview,
}

impl Step {
    fn path(self) -> &'static str {
        match self {
            Step::Submitted => "submitted",
            Step::Comments => "comments",
            Step::Saved => "saved",
            Step::Overview => "overview",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default)]
    step: Step,
    /// True once the three backfill walks are over.
    #[serde(default)]
    backfilled: bool,
    /// The Listing's `after` for the next page of the walk under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    /// The newest posts and comments archived (fullnames), and when the newest was created:
    /// a later walk through the overview stops at them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    known: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stop_time: Option<i64>,
    /// The newest saved items archived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    saved_known: Vec<String>,
    /// What the walk under way saw first (its newest), and its newest creation time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seen: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest_time: Option<i64>,
}

async fn fetch_page(ctx: &FetchContext<'_>, cursor: Option<&str>) -> Result<Page, FetchError> {
    let mut position: Position = super::position(cursor);
    let base = ctx.base()?;
    let name = match position.name.clone() {
        Some(name) => name,
        None => {
            let url = format!("{base}/api/v1/me");
            let me = ctx
                .api
                .get_json::<Value>(|http| http.get(&url).query(&[("raw_json", "1")]))
                .await?;
            let name = me.value["name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| FetchError::Invalid(format!("{} names no account", me.url)))?
                .to_string();
            position.name = Some(name.clone());
            name
        }
    };
    let step = position.step;
    let backfill = !position.backfilled;
    let url = format!("{base}/user/{name}/{}", step.path());
    let mut query = vec![("limit", LIMIT.to_string()), ("raw_json", "1".to_string())];
    if step != Step::Saved {
        query.push(("sort", "new".into()));
    }
    if let Some(after) = &position.after {
        query.push(("after", after.clone()));
    }
    let page = ctx
        .api
        .get_json::<Listing>(|http| http.get(&url).query(&query))
        .await?;
    let stop_at_known = !backfill;
    let mut reached_known = false;
    for child in &page.value.data.children {
        let Some(fullname) = fullname(child) else {
            continue;
        };
        let created = child["data"]["created_utc"].as_f64().map(|t| t as i64);
        if stop_at_known {
            let older = step == Step::Overview
                && matches!((created, position.stop_time), (Some(c), Some(stop)) if c < stop);
            let known = if step == Step::Saved {
                &position.saved_known
            } else {
                &position.known
            };
            if older || known.contains(&fullname) {
                reached_known = true;
                break;
            }
        }
        if position.seen.len() < KNOWN {
            position.seen.push(fullname);
        }
        if step != Step::Saved
            && let Some(created) = created
        {
            position.newest_time = Some(position.newest_time.map_or(created, |t| t.max(created)));
        }
    }
    let after = page.value.data.after.clone().filter(|a| !a.is_empty());
    let finished = reached_known || after.is_none() || page.value.data.children.is_empty();
    let mut done = false;
    if finished {
        let seen = std::mem::take(&mut position.seen);
        if step == Step::Saved {
            position.saved_known = merge(seen, &position.saved_known, KNOWN);
        } else {
            // Posts and comments share one list: the overview mixes them.
            position.known = merge(seen, &position.known, 2 * KNOWN);
            if let Some(time) = position.newest_time.take() {
                position.stop_time = Some(position.stop_time.map_or(time, |t| t.max(time)));
            }
        }
        position.after = None;
        position.step = match step {
            Step::Submitted => Step::Comments,
            Step::Comments | Step::Overview => Step::Saved,
            Step::Saved => {
                position.backfilled = true;
                done = true;
                Step::Overview
            }
        };
    } else {
        position.after = after;
    }
    let items = if page.value.data.children.is_empty() {
        Vec::new()
    } else {
        vec![RawItem {
            external_id: hex::encode(Sha256::digest(&page.body)),
            content_type: if step == Step::Saved { SAVED } else { LISTING }.into(),
            source_url: Some(page.url),
            payload: page.body,
        }]
    };
    Ok(Page::at(items, &position, done, backfill))
}

/// `new` first, then the older ones not in it, at most `max`.
fn merge(new: Vec<String>, old: &[String], max: usize) -> Vec<String> {
    let mut all = new;
    for id in old {
        if !all.contains(id) {
            all.push(id.clone());
        }
    }
    all.truncate(max);
    all
}

/// A thing's fullname: `name`, else its kind and id.
fn fullname(child: &Value) -> Option<String> {
    let data = child.get("data")?;
    if let Some(name) = data
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| n.contains('_'))
    {
        return Some(name.to_string());
    }
    let kind = child.get("kind")?.as_str()?;
    let id = data.get("id")?.as_str()?;
    Some(format!("{kind}_{id}"))
}

fn text_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn permalink(data: &Value) -> Option<String> {
    text_at(data, "permalink").map(absolute)
}

fn absolute(url: &str) -> String {
    if url.starts_with('/') {
        format!("{WEB}{url}")
    } else {
        url.to_string()
    }
}

fn created(data: &Value) -> Option<i64> {
    data.get("created_utc")
        .and_then(Value::as_f64)
        .map(|t| t as i64)
}

/// What posts and comments share, under the export importer's keys where they say the
/// same thing (`subreddit`, `removed`).
fn common_engagement(data: &Value, body: Option<&str>) -> Map<String, Value> {
    let mut engagement = Map::new();
    if let Some(subreddit) = text_at(data, "subreddit") {
        engagement.insert("subreddit".into(), json!(subreddit));
    }
    for key in ["score", "num_comments", "gilded", "total_awards_received"] {
        if let Some(n) = data.get(key).and_then(Value::as_i64) {
            engagement.insert(key.into(), json!(n));
        }
    }
    if let Some(ratio) = data.get("upvote_ratio").and_then(Value::as_f64) {
        engagement.insert("upvote_ratio".into(), json!(ratio));
    }
    if let Some(edited) = data.get("edited").and_then(Value::as_f64) {
        engagement.insert("edited_at".into(), json!(edited as i64));
    }
    if data.get("over_18").and_then(Value::as_bool) == Some(true) {
        engagement.insert("nsfw".into(), json!(true));
    }
    if let Some(flair) = text_at(data, "link_flair_text") {
        engagement.insert("flair".into(), json!(flair));
    }
    if matches!(body, Some("[removed]" | "[deleted]")) {
        engagement.insert("removed".into(), json!(true));
    }
    engagement
}

/// A post (t3): a text post, or a link (to an image, a video, a gallery, a page).
fn normalize_link(data: &Value) -> NewPost {
    let body = text_at(data, "selftext");
    let permalink = permalink(data);
    let link = text_at(data, "url")
        .map(absolute)
        .filter(|url| Some(url) != permalink.as_ref());
    let mut engagement = common_engagement(data, body);
    if let Some(link) = &link {
        engagement.insert("link".into(), json!(link));
    }
    NewPost {
        kind: "post".into(),
        author: text_at(data, "author").map(String::from),
        title: text_at(data, "title").map(String::from),
        text: body.unwrap_or_default().to_string(),
        html: text_at(data, "selftext_html").map(String::from),
        url: permalink,
        created_at: created(data),
        engagement: Some(Value::Object(engagement)),
        media: media(data, link.as_deref()),
        ..NewPost::default()
    }
}

/// A comment (t1): `parent_id` is the fullname of the comment or post it answers.
fn normalize_comment(data: &Value) -> NewPost {
    let body = text_at(data, "body");
    let mut engagement = common_engagement(data, body);
    if let Some(link) = text_at(data, "link_permalink").or(text_at(data, "link_url")) {
        engagement.insert("link".into(), json!(absolute(link)));
    }
    if let Some(title) = text_at(data, "link_title") {
        engagement.insert("link_title".into(), json!(title));
    }
    NewPost {
        kind: "comment".into(),
        author: text_at(data, "author").map(String::from),
        text: body.unwrap_or_default().to_string(),
        html: text_at(data, "body_html").map(String::from),
        url: permalink(data),
        created_at: created(data),
        engagement: Some(Value::Object(engagement)),
        reply_to: text_at(data, "parent_id")
            .or(text_at(data, "link_id"))
            .map(String::from),
        ..NewPost::default()
    }
}

/// A saved post or comment: the thing itself, kept as a bookmark (as the importer does).
fn saved(mut post: NewPost, data: &Value) -> NewPost {
    let mut engagement = post
        .engagement
        .take()
        .and_then(|e| e.as_object().cloned())
        .unwrap_or_default();
    if let Some(name) = text_at(data, "name") {
        engagement.insert("saved".into(), json!(name));
    }
    if post.title.is_none() {
        post.title = text_at(data, "link_title").map(String::from);
    }
    post.kind = "bookmark".into();
    post.reply_to = None;
    post.engagement = Some(Value::Object(engagement));
    post
}

/// The files a post shows: a linked image or video file, a gallery's images, a Reddit
/// video (its fallback MP4).
fn media(data: &Value, link: Option<&str>) -> Vec<MediaRef> {
    let mut media = Vec::new();
    let mut add = |url: String, kind: &str| {
        if !media.iter().any(|m: &MediaRef| m.url == url) {
            media.push(MediaRef {
                url,
                kind: Some(kind.into()),
            });
        }
    };
    if let Some(link) = link
        && let Ok(parsed) = url::Url::parse(link)
        && matches!(parsed.scheme(), "http" | "https")
        && let Some(kind) = media_kind(parsed.path())
    {
        add(link.to_string(), kind);
    }
    if let Some(video) = text_at(&data["secure_media"]["reddit_video"], "fallback_url")
        .or(text_at(&data["media"]["reddit_video"], "fallback_url"))
    {
        add(video.to_string(), "video");
    }
    // A gallery: `gallery_data.items` gives the order, `media_metadata` the files.
    let items = data["gallery_data"]["items"].as_array();
    for item in items.into_iter().flatten() {
        let Some(id) = text_at(item, "media_id") else {
            continue;
        };
        let meta = &data["media_metadata"][id];
        if let Some(url) = text_at(&meta["s"], "u").or(text_at(&meta["s"], "gif")) {
            add(url.to_string(), "image");
        }
    }
    media
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(children: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "kind": "Listing",
            "data": {"after": null, "dist": 2, "modhash": null, "geo_filter": "", "before": null, "children": children}
        }))
        .unwrap()
    }

    fn link() -> Value {
        json!({"kind": "t3", "data": {
            "subreddit": "rust",
            "selftext": "",
            "author_fullname": "t2_abc12",
            "title": "My first stew",
            "subreddit_name_prefixed": "r/rust",
            "name": "t3_1abcde",
            "upvote_ratio": 0.97,
            "ups": 120,
            "score": 120,
            "num_comments": 14,
            "edited": false,
            "gilded": 0,
            "over_18": false,
            "link_flair_text": "Show",
            "id": "1abcde",
            "author": "alice",
            "permalink": "/r/rust/comments/1abcde/my_first_stew/",
            "url": "https://i.redd.it/x1y2z3.jpeg",
            "created_utc": 1705080596.0,
            "is_self": false,
            "is_video": false,
            "post_hint": "image"
        }})
    }

    fn comment() -> Value {
        json!({"kind": "t1", "data": {
            "subreddit": "rust",
            "link_title": "Why Rust?",
            "link_id": "t3_1zzzzz",
            "parent_id": "t1_kabc12",
            "author": "alice",
            "body": "Because > C & <b>",
            "body_html": "&lt;div class=\"md\"&gt;&lt;p&gt;Because &amp;gt; C&lt;/p&gt;&lt;/div&gt;",
            "score": 5,
            "edited": 1705080999.0,
            "id": "kxyz34",
            "name": "t1_kxyz34",
            "permalink": "/r/rust/comments/1zzzzz/why_rust/kxyz34/",
            "link_permalink": "https://www.reddit.com/r/rust/comments/1zzzzz/why_rust/",
            "created_utc": 1705080700.0
        }})
    }

    fn split(content_type: &str, payload: &[u8]) -> Vec<RawPost> {
        Reddit
            .split(&ItemRef {
                content_type,
                source_url: None,
                payload,
            })
            .unwrap()
    }

    #[test]
    fn posts_and_comments_have_the_export_ids() {
        let raws = split(LISTING, &listing(json!([link(), comment()])));
        assert_eq!(raws[0].platform_post_id, "t3_1abcde");
        assert_eq!(raws[1].platform_post_id, "t1_kxyz34");
        let post = Reddit.normalize(&raws[0]).unwrap();
        assert_eq!(post.kind, "post");
        assert_eq!(post.title.as_deref(), Some("My first stew"));
        assert_eq!(
            post.url.as_deref(),
            Some("https://www.reddit.com/r/rust/comments/1abcde/my_first_stew/")
        );
        assert_eq!(post.created_at, Some(1705080596));
        assert_eq!(
            post.media,
            vec![MediaRef {
                url: "https://i.redd.it/x1y2z3.jpeg".into(),
                kind: Some("image".into())
            }]
        );
        let engagement = post.engagement.unwrap();
        assert_eq!(engagement["subreddit"], json!("rust"));
        assert_eq!(engagement["score"], json!(120));
        assert_eq!(engagement["num_comments"], json!(14));
        let reply = Reddit.normalize(&raws[1]).unwrap();
        assert_eq!(reply.kind, "comment");
        assert_eq!(reply.text, "Because > C & <b>");
        assert_eq!(reply.reply_to.as_deref(), Some("t1_kabc12"));
        assert_eq!(reply.engagement.unwrap()["edited_at"], json!(1705080999));

        let saved = split(SAVED, &listing(json!([link(), comment()])));
        assert_eq!(saved[0].platform_post_id, "saved:t3_1abcde");
        assert_eq!(saved[1].platform_post_id, "saved:t1_kxyz34");
        let bookmark = Reddit.normalize(&saved[1]).unwrap();
        assert_eq!(bookmark.kind, "bookmark");
        assert_eq!(bookmark.title.as_deref(), Some("Why Rust?"));
        assert_eq!(bookmark.engagement.unwrap()["saved"], json!("t1_kxyz34"));
    }

    #[test]
    fn export_rows_go_to_the_importer_with_the_same_ids() {
        let rows = serde_json::to_vec(&json!([{
            "id": "1abcde",
            "permalink": "https://www.reddit.com/r/rust/comments/1abcde/my_first_stew/",
            "date": "2024-01-12 17:29:56 UTC",
            "subreddit": "rust",
            "title": "My first stew",
            "url": "https://i.redd.it/x1y2z3.jpeg",
            "body": ""
        }]))
        .unwrap();
        let raws = split("application/vnd.lifeboat.reddit-posts+json", &rows);
        assert_eq!(raws[0].platform_post_id, "t3_1abcde");
        let post = Reddit.normalize(&raws[0]).unwrap();
        assert_eq!(post.kind, "post");
        assert_eq!(post.created_at, Some(1705080596));
    }

    #[test]
    fn galleries_and_videos() {
        let mut gallery = link();
        gallery["data"]["url"] = json!("https://www.reddit.com/gallery/1abcde");
        gallery["data"]["gallery_data"] =
            json!({"items": [{"media_id": "m2", "id": 2}, {"media_id": "m1", "id": 1}]});
        gallery["data"]["media_metadata"] = json!({
            "m1": {"status": "valid", "e": "Image", "m": "image/jpg", "s": {"y": 100, "x": 100, "u": "https://preview.redd.it/m1.jpg?width=100"}},
            "m2": {"status": "valid", "e": "Image", "m": "image/png", "s": {"y": 100, "x": 100, "u": "https://preview.redd.it/m2.png?width=100"}}
        });
        let post = normalize_link(&gallery["data"]);
        let urls: Vec<&str> = post.media.iter().map(|m| m.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://preview.redd.it/m2.png?width=100",
                "https://preview.redd.it/m1.jpg?width=100"
            ]
        );
        let mut video = link();
        video["data"]["url"] = json!("https://v.redd.it/abc");
        video["data"]["secure_media"] = json!({"reddit_video": {"fallback_url": "https://v.redd.it/abc/DASH_720.mp4?source=fallback", "duration": 12}});
        let post = normalize_link(&video["data"]);
        assert_eq!(
            post.media,
            vec![MediaRef {
                url: "https://v.redd.it/abc/DASH_720.mp4?source=fallback".into(),
                kind: Some("video".into())
            }]
        );
    }
}
