//! The foundation, end to end: the real binary, its pages and API over HTTP, its CLI, and
//! the checks that refuse to start on a damaged data directory.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::site::{Route, Site};
use common::{
    Api, Server, add_user, api_key, cli, cli_ok, connect, contains_bytes, is_root, snapshot,
    wait_with_timeout,
};

const ADMIN_PASSWORD: &str = "correct horse battery";
const USER_PASSWORD: &str = "another long password";

/// A failing command: non-zero exit, exactly one line on stderr, starting with "error:".
/// Returns that line.
fn one_error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected a failure, got {}; stderr:\n{stderr}",
        out.status
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got:\n{stderr}"
    );
    assert!(
        lines[0].starts_with("error: "),
        "stderr line: {:?}",
        lines[0]
    );
    lines[0].to_string()
}

/// `lifeboat --data DIR serve --listen ADDR`, expected to give up by itself.
fn serve_expecting_failure(data: &Path, listen: &str) -> Output {
    let child = common::lifeboat(data)
        .args(["serve", "--listen", listen])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lifeboat serve");
    wait_with_timeout(child, Duration::from_secs(20), "lifeboat serve")
}

fn unused_listen_address() -> String {
    format!("127.0.0.1:{}", common::free_port())
}

/// A stand-in for a blog: `/alice.xml` and `/bob.xml` are small RSS feeds. Connections are
/// made to feeds because `connect` checks the URL, and the feed connector is the one every
/// build has.
fn feed_server() -> Site {
    let feed = |who: &str| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{who}'s notes</title><link>https://{who}.example/</link>
<description>Notes</description>
<item><title>Hello</title><link>https://{who}.example/1</link><guid>https://{who}.example/1</guid>
<pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate><description>Hello from {who}</description></item>
</channel></rss>"#
        )
    };
    let site = Site::start();
    for who in ["alice", "bob"] {
        site.route(
            &format!("/{who}.xml"),
            Route::ok("application/rss+xml", feed(who)),
        );
    }
    site
}

#[tokio::test]
async fn fresh_start_setup_login_logout() {
    let server = Server::start();
    let browser = server.browser();

    let health = browser.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert!(
        health.content_type().starts_with("application/json"),
        "{}",
        health.content_type()
    );
    let json = health.json();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["database"], "ok");

    browser.get("/").await.assert_redirect("/setup");
    browser.get("/login").await.assert_redirect("/setup");

    let form = browser.get("/setup").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Create administrator"), "{}", form.body);
    let csrf = form.csrf();

    let differ = browser
        .post_form(
            "/setup",
            &[
                ("name", "admin"),
                ("password", ADMIN_PASSWORD),
                ("password_again", "something else entirely"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(differ.status, 400);
    assert!(
        differ.body.contains("The two passwords differ."),
        "{}",
        differ.body
    );
    let short = browser
        .post_form(
            "/setup",
            &[
                ("name", "admin"),
                ("password", "short"),
                ("password_again", "short"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(short.status, 400);
    assert!(
        short.body.contains("at least 10 characters"),
        "{}",
        short.body
    );
    browser.get("/").await.assert_redirect("/setup");

    let created = browser
        .post_form(
            "/setup",
            &[
                ("name", "admin"),
                ("password", ADMIN_PASSWORD),
                ("password_again", ADMIN_PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    created.assert_redirect("/");
    let cookie = created
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        cookie.starts_with("lb_session=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    let dashboard = browser.get("/").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    assert!(
        dashboard.body.contains("Hello, admin"),
        "{}",
        dashboard.body
    );
    for platform in ["Mastodon", "Bluesky", "RSS / Atom / JSON Feed", "YouTube"] {
        assert!(
            dashboard.body.contains(platform),
            "dashboard lacks {platform}"
        );
    }
    assert!(
        dashboard.body.contains("You have no connections yet."),
        "{}",
        dashboard.body
    );

    // With a user in place, setup is over, for the logged-in admin and for a stranger.
    browser.get("/setup").await.assert_redirect("/login");
    let stranger = server.browser();
    stranger.get("/setup").await.assert_redirect("/login");
    stranger.get("/").await.assert_redirect("/login");
    let stranger_csrf = stranger.get("/login").await.csrf();
    let late = stranger
        .post_form(
            "/setup",
            &[
                ("name", "intruder"),
                ("password", ADMIN_PASSWORD),
                ("password_again", ADMIN_PASSWORD),
                ("csrf_token", &stranger_csrf),
            ],
        )
        .await;
    late.assert_redirect("/login");
    let users = cli_ok(server.data_dir(), &["user", "list"], None);
    assert_eq!(users.lines().count(), 1, "{users}");
    assert!(users.starts_with("admin\tadmin\t"), "{users}");

    let logout = browser
        .post_form("/logout", &[("csrf_token", &dashboard.csrf())])
        .await;
    logout.assert_redirect("/login");
    browser.get("/").await.assert_redirect("/login");
    // The old session is gone on the server too, not only from the cookie jar.
    let old_session = cookie.split(';').next().unwrap();
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(server.url("/"))
        .header("cookie", old_session)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
    assert_eq!(replay.headers()["location"], "/login");

    let wrong = browser.login("admin", "not the password at all").await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("Wrong user name or password."),
        "{}",
        wrong.body
    );
    browser.get("/").await.assert_redirect("/login");

    browser.login_ok("admin", ADMIN_PASSWORD).await;
    browser.get("/login").await.assert_redirect("/");
    let again = browser.get("/").await;
    assert_eq!(again.status, 200);
    assert!(again.body.contains("Hello, admin"));
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_token() {
    let server = Server::start();
    let browser = server.browser();
    let setup_page = browser.get("/setup").await;
    let csrf = setup_page.csrf();
    let fields = |token: Option<&'static str>| {
        let mut f = vec![
            ("name", "admin"),
            ("password", ADMIN_PASSWORD),
            ("password_again", ADMIN_PASSWORD),
        ];
        if let Some(t) = token {
            f.push(("csrf_token", t));
        }
        f
    };

    let missing = browser.post_form("/setup", &fields(None)).await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert!(
        missing.body.contains("sent from another site"),
        "{}",
        missing.body
    );
    let wrong = browser
        .post_form(
            "/setup",
            &fields(Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
        )
        .await;
    assert_eq!(wrong.status, 403);
    // A fresh client has no CSRF cookie at all.
    let cookieless = server.browser().post_form("/setup", &fields(None)).await;
    assert_eq!(cookieless.status, 403);
    // A cross-site page cannot post even with a valid token.
    let mut with_token = fields(None);
    with_token.push(("csrf_token", &csrf));
    let cross_site = browser
        .post_form_with("/setup", &with_token, &[("origin", "http://evil.example")])
        .await;
    assert_eq!(cross_site.status, 403);
    // None of the refused posts created the administrator.
    assert_eq!(browser.get("/setup").await.status, 200);
    assert_eq!(cli_ok(server.data_dir(), &["user", "list"], None), "");

    // The same origin with the right token passes.
    let origin = server.base.clone();
    let ok = browser
        .post_form_with("/setup", &with_token, &[("origin", &origin)])
        .await;
    ok.assert_redirect("/");
    let dashboard = browser.get("/").await;
    assert_eq!(dashboard.status, 200);
    let session_csrf = dashboard.csrf();

    for token in [None, Some("wrong-token")] {
        let mut f = Vec::new();
        if let Some(t) = token {
            f.push(("csrf_token", t));
        }
        assert_eq!(
            browser.post_form("/logout", &f).await.status,
            403,
            "logout with {token:?}"
        );
    }
    let cross_site = browser
        .post_form_with(
            "/logout",
            &[("csrf_token", &session_csrf)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(cross_site.status, 403);
    assert_eq!(
        browser.get("/").await.status,
        200,
        "the refused logouts left the session alone"
    );

    let stranger = server.browser();
    stranger.get("/login").await;
    let login_fields = [("name", "admin"), ("password", ADMIN_PASSWORD)];
    assert_eq!(
        stranger.post_form("/login", &login_fields).await.status,
        403
    );
    let mut wrong_login = login_fields.to_vec();
    wrong_login.push(("csrf_token", "not-the-token-of-this-browser-at-all-000"));
    assert_eq!(stranger.post_form("/login", &wrong_login).await.status, 403);
    // Another browser's token is not this browser's.
    let mut borrowed = login_fields.to_vec();
    borrowed.push(("csrf_token", &csrf));
    assert_eq!(stranger.post_form("/login", &borrowed).await.status, 403);
    stranger.get("/").await.assert_redirect("/login");

    // htmx sends the token as a header instead of a form field.
    let by_header = browser
        .client
        .post(server.url("/logout"))
        .header("x-csrf-token", &session_csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), 303);
    browser.get("/").await.assert_redirect("/login");
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_user_name() {
    let server = Server::start();
    add_user(server.data_dir(), "alice", ADMIN_PASSWORD, true);
    add_user(server.data_dir(), "bob", USER_PASSWORD, false);
    let browser = server.browser();
    for attempt in 1..=5 {
        let page = browser
            .login("alice", &format!("wrong password {attempt}"))
            .await;
        assert_eq!(page.status, 401, "attempt {attempt}: {}", page.body);
    }
    let locked = browser.login("alice", ADMIN_PASSWORD).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    let prefix = "Too many failed logins. Try again in ";
    let at = locked
        .body
        .find(prefix)
        .unwrap_or_else(|| panic!("{}", locked.body));
    let seconds: u64 = locked.body[at + prefix.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", locked.body));
    assert!((20..=30).contains(&seconds), "locked for {seconds} s");
    browser.get("/").await.assert_redirect("/login");
    // The lock is per user name: from the same (loopback) address, bob is not locked out.
    server.browser().login_ok("bob", USER_PASSWORD).await;
}

#[tokio::test]
async fn admins_add_users_and_others_cannot() {
    let server = Server::start();
    let dir = server.data_dir();
    let admin = server.browser();
    admin
        .setup("admin", ADMIN_PASSWORD)
        .await
        .assert_redirect("/");
    assert!(admin.get("/").await.body.contains("href=\"/users\""));

    let page = admin.get("/users").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Household users"));
    let csrf = page.csrf();
    let add = |name: &'static str, password: &'static str, is_admin: bool| {
        let mut f = vec![
            ("name", name),
            ("password", password),
            ("csrf_token", csrf.as_str()),
        ];
        if is_admin {
            f.push(("admin", "1"));
        }
        f
    };

    let added = admin
        .post_form("/users", &add("carol", USER_PASSWORD, false))
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(added.body.contains("Added carol."), "{}", added.body);
    assert!(
        added.body.contains("<td>carol</td><td>user</td>"),
        "{}",
        added.body
    );
    let added = admin
        .post_form("/users", &add("erin", USER_PASSWORD, true))
        .await;
    assert_eq!(added.status, 200);
    assert!(
        added.body.contains("<td>erin</td><td>administrator</td>"),
        "{}",
        added.body
    );

    let short = admin
        .post_form("/users", &add("frank", "short", false))
        .await;
    assert_eq!(short.status, 400);
    assert!(
        short.body.contains("at least 10 characters"),
        "{}",
        short.body
    );
    let bad_name = admin
        .post_form("/users", &add("no spaces please", USER_PASSWORD, false))
        .await;
    assert_eq!(bad_name.status, 400);
    let duplicate = admin
        .post_form("/users", &add("carol", USER_PASSWORD, false))
        .await;
    assert_eq!(duplicate.status, 409);
    assert!(
        duplicate
            .body
            .contains("There is already a user named carol."),
        "{}",
        duplicate.body
    );

    assert_eq!(
        cli_ok(
            dir,
            &["user", "add", "dave"],
            Some("dave's long password\n")
        ),
        "added dave"
    );
    let again = cli(
        dir,
        &["user", "add", "dave"],
        Some("dave's long password\n"),
    );
    let line = one_error_line(&again);
    assert!(line.contains("already a user named \"dave\""), "{line}");
    let short = cli(dir, &["user", "add", "gina"], Some("short\n"));
    assert!(one_error_line(&short).contains("at least 10 characters"));

    let list = cli_ok(dir, &["user", "list"], None);
    let mut roles: Vec<(String, String)> = list
        .lines()
        .map(|l| {
            let mut cols = l.split('\t');
            (
                cols.next().unwrap().to_string(),
                cols.next().unwrap().to_string(),
            )
        })
        .collect();
    roles.sort();
    let expected = [
        ("admin", "admin"),
        ("carol", "user"),
        ("dave", "user"),
        ("erin", "admin"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, r)| (n.to_string(), r.to_string()))
        .collect();
    assert_eq!(roles, expected);

    let carol = server.browser();
    carol.login_ok("carol", USER_PASSWORD).await;
    let dashboard = carol.get("/").await;
    assert_eq!(dashboard.status, 200);
    assert!(
        !dashboard.body.contains("href=\"/users\""),
        "non-admins get no Users link"
    );
    assert_eq!(carol.get("/users").await.status, 403);
    let refused = carol
        .post_form(
            "/users",
            &[
                ("name", "mallory"),
                ("password", USER_PASSWORD),
                ("admin", "1"),
                ("csrf_token", &dashboard.csrf()),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("Only an administrator can do this."),
        "{}",
        refused.body
    );
    assert!(!cli_ok(dir, &["user", "list"], None).contains("mallory"));
}

#[tokio::test]
async fn users_see_only_their_own_connections() {
    const TOKEN: &str = "tok-alice-0123456789";
    let server = Server::start();
    let feeds = feed_server();
    let alice_feed = feeds.url("/alice.xml");
    let dir = server.data_dir();
    add_user(dir, "alice", ADMIN_PASSWORD, true);
    add_user(dir, "bob", USER_PASSWORD, false);
    let alice_id = connect(dir, "alice", "feed", &alice_feed, "@alice", Some(TOKEN));
    let alice_key = api_key(dir, "alice");
    let bob_key = api_key(dir, "bob");
    let (alice, bob) = (server.api(&alice_key), server.api(&bob_key));

    let listed = bob.get("/api/v1/connections").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json()["items"], serde_json::json!([]));
    let theirs = bob.get(&format!("/api/v1/connections/{alice_id}")).await;
    assert_eq!(theirs.status, 404);
    assert_eq!(theirs.json()["error"], "not_found");

    let browser = server.browser();
    browser.login_ok("bob", USER_PASSWORD).await;
    let page = browser.get(&format!("/connections/{alice_id}")).await;
    assert_eq!(page.status, 404);
    assert!(!page.body.contains("@alice") && !page.body.contains("alice.xml"));
    let dashboard = browser.get("/").await;
    assert!(dashboard.body.contains("You have no connections yet."));
    assert!(!dashboard.body.contains("@alice"));

    // Bob's own connection shows, so the 404 above is about ownership, not the route.
    let bob_feed = feeds.url("/bob.xml");
    let bob_id = connect(
        dir,
        "bob",
        "feed",
        &bob_feed,
        "@bob.example",
        Some("bob-token-99"),
    );
    let own = browser.get(&format!("/connections/{bob_id}")).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert!(own.body.contains("@bob.example") && own.body.contains("stored, encrypted"));
    let listed = bob.get("/api/v1/connections").await.json();
    let ids: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![bob_id]);

    let mine = alice.get(&format!("/api/v1/connections/{alice_id}")).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert!(!mine.body.contains(TOKEN));
    let json = mine.json();
    assert_eq!(json["id"], alice_id);
    assert_eq!(json["platform"], "feed");
    assert_eq!(json["url"], alice_feed.as_str());
    assert_eq!(json["handle"], "@alice");
    assert_eq!(json["has_credentials"], true);
    let fields: Vec<&String> = json.as_object().unwrap().keys().collect();
    for field in &fields {
        let leaky = ["credential", "secret", "token", "password"]
            .iter()
            .any(|word| field.contains(word) && field.as_str() != "has_credentials");
        assert!(!leaky, "connection JSON carries {field:?}: {fields:?}");
    }
    let listed = alice.get("/api/v1/connections").await.json();
    let ids: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![alice_id]);

    for (what, api) in [
        ("no key", Api::new(&server.base, None)),
        (
            "a wrong key",
            Api::new(&server.base, Some("lb_this-key-does-not-exist")),
        ),
    ] {
        for path in ["/api/v1/connections", "/api/v1/platforms"] {
            let refused = api.get(path).await;
            assert_eq!(refused.status, 401, "{what} on {path}");
            assert!(
                refused.content_type().starts_with("application/json"),
                "{what}"
            );
            let json = refused.json();
            assert_eq!(json["error"], "unauthorized", "{what}");
            assert!(
                json["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{what}: {json}"
            );
        }
    }
    let basic = Api::new(&server.base, None)
        .client
        .get(server.url("/api/v1/connections"))
        .basic_auth("alice", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);

    let platforms = bob.get("/api/v1/platforms").await;
    assert_eq!(platforms.status, 200);
    let items = platforms.json()["items"].as_array().unwrap().clone();
    let ids: Vec<&str> = items.iter().map(|p| p["id"].as_str().unwrap()).collect();
    for id in ["feed", "mastodon", "bluesky", "twitter", "youtube"] {
        assert!(ids.contains(&id), "platforms lack {id}: {ids:?}");
    }
    let mastodon = items.iter().find(|p| p["id"] == "mastodon").unwrap();
    assert_eq!(mastodon["name"], "Mastodon");
    assert_eq!(mastodon["status"], "unknown");
}

#[tokio::test]
async fn stored_tokens_never_reach_the_disk_in_clear() {
    const TOKEN: &str = "tok-SECRET-1234567890";
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path());
    let feeds = feed_server();
    add_user(data.path(), "alice", ADMIN_PASSWORD, true);
    let feed = feeds.url("/alice.xml");
    let id = connect(data.path(), "alice", "feed", &feed, "@alice", Some(TOKEN));
    let key = api_key(data.path(), "alice");
    let shown = server
        .api(&key)
        .get(&format!("/api/v1/connections/{id}"))
        .await;
    assert_eq!(shown.json()["has_credentials"], true);

    let needles = [
        TOKEN.as_bytes().to_vec(),
        hex_lower(TOKEN.as_bytes()).into_bytes(),
    ];
    let check = |when: &str| {
        let files = snapshot(data.path());
        // The connection's plain fields are found, so the scan does see what was stored.
        assert!(
            files
                .values()
                .any(|bytes| contains_bytes(bytes, feed.as_bytes())),
            "{when}: the feed URL is nowhere in the data directory; is the scan blind?"
        );
        for (path, bytes) in &files {
            for needle in &needles {
                assert!(
                    !contains_bytes(bytes, needle),
                    "{when}: the token is readable in {}",
                    path.display()
                );
            }
        }
    };
    check("while serving");
    server.stop();
    check("after stopping");

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.path().join("secret.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "secret.key mode is {:o}", mode & 0o777);
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn an_occupied_port_is_refused() {
    let data = tempfile::tempdir().unwrap();
    cli_ok(data.path(), &["platforms"], None);
    let before = snapshot(data.path());
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = serve_expecting_failure(data.path(), &addr);
    assert!(!out.status.success());
    assert_eq!(
        snapshot(data.path()),
        before,
        "a refused start changed the data directory"
    );
    let line = one_error_line(&out);
    assert!(line.contains(&format!("cannot listen on {addr}")), "{line}");
}

#[test]
fn an_unusable_data_dir_is_refused() {
    let parent = tempfile::tempdir().unwrap();
    if is_root() {
        // root reads and writes through chmod 000, so the unusable "directory" here is a
        // regular file, which no user can use as a directory.
        let path = parent.path().join("not-a-directory");
        std::fs::write(&path, b"precious").unwrap();
        let out = serve_expecting_failure(&path, &unused_listen_address());
        let line = one_error_line(&out);
        assert!(line.contains(&path.display().to_string()), "{line}");
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
        let out = cli(&path, &["user", "list"], None);
        one_error_line(&out);
    } else {
        use std::os::unix::fs::PermissionsExt;
        let path = parent.path().join("locked");
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        let out = serve_expecting_failure(&path, &unused_listen_address());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        let line = one_error_line(&out);
        assert!(line.contains("cannot read data directory"), "{line}");
        assert_eq!(
            std::fs::read_dir(&path).unwrap().count(),
            0,
            "nothing was written"
        );
    }
}

#[test]
fn a_missing_key_file_with_a_database_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path());
    server.stop();
    let key = data.path().join("secret.key");
    std::fs::remove_file(&key).unwrap();
    let before = snapshot(data.path());

    let out = serve_expecting_failure(data.path(), &unused_listen_address());
    let line = one_error_line(&out);
    assert!(
        line.contains("secret.key") && line.contains("missing"),
        "{line}"
    );
    assert!(
        !key.exists(),
        "a new key file was created over the lost one"
    );
    // The CLI goes through the same check.
    one_error_line(&cli(data.path(), &["user", "list"], None));
    assert!(!key.exists());
    assert_eq!(snapshot(data.path()), before);
}

#[test]
fn a_corrupt_key_file_is_refused() {
    let data = tempfile::tempdir().unwrap();
    cli_ok(data.path(), &["platforms"], None);
    let key = data.path().join("secret.key");
    for garbage in [
        &b"this is not a key\n"[..],
        &b"\x00\xff\xfe binary \x80 garbage"[..],
    ] {
        std::fs::write(&key, garbage).unwrap();
        let out = serve_expecting_failure(data.path(), &unused_listen_address());
        let line = one_error_line(&out);
        assert!(line.contains("secret.key"), "{line}");
        if garbage.is_ascii() {
            assert!(line.contains("corrupt"), "{line}");
        }
        assert_eq!(
            std::fs::read(&key).unwrap(),
            garbage,
            "the key file was changed"
        );
    }

    // A key of the right form but the wrong length is just as corrupt.
    let short = "ab".repeat(31);
    std::fs::write(&key, &short).unwrap();
    let line = one_error_line(&serve_expecting_failure(
        data.path(),
        &unused_listen_address(),
    ));
    assert!(line.contains("corrupt"), "{line}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), short);
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let data = tempfile::tempdir().unwrap();
    cli_ok(data.path(), &["platforms"], None);
    let db_path = data.path().join("lifeboat.db");
    {
        let conn = rusqlite::Connection::open(&db_path).unwrap();
        let columns: Vec<(String, String)> = conn
            .prepare("PRAGMA table_info(refinery_schema_history)")
            .unwrap()
            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            columns.iter().any(|(name, _)| name == "version"),
            "{columns:?}"
        );
        let values: Vec<rusqlite::types::Value> = columns
            .iter()
            .map(|(name, kind)| match name.as_str() {
                "version" => rusqlite::types::Value::Integer(999),
                "name" => rusqlite::types::Value::Text("from_the_future".into()),
                _ if kind.to_uppercase().contains("INT") => rusqlite::types::Value::Integer(0),
                _ => rusqlite::types::Value::Text("2099-01-01T00:00:00Z".into()),
            })
            .collect();
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        let marks = vec!["?"; names.len()].join(", ");
        let sql = format!(
            "INSERT INTO refinery_schema_history ({}) VALUES ({marks})",
            names.join(", ")
        );
        conn.execute(&sql, rusqlite::params_from_iter(values))
            .unwrap();
    }
    let before = std::fs::read(&db_path).unwrap();

    let out = serve_expecting_failure(data.path(), &unused_listen_address());
    let line = one_error_line(&out);
    assert!(line.contains("newer"), "{line}");
    one_error_line(&cli(data.path(), &["user", "list"], None));
    assert_eq!(
        std::fs::read(&db_path).unwrap(),
        before,
        "the database was modified"
    );
    let wal = data.path().join("lifeboat.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "a WAL was left with writes"
    );
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let mut server = Server::start();
    let browser = server.browser();
    // An idle keep-alive connection, as a browser tab leaves behind, must not hold the exit.
    browser.get("/login").await;
    assert_eq!(browser.get("/healthz").await.status, 200);
    let (status, took) = server.stop_within(Duration::from_secs(5));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status}:\n{}",
        server.log()
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        server.log().contains("Lifeboat stopped cleanly"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let server = Server::start();
    let browser = server.browser();
    let page = browser.get("/no/such/page").await;
    assert_eq!(page.status, 404);
    assert!(
        page.content_type().starts_with("text/html"),
        "{}",
        page.content_type()
    );
    assert!(
        page.body.contains("404") && page.body.contains("There is nothing here."),
        "{}",
        page.body
    );

    for path in ["/api/v1/no-such-thing", "/api/v1/connections/1/nothing"] {
        let api = browser.get(path).await;
        assert_eq!(api.status, 404, "{path}");
        assert!(
            api.content_type().starts_with("application/json"),
            "{path}: {}",
            api.content_type()
        );
        let json = api.json();
        assert_eq!(json["error"], "not_found", "{path}");
        assert!(json["detail"].is_string(), "{path}: {json}");
    }
    assert_eq!(browser.get("/static/no-such-file.js").await.status, 404);
}

/// DESIGN.md: API errors are `{"error": ..., "detail": ...}` "with a fitting status code",
/// including a malformed id in the path, which a script can easily send.
#[tokio::test]
async fn api_errors_are_json_even_for_malformed_ids() {
    let server = Server::start();
    add_user(server.data_dir(), "alice", ADMIN_PASSWORD, true);
    let api = server.api(&api_key(server.data_dir(), "alice"));
    for path in [
        "/api/v1/connections/abc",
        "/api/v1/connections/99999999999999999999",
    ] {
        let page = api.get(path).await;
        assert_eq!(page.status, 400, "{path}");
        assert!(
            page.content_type().starts_with("application/json"),
            "{path}: {} {:?}",
            page.content_type(),
            page.body
        );
        let json = page.json();
        assert_eq!(json["error"], "bad_request", "{path}");
        assert!(json["detail"].is_string(), "{path}: {json}");
    }
}

#[tokio::test]
async fn static_assets_are_embedded() {
    let server = Server::start();
    let browser = server.browser();
    let htmx = browser.get("/static/htmx.min.js").await;
    assert_eq!(htmx.status, 200);
    let js_type = htmx.content_type();
    assert!(
        js_type == "text/javascript" || js_type == "application/javascript",
        "{js_type}"
    );
    assert!(
        htmx.body.len() > 10_000 && htmx.body.contains("htmx"),
        "htmx body looks wrong"
    );
    let css = browser.get("/static/lifeboat.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.content_type(), "text/css");
    let on_disk =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/static/lifeboat.css"))
            .unwrap();
    assert_eq!(css.body, on_disk);
}

/// The harness's fake platform server: later suites rely on it answering and counting.
#[tokio::test]
async fn harness_fake_server_serves_and_counts() {
    let fake = Site::start();
    fake.route(
        "/api/v1/items",
        Route::ok(
            "application/json",
            serde_json::json!({"items": [1, 2]}).to_string(),
        ),
    );
    fake.route(
        "/limited",
        Route::new(429, "text/plain", "slow down").header("retry-after", "7"),
    );
    let client = reqwest::Client::new();
    let ok = client
        .get(fake.url("/api/v1/items?page=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "application/json");
    assert_eq!(ok.json::<serde_json::Value>().await.unwrap()["items"][1], 2);
    let limited = client.get(fake.url("/limited")).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "7");
    assert_eq!(
        client
            .get(fake.url("/other"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    client.get(fake.url("/limited")).send().await.unwrap();
    assert_eq!(fake.hits("/api/v1/items"), 1);
    assert_eq!(fake.hits("/limited"), 2);
    let seen = fake.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].path, "/api/v1/items?page=2");
}
