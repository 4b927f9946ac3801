//! Fake platforms on 127.0.0.1 that speak each platform's documented API, shared by the
//! connector suites and the suites that need several platforms at once (emergency mode).

pub mod strava;
pub mod youtube;

use std::time::{Duration, Instant};

use super::site::Route;

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A platform's rate limit as the fake enforces it: at most `per_second` requests in any
/// second; past that, 429 with Retry-After: 1 (what real platforms answer).
#[derive(Default)]
pub struct RateLimit {
    per_second: Option<u32>,
    window: Option<Instant>,
    used: u32,
    pub refused: u32,
}

impl RateLimit {
    pub fn per_second(n: u32) -> RateLimit {
        RateLimit {
            per_second: Some(n),
            ..RateLimit::default()
        }
    }

    /// None when the request may go through, else the 429 to answer.
    pub fn check(&mut self) -> Option<Route> {
        let limit = self.per_second?;
        let now = Instant::now();
        match self.window {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {}
            _ => {
                self.window = Some(now);
                self.used = 0;
            }
        }
        self.used += 1;
        if self.used <= limit {
            return None;
        }
        self.refused += 1;
        Some(
            Route::json(429, &serde_json::json!({"message": "Rate Limit Exceeded"}))
                .header("retry-after", "1"),
        )
    }
}
