//! Configuration: a data directory (`--data`, `$LIFEBOAT_DATA`, default `./lifeboat-data`),
//! a TOML file inside it, and `LIFEBOAT_*` environment overrides.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

pub const CONFIG_FILE: &str = "lifeboat.toml";
pub const DATABASE_FILE: &str = "lifeboat.db";
pub const KEY_FILE: &str = "secret.key";

const DEFAULT_CONFIG: &str = r#"# Lifeboat configuration. Every key may also be set as an environment variable
# LIFEBOAT_<KEY> (for example LIFEBOAT_LISTEN=0.0.0.0:8080), which wins over this file.

# Address the web server listens on. 127.0.0.1 keeps it on this machine; use
# 0.0.0.0:8080 for the home LAN, or keep 127.0.0.1 and use `tailscale serve`.
listen = "127.0.0.1:8080"

# Where media files are stored. Relative paths are inside the data directory.
# A mounted Dropbox / Google Drive folder works the same as a local one.
media_dir = "media"

# Largest media file Lifeboat downloads, in megabytes.
media_max_mb = 50

# The address people use to reach Lifeboat, for OAuth2 redirects (register
# {public_url}/oauth/callback with each platform). Empty: taken from each request.
public_url = ""

# How long Lifeboat waits for one platform request, and the first pause before retrying
# a failed one (doubled per try, with jitter).
request_timeout_secs = 30
retry_base_ms = 1000

# How long a platform that keeps failing is left alone (the circuit breaker; doubled each
# time it opens again, up to 30 minutes).
breaker_open_secs = 60

# The scheduler starts due backups and the nightly database backup. Turn it off only
# to run every sync by hand (`lifeboat sync`).
scheduler_enabled = true

# How often the scheduler looks for connections due for a backup, in seconds.
scheduler_tick_secs = 60

# "auto" marks cookies Secure when the request arrived over https (X-Forwarded-Proto),
# "always" or "never" force it.
secure_cookies = "auto"
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: SocketAddr,
    pub media_dir: PathBuf,
    pub media_max_mb: u64,
    pub secure_cookies: SecureCookies,
    pub public_url: String,
    pub request_timeout_secs: u64,
    pub retry_base_ms: u64,
    pub breaker_open_secs: u64,
    pub scheduler_enabled: bool,
    pub scheduler_tick_secs: u64,
    #[serde(skip)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SecureCookies {
    Auto,
    Always,
    Never,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            media_dir: PathBuf::from("media"),
            media_max_mb: 50,
            secure_cookies: SecureCookies::Auto,
            public_url: String::new(),
            request_timeout_secs: 30,
            retry_base_ms: 1000,
            breaker_open_secs: 60,
            scheduler_enabled: true,
            scheduler_tick_secs: 60,
            data_dir: PathBuf::new(),
        }
    }
}

impl Config {
    /// Loads `DATA/lifeboat.toml`, writing the commented default on first use.
    pub fn load(data_dir: &Path) -> Result<Config> {
        let path = data_dir.join(CONFIG_FILE);
        if !path.exists() {
            std::fs::write(&path, DEFAULT_CONFIG)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
        config.apply_env()?;
        config.data_dir = data_dir.to_path_buf();
        Ok(config)
    }

    fn apply_env(&mut self) -> Result<()> {
        if let Ok(listen) = std::env::var("LIFEBOAT_LISTEN") {
            self.listen = listen
                .parse()
                .with_context(|| format!("LIFEBOAT_LISTEN={listen} is not an address"))?;
        }
        if let Ok(dir) = std::env::var("LIFEBOAT_MEDIA_DIR") {
            self.media_dir = PathBuf::from(dir);
        }
        if let Ok(value) = std::env::var("LIFEBOAT_MEDIA_MAX_MB") {
            self.media_max_mb = value
                .parse()
                .with_context(|| format!("LIFEBOAT_MEDIA_MAX_MB={value} is not a number"))?;
        }
        if let Ok(value) = std::env::var("LIFEBOAT_PUBLIC_URL") {
            self.public_url = value;
        }
        for (name, field) in [
            (
                "LIFEBOAT_REQUEST_TIMEOUT_SECS",
                &mut self.request_timeout_secs,
            ),
            ("LIFEBOAT_RETRY_BASE_MS", &mut self.retry_base_ms),
            ("LIFEBOAT_BREAKER_OPEN_SECS", &mut self.breaker_open_secs),
            (
                "LIFEBOAT_SCHEDULER_TICK_SECS",
                &mut self.scheduler_tick_secs,
            ),
        ] {
            if let Ok(value) = std::env::var(name) {
                *field = value
                    .parse()
                    .with_context(|| format!("{name}={value} is not a number"))?;
            }
        }
        if let Ok(value) = std::env::var("LIFEBOAT_SCHEDULER_ENABLED") {
            self.scheduler_enabled = value
                .parse()
                .with_context(|| format!("LIFEBOAT_SCHEDULER_ENABLED={value} is not true|false"))?;
        }
        if let Ok(value) = std::env::var("LIFEBOAT_SECURE_COOKIES") {
            self.secure_cookies =
                toml::Value::String(value.clone())
                    .try_into()
                    .with_context(|| {
                        format!("LIFEBOAT_SECURE_COOKIES={value} is not auto|always|never")
                    })?;
        }
        Ok(())
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    pub fn key_path(&self) -> PathBuf {
        self.data_dir.join(KEY_FILE)
    }

    pub fn retry_policy(&self) -> crate::connectors::api::RetryPolicy {
        crate::connectors::api::RetryPolicy {
            timeout: std::time::Duration::from_secs(self.request_timeout_secs.max(1)),
            base_delay: std::time::Duration::from_millis(self.retry_base_ms),
            ..Default::default()
        }
    }

    pub fn media_root(&self) -> PathBuf {
        self.data_dir.join(&self.media_dir)
    }
}
