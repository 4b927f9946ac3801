//! The YouTube connector against a fake Data API v3: Google OAuth2 through Lifeboat's pages
//! (offline access, consent), `channels?mine=true` for the uploads playlist,
//! `playlistItems` pages of 50 with `nextPageToken`, `videos` for the metadata, Google's
//! error bodies; a 1,000-video backfill with the access token expiring half-way, the
//! incremental sync's request count, 429s, 5xx bursts, a malformed answer and an exhausted
//! daily quota (a 403 that must not ask the person to reconnect).

mod common;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::oauth::{FakeAuth, connect, save_app};
use common::site::{Req, Route, Site};
use common::{Server, cli};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
const CHANNEL: &str = "UCuAXFkgsw1L7xaCfnd5JJOw";
const UPLOADS: &str = "UUuAXFkgsw1L7xaCfnd5JJOw";
const API_PATHS: [&str; 3] = ["/channels", "/playlistItems", "/videos"];

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// An 11-character video id.
fn video_id(n: usize) -> String {
    format!("v{n:010}")
}

fn thumbnails(id: &str) -> Value {
    json!({
        "default": {"url": format!("https://i.ytimg.com/vi/{id}/default.jpg"), "width": 120, "height": 90},
        "high": {"url": format!("https://i.ytimg.com/vi/{id}/hqdefault.jpg"), "width": 480, "height": 360},
        "maxres": {"url": format!("https://i.ytimg.com/vi/{id}/maxresdefault.jpg"), "width": 1280, "height": 720}
    })
}

fn google_error(code: u16, reason: &str, message: &str) -> Route {
    Route::json(
        code,
        &json!({"error": {"code": code, "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}]}}),
    )
}

#[derive(Default)]
struct State {
    /// (video number, published at), oldest first.
    videos: Vec<(usize, i64)>,
    faults: VecDeque<Route>,
    expire_at_request: Option<usize>,
    requests: usize,
}

struct Fake {
    site: Site,
    auth: FakeAuth,
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn start() -> Fake {
        let site = Site::start();
        let auth = FakeAuth::install(&site, 3600);
        let state = Arc::new(Mutex::new(State::default()));
        for path in API_PATHS {
            let (s, a) = (state.clone(), auth.clone());
            site.handle(path, move |req| answer(&s, &a, req));
        }
        Fake { site, auth, state }
    }

    /// `n` more videos, an hour apart, the last one published `last` (unix seconds).
    fn upload(&self, n: usize, last: i64) {
        let mut s = self.state.lock().unwrap();
        let first = s.videos.len();
        for i in 0..n {
            s.videos.push((first + i, last - (n - 1 - i) as i64 * 3600));
        }
    }

    fn fault(&self, route: Route) {
        self.state.lock().unwrap().faults.push_back(route);
    }

    fn api_requests(&self) -> usize {
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
                            "thumbnails": thumbnails(&id),
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
            let items: Vec<Value> = s
                .videos
                .iter()
                .filter(|(n, _)| wanted.contains(&video_id(*n).as_str()))
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
                            "thumbnails": thumbnails(&id),
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

fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        dir.join("lifeboat.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open database read-only")
}

fn query_i64(dir: &Path, sql: &str) -> i64 {
    db(dir).query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn query_text(dir: &Path, sql: &str) -> String {
    db(dir).query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn sync(dir: &Path, id: i64) -> std::process::Output {
    cli(dir, &["sync", "--connection", &id.to_string()], None)
}

fn sync_ok(dir: &Path, id: i64) {
    let out = sync(dir, id);
    assert!(
        out.status.success(),
        "sync failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn posts(dir: &Path) -> i64 {
    query_i64(dir, "SELECT COUNT(*) FROM posts WHERE platform = 'youtube'")
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_backfill_refresh_incremental_and_faults() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let fake = Fake::start();
    let mut server = Server::start_in(dir);
    let browser = server.browser();
    browser.setup("alice", PASSWORD).await;
    save_app(&browser, "youtube", &fake.site).await;
    let page = browser
        .submit(
            "/connections",
            "/connections/oauth",
            &[("platform", "youtube"), ("url", &fake.site.base)],
        )
        .await;
    let authorize = url::Url::parse(page.location().unwrap()).unwrap();
    let params: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(params["access_type"], "offline");
    assert_eq!(params["prompt"], "consent");
    assert_eq!(
        params["scope"],
        "https://www.googleapis.com/auth/youtube.readonly"
    );
    let id = connect(&browser, "youtube", Some(&fake.site.base)).await;
    // Syncs run from the command line; the server's downloader is not needed.
    server.stop();

    // The backfill: 1,000 uploads, the access token expiring half-way.
    let last = now() - 86_400;
    fake.upload(1000, last);
    fake.state.lock().unwrap().expire_at_request = Some(20);
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1000);
    assert_eq!(fake.auth.refreshes(), 1);
    // One channels call, then a playlistItems and a videos call per 50 videos (plus the
    // request the expired token spoilt).
    assert_eq!(fake.site.hits("/channels"), 1);
    assert_eq!(fake.site.hits("/playlistItems"), 20 + 1);
    assert!(fake.site.hits("/videos") <= 21);
    let (title, url, created, engagement): (String, String, i64, String) = db(dir)
        .query_row(
            "SELECT title, url, created_at_platform, engagement FROM posts
             WHERE platform_post_id = 'v0000000007'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(title, "Video 7");
    assert_eq!(url, "https://www.youtube.com/watch?v=v0000000007");
    assert_eq!(created, last - 992 * 3600);
    let engagement: Value = serde_json::from_str(&engagement).unwrap();
    assert_eq!(engagement["view_count"], json!(1007));
    assert_eq!(engagement["duration_ms"], json!(253_000));
    assert_eq!(
        query_text(
            dir,
            "SELECT m.url FROM media m JOIN post_media pm ON pm.media_id = m.id
             JOIN posts p ON p.id = pm.post_id WHERE p.platform_post_id = 'v0000000007'"
        ),
        "https://i.ytimg.com/vi/v0000000007/maxresdefault.jpg"
    );

    // Three new uploads: a playlistItems page and one videos call; three posts.
    fake.upload(3, now() - 60);
    fake.site.clear_seen();
    sync_ok(dir, id);
    let seen = fake.site.seen();
    assert!(
        seen.len() <= 2,
        "incremental sync made {} requests: {seen:#?}",
        seen.len()
    );
    assert_eq!(posts(dir), 1003);

    // Nothing new: one request.
    fake.site.clear_seen();
    sync_ok(dir, id);
    assert_eq!(fake.site.seen().len(), 1);
    assert_eq!(posts(dir), 1003);

    // A later refresh uses the refresh token kept (the fake refuses a spent one).
    fake.auth.expire_all();
    sync_ok(dir, id);
    assert_eq!(fake.auth.refreshes(), 2);

    // A 429 with Retry-After is waited out.
    fake.upload(1, now() - 30);
    fake.fault(
        google_error(429, "rateLimitExceeded", "Too many requests.").header("retry-after", "1"),
    );
    let started = Instant::now();
    sync_ok(dir, id);
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(posts(dir), 1004);

    // A burst of 5xx is retried.
    fake.upload(1, now() - 20);
    for status in [500, 503, 500] {
        fake.fault(google_error(status, "backendError", "Backend Error"));
    }
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1005);

    // A malformed answer: the sync fails clearly, nothing is lost, the next one works.
    fake.upload(1, now() - 10);
    fake.fault(Route::new(
        200,
        "application/json",
        "{\"kind\": \"youtube#playlistItemListResponse\", \"items\": [",
    ));
    assert!(!sync(dir, id).status.success());
    let error = query_text(
        dir,
        &format!("SELECT last_error FROM connections WHERE id = {id}"),
    );
    assert!(error.contains("not the expected JSON"), "{error}");
    assert_eq!(posts(dir), 1005);
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1006);

    // The daily quota is spent: a 403 that waits for the reset, not a reconnect.
    fake.upload(1, now() - 5);
    fake.fault(Route::json(
        403,
        &json!({"error": {"code": 403,
            "message": "The request cannot be completed because you have exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.",
            "errors": [{"message": "The request cannot be completed because you have exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.",
                        "domain": "youtube.quota", "reason": "quotaExceeded"}]}}),
    ));
    assert!(!sync(dir, id).status.success());
    let (status, error, next): (String, String, i64) = db(dir)
        .query_row(
            &format!("SELECT status, last_error, next_sync_at FROM connections WHERE id = {id}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(status, "error", "{error}");
    assert!(error.contains("rate limited"), "{error}");
    assert!(next > now(), "retried once the quota resets");
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1007);
    assert!(fake.api_requests() > 0);
}
