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
    let credentials = credentials_for(
        platform,
        connector.auth(),
        url.is_some(),
        handle.clone(),
        request.secret,
    )?;
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

/// The credentials a connection of this kind needs, from what the person gave.
fn credentials_for(
    platform: Platform,
    auth: Auth,
    has_url: bool,
    handle: Option<String>,
    secret: Option<String>,
) -> Result<Option<Credentials>> {
    let secret = secret.filter(|s| !s.trim().is_empty());
    Ok(match (auth, secret) {
        (Auth::None, _) if !has_url => {
            bail!("a {} connection needs a URL", platform.name())
        }
        // A feed behind a token (a private feed): sent as a bearer token.
        (Auth::None, Some(token)) => Some(Credentials::Token {
            token: token.trim().to_string(),
        }),
        (Auth::None, None) => None,
        (Auth::AppPassword | Auth::Session, Some(password)) => {
            let Some(identifier) = handle else {
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
    })
}

/// New app password or token for an existing connection (after "reconnect").
pub async fn replace_secret(
    app: &App,
    user_id: i64,
    connection_id: i64,
    secret: Option<String>,
) -> Result<()> {
    let found = app
        .db
        .read(move |c| Ok(db::connections::for_user_by_id(c, user_id, connection_id)?))
        .await?;
    let Some(connection) = found else {
        bail!("no connection {connection_id}");
    };
    let platform = Platform::from_id(&connection.platform)
        .ok_or_else(|| anyhow::anyhow!("unknown platform {}", connection.platform))?;
    let connector = connectors::for_platform(platform)
        .ok_or_else(|| anyhow::anyhow!("{} has no live connector", platform.name()))?;
    if connector.auth() == Auth::None {
        bail!("this connection needs no credentials");
    }
    let Some(credentials) =
        credentials_for(platform, connector.auth(), true, connection.handle, secret)?
    else {
        bail!("give the new token or app password");
    };
    let record = app.vault.encrypt(&credentials.to_bytes());
    app.db
        .write(move |c| {
            db::connections::set_credentials(c, user_id, connection_id, &record, time::now())?;
            Ok(())
        })
        .await
}
