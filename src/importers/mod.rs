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
/// chunk, whatever the file's size. Elements are found by a byte scanner (strings,
/// escapes and nesting depth), and each chunk is then checked by serde_json in memory:
/// several times faster than parsing from the reader byte by byte. An error says where
/// the file stops being JSON; the chunks before it have already been emitted.
pub fn json_array_chunks(
    reader: impl Read,
    chunk: usize,
    emit: impl FnMut(usize, Vec<u8>) -> Result<()>,
) -> Result<()> {
    json_array_chunks_checked(reader, chunk, check_json, emit)
}

/// Whether `bytes` are JSON, with a parse that only checks.
pub fn check_json(bytes: &[u8]) -> serde_json::Result<()> {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map(drop)
}

/// `json_array_chunks` whose caller checks that each chunk is JSON (`check` fails if it is
/// not), with a parse it needs anyway: one pass over the bytes instead of two.
pub fn json_array_chunks_checked(
    reader: impl Read,
    chunk: usize,
    mut check: impl FnMut(&[u8]) -> serde_json::Result<()>,
    mut emit: impl FnMut(usize, Vec<u8>) -> Result<()>,
) -> Result<()> {
    let chunk = chunk.max(1);
    let mut reader = std::io::BufReader::with_capacity(1 << 20, reader);
    let mut block = vec![0u8; 1 << 20];
    let mut started = false;
    let mut skipped = 0usize;
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut buffer: Vec<u8> = vec![b'['];
    let (mut in_chunk, mut emitted, mut offset) = (0usize, 0usize, 0u64);
    let mut element_open = false;
    // Whether the last token outside a string was a number or literal.
    let mut after_literal = false;
    let mut send = |buffer: &mut Vec<u8>, n: &mut usize, offset: u64| -> Result<()> {
        buffer.push(b']');
        if let Err(e) = check(buffer) {
            bail!("not valid JSON in the elements after byte {offset}: {e}");
        }
        // The next chunk is about as big: growing it from nothing would copy it over and
        // over and fault in fresh pages each time.
        let mut next = Vec::with_capacity(buffer.len() + buffer.len() / 8);
        next.push(b'[');
        emit(*n, std::mem::replace(buffer, next))?;
        *n += 1;
        Ok(())
    };
    loop {
        let n = reader.read(&mut block)?;
        if n == 0 {
            bail!(if started {
                "not valid JSON: the file ends before its array is closed"
            } else {
                "not valid JSON: no array at the start of the file"
            });
        }
        let mut i = 0;
        if !started {
            match block[..n].iter().position(|&b| b == b'[') {
                Some(at) if skipped + at <= 4096 => {
                    started = true;
                    i = at + 1;
                }
                _ if skipped + n > 4096 => {
                    bail!("not valid JSON: no array at the start of the file")
                }
                _ => {
                    skipped += n;
                    continue;
                }
            }
        }
        let mut from = i;
        while i < n {
            if in_string && !escaped {
                // Most of an export is text inside strings: jump to its next quote or
                // backslash instead of looking at every byte.
                match memchr::memchr2(b'"', b'\\', &block[i..n]) {
                    Some(at) => i += at,
                    None => break,
                }
            }
            let byte = block[i];
            if in_string {
                match (escaped, byte) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
            } else if is_space(byte) && !after_literal {
                // Whitespace between tokens is the export's formatting, not its content:
                // left out, every later pass over the chunk has a third less to read.
                // (Kept after a number or literal, so that `[1 2]` stays an error.)
                buffer.extend_from_slice(&block[from..i]);
                i += block[i..n]
                    .iter()
                    .position(|&b| !is_space(b))
                    .unwrap_or(n - i);
                from = i;
                continue;
            } else if depth == 0 && (byte == b',' || byte == b']') {
                // The end of a top-level element (or of the array).
                buffer.extend_from_slice(&block[from..i]);
                from = i + 1;
                after_literal = false;
                if element_open {
                    in_chunk += 1;
                    element_open = false;
                }
                let last = byte == b']';
                if in_chunk == chunk || (last && in_chunk > 0) {
                    send(&mut buffer, &mut emitted, offset)?;
                    in_chunk = 0;
                } else if !last {
                    buffer.push(b',');
                }
                if last {
                    return Ok(());
                }
            } else if !is_space(byte) {
                match byte {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                element_open = true;
                after_literal = byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'+');
            }
            i += 1;
        }
        buffer.extend_from_slice(&block[from..n]);
        offset += n as u64;
    }
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
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

#[cfg(test)]
mod tests {
    use super::json_array_chunks;

    #[test]
    fn chunks_leave_out_the_whitespace_between_tokens() {
        let pretty = "window.YTD.tweets.part0 = [ {\n  \"tweet\" : {\n    \"full_text\" : \"two  spaces, a \\\"quote\\\" and \\\\\",\n    \"id\" : 12345678901234567890 ,\n    \"tags\" : [ \"a b\", true, null ],\n    \"é\" : \"ü\\n\"\n  }\n}\n, { }\r\n\t]";
        let got = chunks(pretty, 10).unwrap();
        assert_eq!(
            got,
            [
                r#"[{"tweet":{"full_text":"two  spaces, a \"quote\" and \\","id":12345678901234567890 ,"tags":["a b",true,null ],"é":"ü\n"}},{}]"#
            ]
        );
        // Whitespace after a number or literal stays, so tokens never run together.
        assert!(chunks("[[1 2]]", 10).is_err());
        assert!(chunks("[true false]", 10).is_err());
    }

    fn chunks(text: &str, size: usize) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        json_array_chunks(text.as_bytes(), size, |n, bytes| {
            assert_eq!(n, out.len());
            out.push(String::from_utf8(bytes).unwrap());
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn elements_come_in_chunks_whatever_they_contain() {
        let text = "window.YTD.tweets.part0 = [ {\"a\": \"],[\\\"{\"}, [1, [2]],\n \"x\\\\\", 3 ]";
        let got = chunks(text, 2).unwrap();
        assert_eq!(got.len(), 2);
        let first: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
        assert_eq!(first, serde_json::json!([{"a": "],[\"{"}, [1, [2]]]));
        let second: serde_json::Value = serde_json::from_str(&got[1]).unwrap();
        assert_eq!(second, serde_json::json!(["x\\", 3]));
        assert!(chunks("window.YTD.x.part0 = [ ]", 10).unwrap().is_empty());
        assert!(chunks("= []", 10).unwrap().is_empty());
        assert_eq!(
            chunks("{\"ig_stories\": [1,2,3]}", 10).unwrap(),
            ["[1,2,3]"]
        );
    }

    #[test]
    fn broken_arrays_are_errors_after_the_good_chunks() {
        let mut seen = 0;
        let err = json_array_chunks(&b"[1,2,3,{\"a\":}]"[..], 2, |_, _| {
            seen += 1;
            Ok(())
        })
        .unwrap_err();
        assert_eq!(seen, 1, "the first chunk came through");
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        assert!(chunks("[1,]", 5).is_err());
        assert!(
            chunks("[1,2", 5)
                .unwrap_err()
                .to_string()
                .contains("ends before")
        );
        assert!(chunks("no array here", 5).is_err());
    }
}
