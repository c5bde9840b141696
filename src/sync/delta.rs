//! Delta streams: a list of every object with its update stamp, then details only for the
//! objects that are new or changed since they were stored, fetched in parallel within the
//! source's limits and committed in small batches with the checkpoint, so an interrupted run
//! resumes without fetching them again. Objects gone from the complete list (or whose detail
//! answers 404) are soft-deleted behind the deletion guard.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use sqlx::AssertSqlSafe;

use super::apply::{Batch, Deletes, GuardTrip, Stager, soft_delete_missing};
use super::context::StreamContext;
use super::error::SyncError;
use super::profile::Profile;
use super::table::Table;
use super::values::{row_line, unstorable};
use crate::db::rejects::{self, Reject};
use crate::db::runs::{RunCounts, TableCounts};
use crate::http::{ApiClient, HttpError, path_segment};

/// Details committed per transaction: a crash repeats at most this many.
const BATCH: usize = 16;

/// A stream listed as `[{guid|id, updatedAt, dtype}]`, with details at `<list_path>/<guid>`.
#[derive(Debug, Clone)]
pub struct DeltaStream {
    pub name: &'static str,
    pub list_path: String,
    /// Key: the `scope` columns, then the object's id. Columns `dtype` and `updated_at` are
    /// read from the list item, the others from the detail.
    pub table: Table,
    /// Values of the leading key columns shared by the whole stream (e.g. the entity name).
    pub scope: Vec<String>,
    /// A view of the stream's rows to infer from the field catalogue (`schema.name`), for
    /// records stored only as `raw`.
    pub view: Option<String>,
}

/// Field names under which the list item's values are handed to the table spec.
pub const LIST_DTYPE: &str = "__list_dtype";
pub const LIST_UPDATED_AT: &str = "__list_updated_at";

struct Item {
    key: String,
    dtype: Option<String>,
    updated_ms: i64,
}

/// Lists, fetches what is new or changed, and soft-deletes what vanished.
pub async fn sync(
    ctx: &StreamContext<'_>,
    client: &ApiClient,
    stream: &DeltaStream,
    counts: &mut RunCounts,
    profile: &mut Profile,
) -> Result<(), SyncError> {
    let listing: Vec<Value> = client
        .get_json(&stream.list_path, ctx.settings.listing_limit())
        .await?;
    counts.fetched = listing.len() as u64;
    let mut rejected = Vec::new();
    let items = parse_list(listing, &mut rejected);
    let stored = load_stored(ctx, stream).await?;
    let listed: HashSet<String> = items
        .iter()
        .map(|i| i.key.clone())
        .chain(rejected.iter().filter_map(|r: &Reject| r.key.clone()))
        .collect();
    let live = stored.values().filter(|(_, deleted)| !deleted).count() as i64;
    let vanished = stored
        .iter()
        .filter(|(key, (_, deleted))| !deleted && !listed.contains(*key))
        .count() as i64;
    if ctx
        .delete_policy()
        .refuses(vanished, live, listed.is_empty())
    {
        rejects::record(ctx.pool, ctx.source, stream.name, ctx.run_id, &rejected).await?;
        counts.rejected = rejected.len() as u64;
        return Err(SyncError::Guard(GuardTrip::Listing {
            table: stream.table.name.to_string(),
            vanished,
            live,
        }));
    }
    let todo: Vec<usize> = (0..items.len())
        .filter(|&i| match stored.get(&items[i].key) {
            None => true,
            Some((ms, deleted)) => *deleted || *ms < items[i].updated_ms,
        })
        .collect();
    // A URL cannot name the ids `.` and `..` (they move within the path): such an object
    // is set aside, and the others go on.
    let (todo, unaskable): (Vec<usize>, Vec<usize>) = todo
        .into_iter()
        .partition(|&i| !matches!(items[i].key.as_str(), "." | ".."));
    for i in unaskable {
        rejected.push(Reject {
            key: Some(items[i].key.clone()),
            payload: json!({"id": items[i].key, "updatedAt": items[i].updated_ms}),
            error: format!(
                "the id `{}` cannot be asked for: in a URL it would reach another resource",
                items[i].key
            ),
        });
    }
    let mut totals = TableCounts {
        unchanged: (items.len() - todo.len()) as u64,
        ..TableCounts::default()
    };
    tracing::info!(
        stream = stream.name,
        listed = items.len(),
        to_fetch = todo.len(),
        "list compared with stored stamps"
    );

    let parallel = client.max_parallel();
    // After the first hard error no new request starts, but the ones in flight are still
    // stored: their budget is spent.
    let halt = AtomicBool::new(false);
    let mut details = futures_util::stream::iter(todo)
        .map(|i| {
            let key = items[i].key.clone();
            fetch_detail(client, &stream.list_path, i, key, &halt, ctx)
        })
        .buffer_unordered(parallel);
    let mut batch = Vec::new();
    let mut gone = Vec::new();
    let mut stopped = None;
    let mut skipped = false;
    let mut committed = 0u64;
    while let Some((i, detail)) = details.next().await {
        let item = &items[i];
        let Some(detail) = detail else {
            skipped = true;
            continue;
        };
        if let Ok(detail) = &detail {
            profile.record(detail);
        }
        match detail {
            Ok(detail) => match detail_row(stream, item, &detail) {
                Ok(line) => batch.push((item.updated_ms, line)),
                Err(error) => rejected.push(Reject {
                    key: Some(item.key.clone()),
                    payload: detail,
                    error,
                }),
            },
            Err(e) if e.is_not_found() => gone.push(key_of(stream, &item.key)),
            // One detail that is not storable JSON is set aside; the others go on.
            Err(e) if e.unreadable().is_some() => {
                let (message, head) = e.unreadable().expect("matched");
                rejected.push(Reject {
                    key: Some(item.key.clone()),
                    payload: rejects::unreadable_payload(head),
                    error: message.to_string(),
                });
            }
            Err(e) => {
                halt.store(true, Ordering::Relaxed);
                stopped.get_or_insert(e);
            }
        }
        if batch.len() >= BATCH {
            committed += batch.len() as u64;
            commit(
                ctx,
                stream,
                std::mem::take(&mut batch),
                committed,
                &mut totals,
            )
            .await?;
        }
    }
    drop(details);
    if !batch.is_empty() {
        committed += batch.len() as u64;
        commit(ctx, stream, batch, committed, &mut totals).await?;
    }
    counts.rejected = rejected.len() as u64;
    let result = match (stopped, skipped) {
        (Some(e), _) => Err(SyncError::Http(e)),
        (None, true) => Err(SyncError::Cancelled),
        (None, false) => {
            let all: Vec<Vec<String>> = listed.iter().map(|k| key_of(stream, k)).collect();
            let high_water = items.iter().map(|i| i.updated_ms).max();
            let cursor = json!({
                "last_complete_listing_at": chrono::Utc::now(),
                "high_water_updated_at_ms": high_water,
                "listed": items.len(),
                "details_fetched": committed,
            });
            totals.deleted = soft_delete_missing(
                ctx.pool,
                &stream.table,
                &stream.scope,
                &all,
                &gone,
                ctx.run_id,
                (ctx.source, stream.name, cursor),
            )
            .await?;
            Ok(())
        }
    };
    counts.tables.insert(stream.table.name.to_string(), totals);
    rejects::record(ctx.pool, ctx.source, stream.name, ctx.run_id, &rejected).await?;
    result
}

/// GETs one detail (none once `halt` is set or a shutdown began: the ones in flight are
/// still stored); answers with the item's index so results can arrive in any order.
async fn fetch_detail(
    client: &ApiClient,
    list_path: &str,
    index: usize,
    key: String,
    halt: &AtomicBool,
    ctx: &StreamContext<'_>,
) -> (usize, Option<Result<Value, HttpError>>) {
    if halt.load(Ordering::Relaxed) || ctx.stop.is_cancelled() {
        return (index, None);
    }
    let path = format!("{list_path}/{}", path_segment(&key));
    let limit = ctx.settings.max_record_bytes;
    (index, Some(client.get_json::<Value>(&path, limit).await))
}

/// List items with a readable id and stamp; the others become rejects.
fn parse_list(listing: Vec<Value>, rejected: &mut Vec<Reject>) -> Vec<Item> {
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(listing.len());
    for value in listing {
        let key = ["guid", "id"].iter().find_map(|f| match value.get(f) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        });
        let updated_ms = value.get("updatedAt").and_then(Value::as_i64);
        let problem = match (&key, updated_ms) {
            (None, _) => Some("the list item has neither `guid` nor `id`".to_string()),
            (Some(_), None) => Some("`updatedAt` is not epoch milliseconds".to_string()),
            (Some(k), Some(_)) if !seen.insert(k.clone()) => {
                Some(format!("duplicate id {k} in the list"))
            }
            _ => None,
        };
        match (problem, key, updated_ms) {
            (None, Some(key), Some(updated_ms)) => items.push(Item {
                key,
                dtype: value
                    .get("dtype")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                updated_ms,
            }),
            (problem, key, _) => rejected.push(Reject {
                key,
                payload: value,
                error: problem.unwrap_or_default(),
            }),
        }
    }
    items
}

/// Stored stamps (epoch ms) and deletion state of the stream's rows.
async fn load_stored(
    ctx: &StreamContext<'_>,
    stream: &DeltaStream,
) -> Result<HashMap<String, (i64, bool)>, sqlx::Error> {
    let id_column = stream.table.key[stream.scope.len()].name;
    let scoped: Vec<String> = stream.table.key[..stream.scope.len()]
        .iter()
        .enumerate()
        .map(|(i, c)| format!(" AND {}::text = ${}", c.name, i + 1))
        .collect();
    let sql = format!(
        "SELECT {id_column}, (extract(epoch FROM updated_at) * 1000)::bigint, _deleted_at IS NOT NULL \
         FROM {} WHERE true{}",
        stream.table.name,
        scoped.concat()
    );
    let mut query = sqlx::query_as::<_, (String, i64, bool)>(AssertSqlSafe(sql));
    for value in &stream.scope {
        query = query.bind(value);
    }
    let rows = query.fetch_all(ctx.pool).await?;
    Ok(rows.into_iter().map(|(k, ms, d)| (k, (ms, d))).collect())
}

fn key_of(stream: &DeltaStream, id: &str) -> Vec<String> {
    stream
        .scope
        .iter()
        .cloned()
        .chain([id.to_string()])
        .collect()
}

/// The detail as a row: the list's id and type, the newer of the list's and the detail's own
/// update stamp, the typed columns, and the detail whole in `raw`.
fn detail_row(stream: &DeltaStream, item: &Item, detail: &Value) -> Result<String, String> {
    let obj = detail
        .as_object()
        .ok_or_else(|| "the detail is not a JSON object".to_string())?;
    if let Some(problem) = unstorable(detail, "") {
        return Err(problem);
    }
    let stamp = own_stamp(obj).map_or(item.updated_ms, |own| own.max(item.updated_ms));
    let mut values = obj.clone();
    values.insert(
        LIST_DTYPE.into(),
        item.dtype.clone().map_or(Value::Null, Value::String),
    );
    values.insert(LIST_UPDATED_AT.into(), json!(stamp));
    // Epoch milliseconds carry their zone; the table has no local times to convert.
    row_line(
        &stream.table,
        &key_of(stream, &item.key),
        &values,
        detail,
        chrono_tz::UTC,
    )
}

/// The detail's own update stamp: `updatedAt` or a field ending in `UpdatedAt`.
fn own_stamp(obj: &Map<String, Value>) -> Option<i64> {
    obj.iter()
        .filter(|(k, _)| *k == "updatedAt" || k.ends_with("UpdatedAt"))
        .find_map(|(_, v)| v.as_i64())
}

/// Upserts one batch of details with the stream's checkpoint.
async fn commit(
    ctx: &StreamContext<'_>,
    stream: &DeltaStream,
    rows: Vec<(i64, String)>,
    committed: u64,
    totals: &mut TableCounts,
) -> Result<(), sqlx::Error> {
    let lock = format!("tributary:{}:{}", ctx.source, stream.name);
    let mut stager = Stager::begin(ctx.pool, &stream.table, &lock).await?;
    let high_water = rows.iter().map(|(ms, _)| *ms).max();
    let mut batch = Batch::new(1);
    for (_, line) in rows {
        batch.rows[0].push_str(&line);
        batch.counts[0] += 1;
    }
    stager.stage(batch).await?;
    let cursor = json!({"in_progress": true, "details_committed": committed, "high_water_updated_at_ms": high_water});
    let merged = stager
        .finish(ctx.run_id, Deletes::None, (ctx.source, stream.name, cursor))
        .await?;
    for c in merged.values() {
        totals.inserted += c.inserted;
        totals.updated += c.updated;
        totals.unchanged += c.unchanged;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_take_guid_or_id_and_bad_ones_are_rejected() {
        let mut rejected = Vec::new();
        let items = parse_list(
            vec![
                json!({"dtype": "JobOrder", "guid": "a-1", "updatedAt": 1_700_000_000_123_i64}),
                json!({"dtype": "Employee", "id": "e7", "updatedAt": 5}),
                json!({"guid": "a-1", "updatedAt": 6}),
                json!({"updatedAt": 7}),
                json!({"guid": "b", "updatedAt": "yesterday"}),
            ],
            &mut rejected,
        );
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["a-1", "e7"]);
        assert_eq!(items[0].updated_ms, 1_700_000_000_123);
        assert_eq!(rejected.len(), 3);
        assert!(rejected[0].error.contains("duplicate id a-1"));
        assert_eq!(rejected[1].key, None);
        assert!(rejected[2].error.contains("updatedAt"));
    }

    #[test]
    fn the_newer_stamp_wins_and_ids_are_escaped_in_paths() {
        let detail = json!({"jobName": "x", "jobUpdatedAt": 20});
        assert_eq!(own_stamp(detail.as_object().unwrap()), Some(20));
        assert_eq!(path_segment("a b/ä"), "a%20b%2F%C3%A4");
    }
}
