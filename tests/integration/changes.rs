//! Change detection in Rust (`_hash`): a sync that changes nothing writes nothing in the data
//! schemas, a sync after some changes rewrites exactly those rows, and rows stored before
//! hashes existed get theirs without a visible change.

use serde_json::json;
use tributary::db::runs::RunStatus;

use crate::common::*;

/// PlanningNow's tables, for counting rows written since a transaction id.
const TABLES: [&str; 11] = [
    "planningnow.orders",
    "planningnow.order_positions",
    "planningnow.order_position_tasks",
    "planningnow.offers",
    "planningnow.offer_positions",
    "planningnow.offer_position_tasks",
    "planningnow.work_schedules",
    "planningnow.work_schedule_positions",
    "planningnow.cost_centres",
    "planningnow.documents",
    "planningnow.document_folders",
];

/// A transaction id: every row version written after it has a larger `xmin`.
async fn xid(app: &TestApp) -> i64 {
    app.count("SELECT (pg_current_xact_id()::text::bigint % 4294967296)")
        .await
}

/// Row versions written in the PlanningNow tables since `since` (inserts and updates alike:
/// a new row version has a new `xmin`).
async fn written_since(app: &TestApp, since: i64) -> i64 {
    let mut written = 0;
    for table in TABLES {
        written += app
            .count(&format!(
                "SELECT count(*) FROM {table} WHERE xmin::text::bigint > {since}"
            ))
            .await;
    }
    written
}

#[tokio::test]
async fn an_unchanged_sync_writes_no_row_and_a_changed_one_only_what_changed() {
    let app = TestApp::spawn(60).await;
    let first = app.sync(false).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    let total: i64 = {
        let mut n = 0;
        for table in TABLES {
            n += app.count(&format!("SELECT count(*) FROM {table}")).await;
        }
        n
    };
    assert!(total > 200, "{total} rows");

    let before = xid(&app).await;
    let again = app.sync(false).await;
    assert_eq!(again.status, RunStatus::Succeeded, "{again:?}");
    assert_eq!(
        written_since(&app, before).await,
        0,
        "an unchanged sync rewrote rows"
    );
    let t = again.streams.iter().fold(0, |n, s| {
        let c = s.counts.total();
        n + c.inserted + c.updated + c.deleted
    });
    assert_eq!(t, 0, "{again:?}");

    app.control(
        "POST",
        "/_sim/planningnow/mutate",
        json!({"change": 0.1, "seed": 11, "kinds": ["order"]}),
    )
    .await;
    let before = xid(&app).await;
    let changed = app.sync(false).await;
    assert_eq!(changed.status, RunStatus::Succeeded, "{changed:?}");
    let reported: u64 = changed
        .streams
        .iter()
        .map(|s| {
            let c = s.counts.total();
            c.inserted + c.updated + c.deleted
        })
        .sum();
    let orders = stream(&changed, "orders").counts.tables["planningnow.orders"].updated;
    assert!(orders > 0, "{changed:?}");
    assert_eq!(
        written_since(&app, before).await,
        reported as i64,
        "exactly the new, changed and vanished rows are written"
    );
    assert!((reported as i64) < total / 4, "{reported} of {total}");
    app.stop().await;
}

#[tokio::test]
async fn rows_stored_before_hashes_existed_get_them_without_a_visible_change() {
    let app = TestApp::spawn(30).await;
    app.sync(false).await;
    // As an upgraded database has them: no hashes yet.
    for table in TABLES {
        app.count(&format!(
            "WITH u AS (UPDATE {table} SET _hash = NULL RETURNING 1) SELECT count(*) FROM u"
        ))
        .await;
    }
    let changed_at = "SELECT count(DISTINCT _changed_at) FROM planningnow.orders";
    let stamps = app.count(changed_at).await;
    let last_change = "SELECT extract(epoch FROM max(_changed_at))::bigint * 1000000 \
                       + extract(microseconds FROM max(_changed_at))::bigint % 1000000 FROM planningnow.orders";
    let latest = app.count(last_change).await;
    let report = app.sync(false).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    for s in &report.streams {
        let c = s.counts.total();
        assert_eq!((c.inserted, c.updated, c.deleted), (0, 0, 0), "{s:?}");
    }
    for table in TABLES {
        assert_eq!(
            app.count(&format!("SELECT count(*) FROM {table} WHERE _hash IS NULL"))
                .await,
            0,
            "{table}: every row has its hash now"
        );
    }
    assert_eq!(app.count(changed_at).await, stamps);
    assert_eq!(
        app.count(last_change).await,
        latest,
        "_changed_at did not move"
    );
    // And from now on an unchanged sync writes nothing.
    let before = xid(&app).await;
    app.sync(false).await;
    assert_eq!(written_since(&app, before).await, 0);
    app.stop().await;
}

/// Every table a source writes finds its rows without a hash by index: the merge asks for
/// them first, and without one the planner scanned the whole table for every object stored.
#[tokio::test]
async fn every_table_finds_its_rows_without_a_hash_by_index() {
    let app = TestApp::builder().without_simulator().spawn().await;
    let mut tables = Vec::new();
    for registration in tributary::sources::REGISTRY {
        for root in (registration.tables)() {
            tables.extend(root.flatten().iter().map(|t| t.name.to_string()));
        }
    }
    assert!(tables.len() > 15, "{tables:?}");
    for table in &tables {
        let (schema, name) = table.split_once('.').unwrap();
        let indexed: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 \
             AND indexdef LIKE '%WHERE (_hash IS NULL)')",
        )
        .bind(schema)
        .bind(name)
        .fetch_one(app.pool())
        .await
        .unwrap();
        assert!(indexed, "{table} has no index of its rows without a hash");
    }
    app.stop().await;
}
