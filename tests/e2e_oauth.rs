//! End to end against a strict, real OAuth2 authorization server nobody here wrote: the
//! `oidc-provider` npm package (tests/e2e/oidc.mjs: PKCE required, refresh tokens
//! rotated, 30-second access tokens, introspection). Lifeboat connects a Strava account
//! through its own pages, backs up from a fake Strava API that accepts only tokens the
//! server says are active, refreshes before expiry, and the server refuses what a strict
//! server must: a wrong PKCE verifier, a reused code, a reused (rotated) refresh token.
//!
//! Needs `tests/e2e/node_modules` (`.ci/e2e-setup` installs it). Without it the suite says
//! so and passes, unless LIFEBOAT_E2E_REQUIRED=1 (as in CI), where it fails.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use common::fakes::strava::activity;
use common::site::{Route, Site};
use common::{Server, cli, query_i64};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "correct horse battery";
const CLIENT_ID: &str = "lifeboat-e2e";
const CLIENT_SECRET: &str = "lifeboat-e2e-secret";

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

/// The installed Node packages, or None (and a message) when they are not installed.
fn installed() -> bool {
    if e2e_dir().join("node_modules/oidc-provider").exists() {
        return true;
    }
    assert!(
        std::env::var("LIFEBOAT_E2E_REQUIRED").as_deref() != Ok("1"),
        "the end-to-end servers are not installed: run .ci/e2e-setup"
    );
    eprintln!("skipped: the end-to-end servers are not installed (run .ci/e2e-setup)");
    false
}

/// `node tests/e2e/oidc.mjs PORT REDIRECT_URI`, stopped when dropped.
struct Oidc {
    child: Child,
    issuer: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Oidc {
    fn start(redirect_uri: &str) -> Oidc {
        let port = common::free_port();
        let mut child = Command::new("node")
            .arg(e2e_dir().join("oidc.mjs"))
            .arg(port.to_string())
            .arg(redirect_uri)
            .env("ACCESS_TTL", "30")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tests/e2e/oidc.mjs");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if line.contains("\"ready\"") {
                    let _ = ready_tx.send(());
                }
                lines.lock().unwrap().push(line);
            }
        });
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("oidc-provider did not start");
        Oidc {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

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

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    let oidc = Oidc::start(&callback);

    // The platform API: Strava's activities, for tokens the authorization server vouches for.
    let api = Site::start();
    let issuer = oidc.issuer.clone();
    let seen_tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let tokens = seen_tokens.clone();
    let now = common::fakes::now();
    api.handle("/athlete/activities", move |req| {
        let Some(token) = req.bearer() else {
            return Route::json(401, &json!({"message": "Authorization Error"}));
        };
        tokens.lock().unwrap().push(token.to_string());
        if !introspect(&issuer, token) {
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
                ("authorize_url", &format!("{}/auth", oidc.issuer)),
                ("token_url", &format!("{}/token", oidc.issuer)),
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
    let back = authorize(&outside, &oidc.issuer, &start).await;
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

    // A backup with the tokens it got. The 30-second access token is within the
    // refresh margin, so Lifeboat refreshes first, and the server rotates the refresh token.
    let first_refresh = stored_refresh_token(dir, id);
    let out = cli(dir, &["sync", "--connection", &id.to_string()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        query_i64(dir, "SELECT COUNT(*) FROM posts WHERE platform = 'strava'"),
        30
    );
    let second_refresh = stored_refresh_token(dir, id);
    assert_ne!(
        first_refresh, second_refresh,
        "the refresh token was rotated"
    );
    let refreshes = oidc
        .events("grant.success")
        .iter()
        .filter(|e| e["grant_type"] == "refresh_token")
        .count();
    assert_eq!(refreshes, 1);

    // A second backup refreshes again, with the newest token, and works.
    let out = cli(dir, &["sync", "--connection", &id.to_string()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(stored_refresh_token(dir, id), second_refresh);

    // A rotated-away refresh token is dead: the server refuses its reuse, and (as a strict
    // server does on reuse) revokes the whole grant, so the next backup cannot refresh:
    // the connection asks its person to reconnect, and nothing archived is touched.
    let (status, answer) = token_request(
        &oidc.issuer,
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
    let out = cli(dir, &["sync", "--connection", &id.to_string()], None);
    assert!(!out.status.success());
    let reconnect = query_i64(
        dir,
        &format!("SELECT COUNT(*) FROM connections WHERE id = {id} AND status = 'reconnect'"),
    );
    assert_eq!(reconnect, 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        query_i64(dir, "SELECT COUNT(*) FROM posts WHERE platform = 'strava'"),
        30
    );

    // Every token the API saw came from the server; none is in the database in clear.
    let db = std::fs::read(dir.join("lifeboat.db")).unwrap();
    for token in seen_tokens.lock().unwrap().iter() {
        assert!(!common::contains_bytes(&db, token.as_bytes()));
    }

    // The server is strict: a wrong PKCE verifier, and a code used twice, are refused.
    let verifier = "a-verifier-of-enough-length-for-pkce-0123456789abcdef";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let redirect = callback.clone();
    let mut start = url::Url::parse(&format!("{}/auth", oidc.issuer)).unwrap();
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
        let (issuer, redirect) = (oidc.issuer.clone(), redirect.clone());
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
    let code = code_of(&authorize(&outside, &oidc.issuer, start.as_str()).await);
    let (status, answer) =
        exchange(code, "a-wrong-verifier-of-enough-length-0123456789abcdef").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let code = code_of(&authorize(&outside, &oidc.issuer, start.as_str()).await);
    let (status, _) = exchange(code.clone(), verifier).await;
    assert_eq!(status, 200);
    let (status, answer) = exchange(code, verifier).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}
