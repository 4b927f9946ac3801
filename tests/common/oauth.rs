//! A fake OAuth2 authorization server on a fake site, strict where it matters: the
//! authorize endpoint (answers at once as if the person pressed Allow), the token endpoint
//! (authorization code single use, PKCE S256 verified, refresh tokens rotated: an old one
//! is refused), and the bearer check the fake platform API uses. Plus the browser flow
//! that connects an account through Lifeboat's pages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Browser;
use super::site::{Req, Route, Site};

pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
pub const TOKEN_PATH: &str = "/oauth/token";

#[derive(Default)]
struct AuthState {
    /// code → (PKCE challenge, redirect_uri)
    codes: HashMap<String, (String, String)>,
    /// access token → expiry (unix seconds)
    access: HashMap<String, i64>,
    refresh: Vec<String>,
    lifetime_secs: i64,
    counter: u64,
    refuse_refresh: bool,
    refreshes: usize,
    exchanges: usize,
}

#[derive(Clone)]
pub struct FakeAuth {
    state: Arc<Mutex<AuthState>>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl FakeAuth {
    /// Serves /oauth/authorize and /oauth/token on `site`. Access tokens live
    /// `lifetime_secs`.
    pub fn install(site: &Site, lifetime_secs: i64) -> FakeAuth {
        let auth = FakeAuth {
            state: Arc::new(Mutex::new(AuthState {
                lifetime_secs,
                ..AuthState::default()
            })),
        };
        let a = auth.clone();
        site.handle(AUTHORIZE_PATH, move |req| a.authorize(req));
        let a = auth.clone();
        site.handle(TOKEN_PATH, move |req| a.token(req));
        auth
    }

    /// True when the request carries a live access token.
    pub fn valid(&self, req: &Req) -> bool {
        let Some(token) = req.bearer() else {
            return false;
        };
        let s = self.state.lock().unwrap();
        s.access.get(token).is_some_and(|expires| *expires > now())
    }

    /// What a platform answers to a missing or expired token.
    pub fn unauthorized() -> Route {
        Route::json(
            401,
            &json!({"error": "invalid_token", "message": "Unauthorized"}),
        )
    }

    /// Every access token issued so far stops working (expired mid-backfill).
    pub fn expire_all(&self) {
        for expires in self.state.lock().unwrap().access.values_mut() {
            *expires = 0;
        }
    }

    /// From now on refreshes are refused (the person revoked the app).
    pub fn refuse_refresh(&self) {
        self.state.lock().unwrap().refuse_refresh = true;
    }

    pub fn refreshes(&self) -> usize {
        self.state.lock().unwrap().refreshes
    }

    pub fn exchanges(&self) -> usize {
        self.state.lock().unwrap().exchanges
    }

    fn next(&self, prefix: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.counter += 1;
        format!("{prefix}-{}-{}", s.counter, now())
    }

    fn authorize(&self, req: &Req) -> Route {
        let (Some(redirect), Some(state), Some(challenge)) = (
            req.param("redirect_uri"),
            req.param("state"),
            req.param("code_challenge"),
        ) else {
            return Route::json(400, &json!({"error": "invalid_request"}));
        };
        if req.param("code_challenge_method") != Some("S256")
            || req.param("response_type") != Some("code")
            || req.param("client_id").is_none()
        {
            return Route::json(400, &json!({"error": "invalid_request"}));
        }
        let code = self.next("code");
        self.state
            .lock()
            .unwrap()
            .codes
            .insert(code.clone(), (challenge.to_string(), redirect.to_string()));
        let mut location = url::Url::parse(redirect).expect("redirect_uri is a URL");
        location
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", state);
        Route::new(302, "text/plain", "").header("location", location.as_str())
    }

    fn token(&self, req: &Req) -> Route {
        let form = req.form();
        let refused = |error: &str| Route::json(400, &json!({"error": error}));
        let client = form.contains_key("client_id")
            || req
                .header("authorization")
                .is_some_and(|a| a.starts_with("Basic "));
        if req.method != "POST" || !client {
            return refused("invalid_client");
        }
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let code = form.get("code").cloned().unwrap_or_default();
                let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                let Some((challenge, redirect)) = self.state.lock().unwrap().codes.remove(&code)
                else {
                    return refused("invalid_grant");
                };
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(verifier.as_bytes()));
                if computed != challenge || form.get("redirect_uri") != Some(&redirect) {
                    return refused("invalid_grant");
                }
                self.state.lock().unwrap().exchanges += 1;
                self.issue()
            }
            Some("refresh_token") => {
                let token = form.get("refresh_token").cloned().unwrap_or_default();
                let mut s = self.state.lock().unwrap();
                let Some(at) = s.refresh.iter().position(|t| *t == token) else {
                    return refused("invalid_grant");
                };
                if s.refuse_refresh {
                    return refused("invalid_grant");
                }
                // Rotation: the old refresh token dies with this use.
                s.refresh.remove(at);
                s.refreshes += 1;
                drop(s);
                self.issue()
            }
            _ => refused("unsupported_grant_type"),
        }
    }

    fn issue(&self) -> Route {
        let (access, refresh) = (self.next("access"), self.next("refresh"));
        let mut s = self.state.lock().unwrap();
        let lifetime = s.lifetime_secs;
        s.access.insert(access.clone(), now() + lifetime);
        s.refresh.push(refresh.clone());
        Route::json(
            200,
            &json!({
                "access_token": access,
                "token_type": "bearer",
                "expires_in": lifetime,
                "refresh_token": refresh,
                "scope": "read",
            }),
        )
    }
}

/// Saves an app for `platform` whose endpoints are the fake site's (settings page).
pub async fn save_app(browser: &Browser, platform: &str, site: &Site) {
    let page = browser
        .submit(
            "/settings",
            "/settings/oauth-clients",
            &[
                ("platform", platform),
                ("client_id", "lifeboat-test-client"),
                ("client_secret", "lifeboat-test-secret"),
                ("authorize_url", &site.url(AUTHORIZE_PATH)),
                ("token_url", &site.url(TOKEN_PATH)),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "saving the app: {}", page.body);
}

/// Presses "Connect with …" (with `server` for platforms on many servers), lets the fake
/// platform authorize, follows its redirect back, and returns the new connection's id.
pub async fn connect(browser: &Browser, platform: &str, server: Option<&str>) -> i64 {
    let mut fields = vec![("platform", platform)];
    if let Some(server) = server {
        fields.push(("url", server));
    }
    let page = browser
        .submit("/connections", "/connections/oauth", &fields)
        .await;
    assert_eq!(page.status, 303, "Connect: {}", page.body);
    let authorize = page
        .location()
        .expect("redirect to the platform")
        .to_string();
    // The person's browser at the platform: no Lifeboat cookies there.
    let outside = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = outside.get(&authorize).send().await.expect("authorize");
    assert_eq!(answer.status().as_u16(), 302, "authorize answered");
    let back = answer.headers()["location"].to_str().unwrap().to_string();
    let path = back
        .strip_prefix(&browser.base)
        .unwrap_or_else(|| panic!("redirected to {back}, not to Lifeboat at {}", browser.base));
    let page = browser.get(path).await;
    assert_eq!(page.status, 303, "callback: {}", page.body);
    let location = page.location().expect("to the connection").to_string();
    location
        .strip_prefix("/connections/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("callback went to {location}"))
}
