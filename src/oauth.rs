//! OAuth2 authorization code with PKCE, through the `oauth2` crate: starting an
//! authorization (state and verifier kept server-side, hashed and encrypted), finishing
//! it at the redirect back to Lifeboat (state checked, single use, code exchanged with the
//! verifier), and refreshing tokens during syncs (rotated refresh tokens kept).

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::connectors::credentials::{Credentials, OAuthClient};
use crate::connectors::{self, Api, Auth, FetchError, OAuthSpec};
use crate::db::connections::NewConnection;
use crate::db::oauth::{NewClient, NewState};
use crate::platform::Platform;
use crate::{db, time};

/// How long a person has between "Connect" and coming back from the platform.
const FLOW_LIFETIME_SECS: i64 = 15 * 60;
/// The path platforms redirect back to; a person registers `{public URL}/oauth/callback`.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// The token endpoint client: no redirects (the oauth2 crate's advice: a token request
/// must not be bounced elsewhere), the same user agent as every other request.
fn token_http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .user_agent(crate::app::USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("token client builds")
    })
}

pub fn spec(platform: Platform) -> Option<&'static OAuthSpec> {
    match connectors::for_platform(platform)?.auth() {
        Auth::OAuth2(spec) => Some(spec),
        _ => None,
    }
}

/// What waits, encrypted, between the start of a flow and its callback.
#[derive(Serialize, Deserialize)]
struct Pending {
    verifier: String,
    client: OAuthClient,
}

fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// `spec_url` resolved against the connection's URL when it is a path (Mastodon).
fn endpoint(spec_url: &str, base: Option<&str>) -> Result<String> {
    if spec_url.starts_with("http://") || spec_url.starts_with("https://") {
        return Ok(spec_url.to_string());
    }
    let base = base.context("this platform's OAuth endpoints live on its server: give its URL")?;
    Ok(format!("{}{}", base.trim_end_matches('/'), spec_url))
}

/// The app's host key: per server for platforms that register an app per server.
fn client_host(spec: &OAuthSpec, url: Option<&str>) -> Result<String> {
    if !spec.registers_itself {
        return Ok(String::new());
    }
    let url = url.context("give the server's address (for example https://mastodon.social)")?;
    let parsed = url::Url::parse(url).map_err(|e| anyhow!("{url:?} is not a URL: {e}"))?;
    Ok(parsed.origin().ascii_serialization())
}

/// Starts an authorization: returns the platform's authorize URL to send the person to.
pub async fn begin(
    app: &App,
    user_id: i64,
    platform: Platform,
    url: Option<String>,
    connection_id: Option<i64>,
    redirect_uri: String,
) -> Result<String> {
    let connector = connectors::for_platform(platform)
        .with_context(|| format!("{} has no live connector", platform.name()))?;
    let Auth::OAuth2(spec) = connector.auth() else {
        bail!("{} does not connect with OAuth2", platform.name());
    };
    let url = url
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty());
    let host = client_host(spec, url.as_deref())?;
    let base = if host.is_empty() {
        url.clone()
    } else {
        Some(host.clone())
    };
    let stored = {
        let (platform_id, host) = (platform.id(), host.clone());
        app.db
            .read(move |c| Ok(db::oauth::client(c, user_id, platform_id, &host)?))
            .await?
    };
    let row = match stored {
        Some(row) => row,
        None if spec.registers_itself => {
            let base = base
                .clone()
                .expect("a self-registering platform has a host");
            let registered = connector
                .register_client(app.http(), &base, &redirect_uri)
                .await
                .with_context(|| format!("cannot register Lifeboat as an app on {base}"))?;
            let secret = registered
                .client_secret
                .map(|s| app.vault.encrypt(s.as_bytes()));
            let (platform_id, host) = (platform.id(), host.clone());
            app.db
                .write(move |c| {
                    let new = NewClient {
                        user_id,
                        platform: platform_id,
                        host: &host,
                        client_id: &registered.client_id,
                        client_secret: secret.as_deref(),
                        authorize_url: None,
                        token_url: None,
                    };
                    db::oauth::upsert_client(c, &new, time::now())?;
                    Ok(db::oauth::client(c, user_id, platform_id, &host)?)
                })
                .await?
                .context("the registered app was not saved")?
        }
        None => bail!(
            "add your {} app first: on the settings page, enter the client id and secret of an \
             app registered at {} with the redirect URL {redirect_uri}",
            platform.name(),
            spec.register_at
        ),
    };
    let client_secret = match &row.client_secret {
        Some(record) => Some(String::from_utf8(app.vault.decrypt(record)?)?),
        None => None,
    };
    let authorize_url = match &row.authorize_url {
        Some(u) => u.clone(),
        None => endpoint(spec.authorize_url, base.as_deref())?,
    };
    let token_url = match &row.token_url {
        Some(u) => u.clone(),
        None => endpoint(spec.token_url, base.as_deref())?,
    };
    let client = OAuthClient {
        client_id: row.client_id.clone(),
        client_secret,
        token_url,
        secret_in_body: spec.secret_in_body,
    };

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let oauth = BasicClient::new(ClientId::new(client.client_id.clone()))
        .set_auth_uri(AuthUrl::new(authorize_url)?)
        .set_redirect_uri(RedirectUrl::new(redirect_uri.clone())?);
    let mut request = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scopes(spec.scopes.iter().map(|s| Scope::new(s.to_string())))
        .set_pkce_challenge(challenge);
    for (key, value) in spec.authorize_params {
        request = request.add_extra_param(*key, *value);
    }
    let (authorize, state) = request.url();

    let pending = Pending {
        verifier: verifier.secret().clone(),
        client,
    };
    let pending = app.vault.encrypt(&serde_json::to_vec(&pending)?);
    let hash = state_hash(state.secret());
    app.db
        .write(move |c| {
            let now = time::now();
            let new = NewState {
                state_hash: &hash,
                user_id,
                platform: platform.id(),
                url: url.as_deref(),
                connection_id,
                pending: &pending,
                redirect_uri: &redirect_uri,
                expires_at: now + FLOW_LIFETIME_SECS,
            };
            Ok(db::oauth::insert_state(c, &new, now)?)
        })
        .await?;
    Ok(authorize.to_string())
}

/// Finishes an authorization at the redirect back: checks the state (this user's, unused,
/// unexpired), exchanges the code with the PKCE verifier, and stores the tokens encrypted
/// in a new connection (or the one being reconnected). Returns the connection's id.
pub async fn finish(app: &App, user_id: i64, state: &str, code: &str) -> Result<i64> {
    let hash = state_hash(state);
    let flow = app
        .db
        .write(move |c| Ok(db::oauth::take_state(c, user_id, &hash, time::now())?))
        .await?
        .context(
            "this authorization is unknown, already used or expired; start it again from the \
             connections page",
        )?;
    let platform = Platform::from_id(&flow.platform).context("unknown platform")?;
    let pending: Pending = serde_json::from_slice(&app.vault.decrypt(&flow.pending)?)?;
    let oauth =
        basic_client(&pending.client)?.set_redirect_uri(RedirectUrl::new(flow.redirect_uri)?);
    let token = oauth
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(token_http())
        .await
        .map_err(|e| {
            anyhow!(
                "{} refused the authorization: {}",
                platform.name(),
                token_error(&e)
            )
        })?;
    let credentials = credentials_from(&token, None, pending.client);
    let record = app.vault.encrypt(&credentials.to_bytes());
    let url = flow.url;
    let reconnect = flow.connection_id;
    app.db
        .write(move |c| {
            let now = time::now();
            if let Some(id) = reconnect {
                if !db::connections::set_credentials(c, user_id, id, &record, now)? {
                    bail!("the connection to reconnect is gone");
                }
                return Ok(id);
            }
            let label = url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(String::from))
                .unwrap_or_else(|| platform.name().to_string());
            let new = NewConnection {
                user_id,
                platform: platform.id(),
                kind: "api",
                label: &label,
                url: url.as_deref(),
                handle: None,
                credentials: Some(&record),
            };
            Ok(db::connections::insert(c, &new, now)?)
        })
        .await
}

/// A refresh during a sync: the default `Connector::renew`.
pub async fn refresh(api: &Api) -> Result<Credentials, FetchError> {
    let Some(Credentials::OAuth2 {
        refresh_token: Some(refresh_token),
        client,
        ..
    }) = api.credentials()
    else {
        return Err(FetchError::Auth(
            "the access token expired and there is no refresh token; reconnect the account".into(),
        ));
    };
    let oauth = basic_client(&client).map_err(|e| FetchError::Invalid(format!("{e:#}")))?;
    let token = oauth
        .exchange_refresh_token(&RefreshToken::new(refresh_token.clone()))
        .request_async(token_http())
        .await
        .map_err(|e| match &e {
            RequestTokenError::ServerResponse(_) => FetchError::Auth(format!(
                "the platform refused to refresh the access ({}); reconnect the account",
                token_error(&e)
            )),
            RequestTokenError::Request(_) => FetchError::Transient(token_error(&e)),
            _ => FetchError::Invalid(token_error(&e)),
        })?;
    Ok(credentials_from(&token, Some(refresh_token), client))
}

/// The oauth2 crate's basic client with only its token endpoint set (its typestate).
type TokenClient = oauth2::Client<
    BasicErrorResponse,
    BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn basic_client(client: &OAuthClient) -> Result<TokenClient> {
    let mut oauth = BasicClient::new(ClientId::new(client.client_id.clone()))
        .set_token_uri(TokenUrl::new(client.token_url.clone())?)
        .set_auth_type(if client.secret_in_body {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        });
    if let Some(secret) = &client.client_secret {
        oauth = oauth.set_client_secret(ClientSecret::new(secret.clone()));
    }
    Ok(oauth)
}

/// Tokens into credentials. A refresh answer without a new refresh token keeps the old
/// one; with one (rotation), the old one is dead and only the new one is kept.
fn credentials_from(
    token: &BasicTokenResponse,
    previous_refresh: Option<String>,
    client: OAuthClient,
) -> Credentials {
    Credentials::OAuth2 {
        access_token: token.access_token().secret().clone(),
        refresh_token: token
            .refresh_token()
            .map(|r| r.secret().clone())
            .or(previous_refresh),
        expires_at: token.expires_in().map(|d| time::now() + d.as_secs() as i64),
        client,
    }
}

/// The platform's own words for a refused token request, never the token itself.
fn token_error<E: std::error::Error + 'static>(
    e: &RequestTokenError<E, BasicErrorResponse>,
) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let mut text = r.error().to_string();
            if let Some(description) = r.error_description() {
                text = format!("{text}: {description}");
            }
            text
        }
        RequestTokenError::Request(e) => {
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            message
        }
        RequestTokenError::Parse(e, _) => format!("unreadable token answer: {e}"),
        RequestTokenError::Other(e) => e.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_absolute_or_on_the_server() {
        assert_eq!(
            endpoint("https://www.reddit.com/api/v1/authorize", None).unwrap(),
            "https://www.reddit.com/api/v1/authorize"
        );
        assert_eq!(
            endpoint("/oauth/authorize", Some("https://mastodon.social/")).unwrap(),
            "https://mastodon.social/oauth/authorize"
        );
        assert!(endpoint("/oauth/authorize", None).is_err());
    }
}
