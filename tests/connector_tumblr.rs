//! The Tumblr connector against a fake `api.tumblr.com`: OAuth2 through Lifeboat's pages
//! (client secret in the token request's body), `/v2/user/info` for the primary blog, and
//! `/v2/blog/{blog}/posts?npf=true` in the documented envelope (`meta`, `response.posts`,
//! `total_posts`, `_links.next.query_params`), with NPF posts whose ids exceed 2^53. A
//! 1,000-post backfill with the access token expiring half-way, the incremental sync's
//! request count, 429s, 5xx bursts, a malformed answer and a refused refresh.

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
const BLOG: &str = "fieldnotes";
/// Above 2^53 (9,007,199,254,740,992): neighbouring ids are one double apart at best.
const FIRST_ID: u64 = 741_234_567_890_123_457;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[derive(Clone, Copy)]
struct Post {
    n: u64,
    timestamp: i64,
}

impl Post {
    fn id(&self) -> u64 {
        FIRST_ID + self.n
    }

    fn reblog(&self) -> bool {
        self.n % 5 == 4
    }

    fn image(&self) -> bool {
        self.n.is_multiple_of(4)
    }

    /// The post in NPF, with Tumblr's field names.
    fn npf(&self, base: &str) -> Value {
        let id = self.id();
        let mut content = vec![json!({"type": "text", "text": format!("Note {} & more", self.n)})];
        if self.image() {
            content.insert(
                0,
                json!({"type": "image", "media": [
                    {"url": format!("https://64.media.tumblr.com/{id}/s2048x3072/photo.jpg"), "type": "image/jpeg", "width": 2048, "height": 1536, "has_original_dimensions": true},
                    {"url": format!("https://64.media.tumblr.com/{id}/s640x960/photo.jpg"), "type": "image/jpeg", "width": 640, "height": 480}
                ], "alt_text": "a bird"}),
            );
        }
        let mut post = json!({
            "object_type": "post",
            "type": "blocks",
            "id": id,
            "id_string": id.to_string(),
            "tumblelog_uuid": "t:WX5xItRbCiJH_GJDsIdhAQ",
            "blog_name": BLOG,
            "blog": {"name": BLOG, "title": "Field notes", "uuid": "t:WX5xItRbCiJH_GJDsIdhAQ", "url": format!("https://{BLOG}.tumblr.com/")},
            "post_url": format!("https://{BLOG}.tumblr.com/post/{id}/note-{}", self.n),
            "short_url": format!("https://tmblr.co/Z{id}"),
            "slug": format!("note-{}", self.n),
            "date": "2024-03-02 09:15:00 GMT",
            "timestamp": self.timestamp,
            "state": "published",
            "format": "html",
            "reblog_key": "a1b2c3",
            "tags": ["notes"],
            "summary": format!("Note {}", self.n),
            "should_open_in_legacy": false,
            "note_count": self.n % 50,
            "content": content,
            "layout": [],
            "trail": [],
            "original_type": if self.image() { "photo" } else { "text" },
            "is_blocks_post_format": true,
            "can_like": true,
            "can_reblog": true,
            "display_avatar": true,
            "_links": {"self": format!("{base}/v2/blog/{BLOG}/posts/{id}")}
        });
        if self.reblog() {
            let root = 700_000_000_000_000_000u64 + self.n;
            post["parent_post_url"] = json!(format!("https://birder.tumblr.com/post/{root}"));
            post["reblogged_root_url"] = json!(format!("https://birder.tumblr.com/post/{root}"));
            post["trail"] = json!([{
                "post": {"id": root.to_string()},
                "blog": {"name": "birder", "uuid": "t:abc"},
                "content": [{"type": "text", "text": format!("Original {}", self.n)}],
                "layout": []
            }]);
        }
        post
    }
}

#[derive(Default)]
struct State {
    /// The blog's posts, oldest first.
    posts: Vec<Post>,
    faults: VecDeque<Route>,
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
        // Tumblr's access tokens live 2,520 s.
        let auth = FakeAuth::install(&site, 2520);
        let state = Arc::new(Mutex::new(State {
            clock: now() - 30 * 86_400,
            ..State::default()
        }));
        for path in [
            "/v2/user/info".to_string(),
            format!("/v2/blog/{BLOG}/posts"),
        ] {
            let (s, a, base) = (state.clone(), auth.clone(), site.base.clone());
            site.handle(&path, move |req| answer(&s, &a, &base, req));
        }
        Fake { site, auth, state }
    }

    fn write(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        for _ in 0..n {
            s.clock += 60;
            let post = Post {
                n: s.posts.len() as u64,
                timestamp: s.clock,
            };
            s.posts.push(post);
        }
    }

    fn fault(&self, route: Route) {
        self.state.lock().unwrap().faults.push_back(route);
    }
}

fn tumblr_error(status: u16, msg: &str) -> Route {
    Route::json(
        status,
        &json!({"meta": {"status": status, "msg": msg}, "response": [],
            "errors": [{"title": msg, "code": 0, "detail": msg}]}),
    )
}

fn answer(state: &Mutex<State>, auth: &FakeAuth, base: &str, req: &Req) -> Route {
    let mut s = state.lock().unwrap();
    s.requests += 1;
    if s.expire_at_request == Some(s.requests) {
        auth.expire_all();
    }
    if !auth.valid(req) {
        return tumblr_error(401, "Unauthorized");
    }
    if let Some(fault) = s.faults.pop_front() {
        return fault;
    }
    if req.path == "/v2/user/info" {
        return Route::json(
            200,
            &json!({"meta": {"status": 200, "msg": "OK"}, "response": {"user": {
            "name": "alice", "likes": 12, "following": 3, "default_post_format": "html",
            "blogs": [
                {"name": "alice-sideblog", "title": "Side", "primary": false, "posts": 2, "url": "https://alice-sideblog.tumblr.com/"},
                {"name": BLOG, "title": "Field notes", "primary": true, "posts": s.posts.len(), "url": format!("https://{BLOG}.tumblr.com/")}
            ]}}}),
        );
    }
    if req.param("npf") != Some("true") {
        return tumblr_error(400, "npf=true expected by this fake");
    }
    let limit: usize = req
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(20);
    if !(1..=20).contains(&limit) {
        return tumblr_error(400, "Bad Request");
    }
    let offset: usize = req
        .param("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let newest_first: Vec<Post> = s.posts.iter().rev().copied().collect();
    let page: Vec<Value> = newest_first
        .iter()
        .skip(offset)
        .take(limit)
        .map(|p| p.npf(base))
        .collect();
    let mut response = json!({
        "blog": {"name": BLOG, "title": "Field notes", "posts": newest_first.len(), "url": format!("https://{BLOG}.tumblr.com/")},
        "posts": page,
        "total_posts": newest_first.len(),
    });
    if offset + limit < newest_first.len() {
        let next = offset + limit;
        response["_links"] = json!({"next": {
            "href": format!("/v2/blog/{BLOG}/posts?npf=true&limit={limit}&offset={next}&page_number={}", next / limit + 1),
            "method": "GET",
            "query_params": {"npf": "true", "limit": limit.to_string(), "offset": next.to_string(), "page_number": (next / limit + 1).to_string()}
        }});
    }
    Route::json(
        200,
        &json!({"meta": {"status": 200, "msg": "OK"}, "response": response}),
    )
}

fn posts(dir: &Path) -> i64 {
    query_i64(dir, "SELECT COUNT(*) FROM posts WHERE platform = 'tumblr'")
}

#[tokio::test(flavor = "multi_thread")]
async fn blog_backfill_refresh_incremental_and_faults() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let fake = Fake::start();
    let mut server = Server::start_in(dir);
    let browser = server.browser();
    browser.setup("alice", PASSWORD).await;
    save_app(&browser, "tumblr", &fake.site).await;
    let page = browser
        .submit(
            "/connections",
            "/connections/oauth",
            &[("platform", "tumblr"), ("url", &fake.site.base)],
        )
        .await;
    let authorize = url::Url::parse(page.location().unwrap()).unwrap();
    let params: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(params["scope"], "basic offline_access");
    let id = connect(&browser, "tumblr", Some(&fake.site.base)).await;
    server.stop();
    // The client authenticates in the form body, as Tumblr's documentation shows.
    let token = fake.site.seen_for("/oauth/token");
    assert_eq!(token.len(), 1);
    assert!(String::from_utf8_lossy(&token[0].body).contains("client_secret="));

    // The backfill: 1,000 posts in pages of 20; the token expires at the tenth request.
    fake.write(1000);
    fake.state.lock().unwrap().expire_at_request = Some(10);
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1000, "every id kept apart, none rounded");
    assert_eq!(fake.auth.refreshes(), 1);
    assert_eq!(fake.site.hits("/v2/user/info"), 1);
    // 50 pages, plus the request the expired token spoilt.
    assert_eq!(fake.site.hits(&format!("/v2/blog/{BLOG}/posts")), 51);
    let count = |sql: &str| query_i64(dir, &format!("{sql} AND platform = 'tumblr'"));
    assert_eq!(
        count("SELECT COUNT(*) FROM posts WHERE kind = 'repost'"),
        200
    );
    assert_eq!(count("SELECT COUNT(*) FROM posts WHERE kind = 'post'"), 800);

    // An image post, by its exact id (which no double can hold).
    let post = Post { n: 8, timestamp: 0 };
    let (kind, text, url, created, engagement): (String, String, String, i64, String) = db(dir)
        .query_row(
            &format!(
                "SELECT kind, text, url, created_at_platform, engagement FROM posts
                 WHERE platform_post_id = '{}'",
                post.id()
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(kind, "post");
    assert_eq!(text, "[a bird]\nNote 8 & more");
    assert_eq!(
        url,
        format!("https://{BLOG}.tumblr.com/post/{}/note-8", post.id())
    );
    let first = fake.state.lock().unwrap().posts[8].timestamp;
    assert_eq!(created, first);
    let engagement: Value = serde_json::from_str(&engagement).unwrap();
    assert_eq!(engagement["notes"], json!(8));
    assert_eq!(engagement["tags"], json!(["notes"]));
    assert_eq!(
        query_text(
            dir,
            &format!(
                "SELECT m.url FROM media m JOIN post_media pm ON pm.media_id = m.id
                 JOIN posts p ON p.id = pm.post_id WHERE p.platform_post_id = '{}'",
                post.id()
            )
        ),
        format!(
            "https://64.media.tumblr.com/{}/s2048x3072/photo.jpg",
            post.id()
        )
    );
    let reblog = Post { n: 9, timestamp: 0 };
    let (text, repost_of): (String, String) = db(dir)
        .query_row(
            &format!(
                "SELECT text, repost_of FROM posts WHERE platform_post_id = '{}'",
                reblog.id()
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(text, "Note 9 & more\n\nbirder: Original 9");
    assert_eq!(
        repost_of,
        format!(
            "https://birder.tumblr.com/post/{}",
            700_000_000_000_000_009u64
        )
    );

    // THE COUNT: three new posts, then one request (the first page, down to the newest
    // post archived) and exactly three new posts.
    fake.write(3);
    fake.site.clear_seen();
    sync_ok(dir, id);
    let seen = fake.site.seen();
    assert!(
        seen.len() <= 2,
        "incremental sync made {} requests: {seen:#?}",
        seen.len()
    );
    assert_eq!(posts(dir), 1003);

    // Nothing new: one request, nothing created.
    fake.site.clear_seen();
    sync_ok(dir, id);
    assert_eq!(fake.site.seen().len(), 1);
    assert_eq!(posts(dir), 1003);

    // More than a page of new posts: the walk follows `_links.next`.
    fake.write(30);
    fake.site.clear_seen();
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1033);
    assert_eq!(fake.site.seen().len(), 2);
    assert!(fake.site.seen()[1].path.contains("offset=20"));

    // A 429 with Retry-After is waited out.
    fake.write(1);
    fake.fault(tumblr_error(429, "Limit Exceeded").header("retry-after", "1"));
    let started = Instant::now();
    sync_ok(dir, id);
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(posts(dir), 1034);

    // A burst of 5xx is retried.
    fake.write(1);
    for status in [500, 502, 503] {
        fake.fault(tumblr_error(status, "Internal Server Error"));
    }
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1035);

    // A malformed answer: the sync fails clearly, nothing is lost, the next one works.
    fake.write(1);
    fake.fault(Route::new(
        200,
        "application/json",
        "{\"meta\": {\"status\": 200, \"msg\": \"OK\"}, \"response\": {\"posts\": [",
    ));
    assert!(!sync(dir, id).status.success());
    let error = query_text(
        dir,
        &format!("SELECT last_error FROM connections WHERE id = {id}"),
    );
    assert!(error.contains("not the expected JSON"), "{error}");
    assert_eq!(posts(dir), 1035);
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1036);

    // The token expires and the refresh is refused (the app was revoked): reconnect.
    fake.auth.expire_all();
    fake.auth.refuse_refresh();
    assert!(!sync(dir, id).status.success());
    let (status, error) = status_and_error(dir, id);
    assert_eq!(status, "reconnect", "{error}");
    assert!(error.contains("reconnect"), "{error}");
}
