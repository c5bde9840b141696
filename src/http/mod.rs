//! The HTTP layer every source shares: one `ApiClient` per source with its auth, timeouts,
//! a requests-per-second limiter (governor), a cap on requests in flight, the persisted
//! long-window budget (`budget`), and retries with exponential backoff and full jitter on
//! connect errors, timeouts, 5xx and 429 (honouring `Retry-After`; a 429 without it waits
//! until the oldest request of the budget window expires). 401/403 and other 4xx fail at
//! once. It counts every request it sends and every 429. It knows nothing about what the
//! endpoints return.

pub mod budget;
pub mod oauth;
pub mod retry;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::CommonSourceSettings;
pub use budget::{Budget, BudgetError};
pub use retry::RetryPolicy;

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
    OAuth2(oauth::TokenSource),
}

/// The credentials a request carries.
enum Credentials {
    Fixed(HeaderName, HeaderValue),
    Tokens(oauth::TokenSource),
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "{source_name}: {endpoint} was refused with {status}; check the credentials in sources.{source_name}"
    )]
    Unauthorized {
        source_name: &'static str,
        endpoint: String,
        status: StatusCode,
    },
    #[error("{source_name}: {endpoint} answered {status}: {body}")]
    Status {
        source_name: &'static str,
        endpoint: String,
        status: StatusCode,
        body: String,
    },
    #[error("{source_name}: {endpoint} failed after {attempts} attempt(s) in {elapsed:?}: {last}")]
    GaveUp {
        source_name: &'static str,
        endpoint: String,
        attempts: u32,
        elapsed: Duration,
        last: String,
    },
    #[error("{source_name}: {endpoint}: {source}")]
    Budget {
        source_name: &'static str,
        endpoint: String,
        #[source]
        source: BudgetError,
    },
    #[error(
        "{source_name}: {endpoint} was still throttled (429) after {attempts} attempt(s); the shared budget is spent elsewhere"
    )]
    Throttled {
        source_name: &'static str,
        endpoint: String,
        attempts: u32,
    },
    #[error("{source_name}: {endpoint}: {message}")]
    Request {
        source_name: &'static str,
        endpoint: String,
        message: String,
    },
    /// A successful answer meant as JSON that is not one storable JSON value (invalid
    /// UTF-8, a lone surrogate) or is larger than the limit it was read with: one record to
    /// set aside. `head` holds its first bytes (at most the limit). A page that is no JSON
    /// at all (a proxy's) is a `Request` error instead.
    #[error("{source_name}: {endpoint}: {message}")]
    Unreadable {
        source_name: &'static str,
        endpoint: String,
        message: String,
        head: Vec<u8>,
    },
}

impl HttpError {
    /// The endpoint answered 404: the object is unknown to the source.
    pub fn is_not_found(&self) -> bool {
        matches!(self, HttpError::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    /// An answer that is not one storable JSON value: what was wrong, and its first bytes.
    pub fn unreadable(&self) -> Option<(&str, &[u8])> {
        match self {
            HttpError::Unreadable { message, head, .. } => Some((message, head)),
            _ => None,
        }
    }

    /// The request ledger's database failed (the budget could not be checked).
    pub fn ledger_error(&self) -> Option<&sqlx::Error> {
        match self {
            HttpError::Budget {
                source: BudgetError::Ledger(e),
                ..
            } => Some(e),
            _ => None,
        }
    }

    /// Errors that will not go away by trying the next stream (bad credentials).
    pub fn is_fatal_for_source(&self) -> bool {
        matches!(self, HttpError::Unauthorized { status, endpoint, .. }
            if *status == StatusCode::UNAUTHORIZED || endpoint == oauth::TOKEN_ENDPOINT)
    }

    /// The request budget is spent (ours, or the shared one by someone else): not a failure,
    /// the run ends `budget_exhausted` and the next one resumes.
    pub fn is_budget_exhausted(&self) -> bool {
        matches!(
            self,
            HttpError::Throttled { .. }
                | HttpError::Budget {
                    source: BudgetError::Exhausted { .. },
                    ..
                }
        )
    }
}

/// A successful response, holding its in-flight slot until the body has been read.
pub struct Response {
    inner: reqwest::Response,
    _slot: OwnedSemaphorePermit,
}

impl Response {
    pub async fn chunk(&mut self) -> reqwest::Result<Option<bytes::Bytes>> {
        self.inner.chunk().await
    }

    pub async fn json<T: serde::de::DeserializeOwned>(self) -> reqwest::Result<T> {
        self.inner.json().await
    }
}

/// What a client has done so far.
#[derive(Debug, Clone, Default)]
pub struct ClientStats {
    pub requests: u64,
    pub throttled: u64,
    /// Answers by HTTP status code (`"200"`, `"429"`), or `"error"` when none came (connect
    /// error, timeout).
    pub answers: BTreeMap<String, u64>,
}

pub struct ApiClient {
    source: &'static str,
    base_url: String,
    client: reqwest::Client,
    credentials: Credentials,
    limiter: DefaultDirectRateLimiter,
    in_flight: Arc<Semaphore>,
    max_parallel: usize,
    budget: Option<Budget>,
    retry: RetryPolicy,
    requests: AtomicU64,
    throttled: AtomicU64,
    answers: Mutex<BTreeMap<String, u64>>,
    warned_throttled: AtomicBool,
}

impl ApiClient {
    pub fn new(
        source: &'static str,
        base_url: &str,
        auth: Auth,
        common: &CommonSourceSettings,
        budget: Option<Budget>,
    ) -> Result<Self, HttpError> {
        let build_error = |message: String| HttpError::Request {
            source_name: source,
            endpoint: crate::config::redact_url(base_url),
            message,
        };
        let client = reqwest::Client::builder()
            .connect_timeout(common.timeout())
            .read_timeout(common.timeout())
            .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
            .redirect(same_host_redirects())
            .build()
            .map_err(|e| build_error(e.to_string()))?;
        let fixed = |name: &'static str, value: &str| {
            let mut header = HeaderValue::from_str(value).map_err(|_| {
                build_error(format!(
                    "the credentials for header {name} hold characters an HTTP header cannot carry"
                ))
            })?;
            header.set_sensitive(true);
            Ok::<_, HttpError>(Credentials::Fixed(HeaderName::from_static(name), header))
        };
        let credentials = match auth {
            Auth::Header { name, value } => fixed(name, value.expose_secret())?,
            Auth::Basic { username, password } => fixed(
                "authorization",
                &format!(
                    "Basic {}",
                    base64(format!("{username}:{}", password.expose_secret()).as_bytes())
                ),
            )?,
            Auth::OAuth2(tokens) => Credentials::Tokens(tokens),
        };
        let period = Duration::from_secs_f64(1.0 / common.requests_per_second);
        let quota = Quota::with_period(period)
            .ok_or_else(|| build_error("requests_per_second is too high".into()))?
            .allow_burst(NonZeroU32::MIN);
        Ok(Self {
            source,
            base_url: base_url.trim_end_matches('/').to_string(),
            client,
            credentials,
            limiter: RateLimiter::direct(quota),
            in_flight: Arc::new(Semaphore::new(common.max_parallel as usize)),
            max_parallel: common.max_parallel as usize,
            budget,
            retry: RetryPolicy::from_settings(&common.retry),
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            answers: Mutex::default(),
            warned_throttled: AtomicBool::new(false),
        })
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Requests this client keeps in flight at most.
    pub fn max_parallel(&self) -> usize {
        self.max_parallel
    }

    /// Requests sent so far (retries included) and 429s received.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            answers: self
                .answers
                .lock()
                .expect("the answer counts are never poisoned")
                .clone(),
        }
    }

    /// GETs `path` (relative to the base URL) and returns the successful response with its
    /// body unread, retrying what is worth retrying.
    pub async fn get(&self, path: &str) -> Result<Response, HttpError> {
        let url = format!("{}{}", self.base_url, path);
        let endpoint = format!("GET {path}");
        if let Some(segment) = dot_segment(path) {
            return Err(HttpError::Request {
                source_name: self.source,
                endpoint,
                message: format!(
                    "the path segment `{segment}` cannot be requested: URLs treat `.` and `..` (also as %2E) as moves within the path, so the request would reach another resource; not sent"
                ),
            });
        }
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut token_renewed = false;
        loop {
            attempt += 1;
            let slot = Arc::clone(&self.in_flight)
                .acquire_owned()
                .await
                .expect("the in-flight semaphore is never closed");
            let (name, value) = match &self.credentials {
                Credentials::Fixed(name, value) => (name.clone(), value.clone()),
                Credentials::Tokens(tokens) => match self.bearer(tokens).await {
                    Ok(value) => (AUTHORIZATION, value),
                    // A token endpoint that is down or busy is retried like any request.
                    Err(e @ (HttpError::Status { .. } | HttpError::Request { .. })) => {
                        let throttled = matches!(&e, HttpError::Status { status, .. }
                            if *status == StatusCode::TOO_MANY_REQUESTS);
                        let wait = self.retry.backoff(attempt);
                        if throttled {
                            self.note_throttled(oauth::TOKEN_ENDPOINT, wait);
                        }
                        if attempt >= self.retry.max_attempts
                            || started.elapsed().saturating_add(wait) > self.retry.max_elapsed
                        {
                            return Err(e);
                        }
                        drop(slot);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            let entry = self.admit(&endpoint).await?;
            let sent = self.client.get(&url).header(name, value).send().await;
            self.settle(entry, sent.as_ref().ok().map(reqwest::Response::status))
                .await;
            let (last, wait, throttled) = match sent {
                Ok(inner) if inner.status().is_success() => {
                    // An HTML page (a login portal, a proxy's page) is never the JSON asked for.
                    let content_type = inner
                        .headers()
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    if let Some(kind) = content_type.filter(|t| is_html(t)) {
                        let status = inner.status();
                        let body = body_excerpt(inner).await;
                        return Err(HttpError::Request {
                            source_name: self.source,
                            endpoint: endpoint.clone(),
                            message: format!(
                                "answered {status} with non-JSON (content-type {kind}): {body}"
                            ),
                        });
                    }
                    return Ok(Response { inner, _slot: slot });
                }
                Ok(resp) => {
                    let status = resp.status();
                    if let (StatusCode::UNAUTHORIZED, Credentials::Tokens(tokens), false) =
                        (status, &self.credentials, token_renewed)
                    {
                        // An expired or revoked token: renew it once, then try again at once.
                        tokens.invalidate().await;
                        token_renewed = true;
                        attempt -= 1;
                        continue;
                    }
                    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                        return Err(HttpError::Unauthorized {
                            source_name: self.source,
                            endpoint: endpoint.clone(),
                            status,
                        });
                    }
                    let retry_after = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
                    let body = body_excerpt(resp).await;
                    if !(status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS) {
                        return Err(HttpError::Status {
                            source_name: self.source,
                            endpoint: endpoint.clone(),
                            status,
                            body,
                        });
                    }
                    let wait = match retry_after {
                        Some(wait) => wait,
                        None if status == StatusCode::TOO_MANY_REQUESTS => self
                            .until_window_frees()
                            .await
                            .unwrap_or_else(|| self.retry.backoff(attempt)),
                        None => self.retry.backoff(attempt),
                    };
                    let throttled = status == StatusCode::TOO_MANY_REQUESTS;
                    if throttled {
                        self.note_throttled(path, wait);
                    }
                    (format!("{status}: {body}"), wait, throttled)
                }
                Err(e) if e.is_timeout() || e.is_connect() || e.is_request() => {
                    (error_chain(&e), self.retry.backoff(attempt), false)
                }
                Err(e) => {
                    // A refused redirect says why; the URL it would have reached is left out.
                    let message = match std::error::Error::source(&e) {
                        Some(reason) if e.is_redirect() => reason.to_string(),
                        _ => error_chain(&e),
                    };
                    return Err(HttpError::Request {
                        source_name: self.source,
                        endpoint: endpoint.clone(),
                        message,
                    });
                }
            };
            drop(slot);
            let elapsed = started.elapsed();
            if attempt >= self.retry.max_attempts
                || elapsed.saturating_add(wait) > self.retry.max_elapsed
            {
                if throttled {
                    return Err(HttpError::Throttled {
                        source_name: self.source,
                        endpoint: endpoint.clone(),
                        attempts: attempt,
                    });
                }
                return Err(HttpError::GaveUp {
                    source_name: self.source,
                    endpoint: endpoint.clone(),
                    attempts: attempt,
                    elapsed,
                    last,
                });
            }
            if !throttled {
                tracing::warn!(
                    source = self.source,
                    endpoint = path,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    error = %last,
                    "request failed; retrying"
                );
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// After a 429 without `Retry-After`: until the oldest request of our budget window
    /// leaves it (None without a budget, or when the ledger cannot tell).
    async fn until_window_frees(&self) -> Option<Duration> {
        let budget = self.budget.as_ref()?;
        match budget.until_oldest_expires().await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!(source = self.source, error = %e, "cannot read the request ledger");
                None
            }
        }
    }

    /// Counts a 429 and logs the first one of this client at warn level, the rest at debug.
    fn note_throttled(&self, path: &str, wait: Duration) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let wait_ms = wait.as_millis() as u64;
        if self.warned_throttled.swap(true, Ordering::Relaxed) {
            tracing::debug!(
                source = self.source,
                endpoint = path,
                wait_ms,
                "throttled (429)"
            );
        } else {
            tracing::warn!(
                source = self.source,
                endpoint = path,
                wait_ms,
                "throttled (429): the source's budget is being spent elsewhere; backing off (further 429s are counted in the run, not logged)"
            );
        }
    }

    /// GETs `path` and decodes the JSON body, reading at most `max_bytes` of it.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        max_bytes: usize,
    ) -> Result<T, HttpError> {
        let mut resp = self.get(path).await?;
        let unreadable = |message: String, head: Vec<u8>| HttpError::Unreadable {
            source_name: self.source,
            endpoint: format!("GET {path}"),
            message,
            head,
        };
        let content_type = resp
            .inner
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (body, more) = read_at_most(&mut resp.inner, max_bytes)
            .await
            .map_err(|e| HttpError::Request {
                source_name: self.source,
                endpoint: format!("GET {path}"),
                message: format!("unreadable body: {}", error_chain(&e)),
            })?;
        if more {
            return Err(unreadable(
                format!("the answer is larger than its limit of {max_bytes} bytes"),
                body,
            ));
        }
        serde_json::from_slice(&body).map_err(|e| {
            let message = undecodable(content_type.as_deref(), &body, &e);
            if json_like(content_type.as_deref(), &body) {
                unreadable(message, body)
            } else {
                HttpError::Request {
                    source_name: self.source,
                    endpoint: format!("GET {path}"),
                    message,
                }
            }
        })
    }

    /// The answer to an admitted request is in (or it failed without one): it is counted by
    /// status, and its ledger time moves to now.
    async fn settle(&self, entry: Option<i64>, answer: Option<StatusCode>) {
        let label = answer.map_or_else(|| "error".to_string(), |s| s.as_u16().to_string());
        *self
            .answers
            .lock()
            .expect("the answer counts are never poisoned")
            .entry(label)
            .or_default() += 1;
        if let (Some(budget), Some(entry)) = (&self.budget, entry) {
            budget.settle(entry).await;
        }
    }

    /// Waits for the rate limiter and the request budget, then counts the request. Answers
    /// the ledger entry to `settle` when the answer is in.
    async fn admit(&self, endpoint: &str) -> Result<Option<i64>, HttpError> {
        self.limiter.until_ready().await;
        let mut entry = None;
        if let Some(budget) = &self.budget {
            entry = Some(
                budget
                    .acquire(endpoint)
                    .await
                    .map_err(|source| HttpError::Budget {
                        source_name: self.source,
                        endpoint: endpoint.to_string(),
                        source,
                    })?,
            );
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        Ok(entry)
    }
}

/// Standard base64 with padding (RFC 4648), for basic authentication.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Why a redirect was not followed (names hosts, never credentials).
#[derive(Debug)]
struct RedirectRefused(String);

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// Redirects are followed only within the same scheme, host and port (at most 5): the
/// credentials travel in headers that must never reach another host.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = &attempt.previous()[0];
        let same = attempt.url().scheme() == origin.scheme()
            && attempt.url().host_str() == origin.host_str()
            && attempt.url().port_or_known_default() == origin.port_or_known_default();
        if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else if same {
            attempt.follow()
        } else {
            let host = attempt.url().host_str().unwrap_or("no host").to_string();
            let target = match attempt.url().port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            };
            let error = RedirectRefused(format!(
                "the redirect to another host ({target}) was refused: the credentials stay with {}",
                origin.host_str().unwrap_or("the configured host")
            ));
            attempt.error(error)
        }
    })
}

/// The most of an error body ever read: an excerpt needs 300 characters, and a source that
/// answers an endless body must not fill the memory (the rest is never read; dropping the
/// response closes the connection).
pub const ERROR_BODY_LIMIT: usize = 4096;

/// The most of an answer `check` reads (one listing, to prove the credentials).
pub const CHECK_BODY_LIMIT: usize = 1 << 30;

/// The first 300 characters of an error body, on one line, reading at most
/// [`ERROR_BODY_LIMIT`] bytes of it.
async fn body_excerpt(mut resp: reqwest::Response) -> String {
    let (bytes, _) = read_at_most(&mut resp, ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default();
    drop(resp);
    excerpt(&bytes, 300)
}

/// At most `max` bytes of an answer's body, and whether it has more. The rest is never read:
/// dropping the answer closes its connection, so an endless body costs no memory.
pub(crate) async fn read_at_most(
    resp: &mut reqwest::Response,
    max: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = max - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            return Ok((bytes, true));
        }
    }
    Ok((bytes, false))
}

/// The first `chars` characters of `bytes` (lossy UTF-8), whitespace collapsed to one line.
fn excerpt(bytes: &[u8], chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(chars) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

/// Why a successful answer cannot be decoded: a body that is not JSON at all (an HTML login
/// page, a proxy's error page) is named as such, with its content type and first bytes.
fn undecodable(content_type: Option<&str>, body: &[u8], error: &serde_json::Error) -> String {
    if json_like(content_type, body) {
        return format!("unreadable JSON body: {error}");
    }
    let head = &body[..body.len().min(200)];
    format!(
        "answered non-JSON (content-type {}, {} bytes): {}",
        content_type.unwrap_or("not given"),
        body.len(),
        excerpt(head, 120)
    )
}

/// Whether an answer means to be JSON: a JSON (or no) content type and a body that starts
/// like a JSON value. One that does not (a proxy's page, an empty body) is not a record.
fn json_like(content_type: Option<&str>, body: &[u8]) -> bool {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let looks_like_json = matches!(
        first,
        Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
    );
    looks_like_json && content_type.is_none_or(|t| t.to_ascii_lowercase().contains("json"))
}

/// An HTML content type (`text/html`, `application/xhtml+xml`), parameters aside.
fn is_html(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/html")
        || essence.eq_ignore_ascii_case("application/xhtml+xml")
}

/// A path that the URL parser would rewrite: a `.` or `..` segment (also percent-encoded, as
/// `%2E`) is removed or climbs one level by the URL standard, so the request would reach
/// another resource than the one asked for — and its answer would be stored as this one's.
fn dot_segment(path: &str) -> Option<&str> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.split('/').find(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        matches!(decoded.as_str(), "." | "..")
    })
}

/// An error with its causes, e.g. "error sending request: connection refused".
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_ids_are_never_sent() {
        use crate::sync::delta::path_segment;
        // The URL standard takes `..` and `%2E%2E` alike for a move up: the final URL would
        // reach the list's parent, which is why such a path is refused rather than sent.
        for id in ["..", "%2E%2E", ".%2e"] {
            let url = reqwest::Url::parse(&format!("http://h/api/jobs/{id}")).unwrap();
            assert_eq!(url.path(), "/api/", "{id}");
        }
        for id in [".", ".."] {
            let path = format!("/api/jobs/{}", path_segment(id));
            assert!(super::dot_segment(&path).is_some(), "{path}");
        }
        for path in ["/jobs/%2E%2E", "/jobs/%2e", "/jobs/./x", "/a/.%2E/b"] {
            assert!(super::dot_segment(path).is_some(), "{path}");
        }
        for path in [
            "/jobs/a.b",
            "/jobs/...",
            "/users?ids=.,..",
            "/jobs/%2E%2E%2E",
        ] {
            assert_eq!(super::dot_segment(path), None, "{path}");
        }
    }

    #[test]
    fn non_json_answers_are_named_with_their_first_bytes() {
        let body = b"<!DOCTYPE html><html><body>Sign in</body></html>";
        let err = serde_json::from_slice::<serde_json::Value>(body).unwrap_err();
        let text = super::undecodable(Some("text/html; charset=utf-8"), body, &err);
        assert!(
            text.contains("non-JSON") && text.contains("text/html"),
            "{text}"
        );
        assert!(text.contains("<!DOCTYPE html>"), "{text}");
        let body = b"{\"a\": }";
        let err = serde_json::from_slice::<serde_json::Value>(body).unwrap_err();
        let text = super::undecodable(Some("application/json"), body, &err);
        assert!(text.starts_with("unreadable JSON body"), "{text}");
        let long = vec![b'x'; 100_000];
        let err = serde_json::from_slice::<serde_json::Value>(&long).unwrap_err();
        assert!(super::undecodable(None, &long, &err).len() < 400);
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("user:pässword", "dXNlcjpww6Rzc3dvcmQ="),
        ] {
            assert_eq!(super::base64(plain.as_bytes()), encoded);
        }
    }
}
