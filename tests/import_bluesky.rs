//! The Bluesky repository (CAR) importer: the real samples (a v3 repository with
//! third-party collections, a legacy v2 repository that carries its history), CARs
//! built here (any file name, a zip, chunking, records outside the tree, a missing
//! record, odd record shapes), a truncated file, and the whole import twice.

mod common;

use std::collections::BTreeMap;

use common::imports::*;
use ipld_core::cid::Cid;
use ipld_core::cid::multihash::Multihash;
use ipld_core::ipld::Ipld;
use lifeboat::importers::bluesky::{self, Bluesky};
use lifeboat::importers::{Archive, Collected, Importer, Limits};
use lifeboat::platform::Platform;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const V3: &str = "bluesky/bnewbold.robocracy.org.20250310005405.car";
const V3_DID: &str = "did:plc:nhxcyu4ewwhl5pqil4dotqjo";
const LEGACY: &str = "bluesky/paul_staging.repo.car";
const LEGACY_DID: &str = "did:plc:cmpvykrzb2l22kj4ojlv3ox4";

/// Every record of the raw items, in order.
fn records(out: &Collected) -> Vec<Value> {
    out.items
        .iter()
        .flat_map(|item| {
            assert_eq!(item.content_type, bluesky::RECORDS);
            let payload: Value = serde_json::from_slice(&item.payload).expect("JSON item");
            payload["records"].as_array().expect("records").clone()
        })
        .collect()
}

fn collections(records: &[Value]) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for record in records {
        let uri = record["uri"].as_str().expect("uri");
        let collection = uri.split('/').nth(3).expect("collection");
        *by.entry(collection.to_string()).or_default() += 1;
    }
    by
}

#[test]
fn legacy_repository_walks_only_the_live_tree() {
    let out = collect(&Bluesky, &fixture(LEGACY));
    let records = records(&out);
    // 458 blocks, 28 of them commits: only the 185 records of the current tree count.
    assert_eq!(records.len(), 185);
    let by = collections(&records);
    assert_eq!(by.get("app.bsky.feed.post"), Some(&101));
    assert_eq!(by.get("app.bsky.feed.like"), Some(&60));
    assert_eq!(by.get("app.bsky.feed.repost"), Some(&15));
    assert!(
        !by.contains_key("app.bsky.feed.vote") && !by.contains_key("app.bsky.system.declaration"),
        "records outside the current tree: {by:?}"
    );
    // A v2 commit has no rev.
    let first: Value = serde_json::from_slice(&out.items[0].payload).unwrap();
    assert_eq!(first["did"], LEGACY_DID);
    assert_eq!(first["version"], 2);
    assert!(first["rev"].is_null());

    let posts = posts_by_id(&Bluesky, &out);
    assert_eq!(posts.len(), 176);

    // The legacy blob form ({"cid", "mimeType"}) still gives the file.
    let image = &posts["3jm4xzimgqs2i"];
    assert_eq!(image.text, "");
    assert_eq!(
        image.media[0].url,
        format!(
            "https://bsky.social/xrpc/com.atproto.sync.getBlob?did={LEGACY_DID}&cid=bafkreiau4zro6glimh6bcqo2srlpsaq4pyyol7uklvgxqoonreztzewmmu"
        )
    );
    assert_eq!(image.media[0].kind.as_deref(), Some("image"));

    // `entities` instead of facets.
    let links = &posts["3jqrdogvhes2s"].engagement.as_ref().unwrap()["links"];
    assert_eq!(
        links,
        &json!([
            {"url": "https://atproto.com"},
            {"url": "https://example.com"},
            {"url": "https://pfrazee.com"}
        ])
    );
    let mention = &posts["3jqw6wwrh2s2f"].engagement.as_ref().unwrap()["mentions"];
    assert_eq!(
        mention,
        &json!([{"did": "did:plc:52h2g25cka2totzv3ooc364t"}])
    );

    // recordWithMedia: the quoted post and the image.
    let quote = &posts["3jsavf5f6ss2k"];
    assert_eq!(
        quote.engagement.as_ref().unwrap()["quote"]["uri"],
        "at://did:plc:wqzurwm3kmaig6e6hnc2gqwo/app.bsky.feed.post/3js42zzaies2f"
    );
    assert_eq!(quote.media.len(), 1);
    assert_eq!(quote.created_at, Some(1680289289));
}

#[test]
fn v3_repository_posts_likes_reposts_and_other_collections() {
    let out = collect(&Bluesky, &fixture(V3));
    let records = records(&out);
    assert_eq!(records.len(), 38);
    let by = collections(&records);
    // Third-party and schema records are kept raw, rkeys such as `self` and NSIDs too.
    for kept in [
        "blue.linkat.board",
        "net.bnewbold.demo.mushroom",
        "com.atproto.lexicon.schema",
        "app.bsky.actor.profile",
        "app.bsky.graph.follow",
    ] {
        assert!(by.contains_key(kept), "{kept} missing: {by:?}");
    }
    assert!(records.iter().any(|r| r["uri"]
        == format!("at://{V3_DID}/app.bsky.actor.profile/self")
        && r["value"]["$type"] == "app.bsky.actor.profile"));
    assert!(records.iter().any(|r| {
        r["uri"]
            .as_str()
            .unwrap()
            .starts_with(&format!("at://{V3_DID}/com.atproto.lexicon.schema/"))
    }));
    // CIDs as strings, links in the atproto JSON form.
    for record in &records {
        assert!(record["cid"].as_str().unwrap().starts_with("bafyrei"));
    }
    let profile = records
        .iter()
        .find(|r| {
            r["uri"]
                .as_str()
                .unwrap()
                .ends_with("/app.bsky.actor.profile/self")
        })
        .unwrap();
    if let Some(avatar) = profile["value"].get("avatar") {
        assert!(avatar["ref"]["$link"].is_string(), "{avatar}");
    }
    assert!(
        out.skipped
            .iter()
            .any(|(what, _)| what.contains("blue.linkat.board (1)"))
    );

    let posts = posts_by_id(&Bluesky, &out);
    assert_eq!(posts.len(), 23 + 2 + 1, "only posts, likes and reposts");
    assert!(!posts.contains_key("self"));

    let post = &posts["3ljlyqislak2l"];
    assert_eq!(post.kind, "post");
    assert_eq!(post.text, "hello from atproto golang oauth client");
    assert_eq!(post.author.as_deref(), Some(V3_DID));
    assert_eq!(
        post.url.as_deref(),
        Some("https://bsky.app/profile/did:plc:nhxcyu4ewwhl5pqil4dotqjo/post/3ljlyqislak2l")
    );
    assert_eq!(post.created_at, Some(1741143988));

    // A reply whose shortened link label is expanded, with an image, its alt text and
    // aspect ratio.
    let reply = &posts["3lj2ex7vyjc2h"];
    assert_eq!(reply.kind, "reply");
    assert_eq!(
        reply.text,
        "https://github.com/bluesky-social/indigo/blob/main/atproto/identity/base_directory.go#L44"
    );
    assert!(reply.reply_to.as_deref().unwrap().starts_with("at://"));
    let engagement = reply.engagement.as_ref().unwrap();
    assert_eq!(engagement["links"][0]["text"], "github.com/bluesky-soci...");
    assert_eq!(
        engagement["images"][0]["alt"],
        "spray bottle \"no\" meme image"
    );
    assert_eq!(
        engagement["images"][0]["aspect_ratio"],
        json!({"height": 800, "width": 800})
    );
    assert_eq!(reply.media.len(), 1);

    // Facets give mentions; an embedded record is a quote.
    let quote = &posts["3ktbn5b7zkc26"];
    let engagement = quote.engagement.as_ref().unwrap();
    assert_eq!(engagement["mentions"][0]["text"], "@bnewbold.net");
    assert_eq!(
        engagement["quote"]["uri"],
        format!("at://{V3_DID}/app.bsky.feed.post/3kly7jzzyuk2v")
    );

    let like = &posts["app.bsky.feed.like/3l5dlnelztk23"];
    assert_eq!(like.kind, "like");
    assert_eq!(
        like.text,
        "at://did:plc:jrnbnu5g6hel7jvjoogvov6h/app.bsky.feed.post/3l5dlm3ii6k23"
    );
    assert_eq!(
        like.url.as_deref(),
        Some("https://bsky.app/profile/did:plc:jrnbnu5g6hel7jvjoogvov6h/post/3l5dlm3ii6k23")
    );
    let repost = &posts["app.bsky.feed.repost/3klyeqyfh3k26"];
    assert_eq!(repost.kind, "repost");
    assert_eq!(
        repost.repost_of.as_deref(),
        Some("at://did:plc:xgs3qrwos3dwxmixoflcxrhu/app.bsky.feed.post/3kly6ksx2kk27")
    );
}

#[test]
fn other_samples_and_stable_ids() {
    let valid = collect(&Bluesky, &fixture("bluesky/valid_repo.car"));
    assert_eq!(records(&valid).len(), 6);
    let posts = posts_by_id(&Bluesky, &valid);
    assert_eq!(posts.len(), 4);
    assert_eq!(posts["3lhmydhdj6s23"].kind, "reply");

    // Only follows: raw records, no posts.
    let green = collect(&Bluesky, &fixture("bluesky/greenground.repo.car"));
    assert_eq!(records(&green).len(), 2);
    assert!(raw_posts(&Bluesky, &green).is_empty());

    let ids =
        |out: Collected| -> Vec<String> { out.items.into_iter().map(|i| i.external_id).collect() };
    assert_eq!(
        ids(collect(&Bluesky, &fixture(V3))),
        ids(collect(&Bluesky, &fixture(V3)))
    );
}

#[test]
fn any_file_name_a_zip_and_not_a_car() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("bluesky/valid_repo.car")).unwrap();
    for name in [
        "did:plc:r7fdhqmw3h2cifeakw5hmvy6.getRepo",
        "export",
        "repo.car",
    ] {
        let path = dir.path().join(name.replace(':', "_"));
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(detected_platform(&path), Platform::Bluesky, "{name}");
    }
    let zip = dir.path().join("bluesky.zip");
    write_zip(
        &zip,
        &[("backup/repo.car", &bytes), ("README.txt", b"my repo")],
    );
    assert_eq!(records(&collect(&Bluesky, &zip)).len(), 6);

    // JSON, text and a CAR that is not version 1 are not claimed.
    for (name, content) in [
        ("posts.json", &b"{\"records\": []}"[..]),
        ("notes.car", b"hello"),
        ("empty.car", b""),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        assert!(!detects(&Bluesky, &path), "{name} claimed");
    }
}

#[test]
fn truncated_car_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture(V3)).unwrap();
    let path = dir.path().join("repo.car");
    std::fs::write(&path, &bytes[..bytes.len() - 700]).unwrap();
    let mut archive = Archive::open(&path, Limits::default()).unwrap();
    assert!(Bluesky.detect(&mut archive), "the header is still there");
    let err = Bluesky
        .read(&mut archive, &mut Collected::default())
        .expect_err("a truncated CAR must fail");
    let message = format!("{err:#}");
    assert!(message.contains("truncated"), "{message}");
    assert!(
        message.contains("download the repository export again"),
        "{message}"
    );

    // Through the whole import too.
    let env = ImportEnv::new();
    let err = env.import(&path, None).expect_err("import fails");
    assert!(format!("{err:#}").contains("truncated"), "{err:#}");

    // A damaged block is caught by its hash.
    let mut damaged = bytes.clone();
    let at = damaged.len() - 20;
    damaged[at] ^= 0xff;
    std::fs::write(&path, &damaged).unwrap();
    let mut archive = Archive::open(&path, Limits::default()).unwrap();
    let err = Bluesky
        .read(&mut archive, &mut Collected::default())
        .expect_err("a damaged block must fail");
    assert!(
        format!("{err:#}").contains("does not match its hash"),
        "{err:#}"
    );
}

// ---------------------------------------------------------------------------------------
// CARs built here

/// JSON with `{"$link": cid}` for links, as DAG-CBOR.
fn ipld(value: &Value) -> Ipld {
    match value {
        Value::Null => Ipld::Null,
        Value::Bool(b) => Ipld::Bool(*b),
        Value::Number(n) => Ipld::Integer(n.as_i64().unwrap().into()),
        Value::String(s) => Ipld::String(s.clone()),
        Value::Array(list) => Ipld::List(list.iter().map(ipld).collect()),
        Value::Object(map) => {
            if let Some(Value::String(link)) = map.get("$link") {
                return Ipld::Link(link.parse().unwrap());
            }
            Ipld::Map(map.iter().map(|(k, v)| (k.clone(), ipld(v))).collect())
        }
    }
}

fn block(value: &Ipld) -> (Cid, Vec<u8>) {
    let bytes = serde_ipld_dagcbor::to_vec(value).unwrap();
    let digest = Sha256::digest(&bytes);
    let cid = Cid::new_v1(0x71, Multihash::<64>::wrap(0x12, &digest).unwrap());
    (cid, bytes)
}

fn varint(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A CAR of `blocks` whose root is the first block.
fn car(blocks: &[(Cid, Vec<u8>)]) -> Vec<u8> {
    let header = serde_ipld_dagcbor::to_vec(&Ipld::Map(
        [
            (
                "roots".to_string(),
                Ipld::List(vec![Ipld::Link(blocks[0].0)]),
            ),
            ("version".to_string(), Ipld::Integer(1)),
        ]
        .into_iter()
        .collect(),
    ))
    .unwrap();
    let mut out = Vec::new();
    varint(header.len(), &mut out);
    out.extend_from_slice(&header);
    for (cid, bytes) in blocks {
        let cid_bytes = cid.to_bytes();
        varint(cid_bytes.len() + bytes.len(), &mut out);
        out.extend_from_slice(&cid_bytes);
        out.extend_from_slice(bytes);
    }
    out
}

const DID: &str = "did:plc:testtesttesttesttesttest";

/// A repository of `records` (key, record), all in one MST node (prefix-compressed
/// keys), plus `extra` blocks outside the tree; `omit` leaves records' blocks out.
fn repository(records: &[(String, Value)], extra: &[Value], omit: usize) -> Vec<u8> {
    let mut record_blocks: Vec<(Cid, Vec<u8>)> =
        records.iter().map(|(_, r)| block(&ipld(r))).collect();
    let mut entries = Vec::new();
    let mut previous = String::new();
    for ((key, _), (cid, _)) in records.iter().zip(&record_blocks) {
        let shared = key
            .bytes()
            .zip(previous.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        entries.push(Ipld::Map(
            [
                ("p".to_string(), Ipld::Integer(shared as i128)),
                (
                    "k".to_string(),
                    Ipld::Bytes(key.as_bytes()[shared..].to_vec()),
                ),
                ("v".to_string(), Ipld::Link(*cid)),
                ("t".to_string(), Ipld::Null),
            ]
            .into_iter()
            .collect(),
        ));
        previous = key.clone();
    }
    let node = block(&Ipld::Map(
        [
            ("l".to_string(), Ipld::Null),
            ("e".to_string(), Ipld::List(entries)),
        ]
        .into_iter()
        .collect(),
    ));
    let commit = block(&ipld(&json!({
        "did": DID,
        "version": 3,
        "data": {"$link": node.0.to_string()},
        "rev": "3lhmydhwizp2d",
        "prev": null,
    })));
    let mut blocks = vec![commit, node];
    record_blocks.truncate(record_blocks.len() - omit);
    blocks.extend(record_blocks);
    blocks.extend(extra.iter().map(|v| block(&ipld(v))));
    car(&blocks)
}

fn post(text: &str, created_at: &str) -> Value {
    json!({"$type": "app.bsky.feed.post", "text": text, "createdAt": created_at})
}

#[test]
fn records_in_chunks_and_only_from_the_tree() {
    let mut tree: Vec<(String, Value)> = (0..1200)
        .map(|i| {
            (
                format!("app.bsky.feed.post/3k{i:011}"),
                post(&format!("post {i}"), "2024-01-02T03:04:05.678Z"),
            )
        })
        .collect();
    // A post with an offset date, facets without $type, a video and a legacy mention.
    let text = "Grüße @alice.test see example.org/a/b/c/... #rust";
    let mention = text.find("@alice").unwrap();
    let link = text.find("example").unwrap();
    let tag = text.find("#rust").unwrap();
    tree.push((
        "app.bsky.feed.post/3zzzzzzzzzzzz".into(),
        json!({
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": "2023-04-12T11:04:05.123-07:00",
            "langs": ["de"],
            "facets": [
                {"index": {"byteStart": mention, "byteEnd": mention + "@alice.test".len()},
                 "features": [{"did": "did:plc:alice"}]},
                {"index": {"byteStart": link, "byteEnd": link + "example.org/a/b/c/...".len()},
                 "features": [{"uri": "https://example.org/a/b/c/d/e"}]},
                {"index": {"byteStart": tag, "byteEnd": tag + "#rust".len()},
                 "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "rust"}]}
            ],
            "embed": {"$type": "app.bsky.embed.video",
                      "video": {"$type": "blob", "ref": {"$link": "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"},
                                "mimeType": "video/mp4", "size": 1000},
                      "alt": "a cat", "aspectRatio": {"width": 16, "height": 9}},
            "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "nsfw"}]},
            "reply": {"root": {"uri": "at://did:plc:bob/app.bsky.feed.post/1", "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},
                      "parent": {"uri": "at://did:plc:bob/app.bsky.feed.post/2", "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}}
        }),
    ));
    tree.sort_by(|a, b| a.0.cmp(&b.0));
    // History: a record that is not in the tree any more.
    let deleted = post("deleted long ago", "2022-01-01T00:00:00Z");
    let bytes = repository(&tree, &[deleted], 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.car");
    std::fs::write(&path, &bytes).unwrap();

    let out = collect(&Bluesky, &path);
    assert_eq!(out.items.len(), 3, "1201 records in chunks of 500");
    let all = records(&out);
    assert_eq!(all.len(), 1201);
    assert!(all.iter().all(|r| r["value"]["text"] != "deleted long ago"));
    let posts = posts_by_id(&Bluesky, &out);
    assert_eq!(posts.len(), 1201);
    assert_eq!(posts["3k00000000007"].text, "post 7");
    assert_eq!(posts["3k00000000007"].created_at, Some(1704164645));

    let odd = &posts["3zzzzzzzzzzzz"];
    assert_eq!(odd.kind, "reply");
    assert_eq!(
        odd.reply_to.as_deref(),
        Some("at://did:plc:bob/app.bsky.feed.post/2")
    );
    assert_eq!(odd.created_at, Some(1681322645));
    assert_eq!(
        odd.text,
        "Grüße @alice.test see https://example.org/a/b/c/d/e #rust"
    );
    let engagement = odd.engagement.as_ref().unwrap();
    assert_eq!(
        engagement["mentions"][0],
        json!({"did": "did:plc:alice", "text": "@alice.test"})
    );
    assert_eq!(engagement["tags"], json!(["rust"]));
    assert_eq!(engagement["labels"], json!(["nsfw"]));
    assert_eq!(engagement["langs"], json!(["de"]));
    assert_eq!(engagement["images"][0]["alt"], "a cat");
    assert_eq!(odd.media[0].kind.as_deref(), Some("video"));
    assert_eq!(
        odd.media[0].url,
        format!(
            "https://bsky.social/xrpc/com.atproto.sync.getBlob?did={DID}&cid=bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"
        )
    );

    // The same record bytes under two keys (one block): both are records.
    let like = json!({"$type": "app.bsky.feed.like", "createdAt": "2024-01-02T03:04:05Z",
        "subject": {"uri": "at://did:plc:bob/app.bsky.feed.post/1", "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}});
    let twice = dir.path().join("twice.car");
    std::fs::write(
        &twice,
        repository(
            &[
                ("app.bsky.feed.like/3aaaaaaaaaaaa".into(), like.clone()),
                ("app.bsky.feed.like/3bbbbbbbbbbbb".into(), like),
            ],
            &[],
            0,
        ),
    )
    .unwrap();
    let posts = posts_by_id(&Bluesky, &collect(&Bluesky, &twice));
    assert!(posts.contains_key("app.bsky.feed.like/3aaaaaaaaaaaa"));
    assert!(posts.contains_key("app.bsky.feed.like/3bbbbbbbbbbbb"));

    // A record the tree names but the file lacks is reported, the rest imports.
    let partial = dir.path().join("partial.car");
    std::fs::write(&partial, repository(&tree[..3], &[], 1)).unwrap();
    let out = collect(&Bluesky, &partial);
    assert_eq!(records(&out).len(), 2);
    assert!(
        out.skipped
            .iter()
            .any(|(what, why)| what.starts_with("1 records")
                && why.contains("does not contain them")),
        "{:?}",
        out.skipped
    );
}

#[test]
fn import_end_to_end_twice() {
    let env = ImportEnv::new();
    let path = fixture(V3);
    let summary = env.import(&path, None).expect("import");
    assert_eq!(summary.platform, Platform::Bluesky);
    assert_eq!(summary.format, "Bluesky repository (CAR)");
    assert_eq!(summary.failed_items, 0);
    assert!(summary.items_new > 0);
    let posts = env.posts("bluesky");
    assert_eq!(posts.len(), 26);
    let reply = env.post("bluesky", "3lj2ex7vyjc2h");
    assert_eq!(reply.kind, "reply");
    assert!(reply.has_media);
    assert!(
        reply
            .text
            .starts_with("https://github.com/bluesky-social/indigo")
    );
    let like = env.post("bluesky", "app.bsky.feed.like/3l5dlnelztk23");
    assert_eq!(like.kind, "like");
    // Blobs are not in the CAR: nothing is stored from the file itself.
    assert!(env.stored_media().is_empty());
    let queued = env.count(
        "SELECT COUNT(*) FROM media WHERE url LIKE 'https://bsky.social/xrpc/com.atproto.sync.getBlob?%'",
    );
    assert!(queued >= 3, "{queued} blob downloads queued");

    env.assert_import_again_adds_nothing(&path, "bluesky");

    // The legacy repository into the same archive: its posts are added.
    env.import(&fixture(LEGACY), Some(Platform::Bluesky))
        .expect("legacy import");
    assert_eq!(env.posts("bluesky").len(), 26 + 176);
}
