//! `tributary bench`: sync N simulated orders three times (first load, unchanged, 10 % of
//! the orders changed) and print orders/s, rows/s, rows written and peak RSS, then the
//! floor: downloading the same listings and COPYing the same rows into tables of the same
//! types, and the ratios against it. The simulator runs in a child process (`tributary
//! simulate`) so that the figures are tributary's alone: the bench picks the address it
//! listens on and waits until it answers there, and takes the URLs and credentials from the
//! simulator crate. Uses the `tributary_bench` database on the configured server, recreated
//! for every N.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use tokio::process::Child;
use tributary_simulator::{Endpoints, SimOptions};

use crate::config::{BudgetSettings, Settings};
use crate::database_url::with_database;
use crate::http::Budget;
use crate::sources::aircalc::AircalcSettings;
use crate::sources::planningnow::PlanningNowSettings;
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
    let mut ratios = Vec::new();
    for &orders in order_counts {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"
        )))
        .execute(&admin)
        .await?;
        let simulator = SimOptions::default();
        let endpoints = Endpoints::new(free_local_address()?);
        let exe = std::env::current_exe()?;
        let mut child = tokio::process::Command::new(exe)
            .args([
                "simulate",
                "--bind",
                &endpoints.addr().to_string(),
                "--orders",
                &orders.to_string(),
                "--token",
                &simulator.planningnow_token,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the simulator process")?;
        wait_until_serving(&mut child, &endpoints).await?;
        settings
            .source_mut(sources::planningnow::NAME)
            .expect("every source is in the settings")
            .update(|pn: &mut PlanningNowSettings| {
                pn.common.enabled = true;
                // Measure the sync, not the politeness limit.
                pn.common.requests_per_second = 1000.0;
                pn.base_url = endpoints.planningnow_url();
                pn.token = Some(SecretString::from(simulator.planningnow_token.clone()));
            });
        let token = simulator.planningnow_token;

        let pool = db::connect(&settings.database).await?;
        db::migrate(&pool).await?;
        let source = sources::build(&settings, &[sources::planningnow::NAME], &pool)?;
        let options = SyncOptions {
            trigger: "bench",
            allow_mass_delete: false,
        };
        let mut seconds = Vec::new();
        for pass in ["first", "unchanged", "changed 10%"] {
            if pass == "changed 10%" {
                change_orders(&endpoints, 0.1, &token).await?;
            }
            let started = Instant::now();
            let r = sync_source(&pool, &settings.sync, &source[0], &options).await?;
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
            let (listed, written) = r.streams.iter().fold((0, 0), |(l, w), s| {
                let t = s.counts.total();
                (
                    l + t.inserted + t.updated + t.unchanged,
                    w + t.inserted + t.updated + t.deleted,
                )
            });
            seconds.push(secs);
            rows.push(vec![
                orders.to_string(),
                pass.to_string(),
                format!("{secs:.2}"),
                format!("{:.0}", orders_fetched as f64 / secs),
                listed.to_string(),
                format!("{:.0}", listed as f64 / secs),
                written.to_string(),
                peak_rss_mib()
                    .map(|m| format!("{m:.0}"))
                    .unwrap_or_else(|| "?".into()),
            ]);
        }
        let floor = floor(&pool, &endpoints, &token).await?;
        ratios.push(vec![
            orders.to_string(),
            format!("{floor:.2}"),
            format!("{:.2}", seconds[0] / floor),
            format!("{:.2}", seconds[1] / seconds[0]),
            format!("{:.2}", seconds[2] / seconds[0]),
        ]);
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
                "written",
                "peak RSS MiB"
            ],
            &rows
        )
    );
    println!(
        "(rows: all tables of every stream; written: rows inserted, updated or soft-deleted; \
         peak RSS: this process so far, simulator excluded)\n"
    );
    print!(
        "{}",
        report::table(
            &[
                "orders",
                "floor seconds",
                "first / floor",
                "unchanged / first",
                "changed 10% / first"
            ],
            &ratios
        )
    );
    println!(
        "(floor: downloading the same listings and COPYing the same rows into tables of the \
         same types, without indexes)"
    );
    ledger_latency(&settings).await?;
    Ok(ExitCode::SUCCESS)
}

/// Changes `share` of the simulated orders (their positions and tasks with them), and has
/// the simulator serve its new listing once before the clock starts (it builds it anew
/// after a change, which is the simulator's time, not tributary's).
async fn change_orders(endpoints: &Endpoints, share: f64, token: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{}/_sim/planningnow/mutate", endpoints.url()))
        .json(&serde_json::json!({"change": share, "seed": 7, "kinds": ["order"]}))
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("the simulator refused the change: {}", answer.status());
    }
    download_listings(&client, endpoints, token).await
}

/// Downloads every PlanningNow listing, discarding it.
async fn download_listings(
    client: &reqwest::Client,
    endpoints: &Endpoints,
    token: &str,
) -> anyhow::Result<()> {
    for stream in sources::planningnow::model::streams() {
        let mut answer = client
            .get(format!("{}{}", endpoints.planningnow_url(), stream.path))
            .header("x-auth-token", token)
            .send()
            .await?;
        while answer.chunk().await?.is_some() {}
    }
    Ok(())
}

/// The physical floor of a first sync: the seconds to download every PlanningNow listing
/// (discarding it) and COPY the rows tributary stored from them, as text, into tables of
/// the same types without indexes. The rows are read out before the clock starts.
async fn floor(pool: &sqlx::PgPool, endpoints: &Endpoints, token: &str) -> anyhow::Result<f64> {
    use futures_util::TryStreamExt;
    use sqlx::postgres::PgPoolCopyExt;

    let mut dumps = Vec::new();
    for table in sources::planningnow::tables()
        .iter()
        .flat_map(|t| t.flatten())
    {
        let mut text = Vec::new();
        let mut out = pool
            .copy_out_raw(&format!("COPY {} TO STDOUT", table.name))
            .await?;
        while let Some(chunk) = out.try_next().await? {
            text.extend_from_slice(&chunk);
        }
        dumps.push((table.name, text));
    }
    let client = reqwest::Client::new();
    let started = Instant::now();
    download_listings(&client, endpoints, token).await?;
    let mut conn = pool.acquire().await?;
    for (name, text) in &dumps {
        let copy = format!("bench_floor_{}", name.replace('.', "_"));
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {copy} (LIKE {name})"
        )))
        .execute(&mut *conn)
        .await?;
        let mut rows = conn.copy_in_raw(&format!("COPY {copy} FROM STDIN")).await?;
        rows.send(text.as_slice()).await?;
        rows.finish().await?;
    }
    let secs = started.elapsed().as_secs_f64();
    for (name, _) in &dumps {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE bench_floor_{}",
            name.replace('.', "_")
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(secs)
}

/// A loopback address with a port that was free a moment ago, for the simulator to listen
/// on (the system picks the port; another process could take it in between, and then the
/// simulator fails to start, which [`wait_until_serving`] reports).
fn free_local_address() -> anyhow::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free port for the simulator")?;
    Ok(probe.local_addr()?)
}

/// Waits until the simulator in `child` answers at `endpoints` (it binds first and serves
/// once its data is generated); fails when the child ends first.
async fn wait_until_serving(child: &mut Child, endpoints: &Endpoints) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()?;
    let stats = format!("{}/_sim/stats", endpoints.url());
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the simulator ended before it served at {}: {status}",
                endpoints.addr()
            );
        }
        match client.get(&stats).send().await {
            Ok(answer) if answer.status().is_success() => return Ok(()),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
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
        let entry = budget.acquire("GET /bench").await?;
        budget.settle(entry).await;
    }
    let per = started.elapsed() / N;
    sqlx::query("DELETE FROM tributary.request_ledger WHERE source = 'bench-ledger'")
        .execute(&pool)
        .await?;
    println!(
        "request ledger: {:.3} ms added per request ({N} admissions and settlements, two database round trips each)",
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

/// An in-process simulator serving `projects` aircalc projects, a fresh database, and the
/// aircalc source against them with `budget` (the simulator enforcing the same window, or
/// no limit when `limited` is false).
struct AircalcBench {
    sim: tributary_simulator::RunningSimulator,
    pool: sqlx::PgPool,
    source: crate::sync::Source,
    sync: crate::config::SyncSettings,
}

impl AircalcBench {
    async fn start(
        mut settings: Settings,
        projects: usize,
        budget: BudgetSettings,
        limited: bool,
    ) -> anyhow::Result<Self> {
        let server_url = settings.database.url.expose_secret().to_string();
        let database = format!("{BENCH_DATABASE}_aircalc");
        let admin = sqlx::PgPool::connect(&with_database(&server_url, "postgres")?).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
        )))
        .execute(&admin)
        .await?;
        settings.database.url = with_database(&server_url, &database)?.into();
        let options = SimOptions {
            aircalc_projects: projects,
            ..SimOptions::default()
        };
        let sim = tributary_simulator::start(([127, 0, 0, 1], 0).into(), options.clone()).await?;
        let limits = reqwest::Client::new();
        let limits = if limited {
            limits
                .put(format!("{}/_sim/limits/aircalc", sim.url()))
                .json(&serde_json::json!({"requests": budget.requests, "window_ms": budget.window_secs * 1000, "retry_after": true}))
        } else {
            limits.delete(format!("{}/_sim/limits/aircalc", sim.url()))
        };
        limits.send().await?.error_for_status()?;
        settings
            .source_mut(sources::aircalc::NAME)
            .expect("every source is in the settings")
            .update(|ac: &mut AircalcSettings| {
                ac.common.enabled = true;
                ac.common.requests_per_second = 1000.0;
                ac.common.budget = budget;
                ac.base_url = sim.aircalc_url();
                ac.token_url = sim.aircalc_token_url();
                ac.client_id = options.aircalc_client_id;
                ac.client_secret = Some(SecretString::from(options.aircalc_client_secret));
            });
        let pool = db::connect(&settings.database).await?;
        db::migrate(&pool).await?;
        let source = sources::build(&settings, &[sources::aircalc::NAME], &pool)?
            .pop()
            .expect("aircalc is built");
        Ok(Self {
            sim,
            pool,
            source,
            sync: settings.sync,
        })
    }

    /// One pass; fails unless it succeeded. Returns the seconds and requests of the pass,
    /// and the seconds of its `projects` stream.
    async fn pass(&self) -> anyhow::Result<(f64, u64, f64)> {
        let options = SyncOptions {
            trigger: "bench",
            allow_mass_delete: false,
        };
        let started = Instant::now();
        let report = sync_source(&self.pool, &self.sync, &self.source, &options).await?;
        let secs = started.elapsed().as_secs_f64();
        if report.status != crate::db::runs::RunStatus::Succeeded {
            bail!(
                "the aircalc refresh did not complete: {:?}",
                report.streams.iter().find_map(|s| s.error.clone())
            );
        }
        let projects = report
            .streams
            .iter()
            .find(|s| s.stream == "projects")
            .map_or(0.0, |s| s.duration.as_secs_f64());
        Ok((
            secs,
            report.streams.iter().map(|s| s.counts.requests).sum(),
            projects,
        ))
    }

    async fn stop(self) {
        self.pool.close().await;
        self.sim.stop().await;
    }
}

/// A full refresh of `projects` aircalc projects against the simulator, with aircalc's
/// budget (200 requests per window, 20 reserved) and the window shortened 100-fold to 6 s,
/// in one run that waits for free slots. Prints the requests it took, the work per request,
/// and what that means at the real 600 s window.
pub async fn aircalc(settings: Settings, projects: usize) -> anyhow::Result<()> {
    let window_secs = 6;
    let budget = BudgetSettings {
        requests: 200,
        window_secs,
        reserve: 20,
        max_wait_secs: window_secs * 2,
    };
    let bench = AircalcBench::start(settings, projects, budget, true).await?;
    let (secs, requests, _) = bench.pass().await?;
    let stats: serde_json::Value = reqwest::get(format!("{}/_sim/stats", bench.sim.url()))
        .await?
        .json()
        .await?;
    let limits = &stats["limits"]["aircalc"];
    // At the real budget the first 180 requests go at once and every further 180 wait a window.
    let windows = requests.div_ceil(180);
    println!(
        "aircalc: {projects} projects refreshed with {requests} requests in {secs:.1} s \
         ({:.0} ms of work per request); most requests seen in any {window_secs} s window: {} of 200, 429s: {}",
        secs * 1000.0 / requests as f64,
        limits["max_in_window"],
        limits["violations"]
    );
    println!(
        "aircalc at the default budget (180 of the customer's 200 per 600 s, 20 left to others): \
         {windows} window(s), about {} min for a full refresh, using at most 90% of the shared budget",
        (windows - 1) * 10
    );
    bench.stop().await;
    Ok(())
}

/// What storing an aircalc project costs with `stored` projects in the tables: all of them
/// are refreshed once without a budget, then `again` of them are due again and refreshed,
/// and the same requests are made once more without storing anything. The difference per
/// project, less the pass's choice of the due projects (timed on its own), is its store
/// (normalizing, staging, merging, its bookkeeping and the commit).
pub async fn aircalc_store(settings: Settings, stored: usize, again: usize) -> anyhow::Result<()> {
    let budget = BudgetSettings {
        requests: 1_000_000,
        window_secs: 600,
        reserve: 0,
        max_wait_secs: 1,
    };
    let aircalc_settings = settings
        .source(sources::aircalc::NAME)
        .expect("every source is in the settings")
        .get::<AircalcSettings>()
        .clone();
    let fetch_bom = aircalc_settings.fetch_bom;
    let bench = AircalcBench::start(settings, stored, budget, false).await?;
    let (secs, requests, _) = bench.pass().await?;
    println!("aircalc: {stored} projects stored with {requests} requests in {secs:.1} s");
    let due: Vec<String> = sqlx::query_scalar(
        "UPDATE aircalc.project_refresh SET last_fetched_at = NULL WHERE project_no IN \
         (SELECT project_no FROM aircalc.project_refresh WHERE last_fetched_at IS NOT NULL \
          ORDER BY md5(project_no) LIMIT $1) RETURNING fetch_no",
    )
    .bind(again as i64)
    .fetch_all(&bench.pool)
    .await?;
    let started = Instant::now();
    let chosen = crate::sync::refresh::Refresh::due(
        &sources::aircalc::projects(&aircalc_settings),
        &bench.pool,
    )
    .await?;
    let choose_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(chosen.len() >= due.len(), "the projects made due are due");
    let (_, requests, secs) = bench.pass().await?;
    let started = Instant::now();
    let mut fetched = 0u64;
    for no in &due {
        let path = format!("/project-by-no/v0/{}", crate::http::path_segment(no));
        let project: serde_json::Value = bench.source.client.get_json(&path, usize::MAX).await?;
        fetched += 1;
        let positions = project["positions"].as_array().filter(|_| fetch_bom);
        for position in positions.into_iter().flatten() {
            if let Some(pos) = position["posNo"].as_str() {
                let path = format!("/ahu-bom-by-pos-no/v0/{}", crate::http::path_segment(pos));
                let _: serde_json::Value = bench.source.client.get_json(&path, usize::MAX).await?;
                fetched += 1;
            }
        }
    }
    let fetch_secs = started.elapsed().as_secs_f64();
    let per = |s: f64| s * 1000.0 / due.len().max(1) as f64;
    println!(
        "aircalc store with {stored} projects stored: {} projects refreshed again (the pass: {requests} requests; \
         its projects stream: {secs:.2} s, {:.1} ms per project); choosing the due projects {:.0} ms once per pass; \
         the same {fetched} requests alone {fetch_secs:.2} s ({:.1} ms per project); the store: {:.1} ms per project",
        due.len(),
        per(secs),
        choose_secs * 1000.0,
        per(fetch_secs),
        per(secs - fetch_secs - choose_secs)
    );
    bench.stop().await;
    Ok(())
}
