//! `tributary bench`: sync N simulated orders and print orders/s, rows/s and peak RSS. The
//! simulator runs in a child process so that the figures are tributary's alone. Uses the
//! `tributary_bench` database on the configured server, recreated for every N.

use std::process::{ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::config::{BudgetSettings, Settings};
use crate::demo::with_database;
use crate::http::Budget;
use crate::sync::{SyncOptions, sync_source};
use crate::{db, report, sources};

const BENCH_DATABASE: &str = "tributary_bench";

pub async fn run(mut settings: Settings, order_counts: &[usize]) -> anyhow::Result<ExitCode> {
    let server_url = settings.database.url.expose_secret().to_string();
    settings.database.url = with_database(&server_url, BENCH_DATABASE)?.into();
    let admin = sqlx::PgPool::connect(&with_database(&server_url, "postgres")?)
        .await
        .context("cannot reach the PostgreSQL server of database.url")?;
    let mut rows = Vec::new();
    for &orders in order_counts {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"
        )))
        .execute(&admin)
        .await?;
        let exe = std::env::current_exe()?;
        let mut child = tokio::process::Command::new(exe)
            .args([
                "simulate",
                "--bind",
                "127.0.0.1:0",
                "--orders",
                &orders.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the simulator process")?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut base = None;
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("PlanningNow: base_url ") {
                base = url.split_whitespace().next().map(str::to_string);
                break;
            }
        }
        let Some(base) = base else {
            bail!("the simulator did not say where it listens")
        };
        let pn = &mut settings.sources.planningnow;
        pn.common.enabled = true;
        // Measure the sync, not the politeness limit.
        pn.common.requests_per_second = 1000.0;
        pn.base_url = base;
        pn.token = Some(SecretString::from("sim-token"));

        let pool = db::connect(&settings.database).await?;
        db::migrate(&pool).await?;
        let source = sources::build(&settings, &[sources::planningnow::NAME], &pool)?;
        let options = SyncOptions {
            trigger: "bench",
            allow_mass_delete: false,
        };
        for pass in ["first", "unchanged"] {
            let started = Instant::now();
            let r = sync_source(&pool, &settings.sync, source[0].as_ref(), &options).await?;
            let secs = started.elapsed().as_secs_f64();
            if let Some(failed) = r.streams.iter().find_map(|s| s.error.clone()) {
                bail!("the benchmark sync failed: {failed}");
            }
            let orders_fetched: u64 = r
                .streams
                .iter()
                .filter(|s| s.stream == "orders")
                .map(|s| s.counts.fetched)
                .sum();
            let rows_written: u64 = r
                .streams
                .iter()
                .map(|s| {
                    let t = s.counts.total();
                    t.inserted + t.updated + t.unchanged
                })
                .sum();
            rows.push(vec![
                orders.to_string(),
                pass.to_string(),
                format!("{secs:.2}"),
                format!("{:.0}", orders_fetched as f64 / secs),
                rows_written.to_string(),
                format!("{:.0}", rows_written as f64 / secs),
                peak_rss_mib()
                    .map(|m| format!("{m:.0}"))
                    .unwrap_or_else(|| "?".into()),
            ]);
        }
        pool.close().await;
        child.kill().await?;
    }
    print!(
        "{}",
        report::table(
            &[
                "orders",
                "pass",
                "seconds",
                "orders/s",
                "rows",
                "rows/s",
                "peak RSS MiB"
            ],
            &rows
        )
    );
    println!(
        "(rows: all tables of every stream; peak RSS: this process so far, simulator excluded)"
    );
    ledger_latency(&settings).await?;
    Ok(ExitCode::SUCCESS)
}

/// What the persisted request budget costs per request: admissions into a roomy window.
async fn ledger_latency(settings: &Settings) -> anyhow::Result<()> {
    const N: u32 = 500;
    let pool = db::connect(&settings.database).await?;
    let budget_settings = BudgetSettings {
        requests: N * 2,
        window_secs: 60,
        reserve: 0,
        max_wait_secs: 0,
    };
    let budget = Budget::new(pool.clone(), "bench-ledger", &budget_settings).expect("a budget");
    let started = Instant::now();
    for _ in 0..N {
        budget.acquire("GET /bench").await?;
    }
    let per = started.elapsed() / N;
    sqlx::query("DELETE FROM tributary.request_ledger WHERE source = 'bench-ledger'")
        .execute(&pool)
        .await?;
    println!(
        "request ledger: {:.3} ms added per request ({N} admissions, one database round trip each)",
        per.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// Peak resident set size of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
