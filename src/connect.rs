//! Adding a connection: the same steps for the connections page, the API and the CLI.

use anyhow::{Result, bail};

use crate::app::App;
use crate::connectors::{self, Auth, Credentials};
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
    let secret = request.secret.filter(|s| !s.trim().is_empty());
    let credentials = match (connector.auth(), secret) {
        (Auth::None, _) if url.is_none() => {
            bail!("a {} connection needs a URL", platform.name())
        }
        (Auth::None, _) => None,
        (Auth::AppPassword | Auth::Session, Some(password)) => {
            let Some(identifier) = handle.clone() else {
                bail!(
                    "a {} connection needs the account name with its app password",
                    platform.name()
                );
            };
            Some(Credentials::AppPassword {
                identifier,
                password: password.trim().to_string(),
                session: None,
            })
        }
        (Auth::AppPassword | Auth::Session, None) => {
            bail!("a {} connection needs an app password", platform.name())
        }
        // An access token made by hand works for OAuth2 platforms too (no refresh).
        (Auth::Token | Auth::OAuth2(_), Some(token)) => Some(Credentials::Token {
            token: token.trim().to_string(),
        }),
        (Auth::Token, None) => bail!("a {} connection needs a token", platform.name()),
        (Auth::OAuth2(_), None) => bail!(
            "{} connects with OAuth2: use \"Connect with {}\" on the connections page",
            platform.name(),
            platform.name()
        ),
    };
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
    let credentials = credentials.map(|c| app.vault.encrypt(&c.to_bytes()));
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
