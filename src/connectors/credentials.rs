//! What a connection keeps in the vault: one JSON document per connection, encrypted as a
//! whole (`connections.credentials`). It carries everything a sync needs to authenticate
//! and to renew its own access, so a sync never reads other secrets.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Access tokens this close to their expiry are renewed before the next request.
pub const REFRESH_MARGIN_SECS: i64 = 60;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Credentials {
    /// A personal access token, sent as a bearer token.
    Token { token: String },
    /// An account name and an app password: sent as HTTP Basic (WordPress), or exchanged
    /// for a session (AT Protocol), kept in `session`.
    AppPassword {
        identifier: String,
        password: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<SessionTokens>,
    },
    /// Tokens from an OAuth2 authorization, and the client that may refresh them.
    OAuth2 {
        access_token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refresh_token: Option<String>,
        /// Unix seconds; None when the platform's tokens do not expire (Mastodon).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<i64>,
        client: OAuthClient,
    },
}

/// A session an app password was exchanged for (AT Protocol `createSession`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTokens {
    pub access: String,
    pub refresh: String,
    /// The account's stable id (a DID for AT Protocol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Where the account's data lives, when the login server names another host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// The OAuth2 client a person registered with the platform, as a refresh needs it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClient {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub token_url: String,
    /// True: client id and secret go in the form body; false: HTTP Basic (RFC 6749's default).
    #[serde(default)]
    pub secret_in_body: bool,
}

impl Credentials {
    /// Reads a stored record. Records written before credentials were JSON are a bare token.
    pub fn parse(plain: &[u8]) -> Credentials {
        serde_json::from_slice(plain).unwrap_or_else(|_| Credentials::Token {
            token: String::from_utf8_lossy(plain).trim().to_string(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("credentials serialize")
    }

    /// The Authorization header value for an API request, if these credentials can make one.
    pub fn authorization(&self) -> Option<String> {
        match self {
            Credentials::Token { token } => Some(format!("Bearer {token}")),
            Credentials::OAuth2 { access_token, .. } => Some(format!("Bearer {access_token}")),
            Credentials::AppPassword {
                session: Some(session),
                ..
            } => Some(format!("Bearer {}", session.access)),
            Credentials::AppPassword {
                identifier,
                password,
                session: None,
            } => {
                let pair = format!("{identifier}:{password}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
        }
    }

    /// True when the access token expires within the margin and should be renewed first.
    pub fn expiring(&self, now: i64) -> bool {
        matches!(self, Credentials::OAuth2 { expires_at: Some(at), refresh_token: Some(_), .. }
            if *at - REFRESH_MARGIN_SECS <= now)
    }
}

/// Never print a secret, not even in a debug log.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Credentials::Token { .. } => "Token",
            Credentials::AppPassword { .. } => "AppPassword",
            Credentials::OAuth2 { .. } => "OAuth2",
        };
        write!(f, "Credentials::{kind}(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_token_from_before_json_still_reads() {
        assert_eq!(
            Credentials::parse(b"abc123\n"),
            Credentials::Token {
                token: "abc123".into()
            }
        );
    }

    #[test]
    fn app_password_without_session_is_basic_auth() {
        let c = Credentials::AppPassword {
            identifier: "admin".into(),
            password: "abcd efgh".into(),
            session: None,
        };
        assert_eq!(
            c.authorization().unwrap(),
            "Basic YWRtaW46YWJjZCBlZmdo" // base64("admin:abcd efgh")
        );
        let round = Credentials::parse(&c.to_bytes());
        assert_eq!(round, c);
        assert!(!format!("{c:?}").contains("abcd"));
    }

    #[test]
    fn oauth_tokens_expire_with_a_margin_only_when_refreshable() {
        let client = OAuthClient {
            client_id: "id".into(),
            client_secret: None,
            token_url: "http://x/token".into(),
            secret_in_body: false,
        };
        let token = |refresh: Option<&str>| Credentials::OAuth2 {
            access_token: "a".into(),
            refresh_token: refresh.map(String::from),
            expires_at: Some(1000),
            client: client.clone(),
        };
        assert!(token(Some("r")).expiring(1000 - REFRESH_MARGIN_SECS));
        assert!(!token(Some("r")).expiring(1000 - REFRESH_MARGIN_SECS - 1));
        assert!(!token(None).expiring(2000));
    }
}
