//! The Mastodon connector against a fake instance: the app registered by Lifeboat itself
//! (`POST /api/v1/apps`, once per server), OAuth2 through Lifeboat's pages,
//! `verify_credentials`, the account's statuses paged with `max_id`/`min_id` and `Link`
//! headers, favourites and bookmarks paged only by `Link` (internal ids); a 1,000-status
//! backfill, the incremental sync's request count, 429s, 5xx bursts, a malformed answer and
//! a revoked token.

mod common;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::oauth::{FakeAuth, connect};
use common::site::{Req, Route, Site};
use common::{Server, db, query_i64, query_text, status_and_error, sync, sync_ok};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
const ACCOUNT: &str = "109302436954721982";
const FIRST_ID: u64 = 110_000_000_000_000_000;

fn status_path() -> String {
    format!("/api/v1/accounts/{ACCOUNT}/statuses")
}

fn api_paths() -> Vec<String> {
    vec![
        "/api/v1/accounts/verify_credentials".into(),
        status_path(),
        "/api/v1/favourites".into(),
        "/api/v1/bookmarks".into(),
    ]
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The API id of the person's status number `n`.
fn status_id(n: u64) -> String {
    (FIRST_ID + n * 1000).to_string()
}

fn alice(base: &str) -> Value {
    json!({
        "id": ACCOUNT,
        "username": "alice",
        "acct": "alice",
        "display_name": "Alice",
        "locked": false,
        "bot": false,
        "created_at": "2022-11-08T00:00:00.000Z",
        "note": "<p>Hello</p>",
        "url": format!("{base}/@alice"),
        "avatar": format!("{base}/avatars/original/missing.png"),
        "followers_count": 10,
        "following_count": 20,
        "statuses_count": 1000,
        "source": {"privacy": "public", "sensitive": false, "language": "en", "note": "Hello", "fields": []}
    })
}

fn bob() -> Value {
    json!({
        "id": "14715",
        "username": "bob",
        "acct": "bob@other.example",
        "display_name": "Bob",
        "url": "https://other.example/@bob"
    })
}

/// Someone else's status `n`, as favourites, bookmarks and boosts show it.
fn other_status(n: u64) -> Value {
    json!({
        "id": (FIRST_ID / 2 + n).to_string(),
        "created_at": rfc3339(1_700_000_000 + n as i64),
        "in_reply_to_id": null,
        "in_reply_to_account_id": null,
        "sensitive": false,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": format!("https://other.example/users/bob/statuses/{n}"),
        "url": format!("https://other.example/@bob/{n}"),
        "replies_count": 0,
        "reblogs_count": 2,
        "favourites_count": 3,
        "edited_at": null,
        "content": format!("<p>Bob's status {n}</p>"),
        "reblog": null,
        "account": bob(),
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": null,
        "poll": null
    })
}

/// The person's status `n`: every tenth is a boost, every seventh a reply, every fifth has
/// a picture.
fn own_status(base: &str, n: u64, created: i64) -> Value {
    let id = status_id(n);
    let boost = n % 10 == 3;
    let uri = if boost {
        format!("{base}/users/alice/statuses/{id}/activity")
    } else {
        format!("{base}/users/alice/statuses/{id}")
    };
    let media: Vec<Value> = if n.is_multiple_of(5) && !boost {
        vec![json!({
            "id": format!("22{n}"),
            "type": "image",
            "url": format!("{base}/system/media_attachments/files/{n}/original/pic.jpeg"),
            "preview_url": format!("{base}/system/media_attachments/files/{n}/small/pic.jpeg"),
            "remote_url": null,
            "description": format!("picture {n}"),
            "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}",
            "meta": {"original": {"width": 640, "height": 480}}
        })]
    } else {
        vec![]
    };
    let reply = n % 7 == 1 && !boost;
    json!({
        "id": id,
        "created_at": rfc3339(created),
        "in_reply_to_id": if reply { Value::from(status_id(n - 1)) } else { Value::Null },
        "in_reply_to_account_id": if reply { Value::from(ACCOUNT) } else { Value::Null },
        "sensitive": false,
        "spoiler_text": "",
        "visibility": "public",
        "language": if boost { Value::Null } else { json!("en") },
        "uri": uri,
        "url": if boost { Value::Null } else { json!(format!("{base}/@alice/{id}")) },
        "replies_count": n % 3,
        "reblogs_count": n % 4,
        "favourites_count": n % 5,
        "edited_at": null,
        "favourited": false,
        "reblogged": false,
        "bookmarked": false,
        "content": if boost { json!("") } else { json!(format!("<p>Status {n} with <a href=\"{base}/tags/lifeboat\" class=\"mention hashtag\" rel=\"tag\">#<span>lifeboat</span></a></p>")) },
        "reblog": if boost { other_status(n) } else { Value::Null },
        "application": {"name": "Web", "website": null},
        "account": alice(base),
        "media_attachments": media,
        "mentions": [],
        "tags": if boost { json!([]) } else { json!([{"name": "lifeboat", "url": format!("{base}/tags/lifeboat")}]) },
        "emojis": [],
        "card": null,
        "poll": null
    })
}

#[derive(Default)]
struct State {
    /// (status number, created at), oldest first.
    statuses: Vec<(u64, i64)>,
    /// (internal id, status number of Bob's), in the order they were added.
    favourites: Vec<(u64, u64)>,
    bookmarks: Vec<(u64, u64)>,
    next_internal: u64,
    faults: VecDeque<Route>,
    /// Registrations at `POST /api/v1/apps`.
    apps: Vec<Req>,
}

struct Fake {
    site: Site,
    auth: FakeAuth,
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn start() -> Fake {
        let site = Site::start();
        // Mastodon's tokens do not expire.
        let auth = FakeAuth::install(&site, 10 * 365 * 86_400);
        let state = Arc::new(Mutex::new(State {
            next_internal: 7_486_000,
            ..State::default()
        }));
        let s = state.clone();
        site.handle("/api/v1/apps", move |req| register(&s, req));
        for path in api_paths() {
            let (s, a, base) = (state.clone(), auth.clone(), site.base.clone());
            site.handle(&path, move |req| answer(&s, &a, &base, req));
        }
        Fake { site, auth, state }
    }

    /// `n` more statuses, a minute apart, the last one `last` (unix seconds).
    fn post(&self, n: usize, last: i64) {
        let mut s = self.state.lock().unwrap();
        let first = s.statuses.len() as u64;
        for i in 0..n as u64 {
            s.statuses
                .push((first + i, last - (n as i64 - 1 - i as i64) * 60));
        }
    }

    fn favourite(&self, bob_status: u64) {
        let mut s = self.state.lock().unwrap();
        s.next_internal += 1;
        let id = s.next_internal;
        s.favourites.push((id, bob_status));
    }

    fn bookmark(&self, bob_status: u64) {
        let mut s = self.state.lock().unwrap();
        s.next_internal += 1;
        let id = s.next_internal;
        s.bookmarks.push((id, bob_status));
    }

    fn fault(&self, route: Route) {
        self.state.lock().unwrap().faults.push_back(route);
    }
}

fn register(state: &Mutex<State>, req: &Req) -> Route {
    let form = req.form();
    if req.method != "POST"
        || !form.contains_key("client_name")
        || !form.contains_key("redirect_uris")
    {
        return Route::json(
            422,
            &json!({"error": "Validation failed: Redirect URI must be an absolute URI."}),
        );
    }
    state.lock().unwrap().apps.push(req.clone());
    Route::json(
        200,
        &json!({
            "id": "563419",
            "name": form["client_name"],
            "website": form.get("website"),
            "scopes": form.get("scopes").map(|s| s.split(' ').collect::<Vec<_>>()),
            "redirect_uri": form["redirect_uris"],
            "redirect_uris": [form["redirect_uris"]],
            "client_id": "TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM",
            "client_secret": "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw",
            "client_secret_expires_at": 0
        }),
    )
}

fn limit(req: &Req, default: usize) -> usize {
    req.param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(default)
        .min(40)
}

fn parse(req: &Req, name: &str) -> Option<u64> {
    req.param(name).and_then(|v| v.parse().ok())
}

fn answer(state: &Mutex<State>, auth: &FakeAuth, base: &str, req: &Req) -> Route {
    if !auth.valid(req) {
        return Route::json(401, &json!({"error": "The access token is invalid"}));
    }
    let mut s = state.lock().unwrap();
    if let Some(fault) = s.faults.pop_front() {
        return fault;
    }
    if req.path == "/api/v1/accounts/verify_credentials" {
        return Route::json(200, &alice(base));
    }
    if req.path == status_path() {
        // Mastodon's paging of account statuses: `max_id` and `since_id` bound the
        // newest-first list, `min_id` takes the page just after it.
        let per_page = limit(req, 20);
        let ids: Vec<(u64, u64, i64)> = s
            .statuses
            .iter()
            .map(|(n, at)| (FIRST_ID + n * 1000, *n, *at))
            .filter(|(id, _, _)| parse(req, "max_id").is_none_or(|max| *id < max))
            .filter(|(id, _, _)| parse(req, "since_id").is_none_or(|since| *id > since))
            .filter(|(id, _, _)| parse(req, "min_id").is_none_or(|min| *id > min))
            .collect();
        let page: Vec<(u64, u64, i64)> = if parse(req, "min_id").is_some() {
            let mut page: Vec<_> = ids.into_iter().take(per_page).collect();
            page.reverse();
            page
        } else {
            ids.into_iter().rev().take(per_page).collect()
        };
        let body: Vec<Value> = page
            .iter()
            .map(|(_, n, at)| own_status(base, *n, *at))
            .collect();
        let mut route = Route::json(200, &Value::Array(body));
        let list = format!("{base}{}?limit={per_page}", status_path());
        let mut links = Vec::new();
        if page.len() == per_page {
            links.push(format!(
                "<{list}&max_id={}>; rel=\"next\"",
                page.last().unwrap().0
            ));
        }
        if let Some(first) = page.first() {
            links.push(format!("<{list}&min_id={}>; rel=\"prev\"", first.0));
        }
        if !links.is_empty() {
            route = route.header("link", &links.join(", "));
        }
        return route
            .header("x-ratelimit-limit", "300")
            .header("x-ratelimit-remaining", "299");
    }
    // Favourites and bookmarks: newest first by internal id, which no status shows.
    let list = if req.path == "/api/v1/favourites" {
        &s.favourites
    } else {
        &s.bookmarks
    };
    let per_page = limit(req, 20);
    let page: Vec<(u64, u64)> = list
        .iter()
        .rev()
        .filter(|(id, _)| parse(req, "max_id").is_none_or(|max| *id < max))
        .filter(|(id, _)| parse(req, "min_id").is_none_or(|min| *id > min))
        .take(per_page)
        .copied()
        .collect();
    let body: Vec<Value> = page.iter().map(|(_, n)| other_status(*n)).collect();
    let mut route = Route::json(200, &Value::Array(body));
    let here = format!("{base}{}?limit={per_page}", req.path);
    let mut links = Vec::new();
    if page.len() == per_page {
        links.push(format!(
            "<{here}&max_id={}>; rel=\"next\"",
            page.last().unwrap().0
        ));
    }
    if let Some(first) = page.first() {
        links.push(format!("<{here}&min_id={}>; rel=\"prev\"", first.0));
    }
    if !links.is_empty() {
        route = route.header("link", &links.join(", "));
    }
    route
}

fn posts(dir: &Path, id: i64) -> i64 {
    query_i64(
        dir,
        &format!("SELECT COUNT(*) FROM posts WHERE connection_id = {id}"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_backfill_incremental_and_faults() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let fake = Fake::start();
    let mut server = Server::start_in(dir);
    let browser = server.browser();
    browser.setup("alice", PASSWORD).await;

    // "Connect with Mastodon" on a server Lifeboat never saw registers the app first.
    let page = browser
        .submit(
            "/connections",
            "/connections/oauth",
            &[("platform", "mastodon"), ("url", &fake.site.base)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let authorize = url::Url::parse(page.location().unwrap()).unwrap();
    assert_eq!(authorize.path(), "/oauth/authorize");
    let params: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(
        params["scope"],
        "read:accounts read:statuses read:favourites read:bookmarks"
    );
    assert_eq!(
        params["client_id"],
        "TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM"
    );
    {
        let s = fake.state.lock().unwrap();
        assert_eq!(s.apps.len(), 1);
        let form = s.apps[0].form();
        assert_eq!(form["client_name"], "Lifeboat");
        assert_eq!(form["scopes"], params["scope"]);
        assert!(
            form["redirect_uris"].ends_with("/oauth/callback"),
            "{form:?}"
        );
        assert_eq!(form["redirect_uris"], params["redirect_uri"]);
        assert!(form.contains_key("website"));
    }
    let id = connect(&browser, "mastodon", Some(&fake.site.base)).await;
    // A second connection on the same server reuses the registered app.
    let second = connect(&browser, "mastodon", Some(&format!("{}/", fake.site.base))).await;
    assert_ne!(id, second);
    assert_eq!(fake.site.hits("/api/v1/apps"), 1);
    assert_eq!(fake.state.lock().unwrap().apps.len(), 1);
    server.stop();

    // The backfill: 1,000 statuses, 45 favourites (two pages), 3 bookmarks.
    let last = now() - 86_400;
    fake.post(1000, last);
    for n in 0..45 {
        fake.favourite(5000 + n);
    }
    for n in 0..3 {
        fake.bookmark(6000 + n);
    }
    let started = Instant::now();
    sync_ok(dir, id);
    eprintln!("backfill took {:?}", started.elapsed());
    assert_eq!(posts(dir, id), 1000 + 45 + 3);
    assert_eq!(fake.site.hits("/api/v1/accounts/verify_credentials"), 1);
    // 25 full pages, then the empty page their last `Link: rel="next"` pointed to.
    assert_eq!(fake.site.hits(&status_path()), 26);
    assert_eq!(fake.site.hits("/api/v1/favourites"), 2);
    assert_eq!(fake.site.hits("/api/v1/bookmarks"), 1);
    let count = |sql: &str| query_i64(dir, &format!("{sql} AND connection_id = {id}"));
    assert_eq!(
        count("SELECT COUNT(*) FROM posts WHERE kind = 'repost'"),
        100
    );
    assert_eq!(count("SELECT COUNT(*) FROM posts WHERE kind = 'like'"), 45);
    assert_eq!(
        count("SELECT COUNT(*) FROM posts WHERE kind = 'bookmark'"),
        3
    );
    assert!(count("SELECT COUNT(*) FROM posts WHERE kind = 'reply'") > 100);

    // The archive importer's ids: status ids, a boost's own id, like:/bookmark: + uri.
    let (kind, text, url, created, engagement, author): (
        String,
        String,
        String,
        i64,
        String,
        String,
    ) = db(dir)
        .query_row(
            &format!(
                "SELECT kind, text, url, created_at_platform, engagement, author FROM posts
                 WHERE platform_post_id = '{}' AND connection_id = {id}",
                status_id(10)
            ),
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(kind, "post");
    assert_eq!(text, "Status 10 with #lifeboat");
    assert_eq!(url, format!("{}/@alice/{}", fake.site.base, status_id(10)));
    assert_eq!(created, last - 989 * 60);
    assert_eq!(author, "@alice@127.0.0.1");
    let engagement: Value = serde_json::from_str(&engagement).unwrap();
    assert_eq!(engagement["replies_count"], json!(1));
    assert_eq!(engagement["reblogs_count"], json!(2));
    assert_eq!(engagement["favourites_count"], json!(0));
    assert_eq!(engagement["tags"], json!(["lifeboat"]));
    assert_eq!(
        query_text(
            dir,
            &format!(
                "SELECT m.url FROM media m JOIN post_media pm ON pm.media_id = m.id
                 JOIN posts p ON p.id = pm.post_id
                 WHERE p.platform_post_id = '{}' AND p.connection_id = {id}",
                status_id(10)
            )
        ),
        format!(
            "{}/system/media_attachments/files/10/original/pic.jpeg",
            fake.site.base
        )
    );
    let repost_of = query_text(
        dir,
        &format!(
            "SELECT repost_of FROM posts WHERE platform_post_id = '{}' AND connection_id = {id}",
            status_id(13)
        ),
    );
    assert_eq!(repost_of, "https://other.example/users/bob/statuses/13");
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM posts WHERE platform_post_id = 'like:https://other.example/users/bob/statuses/5044'"
        ),
        1
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM posts WHERE platform_post_id = 'bookmark:https://other.example/users/bob/statuses/6002'"
        ),
        1
    );

    // THE COUNT: three new statuses, then at most two requests (the statuses after the
    // newest archived, and the first page of one list) and exactly three new posts.
    fake.post(3, now() - 60);
    fake.site.clear_seen();
    sync_ok(dir, id);
    let seen = fake.site.seen();
    assert!(
        seen.len() <= 2,
        "incremental sync made {} requests: {seen:#?}",
        seen.len()
    );
    assert!(
        seen[0].path.contains(&format!("min_id={}", status_id(999))),
        "{seen:#?}"
    );
    assert_eq!(posts(dir, id), 1048 + 3);

    // A new favourite and a new bookmark: each list is read every other sync.
    fake.favourite(7000);
    fake.bookmark(7001);
    fake.site.clear_seen();
    sync_ok(dir, id);
    assert!(fake.site.seen().len() <= 2);
    sync_ok(dir, id);
    assert_eq!(posts(dir, id), 1051 + 2);
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM posts WHERE platform_post_id = 'like:https://other.example/users/bob/statuses/7000'"
        ),
        1
    );

    // More than a page of new statuses: paged forward with the Link header's rel="prev".
    fake.post(45, now() - 50);
    sync_ok(dir, id);
    assert_eq!(posts(dir, id), 1053 + 45);

    // A 429 with Retry-After is waited out.
    fake.post(1, now() - 40);
    fake.fault(
        Route::json(429, &json!({"error": "Too many requests"}))
            .header("retry-after", "1")
            .header("x-ratelimit-remaining", "0"),
    );
    let started = Instant::now();
    sync_ok(dir, id);
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(posts(dir, id), 1099);

    // A burst of 5xx is retried.
    fake.post(1, now() - 30);
    for status in [500, 502, 503] {
        fake.fault(Route::new(
            status,
            "text/html",
            "<h1>We're sorry, but something went wrong.</h1>",
        ));
    }
    sync_ok(dir, id);
    assert_eq!(posts(dir, id), 1100);

    // A malformed answer: the sync fails clearly, nothing is lost, the next one works.
    fake.post(1, now() - 20);
    fake.fault(Route::new(
        200,
        "application/json",
        "[{\"id\": \"1100\", \"content\":",
    ));
    assert!(!sync(dir, id).status.success());
    let error = query_text(
        dir,
        &format!("SELECT last_error FROM connections WHERE id = {id}"),
    );
    assert!(error.contains("not the expected JSON"), "{error}");
    assert_eq!(posts(dir, id), 1100);
    sync_ok(dir, id);
    assert_eq!(posts(dir, id), 1101);

    // The person revokes Lifeboat's access on the server: reconnect.
    fake.auth.expire_all();
    fake.auth.refuse_refresh();
    assert!(!sync(dir, id).status.success());
    let (status, error) = status_and_error(dir, id);
    assert!(!error.is_empty(), "a reconnect says why");
    assert_eq!(status, "reconnect", "{error}");
    assert_eq!(posts(dir, id), 1101);
}
