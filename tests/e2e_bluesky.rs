//! End to end against a real Bluesky PDS nobody here wrote: `@atproto/pds` with an
//! in-memory did:plc server (`@did-plc/server`), both on localhost (tests/e2e/pds.mjs).
//! An account posts through the PDS's own API (text, an image, a like, a repost),
//! Lifeboat connects with an app password and backs up, more is posted, Lifeboat backs up
//! again incrementally, and the archive is compared record by record with the PDS.
//!
//! Needs `tests/e2e/node_modules` (`.ci/e2e-setup`); skipped without it unless
//! LIFEBOAT_E2E_REQUIRED=1 (CI), where it fails.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{add_user, cli, cli_ok, query_i64};
use serde_json::{Value, json};

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

fn installed() -> bool {
    if e2e_dir()
        .join("node_modules/better-sqlite3/build/Release/better_sqlite3.node")
        .exists()
    {
        return true;
    }
    assert!(
        std::env::var("LIFEBOAT_E2E_REQUIRED").as_deref() != Ok("1"),
        "the end-to-end servers are not installed: run .ci/e2e-setup"
    );
    eprintln!("skipped: the end-to-end servers are not installed (run .ci/e2e-setup)");
    false
}

/// `node tests/e2e/pds.mjs PLC_PORT PDS_PORT`, stopped when dropped.
struct Pds {
    child: Child,
    url: String,
}

impl Pds {
    fn start() -> Pds {
        let (plc, pds) = (common::free_port(), common::free_port());
        let mut child = Command::new("node")
            .arg(e2e_dir().join("pds.mjs"))
            .arg(plc.to_string())
            .arg(pds.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tests/e2e/pds.mjs");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if line.contains("\"ready\"") {
                    let _ = ready_tx.send(());
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the PDS did not start");
        Pds {
            child,
            url: format!("http://localhost:{pds}"),
        }
    }
}

impl Drop for Pds {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// The archive's posts of the connection: platform post id → (kind, text).
fn archived(dir: &Path, connection: i64) -> BTreeMap<String, (String, String)> {
    let conn = rusqlite::Connection::open(dir.join("lifeboat.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT platform_post_id, kind, text FROM posts WHERE connection_id = ?1")
        .unwrap();
    stmt.query_map([connection], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Record by record: every post, like and repost on the PDS is in the archive with the
/// CAR importer's ids (rkey for posts, collection/rkey otherwise) and the same text.
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
            let (kind, text) = archive.get(&id).unwrap_or_else(|| {
                panic!("{id} is on the PDS but not in the archive: {archive:?}")
            });
            if collection == "app.bsky.feed.post" {
                assert_eq!(text, record["value"]["text"].as_str().unwrap(), "{id}");
                assert_eq!(kind, "post");
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
    let pds = Pds::start();
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
    // The image came from the PDS (getBlob), stored and verified.
    assert_eq!(
        query_i64(
            dir,
            &format!(
                "SELECT COUNT(*) FROM media WHERE connection_id = {id} AND status = 'completed'"
            )
        ),
        1
    );

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
