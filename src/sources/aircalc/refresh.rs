//! The budget-aware project refresh: which project numbers exist (discovery), in which order
//! they are fetched, and storing a fetched project with its positions (and BOMs), or a 404.
//! Each project is committed on its own, so a run that runs out of budget keeps its place.

use std::collections::HashSet;

use chrono_tz::UTC;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::model;
use super::settings::AircalcSettings;
use crate::db::rejects::{self, Reject};
use crate::db::runs::{RunCounts, TableCounts};
use crate::http::ApiClient;
use crate::sync::apply::{Applied, Batch, GuardTrip, Stager, soft_delete_missing};
use crate::sync::table::{ColType, Normalizer, Table, convert, row_line, unstorable};
use crate::sync::{StreamContext, SyncError};

/// Records every project number the sources name: pos-rows-aggregated (whose spelling is
/// the one asked of aircalc), PlanningNow orders and offers, and the configured list.
pub async fn discover(pool: &PgPool, configured: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO aircalc.project_refresh (project_no, fetch_no) \
         SELECT DISTINCT ON (aircalc.match_key(project_no)) aircalc.match_key(project_no), btrim(project_no) \
         FROM aircalc.pos_rows WHERE _deleted_at IS NULL AND aircalc.match_key(project_no) <> '' \
         ORDER BY aircalc.match_key(project_no), project_no \
         ON CONFLICT (project_no) DO UPDATE SET fetch_no = EXCLUDED.fetch_no \
         WHERE project_refresh.fetch_no IS DISTINCT FROM EXCLUDED.fetch_no",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO aircalc.project_refresh (project_no, fetch_no) \
         SELECT DISTINCT ON (aircalc.match_key(no)) aircalc.match_key(no), btrim(no, E' \\t\\r\\n\\f') FROM ( \
           SELECT project_no AS no FROM planningnow.orders WHERE _deleted_at IS NULL \
           UNION SELECT project_no FROM planningnow.offers WHERE _deleted_at IS NULL \
           UNION SELECT unnest($1::text[]) \
         ) numbers WHERE aircalc.match_key(no) <> '' \
         ORDER BY aircalc.match_key(no), no \
         ON CONFLICT (project_no) DO NOTHING",
    )
    .bind(configured)
    .execute(pool)
    .await?;
    Ok(())
}

/// A project due for a fetch.
#[derive(Debug, sqlx::FromRow)]
pub struct Due {
    /// The number as compared across systems.
    pub project_no: String,
    /// The number as asked of aircalc.
    pub fetch_no: String,
    pub priority: i32,
}

/// Project numbers due for a fetch, most urgent first: (1) named by a PlanningNow order or
/// offer (or the configuration) and not stored yet; (2) rows in pos-rows-aggregated changed
/// or removed since the last fetch; (3) the least recently refreshed, once older than
/// `refresh_after`. Numbers that answered 404 wait `not_found_retry`, unless
/// pos-rows-aggregated has listed them since (aircalc knows them now).
pub async fn queue(pool: &PgPool, settings: &AircalcSettings) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(QUEUE)
        .bind(&settings.projects)
        .bind(settings.refresh_after.as_secs_f64())
        .bind(settings.not_found_retry.as_secs_f64())
        .fetch_all(pool)
        .await
}

/// The latest change of a project's pos-rows (content change or removal), by match key.
const ROWS_CHANGED: &str = "SELECT aircalc.match_key(project_no) AS no, \
    max(greatest(_changed_at, coalesce(_deleted_at, _changed_at))) AS changed_at \
    FROM aircalc.pos_rows GROUP BY 1";

const QUEUE: &str = "\
WITH named AS (
    SELECT aircalc.match_key(project_no) AS no FROM planningnow.orders WHERE _deleted_at IS NULL
    UNION SELECT aircalc.match_key(project_no) FROM planningnow.offers WHERE _deleted_at IS NULL
    UNION SELECT aircalc.match_key(c) FROM unnest($1::text[]) AS c
), rows AS (
    SELECT aircalc.match_key(project_no) AS no,
           max(greatest(_changed_at, coalesce(_deleted_at, _changed_at))) AS changed_at
    FROM aircalc.pos_rows GROUP BY 1
), ranked AS (
    SELECT r.project_no, r.fetch_no, r.last_fetched_at,
           CASE WHEN r.project_no IN (SELECT no FROM named)
                     AND NOT EXISTS (SELECT 1 FROM aircalc.projects p
                                     WHERE aircalc.match_key(p.project_no) = r.project_no AND p._deleted_at IS NULL) THEN 1
                WHEN rows.changed_at > coalesce(r.rows_updated_at, '-infinity') THEN 2
                ELSE 3 END AS priority
    FROM aircalc.project_refresh r
    LEFT JOIN rows ON rows.no = r.project_no
    WHERE r.not_found_at IS NULL OR r.not_found_at < now() - make_interval(secs => $3)
       OR rows.changed_at > r.not_found_at
)
SELECT project_no, fetch_no, priority FROM ranked
WHERE priority < 3 OR last_fetched_at IS NULL OR last_fetched_at < now() - make_interval(secs => $2)
ORDER BY priority, last_fetched_at NULLS FIRST, project_no";

/// The numbers among `due` that aircalc itself vouches for: listed by pos-rows-aggregated,
/// or stored from an earlier fetch (and not deleted since). Only their 404s can mean a
/// deletion, so only they feed the wrong-`base_url` heuristic; a 404 for a number only
/// PlanningNow or the configuration names is a plain "unknown".
async fn vouched(pool: &PgPool, due: &[Due]) -> Result<HashSet<String>, sqlx::Error> {
    let numbers: Vec<&str> = due.iter().map(|d| d.project_no.as_str()).collect();
    let vouched: Vec<String> = sqlx::query_scalar(
        "SELECT n FROM unnest($1::text[]) AS n WHERE \
         EXISTS (SELECT 1 FROM aircalc.pos_rows r WHERE aircalc.match_key(r.project_no) = n AND r._deleted_at IS NULL) \
         OR EXISTS (SELECT 1 FROM aircalc.projects p WHERE aircalc.match_key(p.project_no) = n AND p._deleted_at IS NULL)",
    )
    .bind(&numbers)
    .fetch_all(pool)
    .await?;
    Ok(vouched.into_iter().collect())
}

/// The numbers among `numbers` that pos-rows-aggregated listed once and lists no more.
async fn delisted(pool: &PgPool, numbers: &[String]) -> Result<HashSet<String>, sqlx::Error> {
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT n FROM unnest($1::text[]) AS n WHERE \
         EXISTS (SELECT 1 FROM aircalc.pos_rows r WHERE aircalc.match_key(r.project_no) = n) \
         AND NOT EXISTS (SELECT 1 FROM aircalc.pos_rows r WHERE aircalc.match_key(r.project_no) = n AND r._deleted_at IS NULL)",
    )
    .bind(numbers)
    .fetch_all(pool)
    .await?;
    Ok(found.into_iter().collect())
}

/// Fetches due projects in priority order for as long as the budget allows.
pub async fn refresh(
    ctx: &StreamContext<'_>,
    client: &ApiClient,
    settings: &AircalcSettings,
    counts: &mut RunCounts,
) -> Result<(), SyncError> {
    discover(ctx.pool, &settings.projects).await?;
    let due = queue(ctx.pool, settings).await?;
    let vouched = vouched(ctx.pool, &due).await?;
    tracing::info!(
        due = due.len(),
        vouched = vouched.len(),
        "aircalc projects due for a refresh"
    );
    let projects = model::projects();
    let mut rejected = Vec::new();
    let mut missing = Vec::new();
    let mut vouched_asked = 0i64;
    let mut result = Ok(());
    for (
        done,
        Due {
            project_no,
            fetch_no,
            priority,
        },
    ) in due.iter().enumerate()
    {
        if ctx.stopping() {
            result = Err(SyncError::Cancelled);
            break;
        }
        // `.` and `..` cannot be asked for (in a URL they move within the path): such a
        // number is one aircalc cannot know.
        if matches!(fetch_no.trim(), "." | "..") {
            missing.push(project_no.clone());
            continue;
        }
        let path = format!(
            "/project-by-no/v0/{}",
            crate::sync::delta::path_segment(fetch_no)
        );
        let fetched = client
            .get_json::<Value>(&path, ctx.settings.max_record_bytes)
            .await;
        counts.fetched += 1;
        let cursor = json!({"last_project": project_no, "priority": priority, "done": done + 1, "due": due.len()});
        match fetched {
            Ok(project) => {
                vouched_asked += i64::from(vouched.contains(project_no));
                match store_project(ctx, &projects, &project, project_no, &cursor, counts).await? {
                    Some(reject) => rejected.push(reject),
                    None if settings.fetch_bom => {
                        if let Err(e) =
                            store_boms(ctx, client, &project, project_no, counts, &mut rejected)
                                .await
                        {
                            result = Err(e);
                            break;
                        }
                    }
                    None => {}
                }
            }
            Err(e) if e.is_not_found() => {
                vouched_asked += i64::from(vouched.contains(project_no));
                missing.push(project_no.clone());
            }
            // Not storable as it came: set aside, the stored project kept, asked again.
            Err(e) if e.unreadable().is_some() => {
                let (message, head) = e.unreadable().expect("matched");
                rejected.push(Reject {
                    key: Some(project_no.clone()),
                    payload: rejects::unreadable_payload(head),
                    error: message.to_string(),
                });
            }
            Err(e) => {
                result = Err(SyncError::Http(e));
                break;
            }
        }
    }
    counts.rejected = rejected.len() as u64;
    rejects::record(ctx.pool, ctx.source, ctx.stream, ctx.run_id, &rejected).await?;
    let (unknown, gone): (Vec<String>, Vec<String>) =
        missing.into_iter().partition(|no| !vouched.contains(no));
    // Numbers aircalc never vouched for are remembered as unknown whatever else happens:
    // that deletes nothing and saves asking again before `not_found_retry_days`.
    for project_no in &unknown {
        not_found(ctx, project_no, counts).await?;
    }
    if !unknown.is_empty() {
        tracing::info!(
            unknown = unknown.len(),
            "project numbers named by PlanningNow or the configuration that aircalc does not know; asking again after not_found_retry_days"
        );
    }
    // A pass cut off by a shutdown judges nothing on its partial set.
    if matches!(result, Err(SyncError::Cancelled)) {
        return result;
    }
    // A 404 for a project whose rows this pass's pos-rows listing no longer has is a
    // deletion the listing confirms. Many other 404s at once smell of a wrong base_url or a
    // broken proxy, not of deleted projects.
    let confirmed = delisted(ctx.pool, &gone).await?;
    let (confirmed, suspect): (Vec<String>, Vec<String>) =
        gone.into_iter().partition(|no| confirmed.contains(no));
    for project_no in &confirmed {
        not_found(ctx, project_no, counts).await?;
    }
    let asked = vouched_asked - confirmed.len() as i64;
    let trip = suspect.len() > 2
        && ctx
            .delete_policy()
            .refuses(suspect.len() as i64, asked, false);
    if trip {
        return Err(SyncError::Guard(GuardTrip::NotFound {
            table: projects.name.to_string(),
            missing: suspect.len() as i64,
            vouched: asked,
        }));
    }
    for project_no in &suspect {
        not_found(ctx, project_no, counts).await?;
    }
    result
}

/// Adds one table's counts to a run's.
pub(super) fn add(counts: &mut RunCounts, table: &str, c: &TableCounts) {
    let t = counts.tables.entry(table.to_string()).or_default();
    t.inserted += c.inserted;
    t.updated += c.updated;
    t.unchanged += c.unchanged;
    t.deleted += c.deleted;
}

/// Upserts a project and its positions, soft-deletes positions it no longer has, and notes
/// the fetch. A project that cannot be normalized is returned as a reject.
async fn store_project(
    ctx: &StreamContext<'_>,
    projects: &Table,
    project: &Value,
    project_no: &str,
    cursor: &Value,
    counts: &mut RunCounts,
) -> Result<Option<Reject>, sqlx::Error> {
    let rows = match Normalizer::new(projects.clone(), UTC).record(project) {
        Ok(rows) => rows,
        Err(rejected) => {
            return Ok(Some(Reject {
                key: Some(project_no.to_string()),
                payload: project.clone(),
                error: rejected.error,
            }));
        }
    };
    let text = |v: &Value| {
        convert(ColType::Text, v, UTC)
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    let stored_no = text(&project["projectNo"]);
    let positions: Vec<Vec<String>> = project["positions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| vec![stored_no.clone(), text(&p["posNo"])])
        .collect();
    let mut batch = Batch::new(2);
    for (i, line) in rows {
        batch.rows[i].push_str(&line);
        batch.counts[i] += 1;
    }
    let lock = format!("tributary:{}:{}", ctx.source, ctx.stream);
    let mut stager = Stager::begin(ctx.pool, projects, &lock).await?;
    stager.stage(batch).await?;
    if let Applied::Done(done) = stager
        .finish(ctx.run_id, None, (ctx.source, ctx.stream, cursor.clone()))
        .await?
    {
        for (table, c) in &done {
            add(counts, table, c);
        }
    }
    let positions_table = &projects.children[0].1;
    let deleted = soft_delete_missing(
        ctx.pool,
        positions_table,
        std::slice::from_ref(&stored_no),
        &positions,
        &[],
        ctx.run_id,
        (ctx.source, ctx.stream, cursor.clone()),
    )
    .await?;
    add(
        counts,
        positions_table.name,
        &TableCounts {
            deleted,
            ..TableCounts::default()
        },
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE aircalc.project_refresh r SET last_fetched_at = now(), not_found_at = NULL, \
         rows_updated_at = (SELECT changed_at FROM ({ROWS_CHANGED}) rows WHERE rows.no = r.project_no) \
         WHERE r.project_no = $1"
    )))
    .bind(project_no)
    .execute(ctx.pool)
    .await?;
    Ok(None)
}

/// aircalc does not know the number (any more): note it, and soft-delete what was stored.
async fn not_found(
    ctx: &StreamContext<'_>,
    project_no: &str,
    counts: &mut RunCounts,
) -> Result<(), sqlx::Error> {
    let listed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM aircalc.pos_rows WHERE aircalc.match_key(project_no) = $1 \
         AND _deleted_at IS NULL)",
    )
    .bind(project_no)
    .fetch_one(ctx.pool)
    .await?;
    if listed {
        tracing::warn!(
            project_no,
            "aircalc answers 404 for a project pos-rows-aggregated still lists; keeping it and asking again next run"
        );
        return Ok(());
    }
    let mut tx = ctx.pool.begin().await?;
    sqlx::query("UPDATE aircalc.project_refresh SET not_found_at = now() WHERE project_no = $1")
        .bind(project_no)
        .execute(&mut *tx)
        .await?;
    for table in ["aircalc.projects", "aircalc.positions"] {
        let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET _deleted_at = now(), _run_id = $2 \
             WHERE aircalc.match_key(project_no) = $1 AND _deleted_at IS NULL"
        )))
        .bind(project_no)
        .bind(ctx.run_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        add(
            counts,
            table,
            &TableCounts {
                deleted,
                ..TableCounts::default()
            },
        );
    }
    tx.commit().await?;
    tracing::info!(
        project_no,
        "aircalc does not know this project number; asking again later"
    );
    Ok(())
}

/// Fetches and stores the bill of materials of every position of a project.
async fn store_boms(
    ctx: &StreamContext<'_>,
    client: &ApiClient,
    project: &Value,
    project_no: &str,
    counts: &mut RunCounts,
    rejected: &mut Vec<Reject>,
) -> Result<(), SyncError> {
    let table = model::bom_lines();
    let positions = project["positions"].as_array().cloned().unwrap_or_default();
    for position in positions {
        let Some(pos_no) = position["posNo"].as_str() else {
            continue;
        };
        if matches!(pos_no, "." | "..") {
            rejected.push(Reject {
                key: Some(format!("bom/{pos_no}")),
                payload: position.clone(),
                error: format!("the position `{pos_no}` cannot be asked for its BOM: in a URL it would reach another resource"),
            });
            continue;
        }
        let path = format!(
            "/ahu-bom-by-pos-no/v0/{}",
            crate::sync::delta::path_segment(pos_no)
        );
        let bom: Value = match client.get_json(&path, ctx.settings.max_record_bytes).await {
            Ok(bom) => bom,
            Err(e) if e.is_not_found() => json!({"lines": []}),
            Err(e) if e.unreadable().is_some() => {
                let (message, head) = e.unreadable().expect("matched");
                rejected.push(Reject {
                    key: Some(format!("bom/{pos_no}")),
                    payload: rejects::unreadable_payload(head),
                    error: message.to_string(),
                });
                continue;
            }
            Err(e) => return Err(SyncError::Http(e)),
        };
        let mut batch = Batch::new(1);
        let mut listed = Vec::new();
        for line in bom["lines"].as_array().into_iter().flatten() {
            let Some(obj) = line.as_object() else {
                continue;
            };
            let Some(line_no) = obj.get("lineNo").and_then(Value::as_i64) else {
                continue;
            };
            let mut values = obj.clone();
            values.insert(model::BOM_PROJECT.into(), json!(project_no));
            let key = vec![pos_no.to_string(), line_no.to_string()];
            let row = match unstorable(line, "") {
                Some(problem) => Err(problem),
                None => row_line(&table, &key, &values, &line.to_string(), UTC),
            };
            match row {
                Ok(row) => {
                    batch.rows[0].push_str(&row);
                    batch.counts[0] += 1;
                }
                Err(error) => rejected.push(Reject {
                    key: Some(key.join("/")),
                    payload: line.clone(),
                    error,
                }),
            }
            listed.push(key);
        }
        let lock = format!("tributary:{}:bom", ctx.source);
        let cursor = json!({"last_bom": pos_no});
        let mut stager = Stager::begin(ctx.pool, &table, &lock).await?;
        stager.stage(batch).await?;
        if let Applied::Done(done) = stager
            .finish(ctx.run_id, None, (ctx.source, "bom_lines", cursor.clone()))
            .await?
        {
            for (name, c) in &done {
                add(counts, name, c);
            }
        }
        let deleted = soft_delete_missing(
            ctx.pool,
            &table,
            &[pos_no.to_string()],
            &listed,
            &[],
            ctx.run_id,
            (ctx.source, "bom_lines", cursor),
        )
        .await?;
        add(
            counts,
            table.name,
            &TableCounts {
                deleted,
                ..TableCounts::default()
            },
        );
    }
    Ok(())
}
