//! Mastodon, on any server, through its client API (https://docs.joinmastodon.org/methods/):
//! the person's statuses (posts, replies, boosts), favourites and bookmarks. Pleroma,
//! Akkoma and GoToSocial speak the same API.
//!
//! Lifeboat registers itself as an app on each server (`POST /api/v1/apps`), then the
//! person authorizes it (OAuth2 with PKCE, read-only granular scopes). Mastodon's access
//! tokens do not expire and come without a refresh token, so a refused one means the app
//! was revoked: reconnect. Servers that do issue refresh tokens (Akkoma) are refreshed.
//!
//! `GET /api/v1/accounts/verify_credentials` names the account once (its id is kept in the
//! cursor). Statuses are `GET /api/v1/accounts/:id/statuses?limit=40`, newest first: the
//! backfill follows the `Link` header's `rel="next"` (`max_id`) to the oldest; later syncs
//! ask for `min_id` = the newest status archived, which gives what is newer in one request
//! (a full page is followed by its `rel="prev"`). Favourites and bookmarks
//! (`/api/v1/favourites`, `/api/v1/bookmarks`) are ordered by internal ids that no status
//! carries, so they page only through `Link` headers; a later walk reads from the first
//! page until a status it already archived. To keep a later sync at two requests, it reads
//! the statuses and one of the two lists, favourites and bookmarks in turn.
//!
//! Each answer is kept as sent (one raw item, identified by its sha256). Raw posts have the
//! archive importer's ids (`importers::mastodon`): a status is the last path segment of its
//! ActivityPub `uri` (its API id on Mastodon; a boost's `uri` ends in `/activity`, which is
//! left out), a favourite is `like:<uri>` and a bookmark `bookmark:<uri>` of the status, so
//! a synced post and the same post imported from the archive are one post. The archive's
//! raw items share this codec and go to the importer's.

use anyhow::{Context, bail};
use reqwest::header::{self, HeaderMap};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::*;
use crate::importers::mastodon::{self as archive, Mastodon as Archive};

pub struct Mastodon;

/// One page of `GET /api/v1/accounts/:id/statuses`, as sent: an array of Status.
pub const STATUSES: &str = "application/vnd.lifeboat.mastodon-api-statuses+json";
/// One page of `GET /api/v1/favourites`.
pub const FAVOURITES: &str = "application/vnd.lifeboat.mastodon-api-favourites+json";
/// One page of `GET /api/v1/bookmarks`.
pub const BOOKMARKS: &str = "application/vnd.lifeboat.mastodon-api-bookmarks+json";

/// The most statuses a page gives.
const LIMIT: usize = 40;
/// How many of a list's newest status ids a walk keeps to stop at next time: one
/// un-favourited status must not send the next walk through the whole list.
const KNOWN: usize = 20;

/// Read-only, and only what Lifeboat reads (granular scopes exist since Mastodon 3.1).
const SCOPES: &[&str] = &[
    "read:accounts",
    "read:statuses",
    "read:favourites",
    "read:bookmarks",
];

static OAUTH: OAuthSpec = OAuthSpec {
    authorize_url: "/oauth/authorize",
    token_url: "/oauth/token",
    scopes: SCOPES,
    authorize_params: &[],
    secret_in_body: true,
    register_at: "https://docs.joinmastodon.org/methods/apps/",
    registers_itself: true,
};

impl Codec for Mastodon {
    fn platform(&self) -> Platform {
        Platform::Mastodon
    }

    fn split(&self, item: &ItemRef) -> anyhow::Result<Vec<RawPost>> {
        let prefix = match item.content_type {
            STATUSES => "",
            FAVOURITES => "like:",
            BOOKMARKS => "bookmark:",
            _ => return Archive.split(item),
        };
        let statuses: Vec<Value> = serde_json::from_slice(item.payload)
            .context("a Mastodon API answer is not an array of statuses")?;
        let mut seen = std::collections::HashSet::new();
        Ok(statuses
            .into_iter()
            .filter_map(|status| {
                let id = if prefix.is_empty() {
                    status_key(&status)?
                } else {
                    format!("{prefix}{}", status_uri(&status)?)
                };
                seen.insert(id.clone()).then_some(RawPost::new(id, &status))
            })
            .collect())
    }

    fn normalize(&self, raw: &RawPost) -> anyhow::Result<NewPost> {
        // The archive's raw posts are ActivityPub activities, which all have a `type`;
        // the API's statuses have none.
        let payload = raw.value()?;
        if payload.get("type").is_some() {
            return Archive.normalize(raw);
        }
        if !payload.is_object() {
            bail!("Mastodon post {} is not a status", raw.platform_post_id);
        }
        let id = raw.platform_post_id.as_str();
        Ok(if id.starts_with("like:") {
            normalize_saved(&payload, "like")
        } else if id.starts_with("bookmark:") {
            normalize_saved(&payload, "bookmark")
        } else {
            normalize_status(&payload)
        })
    }
}

impl Connector for Mastodon {
    fn auth(&self) -> Auth {
        Auth::OAuth2(&OAUTH)
    }

    /// 300 requests per 5 minutes per account (and as many per IP address).
    fn quota(&self) -> Quota {
        Quota {
            requests: 300,
            per: std::time::Duration::from_secs(5 * 60),
        }
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "Lifeboat keeps your posts, replies, boosts, favourites and bookmarks, and the \
             files attached to them. Favourites and bookmarks are checked every other sync. \
             Edits to old posts are picked up by the archive importer (Settings → Import and \
             export → Request your archive) rather than by later syncs.",
        )
    }

    fn register_client<'a>(
        &'a self,
        http: &'a reqwest::Client,
        base: &'a str,
        redirect_uri: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<RegisteredClient>> {
        Box::pin(register(http, base, redirect_uri))
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a FetchContext<'a>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(fetch_page(ctx, cursor))
    }
}

/// `POST /api/v1/apps`: the server's client id and secret for this Lifeboat.
async fn register(
    http: &reqwest::Client,
    base: &str,
    redirect_uri: &str,
) -> anyhow::Result<RegisteredClient> {
    #[derive(Deserialize)]
    struct Registered {
        client_id: String,
        client_secret: Option<String>,
    }
    let mut form = vec![
        ("client_name", "Lifeboat".to_string()),
        ("redirect_uris", redirect_uri.to_string()),
        ("scopes", SCOPES.join(" ")),
    ];
    if let Ok(lifeboat) = url::Url::parse(redirect_uri) {
        form.push(("website", lifeboat.origin().ascii_serialization()));
    }
    let url = format!("{}/api/v1/apps", base.trim_end_matches('/'));
    let response = http.post(&url).form(&form).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        bail!("{url} answered HTTP {status}: {text}");
    }
    let app: Registered = serde_json::from_slice(&body)
        .with_context(|| format!("{url} answered something that is not an application"))?;
    Ok(RegisteredClient {
        client_id: app.client_id,
        client_secret: app.client_secret,
    })
}

/// Where the sync stands: the account, which walk is under way, and each walk's position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(default)]
    step: Step,
    #[serde(default)]
    statuses: Statuses,
    #[serde(default)]
    favourites: List,
    #[serde(default)]
    bookmarks: List,
    /// Later syncs read one list each: favourites on even turns, bookmarks on odd ones.
    #[serde(default)]
    turn: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    #[default]
    Statuses,
    Favourites,
    Bookmarks,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Statuses {
    /// True once the backfill reached the oldest status.
    #[serde(default)]
    backfilled: bool,
    /// The next request of the walk under way (a `Link` target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// The newest status id archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct List {
    #[serde(default)]
    backfilled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// The newest status ids the last finished walk archived: the next one stops there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    known: Vec<String>,
    /// The newest status ids of the walk under way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seen: Vec<String>,
}

async fn fetch_page(ctx: &FetchContext<'_>, cursor: Option<&str>) -> Result<Page, FetchError> {
    let mut position: Position = super::position(cursor);
    let base = ctx.base()?;
    let account = match position.account.clone() {
        Some(account) => account,
        None => {
            let url = format!("{base}/api/v1/accounts/verify_credentials");
            let me = ctx.api.get_json::<Value>(|http| http.get(&url)).await?;
            if let Some(count) = me.value["statuses_count"].as_i64() {
                ctx.api.report_total(count);
            }
            let id = me.value["id"]
                .as_str()
                .ok_or_else(|| FetchError::Invalid(format!("{} names no account id", me.url)))?
                .to_string();
            position.account = Some(id.clone());
            id
        }
    };
    let step = position.step;
    let (answer, backfill, finished) = match step {
        Step::Statuses => {
            let backfill = !position.statuses.backfilled;
            let (answer, finished) =
                statuses_page(ctx, base, &account, &mut position.statuses).await?;
            (answer, backfill, finished)
        }
        Step::Favourites | Step::Bookmarks => {
            let (path, list) = if step == Step::Favourites {
                ("favourites", &mut position.favourites)
            } else {
                ("bookmarks", &mut position.bookmarks)
            };
            let backfill = !list.backfilled;
            let (answer, finished) = list_page(ctx, base, path, list).await?;
            (answer, backfill, finished)
        }
    };
    let content_type = match step {
        Step::Statuses => STATUSES,
        Step::Favourites => FAVOURITES,
        Step::Bookmarks => BOOKMARKS,
    };
    let mut done = false;
    if finished {
        let next = match step {
            Step::Statuses if !position.favourites.backfilled => Some(Step::Favourites),
            Step::Statuses if !position.bookmarks.backfilled => Some(Step::Bookmarks),
            Step::Statuses if position.turn.is_multiple_of(2) => Some(Step::Favourites),
            Step::Statuses => Some(Step::Bookmarks),
            Step::Favourites if !position.bookmarks.backfilled => Some(Step::Bookmarks),
            _ => None,
        };
        match next {
            Some(next) => position.step = next,
            None => {
                position.step = Step::Statuses;
                position.turn += 1;
                done = true;
            }
        }
    }
    let items = answer
        .map(|(url, body)| RawItem {
            external_id: hex::encode(Sha256::digest(&body)),
            content_type: content_type.into(),
            source_url: Some(url),
            payload: body,
        })
        .into_iter()
        .collect();
    Ok(Page::at(items, &position, done, backfill))
}

/// An answer worth keeping: (its URL, its body). None for an empty page.
type Answer = Option<(String, Vec<u8>)>;

/// One page of the person's statuses. Returns the answer and whether the walk is over.
async fn statuses_page(
    ctx: &FetchContext<'_>,
    base: &str,
    account: &str,
    walk: &mut Statuses,
) -> Result<(Answer, bool), FetchError> {
    let list = format!("{base}/api/v1/accounts/{account}/statuses?limit={LIMIT}");
    // An account that had no status at its backfill has nothing to go forward from.
    let forward = walk.backfilled && walk.newest.is_some();
    let url = match (&walk.next, &walk.newest) {
        (Some(next), _) => next.clone(),
        (None, Some(newest)) if forward => format!("{list}&min_id={newest}"),
        _ => list.clone(),
    };
    let page = ctx
        .api
        .get_json::<Vec<Value>>(|http| http.get(&url))
        .await?;
    let ids: Vec<&str> = page.value.iter().filter_map(|s| s["id"].as_str()).collect();
    let full = ids.len() >= LIMIT;
    let next = if forward {
        // `min_id` gives the statuses just after it: a full page may have more after it.
        let newest = ids.iter().copied().max_by(|a, b| compare_ids(a, b));
        full.then(|| {
            link(&page.headers, "prev", base)
                .or_else(|| newest.map(|id| format!("{list}&min_id={id}")))
        })
        .flatten()
    } else {
        let oldest = ids.iter().copied().min_by(|a, b| compare_ids(a, b));
        (!ids.is_empty())
            .then(|| {
                link(&page.headers, "next", base)
                    .or_else(|| full.then(|| oldest.map(|id| format!("{list}&max_id={id}")))?)
            })
            .flatten()
    };
    for id in &ids {
        if walk
            .newest
            .as_deref()
            .is_none_or(|newest| compare_ids(id, newest).is_gt())
        {
            walk.newest = Some(id.to_string());
        }
    }
    let finished = next.is_none();
    walk.next = next;
    if finished {
        walk.backfilled = true;
    }
    let answer = (!ids.is_empty()).then_some((page.url, page.body));
    Ok((answer, finished))
}

/// One page of favourites or bookmarks, newest first, paged by `Link` only. A later walk
/// stops at a status an earlier one archived.
async fn list_page(
    ctx: &FetchContext<'_>,
    base: &str,
    path: &str,
    list: &mut List,
) -> Result<(Answer, bool), FetchError> {
    let url = list
        .next
        .clone()
        .unwrap_or_else(|| format!("{base}/api/v1/{path}?limit={LIMIT}"));
    let page = ctx
        .api
        .get_json::<Vec<Value>>(|http| http.get(&url))
        .await?;
    let mut reached_known = false;
    for status in &page.value {
        let Some(id) = status["id"].as_str() else {
            continue;
        };
        if list.known.iter().any(|k| k == id) {
            reached_known = true;
            break;
        }
        if list.seen.len() < KNOWN {
            list.seen.push(id.to_string());
        }
    }
    let next = link(&page.headers, "next", base).filter(|_| !page.value.is_empty());
    let finished = reached_known || next.is_none();
    if finished {
        let mut known = std::mem::take(&mut list.seen);
        for id in std::mem::take(&mut list.known) {
            if known.len() < KNOWN && !known.contains(&id) {
                known.push(id);
            }
        }
        list.known = known;
        list.backfilled = true;
        list.next = None;
    } else {
        list.next = next;
    }
    let answer = (!page.value.is_empty()).then_some((page.url, page.body));
    Ok((answer, finished))
}

/// Status ids are decimal snowflakes on Mastodon and fixed-length flake ids on Pleroma:
/// the longer is the newer, and at equal length they sort as text.
fn compare_ids(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The target of a `Link` header's relation `rel` (RFC 8288), resolved against `base` and
/// kept only on the same server: the access token goes with the request.
fn link(headers: &HeaderMap, rel: &str, base: &str) -> Option<String> {
    let base = url::Url::parse(base).ok()?;
    headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|part| {
            let (target, params) = part.split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            let wanted = params.split(';').any(|param| {
                let Some((key, value)) = param.split_once('=') else {
                    return false;
                };
                key.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case(rel))
            });
            if !wanted {
                return None;
            }
            let url = base.join(target).ok()?;
            (url.origin() == base.origin()).then(|| url.to_string())
        })
}

/// A status's ActivityPub id, else its web address.
fn status_uri(status: &Value) -> Option<&str> {
    status["uri"]
        .as_str()
        .or(status["url"].as_str())
        .filter(|u| !u.is_empty())
}

/// The archive importer's id for a status: the last segment of its `uri` (see the module
/// comment), else its API id.
fn status_key(status: &Value) -> Option<String> {
    status_uri(status)
        .and_then(archive::status_id)
        .or_else(|| status["id"].as_str().map(String::from))
}

fn text_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key)?.as_str().filter(|s| !s.is_empty())
}

/// `@name@host`, as the archive importer writes authors.
fn handle(account: &Value) -> Option<String> {
    let url = text_at(account, "url");
    let host = url
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(String::from));
    match (text_at(account, "username"), host) {
        (Some(name), Some(host)) => Some(format!("@{name}@{host}")),
        _ => match text_at(account, "acct") {
            Some(acct) => Some(format!("@{acct}")),
            None => archive::author_from_url(url?),
        },
    }
}

fn parse_date(value: &str) -> Option<i64> {
    use ::time::format_description::well_known::Rfc3339;
    ::time::OffsetDateTime::parse(value.trim(), &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// A status of the person: a post, a reply, or a boost of another status.
fn normalize_status(status: &Value) -> NewPost {
    let boosted = status.get("reblog").filter(|r| r.is_object());
    let shown = boosted.unwrap_or(status);
    let html = text_at(shown, "content").map(String::from);
    let mut engagement = describe(shown);
    if let Some(visibility) = text_at(status, "visibility") {
        engagement.insert("visibility".into(), json!(visibility));
    }
    let (kind, url, repost_of) = match boosted {
        Some(target) => {
            if let Some(author) = target.get("account").and_then(handle) {
                engagement.insert("boosted_author".into(), json!(author));
            }
            let url = text_at(target, "url").or(status_uri(target));
            (
                "repost",
                url.map(String::from),
                status_uri(target).map(String::from),
            )
        }
        None => {
            let kind = if text_at(status, "in_reply_to_id").is_some() {
                "reply"
            } else {
                "post"
            };
            let url = text_at(status, "url").or(status_uri(status));
            (kind, url.map(String::from), None)
        }
    };
    NewPost {
        kind: kind.into(),
        author: status.get("account").and_then(handle),
        title: text_at(shown, "spoiler_text").map(|s| s.trim().to_string()),
        text: html
            .as_deref()
            .map(archive::html_to_text)
            .unwrap_or_default(),
        html,
        url,
        // A boost's own time, as the archive's `Announce` has it.
        created_at: text_at(status, "created_at").and_then(parse_date),
        engagement: Some(Value::Object(engagement)),
        reply_to: text_at(status, "in_reply_to_id").map(String::from),
        repost_of,
        media: media(shown),
    }
}

/// A favourite or a bookmark: the status itself, by whoever wrote it.
fn normalize_saved(status: &Value, kind: &str) -> NewPost {
    let html = text_at(status, "content").map(String::from);
    let mut engagement = describe(status);
    if let Some(visibility) = text_at(status, "visibility") {
        engagement.insert("visibility".into(), json!(visibility));
    }
    NewPost {
        kind: kind.into(),
        author: status.get("account").and_then(handle),
        title: text_at(status, "spoiler_text").map(|s| s.trim().to_string()),
        text: html
            .as_deref()
            .map(archive::html_to_text)
            .unwrap_or_default(),
        html,
        url: text_at(status, "url")
            .or(status_uri(status))
            .map(String::from),
        created_at: text_at(status, "created_at").and_then(parse_date),
        engagement: Some(Value::Object(engagement)),
        media: media(status),
        ..NewPost::default()
    }
}

/// Counts and labels, under the archive importer's keys where they say the same thing.
fn describe(status: &Value) -> Map<String, Value> {
    let mut engagement = Map::new();
    for key in ["replies_count", "reblogs_count", "favourites_count"] {
        if let Some(n) = status.get(key).and_then(Value::as_i64) {
            engagement.insert(key.into(), json!(n));
        }
    }
    if status.get("sensitive").and_then(Value::as_bool) == Some(true) {
        engagement.insert("sensitive".into(), json!(true));
    }
    if let Some(warning) = text_at(status, "spoiler_text") {
        engagement.insert("content_warning".into(), json!(warning.trim()));
    }
    if let Some(edited) = text_at(status, "edited_at").and_then(parse_date) {
        engagement.insert("edited_at".into(), json!(edited));
    }
    if let Some(language) = text_at(status, "language") {
        engagement.insert("language".into(), json!(language));
    }
    let names = |key: &str, field: &str| -> Vec<Value> {
        status
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| text_at(t, field))
            .map(|name| json!(name))
            .collect()
    };
    let tags = names("tags", "name");
    if !tags.is_empty() {
        engagement.insert("tags".into(), tags.into());
    }
    let mentions: Vec<Value> = status
        .get("mentions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| json!({"name": text_at(m, "acct").map(|a| format!("@{a}")), "url": text_at(m, "url")}))
        .collect();
    if !mentions.is_empty() {
        engagement.insert("mentions".into(), mentions.into());
    }
    if let Some(poll) = status.get("poll").filter(|p| p.is_object()) {
        let options: Vec<Value> = poll["options"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| json!({"title": o.get("title"), "votes": o.get("votes_count")}))
            .collect();
        engagement.insert(
            "poll".into(),
            json!({
                "options": options,
                "multiple": poll.get("multiple").and_then(Value::as_bool).unwrap_or(false),
                "ends_at": text_at(poll, "expires_at").and_then(parse_date),
                "closed": poll.get("expired"),
                "voters_count": poll.get("voters_count"),
            }),
        );
    }
    let attachments: Vec<Value> = attachments(status)
        .map(|a| {
            json!({
                "url": attachment_file(a),
                "alt": text_at(a, "description"),
                "type": text_at(a, "type"),
                "blurhash": text_at(a, "blurhash"),
            })
        })
        .collect();
    if !attachments.is_empty() {
        engagement.insert("attachments".into(), attachments.into());
    }
    engagement
}

fn attachments(status: &Value) -> impl Iterator<Item = &Value> {
    status
        .get("media_attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The server's copy of the file, else the original on the author's server.
fn attachment_file(attachment: &Value) -> Option<&str> {
    text_at(attachment, "url").or(text_at(attachment, "remote_url"))
}

fn media(status: &Value) -> Vec<MediaRef> {
    attachments(status)
        .filter_map(|a| {
            let url = attachment_file(a)?;
            // `gifv` is a looping video without sound; `unknown` is anything else.
            let kind = match text_at(a, "type")? {
                "image" => Some("image"),
                "video" | "gifv" => Some("video"),
                "audio" => Some("audio"),
                _ => None,
            };
            Some(MediaRef {
                url: url.to_string(),
                kind: kind.map(String::from),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    /// A Status as the API documents it (https://docs.joinmastodon.org/entities/Status/).
    fn status() -> Value {
        json!({
            "id": "103270115826048975",
            "created_at": "2019-12-08T03:48:33.901Z",
            "in_reply_to_id": null,
            "in_reply_to_account_id": null,
            "sensitive": false,
            "spoiler_text": "",
            "visibility": "public",
            "language": "en",
            "uri": "https://mastodon.social/users/Gargron/statuses/103270115826048975",
            "url": "https://mastodon.social/@Gargron/103270115826048975",
            "replies_count": 5,
            "reblogs_count": 6,
            "favourites_count": 11,
            "edited_at": null,
            "favourited": false,
            "reblogged": false,
            "muted": false,
            "bookmarked": false,
            "content": "<p>&quot;I lost my inheritance with one wrong digit on my sort code&quot;</p><p><a href=\"https://www.theguardian.com/money/2019/dec/07/i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code\" rel=\"nofollow noopener noreferrer\" target=\"_blank\"><span class=\"invisible\">https://www.</span><span class=\"ellipsis\">theguardian.com/money/2019/dec</span><span class=\"invisible\">/07/i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code</span></a></p>",
            "reblog": null,
            "application": {"name": "Web", "website": null},
            "account": {
                "id": "1",
                "username": "Gargron",
                "acct": "Gargron",
                "display_name": "Eugen",
                "url": "https://mastodon.social/@Gargron"
            },
            "media_attachments": [{
                "id": "22345792",
                "type": "image",
                "url": "https://files.mastodon.social/media_attachments/files/022/345/792/original/57859aede991da25.jpeg",
                "preview_url": "https://files.mastodon.social/media_attachments/files/022/345/792/small/57859aede991da25.jpeg",
                "remote_url": null,
                "text_url": "https://mastodon.social/media/2N4uvkuUtPVrkZGysms",
                "description": "test media description",
                "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}"
            }, {
                "id": "22345793",
                "type": "gifv",
                "url": "https://files.mastodon.social/media_attachments/files/022/345/793/original/a.mp4",
                "remote_url": null,
                "description": null
            }],
            "mentions": [],
            "tags": [{"name": "money", "url": "https://mastodon.social/tags/money"}],
            "emojis": [],
            "card": null,
            "poll": null
        })
    }

    fn split(content_type: &str, statuses: Value) -> Vec<RawPost> {
        let body = serde_json::to_vec(&statuses).unwrap();
        Mastodon
            .split(&ItemRef {
                content_type,
                source_url: None,
                payload: &body,
            })
            .unwrap()
    }

    #[test]
    fn a_status_becomes_a_post_with_its_media() {
        let raws = split(STATUSES, json!([status()]));
        assert_eq!(raws[0].platform_post_id, "103270115826048975");
        let post = Mastodon.normalize(&raws[0]).unwrap();
        assert_eq!(post.kind, "post");
        assert_eq!(post.author.as_deref(), Some("@Gargron@mastodon.social"));
        assert!(
            post.text.starts_with(
                "\"I lost my inheritance with one wrong digit on my sort code\"\n\nhttps://www.theguardian.com/money/2019/dec/07/"
            ),
            "{}",
            post.text
        );
        assert_eq!(
            post.url.as_deref(),
            Some("https://mastodon.social/@Gargron/103270115826048975")
        );
        assert_eq!(post.created_at, Some(1575776913));
        let engagement = post.engagement.unwrap();
        assert_eq!(engagement["replies_count"], json!(5));
        assert_eq!(engagement["reblogs_count"], json!(6));
        assert_eq!(engagement["favourites_count"], json!(11));
        assert_eq!(engagement["tags"], json!(["money"]));
        assert_eq!(engagement["visibility"], json!("public"));
        assert_eq!(
            post.media,
            vec![
                MediaRef {
                    url: "https://files.mastodon.social/media_attachments/files/022/345/792/original/57859aede991da25.jpeg".into(),
                    kind: Some("image".into())
                },
                MediaRef {
                    url: "https://files.mastodon.social/media_attachments/files/022/345/793/original/a.mp4".into(),
                    kind: Some("video".into())
                }
            ]
        );
    }

    #[test]
    fn replies_boosts_favourites_and_bookmarks() {
        let mut reply = status();
        reply["id"] = json!("103270115826048976");
        reply["uri"] = json!("https://mastodon.social/users/Gargron/statuses/103270115826048976");
        reply["in_reply_to_id"] = json!("103270115826048975");
        reply["spoiler_text"] = json!("cw: money");
        let mut boost = status();
        boost["id"] = json!("103270115826048977");
        boost["uri"] =
            json!("https://mastodon.social/users/Gargron/statuses/103270115826048977/activity");
        boost["url"] = Value::Null;
        boost["content"] = json!("");
        let mut original = status();
        original["uri"] = json!("https://other.example/users/bob/statuses/42");
        original["url"] = json!("https://other.example/@bob/42");
        original["account"] = json!({"id": "9", "username": "bob", "acct": "bob@other.example", "url": "https://other.example/@bob"});
        boost["reblog"] = original.clone();
        let raws = split(STATUSES, json!([reply, boost]));
        assert_eq!(raws[0].platform_post_id, "103270115826048976");
        let post = Mastodon.normalize(&raws[0]).unwrap();
        assert_eq!(post.kind, "reply");
        assert_eq!(post.reply_to.as_deref(), Some("103270115826048975"));
        assert_eq!(post.title.as_deref(), Some("cw: money"));
        // A boost has its own status id, as in the archive (`…/activity` left out).
        assert_eq!(raws[1].platform_post_id, "103270115826048977");
        let post = Mastodon.normalize(&raws[1]).unwrap();
        assert_eq!(post.kind, "repost");
        assert_eq!(post.author.as_deref(), Some("@Gargron@mastodon.social"));
        assert_eq!(
            post.repost_of.as_deref(),
            Some("https://other.example/users/bob/statuses/42")
        );
        assert_eq!(post.url.as_deref(), Some("https://other.example/@bob/42"));
        assert!(post.text.starts_with("\"I lost my inheritance"));

        let likes = split(FAVOURITES, json!([original.clone()]));
        assert_eq!(
            likes[0].platform_post_id,
            "like:https://other.example/users/bob/statuses/42"
        );
        let like = Mastodon.normalize(&likes[0]).unwrap();
        assert_eq!(like.kind, "like");
        assert_eq!(like.author.as_deref(), Some("@bob@other.example"));
        let marks = split(BOOKMARKS, json!([original]));
        assert_eq!(
            marks[0].platform_post_id,
            "bookmark:https://other.example/users/bob/statuses/42"
        );
        assert_eq!(Mastodon.normalize(&marks[0]).unwrap().kind, "bookmark");
    }

    #[test]
    fn archive_items_have_the_same_ids_and_go_to_the_importer() {
        let chunk = json!({
            "actor": {"id": "https://mastodon.social/users/Gargron", "type": "Person", "preferredUsername": "Gargron"},
            "orderedItems": [{
                "id": "https://mastodon.social/users/Gargron/statuses/103270115826048975/activity",
                "type": "Create",
                "actor": "https://mastodon.social/users/Gargron",
                "published": "2019-12-08T03:48:33Z",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
                "object": {
                    "id": "https://mastodon.social/users/Gargron/statuses/103270115826048975",
                    "type": "Note",
                    "content": "<p>hello</p>",
                    "published": "2019-12-08T03:48:33Z",
                    "to": ["https://www.w3.org/ns/activitystreams#Public"]
                }
            }]
        });
        let raws = split("application/vnd.lifeboat.mastodon-outbox+json", chunk);
        assert_eq!(raws[0].platform_post_id, "103270115826048975");
        let post = Mastodon.normalize(&raws[0]).unwrap();
        assert_eq!(post.kind, "post");
        assert_eq!(post.text, "hello");
        let likes = split(
            "application/vnd.lifeboat.mastodon-likes+json",
            json!({"actor": null, "orderedItems": ["https://other.example/users/bob/statuses/42"]}),
        );
        assert_eq!(
            likes[0].platform_post_id,
            "like:https://other.example/users/bob/statuses/42"
        );
        assert_eq!(Mastodon.normalize(&likes[0]).unwrap().kind, "like");
    }

    #[test]
    fn link_headers_and_ids() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            HeaderValue::from_static(
                "<https://mastodon.example/api/v1/bookmarks?limit=2&max_id=7486869>; rel=\"next\", <https://mastodon.example/api/v1/bookmarks?limit=2&min_id=7489740>; rel=\"prev\"",
            ),
        );
        let base = "https://mastodon.example";
        assert_eq!(
            link(&headers, "next", base).as_deref(),
            Some("https://mastodon.example/api/v1/bookmarks?limit=2&max_id=7486869")
        );
        assert_eq!(
            link(&headers, "prev", base).as_deref(),
            Some("https://mastodon.example/api/v1/bookmarks?limit=2&min_id=7489740")
        );
        // A link to another server would take the token there: ignored.
        assert_eq!(link(&headers, "next", "https://elsewhere.example"), None);
        assert_eq!(link(&HeaderMap::new(), "next", base), None);
        assert!(compare_ids("110000000000000000", "99999999999999999").is_gt());
        assert!(compare_ids("AbCd", "AbCe").is_lt());
    }
}
