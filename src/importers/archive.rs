//! An export as importers see it: a list of entries (relative paths with `/`) that can be
//! opened one at a time as streams, whether the export is a zip file, an unpacked folder
//! or a single file. Nothing is ever extracted to disk by its entry name, so a `../` or
//! absolute path cannot write anywhere; such entries are refused and reported.
//!
//! Zip bombs are stopped two ways: an entry whose declared size or compression ratio is
//! past the limits is refused before it is read, and every entry's stream fails once it
//! yields more bytes than the entry declared (a lying header).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};

/// How far an archive may inflate.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No single entry may be larger than this once inflated.
    pub max_entry_bytes: u64,
    /// Past `ratio_floor_bytes`, an entry may inflate at most this many times its
    /// compressed size (real exports: JSON ~10:1, media ~1:1; bombs: 1000:1 and more).
    pub max_ratio: u64,
    pub ratio_floor_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_entry_bytes: 16 << 30,
            max_ratio: 100,
            ratio_floor_bytes: 64 << 20,
        }
    }
}

/// An unreadable file larger than this is kept only up to this size in the dead letters.
pub const MAX_UNREADABLE_BYTES: u64 = 256 << 20;

/// One file inside the export.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative, `/`-separated, never starting with `/`, never containing `..`.
    pub path: String,
    /// Inflated size as declared.
    pub size: u64,
    index: usize,
}

impl Entry {
    /// The last path component.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

enum Source {
    Zip(Box<zip::ZipArchive<BufReader<File>>>),
    Dir(PathBuf),
    File(PathBuf),
}

pub struct Archive {
    source: Source,
    entries: Vec<Entry>,
    /// Entries refused when the archive was opened (unsafe paths), with the reason.
    refused: Vec<(String, String)>,
    /// Inflated bytes handed out so far, for progress.
    read: Arc<AtomicU64>,
    limits: Limits,
    /// What the person gave: for messages.
    display: String,
}

impl Archive {
    /// Opens a zip file, a folder or a single file. The kind is decided by content (a zip
    /// starts with `PK`), not by the file name.
    pub fn open(path: &Path, limits: Limits) -> Result<Archive> {
        Archive::open_named(path, &path.display().to_string(), limits)
    }

    /// `open`, for a file stored under another name (an upload): `name` is what the
    /// person called it, for messages.
    pub fn open_named(path: &Path, name: &str, limits: Limits) -> Result<Archive> {
        let display = name.to_string();
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {display}"))?;
        let mut archive = Archive {
            source: Source::File(path.to_path_buf()),
            entries: Vec::new(),
            refused: Vec::new(),
            read: Arc::new(AtomicU64::new(0)),
            limits,
            display,
        };
        if meta.is_dir() {
            archive.source = Source::Dir(path.to_path_buf());
            let mut files = Vec::new();
            walk(path, path, &mut files)?;
            files.sort();
            for (index, (relative, size)) in files.into_iter().enumerate() {
                archive.entries.push(Entry {
                    path: relative,
                    size,
                    index,
                });
            }
        } else if starts_like_zip(path)? {
            archive.open_zip(path)?;
        } else {
            let name = Path::new(&archive.display)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".into());
            if name.to_ascii_lowercase().ends_with(".zip") {
                bail!(
                    "{} is named like a zip archive but is not one (it does not start with the zip signature)",
                    archive.display
                );
            }
            archive.entries.push(Entry {
                path: name,
                size: meta.len(),
                index: 0,
            });
        }
        Ok(archive)
    }

    fn open_zip(&mut self, path: &Path) -> Result<()> {
        let file = File::open(path).with_context(|| format!("cannot read {}", self.display))?;
        // Listing the entries reads each one's local header after a seek, which empties
        // the buffer: a small one reads 1 KB per entry instead of 8 (an export holds
        // thousands of files). Entries' contents are read in larger pieces, past it.
        let file = BufReader::with_capacity(1024, file);
        let mut zip = zip::ZipArchive::new(file).map_err(|e| {
            anyhow::anyhow!(
                "{} is a damaged or truncated zip archive ({e}); download the export again",
                self.display
            )
        })?;
        for index in 0..zip.len() {
            let entry = zip
                .by_index_raw(index)
                .with_context(|| format!("{}: entry {index} is damaged", self.display))?;
            if entry.is_dir() {
                continue;
            }
            let name = entry.name().to_string();
            match safe_relative(&name) {
                Some(relative) => {
                    let (size, compressed) = (entry.size(), entry.compressed_size());
                    self.check_limits(&relative, size, compressed)?;
                    self.entries.push(Entry {
                        path: relative,
                        size,
                        index,
                    });
                }
                None => self.refused.push((
                    name,
                    "unsafe path (absolute or with ..); not read".to_string(),
                )),
            }
        }
        self.entries.sort_by(|a, b| a.path.cmp(&b.path));
        self.source = Source::Zip(Box::new(zip));
        Ok(())
    }

    fn check_limits(&self, path: &str, size: u64, compressed: u64) -> Result<()> {
        let l = self.limits;
        if size > l.max_entry_bytes {
            bail!(
                "archive refused: {path} would inflate to {size} bytes, past the limit of {} bytes",
                l.max_entry_bytes
            );
        }
        if size > l.ratio_floor_bytes && size / compressed.max(1) > l.max_ratio {
            bail!(
                "archive refused: {path} would inflate from {compressed} to {size} bytes \
                 ({}:1), which only a zip bomb does",
                size / compressed.max(1)
            );
        }
        Ok(())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Entries refused at open time, with the reason.
    pub fn refused(&self) -> &[(String, String)] {
        &self.refused
    }

    pub fn find(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Entries whose path ends with `suffix` (an export may sit inside a top folder).
    pub fn ending_with<'a>(&'a self, suffix: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.path == suffix || e.path.ends_with(&format!("/{suffix}")))
    }

    /// Total inflated size of all entries, for progress.
    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// Inflated bytes read so far (shared counter, for a progress display).
    pub fn read_counter(&self) -> Arc<AtomicU64> {
        self.read.clone()
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    /// A stream of one entry's bytes. It fails if the entry yields more than it declared.
    pub fn open_entry(&mut self, entry: &Entry) -> Result<Box<dyn Read + '_>> {
        let inner: Box<dyn Read + '_> = match &mut self.source {
            Source::Zip(zip) => Box::new(
                zip.by_index(entry.index)
                    .with_context(|| format!("{}: cannot read {}", self.display, entry.path))?,
            ),
            Source::Dir(root) => Box::new(
                File::open(root.join(&entry.path))
                    .with_context(|| format!("cannot read {}", entry.path))?,
            ),
            Source::File(path) => Box::new(
                File::open(&*path).with_context(|| format!("cannot read {}", self.display))?,
            ),
        };
        Ok(Box::new(Bounded {
            inner,
            left: entry.size,
            path: entry.path.clone(),
            read: self.read.clone(),
        }))
    }

    /// The bytes of an entry as far as they can be read, up to `MAX_UNREADABLE_BYTES`:
    /// a damaged entry still goes to the dead letters with what it holds, and a huge one
    /// cannot fill the memory.
    pub fn readable_part(&mut self, entry: &Entry) -> Vec<u8> {
        let mut bytes = Vec::new();
        if let Ok(reader) = self.open_entry(entry) {
            // The error is the reason the file is here; what was read before it is kept.
            let _ = reader.take(MAX_UNREADABLE_BYTES).read_to_end(&mut bytes);
        }
        bytes
    }

    /// A whole entry in memory, for the small JSON files of an export (bounded by the
    /// entry limit; big files should be streamed with `open_entry`).
    pub fn read_entry(&mut self, entry: &Entry) -> Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(entry.size.min(256 << 20) as usize);
        self.open_entry(entry)?
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", entry.path))?;
        Ok(bytes)
    }
}

/// Counts bytes, and refuses to yield more than the entry declared.
struct Bounded<'a> {
    inner: Box<dyn Read + 'a>,
    left: u64,
    path: String,
    read: Arc<AtomicU64>,
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(format!(
                "{} inflates past its declared size (a damaged archive or a zip bomb)",
                self.path
            )));
        }
        self.left -= n as u64;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn starts_like_zip(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 4];
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let n = file.read(&mut magic)?;
    Ok(n == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06"))
}

/// A zip entry name as a safe relative path, or None if it is absolute or climbs out.
fn safe_relative(name: &str) -> Option<String> {
    let name = name.replace('\\', "/");
    if name.starts_with('/') || name.contains(':') && name.chars().nth(1) == Some(':') {
        return None;
    }
    let mut parts = Vec::new();
    for part in Path::new(&name).components() {
        match part {
            Component::Normal(p) => parts.push(p.to_str()?.to_string()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .expect("walked under root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((relative, entry.metadata()?.len()));
        }
        // Symlinks are not followed: an export never needs them, and they could point
        // anywhere.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn unsafe_names_are_refused() {
        assert_eq!(
            safe_relative("data/tweets.js").as_deref(),
            Some("data/tweets.js")
        );
        assert_eq!(safe_relative("./a/./b").as_deref(), Some("a/b"));
        assert_eq!(safe_relative("../etc/passwd"), None);
        assert_eq!(safe_relative("a/../../b"), None);
        assert_eq!(safe_relative("/etc/passwd"), None);
        assert_eq!(safe_relative("..\\windows"), None);
        assert_eq!(safe_relative("C:/x"), None);
    }
}
