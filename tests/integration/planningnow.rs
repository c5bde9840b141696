//! PlanningNow end to end: exact values, children, idempotence, mutations, soft deletes.

use serde_json::{Value, json};

use crate::common::*;
use tributary::db::runs::RunStatus;

fn crafted_order() -> Value {
    json!({
        "id": 999001, "o_conf_date": "2025-08-15", "employee_no": 101,
        "zuHaenden": "Łukasz Müller-Ørsted 東京", "addressfield_1": "Tab\there \\ back\nslash",
        "customer_no": 1234, "project_no": "PROJ-2025-Q3", "netto": "8500.00",
        "ges_netto": "8500.00", "ges_rabatt": "0.00", "pay_term_id": 1,
        "pay_term_text": "Net 30 days", "delivery_date": null, "unmapped_field": {"kept": true},
        "positions": [
            {"id": 1, "pos_no": 1, "article_number": "ART-001", "amount": "50.00", "unit": "pcs",
             "unit_price": "170.00", "netto": "8500.00", "mwst_percent": "19.00",
             "brutto": "10115.00", "deliv_date": null,
             "tasks": [
                {"id": 101, "kalk_id": 1, "kalk_type": 1, "cost_centre_name": "Assembly Line 1",
                 "min_ruest": "30.00", "min_wage": "5.50", "min_masch": "7.20",
                 "production_start": "2025-09-20 08:00:00", "production_end": "2025-03-30 02:30:00"},
                {"id": 102, "production_start": "2025-10-26 02:30:00", "production_end": null}
             ]},
            {"id": 2, "pos_no": 2, "amount": "0.001", "unit_price": "123456789012345678.99",
             "netto": "0.00", "tasks": []}
        ]
    })
}

#[tokio::test]
async fn first_sync_lands_exact_values_and_every_child() {
    let app = TestApp::spawn(40).await;
    app.control("PUT", "/_sim/planningnow/order", crafted_order())
        .await;
    let report = app.sync(false).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");

    let row: (String, String, String, Option<String>, Option<String>, bool) = sqlx::query_as(
        "SELECT netto::text, zu_haenden, addressfield_1, delivery_date::text, subject, \
         raw = $1::jsonb - 'positions' FROM planningnow.orders WHERE id = 999001",
    )
    .bind(crafted_order())
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(row.0, "8500.00", "scale of a decimal string is kept");
    assert_eq!(row.1, "Łukasz Müller-Ørsted 東京");
    assert_eq!(row.2, "Tab\there \\ back\nslash");
    assert_eq!(
        (row.3, row.4),
        (None, None),
        "null and absent fields are NULL"
    );
    assert!(
        row.5,
        "raw keeps the record without its positions (they have rows of their own), unmapped fields included"
    );
    let whole: bool = sqlx::query_scalar(
        "SELECT record = $1::jsonb FROM planningnow.order_records WHERE id = 999001",
    )
    .bind(crafted_order())
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(whole, "order_records puts the whole record back together");

    let positions: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, amount::text, unit_price::text, deliv_date::text FROM planningnow.order_positions \
         WHERE order_id = 999001 ORDER BY id",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(
        positions,
        vec![
            (1, "50.00".into(), "170.00".into(), None),
            (2, "0.001".into(), "123456789012345678.99".into(), None)
        ]
    );
    type Task = (i64, i64, Option<String>, Option<String>, Option<String>);
    let tasks: Vec<Task> = sqlx::query_as(
        "SELECT position_id, id, min_wage::text, \
         to_char(production_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
         to_char(production_end AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
         FROM planningnow.order_position_tasks WHERE order_id = 999001 ORDER BY id",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(
        tasks,
        vec![
            // 08:00 CEST; 02:30 on 30 March does not exist (read as CET).
            (
                1,
                101,
                Some("5.50".into()),
                Some("2025-09-20 06:00:00".into()),
                Some("2025-03-30 01:30:00".into())
            ),
            // 02:30 on 26 October happens twice: the first (CEST) is taken.
            (1, 102, None, Some("2025-10-26 00:30:00".into()), None),
        ]
    );

    // Every child of every listing, counted from what the simulator serves.
    let orders = app.served("/api/order").await;
    let orders = orders.as_array().unwrap();
    let n_pos: usize = orders
        .iter()
        .map(|o| o["positions"].as_array().unwrap().len())
        .sum();
    let n_tasks: usize = orders
        .iter()
        .flat_map(|o| o["positions"].as_array().unwrap())
        .map(|p| p["tasks"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.orders").await as usize,
        orders.len()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.order_positions")
            .await as usize,
        n_pos
    );
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.order_position_tasks")
            .await as usize,
        n_tasks
    );
    assert!(
        n_pos > orders.len() && n_tasks > n_pos,
        "the data has depth"
    );
    let offers = app.served("/api/offer").await;
    let n_offer_pos: usize = offers
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["positions"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.offer_positions")
            .await as usize,
        n_offer_pos
    );
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.offers WHERE zu_haenden IS NOT NULL")
            .await as usize,
        offers
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["zu_haenden"].is_string())
            .count(),
        "offers spell it zu_haenden"
    );
    let schedules = app.served("/api/work-schedule").await;
    let n_ws_pos: usize = schedules
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["positions"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.work_schedule_positions")
            .await as usize,
        n_ws_pos
    );
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.cost_centres WHERE kalk_min_kosten IS NULL")
            .await,
        0,
        "kalkMinKosten and kalk_min_kosten both land in kalk_min_kosten"
    );
    let documents = app.served("/api/documents").await;
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.documents")
            .await,
        documents["documents"].as_array().unwrap().len() as i64
    );
    fn folders(nodes: &Value) -> usize {
        nodes
            .as_array()
            .map_or(0, |a| a.iter().map(|n| 1 + folders(&n["children"])).sum())
    }
    let tree = app.served("/api/documents/structure").await;
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.document_folders")
            .await as usize,
        folders(&tree["tree"])
    );
    assert!(
        app.count("SELECT count(*) FROM planningnow.document_folders WHERE raw ? 'children'")
            .await
            == 0,
        "a folder row's raw leaves out its subtree"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM tributary.checkpoints WHERE source = 'planningnow' AND stream <> '*'")
            .await,
        6
    );
    app.stop().await;
}

/// ctid and xmin of every row: they change whenever PostgreSQL writes a row version.
async fn fingerprint(app: &TestApp) -> String {
    let mut all = String::new();
    for table in [
        "orders",
        "order_positions",
        "order_position_tasks",
        "offers",
        "offer_positions",
        "offer_position_tasks",
        "work_schedules",
        "work_schedule_positions",
        "cost_centres",
        "documents",
        "document_folders",
    ] {
        let part: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY ctid) FROM planningnow.{table}"
        )))
        .fetch_one(app.pool())
        .await
        .unwrap();
        all.push_str(&part.unwrap_or_default());
    }
    all
}

/// The field catalogue's paths with their types and counts, and each stream's records.
async fn fields(app: &TestApp) -> Vec<(String, String, Vec<String>, i64)> {
    sqlx::query_as(
        "SELECT stream, path, types, records FROM tributary.fields \
         UNION ALL SELECT stream, '', '{}', records FROM tributary.field_passes ORDER BY 1, 2",
    )
    .fetch_all(app.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn an_unchanged_second_sync_writes_nothing() {
    let app = TestApp::spawn(60).await;
    let first = app.sync(false).await;
    let stored: u64 = first
        .streams
        .iter()
        .map(|s| s.counts.total().inserted)
        .sum();
    let before = fingerprint(&app).await;
    let catalogue = fields(&app).await;
    let second = app.sync(false).await;
    assert_eq!(second.status, RunStatus::Succeeded);
    for s in &second.streams {
        if s.stream != "document_folders" {
            assert_eq!(
                s.counts.unparsed, s.counts.fetched,
                "{}: none parsed",
                s.stream
            );
        }
    }
    assert_eq!(
        fields(&app).await,
        catalogue,
        "records not parsed are counted in the catalogue by their shape"
    );
    for s in &second.streams {
        let t = s.counts.total();
        assert_eq!(
            (t.inserted, t.updated, t.deleted),
            (0, 0, 0),
            "{}: {t:?}",
            s.stream
        );
    }
    let unchanged: u64 = second
        .streams
        .iter()
        .map(|s| s.counts.total().unchanged)
        .sum();
    assert_eq!(unchanged, stored);
    assert_eq!(
        fingerprint(&app).await,
        before,
        "no row version was written"
    );
    app.stop().await;
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn changes_additions_and_deletions_are_applied() {
    let app = TestApp::spawn(100).await;
    app.sync(false).await;
    let mutation = app
        .control(
            "POST",
            "/_sim/planningnow/mutate",
            json!({"change": 0.1, "add": 0.05, "delete": 0.05, "seed": 3, "kinds": ["order"]}),
        )
        .await;
    let m = &mutation["order"];
    let (changed, added, deleted) = (ids(&m["changed"]), ids(&m["added"]), ids(&m["deleted"]));
    assert!(!changed.is_empty() && !added.is_empty() && !deleted.is_empty());
    let report = app.sync(false).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let orders = &stream(&report, "orders").counts.tables["planningnow.orders"];
    assert_eq!(orders.inserted as usize, added.len());
    assert_eq!(orders.updated as usize, changed.len());
    assert_eq!(orders.deleted as usize, deleted.len());
    for other in ["offers", "work_schedules", "cost_centres", "documents"] {
        let t = stream(&report, other).counts.total();
        assert_eq!(
            (t.inserted, t.updated, t.deleted),
            (0, 0, 0),
            "{other} untouched"
        );
    }

    let live = |ids: &[i64]| {
        format!(
            "SELECT count(*) FROM planningnow.orders WHERE _deleted_at IS NULL AND id = ANY(ARRAY{ids:?}::bigint[])"
        )
    };
    assert_eq!(
        app.count(&live(&deleted)).await,
        0,
        "deleted orders are soft-deleted"
    );
    assert_eq!(app.count(&live(&added)).await as usize, added.len());
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM planningnow.order_positions WHERE _deleted_at IS NULL \
             AND order_id = ANY(ARRAY{deleted:?}::bigint[])"
        ))
        .await,
        0,
        "their positions go with them"
    );
    let served_orders = app.served("/api/order").await;
    for id in &changed {
        let order = served_orders
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == *id)
            .unwrap();
        let same: bool = sqlx::query_scalar(
            "SELECT raw = $2::jsonb - 'positions' AND _changed_at > _inserted_at FROM planningnow.orders WHERE id = $1",
        )
        .bind(id)
        .bind(order)
        .fetch_one(app.pool())
        .await
        .unwrap();
        assert!(same, "order {id} holds the changed content");
    }
    let removed = m["positions_removed"].as_array().unwrap();
    assert!(!removed.is_empty(), "the mutation removed positions");
    for pair in removed {
        let (order, pos) = (pair[0].as_i64().unwrap(), pair[1].as_i64().unwrap());
        let gone = app
            .count(&format!(
                "SELECT count(*) FROM planningnow.order_positions WHERE order_id = {order} AND id = {pos} AND _deleted_at IS NOT NULL"
            ))
            .await;
        assert_eq!(gone, 1, "position {pos} vanished from order {order}");
    }
    let live_positions = app
        .count("SELECT count(*) FROM planningnow.order_positions WHERE _deleted_at IS NULL")
        .await as usize;
    let n_pos: usize = served_orders
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["positions"].as_array().unwrap().len())
        .sum();
    assert_eq!(live_positions, n_pos);

    // A deleted order that comes back is live again.
    let back =
        json!({"id": deleted[0], "o_conf_date": "2025-01-02", "netto": "1.00", "positions": []});
    app.control("PUT", "/_sim/planningnow/order", back).await;
    let report = app.sync(false).await;
    assert_eq!(
        stream(&report, "orders").counts.tables["planningnow.orders"].updated,
        1
    );
    assert_eq!(app.count(&live(&deleted[..1])).await, 1);
    app.stop().await;
}

/// Only changed records are parsed: the positions they lost are found through the listed
/// orders' keys, and no row under the orders listed as written moves.
#[tokio::test]
async fn positions_lost_by_changed_orders_and_only_those_are_soft_deleted() {
    let app = TestApp::spawn(100).await;
    app.sync(false).await;
    let before = app
        .count("SELECT max(_run_id) FROM planningnow.order_positions")
        .await;
    let mutation = app
        .control(
            "POST",
            "/_sim/planningnow/mutate",
            json!({"change": 0.2, "seed": 11, "kinds": ["order"]}),
        )
        .await;
    let m = &mutation["order"];
    let changed = ids(&m["changed"]);
    let removed = m["positions_removed"].as_array().unwrap();
    assert!(!removed.is_empty(), "the mutation removed positions");
    let report = app.sync(false).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let orders = stream(&report, "orders");
    assert_eq!(orders.counts.unparsed as usize, 100 - changed.len());
    let positions = &orders.counts.tables["planningnow.order_positions"];
    assert_eq!(positions.deleted as usize, removed.len());
    for pair in removed {
        let (order, pos) = (pair[0].as_i64().unwrap(), pair[1].as_i64().unwrap());
        let gone = app
            .count(&format!(
                "SELECT count(*) FROM planningnow.order_positions WHERE order_id = {order} AND id = {pos} AND _deleted_at IS NOT NULL"
            ))
            .await;
        assert_eq!(gone, 1, "position {pos} vanished from order {order}");
    }
    let moved = app
        .count(&format!(
            "SELECT count(*) FROM planningnow.order_positions WHERE _run_id > {before} \
             AND order_id <> ALL(ARRAY{changed:?}::bigint[])"
        ))
        .await;
    assert_eq!(
        moved, 0,
        "rows under orders listed as written stay as they were"
    );
    let served: usize = app
        .served("/api/order")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["positions"].as_array().unwrap().len())
        .sum();
    let live = app
        .count("SELECT count(*) FROM planningnow.order_positions WHERE _deleted_at IS NULL")
        .await;
    assert_eq!(live as usize, served);
    app.stop().await;
}

#[tokio::test]
async fn the_deletion_guard_refuses_mass_deletes_unless_allowed() {
    let app = TestApp::spawn(50).await;
    app.sync(false).await;
    app.control(
        "POST",
        "/_sim/planningnow/mutate",
        json!({"delete": 0.6, "change": 0.1, "seed": 5, "kinds": ["order"]}),
    )
    .await;
    app.control(
        "POST",
        "/_sim/planningnow/mutate",
        json!({"delete": 1.0, "seed": 6, "kinds": ["cost-centre"]}),
    )
    .await;
    let before = fingerprint(&app).await;
    let report = app.sync(false).await;
    assert_eq!(report.status, RunStatus::Failed);
    let orders = stream(&report, "orders");
    assert_eq!(orders.status, RunStatus::Failed);
    let error = orders.error.as_deref().unwrap();
    assert!(
        error.contains("deletion guard") && error.contains("planningnow.orders"),
        "{error}"
    );
    assert!(
        stream(&report, "cost_centres")
            .error
            .as_deref()
            .unwrap()
            .contains("deletion guard")
    );
    assert_eq!(
        stream(&report, "offers").status,
        RunStatus::Succeeded,
        "other streams go on"
    );
    assert_eq!(
        fingerprint(&app).await,
        before,
        "nothing of a refused listing is applied"
    );

    let report = app.sync(true).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.cost_centres WHERE _deleted_at IS NULL")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.orders WHERE _deleted_at IS NULL")
            .await,
        app.served("/api/order").await.as_array().unwrap().len() as i64
    );
    app.stop().await;
}

#[tokio::test]
async fn a_bad_record_is_rejected_and_the_rest_lands() {
    let app = TestApp::spawn(30).await;
    app.sync(false).await;
    let good = app.served("/api/order/1001").await;
    let mut bad = good.clone();
    bad["netto"] = json!("abc");
    app.control("PUT", "/_sim/planningnow/order", bad.clone())
        .await;
    app.control(
        "PUT",
        "/_sim/planningnow/order",
        json!({"id": 999002, "o_conf_date": "15.08.2025", "positions": []}),
    )
    .await;
    app.control(
        "PUT",
        "/_sim/planningnow/order",
        json!({"id": 999003, "netto": "5.00"}),
    )
    .await;

    let report = app.sync(false).await;
    let orders = stream(&report, "orders");
    assert_eq!(orders.status, RunStatus::Succeeded);
    assert_eq!(orders.counts.rejected, 2);
    assert_eq!(
        orders.counts.tables["planningnow.orders"].inserted, 1,
        "order 999003 landed"
    );
    let rejects: Vec<(String, String, Value)> = sqlx::query_as(
        "SELECT record_key, error, payload FROM tributary.rejects WHERE resolved_at IS NULL ORDER BY record_key",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(rejects.len(), 2);
    assert_eq!(rejects[0].0, "1001");
    assert!(
        rejects[0].1.contains("`netto`") && rejects[0].1.contains("abc"),
        "{}",
        rejects[0].1
    );
    assert_eq!(rejects[0].2, bad, "the payload is kept as served");
    assert_eq!(rejects[1].0, "999002");
    assert!(rejects[1].1.contains("`o_conf_date`"), "{}", rejects[1].1);
    // What was synced before is kept, children included.
    let kept: (Option<String>, bool) = sqlx::query_as(
        "SELECT netto::text, _deleted_at IS NULL FROM planningnow.orders WHERE id = 1001",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(kept, (good["netto"].as_str().map(str::to_string), true));
    assert_eq!(
        app.count("SELECT count(*) FROM planningnow.order_positions WHERE order_id = 1001 AND _deleted_at IS NOT NULL").await,
        0
    );

    app.control("PUT", "/_sim/planningnow/order", good).await;
    app.sync(false).await;
    assert_eq!(
        app.count("SELECT count(*) FROM tributary.rejects WHERE record_key = '1001' AND resolved_at IS NOT NULL").await,
        1,
        "a fixed record's reject is resolved"
    );
    app.stop().await;
}

/// A first sync loads empty tables with their foreign keys set aside and adds them back,
/// checked, before its commit: afterwards each is as the migrations made it (definition and
/// comment), validated, and refuses an orphan again.
#[tokio::test]
async fn a_first_load_puts_back_every_foreign_key_as_it_was() {
    let app = TestApp::spawn(30).await;
    type Key = (String, String, String, String, bool);
    let keys = || async {
        sqlx::query_as::<_, Key>(
            "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid), \
                    coalesce(obj_description(oid, 'pg_constraint'), ''), convalidated \
             FROM pg_constraint WHERE contype = 'f' AND connamespace = 'planningnow'::regnamespace \
             ORDER BY 1, 2",
        )
        .fetch_all(app.pool())
        .await
        .unwrap()
    };
    let before = keys().await;
    assert!(before.len() >= 5, "{before:?}");
    assert!(before.iter().all(|k| !k.3.is_empty()), "{before:?}");
    let first = app.sync(false).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    assert!(
        app.count("SELECT count(*) FROM planningnow.order_positions")
            .await
            > 0
    );
    assert_eq!(keys().await, before);
    let orphan = sqlx::query(
        "INSERT INTO planningnow.order_positions (order_id, id, raw, _inserted_at, _changed_at, _run_id) \
         VALUES (-1, 1, '{}', now(), now(), 1)",
    )
    .execute(app.pool())
    .await
    .expect_err("an orphan position is refused");
    assert!(
        orphan.to_string().contains("order_positions_order_fkey"),
        "{orphan}"
    );
    app.stop().await;
}
