//! Opening a data directory: the one place that decides whether Lifeboat may start.
//! Used by `serve` and by every CLI command, so both see the same checks.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::config::Config;
use tokio::sync::Notify;

use crate::connectors::gate::{BreakerPolicy, Gates};
use crate::db::{self, Db};
use crate::media::Downloader;
use crate::owner::Owner;
use crate::vault::Vault;

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub db: Db,
    pub vault: Arc<Vault>,
    /// One HTTP client for every connector (connection pooling, one TLS setup).
    pub http: reqwest::Client,
    pub downloader: Arc<Downloader>,
    /// Wakes the background workers when new work is queued.
    pub wake: Arc<Notify>,
    /// This process, as claimant of syncs and downloads.
    pub owner: Arc<Owner>,
    /// Each platform's quota and circuit breaker, shared by all syncs of this process.
    pub gates: Arc<Gates>,
}

pub const USER_AGENT: &str = concat!(
    "Lifeboat/",
    env!("CARGO_PKG_VERSION"),
    " (self-hosted personal archive)"
);

/// `--data`, else `$LIFEBOAT_DATA` (clap reads it), else `./lifeboat-data`.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("lifeboat-data")
}

impl App {
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn open(data_dir: &Path) -> Result<App> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
        // Fail on an unreadable or unwritable directory now, with its name, rather than
        // with a SQLite error later.
        std::fs::read_dir(data_dir)
            .with_context(|| format!("cannot read data directory {}", data_dir.display()))?;
        let probe = data_dir.join(".lifeboat-write-test");
        std::fs::write(&probe, b"")
            .with_context(|| format!("cannot write in data directory {}", data_dir.display()))?;
        let _ = std::fs::remove_file(&probe);

        let config = Config::load(data_dir)?;
        let db_path = config.database_path();
        let key_path = config.key_path();
        let database_exists = db_path.exists() && std::fs::metadata(&db_path)?.len() > 0;

        // The key is created before the database, so an existing database without a key
        // means the key was lost: creating a new one would orphan every stored token.
        if !key_path.exists() {
            if database_exists {
                bail!(
                    "key file {} is missing but the database {} exists; restore the key file \
                     from a backup (a new key could not decrypt the stored credentials)",
                    key_path.display(),
                    db_path.display()
                );
            }
            Vault::create_key(&key_path)?;
        }
        let vault = Vault::open(&key_path)?;
        let db = Db::open(&db_path)?;
        db.write_blocking(|c| Ok(db::platforms::upsert_known(c, crate::time::now())?))?;
        std::fs::create_dir_all(config.media_root()).with_context(|| {
            format!(
                "cannot create media directory {}",
                config.media_root().display()
            )
        })?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(120))
            .build()?;
        let owner = Arc::new(Owner::register(data_dir)?);
        let downloader = Downloader::new(
            config.media_root(),
            config.media_max_mb * 1024 * 1024,
            USER_AGENT,
            owner.id().to_string(),
        )?;
        let config = Arc::new(config);
        Ok(App {
            config: config.clone(),
            db,
            vault: Arc::new(vault),
            http,
            downloader: Arc::new(downloader),
            wake: Arc::new(Notify::new()),
            owner,
            gates: Arc::new(Gates::new(BreakerPolicy {
                open_for: Duration::from_secs(config.breaker_open_secs.max(1)),
                ..BreakerPolicy::default()
            })),
        })
    }
}
