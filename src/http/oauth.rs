//! OAuth2 client-credentials tokens for a source's `ApiClient`: fetched from `token_url`
//! (client authentication in the form body or as basic auth), cached until shortly before
//! `expires_in`, and dropped after a 401 so the next attempt fetches a fresh one. Token calls
//! are admitted like every other request (in-flight cap, rate limiter, request budget).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::admission::Admission;
use super::basic::basic_auth;
use super::body::{body_excerpt, read_at_most};
use super::error::{HttpError, HttpErrorKind, TOKEN_ENDPOINT, error_chain};
use crate::config::ClientAuth;

pub struct TokenSource {
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    client_auth: ClientAuth,
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

    /// Forgets the cached token (the server refused it): the next request fetches one.
    pub(super) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// The `Authorization` header for the next request of `source`: the cached token, or a
    /// new one, fetched as a request admitted like any other.
    pub(super) async fn bearer(
        &self,
        source: &'static str,
        client: &reqwest::Client,
        admission: &Admission,
    ) -> Result<HeaderValue, HttpError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.header.clone());
        }
        let error = |kind| HttpError::new(source, TOKEN_ENDPOINT, kind);
        let failed = |message: String| HttpError::request(source, TOKEN_ENDPOINT, message);
        let pass = admission
            .admit(TOKEN_ENDPOINT)
            .await
            .map_err(|e| error(HttpErrorKind::Budget(e)))?;
        let mut body = "grant_type=client_credentials".to_string();
        let mut request = client
            .post(&self.token_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        match self.client_auth {
            ClientAuth::Body => {
                body.push_str(&format!(
                    "&client_id={}&client_secret={}",
                    form_value(&self.client_id),
                    form_value(self.client_secret.expose_secret())
                ));
            }
            ClientAuth::Basic => {
                let value = basic_auth(&self.client_id, self.client_secret.expose_secret())
                    .ok_or_else(|| {
                        failed("the client credentials cannot travel in a header".into())
                    })?;
                request = request.header(AUTHORIZATION, value);
            }
        }
        let sent = request.body(body).send().await;
        let _slot = pass
            .settle(sent.as_ref().ok().map(reqwest::Response::status))
            .await;
        let mut response = sent.map_err(|e| failed(error_chain(&e)))?;
        let status = response.status();
        if matches!(
            status,
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(error(HttpErrorKind::Unauthorized { status }));
        }
        if !status.is_success() {
            let body = body_excerpt(response).await;
            return Err(error(HttpErrorKind::Status { status, body }));
        }
        let (body, more) = read_at_most(&mut response, TOKEN_ANSWER_LIMIT)
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
            source,
            lifetime_secs = lifetime.as_secs(),
            "fetched an access token"
        );
        Ok(header)
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

#[cfg(test)]
mod tests {
    use crate::http::oauth::*;

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_value("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
