//! `tributary run`: schedules fire and record runs, a source never overlaps itself, two
//! daemons on one database never pull a source at once, SIGTERM mid-run ends in a
//! `cancelled` run with consistent data, the HTTP endpoints answer (`/metrics` as strict
//! Prometheus text), runs a killed process left `running` are closed at start, a bad
//! configuration stops `run` before anything starts, and with no source enabled it stays up
//! unready, saying what to set.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus_parse::{LineInfo, Scrape, Value as Sample};

use crate::aimsio::{aimsio_app, sync_aimsio};
use crate::common::*;
use tributary::daemon::Daemon;
use tributary::db::runs::RunStatus;

/// Polls `check` every 100 ms until it holds, failing after `limit`.
pub(crate) async fn wait_for<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Pass {
    id: i64,
    status: String,
    trigger: String,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

async fn passes(app: &TestApp, source: &str) -> Vec<Pass> {
    sqlx::query_as(
        "SELECT id, status, trigger, started_at, finished_at FROM tributary.sync_runs \
         WHERE source = $1 AND stream IS NULL ORDER BY started_at, id",
    )
    .bind(source)
    .fetch_all(app.pool())
    .await
    .expect("passes")
}

/// Every pass finished before the next one started.
fn assert_disjoint(passes: &[Pass]) {
    for pair in passes.windows(2) {
        let end = pair[0].finished_at.expect("every pass finished");
        assert!(
            pair[1].started_at >= end,
            "pass {} started at {} before pass {} finished at {end}",
            pair[1].id,
            pair[1].started_at,
            pair[0].id
        );
    }
}

async fn get(url: String) -> (u16, String) {
    let resp = reqwest::get(&url).await.expect("the daemon answers");
    (resp.status().as_u16(), resp.text().await.expect("a body"))
}

/// Parses `/metrics` strictly: every line is a HELP, TYPE or sample line, every sample's
/// value is a number, and every sample follows the TYPE of its own family (a family's
/// samples stand together).
fn parse_metrics(text: &str) -> Scrape {
    let mut current: Option<String> = None;
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Type { metric_name, .. } => {
                current = Some(metric_name.trim_end_matches("_bucket").to_string());
            }
            LineInfo::Sample {
                metric_name, value, ..
            } => {
                assert!(value.parse::<f64>().is_ok(), "not a number: {line}");
                let family = metric_name
                    .trim_end_matches("_bucket")
                    .trim_end_matches("_sum")
                    .trim_end_matches("_count");
                assert_eq!(
                    current.as_deref(),
                    Some(family),
                    "a sample outside its family's group: {line}"
                );
                assert!(
                    metric_name.starts_with("tributary_") || metric_name.starts_with("process_"),
                    "{line}"
                );
            }
            LineInfo::Doc { .. } => {}
            LineInfo::Empty | LineInfo::Ignored => panic!("not Prometheus text: {line:?}"),
        }
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

/// The value of the sample `metric` whose labels include `labels`.
fn sample(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => *v,
            Sample::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Sample::Summary(_) => f64::NAN,
        })
}

async fn daemon_app(orders: usize) -> TestApp {
    TestApp::builder()
        .orders(orders)
        .env("TRIBUTARY__SERVER__BIND", "127.0.0.1:0")
        .env("TRIBUTARY__SOURCES__PLANNINGNOW__SCHEDULE", "* * * * * *")
        .spawn()
        .await
}

#[tokio::test]
async fn a_short_schedule_fires_records_runs_and_serves_health_and_metrics() {
    let app = daemon_app(30).await;
    let daemon = Daemon::start(app.settings())
        .await
        .expect("the daemon starts");
    let base = format!("http://{}", daemon.addr());
    // A pass's metrics are recorded just after its run row: wait for both.
    wait_for(
        Duration::from_secs(30),
        "three passes, two of them scheduled",
        || async {
            let p = passes(&app, "planningnow").await;
            let (_, text) = get(format!("{base}/metrics")).await;
            p.iter().filter(|p| p.trigger == "schedule").count() >= 2
                && sample(
                    &parse_metrics(&text),
                    "tributary_runs_total",
                    &[("source", "planningnow"), ("outcome", "succeeded")],
                )
                .is_some_and(|n| n >= 3.0)
        },
    )
    .await;
    assert_eq!(get(format!("{base}/healthz")).await, (200, "ok\n".into()));
    assert_eq!(get(format!("{base}/readyz")).await, (200, "ready\n".into()));
    let (status, text) = get(format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    let scrape = parse_metrics(&text);
    let succeeded = sample(
        &scrape,
        "tributary_runs_total",
        &[("source", "planningnow"), ("outcome", "succeeded")],
    )
    .expect("runs_total");
    assert!(succeeded >= 3.0, "{text}");
    assert_eq!(
        sample(
            &scrape,
            "tributary_rows_total",
            &[("table", "planningnow.orders"), ("op", "inserted")]
        ),
        Some(30.0),
        "the first pass inserted every order once; later passes found them unchanged"
    );
    assert!(
        sample(
            &scrape,
            "tributary_rows_total",
            &[("table", "planningnow.orders"), ("op", "unchanged")]
        )
        .unwrap()
            >= 60.0
    );
    assert!(sample(&scrape, "tributary_requests_total", &[("status", "200")]).unwrap() >= 18.0);
    let used = sample(
        &scrape,
        "tributary_budget_used_requests",
        &[("source", "planningnow")],
    )
    .unwrap();
    let remaining = sample(
        &scrape,
        "tributary_budget_remaining_requests",
        &[("source", "planningnow")],
    )
    .unwrap();
    assert_eq!(
        used + remaining,
        1000.0,
        "the default budget: 1000 per hour"
    );
    assert_eq!(
        sample(
            &scrape,
            "tributary_source_schedule_interval_seconds",
            &[("source", "planningnow")]
        ),
        Some(1.0),
        "`* * * * * *` ticks every second"
    );
    let last = sample(
        &scrape,
        "tributary_last_success_timestamp_seconds",
        &[("source", "planningnow")],
    )
    .unwrap();
    assert!((Utc::now().timestamp() as f64 - last).abs() < 60.0);
    assert!(
        sample(
            &scrape,
            "tributary_run_duration_seconds",
            &[("source", "planningnow")]
        )
        .unwrap()
            >= 3.0
    );
    // A database behind the binary's migrations is not ready.
    let newest: i64 =
        sqlx::query_scalar("DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations) RETURNING version")
            .fetch_one(app.pool())
            .await
            .unwrap();
    let (status, body) = get(format!("{base}/readyz")).await;
    assert_eq!(status, 503);
    assert!(
        body.contains(&format!("migrations not applied: [{newest}]")),
        "{body}"
    );
    daemon.stop().await;
    let all = passes(&app, "planningnow").await;
    assert_eq!(all[0].trigger, "startup", "never synced: it runs at once");
    assert_disjoint(&all);
    assert!(
        all.iter()
            .all(|p| p.status == "succeeded" || p.status == "cancelled"),
        "{all:?}"
    );
    app.assert_nothing_running().await;
    app.stop().await;
}

#[tokio::test]
async fn passes_never_overlap_within_a_daemon_nor_across_two_on_one_database() {
    let mut app = daemon_app(30).await;
    // Six requests at 2 per second: a pass takes about 2.5 s, the schedule ticks every second.
    app.set_env("TRIBUTARY__SOURCES__PLANNINGNOW__REQUESTS_PER_SECOND", "2");
    let first = Daemon::start(app.settings()).await.expect("first daemon");
    let second = Daemon::start(app.settings()).await.expect("second daemon");
    wait_for(Duration::from_secs(60), "three finished passes", || async {
        passes(&app, "planningnow")
            .await
            .iter()
            .filter(|p| p.status == "succeeded")
            .count()
            >= 3
    })
    .await;
    let mut skipped = HashMap::new();
    for daemon in [&first, &second] {
        let (_, text) = get(format!("http://{}/metrics", daemon.addr())).await;
        let scrape = parse_metrics(&text);
        for reason in ["overlap", "locked"] {
            *skipped.entry(reason).or_insert(0.0) += sample(
                &scrape,
                "tributary_runs_skipped_total",
                &[("reason", reason)],
            )
            .unwrap_or(0.0);
        }
    }
    first.stop().await;
    second.stop().await;
    assert!(
        skipped["overlap"] > 0.0,
        "ticks during a pass are skipped: {skipped:?}"
    );
    assert!(
        skipped["locked"] > 0.0,
        "the other daemon's ticks are skipped: {skipped:?}"
    );
    assert_disjoint(&passes(&app, "planningnow").await);
    app.stop().await;
}

/// Runs `tributary <command>` on a slow Aimsio pass (JobOrder, then Employee, 40 each),
/// sends `signal` once a batch of job orders is committed, and checks what every stop must
/// leave: exit code `code` within the grace period, the pass and the JobOrder stream
/// `cancelled` at a batch boundary, no run left `running`, only complete rows; then the
/// next pass fetches exactly the details the stopped one did not commit.
async fn stop_mid_pass(command: &str, signal: &str, code: i32) {
    let mut app = aimsio_app(40, "JobOrder,Employee").await;
    // 1 list + 40 details per entity at 4 per second: the first batch of 16 commits after
    // about 4 s, the stream's last after 10 s; the signal comes in between.
    for (k, v) in [
        ("TRIBUTARY__SOURCES__AIMSIO__REQUESTS_PER_SECOND", "4"),
        ("TRIBUTARY__SOURCES__AIMSIO__MAX_PARALLEL", "2"),
        ("TRIBUTARY__SOURCES__AIMSIO__SCHEDULE", "0 0 0 1 1 *"),
        ("TRIBUTARY__SERVER__BIND", "127.0.0.1:0"),
        ("TRIBUTARY__SERVER__SHUTDOWN_GRACE_SECS", "10"),
    ] {
        app.set_env(k, v);
    }
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg(command)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .envs(app.env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tributary");
    wait_for(
        Duration::from_secs(30),
        "a committed batch of job orders",
        || async { app.count("SELECT count(*) FROM aimsio.job_orders").await >= 16 },
    )
    .await;
    let kill = std::process::Command::new("kill")
        .args([signal, &child.id().expect("running").to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let signalled = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("tributary exits within the grace period")
        .expect("its output");
    let stopped_after = signalled.elapsed();
    eprintln!(
        "tributary {command}: exited {:?} {} ms after kill {signal}",
        out.status.code(),
        stopped_after.as_millis()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(
        stopped_after < Duration::from_secs(10),
        "exited within shutdown_grace_secs"
    );
    let all = passes(&app, "aimsio").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, RunStatus::Cancelled.as_str());
    app.assert_nothing_running().await;
    let job_run: (String, Option<String>) =
        sqlx::query_as("SELECT status, error FROM tributary.sync_runs WHERE stream = 'JobOrder'")
            .fetch_one(app.pool())
            .await
            .expect("the JobOrder run");
    assert_eq!(job_run.0, "cancelled");
    assert!(
        job_run
            .1
            .as_deref()
            .is_some_and(|e| e.starts_with("stopped by a shutdown after its last committed batch")),
        "the stream stopped at a batch boundary, not at the end of the grace period: {job_run:?}"
    );
    let kept = app.count("SELECT count(*) FROM aimsio.job_orders").await;
    assert!((16..40).contains(&kept), "stopped mid-stream: {kept}");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM aimsio.job_orders WHERE raw IS NULL OR _deleted_at IS NOT NULL"
        )
        .await,
        0
    );
    // The next pass resumes: it fetches exactly the details the stopped one did not commit,
    // and afterwards everything is there once.
    app.set_env("TRIBUTARY__SOURCES__AIMSIO__REQUESTS_PER_SECOND", "8");
    let report = sync_aimsio(&app).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let jobs = report
        .streams
        .iter()
        .find(|s| s.stream == "JobOrder")
        .expect("JobOrder resumed");
    let inserted = jobs.counts.tables["aimsio.job_orders"].inserted as i64;
    assert_eq!(
        inserted,
        40 - kept,
        "only what was not committed is fetched again"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM aimsio.job_orders").await,
        40
    );
    assert_eq!(app.count("SELECT count(*) FROM aimsio.employees").await, 40);
    app.stop().await;
}

#[tokio::test]
async fn sigterm_mid_run_records_cancelled_keeps_every_committed_batch_and_exits_0() {
    stop_mid_pass("run", "-TERM", 0).await;
}

#[tokio::test]
async fn ctrl_c_during_a_one_shot_sync_stops_at_a_batch_boundary_and_exits_130() {
    stop_mid_pass("sync", "-INT", 130).await;
}

#[tokio::test]
async fn runs_a_killed_process_left_running_are_closed_when_the_daemon_starts() {
    let mut app = daemon_app(5).await;
    // A pass succeeded a minute ago, and the yearly schedule has not ticked since: nothing
    // is overdue at start.
    app.set_env("TRIBUTARY__SOURCES__PLANNINGNOW__SCHEDULE", "0 0 0 1 1 *");
    sqlx::query(
        "INSERT INTO tributary.sync_runs (source, trigger, status, started_at, finished_at) \
         VALUES ('planningnow', 'schedule', 'succeeded', now() - interval '61 seconds', \
         now() - interval '60 seconds'), ('planningnow', 'schedule', 'running', \
         now() - interval '30 seconds', NULL)",
    )
    .execute(app.pool())
    .await
    .expect("seed runs");
    let daemon = Daemon::start(app.settings()).await.expect("starts");
    // Stopped first, so that a pass the daemon started at once would be in the count.
    daemon.stop().await;
    let all = passes(&app, "planningnow").await;
    assert_eq!(all.len(), 2, "nothing ran: the last success is recent");
    assert_eq!(all[1].status, "failed");
    let error: String = sqlx::query_scalar("SELECT error FROM tributary.sync_runs WHERE id = $1")
        .bind(all[1].id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert!(error.contains("interrupted"), "{error}");
    app.stop().await;
}

#[tokio::test]
async fn bad_configuration_stops_run_before_anything_starts() {
    // Nothing listens on port 9: touching the database would fail differently.
    let enabled = [
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:9/none"),
        ("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED", "true"),
        (
            "TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL",
            "http://127.0.0.1:9/planningnow",
        ),
        ("TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN", "t0ps3cret"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut env = enabled.to_vec();
        env.push(extra);
        env
    };
    let cases = [
        (
            with(("TRIBUTARY__SOURCES__PLANNINGNOW__SCHEDULE", "*/5 * * * *")),
            "`sources.planningnow.schedule`",
        ),
        (
            with(("TRIBUTARY__SOURCES__PLANNINGNOW__SHEDULE", "0 * * * * *")),
            "`sources.planningnow.shedule`",
        ),
        (enabled[..3].to_vec(), "`sources.planningnow.token`"),
        (
            with(("TRIBUTARY__SERVER__BIND", "everywhere:80")),
            "`server.bind`",
        ),
    ];
    for (env, named) in cases {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let out = tributary(&["run"], &env).await;
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{named}: {all}");
        assert!(all.contains(named), "{named}: {all}");
        assert!(!all.contains("connect"), "{named}: {all}");
        assert!(!all.contains("t0ps3cret"), "{all}");
    }
}

/// `docker compose up` before any source is configured: `run` stays up, alive but not ready,
/// says what to set (on `/readyz` and in its log), and a SIGTERM ends it with 0.
#[tokio::test]
async fn run_with_no_source_enabled_stays_up_unready_saying_what_to_set() {
    let app = TestApp::builder()
        .apis(&[])
        .without_simulator()
        .env("TRIBUTARY__SERVER__SHUTDOWN_GRACE_SECS", "3")
        .spawn()
        .await;
    let run = app.start_run().await;
    // Still up a moment later, where it used to exit 2.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(run.get("/healthz").await, (200, "ok\n".into()));
    let (status, body) = run.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    for what in [
        "no source is enabled",
        "sources.<name>.enabled = true",
        "TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED=true",
        "planningnow, aimsio, aircalc",
    ] {
        assert!(body.contains(what), "{what}: {body}");
    }
    let (status, text) = run.get("/metrics").await;
    assert_eq!(status, 200);
    let scrape = parse_metrics(&text);
    assert_eq!(sample(&scrape, "tributary_database_up", &[]), Some(1.0));
    assert_eq!(
        sample(&scrape, "tributary_runs_total", &[]),
        None,
        "no source, no series: {text}"
    );
    let log = run.log();
    let warning = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| {
            e["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("no source is enabled"))
        })
        .unwrap_or_else(|| panic!("a log line says what to set:\n{log}"));
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert!(
        warning["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED=true"),
        "{warning}"
    );
    let (exit, took) = run.signal("-TERM", Duration::from_secs(10)).await;
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    assert!(took < Duration::from_secs(3), "within the grace: {took:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM tributary.sync_runs").await,
        0,
        "nothing ran"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_enabled_sources_series_exist_at_zero_from_the_start() {
    let mut app = TestApp::builder().without_simulator().spawn().await;
    // Accepts connections (the kernel does, into the backlog) but never answers: the
    // never-synced source's startup pass waits on it for the whole test.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let yearly = "0 0 0 1 1 *";
    for (k, v) in [
        ("TRIBUTARY__SERVER__BIND", "127.0.0.1:0".into()),
        ("TRIBUTARY__SERVER__SHUTDOWN_GRACE_SECS", "2".into()),
        ("TRIBUTARY__SOURCES__PLANNINGNOW__ENABLED", "true".into()),
        ("TRIBUTARY__SOURCES__PLANNINGNOW__SCHEDULE", yearly.into()),
        (
            "TRIBUTARY__SOURCES__PLANNINGNOW__BASE_URL",
            format!("{silent_url}/planningnow"),
        ),
        ("TRIBUTARY__SOURCES__PLANNINGNOW__TOKEN", "sim-token".into()),
        ("TRIBUTARY__SOURCES__PLANNINGNOW__TIMEOUT_SECS", "60".into()),
        ("TRIBUTARY__SOURCES__AIRCALC__ENABLED", "true".into()),
        ("TRIBUTARY__SOURCES__AIRCALC__SCHEDULE", yearly.into()),
        (
            "TRIBUTARY__SOURCES__AIRCALC__BASE_URL",
            format!("{silent_url}/aircalc/external"),
        ),
        (
            "TRIBUTARY__SOURCES__AIRCALC__TOKEN_URL",
            format!("{silent_url}/aircalc/oauth/token"),
        ),
        (
            "TRIBUTARY__SOURCES__AIRCALC__CLIENT_ID",
            "sim-client".into(),
        ),
        (
            "TRIBUTARY__SOURCES__AIRCALC__CLIENT_SECRET",
            "sim-secret".into(),
        ),
    ] {
        app.set_env(k, v);
    }
    // aircalc succeeded a minute ago and its yearly schedule has not ticked since: it does
    // not run at all. PlanningNow never succeeded: its startup pass hangs on the listener.
    sqlx::query(
        "INSERT INTO tributary.sync_runs (source, trigger, status, started_at, finished_at) \
         VALUES ('aircalc', 'schedule', 'succeeded', now() - interval '61 seconds', \
         now() - interval '60 seconds')",
    )
    .execute(app.pool())
    .await
    .expect("seed a success");
    let daemon = Daemon::start(app.settings())
        .await
        .expect("the daemon starts");
    let (status, text) = get(format!("http://{}/metrics", daemon.addr())).await;
    assert_eq!(status, 200);
    let scrape = parse_metrics(&text);
    let value = |metric: &str, labels: &[(&str, &str)]| {
        sample(&scrape, metric, labels).unwrap_or_else(|| panic!("{metric} {labels:?} in:\n{text}"))
    };
    for source in ["planningnow", "aircalc"] {
        let of = [("source", source)];
        for outcome in [
            "succeeded",
            "failed",
            "budget_exhausted",
            "cancelled",
            "error",
        ] {
            assert_eq!(
                value(
                    "tributary_runs_total",
                    &[("source", source), ("outcome", outcome)]
                ),
                0.0
            );
        }
        for reason in ["overlap", "locked"] {
            assert_eq!(
                value(
                    "tributary_runs_skipped_total",
                    &[("source", source), ("reason", reason)]
                ),
                0.0
            );
        }
        assert_eq!(value("tributary_records_fetched_total", &of), 0.0);
        assert_eq!(value("tributary_records_rejected_total", &of), 0.0);
        assert_eq!(
            value("tributary_run_duration_seconds", &of),
            0.0,
            "no pass yet"
        );
    }
    assert_eq!(
        value("tributary_run_in_progress", &[("source", "aircalc")]),
        0.0
    );
    // The yearly schedule's interval: 2027-01-01 to 2028-01-01 (or 2028 to 2029, a leap year).
    for source in ["planningnow", "aircalc"] {
        let interval = value(
            "tributary_source_schedule_interval_seconds",
            &[("source", source)],
        );
        assert!(
            interval == 365.0 * 86_400.0 || interval == 366.0 * 86_400.0,
            "{source}: {interval}"
        );
    }
    assert_eq!(
        value(
            "tributary_source_never_succeeded",
            &[("source", "planningnow")]
        ),
        1.0
    );
    assert_eq!(
        value("tributary_source_never_succeeded", &[("source", "aircalc")]),
        0.0
    );
    assert!(
        sample(
            &scrape,
            "tributary_last_success_timestamp_seconds",
            &[("source", "planningnow")]
        )
        .is_none()
    );
    let aircalc_success = value(
        "tributary_last_success_timestamp_seconds",
        &[("source", "aircalc")],
    );
    assert!((Utc::now().timestamp() as f64 - 60.0 - aircalc_success).abs() < 30.0);
    // aircalc's default budget: 200 requests per 600 s, 20 of them left to others.
    let aircalc = [("source", "aircalc")];
    assert_eq!(value("tributary_budget_used_requests", &aircalc), 0.0);
    assert_eq!(
        value("tributary_budget_remaining_requests", &aircalc),
        180.0
    );
    assert_eq!(value("tributary_budget_limit_requests", &aircalc), 180.0);
    assert_eq!(value("tributary_budget_window_seconds", &aircalc), 600.0);
    assert_eq!(
        value(
            "tributary_budget_window_seconds",
            &[("source", "planningnow")]
        ),
        3600.0
    );
    assert!(
        !text.contains("tributary_budget_used{") && !text.contains("tributary_budget_remaining{"),
        "the gauges without units are gone:\n{text}"
    );
    assert_eq!(
        value(
            "tributary_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert!(value("process_resident_memory_bytes", &[]) > 1_000_000.0);
    assert!(value("process_cpu_seconds_total", &[]) > 0.0);
    assert!(value("process_open_fds", &[]) >= 3.0);
    let started = value("process_start_time_seconds", &[]);
    let now = Utc::now().timestamp() as f64;
    assert!(
        started <= now + 1.0 && started > now - 86_400.0,
        "{started}"
    );
    daemon.stop().await;
    drop(silent);
    app.stop().await;
}

#[tokio::test]
async fn readyz_and_metrics_answer_within_a_second_while_the_database_is_frozen() {
    use sqlx::postgres::PgConnectOptions;
    use std::str::FromStr;
    let mut app = daemon_app(30).await;
    let options = PgConnectOptions::from_str(&app.db().url).expect("the test URL parses");
    let upstream = format!("{}:{}", options.get_host(), options.get_port());
    let proxy = FreezingProxy::start(upstream.clone()).await;
    let proxied = app.db().url.replacen(&upstream, &proxy.addr.to_string(), 1);
    assert_ne!(proxied, app.db().url, "the URL names {upstream}");
    app.set_env("DATABASE_URL", proxied);
    app.set_env("TRIBUTARY__SOURCES__PLANNINGNOW__SCHEDULE", "0 0 0 1 1 *");
    app.set_env("TRIBUTARY__SERVER__SHUTDOWN_GRACE_SECS", "2");
    let daemon = Daemon::start(app.settings())
        .await
        .expect("the daemon starts");
    let base = format!("http://{}", daemon.addr());
    // The startup pass (the source never succeeded) ends; then the database freezes.
    wait_for(Duration::from_secs(30), "the startup pass", || async {
        passes(&app, "planningnow")
            .await
            .iter()
            .any(|p| p.status == "succeeded")
    })
    .await;
    assert_eq!(get(format!("{base}/readyz")).await, (200, "ready\n".into()));
    proxy.freeze(true);
    // Without a bound they would wait for the database for good: give up after 10 s.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for round in 0..3 {
        let started = Instant::now();
        let resp = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("/readyz with the database frozen: {e}"));
        let (status, body) = (resp.status().as_u16(), resp.text().await.unwrap());
        let took = started.elapsed();
        eprintln!("round {round}: /readyz {status} in {took:?}: {body}");
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("database"), "{body}");
        assert!(took < Duration::from_secs(2), "/readyz took {took:?}");

        let started = Instant::now();
        let resp = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("/metrics with the database frozen: {e}"));
        assert_eq!(resp.status().as_u16(), 200);
        let text = resp.text().await.unwrap();
        let took = started.elapsed();
        eprintln!("round {round}: /metrics in {took:?}");
        assert!(took < Duration::from_secs(2), "/metrics took {took:?}");
        let scrape = parse_metrics(&text);
        assert_eq!(
            sample(&scrape, "tributary_database_up", &[]),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            sample(&scrape, "tributary_budget_used_requests", &[]),
            None,
            "no database-derived gauge without the database: {text}"
        );
        assert!(
            sample(
                &scrape,
                "tributary_runs_total",
                &[("source", "planningnow"), ("outcome", "succeeded")]
            )
            .is_some_and(|n| n >= 1.0),
            "the process's own counters are still served: {text}"
        );
    }
    // Thawed, the daemon is ready again.
    proxy.freeze(false);
    wait_for(Duration::from_secs(30), "ready again", || async {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    daemon.stop().await;
    app.stop().await;
}

/// A stop while the database is frozen under a pass in flight still ends within
/// `server.shutdown_grace_secs` (it took 26.1 s of 25 in issue 11).
#[tokio::test]
async fn a_stop_while_the_database_is_frozen_ends_within_the_grace() {
    use sqlx::postgres::PgConnectOptions;
    use std::str::FromStr;
    let mut app = daemon_app(30).await;
    let options = PgConnectOptions::from_str(&app.db().url).expect("the test URL parses");
    let upstream = format!("{}:{}", options.get_host(), options.get_port());
    let proxy = FreezingProxy::start(upstream.clone()).await;
    app.set_env(
        "DATABASE_URL",
        app.db().url.replacen(&upstream, &proxy.addr.to_string(), 1),
    );
    app.set_env("TRIBUTARY__SOURCES__PLANNINGNOW__SCHEDULE", "0 0 0 1 1 *");
    app.set_env("TRIBUTARY__SERVER__SHUTDOWN_GRACE_SECS", "5");
    app.control(
        "POST",
        "/_sim/faults",
        serde_json::json!({"path": "/planningnow/api/offer", "delay_ms": 1500}),
    )
    .await;
    let daemon = Daemon::start(app.settings())
        .await
        .expect("the daemon starts");
    // The startup pass is in flight (its offers request admitted); then the freeze.
    wait_for(Duration::from_secs(30), "the offers request", || async {
        app.count("SELECT count(*) FROM tributary.request_ledger WHERE endpoint = 'GET /api/offer'")
            .await
            > 0
    })
    .await;
    proxy.freeze(true);
    let started = Instant::now();
    daemon.stop().await;
    let took = started.elapsed();
    eprintln!("stop with the database frozen took {took:?} (grace 5 s)");
    proxy.freeze(false);
    // Before: the last fifth of the grace for the runs, then one second more for the pool.
    assert!(took < Duration::from_millis(5_800), "{took:?}");
    app.stop().await;
}
