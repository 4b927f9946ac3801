//! Emergency export mode: started by a person or proposed by the health monitor, its
//! syncs run ahead of the schedule, the household is told (banner, ntfy-compatible
//! webhook), and the finish is detected and announced.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::site::{Route, Site};
use common::{Server, add_user, cli_ok};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

fn json_feed(base: &str, n: usize) -> String {
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            json!({
                "id": format!("{base}/p/{i}"),
                "url": format!("{base}/p/{i}"),
                "content_text": format!("Post {i}"),
                "date_published": format!("2026-10-{:02}T10:00:00Z", 1 + i % 28),
            })
        })
        .collect();
    json!({"version": "https://jsonfeed.org/version/1.1", "title": "Blog", "items": items})
        .to_string()
}

/// A fake ntfy server: remembers each notification's title and message.
fn ntfy(site: &Site) -> Arc<Mutex<Vec<(String, String)>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    site.handle("/lifeboat-alerts", move |req| {
        seen.lock().unwrap().push((
            req.header("title").unwrap_or("").to_string(),
            String::from_utf8_lossy(&req.body).into_owned(),
        ));
        Route::json(200, &json!({"id": "x", "event": "message"}))
    });
    got
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "waited too long for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn a_person_starts_emergency_export_the_syncs_run_now_and_the_finish_is_announced() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    add_user(dir, "alice", PASSWORD, true);
    let site = Site::start();
    site.route(
        "/feed.json",
        Route::ok("application/feed+json", json_feed(&site.base, 40)),
    );
    let alerts = ntfy(&site);
    let id = cli_ok(
        dir,
        &[
            "connect",
            "--user",
            "alice",
            "feed",
            "--url",
            &site.url("/feed.json"),
        ],
        None,
    );
    // Synced yesterday: not due again for a day.
    cli_ok(dir, &["sync", "--connection", &id], None);
    let server = Server::start_with(
        dir,
        &[
            ("LIFEBOAT_SCHEDULER_ENABLED", "true"),
            ("LIFEBOAT_SCHEDULER_TICK_SECS", "1"),
        ],
    );
    let browser = server.browser();
    browser.login_ok("alice", PASSWORD).await;
    let page = browser
        .submit(
            "/emergency",
            "/emergency/settings",
            &[
                ("notify_url", &site.url("/lifeboat-alerts")),
                ("auto", "confirm"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let hits_before = site.hits("/feed.json");

    let page = browser
        .submit(
            "/emergency",
            "/emergency/start",
            &[("platform", "feed"), ("deadline", "2027-03-01")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    // The connection syncs now, ahead of its schedule, and everything is saved.
    wait_for("the emergency sync", || {
        site.hits("/feed.json") > hits_before
    });
    wait_for("the finish notification", || {
        alerts
            .lock()
            .unwrap()
            .iter()
            .any(|(t, _)| t.contains("finished"))
    });
    let alerts = alerts.lock().unwrap().clone();
    assert!(alerts[0].0.contains("emergency export mode"), "{alerts:?}");
    assert!(alerts[0].1.contains("before"), "{alerts:?}");

    // Every page carries the banner; the emergency page shows the connection done.
    let dashboard = browser.get("/").await;
    assert!(
        dashboard.body.contains(
            "RSS / Atom / JSON Feed is in emergency export mode: everything reachable is saved"
        ),
        "{}",
        dashboard.body
    );
    let status = browser.get("/emergency/status").await;
    assert!(status.body.contains("everything saved"), "{}", status.body);
    assert!(status.body.contains(">done<"), "{}", status.body);
    assert!(status.body.contains("deadline"));

    // Ending it: the banner goes.
    let page = browser
        .submit("/emergency", "/emergency/feed/stop", &[])
        .await;
    assert_eq!(page.status, 303);
    assert!(
        !browser
            .get("/")
            .await
            .body
            .contains("is in emergency export mode:")
    );
}

#[tokio::test]
async fn an_announced_shutdown_is_proposed_and_a_person_confirms_it() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    add_user(dir, "alice", PASSWORD, true);
    let site = Site::start();
    let alerts = ntfy(&site);
    // Nothing but the person's note: no feeds, no Ollama.
    cli_ok(dir, &["health", "sources", "tumblr"], None);
    cli_ok(
        dir,
        &[
            "health",
            "ollama",
            "--url",
            &format!("http://127.0.0.1:{}", common::free_port()),
        ],
        None,
    );
    let server = Server::start_in(dir);
    let browser = server.browser();
    browser.login_ok("alice", PASSWORD).await;
    browser
        .submit(
            "/emergency",
            "/emergency/settings",
            &[
                ("notify_url", &site.url("/lifeboat-alerts")),
                ("auto", "confirm"),
            ],
        )
        .await;
    cli_ok(
        dir,
        &[
            "health",
            "signal",
            "tumblr",
            "--note",
            "Tumblr announced it shuts down",
            "--shutdown",
            "2027-01-15",
        ],
        None,
    );
    let out = cli_ok(dir, &["health", "check", "--platform", "tumblr"], None);
    assert!(out.contains("dying"), "{out}");
    // Proposed, not started: a person decides.
    let page = browser.get("/").await;
    assert!(
        page.body.contains("Tumblr may be going away"),
        "{}",
        page.body
    );
    assert!(alerts.lock().unwrap()[0].1.contains("Confirm it"));
    let page = browser
        .submit("/emergency", "/emergency/tumblr/start", &[])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = browser.get("/emergency/status").await;
    assert!(page.body.contains("emergency-tumblr"), "{}", page.body);
    // The announced date became the deadline.
    assert!(page.body.contains("deadline 2027-01-15"), "{}", page.body);
    // A second health check does not propose again.
    cli_ok(dir, &["health", "check", "--platform", "tumblr"], None);
    assert_eq!(
        alerts
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.contains("may be shutting down"))
            .count(),
        1
    );
}

/// The estimated finish (unix seconds) the emergency page shows for a connection.
fn estimated_finish(status_html: &str, connection: i64) -> Option<i64> {
    let row = status_html
        .split(&format!("data-connection=\"{connection}\""))
        .nth(1)?;
    let row = row.split("</tr>").next()?;
    row.split("data-finish=\"")
        .nth(1)?
        .split('"')
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_rate_limited_platforms_are_saved_in_parallel_newest_first_with_a_fair_estimate() {
    use common::fakes::{now, strava, youtube};
    const DAY: i64 = 86_400;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    add_user(dir, "alice", PASSWORD, true);

    // YouTube: 2,000 videos, one a day, the API answering 5 requests a second (81 calls).
    let tube = youtube::Fake::start();
    tube.upload(2000, now() - DAY);
    for (n, published) in tube.state.lock().unwrap().videos.iter_mut() {
        *published = now() - (2000 - *n as i64) * DAY;
    }
    tube.limit(5);
    // Strava: 3,000 activities, one a day, 1 request a second (15 pages of 200).
    let rides = strava::Fake::start();
    rides.add(1, 3000, now() - DAY);
    rides.limit(1);
    // A blog feed of 2,000 entries, newest first.
    let blog = Site::start();
    let entries: Vec<serde_json::Value> = (0..2000)
        .map(|i| {
            json!({
                "id": format!("{}/p/{i}", blog.base),
                "content_text": format!("Entry {i}"),
                "date_published": common::fakes::rfc3339(now() - (i as i64 + 1) * DAY),
            })
        })
        .collect();
    blog.route(
        "/feed.json",
        Route::ok(
            "application/feed+json",
            json!({"version": "https://jsonfeed.org/version/1.1", "title": "Blog", "items": entries})
                .to_string(),
        ),
    );

    let server = Server::start_with(
        dir,
        &[
            ("LIFEBOAT_SCHEDULER_ENABLED", "true"),
            ("LIFEBOAT_SCHEDULER_TICK_SECS", "1"),
        ],
    );
    let browser = server.browser();
    browser.login_ok("alice", PASSWORD).await;
    common::oauth::save_app(&browser, "youtube", &tube.site).await;
    common::oauth::save_app(&browser, "strava", &rides.site).await;
    // Connected but paused, so nothing syncs before emergency mode starts.
    let tube_id = common::oauth::connect(&browser, "youtube", Some(&tube.site.base)).await;
    let rides_id = common::oauth::connect(&browser, "strava", Some(&rides.site.base)).await;
    let blog_id: i64 = cli_ok(
        dir,
        &[
            "connect",
            "--user",
            "alice",
            "feed",
            "--url",
            &blog.url("/feed.json"),
        ],
        None,
    )
    .parse()
    .unwrap();
    let started = Instant::now();
    for platform in ["youtube", "strava", "feed"] {
        let page = browser
            .submit(
                "/emergency",
                "/emergency/start",
                &[("platform", platform), ("deadline", "2027-03-01")],
            )
            .await;
        assert_eq!(page.status, 303, "{platform}: {}", page.body);
    }

    let posts = |connection: i64| {
        common::query_i64(
            dir,
            &format!("SELECT COUNT(*) FROM posts WHERE connection_id = {connection}"),
        )
    };
    // Midway through the slowest platform, the page's estimate of its finish.
    let mut estimate = None;
    let mut finished_at = HashMap::new();
    while finished_at.len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "emergency export too slow"
        );
        for (id, total) in [(tube_id, 2000), (rides_id, 3000), (blog_id, 2000)] {
            if !finished_at.contains_key(&id) && posts(id) >= total {
                finished_at.insert(id, started.elapsed());
            }
        }
        if estimate.is_none() && posts(tube_id) >= 800 {
            let status = browser.get("/emergency/status").await;
            if let Some(at) = estimated_finish(&status.body, tube_id) {
                estimate = Some((started.elapsed(), at));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let wall = started.elapsed();
    let alone: Vec<Duration> = [tube_id, rides_id, blog_id]
        .iter()
        .map(|id| finished_at[id])
        .collect();
    let slowest = alone.iter().max().copied().unwrap();
    let sum: Duration = alone.iter().sum();
    eprintln!("finished after {alone:?}; all three in {wall:?}; sum {sum:?}");
    // In parallel: the whole takes as long as the slowest platform, not the sum.
    assert!(
        wall <= slowest + Duration::from_secs(2),
        "{wall:?} vs {slowest:?}"
    );
    assert!(
        finished_at[&tube_id] >= Duration::from_secs(12),
        "YouTube's limit (5/s) paced it"
    );
    assert!(
        finished_at[&rides_id] >= Duration::from_secs(10),
        "Strava's limit (1/s) paced it"
    );
    assert!(
        wall.as_secs_f64() < 0.8 * sum.as_secs_f64(),
        "{wall:?} vs sum {sum:?}"
    );

    // Newest first: every post of the last 90 days was archived before any older one.
    for id in [tube_id, rides_id, blog_id] {
        let cutoff = now() - 90 * DAY;
        let last_recent = common::query_i64(
            dir,
            &format!(
                "SELECT MAX(id) FROM posts WHERE connection_id = {id} AND sort_at >= {cutoff}"
            ),
        );
        let first_old = common::query_i64(
            dir,
            &format!("SELECT MIN(id) FROM posts WHERE connection_id = {id} AND sort_at < {cutoff}"),
        );
        assert!(
            last_recent < first_old,
            "connection {id}: the last 90 days came first"
        );
    }

    // The estimate made midway was within 25% of the real finish.
    let (when, estimated) = estimate.expect("the page gave an estimate for YouTube");
    let real = finished_at[&tube_id];
    let estimated_secs = (estimated - now()) as f64 + started.elapsed().as_secs_f64();
    let error = (estimated_secs - real.as_secs_f64()).abs() / real.as_secs_f64();
    eprintln!(
        "estimate at {when:?}: finish after {estimated_secs:.1} s; real {:.1} s; error {:.0}%",
        real.as_secs_f64(),
        error * 100.0
    );
    assert!(error <= 0.25, "estimate off by {:.0}%", error * 100.0);
}
