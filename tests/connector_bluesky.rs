//! The Bluesky (AT Protocol) connector against a fake PDS: `com.atproto.server.createSession`
//! and `refreshSession` (JWT pairs, refresh tokens rotated, a DID document naming the
//! account's `#atproto_pds`), `com.atproto.repo.listRecords` (`repo`, `collection`,
//! `limit` ≤ 100, `cursor` = the last record key, newest first, `{records: [{uri, cid,
//! value}], cursor}`), `com.atproto.sync.getBlob`, XRPC error bodies (`{error, message}`)
//! and the `RateLimit-*` headers. A 1,000-post backfill with an access token expiring
//! half-way, the incremental sync's request count, 429s, 5xx bursts, a malformed answer,
//! a refused app password, a repository on another host than the login server, and the
//! same ids as the repository (CAR) importer for the same records.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::imports::{collect, fixture, raw_posts};
use common::site::{Req, Route, Site};
use common::{add_user, cli, connect, db, query_i64, status_and_error};
use lifeboat::importers::bluesky::{self as export, Bluesky as Export};
use serde_json::{Value, json};

const OWNER: &str = "alice";
const OWNER_PASSWORD: &str = "correct horse battery";
const HANDLE: &str = "alice.test";
const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
const APP_PASSWORD: &str = "abcd-efgh-ijkl-mnop";
const POST: &str = "app.bsky.feed.post";
const REPOST: &str = "app.bsky.feed.repost";
const LIKE: &str = "app.bsky.feed.like";
const LIST_RECORDS: &str = "/xrpc/com.atproto.repo.listRecords";
const CREATE_SESSION: &str = "/xrpc/com.atproto.server.createSession";
const REFRESH_SESSION: &str = "/xrpc/com.atproto.server.refreshSession";
const GET_BLOB: &str = "/xrpc/com.atproto.sync.getBlob";

/// A TID: 64 bits (microseconds since 1970 << 10 | clock id) in 13 characters of
/// base32-sortable, so record keys sort by time.
fn tid(micros: u64) -> String {
    const ALPHABET: &[u8] = b"234567abcdefghijklmnopqrstuvwxyz";
    let value = micros << 10;
    (0..13)
        .map(|i| ALPHABET[((value >> (60 - 5 * i)) & 31) as usize] as char)
        .collect()
}

fn iso(micros: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp((micros / 1_000_000) as i64).unwrap();
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .replace('Z', ".000Z")
}

fn xrpc_error(status: u16, error: &str, message: &str) -> Route {
    Route::json(status, &json!({"error": error, "message": message}))
}

#[derive(Clone)]
struct Record {
    rkey: String,
    cid: String,
    value: Value,
}

struct State {
    did: String,
    handle: String,
    password: String,
    /// Records per collection, by record key.
    repo: BTreeMap<String, BTreeMap<String, Record>>,
    clock: u64,
    serial: u64,
    access: HashSet<String>,
    refresh: HashSet<String>,
    /// Answers for the next listRecords requests, before anything else.
    faults: VecDeque<Route>,
    /// After this many more listRecords answers, every access token expires.
    expire_after: Option<usize>,
    /// The `exp` of new access tokens, in seconds from now.
    lifetime: i64,
}

struct Fake {
    /// Where the person logs in (createSession, refreshSession).
    login: Site,
    /// Where the repository lives, when the DID document names another host (as
    /// bsky.social's name `*.host.bsky.network`).
    pds: Option<Site>,
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn start() -> Fake {
        Fake::with(false, DID)
    }

    fn with(split: bool, did: &str) -> Fake {
        let login = Site::start();
        let pds = split.then(Site::start);
        let state = Arc::new(Mutex::new(State {
            did: did.into(),
            handle: HANDLE.into(),
            password: APP_PASSWORD.into(),
            repo: BTreeMap::new(),
            // A year ago, in microseconds.
            clock: (now() - 365 * 86_400) as u64 * 1_000_000,
            serial: 0,
            access: HashSet::new(),
            refresh: HashSet::new(),
            faults: VecDeque::new(),
            expire_after: None,
            lifetime: 7200,
        }));
        let repo_base = pds.as_ref().unwrap_or(&login).base.clone();
        for path in [CREATE_SESSION, REFRESH_SESSION] {
            let (state, endpoint) = (state.clone(), repo_base.clone());
            login.handle(path, move |req| session(&state, &endpoint, req));
        }
        let repo_site = pds.as_ref().unwrap_or(&login);
        let s = state.clone();
        repo_site.handle(LIST_RECORDS, move |req| list_records(&s, req));
        let s = state.clone();
        repo_site.handle(GET_BLOB, move |req| {
            let s = s.lock().unwrap();
            if req.param("did") != Some(s.did.as_str()) {
                return xrpc_error(400, "InvalidRequest", "Could not find repo");
            }
            let seed = req.param("cid").map_or(0, |c| c.len() as u32);
            Route::png(&common::png(seed, 4, 4))
        });
        Fake { login, pds, state }
    }

    fn next_key(s: &mut State) -> (String, u64) {
        s.clock += 60_000_000;
        s.serial += 1;
        (tid(s.clock), s.clock)
    }

    fn put(s: &mut State, collection: &str, rkey: String, value: Value) {
        let cid = format!("bafyreicid{}{}", collection.len(), rkey);
        s.repo
            .entry(collection.into())
            .or_default()
            .insert(rkey.clone(), Record { rkey, cid, value });
    }

    /// `n` new posts: every tenth with an image, every seventh a reply to the one before.
    fn add_posts(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        for _ in 0..n {
            let (rkey, at) = Fake::next_key(&mut s);
            let serial = s.serial;
            let mut value = json!({
                "$type": POST,
                "text": format!("Post {serial} from the fake PDS"),
                "createdAt": iso(at),
                "langs": ["en"],
            });
            if serial.is_multiple_of(10) {
                value["embed"] = json!({
                    "$type": "app.bsky.embed.images",
                    "images": [{
                        "alt": format!("picture {serial}"),
                        "image": {"$type": "blob", "ref": {"$link": format!("bafkreiimage{serial}")}, "mimeType": "image/png", "size": 120},
                        "aspectRatio": {"width": 4, "height": 4}
                    }]
                });
            }
            if serial.is_multiple_of(7)
                && let Some(parent) = s.repo.get(POST).and_then(|p| p.values().next_back())
            {
                let parent = json!({"uri": format!("at://{}/{POST}/{}", s.did, parent.rkey), "cid": parent.cid});
                value["reply"] = json!({"root": parent, "parent": parent});
            }
            Fake::put(&mut s, POST, rkey, value);
        }
    }

    /// `n` likes or reposts of someone else's posts.
    fn add_subjects(&self, collection: &str, n: usize) {
        let mut s = self.state.lock().unwrap();
        for _ in 0..n {
            let (rkey, at) = Fake::next_key(&mut s);
            let subject = format!(
                "at://did:plc:bobbobbobbobbobbobbobbob/{POST}/{}",
                tid(at - 1_000_000)
            );
            let value = json!({
                "$type": collection,
                "subject": {"uri": subject, "cid": "bafyreisubject"},
                "createdAt": iso(at),
            });
            Fake::put(&mut s, collection, rkey, value);
        }
    }

    fn fault(&self, route: Route) {
        self.state.lock().unwrap().faults.push_back(route);
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn did_doc(did: &str, handle: &str, endpoint: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "alsoKnownAs": [format!("at://{handle}")],
        "verificationMethod": [{
            "id": format!("{did}#atproto"),
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"
        }],
        "service": [{
            "id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": endpoint
        }]
    })
}

/// createSession and refreshSession.
fn session(state: &Mutex<State>, endpoint: &str, req: &Req) -> Route {
    let mut s = state.lock().unwrap();
    if req.method != "POST" {
        return xrpc_error(
            400,
            "InvalidRequest",
            "Incorrect HTTP method (GET) expected POST",
        );
    }
    if req.path == CREATE_SESSION {
        let body = req.json();
        let identifier = body["identifier"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        let known = identifier == s.handle || identifier == s.did;
        if !known || body["password"].as_str() != Some(s.password.as_str()) {
            return xrpc_error(
                401,
                "AuthenticationRequired",
                "Invalid identifier or password",
            );
        }
    } else {
        let Some(token) = req.bearer().map(String::from) else {
            return xrpc_error(401, "AuthenticationRequired", "Authentication Required");
        };
        // Refresh tokens are single-use: the old one is revoked.
        if !s.refresh.remove(&token) {
            return xrpc_error(400, "ExpiredToken", "Token has been revoked");
        }
    }
    s.serial += 1;
    let jwt = |scope: &str, lifetime: i64, serial: u64, did: &str| {
        use base64::Engine as _;
        let encode = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let claims = json!({"scope": scope, "sub": did, "iat": now(), "exp": now() + lifetime, "jti": serial});
        format!(
            "{}.{}.c2lnbmF0dXJl",
            encode(br#"{"typ":"at+jwt","alg":"ES256K"}"#),
            encode(claims.to_string().as_bytes())
        )
    };
    let access = jwt("com.atproto.appPass", s.lifetime, s.serial, &s.did);
    let refresh = jwt("com.atproto.refresh", 90 * 86_400, s.serial, &s.did);
    s.access.insert(access.clone());
    s.refresh.insert(refresh.clone());
    Route::json(
        200,
        &json!({
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": s.handle,
            "did": s.did,
            "didDoc": did_doc(&s.did, &s.handle, endpoint),
            "email": "alice@example.com",
            "emailConfirmed": true,
            "active": true
        }),
    )
}

/// listRecords, newest first, as the reference PDS pages it: `cursor` is the last record
/// key of a page (also on the last page), and the next page is what sorts before it.
fn list_records(state: &Mutex<State>, req: &Req) -> Route {
    let mut s = state.lock().unwrap();
    if let Some(fault) = s.faults.pop_front() {
        return fault;
    }
    if let Some(token) = req.bearer()
        && !s.access.contains(token)
    {
        return xrpc_error(400, "ExpiredToken", "Token has expired");
    }
    match s.expire_after {
        Some(0) => {
            s.access.clear();
            s.expire_after = None;
        }
        Some(n) => s.expire_after = Some(n - 1),
        None => {}
    }
    let repo = req.param("repo").unwrap_or_default();
    if repo != s.did && repo != s.handle {
        return xrpc_error(
            400,
            "InvalidRequest",
            &format!("Could not find repo: {repo}"),
        );
    }
    let Some(collection) = req.param("collection") else {
        return xrpc_error(
            400,
            "InvalidRequest",
            "Error: Params must have the property \"collection\"",
        );
    };
    let limit: usize = req.param("limit").map_or(50, |l| l.parse().unwrap_or(0));
    if !(1..=100).contains(&limit) {
        return xrpc_error(
            400,
            "InvalidRequest",
            "Error: limit can not be greater than 100",
        );
    }
    let records: Vec<Value> = s
        .repo
        .get(collection)
        .into_iter()
        .flat_map(|c| c.values().rev())
        .filter(|r| {
            req.param("cursor")
                .is_none_or(|cursor| r.rkey.as_str() < cursor)
        })
        .take(limit)
        .map(|r| {
            json!({
                "uri": format!("at://{}/{collection}/{}", s.did, r.rkey),
                "cid": r.cid,
                "value": r.value,
            })
        })
        .collect();
    let mut body = json!({ "records": records });
    if let Some(last) = records.last() {
        body["cursor"] = last["uri"].as_str().unwrap().rsplit('/').next().into();
    }
    Route::json(200, &body)
        .header("RateLimit-Limit", "3000")
        .header("RateLimit-Remaining", "2990")
        .header("RateLimit-Reset", &(now() + 300).to_string())
        .header("RateLimit-Policy", "3000;w=300")
}

fn sync(dir: &Path, id: i64) -> std::process::Output {
    cli(
        dir,
        &["sync", "--connection", &id.to_string(), "--wait"],
        None,
    )
}

fn sync_ok(dir: &Path, id: i64) {
    let out = sync(dir, id);
    assert!(
        out.status.success(),
        "sync failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn posts(dir: &Path, kind: Option<&str>) -> i64 {
    let filter = kind.map_or(String::new(), |k| format!(" AND kind = '{k}'"));
    query_i64(
        dir,
        &format!("SELECT COUNT(*) FROM posts WHERE platform = 'bluesky'{filter}"),
    )
}

/// A data directory with Alice and her Bluesky connection to the fake login server.
fn connected(fake: &Fake) -> (tempfile::TempDir, i64) {
    let data = tempfile::tempdir().unwrap();
    add_user(data.path(), OWNER, OWNER_PASSWORD, true);
    let id = connect(
        data.path(),
        OWNER,
        "bluesky",
        &fake.login.base,
        HANDLE,
        Some(APP_PASSWORD),
    );
    (data, id)
}

#[test]
fn backfill_incremental_expiry_and_faults() {
    let fake = Fake::start();
    fake.add_posts(1000);
    fake.add_subjects(REPOST, 30);
    fake.add_subjects(LIKE, 250);
    let (data, id) = connected(&fake);
    let dir = data.path();

    // The access token expires after the fourth page: refreshed, and the walk goes on.
    fake.state.lock().unwrap().expire_after = Some(4);
    sync_ok(dir, id);
    assert_eq!(posts(dir, None), 1000 + 30 + 250);
    assert_eq!(posts(dir, Some("like")), 250);
    assert_eq!(posts(dir, Some("repost")), 30);
    assert_eq!(posts(dir, Some("reply")), 1000 / 7);
    assert_eq!(fake.login.hits(CREATE_SESSION), 1);
    assert_eq!(fake.login.hits(REFRESH_SESSION), 1);
    let seen = fake.login.seen();
    let refused: Vec<_> = seen
        .iter()
        .filter(|s| s.path.starts_with(LIST_RECORDS) && s.status == 400)
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "one ExpiredToken, then the refreshed token"
    );
    // Posts: ten full pages and the empty one after the last cursor; reposts: one page
    // and an empty one; likes: three pages and an empty one.
    let answered = seen
        .iter()
        .filter(|s| s.path.starts_with(LIST_RECORDS) && s.status == 200)
        .count();
    assert_eq!(answered, 11 + 2 + 4);
    let first = seen
        .iter()
        .find(|s| s.path.starts_with(LIST_RECORDS))
        .unwrap();
    assert!(
        first
            .path
            .contains(&format!("repo={}", DID.replace(':', "%3A")))
            && first.path.contains("collection=app.bsky.feed.post")
            && first.path.contains("limit=100"),
        "{}",
        first.path
    );
    assert!(
        first.headers["authorization"].starts_with("Bearer eyJ0eXAiOiJhdCtqd3Qi"),
        "the session's access token"
    );
    let login = &fake.login.seen_for(CREATE_SESSION)[0];
    let body: Value = serde_json::from_slice(&login.body).unwrap();
    assert_eq!(
        body,
        json!({"identifier": HANDLE, "password": APP_PASSWORD})
    );
    assert_eq!(
        query_i64(
            dir,
            "SELECT COUNT(*) FROM ingested_items WHERE source = 'backfill'"
        ),
        10 + 1 + 3
    );

    // A post with an image: text, date, URL, and the blob downloaded from the PDS.
    let (rkey, created) = {
        let s = fake.state.lock().unwrap();
        let record = s.repo[POST].values().nth(9).unwrap().clone();
        let created = record.value["createdAt"].as_str().unwrap().to_string();
        (record.rkey, created)
    };
    let (kind, text, url, at, author): (String, String, String, i64, String) = db(dir)
        .query_row(
            &format!(
                "SELECT kind, text, url, created_at_platform, author FROM posts
                 WHERE platform_post_id = '{rkey}'"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(kind, "post");
    assert_eq!(text, "Post 10 from the fake PDS");
    assert_eq!(url, format!("https://bsky.app/profile/{DID}/post/{rkey}"));
    let parsed =
        time::OffsetDateTime::parse(&created, &time::format_description::well_known::Rfc3339)
            .unwrap();
    assert_eq!(at, parsed.unix_timestamp());
    assert_eq!(author, DID);
    let (media_url, status): (String, String) = db(dir)
        .query_row(
            &format!(
                "SELECT m.url, m.status FROM media m JOIN post_media pm ON pm.media_id = m.id
                 JOIN posts p ON p.id = pm.post_id WHERE p.platform_post_id = '{rkey}'"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        media_url,
        format!("{}{GET_BLOB}?did={DID}&cid=bafkreiimage10", fake.login.base)
    );
    assert_eq!(status, "completed");
    assert_eq!(fake.login.hits(GET_BLOB), 100);
    // A like names its post; its id is the importer's `collection/rkey`.
    let like = fake.state.lock().unwrap().repo[LIKE]
        .keys()
        .next()
        .unwrap()
        .clone();
    assert_eq!(
        query_i64(
            dir,
            &format!(
                "SELECT COUNT(*) FROM posts WHERE platform_post_id = '{LIKE}/{like}' AND kind = 'like'"
            )
        ),
        1
    );

    // THE COUNT: three new posts: listRecords of posts, then of reposts or likes (in
    // turn; the API has no "changed since" across collections), no session call,
    // exactly three new posts.
    fake.add_posts(3);
    let before = posts(dir, None);
    fake.login.clear_seen();
    sync_ok(dir, id);
    let seen = fake.login.seen();
    assert!(
        seen.len() <= 2,
        "incremental sync made {} requests: {seen:#?}",
        seen.len()
    );
    assert_eq!(fake.login.hits(LIST_RECORDS), 2);
    assert_eq!(posts(dir, None), before + 3);

    // Nothing new: two requests, nothing created.
    fake.login.clear_seen();
    sync_ok(dir, id);
    assert_eq!(fake.login.seen().len(), 2);
    assert_eq!(posts(dir, None), before + 3);

    // A new repost and like: both in within two syncs.
    fake.add_subjects(REPOST, 1);
    fake.add_subjects(LIKE, 1);
    sync_ok(dir, id);
    sync_ok(dir, id);
    assert_eq!(posts(dir, None), before + 5);

    // More than a page of new posts: the walk follows the cursor to what it had.
    fake.add_posts(150);
    fake.login.clear_seen();
    sync_ok(dir, id);
    assert_eq!(posts(dir, Some("post")) + posts(dir, Some("reply")), 1153);
    assert_eq!(fake.login.hits(LIST_RECORDS), 2 + 1);

    // A 429 with Retry-After is waited out.
    fake.add_posts(1);
    fake.fault(
        xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded").header("retry-after", "1"),
    );
    let started = Instant::now();
    sync_ok(dir, id);
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(posts(dir, None), before + 5 + 151);

    // A burst of 5xx is retried.
    fake.add_posts(1);
    for status in [500, 502, 503] {
        fake.fault(xrpc_error(
            status,
            "InternalServerError",
            "Internal Server Error",
        ));
    }
    sync_ok(dir, id);
    assert_eq!(posts(dir, None), before + 5 + 152);

    // A malformed answer: the sync fails clearly, nothing is lost, the next one works.
    fake.add_posts(1);
    fake.fault(Route::new(
        200,
        "application/json; charset=utf-8",
        "{\"records\": [{\"uri\": \"at://",
    ));
    assert!(!sync(dir, id).status.success());
    let (_, error) = status_and_error(dir, id);
    assert!(error.contains("not the expected JSON"), "{error}");
    assert_eq!(posts(dir, None), before + 5 + 152);
    sync_ok(dir, id);
    assert_eq!(posts(dir, None), before + 5 + 153);

    // Both tokens revoked: a new session from the app password, no person needed.
    {
        let mut s = fake.state.lock().unwrap();
        s.access.clear();
        s.refresh.clear();
    }
    fake.add_posts(1);
    fake.login.clear_seen();
    sync_ok(dir, id);
    assert_eq!(fake.login.hits(REFRESH_SESSION), 1);
    assert_eq!(fake.login.hits(CREATE_SESSION), 1);
    assert_eq!(posts(dir, None), before + 5 + 154);

    // The access token's `exp` passes between syncs (Bluesky's last two hours): it is
    // refreshed before the first request, so no request is refused.
    {
        let mut s = fake.state.lock().unwrap();
        s.access.clear();
        s.refresh.clear();
        s.lifetime = -10;
    }
    sync_ok(dir, id);
    fake.state.lock().unwrap().lifetime = 7200;
    fake.add_posts(1);
    fake.login.clear_seen();
    sync_ok(dir, id);
    let seen = fake.login.seen();
    assert_eq!(fake.login.hits(REFRESH_SESSION), 1, "{seen:#?}");
    assert_eq!(fake.login.hits(CREATE_SESSION), 0);
    assert_eq!(fake.login.hits(LIST_RECORDS), 2);
    assert!(seen.iter().all(|s| s.status == 200), "{seen:#?}");
    assert_eq!(posts(dir, None), before + 5 + 155);

    // The app password is revoked too: 401 AuthenticationRequired, reconnect.
    {
        let mut s = fake.state.lock().unwrap();
        s.access.clear();
        s.refresh.clear();
        s.password = "another-app-pass-word".into();
    }
    assert!(!sync(dir, id).status.success());
    let (status, error) = status_and_error(dir, id);
    assert_eq!(status, "reconnect", "{error}");
    assert!(error.contains("AuthenticationRequired"), "{error}");
}

/// The login server's DID document names another host as the account's PDS (as
/// bsky.social does for its `*.host.bsky.network` servers): records and blobs are read
/// there, sessions stay with the login server. The records are the real ones of a
/// repository export, and the synced posts have exactly the ids the CAR importer gives
/// them, so importing the export into the same connection adds no duplicate.
#[test]
fn a_repository_on_another_host_has_the_car_importers_ids() {
    const V3: &str = "bluesky/bnewbold.robocracy.org.20250310005405.car";
    const V3_DID: &str = "did:plc:nhxcyu4ewwhl5pqil4dotqjo";
    let exported = collect(&Export, &fixture(V3));
    let imported: Vec<_> = raw_posts(&Export, &exported);
    let fake = Fake::with(true, V3_DID);
    {
        let mut s = fake.state.lock().unwrap();
        for item in &exported.items {
            let payload: Value = serde_json::from_slice(&item.payload).unwrap();
            for record in payload["records"].as_array().unwrap() {
                let uri = record["uri"].as_str().unwrap();
                let mut parts = uri.trim_start_matches("at://").splitn(3, '/');
                let (_, collection, rkey) = (
                    parts.next().unwrap(),
                    parts.next().unwrap(),
                    parts.next().unwrap(),
                );
                s.repo.entry(collection.into()).or_default().insert(
                    rkey.into(),
                    Record {
                        rkey: rkey.into(),
                        cid: record["cid"].as_str().unwrap().into(),
                        value: record["value"].clone(),
                    },
                );
            }
        }
    }
    let (data, id) = connected(&fake);
    let dir = data.path();
    sync_ok(dir, id);

    let pds = fake.pds.as_ref().unwrap();
    assert_eq!(
        fake.login.hits(LIST_RECORDS),
        0,
        "records come from the PDS"
    );
    assert_eq!(
        pds.hits(CREATE_SESSION),
        0,
        "sessions stay with the login server"
    );
    assert!(pds.hits(LIST_RECORDS) >= 3);

    // The same ids as the importer's, for the same records.
    let synced: BTreeSet<String> = {
        let conn = db(dir);
        let mut statement = conn
            .prepare("SELECT platform_post_id FROM posts WHERE platform = 'bluesky'")
            .unwrap();
        statement
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let expected: BTreeSet<String> = imported
        .iter()
        .map(|raw| raw.platform_post_id.clone())
        .collect();
    assert_eq!(expected.len(), 26);
    assert_eq!(synced, expected);
    let reply = export::record_post_id(POST, "3lj2ex7vyjc2h").unwrap();
    assert!(synced.contains(&reply));

    // The raw posts are the importer's ({uri, cid, value}), with the server beside them,
    // and their blobs come from the PDS.
    let payload: String = db(dir)
        .query_row(
            &format!("SELECT payload FROM ingested_posts WHERE platform_post_id = '{reply}'"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["pds"], json!(pds.base));
    payload.as_object_mut().unwrap().remove("pds");
    let from_car = imported
        .iter()
        .find(|raw| raw.platform_post_id == reply)
        .unwrap()
        .value()
        .unwrap();
    assert_eq!(payload, from_car);
    let blobs = query_i64(
        dir,
        &format!(
            "SELECT COUNT(*) FROM media WHERE url LIKE '{}{GET_BLOB}?did={V3_DID}&cid=%' AND status = 'completed'",
            pds.base
        ),
    );
    assert!(blobs >= 3, "{blobs} blobs downloaded from the PDS");

    // Importing the export into the same connection: the same posts, nothing added.
    let before = posts(dir, None);
    let out = cli(
        dir,
        &[
            "import",
            "--user",
            OWNER,
            fixture(V3).to_str().unwrap(),
            "--connection",
            &id.to_string(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(posts(dir, None), before);
}
