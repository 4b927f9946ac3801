//! The media store and its downloader.
//!
//! Files are streamed to a temporary name while their sha256 is computed, fsynced, then
//! renamed to `{user_id}/{platform}/{sha256(url)}.{ext}` under the media root (a local
//! folder, or a mounted Dropbox/Drive folder). URLs found inside fetched content are
//! untrusted: they may not reach loopback, private or link-local addresses, or use a
//! scheme other than http(s), unless they are on the host the person configured.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use url::Url;

use crate::db::media::{ClaimedMedia, StoredFile};
use crate::db::queue::{self, Stage};
use crate::db::sync_logs::Counts;
use crate::db::{self, Db};

const CONCURRENT_DOWNLOADS: usize = 4;
const DOWNLOADS_PER_HOST: usize = 2;
const BATCH: usize = 32;

pub struct Downloader {
    root: PathBuf,
    max_bytes: u64,
    /// For the host the person configured (may be on the LAN or this machine).
    trusted: reqwest::Client,
    /// For everything else: refuses private addresses, also after DNS and redirects.
    guarded: reqwest::Client,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// This process's id: downloads it claims carry it (see src/owner.rs).
    owner: String,
}

/// Why a download did not happen.
#[derive(Debug)]
enum Failure {
    /// Never going to work (private address, wrong type, too large): no retries.
    Refused(String),
    /// Might work later.
    Retry(String),
}

impl Downloader {
    pub fn new(
        root: PathBuf,
        max_bytes: u64,
        user_agent: &str,
        owner: String,
    ) -> Result<Downloader> {
        let base = || {
            reqwest::Client::builder()
                .user_agent(user_agent)
                .connect_timeout(Duration::from_secs(15))
                .read_timeout(Duration::from_secs(60))
        };
        let guarded = base()
            .dns_resolver(Arc::new(PublicOnlyResolver))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("too many redirects")
                } else if let Err(reason) = check_url_literal(attempt.url()) {
                    attempt.error(reason)
                } else {
                    attempt.follow()
                }
            }))
            .build()?;
        Ok(Downloader {
            root,
            max_bytes,
            trusted: base().build()?,
            guarded,
            hosts: Mutex::new(HashMap::new()),
            owner,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Downloads one batch of due files. Returns how many were tried.
    pub async fn run_once(&self, db: &Db, now: i64) -> Result<usize> {
        let claimed = db
            .write({
                let owner = self.owner.clone();
                move |c| {
                    let tx = db::immediate(c)?;
                    let claimed = db::media::claim(&tx, &owner, BATCH, now)?;
                    tx.commit()?;
                    Ok(claimed)
                }
            })
            .await?;
        let count = claimed.len();
        let limit = Arc::new(Semaphore::new(CONCURRENT_DOWNLOADS));
        let tasks = claimed.into_iter().map(|m| {
            let limit = limit.clone();
            async move {
                let _permit = limit.acquire().await;
                let host = self.host_slot(&m.url);
                let _host_permit = host.acquire().await;
                let result = self.download(&m).await;
                (m, result)
            }
        });
        let results = futures_util::future::join_all(tasks).await;
        db.write(move |c| {
            let tx = db::immediate(c)?;
            for (m, result) in &results {
                let mut counts = Counts::default();
                match result {
                    Ok(file) => {
                        let stored = StoredFile {
                            path: &file.path,
                            content_type: &file.content_type,
                            size: file.size,
                            sha256: &file.sha256,
                        };
                        db::media::complete(&tx, m.id, &stored, now)?;
                        counts.media_downloaded = 1;
                    }
                    Err(Failure::Refused(reason)) => {
                        tracing::warn!(media = m.id, %reason, "download refused");
                        db::media::refuse(&tx, m.id, &format!("refused: {reason}"), now)?;
                        counts.media_failed = 1;
                    }
                    Err(Failure::Retry(reason)) => {
                        tracing::info!(media = m.id, %reason, "download failed; will retry");
                        queue::fail(&tx, Stage::Media, m.id, reason, now)?;
                        counts.media_failed = 1;
                    }
                }
                if let Some(log) = m.sync_log_id {
                    db::sync_logs::add(&tx, log, &counts)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
        Ok(count)
    }

    fn host_slot(&self, url: &str) -> Arc<Semaphore> {
        let host = Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let mut hosts = self.hosts.lock().expect("host slots");
        hosts
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(DOWNLOADS_PER_HOST)))
            .clone()
    }

    async fn download(&self, m: &ClaimedMedia) -> Result<DownloadedFile, Failure> {
        let url = Url::parse(&m.url).map_err(|e| Failure::Refused(format!("not a URL: {e}")))?;
        if url.scheme() == "archive" {
            // A file an export referred to but did not contain: nowhere to fetch it from.
            return Err(Failure::Refused(
                "the export did not contain this file".into(),
            ));
        }
        let trusted = m
            .connection_url
            .as_deref()
            .and_then(|c| Url::parse(c).ok())
            .is_some_and(|configured| same_host(&configured, &url));
        let client = if trusted {
            &self.trusted
        } else {
            check_url_literal(&url).map_err(Failure::Refused)?;
            check_resolves_public(&url).await?;
            &self.guarded
        };
        let response = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let status = response.status();
        if !status.is_success() {
            let reason = format!("HTTP {status}");
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                Failure::Retry(reason)
            } else {
                Failure::Refused(reason)
            });
        }
        if let Some(length) = response.content_length()
            && length > self.max_bytes
        {
            return Err(Failure::Refused(format!(
                "{length} bytes is over the {} byte limit",
                self.max_bytes
            )));
        }
        let content_type = media_type(response.headers().get("content-type"), &url)
            .ok_or_else(|| Failure::Refused("not an image, video or audio file".into()))?;
        self.store(m, &content_type, response).await
    }

    async fn store(
        &self,
        m: &ClaimedMedia,
        content_type: &str,
        response: reqwest::Response,
    ) -> Result<DownloadedFile, Failure> {
        let ext = extension_for(content_type);
        let relative = format!("{}/{}/{}.{ext}", m.user_id, m.platform, m.url_sha256);
        let tmp_dir = self.root.join(".tmp");
        let io = |e: std::io::Error| Failure::Retry(format!("cannot write the file: {e}"));
        tokio::fs::create_dir_all(&tmp_dir).await.map_err(io)?;
        // Named per process: two processes never write the same temporary file.
        let tmp_path = tmp_dir.join(format!("{}.{}.{}.part", m.url_sha256, m.id, self.owner));
        let mut writer = TempFile::create(&tmp_path).map_err(io)?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Failure::Retry(format!("download cut off: {e}")))?;
            size += chunk.len() as u64;
            if size > self.max_bytes {
                return Err(Failure::Refused(format!(
                    "larger than the {} byte limit",
                    self.max_bytes
                )));
            }
            hasher.update(&chunk);
            writer.write_all(&chunk).map_err(io)?;
        }
        let target = self.root.join(&relative);
        writer.persist(&target).map_err(io)?;
        Ok(DownloadedFile {
            path: relative,
            content_type: content_type.to_string(),
            size: size as i64,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

pub struct DownloadedFile {
    pub path: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

impl Downloader {
    /// Copies a file that came inside an export into the store, under the same name a
    /// download of `url` would get. Blocking (call from an import thread). The file is
    /// not durable yet: the caller passes a batch of them to `make_durable` before it
    /// records them, which costs one flush per batch instead of two fsyncs per file.
    pub fn store_local(
        &self,
        user_id: i64,
        platform: &str,
        url: &str,
        file_name: &str,
        reader: &mut dyn std::io::Read,
    ) -> Result<DownloadedFile> {
        let url_hash = db::media::url_sha256(url);
        let tmp_dir = self.root.join(".tmp");
        std::fs::create_dir_all(&tmp_dir)
            .with_context(|| format!("cannot write under {}", self.root.display()))?;
        let tmp_path = tmp_dir.join(format!("{url_hash}.import.{}.part", self.owner));
        let mut writer = TempFile::create(&tmp_path)
            .with_context(|| format!("cannot write {}", tmp_path.display()))?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut sniffed = None;
        // One buffer per thread: an export holds thousands of small files, and a fresh
        // zeroed buffer for each costs more than copying them.
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 256 << 10]);
        }
        BUFFER.with_borrow_mut(|buf| -> Result<()> {
            loop {
                let n = reader
                    .read(buf)
                    .with_context(|| format!("cannot read {file_name} from the export"))?;
                if n == 0 {
                    return Ok(());
                }
                if size == 0 {
                    sniffed = infer::get(&buf[..n]).map(|t| t.mime_type());
                }
                size += n as u64;
                hasher.update(&buf[..n]);
                writer
                    .write_all(&buf[..n])
                    .with_context(|| format!("cannot write {file_name} into the media store"))?;
            }
        })?;
        // The name says what a file is; exports with extension-less names (Instagram)
        // are typed by their first bytes instead.
        let named = mime_guess::from_path(file_name)
            .first()
            .map(|m| m.to_string());
        let content_type = named
            .or(sniffed.map(str::to_string))
            .unwrap_or_else(|| "application/octet-stream".into());
        let ext = std::path::Path::new(file_name)
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| extension_for(&content_type));
        let relative = format!("{user_id}/{platform}/{url_hash}.{ext}");
        writer
            .rename_into(&self.root.join(&relative))
            .with_context(|| format!("cannot write {file_name} into the media store"))?;
        Ok(DownloadedFile {
            path: relative,
            content_type,
            size: size as i64,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// A file being written: removed if dropped before `persist`, so a failed or cut-off
/// download leaves nothing half-written under a real name.
pub struct TempFile {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl TempFile {
    pub fn create(path: &Path) -> std::io::Result<TempFile> {
        let file = std::fs::File::create(path)?;
        Ok(TempFile {
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file
            .as_mut()
            .expect("open until persisted")
            .write_all(bytes)
    }

    /// fsync, rename into place, fsync the directory: after this returns the file
    /// survives a power cut.
    pub fn persist(mut self, target: &Path) -> std::io::Result<()> {
        let file = self.file.take().expect("open until persisted");
        file.sync_all()?;
        drop(file);
        let dir = target.parent().expect("media paths have a parent");
        std::fs::create_dir_all(dir)?;
        std::fs::rename(&self.path, target)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}

impl TempFile {
    /// Renames into place without fsync; see `Downloader::make_durable`.
    pub fn rename_into(mut self, target: &Path) -> std::io::Result<()> {
        drop(self.file.take().expect("open until persisted"));
        let dir = target.parent().expect("media paths have a parent");
        std::fs::create_dir_all(dir)?;
        std::fs::rename(&self.path, target)
    }
}

impl Downloader {
    /// Makes files written by `store_local` (paths relative to the media root) and their
    /// renames survive a power cut. On Linux one `syncfs` flushes the whole batch; other
    /// systems fsync each file and folder.
    pub fn make_durable(&self, paths: &[&str]) -> std::io::Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let root = std::fs::File::open(&self.root)?;
            // SAFETY: syncfs only reads the descriptor, which `root` keeps open.
            if unsafe { libc::syncfs(root.as_raw_fd()) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let mut dirs = std::collections::BTreeSet::new();
            for path in paths {
                let full = self.root.join(path);
                std::fs::File::open(&full)?.sync_all()?;
                if let Some(dir) = full.parent() {
                    dirs.insert(dir.to_path_buf());
                }
            }
            for dir in dirs {
                std::fs::File::open(dir)?.sync_all()?;
            }
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn classify(e: &reqwest::Error) -> Failure {
    let text = format!("{e:#}");
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if err.to_string().contains(REFUSED_PRIVATE) {
            return Failure::Refused(REFUSED_PRIVATE.into());
        }
        source = err.source();
    }
    Failure::Retry(text)
}

/// The stored type of a file: the server's Content-Type, or a guess from the URL when the
/// server does not say. Only images, video and audio are kept.
fn media_type(header: Option<&reqwest::header::HeaderValue>, url: &Url) -> Option<String> {
    let declared = header
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|t| !t.is_empty() && t != "application/octet-stream" && t != "binary/octet-stream");
    let kind = declared.or_else(|| {
        mime_guess::from_path(url.path())
            .first()
            .map(|m| m.to_string())
    })?;
    ["image/", "video/", "audio/"]
        .iter()
        .any(|p| kind.starts_with(p))
        .then_some(kind)
}

fn extension_for(content_type: &str) -> String {
    let preferred = match content_type {
        "image/jpeg" => Some("jpg"),
        "image/svg+xml" => Some("svg"),
        "audio/mpeg" => Some("mp3"),
        "video/quicktime" => Some("mov"),
        _ => None,
    };
    preferred
        .map(str::to_owned)
        .or_else(|| {
            mime_guess::get_mime_extensions_str(content_type)
                .and_then(|e| e.first())
                .map(|e| (*e).to_owned())
        })
        .unwrap_or_else(|| "bin".into())
}

fn same_host(a: &Url, b: &Url) -> bool {
    a.host_str().is_some() && a.host_str() == b.host_str()
}

const REFUSED_PRIVATE: &str = "the address is on a private, loopback or link-local network";

/// Scheme and literal-IP checks, which DNS filtering cannot see.
fn check_url_literal(url: &Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the {} scheme is not allowed", url.scheme()));
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) if is_forbidden(IpAddr::V4(ip)) => Err(REFUSED_PRIVATE.into()),
        Some(url::Host::Ipv6(ip)) if is_forbidden(IpAddr::V6(ip)) => Err(REFUSED_PRIVATE.into()),
        None => Err("the URL has no host".into()),
        _ => Ok(()),
    }
}

/// Resolves the host first so a refusal gets a clear reason; the guarded client's resolver
/// checks again at connect time (against DNS rebinding).
async fn check_resolves_public(url: &Url) -> Result<(), Failure> {
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Failure::Retry(format!("cannot resolve {host}: {e}")))?
        .collect();
    if addrs.iter().any(|a| is_forbidden(a.ip())) {
        return Err(Failure::Refused(format!("{host}: {REFUSED_PRIVATE}")));
    }
    Ok(())
}

pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10: carrier-grade NAT, which is also where Tailscale lives.
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// DNS for untrusted URLs: only public addresses come back.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| !is_forbidden(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{}: {REFUSED_PRIVATE}", name.as_str()).into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Result of `lifeboat verify`.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub checked: usize,
    pub missing: Vec<String>,
    pub altered: Vec<String>,
}

/// Re-hashes every stored file against its recorded sha256 and size.
pub fn verify(db: &Db, root: &Path) -> Result<VerifyReport> {
    let files = db.read_blocking(|c| Ok(db::media::all_stored(c)?))?;
    let mut report = VerifyReport::default();
    for file in files {
        let Some(relative) = &file.path else { continue };
        report.checked += 1;
        let path = root.join(relative);
        let mut reader = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(_) => {
                report.missing.push(relative.clone());
                continue;
            }
        };
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut reader, &mut hasher)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let sha = hex::encode(hasher.finalize());
        if Some(size as i64) != file.size || Some(&sha) != file.sha256.as_ref() {
            report.altered.push(relative.clone());
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.10",
            "169.254.169.254",
            "100.100.1.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literal_checks() {
        let check = |u: &str| check_url_literal(&Url::parse(u).unwrap());
        assert!(check("https://example.com/a.jpg").is_ok());
        assert!(check("http://127.0.0.1:8080/a.jpg").is_err());
        assert!(check("http://[::1]/a.jpg").is_err());
        assert!(check("file:///etc/passwd").is_err());
        assert!(check("ftp://example.com/a.jpg").is_err());
    }

    #[test]
    fn media_types_and_extensions() {
        let url = Url::parse("https://x.test/photo.PNG?size=large").unwrap();
        assert_eq!(media_type(None, &url).as_deref(), Some("image/png"));
        let html = reqwest::header::HeaderValue::from_static("text/html; charset=utf-8");
        assert_eq!(media_type(Some(&html), &url), None);
        let jpeg = reqwest::header::HeaderValue::from_static("image/jpeg");
        assert_eq!(media_type(Some(&jpeg), &url).as_deref(), Some("image/jpeg"));
        assert_eq!(extension_for("image/jpeg"), "jpg");
        assert_eq!(extension_for("video/mp4"), "mp4");
        assert_eq!(extension_for("application/x-unknown"), "bin");
    }
}
