//! History: every content version of a row in the view `<table>_history`, the current rows
//! and the ended versions the tables' triggers write to `<table>_superseded` in the change's
//! transaction. Against the simulators: after a first sync there is one version per row (and
//! none written beside the rows), an unchanged sync writes nothing there,
//! the versions a re-sync writes are exactly the records the simulator reports it changed,
//! added and deleted (PlanningNow listing, Aimsio delta, aircalc refresh), `_as_of` answers
//! what was served before, `sources.<name>.history = false` writes nothing (and switched
//! back on, the history catches up), and `enable_history` gives a table with rows their
//! first versions.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sqlx::Row;
use tributary::db::runs::RunStatus;
use tributary::sources::{self, aircalc};
use tributary::sync::{SourceReport, SyncOptions, sync_source};
use tributary_simulator::SimOptions;

use crate::aimsio::{aimsio_app, sync_aimsio};
use crate::common::*;

/// Every data table of `schema` (those with `_changed_at`).
async fn data_tables(app: &TestApp, schema: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.columns \
         WHERE table_schema = $1 AND column_name = '_changed_at' ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(app.pool())
    .await
    .unwrap()
}

/// A transaction id: every row version written after it has a larger `xmin`.
async fn xid(app: &TestApp) -> i64 {
    app.count("SELECT (pg_current_xact_id()::text::bigint % 4294967296)")
        .await
}

/// Superseded versions of `schema` written (inserted or updated) since transaction `since`.
async fn history_written_since(app: &TestApp, schema: &str, since: i64) -> i64 {
    let mut written = 0;
    for table in data_tables(app, schema).await {
        written += app
            .count(&format!(
                "SELECT count(*) FROM {table}_superseded WHERE xmin::text::bigint > {since}"
            ))
            .await;
    }
    written
}

/// The database's clock now (between two syncs: after the first committed, before the
/// second started).
async fn db_now(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// The text keys of `sql` (one column), as a set.
async fn keys(app: &TestApp, sql: &str, at: chrono::DateTime<chrono::Utc>) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(at)
        .fetch_all(app.pool())
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The keys a simulator's mutate report lists under `field`, as text.
fn reported(report: &Value, field: &str) -> BTreeSet<String> {
    report[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} in {report}"))
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// Per table of `schema`: one version per row, open for a live row, and from the row's
/// `_changed_at` on.
async fn assert_one_version_per_row(app: &TestApp, schema: &str) {
    for table in data_tables(app, schema).await {
        let rows = app.count(&format!("SELECT count(*) FROM {table}")).await;
        let versions = app
            .count(&format!("SELECT count(*) FROM {table}_history"))
            .await;
        assert_eq!(versions, rows, "{table}: one version per row");
        let open = app
            .count(&format!(
                "SELECT count(*) FROM {table}_history WHERE _valid_to IS NULL AND NOT _deleted"
            ))
            .await;
        let live = app
            .count(&format!(
                "SELECT count(*) FROM {table} WHERE _deleted_at IS NULL"
            ))
            .await;
        assert_eq!(open, live, "{table}: an open version per live row");
    }
}

/// The versions of `table` (keyed by the text of `key`) that started, ended by a change,
/// and ended by a soft delete after `at`.
async fn versions_after(
    app: &TestApp,
    table: &str,
    key: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let h = format!("{table}_history");
    (
        keys(
            app,
            &format!("SELECT {key}::text FROM {h} WHERE _valid_from > $1"),
            at,
        )
        .await,
        keys(
            app,
            &format!("SELECT {key}::text FROM {h} WHERE _valid_to > $1 AND NOT _deleted"),
            at,
        )
        .await,
        keys(
            app,
            &format!("SELECT {key}::text FROM {h} WHERE _valid_to > $1 AND _deleted"),
            at,
        )
        .await,
    )
}

#[tokio::test]
async fn history_versions_follow_exactly_the_planningnow_changes_and_as_of_answers_the_past() {
    let app = TestApp::spawn(40).await;
    let first = app.sync(false).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    // The tables were empty: their rows were COPYed directly, and are their first versions,
    // with nothing written beside them.
    assert!(app.count("SELECT count(*) FROM planningnow.orders").await >= 40);
    assert_one_version_per_row(&app, "planningnow").await;
    assert_eq!(history_written_since(&app, "planningnow", 0).await, 0);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM planningnow.orders o JOIN planningnow.orders_history h \
             USING (id) WHERE h._valid_from = o._changed_at AND h._run_id = o._run_id \
             AND h.raw = o.raw AND h.subject IS NOT DISTINCT FROM o.subject"
        )
        .await,
        app.count("SELECT count(*) FROM planningnow.orders").await,
        "each first version is the row as stored"
    );

    let before = xid(&app).await;
    let unchanged = app.sync(false).await;
    assert_eq!(unchanged.status, RunStatus::Succeeded, "{unchanged:?}");
    assert_eq!(
        history_written_since(&app, "planningnow", before).await,
        0,
        "an unchanged sync writes nothing to history"
    );

    // What the source served before the change, as stored.
    let served_before: Vec<(i64, String, Value)> = sqlx::query_as(
        "SELECT id, subject, raw FROM planningnow.orders WHERE _deleted_at IS NULL ORDER BY id",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    let m = app
        .control(
            "POST",
            "/_sim/planningnow/mutate",
            json!({"change": 0.2, "add": 0.1, "delete": 0.1, "seed": 15, "kinds": ["order"]}),
        )
        .await;
    let m = &m["order"];
    let (changed, added, deleted) = (
        reported(m, "changed"),
        reported(m, "added"),
        reported(m, "deleted"),
    );
    assert!(
        !changed.is_empty() && !added.is_empty() && !deleted.is_empty(),
        "{m}"
    );
    let between = db_now(&app).await;
    let second = app.sync(false).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");

    let (opened, closed, vanished) =
        versions_after(&app, "planningnow.orders", "id", between).await;
    assert_eq!(
        opened,
        changed.union(&added).cloned().collect(),
        "new versions: exactly the changed and added orders"
    );
    assert_eq!(closed, changed, "versions ended by a change");
    assert_eq!(vanished, deleted, "versions ended by a soft delete");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM planningnow.orders o JOIN planningnow.orders_history h USING (id) \
             WHERE h._deleted AND h._valid_to <> o._deleted_at"
        )
        .await,
        0,
        "a soft delete ends the version when the row was deleted"
    );
    // Every row still has exactly its current content as the open version.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM planningnow.orders o JOIN planningnow.orders_history h USING (id) \
             WHERE h._valid_to IS NULL AND h._valid_from = o._changed_at AND h.raw = o.raw \
             AND o._deleted_at IS NULL"
        )
        .await,
        app.count("SELECT count(*) FROM planningnow.orders WHERE _deleted_at IS NULL")
            .await
    );

    // As of between the syncs: what was served then, deleted orders included.
    let as_of: Vec<(i64, String, Value)> =
        sqlx::query_as("SELECT id, subject, raw FROM planningnow.orders_as_of($1) ORDER BY id")
            .bind(between)
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(as_of, served_before, "orders_as_of answers the past");
    let now: Vec<(i64, Value)> =
        sqlx::query_as("SELECT id, raw FROM planningnow.orders_as_of(now()) ORDER BY id")
            .fetch_all(app.pool())
            .await
            .unwrap();
    let live: Vec<(i64, Value)> = sqlx::query_as(
        "SELECT id, raw FROM planningnow.orders WHERE _deleted_at IS NULL ORDER BY id",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(now, live, "as of now: the live rows");

    // status shows the versions and their size.
    let out = app.tributary(&["status", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let orders = status["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "planningnow.orders")
        .expect("planningnow.orders")
        .clone();
    assert_eq!(
        orders["history_rows"].as_i64(),
        Some(
            app.count("SELECT count(*) FROM planningnow.orders_history")
                .await
        ),
        "{orders}"
    );
    assert!(orders["history_bytes"].as_i64().unwrap() > 0, "{orders}");
    let out = app.tributary(&["status"]).await;
    assert!(text(&out).contains("history versions"), "{}", text(&out));
    app.stop().await;
}

#[tokio::test]
async fn history_off_writes_no_version_and_switched_back_on_catches_up() {
    let mut app = TestApp::builder()
        .orders(20)
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__HISTORY", "false")
        .spawn()
        .await;
    let first = app.sync(false).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    app.control(
        "POST",
        "/_sim/planningnow/mutate",
        json!({"change": 0.3, "add": 0.1, "delete": 0.1, "seed": 3}),
    )
    .await;
    let second = app.sync(false).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    let orders = stream(&second, "orders").counts.tables["planningnow.orders"].clone();
    assert!(orders.updated > 0 && orders.deleted > 0, "{orders:?}");
    for table in data_tables(&app, "planningnow").await {
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM {table}_superseded"))
                .await,
            0,
            "{table}: history off writes nothing"
        );
    }

    // Back on: each row gets the version of its current content (what changed while it
    // was off has no versions of its own).
    app.set_env("TRIBUTARY__SOURCES__PLANNINGNOW__HISTORY", "true");
    let third = app.sync(false).await;
    assert_eq!(third.status, RunStatus::Succeeded, "{third:?}");
    assert_one_version_per_row(&app, "planningnow").await;
    app.stop().await;
}

#[tokio::test]
async fn history_of_aimsio_deltas_keeps_the_versions_and_their_source_stamps() {
    let app = aimsio_app(12, "JobOrder").await;
    let first = sync_aimsio(&app).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    assert_one_version_per_row(&app, "aimsio").await;
    let before = xid(&app).await;
    sync_aimsio(&app).await;
    assert_eq!(history_written_since(&app, "aimsio", before).await, 0);

    let m = app
        .control(
            "POST",
            "/_sim/aimsio/mutate",
            json!({"entity": "JobOrder", "change": 3, "add": 2, "delete": 2, "seed": 9}),
        )
        .await;
    let m = &m["JobOrder"];
    let (changed, added, deleted) = (
        reported(m, "changed"),
        reported(m, "added"),
        reported(m, "deleted"),
    );
    let between = db_now(&app).await;
    let second = sync_aimsio(&app).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    let (opened, closed, vanished) =
        versions_after(&app, "aimsio.job_orders", "guid", between).await;
    assert_eq!(opened, changed.union(&added).cloned().collect(), "{m}");
    assert_eq!(closed, changed, "{m}");
    assert_eq!(vanished, deleted, "{m}");
    // Aimsio's own change stamp is a column of each version: the old one kept, the new one
    // later.
    let stamps = sqlx::query(
        "SELECT o.guid, o.updated_at AS old, n.updated_at AS new \
         FROM aimsio.job_orders_history o JOIN aimsio.job_orders_history n \
           ON n.guid = o.guid AND n._valid_from = o._valid_to \
         WHERE o._valid_to > $1",
    )
    .bind(between)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(stamps.len(), changed.len());
    for row in stamps {
        let (old, new): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
            (row.get("old"), row.get("new"));
        assert!(
            old < new,
            "{}: {old} then {new}",
            row.get::<String, _>("guid")
        );
    }
    app.stop().await;
}

async fn aircalc_pass(app: &TestApp) -> SourceReport {
    let settings = app.settings();
    let source = sources::build(&settings, &[aircalc::NAME], app.pool()).expect("source");
    let options = SyncOptions {
        trigger: "cli",
        allow_mass_delete: false,
    };
    sync_source(app.pool(), &settings.sync, &source[0], &options)
        .await
        .expect("run records")
}

#[tokio::test]
async fn history_of_aircalc_refreshes_keeps_the_versions_and_their_source_stamps() {
    let app = TestApp::builder()
        .apis(&[Api::Aircalc])
        .sim_options(SimOptions {
            aircalc_projects: 6,
            ..SimOptions::default()
        })
        .env("TRIBUTARY__SOURCES__AIRCALC__REFRESH_AFTER_HOURS", "0")
        .spawn()
        .await;
    let first = aircalc_pass(&app).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    assert!(app.count("SELECT count(*) FROM aircalc.projects").await >= 6);
    assert_one_version_per_row(&app, "aircalc").await;
    let before = xid(&app).await;
    let unchanged = aircalc_pass(&app).await;
    assert_eq!(unchanged.status, RunStatus::Succeeded, "{unchanged:?}");
    assert_eq!(
        history_written_since(&app, "aircalc", before).await,
        0,
        "projects fetched again unchanged write no version"
    );

    let m = app
        .control(
            "POST",
            "/_sim/aircalc/mutate",
            json!({"change": 2, "delete": 1, "seed": 4}),
        )
        .await;
    let (changed, deleted) = (reported(&m, "changed"), reported(&m, "deleted"));
    assert_eq!((changed.len(), deleted.len()), (2, 1), "{m}");
    let between = db_now(&app).await;
    let second = aircalc_pass(&app).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    let (opened, closed, vanished) =
        versions_after(&app, "aircalc.projects", "project_no", between).await;
    assert_eq!(opened, changed, "{m}");
    assert_eq!(closed, changed, "{m}");
    assert_eq!(vanished, deleted, "{m}");
    // A deleted project's positions end with it.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM aircalc.positions_history WHERE project_no = '{}' AND _valid_to IS NULL",
            deleted.first().unwrap()
        ))
        .await,
        0
    );
    // aircalc's own change stamp is kept per version.
    let stamps: Vec<(
        String,
        chrono::DateTime<chrono::Utc>,
        chrono::DateTime<chrono::Utc>,
    )> = sqlx::query_as(
        "SELECT o.project_no, o.updated_at, n.updated_at \
             FROM aircalc.projects_history o JOIN aircalc.projects_history n \
               ON n.project_no = o.project_no AND n._valid_from = o._valid_to \
             WHERE o._valid_to > $1",
    )
    .bind(between)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(stamps.len(), changed.len());
    for (project, old, new) in stamps {
        assert!(old < new, "{project}: {old} then {new}");
    }
    app.stop().await;
}

#[tokio::test]
async fn history_enable_gives_every_data_table_and_one_with_rows_its_first_versions() {
    let db = fresh_db().await;
    let pool = &db.pool;
    // The migration gave every data table its history.
    let without: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.columns \
         WHERE column_name = '_changed_at' AND table_schema IN ('planningnow', 'aimsio', 'aircalc') \
         AND to_regclass(format('%I.%I', table_schema, table_name || '_history')) IS NULL",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(without.is_empty(), "no history: {without:?}");

    // A table with rows, as the migration finds an existing database's tables: a live row,
    // one changed since, one soft-deleted.
    for sql in [
        "CREATE TABLE planningnow.scratch (a bigint, b text, name text, raw jsonb NOT NULL, \
         _inserted_at timestamptz NOT NULL, _changed_at timestamptz NOT NULL, \
         _deleted_at timestamptz, _run_id bigint NOT NULL, _hash bigint, PRIMARY KEY (a, b))",
        "COMMENT ON COLUMN planningnow.scratch.name IS 'A name'",
        "INSERT INTO planningnow.scratch VALUES \
         (1, 'x', 'one', '{}', '2026-01-01', '2026-01-01', NULL, 1, 11), \
         (2, 'x', 'two', '{}', '2026-01-01', '2026-02-01', NULL, 2, 12), \
         (3, 'y', 'three', '{}', '2026-01-01', '2026-01-01', '2026-03-01', 3, 13)",
        "SELECT tributary.enable_history('planningnow.scratch')",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    /// A version: a, b, name, from, to, run, deleted.
    type Version = (
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<i64>,
        bool,
    );
    let versions: Vec<Version> = sqlx::query_as(
        "SELECT a, b, name, _valid_from::date::text, _valid_to::date::text, _run_id, _deleted \
             FROM planningnow.scratch_history ORDER BY a",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        versions,
        [
            (
                1,
                "x".into(),
                "one".into(),
                "2026-01-01".into(),
                None,
                Some(1),
                false
            ),
            (
                2,
                "x".into(),
                "two".into(),
                "2026-02-01".into(),
                None,
                Some(2),
                false
            ),
            (
                3,
                "y".into(),
                "three".into(),
                "2026-01-01".into(),
                Some("2026-03-01".into()),
                None,
                true
            ),
        ]
    );
    let comment: Option<String> =
        sqlx::query_scalar("SELECT col_description('planningnow.scratch_history'::regclass, 3)")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(
        comment.as_deref(),
        Some("A name"),
        "column comments carried over"
    );
    let as_of: Vec<String> =
        sqlx::query_scalar("SELECT name FROM planningnow.scratch_as_of('2026-01-15') ORDER BY a")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(as_of, ["one", "three"]);

    // From now on the triggers keep it: a change, a hash filled in (no change), a
    // reappearance.
    for sql in [
        "UPDATE planningnow.scratch SET name = 'uno', _hash = 21, _changed_at = '2026-04-01', _run_id = 4 WHERE a = 1",
        "UPDATE planningnow.scratch SET _hash = NULL WHERE a = 2",
        "UPDATE planningnow.scratch SET _hash = 12, raw = '{\"k\": 1}' WHERE a = 2",
        "UPDATE planningnow.scratch SET _deleted_at = NULL, _changed_at = '2026-05-01', _run_id = 5 WHERE a = 3",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    let versions: Vec<(i64, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT a, _valid_from::date::text, _valid_to::date::text, _deleted \
         FROM planningnow.scratch_history ORDER BY a, _valid_from",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        versions,
        [
            (1, "2026-01-01".into(), Some("2026-04-01".into()), false),
            (1, "2026-04-01".into(), None, false),
            (2, "2026-02-01".into(), None, false),
            (3, "2026-01-01".into(), Some("2026-03-01".into()), true),
            (3, "2026-05-01".into(), None, false),
        ]
    );
    db.drop().await;
}

/// The versions a large change ends are written by a plan made for its size, even on a
/// connection whose earlier changes were small: a plan cached for the first (near-empty)
/// transition tables of a session joined them by a nested loop, which took 22 s for 10 000
/// changed orders. PostgreSQL's `auto_explain` shows the plans the trigger ran (`psql`
/// prints them, as notices, from one session).
#[tokio::test]
async fn history_of_a_large_change_is_planned_for_its_size_after_small_ones() {
    let db = fresh_db().await;
    for sql in [
        "CREATE TABLE planningnow.scratch (a bigint PRIMARY KEY, name text, raw jsonb NOT NULL, \
         _inserted_at timestamptz NOT NULL, _changed_at timestamptz NOT NULL, \
         _deleted_at timestamptz, _run_id bigint NOT NULL, _hash bigint)",
        "INSERT INTO planningnow.scratch SELECT i, 'n' || i, '{}', '2026-01-01', '2026-01-01', NULL, 1, i \
         FROM generate_series(1, 5000) i",
        "SELECT tributary.enable_history('planningnow.scratch')",
    ] {
        sqlx::query(sql).execute(&db.pool).await.unwrap();
    }
    let out = tokio::process::Command::new("psql")
        .arg(&db.url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .args([
            "-c",
            "LOAD 'auto_explain'",
            "-c",
            "SET auto_explain.log_min_duration = 0",
            "-c",
            "SET auto_explain.log_nested_statements = on",
            "-c",
            "SET auto_explain.log_level = 'notice'",
            "-c",
            "UPDATE planningnow.scratch SET name = 'one', _changed_at = '2026-02-01' WHERE a = 1",
            "-c",
            "SELECT 'large change'",
            "-c",
            "UPDATE planningnow.scratch SET name = 'all', _changed_at = '2026-03-01'",
        ])
        .output()
        .await
        .expect("psql runs");
    let notices = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{notices}");
    let large = notices
        .split("large change")
        .nth(1)
        .unwrap_or_else(|| panic!("no plans after the small change: {notices}"));
    let written = large
        .split("Query Text:")
        .find(|plan| plan.contains("INSERT INTO planningnow.scratch_superseded"))
        .unwrap_or_else(|| panic!("no plan of the versions written: {large}"));
    assert!(
        written.contains("Hash Join") && !written.contains("Nested Loop"),
        "{written}"
    );
    assert_eq!(
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM planningnow.scratch_superseded WHERE _valid_to = '2026-03-01'"
        )
        .fetch_one(&db.pool)
        .await
        .unwrap(),
        5000
    );
    db.drop().await;
}

/// A database whose history tables held every version (before `_superseded`) keeps every
/// version through the upgrade: the ended ones move to `<table>_superseded`, the open ones
/// are the rows themselves again, and the view shows the same versions as the table did.
#[tokio::test]
async fn history_upgrade_keeps_every_version_and_moves_only_the_ended_ones() {
    let db = blank_db().await;
    let pool = &db.pool;
    tributary::db::MIGRATOR
        .run_to(20261203000003, pool)
        .await
        .expect("the migrations before the superseded tables");
    for sql in [
        "CREATE TABLE planningnow.scratch (a bigint PRIMARY KEY, name text, raw jsonb NOT NULL, \
         _inserted_at timestamptz NOT NULL, _changed_at timestamptz NOT NULL, \
         _deleted_at timestamptz, _run_id bigint NOT NULL, _hash bigint)",
        "COMMENT ON COLUMN planningnow.scratch.name IS 'A name'",
        "SELECT tributary.enable_history('planningnow.scratch')",
        "INSERT INTO planningnow.scratch VALUES \
         (1, 'one', '{}', '2026-01-01', '2026-01-01', NULL, 1, 11), \
         (2, 'two', '{}', '2026-01-01', '2026-01-01', NULL, 1, 12), \
         (3, 'three', '{}', '2026-01-01', '2026-01-01', NULL, 1, 13)",
        "UPDATE planningnow.scratch SET name = 'zwei', _hash = 22, _changed_at = '2026-02-01', _run_id = 2 WHERE a = 2",
        "UPDATE planningnow.scratch SET _deleted_at = '2026-03-01', _run_id = 3 WHERE a = 3",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    let versions_sql = "SELECT a, name, _valid_from::date::text, _valid_to::date::text, _run_id, _deleted \
         FROM planningnow.scratch_history ORDER BY a, _valid_from";
    type Version = (i64, String, String, Option<String>, Option<i64>, bool);
    let before: Vec<Version> = sqlx::query_as(versions_sql).fetch_all(pool).await.unwrap();
    assert_eq!(before.len(), 4, "{before:?}");

    tributary::db::migrate(pool).await.expect("the upgrade");
    let after: Vec<Version> = sqlx::query_as(versions_sql).fetch_all(pool).await.unwrap();
    assert_eq!(after, before);
    let ended: Vec<(i64, String)> = sqlx::query_as(
        "SELECT a, _valid_to::date::text FROM planningnow.scratch_superseded ORDER BY a",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(ended, [(2, "2026-02-01".into()), (3, "2026-03-01".into())]);
    let comment: Option<String> =
        sqlx::query_scalar("SELECT col_description('planningnow.scratch_history'::regclass, 2)")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(comment.as_deref(), Some("A name"));

    // The new triggers keep it: a change ends the current version.
    sqlx::query(
        "UPDATE planningnow.scratch SET name = 'uno', _hash = 21, _changed_at = '2026-04-01', _run_id = 4 WHERE a = 1",
    )
    .execute(pool)
    .await
    .unwrap();
    let as_of: Vec<String> =
        sqlx::query_scalar("SELECT name FROM planningnow.scratch_as_of('2026-03-15') ORDER BY a")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(as_of, ["one", "zwei"]);
    let now: Vec<String> =
        sqlx::query_scalar("SELECT name FROM planningnow.scratch_as_of(now()) ORDER BY a")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(now, ["uno", "zwei"]);
    db.drop().await;
}
