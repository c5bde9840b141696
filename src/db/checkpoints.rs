//! Checkpoints (`tributary.checkpoints`): writing a stream's cursor (in the transaction of
//! the data it describes), and the pass-level checkpoint (stream `*`): which streams a pass
//! still owes when the request budget stopped it.

use serde_json::json;
use sqlx::{PgExecutor, PgPool};

/// The stream that holds a source's pass checkpoint.
pub const PASS: &str = "*";

/// Streams the last pass left undone because the budget ran out; `None` when it finished.
pub async fn pending_streams(
    pool: &PgPool,
    source: &str,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    let cursor: Option<serde_json::Value> = sqlx::query_scalar!(
        "SELECT cursor FROM tributary.checkpoints WHERE source = $1 AND stream = $2",
        source,
        PASS,
    )
    .fetch_optional(pool)
    .await?;
    let pending: Vec<String> = cursor
        .and_then(|c| serde_json::from_value(c["pending_streams"].clone()).ok())
        .unwrap_or_default();
    Ok((!pending.is_empty()).then_some(pending))
}

/// Records what a pass left undone (empty: the pass finished).
pub async fn set_pending_streams(
    pool: &PgPool,
    source: &str,
    pending: &[&str],
    run_id: i64,
) -> Result<(), sqlx::Error> {
    write(
        pool,
        source,
        PASS,
        json!({ "pending_streams": pending }),
        run_id,
    )
    .await
}

/// Writes a stream's checkpoint (inside the caller's transaction when given one).
pub async fn write<'e>(
    executor: impl PgExecutor<'e>,
    source: &str,
    stream: &str,
    cursor: serde_json::Value,
    run_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO tributary.checkpoints (source, stream, cursor, run_id, updated_at) \
         VALUES ($1, $2, $3, $4, clock_timestamp()) ON CONFLICT (source, stream) DO UPDATE \
         SET cursor = EXCLUDED.cursor, run_id = EXCLUDED.run_id, updated_at = EXCLUDED.updated_at",
        source,
        stream,
        cursor,
        run_id,
    )
    .execute(executor)
    .await?;
    Ok(())
}
