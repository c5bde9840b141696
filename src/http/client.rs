//! `ApiClient`, one per source: a GET runs as a pipeline of attempts — credentials, admission
//! (in-flight cap, rate limiter, budget), the request, classification of its outcome — and
//! between attempts the retry policy's wait, until an answer is used or the policy gives
//! up. It counts every request it sends, every answer by status and every 429.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use sqlx::PgPool;

use super::admission::{Admission, Slot};
use super::attempt::{Reason, Retry};
use super::body::{body_excerpt, read_json};
use super::budget::Budget;
use super::classify::{self, Context, Failure, Outcome, Verdict, Wait};
use super::credentials::{Auth, Credentials};
use super::error::{HttpError, HttpErrorKind, error_chain};
use super::path::dot_segment;
use super::redirect::same_host_redirects;
use super::retry::RetryPolicy;
use crate::config::CommonSourceSettings;

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
    admission: Admission,
    retry: RetryPolicy,
    throttled: AtomicU64,
    warned_throttled: AtomicBool,
}

/// A successful response, holding its in-flight slot until the body has been read.
pub struct Response {
    inner: reqwest::Response,
    _slot: Slot,
}

impl Response {
    pub async fn chunk(&mut self) -> reqwest::Result<Option<bytes::Bytes>> {
        self.inner.chunk().await
    }

    pub async fn json<T: serde::de::DeserializeOwned>(self) -> reqwest::Result<T> {
        self.inner.json().await
    }
}

/// How one attempt ended.
enum Step {
    Done(Result<Response, HttpError>),
    /// The token was renewed: try again at once.
    Renewed,
    Retry(Retry),
}

impl ApiClient {
    /// A client of `source` at `base_url` with the limits of `common`, its request budget
    /// (when `common.budget` has one) kept in `pool`'s ledger.
    pub fn new(
        source: &'static str,
        base_url: &str,
        auth: Auth,
        common: &CommonSourceSettings,
        pool: &PgPool,
    ) -> Result<Self, HttpError> {
        let build_error = |message: String| {
            HttpError::request(source, crate::config::redact_url(base_url), message)
        };
        let client = reqwest::Client::builder()
            .connect_timeout(common.timeout())
            .read_timeout(common.timeout())
            .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
            .redirect(same_host_redirects())
            .build()
            .map_err(|e| build_error(e.to_string()))?;
        let credentials = Credentials::new(auth).map_err(build_error)?;
        let budget = Budget::new(pool.clone(), source, &common.budget);
        let admission = Admission::new(
            common.requests_per_second,
            common.max_parallel as usize,
            budget,
        )
        .ok_or_else(|| build_error("requests_per_second is too high".into()))?;
        Ok(Self {
            source,
            base_url: base_url.trim_end_matches('/').to_string(),
            client,
            credentials,
            admission,
            retry: RetryPolicy::from_settings(&common.retry),
            throttled: AtomicU64::new(0),
            warned_throttled: AtomicBool::new(false),
        })
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Requests this client keeps in flight at most.
    pub fn max_parallel(&self) -> usize {
        self.admission.max_parallel()
    }

    /// Requests sent so far (retries included), 429s received, and answers by status.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.admission.requests(),
            throttled: self.throttled.load(Ordering::Relaxed),
            answers: self.admission.answers(),
        }
    }

    /// Fetches a token now (for `tributary check`); `false` when the source has no tokens.
    pub async fn fetch_token(&self) -> Result<bool, HttpError> {
        if !self.credentials.renew().await {
            return Ok(false);
        }
        self.credentials
            .header(self.source, &self.client, &self.admission)
            .await
            .map(|_| true)
    }

    /// GETs `path` and decodes the JSON body, reading at most `max_bytes` of it.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        max_bytes: usize,
    ) -> Result<T, HttpError> {
        let mut resp = self.get(path).await?;
        read_json(&mut resp.inner, max_bytes)
            .await
            .map_err(|kind| HttpError::new(self.source, format!("GET {path}"), kind))
    }

    /// GETs `path` (relative to the base URL) and returns the successful response with its
    /// body unread, retrying what is worth retrying.
    pub async fn get(&self, path: &str) -> Result<Response, HttpError> {
        let url = format!("{}{}", self.base_url, path);
        let endpoint = format!("GET {path}");
        if let Some(segment) = dot_segment(path) {
            return Err(HttpError::request(
                self.source,
                endpoint,
                format!(
                    "the path segment `{segment}` cannot be requested: URLs treat `.` and `..` (also as %2E) as moves within the path, so the request would reach another resource; not sent"
                ),
            ));
        }
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut renewed = false;
        loop {
            attempt += 1;
            let Retry { wait, reason } = match self.attempt(&url, &endpoint, attempt, renewed).await
            {
                Step::Done(result) => return result,
                Step::Renewed => {
                    renewed = true;
                    attempt -= 1;
                    continue;
                }
                Step::Retry(retry) => retry,
            };
            if let Some(at) = reason.throttled_at(path) {
                self.note_throttled(at, wait);
            }
            let elapsed = started.elapsed();
            if !self.retry.allows_another(attempt, elapsed, wait) {
                return Err(reason.give_up(self.source, endpoint, attempt, elapsed));
            }
            if let Some(last) = reason.retried_error() {
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

    /// One attempt: credentials, admission, the request, and what its outcome means.
    async fn attempt(&self, url: &str, endpoint: &str, attempt: u32, renewed: bool) -> Step {
        let header = self
            .credentials
            .header(self.source, &self.client, &self.admission)
            .await;
        let (name, value) = match header {
            Ok(header) => header,
            Err(error) => {
                return match classify::token_failure(error.kind()) {
                    Verdict::Retry { wait, throttled } => Step::Retry(Retry {
                        wait: self.wait(wait, attempt).await,
                        reason: Reason::Token { error, throttled },
                    }),
                    _ => Step::Done(Err(error)),
                };
            }
        };
        let pass = match self.admission.admit(endpoint).await {
            Ok(pass) => pass,
            Err(e) => {
                let error = HttpError::new(self.source, endpoint, HttpErrorKind::Budget(e));
                return Step::Done(Err(error));
            }
        };
        let sent = self.client.get(url).header(name, value).send().await;
        let slot = pass
            .settle(sent.as_ref().ok().map(reqwest::Response::status))
            .await;
        let context = Context {
            renewable: self.credentials.renewable(),
            renewed,
            now: SystemTime::now(),
        };
        match classify::classify(outcome(&sent), context) {
            Verdict::Success => Step::Done(
                sent.map(|inner| Response { inner, _slot: slot })
                    .map_err(|e| self.no_answer(endpoint, &e)),
            ),
            Verdict::RenewCredentials => {
                self.credentials.renew().await;
                Step::Renewed
            }
            Verdict::Fail(failure) => Step::Done(Err(self.failure(endpoint, failure, sent).await)),
            Verdict::Retry { wait, throttled } => {
                let last = match sent {
                    Ok(resp) => {
                        let status = resp.status();
                        format!("{status}: {}", body_excerpt(resp).await)
                    }
                    Err(e) => error_chain(&e),
                };
                let wait = self.wait(wait, attempt).await;
                Step::Retry(Retry {
                    wait,
                    reason: Reason::Request { last, throttled },
                })
            }
        }
    }

    /// The error of an attempt that failed for good.
    async fn failure(
        &self,
        endpoint: &str,
        failure: Failure,
        sent: reqwest::Result<reqwest::Response>,
    ) -> HttpError {
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => return self.no_answer(endpoint, &e),
        };
        let status = resp.status();
        let kind = match failure {
            Failure::Refused => HttpErrorKind::Unauthorized { status },
            Failure::Html => {
                let content_type = header(&resp, CONTENT_TYPE).unwrap_or_default().to_string();
                let body = body_excerpt(resp).await;
                HttpErrorKind::Request {
                    message: format!(
                        "answered {status} with non-JSON (content-type {content_type}): {body}"
                    ),
                }
            }
            // Any other failing answer is named by its status and body (NoAnswer and
            // NoCredentials never come with an answer).
            Failure::Status | Failure::NoAnswer | Failure::NoCredentials => HttpErrorKind::Status {
                status,
                body: body_excerpt(resp).await,
            },
        };
        HttpError::new(self.source, endpoint, kind)
    }

    /// A request that got no answer and will not get one by trying again. A refused redirect
    /// says why; the URL it would have reached is left out.
    fn no_answer(&self, endpoint: &str, e: &reqwest::Error) -> HttpError {
        let message = match std::error::Error::source(e) {
            Some(reason) if e.is_redirect() => reason.to_string(),
            _ => error_chain(e),
        };
        HttpError::request(self.source, endpoint, message)
    }

    /// How long the wait before the next attempt is.
    async fn wait(&self, wait: Wait, attempt: u32) -> Duration {
        match wait {
            Wait::Exactly(wait) => wait,
            Wait::UntilWindowFrees => self
                .until_window_frees()
                .await
                .unwrap_or_else(|| self.retry.backoff(attempt)),
            Wait::Backoff => self.retry.backoff(attempt),
        }
    }

    /// After a 429 without `Retry-After`: until the oldest request of our budget window
    /// leaves it (None without a budget, or when the ledger cannot tell).
    async fn until_window_frees(&self) -> Option<Duration> {
        let budget = self.admission.budget()?;
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
}

/// What classification sees of a request's outcome.
fn outcome(sent: &reqwest::Result<reqwest::Response>) -> Outcome<'_> {
    match sent {
        Ok(resp) => Outcome::Answer {
            status: resp.status(),
            content_type: header(resp, CONTENT_TYPE),
            retry_after: header(resp, RETRY_AFTER),
        },
        Err(e) => Outcome::NoAnswer {
            transient: e.is_timeout() || e.is_connect() || e.is_request(),
        },
    }
}

/// A header of the answer, when it is text.
fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<&str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}
