//! Turning a platform's signals into one assessment: a local Ollama asked for structured
//! JSON (score, status, reason, the signals it relied on), validated; when Ollama is
//! absent, slow or answers nonsense, a rule-based score stands in and says so.

use std::time::Duration;

use ollama_rs::Ollama;
use ollama_rs::generation::chat::ChatMessage;
use ollama_rs::generation::chat::request::ChatMessageRequest;
use ollama_rs::generation::parameters::{FormatType, JsonSchema, JsonStructure};
use serde::Deserialize;
use serde_json::Value;

use crate::db::health::SignalRow;

pub const STATUSES: [&str; 4] = ["healthy", "watch", "at_risk", "dying"];

#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub score: i64,
    pub status: String,
    pub reason: String,
    /// Ids of the signals it relied on.
    pub relied_on: Vec<i64>,
    /// "ollama" or "rules".
    pub produced_by: &'static str,
    pub model: Option<String>,
}

pub fn status_for(score: i64) -> &'static str {
    match score {
        80.. => "healthy",
        55..=79 => "watch",
        25..=54 => "at_risk",
        _ => "dying",
    }
}

/// The rule-based score: 100, less a fixed amount per kind of bad news, each signal's
/// share capped, so one noisy source cannot condemn a platform on its own.
pub fn rules(
    platform_name: &str,
    signals: &[SignalRow],
    now: i64,
    why_not_ollama: &str,
) -> Assessment {
    let mut score: f64 = 100.0;
    let mut reasons: Vec<String> = Vec::new();
    let mut relied_on = Vec::new();
    let latest = |source: &str| signals.iter().find(|s| s.source == source);

    if let Some(s) = latest("error_rate")
        && let Some(rate) = s.value
        && rate > 0.05
    {
        score -= (rate * 60.0).min(30.0);
        reasons.push(format!("{:.0}% of its API requests fail", rate * 100.0));
        relied_on.push(s.id);
    }
    if let Some(s) = latest("gone") {
        score -= 20.0;
        reasons.push("its API answers 410 Gone".into());
        relied_on.push(s.id);
    }
    for source in ["sunset", "deprecation"] {
        if let Some(s) = latest(source) {
            let soon = s.value.is_some_and(|at| (at as i64) - now < 180 * 86_400);
            score -= if soon { 35.0 } else { 20.0 };
            reasons.push(format!("its API announces a {source}"));
            relied_on.push(s.id);
        }
    }
    if let Some(s) = latest("auth_failures")
        && let Some(share) = s.value
    {
        score -= (share * 20.0).min(20.0);
        reasons.push("accounts were refused access".into());
        relied_on.push(s.id);
    }
    let headlines: Vec<&SignalRow> = signals.iter().filter(|s| s.source == "news").collect();
    if !headlines.is_empty() {
        score -= (15.0 * headlines.len() as f64).min(40.0);
        reasons.push(format!(
            "{} worrying headline{} (latest: {})",
            headlines.len(),
            if headlines.len() == 1 { "" } else { "s" },
            headlines[0].detail.as_deref().unwrap_or("")
        ));
        relied_on.extend(headlines.iter().map(|s| s.id));
    }
    if let Some(s) = latest("status_page")
        && let Some(level) = s.value
        && level >= 1.0
    {
        score -= 7.0 * level;
        reasons.push(s.detail.clone().unwrap_or_default());
        relied_on.push(s.id);
    }
    if let Some(s) = latest("reachability")
        && s.value == Some(0.0)
    {
        score -= 25.0;
        reasons.push("its home page does not answer".into());
        relied_on.push(s.id);
    }
    if let Some(s) = latest("manual") {
        let shutdown = s.value.map(|at| at as i64);
        score = score.min(match shutdown {
            Some(at) if at - now < 365 * 86_400 => 10.0,
            Some(_) => 40.0,
            None => 50.0,
        });
        reasons.push(format!(
            "a person noted: {}",
            s.detail.as_deref().unwrap_or("")
        ));
        relied_on.push(s.id);
    }
    let score = score.round().clamp(0.0, 100.0) as i64;
    let status = status_for(score);
    let summary = if reasons.is_empty() {
        format!("Nothing worrying was observed about {platform_name}.")
    } else {
        format!("{platform_name}: {}.", reasons.join("; "))
    };
    Assessment {
        score,
        status: status.to_string(),
        reason: format!("{summary} (Rule-based score: {why_not_ollama}.)"),
        relied_on,
        produced_by: "rules",
        model: None,
    }
}

/// What Ollama is asked to answer, as a JSON schema (structured outputs).
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)] // read through serde; the schema is what matters
struct OllamaAnswer {
    /// 0 (gone) to 100 (thriving)
    score: i64,
    /// healthy, watch, at_risk or dying
    status: String,
    /// A few sentences a person can read
    reason: String,
    /// Ids of the signals the assessment relied on
    signals: Vec<i64>,
}

pub struct OllamaSettings {
    pub url: String,
    pub model: String,
    pub timeout: Duration,
}

/// Asks Ollama; any failure is an error with a person-readable cause.
pub async fn ollama(
    settings: &OllamaSettings,
    platform_name: &str,
    signals: &[SignalRow],
) -> Result<Assessment, String> {
    let url =
        url::Url::parse(&settings.url).map_err(|e| format!("the Ollama URL is invalid ({e})"))?;
    let http = reqwest::Client::builder()
        .timeout(settings.timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let client = Ollama::builder().url(url).reqwest_client(http).build();
    let system = "You watch online platforms for signs that they are shutting down, so a person \
        can save their data in time. Given signals about one platform (our API telemetry, news \
        headlines, status page, reachability, notes from people), answer with JSON only: a \
        score from 0 (gone) to 100 (thriving), a status (healthy, watch, at_risk or dying), a \
        reason of two to four sentences, and the ids of the signals you relied on.";
    let user = serde_json::json!({
        "platform": platform_name,
        "signals": super::signals::for_assessment(signals),
    })
    .to_string();
    let request = ChatMessageRequest::new(
        settings.model.clone(),
        vec![ChatMessage::system(system.into()), ChatMessage::user(user)],
    )
    .format(FormatType::StructuredJson(Box::new(JsonStructure::new::<
        OllamaAnswer,
    >())));
    let answer = tokio::time::timeout(settings.timeout, client.send_chat_messages(request))
        .await
        .map_err(|_| {
            format!(
                "Ollama did not answer within {} s",
                settings.timeout.as_secs()
            )
        })?
        .map_err(|e| match &e {
            ollama_rs::error::OllamaError::ReqwestError(r) if r.is_timeout() => {
                format!(
                    "Ollama did not answer within {} s",
                    settings.timeout.as_secs()
                )
            }
            _ => format!("Ollama is not available ({})", error_text(&e)),
        })?;
    validate(&answer.message.content, signals, &settings.model)
}

fn error_text(e: &ollama_rs::error::OllamaError) -> String {
    use std::error::Error as _;
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

/// Ollama's answer, checked: JSON of the right shape, a score in range, a known status,
/// a reason, and only signal ids it was given.
pub fn validate(content: &str, signals: &[SignalRow], model: &str) -> Result<Assessment, String> {
    let value: Value = serde_json::from_str(content.trim())
        .map_err(|e| format!("Ollama answered something that is not JSON ({e})"))?;
    let answer: OllamaAnswer = serde_json::from_value(value)
        .map_err(|e| format!("Ollama's answer has the wrong shape ({e})"))?;
    if !(0..=100).contains(&answer.score) {
        return Err(format!(
            "Ollama gave a score of {} (not 0–100)",
            answer.score
        ));
    }
    if !STATUSES.contains(&answer.status.as_str()) {
        return Err(format!("Ollama gave an unknown status {:?}", answer.status));
    }
    if answer.reason.trim().len() < 10 {
        return Err("Ollama gave no reason".into());
    }
    let known: Vec<i64> = signals.iter().map(|s| s.id).collect();
    if let Some(bad) = answer.signals.iter().find(|id| !known.contains(id)) {
        return Err(format!("Ollama cited signal {bad}, which it was not given"));
    }
    Ok(Assessment {
        score: answer.score,
        status: answer.status,
        reason: answer.reason.trim().to_string(),
        relied_on: answer.signals,
        produced_by: "ollama",
        model: Some(model.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(id: i64, source: &str, value: Option<f64>, detail: &str) -> SignalRow {
        SignalRow {
            id,
            source: source.into(),
            value,
            detail: Some(detail.into()),
            url: None,
            created_at: 0,
        }
    }

    #[test]
    fn no_bad_news_is_healthy_and_an_announced_shutdown_is_dying() {
        let now = 1_800_000_000;
        let calm = rules(
            "Reddit",
            &[signal(1, "reachability", Some(1.0), "ok")],
            now,
            "no Ollama",
        );
        assert_eq!((calm.score, calm.status.as_str()), (100, "healthy"));
        assert!(calm.reason.contains("Rule-based"));

        let doomed = rules(
            "Reddit",
            &[
                signal(
                    2,
                    "manual",
                    Some((now + 90 * 86_400) as f64),
                    "shuts down on 2027-03-01",
                ),
                signal(3, "news", None, "Reddit to shut down API"),
            ],
            now,
            "no Ollama",
        );
        assert_eq!(doomed.status, "dying");
        assert_eq!(doomed.relied_on, vec![3, 2]);
    }

    #[test]
    fn ollama_answers_are_validated() {
        let signals = [signal(7, "news", None, "x")];
        let good = r#"{"score": 35, "status": "at_risk", "reason": "Layoffs were announced and errors rose.", "signals": [7]}"#;
        let a = validate(good, &signals, "llama3.2").unwrap();
        assert_eq!(
            (a.score, a.status.as_str(), a.produced_by),
            (35, "at_risk", "ollama")
        );
        for bad in [
            "the platform is fine",
            r#"{"score": 135, "status": "healthy", "reason": "All good here, really.", "signals": []}"#,
            r#"{"score": 50, "status": "meh", "reason": "All good here, really.", "signals": []}"#,
            r#"{"score": 50, "status": "watch", "reason": "Hmm.", "signals": [99]}"#,
            r#"{"status": "watch"}"#,
        ] {
            assert!(validate(bad, &signals, "m").is_err(), "{bad}");
        }
    }
}
