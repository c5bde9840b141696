//! What every fake API and the shared layers use: the description of a mounted API, the
//! vendors' error shape, the common answers and the report of a mutation.

use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use serde::Serialize;

/// One simulated API, mounted under `prefix`; `routes` are its route templates
/// (relative to the prefix), by which the statistics count requests.
pub(crate) struct Api {
    pub(crate) prefix: &'static str,
    pub(crate) router: Router,
    pub(crate) routes: Vec<String>,
}

/// Adds a route to an API's router and records its template.
pub(crate) fn route<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    routes: &mut Vec<String>,
    path: &str,
    method_router: MethodRouter<S>,
) -> Router<S> {
    routes.push(path.to_owned());
    router.route(path, method_router)
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    status_code: u16,
}

/// The vendors' error shape: `{"error": message, "status_code": N}`.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    let body = ErrorBody {
        error: message,
        status_code: status.as_u16(),
    };
    (status, Json(body)).into_response()
}

/// A 200 answer with a body that is JSON already.
pub(crate) fn json_response(body: impl Into<Body>) -> Response {
    ([(CONTENT_TYPE, "application/json")], body.into()).into_response()
}

/// What a mutation of Aimsio objects or aircalc projects did; keys (guids, ids, project
/// numbers) ascending.
#[derive(Debug, Default, Serialize)]
pub(crate) struct MutationReport {
    pub(crate) changed: Vec<String>,
    pub(crate) added: Vec<String>,
    pub(crate) deleted: Vec<String>,
}

/// `{"ok":true}`, the answer of successful control calls.
pub(crate) fn ok() -> Response {
    Json(serde_json::json!({ "ok": true })).into_response()
}

/// The mutex's guard, also when a panicking holder poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
