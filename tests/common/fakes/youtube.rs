//! A fake YouTube Data API v3 (the uploads playlist, videos, Google's error bodies) with
//! Google OAuth2 (FakeAuth), optionally rate-limited. Thumbnails are served by the fake
//! itself, so downloading them never leaves the machine.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{RateLimit, rfc3339};
use crate::common::oauth::FakeAuth;
use crate::common::site::{Req, Route, Site};

pub const CHANNEL: &str = "UCuAXFkgsw1L7xaCfnd5JJOw";
pub const UPLOADS: &str = "UUuAXFkgsw1L7xaCfnd5JJOw";
pub const API_PATHS: [&str; 3] = ["/channels", "/playlistItems", "/videos"];

/// An 11-character video id.
pub fn video_id(n: usize) -> String {
    format!("v{n:010}")
}

fn thumbnails(base: &str, id: &str) -> Value {
    json!({
        "default": {"url": format!("{base}/thumb.jpg?v={id}&s=default"), "width": 120, "height": 90},
        "high": {"url": format!("{base}/thumb.jpg?v={id}&s=high"), "width": 480, "height": 360},
        "maxres": {"url": format!("{base}/thumb.jpg?v={id}&s=maxres"), "width": 1280, "height": 720}
    })
}

pub fn google_error(code: u16, reason: &str, message: &str) -> Route {
    Route::json(
        code,
        &json!({"error": {"code": code, "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}]}}),
    )
}

#[derive(Default)]
pub struct State {
    base: String,
    limit: RateLimit,
    /// (video number, published at), oldest first.
    pub videos: Vec<(usize, i64)>,
    pub faults: VecDeque<Route>,
    pub expire_at_request: Option<usize>,
    pub requests: usize,
}

pub struct Fake {
    pub site: Site,
    pub auth: FakeAuth,
    pub state: Arc<Mutex<State>>,
}

impl Fake {
    pub fn start() -> Fake {
        let site = Site::start();
        let auth = FakeAuth::install(&site, 3600);
        let state = Arc::new(Mutex::new(State {
            base: site.base.clone(),
            ..State::default()
        }));
        let thumbnail = crate::common::png(7, 4, 3);
        site.handle("/thumb.jpg", move |_| Route::png(&thumbnail));
        for path in API_PATHS {
            let (s, a) = (state.clone(), auth.clone());
            site.handle(path, move |req| answer(&s, &a, req));
        }
        Fake { site, auth, state }
    }

    /// `n` more videos, an hour apart, the last one published `last` (unix seconds).
    pub fn upload(&self, n: usize, last: i64) {
        let mut s = self.state.lock().unwrap();
        let first = s.videos.len();
        for i in 0..n {
            s.videos.push((first + i, last - (n - 1 - i) as i64 * 3600));
        }
    }

    pub fn fault(&self, route: Route) {
        self.state.lock().unwrap().faults.push_back(route);
    }

    /// At most `per_second` requests a second; more get a 429 with Retry-After: 1.
    pub fn limit(&self, per_second: u32) {
        self.state.lock().unwrap().limit = RateLimit::per_second(per_second);
    }

    pub fn api_requests(&self) -> usize {
        API_PATHS.iter().map(|p| self.site.hits(p)).sum()
    }
}

fn answer(state: &Mutex<State>, auth: &FakeAuth, req: &Req) -> Route {
    let mut s = state.lock().unwrap();
    s.requests += 1;
    if s.expire_at_request == Some(s.requests) {
        auth.expire_all();
    }
    if !auth.valid(req) {
        return google_error(
            401,
            "authError",
            "Request had invalid authentication credentials.",
        );
    }
    if let Some(fault) = s.faults.pop_front() {
        return fault;
    }
    if let Some(refused) = s.limit.check() {
        return refused;
    }
    match req.path.as_str() {
        "/channels" => {
            if req.param("mine") != Some("true") {
                return google_error(400, "missingRequiredParameter", "No filter selected.");
            }
            Route::json(
                200,
                &json!({
                    "kind": "youtube#channelListResponse",
                    "etag": "e1",
                    "pageInfo": {"totalResults": 1, "resultsPerPage": 5},
                    "items": [{
                        "kind": "youtube#channel",
                        "etag": "e2",
                        "id": CHANNEL,
                        "snippet": {"title": "Alice", "description": "", "publishedAt": "2010-01-01T00:00:00Z"},
                        "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": UPLOADS}}
                    }]
                }),
            )
        }
        "/playlistItems" => {
            if req.param("playlistId") != Some(UPLOADS) {
                return google_error(
                    404,
                    "playlistNotFound",
                    "The playlist identified with the request's playlistId parameter cannot be found.",
                );
            }
            let per_page: usize = req
                .param("maxResults")
                .and_then(|m| m.parse().ok())
                .unwrap_or(5)
                .min(50);
            let offset: usize = req
                .param("pageToken")
                .and_then(|t| t.strip_prefix("CAUQ"))
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let newest_first: Vec<(usize, i64)> = s.videos.iter().rev().copied().collect();
            let items: Vec<Value> = newest_first
                .iter()
                .enumerate()
                .skip(offset)
                .take(per_page)
                .map(|(position, (n, published))| {
                    let id = video_id(*n);
                    json!({
                        "kind": "youtube#playlistItem",
                        "etag": format!("pi{n}"),
                        "id": format!("VVV1QVhGa2dz{n}"),
                        "snippet": {
                            "publishedAt": rfc3339(*published),
                            "channelId": CHANNEL,
                            "title": format!("Video {n}"),
                            "description": format!("About video {n}"),
                            "thumbnails": thumbnails(&s.base, &id),
                            "channelTitle": "Alice",
                            "playlistId": UPLOADS,
                            "position": position,
                            "resourceId": {"kind": "youtube#video", "videoId": id},
                            "videoOwnerChannelTitle": "Alice",
                            "videoOwnerChannelId": CHANNEL
                        },
                        "contentDetails": {"videoId": id, "videoPublishedAt": rfc3339(*published)}
                    })
                })
                .collect();
            let mut body = json!({
                "kind": "youtube#playlistItemListResponse",
                "etag": "e3",
                "items": items,
                "pageInfo": {"totalResults": s.videos.len(), "resultsPerPage": per_page}
            });
            if offset + per_page < s.videos.len() {
                body["nextPageToken"] = json!(format!("CAUQ{}", offset + per_page));
            }
            Route::json(200, &body)
        }
        _ => {
            let wanted: Vec<&str> = req.param("id").unwrap_or_default().split(',').collect();
            if wanted.len() > 50 {
                return google_error(400, "invalidParameter", "Too many ids.");
            }
            // In the order the ids were asked for, as the API answers.
            let items: Vec<Value> = wanted
                .iter()
                .filter_map(|id| s.videos.iter().find(|(n, _)| video_id(*n) == *id))
                .map(|(n, published)| {
                    let id = video_id(*n);
                    json!({
                        "kind": "youtube#video",
                        "etag": format!("v{n}"),
                        "id": id,
                        "snippet": {
                            "publishedAt": rfc3339(*published),
                            "channelId": CHANNEL,
                            "title": format!("Video {n}"),
                            "description": format!("About video {n}"),
                            "thumbnails": thumbnails(&s.base, &id),
                            "channelTitle": "Alice",
                            "tags": ["lifeboat"],
                            "categoryId": "22",
                            "liveBroadcastContent": "none"
                        },
                        "contentDetails": {"duration": "PT4M13S", "dimension": "2d", "definition": "hd", "caption": "false", "licensedContent": false, "projection": "rectangular"},
                        "status": {"uploadStatus": "processed", "privacyStatus": "public", "license": "youtube", "embeddable": true, "publicStatsViewable": true},
                        "statistics": {"viewCount": format!("{}", 1000 + n), "likeCount": "12", "favoriteCount": "0", "commentCount": "3"}
                    })
                })
                .collect();
            Route::json(
                200,
                &json!({
                    "kind": "youtube#videoListResponse",
                    "etag": "e4",
                    "items": items,
                    "pageInfo": {"totalResults": items.len(), "resultsPerPage": items.len()}
                }),
            )
        }
    }
}
