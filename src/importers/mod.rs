//! Importers: one file per official data-export format behind one trait, and the explicit
//! list of them all. An importer never touches the database: it reads the export as a
//! stream and hands raw items (kept forever in `ingested_items`, source `import`) and the
//! media files it carries to a `Sink`. Its `Codec` half then splits and normalizes those
//! items on the same path as synced ones (see `ingest`). `crate::import` runs it all.

pub mod archive;
pub mod bluesky;
pub mod csv_rows;
pub mod facebook;
pub mod instagram;
pub mod mastodon;
pub mod meta;
pub mod reddit;
pub mod strava;
pub mod takeout;
pub mod twitter;

use std::io::Read;

use anyhow::{Result, bail};

pub use archive::{Archive, Entry, Limits};

use crate::connectors::{Codec, RawItem};
use crate::platform::Platform;

/// Every importer Lifeboat has. A new format: one file, one line here.
pub static ALL: &[&dyn Importer] = &[
    &takeout::Takeout,
    &strava::Strava,
    &reddit::Reddit,
    &twitter::Twitter,
    &instagram::Instagram,
    &facebook::Facebook,
    &mastodon::Mastodon,
    &bluesky::Bluesky,
];

pub fn for_platform(platform: Platform) -> Option<&'static dyn Importer> {
    ALL.iter().copied().find(|i| i.platform() == platform)
}

pub trait Importer: Codec {
    /// What the export is called, for messages ("Twitter/X archive").
    fn format_name(&self) -> &'static str;

    /// Whether this is the platform's export, judged from the entry names (and, where a
    /// name is ambiguous, the first bytes of an entry).
    fn detect(&self, archive: &mut Archive) -> bool;

    /// Reads the export: raw items, media files and skipped entries go to `out`.
    /// An error here stops the import; an entry that cannot be used goes to `out.skip`.
    fn read(&self, archive: &mut Archive, out: &mut dyn Sink) -> Result<()>;
}

/// Where an importer's output goes (the import writer, or a test's collector).
pub trait Sink {
    /// A raw payload. Its `external_id` must be stable (the same export read twice gives
    /// the same ids), so importing twice adds nothing.
    fn item(&mut self, item: RawItem) -> Result<()>;

    /// A media file from the export, stored under `url`: the same URL the normalizer
    /// gives in `NewPost::media`, so the post links to this file instead of queueing a
    /// download. A file the export lacks stays a download (when the URL is http(s)).
    /// Use an `archive:<platform>/<path in export>` URL for files with no web address.
    fn media(
        &mut self,
        url: &str,
        kind: Option<&str>,
        entry_path: &str,
        file: &mut dyn Read,
    ) -> Result<()>;

    /// An entry, or part of one, that was not imported, and why (shown on the result page).
    fn skip(&mut self, what: &str, reason: &str);

    /// A file of the export that should hold posts but cannot be read (malformed JSON,
    /// say): kept as it is (`payload`, its raw bytes) and sent to the dead letters with
    /// `reason`, while the rest of the export imports.
    fn unreadable(&mut self, entry_path: &str, reason: &str, payload: Vec<u8>) -> Result<()>;
}

/// The content type of a raw item that holds an unreadable export file.
pub const UNREADABLE: &str = "application/vnd.lifeboat.unreadable";

/// Streams a JSON array (optionally behind a JavaScript prefix such as Twitter's
/// `window.YTD.tweets.part0 = `, skipped up to the first `[`) and hands its elements,
/// `chunk` at a time, to `emit` as the text of a JSON array. Memory stays bounded by one
/// chunk, whatever the file's size. An error names the byte position where the file
/// stops being JSON; elements before it have already been emitted.
pub fn json_array_chunks(
    reader: impl Read,
    chunk: usize,
    mut emit: impl FnMut(usize, Vec<u8>) -> Result<()>,
) -> Result<()> {
    use serde::de::{Deserializer as _, SeqAccess, Visitor};
    use serde_json::value::RawValue;

    let mut reader = std::io::BufReader::with_capacity(1 << 20, reader);
    // Skip the prefix up to the array.
    let mut skipped = 0usize;
    loop {
        let mut byte = [0u8; 1];
        if reader.read(&mut byte)? == 0 || skipped > 4096 {
            bail!("not valid JSON: no array at the start of the file");
        }
        if byte[0] == b'[' {
            break;
        }
        skipped += 1;
    }

    /// Collects elements into chunks; an error from `emit` is kept aside, since serde
    /// only carries its own error type through the parser.
    struct Elements<'e, F> {
        chunk: usize,
        emit: &'e mut F,
        failed: &'e mut Option<anyhow::Error>,
    }
    impl<'de, F: FnMut(usize, Vec<u8>) -> Result<()>> Visitor<'de> for Elements<'_, F> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut buffer = Vec::new();
            let mut in_chunk = 0;
            let mut n = 0;
            loop {
                let element = seq.next_element::<Box<RawValue>>()?;
                let last = element.is_none();
                if let Some(element) = element {
                    buffer.push(if buffer.is_empty() { b'[' } else { b',' });
                    buffer.extend_from_slice(element.get().as_bytes());
                    in_chunk += 1;
                }
                if (in_chunk == self.chunk || last) && !buffer.is_empty() {
                    buffer.push(b']');
                    if let Err(e) = (self.emit)(n, std::mem::take(&mut buffer)) {
                        *self.failed = Some(e);
                        return Err(serde::de::Error::custom("stopped"));
                    }
                    n += 1;
                    in_chunk = 0;
                }
                if last {
                    return Ok(());
                }
            }
        }
    }
    // The array's `[` was consumed: put it back in front of the rest.
    let rest = std::io::Cursor::new(b"[".to_vec()).chain(reader);
    let mut de = serde_json::Deserializer::from_reader(rest);
    let mut failed = None;
    let outcome = (&mut de).deserialize_seq(Elements {
        chunk: chunk.max(1),
        emit: &mut emit,
        failed: &mut failed,
    });
    match (outcome, failed) {
        (_, Some(e)) => Err(e),
        (Ok(()), None) => Ok(()),
        (Err(e), None) => Err(anyhow::anyhow!("not valid JSON: {e}")),
    }
}

/// The importer for an export: forced by `platform`, else detected.
pub fn detect(archive: &mut Archive, platform: Option<Platform>) -> Result<&'static dyn Importer> {
    if let Some(platform) = platform {
        return match for_platform(platform) {
            Some(importer) => Ok(importer),
            None => bail!("{} has no importer; {}", platform.name(), supported()),
        };
    }
    for importer in ALL {
        if importer.detect(archive) {
            return Ok(*importer);
        }
    }
    bail!(
        "{} is not a data export Lifeboat recognises; {}",
        archive.display(),
        supported()
    )
}

/// "these formats are supported: ..."
pub fn supported() -> String {
    let names: Vec<&str> = ALL.iter().map(|i| i.format_name()).collect();
    format!("these formats are supported: {}", names.join(", "))
}

/// The media kind of a file, from its name.
pub fn media_kind(name: &str) -> Option<&'static str> {
    let mime = mime_guess::from_path(name).first()?;
    match mime.type_().as_str() {
        "image" => Some("image"),
        "video" => Some("video"),
        "audio" => Some("audio"),
        _ => None,
    }
}

/// Stable id for a raw item built from an export: the platform's own id where the item
/// is one record, else the entry path and chunk number plus a hash of the bytes.
pub fn chunk_id(entry_path: &str, chunk: usize, payload: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(&Sha256::digest(payload)[..8]);
    format!("{entry_path}#{chunk}:{digest}")
}

/// A `Sink` that keeps everything in memory: for tests of one importer, and for tools
/// that want to look at an export without touching the archive.
#[derive(Debug, Default)]
pub struct Collected {
    pub items: Vec<RawItem>,
    /// (url, kind, entry path, bytes)
    pub media: Vec<(String, Option<String>, String, Vec<u8>)>,
    pub skipped: Vec<(String, String)>,
    /// (entry path, reason)
    pub unreadable: Vec<(String, String)>,
}

impl Sink for Collected {
    fn item(&mut self, item: RawItem) -> Result<()> {
        self.items.push(item);
        Ok(())
    }

    fn media(
        &mut self,
        url: &str,
        kind: Option<&str>,
        entry_path: &str,
        file: &mut dyn Read,
    ) -> Result<()> {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        self.media.push((
            url.to_string(),
            kind.map(str::to_string),
            entry_path.to_string(),
            bytes,
        ));
        Ok(())
    }

    fn skip(&mut self, what: &str, reason: &str) {
        self.skipped.push((what.to_string(), reason.to_string()));
    }

    fn unreadable(&mut self, entry_path: &str, reason: &str, _payload: Vec<u8>) -> Result<()> {
        self.unreadable
            .push((entry_path.to_string(), reason.to_string()));
        Ok(())
    }
}
