//! Connectors: one file per platform behind one trait, and the explicit list of them all.
//! A connector never touches the database: it fetches raw pages, and splits and normalizes
//! raw payloads with pure functions. The ingest layer does the rest.

pub mod api;
pub mod bluesky;
pub mod credentials;
pub mod feed;
pub mod gate;
pub mod mastodon;
pub mod reddit;
pub mod strava;
pub mod tumblr;
pub mod wordpress;
pub mod youtube;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

pub use api::Api;
pub use credentials::Credentials;
pub use gate::Quota;

use crate::platform::Platform;

/// Every connector Lifeboat has. A new platform: one file, one line here.
pub static ALL: &[&dyn Connector] = &[
    &bluesky::Bluesky,
    &feed::Feed,
    &mastodon::Mastodon,
    &reddit::Reddit,
    &strava::Strava,
    &tumblr::Tumblr,
    &wordpress::Wordpress,
    &youtube::Youtube,
];

pub fn for_platform(platform: Platform) -> Option<&'static dyn Connector> {
    ALL.iter().copied().find(|c| c.platform() == platform)
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a person connects an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// A public feed or profile: a URL is enough.
    None,
    /// A personal access token.
    Token,
    /// An account name and an app password, sent with every request (HTTP Basic).
    AppPassword,
    /// An account name and an app password, exchanged for a session that the connector
    /// renews (`Connector::renew`): the AT Protocol.
    Session,
    /// OAuth2 authorization code with PKCE.
    OAuth2(&'static OAuthSpec),
}

/// A platform's OAuth2 endpoints and what to ask for, as its documentation gives them.
#[derive(Debug, PartialEq, Eq)]
pub struct OAuthSpec {
    /// Absolute, or a path on the connection's URL (a Mastodon instance).
    pub authorize_url: &'static str,
    pub token_url: &'static str,
    pub scopes: &'static [&'static str],
    /// Extra authorize parameters the platform needs for a refresh token
    /// (Reddit `duration=permanent`, Google `access_type=offline`).
    pub authorize_params: &'static [(&'static str, &'static str)],
    /// Client id and secret in the token request's body rather than HTTP Basic.
    pub secret_in_body: bool,
    /// Where a person registers an app, for the settings page.
    pub register_at: &'static str,
    /// The app is registered by Lifeboat itself on each server (`Connector::register_client`).
    pub registers_itself: bool,
}

/// What `fetch` gets from the sync.
pub struct FetchContext<'a> {
    /// Every request goes through it: credentials, quota, retries, telemetry.
    pub api: &'a Api,
    /// The URL the person configured (a feed, an instance, a PDS, a blog), else the
    /// connector's `default_url`. Tests point it at a local fake server.
    pub url: Option<&'a str>,
    /// The account name the person gave, if any.
    pub handle: Option<&'a str>,
}

impl FetchContext<'_> {
    /// The base URL, without a trailing slash; an error when the connection has none.
    pub fn base(&self) -> Result<&str, FetchError> {
        self.url
            .map(|u| u.trim_end_matches('/'))
            .ok_or_else(|| FetchError::Invalid("the connection has no URL".into()))
    }
}

/// The position most connectors keep between syncs: newest first, page by page back
/// through history, stopping at what an earlier walk already archived. A walk
/// interrupted half-way resumes from `next`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Walk {
    /// Paging token of the next, older page while a walk is under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The newest id (or time) a finished walk archived: the next walk stops there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_at: Option<String>,
    /// The newest id seen by the walk under way; becomes `stop_at` when it finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
    /// True once the first walk (the backfill) reached the oldest item.
    #[serde(default)]
    pub backfilled: bool,
}

impl Walk {
    pub fn parse(cursor: Option<&str>) -> Walk {
        cursor
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("walk serializes")
    }

    /// The first walk, which goes through all history.
    pub fn is_backfill(&self) -> bool {
        !self.backfilled
    }

    /// Remembers the newest id of the walk (the first one seen is the newest).
    pub fn saw(&mut self, id: &str) {
        if self.newest.is_none() {
            self.newest = Some(id.to_string());
        }
    }

    /// Moves on to an older page, or ends the walk when there is none (or when the page
    /// reached `stop_at`). Returns true when the walk is over.
    pub fn advance(&mut self, next: Option<String>, reached_stop: bool) -> bool {
        match next {
            Some(next) if !reached_stop => {
                self.next = Some(next);
                false
            }
            _ => {
                self.next = None;
                if let Some(newest) = self.newest.take() {
                    self.stop_at = Some(newest);
                }
                self.backfilled = true;
                true
            }
        }
    }
}

/// One page of raw payload, newest first.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<RawItem>,
    /// The position to resume from; stored with the items in one transaction.
    pub cursor: Option<String>,
    /// True when there is nothing more to fetch in this sync.
    pub done: bool,
    /// True while the first sync walks back through history: its items are stored with
    /// `source = 'backfill'`.
    pub backfill: bool,
    /// A person-readable note for the sync log ("feed unchanged (304)").
    pub note: Option<String>,
}

impl Page {
    /// A page whose cursor is the connector's own `position`, stored as JSON.
    pub fn at(items: Vec<RawItem>, position: &impl Serialize, done: bool, backfill: bool) -> Page {
        Page {
            items,
            cursor: Some(serde_json::to_string(position).expect("position serializes")),
            done,
            backfill,
            note: None,
        }
    }
}

/// The position a `Page::at` cursor holds; none, or one this version cannot read, starts
/// from scratch.
pub fn position<P: DeserializeOwned + Default>(cursor: Option<&str>) -> P {
    cursor
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default()
}

/// A raw payload exactly as it arrived, kept forever in `ingested_items`.
#[derive(Debug, Clone)]
pub struct RawItem {
    /// Identity within the connection: the same payload twice is one row.
    pub external_id: String,
    pub content_type: String,
    /// Where it came from, so relative links inside it can be resolved later.
    pub source_url: Option<String>,
    pub payload: Vec<u8>,
}

impl RawItem {
    /// The item as `split` sees it.
    pub fn item_ref(&self) -> ItemRef<'_> {
        ItemRef {
            content_type: &self.content_type,
            source_url: self.source_url.as_deref(),
            payload: &self.payload,
        }
    }
}

/// The ingest layer treats each kind of failure differently.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Credentials refused: the connection needs a person ("reconnect").
    #[error("the platform refused the credentials: {0}")]
    Auth(String),
    /// Slow down: try again after this long.
    #[error("rate limited by the platform; retry after {} s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// Network trouble or a 5xx: retry with backoff.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The platform answered something we cannot use; retrying will not help.
    #[error("invalid response: {0}")]
    Invalid(String),
}

/// A stored raw item, as `split` sees it.
pub struct ItemRef<'a> {
    pub content_type: &'a str,
    pub source_url: Option<&'a str>,
    pub payload: &'a [u8],
}

/// One raw post in the platform's own shape, kept forever in `ingested_posts`: JSON text,
/// as stored. Normalizers parse it straight into their own types (`parse`), so a big
/// import never builds a `Value` tree for every post only to throw it away.
#[derive(Debug, Clone)]
pub struct RawPost {
    pub platform_post_id: String,
    pub payload: Box<RawValue>,
}

impl RawPost {
    /// A raw post made of a JSON value.
    pub fn new(platform_post_id: impl Into<String>, payload: &Value) -> RawPost {
        RawPost {
            platform_post_id: platform_post_id.into(),
            payload: serde_json::value::to_raw_value(payload)
                .expect("a JSON value always serializes"),
        }
    }

    /// The payload read as `T`, borrowing from it where `T` does.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> serde_json::Result<T> {
        serde_json::from_str(self.payload.get())
    }

    /// The payload as a JSON value.
    pub fn value(&self) -> serde_json::Result<Value> {
        self.parse()
    }
}

/// A normalized post, ready for the timeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewPost {
    /// post, reply, repost, like, article, video, audio, activity, comment, bookmark
    pub kind: String,
    pub author: Option<String>,
    pub title: Option<String>,
    /// Plain text, for search and for the timeline.
    pub text: String,
    /// The original HTML, if the platform has it (sanitized when rendered).
    pub html: Option<String>,
    pub url: Option<String>,
    /// Unix seconds; None when the platform gave no date.
    pub created_at: Option<i64>,
    pub engagement: Option<Value>,
    pub reply_to: Option<String>,
    pub repost_of: Option<String>,
    pub media: Vec<MediaRef>,
}

/// A file a post refers to, to be downloaded into the media store.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRef {
    pub url: String,
    /// image, video or audio, when known.
    pub kind: Option<String>,
}

/// What a platform's raw data means: the pure half shared by its connector and its
/// importer, so posts from both routes are one set.
pub trait Codec: Send + Sync {
    fn platform(&self) -> Platform;

    /// Raw item → raw posts. Pure: no network, no clock.
    fn split(&self, item: &ItemRef) -> anyhow::Result<Vec<RawPost>>;

    /// Raw post → normalized post. Pure: no network, no clock.
    fn normalize(&self, raw: &RawPost) -> anyhow::Result<NewPost>;

    /// Raw item → raw posts, each with what `normalize` makes of it (what the pipeline
    /// needs). A codec whose split already parses every post in full may override this to
    /// normalize from that parse, one pass over the JSON less; the outcome must be the
    /// same as `split_then_normalize`'s.
    fn split_normalized(&self, item: &ItemRef) -> anyhow::Result<Vec<Normalized>> {
        split_then_normalize(self, item)
    }
}

/// A raw post and what its codec's `normalize` made of it.
pub struct Normalized {
    pub platform_post_id: String,
    /// The raw post's JSON text, as stored.
    pub payload: String,
    pub post: anyhow::Result<NewPost>,
}

impl Normalized {
    pub fn new(raw: RawPost, post: anyhow::Result<NewPost>) -> Normalized {
        Normalized {
            platform_post_id: raw.platform_post_id,
            payload: Box::<str>::from(raw.payload).into_string(),
            post,
        }
    }
}

/// `split`, then `normalize` for every raw post: `Codec::split_normalized` by the book.
pub fn split_then_normalize<C: Codec + ?Sized>(
    codec: &C,
    item: &ItemRef,
) -> anyhow::Result<Vec<Normalized>> {
    let raws = codec.split(item)?;
    Ok(raws
        .into_iter()
        .map(|raw| {
            let post = codec.normalize(&raw);
            Normalized::new(raw, post)
        })
        .collect())
}

/// The codec for a platform's raw data: its connector's, else its importer's.
pub fn codec_for(platform: Platform) -> Option<&'static dyn Codec> {
    for_platform(platform)
        .map(|c| c as &dyn Codec)
        .or_else(|| crate::importers::for_platform(platform).map(|i| i as &dyn Codec))
}

pub trait Connector: Codec {
    fn auth(&self) -> Auth;

    /// The platform's documented request quota, for the gate.
    fn quota(&self) -> Quota;

    /// The API's address when the connection names none (platforms with one host).
    fn default_url(&self) -> Option<&'static str> {
        None
    }

    /// What the connections page tells a person before they connect (limits of the API,
    /// where else to get what it cannot give).
    fn note(&self) -> Option<&'static str> {
        None
    }

    /// New access when the current one expired or was refused: an OAuth2 refresh by
    /// default; AT Protocol renews or recreates its session. An `Auth` error means a person
    /// has to reconnect.
    fn renew<'a>(&'a self, api: &'a Api) -> BoxFuture<'a, Result<Credentials, FetchError>> {
        Box::pin(crate::oauth::refresh(api))
    }

    /// A platform's own meaning of an error answer, before the usual one (429 waits, 401
    /// renews, 403 needs a person, 5xx retries): Google's 403 `quotaExceeded` means "wait
    /// until tomorrow", not "reconnect". `body` is the start of the answer (up to 8 KB).
    fn classify(&self, _status: u16, _body: &str) -> Option<FetchError> {
        None
    }

    /// Registers an OAuth2 app on a server (Mastodon), for `OAuthSpec::registers_itself`.
    fn register_client<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _base: &'a str,
        _redirect_uri: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<RegisteredClient>> {
        Box::pin(async { anyhow::bail!("this platform has no app registration") })
    }

    /// One page of raw payload after `cursor` (None: start from scratch).
    fn fetch<'a>(
        &'a self,
        ctx: &'a FetchContext<'a>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, FetchError>>;
}

/// An app a server registered for Lifeboat.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client_id: String,
    pub client_secret: Option<String>,
}
