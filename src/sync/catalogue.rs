//! The field catalogue: after a stream run succeeds, the paths its records carried
//! (`profile`) are merged into `tributary.fields`, and what changed since the stream's
//! previous profiled pass becomes rows of `tributary.schema_changes`, one warning each in the
//! log, and counts in the stream's report (for `tributary_schema_changes_total`).
//!
//! The rules (the README has them for operators):
//!
//! - The first pass of a stream that sees records is its baseline: fields, no changes.
//! - `added`: a path no record had before (or one reported removed that came back). A path
//!   below a path added in the same pass is part of that addition, not a change of its own.
//! - `retyped`: a JSON type the path never had. `null` is no type (a field that is
//!   sometimes null is not retyped), and `integer` and `number` are one (JSON has one
//!   number type; `2` then `2.5` is no change).
//! - `removed`: no record of the collection carries the path any more. A full listing
//!   is the whole collection: a path none of its records had is removed. A stream that
//!   sees only part of it (deltas, refreshes, lookups) judges a path it did not see on
//!   the rows stored: removed once no live stored row's `raw` has it. A pass of no
//!   records judges nothing, nor does one whose profile was truncated. Below a removed
//!   path, paths are not reported again.
//!
//! Written in one transaction after the stream's data committed; a failed stream records
//! nothing, and if this write fails, the next pass sees the same changes again.
//!
//! Aimsio entities without a typed table get a view inferred from the catalogue (`view`).

use std::collections::{HashMap, HashSet};

use sqlx::{AssertSqlSafe, PgPool};

use super::profile::{self, INTEGER, NULL, NUMBER, Profile, Types, type_names, types_of};
use super::table::Table;

pub use super::inferred::snake_case;

/// Where a stream's records are stored, and how much of the collection a pass sees.
#[derive(Clone, Copy)]
pub struct Spec<'a> {
    pub table: &'a Table,
    /// Values of the leading key columns shared by the whole stream.
    pub scope: &'a [String],
    /// A pass sees the whole collection (a full listing).
    pub complete: bool,
    /// The view to infer from the catalogue (`schema.name`), for a stream stored in a table
    /// shared with others (Aimsio's `objects`).
    pub view: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Added,
    Removed,
    Retyped,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Added, Kind::Removed, Kind::Retyped];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Added => "added",
            Kind::Removed => "removed",
            Kind::Retyped => "retyped",
        }
    }
}

/// A change noticed between two passes of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: Kind,
    pub old: Option<Types>,
    pub new: Option<Types>,
}

/// Changes by kind, for a stream's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChangeCounts {
    pub added: u64,
    pub removed: u64,
    pub retyped: u64,
}

impl ChangeCounts {
    pub fn of(changes: &[Change]) -> Self {
        let mut c = ChangeCounts::default();
        for change in changes {
            *c.get_mut(change.kind) += 1;
        }
        c
    }

    pub fn get(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Added => self.added,
            Kind::Removed => self.removed,
            Kind::Retyped => self.retyped,
        }
    }

    fn get_mut(&mut self, kind: Kind) -> &mut u64 {
        match kind {
            Kind::Added => &mut self.added,
            Kind::Removed => &mut self.removed,
            Kind::Retyped => &mut self.retyped,
        }
    }

    pub fn total(&self) -> u64 {
        self.added + self.removed + self.retyped
    }
}

/// The types compared for a retype: without null, integer counted as number.
fn kinds(types: Types) -> Types {
    let t = types & !NULL;
    if t & INTEGER != 0 {
        (t & !INTEGER) | NUMBER
    } else {
        t
    }
}

fn names(types: Types) -> Vec<String> {
    type_names(types).into_iter().map(str::to_string).collect()
}

/// What the catalogue held for a path.
struct Known {
    types: Types,
    removed: bool,
    mapped: Option<String>,
}

/// Merges a successful stream run's profile into the catalogue; answers the changes
/// (already logged, one warning each).
pub async fn record(
    pool: &PgPool,
    source: &str,
    stream: &str,
    run_id: i64,
    spec: Spec<'_>,
    profile: &Profile,
) -> Result<Vec<Change>, sqlx::Error> {
    if profile.records() == 0 {
        return Ok(Vec::new());
    }
    if profile.truncated() {
        tracing::warn!(
            source,
            stream,
            max = profile::MAX_PATHS,
            "the records carry more distinct fields than the catalogue keeps; the rest are not catalogued and no field is judged removed"
        );
    }
    let seen = profile.paths();
    let mut tx = pool.begin().await?;
    let baseline: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tributary.field_passes WHERE source = $1 AND stream = $2)",
    )
    .bind(source)
    .bind(stream)
    .fetch_one(&mut *tx)
    .await?;
    let rows: Vec<(String, Vec<String>, bool, Option<String>)> = sqlx::query_as(
        "SELECT path, types, removed_at IS NOT NULL, mapped_column FROM tributary.fields \
         WHERE source = $1 AND stream = $2",
    )
    .bind(source)
    .bind(stream)
    .fetch_all(&mut *tx)
    .await?;
    let known: HashMap<String, Known> = rows
        .into_iter()
        .map(|(path, types, removed, mapped)| {
            (
                path,
                Known {
                    types: types_of(&types),
                    removed,
                    mapped,
                },
            )
        })
        .collect();

    let mut changes = Vec::new();
    if baseline {
        let mut added = HashSet::new();
        // Parents before children: a path's parent is shorter.
        let mut order: Vec<&profile::PathStat> = seen.iter().collect();
        order.sort_by_key(|p| p.path.len());
        for stat in order {
            match known.get(&stat.path) {
                None | Some(Known { removed: true, .. }) => {
                    added.insert(stat.path.as_str());
                    if profile::parent(&stat.path).is_some_and(|p| added.contains(p)) {
                        continue;
                    }
                    changes.push(Change {
                        path: stat.path.clone(),
                        kind: Kind::Added,
                        old: None,
                        new: Some(stat.types),
                    });
                }
                Some(k) => {
                    let (old, new) = (kinds(k.types), kinds(stat.types));
                    if old != 0 && new & !old != 0 {
                        changes.push(Change {
                            path: stat.path.clone(),
                            kind: Kind::Retyped,
                            old: Some(k.types),
                            new: Some(k.types | stat.types),
                        });
                    }
                }
            }
        }
        if !profile.truncated() {
            let in_pass: HashSet<&str> = seen.iter().map(|s| s.path.as_str()).collect();
            let mut missing: Vec<(&String, &Known)> = known
                .iter()
                .filter(|(path, k)| !k.removed && !in_pass.contains(path.as_str()))
                .collect();
            missing.sort_by_key(|(path, _)| path.len());
            let mut removed = HashSet::new();
            for (path, k) in missing {
                let parent_removed = profile::parent(path).is_some_and(|p| removed.contains(p));
                let gone = parent_removed
                    || spec.complete
                    || !stored_has(&mut tx, spec, path).await?.unwrap_or(true);
                if !gone {
                    continue;
                }
                removed.insert(path.as_str());
                if !parent_removed {
                    changes.push(Change {
                        path: path.clone(),
                        kind: Kind::Removed,
                        old: Some(k.types),
                        new: None,
                    });
                }
            }
        }
    }

    // The catalogue: every path of the pass, the others at 0 records of it.
    let removed: Vec<&str> = changes
        .iter()
        .filter(|c| c.kind == Kind::Removed)
        .map(|c| c.path.as_str())
        .collect();
    let mut paths = Vec::with_capacity(seen.len());
    let mut types = Vec::with_capacity(seen.len());
    let mut counts = Vec::with_capacity(seen.len());
    let mut mapped = Vec::with_capacity(seen.len());
    for stat in &seen {
        let old = known.get(&stat.path);
        paths.push(stat.path.clone());
        let all = stat.types | old.map_or(0, |k| k.types);
        // Quoted: an unquoted `null` in an array literal is a NULL element.
        let quoted: Vec<String> = type_names(all).iter().map(|t| format!("\"{t}\"")).collect();
        types.push(format!("{{{}}}", quoted.join(",")));
        counts.push(stat.records as i64);
        mapped.push(
            mapped_column(spec.table, &stat.path).or_else(|| old.and_then(|k| k.mapped.clone())),
        );
    }
    sqlx::query(
        "INSERT INTO tributary.fields AS f (source, stream, path, types, records, mapped_column, run_id) \
         SELECT $1, $2, p, t::text[], n, m, $7 FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[]) AS u(p, t, n, m) \
         ON CONFLICT (source, stream, path) DO UPDATE SET types = excluded.types, \
           last_seen = clock_timestamp(), records = excluded.records, \
           mapped_column = excluded.mapped_column, removed_at = NULL, run_id = excluded.run_id",
    )
    .bind(source)
    .bind(stream)
    .bind(&paths)
    .bind(&types)
    .bind(&counts)
    .bind(&mapped)
    .bind(run_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE tributary.fields SET records = 0, \
           removed_at = CASE WHEN path = ANY($4) THEN clock_timestamp() ELSE removed_at END \
         WHERE source = $1 AND stream = $2 AND NOT path = ANY($3)",
    )
    .bind(source)
    .bind(stream)
    .bind(&paths)
    .bind(&removed)
    .execute(&mut *tx)
    .await?;
    // Paths below a removed one are removed with it.
    for path in &removed {
        sqlx::query(
            "UPDATE tributary.fields SET removed_at = clock_timestamp() \
             WHERE source = $1 AND stream = $2 AND removed_at IS NULL AND records = 0 \
               AND (starts_with(path, $3 || '.') OR starts_with(path, $3 || '[]'))",
        )
        .bind(source)
        .bind(stream)
        .bind(path)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO tributary.field_passes (source, stream, records, complete, truncated, run_id) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, stream) DO UPDATE SET \
           records = excluded.records, complete = excluded.complete, truncated = excluded.truncated, \
           run_id = excluded.run_id, profiled_at = clock_timestamp()",
    )
    .bind(source)
    .bind(stream)
    .bind(profile.records() as i64)
    .bind(spec.complete)
    .bind(profile.truncated())
    .bind(run_id)
    .execute(&mut *tx)
    .await?;
    for change in &changes {
        sqlx::query(
            "INSERT INTO tributary.schema_changes (source, stream, path, kind, old_types, new_types, run_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(source)
        .bind(stream)
        .bind(&change.path)
        .bind(change.kind.as_str())
        .bind(change.old.map(names))
        .bind(change.new.map(names))
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    for change in &changes {
        let old = change
            .old
            .map(|t| type_names(t).join("|"))
            .unwrap_or_default();
        let new = change
            .new
            .map(|t| type_names(t).join("|"))
            .unwrap_or_default();
        match change.kind {
            Kind::Added => {
                tracing::warn!(source, stream, path = %change.path, types = %new, run_id, "schema change: the vendor sends a new field")
            }
            Kind::Removed => {
                tracing::warn!(source, stream, path = %change.path, types = %old, run_id, "schema change: no record carries this field any more")
            }
            Kind::Retyped => {
                tracing::warn!(source, stream, path = %change.path, old_types = %old, new_types = %new, run_id, "schema change: the field arrives with a type it never had")
            }
        }
    }
    if let Some(view) = spec.view
        && let Err(e) = super::inferred::maintain(pool, source, stream, spec, view).await
    {
        tracing::error!(source, stream, view, error = %e, "maintaining the inferred view failed; the next pass tries again");
    }
    Ok(changes)
}

/// Whether a live stored row of the stream still has `path`; `None` when the rows cannot
/// tell (the path is a nested array stored in a table of its own).
async fn stored_has(
    tx: &mut sqlx::PgConnection,
    spec: Spec<'_>,
    path: &str,
) -> Result<Option<bool>, sqlx::Error> {
    let Some((table, jsonpath)) = stored_path(spec.table, path) else {
        return Ok(None);
    };
    let mut scoped = String::new();
    for (i, column) in table.key.iter().take(spec.scope.len()).enumerate() {
        scoped.push_str(&format!(" AND {}::text = ${}", column.name, i + 2));
    }
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE _deleted_at IS NULL{scoped} AND raw @? $1::jsonpath)",
        table.name
    );
    let mut query = sqlx::query_scalar::<_, bool>(AssertSqlSafe(sql)).bind(jsonpath);
    for value in spec.scope {
        query = query.bind(value);
    }
    query.fetch_one(&mut *tx).await.map(Some)
}

/// The table whose `raw` holds `path`, and the path as a jsonpath in it.
fn stored_path<'t>(root: &'t Table, path: &str) -> Option<(&'t Table, String)> {
    let mut table = root;
    let mut jsonpath = String::from("$");
    let segments = segments(path);
    for (i, (name, elements)) in segments.iter().enumerate() {
        let child = table.children.iter().find(|(f, _)| f == name);
        if jsonpath == "$" && (child.is_some() || table.recursive == Some(*name)) {
            if !*elements || i + 1 == segments.len() {
                // The array itself, or its elements as such: not in any row's raw.
                return None;
            }
            if let Some((_, child)) = child {
                table = child;
            }
            continue;
        }
        jsonpath.push('.');
        jsonpath.push('"');
        for c in name.chars() {
            match c {
                '"' => jsonpath.push_str("\\\""),
                '\\' => jsonpath.push_str("\\\\"),
                c => jsonpath.push(c),
            }
        }
        jsonpath.push('"');
        if *elements {
            jsonpath.push_str("[*]");
        }
    }
    Some((table, jsonpath))
}

/// A path's segments: each name, and whether `[]` follows it.
fn segments(path: &str) -> Vec<(&str, bool)> {
    path.split('.')
        .map(|s| match s.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (s, false),
        })
        .collect()
}

/// The typed column (`schema.table.column`) a path's value lands in, if any.
pub fn mapped_column(root: &Table, path: &str) -> Option<String> {
    let mut table = root;
    let mut rest = path;
    loop {
        if let Some(column) = table
            .key
            .iter()
            .skip(table.inherited)
            .chain(&table.columns)
            .find(|c| {
                if c.fields.is_empty() {
                    c.name == rest
                } else {
                    c.fields.contains(&rest)
                }
            })
        {
            return Some(format!("{}.{}", table.name, column.name));
        }
        let (head, tail) = rest.split_once("[].")?;
        if head.contains('.') {
            return None;
        }
        table = &table.children.iter().find(|(f, _)| *f == head)?.1;
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::table::{ColType, Column};

    fn orders() -> Table {
        Table {
            name: "t.orders",
            key: vec![Column::new("id", ColType::Int)],
            inherited: 0,
            columns: vec![
                Column::new("zu_haenden", ColType::Text).from(&["zuHaenden", "zu_haenden"]),
                Column::new("kunde_id", ColType::Int).from(&["kunde.id"]),
            ],
            children: vec![(
                "positions",
                Table {
                    name: "t.positions",
                    key: vec![
                        Column::new("order_id", ColType::Int),
                        Column::new("id", ColType::Int),
                    ],
                    inherited: 1,
                    columns: vec![Column::new("amount", ColType::Numeric)],
                    children: vec![],
                    recursive: None,
                },
            )],
            recursive: None,
        }
    }

    #[test]
    fn paths_map_to_the_columns_of_the_specs() {
        let t = orders();
        assert_eq!(mapped_column(&t, "id").as_deref(), Some("t.orders.id"));
        assert_eq!(
            mapped_column(&t, "zuHaenden").as_deref(),
            Some("t.orders.zu_haenden")
        );
        assert_eq!(
            mapped_column(&t, "kunde.id").as_deref(),
            Some("t.orders.kunde_id")
        );
        assert_eq!(
            mapped_column(&t, "positions[].amount").as_deref(),
            Some("t.positions.amount")
        );
        assert_eq!(mapped_column(&t, "positions[].order_id"), None);
        assert_eq!(mapped_column(&t, "positions"), None);
        assert_eq!(mapped_column(&t, "kunde.name"), None);
    }

    #[test]
    fn paths_are_looked_for_in_the_raw_of_the_table_that_stores_them() {
        let t = orders();
        let (table, path) = stored_path(&t, "kunde.name").unwrap();
        assert_eq!(
            (table.name, path.as_str()),
            ("t.orders", "$.\"kunde\".\"name\"")
        );
        let (table, path) = stored_path(&t, "positions[].amount").unwrap();
        assert_eq!((table.name, path.as_str()), ("t.positions", "$.\"amount\""));
        let (_, path) = stored_path(&t, "tags[]").unwrap();
        assert_eq!(path, "$.\"tags\"[*]");
        assert!(stored_path(&t, "positions").is_none());
        assert!(stored_path(&t, "positions[]").is_none());
        assert_eq!(stored_path(&t, "a\"b").unwrap().1, "$.\"a\\\"b\"");
    }

    #[test]
    fn null_and_integers_are_no_retype() {
        use crate::sync::profile::{BOOLEAN, STRING};
        assert_eq!(kinds(NULL | INTEGER), NUMBER);
        assert_eq!(kinds(NUMBER) & !kinds(INTEGER), 0);
        assert_ne!(kinds(STRING) & !kinds(INTEGER), 0);
        assert_eq!(kinds(NULL), 0);
        assert_eq!(kinds(BOOLEAN | NULL), BOOLEAN);
    }
}
