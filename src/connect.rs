//! Adding a connection: the same steps for the connections page, the API and the CLI.

use anyhow::{Result, bail};

use crate::app::App;
use crate::connectors::{self, Auth};
use crate::db::connections::NewConnection;
use crate::platform::Platform;
use crate::{db, time};

pub struct Request {
    pub user_id: i64,
    pub platform: String,
    pub url: Option<String>,
    pub handle: Option<String>,
    pub secret: Option<String>,
}

/// Checks what the platform needs, finds the feed behind a web page, stores the secret
/// encrypted, and returns the new connection's id.
pub async fn add(app: &App, request: Request) -> Result<i64> {
    let Some(platform) = Platform::from_id(&request.platform) else {
        bail!(
            "unknown platform {:?}; `lifeboat platforms` lists them",
            request.platform
        );
    };
    let Some(connector) = connectors::for_platform(platform) else {
        bail!(
            "{} has no live connector yet; import its data export instead",
            platform.name()
        );
    };
    let mut url = request
        .url
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    let handle = request
        .handle
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    match connector.auth() {
        Auth::None if url.is_none() => bail!("a {} connection needs a URL", platform.name()),
        Auth::Token | Auth::AppPassword | Auth::OAuth2 if request.secret.is_none() => {
            bail!(
                "a {} connection needs a token or app password",
                platform.name()
            )
        }
        _ => {}
    }
    if let Some(u) = &url {
        let parsed = url::Url::parse(u).map_err(|e| anyhow::anyhow!("{u:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("only http and https URLs can be backed up");
        }
    }
    if platform == Platform::Feed
        && let Some(page) = &url
    {
        url = Some(connectors::feed::discover(&app.http, page).await?);
    }
    let kind = if connector.auth() == Auth::None {
        "feed"
    } else {
        "api"
    };
    let label = handle
        .clone()
        .or_else(|| url.clone())
        .unwrap_or_else(|| platform.name().into());
    let credentials = request.secret.map(|s| app.vault.encrypt(s.as_bytes()));
    let user_id = request.user_id;
    app.db
        .write(move |c| {
            let new = NewConnection {
                user_id,
                platform: platform.id(),
                kind,
                label: &label,
                url: url.as_deref(),
                handle: handle.as_deref(),
                credentials: credentials.as_deref(),
            };
            Ok(db::connections::insert(c, &new, time::now())?)
        })
        .await
}
