//! Fault injection for the layer every API shares: the pending faults, their control
//! endpoints (`POST /_sim/faults`, `DELETE /_sim/faults`) and the look-ups the layer makes.
//!
//! A fault is a failure (`status`, optional `retry_after`), which answers the next `times`
//! requests to `path` before the rate limits are checked; a delay (`delay_ms`), which holds
//! the next `times` requests to `path` that the rate limits admit for that long before they
//! reach the API (a slow vendor; the requests stay in flight meanwhile); or a truncation
//! (`truncate_after`), which sends the API's answer but breaks the connection after that
//! many bytes of its body. A failure with `endless` sends a body that never ends (on a
//! 2xx: one endless record in a listing; without `status`, the status is 200).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde::Deserialize;

use crate::shared::{json_error, lock, ok};

/// The pending faults, in the order they were added.
pub(crate) type Faults = Arc<Mutex<Vec<Fault>>>;

/// A pending fault: the next `remaining` requests to `path` get `effect`.
pub(crate) struct Fault {
    path: String,
    effect: Effect,
    remaining: u32,
}

enum Effect {
    Fail {
        status: StatusCode,
        retry_after: Option<HeaderValue>,
        /// The body never ends: `x` without end, after `[{"id":1,"s":"` on a 2xx (one
        /// endless record in a listing).
        endless: bool,
    },
    Delay(Duration),
    /// The API's answer, cut after this many bytes of its body by a broken connection.
    Truncate(usize),
}

/// Consumes one use of the first fault on `path` that `pick` selects, and returns what
/// `pick` made of it.
fn take<T>(faults: &Faults, path: &str, pick: impl Fn(&Effect) -> Option<T>) -> Option<T> {
    let mut faults = lock(faults);
    let (index, picked) = faults
        .iter()
        .enumerate()
        .filter(|(_, fault)| fault.path == path)
        .find_map(|(index, fault)| pick(&fault.effect).map(|picked| (index, picked)))?;
    faults[index].remaining -= 1;
    if faults[index].remaining == 0 {
        faults.remove(index);
    }
    Some(picked)
}

/// The answer of the next failure pending on `path`, if any (consumed).
pub(crate) fn take_failure(faults: &Faults, path: &str) -> Option<Response> {
    let (status, retry_after, endless) = take(faults, path, |effect| match effect {
        Effect::Fail {
            status,
            retry_after,
            endless,
        } => Some((*status, retry_after.clone(), *endless)),
        Effect::Delay(_) | Effect::Truncate(_) => None,
    })?;
    let mut response = if endless {
        endless_body(status)
    } else {
        json_error(status, "simulated fault")
    };
    if let Some(value) = retry_after {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    Some(response)
}

/// An answer whose body never ends.
fn endless_body(status: StatusCode) -> Response {
    let head = if status.is_success() {
        Bytes::from_static(br#"[{"id":1,"s":""#)
    } else {
        Bytes::new()
    };
    let filler = Bytes::from(vec![b'x'; 64 * 1024]);
    let chunks = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(
        futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(filler.clone())),
    );
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = status;
    response
}

/// The next delay pending on `path`, if any (consumed).
pub(crate) fn take_delay(faults: &Faults, path: &str) -> Option<Duration> {
    take(faults, path, |effect| match effect {
        Effect::Delay(delay) => Some(*delay),
        Effect::Fail { .. } | Effect::Truncate(_) => None,
    })
}

/// The next truncation pending on `path`, if any (consumed).
pub(crate) fn take_truncation(faults: &Faults, path: &str) -> Option<usize> {
    take(faults, path, |effect| match effect {
        Effect::Truncate(keep) => Some(*keep),
        Effect::Fail { .. } | Effect::Delay(_) => None,
    })
}

/// `response` with its body cut after `keep` bytes: the status and headers go out, then
/// that much of the body, then the connection breaks.
pub(crate) async fn truncate(response: Response, keep: usize) -> Response {
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let head = bytes.slice(..keep.min(bytes.len()));
    let chunks: [Result<Bytes, std::io::Error>; 2] = [
        Ok(head),
        Err(std::io::Error::other("simulated truncated body")),
    ];
    Response::from_parts(parts, Body::from_stream(futures_util::stream::iter(chunks)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    path: String,
    status: Option<u16>,
    delay_ms: Option<u64>,
    truncate_after: Option<usize>,
    #[serde(default)]
    endless: bool,
    #[serde(default = "one")]
    times: u32,
    retry_after: Option<String>,
}

fn one() -> u32 {
    1
}

fn parse_fault(body: &[u8]) -> Result<Fault, String> {
    let request: FaultRequest =
        serde_json::from_slice(body).map_err(|err| format!("invalid fault body: {err}"))?;
    if !request.path.starts_with('/') {
        return Err("path must start with '/'".to_owned());
    }
    if request.times == 0 {
        return Err("times must be at least 1".to_owned());
    }
    let effect = match (
        request.status,
        request.delay_ms,
        request.truncate_after,
        request.retry_after,
    ) {
        (Some(status), None, None, retry_after) => failure(status, retry_after, request.endless)?,
        (None, None, None, None) if request.endless => failure(200, None, true)?,
        (None, Some(delay_ms), None, None) => Effect::Delay(Duration::from_millis(delay_ms)),
        (None, None, Some(keep), None) => Effect::Truncate(keep),
        (None, _, _, Some(_)) => return Err("retry_after goes with status only".to_owned()),
        _ => return Err("give one of status, delay_ms or truncate_after".to_owned()),
    };
    Ok(Fault {
        path: request.path,
        effect,
        remaining: request.times,
    })
}

fn failure(status: u16, retry_after: Option<String>, endless: bool) -> Result<Effect, String> {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|status| (200..=599).contains(&status.as_u16()))
        .ok_or("status must be between 200 and 599")?;
    let retry_after = match retry_after {
        Some(value) => Some(
            HeaderValue::from_str(&value)
                .map_err(|_| "retry_after is not a valid header value".to_owned())?,
        ),
        None => None,
    };
    Ok(Effect::Fail {
        status,
        retry_after,
        endless,
    })
}

pub(crate) async fn add_fault(State(faults): State<Faults>, body: Bytes) -> Response {
    match parse_fault(&body) {
        Ok(fault) => {
            lock(&faults).push(fault);
            ok()
        }
        Err(message) => json_error(StatusCode::BAD_REQUEST, &message),
    }
}

pub(crate) async fn clear_faults(State(faults): State<Faults>) -> Response {
    lock(&faults).clear();
    ok()
}
