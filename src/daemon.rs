//! `tributary run`: the long-running service. Schedules every enabled source with
//! tokio-cron-scheduler by `sources.<name>.schedule`, serves `/healthz`, `/readyz` and
//! `/metrics`, and stops gracefully.
//!
//! Guarantees: a source's pass never overlaps itself in this process (a tick that finds the
//! previous pass still going is skipped), and never runs in two processes on one database at
//! once (the engine's advisory lock; the other process skips the tick and tries at its next).
//! At start, a source whose schedule ticked since its last success runs at once, and runs a
//! killed process left `running` are closed as failed. On shutdown no new pass starts; passes
//! in flight commit their current batch and are recorded `cancelled`; whatever still runs when
//! `server.shutdown_grace_secs` is nearly over is abandoned (its open transaction rolls back)
//! and recorded `cancelled` too. With no source enabled it runs all the same, alive but not
//! ready, saying what to set. The sync work itself is the engine's (`crate::sync`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::db::runs;
use crate::http::error_chain;
use crate::metrics::{Metrics, Skip};
use crate::server::{self, ServerState};
use crate::signals::StopSignals;
use crate::sources;
use crate::sync::Source;
use crate::sync::{self, Shutdown, SyncOptions};

/// Everything a scheduled job needs, shared by all of them.
struct Shared {
    pool: PgPool,
    settings: Settings,
    sources: Vec<Arc<Source>>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
    tracker: TaskTracker,
    /// Held while a pass of the source runs in this process.
    busy: HashMap<&'static str, Arc<Mutex<()>>>,
}

/// How long the stop waits for the pool's connections to close, within the grace period.
const CLOSE_POOL_WITHIN: Duration = Duration::from_secs(1);

/// A started daemon: its HTTP address, and how to stop it.
pub struct Daemon {
    shared: Arc<Shared>,
    scheduler: JobScheduler,
    server: tokio::task::JoinHandle<()>,
    addr: SocketAddr,
}

/// Why `run` could not start (the CLI exits 2 for configuration errors).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] sources::SelectError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Daemon {
    /// Connects, migrates, closes runs a killed process left `running`, starts the HTTP
    /// server and the schedules, and starts the passes that are overdue.
    ///
    /// With no source enabled it starts all the same, syncing nothing: `/healthz` answers,
    /// `/readyz` answers 503 saying what to set (also logged), so that a container started
    /// before it is configured waits for its configuration instead of restarting in a loop.
    pub async fn start(settings: Settings) -> Result<Self, StartError> {
        let (selected, not_syncing) = match sources::select(&settings, &[]) {
            Ok(selected) => (selected, None),
            Err(e @ sources::SelectError::NoneEnabled) => {
                tracing::warn!(
                    "{e}; syncing nothing and not ready (/readyz) until one is enabled and \
                     tributary restarted"
                );
                (Vec::new(), Some(e.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        let pool = crate::db::connect(&settings.database)
            .await
            .map_err(anyhow::Error::from)?;
        crate::db::migrate(&pool)
            .await
            .map_err(anyhow::Error::from)?;
        let built = sources::build(&settings, &selected, &pool).map_err(anyhow::Error::from)?;
        let sources: Vec<Arc<Source>> = built.into_iter().map(Arc::from).collect();
        let listener = tokio::net::TcpListener::bind(settings.server.bind)
            .await
            .with_context(|| format!("cannot listen on server.bind {}", settings.server.bind))?;
        let addr = listener.local_addr().context("the server's address")?;
        let shared = Arc::new(Shared {
            pool: pool.clone(),
            busy: selected.iter().map(|n| (*n, Arc::default())).collect(),
            settings,
            sources,
            metrics: Arc::new(Metrics::for_sources(&selected)),
            shutdown: Shutdown::default(),
            tracker: TaskTracker::new(),
        });
        for source in &shared.sources {
            shared
                .metrics
                .declare_streams(source.name(), &source.streams());
        }
        for name in &selected {
            let interval = crate::schedule::interval(&shared.cron(name), chrono::Utc::now());
            if let Some(interval) = interval {
                shared
                    .metrics
                    .set_schedule_interval(name, interval.num_seconds() as f64);
            }
        }
        for source in &shared.sources {
            match sync::close_stale_runs(&pool, source.name()).await {
                Ok(0) => {}
                Ok(closed) => tracing::warn!(
                    source = source.name(),
                    runs = closed,
                    "closed runs a stopped process left running"
                ),
                Err(e) => {
                    tracing::warn!(source = source.name(), error = %error_chain(&e), "could not close stale runs")
                }
            }
        }
        let state = Arc::new(ServerState {
            pool: pool.clone(),
            settings: shared.settings.clone(),
            sources: shared.sources.clone(),
            metrics: Arc::clone(&shared.metrics),
            stopping: shared.shutdown.stop.clone(),
            not_syncing,
        });
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, server::router(state)).await {
                tracing::error!(error = %e, "the HTTP server stopped");
            }
        });
        tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
        let scheduler = schedule(&shared).await?;
        // Overdue passes first, so that they, not a tick, run first.
        let now = chrono::Utc::now();
        let last = runs::last_successes(&pool)
            .await
            .map_err(anyhow::Error::from)?;
        for source in &shared.sources {
            let name = source.name();
            let cron = shared.cron(name);
            if crate::schedule::overdue(&cron, last.get(name).copied(), now) {
                tracing::info!(
                    source = name,
                    last_success = %crate::schedule::display(last.get(name).copied()),
                    "a tick passed since the last success; running now"
                );
                shared.trigger(name, "startup");
            }
        }
        scheduler.start().await.context("starting the scheduler")?;
        Ok(Self {
            shared,
            scheduler,
            server,
            addr,
        })
    }

    /// Where the HTTP server listens (the actual port when `server.bind` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Graceful stop: no new passes, passes in flight finish their batch; at the end of the
    /// grace period (less a margin to record the outcome) the rest is abandoned.
    pub async fn stop(mut self) {
        let grace = self.shared.settings.server.shutdown_grace;
        let margin = (grace / 5).min(Duration::from_secs(5));
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down: no new runs; runs in flight finish their current batch"
        );
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!(error = %e, "stopping the scheduler");
        }
        let shared = &self.shared;
        shared.shutdown.stop.cancel();
        shared.tracker.close();
        if tokio::time::timeout(grace - margin, shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "runs still going at the end of the grace period; abandoning their open batches"
            );
            shared.shutdown.abort.cancel();
            // The last second of the grace is for closing the pool below.
            let last = margin.saturating_sub(CLOSE_POOL_WITHIN);
            if tokio::time::timeout(last, shared.tracker.wait())
                .await
                .is_err()
            {
                tracing::error!("runs did not stop in time; the next start closes them as failed");
            }
        }
        self.server.abort();
        // Closing waits for connections in use; a pass stuck in the database must not hold
        // the exit past the grace period (its run is closed as failed by the next start).
        if tokio::time::timeout(CLOSE_POOL_WITHIN, shared.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("connections still busy at exit; leaving them to the server");
        }
        tracing::info!("stopped");
    }
}

impl Shared {
    fn cron(&self, source: &str) -> croner::Cron {
        let schedule = &self
            .settings
            .source_common(source)
            .expect("only known sources are built")
            .schedule;
        crate::schedule::parse(schedule).expect("schedules are validated with the settings")
    }

    /// Starts a pass of `name` in the background unless one is running here or the daemon is
    /// stopping.
    fn trigger(self: &Arc<Self>, name: &'static str, trigger: &'static str) {
        if self.shutdown.stop.is_cancelled() {
            return;
        }
        let Ok(guard) = Arc::clone(&self.busy[name]).try_lock_owned() else {
            tracing::info!(source = name, next_run = %self.next_run(name), "the previous run of this source is still going; skipping this tick");
            self.metrics.skipped(name, Skip::Overlap);
            return;
        };
        let this = Arc::clone(self);
        self.tracker.spawn(async move {
            this.pass(name, trigger).await;
            drop(guard);
            crate::memory::release_freed();
        });
    }

    async fn pass(&self, name: &'static str, trigger: &'static str) {
        let source = self
            .sources
            .iter()
            .find(|s| s.name() == name)
            .expect("only built sources are scheduled");
        let options = SyncOptions {
            trigger,
            allow_mass_delete: false,
        };
        self.metrics.set_running(name, true);
        let outcome = sync::try_sync_source(
            &self.pool,
            &self.settings.sync,
            source.as_ref(),
            &options,
            &self.shutdown,
        )
        .await;
        self.metrics.set_running(name, false);
        match outcome {
            Ok(Some(report)) => {
                self.metrics.record(&report);
                tracing::info!(
                    source = name,
                    run_id = report.run_id,
                    status = report.status.as_str(),
                    duration_ms = report.duration.as_millis() as u64,
                    next_run = %self.next_run(name),
                    "pass finished"
                );
            }
            Ok(None) => {
                self.metrics.skipped(name, Skip::Locked);
                tracing::info!(source = name, next_run = %self.next_run(name), "another process is syncing this source; skipping this tick");
            }
            Err(e) => {
                self.metrics.errored(name);
                tracing::error!(source = name, error = %error_chain(&e), "the pass could not be recorded");
            }
        }
    }

    /// The source's next tick, for logs: a whole second, or `none`.
    fn next_run(&self, name: &str) -> impl std::fmt::Display + use<> {
        crate::schedule::display(crate::schedule::next_tick(
            &self.cron(name),
            chrono::Utc::now(),
        ))
    }
}

/// One cron job per source; each tick only starts a background pass. Not started yet.
async fn schedule(shared: &Arc<Shared>) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new()
        .await
        .context("starting the scheduler")?;
    for source in &shared.sources {
        let name = source.name();
        let schedule = shared
            .settings
            .source_common(name)
            .map(|c| c.schedule.clone())
            .unwrap_or_default();
        let this = Arc::clone(shared);
        let job = Job::new_async(schedule.as_str(), move |_, _| {
            this.trigger(name, "schedule");
            Box::pin(async {})
        })
        .with_context(|| format!("sources.{name}.schedule `{schedule}`"))?;
        scheduler.add(job).await.context("adding a job")?;
        tracing::info!(source = name, %schedule, next_run = %shared.next_run(name), "scheduled");
    }
    Ok(scheduler)
}

/// Runs the daemon until SIGTERM or SIGINT, then stops it gracefully.
pub async fn run(settings: Settings) -> Result<(), StartError> {
    let mut signals = StopSignals::new().context("listening for SIGTERM and SIGINT")?;
    let daemon = Daemon::start(settings).await?;
    signals.recv().await;
    daemon.stop().await;
    Ok(())
}
