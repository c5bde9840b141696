//! aircalc NEXT authentication: the OAuth2 client-credentials token endpoint and the
//! bearer-token check in front of every other endpoint.
//!
//! - `POST /oauth/token` takes a form body with `grant_type=client_credentials` and the
//!   client credentials either in the body (`client_id`, `client_secret`) or as HTTP Basic
//!   auth (form-encoded id and secret; credentials also given in the body must then
//!   agree). The client is checked first: 401 `{"error":"invalid_client"}`; then the
//!   body: 400 `{"error":"invalid_request"}` (malformed, a repeated parameter, no
//!   `grant_type`) or `{"error":"unsupported_grant_type"}`. Success answers
//!   `{"access_token","token_type":"Bearer","expires_in"}` with `Cache-Control: no-store`.
//! - A token looks random but follows from the seed and the number of tokens issued
//!   before it; it is valid for `expires_in` seconds of wall time from its issue, unless
//!   [`Auth::expire_all`] ends it earlier. A request without a valid
//!   `Authorization: Bearer <token>` gets 401 `{"error":"invalid_token","status_code":401}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::basic_auth::basic_credentials;
use crate::rng::Rng;
use crate::shared::{json_error, lock};

/// Offset of the tokens' random stream.
const TOKEN_STREAM: u64 = 0x70_4E00;

/// The client the fake accepts and the tokens it has issued.
pub(crate) struct Auth {
    client_id: String,
    client_secret: String,
    ttl: Duration,
    seed: u64,
    tokens: Mutex<Tokens>,
}

#[derive(Default)]
struct Tokens {
    /// Tokens issued so far.
    issued: u64,
    /// When each token still valid (or expired, but not yet forgotten) was issued.
    live: HashMap<String, tokio::time::Instant>,
}

#[derive(Serialize)]
struct Granted {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

#[derive(Serialize)]
struct OAuthError {
    error: &'static str,
}

fn oauth_error(status: StatusCode, error: &'static str) -> Response {
    (status, Json(OAuthError { error })).into_response()
}

impl Auth {
    pub(crate) fn new(client_id: String, client_secret: String, ttl_secs: u64, seed: u64) -> Auth {
        Auth {
            client_id,
            client_secret,
            ttl: Duration::from_secs(ttl_secs),
            seed,
            tokens: Mutex::default(),
        }
    }

    /// The answer of the token endpoint to a request with these headers and body.
    pub(crate) fn grant(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        let Some(form) = form(body) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        if !self.authenticates(headers, &form) {
            let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
            let challenge = HeaderValue::from_static(r#"Basic realm="aircalc""#);
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
            return response;
        }
        match form.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {}
            Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
            None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
        }
        let granted = Granted {
            access_token: self.issue(tokio::time::Instant::now()),
            token_type: "Bearer",
            expires_in: self.ttl.as_secs(),
        };
        ([(CACHE_CONTROL, "no-store")], Json(granted)).into_response()
    }

    /// Whether the request names the client with the right secret.
    fn authenticates(&self, headers: &HeaderMap, form: &BTreeMap<String, String>) -> bool {
        let (body_id, body_secret) = (form.get("client_id"), form.get("client_secret"));
        let basic = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(basic_credentials);
        let (id, secret) = match basic {
            Some(credentials) => {
                let Some((id, secret)) = split_credentials(&credentials) else {
                    return false;
                };
                let agrees =
                    |given: Option<&String>, wanted: &str| given.is_none_or(|g| g == wanted);
                if !agrees(body_id, &id) || !agrees(body_secret, &secret) {
                    return false;
                }
                (id, secret)
            }
            None => match (body_id, body_secret) {
                (Some(id), Some(secret)) => (id.clone(), secret.clone()),
                _ => return false,
            },
        };
        id == self.client_id && secret == self.client_secret
    }

    /// A new token, valid from `now`; forgets the expired ones.
    fn issue(&self, now: tokio::time::Instant) -> String {
        let mut tokens = lock(&self.tokens);
        let ttl = self.ttl;
        tokens
            .live
            .retain(|_, issued| now.duration_since(*issued) < ttl);
        tokens.issued += 1;
        let mut rng = Rng::new(self.seed).fork(TOKEN_STREAM).fork(tokens.issued);
        let token = format!(
            "{:016x}{:016x}{:016x}",
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64()
        );
        tokens.live.insert(token.clone(), now);
        token
    }

    /// The 401 answer, unless the request carries a valid bearer token.
    pub(crate) fn rejection(&self, headers: &HeaderMap) -> Option<Response> {
        let now = tokio::time::Instant::now();
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token);
        let valid = token.is_some_and(|token| {
            let tokens = lock(&self.tokens);
            let issued = tokens.live.get(token);
            issued.is_some_and(|issued| now.duration_since(*issued) < self.ttl)
        });
        if valid {
            return None;
        }
        let mut response = json_error(StatusCode::UNAUTHORIZED, "invalid_token");
        let challenge =
            HeaderValue::from_static(r#"Bearer realm="aircalc", error="invalid_token""#);
        response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        Some(response)
    }

    /// Ends every token issued so far.
    pub(crate) fn expire_all(&self) {
        lock(&self.tokens).live.clear();
    }
}

/// The token of an `Authorization: Bearer …` header value.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The client id and secret of decoded Basic credentials (`id:secret`, each form-encoded).
fn split_credentials(credentials: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(credentials).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((decode(id)?, decode(secret)?))
}

/// The parameters of an `application/x-www-form-urlencoded` body; `None` if it is
/// malformed or names a parameter twice.
fn form(body: &[u8]) -> Option<BTreeMap<String, String>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut parameters = BTreeMap::new();
    for pair in text.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if parameters.insert(decode(name)?, decode(value)?).is_some() {
            return None;
        }
    }
    Some(parameters)
}

/// A form-encoded component (`+` a space, `%XX` a byte); `None` unless valid UTF-8.
fn decode(text: &str) -> Option<String> {
    let hex = |digit: Option<u8>| char::from(digit?).to_digit(16);
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(byte) = rest.next() {
        bytes.push(match byte {
            b'+' => b' ',
            b'%' => (hex(rest.next())? * 16 + hex(rest.next())?) as u8,
            _ => byte,
        });
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use crate::aircalc::auth::{bearer_token, decode, form, split_credentials};

    #[test]
    fn form_bodies_and_credentials_decode() {
        let body = b"grant_type=client_credentials&client_id=sim%2Dclient&client_secret=a+b%C3%BC&";
        let parsed = form(body).expect("form");
        assert_eq!(parsed["grant_type"], "client_credentials");
        assert_eq!(parsed["client_id"], "sim-client");
        assert_eq!(parsed["client_secret"], "a bü");
        assert_eq!(form(b"flag").expect("form")["flag"], "");
        for bad in [&b"a=1&a=2"[..], b"a=%G1", b"a=%4", b"a=%FF", b"\xff=1"] {
            assert_eq!(form(bad), None, "{bad:?}");
        }
        assert_eq!(decode("%41%2b+").as_deref(), Some("A+ "));
        assert_eq!(
            split_credentials(b"id%3Ax:s:cret"),
            Some(("id:x".to_owned(), "s:cret".to_owned()))
        );
        assert_eq!(split_credentials(b"no-colon"), None);
        assert_eq!(bearer_token(" bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
