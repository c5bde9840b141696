//! What `tributary status` reports: per source whether it is enabled, its schedule and next
//! run, its last pass and last success; the latest run per source and stream; live and
//! soft-deleted rows per synced table and the versions its history keeps; the request
//! budget of every source that has one; the work a source has queued (its backlog), with
//! when the budget will have done it; and the latest changes in what the vendors send (the
//! field catalogue's schema changes).

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;

use crate::config::Settings;
use crate::db::runs::{self, LastRun};
use crate::http::budget::{self, Usage};
use crate::sources::REGISTRY;

#[derive(Debug, Serialize)]
pub struct Status {
    pub sources: Vec<SourceStatus>,
    pub runs: Vec<LastRun>,
    pub tables: Vec<TableRows>,
    pub budgets: Vec<Usage>,
    pub backlogs: Vec<Backlog>,
    /// The latest changes in what the vendors send (`tributary.schema_changes`).
    pub schema_changes: Vec<SchemaChange>,
}

/// How many recent schema changes `status` shows, and from how far back.
pub const RECENT_SCHEMA_CHANGES: i64 = 20;
pub const RECENT_SCHEMA_CHANGE_DAYS: i32 = 7;

/// A change of the field catalogue.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct SchemaChange {
    pub changed_at: chrono::DateTime<chrono::Utc>,
    pub source: String,
    pub stream: String,
    pub kind: String,
    pub path: String,
    pub old_types: Option<Vec<String>>,
    pub new_types: Option<Vec<String>>,
    pub run_id: Option<i64>,
}

/// A source as `tributary run` sees it.
#[derive(Debug, Serialize)]
pub struct SourceStatus {
    pub source: &'static str,
    pub enabled: bool,
    /// `sources.<name>.schedule` (cron with seconds, UTC).
    pub schedule: String,
    /// The schedule's next tick (whether a daemon runs is not known here).
    pub next_run: Option<chrono::DateTime<chrono::Utc>>,
    /// Outcome of the latest pass, if any.
    pub last_status: Option<String>,
    pub last_success_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Rows of one synced table.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct TableRows {
    pub table: String,
    /// Rows the source still lists (`_deleted_at IS NULL`).
    pub live: i64,
    pub soft_deleted: i64,
    /// Versions its `<table>_history` view shows, the current rows included (0 without one).
    pub history_rows: i64,
    /// What its history takes beyond the table itself: the size of `<table>_superseded` on
    /// disk, indexes and TOAST included (`pg_total_relation_size`).
    pub history_bytes: i64,
}

/// Objects a source has queued for a fetch, and when the current budget will have done them.
#[derive(Debug, Serialize)]
pub struct Backlog {
    pub source: &'static str,
    /// What is pending, e.g. `project(s)`.
    pub what: &'static str,
    pub pending: usize,
    /// Requests one window allows this integration (`requests - reserve`).
    pub requests_per_window: u32,
    pub window_secs: u64,
    /// When all pending objects will have been fetched, at one request each and the full
    /// budget (parts, e.g. aircalc's BOMs, cost one more request each).
    pub all_refreshed_by: chrono::DateTime<chrono::Utc>,
}

pub async fn collect(pool: &PgPool, settings: &Settings) -> Result<Status, sqlx::Error> {
    let mut runs = runs::last_runs(pool).await?;
    // A run shown `running` whose source no live process holds was cut off by a kill or a
    // crash; the source's next pass records it failed.
    let mut orphaned = Vec::new();
    for name in REGISTRY.iter().map(|r| r.name) {
        let stale = runs
            .iter()
            .any(|r| r.source == name && r.status == "running");
        if stale && !crate::sync::pass_in_progress(pool, name).await? {
            orphaned.push(name);
        }
    }
    if !orphaned.is_empty() {
        // Read again: a pass that ended between the read and the look is not interrupted.
        runs = runs::last_runs(pool).await?;
        for run in runs
            .iter_mut()
            .filter(|r| r.status == "running" && orphaned.contains(&r.source.as_str()))
        {
            run.status = "interrupted".into();
            run.error = Some(
                "its process stopped without finishing it; the next pass of this source records it failed"
                    .into(),
            );
        }
    }
    let last_successes = runs::last_successes(pool).await?;
    let now = chrono::Utc::now();
    let mut sources = Vec::new();
    for name in REGISTRY.iter().map(|r| r.name) {
        let Some(common) = settings.source_common(name) else {
            continue;
        };
        sources.push(SourceStatus {
            source: name,
            enabled: common.enabled,
            schedule: common.schedule.clone(),
            next_run: crate::schedule::parse(&common.schedule)
                .ok()
                .and_then(|cron| crate::schedule::next_tick(&cron, now)),
            last_status: runs
                .iter()
                .find(|r| r.source == name && r.stream.is_none())
                .map(|r| r.status.clone()),
            last_success_at: last_successes.get(name).copied(),
        });
    }
    let tables = table_rows(pool).await?;
    let mut budgets = Vec::new();
    for name in REGISTRY.iter().map(|r| r.name) {
        let Some(common) = settings.source_common(name) else {
            continue;
        };
        budgets.extend(budget::configured_usage(pool, name, &common.budget).await?);
    }
    let mut backlogs = Vec::new();
    for registration in REGISTRY {
        let Some(backlog) = &registration.backlog else {
            continue;
        };
        let Some(common) = settings.source_common(registration.name) else {
            continue;
        };
        if !common.enabled {
            continue;
        }
        let Some(usage) = budget::configured_usage(pool, registration.name, &common.budget).await?
        else {
            continue;
        };
        let pending = (backlog.pending)(pool, settings).await?;
        backlogs.push(estimate(registration.name, backlog.what, pending, &usage));
    }
    let schema_changes = sqlx::query_as(
        "SELECT changed_at, source, stream, kind, path, old_types, new_types, run_id \
         FROM tributary.schema_changes WHERE changed_at > now() - make_interval(days => $1) \
         ORDER BY changed_at DESC, id DESC LIMIT $2",
    )
    .bind(RECENT_SCHEMA_CHANGE_DAYS)
    .bind(RECENT_SCHEMA_CHANGES)
    .fetch_all(pool)
    .await?;
    Ok(Status {
        sources,
        runs,
        tables,
        budgets,
        backlogs,
        schema_changes,
    })
}

/// When `pending` requests will have been sent at the full budget: what the current window
/// still allows goes now; the rest needs whole windows, the first of which starts when the
/// current one's oldest request leaves it.
fn estimate(source: &'static str, what: &'static str, pending: usize, usage: &Usage) -> Backlog {
    let per_window = usage.limit as u32;
    let window = Duration::from_secs(usage.window_secs);
    let now_left = usage.remaining.max(0) as usize;
    let all_refreshed_by = if pending <= now_left {
        chrono::Utc::now()
    } else {
        let windows = (pending - now_left).div_ceil(per_window as usize) as u32;
        let first = usage.next_slot_frees_at.unwrap_or_else(chrono::Utc::now);
        first + chrono::Duration::from_std(window * windows.saturating_sub(1)).unwrap_or_default()
    };
    Backlog {
        source,
        what,
        pending,
        requests_per_window: per_window,
        window_secs: usage.window_secs,
        all_refreshed_by,
    }
}

/// Live and soft-deleted rows of every synced table (those with a `_deleted_at` column), the
/// versions its history view shows and the size of its table of superseded versions.
async fn table_rows(pool: &PgPool) -> Result<Vec<TableRows>, sqlx::Error> {
    let schemas: Vec<&str> = REGISTRY.iter().map(|r| r.name).collect();
    let names: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT format('%I.%I', c.table_schema, c.table_name), \
                to_regclass(format('%I.%I', c.table_schema, c.table_name || '_history'))::text, \
                to_regclass(format('%I.%I', c.table_schema, c.table_name || '_superseded'))::text \
         FROM information_schema.columns c \
         JOIN information_schema.tables t USING (table_schema, table_name) \
         WHERE c.column_name = '_deleted_at' AND c.table_schema = ANY($1) AND t.table_type = 'BASE TABLE' \
         ORDER BY 1",
    )
    .bind(&schemas)
    .fetch_all(pool)
    .await?;
    let mut tables = Vec::with_capacity(names.len());
    for (name, history, superseded) in names {
        // The name comes from the catalog, quoted by format('%I').
        let (live, soft_deleted): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FILTER (WHERE _deleted_at IS NULL), \
             count(*) FILTER (WHERE _deleted_at IS NOT NULL) FROM {name}"
        )))
        .fetch_one(pool)
        .await?;
        let (history_rows, history_bytes) = match (history, superseded) {
            // The names come from the catalog (regclass::text quotes them).
            (Some(history), Some(superseded)) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT count(*), pg_total_relation_size('{}'::regclass) FROM {history}",
                    superseded.replace('\'', "''")
                )))
                .fetch_one(pool)
                .await?
            }
            _ => (0, 0),
        };
        tables.push(TableRows {
            table: name,
            live,
            soft_deleted,
            history_rows,
            history_bytes,
        });
    }
    Ok(tables)
}
