//! What a source's requests carry to authenticate: a fixed header (an API token, basic
//! auth) or OAuth2 bearer tokens, fetched and renewed on demand. Renewal has one path:
//! [`Credentials::renew`] forgets the token, and the next request fetches a new one.

use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::admission::Admission;
use super::basic::basic_auth;
use super::error::HttpError;
use super::oauth::TokenSource;

/// How a source authenticates. Values are marked sensitive so they never reach a log.
pub enum Auth {
    Header {
        name: &'static str,
        value: SecretString,
    },
    Basic {
        username: String,
        password: SecretString,
    },
    /// OAuth2 client credentials; the bearer token is fetched and renewed as needed.
    OAuth2(TokenSource),
}

/// The credentials a request carries.
pub enum Credentials {
    Fixed(HeaderName, HeaderValue),
    Tokens(TokenSource),
}

impl Credentials {
    /// The credentials of `auth`, or why a header cannot carry them.
    pub fn new(auth: Auth) -> Result<Self, String> {
        let fixed = |name: &'static str, value: Option<HeaderValue>| {
            let value = value.ok_or_else(|| {
                format!(
                    "the credentials for header {name} hold characters an HTTP header cannot carry"
                )
            })?;
            Ok(Credentials::Fixed(HeaderName::from_static(name), value))
        };
        match auth {
            Auth::Header { name, value } => {
                let value = HeaderValue::from_str(value.expose_secret())
                    .ok()
                    .map(|mut v| {
                        v.set_sensitive(true);
                        v
                    });
                fixed(name, value)
            }
            Auth::Basic { username, password } => fixed(
                "authorization",
                basic_auth(&username, password.expose_secret()),
            ),
            Auth::OAuth2(tokens) => Ok(Credentials::Tokens(tokens)),
        }
    }

    /// Whether these are tokens that [`renew`](Self::renew) can replace.
    pub fn renewable(&self) -> bool {
        matches!(self, Credentials::Tokens(_))
    }

    /// The header the next request of `source` carries; a token is fetched when none is
    /// cached or it is about to expire.
    pub async fn header(
        &self,
        source: &'static str,
        client: &reqwest::Client,
        admission: &Admission,
    ) -> Result<(HeaderName, HeaderValue), HttpError> {
        match self {
            Credentials::Fixed(name, value) => Ok((name.clone(), value.clone())),
            Credentials::Tokens(tokens) => {
                let value = tokens.bearer(source, client, admission).await?;
                Ok((AUTHORIZATION, value))
            }
        }
    }

    /// Forgets the current token (the server refused it, or `check` wants a fresh one), so
    /// that the next [`header`](Self::header) fetches a new one. `false` for fixed
    /// credentials, which cannot be renewed.
    pub async fn renew(&self) -> bool {
        match self {
            Credentials::Fixed(..) => false,
            Credentials::Tokens(tokens) => {
                tokens.invalidate().await;
                true
            }
        }
    }
}
