//! Strava, through its API v3 (https://developers.strava.com/docs/reference/): the
//! athlete's activities from `GET /athlete/activities`, 200 summary activities a page.
//!
//! The list is newest first without `after`, and `before`/`after` are epoch seconds of the
//! start time. The backfill walks back with `before` (keyset paging: a page number would
//! shift when an activity is deleted meanwhile); `before` is the oldest start of the page
//! plus one second, so activities sharing that second (the same ride uploaded from two
//! devices) are never skipped, at the cost of one repeated activity per page. Later syncs
//! ask for activities after the newest start archived, minus a margin that catches
//! activities uploaded late (a watch synced days after the ride), and page with `page`
//! whatever the order Strava gives them in, until a short page.
//!
//! Each page is kept as Strava sent it (one raw item, identified by its sha256); one raw
//! post per activity, identified by the activity id: the `Activity ID` of the bulk export,
//! so an imported activity and a synced one are one post. The export's raw items share
//! this codec and are handed to the importer's.
//!
//! Webhook events (`POST /api/v1/webhooks/strava/{token}`, see `web::webhooks`) are kept
//! as raw items too; they carry no activity data, so `split` yields nothing for them: a
//! create or update only makes the connection sync soon.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::*;
use crate::importers::strava::Strava as Export;

pub struct Strava;

/// One page of `GET /athlete/activities`, as sent: a JSON array of summary activities.
pub const ACTIVITIES: &str = "application/vnd.lifeboat.strava-api-activities+json";
/// One webhook event, as Strava posted it.
pub const WEBHOOK_EVENT: &str = "application/vnd.lifeboat.strava-webhook-event+json";

/// The largest page Strava serves.
const PER_PAGE: usize = 200;
/// Later syncs look this far behind the newest start archived, for late uploads.
const LATE_UPLOAD_MARGIN_SECS: i64 = 30 * 24 * 3600;

static OAUTH: OAuthSpec = OAuthSpec {
    authorize_url: "https://www.strava.com/oauth/authorize",
    token_url: "https://www.strava.com/oauth/token",
    // Strava wants its scopes comma-separated; the oauth2 crate joins `scopes` with
    // spaces, so the scope goes as a plain parameter.
    scopes: &[],
    authorize_params: &[
        ("scope", "read,activity:read_all"),
        // "auto": a person who already allowed Lifeboat is not asked again.
        ("approval_prompt", "auto"),
    ],
    secret_in_body: true,
    register_at: "https://www.strava.com/settings/api",
    registers_itself: false,
};

impl Codec for Strava {
    fn platform(&self) -> Platform {
        Platform::Strava
    }

    fn split(&self, item: &ItemRef) -> anyhow::Result<Vec<RawPost>> {
        match item.content_type {
            ACTIVITIES => split_page(item.payload),
            WEBHOOK_EVENT => Ok(Vec::new()),
            _ => Export.split(item),
        }
    }

    fn normalize(&self, raw: &RawPost) -> anyhow::Result<NewPost> {
        // The API's activity has a numeric `id`; the export's rows are strings only.
        match raw.value()?.as_object() {
            Some(activity) if activity.get("id").is_some_and(Value::is_number) => {
                Ok(normalize_activity(activity, &raw.platform_post_id))
            }
            _ => Export.normalize(raw),
        }
    }
}

impl Connector for Strava {
    fn auth(&self) -> Auth {
        Auth::OAuth2(&OAUTH)
    }

    /// The default "read" (non-upload) limit: 100 requests every 15 minutes (and 1,000 a
    /// day, which the rate-limit headers report).
    fn quota(&self) -> Quota {
        Quota {
            requests: 100,
            per: std::time::Duration::from_secs(15 * 60),
        }
    }

    fn default_url(&self) -> Option<&'static str> {
        Some("https://www.strava.com/api/v3")
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "The API gives each activity's summary (distances, times, elevation, kudos, the \
             route as a polyline), not the recorded GPS files or photos: import Strava's bulk \
             export on the Imports page for those.",
        )
    }

    fn fetch<'a>(
        &'a self,
        ctx: &'a FetchContext<'a>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(fetch_activities(ctx, cursor))
    }
}

/// Where the walk through the activities stands between pages and syncs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// True once the backfill reached the oldest activity.
    #[serde(default)]
    backfilled: bool,
    /// During the backfill: the next page holds activities that started before this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<i64>,
    /// The latest start time archived (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<i64>,
    /// During a later sync: its `after` and the next page number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<u32>,
}

async fn fetch_activities(
    ctx: &FetchContext<'_>,
    cursor: Option<&str>,
) -> Result<Page, FetchError> {
    let mut position: Position = super::position(cursor);
    let url = format!("{}/athlete/activities", ctx.base()?);
    let backfill = !position.backfilled;
    let mut query: Vec<(&str, String)> = vec![("per_page", PER_PAGE.to_string())];
    let (after, page_number) = if backfill {
        if let Some(before) = position.before {
            query.push(("before", before.to_string()));
        }
        (None, None)
    } else {
        let after = position
            .after
            .unwrap_or_else(|| (position.newest.unwrap_or(0) - LATE_UPLOAD_MARGIN_SECS).max(0));
        let page = position.page.unwrap_or(1);
        query.push(("after", after.to_string()));
        query.push(("page", page.to_string()));
        (Some(after), Some(page))
    };
    let answer = ctx
        .api
        .get_json::<Vec<Value>>(|http| http.get(&url).query(&query))
        .await?;
    let starts: Vec<i64> = answer.value.iter().filter_map(start_of).collect();
    if let Some(&latest) = starts.iter().max() {
        position.newest = Some(position.newest.map_or(latest, |n| n.max(latest)));
    }
    let full = answer.value.len() >= PER_PAGE;
    let mut note = None;
    let done = if backfill {
        match (full, starts.iter().min()) {
            (false, _) => true,
            (true, None) => {
                return Err(FetchError::Invalid(format!(
                    "{} sent a full page of activities without start dates",
                    answer.url
                )));
            }
            (true, Some(&oldest)) => {
                let next = oldest + 1;
                if position.before.is_some_and(|before| next >= before) {
                    note = Some(format!(
                        "more than {PER_PAGE} activities start at the same second; the \
                         backfill stopped there"
                    ));
                    true
                } else {
                    position.before = Some(next);
                    false
                }
            }
        }
    } else if full {
        position.after = after;
        position.page = page_number.map(|p| p + 1);
        false
    } else {
        true
    };
    if done {
        position.backfilled = true;
        position.before = None;
        position.after = None;
        position.page = None;
    }
    let items = if answer.value.is_empty() {
        Vec::new()
    } else {
        vec![RawItem {
            external_id: hex::encode(Sha256::digest(&answer.body)),
            content_type: ACTIVITIES.into(),
            source_url: Some(answer.url.clone()),
            payload: answer.body,
        }]
    };
    Ok(Page {
        note,
        ..Page::at(items, &position, done, backfill)
    })
}

fn split_page(payload: &[u8]) -> anyhow::Result<Vec<RawPost>> {
    let activities: Vec<Value> = serde_json::from_slice(payload)
        .map_err(|e| anyhow::anyhow!("a Strava activities page is not a JSON array: {e}"))?;
    Ok(activities
        .into_iter()
        .filter_map(|activity| {
            let id = activity.get("id")?.as_u64()?;
            Some(RawPost::new(id.to_string(), &activity))
        })
        .collect())
}

/// `start_date` (UTC, RFC 3339) in unix seconds.
fn start_of(activity: &Value) -> Option<i64> {
    parse_time(activity.get("start_date")?.as_str()?)
}

fn parse_time(text: &str) -> Option<i64> {
    use ::time::format_description::well_known::Rfc3339;
    ::time::OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Summary activity fields → the engagement keys the export's activities use, so both
/// routes read alike.
const METRICS: &[(&str, &str)] = &[
    ("distance_m", "distance"),
    ("moving_time_s", "moving_time"),
    ("elapsed_time_s", "elapsed_time"),
    ("elevation_gain_m", "total_elevation_gain"),
    ("elevation_high_m", "elev_high"),
    ("elevation_low_m", "elev_low"),
    ("average_speed_mps", "average_speed"),
    ("max_speed_mps", "max_speed"),
    ("average_heart_rate", "average_heartrate"),
    ("max_heart_rate", "max_heartrate"),
    ("average_cadence", "average_cadence"),
    ("average_watts", "average_watts"),
    ("max_watts", "max_watts"),
    ("weighted_average_power", "weighted_average_watts"),
    ("kilojoules", "kilojoules"),
    ("calories", "calories"),
    ("relative_effort", "suffer_score"),
    ("average_temperature_c", "average_temp"),
    ("kudos_count", "kudos_count"),
    ("comment_count", "comment_count"),
    ("achievement_count", "achievement_count"),
    ("athlete_count", "athlete_count"),
    ("photo_count", "total_photo_count"),
    ("pr_count", "pr_count"),
];

/// Kept as they are.
const LABELS: &[&str] = &[
    "type",
    "sport_type",
    "workout_type",
    "gear_id",
    "timezone",
    "start_date_local",
    "visibility",
    "commute",
    "trainer",
    "manual",
    "private",
    "start_latlng",
    "end_latlng",
];

fn normalize_activity(activity: &Map<String, Value>, id: &str) -> NewPost {
    let mut engagement = Map::new();
    for key in LABELS {
        if let Some(value) = activity.get(*key).filter(|v| !v.is_null()) {
            engagement.insert((*key).into(), value.clone());
        }
    }
    for (key, field) in METRICS {
        if let Some(value) = activity.get(*field).filter(|v| v.is_number()) {
            engagement.insert((*key).into(), value.clone());
        }
    }
    if let Some(polyline) = activity["map"]["summary_polyline"]
        .as_str()
        .filter(|p| !p.is_empty())
    {
        engagement.insert("summary_polyline".into(), json!(polyline));
    }
    let text = |key: &str| {
        activity
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    NewPost {
        kind: "activity".into(),
        title: text("name").map(str::to_string),
        // Only a detailed activity has a description; a summary has none.
        text: text("description").unwrap_or_default().to_string(),
        url: Some(format!("https://www.strava.com/activities/{id}")),
        created_at: text("start_date").and_then(parse_time),
        engagement: Some(Value::Object(engagement)),
        ..NewPost::default()
    }
}

/// A webhook event, checked and ready to store.
pub struct WebhookEvent {
    pub item: RawItem,
    /// A new or changed activity: the connection should sync soon.
    pub sync_soon: bool,
}

/// Reads an event Strava posted (`object_type`, `object_id`, `aspect_type`, `event_time`,
/// `owner_id`, `subscription_id`, `updates`). The same event posted again (Strava retries
/// when the answer is slow) has the same identity.
pub fn webhook_event(body: &[u8]) -> Result<WebhookEvent, String> {
    let event: Value =
        serde_json::from_slice(body).map_err(|e| format!("the event is not JSON: {e}"))?;
    let object_type = event["object_type"].as_str();
    let object_id = event["object_id"].as_u64();
    let aspect_type = event["aspect_type"].as_str();
    let (Some(object_type), Some(object_id), Some(aspect_type)) =
        (object_type, object_id, aspect_type)
    else {
        return Err("the event lacks object_type, object_id or aspect_type".into());
    };
    let event_time = event["event_time"].as_i64().unwrap_or_default();
    Ok(WebhookEvent {
        sync_soon: object_type == "activity" && matches!(aspect_type, "create" | "update"),
        item: RawItem {
            external_id: format!("event:{object_type}:{object_id}:{aspect_type}:{event_time}"),
            content_type: WEBHOOK_EVENT.into(),
            source_url: None,
            payload: body.to_vec(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity() -> Value {
        json!({
            "resource_state": 2,
            "athlete": {"id": 134815, "resource_state": 1},
            "name": "Happy Friday",
            "distance": 24931.4,
            "moving_time": 4500,
            "elapsed_time": 4500,
            "total_elevation_gain": 0,
            "type": "Ride",
            "sport_type": "MountainBikeRide",
            "workout_type": null,
            "id": 154504250376823u64,
            "start_date": "2018-05-02T12:15:09Z",
            "start_date_local": "2018-05-02T05:15:09Z",
            "timezone": "(GMT-08:00) America/Los_Angeles",
            "achievement_count": 0,
            "kudos_count": 3,
            "comment_count": 1,
            "athlete_count": 1,
            "photo_count": 0,
            "map": {"id": "a12345678908766", "summary_polyline": "ki{eFvqfiVqAWQIGEEKAYJgBVqDJ{BHa@jAkNJw@Pw@V{APs@^aABQAOEQGKoJ_FuJkFqAo@{A}@sH{DiAs@Q]?WVy@`@oBt@_CB]KYMMkB", "resource_state": 2},
            "trainer": true,
            "commute": false,
            "manual": false,
            "private": false,
            "flagged": false,
            "gear_id": "b12345678987654321",
            "average_speed": 5.54,
            "max_speed": 11,
            "average_watts": 175.6,
            "kilojoules": 790.5,
            "device_watts": false,
            "has_heartrate": true,
            "average_heartrate": 140.3,
            "max_heartrate": 178,
            "pr_count": 0,
            "total_photo_count": 1,
            "suffer_score": 82
        })
    }

    #[test]
    fn a_summary_activity_becomes_an_activity_post() {
        let page = serde_json::to_vec(&json!([activity(), {"name": "no id"}])).unwrap();
        let item = ItemRef {
            content_type: ACTIVITIES,
            source_url: None,
            payload: &page,
        };
        let raws = Strava.split(&item).unwrap();
        assert_eq!(raws.len(), 1);
        assert_eq!(raws[0].platform_post_id, "154504250376823");
        let post = Strava.normalize(&raws[0]).unwrap();
        assert_eq!(post.kind, "activity");
        assert_eq!(post.title.as_deref(), Some("Happy Friday"));
        assert_eq!(post.created_at, Some(1525263309));
        assert_eq!(
            post.url.as_deref(),
            Some("https://www.strava.com/activities/154504250376823")
        );
        let engagement = post.engagement.unwrap();
        assert_eq!(engagement["distance_m"], json!(24931.4));
        assert_eq!(engagement["moving_time_s"], json!(4500));
        assert_eq!(engagement["elevation_gain_m"], json!(0));
        assert_eq!(engagement["kudos_count"], json!(3));
        assert_eq!(engagement["sport_type"], json!("MountainBikeRide"));
        assert_eq!(engagement["relative_effort"], json!(82));
        assert!(
            engagement["summary_polyline"]
                .as_str()
                .unwrap()
                .starts_with("ki{eF")
        );
        assert!(
            engagement.get("workout_type").is_none(),
            "nulls are left out"
        );
    }

    #[test]
    fn export_rows_go_to_the_importer_and_events_yield_nothing() {
        let row = RawPost::new(
            "123",
            &json!({"Activity ID": "123", "Activity Name": "Morning Run",
                    "Activity Date": "Oct 5, 2014, 4:15:21 PM"}),
        );
        let post = Strava.normalize(&row).unwrap();
        assert_eq!(post.title.as_deref(), Some("Morning Run"));
        assert_eq!(
            post.url.as_deref(),
            Some("https://www.strava.com/activities/123")
        );

        let body = br#"{"aspect_type":"create","event_time":1549560669,"object_id":1360128428,
            "object_type":"activity","owner_id":134815,"subscription_id":120475,"updates":{}}"#;
        let event = webhook_event(body).unwrap();
        assert!(event.sync_soon);
        assert_eq!(
            event.item.external_id,
            "event:activity:1360128428:create:1549560669"
        );
        let item = ItemRef {
            content_type: WEBHOOK_EVENT,
            source_url: None,
            payload: &event.item.payload,
        };
        assert!(Strava.split(&item).unwrap().is_empty());
        let deauthorized = br#"{"aspect_type":"update","event_time":1516126040,"object_id":134815,
            "object_type":"athlete","owner_id":134815,"subscription_id":120475,
            "updates":{"authorized":"false"}}"#;
        assert!(!webhook_event(deauthorized).unwrap().sync_soon);
        assert!(webhook_event(b"{}").is_err());
        assert!(webhook_event(b"not json").is_err());
    }
}
