//! The scheduler: connections with different frequencies fire at the right times over a
//! simulated month, a restart runs nothing twice, a missed run happens once soon after
//! start, and `serve` really starts due backups by itself.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::site::{Route, Site};
use common::{Server, add_user, cli_ok};
use lifeboat::app::App;
use lifeboat::db;
use lifeboat::db::connections::NewConnection;
use lifeboat::scheduler;

const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const MONTH: i64 = 30 * 86_400;
const STEP: i64 = 300; // the simulated scheduler ticks every 5 minutes

fn add_connections(app: &App) -> Vec<(i64, &'static str)> {
    app.db
        .write_blocking(|c| {
            let user = db::users::insert(c, "alice", "x", true, T0)?;
            let mut made = Vec::new();
            // Two per frequency, on different platforms so none waits for another.
            for (i, (frequency, platform)) in [
                ("hourly", "feed"),
                ("hourly", "mastodon"),
                ("daily", "bluesky"),
                ("daily", "reddit"),
                ("weekly", "wordpress"),
                ("weekly", "tumblr"),
                ("monthly", "strava"),
                ("monthly", "youtube"),
            ]
            .into_iter()
            .enumerate()
            {
                let id = db::connections::insert(
                    c,
                    &NewConnection {
                        user_id: user,
                        platform,
                        kind: "api",
                        label: &format!("c{i}"),
                        url: None,
                        handle: None,
                        credentials: None,
                    },
                    T0,
                )?;
                db::connections::set_schedule(c, user, id, frequency, true, T0, T0)?;
                made.push((id, frequency));
            }
            Ok(made)
        })
        .unwrap()
}

/// What a finished sync writes (the same function `sync::run` ends with).
fn finish(app: &App, id: i64, frequency: &str, now: i64) {
    let next = scheduler::next_sync_at(id, frequency, now);
    app.db
        .write_blocking(|c| Ok(db::connections::finish_sync_ok(c, id, now, next)?))
        .unwrap();
}

#[test]
fn a_simulated_month_fires_each_connection_at_its_frequency_and_a_restart_runs_nothing_twice() {
    let data = tempfile::tempdir().unwrap();
    let mut app = App::open(data.path()).unwrap();
    let connections = add_connections(&app);
    let frequency: HashMap<i64, &str> = connections.iter().copied().collect();
    let mut runs: HashMap<i64, Vec<i64>> = HashMap::new();

    let mut now = T0;
    while now <= T0 + MONTH {
        // Halfway, the process restarts: a new App on the same data directory.
        if now == T0 + MONTH / 2 {
            drop(app);
            app = App::open(data.path()).unwrap();
            let again = scheduler::due(&app, now).unwrap();
            assert!(
                again
                    .iter()
                    .all(|(_, id)| runs[id].last() != Some(&(now - STEP))),
                "a connection that just ran is due again after the restart: {again:?}"
            );
        }
        for (_, id) in scheduler::due(&app, now).unwrap() {
            runs.entry(id).or_default().push(now);
            finish(&app, id, frequency[&id], now);
        }
        now += STEP;
    }

    for (id, freq) in &connections {
        let times = &runs[id];
        let period = scheduler::period(freq);
        let expected = MONTH / period + 1;
        assert!(
            (times.len() as i64 - expected).abs() <= 1,
            "{freq} connection {id} ran {} times, expected about {expected}",
            times.len()
        );
        assert!(
            times[0] <= T0 + STEP,
            "first backup at once (four per tick)"
        );
        // The second run finds the connection's slot (half a period to one and a half
        // later); from then on, one period apart, give or take a tick.
        let first_gap = times[1] - times[0];
        assert!(
            first_gap >= period / 2 && first_gap <= period * 3 / 2 + STEP,
            "{freq} connection {id}: first gap {first_gap} s"
        );
        for pair in times[1..].windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                (gap - period).abs() <= STEP,
                "{freq} connection {id}: {gap} s between runs"
            );
        }
    }
    // Connections of one frequency do not fire in the same tick forever.
    let hourly: Vec<&Vec<i64>> = connections
        .iter()
        .filter(|(_, f)| *f == "hourly")
        .map(|(id, _)| &runs[id])
        .collect();
    assert_ne!(
        hourly[0][5], hourly[1][5],
        "same-frequency connections are spread"
    );
}

#[test]
fn after_a_long_sleep_each_missed_backup_runs_once_and_not_all_at_once() {
    let data = tempfile::tempdir().unwrap();
    let app = App::open(data.path()).unwrap();
    let connections = add_connections(&app);
    for (id, freq) in &connections {
        finish(&app, *id, freq, T0);
    }
    // The Mac slept for two months: everything is overdue, many periods over.
    let woke = T0 + 2 * MONTH;
    let first = scheduler::due(&app, woke).unwrap();
    assert_eq!(
        first.len(),
        scheduler::MAX_RUNNING,
        "the catch-up is spread over ticks"
    );
    let mut ran: HashMap<i64, usize> = HashMap::new();
    let mut now = woke;
    for _ in 0..12 {
        for (_, id) in scheduler::due(&app, now).unwrap() {
            *ran.entry(id).or_default() += 1;
            finish(
                &app,
                id,
                connections.iter().find(|c| c.0 == id).unwrap().1,
                now,
            );
        }
        now += 60;
    }
    assert_eq!(ran.len(), connections.len(), "every missed backup ran");
    assert!(
        ran.values().all(|n| *n == 1),
        "once each, not once per missed period: {ran:?}"
    );
}

#[test]
fn the_server_starts_due_backups_by_itself_and_a_restart_does_not_repeat_them() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    add_user(dir, "alice", "correct horse battery", true);
    let site = Site::start();
    site.route(
        "/feed.json",
        Route::ok(
            "application/feed+json",
            serde_json::json!({
                "version": "https://jsonfeed.org/version/1.1",
                "title": "Blog",
                "items": [{"id": "1", "content_text": "Hello", "date_published": "2026-01-01T10:00:00Z"}],
            })
            .to_string(),
        ),
    );
    let id = cli_ok(
        dir,
        &[
            "connect",
            "--user",
            "alice",
            "feed",
            "--url",
            &site.url("/feed.json"),
        ],
        None,
    );
    let env = [
        ("LIFEBOAT_SCHEDULER_ENABLED", "true"),
        ("LIFEBOAT_SCHEDULER_TICK_SECS", "1"),
    ];
    let scheduled_runs = || {
        let conn = rusqlite::Connection::open_with_flags(
            dir.join("lifeboat.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        conn.query_row(
            &format!(
                "SELECT COUNT(*) FROM sync_logs WHERE connection_id = {id} AND trigger = 'schedule' AND status = 'completed'"
            ),
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };
    {
        let _server = Server::start_with(dir, &env);
        let started = Instant::now();
        while scheduled_runs() == 0 && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            scheduled_runs(),
            1,
            "the new connection was backed up by the scheduler"
        );
        // Several more ticks: nothing is due for a day.
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(scheduled_runs(), 1);
    }
    let next: i64 = rusqlite::Connection::open(dir.join("lifeboat.db"))
        .unwrap()
        .query_row(
            &format!("SELECT next_sync_at - strftime('%s','now') FROM connections WHERE id = {id}"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(next > 3600, "next backup planned {next} s from now");
    let _server = Server::start_with(dir, &env);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(scheduled_runs(), 1, "the restart ran nothing twice");
    // Once when it was connected (finding the feed), once by the scheduler.
    assert_eq!(site.hits("/feed.json"), 2);
}

#[test]
fn nightly_backups_are_consistent_copies_and_only_seven_are_kept() {
    let data = tempfile::tempdir().unwrap();
    let app = App::open(data.path()).unwrap();
    add_connections(&app);
    for day in 0..9 {
        scheduler::nightly_backup(&app, T0 + day * 86_400).unwrap();
    }
    let mut names: Vec<String> = std::fs::read_dir(data.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), scheduler::BACKUPS_KEPT, "{names:?}");
    assert_eq!(names[0], "lifeboat-2026-01-03T000000Z.db");
    let copy = rusqlite::Connection::open(data.path().join("backups").join(&names[6])).unwrap();
    let count: i64 = copy
        .query_row("SELECT COUNT(*) FROM connections", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 8);
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
