//! The one error of the HTTP layer: which source and endpoint failed, and how
//! ([`HttpErrorKind`]). Its messages name the source and endpoint, never a URL with
//! credentials. Also [`error_chain`], an error with its causes on one line.

use std::time::Duration;

use reqwest::StatusCode;

use super::budget::BudgetError;

/// How token calls are named in the ledger and in errors (the URL itself stays out of both).
pub const TOKEN_ENDPOINT: &str = "POST <token_url>";

/// A request of `source` to `endpoint` (e.g. `GET /api/order`) that failed.
#[derive(Debug)]
pub struct HttpError {
    source: &'static str,
    endpoint: String,
    kind: HttpErrorKind,
}

/// How a request failed.
#[derive(Debug)]
pub enum HttpErrorKind {
    /// 401 or 403 (or a refused token request): the credentials are wrong.
    Unauthorized { status: StatusCode },
    /// Any other answer that is not worth retrying, with the first bytes of its body.
    Status { status: StatusCode, body: String },
    /// Retries used up; `last` says what the last attempt ended with.
    GaveUp {
        attempts: u32,
        elapsed: Duration,
        last: String,
    },
    /// The request budget refused the request or could not be checked.
    Budget(BudgetError),
    /// Still answered 429 when the retries were used up.
    Throttled { attempts: u32 },
    /// The request could not be made or its answer not used.
    Request { message: String },
    /// A successful answer meant as JSON that is not one storable JSON value (invalid
    /// UTF-8, a lone surrogate) or is larger than the limit it was read with: one record to
    /// set aside. `head` holds its first bytes (at most the limit). A page that is no JSON
    /// at all (a proxy's) is a `Request` error instead.
    Unreadable { message: String, head: Vec<u8> },
}

impl HttpError {
    pub fn new(source: &'static str, endpoint: impl Into<String>, kind: HttpErrorKind) -> Self {
        Self {
            source,
            endpoint: endpoint.into(),
            kind,
        }
    }

    /// A `Request` error: the request could not be made or its answer not used.
    pub fn request(source: &'static str, endpoint: impl Into<String>, message: String) -> Self {
        Self::new(source, endpoint, HttpErrorKind::Request { message })
    }

    /// The source whose request failed.
    pub fn source_name(&self) -> &'static str {
        self.source
    }

    /// The endpoint that failed, e.g. `GET /api/order`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn kind(&self) -> &HttpErrorKind {
        &self.kind
    }

    /// The endpoint answered 404: the object is unknown to the source.
    pub fn is_not_found(&self) -> bool {
        matches!(&self.kind, HttpErrorKind::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    /// An answer that is not one storable JSON value: what was wrong, and its first bytes.
    pub fn unreadable(&self) -> Option<(&str, &[u8])> {
        match &self.kind {
            HttpErrorKind::Unreadable { message, head } => Some((message, head)),
            _ => None,
        }
    }

    /// The request ledger's database failed (the budget could not be checked).
    pub fn ledger_error(&self) -> Option<&sqlx::Error> {
        match &self.kind {
            HttpErrorKind::Budget(BudgetError::Ledger(e)) => Some(e),
            _ => None,
        }
    }

    /// Errors that will not go away by trying the next stream (bad credentials).
    pub fn is_fatal_for_source(&self) -> bool {
        matches!(&self.kind, HttpErrorKind::Unauthorized { status }
            if *status == StatusCode::UNAUTHORIZED || self.endpoint == TOKEN_ENDPOINT)
    }

    /// The request budget is spent (ours, or the shared one by someone else): not a failure,
    /// the run ends `budget_exhausted` and the next one resumes.
    pub fn is_budget_exhausted(&self) -> bool {
        matches!(
            &self.kind,
            HttpErrorKind::Throttled { .. } | HttpErrorKind::Budget(BudgetError::Exhausted { .. })
        )
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (source, endpoint) = (self.source, &self.endpoint);
        match &self.kind {
            HttpErrorKind::Unauthorized { status } => write!(
                f,
                "{source}: {endpoint} was refused with {status}; check the credentials in sources.{source}"
            ),
            HttpErrorKind::Status { status, body } => {
                write!(f, "{source}: {endpoint} answered {status}: {body}")
            }
            HttpErrorKind::GaveUp {
                attempts,
                elapsed,
                last,
            } => write!(
                f,
                "{source}: {endpoint} failed after {attempts} attempt(s) in {elapsed:?}: {last}"
            ),
            HttpErrorKind::Budget(e) => write!(f, "{source}: {endpoint}: {e}"),
            HttpErrorKind::Throttled { attempts } => write!(
                f,
                "{source}: {endpoint} was still throttled (429) after {attempts} attempt(s); the shared budget is spent elsewhere"
            ),
            HttpErrorKind::Request { message } | HttpErrorKind::Unreadable { message, .. } => {
                write!(f, "{source}: {endpoint}: {message}")
            }
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            HttpErrorKind::Budget(e) => Some(e),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use crate::http::error::*;

    #[test]
    fn messages_name_source_endpoint_and_what_happened() {
        let e = |kind| HttpError::new("aimsio", "GET /x", kind).to_string();
        assert_eq!(
            e(HttpErrorKind::Unauthorized {
                status: StatusCode::UNAUTHORIZED
            }),
            "aimsio: GET /x was refused with 401 Unauthorized; check the credentials in sources.aimsio"
        );
        assert_eq!(
            e(HttpErrorKind::Status {
                status: StatusCode::NOT_FOUND,
                body: "gone".into()
            }),
            "aimsio: GET /x answered 404 Not Found: gone"
        );
        assert_eq!(
            e(HttpErrorKind::GaveUp {
                attempts: 3,
                elapsed: Duration::from_millis(1500),
                last: "503 Service Unavailable: busy".into()
            }),
            "aimsio: GET /x failed after 3 attempt(s) in 1.5s: 503 Service Unavailable: busy"
        );
        assert_eq!(
            e(HttpErrorKind::Throttled { attempts: 4 }),
            "aimsio: GET /x was still throttled (429) after 4 attempt(s); the shared budget is spent elsewhere"
        );
        assert_eq!(
            e(HttpErrorKind::Budget(BudgetError::Exhausted {
                next_free_in: Duration::from_millis(2500)
            })),
            "aimsio: GET /x: the request budget is spent; the next slot frees in 3s"
        );
        assert_eq!(
            e(HttpErrorKind::Unreadable {
                message: "too large".into(),
                head: vec![]
            }),
            "aimsio: GET /x: too large"
        );
    }

    #[test]
    fn only_a_401_or_a_refused_token_request_ends_the_source() {
        let refused = |endpoint, status| {
            HttpError::new("aircalc", endpoint, HttpErrorKind::Unauthorized { status })
                .is_fatal_for_source()
        };
        assert!(refused("GET /p", StatusCode::UNAUTHORIZED));
        assert!(!refused("GET /p", StatusCode::FORBIDDEN));
        assert!(refused(TOKEN_ENDPOINT, StatusCode::BAD_REQUEST));
    }
}
