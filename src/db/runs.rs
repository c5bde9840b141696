//! Run records (`tributary.sync_runs`): opening a run, closing it with its counts and
//! outcome, and reading the latest run per source and stream for `status`.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgPool;

/// How a run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    BudgetExhausted,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::BudgetExhausted => "budget_exhausted",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// Row counts of one table in one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunCounts {
    pub fetched: u64,
    pub requests: u64,
    pub throttled: u64,
    pub rejected: u64,
    /// Records of a full listing listed as their rows were written, not parsed again (not
    /// stored with the run; the log line of the stream has it).
    pub unparsed: u64,
    pub tables: BTreeMap<String, TableCounts>,
}

impl RunCounts {
    pub fn total(&self) -> TableCounts {
        let mut t = TableCounts::default();
        for c in self.tables.values() {
            t.inserted += c.inserted;
            t.updated += c.updated;
            t.unchanged += c.unchanged;
            t.deleted += c.deleted;
        }
        t
    }

    pub fn add(&mut self, other: &RunCounts) {
        self.fetched += other.fetched;
        self.requests += other.requests;
        self.throttled += other.throttled;
        self.rejected += other.rejected;
        self.unparsed += other.unparsed;
        for (table, c) in &other.tables {
            self.add_table(table, c);
        }
    }

    /// Adds one table's counts.
    pub fn add_table(&mut self, table: &str, c: &TableCounts) {
        let t = self.tables.entry(table.to_string()).or_default();
        t.inserted += c.inserted;
        t.updated += c.updated;
        t.unchanged += c.unchanged;
        t.deleted += c.deleted;
    }
}

/// Opens a run record and returns its id.
pub async fn start(
    pool: &PgPool,
    source: &str,
    stream: Option<&str>,
    trigger: &str,
    parent: Option<i64>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "INSERT INTO tributary.sync_runs (source, stream, trigger, parent_id) \
         VALUES ($1, $2, $3, $4) RETURNING id",
        source,
        stream,
        trigger,
        parent,
    )
    .fetch_one(pool)
    .await
}

/// The latest pass of `source` that succeeded and finished at or after `since`.
pub async fn succeeded_since(
    pool: &PgPool,
    source: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM tributary.sync_runs WHERE source = $1 AND stream IS NULL \
         AND status = 'succeeded' AND finished_at >= $2 ORDER BY finished_at DESC LIMIT 1",
        source,
        since,
    )
    .fetch_optional(pool)
    .await
}

/// Marks the source's runs still `running` as failed: call only while holding the source's
/// pass lock, when no live process can own them.
pub async fn close_interrupted(pool: &PgPool, source: &str) -> Result<u64, sqlx::Error> {
    let closed = sqlx::query!(
        "UPDATE tributary.sync_runs SET status = 'failed', finished_at = clock_timestamp(), \
         error = 'interrupted: the process ended before the run finished (crash or kill)' \
         WHERE source = $1 AND status = 'running'",
        source,
    )
    .execute(pool)
    .await?;
    Ok(closed.rows_affected())
}

/// Closes a run record with its outcome and counts.
pub async fn finish(
    pool: &PgPool,
    id: i64,
    status: RunStatus,
    counts: &RunCounts,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let total = counts.total();
    sqlx::query!(
        "UPDATE tributary.sync_runs SET finished_at = clock_timestamp(), status = $2, \
         records_fetched = $3, requests = $4, rows_inserted = $5, rows_updated = $6, \
         rows_unchanged = $7, rows_deleted = $8, rows_rejected = $9, table_counts = $10, \
         error = $11, throttled = $12 WHERE id = $1",
        id,
        status.as_str(),
        counts.fetched as i64,
        counts.requests as i64,
        total.inserted as i64,
        total.updated as i64,
        total.unchanged as i64,
        total.deleted as i64,
        counts.rejected as i64,
        sqlx::types::Json(&counts.tables) as _,
        error,
        counts.throttled as i64,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The latest run of a source (stream `None`) or of one of its streams.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub id: i64,
    pub source: String,
    pub stream: Option<String>,
    pub trigger: String,
    pub status: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub records_fetched: i64,
    pub requests: i64,
    pub throttled: i64,
    pub rows_inserted: i64,
    pub rows_updated: i64,
    pub rows_unchanged: i64,
    pub rows_deleted: i64,
    pub rows_rejected: i64,
    pub error: Option<String>,
}

/// Latest run per source and stream, sources first, then their streams.
pub async fn last_runs(pool: &PgPool) -> Result<Vec<LastRun>, sqlx::Error> {
    sqlx::query_as!(
        LastRun,
        "SELECT id AS \"id!\", source AS \"source!\", stream, trigger AS \"trigger!\", \
         status AS \"status!\", started_at AS \"started_at!\", finished_at, \
         records_fetched AS \"records_fetched!\", requests AS \"requests!\", \
         throttled AS \"throttled!\", rows_inserted AS \"rows_inserted!\", \
         rows_updated AS \"rows_updated!\", rows_unchanged AS \"rows_unchanged!\", \
         rows_deleted AS \"rows_deleted!\", rows_rejected AS \"rows_rejected!\", error \
         FROM (SELECT DISTINCT ON (source, stream) id, source, stream, trigger, status, \
         started_at, finished_at, records_fetched, requests, throttled, rows_inserted, rows_updated, \
         rows_unchanged, rows_deleted, rows_rejected, error \
         FROM tributary.sync_runs ORDER BY source, stream NULLS FIRST, started_at DESC, id DESC) r \
         ORDER BY source, stream IS NOT NULL, id",
    )
    .fetch_all(pool)
    .await
}

/// When each source's last successful pass finished (any process), by source.
pub async fn last_successes(
    pool: &PgPool,
) -> Result<BTreeMap<String, chrono::DateTime<chrono::Utc>>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT source, max(finished_at) AS \"finished_at!\" FROM tributary.sync_runs \
         WHERE stream IS NULL AND status = 'succeeded' GROUP BY source",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.source, row.finished_at))
        .collect())
}
