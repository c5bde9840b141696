//! Per-object refresh streams: objects fetched one by one, most urgent first, for as long as
//! the budget allows, each with the parts its children have (e.g. a position's bill of
//! materials). An object is stored in one transaction: its rows and its parts upserted, its
//! vanished children and parts soft-deleted, the source's bookkeeping and the checkpoint
//! written. An object that answers 404 is soft-deleted when its source's own listing
//! confirms it, behind the deletion guard when many do at once.
//!
//! The source declares the tables, paths and bookkeeping statements, and answers which
//! objects are due (discovery and priority) through [`Refresh`].

use std::collections::HashSet;

use chrono_tz::UTC;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, PgPool};

use super::apply::{Batch, Deletes, GuardTrip, Staging};
use super::context::StreamContext;
use super::error::SyncError;
use super::normalize::Normalizer;
use super::profile::Profile;
use super::table::Table;
use super::values::{copy_line, row_line, unstorable};
use crate::db::checkpoints;
use crate::db::rejects::{self, Reject};
use crate::db::runs::{RunCounts, TableCounts};
use crate::http::{ApiClient, path_segment};

/// An object due for a fetch.
#[derive(Debug, Clone)]
pub struct Due {
    /// The object's key as stored and compared.
    pub key: String,
    /// The name it is asked for by (one URL path segment).
    pub ask: String,
    /// Lower is more urgent (for the logs and the checkpoint).
    pub priority: i32,
    /// The source itself vouches for the object (listed it, or returned it before): only
    /// then can a 404 mean a deletion.
    pub vouched: bool,
    /// The source's listing still has the object: a 404 is then a glitch, not a deletion.
    pub listed: bool,
}

/// The source's part of a refresh: which objects are due, and which 404s its own listing
/// confirms.
pub trait Refresh: Send + Sync {
    /// The objects due for a fetch, most urgent first.
    fn due<'a>(&'a self, pool: &'a PgPool) -> BoxFuture<'a, Result<Vec<Due>, sqlx::Error>>;
    /// Of `keys` (objects that answered 404), those the source's listing had once and has
    /// no more: deletions the listing confirms.
    fn confirmed_gone<'a>(
        &'a self,
        pool: &'a PgPool,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<HashSet<String>, sqlx::Error>>;
}

/// Rows fetched for each child of an object, one request per child.
pub struct Parts {
    /// Names the parts in reject keys (`<name>/<child>`).
    pub name: &'static str,
    /// The object's array of children, and the field naming each child.
    pub of: &'static str,
    pub named_by: &'static str,
    /// GET path prefix; the child's name follows as one path segment.
    pub path: &'static str,
    /// The answer's array of lines, and each line's number.
    pub lines: &'static str,
    pub line_key: &'static str,
    /// Field added to every line, holding the object's key.
    pub object_field: &'static str,
    /// Keyed by the child's name, then the line's number.
    pub table: Table,
}

pub struct RefreshStream {
    pub name: &'static str,
    /// The object's table and its children's.
    pub table: Table,
    /// GET path prefix; the object's name follows as one path segment.
    pub path: &'static str,
    pub parts: Option<Parts>,
    /// Run in the transaction that stores an object (`$1`: its key).
    pub stored_sql: &'static str,
    /// Run when an object is gone (`$1`: its key), with its rows' soft-deletion.
    pub gone_sql: &'static str,
    /// Condition on the object's tables matching its rows (`$1`: its key).
    pub rows_of: &'static str,
    pub hooks: Box<dyn Refresh>,
}

/// Fetches the objects due, most urgent first, and stores each in one transaction.
pub async fn sync(
    ctx: &StreamContext<'_>,
    client: &ApiClient,
    stream: &RefreshStream,
    counts: &mut RunCounts,
    profile: &mut Profile,
) -> Result<(), SyncError> {
    let due = stream.hooks.due(ctx.pool).await?;
    tracing::info!(
        stream = stream.name,
        due = due.len(),
        vouched = due.iter().filter(|d| d.vouched).count(),
        "objects due for a refresh"
    );
    let mut rejected = Vec::new();
    let mut missing: Vec<&Due> = Vec::new();
    let mut vouched_asked = 0i64;
    let mut result = Ok(());
    for (done, object) in due.iter().enumerate() {
        if ctx.stopping() {
            result = Err(SyncError::Cancelled);
            break;
        }
        // `.` and `..` cannot be asked for (in a URL they move within the path): such a
        // name is one the source cannot know.
        if matches!(object.ask.trim(), "." | "..") {
            missing.push(object);
            continue;
        }
        let path = format!("{}{}", stream.path, path_segment(&object.ask));
        let fetched = client
            .get_json::<Value>(&path, ctx.settings.max_record_bytes)
            .await;
        counts.fetched += 1;
        match fetched {
            Ok(value) => {
                vouched_asked += i64::from(object.vouched);
                profile.record(&value);
                let cursor = json!({"last": object.key, "priority": object.priority, "done": done + 1, "due": due.len()});
                if let Err(e) = fetch_and_store(
                    ctx,
                    client,
                    stream,
                    object,
                    &value,
                    cursor,
                    counts,
                    &mut rejected,
                )
                .await
                {
                    result = Err(e);
                    break;
                }
            }
            Err(e) if e.is_not_found() => {
                vouched_asked += i64::from(object.vouched);
                missing.push(object);
            }
            // Not storable as it came: set aside, the stored object kept, asked again.
            Err(e) if e.unreadable().is_some() => {
                let (message, head) = e.unreadable().expect("matched");
                rejected.push(Reject {
                    key: Some(object.key.clone()),
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
    let (unknown, gone): (Vec<&Due>, Vec<&Due>) = missing.into_iter().partition(|d| !d.vouched);
    // Names the source never vouched for are remembered as unknown whatever else happens:
    // that deletes nothing and saves asking again too soon.
    for object in &unknown {
        not_found(ctx, stream, object, counts).await?;
    }
    if !unknown.is_empty() {
        tracing::info!(
            stream = stream.name,
            unknown = unknown.len(),
            "names other sources or the configuration give that the source does not know; asking again later"
        );
    }
    // A pass cut off by a shutdown judges nothing on its partial set.
    if matches!(result, Err(SyncError::Cancelled)) {
        return result;
    }
    // A 404 for an object the source's listing no longer has is a deletion the listing
    // confirms. Many other 404s at once smell of a wrong base_url or a broken proxy.
    let keys: Vec<String> = gone.iter().map(|d| d.key.clone()).collect();
    let confirmed = stream.hooks.confirmed_gone(ctx.pool, &keys).await?;
    let (confirmed, suspect): (Vec<&Due>, Vec<&Due>) =
        gone.into_iter().partition(|d| confirmed.contains(&d.key));
    for object in &confirmed {
        not_found(ctx, stream, object, counts).await?;
    }
    let asked = vouched_asked - confirmed.len() as i64;
    let trip = suspect.len() > 2
        && ctx
            .delete_policy()
            .refuses(suspect.len() as i64, asked, false);
    if trip {
        return Err(SyncError::Guard(GuardTrip::NotFound {
            table: stream.table.name.to_string(),
            missing: suspect.len() as i64,
            vouched: asked,
        }));
    }
    for object in &suspect {
        not_found(ctx, stream, object, counts).await?;
    }
    result
}

/// Normalizes a fetched object, fetches its parts and stores it all in one transaction. An
/// object that cannot be normalized is set aside (its stored rows kept); a part that
/// cannot be fetched stops the stream with nothing of the object stored.
#[allow(clippy::too_many_arguments)]
async fn fetch_and_store(
    ctx: &StreamContext<'_>,
    client: &ApiClient,
    stream: &RefreshStream,
    object: &Due,
    value: &Value,
    cursor: Value,
    counts: &mut RunCounts,
    rejected: &mut Vec<Reject>,
) -> Result<(), SyncError> {
    let mut normalizer = Normalizer::new(stream.table.clone(), UTC);
    let rows = match normalizer.record(value) {
        Ok(rows) => rows,
        Err(problem) => {
            rejected.push(Reject {
                key: Some(object.key.clone()),
                payload: value.clone(),
                error: problem.error,
            });
            return Ok(());
        }
    };
    let stored_key = normalizer
        .key_of(value)
        .expect("a normalized record has a key");
    let scope = vec![stored_key[0].clone()];
    let mut batch = Batch::new(stream.table.flatten().len());
    for (i, line) in rows {
        batch.rows[i].push_str(&line);
        batch.counts[i] += 1;
    }
    let parts = match &stream.parts {
        Some(parts) => Some(fetch_parts(ctx, client, parts, object, value, rejected).await?),
        None => None,
    };

    let mut tx = ctx.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("tributary:{}:{}", ctx.source, stream.name))
        .execute(&mut *tx)
        .await?;
    let mut staging = Staging::create(&mut tx, &stream.table, "_object_").await?;
    staging.stage(&mut tx, batch).await?;
    let mut applied = vec![
        staging
            .merge(&mut tx, ctx.run_id, Deletes::Within(&scope))
            .await?,
    ];
    if let (Some(spec), Some((batch, scope))) = (&stream.parts, parts) {
        let mut staging = Staging::create(&mut tx, &spec.table, "_part_").await?;
        staging.stage(&mut tx, batch).await?;
        applied.push(
            staging
                .merge(&mut tx, ctx.run_id, Deletes::Within(&scope))
                .await?,
        );
    }
    sqlx::query(AssertSqlSafe(stream.stored_sql))
        .bind(&object.key)
        .execute(&mut *tx)
        .await?;
    checkpoints::write(&mut *tx, ctx.source, stream.name, cursor, ctx.run_id).await?;
    tx.commit().await?;
    for (table, c) in applied.iter().flatten() {
        counts.add_table(table, c);
    }
    Ok(())
}

/// Fetches the parts of every child of `value`: their rows, and the children whose parts
/// were read whole (their other stored lines go). A child that answers 404 has none.
async fn fetch_parts(
    ctx: &StreamContext<'_>,
    client: &ApiClient,
    parts: &Parts,
    object: &Due,
    value: &Value,
    rejected: &mut Vec<Reject>,
) -> Result<(Batch, Vec<String>), SyncError> {
    let mut batch = Batch::new(1);
    let mut scope = Vec::new();
    for child in value[parts.of].as_array().into_iter().flatten() {
        let Some(name) = child[parts.named_by].as_str() else {
            continue;
        };
        if matches!(name, "." | "..") {
            rejected.push(Reject {
                key: Some(format!("{}/{name}", parts.name)),
                payload: child.clone(),
                error: format!(
                    "`{name}` cannot be asked for its {}: in a URL it would reach another resource",
                    parts.name
                ),
            });
            continue;
        }
        let path = format!("{}{}", parts.path, path_segment(name));
        let answer: Value = match client.get_json(&path, ctx.settings.max_record_bytes).await {
            Ok(answer) => answer,
            Err(e) if e.is_not_found() => json!({ parts.lines: [] }),
            Err(e) if e.unreadable().is_some() => {
                let (message, head) = e.unreadable().expect("matched");
                rejected.push(Reject {
                    key: Some(format!("{}/{name}", parts.name)),
                    payload: rejects::unreadable_payload(head),
                    error: message.to_string(),
                });
                continue;
            }
            Err(e) => return Err(SyncError::Http(e)),
        };
        scope.push(name.to_string());
        for line in answer[parts.lines].as_array().into_iter().flatten() {
            let Some(fields) = line.as_object() else {
                continue;
            };
            let Some(number) = fields.get(parts.line_key).and_then(Value::as_i64) else {
                continue;
            };
            let mut values = fields.clone();
            values.insert(parts.object_field.into(), json!(object.key));
            let key = vec![name.to_string(), number.to_string()];
            let row = match unstorable(line, "") {
                Some(problem) => Err(problem),
                None => row_line(&parts.table, &key, &values, line, UTC),
            };
            match row {
                Ok(row) => {
                    batch.rows[0].push_str(&row);
                    batch.counts[0] += 1;
                }
                Err(error) => {
                    // Set aside: the line stored under its key stays as it is.
                    batch.keep.push_str(&copy_line(&key));
                    rejected.push(Reject {
                        key: Some(key.join("/")),
                        payload: line.clone(),
                        error,
                    });
                }
            }
        }
    }
    Ok((batch, scope))
}

/// The source does not know the object (any more): its bookkeeping notes it and its rows
/// are soft-deleted, unless its listing still has it (then it is asked again next run).
async fn not_found(
    ctx: &StreamContext<'_>,
    stream: &RefreshStream,
    object: &Due,
    counts: &mut RunCounts,
) -> Result<(), sqlx::Error> {
    if object.listed {
        tracing::warn!(
            stream = stream.name,
            key = object.key,
            "the source answers 404 for an object its listing still has; keeping it and asking again next run"
        );
        return Ok(());
    }
    let mut tx = ctx.pool.begin().await?;
    sqlx::query(AssertSqlSafe(stream.gone_sql))
        .bind(&object.key)
        .execute(&mut *tx)
        .await?;
    for table in stream.table.flatten() {
        let deleted = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {} SET _deleted_at = now(), _run_id = $2 WHERE {} AND _deleted_at IS NULL",
            table.name, stream.rows_of
        )))
        .bind(&object.key)
        .bind(ctx.run_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.add_table(
            table.name,
            &TableCounts {
                deleted,
                ..TableCounts::default()
            },
        );
    }
    tx.commit().await?;
    tracing::info!(
        stream = stream.name,
        key = object.key,
        "the source does not know this object; asking again later"
    );
    Ok(())
}
