//! Emergency export mode: started by a person or proposed by the health monitor, its
//! syncs run ahead of the schedule, the household is told (banner, ntfy-compatible
//! webhook), and the finish is detected and announced.

mod common;

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
        dashboard
            .body
            .contains("RSS / Atom / JSON Feed is in emergency export mode: everything reachable is saved"),
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
