//! The sync engine: runs one pass of a source, stream by stream, recording a run row for the
//! pass and for each stream with its counts, requests and outcome. What is the same for every
//! source lives here and in the submodules (normalization, staging, deletion guard,
//! checkpoints); a source only names its streams and fetches them.

pub mod apply;
pub mod delta;
pub mod full_listing;
pub mod listing;
pub mod table;

use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use tokio_util::sync::CancellationToken;

use crate::config::SyncSettings;
use crate::db::runs::{self, RunCounts, RunStatus};
use crate::db::{self, checkpoints};
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
        matches!(self, SyncError::DatabaseFrozen(_))
            || matches!(self, SyncError::Http(e) if e.is_fatal_for_source())
    }

    /// The request budget is spent: the run ends `budget_exhausted`, not `failed`.
    pub fn is_budget_exhausted(&self) -> bool {
        matches!(self, SyncError::Http(e) if e.is_budget_exhausted())
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
    pub fn delete_policy(&self) -> apply::DeletePolicy {
        apply::DeletePolicy {
            max_fraction: self.settings.max_delete_fraction,
            allow_mass_delete: self.options.allow_mass_delete,
        }
    }
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
    source: &dyn Source,
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

/// Whether a live process holds the source's pass (its runs marked `running` are its own),
/// as opposed to runs a killed process left `running`. Only looks (at `pg_locks`): a daemon
/// taking the lock meanwhile is never disturbed.
pub async fn pass_in_progress(pool: &PgPool, source: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0))",
    )
    .bind(PassLock::key(source))
    .fetch_one(pool)
    .await
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
    source: &dyn Source,
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
    source: &dyn Source,
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

/// The source's session-level advisory lock. It lives with a connection of its own that is
/// closed (not returned to the pool) when the pass ends, so a crashed process frees it.
struct PassLock {
    conn: sqlx::PgConnection,
}

impl PassLock {
    async fn acquire(pool: &PgPool, source: &str, wait: bool) -> Result<Option<Self>, sqlx::Error> {
        let mut conn = PoolConnection::detach(pool.acquire().await?);
        let key = Self::key(source);
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(&key)
            .fetch_one(&mut conn)
            .await?;
        if !free {
            if !wait {
                sqlx::Connection::close(conn).await?;
                return Ok(None);
            }
            tracing::info!(
                source,
                "another process is syncing this source; waiting for it to finish"
            );
            // That pass may take as long as it takes: this wait is not bounded by the
            // pool's statement and lock timeouts (the connection is detached, never reused).
            sqlx::raw_sql("SET statement_timeout = 0; SET lock_timeout = 0")
                .execute(&mut conn)
                .await?;
            sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
                .bind(&key)
                .execute(&mut conn)
                .await?;
        }
        Ok(Some(Self { conn }))
    }

    /// Closes the lock's connection (which frees the lock). On a network that froze the
    /// goodbye is never answered: after a few seconds the connection is dropped instead,
    /// and the server frees the lock when it notices the session gone.
    async fn release(self) -> Result<(), sqlx::Error> {
        tokio::time::timeout(Duration::from_secs(3), sqlx::Connection::close(self.conn))
            .await
            .unwrap_or(Ok(()))
    }

    /// Makes sure the lock is still held. It lives with its connection: when a database drop
    /// ended that connection, the lock went with it, and it is taken again on a new one —
    /// without waiting, riding out the drop by [`db::retry`]. `Ok(false)`: another process
    /// took the source meanwhile; this pass must not go on beside it.
    /// The advisory lock's name; its key is `hashtextextended(name, 0)`.
    fn key(source: &str) -> String {
        format!("tributary:pass:{source}")
    }

    async fn hold(&mut self, pool: &PgPool, source: &str) -> Result<bool, sqlx::Error> {
        let alive = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::Connection::ping(&mut self.conn),
        )
        .await;
        if matches!(alive, Ok(Ok(()))) {
            return Ok(true);
        }
        tracing::warn!(
            source,
            "the pass lock's connection is gone; taking the lock again"
        );
        // The server may not have noticed yet that the old session is gone (it holds the
        // lock until it does): a lock still taken is asked for again over the same waits.
        let mut waits = db::RETRY_WAITS.iter();
        loop {
            let again = db::retry("taking the pass lock again", || {
                Self::acquire(pool, source, false)
            })
            .await?;
            match (again, waits.next()) {
                (Some(again), _) => {
                    *self = again;
                    return Ok(true);
                }
                (None, Some(wait)) => tokio::time::sleep(*wait).await,
                (None, None) => return Ok(false),
            }
        }
    }
}

/// Ends (with the seconds it waited) once the database has been silent for `misses` probes
/// in a row on connections of their own: work stuck on a connection whose network froze
/// would otherwise wait forever, since the server's timeouts cannot reach it. A database
/// that answers, if only to refuse, is not frozen (lost connections are retried and fail
/// on their own). A probe gets the pool's acquire timeout; they start that often (at most
/// every 5 s).
async fn frozen(pool: &PgPool, misses: u32) -> u64 {
    let within = pool.options().get_acquire_timeout();
    let every = within.min(Duration::from_secs(5));
    let mut since = None;
    let mut missed = 0;
    loop {
        tokio::time::sleep(every).await;
        let started = Instant::now();
        if !db::silent(pool, within).await {
            since = None;
            missed = 0;
        } else {
            let first = *since.get_or_insert(started);
            missed += 1;
            if missed >= misses {
                return Instant::now().duration_since(first).as_secs().max(1);
            }
        }
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

/// Runs `work` (database work outside a stream: migrations, taking the pass lock, recording
/// runs) unless the database stops answering probes on connections of their own, three in
/// a row: a wait on a connection whose network froze ends instead of lasting forever.
pub async fn unless_frozen<F: std::future::Future>(
    pool: &PgPool,
    work: F,
) -> Result<F::Output, Frozen> {
    tokio::select! {
        output = work => Ok(output),
        secs = frozen(pool, 3) => Err(Frozen(secs)),
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
    source: &dyn Source,
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
        let StreamResult { mut counts, error } = loop {
            let result = tokio::select! {
                result = source.sync_stream(&ctx) => result,
                () = shutdown.abort.cancelled() => StreamResult {
                    counts: RunCounts::default(),
                    error: Some(SyncError::Aborted(shutdown.abandoned_by)),
                },
                secs = frozen(pool, 2) => StreamResult {
                    counts: RunCounts::default(),
                    error: Some(SyncError::DatabaseFrozen(secs)),
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
    if !unrecorded && !lock_lost {
        if let Err(e) = db::retry("recording what the pass left", || {
            checkpoints::set_pending_streams(pool, name, &left, pass_id)
        })
        .await
        {
            tracing::error!(run_id = pass_id, error = %e, "recording what the pass left undone failed");
            first_error.get_or_insert(format!(
                "recording what the pass left undone failed: database: {e}"
            ));
        }
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
