//! Wall-clock helpers. Timestamps are unix seconds everywhere (database, cursors, pages).

use std::borrow::Borrow;

use ::time::OffsetDateTime;
use ::time::format_description::well_known::Rfc3339;

pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// "2026-11-23 14:05 UTC" for pages.
/// Takes `Borrow<i64>` because templates pass their fields by reference.
pub fn display(ts: impl Borrow<i64>) -> String {
    let ts = *ts.borrow();
    match OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => ts.to_string(),
    }
}

/// RFC 3339 for the JSON API.
pub fn rfc3339(ts: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// "3 hours ago" / "in 2 days": what a person wants to know on the dashboard.
pub fn relative(ts: impl Borrow<i64>, now: impl Borrow<i64>) -> String {
    let delta = now.borrow() - ts.borrow();
    let (amount, future) = (delta.unsigned_abs(), delta < 0);
    let text = match amount {
        0..=59 => {
            return if future {
                "in a moment".into()
            } else {
                "just now".into()
            };
        }
        60..=3599 => plural(amount / 60, "minute"),
        3600..=86_399 => plural(amount / 3600, "hour"),
        _ => plural(amount / 86_400, "day"),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// A date as people type it, YYYY-MM-DD, as unix seconds at midnight UTC.
pub fn parse_date(text: &str) -> anyhow::Result<i64> {
    let format = ::time::macros::format_description!("[year]-[month]-[day]");
    let date = ::time::Date::parse(text.trim(), &format)
        .map_err(|_| anyhow::anyhow!("{text:?} is not a date like 2027-03-01"))?;
    Ok(date.midnight().assume_utc().unix_timestamp())
}
