//! The Strava connector against a fake Strava: OAuth2 through Lifeboat's pages (client
//! secret in the body, comma-separated scopes), `GET /athlete/activities` with Strava's
//! field names, `before`/`after` epoch filters and `page`/`per_page`, its rate-limit
//! headers; a 1,000-activity backfill with the access token expiring half-way, the
//! incremental sync's request count, 429s, 5xx bursts, a malformed page, an export of the
//! same activities merging with them, and the webhook endpoint.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::fakes::now;
use common::fakes::strava::Fake;
use common::oauth::{connect, save_app};
use common::site::Route;
use common::{Server, api_key, cli_ok, query_i64, query_text, sync, sync_ok};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
const DAY: i64 = 86_400;

fn posts(dir: &Path) -> i64 {
    query_i64(dir, "SELECT COUNT(*) FROM posts WHERE platform = 'strava'")
}

/// A server with Alice, her Strava app pointing at the fake, and a connection.
async fn connected(dir: &Path, fake: &Fake) -> (Server, i64) {
    let server = Server::start_in(dir);
    let browser = server.browser();
    browser.setup("alice", PASSWORD).await;
    save_app(&browser, "strava", &fake.site).await;
    let id = connect(&browser, "strava", Some(&fake.site.base)).await;
    (server, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_refresh_incremental_and_faults() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let fake = Fake::start();
    let (_server, id) = connected(dir, &fake).await;
    let token_requests = fake.site.seen_for(common::oauth::TOKEN_PATH);
    let exchange = url::form_urlencoded::parse(&token_requests[0].body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect::<std::collections::HashMap<_, _>>();
    assert_eq!(
        exchange.get("client_secret").map(String::as_str),
        Some("lifeboat-test-secret"),
        "Strava wants the client secret in the body"
    );

    // The backfill: 1,000 activities, the access token expiring at the third page.
    let yesterday = now() - DAY;
    fake.add(1_000_000, 1000, yesterday - 60 * DAY);
    fake.state.lock().unwrap().expire_at_request = Some(3);
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1000);
    assert_eq!(fake.auth.refreshes(), 1, "one refresh mid-backfill");
    assert!(fake.api_requests() <= 8, "{} requests", fake.api_requests());
    assert_eq!(
        query_i64(
            dir,
            "SELECT COUNT(*) FROM ingested_items WHERE source = 'backfill'"
        ),
        query_i64(dir, "SELECT COUNT(*) FROM ingested_items")
    );
    let engagement: Value = serde_json::from_str(&query_text(
        dir,
        "SELECT engagement FROM posts WHERE platform_post_id = '1000999'",
    ))
    .unwrap();
    assert_eq!(engagement["distance_m"], json!(20999.5));
    assert_eq!(engagement["moving_time_s"], json!(3600));
    assert_eq!(engagement["elevation_gain_m"], json!(215.3));
    assert_eq!(engagement["kudos_count"], json!(7));
    assert_eq!(
        query_text(
            dir,
            "SELECT kind || '|' || title || '|' || url FROM posts WHERE platform_post_id = '1000999'"
        ),
        "activity|Ride 1000999|https://www.strava.com/activities/1000999"
    );
    assert_eq!(
        query_i64(
            dir,
            "SELECT created_at_platform FROM posts WHERE platform_post_id = '1000999'"
        ),
        yesterday - 60 * DAY
    );

    // Three new activities: one request, three posts.
    fake.add(2_000_000, 3, yesterday);
    fake.site.clear_seen();
    sync_ok(dir, id);
    let seen = fake.site.seen();
    assert!(
        seen.len() <= 2,
        "incremental sync made {} requests: {seen:#?}",
        seen.len()
    );
    assert!(seen[0].path.contains("after="), "{}", seen[0].path);
    assert_eq!(posts(dir), 1003);

    // The refresh token was rotated at the first refresh: the next one uses the new one
    // (the fake refuses a reused refresh token).
    fake.auth.expire_all();
    sync_ok(dir, id);
    assert_eq!(fake.auth.refreshes(), 2);

    // A 429 with Retry-After is waited out.
    fake.add(2_100_000, 1, now() - 3600);
    fake.fault(
        Route::json(429, &json!({"message": "Rate Limit Exceeded"})).header("retry-after", "1"),
    );
    let started = Instant::now();
    sync_ok(dir, id);
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(posts(dir), 1004);

    // A burst of 5xx is retried.
    fake.add(2_200_000, 1, now() - 1800);
    for status in [500, 502, 503] {
        fake.fault(Route::json(status, &json!({"message": "error"})));
    }
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1005);

    // A malformed page: the sync fails and says why, nothing is lost, the next one works.
    fake.add(2_300_000, 1, now() - 600);
    fake.fault(Route::new(
        200,
        "application/json",
        "[{\"id\": 2300000, \"name\": ",
    ));
    let out = sync(dir, id);
    assert!(!out.status.success());
    let error = query_text(
        dir,
        &format!("SELECT last_error FROM connections WHERE id = {id}"),
    );
    assert!(error.contains("not the expected JSON"), "{error}");
    assert_eq!(posts(dir), 1005);
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1006);

    // The bulk export's rows for the same activities are the same posts.
    let export = tempfile::tempdir().unwrap();
    let csv = export.path().join("activities.csv");
    std::fs::write(
        &csv,
        "Activity ID,Activity Date,Activity Name,Activity Type,Activity Description,Elapsed Time,Distance,Filename\n\
         1000999,\"Oct 5, 2024, 4:15:21 PM\",Ride 1000999,Ride,Windy,3900,21.0,\n\
         1000998,\"Oct 4, 2024, 4:15:21 PM\",Ride 1000998,Ride,,3900,20.9,\n",
    )
    .unwrap();
    cli_ok(
        dir,
        &[
            "import",
            "--user",
            "alice",
            csv.to_str().unwrap(),
            "--platform",
            "strava",
        ],
        None,
    );
    assert_eq!(
        posts(dir),
        1006,
        "imported activities merged with synced ones"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_handshake_and_events() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let fake = Fake::start();
    let (server, id) = connected(dir, &fake).await;
    let key = api_key(dir, "alice");
    let api = server.api(&key);
    let answer = api
        .post_json(&format!("/api/v1/connections/{id}/webhook"), &json!({}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let created = answer.json();
    let token = created["verify_token"].as_str().unwrap().to_string();
    let path = format!("/api/v1/webhooks/strava/{token}");
    assert!(created["callback_url"].as_str().unwrap().ends_with(&path));

    let outside = common::Api::new(&server.base, None);
    // Strava's subscription check: the challenge echoed with the right verify token only.
    let good = outside
        .get(&format!(
            "{path}?hub.mode=subscribe&hub.challenge=15f7d1a91c1f40&hub.verify_token={token}"
        ))
        .await;
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(good.json(), json!({"hub.challenge": "15f7d1a91c1f40"}));
    let bad = outside
        .get(&format!(
            "{path}?hub.mode=subscribe&hub.challenge=x&hub.verify_token=wrong"
        ))
        .await;
    assert_eq!(bad.status, 403);
    let unknown = outside
        .get(
            "/api/v1/webhooks/strava/nope?hub.mode=subscribe&hub.challenge=x&hub.verify_token=nope",
        )
        .await;
    assert_eq!(unknown.status, 404);

    // An event is stored at once, and the connection is due for a sync.
    let event = json!({
        "aspect_type": "create",
        "event_time": 1549560669,
        "object_id": 1360128428,
        "object_type": "activity",
        "owner_id": 134815,
        "subscription_id": 120475,
        "updates": {}
    });
    let before = now();
    let started = Instant::now();
    let answer = outside.post_json(&path, &event).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(started.elapsed() < Duration::from_secs(2));
    // Strava retries an event it thinks was not received: still one row.
    assert_eq!(outside.post_json(&path, &event).await.status, 200);
    assert_eq!(
        query_i64(
            dir,
            "SELECT COUNT(*) FROM ingested_items WHERE source = 'webhook'"
        ),
        1
    );
    let next = query_i64(
        dir,
        &format!("SELECT next_sync_at FROM connections WHERE id = {id}"),
    );
    assert!(next <= now() && next >= before - 1, "next sync at {next}");
    assert_eq!(fake.api_requests(), 0, "nothing is fetched in the request");
    // The pipeline takes the event and makes no post of it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while query_text(
        dir,
        "SELECT status FROM ingested_items WHERE source = 'webhook'",
    ) != "completed"
    {
        assert!(Instant::now() < deadline, "the event was not processed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(posts(dir), 0);

    let junk = outside.post_json(&path, &json!({"hello": 1})).await;
    assert_eq!(junk.status, 400);
    let elsewhere = outside
        .post_json("/api/v1/webhooks/strava/nope", &event)
        .await;
    assert_eq!(elsewhere.status, 404);
}
