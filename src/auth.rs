//! Passwords, session and API-key tokens, and the login throttle.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const MIN_PASSWORD_LEN: usize = 10;
pub const SESSION_DAYS: i64 = 30;
pub const API_KEY_PREFIX: &str = "lb_";

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow!("cannot hash password: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Verifying against this when the user does not exist keeps the timing of
/// "no such user" and "wrong password" the same.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("lifeboat-timing-equaliser").expect("hashing works"))
}

pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "The password needs at least {MIN_PASSWORD_LEN} characters."
        ));
    }
    Ok(())
}

pub fn check_user_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err("A user name is 1 to 64 letters, digits, '-', '_' or '.'.".into())
    }
}

/// 32 random bytes, URL-safe base64: session cookies, CSRF tokens, webhook paths.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_token())
}

/// Tokens are stored as their sha256, so the database never holds a usable secret.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Slows down password guessing: after `FREE_ATTEMPTS` failures for a user name or a client
/// address, each further attempt must wait, twice as long each time, up to `MAX_LOCK`.
/// Failures are forgotten after `WINDOW` of quiet. Kept in memory: a restart forgives.
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

const FREE_ATTEMPTS: u32 = 5;
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
const WINDOW: Duration = Duration::from_secs(60 * 60);

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl LoginThrottle {
    /// How long these keys must still wait before another attempt, if at all.
    pub fn wait(&self, keys: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let failures = self.failures.lock().expect("throttle");
        keys.iter()
            .filter_map(|k| failures.get(k))
            .filter_map(|&(count, last)| {
                let until = last + lock_for(count);
                (until > now).then(|| until - now)
            })
            .max()
    }

    pub fn record_failure(&self, keys: &[String]) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("throttle");
        failures.retain(|_, (_, last)| now.duration_since(*last) < WINDOW);
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert((0, now));
            entry.0 += 1;
            entry.1 = now;
        }
    }

    pub fn record_success(&self, keys: &[String]) {
        let mut failures = self.failures.lock().expect("throttle");
        for key in keys {
            failures.remove(key);
        }
    }
}

fn lock_for(failures: u32) -> Duration {
    if failures < FREE_ATTEMPTS {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_ATTEMPTS).min(10);
    (Duration::from_secs(30) * 2u32.pow(doublings)).min(MAX_LOCK)
}

/// Creates an API key for `user_id` and returns it; only its hash is stored, so this is
/// the one moment the key exists in the clear.
pub fn issue_api_key(conn: &rusqlite::Connection, user_id: i64, label: &str) -> Result<String> {
    let key = new_api_key();
    let prefix: String = key.chars().take(API_KEY_PREFIX.len() + 6).collect();
    crate::db::api_keys::insert(
        conn,
        user_id,
        label,
        &token_hash(&key),
        &prefix,
        crate::time::now(),
    )?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn throttle_locks_after_free_attempts() {
        let throttle = LoginThrottle::default();
        let keys = vec!["user:alice".to_string()];
        for _ in 0..FREE_ATTEMPTS - 1 {
            throttle.record_failure(&keys);
        }
        assert!(throttle.wait(&keys).is_none());
        throttle.record_failure(&keys);
        assert!(throttle.wait(&keys).unwrap() > Duration::from_secs(20));
        throttle.record_success(&keys);
        assert!(throttle.wait(&keys).is_none());
    }
}
