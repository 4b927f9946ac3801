//! Where health signals come from: our own connectors' telemetry (summarised), news and
//! announcement feeds, the platform's status page, and plain reachability of its home
//! page. Each collector returns signals; the monitor stores them.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::db::health::SignalRow;
use crate::platform::Platform;

/// A signal about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub source: &'static str,
    pub value: Option<f64>,
    pub detail: String,
    pub url: Option<String>,
}

/// Where to look for one platform's news, status and home page. A setting per platform
/// (`health.sources.<platform>`), with defaults a person can change on the health page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sources {
    #[serde(default)]
    pub news: Vec<String>,
    /// An Atlassian Statuspage `…/api/v2/status.json` (or `summary.json`).
    #[serde(default)]
    pub status_page: Option<String>,
    #[serde(default)]
    pub home: Option<String>,
}

impl Sources {
    /// A news search feed for the platform's name with the words that matter, its status
    /// page where it has a public Statuspage, and its home page.
    pub fn defaults(platform: Platform) -> Sources {
        let (name, home, status) = match platform {
            Platform::Twitter => ("Twitter", Some("https://x.com"), None),
            Platform::Mastodon => (
                "Mastodon social network",
                Some("https://joinmastodon.org"),
                None,
            ),
            Platform::Bluesky => ("Bluesky social", Some("https://bsky.app"), None),
            Platform::Instagram => ("Instagram", Some("https://www.instagram.com"), None),
            Platform::Facebook => ("Facebook", Some("https://www.facebook.com"), None),
            Platform::Reddit => (
                "Reddit",
                Some("https://www.reddit.com"),
                Some("https://www.redditstatus.com/api/v2/status.json"),
            ),
            Platform::Youtube => ("YouTube", Some("https://www.youtube.com"), None),
            Platform::Strava => ("Strava", Some("https://www.strava.com"), None),
            Platform::Wordpress => ("WordPress.com", Some("https://wordpress.com"), None),
            Platform::Tumblr => ("Tumblr", Some("https://www.tumblr.com"), None),
            Platform::Medium => ("Medium", Some("https://medium.com"), None),
            Platform::Feed => return Sources::default(),
        };
        let query = format!(
            "\"{name}\" (shutdown OR \"shutting down\" OR sunset OR discontinued OR \"read-only\" OR acquisition OR layoffs OR \"API\")"
        );
        let mut news = url::Url::parse("https://news.google.com/rss/search").expect("valid URL");
        news.query_pairs_mut().append_pair("q", &query);
        Sources {
            news: vec![news.to_string()],
            status_page: status.map(String::from),
            home: home.map(String::from),
        }
    }
}

/// Words in a headline that say a platform may be going away.
const WARNING_WORDS: &[&str] = &[
    "shutdown",
    "shut down",
    "shutting down",
    "shuts down",
    "sunset",
    "discontinu",
    "read-only",
    "read only",
    "acquisition",
    "acquire",
    "acquires",
    "layoff",
    "laid off",
    "end-of-life",
    "end of life",
    "api end",
    "deprecat",
    "closing down",
    "winding down",
];

/// Our own telemetry of the last window, summarised: error rate, 410 Gone, rate limits,
/// Sunset / Deprecation headers. `rows` are the raw telemetry rows (weighted samples).
pub fn summarise_telemetry(rows: &[SignalRow], reconnect: (i64, i64)) -> Vec<Observed> {
    let mut total = 0.0;
    let mut errors = 0.0;
    let (mut gone, mut limited) = (0.0, 0.0);
    let mut notices: Vec<(String, String)> = Vec::new();
    for row in rows.iter().filter(|r| r.source == "telemetry") {
        let detail: Value = row
            .detail
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(Value::Null);
        let weight = detail["weight"].as_f64().unwrap_or(1.0);
        let status = row.value.unwrap_or(0.0) as u16;
        total += weight;
        if status == 0 || status >= 500 {
            errors += weight;
        }
        if status == 410 {
            gone += 1.0;
        }
        if status == 429 {
            limited += 1.0;
        }
        for key in ["sunset", "deprecation"] {
            if let Some(value) = detail[key].as_str() {
                let notice = (key.to_string(), value.to_string());
                if !notices.contains(&notice) {
                    notices.push(notice);
                }
            }
        }
    }
    let mut out = Vec::new();
    if total > 0.0 {
        out.push(Observed {
            source: "error_rate",
            value: Some(errors / total),
            detail: format!(
                "{:.0}% of about {total:.0} requests failed (5xx, timeouts, refused)",
                100.0 * errors / total
            ),
            url: None,
        });
    }
    if gone > 0.0 {
        out.push(Observed {
            source: "gone",
            value: Some(gone),
            detail: format!("{gone:.0} requests answered 410 Gone"),
            url: None,
        });
    }
    if limited > 0.0 {
        out.push(Observed {
            source: "rate_limited",
            value: Some(limited),
            detail: format!("{limited:.0} requests answered 429 Too Many Requests"),
            url: None,
        });
    }
    for (key, value) in notices {
        out.push(Observed {
            source: if key == "sunset" {
                "sunset"
            } else {
                "deprecation"
            },
            value: httpdate::parse_http_date(&value).ok().map(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs() as f64
            }),
            detail: format!("the API answers with a {key} header: {value}"),
            url: None,
        });
    }
    let (connections, refused) = reconnect;
    if refused > 0 {
        out.push(Observed {
            source: "auth_failures",
            value: Some(refused as f64 / connections.max(1) as f64),
            detail: format!(
                "{refused} of {connections} connections were refused and need reconnecting"
            ),
            url: None,
        });
    }
    out
}

/// Headlines of a news or announcement feed that carry a warning word.
pub async fn news(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Vec<Observed>, String> {
    let body = get(http, url, timeout).await?;
    let feed =
        feed_rs::parser::parse(&body[..]).map_err(|e| format!("{url} is not a feed: {e}"))?;
    let mut out = Vec::new();
    for entry in feed.entries {
        let title = entry.title.map(|t| t.content).unwrap_or_default();
        let summary = entry.summary.map(|t| t.content).unwrap_or_default();
        let haystack = format!("{title} {summary}").to_lowercase();
        let Some(word) = WARNING_WORDS.iter().find(|w| haystack.contains(*w)) else {
            continue;
        };
        let link = entry.links.first().map(|l| l.href.clone());
        out.push(Observed {
            source: "news",
            value: entry
                .published
                .or(entry.updated)
                .map(|d| d.timestamp() as f64),
            detail: format!("{} (matched “{word}”)", title.trim()),
            url: link.or_else(|| Some(format!("{url}#{}", entry.id))),
        });
    }
    Ok(out)
}

/// An Atlassian Statuspage's overall indicator: none 0, minor 1, major 2, critical 3.
pub async fn status_page(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Observed, String> {
    let body = get(http, url, timeout).await?;
    let page: Value =
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON ({e})"))?;
    let indicator = page["status"]["indicator"]
        .as_str()
        .ok_or_else(|| format!("{url}: no status.indicator (not a Statuspage?)"))?;
    let value = match indicator {
        "none" => 0.0,
        "minor" => 1.0,
        "major" => 2.0,
        "critical" => 3.0,
        _ => 1.0,
    };
    let description = page["status"]["description"].as_str().unwrap_or(indicator);
    Ok(Observed {
        source: "status_page",
        value: Some(value),
        detail: format!("status page: {description} ({indicator})"),
        url: Some(url.to_string()),
    })
}

/// Whether the home page answers at all (1) or not (0), and how.
pub async fn reachability(http: &reqwest::Client, url: &str, timeout: Duration) -> Observed {
    let started = Instant::now();
    let (value, detail) = match http.get(url).timeout(timeout).send().await {
        Ok(r) if r.status().is_success() || r.status().is_redirection() => (
            1.0,
            format!(
                "home page answered {} in {} ms",
                r.status(),
                started.elapsed().as_millis()
            ),
        ),
        Ok(r) => (0.0, format!("home page answered {}", r.status())),
        Err(e) => (
            0.0,
            format!(
                "home page unreachable: {}",
                crate::connectors::api::error_chain(&e)
            ),
        ),
    };
    Observed {
        source: "reachability",
        value: Some(value),
        detail,
        url: Some(url.to_string()),
    }
}

async fn get(http: &reqwest::Client, url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let response = http
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", crate::connectors::api::error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    crate::connectors::api::read_body(response)
        .await
        .map_err(|e| e.to_string())
}

/// The signals as the assessment sees them (and as Ollama gets them).
pub fn for_assessment(rows: &[SignalRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "source": r.source,
                    "value": r.value,
                    "detail": r.detail,
                    "url": r.url,
                    "at": crate::time::rfc3339(r.created_at),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: f64, detail: Value) -> SignalRow {
        SignalRow {
            id: 1,
            source: "telemetry".into(),
            value: Some(status),
            detail: Some(detail.to_string()),
            url: None,
            created_at: 0,
        }
    }

    #[test]
    fn telemetry_is_weighted_by_sampling() {
        let rows = vec![
            row(200.0, json!({"weight": 20})),
            row(500.0, json!({"weight": 1})),
            row(0.0, json!({"weight": 1, "error": "timed out"})),
            row(410.0, json!({"weight": 1})),
            row(
                200.0,
                json!({"weight": 1, "sunset": "Sat, 01 May 2027 00:00:00 GMT"}),
            ),
        ];
        let out = summarise_telemetry(&rows, (4, 1));
        let get = |s: &str| out.iter().find(|o| o.source == s).unwrap();
        assert!((get("error_rate").value.unwrap() - 2.0 / 24.0).abs() < 1e-9);
        assert_eq!(get("gone").value, Some(1.0));
        assert_eq!(get("sunset").value, Some(1_809_129_600.0)); // 2027-05-01
        assert_eq!(get("auth_failures").value, Some(0.25));
    }

    #[test]
    fn default_sources_search_the_news_for_the_platform() {
        let s = Sources::defaults(Platform::Reddit);
        assert!(s.news[0].starts_with("https://news.google.com/rss/search?q="));
        assert!(s.status_page.unwrap().ends_with("/api/v2/status.json"));
        assert_eq!(Sources::defaults(Platform::Feed), Sources::default());
    }
}
