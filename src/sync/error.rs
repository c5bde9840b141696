//! Why a stream or a pass stopped.

use super::apply::GuardTrip;
use crate::http::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("stopped by a shutdown after its last committed batch; the next run goes on")]
    Cancelled,
    #[error("abandoned by {0}; its open batch rolled back")]
    Aborted(&'static str),
    #[error(
        "the database did not answer for {0} s (a frozen connection or network); the stream was abandoned and its open batch rolled back"
    )]
    DatabaseFrozen(u64),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("database: {}", crate::db::describe(.0))]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Guard(GuardTrip),
    #[error("{source_name}: {endpoint}: {message}")]
    Listing {
        source_name: &'static str,
        endpoint: String,
        message: String,
    },
}

impl SyncError {
    /// Whether the remaining streams of the source are pointless (bad credentials).
    pub fn stops_source(&self) -> bool {
        matches!(self, SyncError::DatabaseFrozen(_))
            || matches!(self, SyncError::Http(e) if e.is_fatal_for_source())
    }

    /// The request budget is spent: the run ends `budget_exhausted`, not `failed`.
    pub fn is_budget_exhausted(&self) -> bool {
        matches!(self, SyncError::Http(e) if e.is_budget_exhausted())
    }
}

/// The database stopped answering while tributary waited on it.
#[derive(Debug, thiserror::Error)]
#[error("the database did not answer for {0} s (a frozen connection or network); gave up waiting")]
pub struct Frozen(pub u64);

impl From<Frozen> for sqlx::Error {
    fn from(frozen: Frozen) -> Self {
        sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            frozen.to_string(),
        ))
    }
}
