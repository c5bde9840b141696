//! `tributary schema` describes the live database (Markdown and a dbt sources.yml, both
//! checked against the catalog), reads only, and the foreign keys it reports hold after a
//! sync of every source.

use std::collections::BTreeSet;

use serde_json::Value;
use tributary::db::runs::RunStatus;
use tributary::sources::REGISTRY;
use tributary::sync::{SyncOptions, sync_source};
use tributary_simulator::SimOptions;

use crate::common::*;
use crate::regressions::all_sources_builder;

const SCHEMAS: [&str; 5] = ["planningnow", "aimsio", "aircalc", "analytics", "tributary"];

/// (table, its columns, referenced table, referenced columns) of every foreign key between
/// the synced tables, as the relationships migration declares them.
const EXPECTED_FKS: [(&str, &str, &str, &str); 6] = [
    (
        "aircalc.positions",
        "project_no",
        "aircalc.projects",
        "project_no",
    ),
    (
        "planningnow.offer_position_tasks",
        "offer_id,position_id",
        "planningnow.offer_positions",
        "offer_id,id",
    ),
    (
        "planningnow.offer_positions",
        "offer_id",
        "planningnow.offers",
        "id",
    ),
    (
        "planningnow.order_position_tasks",
        "order_id,position_id",
        "planningnow.order_positions",
        "order_id,id",
    ),
    (
        "planningnow.order_positions",
        "order_id",
        "planningnow.orders",
        "id",
    ),
    (
        "planningnow.work_schedule_positions",
        "work_schedule_id",
        "planningnow.work_schedules",
        "id",
    ),
];

/// Every column of the described schemas: (schema, table, column, type, comment).
async fn catalog_columns(app: &TestApp) -> Vec<(String, String, String, String, String)> {
    sqlx::query_as(
        "SELECT c.table_schema::text, c.table_name::text, c.column_name::text, \
                format_type(a.atttypid, a.atttypmod), coalesce(col_description(a.attrelid, a.attnum), '') \
         FROM information_schema.columns c \
         JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass \
          AND a.attname = c.column_name \
         WHERE c.table_schema = ANY($1) ORDER BY 1, 2, c.ordinal_position",
    )
    .bind(SCHEMAS)
    .fetch_all(app.pool())
    .await
    .unwrap()
}

/// Every foreign key of the described schemas: (table, columns, referenced table, referenced
/// columns), columns comma separated in key order.
async fn catalog_fks(app: &TestApp) -> BTreeSet<(String, String, String, String)> {
    sqlx::query_as::<_, (String, String, String, String)>(
        "SELECT k.conrelid::regclass::text, \
                (SELECT string_agg(a.attname, ',' ORDER BY u.i) FROM unnest(k.conkey) WITH ORDINALITY u(n, i) \
                 JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n), \
                k.confrelid::regclass::text, \
                (SELECT string_agg(a.attname, ',' ORDER BY u.i) FROM unnest(k.confkey) WITH ORDINALITY u(n, i) \
                 JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n) \
         FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace \
         WHERE k.contype = 'f' AND n.nspname = ANY($1)",
    )
    .bind(SCHEMAS)
    .fetch_all(app.pool())
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// The part of the Markdown about one table or view.
fn section<'m>(markdown: &'m str, table: &str) -> &'m str {
    let heading = format!("\n### {table} (");
    let start = markdown
        .find(&heading)
        .unwrap_or_else(|| panic!("no section for {table}"))
        + 1;
    let rest = &markdown[start..];
    let end = rest[1..].find("\n#").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

#[tokio::test]
async fn schema_markdown_names_every_table_column_and_foreign_key_of_the_live_database() {
    let app = TestApp::builder().without_simulator().spawn().await;
    let out = app.tributary(&["schema"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let markdown = String::from_utf8(out.stdout).unwrap();

    let columns = catalog_columns(&app).await;
    assert!(columns.len() > 100, "{} columns", columns.len());
    for (schema, table, column, ty, comment) in &columns {
        let part = section(&markdown, &format!("{schema}.{table}"));
        let row = part
            .lines()
            .find(|l| l.starts_with(&format!("| {column} | {ty} | ")))
            .unwrap_or_else(|| panic!("{schema}.{table}.{column} ({ty}) missing in:\n{part}"));
        assert!(
            !comment.is_empty() && row.ends_with(&format!(" {comment} |")),
            "{schema}.{table}.{column}: comment {comment:?} not in {row}"
        );
    }
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text || '.' || table_name::text, \
                obj_description((quote_ident(table_schema) || '.' || quote_ident(table_name))::regclass, 'pg_class') \
         FROM information_schema.tables WHERE table_schema = ANY($1)",
    )
    .bind(SCHEMAS)
    .fetch_all(app.pool())
    .await
    .unwrap();
    for (table, comment) in &tables {
        assert!(
            section(&markdown, table).contains(&format!("\n\n{comment}\n")),
            "{table}: its comment is missing"
        );
    }
    let fks = catalog_fks(&app).await;
    assert!(fks.len() >= EXPECTED_FKS.len(), "{fks:?}");
    for (table, cols, references, ref_cols) in &fks {
        let line = format!(
            "({}) → {references} ({})",
            cols.replace(',', ", "),
            ref_cols.replace(',', ", ")
        );
        assert!(
            section(&markdown, table).contains(&line),
            "{table}: foreign key {line} missing"
        );
    }

    // Read-only: a database behind the migrations is reported, not migrated.
    let latest: i64 = sqlx::query_scalar(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations) \
         RETURNING version",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let out = app.tributary(&["schema", "--format", "dbt"]).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("is not migrated") && all.contains("run `tributary migrate`"),
        "{all}"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM _sqlx_migrations WHERE version = {latest}"
        ))
        .await,
        0,
        "schema applied a migration"
    );
    app.stop().await;
}

#[tokio::test]
async fn schema_dbt_sources_match_the_catalog_with_freshness_and_key_tests() {
    let app = TestApp::builder()
        .without_simulator()
        .env("TRIBUTARY__SOURCES__AIMSIO__SCHEDULE", "0 */15 * * * *")
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__SCHEDULE", "0 0 * * * *")
        .env("TRIBUTARY__SOURCES__AIRCALC__CLIENT_SECRET", "s3cr3t-dbt")
        .spawn()
        .await;
    let out = app.tributary(&["schema", "--format", "dbt"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("s3cr3t-dbt"));
    let yaml: Value = serde_norway::from_slice(&out.stdout).expect("YAML");
    assert_eq!(yaml["version"], 2);

    let schema_comments: Vec<(String, String)> = sqlx::query_as(
        "SELECT nspname::text, obj_description(oid, 'pg_namespace') FROM pg_namespace \
         WHERE nspname = ANY($1) ORDER BY array_position($1, nspname::text)",
    )
    .bind(SCHEMAS)
    .fetch_all(app.pool())
    .await
    .unwrap();
    let sources = yaml["sources"].as_array().expect("sources");
    let names: Vec<&str> = sources
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, SCHEMAS);

    let catalog: BTreeSet<(String, String, String)> = catalog_columns(&app)
        .await
        .into_iter()
        .map(|(schema, table, column, _, _)| (schema, table, column))
        .collect();
    let synced: BTreeSet<(String, String)> = catalog
        .iter()
        .filter(|(_, _, column)| column == "_changed_at")
        .map(|(schema, table, _)| (schema.clone(), table.clone()))
        .collect();
    let mut named = BTreeSet::new();
    let mut loaded_at = BTreeSet::new();
    let mut relationships = BTreeSet::new();
    for (source, (schema, comment)) in sources.iter().zip(&schema_comments) {
        assert_eq!(source["description"].as_str(), Some(comment.as_str()));
        let scheduled = ["planningnow", "aimsio", "aircalc"].contains(&schema.as_str());
        assert_eq!(
            source["freshness"].is_object(),
            scheduled,
            "{schema}: {source}"
        );
        for table in source["tables"].as_array().unwrap() {
            let name = table["name"].as_str().unwrap();
            assert!(table["description"].is_string(), "{schema}.{name}");
            if table["loaded_at_field"] == "_changed_at" {
                loaded_at.insert((schema.clone(), name.to_string()));
            }
            for column in table["columns"].as_array().unwrap() {
                let column_name = column["name"].as_str().unwrap();
                named.insert((schema.clone(), name.to_string(), column_name.to_string()));
                for test in column["tests"].as_array().into_iter().flatten() {
                    if let Some(rel) = test.get("relationships") {
                        relationships.insert((
                            format!("{schema}.{name}.{column_name}"),
                            rel["to"].as_str().unwrap().to_string(),
                            rel["field"].as_str().unwrap().to_string(),
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(named, catalog, "tables and columns named vs the catalog");
    assert!(!synced.is_empty());
    assert_eq!(
        loaded_at, synced,
        "loaded_at_field on exactly the synced tables"
    );

    // Freshness: two and four times the gap between the schedule's ticks.
    let freshness =
        |name: &str| sources[SCHEMAS.iter().position(|s| *s == name).unwrap()]["freshness"].clone();
    assert_eq!(
        freshness("aimsio"),
        serde_json::json!({"warn_after": {"count": 30, "period": "minute"},
                           "error_after": {"count": 1, "period": "hour"}})
    );
    assert_eq!(
        freshness("planningnow"),
        serde_json::json!({"warn_after": {"count": 2, "period": "hour"},
                           "error_after": {"count": 4, "period": "hour"}})
    );

    // Key tests: unique + not_null on one-column primary keys, not_null on longer ones.
    let orders = &sources[0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "orders")
        .unwrap()["columns"];
    assert_eq!(orders[0]["name"], "id");
    assert_eq!(
        orders[0]["tests"],
        serde_json::json!(["unique", "not_null"])
    );
    let positions = &sources[0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "order_positions")
        .unwrap()["columns"];
    assert_eq!(positions[1]["name"], "id");
    assert_eq!(positions[1]["tests"], serde_json::json!(["not_null"]));

    // Relationships: one test per column of every foreign key in the catalog.
    let expected: BTreeSet<(String, String, String)> = catalog_fks(&app)
        .await
        .into_iter()
        .flat_map(|(table, cols, references, ref_cols)| {
            let (to_schema, to_table) = references.split_once('.').unwrap();
            let to = format!("source('{to_schema}', '{to_table}')");
            cols.split(',')
                .zip(ref_cols.split(','))
                .map(|(c, r)| (format!("{table}.{c}"), to.clone(), r.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(expected.len() >= EXPECTED_FKS.len());
    assert_eq!(relationships, expected);
    app.stop().await;
}

#[tokio::test]
async fn declared_foreign_keys_are_the_expected_ones_and_hold_after_syncing_every_source() {
    let app = all_sources_builder(
        SimOptions {
            orders: 8,
            aircalc_projects: 4,
            aimsio_objects: 3,
            ..SimOptions::default()
        },
        "JobOrder,Timecard",
    )
    .spawn()
    .await;
    let declared: BTreeSet<(String, String, String, String)> = catalog_fks(&app)
        .await
        .into_iter()
        .filter(|(table, ..)| !table.starts_with("tributary."))
        .collect();
    let expected: BTreeSet<(String, String, String, String)> = EXPECTED_FKS
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect();
    assert_eq!(declared, expected);
    let deferred: i64 = app
        .count(
            "SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace \
             WHERE k.contype = 'f' AND n.nspname IN ('planningnow', 'aimsio', 'aircalc') \
               AND k.condeferrable AND k.condeferred",
        )
        .await;
    assert_eq!(
        deferred,
        expected.len() as i64,
        "DEFERRABLE INITIALLY DEFERRED"
    );

    let settings = app.settings();
    let options = SyncOptions {
        trigger: "cli",
        allow_mass_delete: false,
    };
    for registration in REGISTRY {
        let source = (registration.build)(&settings, app.pool()).expect("builds");
        let report = sync_source(app.pool(), &settings.sync, &source, &options)
            .await
            .expect("run records");
        assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    }
    // Every key holds for every stored row (not only the rows checked at their commit), and
    // each relates rows that exist.
    for (table, cols, references, ref_cols) in &expected {
        let on: Vec<String> = cols
            .split(',')
            .zip(ref_cols.split(','))
            .map(|(c, r)| format!("p.{r} = t.{c}"))
            .collect();
        let (children, orphans): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM {references} p WHERE {})) \
             FROM {table} t",
            on.join(" AND ")
        )))
        .fetch_one(app.pool())
        .await
        .unwrap();
        assert!(children > 0, "{table}: no rows synced");
        assert_eq!(orphans, 0, "{table}: rows without their {references}");
    }
    // Deferred: a position moved to a missing order is refused at commit, or at once when
    // the transaction asks for immediate checks.
    let orphan = "UPDATE planningnow.order_positions SET order_id = -1 \
                  WHERE (order_id, id) = (SELECT order_id, id FROM planningnow.order_positions LIMIT 1)";
    let mut tx = app.pool().begin().await.unwrap();
    sqlx::query(orphan)
        .execute(&mut *tx)
        .await
        .expect("deferred");
    let refused = tx.commit().await.expect_err("checked at commit");
    assert!(refused.to_string().contains("foreign key"), "{refused}");
    let mut tx = app.pool().begin().await.unwrap();
    sqlx::query("SET CONSTRAINTS ALL IMMEDIATE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let refused = sqlx::query(orphan)
        .execute(&mut *tx)
        .await
        .expect_err("checked at once");
    assert!(refused.to_string().contains("foreign key"), "{refused}");
    drop(tx);
    app.stop().await;
}
