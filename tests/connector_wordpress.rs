//! The WordPress connector against a fake WordPress site: an application password sent as
//! HTTP Basic, `/wp-json/wp/v2/posts`, `/pages` and `/media` with `per_page`, `page`,
//! `orderby`, `order`, `modified_after` and `_embed`, answered with `X-WP-Total` and
//! `X-WP-TotalPages` and WordPress's error bodies (`{code, message, data: {status}}`).
//! A 1,000-post backfill, the incremental sync's request count, an edited post updating,
//! new pages and uploads, a password revoked mid-backfill and replaced, 429s, 5xx bursts
//! and a malformed answer.

mod common;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::site::{Req, Route, Site};
use common::{
    Server, add_user, connect, db, query_i64, query_text, status_and_error, sync, sync_ok,
};
use serde_json::{Value, json};

const OWNER: &str = "alice";
const OWNER_PASSWORD: &str = "correct horse battery";
const WP_USER: &str = "admin";
const APP_PASSWORD: &str = "abcd efgh ijkl";
const LISTS: [&str; 3] = ["posts", "pages", "media"];

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// WordPress's date format: no offset (`date` in the site's zone, `*_gmt` in UTC).
fn wp_date(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&format)
        .unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Type {
    Post,
    Page,
    Attachment,
}

#[derive(Clone, Debug)]
struct Object {
    id: u64,
    kind: Type,
    created: i64,
    modified: i64,
    title: String,
    /// For attachments: the post it is attached to (0: none).
    parent: u64,
    /// For posts: the featured image (an attachment id, 0: none).
    featured: u64,
    edits: u32,
}

/// The site is in UTC+2: `date` and `date_gmt` differ, as on most real sites.
const OFFSET: i64 = 2 * 3600;

impl Object {
    fn slug(&self) -> String {
        self.title.to_lowercase().replace([' ', '&'], "-")
    }

    fn upload(&self) -> String {
        format!("/wp-content/uploads/2024/03/file-{}.png", self.id)
    }

    fn attachment(&self, base: &str) -> Value {
        json!({
            "id": self.id,
            "date": wp_date(self.created + OFFSET),
            "date_gmt": wp_date(self.created),
            "guid": {"rendered": format!("{base}{}", self.upload())},
            "modified": wp_date(self.modified + OFFSET),
            "modified_gmt": wp_date(self.modified),
            "slug": self.slug(),
            "status": "inherit",
            "type": "attachment",
            "link": format!("{base}/{}/", self.slug()),
            "title": {"rendered": self.title},
            "author": 1,
            "featured_media": 0,
            "comment_status": "open",
            "ping_status": "closed",
            "template": "",
            "meta": [],
            "description": {"rendered": format!("<p class=\"attachment\"><a href='{base}{}'>file</a></p>\n", self.upload())},
            "caption": {"rendered": format!("<p>Caption of {}</p>\n", self.title)},
            "alt_text": "",
            "media_type": "image",
            "mime_type": "image/png",
            "media_details": {"width": 4, "height": 4, "file": "2024/03/file.png", "sizes": {}},
            "post": if self.parent == 0 { Value::Null } else { json!(self.parent) },
            "source_url": format!("{base}{}", self.upload()),
            "_links": {"self": [{"href": format!("{base}/wp-json/wp/v2/media/{}", self.id)}]}
        })
    }

    fn article(&self, base: &str, embed: bool, featured: Option<&Object>) -> Value {
        let path = if self.kind == Type::Page {
            "pages"
        } else {
            "posts"
        };
        let body = if self.edits > 0 {
            format!(
                "<p>Edited {} times: {} &amp; more.</p>\n",
                self.edits, self.title
            )
        } else {
            format!(
                "<!-- wp:paragraph -->\n<p>Body of {} &amp; more.</p>\n<!-- /wp:paragraph -->\n",
                self.title
            )
        };
        let mut object = json!({
            "id": self.id,
            "date": wp_date(self.created + OFFSET),
            "date_gmt": wp_date(self.created),
            "guid": {"rendered": format!("{base}/?p={}", self.id)},
            "modified": wp_date(self.modified + OFFSET),
            "modified_gmt": wp_date(self.modified),
            "slug": self.slug(),
            "status": "publish",
            "type": if self.kind == Type::Page { "page" } else { "post" },
            "link": format!("{base}/{}/", self.slug()),
            "title": {"rendered": format!("{} &#8211; notes", self.title)},
            "content": {"rendered": body, "protected": false},
            "excerpt": {"rendered": format!("<p>Body of {}</p>\n", self.title), "protected": false},
            "author": 1,
            "featured_media": self.featured,
            "comment_status": "open",
            "ping_status": "open",
            "template": "",
            "meta": {"footnotes": ""},
            "_links": {
                "self": [{"href": format!("{base}/wp-json/wp/v2/{path}/{}", self.id)}],
                "author": [{"embeddable": true, "href": format!("{base}/wp-json/wp/v2/users/1")}]
            }
        });
        if self.kind == Type::Post {
            object["sticky"] = json!(false);
            object["format"] = json!("standard");
            object["categories"] = json!([3]);
            object["tags"] = json!([7]);
        } else {
            object["parent"] = json!(0);
            object["menu_order"] = json!(0);
        }
        if embed {
            let mut embedded = json!({
                "author": [{"id": 1, "name": "Alice Cook", "url": "", "description": "", "link": format!("{base}/author/admin/"), "slug": "admin"}]
            });
            if let Some(image) = featured {
                embedded["wp:featuredmedia"] = json!([image.attachment(base)]);
            }
            if self.kind == Type::Post {
                embedded["wp:term"] = json!([
                    [{"id": 3, "link": format!("{base}/category/notes/"), "name": "Notes", "slug": "notes", "taxonomy": "category"}],
                    [{"id": 7, "link": format!("{base}/tag/field/"), "name": "field", "slug": "field", "taxonomy": "post_tag"}]
                ]);
            }
            object["_embedded"] = embedded;
        }
        object
    }
}

#[derive(Default)]
struct State {
    objects: Vec<Object>,
    faults: VecDeque<Route>,
    clock: i64,
    next_id: u64,
    password: String,
    /// After this many more API requests, the application password is revoked.
    revoke_after: Option<usize>,
}

struct Fake {
    site: Site,
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn start() -> Fake {
        let site = Site::start();
        let state = Arc::new(Mutex::new(State {
            clock: now() - 60 * 86_400,
            next_id: 10,
            password: APP_PASSWORD.into(),
            ..State::default()
        }));
        for list in LISTS {
            let (s, base) = (state.clone(), site.base.clone());
            site.handle(&format!("/wp-json/wp/v2/{list}"), move |req| {
                answer(&s, &base, list, req)
            });
        }
        Fake { site, state }
    }

    /// A site with plain permalinks: no /wp-json/, the API at `/?rest_route=/wp/v2/…`.
    fn start_plain() -> Fake {
        let fake = Fake::start();
        for list in LISTS {
            fake.site.handle(&format!("/wp-json/wp/v2/{list}"), |_| {
                Route::new(404, "text/html", "<h1>Not Found</h1>")
            });
        }
        let (s, base) = (fake.state.clone(), fake.site.base.clone());
        fake.site.handle("/", move |req| {
            match req
                .param("rest_route")
                .and_then(|r| r.strip_prefix("/wp/v2/"))
            {
                Some(list) if LISTS.contains(&list) => {
                    let list = LISTS.into_iter().find(|l| *l == list).unwrap();
                    answer(&s, &base, list, req)
                }
                _ => Route::ok("text/html", "<html>home</html>"),
            }
        });
        fake
    }

    /// `n` more objects of a type, a minute apart; posts 5, 15, 25… get a featured image
    /// (an attachment uploaded just before it).
    fn add(&self, kind: Type, n: usize) -> Vec<u64> {
        let mut s = self.state.lock().unwrap();
        let mut ids = Vec::new();
        for _ in 0..n {
            let count = s.objects.iter().filter(|o| o.kind == kind).count();
            let mut featured = 0;
            if kind == Type::Post && count % 10 == 5 {
                s.clock += 60;
                let id = s.next_id;
                s.next_id += 1;
                let created = s.clock;
                s.objects.push(Object {
                    id,
                    kind: Type::Attachment,
                    created,
                    modified: created,
                    title: format!("Photo {id}"),
                    parent: id + 1,
                    featured: 0,
                    edits: 0,
                });
                featured = id;
            }
            s.clock += 60;
            let id = s.next_id;
            s.next_id += 1;
            let created = s.clock;
            let title = match kind {
                Type::Post => format!("Post {count}"),
                Type::Page => format!("Page {count}"),
                Type::Attachment => format!("Upload {count}"),
            };
            s.objects.push(Object {
                id,
                kind,
                created,
                modified: created,
                title,
                parent: 0,
                featured,
                edits: 0,
            });
            ids.push(id);
        }
        ids
    }

    fn edit(&self, id: u64) {
        let mut s = self.state.lock().unwrap();
        s.clock += 60;
        let clock = s.clock;
        let object = s.objects.iter_mut().find(|o| o.id == id).unwrap();
        object.edits += 1;
        object.modified = clock;
        object.title = format!("{} (revised)", object.title);
    }

    fn fault(&self, route: Route) {
        self.state.lock().unwrap().faults.push_back(route);
    }

    fn count(&self, kind: Type) -> usize {
        let s = self.state.lock().unwrap();
        s.objects.iter().filter(|o| o.kind == kind).count()
    }
}

fn wp_error(status: u16, code: &str, message: &str) -> Route {
    Route::json(
        status,
        &json!({"code": code, "message": message, "data": {"status": status}}),
    )
}

fn answer(state: &Mutex<State>, base: &str, list: &str, req: &Req) -> Route {
    let mut s = state.lock().unwrap();
    if let Some(left) = s.revoke_after.as_mut() {
        if *left == 0 {
            s.password = "revoked".into();
            s.revoke_after = None;
        } else {
            *left -= 1;
        }
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{WP_USER}:{}", s.password))
    );
    if req.header("authorization") != Some(expected.as_str()) {
        return wp_error(
            401,
            "incorrect_password",
            "The provided password is an invalid application password.",
        );
    }
    if let Some(fault) = s.faults.pop_front() {
        return fault;
    }
    if req.param("context").is_some_and(|c| c != "view") {
        return wp_error(
            401,
            "rest_forbidden_context",
            "Sorry, you are not allowed to edit posts in this post type.",
        );
    }
    let number = |name: &str, default: i64| -> Option<i64> {
        match req.param(name) {
            None => Some(default),
            Some(v) => v.parse().ok(),
        }
    };
    let (Some(per_page), Some(page)) = (number("per_page", 10), number("page", 1)) else {
        return wp_error(400, "rest_invalid_param", "Invalid parameter(s): page");
    };
    if !(1..=100).contains(&per_page) || page < 1 {
        return Route::json(
            400,
            &json!({"code": "rest_invalid_param", "message": "Invalid parameter(s): per_page",
                "data": {"status": 400, "params": {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"}}}),
        );
    }
    let kind = match list {
        "posts" => Type::Post,
        "pages" => Type::Page,
        _ => Type::Attachment,
    };
    let after = match req.param("modified_after") {
        Some(text) => {
            match time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            {
                Ok(t) => Some(t.unix_timestamp()),
                Err(_) => {
                    return wp_error(
                        400,
                        "rest_invalid_param",
                        "Invalid parameter(s): modified_after",
                    );
                }
            }
        }
        None => None,
    };
    let by_modified = match req.param("orderby").unwrap_or("date") {
        "date" => false,
        "modified" => true,
        _ => return wp_error(400, "rest_invalid_param", "Invalid parameter(s): orderby"),
    };
    let mut selected: Vec<Object> = s
        .objects
        .iter()
        .filter(|o| o.kind == kind && after.is_none_or(|a| o.modified > a))
        .cloned()
        .collect();
    selected.sort_by_key(|o| (if by_modified { o.modified } else { o.created }, o.id));
    if req.param("order").unwrap_or("desc") == "desc" {
        selected.reverse();
    }
    let total = selected.len() as i64;
    let pages = (total + per_page - 1) / per_page;
    if page > pages && total > 0 {
        return wp_error(
            400,
            "rest_post_invalid_page_number",
            "The page number requested is larger than the number of pages available.",
        );
    }
    let embed = req.param("_embed").is_some();
    let body: Vec<Value> = selected
        .iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .map(|o| match o.kind {
            Type::Attachment => o.attachment(base),
            _ => {
                let featured = s
                    .objects
                    .iter()
                    .find(|f| f.id == o.featured && o.featured != 0);
                o.article(base, embed, featured)
            }
        })
        .collect();
    let mut route = Route::json(200, &Value::Array(body))
        .header("x-wp-total", &total.to_string())
        .header("x-wp-totalpages", &pages.to_string());
    if page < pages {
        route = route.header(
            "link",
            &format!(
                "<{base}/wp-json/wp/v2/{list}?page={}>; rel=\"next\"",
                page + 1
            ),
        );
    }
    route
}

fn posts(dir: &Path) -> i64 {
    query_i64(
        dir,
        "SELECT COUNT(*) FROM posts WHERE platform = 'wordpress'",
    )
}

fn articles(dir: &Path) -> i64 {
    query_i64(
        dir,
        "SELECT COUNT(*) FROM posts WHERE platform = 'wordpress' AND kind = 'article'",
    )
}

fn hits(fake: &Fake, list: &str) -> usize {
    fake.site.hits(&format!("/wp-json/wp/v2/{list}"))
}

/// A data directory with Alice and her WordPress connection to the fake site.
fn connected(fake: &Fake) -> (tempfile::TempDir, i64) {
    let data = tempfile::tempdir().unwrap();
    add_user(data.path(), OWNER, OWNER_PASSWORD, true);
    let id = connect(
        data.path(),
        OWNER,
        "wordpress",
        &fake.site.base,
        WP_USER,
        Some(APP_PASSWORD),
    );
    (data, id)
}

#[test]
fn posts_pages_and_media_backfill_incremental_edits_and_faults() {
    let fake = Fake::start();
    fake.add(Type::Post, 1000);
    fake.add(Type::Page, 12);
    fake.add(Type::Attachment, 5);
    let attachments = fake.count(Type::Attachment) as i64;
    assert_eq!(attachments, 105, "100 featured images and 5 other uploads");
    let (data, id) = connected(&fake);
    let dir = data.path();

    // The backfill: 1,000 posts in ten pages, one page of pages, two of media.
    sync_ok(dir, id);
    assert_eq!(posts(dir), 1000 + 12 + attachments);
    assert_eq!(hits(&fake, "posts"), 10);
    assert_eq!(hits(&fake, "pages"), 1);
    assert_eq!(hits(&fake, "media"), 2);
    let first = &fake.site.seen()[0];
    assert!(
        first.path.contains("per_page=100") && first.path.contains("orderby=date"),
        "{}",
        first.path
    );
    assert!(
        first
            .path
            .contains("_embed=author%2Cwp%3Afeaturedmedia%2Cwp%3Aterm")
    );
    assert_eq!(
        query_i64(
            dir,
            "SELECT COUNT(*) FROM posts WHERE platform = 'wordpress' AND kind = 'article'"
        ),
        1012
    );
    assert_eq!(
        query_i64(
            dir,
            "SELECT COUNT(*) FROM posts WHERE platform = 'wordpress' AND kind = 'media'"
        ),
        attachments
    );
    assert_eq!(
        query_i64(
            dir,
            "SELECT COUNT(*) FROM ingested_items WHERE source = 'backfill'"
        ),
        13
    );

    // Post 15 has a featured image, embedded with it.
    let post = fake
        .state
        .lock()
        .unwrap()
        .objects
        .iter()
        .find(|o| o.title == "Post 15")
        .cloned()
        .unwrap();
    let (kind, title, text, url, created, author, engagement): (
        String,
        String,
        String,
        String,
        i64,
        String,
        String,
    ) = db(dir)
        .query_row(
            &format!(
                "SELECT kind, title, text, url, created_at_platform, author, engagement
                 FROM posts WHERE platform_post_id = '{}'",
                post.id
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
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(kind, "article");
    assert_eq!(title, "Post 15 – notes");
    assert_eq!(text, "Body of Post 15 & more.");
    assert_eq!(url, format!("{}/post-15/", fake.site.base));
    assert_eq!(created, post.created, "date_gmt, not the site's local date");
    assert_eq!(author, "Alice Cook");
    let engagement: Value = serde_json::from_str(&engagement).unwrap();
    assert_eq!(engagement["categories"], json!(["Notes"]));
    assert_eq!(engagement["tags"], json!(["field"]));
    assert_eq!(
        query_text(
            dir,
            &format!(
                "SELECT m.url FROM media m JOIN post_media pm ON pm.media_id = m.id
                 JOIN posts p ON p.id = pm.post_id WHERE p.platform_post_id = '{}'",
                post.id
            )
        ),
        format!(
            "{}/wp-content/uploads/2024/03/file-{}.png",
            fake.site.base, post.featured
        )
    );
    // The featured image is also a media library item, naming its post.
    let attached: Value = serde_json::from_str(&query_text(
        dir,
        &format!(
            "SELECT engagement FROM posts WHERE platform_post_id = '{}'",
            post.featured
        ),
    ))
    .unwrap();
    assert_eq!(attached["attached_to"], json!(post.id.to_string()));

    // THE COUNT: three new posts, then two requests (posts changed since the newest
    // archived, and the media library) and exactly three new posts.
    fake.add(Type::Post, 3);
    let before = posts(dir);
    fake.site.clear_seen();
    sync_ok(dir, id);
    let seen = fake.site.seen();
    assert!(
        seen.len() <= 2,
        "incremental sync made {} requests: {seen:#?}",
        seen.len()
    );
    assert!(
        seen[0].path.contains("orderby=modified"),
        "{}",
        seen[0].path
    );
    assert!(seen[0].path.contains("modified_after="), "{}", seen[0].path);
    assert_eq!(posts(dir), before + 3);
    assert_eq!(articles(dir), 1015);

    // Nothing new: two requests again (posts, and pages this time), nothing created.
    fake.site.clear_seen();
    sync_ok(dir, id);
    assert_eq!(fake.site.seen().len(), 2);
    assert_eq!(hits(&fake, "pages"), 1);
    assert_eq!(posts(dir), before + 3);

    // An edited post comes back and updates the archived one.
    let edited = fake
        .state
        .lock()
        .unwrap()
        .objects
        .iter()
        .find(|o| o.title == "Post 500")
        .unwrap()
        .id;
    fake.edit(edited);
    sync_ok(dir, id);
    assert_eq!(posts(dir), before + 3);
    let (title, text): (String, String) = db(dir)
        .query_row(
            &format!("SELECT title, text FROM posts WHERE platform_post_id = '{edited}'"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(title, "Post 500 (revised) – notes");
    assert_eq!(text, "Edited 1 times: Post 500 (revised) & more.");

    // A new page and a new upload arrive within two syncs.
    fake.add(Type::Page, 1);
    fake.add(Type::Attachment, 1);
    sync_ok(dir, id);
    sync_ok(dir, id);
    assert_eq!(posts(dir), before + 5);

    // More than a page of new posts: the walk follows `page`.
    fake.add(Type::Post, 150);
    sync_ok(dir, id);
    assert_eq!(articles(dir), 1012 + 3 + 1 + 150);

    // A 429 with Retry-After is waited out.
    fake.add(Type::Post, 1);
    fake.fault(wp_error(429, "too_many_requests", "Too many requests").header("retry-after", "1"));
    let started = Instant::now();
    sync_ok(dir, id);
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(articles(dir), 1167);

    // A burst of 5xx is retried.
    fake.add(Type::Post, 1);
    for status in [500, 502, 503] {
        fake.fault(Route::new(
            status,
            "text/html",
            "<html><body><h1>Error establishing a database connection</h1></body></html>",
        ));
    }
    sync_ok(dir, id);
    assert_eq!(articles(dir), 1168);

    // A malformed answer: the sync fails clearly, nothing is lost, the next one works.
    fake.add(Type::Post, 1);
    fake.fault(Route::new(
        200,
        "application/json; charset=UTF-8",
        "[{\"id\": 99999, \"date\": \"2024-",
    ));
    assert!(!sync(dir, id).status.success());
    let (_, error) = status_and_error(dir, id);
    assert!(error.contains("not the expected JSON"), "{error}");
    assert_eq!(articles(dir), 1168);
    sync_ok(dir, id);
    assert_eq!(articles(dir), 1169);

    // The application password is revoked: 401 incorrect_password, reconnect.
    fake.state.lock().unwrap().password = "new one".into();
    assert!(!sync(dir, id).status.success());
    let (status, error) = status_and_error(dir, id);
    assert_eq!(status, "reconnect", "{error}");
    assert!(error.contains("incorrect_password"), "{error}");
}

/// A password revoked half-way through the backfill (what an expiring token is to OAuth):
/// the sync stops asking for a person, keeps what it archived, and once a new application
/// password is given, goes on where it stopped.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_revoked_mid_backfill_and_replaced() {
    let fake = Fake::start();
    fake.add(Type::Post, 1000);
    let (data, id) = connected(&fake);
    let dir = data.path();
    fake.state.lock().unwrap().revoke_after = Some(4);
    assert!(!sync(dir, id).status.success());
    let (status, error) = status_and_error(dir, id);
    assert_eq!(status, "reconnect", "{error}");
    assert_eq!(
        query_i64(
            dir,
            "SELECT COUNT(*) FROM posts WHERE platform = 'wordpress'"
        ),
        400,
        "the four pages before the refusal are kept"
    );
    assert_eq!(hits(&fake, "posts"), 5);

    // The person creates a new application password and gives it on the connection page.
    fake.state.lock().unwrap().password = "mnop qrst uvwx".into();
    let mut server = Server::start_in(dir);
    let browser = server.browser();
    browser.login_ok(OWNER, OWNER_PASSWORD).await;
    let page = browser
        .submit(
            &format!("/connections/{id}"),
            &format!("/connections/{id}/credentials"),
            &[("secret", "mnop qrst uvwx")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    server.stop();

    fake.site.clear_seen();
    sync_ok(dir, id);
    assert_eq!(
        query_i64(
            dir,
            "SELECT COUNT(*) FROM posts WHERE platform = 'wordpress' AND kind = 'article'"
        ),
        1000
    );
    // Pages 5 to 10 of posts, then pages and media: nothing asked twice.
    assert_eq!(hits(&fake, "posts"), 6);
    assert!(fake.site.seen()[0].path.contains("page=5"));
}

/// A site without pretty permalinks: the first 404 at /wp-json/ sends the connector to
/// `?rest_route=`, and later syncs go there at once.
#[test]
fn a_site_with_plain_permalinks() {
    let fake = Fake::start_plain();
    fake.add(Type::Post, 30);
    fake.add(Type::Page, 2);
    let (data, id) = connected(&fake);
    let dir = data.path();
    sync_ok(dir, id);
    // 30 posts, 2 pages, the featured images of posts 5, 15 and 25.
    assert_eq!(posts(dir), 35);
    assert_eq!(hits(&fake, "posts"), 1, "one 404, then never again");
    fake.add(Type::Post, 3);
    fake.site.clear_seen();
    sync_ok(dir, id);
    assert_eq!(posts(dir), 38);
    let seen = fake.site.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|s| s.path.starts_with("/?rest_route=%2Fwp%2Fv2%2F")),
        "{seen:#?}"
    );
}
