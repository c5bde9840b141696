//! Request statistics for the layer every API shares: counts by method, route template
//! and status (`GET /_sim/stats`, with each API's rate-limit measurements under
//! `"limits"`; `POST /_sim/stats/reset`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::limits::{self, Meters};
use crate::shared::{lock, ok};

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

/// What the statistics layer and endpoints work on: the route templates of every API
/// (with their prefixes), the counts, and the rate-limit meters reported beside them.
#[derive(Clone)]
pub(crate) struct Recorder {
    routes: Arc<Vec<String>>,
    stats: Arc<Mutex<Stats>>,
    meters: Meters,
}

impl Recorder {
    pub(crate) fn new(routes: Vec<String>, meters: Meters) -> Recorder {
        Recorder {
            routes: Arc::new(routes),
            stats: Arc::default(),
            meters,
        }
    }
}

/// Request counts: total, and per "METHOD /route" per status code.
#[derive(Clone, Default, Serialize)]
struct Stats {
    total: u64,
    requests: BTreeMap<String, BTreeMap<u16, u64>>,
}

pub(crate) async fn count_requests(
    State(recorder): State<Recorder>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let route = route_of(&recorder.routes, path).unwrap_or(path);
    let key = format!("{} {route}", request.method());
    let response = next.run(request).await;
    let mut stats = lock(&recorder.stats);
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

pub(crate) async fn report(State(recorder): State<Recorder>) -> Response {
    let report = StatsReport {
        stats: lock(&recorder.stats).clone(),
        limits: limits::report(&recorder.meters),
    };
    Json(report).into_response()
}

pub(crate) async fn reset(State(recorder): State<Recorder>) -> Response {
    *lock(&recorder.stats) = Stats::default();
    limits::reset(&recorder.meters);
    ok()
}
