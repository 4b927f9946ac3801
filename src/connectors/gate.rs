//! One gate per platform and server (a WordPress site, a Mastodon instance, or the one
//! host of a single-host platform), shared by every sync of it in this process: it keeps
//! requests within the quota (a token bucket the size of the documented quota, tightened
//! by what the rate-limit headers say) and holds a circuit breaker, so a platform that
//! keeps failing waits alone while every other one syncs on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::platform::Platform;

/// A platform's documented request quota: `requests` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub requests: u32,
    pub per: Duration,
}

impl Quota {
    pub const fn per_minute(requests: u32) -> Quota {
        Quota {
            requests,
            per: Duration::from_secs(60),
        }
    }
}

/// Consecutive failed requests (5xx, timeouts, refused connections) that open the breaker.
pub const BREAKER_THRESHOLD: u32 = 5;

#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    /// How long an opened breaker stays open the first time; doubled each time it opens
    /// again without a success in between, up to `max_open`.
    pub open_for: Duration,
    pub max_open: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            open_for: Duration::from_secs(60),
            max_open: Duration::from_secs(30 * 60),
        }
    }
}

/// Every platform's gate. Lives in `App`, so all syncs of a process share it.
#[derive(Default)]
pub struct Gates {
    gates: Mutex<HashMap<(Platform, String), Arc<Gate>>>,
    breaker: BreakerPolicy,
}

impl Gates {
    pub fn new(breaker: BreakerPolicy) -> Gates {
        Gates {
            gates: Mutex::default(),
            breaker,
        }
    }

    /// The gate of a platform's server (`host`: the API's host name).
    pub fn for_target(&self, platform: Platform, host: &str, quota: Quota) -> Arc<Gate> {
        let mut gates = self.gates.lock().expect("gates lock");
        gates
            .entry((platform, host.to_ascii_lowercase()))
            .or_insert_with(|| Arc::new(Gate::new(quota, self.breaker)))
            .clone()
    }
}

pub struct Gate {
    quota: Quota,
    policy: BreakerPolicy,
    state: Mutex<State>,
}

struct State {
    /// Requests that may go now (a token bucket, refilled at the quota's rate).
    tokens: f64,
    refilled_at: Instant,
    /// The platform said "no more until then" (remaining 0, or a Retry-After).
    paused_until: Option<Instant>,
    failures: u32,
    open_until: Option<Instant>,
    /// How many times the breaker opened in a row, for the doubling.
    openings: u32,
}

/// Why the gate would not let a request through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    pub for_: Duration,
}

impl Gate {
    pub fn new(quota: Quota, policy: BreakerPolicy) -> Gate {
        Gate {
            quota,
            policy,
            state: Mutex::new(State {
                tokens: quota.requests as f64,
                refilled_at: Instant::now(),
                paused_until: None,
                failures: 0,
                open_until: None,
                openings: 0,
            }),
        }
    }

    /// Waits for the request's turn. Fails at once while the breaker is open.
    pub async fn admit(&self) -> Result<(), Open> {
        loop {
            let wait = {
                let mut s = self.state.lock().expect("gate lock");
                let now = Instant::now();
                if let Some(until) = s.open_until {
                    if until > now {
                        return Err(Open { for_: until - now });
                    }
                    // Half-open: this request is the trial; one more failure re-opens.
                    s.open_until = None;
                    s.failures = BREAKER_THRESHOLD - 1;
                }
                let rate = self.quota.requests as f64 / self.quota.per.as_secs_f64();
                let elapsed = now.duration_since(s.refilled_at).as_secs_f64();
                s.tokens = (s.tokens + elapsed * rate).min(self.quota.requests as f64);
                s.refilled_at = now;
                match s.paused_until {
                    Some(until) if until > now => until - now,
                    _ if s.tokens >= 1.0 => {
                        s.tokens -= 1.0;
                        s.paused_until = None;
                        return Ok(());
                    }
                    _ => Duration::from_secs_f64((1.0 - s.tokens) / rate),
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The platform's rate-limit headers: `remaining` requests until `reset` from now.
    /// Nothing left: pause until the reset. Little left: spread what is left evenly.
    pub fn observe_limit(&self, remaining: f64, reset: Duration) {
        let mut s = self.state.lock().expect("gate lock");
        let now = Instant::now();
        if remaining < 1.0 {
            s.paused_until = Some(now + reset);
            s.tokens = 0.0;
        } else {
            // The bucket never holds more than the platform says is left.
            s.tokens = s.tokens.min(remaining);
            if remaining < self.quota.requests as f64 / 10.0 {
                s.paused_until = Some(now + reset.div_f64(remaining + 1.0));
            }
        }
    }

    /// A 429's Retry-After: everyone waits, not only the request that got it.
    pub fn pause(&self, wait: Duration) {
        let mut s = self.state.lock().expect("gate lock");
        let until = Instant::now() + wait;
        s.paused_until = Some(s.paused_until.map_or(until, |u| u.max(until)));
    }

    pub fn succeeded(&self) {
        let mut s = self.state.lock().expect("gate lock");
        s.failures = 0;
        s.openings = 0;
    }

    /// A 5xx, a timeout or a refused connection. Returns true when this opened the breaker.
    pub fn failed(&self) -> bool {
        let mut s = self.state.lock().expect("gate lock");
        s.failures += 1;
        if s.failures < BREAKER_THRESHOLD {
            return false;
        }
        let factor = 2u32.saturating_pow(s.openings.min(16));
        let open_for = (self.policy.open_for * factor).min(self.policy.max_open);
        s.open_until = Some(Instant::now() + open_for);
        s.openings += 1;
        s.failures = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> BreakerPolicy {
        BreakerPolicy {
            open_for: Duration::from_secs(10),
            max_open: Duration::from_secs(25),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_lets_a_burst_through_then_paces_to_the_quota() {
        let gate = Gate::new(Quota::per_minute(60), quick());
        let start = Instant::now();
        for _ in 0..60 {
            gate.admit().await.unwrap();
        }
        assert!(start.elapsed() < Duration::from_millis(10));
        for _ in 0..10 {
            gate.admit().await.unwrap();
        }
        let paced = start.elapsed();
        assert!(
            paced >= Duration::from_millis(9_900) && paced <= Duration::from_millis(10_100),
            "{paced:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_remaining_pauses_until_the_reset() {
        let gate = Gate::new(Quota::per_minute(600), quick());
        gate.observe_limit(0.0, Duration::from_secs(30));
        let start = Instant::now();
        gate.admit().await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_after_repeated_failures_and_doubles() {
        let gate = Gate::new(Quota::per_minute(600), quick());
        for _ in 0..BREAKER_THRESHOLD - 1 {
            assert!(!gate.failed());
        }
        assert!(gate.failed());
        let open = gate.admit().await.unwrap_err();
        assert_eq!(open.for_, Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(10)).await;
        // Half-open: one trial goes through; its failure re-opens, for twice as long.
        gate.admit().await.unwrap();
        assert!(gate.failed());
        assert_eq!(
            gate.admit().await.unwrap_err().for_,
            Duration::from_secs(20)
        );
        tokio::time::advance(Duration::from_secs(20)).await;
        gate.admit().await.unwrap();
        assert!(gate.failed());
        // Capped.
        assert_eq!(
            gate.admit().await.unwrap_err().for_,
            Duration::from_secs(25)
        );
        tokio::time::advance(Duration::from_secs(25)).await;
        gate.admit().await.unwrap();
        gate.succeeded();
        for _ in 0..BREAKER_THRESHOLD - 1 {
            assert!(!gate.failed());
        }
    }
}
