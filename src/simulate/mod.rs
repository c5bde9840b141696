//! Fake vendor APIs over HTTP, for the integration tests, the demo and the benchmark.
//!
//! One axum server hosts every simulated API under its own prefix: PlanningNow under
//! `/planningnow` (module `planningnow`), Aimsio under `/aimsio` (module `aimsio`),
//! aircalc NEXT under `/aircalc` (module `aircalc`, its token endpoint included). This module
//! owns the server's lifecycle, the merge of the per-API routers, the layers every API
//! shares (request statistics (module `stats`), then fault injection (module `faults`),
//! then the vendors' rate limits (module `limits`), in that order) and the control
//! endpoints under `/_sim`, which are neither counted, faulted nor limited:
//!
//! - `POST /_sim/faults` `{"path","status","times","retry_after"}`, `DELETE /_sim/faults`:
//!   answer the next `times` requests to `path` with `status` before they reach the API;
//!   for tests of slow vendors, `{"path","delay_ms","times"}` instead holds the next
//!   `times` requests to `path` that the rate limits admit for `delay_ms` before they reach
//!   the API; `{"path","truncate_after","times"}` sends the API's answer but breaks the
//!   connection after that many bytes of its body; `GET /_sim/aimsio/truth` and
//!   `GET /_sim/aircalc/truth` show the data as the stores hold it (for tests comparing a
//!   database with it);
//! - `PUT /_sim/limits/{api}` with a [`Limit`] body, `DELETE /_sim/limits/{api}`: set
//!   (starting afresh) or remove the rate limit of an API, named by its prefix without the
//!   slash (`planningnow`); an API without routes keeps its limit until it gets some;
//! - `GET /_sim/stats`, `POST /_sim/stats/reset`: request counts by method, route and
//!   status (paths shown as their route templates, e.g. `{id}`), and under `"limits"` each API's limit and its
//!   measurements (`arrivals`, `admitted`, `violations`, `max_in_window`,
//!   `max_parallel_seen`) for every API with a limit or arrivals; the reset zeroes the
//!   counts and the measurements, not the limits;
//! - `/_sim/planningnow/…`: PlanningNow data control (mutate, put, delete, folder tree);
//! - `/_sim/aimsio/…`: Aimsio data control (mutate, vanish, stale, forbidden; see the
//!   module `aimsio`);
//! - `/_sim/aircalc/…`: aircalc data and token control (mutate, project, expire-tokens;
//!   see the module `aircalc`).

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

mod aimsio;
mod aimsio_crew;
mod aimsio_data;
mod aimsio_jobs;
mod aimsio_mutate;
mod aircalc;
mod aircalc_auth;
mod aircalc_data;
mod aircalc_mutate;
mod aircalc_units;
mod faults;
mod limits;
mod planningnow;
mod planningnow_data;
mod planningnow_deals;
mod planningnow_mutate;
mod planningnow_records;
mod rng;
mod stats;
#[cfg(test)]
mod tests_aimsio;
#[cfg(test)]
mod tests_aimsio_data;
#[cfg(test)]
mod tests_aircalc;
#[cfg(test)]
mod tests_aircalc_data;
#[cfg(test)]
mod tests_data;
#[cfg(test)]
mod tests_http;
#[cfg(test)]
mod tests_limits;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Seed of all generated data: same seed and sizes give byte-identical responses.
    pub seed: u64,
    /// Number of PlanningNow orders; the other kinds are sized from it.
    pub orders: usize,
    /// The `X-AUTH-TOKEN` the PlanningNow fake accepts.
    pub planningnow_token: String,
    /// The Basic-auth user name the Aimsio fake accepts.
    pub aimsio_username: String,
    /// The Basic-auth password the Aimsio fake accepts.
    pub aimsio_password: String,
    /// Number of Aimsio objects of every entity.
    pub aimsio_objects: usize,
    /// The OAuth2 client id the aircalc fake accepts.
    pub aircalc_client_id: String,
    /// The OAuth2 client secret the aircalc fake accepts.
    pub aircalc_client_secret: String,
    /// Number of aircalc projects at the start (`PRJ-00001` onwards).
    pub aircalc_projects: usize,
    /// Lifetime of aircalc access tokens, in seconds (the token answer's `expires_in`).
    pub aircalc_token_ttl_secs: u64,
    /// Rate limit by API name (prefix without the slash: `planningnow`, `aimsio`,
    /// `aircalc`); see [`Limit`]. [`start`] refuses invalid ones.
    pub limits: BTreeMap<String, Limit>,
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

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 42,
            orders: 200,
            planningnow_token: "sim-token".to_owned(),
            aimsio_username: "sim-user".to_owned(),
            aimsio_password: "sim-password".to_owned(),
            aimsio_objects: 40,
            aircalc_client_id: "sim-client".to_owned(),
            aircalc_client_secret: "sim-secret".to_owned(),
            aircalc_projects: 30,
            aircalc_token_ttl_secs: 3600,
            limits: BTreeMap::from([
                // "200 requests per 10 minutes", sliding.
                (
                    "aircalc".to_owned(),
                    Limit {
                        requests: Some(200),
                        window_ms: Some(600_000),
                        max_parallel: None,
                        retry_after: true,
                    },
                ),
                // "More than 10 calls per second or more than 10 parallel calls" are refused.
                (
                    "aimsio".to_owned(),
                    Limit {
                        requests: Some(10),
                        window_ms: Some(1_000),
                        max_parallel: Some(10),
                        retry_after: false,
                    },
                ),
            ]),
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

    /// The Aimsio client's `base_url`: `http://127.0.0.1:PORT/aimsio`.
    pub fn aimsio_url(&self) -> String {
        format!("{}/aimsio", self.url())
    }

    /// The aircalc client's `base_url`: `http://127.0.0.1:PORT/aircalc/external`.
    pub fn aircalc_url(&self) -> String {
        format!("{}/aircalc/external", self.url())
    }

    /// The aircalc client's `token_url`: `http://127.0.0.1:PORT/aircalc/oauth/token`.
    pub fn aircalc_token_url(&self) -> String {
        format!("{}/aircalc/oauth/token", self.url())
    }

    /// Graceful shutdown: stops accepting, lets open requests finish, waits for the task.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        if let Err(err) = self.server.await {
            tracing::error!(%err, "simulator server task failed");
        }
    }
}

/// Checks the limits (an invalid one is `InvalidInput`), binds (port 0 allowed),
/// generates the data, spawns the server on the current tokio runtime and returns at once.
pub async fn start(bind: SocketAddr, opts: SimOptions) -> io::Result<RunningSimulator> {
    let SimOptions {
        seed,
        orders,
        planningnow_token,
        aimsio_username,
        aimsio_password,
        aimsio_objects,
        aircalc_client_id,
        aircalc_client_secret,
        aircalc_projects,
        aircalc_token_ttl_secs,
        limits,
    } = opts;
    for (api, limit) in &limits {
        let problem = if api.is_empty() || api.contains('/') {
            Some("API names are prefixes without slashes, e.g. \"planningnow\"")
        } else {
            limit.invalid()
        };
        if let Some(problem) = problem {
            let message = format!("invalid limit for {api:?}: {problem}");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        }
    }
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let (store, aimsio_store, aircalc_store) = tokio::task::spawn_blocking(move || {
        (
            planningnow_data::Store::generate_for(seed, orders, aircalc_projects),
            aimsio_data::Store::generate(seed, aimsio_objects),
            aircalc_data::Store::generate(seed, aircalc_projects),
        )
    })
    .await
    .map_err(io::Error::other)?;
    let app = router(
        planningnow::PlanningNow::new(planningnow_token, store),
        aimsio::Aimsio::new(&aimsio_username, &aimsio_password, aimsio_store),
        aircalc::Aircalc::new(
            aircalc_auth::Auth::new(
                aircalc_client_id,
                aircalc_client_secret,
                aircalc_token_ttl_secs,
                seed,
            ),
            aircalc_store,
        ),
        limits,
    );
    let (shutdown, signal) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = signal.await;
        });
        if let Err(err) = serve.await {
            tracing::error!(%err, "simulator server failed");
        }
    });
    tracing::info!(
        %addr,
        seed,
        orders,
        aimsio_objects,
        aircalc_projects,
        "simulator listening"
    );
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
fn router(
    planningnow: Arc<planningnow::PlanningNow>,
    aimsio: Arc<aimsio::Aimsio>,
    aircalc: Arc<aircalc::Aircalc>,
    limits: BTreeMap<String, Limit>,
) -> Router {
    let apis = [
        planningnow::api(planningnow.clone()),
        aimsio::api(aimsio.clone()),
        aircalc::api(aircalc.clone()),
    ];
    let routes = apis
        .iter()
        .flat_map(|api| {
            let prefix = api.prefix;
            api.routes
                .iter()
                .map(move |route| format!("{prefix}{route}"))
        })
        .collect();
    let control = Control {
        routes: Arc::new(routes),
        stats: Arc::default(),
        faults: faults::Faults::default(),
        meters: limits::meters(limits),
    };
    let apis = apis
        .into_iter()
        .fold(Router::new(), |all, api| all.merge(mount(api, &control)))
        .layer(middleware::from_fn_with_state(
            control.clone(),
            stats::count_requests,
        ));
    let sim = Router::new()
        .route(
            "/faults",
            post(faults::add_fault).delete(faults::clear_faults),
        )
        .route(
            "/limits/{api}",
            put(limits::put_limit).delete(limits::delete_limit),
        )
        .route("/stats", get(stats::report))
        .route("/stats/reset", post(stats::reset))
        .with_state(control)
        .nest("/planningnow", planningnow::control_router(planningnow))
        .nest("/aimsio", aimsio::control_router(aimsio))
        .nest("/aircalc", aircalc::control_router(aircalc));
    // Set after the layers, so that paths outside every API are neither counted, faulted
    // nor limited.
    apis.nest("/_sim", sim)
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "Not found") })
}

/// The API nested under its prefix, behind the fault and limit layer, which knows the
/// API by its name (the prefix without the slash) and sees whole paths.
fn mount(api: Api, control: &Control) -> Router {
    let name = api.prefix.trim_start_matches('/');
    let layer = middleware::from_fn_with_state((control.clone(), name), guard);
    Router::new().nest(api.prefix, api.router).layer(layer)
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

/// A 200 answer with a body that is JSON already.
fn json_response(body: impl Into<Body>) -> Response {
    ([(CONTENT_TYPE, "application/json")], body.into()).into_response()
}

/// What a mutation of Aimsio objects or aircalc projects did; keys (guids, ids, project
/// numbers) ascending.
#[derive(Debug, Default, Serialize)]
pub(super) struct MutationReport {
    pub(super) changed: Vec<String>,
    pub(super) added: Vec<String>,
    pub(super) deleted: Vec<String>,
}

/// `{"ok":true}`, the answer of successful control calls.
fn ok() -> Response {
    Json(serde_json::json!({ "ok": true })).into_response()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State of the shared layers and of their control endpoints.
#[derive(Clone)]
struct Control {
    /// Route templates of every API, with their prefixes.
    routes: Arc<Vec<String>>,
    stats: Arc<Mutex<stats::Stats>>,
    faults: faults::Faults,
    meters: limits::Meters,
}

/// Failure faults first, then the rate limits, then delay faults; the request is an
/// arrival in flight until its response body has been sent.
async fn guard(
    State((control, api)): State<(Control, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let now = Instant::now();
    let path = request.uri().path().to_owned();
    let failure = faults::take_failure(&control.faults, &path);
    let (ticket, rejection) = limits::arrive(&control.meters, api, now, failure.is_some());
    let response = match failure.or(rejection) {
        Some(response) => response,
        None => {
            if let Some(delay) = faults::take_delay(&control.faults, &path) {
                tokio::time::sleep(delay).await;
            }
            let response = next.run(request).await;
            match faults::take_truncation(&control.faults, &path) {
                Some(keep) => faults::truncate(response, keep).await,
                None => response,
            }
        }
    };
    ticket.hold(response)
}
