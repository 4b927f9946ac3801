//! The Strava bulk export importer: the real 2025 `activities.csv` (99 columns with
//! repeated names) with generated route files, a 2023-style header with HTML in column
//! names, the 2018 schema, manual activities without a file, route files named by upload
//! id rather than activity id, and a row whose date comes from its GPX metadata.

mod common;

use std::io::Write;

use common::imports::*;

use lifeboat::importers::Collected;
use lifeboat::importers::reddit::Reddit;
use lifeboat::importers::strava::Strava;
use lifeboat::platform::Platform;
use serde_json::json;

const REAL_CSV: &str = "strava/jobosO-2025/activities.csv";

/// A GPX file as Strava writes it: the start time in the metadata, a numeric type.
fn gpx(start: &str, first_point: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<gpx creator="StravaGPX Android" version="1.1" xmlns="http://www.topografix.com/GPX/1/1">
 <metadata>
  <time>{start}</time>
 </metadata>
 <trk>
  <name>Morning Run</name>
  <type>9</type>
  <trkseg>
   <trkpt lat="45.5017" lon="-73.5673"><ele>30.2</ele><time>{first_point}</time></trkpt>
  </trkseg>
 </trk>
</gpx>
"#
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The real CSV inside a top folder, with route files for some of its activities (the
/// sample has none), one photo, and one route file no activity names.
fn real_export(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let csv = std::fs::read(fixture(REAL_CSV)).expect("fixture");
    let gz = gzip(gpx("2022-08-12T15:00:00Z", "2022-08-12T15:00:01Z").as_bytes());
    let path = dir.join("export_52345678.zip");
    let p = "export_52345678/";
    write_zip(
        &path,
        &[
            (&format!("{p}activities.csv"), &csv),
            (
                &format!("{p}activities/203707851.gpx"),
                gpx("2014-10-05T16:15:21Z", "2014-10-05T16:15:22Z").as_bytes(),
            ),
            // Activity 7796555307's route, named by its upload id.
            (&format!("{p}activities/8328132174.gpx.gz"), &gz),
            (&format!("{p}activities/1111111111.gpx"), b"<gpx/>"),
            (
                &format!("{p}media/13F2DDE9-683A-46A0-BDCC-792D611FCB7E.jpg"),
                b"\xff\xd8\xff\xe0 a photo",
            ),
            (
                &format!("{p}profile.csv"),
                b"Athlete ID,Email Address\n1,someone@example.com\n",
            ),
        ],
    );
    (path, gz)
}

#[test]
fn real_csv_with_repeated_column_names() {
    let dir = tempfile::tempdir().unwrap();
    let (path, gz) = real_export(dir.path());
    let out = collect(&Strava, &path);
    assert_eq!(out.items.len(), 2, "1845 rows, 1000 per raw item");
    let all = normalize_all(&Strava, &out);
    assert_eq!(all.len(), 1845);

    let (raw, ride) = find(&all, "203707851");
    assert_eq!(ride.kind, "activity");
    assert_eq!(ride.title.as_deref(), Some("Lunch Ride"));
    assert_eq!(ride.text, "");
    assert_eq!(
        ride.created_at,
        Some(1412525721),
        "Oct 5, 2014, 4:15:21 PM UTC"
    );
    assert_eq!(
        ride.url.as_deref(),
        Some("https://www.strava.com/activities/203707851")
    );
    let e = ride.engagement.as_ref().unwrap();
    assert_eq!(e["type"], "Ride");
    assert_eq!(
        e["distance_m"],
        json!(13609.2001953125),
        "the second Distance, in metres"
    );
    assert_eq!(e["distance_display_units"], "13.61");
    assert_eq!(e["elapsed_time_s"], 2833);
    assert_eq!(e["moving_time_s"], 2499);
    assert_eq!(e["max_speed_mps"], json!(11));
    assert_eq!(e["elevation_gain_m"], json!(73.52400207519531));
    assert_eq!(e["commute"], false);
    assert!(e.get("calories").is_none(), "empty columns stay out");
    assert_eq!(raw.value().unwrap()["Distance"], "13.61");
    assert_eq!(raw.value().unwrap()["Distance.1"], "13609.2001953125");
    assert_eq!(raw.value().unwrap()["Elapsed Time.1"], "2833.0");
    assert_eq!(ride.media.len(), 1);
    assert_eq!(ride.media[0].url, "archive:strava/activities/203707851.gpx");
    assert_eq!(ride.media[0].kind.as_deref(), Some("route"));

    let (_, powered) = find(&all, "364597341");
    let e = powered.engagement.as_ref().unwrap();
    assert_eq!(e["calories"], json!(472.25146484375));
    assert_eq!(e["average_watts"], json!(95.19979858398438));

    let (_, uploaded) = find(&all, "7796555307");
    assert_eq!(
        uploaded.media[0].url, "archive:strava/activities/8328132174.gpx.gz",
        "the Filename id is the upload's, not the activity's"
    );
    assert_eq!(
        uploaded.created_at,
        Some(1660316400),
        "Aug 12, 2022, 3:00:00 PM"
    );

    let with_photos = all
        .iter()
        .find(|(raw, _)| {
            raw.value().unwrap()["Media"]
                .as_str()
                .unwrap()
                .starts_with("media/13F2DDE9")
        })
        .expect("an activity with photos");
    let urls: Vec<&str> = with_photos.1.media.iter().map(|m| m.url.as_str()).collect();
    assert_eq!(urls.len(), 7, "route + six photos: {urls:?}");
    assert_eq!(
        urls[1],
        "archive:strava/media/13F2DDE9-683A-46A0-BDCC-792D611FCB7E.jpg"
    );
    assert_eq!(with_photos.1.media[1].kind.as_deref(), Some("image"));

    // Files are copied as they are, under the URLs the posts use; missing ones are
    // tolerated (the sample has 1845 activities and three files).
    let media: Vec<(&str, &str)> = out
        .media
        .iter()
        .map(|(url, kind, _, _)| (url.as_str(), kind.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        media,
        [
            ("archive:strava/activities/203707851.gpx", "route"),
            ("archive:strava/activities/8328132174.gpx.gz", "route"),
            (
                "archive:strava/media/13F2DDE9-683A-46A0-BDCC-792D611FCB7E.jpg",
                "image"
            ),
        ]
    );
    let copied_gz = &out.media[1];
    assert_eq!(copied_gz.2, "export_52345678/activities/8328132174.gpx.gz");
    assert_eq!(copied_gz.3, gz, "compressed routes are not decompressed");

    assert!(
        out.skipped
            .iter()
            .any(|(what, reason)| what == "activities/" && reason.starts_with("1 activity file")),
        "{:?}",
        out.skipped
    );
    for item in &out.items {
        assert!(!String::from_utf8_lossy(&item.payload).contains("someone@example.com"));
    }

    let again = collect(&Strava, &path);
    let ids = |c: &Collected| {
        c.items
            .iter()
            .map(|i| i.external_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&out), ids(&again), "the same export gives the same ids");
}

/// The 2023 header: 87 columns, some names wrapped in untranslated HTML.
fn header_2023() -> Vec<String> {
    const COLUMNS: &str = "Activity ID|Activity Date|Activity Name|Activity Type|Activity Description|Elapsed Time|Distance|Max Heart Rate|Relative Effort|Commute|Activity Private Note|Activity Gear|Filename|Athlete Weight|Bike Weight|Elapsed Time|Moving Time|Distance|Max Speed|Average Speed|Elevation Gain|Elevation Loss|Elevation Low|Elevation High|Max Grade|Average Grade|Average Positive Grade|Average Negative Grade|Max Cadence|Average Cadence|Max Heart Rate|Average Heart Rate|Max Watts|Average Watts|Calories|Max Temperature|Average Temperature|Relative Effort|Total Work|Number of Runs|Uphill Time|Downhill Time|Other Time|Perceived Exertion|@type:Type|@start_time:Start Time|Weighted Average Power|Power Count|Prefer Perceived Exertion|Perceived Relative Effort|Commute|Total Weight Lifted|From Upload|Grade Adjusted Distance|Weather Observation Time|Weather Condition|Weather Temperature|Apparent Temperature|Dewpoint|Humidity|Weather Pressure|Wind Speed|Wind Gust|Wind Bearing|Precipitation Intensity|Sunrise Time|Sunset Time|Moon Phase|Bike|Gear|Precipitation Probability|Precipitation Type|Cloud Cover|Weather Visibility|UV Index|Weather Ozone|@jump_count:Jump Count|@total_grit:Total Grit|@avg_flow:Avg Flow|@flagged:Flagged|@avg_elapsed_speed:Avg Elapsed Speed|@dirt_distance:Dirt Distance|@newly_explored_distance:Newly Explored Distance|@newly_explored_dirt_distance:Newly Explored Dirt Distance|@sport_type:Sport Type|@total_steps:Total Steps|Media";
    COLUMNS
        .split('|')
        .map(|c| match c.strip_prefix('@') {
            Some(span) => {
                let (key, label) = span.split_once(':').unwrap();
                format!(
                    "<span class=\"translation_missing\" title=\"translation missing: en-US.lib.export.portability_exporter.activities.horton_values.{key}\">{label}</span>"
                )
            }
            None => c.to_string(),
        })
        .collect()
}

fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    quoted.join(",") + "\n"
}

/// A row of the 2023 schema from (column index, value) pairs.
fn row_2023(values: &[(usize, &str)]) -> Vec<String> {
    let mut row = vec![String::new(); 87];
    for (i, v) in values {
        row[*i] = v.to_string();
    }
    row
}

fn export_2023(dir: &std::path::Path) -> std::path::PathBuf {
    let header = header_2023();
    assert_eq!(header.len(), 87);
    let mut csv = csv_line(&header);
    // Filename id ≠ Activity ID, as in the bergolito export.
    csv += &csv_line(&row_2023(&[
        (0, "3763864420"),
        (1, "Jun 30, 2020, 5:12:01 PM"),
        (2, "Morning Run"),
        (3, "Run"),
        (4, "Felt good, \"fast\"\nsecond line"),
        (5, "1912"),
        (6, "5.02"),
        (9, "false"),
        (12, "activities/4021635014.gpx.gz"),
        (15, "1912.0"),
        (16, "1850.0"),
        (17, "5020.5"),
        (30, "175.0"),
        (31, "151.0"),
        (34, "402.0"),
        (84, "Run"),
    ]));
    // A manual activity: no file.
    csv += &csv_line(&row_2023(&[
        (0, "4000000001"),
        (1, "Jul 2, 2020, 7:00:00 AM"),
        (2, "Yoga"),
        (3, "Yoga"),
        (5, "3600"),
        (9, "true"),
        (15, "3600.0"),
    ]));
    csv += &csv_line(&row_2023(&[
        (0, "4000000002"),
        (1, "Jul 3, 2020, 6:00:00 PM"),
        (2, "Evening Ride"),
        (3, "Ride"),
        (12, "activities/4300000002.fit.gz"),
    ]));
    // No date in the CSV: the GPX metadata has the start.
    csv += &csv_line(&row_2023(&[
        (0, "4000000003"),
        (2, "Dawn Run"),
        (3, "Run"),
        (12, "activities/4300000003.gpx"),
    ]));
    let path = dir.join("export_2023.zip");
    write_zip(
        &path,
        &[
            ("activities.csv", csv.as_bytes()),
            (
                "activities/4021635014.gpx.gz",
                &gzip(gpx("2020-06-30T17:12:01Z", "2020-06-30T17:12:02Z").as_bytes()),
            ),
            (
                "activities/4300000002.fit.gz",
                &gzip(b"\x0e\x10\x43\x08\x00\x00\x00\x00.FIT\x00\x00"),
            ),
            (
                "activities/4300000003.gpx",
                gpx("2020-07-04T06:30:00Z", "2020-07-04T06:30:05Z").as_bytes(),
            ),
        ],
    );
    path
}

#[test]
fn html_in_column_names_manual_activities_and_gpx_dates() {
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&Strava, &export_2023(dir.path()));
    let all = normalize_all(&Strava, &out);
    assert_eq!(all.len(), 4);

    let (raw, run) = find(&all, "3763864420");
    assert!(
        raw.value().unwrap().get("Type").is_some(),
        "tags stripped from the name"
    );
    assert!(raw.value().unwrap().get("Sport Type").is_some());
    assert!(
        !raw.value()
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.contains('<'))
    );
    assert_eq!(run.text, "Felt good, \"fast\"\nsecond line");
    let e = run.engagement.as_ref().unwrap();
    assert_eq!(e["sport_type"], "Run");
    assert_eq!(e["distance_m"], json!(5020.5));
    assert_eq!(e["max_heart_rate"], 175);
    assert_eq!(e["average_heart_rate"], 151);
    assert_eq!(e["calories"], 402);
    assert_eq!(
        run.media[0].url,
        "archive:strava/activities/4021635014.gpx.gz"
    );

    let (_, manual) = find(&all, "4000000001");
    assert!(manual.media.is_empty(), "a manual activity has no route");
    let e = manual.engagement.as_ref().unwrap();
    assert_eq!(e["commute"], true);
    assert!(e.get("route_file").is_none());
    assert_eq!(manual.created_at, Some(1593673200));

    let (_, fit) = find(&all, "4000000002");
    assert_eq!(
        fit.media[0].url,
        "archive:strava/activities/4300000002.fit.gz"
    );

    let (raw, dawn) = find(&all, "4000000003");
    assert_eq!(
        raw.value().unwrap()["lifeboat:gpx_time"],
        "2020-07-04T06:30:00Z"
    );
    assert_eq!(
        dawn.created_at,
        Some(1593844200),
        "from the GPX metadata time"
    );

    let kinds: Vec<(&str, Option<&str>)> = out
        .media
        .iter()
        .map(|(url, kind, _, _)| (url.as_str(), kind.as_deref()))
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(kinds.iter().all(|(_, kind)| *kind == Some("route")));
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
}

#[test]
fn the_2018_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export_2018.zip");
    let csv = "id,date,name,type,description,elapsed_time,distance,commute,gear,filename\n\
1988225457,2018-11-27 19:11:32,Evening Ride,Ride,\"\",1468,6075.0,true,1x1x8,activities/2125648250.fit.gz\n\
1992479540,2018-11-30 08:51:29,Morning Ride,Ride,\"Cold, windy\",1427,6563.0,false,Michel le fixie,\n";
    write_zip(
        &path,
        &[
            ("activities.csv", csv.as_bytes()),
            ("activities/2125648250.fit.gz", &gzip(b".FIT data")),
        ],
    );
    let out = collect(&Strava, &path);
    let all = normalize_all(&Strava, &out);
    assert_eq!(all.len(), 2);
    let (_, ride) = find(&all, "1988225457");
    assert_eq!(ride.title.as_deref(), Some("Evening Ride"));
    assert_eq!(ride.created_at, Some(1543345892));
    let e = ride.engagement.as_ref().unwrap();
    assert_eq!(e["type"], "Ride");
    assert_eq!(e["distance_m"], 6075);
    assert_eq!(e["elapsed_time_s"], 1468);
    assert_eq!(e["commute"], true);
    assert_eq!(e["gear"], "1x1x8");
    assert_eq!(
        ride.media[0].url,
        "archive:strava/activities/2125648250.fit.gz"
    );
    let (_, other) = find(&all, "1992479540");
    assert_eq!(other.text, "Cold, windy");
    assert!(other.media.is_empty());
    assert_eq!(out.media.len(), 1);
}

#[test]
fn a_damaged_activities_file_is_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.zip");
    let mut csv = String::from("Activity ID,Activity Date,Activity Name,Activity Type\n");
    for i in 0..2000 {
        csv += &format!("{i},\"Oct 5, 2014, 4:15:21 PM\",Ride {i},Ride\n");
    }
    {
        let file = std::fs::File::create(&path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("activities.csv", stored).unwrap();
        zip.write_all(csv.as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    // Flip one byte near the end of the stored CSV: its CRC no longer matches.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(9).rposition(|w| w == b"Ride 1998").unwrap();
    bytes[at + 5] = b'7';
    std::fs::write(&path, bytes).unwrap();

    let out = collect(&Strava, &path);
    assert_eq!(out.unreadable.len(), 1, "{:?}", out.unreadable);
    assert_eq!(out.unreadable[0].0, "activities.csv");
}

#[test]
fn detection_claims_only_strava_exports() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = real_export(dir.path());
    assert!(!detects(&Reddit, &path), "Strava's CSVs are not Reddit's");
    assert_eq!(detected_platform(&path), Platform::Strava);

    let reddit = dir.path().join("reddit.zip");
    write_zip(
        &reddit,
        &[
            (
                "comments.csv",
                b"id,permalink,date,ip,subreddit,gildings,link,parent,body,media\n".as_slice(),
            ),
            (
                "posts.csv",
                b"id,permalink,date,ip,subreddit,gildings,title,url,body\n",
            ),
            ("checkfile.csv", b"filename,sha256\n"),
        ],
    );
    assert!(!detects(&Strava, &reddit));

    // An activities.csv that is not Strava's.
    let other = dir.path().join("other.zip");
    write_zip(
        &other,
        &[(
            "activities.csv",
            b"when,what\n2020-01-01,gardening\n".as_slice(),
        )],
    );
    assert!(!detects(&Strava, &other));

    let takeout = dir.path().join("takeout.zip");
    write_zip(
        &takeout,
        &[
            ("Takeout/archive_browser.html", b"<html></html>".as_slice()),
            (
                "Takeout/YouTube and YouTube Music/history/watch-history.json",
                b"[]",
            ),
        ],
    );
    assert!(!detects(&Strava, &takeout));
}

#[test]
fn imports_end_to_end_once() {
    let env = ImportEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let (path, gz) = real_export(dir.path());
    let summary = env.import(&path, None).expect("import");
    assert_eq!(summary.platform, Platform::Strava);
    assert_eq!(summary.format, "Strava bulk export");
    assert_eq!(summary.failed_items, 0);
    assert_eq!(summary.media_new, 3);

    let rows = env.posts("strava");
    assert_eq!(rows.len(), 1845);
    let ride = env.post("strava", "203707851");
    assert_eq!(ride.kind, "activity");
    assert_eq!(ride.title.as_deref(), Some("Lunch Ride"));
    assert!(ride.has_media);
    assert_eq!(
        ride.engagement.as_ref().unwrap()["distance_m"],
        json!(13609.2001953125)
    );

    let stored = env.stored_media();
    let (_, file, _, size) = stored
        .iter()
        .find(|(url, ..)| url == "archive:strava/activities/8328132174.gpx.gz")
        .expect("the gzipped route is stored");
    assert_eq!(*size as usize, gz.len());
    assert_eq!(std::fs::read(env.media_root().join(file)).unwrap(), gz);

    env.assert_import_again_adds_nothing(&path, "strava");
}
