//! Bluesky, and any AT Protocol server (PDS), through its XRPC API
//! (https://docs.bsky.app/docs/api/, lexicons `com.atproto.*`): the account's posts,
//! reposts and likes, read from its own repository.
//!
//! A person gives their handle (or DID, or e-mail) and an app password. Lifeboat trades
//! them for a session (`com.atproto.server.createSession`: `accessJwt`, `refreshJwt`,
//! `did`, `didDoc`) on the connection's server (bsky.social unless another is given). When
//! the DID document names another host as the account's `#atproto_pds` service (accounts
//! of bsky.social live on `*.host.bsky.network`), repository calls go there. An expired
//! access token (XRPC `400 ExpiredToken`) is renewed with `com.atproto.server.refreshSession`
//! (the refresh token as bearer), and when the refresh token is spent too, a new session is
//! created from the app password; only a refused app password needs the person. An access
//! token whose JWT `exp` has passed is refreshed before the first request of a page rather
//! than after a refusal.
//!
//! Records are read with `com.atproto.repo.listRecords?repo=<did>&collection=<nsid>&limit=100`,
//! newest first (record keys are TIDs, which sort by time), following `cursor` until a page
//! comes without one or empty. `app.bsky.feed.post`, `app.bsky.feed.repost` and
//! `app.bsky.feed.like` are walked one after the other; a later walk stops at the newest
//! record key the previous one archived. The API has no "changed since" for a collection,
//! so after the backfill a sync asks for posts and then for reposts or likes, in turn:
//! two requests when little is new, and a new like or repost arrives within two syncs.
//!
//! Each answer is kept as sent (one raw item, identified by its sha256). The answer has
//! the shape of the repository export's raw items (`importers::bluesky`, `{"records":
//! [{uri, cid, value}]}`), so this codec splits and normalizes with the importer's code:
//! the same records get the same ids (`record_post_id`) from both routes. The only
//! difference: a record read from a server other than bsky.social carries that server
//! (`"pds"`) beside `uri`, `cid` and `value`, so its images and videos are downloaded with
//! `com.atproto.sync.getBlob` from the server that holds them. The importer's raw items
//! (`importers::bluesky::RECORDS`) go through this codec unchanged.

use reqwest::header;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::credentials::SessionTokens;
use super::*;
use crate::importers::bluesky::{
    self as export, Bluesky as Export, DEFAULT_PDS, LIKE, POST, REPOST,
};

pub struct Bluesky;

/// One `com.atproto.repo.listRecords` answer, as sent: `{"cursor", "records": [{uri, cid, value}]}`.
pub const LIST_RECORDS: &str = "application/vnd.lifeboat.bluesky-api-records+json";

/// The most records a `listRecords` page gives (the lexicon's maximum).
const LIMIT: usize = 100;

tokio::task_local! {
    /// The server the person logs in to (the connection's URL), for renewals: `renew` is
    /// given only the `Api`, and the session is created and refreshed there even when the
    /// repository lives on another host.
    static LOGIN: String;
}

impl Codec for Bluesky {
    fn platform(&self) -> Platform {
        Platform::Bluesky
    }

    fn split(&self, item: &ItemRef) -> anyhow::Result<Vec<RawPost>> {
        let mut posts = Export.split(item)?;
        if item.content_type == LIST_RECORDS
            && let Some(pds) = item.source_url.and_then(server_of)
            && pds != DEFAULT_PDS
        {
            for post in &mut posts {
                if let Ok(Value::Object(mut record)) = post.value() {
                    record.insert("pds".into(), pds.into());
                    *post =
                        RawPost::new(std::mem::take(&mut post.platform_post_id), &record.into());
                }
            }
        }
        Ok(posts)
    }

    fn normalize(&self, raw: &RawPost) -> anyhow::Result<NewPost> {
        #[derive(serde::Deserialize)]
        struct Pds<'a> {
            #[serde(borrow)]
            pds: Option<std::borrow::Cow<'a, str>>,
        }
        let pds = raw.parse::<Pds>().ok().and_then(|p| p.pds);
        export::normalize_at(raw, pds.as_deref().unwrap_or(DEFAULT_PDS))
    }
}

impl Connector for Bluesky {
    fn auth(&self) -> Auth {
        Auth::Session
    }

    /// A PDS answers 3,000 requests per 5 minutes from one IP address (Bluesky's hosted
    /// servers; https://docs.bsky.app/docs/advanced-guides/rate-limits).
    fn quota(&self) -> Quota {
        Quota {
            requests: 3000,
            per: std::time::Duration::from_secs(5 * 60),
        }
    }

    fn default_url(&self) -> Option<&'static str> {
        Some(DEFAULT_PDS)
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "Connect with your handle and an app password (Settings → Privacy and security → \
             App passwords), never your main password. Lifeboat keeps your posts, replies, \
             reposts and likes and the images and videos of your posts. Give your own \
             server's address if your account is not on bsky.social. Profile, follows and \
             lists are in the repository export (Settings → Account → Export my data), which \
             Lifeboat imports too.",
        )
    }

    fn renew<'a>(&'a self, api: &'a Api) -> BoxFuture<'a, Result<Credentials, FetchError>> {
        Box::pin(renew(api))
    }

    /// An account taken down, suspended or deactivated answers `400 RepoTakendown` (and
    /// the like): no retry helps, the person has to look.
    fn classify(&self, status: u16, body: &str) -> Option<FetchError> {
        let inactive = ["RepoTakendown", "RepoSuspended", "RepoDeactivated"]
            .iter()
            .any(|name| body.contains(&format!("\"{name}\"")));
        (status == 400 && inactive).then(|| {
            let excerpt: String = body.chars().take(300).collect();
            FetchError::Auth(format!("the account is not active: {excerpt}"))
        })
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a FetchContext<'a>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(async move {
            let login = login_server(ctx.base()?)?;
            LOGIN.scope(login, fetch_page(ctx, cursor)).await
        })
    }
}

/// XRPC lives at the root of a server: the connection's URL without any path (a person
/// may paste `https://bsky.social/` or a profile address).
fn login_server(url: &str) -> Result<String, FetchError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| FetchError::Invalid(format!("{url:?} is not a server address: {e}")))?;
    Ok(parsed.origin().ascii_serialization())
}

/// The server part of an XRPC URL (`https://host` of `https://host/xrpc/...`).
fn server_of(url: &str) -> Option<&str> {
    let (server, _) = url.split_once("/xrpc/")?;
    (server.starts_with("https://") || server.starts_with("http://")).then_some(server)
}

// ---------------------------------------------------------------------------------------
// The session

/// `createSession` and `refreshSession` answer with the same fields.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Session {
    access_jwt: String,
    refresh_jwt: String,
    did: String,
    #[serde(default)]
    did_doc: Option<Value>,
}

/// A new session: the current one refreshed, else one created from the app password.
async fn renew(api: &Api) -> Result<Credentials, FetchError> {
    let Some(Credentials::AppPassword {
        identifier,
        password,
        session,
    }) = api.credentials()
    else {
        return Err(FetchError::Auth(
            "a Bluesky connection needs the account's handle and an app password".into(),
        ));
    };
    // Never send a token anywhere but the connection's own server.
    let login = LOGIN.try_with(Clone::clone).map_err(|_| {
        FetchError::Invalid("a Bluesky session is renewed only during a sync".into())
    })?;
    let renewed = match &session {
        Some(current) => match refresh(api, &login, current).await {
            Ok(renewed) => Some(renewed),
            // The refresh token expired or was revoked: log in again.
            Err(FetchError::Auth(_)) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let tokens = match renewed {
        Some(tokens) => tokens,
        None => create_session(api, &login, &identifier, &password).await?,
    };
    Ok(Credentials::AppPassword {
        identifier,
        password,
        session: Some(tokens),
    })
}

/// `POST com.atproto.server.createSession {identifier, password}`. A refused password
/// (`401 AuthenticationRequired`) is an `Auth` error: reconnect.
async fn create_session(
    api: &Api,
    login: &str,
    identifier: &str,
    password: &str,
) -> Result<SessionTokens, FetchError> {
    let url = format!("{login}/xrpc/com.atproto.server.createSession");
    // People write their handle as the app shows it: `@alice.bsky.social`.
    let identifier = identifier.trim().trim_start_matches('@');
    let body = json!({"identifier": identifier, "password": password});
    let response = api
        .send_anonymous(|http| http.post(&url).json(&body))
        .await?;
    let answer = api::read_json::<Session>(response).await?;
    Ok(tokens(answer.value, login, None))
}

/// `POST com.atproto.server.refreshSession` with the refresh token as bearer.
async fn refresh(
    api: &Api,
    login: &str,
    current: &SessionTokens,
) -> Result<SessionTokens, FetchError> {
    let url = format!("{login}/xrpc/com.atproto.server.refreshSession");
    let bearer = format!("Bearer {}", current.refresh);
    let response = api
        .send_anonymous(|http| http.post(&url).header(header::AUTHORIZATION, &bearer))
        .await?;
    let answer = api::read_json::<Session>(response).await?;
    Ok(tokens(answer.value, login, current.service.clone()))
}

/// The tokens to keep: the repository's server is the DID document's `#atproto_pds`
/// when it names one other than the login server (else what was known before).
fn tokens(session: Session, login: &str, known: Option<String>) -> SessionTokens {
    let service = match session.did_doc.as_ref().and_then(pds_endpoint) {
        Some(pds) if !pds.eq_ignore_ascii_case(login) => Some(pds),
        Some(_) => None,
        None => known,
    };
    SessionTokens {
        access: session.access_jwt,
        refresh: session.refresh_jwt,
        account: Some(session.did),
        service,
    }
}

/// Whether an access token is past (or within a minute of) its expiry, when it is a JWT
/// that says so (`exp`; Bluesky's last two hours): renewing first spares a refused
/// request. A token that is not a readable JWT is simply used.
fn expired(token: &str, now: i64) -> bool {
    use base64::Engine as _;
    let Some(claims) = token.split('.').nth(1) else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|claims| claims.get("exp")?.as_i64())
        .is_some_and(|exp| exp - credentials::REFRESH_MARGIN_SECS <= now)
}

/// The `serviceEndpoint` of a DID document's `#atproto_pds` service, without a trailing
/// slash.
fn pds_endpoint(did_doc: &Value) -> Option<String> {
    did_doc
        .get("service")?
        .as_array()?
        .iter()
        .find(|s| {
            s.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| id.ends_with("#atproto_pds"))
        })?
        .get("serviceEndpoint")?
        .as_str()
        .filter(|e| e.starts_with("https://") || e.starts_with("http://"))
        .map(|e| e.trim_end_matches('/').to_string())
}

// ---------------------------------------------------------------------------------------
// The walks

/// The collections a sync reads, in this order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Collection {
    #[default]
    Posts,
    Reposts,
    Likes,
}

impl Collection {
    fn nsid(self) -> &'static str {
        match self {
            Collection::Posts => POST,
            Collection::Reposts => REPOST,
            Collection::Likes => LIKE,
        }
    }

    fn next(self) -> Option<Collection> {
        match self {
            Collection::Posts => Some(Collection::Reposts),
            Collection::Reposts => Some(Collection::Likes),
            Collection::Likes => None,
        }
    }
}

/// Where the sync stands: the account, the collection being walked, and each walk
/// (`next` is a `listRecords` cursor, `stop_at` a record key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// The DID the walks belong to: another account starts over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    did: Option<String>,
    #[serde(default)]
    current: Collection,
    #[serde(default)]
    posts: Walk,
    #[serde(default)]
    reposts: Walk,
    #[serde(default)]
    likes: Walk,
    /// After the backfill, each sync walks posts and then one of reposts and likes, in
    /// turn: two requests when little is new (a new like or repost comes a sync later).
    #[serde(default)]
    likes_turn: bool,
}

impl Position {
    fn walk(&mut self, collection: Collection) -> &mut Walk {
        match collection {
            Collection::Posts => &mut self.posts,
            Collection::Reposts => &mut self.reposts,
            Collection::Likes => &mut self.likes,
        }
    }
}

/// A `listRecords` answer. Records are read loosely: `split` keeps them whole.
#[derive(Deserialize)]
struct Records {
    #[serde(default)]
    cursor: Option<String>,
    records: Vec<Value>,
}

/// The record key of an `at://did/collection/rkey` URI.
fn rkey(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("at://")?;
    let mut parts = rest.splitn(3, '/');
    let (_, _, rkey) = (parts.next()?, parts.next()?, parts.next()?);
    (!rkey.is_empty()).then_some(rkey)
}

async fn fetch_page(ctx: &FetchContext<'_>, cursor: Option<&str>) -> Result<Page, FetchError> {
    let login = login_server(ctx.base()?)?;
    let (identifier, session) = match ctx.api.credentials() {
        Some(Credentials::AppPassword {
            identifier,
            session: Some(session),
            ..
        }) if !expired(&session.access, crate::time::now()) => (identifier, session),
        Some(Credentials::AppPassword { .. }) => {
            // The first sync (the DID and the repository's server come with the session),
            // or an access token known to be expired.
            let credentials = renew(ctx.api).await?;
            ctx.api.set_credentials(credentials.clone());
            match credentials {
                Credentials::AppPassword {
                    identifier,
                    session: Some(session),
                    ..
                } => (identifier, session),
                _ => unreachable!("renew makes a session"),
            }
        }
        _ => {
            return Err(FetchError::Auth(
                "a Bluesky connection needs the account's handle and an app password".into(),
            ));
        }
    };
    let did = session.account.clone().unwrap_or(identifier);
    let pds = session.service.clone().unwrap_or(login);

    let mut position: Position = super::position(cursor);
    if position.did.as_deref() != Some(did.as_str()) {
        position = Position {
            did: Some(did.clone()),
            ..Position::default()
        };
    }
    let collection = position.current;
    let walk = position.walk(collection);
    let backfill = walk.is_backfill();
    let url = format!("{pds}/xrpc/com.atproto.repo.listRecords");
    let limit = LIMIT.to_string();
    let mut query = vec![
        ("repo", did.as_str()),
        ("collection", collection.nsid()),
        ("limit", limit.as_str()),
    ];
    if let Some(next) = walk.next.as_deref() {
        query.push(("cursor", next));
    }
    let page = ctx
        .api
        .get_json::<Records>(|http| http.get(&url).query(&query))
        .await?;

    // Newest first: everything before the newest key the last walk archived is new.
    let mut fresh = 0;
    let mut reached_stop = false;
    for record in &page.value.records {
        let Some(key) = record.get("uri").and_then(Value::as_str).and_then(rkey) else {
            continue;
        };
        if walk.stop_at.as_deref().is_some_and(|stop| key <= stop) {
            reached_stop = true;
            break;
        }
        walk.saw(key);
        fresh += 1;
    }
    let next = page
        .value
        .cursor
        .clone()
        .filter(|c| !c.is_empty() && !page.value.records.is_empty());
    let finished = walk.advance(next, reached_stop);

    let mut done = false;
    if finished {
        let backfilled =
            position.posts.backfilled && position.reposts.backfilled && position.likes.backfilled;
        match (collection, backfilled) {
            (Collection::Posts, true) => {
                position.current = if position.likes_turn {
                    Collection::Likes
                } else {
                    Collection::Reposts
                };
            }
            (_, true) => {
                position.current = Collection::Posts;
                position.likes_turn = !position.likes_turn;
                done = true;
            }
            (_, false) => match collection.next() {
                Some(next) => position.current = next,
                None => {
                    position.current = Collection::Posts;
                    done = true;
                }
            },
        }
    }
    let items = if fresh > 0 {
        vec![RawItem {
            external_id: hex::encode(Sha256::digest(&page.body)),
            content_type: LIST_RECORDS.into(),
            source_url: Some(page.url),
            payload: page.body,
        }]
    } else {
        Vec::new()
    };
    Ok(Page::at(items, &position, done, backfill))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_and_servers() {
        assert_eq!(
            rkey("at://did:plc:abc/app.bsky.feed.post/3kabc"),
            Some("3kabc")
        );
        assert_eq!(rkey("at://did:plc:abc/app.bsky.feed.post/"), None);
        assert_eq!(rkey("https://example.com"), None);
        assert_eq!(
            server_of("https://pds.example.com/xrpc/com.atproto.repo.listRecords"),
            Some("https://pds.example.com")
        );
        assert_eq!(server_of("repo.car"), None);
    }

    #[test]
    fn expiry_is_read_from_the_jwt_when_there_is_one() {
        use base64::Engine as _;
        let jwt = |claims: Value| {
            let encode = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
            format!(
                "{}.{}.sig",
                encode(br#"{"typ":"at+jwt","alg":"ES256K"}"#),
                encode(claims.to_string().as_bytes())
            )
        };
        let token =
            jwt(json!({"scope": "com.atproto.appPass", "sub": "did:plc:abc", "exp": 10_000}));
        assert!(!expired(&token, 9_000));
        assert!(expired(&token, 9_950));
        assert!(expired(&token, 20_000));
        assert!(!expired(&jwt(json!({"sub": "did:plc:abc"})), 20_000));
        assert!(!expired("opaque-token", 20_000));
    }

    #[test]
    fn the_login_server_is_the_origin() {
        assert_eq!(
            login_server("https://bsky.social/profile/alice").unwrap(),
            "https://bsky.social"
        );
        assert_eq!(
            login_server("http://127.0.0.1:2583").unwrap(),
            "http://127.0.0.1:2583"
        );
        assert!(login_server("not a url").is_err());
    }

    #[test]
    fn an_inactive_account_needs_a_person_and_an_expired_token_does_not() {
        let takendown =
            r#"{"error":"RepoTakendown","message":"Repo has been takendown: did:plc:abc"}"#;
        assert!(matches!(
            Bluesky.classify(400, takendown),
            Some(FetchError::Auth(_))
        ));
        let expired = r#"{"error":"ExpiredToken","message":"Token has expired"}"#;
        assert!(Bluesky.classify(400, expired).is_none());
    }

    #[test]
    fn the_did_documents_pds_when_it_is_another_host() {
        let session = |endpoint: &str| Session {
            access_jwt: "a".into(),
            refresh_jwt: "r".into(),
            did: "did:plc:abc".into(),
            did_doc: Some(json!({
                "id": "did:plc:abc",
                "service": [
                    {"id": "#other", "type": "Other", "serviceEndpoint": "https://other.example"},
                    {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": endpoint}
                ]
            })),
        };
        let t = tokens(
            session("https://morel.us-east.host.bsky.network/"),
            "https://bsky.social",
            None,
        );
        assert_eq!(
            t.service.as_deref(),
            Some("https://morel.us-east.host.bsky.network")
        );
        assert_eq!(t.account.as_deref(), Some("did:plc:abc"));
        let same = tokens(session("https://bsky.social"), "https://bsky.social", None);
        assert_eq!(same.service, None);
        // A refresh without a DID document keeps the server known before.
        let refreshed = tokens(
            Session {
                did_doc: None,
                ..session("x")
            },
            "https://bsky.social",
            Some("https://pds.example".into()),
        );
        assert_eq!(refreshed.service.as_deref(), Some("https://pds.example"));
    }

    #[test]
    fn records_read_from_another_server_download_blobs_there() {
        let body = json!({"cursor": "3kaaa", "records": [{
            "uri": "at://did:plc:abc/app.bsky.feed.post/3kaaa",
            "cid": "bafyrei",
            "value": {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-01-02T03:04:05.000Z",
                "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "a cat",
                    "image": {"$type": "blob", "ref": {"$link": "bafkreiblob"}, "mimeType": "image/jpeg", "size": 10}}]}}
        }]})
        .to_string();
        let item = |source: &'static str| ItemRef {
            content_type: LIST_RECORDS,
            source_url: Some(source),
            payload: body.as_bytes(),
        };
        let raw = Bluesky
            .split(&item(
                "https://pds.example/xrpc/com.atproto.repo.listRecords",
            ))
            .unwrap();
        assert_eq!(raw.len(), 1);
        assert_eq!(raw[0].platform_post_id, "3kaaa");
        let post = Bluesky.normalize(&raw[0]).unwrap();
        assert_eq!(
            post.media[0].url,
            "https://pds.example/xrpc/com.atproto.sync.getBlob?did=did:plc:abc&cid=bafkreiblob"
        );
        // On bsky.social the raw post is exactly the importer's.
        let raw = Bluesky
            .split(&item(
                "https://bsky.social/xrpc/com.atproto.repo.listRecords",
            ))
            .unwrap();
        assert!(raw[0].value().unwrap().get("pds").is_none());
        assert_eq!(
            Bluesky.normalize(&raw[0]).unwrap(),
            Export.normalize(&raw[0]).unwrap()
        );
    }
}
