//! The connector framework as a whole, across platforms: one platform that hangs and one
//! that fails do not slow a third; telemetry lands in `health_signals`; the OAuth2 flow's
//! state is single-use and belongs to the person who started it. Each platform's own
//! behaviour is tested in its `connector_<platform>` suite.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::site::{Route, Site};
use common::{Server, add_user, cli, cli_ok, query_i64};

const PASSWORD: &str = "correct horse battery";

/// A JSON Feed of `n` items.
fn json_feed(base: &str, n: usize) -> String {
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("{base}/posts/{i}"),
                "url": format!("{base}/posts/{i}"),
                "title": format!("Post {i}"),
                "content_text": format!("Post number {i}"),
                "date_published": format!("2024-01-{:02}T10:00:00Z", 1 + i % 28),
            })
        })
        .collect();
    serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "A healthy blog",
        "items": items,
    })
    .to_string()
}

fn connect(
    dir: &Path,
    platform: &str,
    url: &str,
    handle: Option<&str>,
    secret: Option<&str>,
) -> i64 {
    let mut args = vec!["connect", "--user", "alice", platform, "--url", url];
    if let Some(handle) = handle {
        args.extend(["--handle", handle]);
    }
    if secret.is_some() {
        args.push("--secret-stdin");
    }
    let stdin = secret.map(|s| format!("{s}\n"));
    cli_ok(dir, &args, stdin.as_deref())
        .parse()
        .expect("connection id")
}

#[test]
fn a_hanging_and_a_failing_platform_do_not_slow_a_healthy_one() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    add_user(dir, "alice", PASSWORD, true);

    let healthy = Site::start();
    healthy.route(
        "/feed.json",
        Route::ok("application/feed+json", json_feed(&healthy.base, 200)),
    );
    // YouTube answers nothing for a minute: every request times out (5 s in tests).
    let hanging = Site::start();
    hanging.handle("/channels", |_| {
        Route::json(200, &serde_json::json!({"items": []})).delay(Duration::from_secs(60))
    });
    // Strava fails every request with a 500 for the whole run.
    let failing = Site::start();
    failing.handle("/athlete/activities", |_| {
        Route::json(
            500,
            &serde_json::json!({"message": "Internal Server Error"}),
        )
    });

    let feed = connect(dir, "feed", &healthy.url("/feed.json"), None, None);
    // Alone first: the healthy platform's normal speed.
    let solo = Instant::now();
    cli_ok(dir, &["sync", "--connection", &feed.to_string()], None);
    let solo = solo.elapsed();
    assert_eq!(query_i64(dir, "SELECT COUNT(*) FROM posts"), 200);

    healthy.route(
        "/feed.json",
        Route::ok("application/feed+json", json_feed(&healthy.base, 260)),
    );
    // Access tokens made by hand (an OAuth2 platform takes one too).
    let youtube = connect(dir, "youtube", &hanging.base, None, Some("ya29.token"));
    let strava = connect(dir, "strava", &failing.base, None, Some("strava-token"));

    // All three at once, as the scheduler runs them.
    let started = Instant::now();
    let out = cli(dir, &["sync", "--user", "alice"], None);
    let all = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "two platforms fail: {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("connection {feed}: completed")),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("connection {youtube}: failed")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("connection {strava}: failed")),
        "{stdout}"
    );
    assert_eq!(query_i64(dir, "SELECT COUNT(*) FROM posts"), 260);

    // The healthy platform's sync took about as long as alone, though the hanging one
    // held the whole command for many seconds.
    let healthy_ms = query_i64(
        dir,
        &format!(
            "SELECT duration_ms FROM sync_logs WHERE connection_id = {feed} ORDER BY id DESC LIMIT 1"
        ),
    );
    let slowest_ms = query_i64(dir, "SELECT MAX(duration_ms) FROM sync_logs");
    eprintln!(
        "healthy alone {} ms (whole command), healthy beside the others {healthy_ms} ms, \
         slowest sync {slowest_ms} ms, whole command {} ms",
        solo.as_millis(),
        all.as_millis()
    );
    assert!(slowest_ms >= 5_000, "the hanging platform was waited for");
    assert!(
        (healthy_ms as u128) < solo.as_millis() + 2_000,
        "healthy sync took {healthy_ms} ms beside the failing ones, {} ms alone",
        solo.as_millis()
    );

    // The failing platform was tried a few times with backoff, then left alone; what each
    // platform answered is in the telemetry for the health monitor.
    assert!(
        query_i64(
            dir,
            "SELECT COUNT(*) FROM health_signals WHERE platform = 'strava' AND source = 'telemetry' AND value = 500"
        ) >= 4
    );
    assert!(
        query_i64(
            dir,
            "SELECT COUNT(*) FROM health_signals WHERE platform = 'youtube' AND source = 'telemetry' AND value = 0 AND detail LIKE '%timed out%'"
        ) >= 1
    );
    let strava_requests = failing.seen().len();
    assert!(
        strava_requests <= 5,
        "the breaker stops requests after 5 failures, {strava_requests} were sent"
    );
}

#[tokio::test]
async fn an_oauth_state_works_once_and_only_for_the_person_who_started_it() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let platform = Site::start();
    let auth = common::oauth::FakeAuth::install(&platform, 3600);
    let server = Server::start_in(dir);
    let alice = server.browser();
    alice.setup("alice", PASSWORD).await;
    add_user(dir, "bob", PASSWORD, false);
    let bob = server.browser();
    bob.login_ok("bob", PASSWORD).await;

    // Without an app, Connect explains what to do.
    let page = alice
        .submit(
            "/connections",
            "/connections/oauth",
            &[("platform", "strava")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("/oauth/callback"), "{}", page.body);

    common::oauth::save_app(&alice, "strava", &platform).await;
    let page = alice
        .submit(
            "/connections",
            "/connections/oauth",
            &[("platform", "strava"), ("url", &platform.base)],
        )
        .await;
    assert_eq!(page.status, 303);
    let authorize = url::Url::parse(page.location().unwrap()).unwrap();
    let param = |name: &str| {
        authorize
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("approval_prompt").as_deref(), Some("auto"));
    assert_eq!(param("client_id").as_deref(), Some("lifeboat-test-client"));
    let outside = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = outside.get(authorize.as_str()).send().await.unwrap();
    let back = answer.headers()["location"].to_str().unwrap().to_string();
    let callback = back.strip_prefix(&server.base).unwrap().to_string();

    // Bob cannot finish Alice's authorization, nor learn anything from trying.
    let page = bob.get(&callback).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(auth.exchanges(), 0);

    let page = alice.get(&callback).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(auth.exchanges(), 1);
    // The same redirect again: the state is spent.
    let page = alice.get(&callback).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("already used"), "{}", page.body);
    assert_eq!(auth.exchanges(), 1);

    // A person who says no at the platform gets a clear page.
    let page = alice
        .get("/oauth/callback?error=access_denied&error_description=The+user+denied")
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("access_denied"));

    // The stored tokens are never in the database in plain text, nor on any page.
    for file in ["lifeboat.db", "lifeboat.db-wal"] {
        let bytes = std::fs::read(dir.join(file)).unwrap_or_default();
        for secret in [&b"access-"[..], b"refresh-", b"lifeboat-test-secret"] {
            assert!(
                !common::contains_bytes(&bytes, secret),
                "{file} holds a secret"
            );
        }
    }
    let settings = alice.get("/settings").await;
    assert!(!settings.body.contains("lifeboat-test-secret"));
    assert_eq!(
        query_i64(
            dir,
            "SELECT COUNT(*) FROM connections WHERE platform = 'strava'"
        ),
        1
    );
}
