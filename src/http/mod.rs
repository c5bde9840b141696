//! The HTTP layer every source shares: one `ApiClient` per source with its auth, timeouts,
//! a requests-per-second limiter (governor), and retries with exponential backoff and full
//! jitter on connect errors, timeouts, 5xx and 429 (honouring `Retry-After`). 401/403 and
//! other 4xx fail at once. It counts every request it sends. It knows nothing about what
//! the endpoints return.

pub mod retry;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::StatusCode;
use reqwest::header::{HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};

use crate::config::CommonSourceSettings;
pub use retry::RetryPolicy;

/// How a source authenticates. Values are marked sensitive so they never reach a log.
pub enum Auth {
    Header {
        name: &'static str,
        value: SecretString,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "{source_name}: GET {endpoint} was refused with {status}; check the credentials in sources.{source_name}"
    )]
    Unauthorized {
        source_name: &'static str,
        endpoint: String,
        status: StatusCode,
    },
    #[error("{source_name}: GET {endpoint} answered {status}: {body}")]
    Status {
        source_name: &'static str,
        endpoint: String,
        status: StatusCode,
        body: String,
    },
    #[error(
        "{source_name}: GET {endpoint} failed after {attempts} attempt(s) in {elapsed:?}: {last}"
    )]
    GaveUp {
        source_name: &'static str,
        endpoint: String,
        attempts: u32,
        elapsed: Duration,
        last: String,
    },
    #[error("{source_name}: GET {endpoint}: {message}")]
    Request {
        source_name: &'static str,
        endpoint: String,
        message: String,
    },
}

impl HttpError {
    /// Errors that will not go away by trying the next stream (bad credentials).
    pub fn is_fatal_for_source(&self) -> bool {
        matches!(self, HttpError::Unauthorized { .. })
    }
}

pub struct ApiClient {
    source: &'static str,
    base_url: String,
    client: reqwest::Client,
    auth_header: (HeaderName, HeaderValue),
    limiter: DefaultDirectRateLimiter,
    retry: RetryPolicy,
    requests: AtomicU64,
}

impl ApiClient {
    pub fn new(
        source: &'static str,
        base_url: &str,
        auth: Auth,
        common: &CommonSourceSettings,
    ) -> Result<Self, HttpError> {
        let build_error = |message: String| HttpError::Request {
            source_name: source,
            endpoint: base_url.to_string(),
            message,
        };
        let client = reqwest::Client::builder()
            .connect_timeout(common.timeout())
            .read_timeout(common.timeout())
            .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
            .redirect(same_host_redirects())
            .build()
            .map_err(|e| build_error(e.to_string()))?;
        let auth_header = match auth {
            Auth::Header { name, value } => {
                let mut header = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
                    build_error(format!(
                        "the credential for header {name} holds characters an HTTP header cannot carry"
                    ))
                })?;
                header.set_sensitive(true);
                (HeaderName::from_static(name), header)
            }
        };
        let period = Duration::from_secs_f64(1.0 / common.requests_per_second);
        let quota = Quota::with_period(period)
            .ok_or_else(|| build_error("requests_per_second is too high".into()))?
            .allow_burst(NonZeroU32::MIN);
        Ok(Self {
            source,
            base_url: base_url.trim_end_matches('/').to_string(),
            client,
            auth_header,
            limiter: RateLimiter::direct(quota),
            retry: RetryPolicy::from_settings(&common.retry),
            requests: AtomicU64::new(0),
        })
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Requests sent so far, retries included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// GETs `path` (relative to the base URL) and returns the successful response with its
    /// body unread, retrying what is worth retrying.
    pub async fn get(&self, path: &str) -> Result<reqwest::Response, HttpError> {
        let url = format!("{}{}", self.base_url, path);
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.limiter.until_ready().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let (last, wait) = match self.send(&url).await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status();
                    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                        return Err(HttpError::Unauthorized {
                            source_name: self.source,
                            endpoint: path.to_string(),
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
                            endpoint: path.to_string(),
                            status,
                            body,
                        });
                    }
                    let wait = retry_after.unwrap_or_else(|| self.retry.backoff(attempt));
                    (format!("{status}: {body}"), wait)
                }
                Err(e) if e.is_timeout() || e.is_connect() || e.is_request() => {
                    (error_chain(&e), self.retry.backoff(attempt))
                }
                Err(e) => {
                    return Err(HttpError::Request {
                        source_name: self.source,
                        endpoint: path.to_string(),
                        message: error_chain(&e),
                    });
                }
            };
            let elapsed = started.elapsed();
            if attempt >= self.retry.max_attempts
                || elapsed.saturating_add(wait) > self.retry.max_elapsed
            {
                return Err(HttpError::GaveUp {
                    source_name: self.source,
                    endpoint: path.to_string(),
                    attempts: attempt,
                    elapsed,
                    last,
                });
            }
            tracing::warn!(
                source = self.source,
                endpoint = path,
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %last,
                "request failed; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// GETs `path` and decodes the JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, HttpError> {
        let resp = self.get(path).await?;
        resp.json().await.map_err(|e| HttpError::Request {
            source_name: self.source,
            endpoint: path.to_string(),
            message: format!("unreadable JSON body: {}", error_chain(&e)),
        })
    }

    async fn send(&self, url: &str) -> reqwest::Result<reqwest::Response> {
        let (name, value) = &self.auth_header;
        self.client.get(url).header(name, value).send().await
    }
}

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
            attempt.stop()
        }
    })
}

/// The first 300 characters of an error body, on one line.
async fn body_excerpt(resp: reqwest::Response) -> String {
    let text = resp.text().await.unwrap_or_default();
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
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
