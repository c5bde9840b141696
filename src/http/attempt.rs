//! An attempt worth repeating: how long to wait first, and why it failed — which decides
//! what is logged and which error the request ends with once the retry policy gives up.

use std::time::Duration;

use super::error::{HttpError, HttpErrorKind, TOKEN_ENDPOINT};

/// An attempt worth repeating after `wait`.
pub struct Retry {
    pub wait: Duration,
    pub reason: Reason,
}

pub enum Reason {
    /// The token request failed (its endpoint down or busy); its error is the request's
    /// when the retries are used up.
    Token { error: HttpError, throttled: bool },
    /// The request itself failed; `last` says how.
    Request { last: String, throttled: bool },
}

impl Reason {
    /// The endpoint that answered 429 (the token endpoint, or `path`), if one did.
    pub fn throttled_at<'a>(&self, path: &'a str) -> Option<&'a str> {
        match self {
            Reason::Token {
                throttled: true, ..
            } => Some(TOKEN_ENDPOINT),
            Reason::Request {
                throttled: true, ..
            } => Some(path),
            _ => None,
        }
    }

    /// What the failed request says when it is retried (nothing for 429s and token
    /// requests, which are counted instead).
    pub fn retried_error(&self) -> Option<&str> {
        match self {
            Reason::Request {
                last,
                throttled: false,
            } => Some(last),
            _ => None,
        }
    }

    /// The error of a request of `source` to `endpoint` that gives up after `attempts`
    /// attempts in `elapsed`.
    pub fn give_up(
        self,
        source: &'static str,
        endpoint: String,
        attempts: u32,
        elapsed: Duration,
    ) -> HttpError {
        let kind = match self {
            Reason::Token { error, .. } => return error,
            Reason::Request {
                throttled: true, ..
            } => HttpErrorKind::Throttled { attempts },
            Reason::Request { last, .. } => HttpErrorKind::GaveUp {
                attempts,
                elapsed,
                last,
            },
        };
        HttpError::new(source, endpoint, kind)
    }
}
