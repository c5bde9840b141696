//! OAuth2 client-credentials tokens for a source's `ApiClient`: fetched from `token_url`
//! (client authentication in the form body or as basic auth), cached until shortly before
//! `expires_in`, and dropped after a 401 so the next attempt fetches a fresh one. Token calls
//! go through the same rate limiter and request budget as every other request.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{ApiClient, HttpError, base64, body_excerpt, error_chain};
use crate::config::ClientAuth;

/// How token calls are named in the ledger and in errors (the URL itself stays out of both).
pub const TOKEN_ENDPOINT: &str = "POST <token_url>";

pub struct TokenSource {
    pub(super) token_url: String,
    pub(super) client_id: String,
    pub(super) client_secret: SecretString,
    pub(super) client_auth: ClientAuth,
    cached: Mutex<Option<Token>>,
}

struct Token {
    header: HeaderValue,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

impl TokenSource {
    pub fn new(
        token_url: String,
        client_id: String,
        client_secret: SecretString,
        client_auth: ClientAuth,
    ) -> Self {
        Self {
            token_url,
            client_id,
            client_secret,
            client_auth,
            cached: Mutex::new(None),
        }
    }

    /// Forgets the cached token (the server refused it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

/// The most of a token answer read (a token is a few KiB at most).
const TOKEN_ANSWER_LIMIT: usize = 64 * 1024;

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl ApiClient {
    /// Fetches a token now (for `tributary check`); `false` when the source has no tokens.
    pub async fn fetch_token(&self) -> Result<bool, HttpError> {
        match &self.credentials {
            super::Credentials::Tokens(tokens) => {
                tokens.invalidate().await;
                self.bearer(tokens).await.map(|_| true)
            }
            super::Credentials::Fixed(..) => Ok(false),
        }
    }

    /// The `Authorization` header for the next request: the cached token, or a new one.
    pub(super) async fn bearer(&self, tokens: &TokenSource) -> Result<HeaderValue, HttpError> {
        let mut cached = tokens.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.header.clone());
        }
        let endpoint = TOKEN_ENDPOINT;
        let failed = |message: String| HttpError::Request {
            source_name: self.source,
            endpoint: endpoint.to_string(),
            message,
        };
        let entry = self.admit(endpoint).await?;
        let mut body = "grant_type=client_credentials".to_string();
        let mut request = self
            .client
            .post(&tokens.token_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        match tokens.client_auth {
            ClientAuth::Body => {
                body.push_str(&format!(
                    "&client_id={}&client_secret={}",
                    form_value(&tokens.client_id),
                    form_value(tokens.client_secret.expose_secret())
                ));
            }
            ClientAuth::Basic => {
                let credentials = format!(
                    "{}:{}",
                    tokens.client_id,
                    tokens.client_secret.expose_secret()
                );
                let mut value =
                    HeaderValue::from_str(&format!("Basic {}", base64(credentials.as_bytes())))
                        .map_err(|_| {
                            failed("the client credentials cannot travel in a header".into())
                        })?;
                value.set_sensitive(true);
                request = request.header(AUTHORIZATION, value);
            }
        }
        let sent = request.body(body).send().await;
        self.settle(entry, sent.as_ref().ok().map(reqwest::Response::status))
            .await;
        let response = sent.map_err(|e| failed(error_chain(&e)))?;
        let status = response.status();
        if matches!(status.as_u16(), 400 | 401 | 403) {
            return Err(HttpError::Unauthorized {
                source_name: self.source,
                endpoint: endpoint.to_string(),
                status,
            });
        }
        if !status.is_success() {
            return Err(HttpError::Status {
                source_name: self.source,
                endpoint: endpoint.to_string(),
                status,
                body: body_excerpt(response).await,
            });
        }
        let mut response = response;
        let (body, more) = super::read_at_most(&mut response, TOKEN_ANSWER_LIMIT)
            .await
            .map_err(|e| failed(format!("unreadable token answer: {}", error_chain(&e))))?;
        if more {
            return Err(failed(format!(
                "the token answer is larger than {TOKEN_ANSWER_LIMIT} bytes"
            )));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| failed(format!("unreadable token answer: {e}")))?;
        // Trust the server's lifetime within sane bounds: a token per request would halve the
        // budget, and an absurd lifetime must not overflow the clock.
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600).clamp(1, 86_400));
        let mut header = HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
            .map_err(|_| failed("the access token cannot travel in a header".into()))?;
        header.set_sensitive(true);
        // Renew a little before it expires: a tenth of its life, at most a minute.
        let renew_at = Instant::now() + lifetime - (lifetime / 10).min(Duration::from_secs(60));
        *cached = Some(Token {
            header: header.clone(),
            renew_at,
        });
        tracing::debug!(
            source = self.source,
            lifetime_secs = lifetime.as_secs(),
            "fetched an access token"
        );
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_values_are_encoded() {
        assert_eq!(super::form_value("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
