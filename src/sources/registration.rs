//! What the rest of tributary knows of a source: one [`Registration`] per source, listed in
//! the registry (`sources::REGISTRY`).

use futures_util::future::BoxFuture;
use sqlx::PgPool;

use crate::config::{Settings, SourceDef};
use crate::http::HttpError;
use crate::sync::Source;
use crate::sync::table::Table;

pub struct Registration {
    /// The source's name: its settings section (`sources.<name>`), its database schema,
    /// its runs and metrics.
    pub name: &'static str,
    /// Its keys (`sources.<name>.*`) with their defaults, and how they are parsed.
    pub settings: SourceDef,
    /// Builds the source from the settings; its request budget is kept in `pool`.
    pub build: fn(&Settings, &PgPool) -> Result<Source, HttpError>,
    /// Every table its streams write, with their children.
    pub tables: fn() -> Vec<Table>,
    /// Work the source has queued beyond the next pass, if it queues any.
    pub backlog: Option<Backlog>,
}

/// Objects waiting for a fetch; `status` says when the budget will have fetched them.
pub struct Backlog {
    /// What is pending, e.g. `project(s)`.
    pub what: &'static str,
    pub pending: for<'a> fn(&'a PgPool, &'a Settings) -> BoxFuture<'a, Result<usize, sqlx::Error>>,
}
