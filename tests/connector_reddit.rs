//! The Reddit connector against a fake `oauth.reddit.com`: OAuth2 through Lifeboat's pages
//! (permanent duration, HTTP Basic client authentication), `/api/v1/me`, the Listings of
//! `/user/{name}/submitted`, `/comments`, `/saved` and `/overview` paged by `after`; a
//! 1,000-item backfill with the hour-long access token expiring half-way, the incremental
//! sync's request count, 429s, 5xx bursts, a malformed answer and a refused refresh.

mod common;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::oauth::{FakeAuth, connect, save_app};
use common::site::{Req, Route, Site};
use common::{Server, db, query_i64, query_text, status_and_error, sync, sync_ok};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
const NAME: &str = "alice_rs";
const LISTINGS: [&str; 4] = ["submitted", "comments", "saved", "overview"];

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[derive(Clone, Copy)]
struct Thing {
    post: bool,
    n: usize,
    created: i64,
    /// Written by someone else (only ever saved).
    other: bool,
}

impl Thing {
    fn id(&self) -> String {
        if self.post {
            format!("p{:05}", self.n)
        } else {
            format!("c{:05}", self.n)
        }
    }

    fn fullname(&self) -> String {
        format!("{}_{}", if self.post { "t3" } else { "t1" }, self.id())
    }

    /// The thing as a Listing child, with Reddit's field names.
    fn child(&self) -> Value {
        let author = if self.other { "bob" } else { NAME };
        let id = self.id();
        if self.post {
            let image = self.n.is_multiple_of(4);
            json!({"kind": "t3", "data": {
                "approved_at_utc": null,
                "subreddit": "rust",
                "selftext": if image { String::new() } else { format!("Body of post {}", self.n) },
                "selftext_html": if image { Value::Null } else { json!(format!("<!-- SC_OFF --><div class=\"md\"><p>Body of post {}</p></div><!-- SC_ON -->", self.n)) },
                "author_fullname": "t2_abc12",
                "title": format!("Post {} & more", self.n),
                "subreddit_name_prefixed": "r/rust",
                "name": self.fullname(),
                "upvote_ratio": 0.95,
                "ups": self.n % 50,
                "downs": 0,
                "score": self.n % 50,
                "num_comments": self.n % 7,
                "gilded": 0,
                "edited": false,
                "is_self": !image,
                "is_video": false,
                "over_18": false,
                "post_hint": if image { "image" } else { "self" },
                "link_flair_text": null,
                "subreddit_id": "t5_2s7lj",
                "id": id,
                "author": author,
                "permalink": format!("/r/rust/comments/{id}/post_{}/", self.n),
                "url": if image { format!("https://i.redd.it/{id}.jpeg") } else { format!("https://www.reddit.com/r/rust/comments/{id}/post_{}/", self.n) },
                "created_utc": self.created as f64,
                "created": self.created as f64
            }})
        } else {
            json!({"kind": "t1", "data": {
                "subreddit": "rust",
                "link_title": "Why Rust?",
                "link_id": "t3_1zzzzz",
                "link_author": "carol",
                "link_permalink": "https://www.reddit.com/r/rust/comments/1zzzzz/why_rust/",
                "parent_id": if self.n.is_multiple_of(3) { "t3_1zzzzz".to_string() } else { format!("t1_c{:05}", self.n - 1) },
                "author": author,
                "body": format!("Comment {} > all", self.n),
                "body_html": format!("<div class=\"md\"><p>Comment {} &gt; all</p></div>", self.n),
                "score": 3,
                "edited": false,
                "gilded": 0,
                "id": id,
                "name": self.fullname(),
                "permalink": format!("/r/rust/comments/1zzzzz/why_rust/{id}/"),
                "created_utc": self.created as f64,
                "created": self.created as f64
            }})
        }
    }
}

#[derive(Default)]
struct State {
    /// The person's posts and comments, oldest first.
    things: Vec<Thing>,
    /// Saved things, in the order they were saved.
    saved: Vec<Thing>,
    faults: VecDeque<Route>,
    /// When the last thing was written (unix seconds).
    clock: i64,
    /// At this API request, every access token expires.
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
        let state = Arc::new(Mutex::new(State {
            // The first thing is written a month ago.
            clock: now() - 30 * 86_400,
            ..State::default()
        }));
        let mut paths = vec!["/api/v1/me".to_string()];
        paths.extend(LISTINGS.iter().map(|l| format!("/user/{NAME}/{l}")));
        for path in paths {
            let (s, a) = (state.clone(), auth.clone());
            site.handle(&path, move |req| answer(&s, &a, req));
        }
        Fake { site, auth, state }
    }

    /// `n` more of the person's things, a minute apart after the last one; every third
    /// one a post, the others comments.
    fn write(&self, n: usize, posts_only: bool) {
        let mut s = self.state.lock().unwrap();
        for _ in 0..n {
            let number = s.things.len();
            s.clock += 60;
            let created = s.clock;
            s.things.push(Thing {
                post: posts_only || number.is_multiple_of(3),
                n: number,
                created,
                other: false,
            });
        }
    }

    fn save(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        let number = 90_000 + s.saved.len();
        s.saved.push(Thing {
            post: n.is_multiple_of(2),
            n: number,
            created: now() - 400_000 + number as i64,
            other: true,
        });
    }

    fn fault(&self, route: Route) {
        self.state.lock().unwrap().faults.push_back(route);
    }
}

fn reddit_error(code: u16, message: &str) -> Route {
    Route::json(code, &json!({"message": message, "error": code}))
}

fn answer(state: &Mutex<State>, auth: &FakeAuth, req: &Req) -> Route {
    let mut s = state.lock().unwrap();
    s.requests += 1;
    if s.expire_at_request == Some(s.requests) {
        auth.expire_all();
    }
    if !auth.valid(req) {
        return reddit_error(401, "Unauthorized");
    }
    if let Some(fault) = s.faults.pop_front() {
        return fault;
    }
    let limits = |route: Route| {
        route
            .header("x-ratelimit-used", "4")
            .header("x-ratelimit-remaining", "96.0")
            .header("x-ratelimit-reset", "312")
    };
    if req.path == "/api/v1/me" {
        return limits(Route::json(
            200,
            &json!({"name": NAME, "id": "abc12", "created_utc": 1_500_000_000.0, "link_karma": 10, "comment_karma": 20, "is_gold": false, "verified": true}),
        ));
    }
    if req.param("raw_json") != Some("1") {
        return reddit_error(400, "raw_json expected");
    }
    let listing = req.path.rsplit('/').next().unwrap();
    let newest_first: Vec<Thing> = match listing {
        "submitted" => s.things.iter().rev().filter(|t| t.post).copied().collect(),
        "comments" => s.things.iter().rev().filter(|t| !t.post).copied().collect(),
        "overview" => s.things.iter().rev().copied().collect(),
        _ => s.saved.iter().rev().copied().collect(),
    };
    let limit: usize = req
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(25)
        .min(100);
    let start = match req.param("after") {
        Some(after) => match newest_first.iter().position(|t| t.fullname() == after) {
            Some(at) => at + 1,
            None => {
                return limits(Route::json(
                    200,
                    &json!({"kind": "Listing", "data": {"after": null, "dist": 0, "children": [], "before": null}}),
                ));
            }
        },
        None => 0,
    };
    let page: Vec<Thing> = newest_first
        .iter()
        .skip(start)
        .take(limit)
        .copied()
        .collect();
    let after = (start + page.len() < newest_first.len())
        .then(|| page.last().map(Thing::fullname))
        .flatten();
    let children: Vec<Value> = page.iter().map(Thing::child).collect();
    limits(Route::json(
        200,
        &json!({"kind": "Listing", "data": {
            "after": after,
            "dist": children.len(),
            "modhash": null,
            "geo_filter": "",
            "children": children,
            "before": null
        }}),
    ))
}

fn posts(dir: &Path) -> i64 {
    query_i64(dir, "SELECT COUNT(*) FROM posts WHERE platform = 'reddit'")
}

fn hits(fake: &Fake, listing: &str) -> usize {
    fake.site.hits(&format!("/user/{NAME}/{listing}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_backfill_refresh_incremental_and_faults() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let fake = Fake::start();
    let mut server = Server::start_in(dir);
    let browser = server.browser();
    browser.setup("alice", PASSWORD).await;
    save_app(&browser, "reddit", &fake.site).await;
    let page = browser
        .submit(
            "/connections",
            "/connections/oauth",
            &[("platform", "reddit"), ("url", &fake.site.base)],
        )
        .await;
    let authorize = url::Url::parse(page.location().unwrap()).unwrap();
    let params: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(params["duration"], "permanent");
    assert_eq!(params["scope"], "identity history read");
    let id = connect(&browser, "reddit", Some(&fake.site.base)).await;
    server.stop();
    // The code exchange authenticated the client with HTTP Basic, not in the body.
    let token = fake.site.seen_for("/oauth/token");
    assert_eq!(token.len(), 1);
    assert!(token[0].headers["authorization"].starts_with("Basic "));
    assert!(!String::from_utf8_lossy(&token[0].body).contains("client_secret"));

    // The backfill: 1,000 posts and comments and 30 saved things; the hour-long token
    // expires at the fifth API request.
    let start = fake.state.lock().unwrap().clock;
    fake.write(1000, false);
    for n in 0..30 {
        fake.save(n);
    }
    fake.state.lock().unwrap().expire_at_request = Some(5);
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1030);
    assert_eq!(fake.auth.refreshes(), 1);
    assert_eq!(fake.site.hits("/api/v1/me"), 1);
    // 334 posts and 666 comments in pages of 100, plus the request the token spoilt.
    assert_eq!(
        hits(&fake, "submitted") + hits(&fake, "comments"),
        4 + 7 + 1
    );
    assert_eq!(hits(&fake, "saved"), 1);
    assert_eq!(hits(&fake, "overview"), 0);
    let count = |sql: &str| query_i64(dir, &format!("{sql} AND platform = 'reddit'"));
    assert_eq!(count("SELECT COUNT(*) FROM posts WHERE kind = 'post'"), 334);
    assert_eq!(
        count("SELECT COUNT(*) FROM posts WHERE kind = 'comment'"),
        666
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM posts WHERE kind = 'bookmark'"),
        30
    );

    // The export importer's ids: fullnames, `saved:` before saved things.
    let (kind, title, text, url, created, engagement): (
        String,
        String,
        String,
        String,
        i64,
        String,
    ) = db(dir)
        .query_row(
            "SELECT kind, title, text, url, created_at_platform, engagement FROM posts
             WHERE platform_post_id = 't3_p00003'",
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
    assert_eq!(title, "Post 3 & more");
    assert_eq!(text, "Body of post 3");
    assert_eq!(url, "https://www.reddit.com/r/rust/comments/p00003/post_3/");
    assert_eq!(created, start + 4 * 60);
    let engagement: Value = serde_json::from_str(&engagement).unwrap();
    assert_eq!(engagement["subreddit"], json!("rust"));
    assert_eq!(engagement["score"], json!(3));
    assert_eq!(engagement["num_comments"], json!(3));
    let (text, reply_to): (String, String) = db(dir)
        .query_row(
            "SELECT text, reply_to FROM posts WHERE platform_post_id = 't1_c00004'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(text, "Comment 4 > all");
    assert_eq!(reply_to, "t1_c00003");
    assert_eq!(
        query_text(
            dir,
            "SELECT m.url FROM media m JOIN post_media pm ON pm.media_id = m.id
             JOIN posts p ON p.id = pm.post_id WHERE p.platform_post_id = 't3_p00000'"
        ),
        "https://i.redd.it/p00000.jpeg"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM posts WHERE platform_post_id LIKE 'saved:t%'"),
        30
    );

    // THE COUNT: three new posts, then two requests (the overview down to the newest item
    // archived, the first page of saved things) and exactly three new posts.
    fake.write(3, true);
    fake.site.clear_seen();
    sync_ok(dir, id);
    let seen = fake.site.seen();
    assert!(
        seen.len() <= 2,
        "incremental sync made {} requests: {seen:#?}",
        seen.len()
    );
    assert_eq!(posts(dir), 1033);

    // Nothing new: still two requests, nothing created.
    fake.site.clear_seen();
    sync_ok(dir, id);
    assert_eq!(fake.site.seen().len(), 2);
    assert_eq!(posts(dir), 1033);

    // A new comment and a new saved thing appear between syncs.
    fake.write(1, false);
    fake.save(31);
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1035);

    // More than a page of new things: the overview is followed with `after`.
    fake.write(150, false);
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1185);

    // A 429 with Retry-After is waited out.
    fake.write(1, true);
    fake.fault(reddit_error(429, "Too Many Requests").header("retry-after", "1"));
    let started = Instant::now();
    sync_ok(dir, id);
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(posts(dir), 1186);

    // A burst of 5xx is retried.
    fake.write(1, true);
    for status in [500, 502, 503] {
        fake.fault(Route::new(
            status,
            "text/html",
            "<html><body><h1>all of our servers are busy right now</h1></body></html>",
        ));
    }
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1187);

    // A malformed answer: the sync fails clearly, nothing is lost, the next one works.
    fake.write(1, true);
    fake.fault(Route::new(
        200,
        "application/json",
        "{\"kind\": \"Listing\", \"data\": {\"children\": [",
    ));
    assert!(!sync(dir, id).status.success());
    let error = query_text(
        dir,
        &format!("SELECT last_error FROM connections WHERE id = {id}"),
    );
    assert!(error.contains("not the expected JSON"), "{error}");
    assert_eq!(posts(dir), 1187);
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1188);

    // The token expires and the refresh is refused (the app was revoked): reconnect.
    fake.auth.expire_all();
    fake.auth.refuse_refresh();
    assert!(!sync(dir, id).status.success());
    let (status, error) = status_and_error(dir, id);
    assert_eq!(status, "reconnect", "{error}");
    assert!(error.contains("reconnect"), "{error}");
}
