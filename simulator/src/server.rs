//! The server's lifecycle and the merge of the per-API routers behind the layers every
//! API shares (statistics, then fault injection, then the rate limits), plus the control
//! endpoints under `/_sim`; the crate's header describes what it serves.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::limits::Limit;
use crate::options::SimOptions;
use crate::shared::{Api, json_error};
use crate::stats::Recorder;
use crate::{aimsio, aircalc, faults, limits, planningnow, stats};

/// Where a simulator listening on an address serves each fake API: the URLs its clients
/// are configured with. For a simulator in another process (`tributary simulate --bind`),
/// [`Endpoints::new`] with the address it was told to listen on.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    addr: SocketAddr,
}

impl Endpoints {
    pub fn new(addr: SocketAddr) -> Endpoints {
        Endpoints { addr }
    }

    /// The listening address.
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
}

/// A simulator serving in the background. [`RunningSimulator::stop`] shuts it down and
/// waits; dropping it only asks the server to shut down.
pub struct RunningSimulator {
    endpoints: Endpoints,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl RunningSimulator {
    /// Where it serves each API.
    pub fn endpoints(&self) -> Endpoints {
        self.endpoints
    }

    /// The bound address (the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.endpoints.addr()
    }

    /// See [`Endpoints::url`].
    pub fn url(&self) -> String {
        self.endpoints.url()
    }

    /// See [`Endpoints::planningnow_url`].
    pub fn planningnow_url(&self) -> String {
        self.endpoints.planningnow_url()
    }

    /// See [`Endpoints::aimsio_url`].
    pub fn aimsio_url(&self) -> String {
        self.endpoints.aimsio_url()
    }

    /// See [`Endpoints::aircalc_url`].
    pub fn aircalc_url(&self) -> String {
        self.endpoints.aircalc_url()
    }

    /// See [`Endpoints::aircalc_token_url`].
    pub fn aircalc_token_url(&self) -> String {
        self.endpoints.aircalc_token_url()
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
            planningnow::Store::generate_for(seed, orders, aircalc_projects),
            aimsio::Store::generate(seed, aimsio_objects),
            aircalc::Store::generate(seed, aircalc_projects),
        )
    })
    .await
    .map_err(io::Error::other)?;
    let app = router(
        planningnow::PlanningNow::new(planningnow_token, store),
        aimsio::Aimsio::new(&aimsio_username, &aimsio_password, aimsio_store),
        aircalc::Aircalc::new(
            aircalc::Auth::new(
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
        endpoints: Endpoints::new(addr),
        shutdown,
        server,
    })
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
        faults: faults::Faults::default(),
        meters: limits::meters(limits),
    };
    let recorder = Recorder::new(routes, control.meters.clone());
    let apis = apis
        .into_iter()
        .fold(Router::new(), |all, api| all.merge(mount(api, &control)))
        .layer(middleware::from_fn_with_state(
            recorder.clone(),
            stats::count_requests,
        ));
    let faults = Router::new()
        .route(
            "/faults",
            post(faults::add_fault).delete(faults::clear_faults),
        )
        .with_state(control.faults);
    let limits = Router::new()
        .route(
            "/limits/{api}",
            put(limits::put_limit).delete(limits::delete_limit),
        )
        .with_state(control.meters);
    let stats = Router::new()
        .route("/stats", get(stats::report))
        .route("/stats/reset", post(stats::reset))
        .with_state(recorder);
    let sim = faults
        .merge(limits)
        .merge(stats)
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

/// State of the fault and limit layer.
#[derive(Clone)]
struct Control {
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
