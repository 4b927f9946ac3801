//! The health monitor against fake sources on 127.0.0.1: a news feed with a shutdown
//! headline, an Atlassian status page, a home page, and a fake Ollama speaking
//! `/api/chat` (and `/api/generate`) with structured output: a good answer, garbage, a
//! timeout, and no server at all.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::site::{Req, Route, Site};
use common::{Server, add_user, cli, cli_ok};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

fn news_feed(base: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Tech news</title><link>{base}/</link><description>n</description>
<item><title>Reddit announces it will shut down its public API for third-party apps</title>
<link>{base}/news/1</link><guid>{base}/news/1</guid><pubDate>Mon, 02 Nov 2026 09:00:00 GMT</pubDate></item>
<item><title>Reddit launches a new app icon</title>
<link>{base}/news/2</link><guid>{base}/news/2</guid><pubDate>Sun, 01 Nov 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"#
    )
}

/// Ollama's non-streaming chat answer, with `content` as the model's message.
fn chat_answer(content: &str) -> Route {
    Route::json(
        200,
        &json!({
            "model": "llama3.2",
            "created_at": "2026-11-23T10:00:00.000000Z",
            "message": {"role": "assistant", "content": content},
            "done_reason": "stop",
            "done": true,
            "total_duration": 5191566416u64,
            "load_duration": 2154458,
            "prompt_eval_count": 26,
            "prompt_eval_duration": 383809000,
            "eval_count": 298,
            "eval_duration": 4799921000u64
        }),
    )
}

struct Env {
    data: tempfile::TempDir,
    sources: Site,
    ollama: Site,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Env {
    fn new() -> Env {
        let data = tempfile::tempdir().unwrap();
        add_user(data.path(), "alice", PASSWORD, true);
        let sources = Site::start();
        sources.route(
            "/news.rss",
            Route::ok("application/rss+xml", news_feed(&sources.base)),
        );
        sources.route(
            "/api/v2/status.json",
            Route::json(
                200,
                &json!({
                    "page": {"id": "kctbh9vrtdwd", "name": "Reddit", "url": "https://www.redditstatus.com", "updated_at": "2026-11-23T09:00:00.000Z"},
                    "status": {"indicator": "major", "description": "Partial System Outage"}
                }),
            ),
        );
        sources.route("/", Route::ok("text/html", "<h1>home</h1>"));
        let ollama = Site::start();
        let env = Env {
            data,
            sources,
            ollama,
            requests: Arc::default(),
        };
        cli_ok(
            env.dir(),
            &[
                "health",
                "sources",
                "reddit",
                "--news",
                &env.sources.url("/news.rss"),
                "--status-page",
                &env.sources.url("/api/v2/status.json"),
                "--home",
                &env.sources.url("/"),
            ],
            None,
        );
        env.use_ollama(&env.ollama.base.clone());
        env
    }

    fn dir(&self) -> &Path {
        self.data.path()
    }

    fn use_ollama(&self, url: &str) {
        cli_ok(
            self.dir(),
            &[
                "health",
                "ollama",
                "--url",
                url,
                "--model",
                "llama3.2",
                "--timeout-secs",
                "2",
            ],
            None,
        );
    }

    /// The fake Ollama answers `/api/chat` with what `answer` makes of the request.
    fn ollama_answers(&self, answer: impl Fn(&Req) -> Route + Send + Sync + 'static) {
        let requests = self.requests.clone();
        self.ollama.handle("/api/chat", move |req| {
            requests.lock().unwrap().push(req.json());
            answer(req)
        });
        self.ollama.handle("/api/generate", |_| {
            Route::json(
                200,
                &json!({"model": "llama3.2", "response": "{}", "done": true}),
            )
        });
    }

    fn check(&self) -> String {
        cli_ok(
            self.dir(),
            &["health", "check", "--platform", "reddit"],
            None,
        )
    }

    fn latest(&self) -> (i64, String, String, String) {
        let conn = rusqlite::Connection::open(self.dir().join("lifeboat.db")).unwrap();
        conn.query_row(
            "SELECT score, status, produced_by, reason FROM health_assessments ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    }
}

#[test]
fn a_good_ollama_answer_is_stored_with_the_signals_it_relied_on() {
    let env = Env::new();
    env.ollama_answers(|req| {
        // It was given the headline and the status page, and asked for structured JSON.
        let body = req.json();
        let prompt = body["messages"][1]["content"].as_str().unwrap_or("").to_string();
        assert_eq!(body["model"], "llama3.2");
        assert_eq!(body["stream"], false);
        assert_eq!(body["format"]["type"], "object");
        assert!(body["format"]["properties"]["score"].is_object());
        let signals: Value = serde_json::from_str(&prompt).unwrap();
        let news = signals["signals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == "news")
            .expect("the headline is among the signals");
        let id = news["id"].as_i64().unwrap();
        chat_answer(
            &json!({
                "score": 22,
                "status": "dying",
                "reason": "Reddit announced it will shut down its public API, and its status page reports a major outage.",
                "signals": [id],
            })
            .to_string(),
        )
    });
    let out = env.check();
    assert!(
        out.starts_with("reddit: dying (22/100, by llama3.2)"),
        "{out}"
    );
    let (score, status, by, reason) = env.latest();
    assert_eq!(
        (score, status.as_str(), by.as_str()),
        (22, "dying", "ollama")
    );
    assert!(reason.contains("shut down its public API"));
    // Only the warning headline became a signal, once, however often it is checked.
    env.check();
    let conn = rusqlite::Connection::open(env.dir().join("lifeboat.db")).unwrap();
    let headlines: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM health_signals WHERE platform = 'reddit' AND source = 'news'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(headlines, 1);
    assert_eq!(env.requests.lock().unwrap().len(), 2);
}

#[test]
fn garbage_a_timeout_or_no_ollama_falls_back_to_rules_and_says_why() {
    let env = Env::new();
    // Garbage: prose instead of JSON, then JSON with an impossible score.
    env.ollama_answers(|_| chat_answer("Reddit seems fine to me!"));
    env.check();
    let (score, status, by, reason) = env.latest();
    assert_eq!(by, "rules");
    assert!(reason.contains("not JSON"), "{reason}");
    // The rules see the shutdown headline and the major outage.
    assert!(score < 80, "{score}");
    assert_ne!(status, "healthy");
    assert!(reason.contains("worrying headline"), "{reason}");

    env.ollama_answers(|_| {
        chat_answer(r#"{"score": 250, "status": "healthy", "reason": "Everything is fine.", "signals": []}"#)
    });
    env.check();
    assert!(env.latest().3.contains("not 0–100"), "{}", env.latest().3);

    // Slow: the answer comes after the 2 s the settings allow.
    env.ollama_answers(|_| chat_answer("{}").delay(Duration::from_secs(5)));
    let started = std::time::Instant::now();
    env.check();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        env.latest().3.contains("did not answer within 2 s"),
        "{}",
        env.latest().3
    );

    // No Ollama at all.
    env.use_ollama(&format!("http://127.0.0.1:{}", common::free_port()));
    env.check();
    let (_, _, by, reason) = env.latest();
    assert_eq!(by, "rules");
    assert!(reason.contains("Ollama is not available"), "{reason}");
}

#[tokio::test]
async fn the_health_page_draws_the_score_history_and_takes_a_persons_note() {
    let env = Env::new();
    env.ollama_answers(|_| chat_answer("no"));
    env.check();
    // An announcement a person saw: the rules make the platform dying.
    cli_ok(
        env.dir(),
        &[
            "health",
            "signal",
            "reddit",
            "--note",
            "announced shutdown",
            "--shutdown",
            "2027-03-01",
        ],
        None,
    );
    env.check();
    // Watched platforms are the ones someone backs up: an import connection is enough.
    let conn = rusqlite::Connection::open(env.dir().join("lifeboat.db")).unwrap();
    conn.execute(
        "INSERT INTO connections (user_id, platform, kind, label, created_at, updated_at)
         VALUES (1, 'reddit', 'import', 'Reddit export', 0, 0)",
        [],
    )
    .unwrap();
    let server = Server::start_in(env.dir());
    let browser = server.browser();
    browser.login_ok("alice", PASSWORD).await;
    let page = browser.get("/health").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg class=\"chart\""), "{}", page.body);
    let points = page
        .body
        .split("points=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    assert_eq!(
        points.split(' ').count(),
        2,
        "two assessments, two points: {points}"
    );
    assert!(page.body.contains("the rule-based fallback"));
    assert!(page.body.contains("announced shutdown"));
    assert!(page.body.contains("Announced shutdown:"));
    assert!(page.body.contains("badge dying"));

    // A note through the page needs the CSRF token like every form.
    let refused = browser
        .post_form("/health/reddit/signals", &[("note", "layoffs")])
        .await;
    assert_eq!(refused.status, 403);
    let added = browser
        .submit(
            "/health",
            "/health/reddit/signals",
            &[("note", "layoffs announced")],
        )
        .await;
    assert_eq!(added.status, 303);
    assert!(
        browser
            .get("/health")
            .await
            .body
            .contains("layoffs announced")
    );
    drop(server);
    let out = cli(
        env.dir(),
        &["health", "signal", "nosuch", "--note", "x"],
        None,
    );
    assert!(!out.status.success());
}
