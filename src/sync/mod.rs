//! The sync engine: runs one pass of a source, stream by stream, recording a run row for the
//! pass and for each stream with its counts, requests and outcome. What is the same for every
//! source lives here and in the submodules (normalization, staging, deletion guard,
//! checkpoints); a source only names its streams and fetches them.

pub mod apply;
pub mod full_listing;
pub mod listing;
pub mod table;

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::config::SyncSettings;
use crate::db::runs::{self, RunCounts, RunStatus};
use crate::http::HttpError;
use crate::sources::Source;

/// How a pass was asked for.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// `cli`, `demo`, `bench` or `schedule`.
    pub trigger: &'static str,
    /// Apply listings even when the deletion guard objects.
    pub allow_mass_delete: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Guard(apply::GuardTrip),
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
        matches!(self, SyncError::Http(e) if e.is_fatal_for_source())
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
}

/// What a stream run did, and why it stopped if it failed.
pub struct StreamResult {
    pub counts: RunCounts,
    pub error: Option<SyncError>,
}

#[derive(Debug, Clone)]
pub struct StreamReport {
    pub stream: &'static str,
    pub run_id: i64,
    pub status: RunStatus,
    pub counts: RunCounts,
    pub duration: Duration,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SourceReport {
    pub source: &'static str,
    pub run_id: i64,
    pub status: RunStatus,
    pub streams: Vec<StreamReport>,
    pub duration: Duration,
}

/// Runs one pass over every stream of `source`. Only database failures while recording the
/// runs themselves are errors; everything else is in the report.
#[tracing::instrument(skip_all, fields(source = source.name()))]
pub async fn sync_source(
    pool: &PgPool,
    settings: &SyncSettings,
    source: &dyn Source,
    options: &SyncOptions,
) -> Result<SourceReport, sqlx::Error> {
    let started = Instant::now();
    let name = source.name();
    let pass_id = runs::start(pool, name, None, options.trigger, None).await?;
    tracing::info!(run_id = pass_id, "sync pass started");
    let mut total = RunCounts::default();
    let mut reports = Vec::new();
    let mut first_error = None;
    for stream in source.streams() {
        let run_id = runs::start(pool, name, Some(stream), options.trigger, Some(pass_id)).await?;
        let stream_started = Instant::now();
        let requests_before = source.requests();
        let ctx = StreamContext {
            pool,
            settings,
            options,
            source: name,
            stream,
            run_id,
        };
        let StreamResult { mut counts, error } = source.sync_stream(&ctx).await;
        counts.requests = source.requests() - requests_before;
        let status = if error.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        let message = error.as_ref().map(|e| e.to_string());
        runs::finish(pool, run_id, status, &counts, message.as_deref()).await?;
        let t = counts.total();
        match &message {
            None => tracing::info!(
                run_id,
                stream,
                fetched = counts.fetched,
                inserted = t.inserted,
                updated = t.updated,
                unchanged = t.unchanged,
                deleted = t.deleted,
                rejected = counts.rejected,
                requests = counts.requests,
                "stream synced"
            ),
            Some(e) => tracing::error!(run_id, stream, error = %e, "stream failed"),
        }
        total.add(&counts);
        reports.push(StreamReport {
            stream,
            run_id,
            status,
            counts,
            duration: stream_started.elapsed(),
            error: message.clone(),
        });
        let stop = error.as_ref().is_some_and(SyncError::stops_source);
        if first_error.is_none() {
            first_error = message;
        }
        if stop {
            break;
        }
    }
    let status = if first_error.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    runs::finish(pool, pass_id, status, &total, first_error.as_deref()).await?;
    Ok(SourceReport {
        source: name,
        run_id: pass_id,
        status,
        streams: reports,
        duration: started.elapsed(),
    })
}
