//! The sync engine: runs one pass of a source, stream by stream, recording a run row for the
//! pass and for each stream with its counts, requests and outcome. A source declares its
//! streams as data (`source`): full listings, deltas (list, then details), per-object
//! refreshes and lookups; the engine runs them (normalization, staging, the deletion guard,
//! checkpoints). The engine knows no source by name.

pub mod apply;
pub mod catalogue;
pub mod context;
pub mod delta;
pub mod digests;
pub mod error;
pub mod full_listing;
mod inferred;
pub mod listing;
pub mod load;
mod lock;
pub mod lookup;
pub mod normalize;
pub mod pass;
pub mod profile;
pub mod refresh;
pub mod source;
mod statements;
pub mod table;
pub mod values;
mod watchdog;

pub use context::{Shutdown, StreamContext, StreamResult, SyncOptions};
pub use error::{Frozen, SyncError};
pub use lock::pass_in_progress;
pub use pass::{
    PassProgress, SourceReport, StreamReport, close_stale_runs, sync_source,
    sync_source_with_progress, try_sync_source,
};
pub use source::{Check, Source, Stream};
pub use watchdog::unless_frozen;
