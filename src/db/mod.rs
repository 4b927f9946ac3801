//! Every SQL statement lives under `db/`: plain functions taking a connection and returning
//! `Result`, one file per table group. "Not found" is `Option`; a database error is an error.
//!
//! One writer connection (behind a mutex, transactions BEGIN IMMEDIATE) and a small pool of
//! readers, all in WAL mode. The async side reaches them only through `spawn_blocking`, so
//! SQLite never blocks the executor threads.

pub mod api_keys;
pub mod connections;
pub mod emergency;
pub mod health;
pub mod imports;
pub mod media;
pub mod oauth;
pub mod platforms;
pub mod posts;
pub mod queue;
pub mod sessions;
pub mod settings;
pub mod stages;
pub mod sync_logs;
pub mod users;

use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags};

mod embedded {
    refinery::embed_migrations!("migrations");
}

const MAX_IDLE_READERS: usize = 8;
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    // First, so it is stopped before the other connections close.
    _checkpointer: Checkpointer,
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database and brings its schema up to date.
    /// A database written by a newer Lifeboat is refused, never downgraded.
    pub fn open(path: &Path) -> Result<Db> {
        let mut writer = open_connection(path)?;
        migrate(&mut writer)?;
        // The writer never checkpoints itself: copying the WAL into the main file would
        // stall every commit that crosses the threshold. A checkpointer thread does it.
        writer.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        // An import's batch goes through some twenty statements; each prepared only once.
        writer.set_prepared_statement_cache_capacity(64);
        Ok(Db {
            inner: Arc::new(Inner {
                _checkpointer: Checkpointer::start(open_connection(path)?)?,
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a reader connection, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f)).await?
    }

    /// Runs `f` on the single writer connection, off the async executor.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f)).await?
    }

    /// For code already on a blocking thread (workers, the CLI).
    pub fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.inner.readers.lock().expect("reader pool").pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.inner.path)?,
        };
        let result = f(&conn);
        let mut readers = self.inner.readers.lock().expect("reader pool");
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
        result
    }

    pub fn write_blocking<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.inner.writer.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn)
    }

    /// Checkpoints the WAL so the main file is complete; called on clean shutdown.
    pub fn close(&self) -> Result<()> {
        self.inner.readers.lock().expect("reader pool").clear();
        self.write_blocking(|c| {
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            Ok(())
        })
    }
}

/// Copies committed WAL frames into the main database file while the writer goes on (a
/// passive checkpoint waits for no one). Stopped and joined when the database is dropped,
/// so its connection is closed before the writer's, which then removes the WAL.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(conn: Connection) -> Result<Checkpointer> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::warn!("checkpoint failed: {e}");
                    }
                }
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn open_connection(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)
        .with_context(|| format!("cannot open database {}", path.display()))?;
    // A CLI command and the server share the file; wait for the other's write to finish.
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.execute_batch(
        "PRAGMA page_size = 16384;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16384;
         PRAGMA wal_autocheckpoint = 8192;",
    )
    .with_context(|| format!("{} is not a usable SQLite database", path.display()))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let runner = embedded::migrations::runner();
    let known = runner
        .get_migrations()
        .iter()
        .map(|m| m.version() as i64)
        .max()
        .unwrap_or(0);
    let has_history: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'refinery_schema_history')",
        [],
        |r| r.get(0),
    )?;
    if has_history {
        let applied: i64 = conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )?;
        if applied > known {
            bail!(
                "the database is from a newer Lifeboat (schema version {applied}, this build knows {known}); \
                 run the newer version or restore a backup"
            );
        }
    }
    runner
        .set_abort_divergent(true)
        .run(conn)
        .context("database migration failed")?;
    Ok(())
}

/// Begins the writer's transaction before the first read, so two writers never deadlock
/// upgrading a read lock.
pub fn immediate(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// The steps of SQLite's plan for `sql` (`EXPLAIN QUERY PLAN`) on a new database, for
/// tests that a query reads through the index it should.
#[cfg(test)]
pub fn query_plan(sql: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("lifeboat.db")).unwrap();
    db.read_blocking(|c| {
        let mut explain = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let mut rows = explain.raw_query();
        let mut plan = Vec::new();
        while let Some(row) = rows.next()? {
            plan.push(row.get(3)?);
        }
        Ok(plan)
    })
    .unwrap()
}

#[cfg(test)]
mod tests {
    /// The stage tables take a row per post or file: their CHECK constraints must not
    /// cost a temporary B-tree per row (see V7), and must still refuse what they did.
    #[test]
    fn stage_rows_are_checked_without_a_temporary_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::Db::open(&dir.path().join("lifeboat.db")).unwrap();
        let inserts = [
            "INSERT INTO ingested_items (user_id, connection_id, source, external_id,
                 content_type, payload, status, created_at, updated_at)
             VALUES (1, 1, ?1, 'x', 'text/plain', '', ?2, 0, 0)",
            "INSERT INTO ingested_posts (user_id, connection_id, item_id, platform_post_id,
                 payload, status, created_at, updated_at)
             VALUES (1, 1, 1, 'p', '{}', ?2, 0, 0)",
            "INSERT INTO media (user_id, connection_id, platform, url, url_sha256, status,
                 created_at, updated_at)
             VALUES (1, 1, 'feed', ?1, 'h', ?2, 0, 0)",
        ];
        db.write_blocking(|c| {
            c.execute_batch(
                "PRAGMA foreign_keys = OFF;
                 INSERT INTO users (id, name, password_hash, created_at) VALUES (1, 'a', '', 0);",
            )?;
            for sql in inserts {
                let mut explain = c.prepare(&format!("EXPLAIN {sql}"))?;
                let mut rows = explain.raw_query();
                while let Some(row) = rows.next()? {
                    let opcode: String = row.get(1)?;
                    assert_ne!(opcode, "OpenEphemeral", "{sql}");
                }
                let refused = c.execute(sql, ["import", "bogus"]).unwrap_err();
                assert!(refused.to_string().contains("CHECK"), "{sql}: {refused}");
                c.execute(sql, ["import", "pending"])?;
            }
            let refused = c.execute(
                inserts[0].replace("'x'", "'y'").as_str(),
                ["nope", "pending"],
            );
            assert!(refused.unwrap_err().to_string().contains("CHECK"));
            let check: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            assert_eq!(check, "ok");
            Ok(())
        })
        .unwrap();
    }
}
