//! The schema as the live database has it, read from pg_catalog: schemas, tables and views,
//! columns with types and nullability, primary and foreign keys, comments.

use sqlx::PgPool;

use crate::sources::REGISTRY;

/// The schemas described, in this order: every registered source's, then `analytics` and
/// `tributary`.
pub fn schemas() -> Vec<&'static str> {
    REGISTRY
        .iter()
        .map(|r| r.name)
        .chain(["analytics", "tributary"])
        .collect()
}

/// The column marking a synced table: when its content last changed.
pub const LOADED_AT: &str = "_changed_at";

#[derive(Debug)]
pub struct Schema {
    pub name: String,
    pub comment: Option<String>,
    pub relations: Vec<Relation>,
}

#[derive(Debug)]
pub struct Relation {
    pub name: String,
    /// `table` or `view`.
    pub kind: &'static str,
    pub comment: Option<String>,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
}

impl Relation {
    /// A table tributary syncs into (it has `_changed_at`).
    pub fn synced(&self) -> bool {
        self.kind == "table" && self.columns.iter().any(|c| c.name == LOADED_AT)
    }
}

#[derive(Debug)]
pub struct Column {
    pub name: String,
    /// As PostgreSQL spells it (`format_type`), e.g. `timestamp with time zone`.
    pub data_type: String,
    pub not_null: bool,
    pub comment: Option<String>,
}

#[derive(Debug)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    /// `schema.table`.
    pub references: String,
    pub referenced_columns: Vec<String>,
    pub comment: Option<String>,
}

/// Reads the described schemas (those of [`schemas`] that exist) from the catalog.
pub async fn read(pool: &PgPool) -> Result<Vec<Schema>, sqlx::Error> {
    let names: Vec<String> = schemas().iter().map(|s| s.to_string()).collect();
    let schemas: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT n.nspname::text, obj_description(n.oid, 'pg_namespace') FROM pg_namespace n \
         WHERE n.nspname = ANY($1) ORDER BY array_position($1, n.nspname::text)",
    )
    .bind(&names)
    .fetch_all(pool)
    .await?;
    let relations: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text, \
                CASE WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END, \
                obj_description(c.oid, 'pg_class') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
         ORDER BY c.relname",
    )
    .bind(&names)
    .fetch_all(pool)
    .await?;
    let columns: Vec<(String, String, String, String, bool, Option<String>)> = sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text, a.attname::text, \
                format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(c.oid, a.attnum) \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
           AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
    )
    .bind(&names)
    .fetch_all(pool)
    .await?;
    // Key columns in key order; for a foreign key, the referenced ones beside them.
    let constraints: Vec<KeyRow> = sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text, k.conname::text, k.contype::text, \
                ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(num, i) \
                      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num ORDER BY u.i), \
                fn.nspname || '.' || f.relname, \
                ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(num, i) \
                      JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num ORDER BY u.i), \
                obj_description(k.oid, 'pg_constraint') \
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_class f ON f.oid = k.confrelid \
         LEFT JOIN pg_namespace fn ON fn.oid = f.relnamespace \
         WHERE n.nspname = ANY($1) AND k.contype IN ('p', 'f') \
         ORDER BY k.conname",
    )
    .bind(&names)
    .fetch_all(pool)
    .await?;

    let mut out: Vec<Schema> = schemas
        .into_iter()
        .map(|(name, comment)| Schema {
            name,
            comment,
            relations: Vec::new(),
        })
        .collect();
    for (schema, name, kind, comment) in relations {
        if let Some(s) = out.iter_mut().find(|s| s.name == schema) {
            s.relations.push(Relation {
                name,
                kind: if kind == "view" { "view" } else { "table" },
                comment,
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
            });
        }
    }
    for (schema, table, name, data_type, not_null, comment) in columns {
        if let Some(r) = relation(&mut out, &schema, &table) {
            r.columns.push(Column {
                name,
                data_type,
                not_null,
                comment,
            });
        }
    }
    for (schema, table, name, kind, columns, references, referenced_columns, comment) in constraints
    {
        let Some(r) = relation(&mut out, &schema, &table) else {
            continue;
        };
        match (kind.as_str(), references) {
            ("p", _) => r.primary_key = columns,
            (_, Some(references)) => r.foreign_keys.push(ForeignKey {
                name,
                columns,
                references,
                referenced_columns,
                comment,
            }),
            _ => {}
        }
    }
    Ok(out)
}

type KeyRow = (
    String,
    String,
    String,
    String,
    Vec<String>,
    Option<String>,
    Vec<String>,
    Option<String>,
);

fn relation<'a>(schemas: &'a mut [Schema], schema: &str, name: &str) -> Option<&'a mut Relation> {
    schemas
        .iter_mut()
        .find(|s| s.name == schema)?
        .relations
        .iter_mut()
        .find(|r| r.name == name)
}
