//! One pass of a source: its streams in order (or the ones the previous pass left), each
//! recorded as a run with its counts, requests and outcome, under the source's pass lock
//! and the watchdog.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::catalogue::{self, ChangeCounts};
use super::context::{Shutdown, StreamContext, StreamResult, SyncOptions};
use super::error::SyncError;
use super::lock::PassLock;
use super::source::Source;
use super::watchdog::{frozen, unless_frozen};
use crate::config::SyncSettings;
use crate::db::runs::{self, RunCounts, RunStatus};
use crate::db::{self, checkpoints};

#[derive(Debug, Clone)]
pub struct StreamReport {
    pub stream: &'static str,
    pub run_id: i64,
    pub status: RunStatus,
    pub counts: RunCounts,
    pub duration: Duration,
    pub error: Option<String>,
    /// Changes of the field catalogue the stream noticed (`tributary.schema_changes`).
    pub schema_changes: ChangeCounts,
}

#[derive(Debug, Clone)]
pub struct SourceReport {
    pub source: &'static str,
    pub run_id: i64,
    pub status: RunStatus,
    pub streams: Vec<StreamReport>,
    pub duration: Duration,
}

/// Runs one pass over the streams of `source`: all of them, or, when the previous pass ran
/// out of request budget or was stopped, the ones it did not finish. Only database failures
/// while recording the runs themselves are errors; everything else is in the report.
///
/// One pass per source runs at a time across every process on the database: when another
/// holds the source, this one waits and then finds the work done, instead of spending the
/// budget on it twice.
pub async fn sync_source(
    pool: &PgPool,
    settings: &SyncSettings,
    source: &Source,
    options: &SyncOptions,
) -> Result<SourceReport, sqlx::Error> {
    unless_frozen(pool, async {
        let lock = match lock_or_done(pool, source.name(), options).await? {
            Ok(lock) => lock,
            Err(done) => return Ok(done),
        };
        run_pass(
            pool,
            settings,
            source,
            options,
            lock,
            &Shutdown::default(),
            None,
        )
        .await
    })
    .await?
}

/// Takes the source's lock, waiting for another process's pass to end; `Err` with a report
/// of that pass when it succeeded meanwhile — the work is done, and this process does not
/// spend the budget on it again. `--allow-mass-delete` always runs its own pass.
async fn lock_or_done(
    pool: &PgPool,
    source: &'static str,
    options: &SyncOptions,
) -> Result<Result<PassLock, SourceReport>, sqlx::Error> {
    let asked: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(pool)
        .await?;
    let started = Instant::now();
    let lock = PassLock::acquire(pool, source, true)
        .await?
        .expect("a waiting acquire always ends holding the lock");
    if options.allow_mass_delete {
        return Ok(Ok(lock));
    }
    match runs::succeeded_since(pool, source, asked).await? {
        Some(run_id) => {
            lock.release().await?;
            tracing::info!(
                source,
                run_id,
                "another process synced this source while this one waited; nothing left to do"
            );
            Ok(Err(SourceReport {
                source,
                run_id,
                status: RunStatus::Succeeded,
                streams: Vec::new(),
                duration: started.elapsed(),
            }))
        }
        None => Ok(Ok(lock)),
    }
}

/// Told where a pass stands, for a progress display.
pub trait PassProgress: Send + Sync {
    /// The pass starts stream `index` (from 0) of `of`.
    fn stream_started(&self, stream: &'static str, index: usize, of: usize);
    /// The pass ended.
    fn finished(&self, report: &SourceReport);
}

/// [`sync_source`], telling `progress` where it stands; `shutdown` can end it early, also
/// while it waits for another process to finish the source (then it answers `None`).
pub async fn sync_source_with_progress(
    pool: &PgPool,
    settings: &SyncSettings,
    source: &Source,
    options: &SyncOptions,
    shutdown: &Shutdown,
    progress: &dyn PassProgress,
) -> Result<Option<SourceReport>, sqlx::Error> {
    unless_frozen(pool, async {
        let lock = tokio::select! {
            lock = lock_or_done(pool, source.name(), options) => match lock? {
                Ok(lock) => lock,
                Err(done) => {
                    progress.finished(&done);
                    return Ok(Some(done));
                }
            },
            () = shutdown.stop.cancelled() => return Ok(None),
        };
        let report = run_pass(
            pool,
            settings,
            source,
            options,
            lock,
            shutdown,
            Some(progress),
        )
        .await?;
        progress.finished(&report);
        Ok(Some(report))
    })
    .await?
}

/// Like [`sync_source`], but when another process holds the source it returns `None` at
/// once (the daemon skips that tick), and `shutdown` can end the pass early.
pub async fn try_sync_source(
    pool: &PgPool,
    settings: &SyncSettings,
    source: &Source,
    options: &SyncOptions,
    shutdown: &Shutdown,
) -> Result<Option<SourceReport>, sqlx::Error> {
    unless_frozen(pool, async {
        match PassLock::acquire(pool, source.name(), false).await? {
            Some(lock) => run_pass(pool, settings, source, options, lock, shutdown, None)
                .await
                .map(Some),
            None => Ok(None),
        }
    })
    .await?
}

/// Closes the source's runs a killed process left `running`, unless a live process holds
/// the source (then they are its own). Answers how many were closed.
pub async fn close_stale_runs(pool: &PgPool, source: &str) -> Result<u64, sqlx::Error> {
    match PassLock::acquire(pool, source, false).await? {
        Some(lock) => {
            let closed = runs::close_interrupted(pool, source).await?;
            lock.release().await?;
            Ok(closed)
        }
        None => Ok(0),
    }
}

/// A stream's failure that is the database connection breaking (directly, or under the
/// request ledger): the stream is worth running once more on a fresh connection.
fn lost_connection(error: &SyncError) -> bool {
    match error {
        SyncError::Db(e) => db::is_transient(e),
        SyncError::Http(e) => e.ledger_error().is_some_and(db::is_transient),
        _ => false,
    }
}

#[tracing::instrument(skip_all, fields(source = source.name()))]
async fn run_pass(
    pool: &PgPool,
    settings: &SyncSettings,
    source: &Source,
    options: &SyncOptions,
    mut lock: PassLock,
    shutdown: &Shutdown,
    progress: Option<&dyn PassProgress>,
) -> Result<SourceReport, sqlx::Error> {
    let started = Instant::now();
    let name = source.name();
    // Holding the lock, no other process runs this source: a run still `running` was cut off.
    // These statements, and every one recording a run, ride out a short database drop
    // (`db::retry`); before the pass's run exists, a longer one is an error of the pass.
    let closed = db::retry("closing interrupted runs", || {
        runs::close_interrupted(pool, name)
    })
    .await?;
    if closed > 0 {
        tracing::warn!(
            source = name,
            runs = closed,
            "closed runs a stopped process left running"
        );
    }
    // `sources.<name>.history`, for the triggers writing the history tables; switched back
    // on, the history catches up with the rows first (one statement per table, which can
    // take longer than a retried attempt may: not retried).
    sqlx::query("SELECT tributary.set_history($1, $2)")
        .bind(name)
        .bind(source.history)
        .execute(pool)
        .await?;
    let pending = db::retry("reading the pass checkpoint", || {
        checkpoints::pending_streams(pool, name)
    })
    .await?;
    let pass_id = db::retry("recording the pass start", || {
        runs::start(pool, name, None, options.trigger, None)
    })
    .await?;
    let all = source.streams();
    let streams: Vec<&'static str> = match &pending {
        Some(left) => all
            .iter()
            .copied()
            .filter(|s| left.iter().any(|l| l == s))
            .collect(),
        None => all,
    };
    if pending.is_some() {
        tracing::info!(
            run_id = pass_id,
            ?streams,
            "resuming the pass a spent budget or a shutdown interrupted"
        );
    } else {
        tracing::info!(run_id = pass_id, "sync pass started");
    }
    let mut total = RunCounts::default();
    let mut reports = Vec::new();
    let mut first_error = None;
    let mut exhausted_at = None;
    let mut cancelled_at = None;
    // Recording failed even after the retries: the pass stops and ends `failed`; a run it
    // could not close is closed as interrupted by the source's next pass.
    let mut unrecorded = false;
    let mut lock_lost = false;
    // The database stopped answering altogether: nothing more can be recorded now; the
    // source's next pass closes this pass's runs as interrupted.
    let mut db_frozen = false;
    for (index, &stream) in streams.iter().enumerate() {
        if shutdown.stop.is_cancelled() {
            cancelled_at = Some(index);
            break;
        }
        // The lock may have gone with its connection while the last stream was talking to
        // the vendor (a database restart): never start a stream without it.
        let why = match lock.hold(pool, name).await {
            Ok(true) => None,
            Ok(false) => Some("another process holds the source now".to_string()),
            Err(e) => Some(format!("database: {}", db::describe(&e))),
        };
        if let Some(why) = why {
            tracing::error!(run_id = pass_id, stream, reason = %why, "the pass lock was lost with its database connection; the pass stops");
            first_error.get_or_insert(format!(
                "{stream}: the pass lock was lost with its database connection ({why}); this pass stopped so that two never run at once"
            ));
            lock_lost = true;
            break;
        }
        if let Some(progress) = progress {
            progress.stream_started(stream, index, streams.len());
        }
        let run_id = match db::retry("recording a stream's start", || {
            runs::start(pool, name, Some(stream), options.trigger, Some(pass_id))
        })
        .await
        {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(run_id = pass_id, stream, error = %e, "recording the stream's run failed; the pass stops");
                first_error
                    .get_or_insert(format!("{stream}: recording its run failed: database: {e}"));
                unrecorded = true;
                break;
            }
        };
        let stream_started = Instant::now();
        let before = source.stats();
        let ctx = StreamContext {
            pool,
            settings,
            options,
            source: name,
            stream,
            run_id,
            stop: &shutdown.stop,
        };
        let mut attempt = 1u32;
        let StreamResult {
            mut counts,
            error,
            profile,
        } = loop {
            let result = tokio::select! {
                result = source.sync_stream(&ctx) => result,
                () = shutdown.abort.cancelled() => StreamResult {
                    counts: RunCounts::default(),
                    error: Some(SyncError::Aborted(shutdown.abandoned_by)),
                    profile: None,
                },
                secs = frozen(pool, 2) => StreamResult {
                    counts: RunCounts::default(),
                    error: Some(SyncError::DatabaseFrozen(secs)),
                    profile: None,
                },
            };
            // A stream's data commits all at once (or batch by batch with its checkpoint),
            // so one cut off by a lost connection runs again from where it committed.
            match &result.error {
                Some(e) if attempt == 1 && lost_connection(e) && !shutdown.stop.is_cancelled() => {
                    tracing::warn!(run_id, stream, error = %e, "the database connection was lost; running the stream once more on a fresh one");
                }
                _ => break result,
            }
            attempt += 1;
            match lock.hold(pool, name).await {
                Ok(true) => continue,
                Ok(false) => {
                    lock_lost = true;
                    break StreamResult {
                        counts: result.counts,
                        profile: None,
                        error: Some(SyncError::Listing {
                            source_name: name,
                            endpoint: "pass lock".to_string(),
                            message: "lost with the database connection, and another process \
                                      holds the source now; this pass stops so that two never \
                                      run at once"
                                .to_string(),
                        }),
                    };
                }
                Err(e) => {
                    lock_lost = true;
                    break StreamResult {
                        counts: result.counts,
                        error: Some(SyncError::Db(e)),
                        profile: None,
                    };
                }
            }
        };
        let after = source.stats();
        counts.requests = after.requests - before.requests;
        counts.throttled = after.throttled - before.throttled;
        let status = match &error {
            None => RunStatus::Succeeded,
            Some(e) if e.is_budget_exhausted() => RunStatus::BudgetExhausted,
            Some(SyncError::Cancelled | SyncError::Aborted(_)) => RunStatus::Cancelled,
            Some(_) => RunStatus::Failed,
        };
        let message = error.as_ref().map(|e| e.to_string());
        db_frozen |= matches!(error, Some(SyncError::DatabaseFrozen(_)));
        // Only a stream that succeeded says what the vendor sends; its data is committed.
        let mut schema_changes = ChangeCounts::default();
        if let (RunStatus::Succeeded, Some(profile), Some(spec)) =
            (status, &profile, source.catalogue(stream))
        {
            // Like the stream itself: a database that stops answering, or the end of a
            // shutdown's grace, does not hold the pass here.
            let recorded = tokio::select! {
                r = catalogue::record(pool, name, stream, run_id, spec, profile) => {
                    r.map_err(|e| db::describe(&e))
                }
                () = shutdown.abort.cancelled() => Err("abandoned by a shutdown".to_string()),
                secs = frozen(pool, 2) => Err(format!("the database did not answer for {secs} s")),
            };
            match recorded {
                Ok(changes) => schema_changes = ChangeCounts::of(&changes),
                Err(e) => {
                    tracing::error!(run_id, stream, error = %e, "updating the field catalogue failed; the next pass compares with the catalogue as it was")
                }
            }
        }
        let recorded = if db_frozen {
            Err(sqlx::Error::PoolTimedOut)
        } else {
            db::retry("recording a stream's outcome", || {
                runs::finish(pool, run_id, status, &counts, message.as_deref())
            })
            .await
        };
        let t = counts.total();
        match (&message, status) {
            (None, _) => tracing::info!(
                run_id,
                stream,
                attempts = attempt,
                fetched = counts.fetched,
                inserted = t.inserted,
                updated = t.updated,
                unchanged = t.unchanged,
                deleted = t.deleted,
                rejected = counts.rejected,
                unparsed = counts.unparsed,
                requests = counts.requests,
                "stream synced"
            ),
            (Some(e), RunStatus::BudgetExhausted) => {
                tracing::warn!(run_id, stream, reason = %e, "request budget spent; the next run resumes here")
            }
            (Some(e), RunStatus::Cancelled) => {
                tracing::warn!(run_id, stream, reason = %e, "stream cancelled; the next run resumes here")
            }
            (Some(e), _) => {
                tracing::error!(run_id, stream, attempts = attempt, error = %e, "stream failed")
            }
        }
        total.add(&counts);
        reports.push(StreamReport {
            stream,
            run_id,
            status,
            counts,
            duration: stream_started.elapsed(),
            error: message.clone(),
            schema_changes,
        });
        if let Err(e) = recorded {
            tracing::error!(run_id, stream, error = %e, "recording the stream's outcome failed; the pass stops, and the next one closes the run as interrupted");
            first_error.get_or_insert(format!(
                "{stream}: recording its outcome (run {run_id}) failed: database: {e}"
            ));
            unrecorded = true;
            break;
        }
        if status == RunStatus::BudgetExhausted {
            exhausted_at = Some(index);
            break;
        }
        if status == RunStatus::Cancelled {
            cancelled_at = Some(index);
            break;
        }
        let stop = lock_lost || error.as_ref().is_some_and(SyncError::stops_source);
        if first_error.is_none() {
            first_error = message;
        }
        if stop {
            break;
        }
    }
    // A pass cut short leaves what it did not reach, and what failed before the cut, for the
    // next pass; a stream is only ever skipped once it has succeeded.
    let left: Vec<&str> = match exhausted_at.or(cancelled_at) {
        Some(cut) => reports[..cut]
            .iter()
            .filter(|r| r.status != RunStatus::Succeeded)
            .map(|r| r.stream)
            .chain(streams[cut..].iter().copied())
            .collect(),
        None => Vec::new(),
    };
    // Without the lock, another process's pass owns the checkpoint now.
    if !unrecorded
        && !lock_lost
        && let Err(e) = db::retry("recording what the pass left", || {
            checkpoints::set_pending_streams(pool, name, &left, pass_id)
        })
        .await
    {
        tracing::error!(run_id = pass_id, error = %e, "recording what the pass left undone failed");
        first_error.get_or_insert(format!(
            "recording what the pass left undone failed: database: {e}"
        ));
    }
    let (status, error) = match (first_error, exhausted_at, cancelled_at) {
        (Some(e), _, _) => (RunStatus::Failed, Some(e)),
        (None, Some(_), _) => (
            RunStatus::BudgetExhausted,
            Some(format!(
                "request budget spent; the next run resumes with {}",
                left.join(", ")
            )),
        ),
        (None, None, Some(_)) => (
            RunStatus::Cancelled,
            Some(format!(
                "stopped by a shutdown; the next run resumes with {}",
                left.join(", ")
            )),
        ),
        (None, None, None) => (RunStatus::Succeeded, None),
    };
    let mut status = status;
    let recorded = if db_frozen {
        Err(sqlx::Error::PoolTimedOut)
    } else {
        db::retry("recording the pass's outcome", || {
            runs::finish(pool, pass_id, status, &total, error.as_deref())
        })
        .await
    };
    if let Err(e) = recorded {
        tracing::error!(run_id = pass_id, error = %e, "recording the pass's outcome failed; the source's next pass closes it as interrupted");
        status = RunStatus::Failed;
    }
    // The connection may be gone with a drop (and the lock with it); closing it is best effort.
    if let Err(e) = lock.release().await {
        tracing::debug!(error = %e, "closing the pass lock's connection failed");
    }
    Ok(SourceReport {
        source: name,
        run_id: pass_id,
        status,
        streams: reports,
        duration: started.elapsed(),
    })
}
