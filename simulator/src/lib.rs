//! Fake vendor APIs over HTTP, for the integration tests, the demo and the benchmark.
//!
//! One axum server hosts every simulated API under its own prefix: PlanningNow under
//! `/planningnow` (module `planningnow`), Aimsio under `/aimsio` (module `aimsio`),
//! aircalc NEXT under `/aircalc` (module `aircalc`, its token endpoint included). The
//! module `server` owns the server's lifecycle, the merge of the per-API routers, the
//! layers every API shares (request statistics (module `stats`), then fault injection (module `faults`),
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
//!   status (paths shown as their route templates, e.g. `{id}`), and under `"limits"`
//!   each API's limit and its measurements (`arrivals`, `admitted`, `violations`,
//!   `max_in_window`, `max_parallel_seen`) for every API with a limit or arrivals; the reset zeroes the
//!   counts and the measurements, not the limits;
//! - `/_sim/planningnow/…`: PlanningNow data control (mutate, put, delete, folder tree);
//! - `/_sim/aimsio/…`: Aimsio data control (mutate, vanish, stale, forbidden; see the
//!   module `aimsio::routes`);
//! - `/_sim/aircalc/…`: aircalc data and token control (mutate, project, expire-tokens;
//!   see the module `aircalc::routes`).
//!
//! [`start`] serves in the calling process and returns a [`RunningSimulator`]. A
//! simulator in a process of its own (`tributary simulate --bind ADDR`, which `tributary
//! bench` starts so that its figures leave the simulator out) serves at
//! [`Endpoints::new`]`(ADDR)` with the credentials of [`SimOptions::default`].

mod aimsio;
mod aircalc;
mod basic_auth;
mod faults;
mod limits;
mod options;
mod planningnow;
mod rng;
mod server;
mod shared;
mod stats;
mod values;

pub use limits::Limit;
pub use options::SimOptions;
pub use server::{Endpoints, RunningSimulator, start};
