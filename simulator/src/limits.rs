//! Vendor rate limits, enforced and measured per API by the layer every API shares; an
//! API is named by its prefix without the slash (`planningnow`).
//!
//! Every request that reaches an API is an *arrival*, timed when it reaches the layer. An
//! arrival is *admitted* unless the API's [`Limit`] rejects it: when the admitted arrivals
//! of the last `window_ms` already number `requests`, or when the admitted requests in
//! flight already number `max_parallel`. A rejection is a *violation*, answered with 429
//! (plus `Retry-After` for window rejections if the limit asks for it); it does not
//! occupy the window. Arrivals answered by a failure fault are admitted unchecked.
//!
//! A request is *in flight* from its arrival until its response body has been handed to
//! the connection in full (or dropped, when the client goes away): streamed listings stay
//! in flight while they stream.
//!
//! Measurements, kept whether or not a limit is set: arrivals, admissions, violations,
//! the most arrivals (admitted or not) seen inside one window (only while the limit has a
//! window) and the most arrivals in flight at once. Only arrivals still inside the window
//! are remembered. Setting a limit starts it afresh (empty window, zeroed measurements);
//! resetting the statistics zeroes the measurements only, the limits keep their windows.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes, HttpBody};
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::shared::{json_error, lock, ok};

/// Limits and measurements of every API that has had either.
pub(crate) type Meters = Arc<Mutex<BTreeMap<String, Meter>>>;

/// The limits to start with, measurements empty.
pub(crate) fn meters(limits: BTreeMap<String, Limit>) -> Meters {
    let meters = limits
        .into_iter()
        .map(|(api, limit)| (api, Meter::limited(limit)))
        .collect();
    Arc::new(Mutex::new(meters))
}

/// A vendor's rate limit, enforced by the fake APIs: a request beyond it gets 429
/// `{"error":"rate limit exceeded","status_code":429}`. Also the body of
/// `PUT /_sim/limits/{api}` (missing fields are `null`/`false`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limit {
    /// At most `requests` (admitted) arrivals in any sliding window of `window_ms`
    /// milliseconds (both Some or both None; each at least 1).
    pub requests: Option<u32>,
    /// The length of the sliding window; see `requests`.
    pub window_ms: Option<u64>,
    /// At most this many (admitted) requests in flight at once (at least 1).
    pub max_parallel: Option<u32>,
    /// Send `Retry-After: <seconds until the oldest arrival of the window leaves it,
    /// rounded up>` with window 429s.
    pub retry_after: bool,
}

impl Limit {
    /// Why this limit cannot be enforced, if it cannot.
    pub(crate) fn invalid(&self) -> Option<&'static str> {
        if self.requests.is_some() != self.window_ms.is_some() {
            Some("requests and window_ms go together")
        } else if [self.requests, self.max_parallel].contains(&Some(0)) || self.window_ms == Some(0)
        {
            Some("requests, window_ms and max_parallel must be at least 1")
        } else {
            None
        }
    }

    /// `(requests, window)`, if the limit has a window.
    fn window(&self) -> Option<(usize, Duration)> {
        let requests = usize::try_from(self.requests?).unwrap_or(usize::MAX);
        Some((requests, Duration::from_millis(self.window_ms?)))
    }
}

/// One API's limit, limiter state and measurements.
#[derive(Default)]
pub(crate) struct Meter {
    limit: Option<Limit>,
    /// Admitted arrivals inside the window, oldest first.
    admitted_window: VecDeque<Instant>,
    /// All arrivals inside the window, oldest first.
    arrival_window: VecDeque<Instant>,
    in_flight: u64,
    admitted_in_flight: u64,
    measured: Measured,
}

#[derive(Clone, Copy, Default)]
struct Measured {
    arrivals: u64,
    admitted: u64,
    violations: u64,
    max_in_window: u64,
    max_parallel_seen: u64,
}

/// Forgets the arrivals that are no longer inside the window ending at `now`.
fn prune(window: &mut VecDeque<Instant>, now: Instant, length: Duration) {
    while window
        .front()
        .is_some_and(|&arrival| now.duration_since(arrival) >= length)
    {
        window.pop_front();
    }
}

impl Meter {
    fn limited(limit: Limit) -> Meter {
        Meter {
            limit: Some(limit),
            ..Meter::default()
        }
    }

    /// Records an arrival at `now`; `Err` holds the `Retry-After` seconds of a rejection,
    /// if it gets any. `exempt` arrivals are admitted unchecked.
    fn arrive(&mut self, now: Instant, exempt: bool) -> Result<(), Option<u64>> {
        let limit = self.limit.clone().unwrap_or_default();
        let window = limit.window();
        let measured = &mut self.measured;
        measured.arrivals += 1;
        self.in_flight += 1;
        measured.max_parallel_seen = measured.max_parallel_seen.max(self.in_flight);
        if let Some((_, length)) = window {
            prune(&mut self.arrival_window, now, length);
            prune(&mut self.admitted_window, now, length);
            self.arrival_window.push_back(now);
            let in_window = self.arrival_window.len() as u64;
            measured.max_in_window = measured.max_in_window.max(in_window);
        }
        if !exempt {
            let verdict = match window {
                Some((requests, length)) if self.admitted_window.len() >= requests => {
                    Err(limit.retry_after.then(|| {
                        let oldest = self.admitted_window.front().copied().unwrap_or(now);
                        let left = length.saturating_sub(now.duration_since(oldest));
                        left.as_secs() + u64::from(left.subsec_nanos() > 0)
                    }))
                }
                _ if limit
                    .max_parallel
                    .is_some_and(|max| self.admitted_in_flight >= u64::from(max)) =>
                {
                    Err(None)
                }
                _ => Ok(()),
            };
            if verdict.is_err() {
                measured.violations += 1;
                return verdict;
            }
        }
        measured.admitted += 1;
        self.admitted_in_flight += 1;
        if window.is_some() {
            self.admitted_window.push_back(now);
        }
        Ok(())
    }

    /// Sets the limit and starts it afresh.
    fn set(&mut self, limit: Limit) {
        self.limit = Some(limit);
        self.admitted_window.clear();
        self.arrival_window.clear();
        self.measured = Measured::default();
    }
}

/// Records an arrival at `api` at `now` and decides on it (`exempt`: admit unchecked).
/// Returns the ticket that keeps it in flight, and the 429 answer if it is rejected.
pub(crate) fn arrive(
    meters: &Meters,
    api: &'static str,
    now: Instant,
    exempt: bool,
) -> (Ticket, Option<Response>) {
    let verdict = lock(meters)
        .entry(api.to_owned())
        .or_default()
        .arrive(now, exempt);
    let ticket = Ticket {
        meters: meters.clone(),
        api,
        admitted: verdict.is_ok(),
    };
    let rejection = verdict.err().map(|retry_after| {
        let mut response = json_error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    });
    (ticket, rejection)
}

/// An arrival in flight; dropping the ticket ends the flight.
pub(crate) struct Ticket {
    meters: Meters,
    api: &'static str,
    admitted: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(meter) = lock(&self.meters).get_mut(self.api) {
            meter.in_flight -= 1;
            if self.admitted {
                meter.admitted_in_flight -= 1;
            }
        }
    }
}

impl Ticket {
    /// Keeps the arrival in flight until `response`'s body has been sent or dropped
    /// (the body's length, when known, still goes out as `Content-Length`).
    pub(crate) fn hold(self, response: Response) -> Response {
        let (mut parts, body) = response.into_parts();
        if let Some(length) = body.size_hint().exact() {
            parts
                .headers
                .entry(CONTENT_LENGTH)
                .or_insert_with(|| HeaderValue::from(length));
        }
        let held = Held {
            body: body.into_data_stream(),
            _ticket: self,
        };
        Response::from_parts(parts, Body::from_stream(held))
    }
}

/// A response body with the ticket of its request.
struct Held {
    body: BodyDataStream,
    _ticket: Ticket,
}

impl Stream for Held {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// One API's entry in `GET /_sim/stats`.
#[derive(Serialize)]
pub(crate) struct Report {
    #[serde(flatten)]
    limit: Limit,
    arrivals: u64,
    admitted: u64,
    violations: u64,
    max_in_window: Option<u64>,
    max_parallel_seen: u64,
}

/// The entries of `GET /_sim/stats` under `"limits"`: every API with a limit or arrivals.
pub(crate) fn report(meters: &Meters) -> BTreeMap<String, Report> {
    lock(meters)
        .iter()
        .filter(|(_, meter)| meter.limit.is_some() || meter.measured.arrivals > 0)
        .map(|(api, meter)| {
            let limit = meter.limit.clone().unwrap_or_default();
            let measured = meter.measured;
            let report = Report {
                max_in_window: limit.window().map(|_| measured.max_in_window),
                limit,
                arrivals: measured.arrivals,
                admitted: measured.admitted,
                violations: measured.violations,
                max_parallel_seen: measured.max_parallel_seen,
            };
            (api.clone(), report)
        })
        .collect()
}

/// Zeroes every API's measurements; limits, windows and flights stay.
pub(crate) fn reset(meters: &Meters) {
    for meter in lock(meters).values_mut() {
        meter.measured = Measured::default();
        meter.arrival_window.clear();
    }
}

/// `PUT /_sim/limits/{api}`: sets or replaces the API's limit and starts it afresh.
pub(crate) async fn put_limit(
    State(meters): State<Meters>,
    Path(api): Path<String>,
    body: Bytes,
) -> Response {
    let limit = match serde_json::from_slice::<Limit>(&body) {
        Ok(limit) => limit,
        Err(err) => return json_error(StatusCode::BAD_REQUEST, &format!("invalid limit: {err}")),
    };
    if let Some(message) = limit.invalid() {
        return json_error(StatusCode::BAD_REQUEST, message);
    }
    lock(&meters).entry(api).or_default().set(limit);
    ok()
}

/// `DELETE /_sim/limits/{api}`: removes the API's limit; its measurements go on.
pub(crate) async fn delete_limit(
    State(meters): State<Meters>,
    Path(api): Path<String>,
) -> Response {
    let mut meters = lock(&meters);
    match meters.get_mut(&api) {
        Some(meter) if meter.limit.is_some() => {
            meter.limit = None;
            meter.admitted_window.clear();
            meter.arrival_window.clear();
            ok()
        }
        _ => json_error(StatusCode::NOT_FOUND, &format!("no limit for {api:?}")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use axum::body::Body;
    use axum::response::Response;
    use serde_json::json;
    use tokio::time::Instant;

    use crate::limits::{self, Limit};

    #[tokio::test]
    async fn requests_stay_in_flight_until_their_body_is_sent() {
        let parallel = Limit {
            max_parallel: Some(1),
            ..Limit::default()
        };
        let window = Limit {
            requests: Some(1),
            window_ms: Some(60_000),
            max_parallel: None,
            retry_after: true,
        };
        let meters = limits::meters(BTreeMap::from([
            ("api".to_owned(), parallel),
            ("win".to_owned(), window),
        ]));
        let now = Instant::now();
        let (ticket, rejection) = limits::arrive(&meters, "api", now, false);
        assert!(rejection.is_none());
        let chunks = ["[", "1", "]"].map(Ok::<_, std::io::Error>);
        let streamed = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
        let held = ticket.hold(streamed);
        assert!(held.headers().get("content-length").is_none());
        assert!(limits::arrive(&meters, "api", now, false).1.is_some());
        assert!(limits::arrive(&meters, "api", now, true).1.is_none());
        let body = axum::body::to_bytes(held.into_body(), usize::MAX).await;
        assert_eq!(body.expect("body"), "[1]");
        let (ticket, rejection) = limits::arrive(&meters, "api", now, false);
        assert!(rejection.is_none());
        let held = ticket.hold(Response::new(Body::from("{}")));
        assert_eq!(held.headers()["content-length"], "2");
        drop(held);
        assert!(limits::arrive(&meters, "api", now, false).1.is_none());
        let report = serde_json::to_value(limits::report(&meters)).expect("report");
        assert_eq!(
            (&report["api"]["arrivals"], &report["api"]["violations"]),
            (&json!(5), &json!(1))
        );
        assert_eq!(report["api"]["max_parallel_seen"], json!(2));
        // A reset zeroes the measurements but the window still holds its admissions.
        assert!(limits::arrive(&meters, "win", now, false).1.is_none());
        limits::reset(&meters);
        let later = now + Duration::from_millis(1_500);
        let rejection = limits::arrive(&meters, "win", later, false).1;
        assert_eq!(rejection.expect("429").headers()["retry-after"], "59");
        let report = serde_json::to_value(limits::report(&meters)).expect("report");
        assert_eq!(
            (&report["win"]["arrivals"], &report["win"]["admitted"]),
            (&json!(1), &json!(0))
        );
        assert_eq!(report["win"]["max_in_window"], json!(1));
    }
}
