//! The daemon's Prometheus metrics (`/metrics`, text format 0.0.4, prefix `tributary_`).
//!
//! Counters of what this process did (passes by outcome, their durations, rows by table and
//! operation, skipped ticks) live here and are fed from each pass's report; requests by
//! status come live from the sources' HTTP clients; budgets and last successes are read from
//! the database at scrape time, so they agree across replicas and restarts. Every series
//! whose labels are known before the first pass (outcomes, skip reasons, fetched and
//! rejected records, durations, schema changes of the declared streams) exists from the
//! start at 0, so that a source that never ran is visible to alerts, and so is each
//! source's schedule interval (what alerts measure the age of its last success against). Also `tributary_build_info` and, on Linux, the
//! standard `process_*` metrics read from `/proc/self`. It does not serve HTTP (`server` does).

mod exposition;
mod process;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::PgPool;

use self::exposition::Exposition;
use crate::config::Settings;
use crate::db::runs::RunStatus;
use crate::http::budget;
use crate::sync::Source;
use crate::sync::SourceReport;
use crate::sync::catalogue::Kind;

/// How long `/metrics` and `/readyz` wait for the database, in all (a connection from the
/// pool and every query), so that they answer well within a probe's or scrape's timeout
/// while the database is down or frozen.
pub const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Upper bounds (seconds) of the run-duration histogram's buckets.
const DURATION_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0];

#[derive(Default)]
struct Histogram {
    /// Observations at or below each bound of `DURATION_BUCKETS`.
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Counters {
    runs: BTreeMap<(String, String), u64>,
    skipped: BTreeMap<(String, String), u64>,
    durations: BTreeMap<String, Histogram>,
    rows: BTreeMap<(String, String, &'static str), u64>,
    fetched: BTreeMap<String, u64>,
    rejected: BTreeMap<String, u64>,
    /// Changes of the field catalogue, by source, stream and kind.
    schema_changes: BTreeMap<(String, String, &'static str), u64>,
    running: BTreeMap<String, bool>,
    /// The longest gap between ticks of each source's schedule (`schedule::interval`).
    intervals: BTreeMap<String, f64>,
}

/// What this process counted; shared by the scheduler's jobs and the HTTP server.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

/// A tick that started no pass, and why.
#[derive(Debug, Clone, Copy)]
pub enum Skip {
    /// The previous pass of this source in this process is still going.
    Overlap,
    /// Another process holds the source.
    Locked,
}

impl Skip {
    const ALL: [Skip; 2] = [Skip::Overlap, Skip::Locked];

    /// The `reason` label.
    fn reason(self) -> &'static str {
        match self {
            Skip::Overlap => "overlap",
            Skip::Locked => "locked",
        }
    }
}

/// The `outcome` label of a pass that could not even be recorded.
const ERRORED: &str = "error";

/// Every `outcome` of `tributary_runs_total`: how a pass can end, and `error`.
fn outcomes() -> [&'static str; 5] {
    [
        RunStatus::Succeeded.as_str(),
        RunStatus::Failed.as_str(),
        RunStatus::BudgetExhausted.as_str(),
        RunStatus::Cancelled.as_str(),
        ERRORED,
    ]
}

impl Metrics {
    /// Metrics whose series of `sources` exist at 0 from the start: passes by every
    /// outcome, skipped ticks by every reason, records fetched and rejected, durations
    /// (an empty histogram) and the in-progress gauge.
    pub fn for_sources(sources: &[&str]) -> Self {
        let mut c = Counters::default();
        for source in sources {
            let source = source.to_string();
            for outcome in outcomes() {
                c.runs.insert((source.clone(), outcome.to_string()), 0);
            }
            for skip in Skip::ALL {
                c.skipped
                    .insert((source.clone(), skip.reason().to_string()), 0);
            }
            c.durations.insert(
                source.clone(),
                Histogram {
                    buckets: vec![0; DURATION_BUCKETS.len()],
                    ..Histogram::default()
                },
            );
            c.fetched.insert(source.clone(), 0);
            c.rejected.insert(source.clone(), 0);
            c.running.insert(source, false);
        }
        Self {
            counters: Mutex::new(c),
        }
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().expect("metrics are never poisoned")
    }

    /// The source's schedule interval in seconds, served as
    /// `tributary_source_schedule_interval_seconds` (alerts compare ages with it).
    pub fn set_schedule_interval(&self, source: &str, seconds: f64) {
        self.counters()
            .intervals
            .insert(source.to_string(), seconds);
    }

    /// The source's streams: their `tributary_schema_changes_total` series exist at 0 from
    /// the start (an alert's `increase` then sees the first change).
    pub fn declare_streams(&self, source: &str, streams: &[&str]) {
        let mut c = self.counters();
        for stream in streams {
            for kind in Kind::ALL {
                c.schema_changes
                    .entry((source.to_string(), stream.to_string(), kind.as_str()))
                    .or_default();
            }
        }
    }

    pub fn set_running(&self, source: &str, running: bool) {
        self.counters().running.insert(source.to_string(), running);
    }

    pub fn skipped(&self, source: &str, why: Skip) {
        *self
            .counters()
            .skipped
            .entry((source.to_string(), why.reason().to_string()))
            .or_default() += 1;
    }

    /// A pass that could not even be recorded (the database failed).
    pub fn errored(&self, source: &str) {
        *self
            .counters()
            .runs
            .entry((source.to_string(), ERRORED.to_string()))
            .or_default() += 1;
    }

    pub fn record(&self, report: &SourceReport) {
        let mut c = self.counters();
        let source = report.source.to_string();
        *c.runs
            .entry((source.clone(), report.status.as_str().to_string()))
            .or_default() += 1;
        let seconds = report.duration.as_secs_f64();
        let h = c.durations.entry(source.clone()).or_default();
        h.buckets.resize(DURATION_BUCKETS.len(), 0);
        for (bound, n) in DURATION_BUCKETS.iter().zip(h.buckets.iter_mut()) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
        for stream in &report.streams {
            *c.fetched.entry(source.clone()).or_default() += stream.counts.fetched;
            *c.rejected.entry(source.clone()).or_default() += stream.counts.rejected;
            for kind in Kind::ALL {
                let n = stream.schema_changes.get(kind);
                let key = (source.clone(), stream.stream.to_string(), kind.as_str());
                if n > 0 || c.schema_changes.contains_key(&key) {
                    *c.schema_changes.entry(key).or_default() += n;
                }
            }
            for (table, t) in &stream.counts.tables {
                for (op, n) in [
                    ("inserted", t.inserted),
                    ("updated", t.updated),
                    ("deleted", t.deleted),
                    ("unchanged", t.unchanged),
                ] {
                    *c.rows
                        .entry((source.clone(), table.clone(), op))
                        .or_default() += n;
                }
            }
        }
    }

    /// The text exposition: this process's counters, the sources' request counts, and the
    /// budgets and last successes as the database has them (`tributary_database_up 0` and
    /// none of those when it does not answer within [`DATABASE_PROBE_TIMEOUT`]).
    pub async fn render(&self, pool: &PgPool, settings: &Settings, sources: &[&Source]) -> String {
        let mut out = Exposition::default();
        {
            let c = self.counters();
            out.family("runs_total", "counter", "Sync passes finished by this process, by source and outcome (succeeded, failed, budget_exhausted, cancelled, error).");
            for ((source, outcome), n) in &c.runs {
                out.sample(
                    "runs_total",
                    &[("source", source), ("outcome", outcome)],
                    *n as f64,
                );
            }
            out.family("runs_skipped_total", "counter", "Scheduled ticks that started no pass: overlap (the previous pass still ran) or locked (another process held the source).");
            for ((source, reason), n) in &c.skipped {
                out.sample(
                    "runs_skipped_total",
                    &[("source", source), ("reason", reason)],
                    *n as f64,
                );
            }
            out.family(
                "run_in_progress",
                "gauge",
                "1 while this process runs a pass of the source.",
            );
            for (source, running) in &c.running {
                out.sample(
                    "run_in_progress",
                    &[("source", source)],
                    f64::from(u8::from(*running)),
                );
            }
            out.family(
                "source_schedule_interval_seconds",
                "gauge",
                "Longest gap between two ticks of the source's schedule (over a week ahead, as of the start).",
            );
            for (source, seconds) in &c.intervals {
                out.sample(
                    "source_schedule_interval_seconds",
                    &[("source", source)],
                    *seconds,
                );
            }
            out.family(
                "run_duration_seconds",
                "histogram",
                "Duration of sync passes, by source.",
            );
            for (source, h) in &c.durations {
                for (bound, n) in DURATION_BUCKETS.iter().zip(&h.buckets) {
                    out.sample(
                        "run_duration_seconds_bucket",
                        &[("source", source), ("le", &bound.to_string())],
                        *n as f64,
                    );
                }
                out.sample(
                    "run_duration_seconds_bucket",
                    &[("source", source), ("le", "+Inf")],
                    h.count as f64,
                );
                out.sample("run_duration_seconds_sum", &[("source", source)], h.sum);
                out.sample(
                    "run_duration_seconds_count",
                    &[("source", source)],
                    h.count as f64,
                );
            }
            out.family("rows_total", "counter", "Rows written or compared by this process's passes, by source, table and operation (inserted, updated, deleted, unchanged).");
            for ((source, table, op), n) in &c.rows {
                out.sample(
                    "rows_total",
                    &[("source", source), ("table", table), ("op", op)],
                    *n as f64,
                );
            }
            out.family(
                "records_fetched_total",
                "counter",
                "Records read from the source's API.",
            );
            for (source, n) in &c.fetched {
                out.sample("records_fetched_total", &[("source", source)], *n as f64);
            }
            out.family(
                "records_rejected_total",
                "counter",
                "Records set aside in tributary.rejects.",
            );
            for (source, n) in &c.rejected {
                out.sample("records_rejected_total", &[("source", source)], *n as f64);
            }
            out.family(
                "schema_changes_total",
                "counter",
                "Changes in what a vendor sends noticed by this process's passes (tributary.schema_changes), by source, stream and kind (added, removed, retyped).",
            );
            for ((source, stream, kind), n) in &c.schema_changes {
                out.sample(
                    "schema_changes_total",
                    &[("source", source), ("stream", stream), ("kind", kind)],
                    *n as f64,
                );
            }
        }
        out.family(
            "requests_total",
            "counter",
            "HTTP requests this process sent, by source and answer status (error: no answer).",
        );
        for source in sources {
            for (status, n) in &source.stats().answers {
                out.sample(
                    "requests_total",
                    &[("source", source.name()), ("status", status)],
                    *n as f64,
                );
            }
        }
        // A scrape answers at once whatever the database does: the gauges it holds are
        // left out when it does not answer within DATABASE_PROBE_TIMEOUT.
        let from_db = tokio::time::timeout(
            DATABASE_PROBE_TIMEOUT,
            database_metrics(pool, settings, sources),
        )
        .await
        .map_err(|_| ())
        .and_then(|r| r.map_err(|_| ()));
        out.family(
            "database_up",
            "gauge",
            "1 when the database answered this scrape (within 500 ms).",
        );
        out.sample("database_up", &[], f64::from(u8::from(from_db.is_ok())));
        if let Ok(db) = from_db {
            type Field = fn(&budget::Usage) -> f64;
            let budget_families: [(&str, &str, Field); 4] = [
                (
                    "budget_used_requests",
                    "Requests in the source's current budget window (every process on the database).",
                    |u| u.used as f64,
                ),
                (
                    "budget_remaining_requests",
                    "Requests the source's budget still allows in the current window.",
                    |u| u.remaining as f64,
                ),
                (
                    "budget_limit_requests",
                    "Requests the source's budget allows per window (budget.requests less budget.reserve).",
                    |u| u.limit as f64,
                ),
                (
                    "budget_window_seconds",
                    "Length of the source's sliding budget window.",
                    |u| u.window_secs as f64,
                ),
            ];
            for (name, help, field) in budget_families {
                out.family(name, "gauge", help);
                for u in &db.budgets {
                    out.sample(name, &[("source", &u.source)], field(u));
                }
            }
            out.family(
                "last_success_timestamp_seconds",
                "gauge",
                "Unix time the source's last successful pass finished (any process); absent while it never succeeded.",
            );
            for (source, at) in &db.last_success {
                out.sample("last_success_timestamp_seconds", &[("source", source)], *at);
            }
            out.family(
                "source_never_succeeded",
                "gauge",
                "1 while no pass of the enabled source has succeeded yet (any process), else 0.",
            );
            for source in sources {
                let never = !db.last_success.iter().any(|(s, _)| s == source.name());
                out.sample(
                    "source_never_succeeded",
                    &[("source", source.name())],
                    f64::from(u8::from(never)),
                );
            }
        }
        out.family(
            "build_info",
            "gauge",
            "Always 1; the labels say which build this process runs.",
        );
        out.sample("build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
        if let Some(process) = process::read() {
            process.write(&mut out);
        }
        out.text
    }
}

struct DatabaseMetrics {
    budgets: Vec<budget::Usage>,
    last_success: Vec<(String, f64)>,
}

async fn database_metrics(
    pool: &PgPool,
    settings: &Settings,
    sources: &[&Source],
) -> Result<DatabaseMetrics, sqlx::Error> {
    let mut budgets = Vec::new();
    for source in sources {
        if let Some(common) = settings.source_common(source.name()) {
            budgets.extend(budget::configured_usage(pool, source.name(), &common.budget).await?);
        }
    }
    let last_success = crate::db::runs::last_successes(pool)
        .await?
        .into_iter()
        .map(|(source, at)| (source, at.timestamp_millis() as f64 / 1000.0))
        .collect();
    Ok(DatabaseMetrics {
        budgets,
        last_success,
    })
}
