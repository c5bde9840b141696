//! The source registry is complete: every registered source has its tables (as its specs
//! say, each with a COMMENT), a simulator that serves it, and its part of `status`. A source
//! added to the registry without one of them fails here.

use std::collections::BTreeSet;

use serde_json::Value;
use tributary::db::runs::RunStatus;
use tributary::sources::REGISTRY;
use tributary::sync::{SyncOptions, sync_source};
use tributary_simulator::SimOptions;

use crate::common::*;
use crate::regressions::all_sources_builder;

#[tokio::test]
async fn every_registered_table_is_migrated_as_specified_and_commented() {
    let app = TestApp::builder().without_simulator().spawn().await;
    for registration in REGISTRY {
        let roots = (registration.tables)();
        assert!(!roots.is_empty(), "{} declares no table", registration.name);
        let mut specified = BTreeSet::new();
        for table in roots.iter().flat_map(|root| root.flatten()) {
            let (schema, name) = table.name.split_once('.').unwrap();
            assert_eq!(
                schema, registration.name,
                "{}: a source's tables live in its schema",
                table.name
            );
            specified.insert(table.name.to_string());
            for (column, ty) in table.staged_columns() {
                let found: Option<String> = sqlx::query_scalar(
                    "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
                     JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND NOT a.attisdropped",
                )
                .bind(schema)
                .bind(name)
                .bind(column)
                .fetch_optional(app.pool())
                .await
                .unwrap();
                let expected = match ty {
                    "timestamptz" => "timestamp with time zone",
                    other => other,
                };
                assert_eq!(found.as_deref(), Some(expected), "{}.{column}", table.name);
            }
        }
        // Both ways: every synced table of the schema is one the source declares.
        let migrated: BTreeSet<String> = sqlx::query_scalar(
            "SELECT c.table_schema || '.' || c.table_name FROM information_schema.columns c \
             JOIN information_schema.tables t USING (table_schema, table_name) \
             WHERE c.column_name = '_deleted_at' AND c.table_schema = $1 AND t.table_type = 'BASE TABLE'",
        )
        .bind(registration.name)
        .fetch_all(app.pool())
        .await
        .unwrap()
        .into_iter()
        .collect();
        assert_eq!(
            migrated, specified,
            "{}: migrated vs declared tables",
            registration.name
        );
    }
    let mut schemas: Vec<&str> = REGISTRY.iter().map(|r| r.name).collect();
    schemas.extend(["analytics", "tributary"]);
    let uncommented: Vec<String> = sqlx::query_scalar(
        "SELECT n.nspname FROM pg_namespace n WHERE n.nspname = ANY($1) AND obj_description(n.oid, 'pg_namespace') IS NULL \
         UNION ALL SELECT c.table_schema || '.' || c.table_name || '.' || c.column_name \
         FROM information_schema.columns c \
         WHERE c.table_schema = ANY($1) AND col_description( \
           (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass, c.ordinal_position) IS NULL \
         UNION ALL SELECT n.nspname || '.' || t.relname FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = ANY($1) AND t.relkind IN ('r', 'v') AND obj_description(t.oid, 'pg_class') IS NULL",
    )
    .bind(&schemas)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert!(uncommented.is_empty(), "without COMMENT: {uncommented:?}");
    app.stop().await;
}

#[tokio::test]
async fn every_registered_source_syncs_from_the_simulator_and_shows_in_status() {
    let app = all_sources_builder(
        SimOptions {
            orders: 6,
            aircalc_projects: 4,
            aimsio_objects: 3,
            ..SimOptions::default()
        },
        "JobOrder,Timecard",
    )
    .spawn()
    .await;
    let settings = app.settings();
    let options = SyncOptions {
        trigger: "cli",
        allow_mass_delete: false,
    };
    for registration in REGISTRY {
        assert_eq!(
            settings.source_enabled(registration.name),
            Some(true),
            "the simulator serves {}",
            registration.name
        );
        let source = (registration.build)(&settings, app.pool()).expect("builds");
        let report = sync_source(app.pool(), &settings.sync, &source, &options)
            .await
            .expect("run records");
        assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
        let inserted: u64 = report
            .streams
            .iter()
            .map(|s| s.counts.total().inserted)
            .sum();
        assert!(
            inserted > 0,
            "{}: nothing landed: {report:?}",
            registration.name
        );
    }
    let out = app.tributary(&["status", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let status: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let text_out = app.tributary(&["status"]).await;
    let shown = String::from_utf8_lossy(&text_out.stdout);
    for registration in REGISTRY {
        let name = registration.name;
        let source = status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == name)
            .unwrap_or_else(|| panic!("{name} missing in status sources"));
        assert_eq!(source["last_status"], "succeeded", "{source}");
        assert!(shown.contains(name), "{name} missing in:\n{shown}");
        for table in (registration.tables)().iter().flat_map(|t| t.flatten()) {
            let rows = status["tables"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["table"] == table.name)
                .unwrap_or_else(|| panic!("{} missing in status tables", table.name));
            // The text shows the tables that hold rows.
            if rows["live"].as_i64() > Some(0) {
                assert!(
                    shown.contains(table.name),
                    "{} missing in:\n{shown}",
                    table.name
                );
            }
        }
        if registration.backlog.is_some() {
            assert!(
                status["backlogs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|b| b["source"] == name),
                "{name}'s backlog missing in {status}"
            );
        }
    }
    app.stop().await;
}
