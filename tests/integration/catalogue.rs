//! The field catalogue against the simulator: after a first sync `tributary.fields` holds
//! what the simulator serves (paths, types, counts, mapped columns) and reports no change;
//! an unchanged re-sync reports none; a vendor adding, removing and retyping a field
//! produces exactly one `tributary.schema_changes` row each (and counts in the metric),
//! for a full listing (PlanningNow orders) and for deltas (Aimsio, where a delta of a few
//! records must not report the others' fields removed); and the inferred Aimsio views
//! follow.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::aimsio::{aimsio_app, sync_aimsio};
use crate::common::*;
use tributary::db::runs::RunStatus;
use tributary::metrics::Metrics;
use tributary::sync::SourceReport;
use tributary::sync::catalogue::ChangeCounts;

/// What the catalogue should say of a path: its types and how many records had it.
type Truth = BTreeMap<String, (Vec<&'static str>, u64)>;

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
    }
}

/// The paths of `records` (dotted, `[]` for elements, down to 6 segments), independently
/// of the code under test.
fn truth(records: &[Value]) -> Truth {
    fn walk(
        value: &Value,
        path: &str,
        depth: usize,
        found: &mut BTreeMap<String, std::collections::BTreeSet<&'static str>>,
    ) {
        if !path.is_empty() {
            found
                .entry(path.to_string())
                .or_default()
                .insert(json_type(value));
        }
        if depth >= 6 {
            return;
        }
        match value {
            Value::Object(obj) => {
                for (k, v) in obj {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, &p, depth + 1, found);
                }
            }
            Value::Array(items) => {
                for v in items {
                    walk(v, &format!("{path}[]"), depth + 1, found);
                }
            }
            _ => {}
        }
    }
    let order = [
        "null", "boolean", "integer", "number", "string", "object", "array",
    ];
    let mut all: Truth = BTreeMap::new();
    for record in records {
        let mut found = BTreeMap::new();
        walk(record, "", 0, &mut found);
        for (path, types) in found {
            let entry = all.entry(path).or_default();
            entry.1 += 1;
            for t in types {
                if !entry.0.contains(&t) {
                    entry.0.push(t);
                }
            }
        }
    }
    for (types, _) in all.values_mut() {
        types.sort_by_key(|t| order.iter().position(|o| o == t));
    }
    all
}

async fn catalogue(app: &TestApp, source: &str, stream: &str) -> Truth {
    let rows: Vec<(String, Vec<String>, i64)> = sqlx::query_as(
        "SELECT path, types, records FROM tributary.fields WHERE source = $1 AND stream = $2 AND records > 0",
    )
    .bind(source)
    .bind(stream)
    .fetch_all(app.pool())
    .await
    .unwrap();
    let order = [
        "null", "boolean", "integer", "number", "string", "object", "array",
    ];
    rows.into_iter()
        .map(|(path, types, n)| {
            let types = types
                .iter()
                .map(|t| *order.iter().find(|o| *o == t).expect("a known type"))
                .collect();
            (path, (types, n as u64))
        })
        .collect()
}

async fn mapped(app: &TestApp, source: &str, stream: &str, path: &str) -> Option<String> {
    sqlx::query_scalar(
        "SELECT mapped_column FROM tributary.fields WHERE source = $1 AND stream = $2 AND path = $3",
    )
    .bind(source)
    .bind(stream)
    .bind(path)
    .fetch_one(app.pool())
    .await
    .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every schema change: (stream, kind, path, old types, new types).
type ChangeRow = (
    String,
    String,
    String,
    Option<Vec<String>>,
    Option<Vec<String>>,
);

async fn changes(app: &TestApp) -> Vec<ChangeRow> {
    sqlx::query_as(
        "SELECT stream, kind, path, old_types, new_types FROM tributary.schema_changes ORDER BY stream, kind, path",
    )
    .fetch_all(app.pool())
    .await
    .unwrap()
}

fn succeeded(report: &SourceReport) {
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
}

fn counts(report: &SourceReport, stream: &str) -> ChangeCounts {
    crate::common::stream(report, stream).schema_changes
}

fn strings(names: &[&str]) -> Option<Vec<String>> {
    Some(names.iter().map(|s| s.to_string()).collect())
}

/// `tributary_schema_changes_total` of the stream and kind in a scrape of `metrics`.
async fn metric(app: &TestApp, metrics: &Metrics, stream: &str, kind: &str) -> f64 {
    let settings = app.settings();
    let sources = tributary::sources::build(&settings, &["aimsio"], app.pool()).unwrap();
    let refs: Vec<&tributary::sync::Source> = sources.iter().collect();
    let text = metrics.render(app.pool(), &settings, &refs).await;
    let line = format!(
        "tributary_schema_changes_total{{source=\"aimsio\",stream=\"{stream}\",kind=\"{kind}\"}} "
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in\n{text}"))
        .parse()
        .unwrap()
}

/// The view's columns in order, with their types.
async fn view_columns(app: &TestApp, view: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    .bind(view)
    .fetch_all(app.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn aimsio_fields_match_what_is_served_and_a_reshaped_entity_is_one_change_each() {
    let app = aimsio_app(6, "Timecard,JobOrder,Invoice").await;
    // A view of the name an entity's view would take that is not tributary's stays.
    sqlx::query("CREATE VIEW aimsio.invoices AS SELECT 1 AS mine")
        .execute(app.pool())
        .await
        .unwrap();
    let metrics = Metrics::for_sources(&["aimsio"]);
    metrics.declare_streams("aimsio", &["Timecard", "JobOrder", "Invoice"]);
    let report = sync_aimsio(&app).await;
    succeeded(&report);
    metrics.record(&report);

    // The catalogue is what the simulator holds, path by path.
    let truth_of = |all: &Value, entity: &str| -> Vec<Value> {
        all[entity]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["detail"].clone())
            .collect()
    };
    let all = app.control("GET", "/_sim/aimsio/truth", Value::Null).await;
    for entity in ["Timecard", "JobOrder"] {
        let expected = truth(&truth_of(&all, entity));
        assert!(expected.len() > 8, "{entity}: {expected:?}");
        assert_eq!(
            catalogue(&app, "aimsio", entity).await,
            expected,
            "{entity}"
        );
    }
    assert_eq!(
        mapped(&app, "aimsio", "JobOrder", "jobName")
            .await
            .as_deref(),
        Some("aimsio.job_orders.job_name")
    );
    assert_eq!(
        mapped(&app, "aimsio", "Timecard", "timecardHours")
            .await
            .as_deref(),
        Some("aimsio.timecards.timecard_hours")
    );
    // The first pass is the baseline: no change.
    assert_eq!(changes(&app).await, vec![]);
    assert_eq!(counts(&report, "Timecard"), ChangeCounts::default());

    // The inferred view: the key, then one column per top-level scalar, typed where every
    // value agrees. Entities with a typed table get no view (the table stays).
    let columns = view_columns(&app, "aimsio.timecards").await;
    let ty = |name: &str| {
        columns
            .iter()
            .find(|(c, _)| c == name)
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("no {name} in {columns:?}"))
    };
    assert_eq!(columns[0].0, "guid");
    assert_eq!(ty("timecard_hours"), "numeric");
    assert_eq!(ty("timecard_is_approved"), "boolean");
    assert_eq!(ty("timecard_date"), "bigint");
    assert_eq!(ty("timecard_number"), "text");
    let timecard_fields = truth(&truth_of(&all, "Timecard"));
    let scalars = timecard_fields
        .iter()
        .filter(|(p, (t, _))| {
            !p.contains('.')
                && !p.contains('[')
                && t.iter().any(|t| *t != "null")
                && !t.contains(&"object")
                && !t.contains(&"array")
        })
        .count();
    assert_eq!(columns.len(), 3 + scalars, "{columns:?}");
    let comment: String = sqlx::query_scalar(
        "SELECT col_description('aimsio.timecards'::regclass, attnum) FROM pg_attribute \
         WHERE attrelid = 'aimsio.timecards'::regclass AND attname = 'timecard_hours'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(
        comment.contains("Inferred") && comment.contains("timecardHours"),
        "{comment}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM aimsio.timecards WHERE timecard_hours IS NOT NULL")
            .await,
        6
    );
    assert_eq!(
        view_columns(&app, "aimsio.invoices").await,
        vec![("mine".to_string(), "integer".to_string())]
    );
    assert!(catalogue(&app, "aimsio", "Invoice").await.len() > 5);
    assert_eq!(
        app.count("SELECT count(*) FROM pg_class WHERE oid = 'aimsio.job_orders'::regclass AND relkind = 'r'")
            .await,
        1
    );

    // Unchanged, then ordinary data changes (a few records of a delta): no schema change,
    // in particular no field of the records not fetched judged removed.
    succeeded(&sync_aimsio(&app).await);
    app.control(
        "POST",
        "/_sim/aimsio/mutate",
        json!({"entity": "JobOrder", "change": 2}),
    )
    .await;
    app.control(
        "POST",
        "/_sim/aimsio/mutate",
        json!({"entity": "Timecard", "change": 1}),
    )
    .await;
    let report = sync_aimsio(&app).await;
    succeeded(&report);
    assert_eq!(
        crate::common::stream(&report, "JobOrder")
            .counts
            .total()
            .updated,
        2
    );
    assert_eq!(changes(&app).await, vec![]);
    // The mutation made a comment a string: that may have added its column (appended).
    let columns = view_columns(&app, "aimsio.timecards").await;
    let mut comment_types = timecard_fields["timecardComment"].0.clone();
    if !comment_types.contains(&"string") {
        comment_types.push("string");
    }

    // One object served without a field: the delta fetches only it, and the other objects
    // still have the field: not removed.
    let one = all["Timecard"][0]["key"].as_str().unwrap();
    app.control(
        "POST",
        "/_sim/aimsio/reshape/Timecard",
        json!({"keys": [one], "unset": ["timecardNumber"]}),
    )
    .await;
    let report = sync_aimsio(&app).await;
    succeeded(&report);
    assert_eq!(crate::common::stream(&report, "Timecard").counts.fetched, 6);
    assert_eq!(
        crate::common::stream(&report, "Timecard")
            .counts
            .total()
            .updated,
        1
    );
    assert_eq!(changes(&app).await, vec![]);
    assert_eq!(
        app.count("SELECT count(*) FROM tributary.fields WHERE stream = 'Timecard' AND path = 'timecardNumber' AND records = 0 AND removed_at IS NULL")
            .await,
        1
    );

    // The vendor's new version: a field added, one removed, one served as a string.
    let reshaped = app
        .control(
            "POST",
            "/_sim/aimsio/reshape/Timecard",
            json!({"set": {"timecardSite": "North"}, "unset": ["timecardComment"],
                   "stringify": ["timecardHours"]}),
        )
        .await;
    assert_eq!(reshaped["changed"].as_array().unwrap().len(), 6);
    let report = sync_aimsio(&app).await;
    succeeded(&report);
    metrics.record(&report);
    assert_eq!(
        changes(&app).await,
        vec![
            (
                "Timecard".into(),
                "added".into(),
                "timecardSite".into(),
                None,
                strings(&["string"])
            ),
            (
                "Timecard".into(),
                "removed".into(),
                "timecardComment".into(),
                strings(&comment_types),
                None
            ),
            (
                "Timecard".into(),
                "retyped".into(),
                "timecardHours".into(),
                strings(&["number"]),
                strings(&["number", "string"])
            ),
        ]
    );
    assert_eq!(
        counts(&report, "Timecard"),
        ChangeCounts {
            added: 1,
            removed: 1,
            retyped: 1
        }
    );
    for kind in ["added", "removed", "retyped"] {
        assert_eq!(
            metric(&app, &metrics, "Timecard", kind).await,
            1.0,
            "{kind}"
        );
        assert_eq!(
            metric(&app, &metrics, "JobOrder", kind).await,
            0.0,
            "{kind}"
        );
    }
    let all = app.control("GET", "/_sim/aimsio/truth", Value::Null).await;
    let now = truth(&truth_of(&all, "Timecard"));
    let catalogued = catalogue(&app, "aimsio", "Timecard").await;
    for (path, (_, n)) in &now {
        assert_eq!(catalogued[path].1, *n, "{path}");
    }

    // The view follows: the new field appended, the removed one kept (NULL now), the
    // retyped one keeps its type and reads NULL for the strings instead of failing.
    let after = view_columns(&app, "aimsio.timecards").await;
    assert_eq!(&after[..columns.len()], &columns[..]);
    assert_eq!(
        &after[columns.len()..],
        &[("timecard_site".to_string(), "text".to_string())]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM aimsio.timecards WHERE timecard_site = 'North' AND timecard_comment IS NULL AND timecard_hours IS NULL")
            .await,
        6
    );

    // Unchanged again: nothing more.
    let report = sync_aimsio(&app).await;
    succeeded(&report);
    assert_eq!(changes(&app).await.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn planningnow_order_fields_match_the_listing_and_each_vendor_change_is_one_row() {
    let app = TestApp::builder().orders(4).spawn().await;
    succeeded(&app.sync(false).await);
    let served: Vec<Value> = serde_json::from_value(app.served("/api/order").await).unwrap();
    assert_eq!(served.len(), 4);
    let expected = truth(&served);
    assert!(expected.contains_key("positions[].id"), "{expected:?}");
    assert_eq!(catalogue(&app, "planningnow", "orders").await, expected);
    assert_eq!(
        mapped(&app, "planningnow", "orders", "zuHaenden")
            .await
            .as_deref(),
        Some("planningnow.orders.zu_haenden")
    );
    assert_eq!(
        mapped(&app, "planningnow", "orders", "positions[].id")
            .await
            .as_deref(),
        Some("planningnow.order_positions.id")
    );
    assert_eq!(changes(&app).await, vec![]);
    succeeded(&app.sync(false).await);
    assert_eq!(changes(&app).await, vec![]);

    // A field added to one order, one removed from all, one served as a string in one.
    for (i, order) in served.iter().enumerate() {
        let mut order = order.clone();
        let obj = order.as_object_mut().unwrap();
        obj.remove("ges_rabatt");
        if i == 0 {
            obj.insert("lieferhinweis".into(), json!("Tor 3"));
            let term = obj["pay_term_id"].as_i64().unwrap();
            obj.insert("pay_term_id".into(), json!(term.to_string()));
        }
        app.control("PUT", "/_sim/planningnow/order", order).await;
    }
    // Through the binary, as ops run it: one warning per change, naming source, stream, path.
    let out = app.tributary(&["sync", "planningnow"]).await;
    let log = text(&out);
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("schema change"))
        .collect();
    assert_eq!(warnings.len(), 3, "{log}");
    for path in ["lieferhinweis", "ges_rabatt", "pay_term_id"] {
        assert!(
            warnings.iter().any(|w| w.contains("WARN")
                && w.contains("planningnow")
                && w.contains("orders")
                && w.contains(path)),
            "{path}: {warnings:?}"
        );
    }
    assert_eq!(
        changes(&app).await,
        vec![
            (
                "orders".into(),
                "added".into(),
                "lieferhinweis".into(),
                None,
                strings(&["string"])
            ),
            (
                "orders".into(),
                "removed".into(),
                "ges_rabatt".into(),
                strings(&["string"]),
                None
            ),
            (
                "orders".into(),
                "retyped".into(),
                "pay_term_id".into(),
                strings(&["integer"]),
                strings(&["integer", "string"])
            ),
        ]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM tributary.fields WHERE stream = 'orders' AND path = 'ges_rabatt' AND removed_at IS NOT NULL AND records = 0")
            .await,
        1
    );
    // The same again is no change; `status` lists the changes.
    app.sync(false).await;
    assert_eq!(changes(&app).await.len(), 3);
    let out = app.tributary(&["status"]).await;
    let status = text(&out);
    assert!(
        status.contains("schema changes") && status.contains("lieferhinweis"),
        "{status}"
    );
    app.stop().await;
}
