//! Every request a connector makes goes through `Api`: the connection's credentials are
//! attached and renewed (before expiry and once on a 401), the platform's gate keeps the
//! quota and the circuit breaker, 429s wait for their Retry-After, 5xx and timeouts are
//! retried with jittered backoff, and each request leaves telemetry for the health monitor.
//! Connectors only build requests and read answers.

use std::error::Error as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::credentials::Credentials;
use super::gate::Gate;
use super::{Auth, Connector, FetchError};
use crate::time;

/// No API answer Lifeboat reads is bigger; a larger body is a misbehaving server.
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// A 429 without a usable Retry-After waits this long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// 429s in a row for one request before the sync gives up and reschedules itself.
const MAX_RATE_LIMITED: u32 = 5;
/// One successful request in this many leaves a telemetry row; failures always do.
const SAMPLE_EVERY: u64 = 20;

/// How patient a sync is with a platform. Tests shorten it.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// One request, from sending to the last byte of its headers.
    pub timeout: Duration,
    /// First backoff after a 5xx or a timeout; doubled per attempt, with jitter.
    pub base_delay: Duration,
    /// Tries per request for 5xx and timeouts.
    pub attempts: u32,
    /// The longest Retry-After a sync waits out; a longer one ends the sync, which is
    /// rescheduled for after it.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            timeout: Duration::from_secs(30),
            base_delay: Duration::from_secs(1),
            attempts: 4,
            max_wait: Duration::from_secs(60),
        }
    }
}

/// One row for `health_signals`, written with the page it was recorded during.
#[derive(Debug, Clone)]
pub struct Signal {
    pub source: &'static str,
    pub value: f64,
    pub detail: String,
    pub url: Option<String>,
    pub at: i64,
}

pub struct Api {
    http: reqwest::Client,
    connector: &'static dyn Connector,
    gate: Arc<Gate>,
    policy: RetryPolicy,
    credentials: Mutex<Option<Credentials>>,
    credentials_changed: AtomicBool,
    signals: Mutex<Vec<Signal>>,
    requests: AtomicU64,
    expected_total: Mutex<Option<i64>>,
}

/// A JSON answer: the value, and the body exactly as sent, to keep as the raw payload.
pub struct Json<T> {
    pub value: T,
    pub body: Vec<u8>,
    pub headers: HeaderMap,
    pub url: String,
}

impl Api {
    pub fn new(
        http: reqwest::Client,
        connector: &'static dyn Connector,
        gate: Arc<Gate>,
        policy: RetryPolicy,
        credentials: Option<Credentials>,
    ) -> Api {
        Api {
            http,
            connector,
            gate,
            policy,
            credentials: Mutex::new(credentials),
            credentials_changed: AtomicBool::new(false),
            signals: Mutex::default(),
            requests: AtomicU64::new(0),
            expected_total: Mutex::default(),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn platform(&self) -> crate::platform::Platform {
        self.connector.platform()
    }

    pub fn credentials(&self) -> Option<Credentials> {
        self.credentials.lock().expect("credentials lock").clone()
    }

    /// New credentials (a refresh, a login): used from the next request on, and stored
    /// by the sync with its next page.
    pub fn set_credentials(&self, credentials: Credentials) {
        *self.credentials.lock().expect("credentials lock") = Some(credentials);
        self.credentials_changed.store(true, Ordering::SeqCst);
    }

    /// The credentials to store, if they changed since the last call.
    pub fn take_changed_credentials(&self) -> Option<Credentials> {
        self.credentials_changed
            .swap(false, Ordering::SeqCst)
            .then(|| self.credentials())
            .flatten()
    }

    /// What the platform says the account holds in all (a total in a header or a field),
    /// when its API tells: the emergency page estimates what is left from it.
    pub fn report_total(&self, total: i64) {
        *self.expected_total.lock().expect("total lock") = Some(total);
    }

    pub fn take_total(&self) -> Option<i64> {
        self.expected_total.lock().expect("total lock").take()
    }

    pub fn take_signals(&self) -> Vec<Signal> {
        std::mem::take(&mut *self.signals.lock().expect("signals lock"))
    }

    /// Requests sent so far (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// A request with the connection's credentials. Answers with a 2xx or 304 response.
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder + Sync,
    ) -> Result<Response, FetchError> {
        self.execute(&build, true).await
    }

    /// A request without the connection's credentials: logins, token refreshes, public data.
    pub async fn send_anonymous(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder + Sync,
    ) -> Result<Response, FetchError> {
        self.execute(&build, false).await
    }

    /// `send`, then the body read and parsed as `T`.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder + Sync,
    ) -> Result<Json<T>, FetchError> {
        let response = self.send(build).await?;
        read_json(response).await
    }

    async fn execute(
        &self,
        build: &(dyn Fn(&reqwest::Client) -> RequestBuilder + Sync),
        authenticated: bool,
    ) -> Result<Response, FetchError> {
        if authenticated && self.needs_renewal() {
            self.renew().await?;
        }
        let mut attempt = 0;
        let mut rate_limited = 0;
        let mut renewed = false;
        loop {
            if let Err(open) = self.gate.admit().await {
                return Err(FetchError::Transient(format!(
                    "{} keeps failing; Lifeboat stopped asking it for {} s (circuit breaker)",
                    self.connector.platform().name(),
                    open.for_.as_secs().max(1)
                )));
            }
            let mut request = build(&self.http)
                .timeout(self.policy.timeout)
                .build()
                .map_err(|e| FetchError::Invalid(format!("cannot build the request: {e}")))?;
            if authenticated
                && !request.headers().contains_key(header::AUTHORIZATION)
                && let Some(value) = self.credentials().and_then(|c| c.authorization())
                && let Ok(mut value) = HeaderValue::from_str(&value)
            {
                value.set_sensitive(true);
                request.headers_mut().insert(header::AUTHORIZATION, value);
            }
            let url = redacted(request.url());
            let started = Instant::now();
            let sent = self.http.execute(request).await;
            let latency = started.elapsed();
            self.requests.fetch_add(1, Ordering::SeqCst);
            attempt += 1;

            let response = match sent {
                Ok(response) => response,
                Err(e) => {
                    let message = error_chain(&e);
                    self.record(&url, 0, latency, None, Some(&message));
                    let opened = self.gate.failed();
                    if e.is_builder() {
                        return Err(FetchError::Invalid(format!("not a usable URL ({message})")));
                    }
                    if opened {
                        return Err(self.breaker_opened(&message));
                    }
                    if attempt >= self.policy.attempts {
                        return Err(FetchError::Transient(message));
                    }
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
            };
            let status = response.status();
            self.record(
                &url,
                status.as_u16(),
                latency,
                Some(response.headers()),
                None,
            );
            if let Some((remaining, reset)) = rate_limit(response.headers(), SystemTime::now()) {
                self.gate.observe_limit(remaining, reset);
            }
            if status.is_success() || status == StatusCode::NOT_MODIFIED {
                self.gate.succeeded();
                return Ok(response);
            }
            // Any answer means the platform is up, whatever it says.
            if !(status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT) {
                self.gate.succeeded();
            }
            let headers = response.headers().clone();
            let body = error_body(response).await;
            if let Some(error) = self.connector.classify(status.as_u16(), &body) {
                if let FetchError::RateLimited { retry_after } = &error {
                    self.gate.pause(*retry_after);
                }
                return Err(error);
            }
            let excerpt = excerpt(&body);
            let answered = || {
                let body = if excerpt.is_empty() {
                    String::new()
                } else {
                    format!(": {excerpt}")
                };
                format!("{url} answered HTTP {status}{body}")
            };
            match status.as_u16() {
                401 | 400 if status == 401 || expired_token(&excerpt) => {
                    if authenticated && !renewed && self.renewable() {
                        renewed = true;
                        self.renew().await?;
                        continue;
                    }
                    return Err(FetchError::Auth(answered()));
                }
                403 => return Err(FetchError::Auth(answered())),
                429 => {
                    let wait = retry_after(headers.get(header::RETRY_AFTER), SystemTime::now());
                    self.gate.pause(wait);
                    rate_limited += 1;
                    if wait > self.policy.max_wait || rate_limited >= MAX_RATE_LIMITED {
                        return Err(FetchError::RateLimited { retry_after: wait });
                    }
                    // The gate holds the next request until the wait is over.
                }
                408 | 500..=599 => {
                    if self.gate.failed() {
                        return Err(self.breaker_opened(&answered()));
                    }
                    if attempt >= self.policy.attempts {
                        return Err(FetchError::Transient(answered()));
                    }
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                _ => return Err(FetchError::Invalid(answered())),
            }
        }
    }

    fn breaker_opened(&self, last: &str) -> FetchError {
        FetchError::Transient(format!(
            "{last}; {} keeps failing, so Lifeboat leaves it alone for a while (circuit breaker)",
            self.connector.platform().name()
        ))
    }

    fn renewable(&self) -> bool {
        match self.credentials() {
            Some(Credentials::OAuth2 { refresh_token, .. }) => refresh_token.is_some(),
            Some(Credentials::AppPassword { .. }) => self.connector.auth() == Auth::Session,
            _ => false,
        }
    }

    fn needs_renewal(&self) -> bool {
        match self.credentials() {
            Some(Credentials::AppPassword { session: None, .. }) => {
                self.connector.auth() == Auth::Session
            }
            Some(c) => c.expiring(time::now()),
            None => false,
        }
    }

    /// New access from the connector (an OAuth2 refresh, a new session). A refusal means
    /// a person has to reconnect.
    async fn renew(&self) -> Result<(), FetchError> {
        let credentials = self.connector.renew(self).await?;
        self.set_credentials(credentials);
        Ok(())
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.policy.base_delay * 2u32.saturating_pow(attempt.saturating_sub(1));
        // Full jitter on half of it: syncs that failed together do not retry together.
        let jitter = rand::rng().random_range(0.0..=0.5);
        base.mul_f64(0.5 + jitter)
    }

    fn record(
        &self,
        url: &str,
        status: u16,
        latency: Duration,
        headers: Option<&HeaderMap>,
        error: Option<&str>,
    ) {
        let text = |name: &str| {
            headers
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let (sunset, deprecation, warning) = (text("sunset"), text("deprecation"), text("warning"));
        let notable = !(200..400).contains(&status)
            || sunset.is_some()
            || deprecation.is_some()
            || warning.is_some();
        let count = self.requests.load(Ordering::SeqCst);
        if !notable && count % SAMPLE_EVERY != 1 {
            return;
        }
        let mut detail = json!({
            "status": status,
            "latency_ms": latency.as_millis() as u64,
            // How many requests this row stands for: the monitor weighs by it.
            "weight": if notable { 1 } else { SAMPLE_EVERY },
        });
        for (key, value) in [
            ("sunset", sunset),
            ("deprecation", deprecation),
            ("warning", warning),
            ("error", error.map(String::from)),
        ] {
            if let Some(value) = value {
                detail[key] = value.into();
            }
        }
        self.signals.lock().expect("signals lock").push(Signal {
            source: "telemetry",
            value: status as f64,
            detail: detail.to_string(),
            url: Some(url.to_string()),
            at: time::now(),
        });
    }
}

/// Reads a JSON body (bounded), keeping the bytes.
pub async fn read_json<T: DeserializeOwned>(response: Response) -> Result<Json<T>, FetchError> {
    let url = redacted(response.url());
    let headers = response.headers().clone();
    let body = read_body(response).await?;
    let value = serde_json::from_slice(&body).map_err(|e| {
        FetchError::Invalid(format!(
            "{url} answered something that is not the expected JSON ({e})"
        ))
    })?;
    Ok(Json {
        value,
        body,
        headers,
        url,
    })
}

/// Reads a body, refusing one larger than `MAX_BODY`.
pub async fn read_body(mut response: Response) -> Result<Vec<u8>, FetchError> {
    let too_large = || {
        FetchError::Invalid(format!(
            "the response is larger than {} MB",
            MAX_BODY / (1024 * 1024)
        ))
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Transient(error_chain(&e)))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// reqwest's own message hides the cause ("connection refused", "dns error") in its sources.
pub fn error_chain(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

/// A URL for logs and telemetry: no query string, which may carry ids or tokens.
fn redacted(url: &url::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// The start of an error body (8 KB at most: error answers are small, a misbehaving
/// server's may not be).
async fn error_body(mut response: Response) -> String {
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        bytes.extend_from_slice(&chunk);
        if bytes.len() >= 8192 {
            bytes.truncate(8192);
            break;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The start of an error body, for the sync log: enough to read the platform's message.
fn excerpt(body: &str) -> String {
    let start: String = body.chars().take(300).collect();
    start.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// XRPC servers (AT Protocol) answer an expired access token with 400 ExpiredToken.
fn expired_token(body: &str) -> bool {
    body.contains("\"ExpiredToken\"") || body.contains("\"InvalidToken\"")
}

/// Retry-After is either seconds or an HTTP date.
pub fn retry_after(value: Option<&HeaderValue>, now: SystemTime) -> Duration {
    let Some(value) = value.and_then(|v| v.to_str().ok()).map(str::trim) else {
        return DEFAULT_RETRY_AFTER;
    };
    if let Ok(seconds) = value.parse::<u64>() {
        return Duration::from_secs(seconds);
    }
    match httpdate::parse_http_date(value) {
        // A date already past means "now".
        Ok(when) => when.duration_since(now).unwrap_or(Duration::ZERO),
        Err(_) => DEFAULT_RETRY_AFTER,
    }
}

/// What the platform's rate-limit headers say is left: (requests remaining, time until
/// the window resets). Understands the common spellings: `X-RateLimit-Remaining` with a
/// reset in seconds (Reddit), a unix time (AT Protocol) or an ISO date (Mastodon), the
/// IETF `RateLimit-*` draft, and Strava's `X-RateLimit-Limit`/`-Usage` pairs.
pub fn rate_limit(headers: &HeaderMap, now: SystemTime) -> Option<(f64, Duration)> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let unix_now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    // Strava's read limit, when sent, is the one that binds a backup (reads only).
    let strava = (text("x-readratelimit-limit"), text("x-readratelimit-usage"));
    let strava = match strava {
        (Some(limit), Some(usage)) => Some((limit, usage)),
        _ => match (text("x-ratelimit-limit"), text("x-ratelimit-usage")) {
            (Some(limit), Some(usage)) if limit.contains(',') => Some((limit, usage)),
            _ => None,
        },
    };
    if let Some((limit, usage)) = strava {
        // Strava: "short,daily" limits and usage; the short window is 15 minutes, aligned
        // to the quarter hour, the daily one ends at midnight UTC. The tighter one counts.
        let pair = |s: &str, i: usize| s.split(',').nth(i)?.trim().parse::<f64>().ok();
        let short = pair(limit, 0)? - pair(usage, 0)?;
        let short_reset = 900.0 - unix_now % 900.0;
        if let (Some(daily_limit), Some(daily_usage)) = (pair(limit, 1), pair(usage, 1))
            && daily_limit - daily_usage < 1.0
        {
            let midnight = 86_400.0 - unix_now % 86_400.0;
            return Some((0.0, Duration::from_secs_f64(midnight)));
        }
        return Some((short.max(0.0), Duration::from_secs_f64(short_reset)));
    }
    let remaining = text("x-ratelimit-remaining")
        .or_else(|| text("ratelimit-remaining"))?
        .parse::<f64>()
        .ok()?;
    let reset = text("x-ratelimit-reset").or_else(|| text("ratelimit-reset"))?;
    let seconds = if let Ok(number) = reset.parse::<f64>() {
        // Big numbers are unix times, small ones are seconds from now.
        if number > 1_000_000_000.0 {
            number - unix_now
        } else {
            number
        }
    } else {
        let when =
            ::time::OffsetDateTime::parse(reset, &::time::format_description::well_known::Rfc3339)
                .ok()?;
        when.unix_timestamp() as f64 - unix_now
    };
    Some((
        remaining,
        Duration::from_secs_f64(seconds.clamp(0.0, 3600.0)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let value = HeaderValue::from_static("7");
        assert_eq!(retry_after(Some(&value), now), Duration::from_secs(7));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        let value = HeaderValue::from_str(&date).unwrap();
        assert_eq!(retry_after(Some(&value), now), Duration::from_secs(90));
        assert_eq!(retry_after(None, now), DEFAULT_RETRY_AFTER);
    }

    #[test]
    fn rate_limit_headers_of_each_platform() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        // Reddit: float remaining, reset in seconds.
        let reddit = headers(&[
            ("x-ratelimit-remaining", "598.0"),
            ("x-ratelimit-reset", "12"),
        ]);
        assert_eq!(
            rate_limit(&reddit, now),
            Some((598.0, Duration::from_secs(12)))
        );
        // AT Protocol: reset as a unix time.
        let bsky = headers(&[
            ("ratelimit-remaining", "2999"),
            ("ratelimit-reset", "1700000300"),
        ]);
        assert_eq!(
            rate_limit(&bsky, now),
            Some((2999.0, Duration::from_secs(300)))
        );
        // Mastodon: reset as an ISO date.
        let mastodon = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "2023-11-14T22:15:20.000Z"), // +120 s
        ]);
        assert_eq!(
            rate_limit(&mastodon, now),
            Some((0.0, Duration::from_secs(120)))
        );
        // Strava: 15-minute and daily pairs.
        let strava = headers(&[
            ("x-ratelimit-limit", "100,1000"),
            ("x-ratelimit-usage", "97,400"),
        ]);
        let (remaining, reset) = rate_limit(&strava, now).unwrap();
        assert_eq!(remaining, 3.0);
        assert!(reset <= Duration::from_secs(900));
        // The read limit wins; a spent daily limit waits for midnight UTC.
        let read = headers(&[
            ("x-ratelimit-limit", "200,2000"),
            ("x-ratelimit-usage", "10,100"),
            ("x-readratelimit-limit", "100,1000"),
            ("x-readratelimit-usage", "30,1000"),
        ]);
        let (remaining, reset) = rate_limit(&read, now).unwrap();
        assert_eq!(remaining, 0.0);
        assert!(reset > Duration::from_secs(900));
        assert_eq!(rate_limit(&HeaderMap::new(), now), None);
    }

    /// A local server answering each request with the next of `answers` (status, headers),
    /// then 200 forever. Returns its base URL and a request counter.
    async fn server(
        answers: Vec<(u16, Vec<(&'static str, &'static str)>)>,
    ) -> (String, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        let answers = Arc::new(Mutex::new(std::collections::VecDeque::from(answers)));
        let seen = count.clone();
        let app = axum::Router::new().fallback(move || {
            let (seen, answers) = (seen.clone(), answers.clone());
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                let (status, headers) =
                    answers.lock().unwrap().pop_front().unwrap_or((200, vec![]));
                let mut response = axum::http::Response::builder().status(status);
                for (name, value) in headers {
                    response = response.header(name, value);
                }
                response
                    .body(axum::body::Body::from("{\"ok\":true}"))
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, count)
    }

    fn api(credentials: Option<Credentials>) -> Api {
        let gate = Arc::new(Gate::new(
            super::super::Quota::per_minute(6000),
            super::super::gate::BreakerPolicy {
                open_for: Duration::from_secs(60),
                max_open: Duration::from_secs(60),
            },
        ));
        let policy = RetryPolicy {
            timeout: Duration::from_millis(500),
            base_delay: Duration::from_millis(1),
            attempts: 4,
            max_wait: Duration::from_secs(2),
        };
        Api::new(
            reqwest::Client::new(),
            &super::super::feed::Feed,
            gate,
            policy,
            credentials,
        )
    }

    #[tokio::test]
    async fn a_429_waits_for_retry_after_then_goes_on() {
        let (base, count) = server(vec![(429, vec![("retry-after", "1")])]).await;
        let api = api(None);
        let started = Instant::now();
        let answer: Json<serde_json::Value> = api.get_json(|h| h.get(&base)).await.unwrap();
        assert_eq!(answer.value["ok"], true);
        assert!(started.elapsed() >= Duration::from_millis(950));
        assert_eq!(count.load(Ordering::SeqCst), 2);
        // The 429 is in the telemetry.
        assert!(api.take_signals().iter().any(|s| s.value == 429.0));
    }

    #[tokio::test]
    async fn a_long_retry_after_ends_the_sync_as_rate_limited() {
        let (base, _) = server(vec![(429, vec![("retry-after", "3600")])]).await;
        match api(None).send(|h| h.get(&base)).await {
            Err(FetchError::RateLimited { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(3600))
            }
            other => panic!("expected RateLimited, got {:?}", other.map(|r| r.status())),
        }
    }

    #[tokio::test]
    async fn a_burst_of_5xx_is_retried_and_a_longer_one_gives_up() {
        let (base, count) = server(vec![(500, vec![]), (502, vec![]), (503, vec![])]).await;
        let api = api(None);
        api.send(|h| h.get(&base)).await.unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 4);

        let (base, count) = server(vec![(500, vec![]); 10]).await;
        let err = api.send(|h| h.get(&base)).await.unwrap_err();
        assert!(matches!(err, FetchError::Transient(_)), "{err:?}");
        assert_eq!(
            count.load(Ordering::SeqCst),
            4,
            "four attempts, then the sync stops"
        );
    }

    #[tokio::test]
    async fn repeated_failures_open_the_breaker_and_requests_stop_reaching_the_platform() {
        let (base, count) = server(vec![(500, vec![]); 20]).await;
        let api = api(None);
        assert!(api.send(|h| h.get(&base)).await.is_err());
        let err = api.send(|h| h.get(&base)).await.unwrap_err();
        assert!(err.to_string().contains("circuit breaker"), "{err}");
        assert_eq!(
            count.load(Ordering::SeqCst),
            5,
            "opened at the fifth failure"
        );
        let err = api.send(|h| h.get(&base)).await.unwrap_err();
        assert!(err.to_string().contains("circuit breaker"), "{err}");
        assert_eq!(count.load(Ordering::SeqCst), 5, "nothing sent while open");
    }

    #[tokio::test]
    async fn a_refused_token_without_refresh_means_reconnect() {
        let (base, count) = server(vec![(401, vec![])]).await;
        let api = api(Some(Credentials::Token { token: "t".into() }));
        let err = api.send(|h| h.get(&base)).await.unwrap_err();
        assert!(matches!(err, FetchError::Auth(_)), "{err:?}");
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn deprecation_headers_are_always_recorded() {
        let (base, _) = server(vec![
            (200, vec![]),
            (
                200,
                vec![
                    ("sunset", "Sat, 01 May 2027 00:00:00 GMT"),
                    ("deprecation", "@1767225600"),
                ],
            ),
        ])
        .await;
        let api = api(None);
        api.send(|h| h.get(&base)).await.unwrap();
        api.send(|h| h.get(&base)).await.unwrap();
        api.send(|h| h.get(&base)).await.unwrap();
        let signals = api.take_signals();
        // The first request is sampled, the second carries the headers, the third neither.
        assert_eq!(signals.len(), 2, "{signals:?}");
        assert!(signals[1].detail.contains("Sat, 01 May 2027"));
        assert!(signals[1].detail.contains("\"deprecation\""));
    }

    #[test]
    fn urls_in_telemetry_lose_their_query() {
        let url =
            url::Url::parse("https://user:pw@example.com/api/x?access_token=secret#f").unwrap();
        assert_eq!(redacted(&url), "https://example.com/api/x");
    }
}
