//! Views inferred from the field catalogue, for records stored only as `raw` in a table
//! shared by several streams (Aimsio's `objects`): one column per top-level scalar field
//! seen, typed only where every value seen agrees (booleans → boolean, integers → bigint,
//! numbers → numeric, strings → text, anything mixed → text), each cast guarded by
//! `jsonb_typeof` so that a later odd value reads as NULL instead of failing the query.
//!
//! The columns are kept in `tributary.inferred_columns`, in view order: a new field
//! appends a column (`CREATE OR REPLACE VIEW` may only append), a field that vanishes keeps
//! its column (NULL from then on), and a column's type never changes. A field seen only
//! as null waits for a value before it gets a column. A relation of the view's name that
//! tributary did not create (its comment says so) is left alone.

use std::collections::HashSet;

use sqlx::{AssertSqlSafe, PgPool};

use super::catalogue::Spec;
use super::profile::{ARRAY, BOOLEAN, INTEGER, NULL, NUMBER, OBJECT, Types, types_of};

/// Every view tributary infers has a comment starting so.
const MARK: &str = "tributary: inferred";

/// Columns every inferred view has first.
const FIXED: [&str; 3] = ["guid", "updated_at", "_deleted_at"];

/// Most bytes of a PostgreSQL identifier.
const MAX_IDENT: usize = 63;

/// The SQL type of a column from the types seen, if the field is a scalar with a value.
fn sql_type(types: Types) -> Option<&'static str> {
    let t = types & !NULL;
    if t == 0 || t & (OBJECT | ARRAY) != 0 {
        return None;
    }
    Some(match t {
        BOOLEAN => "boolean",
        INTEGER => "bigint",
        _ if t & !(INTEGER | NUMBER) == 0 => "numeric",
        _ => "text",
    })
}

/// `timecardHours` → `timecard_hours`; anything but ASCII letters and digits becomes `_`.
pub fn snake_case(field: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = true;
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.is_empty() {
        "field".to_string()
    } else {
        out
    }
}

/// A column name for `field` not in `taken`: its snake case, else with `_2`, `_3`, …
fn column_name(field: &str, taken: &HashSet<String>) -> String {
    let base = snake_case(field);
    let fit = |s: &str, room: usize| {
        let mut end = s.len().min(room);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_string()
    };
    let mut name = fit(&base, MAX_IDENT);
    let mut n = 2;
    while taken.contains(&name) {
        let suffix = format!("_{n}");
        name = format!("{}{suffix}", fit(&base, MAX_IDENT - suffix.len()));
        n += 1;
    }
    name
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn quote_literal(text: &str) -> String {
    if text.contains('\\') {
        format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

/// The guarded expression reading `field` from `o.raw` as `ty`.
fn expression(field: &str, ty: &str) -> String {
    let v = format!("(o.raw -> {})", quote_literal(field));
    match ty {
        "boolean" => format!("CASE WHEN jsonb_typeof({v}) = 'boolean' THEN {v}::boolean END"),
        "bigint" => format!(
            "CASE WHEN jsonb_typeof({v}) = 'number' AND {v}::numeric = trunc({v}::numeric) \
             AND abs({v}::numeric) <= 9223372036854775807 THEN {v}::numeric::bigint END"
        ),
        "numeric" => format!("CASE WHEN jsonb_typeof({v}) = 'number' THEN {v}::numeric END"),
        _ => format!("(o.raw ->> {})", quote_literal(field)),
    }
}

/// Creates or extends the view `view` (`schema.name`) of the stream's records.
pub async fn maintain(
    pool: &PgPool,
    source: &str,
    stream: &str,
    spec: Spec<'_>,
    view: &str,
) -> Result<(), sqlx::Error> {
    let (schema, name) = view.split_once('.').expect("views are schema-qualified");
    let mut tx = pool.begin().await?;
    // One process at a time changes a view.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('tributary:view:' || $1, 0))")
        .bind(view)
        .execute(&mut *tx)
        .await?;
    let existing: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT c.relkind::text, obj_description(c.oid, 'pg_class') FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
    )
    .bind(schema)
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((kind, comment)) = &existing
        && (kind != "v" || !comment.as_deref().unwrap_or("").starts_with(MARK))
    {
        tracing::warn!(
            source,
            stream,
            view,
            "a relation of this name exists that tributary did not create; no view is inferred"
        );
        return Ok(());
    }
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT column_name, field, sql_type FROM tributary.inferred_columns \
         WHERE view = $1 ORDER BY position",
    )
    .bind(view)
    .fetch_all(&mut *tx)
    .await?;
    let fields: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT path, types FROM tributary.fields WHERE source = $1 AND stream = $2 \
         AND path !~ '[.\\[]' ORDER BY first_seen, path",
    )
    .bind(source)
    .bind(stream)
    .fetch_all(&mut *tx)
    .await?;
    let have: HashSet<&str> = columns.iter().map(|(_, f, _)| f.as_str()).collect();
    let mut taken: HashSet<String> = FIXED.iter().map(|s| s.to_string()).collect();
    taken.extend(columns.iter().map(|(c, _, _)| c.clone()));
    let mut added = Vec::new();
    for (field, types) in &fields {
        if have.contains(field.as_str()) {
            continue;
        }
        let Some(ty) = sql_type(types_of(types)) else {
            continue;
        };
        let column = column_name(field, &taken);
        taken.insert(column.clone());
        added.push((column, field.clone(), ty.to_string(), types.join("|")));
    }
    if existing.is_some() && added.is_empty() {
        return Ok(());
    }
    let mut select = vec![
        "o.guid".to_string(),
        "o.updated_at".to_string(),
        "o._deleted_at".to_string(),
    ];
    for (column, field, ty) in &columns {
        select.push(format!(
            "{} AS {}",
            expression(field, ty),
            quote_ident(column)
        ));
    }
    for (column, field, ty, _) in &added {
        select.push(format!(
            "{} AS {}",
            expression(field, ty),
            quote_ident(column)
        ));
    }
    let mut scoped = String::new();
    for (column, value) in spec.table.key.iter().zip(spec.scope) {
        scoped.push_str(&format!(
            " AND o.{} = {}",
            quote_ident(column.name),
            quote_literal(value)
        ));
    }
    let qualified = format!("{}.{}", quote_ident(schema), quote_ident(name));
    let sql = format!(
        "CREATE OR REPLACE VIEW {qualified} AS SELECT {} FROM {} o WHERE true{scoped}",
        select.join(", "),
        spec.table.name
    );
    sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await?;
    let entity = spec.scope.join("/");
    let comment = format!(
        "{MARK} from the field catalogue of {source} {stream} (one column per top-level scalar field of {}.raw where {entity}); columns are appended as fields appear and kept when they vanish",
        spec.table.name
    );
    sqlx::query(AssertSqlSafe(format!(
        "COMMENT ON VIEW {qualified} IS {}",
        quote_literal(&comment)
    )))
    .execute(&mut *tx)
    .await?;
    if existing.is_none() {
        for (column, what) in [
            ("guid", "Object key"),
            (
                "updated_at",
                "When the object last changed (the list's updatedAt)",
            ),
            (
                "_deleted_at",
                "When the object was gone from the source; NULL while it is live",
            ),
        ] {
            sqlx::query(AssertSqlSafe(format!(
                "COMMENT ON COLUMN {qualified}.{} IS {}",
                quote_ident(column),
                quote_literal(what)
            )))
            .execute(&mut *tx)
            .await?;
        }
    }
    let mut position = columns.len() as i32;
    for (column, field, ty, types) in &added {
        position += 1;
        let comment = format!(
            "Inferred by tributary from field {field} (types seen when added: {types}); {}",
            if ty == "text" {
                "as text".to_string()
            } else {
                format!(
                    "NULL where a value is not a JSON {}",
                    match ty.as_str() {
                        "boolean" => "boolean",
                        "bigint" => "integer",
                        _ => "number",
                    }
                )
            }
        );
        sqlx::query(AssertSqlSafe(format!(
            "COMMENT ON COLUMN {qualified}.{} IS {}",
            quote_ident(column),
            quote_literal(&comment)
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO tributary.inferred_columns (view, position, column_name, field, sql_type) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(view)
        .bind(position)
        .bind(column)
        .bind(field)
        .bind(ty)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE tributary.fields SET mapped_column = $4 WHERE source = $1 AND stream = $2 AND path = $3",
        )
        .bind(source)
        .bind(stream)
        .bind(field)
        .bind(format!("{view}.{column}"))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        source,
        stream,
        view,
        columns = added.len(),
        "inferred view created or extended"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::profile::STRING;

    #[test]
    fn names_are_snake_case_unique_and_short_enough() {
        assert_eq!(snake_case("timecardHours"), "timecard_hours");
        assert_eq!(snake_case("nrbPONumber"), "nrb_ponumber");
        assert_eq!(snake_case("a b-c"), "a_b_c");
        assert_eq!(snake_case("$$"), "field");
        let mut taken: HashSet<String> = FIXED.iter().map(|s| s.to_string()).collect();
        assert_eq!(column_name("guid", &taken), "guid_2");
        taken.insert("foo_bar".into());
        assert_eq!(column_name("fooBar", &taken), "foo_bar_2");
        let long = "x".repeat(100);
        taken.insert("x".repeat(63));
        let name = column_name(&long, &taken);
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("_2"));
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }

    #[test]
    fn types_are_inferred_only_where_unambiguous() {
        assert_eq!(sql_type(BOOLEAN | NULL), Some("boolean"));
        assert_eq!(sql_type(INTEGER), Some("bigint"));
        assert_eq!(sql_type(INTEGER | NUMBER), Some("numeric"));
        assert_eq!(sql_type(STRING | NULL), Some("text"));
        assert_eq!(sql_type(STRING | INTEGER), Some("text"));
        assert_eq!(sql_type(NULL), None);
        assert_eq!(sql_type(OBJECT), None);
        assert_eq!(sql_type(ARRAY | NULL), None);
    }
}
