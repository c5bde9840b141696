//! Aimsio end to end: only new or changed objects are fetched, deletions, the 404 race,
//! resume after an interruption, the rate limits, and credentials.

use std::time::Instant;

use serde_json::{Value, json};

use crate::common::*;
use tributary::db::runs::RunStatus;
use tributary::sources::{self, aimsio};
use tributary::sync::{SourceReport, SyncOptions, sync_source};
use tributary_simulator::SimOptions;

const LIST: &str = "GET /aimsio/rest/api/standard/v1/{entity}";
const DETAIL: &str = "GET /aimsio/rest/api/standard/v1/{entity}/{guid}";

/// Aimsio alone, against a simulator with `objects` objects of every entity, syncing
/// `entities`.
pub(crate) async fn aimsio_app(objects: usize, entities: &str) -> TestApp {
    TestApp::builder()
        .apis(&[Api::Aimsio])
        .sim_options(SimOptions {
            aimsio_objects: objects,
            ..SimOptions::default()
        })
        .env("TRIBUTARY__SOURCES__AIMSIO__ENTITIES", entities)
        .spawn()
        .await
}

pub(crate) async fn sync_aimsio(app: &TestApp) -> SourceReport {
    let settings = app.settings();
    let source = sources::build(&settings, &[aimsio::NAME], app.pool()).expect("source");
    let options = SyncOptions {
        trigger: "cli",
        allow_mass_delete: false,
    };
    sync_source(app.pool(), &settings.sync, &source[0], &options)
        .await
        .expect("run records")
}

/// Successful list and detail calls so far (our own reads can be throttled; the sync's
/// 429s are checked where they matter).
async fn calls(app: &TestApp) -> (u64, u64) {
    let stats = app.control("GET", "/_sim/stats", Value::Null).await;
    let ok = |route: &str| stats["requests"][route]["200"].as_u64().unwrap_or(0);
    (ok(LIST), ok(DETAIL))
}

/// GETs `path` below /rest/api/standard/v1 as an Aimsio client would.
async fn served(app: &TestApp, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!(
            "{}/rest/api/standard/v1/{path}",
            app.sim().aimsio_url()
        ))
        .basic_auth("sim-user", Some("sim-password"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn list(app: &TestApp, entity: &str) -> Vec<Value> {
    serde_json::from_value(served(app, entity).await).expect("a list")
}

async fn detail(app: &TestApp, entity: &str, guid: &str) -> Value {
    served(app, &format!("{entity}/{guid}")).await
}

fn key(item: &Value) -> String {
    item.get("guid")
        .or_else(|| item.get("id"))
        .and_then(Value::as_str)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn first_sync_lands_every_object_and_an_unchanged_one_fetches_no_detail() {
    let app = aimsio_app(6, "JobOrder,Employee,NRB,Invoice").await;
    // What the API serves, read before the sync (our reads count against the rate limit).
    let jobs = list(&app, "JobOrder").await;
    let first = &jobs[0];
    let served = detail(&app, "JobOrder", &key(first)).await;
    let employees = list(&app, "Employee").await;
    app.control("POST", "/_sim/stats/reset", Value::Null).await;
    let report = sync_aimsio(&app).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(calls(&app).await, (4, 24));

    let row: (String, String, Option<String>, Option<String>, Value, bool) = sqlx::query_as(
        "SELECT to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), job_name, \
         job_location_lat::text, job_status, job_wbs_schedule, raw = $2::jsonb \
         FROM aimsio.job_orders WHERE guid = $1",
    )
    .bind(key(first))
    .bind(&served)
    .fetch_one(app.pool())
    .await
    .unwrap();
    let ms = first["updatedAt"].as_i64().unwrap();
    let expected = chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string();
    assert_eq!(
        row.0, expected,
        "epoch milliseconds kept to the millisecond"
    );
    assert_eq!(row.1, served["jobName"].as_str().unwrap());
    assert_eq!(
        row.2.as_deref(),
        Some(served["jobLocationLat"].to_string().as_str()),
        "numbers kept exactly"
    );
    assert_eq!(row.3.as_deref(), served["jobStatus"].as_str());
    assert_eq!(row.4, served["jobWBSSchedule"]);
    assert!(row.5, "raw is the detail as served");
    assert!(
        employees[0].get("id").is_some(),
        "the simulator serves Employee ids as `id`"
    );
    assert_eq!(app.count("SELECT count(*) FROM aimsio.employees").await, 6);
    assert_eq!(app.count("SELECT count(*) FROM aimsio.nrbs").await, 6);
    assert_eq!(
        app.count("SELECT count(*) FROM aimsio.objects WHERE entity = 'Invoice'")
            .await,
        6
    );

    let second = sync_aimsio(&app).await;
    assert_eq!(second.status, RunStatus::Succeeded);
    assert_eq!(calls(&app).await, (8, 24), "the second sync only lists");
    for s in &second.streams {
        let t = s.counts.total();
        assert_eq!(
            (t.inserted, t.updated, t.deleted, t.unchanged),
            (0, 0, 0, 6),
            "{}",
            s.stream
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn changes_and_an_addition_fetch_exactly_their_details_and_deletions_are_soft() {
    let app = aimsio_app(10, "JobOrder,Timecard").await;
    sync_aimsio(&app).await;
    let m = app
        .control(
            "POST",
            "/_sim/aimsio/mutate",
            json!({"entity": "JobOrder", "change": 3, "add": 1, "delete": 2, "seed": 4}),
        )
        .await;
    let m2 = app
        .control(
            "POST",
            "/_sim/aimsio/mutate",
            json!({"entity": "Timecard", "change": 1, "seed": 5}),
        )
        .await;
    let (_, details_before) = calls(&app).await;
    let report = sync_aimsio(&app).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    let (_, details_after) = calls(&app).await;
    assert_eq!(
        details_after - details_before,
        3 + 1 + 1,
        "k changes and one addition: k+1 details (+1 timecard)"
    );
    let jobs = &stream(&report, "JobOrder").counts.tables["aimsio.job_orders"];
    assert_eq!(
        (jobs.inserted, jobs.updated, jobs.deleted, jobs.unchanged),
        (1, 3, 2, 10 - 2 - 3)
    );
    for guid in m["JobOrder"]["deleted"].as_array().unwrap() {
        let deleted: bool = sqlx::query_scalar(
            "SELECT _deleted_at IS NOT NULL FROM aimsio.job_orders WHERE guid = $1",
        )
        .bind(guid.as_str().unwrap())
        .fetch_one(app.pool())
        .await
        .unwrap();
        assert!(deleted);
    }
    let changed = m2["Timecard"]["changed"][0].as_str().unwrap();
    let served = detail(&app, "Timecard", changed).await;
    let same: bool = sqlx::query_scalar(
        "SELECT raw = $1::jsonb FROM aimsio.objects WHERE entity = 'Timecard' AND guid = $2",
    )
    .bind(&served)
    .bind(changed)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(same, "the changed timecard holds its new detail");
    app.stop().await;
}

#[tokio::test]
async fn a_detail_gone_meanwhile_is_soft_deleted_and_a_newer_detail_stamp_wins() {
    let app = aimsio_app(5, "JobOrder").await;
    let jobs = list(&app, "JobOrder").await;
    let newer = jobs[1]["updatedAt"].as_i64().unwrap() + 5_000;
    app.control(
        "POST",
        "/_sim/aimsio/stale",
        json!({"entity": "JobOrder", "guid": key(&jobs[1]), "detail_updated_at": newer}),
    )
    .await;
    sync_aimsio(&app).await;
    let stored: i64 = sqlx::query_scalar(
        "SELECT (extract(epoch FROM updated_at) * 1000)::bigint FROM aimsio.job_orders WHERE guid = $1",
    )
    .bind(key(&jobs[1]))
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(
        stored, newer,
        "the detail's own stamp is newer than the list's and wins"
    );

    let m = app
        .control(
            "POST",
            "/_sim/aimsio/mutate",
            json!({"entity": "JobOrder", "change": 1, "seed": 2}),
        )
        .await;
    let racing = m["JobOrder"]["changed"][0].as_str().unwrap().to_string();
    app.control(
        "POST",
        "/_sim/aimsio/vanish",
        json!({"entity": "JobOrder", "guid": racing}),
    )
    .await;
    let report = sync_aimsio(&app).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    let deleted: bool =
        sqlx::query_scalar("SELECT _deleted_at IS NOT NULL FROM aimsio.job_orders WHERE guid = $1")
            .bind(&racing)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert!(deleted, "a 404 on the detail soft-deletes");
    app.stop().await;
}

#[tokio::test]
async fn an_interrupted_run_resumes_without_fetching_done_details_again() {
    let mut app = aimsio_app(8, "JobOrder").await;
    for (k, v) in [
        ("REQUESTS", "6"),
        ("WINDOW_SECS", "2"),
        ("RESERVE", "0"),
        ("MAX_WAIT_SECS", "0"),
    ] {
        app.set_env(&format!("TRIBUTARY__SOURCES__AIMSIO__BUDGET__{k}"), v);
    }
    let first = sync_aimsio(&app).await;
    assert_eq!(first.status, RunStatus::BudgetExhausted, "{first:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM aimsio.job_orders").await,
        5,
        "five details were committed"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2400)).await;
    let second = sync_aimsio(&app).await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    assert_eq!(app.count("SELECT count(*) FROM aimsio.job_orders").await, 8);
    assert_eq!(
        calls(&app).await,
        (2, 8),
        "each detail fetched once over both runs"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_detail_phase_runs_at_the_configured_rate_without_a_429() {
    let app = aimsio_app(40, "JobOrder").await;
    let started = Instant::now();
    let report = sync_aimsio(&app).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    let limits = &app.control("GET", "/_sim/stats", Value::Null).await["limits"]["aimsio"];
    assert_eq!(limits["violations"], 0, "{limits}");
    assert!(limits["max_in_window"].as_u64().unwrap() <= 10, "{limits}");
    assert_eq!(stream(&report, "JobOrder").counts.throttled, 0);
    println!(
        "aimsio: 41 requests (1 list + 40 details) in {elapsed:.2}s = {:.2} requests/s against 8/s configured",
        41.0 / elapsed
    );
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_fails_clearly_and_an_unreadable_entity_does_not_stop_the_others() {
    let mut app = aimsio_app(3, "JobOrder,Invoice,NRB").await;
    app.control("PUT", "/_sim/aimsio/forbidden", json!(["Invoice"]))
        .await;
    let report = sync_aimsio(&app).await;
    assert_eq!(report.status, RunStatus::Failed);
    let invoice = stream(&report, "Invoice");
    assert!(
        invoice.error.as_deref().unwrap().contains("403"),
        "{:?}",
        invoice.error
    );
    assert_eq!(
        stream(&report, "NRB").status,
        RunStatus::Succeeded,
        "the next entity still runs"
    );
    assert_eq!(app.count("SELECT count(*) FROM aimsio.nrbs").await, 3);

    app.set_env("TRIBUTARY__SOURCES__AIMSIO__PASSWORD", "hunter2-wrong");
    let report = sync_aimsio(&app).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.streams.len(), 1, "bad credentials stop the pass");
    let error = report.streams[0].error.as_deref().unwrap();
    assert!(error.contains("aimsio") && error.contains("401"), "{error}");
    assert!(!error.contains("hunter2"));
    app.stop().await;
}
