//! What a stream run gets from the engine (the pass's options, its shutdown, the run it
//! records into) and what it gives back.

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::apply::DeletePolicy;
use super::error::SyncError;
use super::profile::Profile;
use crate::config::SyncSettings;
use crate::db::runs::RunCounts;

/// How a pass was asked for.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// `cli`, `demo`, `bench` or `schedule`.
    pub trigger: &'static str,
    /// Apply listings even when the deletion guard objects.
    pub allow_mass_delete: bool,
}

/// How a pass is stopped early (by the daemon's shutdown, or Ctrl-C). `stop`: start nothing
/// new, let the batch in flight commit, record the run `cancelled`. `abort`: give up the
/// batch in flight as well (its transaction rolls back); the runs are still recorded
/// `cancelled`, saying what abandoned them (`abandoned_by`).
#[derive(Debug, Clone)]
pub struct Shutdown {
    pub stop: CancellationToken,
    pub abort: CancellationToken,
    pub abandoned_by: &'static str,
}

impl Default for Shutdown {
    /// The daemon's: abandoned at the end of the grace period.
    fn default() -> Self {
        Shutdown::abandoned_by("the end of the shutdown grace period")
    }
}

impl Shutdown {
    pub fn abandoned_by(why: &'static str) -> Self {
        Shutdown {
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
            abandoned_by: why,
        }
    }
}

/// What a stream run gets from the engine.
pub struct StreamContext<'a> {
    pub pool: &'a PgPool,
    pub settings: &'a SyncSettings,
    pub options: &'a SyncOptions,
    pub source: &'static str,
    pub stream: &'static str,
    pub run_id: i64,
    pub stop: &'a CancellationToken,
}

impl StreamContext<'_> {
    /// Whether the run should stop after the batch in flight (the daemon is shutting down).
    pub fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// How complete listings of this run may delete.
    pub fn delete_policy(&self) -> DeletePolicy {
        DeletePolicy {
            max_fraction: self.settings.max_delete_fraction,
            allow_mass_delete: self.options.allow_mass_delete,
        }
    }
}

/// What a stream run did, and why it stopped if it failed.
pub struct StreamResult {
    pub counts: RunCounts,
    pub error: Option<SyncError>,
    /// The fields of the records the run received, for the field catalogue.
    pub profile: Option<Profile>,
}
