//! Strava's bulk export ("Download or delete your account" → a zip): `activities.csv`, one
//! row per activity, beside `activities/<id>.gpx|.gpx.gz|.fit.gz|.tcx.gz` (the route as
//! recorded) and `media/<uuid>.jpg` (photos).
//!
//! The CSV drifts. Since 2019 it repeats column names (`Distance` is first in the person's
//! display units, then in metres; `Elapsed Time`, `Max Heart Rate`, `Relative Effort` and
//! `Commute` repeat too), so a repeated name gets pandas' suffix (`Distance.1`), the name
//! people who work with these files know. 2023 exports wrap some names in HTML
//! (`<span class="translation_missing" ...>Type</span>`): tags are stripped. The 2018
//! schema is different altogether (`id,date,name,type,...,distance,...,filename`, metres).
//! Each row is kept as an object of column → value, rows a chunk at a time per raw item.
//!
//! The `Filename` column names the route file, whose id is the upload's, not always the
//! activity's; it is empty for manual activities. Route files are kept as they are
//! (compressed ones too) under `archive:strava/<Filename>`, a URL that does not depend on
//! the folder the export sits in.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};

use super::csv_rows::{self, Chunk, each_row};
use super::{Archive, Entry, Importer, Sink, media_kind};
use crate::connectors::{Codec, ItemRef, MediaRef, NewPost, RawPost};
use crate::platform::Platform;

pub struct Strava;

const ACTIVITIES: &str = "application/vnd.lifeboat.strava-activities+json";

/// Added to a row that has no date: the start time from its GPX file's metadata.
const GPX_TIME: &str = "lifeboat:gpx_time";

/// How much of a GPX file is read to find its start time (it is in the first lines).
const GPX_HEAD: u64 = 16 << 10;

/// Where to find each metric, newest schema first; `.1` is the second column of a
/// repeated name (the one in SI units).
const METRICS: &[(&str, &[&str])] = &[
    ("distance_m", &["Distance.1", "distance"]),
    (
        "elapsed_time_s",
        &["Elapsed Time", "Elapsed Time.1", "elapsed_time"],
    ),
    ("moving_time_s", &["Moving Time"]),
    ("max_speed_mps", &["Max Speed"]),
    ("average_speed_mps", &["Average Speed"]),
    ("elevation_gain_m", &["Elevation Gain"]),
    ("elevation_loss_m", &["Elevation Loss"]),
    ("elevation_low_m", &["Elevation Low"]),
    ("elevation_high_m", &["Elevation High"]),
    ("average_heart_rate", &["Average Heart Rate"]),
    ("max_heart_rate", &["Max Heart Rate.1", "Max Heart Rate"]),
    ("average_cadence", &["Average Cadence"]),
    ("max_cadence", &["Max Cadence"]),
    ("average_watts", &["Average Watts"]),
    ("max_watts", &["Max Watts"]),
    ("weighted_average_power", &["Weighted Average Power"]),
    ("calories", &["Calories"]),
    ("relative_effort", &["Relative Effort", "Relative Effort.1"]),
    ("average_temperature_c", &["Average Temperature"]),
    ("total_steps", &["Total Steps"]),
];

/// Texts kept as they are.
const LABELS: &[(&str, &[&str])] = &[
    ("type", &["Activity Type", "type"]),
    ("sport_type", &["Sport Type"]),
    ("gear", &["Activity Gear", "gear"]),
    ("private_note", &["Activity Private Note"]),
    ("distance_display_units", &["Distance"]),
];

impl Codec for Strava {
    fn platform(&self) -> Platform {
        Platform::Strava
    }

    fn split(&self, item: &ItemRef) -> Result<Vec<RawPost>> {
        if item.content_type != ACTIVITIES {
            bail!("not a Strava export item: {}", item.content_type);
        }
        csv_rows::split_rows(item.payload, "Strava rows", |row| {
            Some(activity_id(row)?.to_string())
        })
    }

    fn normalize(&self, raw: &RawPost) -> Result<NewPost> {
        let payload = raw.value()?;
        let row = payload
            .as_object()
            .ok_or_else(|| anyhow!("Strava activity {} is not an object", raw.platform_post_id))?;
        Ok(normalize_activity(row, &raw.platform_post_id))
    }
}

impl Importer for Strava {
    fn format_name(&self) -> &'static str {
        "Strava bulk export"
    }

    fn detect(&self, archive: &mut Archive) -> bool {
        find_activities(archive).is_some()
    }

    fn read(&self, archive: &mut Archive, out: &mut dyn Sink) -> Result<()> {
        let csv_entry = find_activities(archive).context("no Strava activities.csv found")?;
        let root = csv_entry.path[..csv_entry.path.len() - "activities.csv".len()].to_string();
        let files: HashMap<String, Entry> = archive
            .entries()
            .iter()
            .filter_map(|e| Some((e.path.strip_prefix(&root)?.to_string(), e.clone())))
            .collect();
        let mut rows = Rows {
            chunk: Chunk::default(),
            referenced: Vec::new(),
            undated: Vec::new(),
        };
        let read = {
            let reader = archive.open_entry(&csv_entry)?;
            rows.read_csv(reader, &csv_entry, out)
        };
        if let Err(error) = read {
            let bytes = archive.readable_part(&csv_entry);
            let reason = format!("not a readable Strava activities file: {error:#}");
            out.unreadable(&csv_entry.path, &reason, bytes)?;
        }
        date_from_gpx(archive, &files, &mut rows.undated);
        for row in std::mem::take(&mut rows.undated) {
            rows.chunk.push(&row)?;
        }
        rows.chunk.emit(&csv_entry.path, ACTIVITIES, out)?;
        copy_files(archive, &files, &rows.referenced, out)?;
        report_unlisted(&files, &rows.referenced, out);
        Ok(())
    }
}

/// The `activities.csv` with Strava's header (the 2019+ `Activity ID,...` or the 2018
/// `id,date,name,type,...`): the name alone is too common to be sure.
fn find_activities(archive: &mut Archive) -> Option<Entry> {
    let candidates: Vec<Entry> = archive.ending_with("activities.csv").cloned().collect();
    candidates.into_iter().find(|entry| {
        let mut head = Vec::new();
        let Ok(reader) = archive.open_entry(entry) else {
            return false;
        };
        if reader.take(256).read_to_end(&mut head).is_err() {
            return false;
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let head = head.trim_start_matches('\u{feff}');
        head.starts_with("activity id,") || head.starts_with("id,date,name,type,")
    })
}

/// The activities read so far, and what they refer to.
struct Rows {
    chunk: Chunk,
    /// Route files and photos named by the rows (relative to the export root).
    referenced: Vec<String>,
    /// Rows with no date whose route is a GPX file: emitted after the GPX is read.
    undated: Vec<Map<String, Value>>,
}

impl Rows {
    fn read_csv(&mut self, reader: impl Read, entry: &Entry, out: &mut dyn Sink) -> Result<()> {
        let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
        let headers = column_names(csv.byte_headers()?);
        if !headers.iter().any(|h| h == "Activity ID" || h == "id") {
            bail!("the header has no activity id column");
        }
        each_row(&mut csv, &headers, |row| {
            self.referenced.extend(files_of(&row).map(str::to_string));
            // Only a missing date: an unreadable one would hold every row of an export
            // whose dates are in another format.
            let undated = column(&row, &["Activity Date", "date"]).is_none();
            if undated && route_of(&row).is_some_and(is_gpx) {
                self.undated.push(row);
                return Ok(());
            }
            self.chunk.add(&row, &entry.path, ACTIVITIES, out)
        })
    }
}

/// Column names as a person reads them: HTML tags stripped, Strava's untranslated
/// `translation missing: ...horton_values.jump_count` turned into `Jump Count`, and a
/// repeated name suffixed `.1`, `.2` as pandas does.
fn column_names(raw: &csv::ByteRecord) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    raw.iter()
        .enumerate()
        .map(|(i, h)| {
            let h = String::from_utf8_lossy(h);
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                &h
            };
            let name = clean_name(h);
            let n = seen.entry(name.clone()).or_default();
            *n += 1;
            if *n == 1 {
                name
            } else {
                format!("{name}.{}", *n - 1)
            }
        })
        .collect()
}

fn clean_name(raw: &str) -> String {
    let mut text = String::with_capacity(raw.len());
    let mut in_tag = false;
    for c in raw.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.trim();
    match text.strip_prefix("translation missing: ") {
        Some(key) => key
            .rsplit('.')
            .next()
            .unwrap_or(key)
            .split('_')
            .map(capitalized)
            .collect::<Vec<_>>()
            .join(" "),
        None => text.to_string(),
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// For rows without a date, the start time written in their GPX file's metadata. A file
/// that is missing or unreadable leaves the row undated.
fn date_from_gpx(
    archive: &mut Archive,
    files: &HashMap<String, Entry>,
    rows: &mut [Map<String, Value>],
) {
    for row in rows {
        let Some(entry) = route_of(row).and_then(|path| files.get(path)) else {
            continue;
        };
        if let Some(time) = gpx_start(archive, entry) {
            row.insert(GPX_TIME.into(), Value::String(time));
        }
    }
}

fn gpx_start(archive: &mut Archive, entry: &Entry) -> Option<String> {
    let reader = archive.open_entry(entry).ok()?;
    let mut head = Vec::new();
    let read = if entry.path.ends_with(".gz") {
        flate2::read::GzDecoder::new(reader)
            .take(GPX_HEAD)
            .read_to_end(&mut head)
    } else {
        reader.take(GPX_HEAD).read_to_end(&mut head)
    };
    // A cut-off stream still holds the metadata if it got that far.
    if read.is_err() && head.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&head);
    let from = text.find("<metadata").unwrap_or(0);
    let start = from + text[from..].find("<time>")? + "<time>".len();
    let end = start + text[start..].find("</time>")?;
    Some(text[start..end].trim().to_string())
}

/// Copies the route files and photos the rows name; a missing one is left out (its post
/// still links to it).
fn copy_files(
    archive: &mut Archive,
    files: &HashMap<String, Entry>,
    referenced: &[String],
    out: &mut dyn Sink,
) -> Result<()> {
    let mut done = HashSet::new();
    for path in referenced {
        let Some(entry) = files.get(path) else {
            continue;
        };
        if !done.insert(path) {
            continue;
        }
        let kind = file_kind(path);
        let mut reader = archive.open_entry(entry)?;
        out.media(&archive_url(path), kind, &entry.path, &mut reader)?;
    }
    Ok(())
}

/// Route files no activity names (an activity deleted after the export was made, say).
fn report_unlisted(files: &HashMap<String, Entry>, referenced: &[String], out: &mut dyn Sink) {
    let referenced: HashSet<&str> = referenced.iter().map(String::as_str).collect();
    let unlisted = files
        .keys()
        .filter(|path| path.starts_with("activities/") && !referenced.contains(path.as_str()))
        .count();
    if unlisted > 0 {
        out.skip(
            "activities/",
            &format!("{unlisted} activity files are not listed in activities.csv; not imported"),
        );
    }
}

fn archive_url(path: &str) -> String {
    format!("archive:strava/{path}")
}

/// Route files are "route" whatever their format; photos and videos by their name.
fn file_kind(path: &str) -> Option<&'static str> {
    if path.starts_with("activities/") {
        Some("route")
    } else {
        media_kind(path)
    }
}

/// A column by the first of `names` present and not empty.
fn column<'a>(row: &'a Map<String, Value>, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| {
        row.get(*name)?
            .as_str()
            .map(str::trim)
            .filter(|v| !v.is_empty())
    })
}

fn activity_id(row: &Map<String, Value>) -> Option<&str> {
    column(row, &["Activity ID", "id"])
}

fn route_of(row: &Map<String, Value>) -> Option<&str> {
    column(row, &["Filename", "filename"])
}

fn is_gpx(path: &str) -> bool {
    path.ends_with(".gpx") || path.ends_with(".gpx.gz")
}

/// The route file and the photos (`media/a.jpg|media/b.jpg`) of a row.
fn files_of(row: &Map<String, Value>) -> impl Iterator<Item = &str> {
    let media = column(row, &["Media"]).unwrap_or_default();
    route_of(row)
        .into_iter()
        .chain(media.split('|').map(str::trim).filter(|m| !m.is_empty()))
}

/// "Oct 5, 2014, 4:15:21 PM" (2019+, UTC), "2014-09-12 16:54:28" (2018), else the GPX
/// start time added on import.
fn date_of(row: &Map<String, Value>) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    if let Some(date) = column(row, &["Activity Date"]) {
        let format = format_description!(
            "[month repr:short] [day padding:none], [year], [hour repr:12 padding:none]:[minute]:[second] [period]"
        );
        return time::PrimitiveDateTime::parse(date, format)
            .ok()
            .map(|t| t.assume_utc().unix_timestamp());
    }
    if let Some(date) = column(row, &["date"]) {
        let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        return time::PrimitiveDateTime::parse(date, format)
            .ok()
            .map(|t| t.assume_utc().unix_timestamp());
    }
    let gpx = column(row, &[GPX_TIME])?;
    time::OffsetDateTime::parse(gpx, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn normalize_activity(row: &Map<String, Value>, id: &str) -> NewPost {
    let mut engagement = Map::new();
    for (key, names) in LABELS {
        if let Some(value) = column(row, names) {
            engagement.insert((*key).into(), json!(value));
        }
    }
    for (key, names) in METRICS {
        if let Some(n) = column(row, names).and_then(number) {
            engagement.insert((*key).into(), n);
        }
    }
    if let Some(commute) = column(row, &["Commute", "commute"]) {
        engagement.insert(
            "commute".into(),
            json!(commute.eq_ignore_ascii_case("true")),
        );
    }
    if let Some(route) = route_of(row) {
        engagement.insert("route_file".into(), json!(route));
    }
    let media = files_of(row)
        .map(|path| MediaRef {
            url: archive_url(path),
            kind: file_kind(path).map(str::to_string),
        })
        .collect();
    NewPost {
        kind: "activity".into(),
        title: column(row, &["Activity Name", "name"]).map(str::to_string),
        text: column(row, &["Activity Description", "description"])
            .unwrap_or_default()
            .to_string(),
        url: Some(format!("https://www.strava.com/activities/{id}")),
        created_at: date_of(row),
        engagement: Some(Value::Object(engagement)),
        media,
        ..NewPost::default()
    }
}

/// A CSV number as a JSON number: whole numbers stay integers ("2833", "2833.0").
fn number(text: &str) -> Option<Value> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(json!(n));
    }
    let f: f64 = text.parse().ok().filter(|f: &f64| f.is_finite())?;
    if f.fract() == 0.0 && f.abs() < 9e15 {
        Some(json!(f as i64))
    } else {
        Some(json!(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_cleaned_and_repeats_numbered() {
        let raw = csv::ByteRecord::from(vec![
            "\u{feff}Activity ID",
            "Distance",
            "<span class=\"translation_missing\" title=\"translation missing: en-US.lib.export.portability_exporter.activities.horton_values.type\">Type</span>",
            "Distance",
            "translation missing: en-US.lib.export.portability_exporter.activities.horton_values.jump_count",
            "Distance",
        ]);
        assert_eq!(
            column_names(&raw),
            [
                "Activity ID",
                "Distance",
                "Type",
                "Distance.1",
                "Jump Count",
                "Distance.2"
            ]
        );
    }

    #[test]
    fn numbers_and_dates() {
        assert_eq!(number("2833.0"), Some(json!(2833)));
        assert_eq!(number("13609.2001953125"), Some(json!(13609.2001953125)));
        assert_eq!(number("n/a"), None);
        let row = |k: &str, v: &str| {
            let mut m = Map::new();
            m.insert(k.into(), json!(v));
            m
        };
        assert_eq!(
            date_of(&row("Activity Date", "Oct 5, 2014, 4:15:21 PM")),
            Some(1412525721)
        );
        assert_eq!(
            date_of(&row("Activity Date", "Jul 1, 2016, 12:28:00 AM")),
            Some(1467332880)
        );
        assert_eq!(
            date_of(&row("date", "2014-09-12 16:54:28")),
            Some(1410540868)
        );
        assert_eq!(
            date_of(&row(GPX_TIME, "2014-09-12T16:54:28Z")),
            Some(1410540868)
        );
    }
}
