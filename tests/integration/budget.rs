//! Request budgets that hold across restarts and concurrent processes: the simulator
//! enforces a sliding window and measures the most requests seen in any window.

use std::collections::HashMap;
use std::process::Output;

use serde_json::{Value, json};

use crate::common::*;
use tributary::http::{ApiClient, Auth, Budget};

fn budget_env(
    db: &TestDb,
    sim: &tributary_simulator::RunningSimulator,
    requests: u32,
    window_secs: u32,
    max_wait: u32,
) -> HashMap<String, String> {
    let mut env = env_for(db, sim);
    for (key, value) in [
        ("BUDGET__REQUESTS", requests.to_string()),
        ("BUDGET__WINDOW_SECS", window_secs.to_string()),
        ("BUDGET__RESERVE", "0".to_string()),
        ("BUDGET__MAX_WAIT_SECS", max_wait.to_string()),
    ] {
        env.insert(format!("TRIBUTARY__SOURCES__PLANNINGNOW__{key}"), value);
    }
    env
}

async fn limit(sim: &tributary_simulator::RunningSimulator, requests: u32, window_ms: u64) {
    control(
        sim,
        "PUT",
        "/_sim/limits/planningnow",
        json!({"requests": requests, "window_ms": window_ms}),
    )
    .await;
}

async fn measured(sim: &tributary_simulator::RunningSimulator) -> Value {
    control(sim, "GET", "/_sim/stats", Value::Null).await["limits"]["planningnow"].clone()
}

/// The HTTP client PlanningNow syncs with, under the budget `env` configures.
fn planningnow_client(
    db: &TestDb,
    sim: &tributary_simulator::RunningSimulator,
    env: &HashMap<String, String>,
) -> ApiClient {
    let settings = settings(env);
    let common = &settings.sources.planningnow.common;
    ApiClient::new(
        "planningnow",
        &sim.planningnow_url(),
        Auth::Header {
            name: "x-auth-token",
            value: "sim-token".to_string().into(),
        },
        common,
        Budget::new(db.pool.clone(), "planningnow", &common.budget),
    )
    .expect("a client")
}

async fn run_binary(args: &[&str], env: &HashMap<String, String>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tributary"));
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .envs(env);
    cmd.output().await.expect("run tributary")
}

#[tokio::test]
async fn a_burst_never_exceeds_the_window_and_the_reserve_is_left_alone() {
    let db = fresh_db().await;
    let sim = simulator(5).await;
    limit(&sim, 5, 1000).await;
    let mut env = budget_env(&db, &sim, 6, 1, 30);
    env.insert(
        "TRIBUTARY__SOURCES__PLANNINGNOW__BUDGET__RESERVE".into(),
        "1".into(),
    );
    env.insert(
        "TRIBUTARY__SOURCES__PLANNINGNOW__MAX_PARALLEL".into(),
        "4".into(),
    );
    let client = planningnow_client(&db, &sim, &env);
    // 16 requests at once. A token bucket of 5 refilled at 5 per window would let 10 into
    // one sliding window; the simulator would see it.
    let calls = (0..16).map(|_| client.get_json::<Value>("/api/test", 1 << 20));
    for result in futures_util::future::join_all(calls).await {
        result.expect("every request is eventually admitted");
    }
    let m = measured(&sim).await;
    println!(
        "burst of 16: most requests in any 1 s window {} of 5, violations {}",
        m["max_in_window"], m["violations"]
    );
    assert_eq!(m["arrivals"], 16, "{m}");
    assert_eq!(m["violations"], 0, "{m}");
    assert!(m["max_in_window"].as_u64().unwrap() <= 5, "{m}");
    assert!(m["max_parallel_seen"].as_u64().unwrap() <= 4, "{m}");
    assert_eq!(client.stats().requests, 16);
    sim.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn restarted_and_concurrent_processes_share_one_budget() {
    let db = fresh_db().await;
    let sim = simulator(10).await;
    limit(&sim, 6, 2000).await;
    let env = budget_env(&db, &sim, 6, 2, 30);
    // One pass is six requests: the second process must wait for the first one's window.
    for _ in 0..2 {
        let out = run_binary(&["sync"], &env).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Two processes at once on the same database: one waits for the other's pass (and its
    // window) and then finds the work done.
    let (a, b) = tokio::join!(run_binary(&["sync"], &env), run_binary(&["sync"], &env));
    assert!(
        a.status.success() && b.status.success(),
        "{}{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let done = |out: &std::process::Output| {
        String::from_utf8_lossy(&[out.stdout.as_slice(), &out.stderr].concat())
            .contains("synced by another process")
    };
    assert!(done(&a) != done(&b), "exactly one found the work done");
    let m = measured(&sim).await;
    println!(
        "4 processes (2 sequential, 2 concurrent, one of which found the work done): most requests in any 2 s window {} of 6, violations {}",
        m["max_in_window"], m["violations"]
    );
    assert_eq!(m["arrivals"], 18, "three passes of six requests: {m}");
    assert_eq!(m["violations"], 0, "{m}");
    assert!(m["max_in_window"].as_u64().unwrap() <= 6, "{m}");
    sim.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_spent_budget_ends_the_run_and_the_next_run_resumes_without_repeating_work() {
    let db = fresh_db().await;
    let sim = simulator(10).await;
    let env = budget_env(&db, &sim, 4, 2, 0);
    let out = run_binary(&["sync"], &env).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("budget_exhausted"));
    let streams: Vec<(String, String)> = sqlx::query_as(
        "SELECT stream, status FROM tributary.sync_runs WHERE stream IS NOT NULL ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let statuses: Vec<&str> = streams.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "succeeded",
            "succeeded",
            "succeeded",
            "succeeded",
            "budget_exhausted"
        ]
    );
    let pass: String =
        sqlx::query_scalar("SELECT status FROM tributary.sync_runs WHERE stream IS NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(pass, "budget_exhausted");

    // The window is two seconds long; wait it out (plus the admission margin).
    tokio::time::sleep(std::time::Duration::from_millis(2400)).await;
    let out = run_binary(&["sync"], &env).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed: Vec<String> = sqlx::query_scalar(
        "SELECT stream FROM tributary.sync_runs WHERE parent_id = (SELECT max(id) FROM tributary.sync_runs WHERE stream IS NULL) ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(resumed, ["documents", "document_folders"]);
    let stats = control(&sim, "GET", "/_sim/stats", Value::Null).await;
    for (route, counts) in stats["requests"].as_object().unwrap() {
        assert_eq!(counts["200"], 1, "{route} was fetched once: {counts}");
    }
    assert_eq!(stats["total"], 6);
    // The cycle is complete: the pass after it syncs every stream again.
    tokio::time::sleep(std::time::Duration::from_millis(2400)).await;
    let out = run_binary(&["sync"], &env).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "a fresh cycle starts with orders"
    );
    let last: String = sqlx::query_scalar(
        "SELECT string_agg(stream, ',' ORDER BY id) FROM tributary.sync_runs WHERE parent_id = (SELECT max(id) FROM tributary.sync_runs WHERE stream IS NULL)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(last, "orders,offers,work_schedules,cost_centres,documents");
    sim.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_429_without_retry_after_waits_for_the_window_and_never_hammers() {
    let db = fresh_db().await;
    let sim = simulator(10).await;
    // Someone else spends the shared budget: the server admits 3 per 2 s, we think 10.
    limit(&sim, 3, 2000).await;
    let env = budget_env(&db, &sim, 10, 2, 30);
    let report = sync(&db, &settings(&env), false).await;
    assert_eq!(
        report.status,
        tributary::db::runs::RunStatus::Succeeded,
        "{report:?}"
    );
    let throttled: i64 = db
        .count("SELECT throttled FROM tributary.sync_runs WHERE stream IS NULL")
        .await;
    assert!(throttled >= 1, "the simulator must have throttled");
    let m = measured(&sim).await;
    assert_eq!(
        m["violations"].as_i64(),
        Some(throttled),
        "one 429 per wait, no hammering: {m}"
    );
    sim.stop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_request_counts_from_when_its_answer_arrived() {
    let db = fresh_db().await;
    let sim = simulator(5).await;
    let env = budget_env(&db, &sim, 10, 60, 30);
    let client = planningnow_client(&db, &sim, &env);
    control(
        &sim,
        "POST",
        "/_sim/faults",
        json!({"path": "/planningnow/api/test", "delay_ms": 800, "times": 1}),
    )
    .await;
    let before: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    client
        .get_json::<Value>("/api/test", 1 << 20)
        .await
        .unwrap();
    let recorded: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT sent_at FROM tributary.request_ledger WHERE source = 'planningnow'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        recorded - before >= chrono::Duration::milliseconds(800),
        "a slow request counts from when its answer arrived: {before} .. {recorded}"
    );
    sim.stop().await;
    db.drop().await;
}
