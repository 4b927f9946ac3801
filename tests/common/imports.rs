//! For importer suites: a data directory with one user, an import run in-process, the
//! rows it made, zips built in the test, and the shared export samples.

use std::io::Write;
use std::path::{Path, PathBuf};

use lifeboat::app::App;
use lifeboat::import::{self, Options, Summary};
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

/// Writes `(relative path, bytes)` files under `root`, creating folders.
pub fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
    for (name, bytes) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
}
