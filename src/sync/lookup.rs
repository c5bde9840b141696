//! Lookup streams: objects that stored rows refer to and that are not stored yet (e.g. the
//! users who created projects), asked for by id, a chunk of ids per request, and upserted
//! with the checkpoint chunk by chunk. Nothing is deleted: an id no longer referred to
//! keeps its row. An object that cannot be normalized is set aside in `tributary.rejects`
//! and asked for again next pass.

use serde_json::{Value, json};
use sqlx::AssertSqlSafe;

use super::apply::{Batch, Deletes, Stager};
use super::context::StreamContext;
use super::error::SyncError;
use super::normalize::Normalizer;
use super::profile::Profile;
use super::table::Table;
use crate::db::rejects::{self, Reject};
use crate::db::runs::RunCounts;
use crate::http::ApiClient;

pub struct LookupStream {
    pub name: &'static str,
    pub table: Table,
    /// The ids wanted, as text, in the order they are asked for.
    pub wanted_sql: &'static str,
    /// GET path prefix; the comma-separated ids follow.
    pub path: &'static str,
    /// Ids per request.
    pub per_request: usize,
    /// The field holding an object's id (named in rejects when the id is no integer).
    pub id_field: &'static str,
}

/// Fetches the referenced objects not stored yet, a chunk of ids per request.
pub async fn sync(
    ctx: &StreamContext<'_>,
    client: &ApiClient,
    stream: &LookupStream,
    counts: &mut RunCounts,
    profile: &mut Profile,
) -> Result<(), SyncError> {
    let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(stream.wanted_sql))
        .fetch_all(ctx.pool)
        .await?;
    let mut rejected = Vec::new();
    let mut result = Ok(());
    for chunk in ids.chunks(stream.per_request) {
        if ctx.stopping() {
            result = Err(SyncError::Cancelled);
            break;
        }
        let path = format!("{}{}", stream.path, chunk.join(","));
        let found: Vec<Value> = match client.get_json(&path, ctx.settings.max_record_bytes).await {
            Ok(found) => found,
            Err(e) => {
                result = Err(SyncError::Http(e));
                break;
            }
        };
        counts.fetched += found.len() as u64;
        let mut normalizer = Normalizer::new(stream.table.clone(), chrono_tz::UTC);
        let mut batch = Batch::new(stream.table.flatten().len());
        for object in found {
            profile.record(&object);
            match normalizer.record(&object) {
                Ok(rows) => {
                    for (i, line) in rows {
                        batch.rows[i].push_str(&line);
                        batch.counts[i] += 1;
                    }
                }
                Err(problem) => {
                    counts.rejected += 1;
                    // The id as served, also when it is no integer.
                    let key = problem.key.map(|k| k.join("/")).or_else(|| {
                        match &object[stream.id_field] {
                            Value::String(id) => Some(id.clone()),
                            Value::Number(id) => Some(id.to_string()),
                            _ => None,
                        }
                    });
                    rejected.push(Reject {
                        key,
                        payload: object,
                        error: problem.error,
                    });
                }
            }
        }
        let lock = format!("tributary:{}:{}", ctx.source, stream.name);
        let mut stager = Stager::begin(ctx.pool, &stream.table, &lock).await?;
        stager.stage(batch).await?;
        let cursor = json!({"last_id": chunk.last()});
        let merged = stager
            .finish(ctx.run_id, Deletes::None, (ctx.source, stream.name, cursor))
            .await?;
        for (table, c) in &merged {
            counts.add_table(table, c);
        }
    }
    rejects::record(ctx.pool, ctx.source, ctx.stream, ctx.run_id, &rejected).await?;
    result
}
