//! For importer suites: a data directory with one user, an import run in-process, the
//! rows it made, zips built in the test, and the shared export samples.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use lifeboat::app::App;
use lifeboat::connectors::{Codec, ItemRef, NewPost, RawPost};
use lifeboat::import::{self, Options, Summary};
use lifeboat::importers::{self, Archive, Collected, Importer, Limits};
use lifeboat::platform::Platform;
use tempfile::TempDir;

/// A sample from `../shared/fixtures/exports/` (beside the checkout, in CI too).
pub fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/exports")
        .join(relative)
}

/// A data directory with one user, opened in this process.
pub struct ImportEnv {
    pub dir: TempDir,
    pub app: App,
    pub user_id: i64,
}

impl ImportEnv {
    pub fn new() -> ImportEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = App::open(dir.path()).expect("open app");
        let user_id = app
            .db
            .write_blocking(|c| Ok(lifeboat::db::users::insert(c, "alice", "x", true, 0)?))
            .expect("user");
        ImportEnv { dir, app, user_id }
    }

    /// Imports `path` (detected, or forced to `platform`) to the end of the pipeline.
    pub fn import(&self, path: &Path, platform: Option<Platform>) -> anyhow::Result<Summary> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let id = import::create(
            &self.app,
            self.user_id,
            &name.unwrap_or_default(),
            "reading",
        )?;
        let options = Options {
            platform,
            ..Default::default()
        };
        import::run(&self.app, id, self.user_id, path, &options, &|_| {})
    }

    /// One integer from SQL (counts).
    pub fn count(&self, sql: &str) -> i64 {
        let sql = sql.to_string();
        self.app
            .db
            .read_blocking(move |c| Ok(c.query_row(&sql, [], |r| r.get(0))?))
            .expect("count query")
    }

    /// The user's posts of a platform, by platform post id.
    pub fn posts(&self, platform: &str) -> Vec<PostRow> {
        let platform = platform.to_string();
        self.app
            .db
            .read_blocking(move |c| {
                let mut stmt = c.prepare(
                    "SELECT platform_post_id, kind, author, title, text, html, url,
                            created_at_platform, engagement, reply_to, repost_of, has_media
                     FROM posts WHERE platform = ?1 ORDER BY platform_post_id",
                )?;
                let rows = stmt
                    .query_map([platform], |r| {
                        Ok(PostRow {
                            id: r.get(0)?,
                            kind: r.get(1)?,
                            author: r.get(2)?,
                            title: r.get(3)?,
                            text: r.get(4)?,
                            html: r.get(5)?,
                            url: r.get(6)?,
                            created_at: r.get(7)?,
                            engagement: r
                                .get::<_, Option<String>>(8)?
                                .map(|e| serde_json::from_str(&e).unwrap_or_default()),
                            reply_to: r.get(9)?,
                            repost_of: r.get(10)?,
                            has_media: r.get(11)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .expect("posts query")
    }

    pub fn post(&self, platform: &str, id: &str) -> PostRow {
        self.posts(platform)
            .into_iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("no {platform} post {id}"))
    }

    /// Stored media files of the user: (url, path under the media root, sha256, size).
    pub fn stored_media(&self) -> Vec<(String, String, String, i64)> {
        self.app
            .db
            .read_blocking(|c| {
                let mut stmt = c.prepare(
                    "SELECT url, path, sha256, size FROM media
                     WHERE status = 'completed' ORDER BY url",
                )?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .expect("media query")
    }

    pub fn media_root(&self) -> PathBuf {
        self.app.downloader.root().to_path_buf()
    }

    /// Checks that every stored media file is on disk with the size its row records.
    pub fn assert_stored_files_on_disk(&self) {
        for (url, path, _, size) in &self.stored_media() {
            let file = self.media_root().join(path);
            assert_eq!(
                std::fs::metadata(&file).expect("stored file").len() as i64,
                *size,
                "{url}"
            );
        }
    }

    /// Imports `path` a second time and checks that it adds no item, file or post.
    pub fn assert_import_again_adds_nothing(&self, path: &Path, platform: &str) {
        let posts = self.posts(platform).len();
        let media = self.stored_media().len();
        let again = self.import(path, None).expect("import again");
        assert_eq!(again.items_new, 0, "new items");
        assert_eq!(again.media_new, 0, "new media files");
        assert_eq!(again.posts_created, 0, "new posts");
        assert_eq!(self.posts(platform).len(), posts);
        assert_eq!(self.stored_media().len(), media);
    }
}

#[derive(Debug, Clone)]
pub struct PostRow {
    pub id: String,
    pub kind: String,
    pub author: Option<String>,
    pub title: Option<String>,
    pub text: String,
    pub html: Option<String>,
    pub url: Option<String>,
    pub created_at: Option<i64>,
    pub engagement: Option<serde_json::Value>,
    pub reply_to: Option<String>,
    pub repost_of: Option<String>,
    pub has_media: bool,
}

/// Reads an export with `importer` alone (no database), which must claim it.
pub fn collect(importer: &dyn Importer, path: &Path) -> Collected {
    let mut archive = Archive::open(path, Limits::default()).expect("open export");
    assert!(
        importer.detect(&mut archive),
        "not detected as {}: {}",
        importer.format_name(),
        path.display()
    );
    let mut out = Collected::default();
    importer.read(&mut archive, &mut out).expect("read export");
    out
}

/// Whether `importer` claims the export at `path`.
pub fn detects(importer: &dyn Importer, path: &Path) -> bool {
    let mut archive = Archive::open(path, Limits::default()).expect("open export");
    importer.detect(&mut archive)
}

/// The platform whose importer claims the export at `path` among all importers.
pub fn detected_platform(path: &Path) -> Platform {
    let mut archive = Archive::open(path, Limits::default()).expect("open export");
    importers::detect(&mut archive, None)
        .expect("detected")
        .platform()
}

/// Every raw post that `codec` splits out of the collected items, in item order.
pub fn raw_posts(codec: &dyn Codec, out: &Collected) -> Vec<RawPost> {
    out.items
        .iter()
        .flat_map(|item| {
            codec
                .split(&ItemRef {
                    content_type: &item.content_type,
                    source_url: item.source_url.as_deref(),
                    payload: &item.payload,
                })
                .expect("split")
        })
        .collect()
}

/// Every raw post of the collected items with its normalized post, by platform post id.
pub fn normalize_all(codec: &dyn Codec, out: &Collected) -> Vec<(RawPost, NewPost)> {
    let mut all: Vec<(RawPost, NewPost)> = raw_posts(codec, out)
        .into_iter()
        .map(|raw| {
            let post = codec.normalize(&raw).expect("normalize");
            (raw, post)
        })
        .collect();
    all.sort_by(|a, b| a.0.platform_post_id.cmp(&b.0.platform_post_id));
    all
}

/// The normalized posts keyed by platform post id; an id given twice fails the test.
pub fn posts_by_id(codec: &dyn Codec, out: &Collected) -> HashMap<String, NewPost> {
    let mut posts = HashMap::new();
    for (raw, post) in normalize_all(codec, out) {
        assert!(
            posts.insert(raw.platform_post_id.clone(), post).is_none(),
            "{} twice",
            raw.platform_post_id
        );
    }
    posts
}

/// The raw and normalized post with platform post id `id`.
pub fn find<'a>(all: &'a [(RawPost, NewPost)], id: &str) -> &'a (RawPost, NewPost) {
    all.iter()
        .find(|(raw, _)| raw.platform_post_id == id)
        .unwrap_or_else(|| {
            let ids: Vec<_> = all.iter().map(|(r, _)| &r.platform_post_id).collect();
            panic!("no post {id} in {ids:?}")
        })
}

/// What the importer did not import, as `what: reason` lines.
pub fn skipped_lines(out: &Collected) -> Vec<String> {
    out.skipped
        .iter()
        .map(|(what, reason)| format!("{what}: {reason}"))
        .collect()
}

/// Writes a zip of `(name, bytes)` entries, deflated.
pub fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).expect("create zip");
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(*name, options).expect("zip entry");
        zip.write_all(bytes).expect("zip write");
    }
    zip.finish().expect("zip finish");
}

/// Owned `(name, bytes)` entries as the borrowed ones `write_zip` and `write_tree` take.
pub fn as_entries(files: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    files
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect()
}

/// Writes `(relative path, bytes)` files under `root`, creating folders.
pub fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
    for (name, bytes) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
}

/// A generated Twitter/X archive zip in the 2022+ layout: `tweets` tweets in
/// `data/tweets.js` (one element per line), the first `media` of them with a photo in
/// `data/tweets_media/`, and `data/account.js`.
pub fn twitter_archive(path: &Path, tweets: usize, media: usize) {
    let file = std::fs::File::create(path).expect("create zip");
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("data/account.js", deflated).expect("entry");
    zip.write_all(
        br#"window.YTD.account.part0 = [ { "account" : { "username" : "rescuer", "accountId" : "42", "accountDisplayName" : "Rescuer" } } ]"#,
    )
    .expect("write");
    zip.start_file("data/tweets.js", deflated).expect("entry");
    zip.write_all(b"window.YTD.tweets.part0 = [\n")
        .expect("write");
    let base: u64 = 1_700_000_000_000_000_000;
    for n in 0..tweets {
        let id = base + n as u64;
        let media_json = if n < media {
            format!(
                r#", "extended_entities" : {{ "media" : [ {{ "id_str" : "{id}", "type" : "photo", "media_url_https" : "https://pbs.twimg.com/media/K{n:08}.jpg", "media_url" : "http://pbs.twimg.com/media/K{n:08}.jpg", "url" : "https://t.co/m{n}", "expanded_url" : "https://x.com/rescuer/status/{id}/photo/1", "indices" : [ "40", "63" ] }} ] }}"#
            )
        } else {
            String::new()
        };
        let tweet = format!(
            r#"{{ "tweet" : {{ "id_str" : "{id}", "id" : "{id}", "created_at" : "Fri Mar 06 13:02:05 +0000 2026", "full_text" : "Tweet number {n} about lifeboats &amp; archives https://t.co/x{n}", "favorite_count" : "{fav}", "retweet_count" : "{rt}", "lang" : "en", "retweeted" : false, "truncated" : false, "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>", "display_text_range" : [ "0", "70" ], "entities" : {{ "hashtags" : [ ], "symbols" : [ ], "user_mentions" : [ ], "urls" : [ {{ "url" : "https://t.co/x{n}", "expanded_url" : "https://example.com/page/{n}", "display_url" : "example.com/page/{n}", "indices" : [ "47", "70" ] }} ] }}{media_json} }} }}"#,
            fav = n % 97,
            rt = n % 13,
        );
        let separator: &[u8] = if n + 1 < tweets { b",\n" } else { b"\n" };
        zip.write_all(tweet.as_bytes()).expect("write");
        zip.write_all(separator).expect("write");
    }
    zip.write_all(b"]").expect("write");
    for n in 0..media {
        let id = base + n as u64;
        zip.start_file(format!("data/tweets_media/{id}-K{n:08}.jpg"), stored)
            .expect("entry");
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
        bytes.extend(
            (0..2048u32)
                .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(n as u32) >> 24) as u8),
        );
        zip.write_all(&bytes).expect("write");
    }
    zip.finish().expect("zip finish");
}
