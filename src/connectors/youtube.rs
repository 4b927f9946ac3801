//! YouTube, through the Data API v3 (https://developers.google.com/youtube/v3/docs): the
//! person's uploaded videos.
//!
//! `channels?part=contentDetails,snippet&mine=true` names the channel's uploads playlist
//! (`contentDetails.relatedPlaylists.uploads`), asked once and kept in the cursor. Each
//! page is then `playlistItems?part=snippet,contentDetails&playlistId=..&maxResults=50`
//! (newest first, `nextPageToken`), and one `videos?part=snippet,statistics,
//! contentDetails,status&id=..` for the new videos of the page: two requests (two quota
//! units of the 10,000 a day) per 50 videos. A later walk stops at the newest video of the
//! previous one, or at the first item added to the playlist before it (in case that video
//! was deleted since).
//!
//! The `videos` answer is kept as sent (one raw item per page, identified by its sha256);
//! one raw post per video, identified by its video id, the `Video ID` of Takeout's
//! `videos.csv`, so a video from Takeout and the same video from the API are one post.
//! Takeout's raw items share this codec and go to the Takeout importer's.
//!
//! Google answers an exhausted quota with a 403 (`quotaExceeded`, `rateLimitExceeded`),
//! which is no reason to reconnect: it becomes `RateLimited` until the quota resets, at
//! midnight Pacific time.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::*;
use crate::importers::takeout::Takeout;

pub struct Youtube;

/// One `videos.list` answer, as sent.
pub const VIDEOS: &str = "application/vnd.lifeboat.youtube-api-videos+json";

/// The most `playlistItems.list` and `videos.list` give at once.
const MAX_RESULTS: usize = 50;

static OAUTH: OAuthSpec = OAuthSpec {
    authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
    token_url: "https://oauth2.googleapis.com/token",
    scopes: &["https://www.googleapis.com/auth/youtube.readonly"],
    // A refresh token is only given with offline access, and again only with consent.
    authorize_params: &[("access_type", "offline"), ("prompt", "consent")],
    secret_in_body: true,
    register_at: "https://console.cloud.google.com/apis/credentials",
    registers_itself: false,
};

impl Codec for Youtube {
    fn platform(&self) -> Platform {
        Platform::Youtube
    }

    fn split(&self, item: &ItemRef) -> anyhow::Result<Vec<RawPost>> {
        match item.content_type {
            VIDEOS => split_videos(item.payload),
            _ => Takeout.split(item),
        }
    }

    fn normalize(&self, raw: &RawPost) -> anyhow::Result<NewPost> {
        match raw.value()?.as_object() {
            Some(video) if video.get("kind").and_then(Value::as_str) == Some("youtube#video") => {
                Ok(normalize_video(video, &raw.platform_post_id))
            }
            _ => Takeout.normalize(raw),
        }
    }
}

impl Connector for Youtube {
    fn auth(&self) -> Auth {
        Auth::OAuth2(&OAUTH)
    }

    /// 10,000 quota units a day; every call Lifeboat makes costs one.
    fn quota(&self) -> Quota {
        Quota {
            requests: 10_000,
            per: std::time::Duration::from_secs(24 * 3600),
        }
    }

    fn default_url(&self) -> Option<&'static str> {
        Some("https://www.googleapis.com/youtube/v3")
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "Video files cannot be downloaded through the YouTube API: Lifeboat keeps each \
             video's metadata and thumbnail. For the videos themselves, use Google Takeout \
             and the Takeout importer on the Imports page.",
        )
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a FetchContext<'a>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(fetch_uploads(ctx, cursor))
    }

    fn classify(&self, status: u16, body: &str) -> Option<FetchError> {
        quota_exceeded(status, body)
    }
}

/// The walk through the uploads playlist, and the playlist itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uploads: Option<String>,
    #[serde(flatten)]
    walk: Walk,
    /// When the newest video of the last finished walk was added to the playlist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stop_time: Option<i64>,
    /// The same for the walk under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest_time: Option<i64>,
}

#[derive(Deserialize)]
struct ItemList {
    #[serde(default)]
    items: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlaylistItems {
    #[serde(default)]
    page_info: Option<PageInfo>,
    #[serde(default)]
    items: Vec<Value>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    total_results: Option<i64>,
}

async fn fetch_uploads(ctx: &FetchContext<'_>, cursor: Option<&str>) -> Result<Page, FetchError> {
    let mut position: Position = super::position(cursor);
    let base = ctx.base()?;
    let uploads = match position.uploads.clone() {
        Some(uploads) => uploads,
        None => {
            let url = format!("{base}/channels");
            let answer = ctx
                .api
                .get_json::<ItemList>(|http| {
                    http.get(&url)
                        .query(&[("part", "contentDetails,snippet"), ("mine", "true")])
                })
                .await?;
            let uploads = answer
                .value
                .items
                .first()
                .and_then(|c| c["contentDetails"]["relatedPlaylists"]["uploads"].as_str())
                .ok_or_else(|| {
                    FetchError::Invalid("this Google account has no YouTube channel".into())
                })?
                .to_string();
            position.uploads = Some(uploads.clone());
            uploads
        }
    };
    let backfill = position.walk.is_backfill();
    let url = format!("{base}/playlistItems");
    let mut query = vec![
        ("part", "snippet,contentDetails".to_string()),
        ("playlistId", uploads),
        ("maxResults", MAX_RESULTS.to_string()),
    ];
    if let Some(token) = &position.walk.next {
        query.push(("pageToken", token.clone()));
    }
    let page = ctx
        .api
        .get_json::<PlaylistItems>(|http| http.get(&url).query(&query))
        .await?;
    if let Some(total) = page.value.page_info.as_ref().and_then(|p| p.total_results) {
        ctx.api.report_total(total);
    }
    let mut ids = Vec::new();
    let mut reached_stop = false;
    for item in &page.value.items {
        let Some(id) = item["contentDetails"]["videoId"]
            .as_str()
            .or(item["snippet"]["resourceId"]["videoId"].as_str())
        else {
            continue;
        };
        let added = item["snippet"]["publishedAt"].as_str().and_then(parse_time);
        let known = position.walk.stop_at.as_deref() == Some(id)
            || matches!((added, position.stop_time), (Some(a), Some(stop)) if a < stop);
        if known {
            reached_stop = true;
            break;
        }
        if position.walk.newest.is_none() {
            position.newest_time = added;
        }
        position.walk.saw(id);
        ids.push(id.to_string());
    }
    let mut items = Vec::new();
    if !ids.is_empty() {
        let url = format!("{base}/videos");
        let joined = ids.join(",");
        let videos = ctx
            .api
            .get_json::<ItemList>(|http| {
                http.get(&url).query(&[
                    ("part", "snippet,statistics,contentDetails,status"),
                    ("id", joined.as_str()),
                    ("maxResults", "50"),
                ])
            })
            .await?;
        items.push(RawItem {
            external_id: hex::encode(Sha256::digest(&videos.body)),
            content_type: VIDEOS.into(),
            source_url: Some(videos.url),
            payload: videos.body,
        });
    }
    let done = position
        .walk
        .advance(page.value.next_page_token, reached_stop);
    if done && let Some(time) = position.newest_time.take() {
        position.stop_time = Some(time);
    }
    Ok(Page::at(items, &position, done, backfill))
}

/// A 403 for an exhausted quota means "wait until the quota resets", not "reconnect".
/// Google's error body names the reason: `{"error": {"errors": [{"reason": ...}]}}`.
fn quota_exceeded(status: u16, body: &str) -> Option<FetchError> {
    const REASONS: &[&str] = &["quotaExceeded", "rateLimitExceeded", "dailyLimitExceeded"];
    if status != 403 {
        return None;
    }
    let error: serde_json::Value = serde_json::from_str(body).ok()?;
    let reasons = error["error"]["errors"].as_array()?;
    reasons
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .any(|r| REASONS.contains(&r))
        .then(|| FetchError::RateLimited {
            retry_after: std::time::Duration::from_secs(until_quota_reset(crate::time::now())),
        })
}

/// Seconds until the daily quota resets: midnight Pacific time, taken as 08:00 UTC (an
/// hour late in summer, never early).
fn until_quota_reset(now: i64) -> u64 {
    const DAY: i64 = 86_400;
    const RESET: i64 = 8 * 3600;
    let today = now - now.rem_euclid(DAY) + RESET;
    let next = if today > now { today } else { today + DAY };
    (next - now) as u64
}

fn split_videos(payload: &[u8]) -> anyhow::Result<Vec<RawPost>> {
    let answer: ItemList = serde_json::from_slice(payload)
        .map_err(|e| anyhow::anyhow!("a YouTube videos answer is not a videos list: {e}"))?;
    Ok(answer
        .items
        .into_iter()
        .filter_map(|video| {
            let id = video.get("id")?.as_str()?.to_string();
            Some(RawPost::new(id, &video))
        })
        .collect())
}

fn parse_time(text: &str) -> Option<i64> {
    use ::time::format_description::well_known::Rfc3339;
    ::time::OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// An ISO 8601 duration as YouTube gives it (`PT1H2M3S`, `P1DT2H`) in milliseconds.
fn duration_ms(text: &str) -> Option<i64> {
    let rest = text.strip_prefix('P')?;
    let (mut total, mut number, mut in_time) = (0i64, String::new(), false);
    for c in rest.chars() {
        match c {
            'T' => in_time = true,
            '0'..='9' => number.push(c),
            unit => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                total += n * match (unit, in_time) {
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
            }
        }
    }
    number.is_empty().then_some(total * 1000)
}

fn normalize_video(video: &Map<String, Value>, id: &str) -> NewPost {
    let snippet = &video["snippet"];
    let mut engagement = Map::new();
    // Counts come as decimal strings.
    for (key, field) in [
        ("view_count", "viewCount"),
        ("like_count", "likeCount"),
        ("comment_count", "commentCount"),
        ("favorite_count", "favoriteCount"),
    ] {
        if let Some(n) = video["statistics"][field]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
        {
            engagement.insert(key.into(), json!(n));
        }
    }
    // The same keys as Takeout's videos, where they say the same thing.
    if let Some(ms) = video["contentDetails"]["duration"]
        .as_str()
        .and_then(duration_ms)
    {
        engagement.insert("duration_ms".into(), json!(ms));
    }
    let labels = [
        ("privacy", &video["status"]["privacyStatus"]),
        ("state", &video["status"]["uploadStatus"]),
        ("category_id", &snippet["categoryId"]),
        ("language", &snippet["defaultAudioLanguage"]),
        ("channel_title", &snippet["channelTitle"]),
        ("definition", &video["contentDetails"]["definition"]),
        ("live_broadcast_content", &snippet["liveBroadcastContent"]),
    ];
    for (key, value) in labels {
        if let Some(text) = value.as_str().filter(|t| !t.is_empty()) {
            engagement.insert(key.into(), json!(text));
        }
    }
    if let Some(tags) = snippet["tags"].as_array().filter(|t| !t.is_empty()) {
        engagement.insert("tags".into(), Value::Array(tags.clone()));
    }
    let thumbnail = ["maxres", "standard", "high", "medium", "default"]
        .iter()
        .find_map(|size| snippet["thumbnails"][size]["url"].as_str());
    let text = |value: &Value| value.as_str().map(str::to_string);
    NewPost {
        kind: "video".into(),
        // The channel id, as Takeout's videos.csv gives it.
        author: text(&snippet["channelId"]),
        title: text(&snippet["title"]),
        text: text(&snippet["description"]).unwrap_or_default(),
        url: Some(format!("https://www.youtube.com/watch?v={id}")),
        created_at: snippet["publishedAt"].as_str().and_then(parse_time),
        engagement: Some(Value::Object(engagement)),
        media: thumbnail
            .map(|url| MediaRef {
                url: url.to_string(),
                kind: Some("image".into()),
            })
            .into_iter()
            .collect(),
        ..NewPost::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn videos_answer() -> Value {
        json!({
            "kind": "youtube#videoListResponse",
            "etag": "x",
            "items": [{
                "kind": "youtube#video",
                "etag": "y",
                "id": "Ks-_Mh1QhMc",
                "snippet": {
                    "publishedAt": "2012-10-01T15:27:35Z",
                    "channelId": "UCAuUUnT6oDeKwE6v1NGQxug",
                    "title": "Your body language may shape who you are",
                    "description": "Body language affects how others see us.",
                    "thumbnails": {
                        "default": {"url": "https://i.ytimg.com/vi/Ks-_Mh1QhMc/default.jpg", "width": 120, "height": 90},
                        "high": {"url": "https://i.ytimg.com/vi/Ks-_Mh1QhMc/hqdefault.jpg", "width": 480, "height": 360},
                        "maxres": {"url": "https://i.ytimg.com/vi/Ks-_Mh1QhMc/maxresdefault.jpg", "width": 1280, "height": 720}
                    },
                    "channelTitle": "TED",
                    "tags": ["Amy Cuddy", "TED"],
                    "categoryId": "22",
                    "liveBroadcastContent": "none",
                    "defaultAudioLanguage": "en"
                },
                "contentDetails": {"duration": "PT21M3S", "dimension": "2d", "definition": "hd", "caption": "true", "licensedContent": true, "projection": "rectangular"},
                "status": {"uploadStatus": "processed", "privacyStatus": "public", "license": "youtube", "embeddable": true, "publicStatsViewable": true, "madeForKids": false},
                "statistics": {"viewCount": "20943587", "likeCount": "290129", "favoriteCount": "0", "commentCount": "8455"}
            }],
            "pageInfo": {"totalResults": 1, "resultsPerPage": 1}
        })
    }

    #[test]
    fn a_video_becomes_a_video_post_with_its_thumbnail() {
        let body = serde_json::to_vec(&videos_answer()).unwrap();
        let item = ItemRef {
            content_type: VIDEOS,
            source_url: None,
            payload: &body,
        };
        let raws = Youtube.split(&item).unwrap();
        assert_eq!(raws.len(), 1);
        assert_eq!(raws[0].platform_post_id, "Ks-_Mh1QhMc");
        let post = Youtube.normalize(&raws[0]).unwrap();
        assert_eq!(post.kind, "video");
        assert_eq!(
            post.title.as_deref(),
            Some("Your body language may shape who you are")
        );
        assert_eq!(post.created_at, Some(1349105255));
        assert_eq!(post.author.as_deref(), Some("UCAuUUnT6oDeKwE6v1NGQxug"));
        assert_eq!(
            post.url.as_deref(),
            Some("https://www.youtube.com/watch?v=Ks-_Mh1QhMc")
        );
        let engagement = post.engagement.unwrap();
        assert_eq!(engagement["view_count"], json!(20943587));
        assert_eq!(engagement["like_count"], json!(290129));
        assert_eq!(engagement["duration_ms"], json!(1_263_000));
        assert_eq!(engagement["privacy"], json!("public"));
        assert_eq!(
            post.media,
            vec![MediaRef {
                url: "https://i.ytimg.com/vi/Ks-_Mh1QhMc/maxresdefault.jpg".into(),
                kind: Some("image".into())
            }]
        );
    }

    #[test]
    fn takeout_videos_have_the_same_ids_and_go_to_the_importer() {
        let rows = serde_json::to_vec(&json!([{
            "Video ID": "Ks-_Mh1QhMc",
            "Video Title (Original)": "Your body language may shape who you are",
            "Video Create Timestamp": "2012-10-01T15:27:35+00:00",
            "Channel ID": "UCAuUUnT6oDeKwE6v1NGQxug"
        }]))
        .unwrap();
        let item = ItemRef {
            content_type: "application/vnd.lifeboat.youtube-videos+json",
            source_url: None,
            payload: &rows,
        };
        let raws = Youtube.split(&item).unwrap();
        assert_eq!(raws[0].platform_post_id, "Ks-_Mh1QhMc");
        let post = Youtube.normalize(&raws[0]).unwrap();
        assert_eq!(post.kind, "video");
        assert_eq!(post.created_at, Some(1349105255));
    }

    #[test]
    fn durations_and_quota_reset() {
        assert_eq!(duration_ms("PT4M13S"), Some(253_000));
        assert_eq!(duration_ms("PT1H"), Some(3_600_000));
        assert_eq!(duration_ms("P1DT2S"), Some(86_402_000));
        assert_eq!(duration_ms("P0D"), Some(0));
        assert_eq!(duration_ms("4M"), None);
        // 07:00 UTC → one hour; 09:00 UTC → 23 hours.
        assert_eq!(until_quota_reset(7 * 3600), 3600);
        assert_eq!(until_quota_reset(9 * 3600), 23 * 3600);
        // Google's documented error body for an exhausted quota, and for a missing scope.
        let quota = r#"{"error": {"code": 403, "message": "The request cannot be completed because you have exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.", "errors": [{"message": "The request cannot be completed because you have exceeded your quota.", "domain": "youtube.quota", "reason": "quotaExceeded"}]}}"#;
        assert!(matches!(
            quota_exceeded(403, quota),
            Some(FetchError::RateLimited { .. })
        ));
        let revoked = r#"{"error": {"code": 403, "message": "Request had insufficient authentication scopes.", "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}]}}"#;
        assert!(quota_exceeded(403, revoked).is_none());
    }
}
