//! aircalc's shared vocabulary: the times of a project, its ISO-8601 timestamps and its
//! JSON bytes, for the generators, the store and the mutations.

use bytes::Bytes;
use chrono::DateTime;
use chrono_tz::Europe::Berlin;
use serde::Serialize;

/// When a project was created and last updated, in epoch milliseconds.
#[derive(Clone, Copy)]
pub(crate) struct Stamp {
    pub(crate) created: i64,
    pub(crate) updated: i64,
}

/// `ms` (epoch milliseconds) as ISO-8601 with milliseconds and Berlin's offset.
pub(crate) fn iso(ms: i64) -> String {
    let at = DateTime::from_timestamp_millis(ms).expect("timestamps are in range");
    let at = at.with_timezone(&Berlin);
    at.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// An ISO-8601 timestamp with offset, in epoch milliseconds.
pub(crate) fn parse_iso(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.timestamp_millis())
}

pub(crate) fn to_bytes<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("generated objects are plain JSON"))
}
