//! The YouTube connector against a fake Data API v3: Google OAuth2 through Lifeboat's pages
//! (offline access, consent), `channels?mine=true` for the uploads playlist,
//! `playlistItems` pages of 50 with `nextPageToken`, `videos` for the metadata, Google's
//! error bodies; a 1,000-video backfill with the access token expiring half-way, the
//! incremental sync's request count, 429s, 5xx bursts, a malformed answer and an exhausted
//! daily quota (a 403 that must not ask the person to reconnect).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::fakes::now;
use common::fakes::youtube::{Fake, google_error};
use common::oauth::{connect, save_app};
use common::site::Route;
use common::{Server, db, query_i64, query_text, sync, sync_ok};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

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
        format!("{}/thumb.jpg?v=v0000000007&s=maxres", fake.site.base)
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
