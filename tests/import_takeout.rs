//! The Google Takeout (YouTube) importer, on archives shaped as QUIRKS.md and other
//! projects' Takeout parsers describe (there is no licensed sample): watch history in the
//! current and the old (`youtube#playlistItem`) format with `\u003d` escapes, removed
//! videos, ads and activityControls; uploaded videos matched to `videos.csv` by title;
//! comments in both text formats; other Takeout parts; a French export.

mod common;

use common::imports::*;

use lifeboat::importers::Collected;
use lifeboat::importers::reddit::Reddit;
use lifeboat::importers::strava::Strava;
use lifeboat::importers::takeout::Takeout;
use lifeboat::platform::Platform;
use serde_json::json;

/// As Takeout writes it: pretty-printed, `=` and `&` escaped, a removed video reduced to
/// its URL, one removed without a trace, a community post "Viewed", YouTube Music, an ad.
const WATCH_HISTORY: &str = r#"[{
  "header": "YouTube",
  "title": "Watched Rust in 100 Seconds",
  "titleUrl": "https://www.youtube.com/watch?v\u003d5C_HPTJg5ek",
  "subtitles": [{
    "name": "Fireship",
    "url": "https://www.youtube.com/channel/UCsBjURrPoezykLs9EqgamOA"
  }],
  "time": "2024-03-01T20:15:42.123Z",
  "products": ["YouTube"],
  "activityControls": ["YouTube watch history"]
},{
  "header": "YouTube",
  "title": "Watched https://www.youtube.com/watch?v\u003dGoneVideo01",
  "titleUrl": "https://www.youtube.com/watch?v\u003dGoneVideo01",
  "time": "2024-02-28T10:00:00.5Z",
  "products": ["YouTube"],
  "activityControls": ["YouTube watch history"]
},{
  "header": "YouTube",
  "title": "Watched a video that has been removed",
  "time": "2024-02-27T09:00:00Z",
  "products": ["YouTube"],
  "activityControls": ["YouTube watch history"]
},{
  "header": "YouTube",
  "title": "Watched Big Buck Bunny",
  "titleUrl": "https://www.youtube.com/watch?v\u003daqz-KE-bpKQ",
  "subtitles": [{"name": "Blender", "url": "https://www.youtube.com/channel/UCSMOQeBJ2RAnuFungnQOxLg"}],
  "time": "2024-02-26T08:00:00.001Z",
  "products": ["YouTube"],
  "details": [{"name": "From Google Ads"}],
  "activityControls": ["Web \u0026 App Activity", "YouTube watch history"]
},{
  "header": "YouTube",
  "title": "Viewed Channel update",
  "titleUrl": "https://www.youtube.com/post/UgkxAbCdEf",
  "subtitles": [{"name": "Some Channel", "url": "https://www.youtube.com/channel/UC1"}],
  "time": "2024-02-25T07:00:00Z",
  "products": ["YouTube"],
  "activityControls": ["YouTube watch history"]
},{
  "header": "YouTube Music",
  "title": "Watched Solar",
  "titleUrl": "https://music.youtube.com/watch?v\u003d-e8Nfjl_AKk\u0026feature\u003dshare",
  "subtitles": [{"name": "Sault - Topic", "url": "https://www.youtube.com/channel/UC-oXNBXG4lHLc7cNuK6mwPQ"}],
  "time": "2022-04-25T18:09:04.784Z",
  "products": ["YouTube"],
  "activityControls": ["YouTube watch history"]
}]"#;

/// The old format: YouTube Data API playlist items.
const WATCH_HISTORY_2016: &str = r#"[ {
  "kind" : "youtube#playlistItem",
  "etag" : "\"abc/def\"",
  "id" : "SEw1YWJj",
  "snippet" : {
    "publishedAt" : "2016-05-31T06:33:31.000Z",
    "channelId" : "UCmine",
    "title" : "Old Favourite",
    "description" : "An old video",
    "channelTitle" : "Me",
    "playlistId" : "HLmine",
    "position" : 0,
    "resourceId" : { "kind" : "youtube#video", "videoId" : "aWMTj-rejvc" }
  },
  "contentDetails" : { "videoId" : "aWMTj-rejvc" },
  "status" : { "privacyStatus" : "public" }
} ]"#;

const VIDEOS_CSV: &str = "Video ID,Approx Duration (ms),Video Audio Language,Video Category,Video Description (Original),Channel ID,Tag 1,Tag 2,Video Title (Original),Privacy,Video State,Video Create Timestamp,Video Publish Timestamp\n\
vid00000001,581000,en,Howto & Style,\"Step one: chop.\nStep two: simmer.\",UCself,cooking,stew,Cooking Ep 1: Stew?,Public,Processed,2022-07-03T09:41:17+00:00,2022-07-03T10:00:00+00:00\n\
vid00000002,12000,en,People & Blogs,,UCself,,,Cooking Ep 1: Stew?,Unlisted,Processed,2022-07-04T09:00:00+00:00,\n\
vid00000003,30000,en,Travel & Events,A long one,UCself,,,\"Our trip to the mountains, part three: the \"\"long\"\" descent\",Private,Processed,2023-01-01T12:00:00.5+00:00,\n\
vid00000004,1000,en,Music,,UCself,,,Lost upload,Public,Processed,2023-02-02T00:00:00+00:00,\n";

/// Before June 2024: takeoutSegments. After: bare segments, Post ID, Top-level Comment ID.
const COMMENTS_CSV: &str = "Comment ID,Channel ID,Comment Create Timestamp,Price,Parent Comment ID,Post ID,Video ID,Comment Text,Top-Level Comment ID\n\
UgxtiXQkY7gqHbldJ1F4AaABAg,UCself,2023-09-19T17:42:53.434647+00:00,0,,,WtOskFeLmr4,\"{\"\"takeoutSegments\"\":[{\"\"text\"\":\"\"coalowl the legend\"\"}]}\",\n\
UgwDN8UeMxW4NDFbvY54AaABAg.9iwJkUYNcXa9u0lv3j3Abh,UCself,2023-08-30T01:54:46.801024+00:00,0,UgwDN8UeMxW4NDFbvY54AaABAg,,jH39c5-y6kg,\"{\"\"text\"\":\"\"\\u003e quoted\"\"},{\"\"text\"\":\"\"\\n\"\"},{\"\"text\"\":\"\"@someone\"\",\"\"mention\"\":{\"\"externalChannelId\"\":\"\"UCx\"\"}},{\"\"text\"\":\"\" agreed, fully\"\"}\",UgwDN8UeMxW4NDFbvY54AaABAg\n\
UgzPostComment1,UCself,2024-07-01T00:00:00Z,0,,UgkxAbCdEf,,\"{\"\"text\"\":\"\"On a post\"\"}\",\n";

fn takeout_zip(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("takeout-20241001T120000Z-001.zip");
    let y = "Takeout/YouTube and YouTube Music";
    write_zip(
        &path,
        &[
            (
                "Takeout/archive_browser.html",
                b"<html>archive browser</html>".as_slice(),
            ),
            (
                &format!("{y}/history/watch-history.json"),
                WATCH_HISTORY.as_bytes(),
            ),
            (
                &format!("{y}/history/watch-history-2016.json"),
                WATCH_HISTORY_2016.as_bytes(),
            ),
            (&format!("{y}/history/search-history.json"), b"[]"),
            (
                &format!("{y}/subscriptions/subscriptions.csv"),
                b"Channel Id,Channel Url,Channel Title\n",
            ),
            (
                &format!("{y}/comments/comments.csv"),
                COMMENTS_CSV.as_bytes(),
            ),
            (
                &format!("{y}/video metadata/videos.csv"),
                VIDEOS_CSV.as_bytes(),
            ),
            (
                &format!("{y}/video metadata/video recordings.csv"),
                b"Video ID,Video Recording Address\n",
            ),
            // Named after titles: cleaned, numbered when equal, cut short when long.
            (
                &format!("{y}/videos/Cooking Ep 1 Stew.mp4"),
                b"first stew video",
            ),
            (
                &format!("{y}/videos/Cooking Ep 1 Stew(1).mp4"),
                b"second stew video",
            ),
            (
                &format!("{y}/videos/Our trip to the mountains, part three_ the _lo.mp4"),
                b"trip video",
            ),
            (
                &format!("{y}/videos/Recorded on my phone.mp4"),
                b"a video no row names",
            ),
            (
                "Takeout/Mail/All mail Including Spam and Trash.mbox",
                b"From x",
            ),
            (
                "Takeout/Google Photos/Photos from 2023/IMG_0001.jpg",
                b"\xff\xd8",
            ),
            ("Takeout/Chrome/History.json", b"{}"),
        ],
    );
    path
}

#[test]
fn watch_history_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&Takeout, &takeout_zip(dir.path()));
    let all = normalize_all(&Takeout, &out);
    let views: Vec<&str> = all
        .iter()
        .map(|(raw, _)| raw.platform_post_id.as_str())
        .filter(|id| id.starts_with("watch:"))
        .collect();
    assert_eq!(
        views,
        [
            "watch:-e8Nfjl_AKk:2022-04-25T18:09:04.784Z",
            "watch:5C_HPTJg5ek:2024-03-01T20:15:42.123Z",
            "watch:GoneVideo01:2024-02-28T10:00:00.5Z",
            "watch:UgkxAbCdEf:2024-02-25T07:00:00Z",
            "watch:aWMTj-rejvc:2016-05-31T06:33:31.000Z",
            "watch:unknown:2024-02-27T09:00:00Z",
        ],
        "the ad is left out"
    );

    let rust = &find(&all, "watch:5C_HPTJg5ek:2024-03-01T20:15:42.123Z").1;
    assert_eq!(rust.kind, "view");
    assert_eq!(
        rust.title.as_deref(),
        Some("Rust in 100 Seconds"),
        "verb stripped"
    );
    assert_eq!(rust.author.as_deref(), Some("Fireship"));
    assert_eq!(
        rust.url.as_deref(),
        Some("https://www.youtube.com/watch?v=5C_HPTJg5ek")
    );
    assert_eq!(rust.created_at, Some(1709324142));
    let e = rust.engagement.as_ref().unwrap();
    assert_eq!(e["video_id"], "5C_HPTJg5ek");
    assert_eq!(
        e["channel_url"],
        "https://www.youtube.com/channel/UCsBjURrPoezykLs9EqgamOA"
    );

    let music = &find(&all, "watch:-e8Nfjl_AKk:2022-04-25T18:09:04.784Z").1;
    assert_eq!(
        music.url.as_deref(),
        Some("https://music.youtube.com/watch?v=-e8Nfjl_AKk&feature=share"),
        "\\u0026 and \\u003d are plain & and ="
    );
    assert_eq!(
        music.engagement.as_ref().unwrap()["header"],
        "YouTube Music"
    );

    let gone = &find(&all, "watch:unknown:2024-02-27T09:00:00Z").1;
    assert_eq!(gone.url, None);
    assert_eq!(gone.author, None);
    assert_eq!(gone.engagement.as_ref().unwrap()["removed"], true);
    assert_eq!(gone.title.as_deref(), Some("a video that has been removed"));

    let old = &find(&all, "watch:aWMTj-rejvc:2016-05-31T06:33:31.000Z").1;
    assert_eq!(old.kind, "view");
    assert_eq!(old.title.as_deref(), Some("Old Favourite"));
    assert_eq!(
        old.url.as_deref(),
        Some("https://www.youtube.com/watch?v=aWMTj-rejvc")
    );
    assert_eq!(old.created_at, Some(1464676411));

    let ads: Vec<&(String, String)> = out
        .skipped
        .iter()
        .filter(|(_, reason)| reason.contains("Google Ads"))
        .collect();
    assert_eq!(ads.len(), 1, "one line for all ads: {:?}", out.skipped);
    assert!(ads[0].1.starts_with("1 ads"));
    for item in &out.items {
        assert!(!String::from_utf8_lossy(&item.payload).contains("From Google Ads"));
    }
}

#[test]
fn uploaded_videos_are_matched_to_their_files_by_title() {
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&Takeout, &takeout_zip(dir.path()));
    let all = normalize_all(&Takeout, &out);
    let y = "archive:youtube/YouTube and YouTube Music/videos";

    let first = &find(&all, "vid00000001").1;
    assert_eq!(first.kind, "video");
    assert_eq!(first.title.as_deref(), Some("Cooking Ep 1: Stew?"));
    assert_eq!(first.text, "Step one: chop.\nStep two: simmer.");
    assert_eq!(
        first.url.as_deref(),
        Some("https://www.youtube.com/watch?v=vid00000001")
    );
    assert_eq!(first.created_at, Some(1656841277));
    assert_eq!(first.author.as_deref(), Some("UCself"));
    let e = first.engagement.as_ref().unwrap();
    assert_eq!(e["privacy"], "Public");
    assert_eq!(e["duration_ms"], 581000);
    assert_eq!(e["tags"], json!(["cooking", "stew"]));
    assert_eq!(first.media.len(), 1);
    assert_eq!(first.media[0].url, format!("{y}/Cooking Ep 1 Stew.mp4"));
    assert_eq!(first.media[0].kind.as_deref(), Some("video"));

    let second = &find(&all, "vid00000002").1;
    assert_eq!(
        second.media[0].url,
        format!("{y}/Cooking Ep 1 Stew(1).mp4"),
        "equal titles: numbered files in order"
    );

    let trip = &find(&all, "vid00000003").1;
    assert_eq!(
        trip.media[0].url,
        format!("{y}/Our trip to the mountains, part three_ the _lo.mp4"),
        "a long title's file name is cut short"
    );

    let lost = &find(&all, "vid00000004").1;
    assert!(lost.media.is_empty(), "no file for this row");

    let (_, orphan) = find(
        &all,
        "file:YouTube and YouTube Music/videos/Recorded on my phone.mp4",
    );
    assert_eq!(orphan.kind, "video");
    assert_eq!(orphan.title.as_deref(), Some("Recorded on my phone"));
    assert_eq!(orphan.media[0].url, format!("{y}/Recorded on my phone.mp4"));

    // Every file copied once, under the URL its post uses, bytes as they were.
    let media: Vec<(&str, &[u8])> = out
        .media
        .iter()
        .map(|(url, _, _, bytes)| (url.as_str(), bytes.as_slice()))
        .collect();
    assert_eq!(media.len(), 4);
    assert!(media.contains(&(
        &format!("{y}/Cooking Ep 1 Stew(1).mp4"),
        b"second stew video".as_slice()
    )));
    assert!(
        out.media
            .iter()
            .all(|(_, kind, path, _)| kind.as_deref() == Some("video")
                && path.starts_with("Takeout/YouTube and YouTube Music/videos/"))
    );
}

#[test]
fn comments_in_both_text_formats() {
    let dir = tempfile::tempdir().unwrap();
    let all = normalize_all(&Takeout, &collect(&Takeout, &takeout_zip(dir.path())));

    let old = &find(&all, "UgxtiXQkY7gqHbldJ1F4AaABAg").1;
    assert_eq!(old.kind, "comment");
    assert_eq!(old.text, "coalowl the legend");
    assert_eq!(old.created_at, Some(1695145373));
    assert_eq!(
        old.reply_to.as_deref(),
        Some("WtOskFeLmr4"),
        "a top-level comment answers the video"
    );
    assert_eq!(
        old.url.as_deref(),
        Some("https://www.youtube.com/watch?v=WtOskFeLmr4&lc=UgxtiXQkY7gqHbldJ1F4AaABAg")
    );
    assert_eq!(old.author.as_deref(), Some("UCself"));

    let reply = &find(&all, "UgwDN8UeMxW4NDFbvY54AaABAg.9iwJkUYNcXa9u0lv3j3Abh").1;
    assert_eq!(reply.text, "> quoted\n@someone agreed, fully");
    assert_eq!(
        reply.reply_to.as_deref(),
        Some("UgwDN8UeMxW4NDFbvY54AaABAg")
    );

    let on_post = &find(&all, "UgzPostComment1").1;
    assert_eq!(on_post.text, "On a post");
    assert_eq!(on_post.reply_to.as_deref(), Some("UgkxAbCdEf"));
    assert_eq!(
        on_post.url.as_deref(),
        Some("https://www.youtube.com/post/UgkxAbCdEf?lc=UgzPostComment1")
    );
}

#[test]
fn other_parts_and_unused_youtube_folders_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&Takeout, &takeout_zip(dir.path()));
    let skipped = skipped_lines(&out);
    for part in ["Mail", "Google Photos", "Chrome"] {
        assert!(
            skipped.contains(&format!(
                "{part}: Takeout part {part} is not supported; only YouTube is imported"
            )),
            "{skipped:?}"
        );
    }
    assert!(skipped.iter().any(|s| s.starts_with("Takeout/YouTube and YouTube Music/subscriptions: not imported")));
    assert!(
        skipped
            .iter()
            .any(|s| s.starts_with("Takeout/YouTube and YouTube Music/history: not imported")),
        "search history"
    );
    assert!(
        skipped.iter().any(
            |s| s.starts_with("Takeout/YouTube and YouTube Music/video metadata: not imported")
        )
    );
    assert!(
        !skipped.iter().any(|s| s.contains("archive_browser")),
        "{skipped:?}"
    );
    assert!(out.unreadable.is_empty());

    let again = collect(&Takeout, &takeout_zip(dir.path()));
    let ids = |c: &Collected| {
        c.items
            .iter()
            .map(|i| i.external_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&out), ids(&again), "the same export gives the same ids");
}

#[test]
fn a_french_takeout_inside_another_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fr.zip");
    let y = "mes exports/Takeout/YouTube et YouTube Music";
    let videos = "ID vidéo,ID de la chaîne,Titre de la vidéo (d'origine),Code temporel de création de la vidéo\n\
vidFR000001,UCmoi,Ma vidéo : été,2021-08-01T10:00:00+00:00\n";
    let history = r#"[{"header": "YouTube", "title": "Vous avez regardé Une vidéo", "titleUrl": "https://www.youtube.com/watch?v\u003dfrVideo001", "time": "2021-08-02T10:00:00.000Z", "products": ["YouTube"], "activityControls": ["Historique des vidéos regardées sur YouTube"]}]"#;
    write_zip(
        &path,
        &[
            (
                &format!("{y}/historique/watch-history.json"),
                history.as_bytes(),
            ),
            (
                &format!("{y}/métadonnées des vidéos/vidéos.csv"),
                videos.as_bytes(),
            ),
            (&format!("{y}/vidéos/Ma vidéo  été.mp4"), b"video"),
        ],
    );
    let out = collect(&Takeout, &path);
    let all = normalize_all(&Takeout, &out);
    let view = &find(&all, "watch:frVideo001:2021-08-02T10:00:00.000Z").1;
    assert_eq!(view.title.as_deref(), Some("Une vidéo"));
    let video = &find(&all, "vidFR000001").1;
    assert_eq!(video.title.as_deref(), Some("Ma vidéo : été"));
    assert_eq!(video.created_at, Some(1627812000));
    assert_eq!(
        video.media[0].url, "archive:youtube/YouTube et YouTube Music/vidéos/Ma vidéo  été.mp4",
        "URLs are relative to the Takeout folder, wherever it sits"
    );
    assert_eq!(out.media.len(), 1);
    assert_eq!(out.media[0].2, format!("{y}/vidéos/Ma vidéo  été.mp4"));
}

#[test]
fn a_damaged_watch_history_is_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.zip");
    let mut history = String::from("[");
    for i in 0..1500 {
        if i > 0 {
            history.push(',');
        }
        history += &format!(
            r#"{{"header":"YouTube","title":"Watched v{i}","titleUrl":"https://www.youtube.com/watch?v\u003dv{i}","time":"2024-01-01T00:00:{:02}Z","products":["YouTube"]}}"#,
            i % 60
        );
    }
    history += r#",{"header": "YouTube", "title": "#;
    write_zip(
        &path,
        &[
            (
                "Takeout/YouTube and YouTube Music/history/watch-history.json",
                history.as_bytes(),
            ),
            (
                "Takeout/YouTube and YouTube Music/comments/comments.csv",
                COMMENTS_CSV.as_bytes(),
            ),
        ],
    );
    let out = collect(&Takeout, &path);
    assert_eq!(out.unreadable.len(), 1, "{:?}", out.unreadable);
    assert_eq!(
        out.unreadable[0].0,
        "Takeout/YouTube and YouTube Music/history/watch-history.json"
    );
    let all = normalize_all(&Takeout, &out);
    let views = all
        .iter()
        .filter(|(r, _)| r.platform_post_id.starts_with("watch:"))
        .count();
    assert_eq!(
        views, 1000,
        "the first full chunk was read before the fault"
    );
    assert_eq!(all.len() - views, 3, "the comments still import");
}

#[test]
fn detection_claims_only_youtube_takeouts() {
    let dir = tempfile::tempdir().unwrap();
    let path = takeout_zip(dir.path());
    assert!(!detects(&Reddit, &path));
    assert!(!detects(&Strava, &path));
    assert_eq!(detected_platform(&path), Platform::Youtube);

    let photos_only = dir.path().join("photos.zip");
    write_zip(
        &photos_only,
        &[
            ("Takeout/archive_browser.html", b"<html></html>".as_slice()),
            (
                "Takeout/Google Photos/Photos from 2023/IMG_0001.jpg",
                b"\xff\xd8",
            ),
            (
                "Takeout/Google Photos/Photos from 2023/IMG_0001.jpg.json",
                b"{}",
            ),
        ],
    );
    assert!(
        !detects(&Takeout, &photos_only),
        "no YouTube part: not this importer's"
    );

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
            ("subscribed_subreddits.csv", b"subreddit\n"),
        ],
    );
    assert!(!detects(&Takeout, &reddit));

    let strava = dir.path().join("strava.zip");
    let csv = std::fs::read(fixture("strava/jobosO-2025/activities.csv")).unwrap();
    write_zip(
        &strava,
        &[
            ("export_1/activities.csv", csv.as_slice()),
            ("export_1/activities/203707851.gpx", b"<gpx/>"),
            ("export_1/media/a.mp4", b"video"),
        ],
    );
    assert!(!detects(&Takeout, &strava));
}

#[test]
fn imports_end_to_end_once() {
    let env = ImportEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let path = takeout_zip(dir.path());
    let summary = env.import(&path, None).expect("import");
    assert_eq!(summary.platform, Platform::Youtube);
    assert_eq!(summary.format, "Google Takeout (YouTube)");
    assert_eq!(summary.failed_items, 0);
    assert_eq!(summary.media_new, 4);
    assert!(summary.skipped.iter().any(|s| s.what == "Mail"));

    let rows = env.posts("youtube");
    assert_eq!(rows.len(), 6 + 5 + 3, "views, videos, comments");
    let video = env.post("youtube", "vid00000001");
    assert_eq!(video.kind, "video");
    assert!(video.has_media);
    let stored = env.stored_media();
    let (_, file, _, _) = stored
        .iter()
        .find(|(url, ..)| url.ends_with("/videos/Cooking Ep 1 Stew.mp4"))
        .expect("the video file is stored");
    assert_eq!(
        std::fs::read(env.media_root().join(file)).unwrap(),
        b"first stew video"
    );
    assert_eq!(env.post("youtube", "UgzPostComment1").kind, "comment");

    env.assert_import_again_adds_nothing(&path, "youtube");
}

#[test]
fn a_watch_history_file_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watch-history.json");
    std::fs::write(&path, WATCH_HISTORY).unwrap();
    let out = collect(&Takeout, &path);
    let all = normalize_all(&Takeout, &out);
    assert_eq!(all.len(), 5, "six records, one ad");
    assert!(
        out.skipped
            .iter()
            .all(|(_, reason)| reason.contains("Google Ads")),
        "{:?}",
        out.skipped
    );
}
