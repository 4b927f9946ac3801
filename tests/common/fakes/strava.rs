//! A fake Strava API v3 (`GET /athlete/activities` with `before`/`after`/`page`, Strava's
//! rate-limit headers) with its OAuth2 (FakeAuth), optionally rate-limited.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{RateLimit, rfc3339};
use crate::common::oauth::FakeAuth;
use crate::common::site::{Req, Route, Site};

pub const ACTIVITIES: &str = "/athlete/activities";
const DAY: i64 = 86_400;

/// A summary activity as `GET /athlete/activities` returns it.
pub fn activity(id: u64, start: i64) -> Value {
    json!({
        "resource_state": 2,
        "athlete": {"id": 134815, "resource_state": 1},
        "name": format!("Ride {id}"),
        "distance": 20000.5 + (id % 1000) as f64,
        "moving_time": 3600,
        "elapsed_time": 3900,
        "total_elevation_gain": 215.3,
        "type": "Ride",
        "sport_type": "Ride",
        "workout_type": null,
        "id": id,
        "start_date": rfc3339(start),
        "start_date_local": rfc3339(start + 3600),
        "timezone": "(GMT+01:00) Europe/Paris",
        "utc_offset": 3600.0,
        "location_city": null,
        "achievement_count": 2,
        "kudos_count": 7,
        "comment_count": 1,
        "athlete_count": 1,
        "photo_count": 0,
        "map": {"id": format!("a{id}"), "summary_polyline": "ki{eFvqfiVqAWQIGEEKAYJgBVqDJ{BHa@jAkN", "resource_state": 2},
        "trainer": false,
        "commute": false,
        "manual": false,
        "private": false,
        "visibility": "everyone",
        "flagged": false,
        "gear_id": "b12345678987654321",
        "start_latlng": [48.85, 2.35],
        "end_latlng": [48.86, 2.34],
        "average_speed": 5.55,
        "max_speed": 14.2,
        "has_heartrate": true,
        "average_heartrate": 141.2,
        "max_heartrate": 177.0,
        "pr_count": 0,
        "total_photo_count": 0,
        "has_kudoed": false,
        "suffer_score": 54.0
    })
}

/// The fake platform's state: activities (id, start), faults to answer first.
#[derive(Default)]
pub struct Strava {
    pub activities: Vec<(u64, i64)>,
    pub faults: VecDeque<Route>,
    /// Expire every access token when the n-th activities request arrives.
    pub expire_at_request: Option<usize>,
    pub requests: usize,
    limit: RateLimit,
}

pub struct Fake {
    pub site: Site,
    pub auth: FakeAuth,
    pub state: Arc<Mutex<Strava>>,
}

impl Fake {
    pub fn start() -> Fake {
        let site = Site::start();
        let auth = FakeAuth::install(&site, 6 * 3600);
        let state = Arc::new(Mutex::new(Strava::default()));
        let (s, a) = (state.clone(), auth.clone());
        site.handle(ACTIVITIES, move |req| list(&s, &a, req));
        Fake { site, auth, state }
    }

    /// `n` activities, one a day, ending a day ago; ids from `first`.
    pub fn add(&self, first: u64, n: usize, last_start: i64) {
        let mut s = self.state.lock().unwrap();
        for i in 0..n {
            let start = last_start - (n - 1 - i) as i64 * DAY;
            s.activities.push((first + i as u64, start));
        }
    }

    pub fn fault(&self, route: Route) {
        self.state.lock().unwrap().faults.push_back(route);
    }

    /// At most `per_second` requests a second; more get a 429 with Retry-After: 1.
    pub fn limit(&self, per_second: u32) {
        self.state.lock().unwrap().limit = RateLimit::per_second(per_second);
    }

    pub fn api_requests(&self) -> usize {
        self.site.hits(ACTIVITIES)
    }
}

/// `GET /athlete/activities`: newest first, or oldest first with `after` (as Strava
/// answers), `before`/`after` exclusive, at most 200 a page.
fn list(state: &Mutex<Strava>, auth: &FakeAuth, req: &Req) -> Route {
    let mut s = state.lock().unwrap();
    s.requests += 1;
    if s.expire_at_request == Some(s.requests) {
        auth.expire_all();
    }
    if !auth.valid(req) {
        return Route::json(
            401,
            &json!({"message": "Authorization Error", "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}]}),
        );
    }
    if let Some(fault) = s.faults.pop_front() {
        return fault;
    }
    if let Some(refused) = s.limit.check() {
        return refused;
    }
    let number = |name: &str| req.param(name).and_then(|v| v.parse::<i64>().ok());
    let per_page = number("per_page").unwrap_or(30).clamp(1, 200) as usize;
    let page = number("page").unwrap_or(1).max(1) as usize;
    let mut chosen: Vec<(u64, i64)> = s
        .activities
        .iter()
        .copied()
        .filter(|(_, start)| number("before").is_none_or(|b| *start < b))
        .filter(|(_, start)| number("after").is_none_or(|a| *start > a))
        .collect();
    chosen.sort_by_key(|(id, start)| (*start, *id));
    if number("after").is_none() {
        chosen.reverse();
    }
    let body: Vec<Value> = chosen
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(id, start)| activity(id, start))
        .collect();
    Route::json(200, &Value::Array(body))
        .header("x-ratelimit-limit", "200,2000")
        .header("x-ratelimit-usage", "3,40")
        .header("x-readratelimit-limit", "100,1000")
        .header("x-readratelimit-usage", "3,40")
}
