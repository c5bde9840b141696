//! What one attempt's outcome means, decided without side effects: success, renew the
//! credentials and try again at once, retry after a wait (connect errors, timeouts, 5xx and
//! 429), or fail (401/403, other 4xx, an HTML page where JSON was asked for, a refused
//! redirect). The client carries the verdict out; `RetryPolicy` decides when to give up.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

use super::error::HttpErrorKind;
use super::retry::parse_retry_after;

/// How an attempt ended.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The server answered, with these headers (as text, when they are).
    Answer {
        status: StatusCode,
        content_type: Option<&'a str>,
        retry_after: Option<&'a str>,
    },
    /// No answer came: `transient` for a connect error, a timeout or a broken request,
    /// not for a refused redirect.
    NoAnswer { transient: bool },
}

/// What the attempt knew beyond its outcome.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The credentials are tokens that can be renewed.
    pub renewable: bool,
    /// They were renewed already for this request.
    pub renewed: bool,
    /// The time an HTTP-date `Retry-After` counts from.
    pub now: SystemTime,
}

#[derive(Debug, PartialEq)]
pub enum Verdict {
    Success,
    /// The token was refused: renew it and try again at once (not counted as an attempt).
    RenewCredentials,
    /// Try again after the wait; `throttled` for a 429.
    Retry {
        wait: Wait,
        throttled: bool,
    },
    Fail(Failure),
}

/// How long to wait before the next attempt.
#[derive(Debug, PartialEq)]
pub enum Wait {
    /// As the answer's `Retry-After` says.
    Exactly(Duration),
    /// Until the oldest request of the budget window leaves it (a 429 without
    /// `Retry-After`: someone else spends the shared budget); a backoff without a budget.
    UntilWindowFrees,
    /// The retry policy's backoff.
    Backoff,
}

/// Why an attempt fails for good.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// 401 or 403: the credentials are refused.
    Refused,
    /// Another answer not worth retrying (404, 400, …).
    Status,
    /// A successful answer that is an HTML page (a login portal, a proxy's page).
    Html,
    /// No answer, and trying again would not bring one (a refused redirect).
    NoAnswer,
    /// No credentials to send: the token request was refused or the budget is spent.
    NoCredentials,
}

pub fn classify(outcome: Outcome<'_>, context: Context) -> Verdict {
    let (status, content_type, retry_after) = match outcome {
        Outcome::NoAnswer { transient: true } => {
            return Verdict::Retry {
                wait: Wait::Backoff,
                throttled: false,
            };
        }
        Outcome::NoAnswer { transient: false } => return Verdict::Fail(Failure::NoAnswer),
        Outcome::Answer {
            status,
            content_type,
            retry_after,
        } => (status, content_type, retry_after),
    };
    if status.is_success() {
        return match content_type.filter(|t| is_html(t)) {
            Some(_) => Verdict::Fail(Failure::Html),
            None => Verdict::Success,
        };
    }
    if status == StatusCode::UNAUTHORIZED && context.renewable && !context.renewed {
        return Verdict::RenewCredentials;
    }
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return Verdict::Fail(Failure::Refused);
    }
    let throttled = status == StatusCode::TOO_MANY_REQUESTS;
    if !(status.is_server_error() || throttled) {
        return Verdict::Fail(Failure::Status);
    }
    let wait = match retry_after.and_then(|v| parse_retry_after(v, context.now)) {
        Some(wait) => Wait::Exactly(wait),
        None if throttled => Wait::UntilWindowFrees,
        None => Wait::Backoff,
    };
    Verdict::Retry { wait, throttled }
}

/// What a failed token request means for the request that needed it: a token endpoint that
/// is down or busy (an error answer, no answer) is retried with backoff like any request; a
/// refusal or a spent budget fails the request with the token request's error.
pub fn token_failure(kind: &HttpErrorKind) -> Verdict {
    match kind {
        HttpErrorKind::Status { status, .. } => Verdict::Retry {
            wait: Wait::Backoff,
            throttled: *status == StatusCode::TOO_MANY_REQUESTS,
        },
        HttpErrorKind::Request { .. } => Verdict::Retry {
            wait: Wait::Backoff,
            throttled: false,
        },
        _ => Verdict::Fail(Failure::NoCredentials),
    }
}

/// An HTML content type (`text/html`, `application/xhtml+xml`), parameters aside.
fn is_html(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/html")
        || essence.eq_ignore_ascii_case("application/xhtml+xml")
}

#[cfg(test)]
mod tests {
    use crate::http::classify::*;

    const NOW: Duration = Duration::from_secs(1_700_000_000);

    fn answer(status: u16, content_type: Option<&str>, retry_after: Option<&str>) -> Verdict {
        answer_with(status, content_type, retry_after, true, false)
    }

    fn answer_with(
        status: u16,
        content_type: Option<&str>,
        retry_after: Option<&str>,
        renewable: bool,
        renewed: bool,
    ) -> Verdict {
        let outcome = Outcome::Answer {
            status: StatusCode::from_u16(status).unwrap(),
            content_type,
            retry_after,
        };
        let context = Context {
            renewable,
            renewed,
            now: SystemTime::UNIX_EPOCH + NOW,
        };
        classify(outcome, context)
    }

    fn retry(wait: Wait, throttled: bool) -> Verdict {
        Verdict::Retry { wait, throttled }
    }

    #[test]
    fn every_outcome_has_one_verdict() {
        let in_90s =
            httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + NOW + Duration::from_secs(90));
        let json = Some("application/json");
        let cases = [
            (answer(200, json, None), Verdict::Success),
            (answer(204, None, None), Verdict::Success),
            (
                answer(200, Some("text/html; charset=utf-8"), None),
                Verdict::Fail(Failure::Html),
            ),
            (
                answer(200, Some("application/xhtml+xml"), None),
                Verdict::Fail(Failure::Html),
            ),
            (answer(401, json, None), Verdict::RenewCredentials),
            (
                answer_with(401, json, None, true, true),
                Verdict::Fail(Failure::Refused),
            ),
            (
                answer_with(401, json, None, false, false),
                Verdict::Fail(Failure::Refused),
            ),
            (answer(403, json, None), Verdict::Fail(Failure::Refused)),
            (answer(404, json, None), Verdict::Fail(Failure::Status)),
            (answer(400, json, Some("5")), Verdict::Fail(Failure::Status)),
            (answer(302, None, None), Verdict::Fail(Failure::Status)),
            (
                answer(429, json, Some("7")),
                retry(Wait::Exactly(Duration::from_secs(7)), true),
            ),
            (
                answer(429, json, Some(&in_90s)),
                retry(Wait::Exactly(Duration::from_secs(90)), true),
            ),
            (answer(429, json, None), retry(Wait::UntilWindowFrees, true)),
            (
                answer(429, json, Some("soon")),
                retry(Wait::UntilWindowFrees, true),
            ),
            (answer(500, None, None), retry(Wait::Backoff, false)),
            (
                answer(502, Some("text/html"), None),
                retry(Wait::Backoff, false),
            ),
            (
                answer(503, None, Some("2")),
                retry(Wait::Exactly(Duration::from_secs(2)), false),
            ),
        ];
        for (i, (verdict, expected)) in cases.into_iter().enumerate() {
            assert_eq!(verdict, expected, "case {i}");
        }
    }

    #[test]
    fn a_token_endpoint_down_or_busy_is_retried_a_refusal_is_not() {
        let status = |code| HttpErrorKind::Status {
            status: StatusCode::from_u16(code).unwrap(),
            body: String::new(),
        };
        assert_eq!(token_failure(&status(503)), retry(Wait::Backoff, false));
        assert_eq!(token_failure(&status(429)), retry(Wait::Backoff, true));
        let request = HttpErrorKind::Request {
            message: "connection refused".into(),
        };
        assert_eq!(token_failure(&request), retry(Wait::Backoff, false));
        let refused = HttpErrorKind::Unauthorized {
            status: StatusCode::BAD_REQUEST,
        };
        assert_eq!(
            token_failure(&refused),
            Verdict::Fail(Failure::NoCredentials)
        );
    }

    #[test]
    fn no_answer_is_retried_only_when_transient() {
        let context = Context {
            renewable: false,
            renewed: false,
            now: SystemTime::UNIX_EPOCH,
        };
        assert_eq!(
            classify(Outcome::NoAnswer { transient: true }, context),
            retry(Wait::Backoff, false)
        );
        assert_eq!(
            classify(Outcome::NoAnswer { transient: false }, context),
            Verdict::Fail(Failure::NoAnswer)
        );
    }
}
