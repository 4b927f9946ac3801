//! The archive: the timeline of all of a user's posts, search, and one post with its
//! media and the raw payload it came from.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::{AppError, AppResult};
use super::layout::Layout;
use super::session::CurrentUser;
use crate::db;
use crate::db::media::MediaFile;
use crate::db::posts::{Cursor, Filter, MARK_END, MARK_START, Post};

/// The archive's query string, shared by the pages and `GET /api/v1/posts`.
#[derive(Debug, Default, Deserialize)]
pub struct PostQuery {
    pub q: Option<String>,
    pub platform: Option<String>,
    pub kind: Option<String>,
    /// YYYY-MM-DD or RFC 3339
    pub since: Option<String>,
    pub until: Option<String>,
    pub has_media: Option<String>,
    pub connection: Option<i64>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

impl PostQuery {
    pub fn filter(&self, user_id: i64) -> Result<Filter, AppError> {
        let some = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let after = match some(&self.cursor) {
            Some(c) => Some(
                Cursor::decode(&c)
                    .ok_or_else(|| AppError::BadRequest("The cursor is not valid.".into()))?,
            ),
            None => None,
        };
        Ok(Filter {
            user_id,
            connection_id: self.connection,
            platform: some(&self.platform),
            kind: some(&self.kind),
            since: some(&self.since)
                .map(|d| parse_date(&d, false))
                .transpose()?,
            until: some(&self.until)
                .map(|d| parse_date(&d, true))
                .transpose()?,
            has_media: self
                .has_media
                .as_deref()
                .is_some_and(|v| !v.is_empty() && v != "0" && v != "false"),
            query: some(&self.q),
            after,
            limit: self.limit.unwrap_or(30),
        })
    }

    /// The same query for the next page, as a URL query string.
    fn next_page(&self, cursor: &Cursor) -> String {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("q", &self.q),
            ("platform", &self.platform),
            ("kind", &self.kind),
            ("since", &self.since),
            ("until", &self.until),
            ("has_media", &self.has_media),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                url.append_pair(key, v);
            }
        }
        if let Some(c) = self.connection {
            url.append_pair("connection", &c.to_string());
        }
        url.append_pair("cursor", &cursor.encode());
        url.finish()
    }
}

/// A day (its start, or with `end_of_day` the start of the next day, for an exclusive
/// upper bound) or an exact RFC 3339 instant.
fn parse_date(text: &str, end_of_day: bool) -> Result<i64, AppError> {
    use ::time::format_description::well_known::Rfc3339;
    if let Ok(t) = ::time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let format = ::time::macros::format_description!("[year]-[month]-[day]");
    let day = ::time::Date::parse(text, &format)
        .map_err(|_| AppError::BadRequest(format!("{text:?} is not a date (YYYY-MM-DD).")))?;
    let start = day.midnight().assume_utc().unix_timestamp();
    Ok(if end_of_day { start + 86_400 } else { start })
}

#[derive(Template, WebTemplate)]
#[template(path = "archive.html")]
struct ArchivePage {
    layout: Layout,
    query: PostQueryView,
    platforms: Vec<String>,
    kinds: Vec<String>,
    page: PostsFragment,
}

/// The form's current values, for re-rendering it.
struct PostQueryView {
    q: String,
    platform: String,
    kind: String,
    since: String,
    until: String,
    has_media: bool,
}

/// A page of post cards, ending with a sentinel that loads the next page when scrolled into view.
#[derive(Template, WebTemplate)]
#[template(path = "posts.html")]
struct PostsFragment {
    posts: Vec<PostCard>,
    next: Option<String>,
    searching: bool,
}

struct PostCard {
    post: Post,
    /// Search hit passage or the start of the text, HTML-safe.
    excerpt: String,
}

fn card(post: Post) -> PostCard {
    let excerpt = match &post.snippet {
        Some(snippet) => highlight(snippet),
        None => escape(&truncate(&post.text, 400)),
    };
    PostCard { post, excerpt }
}

fn escape(text: &str) -> String {
    askama::filters::escape(text, askama::filters::Html)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Escapes a search snippet, then turns the hit markers into <mark>.
fn highlight(snippet: &str) -> String {
    escape(snippet)
        .replace(MARK_START, "<mark>")
        .replace(MARK_END, "</mark>")
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

pub async fn timeline(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Query(query): Query<PostQuery>,
) -> AppResult<Response> {
    let filter = query.filter(current.user.id)?;
    let searching = filter.query.is_some();
    let user_id = current.user.id;
    let (posts, next, (platforms, kinds)) = state
        .db
        .read(move |c| {
            let (posts, next) = db::posts::list(c, &filter)?;
            Ok((posts, next, db::posts::facets(c, user_id)?))
        })
        .await?;
    let page = PostsFragment {
        posts: posts.into_iter().map(card).collect(),
        next: next.map(|c| query.next_page(&c)),
        searching,
    };
    // htmx asks for the next page only.
    if headers.contains_key("hx-request") && query.cursor.is_some() {
        return Ok(page.into_response());
    }
    let view = PostQueryView {
        q: query.q.clone().unwrap_or_default(),
        platform: query.platform.clone().unwrap_or_default(),
        kind: query.kind.clone().unwrap_or_default(),
        since: query.since.clone().unwrap_or_default(),
        until: query.until.clone().unwrap_or_default(),
        has_media: query
            .has_media
            .as_deref()
            .is_some_and(|v| !v.is_empty() && v != "0"),
    };
    let layout = Layout::for_user(&state, &current).await?;
    Ok(ArchivePage {
        layout,
        query: view,
        platforms,
        kinds,
        page,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "post.html")]
struct PostPage {
    layout: Layout,
    post: Post,
    body: Option<String>,
    media: Vec<MediaFile>,
    raw: Option<String>,
    raw_source: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let user_id = current.user.id;
    let found = state
        .db
        .read(move |c| {
            let Some(post) = db::posts::for_user_by_id(c, user_id, id)? else {
                return Ok(None);
            };
            let media = db::media::for_post(c, post.id)?;
            let raw = db::stages::raw_for_post(c, post.ingested_post_id)?;
            Ok(Some((post, media, raw)))
        })
        .await?;
    let (post, media, raw) = found.ok_or(AppError::NotFound)?;
    let local: HashMap<String, i64> = media
        .iter()
        .filter(|m| m.status == "completed")
        .map(|m| (m.url.clone(), m.id))
        .collect();
    let body = post.html.as_deref().map(|html| sanitize(html, &local));
    let (raw, raw_source) = match raw {
        Some((payload, content_type, source_url)) => {
            let pretty = serde_json::from_str::<serde_json::Value>(&payload)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or(payload);
            (
                Some(pretty),
                Some(
                    source_url
                        .map(|u| format!("{content_type} from {u}"))
                        .unwrap_or(content_type),
                ),
            )
        }
        None => (None, None),
    };
    let layout = Layout::for_user(&state, &current).await?;
    Ok(PostPage {
        layout,
        post,
        body,
        media,
        raw,
        raw_source,
    }
    .into_response())
}

/// Archived HTML is untrusted: scripts, event handlers, iframes and styles go. Images
/// already in the media store are shown from it, so the page works after the platform dies.
pub fn sanitize(html: &str, local_media: &HashMap<String, i64>) -> String {
    let local_media = local_media.clone();
    ammonia::Builder::default()
        .attribute_filter(move |element, attribute, value| {
            if matches!(
                (element, attribute),
                ("img", "src") | ("source", "src") | ("video", "src") | ("audio", "src")
            ) && let Some(id) = local_media.get(value)
            {
                return Some(format!("/media/{id}").into());
            }
            Some(value.into())
        })
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing_removes_scripts_and_localizes_media() {
        let mut local = HashMap::new();
        local.insert("https://cdn.test/a.jpg".to_string(), 7);
        let html = r#"<p onclick="steal()">Hi<script>alert(1)</script></p><img src="https://cdn.test/a.jpg"><iframe src="https://evil.test"></iframe><a href="javascript:alert(1)">x</a>"#;
        let clean = sanitize(html, &local);
        assert!(!clean.contains("script"), "{clean}");
        assert!(!clean.contains("onclick"), "{clean}");
        assert!(!clean.contains("iframe"), "{clean}");
        assert!(!clean.contains("javascript:"), "{clean}");
        assert!(clean.contains(r#"src="/media/7""#), "{clean}");
    }

    #[test]
    fn snippets_are_escaped_before_highlighting() {
        let snippet = format!("a <b> {MARK_START}hit{MARK_END} & more");
        assert_eq!(
            highlight(&snippet),
            "a &#60;b&#62; <mark>hit</mark> &#38; more"
        );
    }

    #[test]
    fn dates_parse_as_day_bounds() {
        assert_eq!(parse_date("2024-01-02", false).unwrap(), 1_704_153_600);
        assert_eq!(parse_date("2024-01-02", true).unwrap(), 1_704_240_000);
        assert_eq!(
            parse_date("2024-01-02T00:00:10Z", false).unwrap(),
            1_704_153_610
        );
        assert!(parse_date("yesterday", false).is_err());
    }
}
