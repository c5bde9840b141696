//! Rejected records (`tributary.rejects`): one row per source, stream and record key, kept
//! up to date by every complete listing; records no longer rejected are marked resolved.

use serde_json::Value;
use sqlx::PgPool;

use crate::sync::values::storable_number;

/// A source record that could not be normalized.
#[derive(Debug, Clone)]
pub struct Reject {
    /// The record's key as served, when it had a readable one.
    pub key: Option<String>,
    pub payload: Value,
    pub error: String,
}

/// The most of a rejected record kept whole; a larger one is kept as its first KiB, so that
/// many large rejects of one listing never add up in memory.
const PAYLOAD_LIMIT: usize = 1 << 20;

/// A rejected record as `tributary.rejects` keeps it: whole up to [`PAYLOAD_LIMIT`] bytes,
/// else its first KiB.
pub fn kept_payload(payload: Value) -> Value {
    let text = payload.to_string();
    if text.len() <= PAYLOAD_LIMIT {
        return payload;
    }
    let mut cut = 1024;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    serde_json::json!({ "payload_head": &text[..cut], "payload_bytes": text.len() })
}

/// What `tributary.rejects` keeps of a record that is not valid JSON or too large: its
/// first KiB as text (invalid UTF-8 shown as U+FFFD).
pub fn unreadable_payload(head: &[u8]) -> Value {
    let head = &head[..head.len().min(1024)];
    serde_json::json!({ "unreadable_head": String::from_utf8_lossy(head) })
}

/// Records the rejects of a complete listing and resolves the stream's earlier ones that
/// this listing no longer rejected.
pub async fn record(
    pool: &PgPool,
    source: &str,
    stream: &str,
    run_id: i64,
    rejects: &[Reject],
) -> Result<(), sqlx::Error> {
    let text = |t: &str| t.replace('\0', "\u{2400}");
    let keys: Vec<Option<String>> = rejects.iter().map(|r| r.key.as_deref().map(text)).collect();
    // PostgreSQL's jsonb cannot hold NUL; show it as the symbol for NUL instead.
    let payloads: Vec<String> = rejects
        .iter()
        .map(|r| storable(r.payload.clone()).to_string())
        .collect();
    let errors: Vec<String> = rejects.iter().map(|r| text(&r.error)).collect();
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO tributary.rejects (source, stream, record_key, payload, error, run_id) \
         SELECT DISTINCT ON (key) $1, $2, key, p::jsonb, e, $3 \
         FROM (SELECT coalesce(k, 'md5:' || md5(p)) AS key, p, e, n \
               FROM unnest($4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS r(k, p, e, n)) r \
         ORDER BY key, n DESC \
         ON CONFLICT (source, stream, record_key) DO UPDATE SET payload = EXCLUDED.payload, \
         error = EXCLUDED.error, run_id = EXCLUDED.run_id, last_seen = clock_timestamp(), \
         resolved_at = NULL",
        source,
        stream,
        run_id,
        &keys as &[Option<String>],
        &payloads,
        &errors,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE tributary.rejects SET resolved_at = clock_timestamp() \
         WHERE source = $1 AND stream = $2 AND resolved_at IS NULL AND run_id IS DISTINCT FROM $3",
        source,
        stream,
        run_id,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The payload as PostgreSQL's jsonb can hold it: a NUL shown as the symbol for NUL, a
/// number beyond `numeric` kept as its text.
fn storable(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace('\0', "\u{2400}")),
        Value::Number(n) if !storable_number(&n.to_string()) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(items.into_iter().map(storable).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.replace('\0', "\u{2400}"), storable(v)))
                .collect(),
        ),
        other => other,
    }
}
