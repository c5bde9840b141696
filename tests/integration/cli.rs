//! The binary as a user runs it: exit codes, output, and errors that name what is wrong.

use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn sync_prints_a_summary_and_status_reports_the_runs() {
    let app = TestApp::spawn(20).await;
    let out = app.tributary(&["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "stream",
        "inserted",
        "orders",
        "document_folders",
        "succeeded",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected} missing in:\n{stdout}"
        );
    }
    let out = app.tributary(&["status", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let status: Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    let budget = &status["budgets"][0];
    assert_eq!(budget["source"], "planningnow");
    assert_eq!(
        (budget["used"].as_i64(), budget["limit"].as_i64()),
        (Some(6), Some(1000)),
        "{budget}"
    );
    let orders = status["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["stream"] == "orders")
        .expect("orders run");
    assert_eq!(orders["status"], "succeeded");
    assert_eq!(orders["records_fetched"], 20);
    let planningnow = &status["sources"][0];
    assert_eq!(planningnow["source"], "planningnow");
    assert_eq!(planningnow["enabled"], true);
    assert_eq!(planningnow["schedule"], "0 0 * * * *");
    assert_eq!(planningnow["last_status"], "succeeded");
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(planningnow["next_run"].clone()).expect("a next run");
    assert_eq!(next.format("%M:%S").to_string(), "00:00", "on the hour");
    assert!(next > chrono::Utc::now());
    assert_eq!(status["sources"][1]["enabled"], false);
    let tables = status["tables"].as_array().expect("tables");
    let orders_table = tables
        .iter()
        .find(|t| t["table"] == "planningnow.orders")
        .expect("planningnow.orders");
    assert_eq!(
        (
            orders_table["live"].as_i64(),
            orders_table["soft_deleted"].as_i64()
        ),
        (Some(20), Some(0))
    );
    let out = app.tributary(&["status"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in ["(pass)", "next run", "0 0 * * * *", "planningnow.orders"] {
        assert!(
            stdout.contains(expected),
            "{expected} missing in:\n{stdout}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_token_fails_at_once_naming_the_source_but_never_the_token() {
    let app = TestApp::builder()
        .orders(5)
        .env(
            "TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN",
            "wrong-secret-4711",
        )
        .spawn()
        .await;
    let out = app.tributary(&["sync"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("planningnow") && all.contains("401"), "{all}");
    assert!(
        !all.contains("wrong-secret-4711"),
        "the token leaked: {all}"
    );
    let (status, streams, error): (String, i64, String) = sqlx::query_as(
        "SELECT status, (SELECT count(*) FROM tributary.sync_runs WHERE stream IS NOT NULL), error \
         FROM tributary.sync_runs WHERE stream IS NULL",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(status, "failed");
    assert_eq!(
        streams, 1,
        "bad credentials stop the pass after the first stream"
    );
    assert!(!error.contains("wrong-secret-4711"));
    let stats = app.control("GET", "/_sim/stats", Value::Null).await;
    assert_eq!(stats["total"], 1, "401 is not retried: {stats}");
    app.stop().await;
}

#[tokio::test]
async fn bad_configuration_stops_before_any_network_or_database_work() {
    // Nothing listens on port 9: touching the database would fail differently.
    let unreachable = (
        "DATABASE_URL".to_string(),
        "postgres://nobody@127.0.0.1:9/none".to_string(),
    );
    let cases = [
        (
            "TRIBUTARY__SOURCES__PLANNINGNOW__TOKN",
            "x",
            "`sources.planningnow.tokn`",
        ),
        (
            "TRIBUTARY__SOURCES__PLANNINGNOW__TIMEZONE",
            "Europe/Bonn",
            "`sources.planningnow.timezone`",
        ),
        (
            "TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED",
            "true",
            "`sources.planningnow.base_url`",
        ),
    ];
    for (key, value, named) in cases {
        let env = vec![unreachable.clone(), (key.to_string(), value.to_string())];
        let out = tributary(&["sync"], &env).await;
        assert_eq!(out.status.code(), Some(2), "{key}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{key}: {stderr}");
        assert!(!stderr.contains("connect"), "{key}: {stderr}");
    }
    let dir = std::env::temp_dir().join(format!("tributary-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "[sources.planningnow]\nretry = { max_attempts = 3, max_atempts = 2 }\n",
    )
    .unwrap();
    let out = tributary(
        &["--config", file.to_str().unwrap(), "migrate"],
        std::slice::from_ref(&unreachable),
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`sources.planningnow.retry.max_atempts`")
    );
    let out = tributary(&["sync", "aimsiox"], &[unreachable]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown source `aimsiox`"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn migrate_creates_the_database_when_it_is_missing() {
    let app = TestApp::builder().without_simulator().spawn().await;
    let missing = tributary::database_url::with_database(
        &app.db().url,
        &format!("{}_new", app.db().url.rsplit('/').next().unwrap()),
    )
    .unwrap();
    let out = tributary(&["migrate"], &[("DATABASE_URL".into(), missing.clone())]).await;
    assert!(out.status.success(), "{}", text(&out));
    let pool = sqlx::PgPool::connect(&missing)
        .await
        .expect("the database exists now");
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('planningnow', 'tributary') \
         AND table_type = 'BASE TABLE' AND table_name NOT LIKE '%\\_superseded'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // PlanningNow's 11 (each with its superseded versions and history view) and tributary's 10.
    assert_eq!(tables, 21);
    let histories: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'planningnow' \
         AND table_name LIKE '%\\_history' AND table_type = 'VIEW'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(histories, 11);
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {} WITH (FORCE)",
        missing.rsplit('/').next().unwrap()
    )))
    .execute(app.pool())
    .await
    .unwrap();
    app.stop().await;
}

#[tokio::test]
async fn runs_a_killed_process_left_running_are_closed_by_the_next_pass() {
    let app = TestApp::spawn(5).await;
    let stale: i64 = sqlx::query_scalar(
        "INSERT INTO tributary.sync_runs (source, stream, trigger) VALUES ('planningnow', 'orders', 'cli') RETURNING id",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let out = app.tributary(&["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, error FROM tributary.sync_runs WHERE id = $1")
            .bind(stale)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("interrupted"));
    app.assert_nothing_running().await;
    app.stop().await;
}

#[tokio::test]
async fn check_proves_each_sources_credentials_without_printing_them() {
    let mut app = TestApp::builder()
        .apis(&[Api::PlanningNow, Api::Aimsio, Api::Aircalc])
        .orders(3)
        .env("TRIBUTARY__SOURCES__AIMSIO__ENTITIES", "NRB")
        .spawn()
        .await;
    let out = app.tributary(&["check"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    for source in ["database", "planningnow", "aimsio", "aircalc"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(source))
            .unwrap_or_default();
        assert!(line.contains("OK"), "{source}: {stdout}");
    }
    app.set_env(
        "TRIBUTARY__SOURCES__AIRCALC__CLIENT_SECRET",
        "s3cret-but-wrong",
    );
    let out = app.tributary(&["check", "aircalc"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("FAILED") && all.contains("aircalc"), "{all}");
    assert!(!all.contains("s3cret-but-wrong"), "{all}");
    app.stop().await;
}

#[tokio::test]
async fn sync_shows_progress_on_a_terminal_and_none_in_a_pipe() {
    let app = TestApp::spawn(10).await;
    let piped = app.tributary(&["sync"]).await;
    assert!(piped.status.success(), "{}", text(&piped));
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !stderr.contains("6/6") && !stderr.contains('\r'),
        "no progress without a terminal: {stderr:?}"
    );
    // `script` runs the command on a pseudo-terminal, as a user's shell would.
    let command = format!("{} sync", env!("CARGO_BIN_EXE_tributary"));
    let out = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("TERM", "xterm")
        .envs(app.env())
        .output()
        .await
        .expect("script (util-linux) runs the command on a terminal");
    assert!(out.status.success(), "{}", text(&out));
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(
        terminal.contains("6/6 succeeded"),
        "the finished bar is on the terminal: {terminal:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn ctrl_c_while_sync_waits_for_another_process_stops_it_at_once() {
    let app = TestApp::spawn(5).await;
    // This connection plays the other process that holds the source.
    let mut holder = app.pool().acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtextextended('tributary:pass:planningnow', 0))")
        .execute(&mut *holder)
        .await
        .unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tributary"));
    cmd.arg("sync")
        .env_clear()
        .env("RUST_LOG", "warn")
        .envs(app.env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("start tributary sync");
    let started = std::time::Instant::now();
    while app
        .count(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()",
        )
        .await
        == 0
    {
        assert!(
            started.elapsed().as_secs() < 30,
            "sync never waited for the lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("sync stops while it waits")
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(
        text(&out).contains("stopped before syncing: planningnow"),
        "{}",
        text(&out)
    );
    assert_eq!(
        app.count("SELECT count(*) FROM tributary.sync_runs").await,
        0
    );
    drop(holder);
    app.stop().await;
}

/// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn status_and_check_do_not_create_a_missing_database() {
    let name = format!(
        "tributary_test_missing_{}_{}",
        std::process::id(),
        fastrand::u32(..)
    );
    let env = [("DATABASE_URL".to_string(), url_on_test_server(&name).await)];
    for command in ["status", "check"] {
        let out = tributary(&[command], &env).await;
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{command}: {all}");
        assert!(
            all.contains(&format!("database `{name}` does not exist")),
            "{command}: {all}"
        );
        assert!(
            !database_exists(&name).await,
            "{command} created the database"
        );
    }
}

#[tokio::test]
async fn status_and_check_fail_fast_on_a_refused_connection_without_the_password() {
    let port = closed_port();
    let env = [(
        "DATABASE_URL".to_string(),
        format!("postgres://postgres:s3cr3t-pw@127.0.0.1:{port}/x"),
    )];
    for command in ["status", "check"] {
        let started = std::time::Instant::now();
        let out = tributary(&[command], &env).await;
        let took = started.elapsed();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{command}: {all}");
        assert!(
            took < std::time::Duration::from_secs(15),
            "{command} took {took:?}: {all}"
        );
        assert!(all.contains("connection refused"), "{command}: {all}");
        assert!(
            all.contains(&format!("127.0.0.1:{port}")),
            "{command}: {all}"
        );
        assert!(
            !all.contains("s3cr3t-pw"),
            "{command} leaked the password: {all}"
        );
    }
}

#[tokio::test]
async fn status_and_check_report_pending_migrations_without_applying_them() {
    let app = TestApp::builder().without_simulator().spawn().await;
    let latest: i64 = sqlx::query_scalar(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations) \
         RETURNING version",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let out = app.tributary(&["status"]).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!("database `{}` is not migrated", app.db().name()))
            && all.contains("run `tributary migrate`"),
        "{all}"
    );
    let out = app.tributary(&["check"]).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let line = all
        .lines()
        .find(|l| l.starts_with("database"))
        .unwrap_or_default();
    assert!(
        line.contains("FAILED") && line.contains("1 of") && line.contains("tributary migrate"),
        "{all}"
    );
    let applied = format!("SELECT count(*) FROM _sqlx_migrations WHERE version = {latest}");
    assert_eq!(app.count(&applied).await, 0, "a read-only command migrated");
}

#[tokio::test]
async fn status_prints_the_next_run_as_a_whole_second() {
    // status reads the schedule and the database only: nothing answers at the base URL.
    let app = TestApp::builder()
        .without_simulator()
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED", "true")
        .env(
            "TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL",
            "http://127.0.0.1:9/planningnow",
        )
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN", "sim-token")
        .spawn()
        .await;
    let out = app.tributary(&["status", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let status: Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    let next_run = status["sources"][0]["next_run"]
        .as_str()
        .expect("an hourly schedule has a next run")
        .to_string();
    assert!(
        !next_run.contains('.'),
        "the next tick of `0 0 * * * *` has no fraction of a second: {next_run}"
    );
    let next: chrono::DateTime<chrono::Utc> = next_run.parse().expect("RFC 3339");
    assert_eq!(next.format("%M:%S").to_string(), "00:00", "{next_run}");
    assert!(next > chrono::Utc::now(), "{next_run}");
    app.stop().await;
}
