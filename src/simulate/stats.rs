//! Request statistics for the layer every API shares: counts by method, route template
//! and status (`GET /_sim/stats`, with each API's rate-limit measurements under
//! `"limits"`; `POST /_sim/stats/reset`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{Control, limits, lock, ok};

/// The template of `routes` that `path` matches, preferring literal segments. (axum's
/// `MatchedPath` would do this, but needs the `matched-path` feature, which is off.)
fn route_of<'a>(routes: &'a [String], path: &str) -> Option<&'a str> {
    let is_param = |segment: &str| segment.starts_with('{') && segment.ends_with('}');
    let matches = |route: &str| {
        let (mut want, mut have) = (route.split('/'), path.split('/'));
        loop {
            match (want.next(), have.next()) {
                (None, None) => return true,
                (Some(w), Some(h)) if w == h || (is_param(w) && !h.is_empty()) => {}
                _ => return false,
            }
        }
    };
    routes
        .iter()
        .filter(|route| matches(route))
        .max_by_key(|route| route.split('/').filter(|s| !is_param(s)).count())
        .map(String::as_str)
}

/// Request counts: total, and per "METHOD /route" per status code.
#[derive(Clone, Default, Serialize)]
pub(super) struct Stats {
    total: u64,
    requests: BTreeMap<String, BTreeMap<u16, u64>>,
}

pub(super) async fn count_requests(
    State(control): State<Control>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let route = route_of(&control.routes, path).unwrap_or(path);
    let key = format!("{} {route}", request.method());
    let response = next.run(request).await;
    let mut stats = lock(&control.stats);
    stats.total += 1;
    let by_status = stats.requests.entry(key).or_default();
    *by_status.entry(response.status().as_u16()).or_default() += 1;
    response
}

#[derive(Serialize)]
struct StatsReport {
    #[serde(flatten)]
    stats: Stats,
    limits: BTreeMap<String, limits::Report>,
}

pub(super) async fn report(State(control): State<Control>) -> Response {
    let report = StatsReport {
        stats: lock(&control.stats).clone(),
        limits: limits::report(&control.meters),
    };
    Json(report).into_response()
}

pub(super) async fn reset(State(control): State<Control>) -> Response {
    *lock(&control.stats) = Stats::default();
    limits::reset(&control.meters);
    ok()
}
