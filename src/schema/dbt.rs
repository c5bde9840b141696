//! The schema as a dbt `sources.yml` (version 2): one source per schema, described by its
//! comment; its tables and views with their comments and columns; `loaded_at_field` on the
//! synced tables and a `freshness` per source from its schedule (warn after two intervals
//! between ticks, error after four); tests from the keys: `unique` and `not_null` on a
//! one-column primary key, `not_null` on each column of a longer one, and a `relationships`
//! test per column of each foreign key (dbt's test takes one column: for a key of several
//! columns each is checked on its own, which the key implies).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::catalog::{LOADED_AT, Relation, Schema};
use crate::config::Settings;
use crate::schedule;

#[derive(Serialize)]
struct Sources {
    version: u32,
    sources: Vec<Source>,
}

#[derive(Serialize)]
struct Source {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    freshness: Option<Freshness>,
    tables: Vec<Table>,
}

#[derive(Serialize)]
struct Freshness {
    warn_after: After,
    error_after: After,
}

#[derive(Serialize)]
struct After {
    count: u64,
    period: &'static str,
}

#[derive(Serialize)]
struct Table {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    loaded_at_field: Option<&'static str>,
    /// `Some(())` writes `freshness: null`: a table of a scheduled source that has no
    /// `_changed_at` is left out of its source's freshness check.
    #[serde(skip_serializing_if = "Option::is_none")]
    freshness: Option<()>,
    columns: Vec<Column>,
}

#[derive(Serialize)]
struct Column {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    data_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tests: Vec<Value>,
}

/// The `sources.yml`; `now` is where the schedules' intervals are measured.
pub fn dbt(schemas: &[Schema], settings: &Settings, now: DateTime<Utc>) -> String {
    let sources = Sources {
        version: 2,
        sources: schemas
            .iter()
            .map(|schema| {
                let freshness = settings
                    .source_common(&schema.name)
                    .map(|common| freshness(&common.schedule, now));
                Source {
                    name: schema.name.clone(),
                    description: schema.comment.clone(),
                    tables: schema
                        .relations
                        .iter()
                        .map(|r| table(&schema.name, r, freshness.is_some()))
                        .collect(),
                    freshness,
                }
            })
            .collect(),
    };
    serde_norway::to_string(&sources).expect("plain data serializes")
}

fn table(schema: &str, relation: &Relation, scheduled: bool) -> Table {
    let synced = relation.synced();
    let single_key = relation.primary_key.len() == 1;
    Table {
        name: relation.name.clone(),
        description: relation.comment.clone(),
        loaded_at_field: synced.then_some(LOADED_AT),
        freshness: (scheduled && !synced).then_some(()),
        columns: relation
            .columns
            .iter()
            .map(|column| {
                let mut tests = Vec::new();
                if relation.primary_key.contains(&column.name) {
                    if single_key {
                        tests.push(json!("unique"));
                    }
                    tests.push(json!("not_null"));
                }
                for fk in &relation.foreign_keys {
                    if let Some(i) = fk.columns.iter().position(|c| *c == column.name) {
                        let (to_schema, to_table) = fk
                            .references
                            .split_once('.')
                            .unwrap_or((schema, &fk.references));
                        tests.push(json!({"relationships": {
                            "to": format!("source('{to_schema}', '{to_table}')"),
                            "field": fk.referenced_columns[i],
                        }}));
                    }
                }
                Column {
                    name: column.name.clone(),
                    description: column.comment.clone(),
                    data_type: column.data_type.clone(),
                    tests,
                }
            })
            .collect(),
    }
}

/// Warn after two intervals of the schedule, error after four; the interval is the gap
/// between its next two ticks (a schedule that stops firing counts as daily).
fn freshness(expression: &str, now: DateTime<Utc>) -> Freshness {
    let cron = schedule::parse(expression).expect("schedules are validated with the settings");
    let interval = schedule::next_tick(&cron, now)
        .and_then(|first| Some((schedule::next_tick(&cron, first)? - first).num_seconds()))
        .map_or(86_400, |secs| secs.max(1) as u64);
    Freshness {
        warn_after: after(2 * interval),
        error_after: after(4 * interval),
    }
}

/// Seconds as dbt's counted periods: whole hours as hours, else minutes rounded up.
fn after(secs: u64) -> After {
    if secs.is_multiple_of(3600) {
        After {
            count: secs / 3600,
            period: "hour",
        }
    } else {
        After {
            count: secs.div_ceil(60),
            period: "minute",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_is_two_and_four_intervals_of_the_schedule() {
        let now = "2026-12-02T10:07:13Z".parse().unwrap();
        let hourly = freshness("0 0 * * * *", now);
        assert_eq!(
            (hourly.warn_after.count, hourly.warn_after.period),
            (2, "hour")
        );
        assert_eq!(
            (hourly.error_after.count, hourly.error_after.period),
            (4, "hour")
        );
        let ten = freshness("0 */10 * * * *", now);
        assert_eq!(
            (ten.warn_after.count, ten.warn_after.period),
            (20, "minute")
        );
        assert_eq!(
            (ten.error_after.count, ten.error_after.period),
            (40, "minute")
        );
        let seconds = freshness("*/20 * * * * *", now);
        assert_eq!(
            (seconds.warn_after.count, seconds.warn_after.period),
            (1, "minute")
        );
    }
}
