//! Fake vendor APIs over HTTP, for the integration tests, the demo and the benchmark.
//!
//! One axum server hosts every simulated API under its own prefix: PlanningNow under
//! `/planningnow` (module `planningnow`); Aimsio and aircalc fakes are meant to join as
//! sibling modules mounted under `/aimsio` and `/aircalc`. This module owns the server's
//! lifecycle, the merge of the per-API routers, the layers every API shares (request
//! statistics and fault injection) and the control endpoints under `/_sim`, which are
//! neither counted nor faulted:
//!
//! - `POST /_sim/faults` `{"path","status","times","retry_after"}`, `DELETE /_sim/faults`:
//!   answer the next `times` requests to `path` with `status` before they reach the API;
//! - `GET /_sim/stats`, `POST /_sim/stats/reset`: request counts by method, route and
//!   status (ids normalised to `{id}`);
//! - `/_sim/planningnow/…`: PlanningNow data control (mutate, put, delete, folder tree).

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod planningnow;
mod planningnow_data;
mod planningnow_deals;
mod planningnow_mutate;
mod planningnow_records;
mod rng;
#[cfg(test)]
mod tests_data;
#[cfg(test)]
mod tests_http;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Seed of all generated data: same seed and sizes give byte-identical responses.
    pub seed: u64,
    /// Number of PlanningNow orders; the other kinds are sized from it.
    pub orders: usize,
    /// The `X-AUTH-TOKEN` the PlanningNow fake accepts.
    pub planningnow_token: String,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 42,
            orders: 200,
            planningnow_token: "sim-token".to_owned(),
        }
    }
}

/// A simulator serving in the background. [`RunningSimulator::stop`] shuts it down and
/// waits; dropping it only asks the server to shut down.
pub struct RunningSimulator {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl RunningSimulator {
    /// The bound address (the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the server, e.g. `http://127.0.0.1:PORT` (a wildcard bind address is
    /// replaced by loopback).
    pub fn url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// The PlanningNow client's `base_url`: `http://127.0.0.1:PORT/planningnow`.
    pub fn planningnow_url(&self) -> String {
        format!("{}/planningnow", self.url())
    }

    /// Graceful shutdown: stops accepting, lets open requests finish, waits for the task.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        if let Err(err) = self.server.await {
            tracing::error!(%err, "simulator server task failed");
        }
    }
}

/// Binds (port 0 allowed), generates the data, spawns the server on the current tokio
/// runtime and returns at once.
pub async fn start(bind: SocketAddr, opts: SimOptions) -> io::Result<RunningSimulator> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let SimOptions {
        seed,
        orders,
        planningnow_token,
    } = opts;
    let store =
        tokio::task::spawn_blocking(move || planningnow_data::Store::generate(seed, orders))
            .await
            .map_err(io::Error::other)?;
    let app = router(planningnow::PlanningNow::new(planningnow_token, store));
    let (shutdown, signal) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = signal.await;
        });
        if let Err(err) = serve.await {
            tracing::error!(%err, "simulator server failed");
        }
    });
    tracing::info!(%addr, seed, orders, "simulator listening");
    Ok(RunningSimulator {
        addr,
        shutdown,
        server,
    })
}

/// One simulated API, mounted under `prefix`; `routes` are its route templates
/// (relative to the prefix), by which the statistics count requests.
struct Api {
    prefix: &'static str,
    router: Router,
    routes: Vec<String>,
}

/// Adds a route to an API's router and records its template.
fn route<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    routes: &mut Vec<String>,
    path: &str,
    method_router: MethodRouter<S>,
) -> Router<S> {
    routes.push(path.to_owned());
    router.route(path, method_router)
}

/// Every API under its prefix behind the shared layers, plus the control endpoints.
fn router(planningnow: Arc<planningnow::PlanningNow>) -> Router {
    let (apis, routes) = mount([planningnow::api(planningnow.clone())]);
    let control = Control {
        routes: Arc::new(routes),
        ..Control::default()
    };
    let apis = apis
        .layer(middleware::from_fn_with_state(
            control.clone(),
            inject_faults,
        ))
        .layer(middleware::from_fn_with_state(
            control.clone(),
            count_requests,
        ));
    let sim = Router::new()
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .with_state(control)
        .nest("/planningnow", planningnow::control_router(planningnow));
    // Set after the layers, so that paths outside every API are neither counted nor faulted.
    apis.nest("/_sim", sim)
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "Not found") })
}

/// Nests each API under its prefix; also returns all route templates, prefixed.
fn mount(apis: impl IntoIterator<Item = Api>) -> (Router, Vec<String>) {
    let mut router = Router::new();
    let mut routes = Vec::new();
    for api in apis {
        routes.extend(
            api.routes
                .iter()
                .map(|route| format!("{}{route}", api.prefix)),
        );
        router = router.nest(api.prefix, api.router);
    }
    (router, routes)
}

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

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    status_code: u16,
}

/// The vendors' error shape: `{"error": message, "status_code": N}`.
fn json_error(status: StatusCode, message: &str) -> Response {
    let body = ErrorBody {
        error: message,
        status_code: status.as_u16(),
    };
    (status, Json(body)).into_response()
}

/// `{"ok":true}`, the answer of successful control calls.
fn ok() -> Response {
    Json(serde_json::json!({ "ok": true })).into_response()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State of the shared layers and of their control endpoints.
#[derive(Clone, Default)]
struct Control {
    /// Route templates of every API, with their prefixes.
    routes: Arc<Vec<String>>,
    stats: Arc<Mutex<Stats>>,
    faults: Arc<Mutex<Vec<Fault>>>,
}

/// Request counts: total, and per "METHOD /route" per status code.
#[derive(Clone, Default, Serialize)]
struct Stats {
    total: u64,
    requests: BTreeMap<String, BTreeMap<u16, u64>>,
}

/// A pending fault: the next `remaining` requests to `path` get `status`.
struct Fault {
    path: String,
    status: StatusCode,
    remaining: u32,
    retry_after: Option<HeaderValue>,
}

async fn count_requests(State(control): State<Control>, request: Request, next: Next) -> Response {
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

async fn inject_faults(State(control): State<Control>, request: Request, next: Next) -> Response {
    let hit = {
        let mut faults = lock(&control.faults);
        let path = request.uri().path();
        faults
            .iter()
            .position(|fault| fault.path == path)
            .map(|index| {
                let fault = &mut faults[index];
                fault.remaining -= 1;
                let hit = (fault.status, fault.retry_after.clone());
                if fault.remaining == 0 {
                    faults.remove(index);
                }
                hit
            })
    };
    let Some((status, retry_after)) = hit else {
        return next.run(request).await;
    };
    let mut response = json_error(status, "simulated fault");
    if let Some(value) = retry_after {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    path: String,
    status: u16,
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
    let status = StatusCode::from_u16(request.status)
        .ok()
        .filter(|status| (200..=599).contains(&status.as_u16()))
        .ok_or("status must be between 200 and 599")?;
    if request.times == 0 {
        return Err("times must be at least 1".to_owned());
    }
    let retry_after = match request.retry_after {
        Some(value) => Some(
            HeaderValue::from_str(&value)
                .map_err(|_| "retry_after is not a valid header value".to_owned())?,
        ),
        None => None,
    };
    Ok(Fault {
        path: request.path,
        status,
        remaining: request.times,
        retry_after,
    })
}

async fn add_fault(State(control): State<Control>, body: Bytes) -> Response {
    match parse_fault(&body) {
        Ok(fault) => {
            lock(&control.faults).push(fault);
            ok()
        }
        Err(message) => json_error(StatusCode::BAD_REQUEST, &message),
    }
}

async fn clear_faults(State(control): State<Control>) -> Response {
    lock(&control.faults).clear();
    ok()
}

async fn stats(State(control): State<Control>) -> Response {
    let snapshot = lock(&control.stats).clone();
    Json(snapshot).into_response()
}

async fn reset_stats(State(control): State<Control>) -> Response {
    *lock(&control.stats) = Stats::default();
    ok()
}
