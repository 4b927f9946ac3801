//! Running an import: open the export, recognise its format, stream its raw items and
//! media files into the stage tables and the media store (in batched transactions), and
//! let the pipeline turn them into posts, while an `imports` row tells the pages (and the
//! terminal) how far it got and, at the end, what was imported, skipped and why.
//!
//! Everything an import writes is idempotent: importing the same export again adds
//! nothing, and importing it again after a crash or a cut-off upload finishes the job.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::connectors::RawItem;
use crate::db::connections::NewConnection;
use crate::db::media::{MediaLink, StoredFile};
use crate::db::stages::{Compressed, ItemState, NewItem};
use crate::db::sync_logs::Counts;
use crate::db::{self, immediate};
use crate::importers::{self, Archive, Importer, Limits, Sink};
use crate::ingest::{self, Prepared};
use crate::platform::Platform;
use crate::time;

/// Raw items are written in transactions of this many items or bytes. The first batches
/// are smaller, so the writer starts soon after the import does.
const ITEM_BATCH: usize = 1000;
const ITEM_BATCH_BYTES: usize = 4 << 20;
const FIRST_BATCH_BYTES: usize = 1 << 20;
const MEDIA_BATCH: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Skip detection.
    pub platform: Option<Platform>,
    /// Import into this connection (it must be the user's, for the same platform).
    pub connection_id: Option<i64>,
    /// What the person called the file, when it is stored under another name (uploads).
    pub file_name: Option<String>,
    pub limits: Limits,
}

/// An entry (or part of one) not imported, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Skipped {
    pub what: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct Summary {
    pub import_id: i64,
    pub platform: Platform,
    pub format: &'static str,
    pub connection_id: i64,
    /// Raw items new to the archive, and ones it already had.
    pub items_new: i64,
    pub items_known: i64,
    /// Media files copied from the export, and ones already stored.
    pub media_new: i64,
    pub media_known: i64,
    pub posts_created: i64,
    pub posts_updated: i64,
    /// Raw items of this import that could not be split or normalized (in the dead
    /// letters, with the reason).
    pub failed_items: i64,
    pub skipped: Vec<Skipped>,
    pub duration: Duration,
}

/// How far an import is, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    Reading {
        bytes_done: u64,
        bytes_total: u64,
        items: i64,
        media: i64,
    },
    /// Raw items still waiting for the pipeline.
    Processing { left: i64 },
}

/// Records a new import for `user_id`, claimed by this process.
pub fn create(app: &App, user_id: i64, file_name: &str, status: &str) -> Result<i64> {
    let owner = app.owner.id().to_string();
    app.db.write_blocking(|c| {
        Ok(db::imports::create(
            c,
            user_id,
            file_name,
            status,
            &owner,
            time::now(),
        )?)
    })
}

/// Marks an import failed before it could start (a refused or cut-off upload).
pub fn fail(app: &App, import_id: i64, error: &str) -> Result<()> {
    finish(app, import_id, &[], Some(error))
}

fn finish(app: &App, import_id: i64, skipped: &[Skipped], error: Option<&str>) -> Result<()> {
    let skipped = serde_json::to_string(skipped)?;
    app.db.write_blocking(|c| {
        Ok(db::imports::finish(
            c,
            import_id,
            &skipped,
            error,
            time::now(),
        )?)
    })
}

/// Runs import `import_id` of the export at `path` to the end. Blocking. The outcome is
/// recorded on the import (failed with the error, or completed with the summary).
pub fn run(
    app: &App,
    import_id: i64,
    user_id: i64,
    path: &Path,
    options: &Options,
    report: &(dyn Fn(Phase) + Sync),
) -> Result<Summary> {
    let mut skipped = Vec::new();
    let outcome = run_inner(app, import_id, user_id, path, options, report, &mut skipped);
    let error = outcome.as_ref().err().map(|e| format!("{e:#}"));
    finish(app, import_id, &skipped, error.as_deref())?;
    outcome
}

fn run_inner(
    app: &App,
    import_id: i64,
    user_id: i64,
    path: &Path,
    options: &Options,
    report: &(dyn Fn(Phase) + Sync),
    skipped: &mut Vec<Skipped>,
) -> Result<Summary> {
    let started = Instant::now();
    let name = options
        .file_name
        .clone()
        .unwrap_or_else(|| path.display().to_string());
    let mut archive = Archive::open_named(path, &name, options.limits)?;
    let importer = importers::detect(&mut archive, options.platform)?;
    let platform = importer.platform();
    let (connection_id, log_id) = app.db.write_blocking(|c| {
        let tx = immediate(c)?;
        let connection_id = choose_connection(&tx, user_id, importer, options.connection_id)?;
        let now = time::now();
        let log_id = db::sync_logs::start(&tx, user_id, connection_id, "import", now)?;
        db::imports::start_reading(
            &tx,
            import_id,
            platform.id(),
            connection_id,
            log_id,
            archive.total_bytes() as i64,
            now,
        )?;
        tx.commit()?;
        Ok((connection_id, log_id))
    })?;
    for (what, reason) in archive.refused() {
        skipped.push(Skipped {
            what: what.clone(),
            reason: reason.clone(),
        });
    }

    // The importer reads and the pipeline splits on this thread, while a second one
    // writes the previous batch: both cores are busy during a big import, and at most
    // three batches are in memory (being read, waiting, being written).
    let target = Target {
        user_id,
        connection_id,
        platform,
        log_id,
    };
    let stats = Mutex::new(Stats::default());
    let progress = Progress {
        read: archive.read_counter(),
        bytes_total: archive.total_bytes(),
        stats: &stats,
        report,
    };
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Batch>(1);
    let mut reader = Reader {
        app,
        target: &target,
        items: Vec::new(),
        item_bytes: 0,
        batch_limit: FIRST_BATCH_BYTES,
        media: Vec::new(),
        media_urls: HashSet::new(),
        skipped: Vec::new(),
        sender: Some(sender),
        progress: &progress,
        last_report: Instant::now(),
    };
    let outcome = std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_batches(app, import_id, &target, receiver, &progress));
        let read = importer
            .read(&mut archive, &mut reader)
            .and_then(|()| reader.flush());
        // Hanging up lets the writer finish what it has and stop.
        reader.sender = None;
        let written = writer.join().expect("import writer panicked");
        // A failed write also stops the reading (its batches have nowhere to go): the
        // write's error is the one worth telling.
        written.and(read)
    });
    skipped.append(&mut reader.skipped);
    let stats = *stats.lock().expect("import stats");
    outcome?;

    app.db.write_blocking(|c| {
        db::imports::set_status(c, import_id, "processing", time::now())?;
        Ok(())
    })?;
    loop {
        let left = app
            .db
            .read_blocking(|c| Ok(db::stages::unfinished_for_sync(c, log_id, false)?))?;
        report(Phase::Processing { left });
        if ingest::drain(&app.db, time::now)?.is_idle() {
            break;
        }
    }
    // Splitting and normalizing are pure: retrying the same bytes later gives the same
    // error, so an import's failures go to the dead letters now, with their reasons.
    let failed_items = app.db.write_blocking(|c| {
        Ok(db::queue::dead_letter_failed_for_sync(
            c,
            log_id,
            time::now(),
        )?)
    })?;
    let log = app
        .db
        .read_blocking(|c| Ok(db::sync_logs::for_user_by_id(c, user_id, log_id)?))?
        .context("the import's sync log is gone")?;
    let message = format!(
        "{}: {} new raw items ({} already archived), {} media files copied ({} already stored), {} skipped",
        importer.format_name(),
        stats.items_new,
        stats.items_known,
        stats.media_new,
        stats.media_known,
        skipped.len()
    );
    let duration = started.elapsed();
    app.db.write_blocking(|c| {
        let error = (failed_items > 0).then(|| {
            format!("{failed_items} raw items could not be read; they are in the dead letters")
        });
        db::sync_logs::finish(
            c,
            log_id,
            error.as_deref(),
            Some(&message),
            duration.as_millis() as i64,
            time::now(),
        )?;
        Ok(())
    })?;
    Ok(Summary {
        import_id,
        platform,
        format: importer.format_name(),
        connection_id,
        items_new: stats.items_new,
        items_known: stats.items_known,
        media_new: stats.media_new,
        media_known: stats.media_known,
        posts_created: log.posts_created,
        posts_updated: log.posts_updated,
        failed_items: failed_items as i64,
        skipped: skipped.clone(),
        duration,
    })
}

/// The connection the export goes into (see `db::connections::for_import`), created
/// when the user has none for the platform.
fn choose_connection(
    c: &rusqlite::Connection,
    user_id: i64,
    importer: &dyn Importer,
    requested: Option<i64>,
) -> Result<i64> {
    let platform = importer.platform();
    if let Some(id) = requested {
        let Some(connection) = db::connections::for_user_by_id(c, user_id, id)? else {
            bail!("no connection {id}");
        };
        if connection.platform != platform.id() {
            bail!(
                "connection {id} is a {} connection, but this is a {}",
                connection.platform,
                importer.format_name()
            );
        }
        return Ok(id);
    }
    if let Some(id) = db::connections::for_import(c, user_id, platform.id())? {
        return Ok(id);
    }
    let new = NewConnection {
        user_id,
        platform: platform.id(),
        kind: "import",
        label: importer.format_name(),
        url: None,
        handle: None,
        credentials: None,
    };
    Ok(db::connections::insert(c, &new, time::now())?)
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    items_new: i64,
    items_known: i64,
    media_new: i64,
    media_known: i64,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.items_new += other.items_new;
        self.items_known += other.items_known;
        self.media_new += other.media_new;
        self.media_known += other.media_known;
    }

    fn items(&self) -> i64 {
        self.items_new + self.items_known
    }

    fn media(&self) -> i64 {
        self.media_new + self.media_known
    }
}

struct Target {
    user_id: i64,
    connection_id: i64,
    platform: Platform,
    log_id: i64,
}

/// What the importer emitted since the last batch, prepared (split and normalized) on the
/// reading thread, to be written in one transaction.
struct Batch {
    items: Vec<ReadItem>,
    media: Vec<(String, Option<String>, crate::media::DownloadedFile)>,
    /// Bytes of the export read when the batch was sent.
    bytes_done: u64,
}

/// A raw item as the reader hands it to the writer.
struct ReadItem {
    item: RawItem,
    /// Why the export file it holds could not be read (None: an ordinary item).
    unreadable: Option<String>,
    prepared: Prepared,
    /// The payload compressed for storage, when that makes it smaller (the item's own
    /// payload is then dropped: only the compressed bytes wait for the writer).
    compressed: Option<Compressed>,
}

/// Shared by the two threads, for the progress display.
struct Progress<'a> {
    read: Arc<AtomicU64>,
    bytes_total: u64,
    stats: &'a Mutex<Stats>,
    report: &'a (dyn Fn(Phase) + Sync),
}

impl Progress<'_> {
    /// Reports what is written, plus what is read but not yet written.
    fn report(&self, items_waiting: usize, media_waiting: usize) {
        let stats = *self.stats.lock().expect("import stats");
        (self.report)(Phase::Reading {
            bytes_done: self.read.load(Ordering::Relaxed),
            bytes_total: self.bytes_total,
            items: stats.items() + items_waiting as i64,
            media: stats.media() + media_waiting as i64,
        });
    }
}

/// The import's `Sink`, on the reading thread: gathers what the importer emits into
/// batches, prepares them and hands them to the writer.
struct Reader<'a> {
    app: &'a App,
    target: &'a Target,
    /// Raw items, each with the reason it is unreadable (None: an ordinary item).
    items: Vec<(RawItem, Option<String>)>,
    item_bytes: usize,
    /// How many bytes of items the batch may hold (growing to `ITEM_BATCH_BYTES`).
    batch_limit: usize,
    media: Vec<(String, Option<String>, crate::media::DownloadedFile)>,
    /// The URLs in `media`, so a file named twice in one batch is stored once.
    media_urls: HashSet<String>,
    skipped: Vec<Skipped>,
    sender: Option<SyncSender<Batch>>,
    progress: &'a Progress<'a>,
    last_report: Instant,
}

impl Reader<'_> {
    fn push(&mut self, item: RawItem, unreadable: Option<String>) -> Result<()> {
        self.item_bytes += item.payload.len();
        self.items.push((item, unreadable));
        if self.items.len() >= ITEM_BATCH || self.item_bytes >= self.batch_limit {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let items = std::mem::take(&mut self.items);
        let media = std::mem::take(&mut self.media);
        self.media_urls.clear();
        self.item_bytes = 0;
        self.batch_limit = (self.batch_limit * 2).min(ITEM_BATCH_BYTES);
        if items.is_empty() && media.is_empty() {
            return Ok(());
        }
        let platform = self.target.platform.id();
        // The pure work (split, normalize, compress) is done here, while the writer stores
        // the previous batch: one thread each keeps both cores busy, and the writer, who
        // alone can write, sets the pace anyway.
        let prepared: Vec<_> = items
            .iter()
            .map(|(item, _)| {
                let prepared = Prepared::new(platform, &item.item_ref());
                (prepared, db::stages::compress(&item.payload))
            })
            .collect();
        let batch = Batch {
            items: items
                .into_iter()
                .zip(prepared)
                .map(|((mut item, unreadable), (prepared, compressed))| {
                    if compressed.is_some() {
                        item.payload = Vec::new();
                    }
                    ReadItem {
                        item,
                        unreadable,
                        prepared,
                        compressed,
                    }
                })
                .collect(),
            media,
            bytes_done: self.progress.read.load(Ordering::Relaxed),
        };
        let sent = self.sender.as_ref().map(|s| s.send(batch));
        if !matches!(sent, Some(Ok(()))) {
            bail!("the import stopped writing");
        }
        Ok(())
    }

    fn report_progress(&mut self) {
        if self.last_report.elapsed() > Duration::from_millis(200) {
            self.last_report = Instant::now();
            self.progress.report(self.items.len(), self.media.len());
        }
    }
}

impl Sink for Reader<'_> {
    fn item(&mut self, item: RawItem) -> Result<()> {
        self.push(item, None)
    }

    fn unreadable(&mut self, entry_path: &str, reason: &str, payload: Vec<u8>) -> Result<()> {
        let item = RawItem {
            external_id: importers::chunk_id(entry_path, 0, &payload),
            content_type: importers::UNREADABLE.into(),
            source_url: Some(entry_path.to_string()),
            payload,
        };
        self.push(item, Some(format!("{entry_path}: {reason}")))
    }

    fn media(
        &mut self,
        url: &str,
        kind: Option<&str>,
        entry_path: &str,
        file: &mut dyn Read,
    ) -> Result<()> {
        let t = self.target;
        let known = self
            .app
            .db
            .read_blocking(|c| Ok(db::media::is_stored(c, t.user_id, t.platform.id(), url)?))?;
        if known || !self.media_urls.insert(url.to_string()) {
            self.progress
                .stats
                .lock()
                .expect("import stats")
                .media_known += 1;
            return Ok(());
        }
        let stored =
            self.app
                .downloader
                .store_local(t.user_id, t.platform.id(), url, entry_path, file)?;
        self.media
            .push((url.to_string(), kind.map(str::to_string), stored));
        if self.media.len() >= MEDIA_BATCH {
            self.flush()?;
        } else {
            self.report_progress();
        }
        Ok(())
    }

    fn skip(&mut self, what: &str, reason: &str) {
        self.skipped.push(Skipped {
            what: what.to_string(),
            reason: reason.to_string(),
        });
    }
}

/// The writing thread: each batch in one transaction (raw items with their raw posts and
/// posts, media files, counts, the import's progress), until the reader hangs up.
fn write_batches(
    app: &App,
    import_id: i64,
    t: &Target,
    batches: Receiver<Batch>,
    progress: &Progress,
) -> Result<()> {
    for batch in batches {
        // Files are recorded as stored only once they are on disk for good. The writer
        // waits for the disk, not the reader: media files come after the posts that name
        // them, so by then the writer has little else to do, and the reader a lot.
        let paths: Vec<&str> = batch
            .media
            .iter()
            .map(|(_, _, f)| f.path.as_str())
            .collect();
        app.downloader
            .make_durable(&paths)
            .context("cannot flush imported media files to disk")?;
        // The reader counts media it finds already stored, so this adds to the totals.
        let mut added = Stats::default();
        app.db.write_blocking(|c| {
            let tx = immediate(c)?;
            let now = time::now();
            let mut counts = Counts::default();
            let mut round = ingest::Round::default();
            for read in &batch.items {
                let new = NewItem {
                    user_id: t.user_id,
                    connection_id: t.connection_id,
                    sync_log_id: Some(t.log_id),
                    source: "import",
                    item: &read.item,
                    compressed: read.compressed.as_ref(),
                };
                let stored = match &read.unreadable {
                    Some(reason) => {
                        let state = ItemState::DeadLetter(reason);
                        db::stages::insert_item(&tx, &new, state, now)?.is_some()
                    }
                    None => ingest::store_prepared(
                        &tx,
                        &mut round,
                        &new,
                        t.platform.id(),
                        &read.prepared,
                        now,
                    )?,
                };
                if stored {
                    added.items_new += 1;
                    counts.items_fetched += 1;
                } else {
                    added.items_known += 1;
                }
            }
            for (url, kind, file) in &batch.media {
                let link = MediaLink {
                    user_id: t.user_id,
                    connection_id: t.connection_id,
                    sync_log_id: Some(t.log_id),
                    platform: t.platform.id(),
                    url,
                    kind: kind.as_deref(),
                };
                let stored = StoredFile {
                    path: &file.path,
                    content_type: &file.content_type,
                    size: file.size,
                    sha256: &file.sha256,
                };
                if db::media::record_imported(&tx, &link, &stored, now)? {
                    added.media_new += 1;
                    counts.media_downloaded += 1;
                } else {
                    added.media_known += 1;
                }
            }
            db::sync_logs::add(&tx, t.log_id, &counts)?;
            let mut total = *progress.stats.lock().expect("import stats");
            total.add(&added);
            db::imports::progress(
                &tx,
                import_id,
                batch.bytes_done as i64,
                total.items(),
                total.media(),
                now,
            )?;
            round.finish(tx)?;
            Ok(())
        })?;
        progress.stats.lock().expect("import stats").add(&added);
        progress.report(0, 0);
    }
    Ok(())
}
