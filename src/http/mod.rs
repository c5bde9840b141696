//! The HTTP layer every source shares: one `ApiClient` per source with its credentials
//! (a fixed header, basic auth or OAuth2 tokens), timeouts, and a pipeline per request:
//! admission (a cap on requests in flight, a requests-per-second limiter and the persisted
//! long-window budget), the request, a pure classification of its outcome, and retries
//! with exponential backoff and full jitter on connect errors, timeouts, 5xx and 429
//! (honouring `Retry-After`; a 429 without it waits until the oldest request of the budget
//! window expires). 401/403 and other 4xx fail at once. It knows nothing about what the
//! endpoints return.

mod admission;
mod attempt;
mod basic;
mod body;
pub mod budget;
mod classify;
mod client;
mod credentials;
mod error;
pub mod oauth;
mod path;
mod redirect;
pub mod retry;

pub use body::{CHECK_BODY_LIMIT, ERROR_BODY_LIMIT};
pub use budget::{Budget, BudgetError};
pub use client::{ApiClient, ClientStats, Response};
pub use credentials::Auth;
pub use error::{HttpError, HttpErrorKind, error_chain};
pub use path::path_segment;
pub use retry::RetryPolicy;
