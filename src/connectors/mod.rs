//! Connectors: one file per platform behind one trait, and the explicit list of them all.
//! A connector never touches the database: it fetches raw pages, and splits and normalizes
//! raw payloads with pure functions. The ingest layer does the rest.

pub mod feed;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;

use crate::platform::Platform;

/// Every connector Lifeboat has. A new platform: one file, one line here.
pub static ALL: &[&dyn Connector] = &[&feed::Feed];

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
    /// An app password (with the account's handle).
    AppPassword,
    /// OAuth2 authorization code with PKCE.
    OAuth2,
}

/// What `fetch` gets from the ingest layer.
pub struct FetchContext<'a> {
    pub http: &'a reqwest::Client,
    /// The URL the person configured: a feed, an instance, a PDS. Tests point it at a
    /// local fake server.
    pub url: Option<&'a str>,
    /// The decrypted credentials, when the connection has any.
    pub secret: Option<&'a str>,
}

/// One page of raw payload, newest first.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<RawItem>,
    /// The position to resume from; stored with the items in one transaction.
    pub cursor: Option<String>,
    /// True when there is nothing more to fetch in this sync.
    pub done: bool,
    /// A person-readable note for the sync log ("feed unchanged (304)").
    pub note: Option<String>,
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

/// One raw post in the platform's own shape (JSON), kept forever in `ingested_posts`.
#[derive(Debug, Clone)]
pub struct RawPost {
    pub platform_post_id: String,
    pub payload: Value,
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
}

/// The codec for a platform's raw data: its connector's, else its importer's.
pub fn codec_for(platform: Platform) -> Option<&'static dyn Codec> {
    for_platform(platform)
        .map(|c| c as &dyn Codec)
        .or_else(|| crate::importers::for_platform(platform).map(|i| i as &dyn Codec))
}

pub trait Connector: Codec {
    fn auth(&self) -> Auth;

    /// One page of raw payload after `cursor` (None: start from scratch).
    fn fetch<'a>(
        &'a self,
        ctx: &'a FetchContext<'a>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, FetchError>>;
}
