//! The platform health monitor: for each platform someone backs up, collect signals
//! (telemetry summary, news, status page, reachability; manual notes arrive on their
//! own), then one assessment — Ollama's, or the rules' when Ollama cannot give one.
//! Run every six hours by the scheduler, and on demand (health page, `lifeboat health`).

pub mod assess;
pub mod signals;

use std::time::Duration;

use anyhow::Result;

use crate::app::App;
use crate::db::health::{NewAssessment, NewSignal};
use crate::platform::Platform;
use crate::{db, time};
use assess::{Assessment, OllamaSettings};
use signals::{Observed, Sources};

/// Signals older than this no longer count.
pub const WINDOW_SECS: i64 = 30 * 86_400;
/// Telemetry is summarised over the last day.
const TELEMETRY_SECS: i64 = 86_400;

pub const DEFAULT_OLLAMA_URL: &str = "http://127.0.0.1:11434";
pub const DEFAULT_OLLAMA_MODEL: &str = "llama3.2";
const DEFAULT_OLLAMA_TIMEOUT_SECS: u64 = 120;

fn sources_key(platform: Platform) -> String {
    format!("health.sources.{}", platform.id())
}

/// The household's Ollama settings (settings table), with defaults.
pub fn ollama_settings(app: &App) -> Result<OllamaSettings> {
    app.db.read_blocking(|c| {
        let get = |key: &str| db::settings::get(c, key);
        Ok(OllamaSettings {
            url: get("ollama.url")?.unwrap_or_else(|| DEFAULT_OLLAMA_URL.into()),
            model: get("ollama.model")?.unwrap_or_else(|| DEFAULT_OLLAMA_MODEL.into()),
            timeout: Duration::from_secs(
                get("ollama.timeout_secs")?
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(DEFAULT_OLLAMA_TIMEOUT_SECS),
            ),
        })
    })
}

pub fn sources(app: &App, platform: Platform) -> Result<Sources> {
    let stored = app
        .db
        .read_blocking(|c| Ok(db::settings::get(c, &sources_key(platform))?))?;
    Ok(stored
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_else(|| Sources::defaults(platform)))
}

pub fn set_sources(app: &App, platform: Platform, sources: &Sources) -> Result<()> {
    let value = serde_json::to_string(sources)?;
    app.db.write_blocking(|c| {
        Ok(db::settings::set(
            c,
            &sources_key(platform),
            &value,
            time::now(),
        )?)
    })
}

/// A person's note ("announced shutdown on 2027-03-01", with a link). A date makes it the
/// platform's shutdown date.
pub fn add_manual_signal(
    app: &App,
    platform: Platform,
    note: &str,
    shutdown_date: Option<i64>,
    url: Option<&str>,
) -> Result<()> {
    let now = time::now();
    app.db.write_blocking(|c| {
        let tx = db::immediate(c)?;
        db::health::insert_signal(
            &tx,
            &NewSignal {
                platform: platform.id(),
                source: "manual",
                value: shutdown_date.map(|d| d as f64),
                detail: Some(note),
                url,
                created_at: now,
            },
        )?;
        if shutdown_date.is_some() {
            db::health::set_shutdown_date(&tx, platform.id(), shutdown_date, now)?;
        }
        tx.commit()?;
        Ok(())
    })
}

/// Checks every watched platform; returns the assessments made.
pub async fn check_all(app: &App) -> Result<Vec<(Platform, Assessment)>> {
    let watched = app
        .db
        .read(|c| Ok(db::health::watched_platforms(c)?))
        .await?;
    let mut done = Vec::new();
    for platform in watched.iter().filter_map(|p| Platform::from_id(p)) {
        match check(app, platform).await {
            Ok(a) => done.push((platform, a)),
            Err(e) => {
                tracing::error!(platform = %platform, error = %format!("{e:#}"), "health check failed")
            }
        }
    }
    Ok(done)
}

/// Collects one platform's signals, assesses them and stores the assessment.
pub async fn check(app: &App, platform: Platform) -> Result<Assessment> {
    let now = time::now();
    let timeout = Duration::from_secs(app.config.request_timeout_secs.max(1));
    let sources = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || sources(&app, platform)).await??
    };
    let mut observed: Vec<Observed> = Vec::new();
    let (telemetry, reconnect) = app
        .db
        .read(move |c| {
            Ok((
                db::health::recent(c, platform.id(), now - TELEMETRY_SECS, 10_000, true)?,
                db::health::auth_failures(c, platform.id())?,
            ))
        })
        .await?;
    observed.extend(signals::summarise_telemetry(&telemetry, reconnect));
    for feed in &sources.news {
        match signals::news(&app.http, feed, timeout).await {
            Ok(headlines) => observed.extend(headlines),
            Err(e) => tracing::warn!(platform = %platform, error = %e, "news feed unreadable"),
        }
    }
    if let Some(page) = &sources.status_page {
        match signals::status_page(&app.http, page, timeout).await {
            Ok(status) => observed.push(status),
            Err(e) => tracing::warn!(platform = %platform, error = %e, "status page unreadable"),
        }
    }
    if let Some(home) = &sources.home {
        observed.push(signals::reachability(&app.http, home, timeout).await);
    }
    let recent = app
        .db
        .write(move |c| {
            let tx = db::immediate(c)?;
            for o in &observed {
                // A headline is one signal, however often the feed repeats it.
                if o.source == "news"
                    && let Some(url) = &o.url
                    && db::health::signal_exists(&tx, platform.id(), "news", url)?
                {
                    continue;
                }
                db::health::insert_signal(
                    &tx,
                    &NewSignal {
                        platform: platform.id(),
                        source: o.source,
                        value: o.value,
                        detail: Some(&o.detail),
                        url: o.url.as_deref(),
                        created_at: now,
                    },
                )?;
            }
            let recent = db::health::recent(&tx, platform.id(), now - WINDOW_SECS, 200, false)?;
            tx.commit()?;
            Ok(recent)
        })
        .await?;
    // Only the newest signal of each kind counts, but every headline does.
    let mut current = Vec::new();
    for s in recent {
        if s.source == "news"
            || s.source == "manual"
            || !current
                .iter()
                .any(|c: &db::health::SignalRow| c.source == s.source)
        {
            current.push(s);
        }
    }

    let settings = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || ollama_settings(&app)).await??
    };
    let assessment = match assess::ollama(&settings, platform.name(), &current).await {
        Ok(a) => a,
        Err(why) => {
            tracing::info!(platform = %platform, reason = %why, "rule-based health score");
            assess::rules(platform.name(), &current, now, &why)
        }
    };
    let stored = assessment.clone();
    app.db
        .write(move |c| {
            let relied = serde_json::to_string(&stored.relied_on)?;
            db::health::insert_assessment(
                c,
                &NewAssessment {
                    platform: platform.id(),
                    score: stored.score,
                    status: &stored.status,
                    reason: &stored.reason,
                    signals: &relied,
                    produced_by: stored.produced_by,
                    model: stored.model.as_deref(),
                    created_at: now,
                },
            )?;
            Ok(())
        })
        .await?;
    crate::emergency::consider(app, platform, &assessment).await?;
    Ok(assessment)
}
