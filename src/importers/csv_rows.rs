//! CSV exports (Reddit, Strava, YouTube Takeout) as raw items: each row a JSON object
//! keyed by column name, rows gathered into chunks so memory stays bounded by one chunk
//! and a chunk's id stays stable across imports.

use std::io::Read;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use super::{Sink, chunk_id};
use crate::connectors::{RawItem, RawPost};

/// A chunk becomes a raw item at this many rows, or sooner at `CHUNK_BYTES`.
pub const CHUNK_ROWS: usize = 1000;
pub const CHUNK_BYTES: usize = 4 << 20;

/// Hands every record of `csv` to `each` as an object of `headers` to its values.
/// Values are read as bytes: a stray non-UTF-8 byte must not cost the person the whole
/// file, so it is replaced instead.
pub fn each_row<R: Read>(
    csv: &mut csv::Reader<R>,
    headers: &[String],
    mut each: impl FnMut(Map<String, Value>) -> Result<()>,
) -> Result<()> {
    let mut record = csv::ByteRecord::new();
    while csv.read_byte_record(&mut record)? {
        let row: Map<String, Value> = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.clone(), Value::String(String::from_utf8_lossy(v).into())))
            .collect();
        each(row)?;
    }
    Ok(())
}

/// Rows waiting to become one raw item.
#[derive(Default)]
pub struct Chunk {
    bytes: Vec<u8>,
    rows: usize,
    emitted: usize,
}

impl Chunk {
    pub fn push(&mut self, row: &Map<String, Value>) -> Result<()> {
        self.bytes.push(if self.rows == 0 { b'[' } else { b',' });
        serde_json::to_writer(&mut self.bytes, row)?;
        self.rows += 1;
        Ok(())
    }

    /// Pushes `row`, and emits the chunk once it is full.
    pub fn add(
        &mut self,
        row: &Map<String, Value>,
        source: &str,
        content_type: &str,
        out: &mut dyn Sink,
    ) -> Result<()> {
        self.push(row)?;
        if self.rows >= CHUNK_ROWS || self.bytes.len() >= CHUNK_BYTES {
            self.emit(source, content_type, out)?;
        }
        Ok(())
    }

    /// The rows so far as one raw item from `source` (an entry path), if there are any.
    pub fn emit(&mut self, source: &str, content_type: &str, out: &mut dyn Sink) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        self.bytes.push(b']');
        let payload = std::mem::take(&mut self.bytes);
        out.item(RawItem {
            external_id: chunk_id(source, self.emitted, &payload),
            content_type: content_type.to_string(),
            source_url: Some(source.to_string()),
            payload,
        })?;
        self.rows = 0;
        self.emitted += 1;
        Ok(())
    }
}

/// The other way round, for `Codec::split`: a chunk's rows as raw posts, each under the
/// id `id_of` finds in it. A row without one is dropped: it cannot be told apart from
/// the next (the platforms never write such rows).
pub fn split_rows(
    payload: &[u8],
    what: &str,
    id_of: impl Fn(&Map<String, Value>) -> Option<String>,
) -> Result<Vec<RawPost>> {
    let rows: Vec<Map<String, Value>> =
        serde_json::from_slice(payload).with_context(|| format!("{what} are not a JSON array"))?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some(RawPost::new(id_of(&row)?, &Value::Object(row))))
        .collect())
}
