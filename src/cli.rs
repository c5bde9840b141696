//! The command line: clap definitions and what each subcommand does, at the top level
//! (settings first, then the database, then the work), with exit codes: 0 success, 1 a run
//! or check failed, 2 bad configuration or usage, 3 a request budget ran out (the next run
//! resumes), 130 stopped by Ctrl-C or SIGTERM (the next run resumes).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tributary_simulator::SimOptions;

use crate::config::Settings;
use crate::signals::StopSignals;
use crate::sync::SyncOptions;
use crate::telemetry::LogFormat;
use crate::{bench, db, demo, report, sources};

#[derive(Debug, Parser)]
#[command(
    name = "tributary",
    version,
    about = "Keeps PostgreSQL in sync with PlanningNow, Aimsio and aircalc NEXT"
)]
pub struct Cli {
    /// Configuration file layered over the built-in defaults.
    #[arg(long, global = true, env = "TRIBUTARY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr (filter with RUST_LOG, default info).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "TRIBUTARY_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database if needed and apply the migrations.
    Migrate,
    /// One pass over the enabled sources (or the named ones), then a summary.
    Sync {
        /// Sources to sync (planningnow, aimsio, aircalc); default: every enabled one.
        sources: Vec<String>,
        /// Apply listings even when they would soft-delete more than sync.max_delete_fraction.
        #[arg(long)]
        allow_mass_delete: bool,
    },
    /// The service: pull every enabled source on its schedule (`sources.<name>.schedule`) and
    /// serve /healthz, /readyz and /metrics on `server.bind`, until SIGTERM or SIGINT.
    Run,
    /// Exit 0 when the local `tributary run` answers GET /healthz on `server.bind` (for a
    /// container HEALTHCHECK).
    Healthcheck,
    /// Check the database and, per enabled (or named) source, the cheapest call that proves
    /// its credentials (PlanningNow's test endpoint, an aircalc token, one Aimsio list).
    Check {
        /// Sources to check; default: every enabled one.
        sources: Vec<String>,
    },
    /// The latest run of every source and stream (read-only: exits 1 when the database cannot
    /// be reached, does not exist or is not migrated).
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the schema as the database has it: schemas, tables and views, columns with
    /// types, keys, relationships and comments (read-only: exits 1 when the database cannot
    /// be reached, does not exist or is not migrated).
    Schema {
        /// Output format.
        #[arg(long, value_enum, default_value = "markdown")]
        format: crate::schema::Format,
    },
    /// Serve fake vendor APIs over HTTP (PlanningNow under /planningnow, Aimsio under /aimsio,
    /// aircalc under /aircalc) until SIGTERM or Ctrl-C.
    Simulate {
        #[arg(long, default_value = "127.0.0.1:8089")]
        bind: SocketAddr,
        /// Seed of the generated data (same seed, same data).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of PlanningNow orders (offers, documents and schedules scale with it).
        #[arg(long, default_value_t = 200)]
        orders: usize,
        /// The X-AUTH-TOKEN the fake PlanningNow accepts.
        #[arg(long, default_value = "sim-token")]
        token: String,
    },
    /// Start the simulators in-process, sync all three sources into the `tributary_demo`
    /// database on the configured server, and show what landed.
    Demo {
        /// PlanningNow orders to simulate (aircalc knows most of the projects they name).
        #[arg(long, default_value_t = 200)]
        orders: usize,
    },
    /// Measure sync throughput and peak memory against a simulator in a child process.
    Bench {
        /// Order counts to measure, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000])]
        orders: Vec<usize>,
        /// Also refresh this many simulated aircalc projects under aircalc's budget (200 per
        /// window, 20 reserved) with the window shortened from 600 s to 6 s; 0 skips it.
        #[arg(long, default_value_t = 0)]
        aircalc_projects: usize,
        /// Also measure an aircalc project's store with this many projects already stored
        /// (stored first without a budget), refreshing `--aircalc-projects` of them again
        /// (100 if that is 0); 0 skips it.
        #[arg(long, default_value_t = 0)]
        aircalc_stored: usize,
    },
}

/// Runs the parsed command line and tells the process how it went.
pub async fn run(cli: Cli) -> ExitCode {
    let settings = match &cli.command {
        Command::Simulate { .. } => None,
        _ => {
            let env: HashMap<String, String> = std::env::vars().collect();
            match Settings::load(cli.config.as_deref(), &env) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    match execute(cli.command, settings).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", crate::http::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, settings: Option<Settings>) -> anyhow::Result<ExitCode> {
    let settings = || {
        settings
            .clone()
            .expect("settings are loaded for this command")
    };
    match command {
        Command::Migrate => {
            let pool = db::connect(&settings().database).await?;
            db::migrate(&pool).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync {
            sources: names,
            allow_mass_delete,
        } => {
            let settings = settings();
            let selected = match sources::select(&settings, &names) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let pool = db::connect(&settings.database).await?;
            crate::sync::unless_frozen(&pool, db::migrate(&pool)).await??;
            let sources = sources::build(&settings, &selected, &pool)?;
            let options = SyncOptions {
                trigger: "cli",
                allow_mass_delete,
            };
            // Ctrl-C or SIGTERM: finish the batch in flight and stop; a second one abandons it.
            let shutdown = crate::sync::Shutdown::abandoned_by("a second Ctrl-C or SIGTERM");
            let signals = StopSignals::new().context("listening for SIGTERM and SIGINT")?;
            let watcher = tokio::spawn(stop_on_signals(signals, shutdown.clone()));
            let mut reports = Vec::new();
            let mut not_run = Vec::new();
            for source in &sources {
                let report = if shutdown.stop.is_cancelled() {
                    None
                } else {
                    let bar = crate::progress::PassBar::new(source.name());
                    let report = crate::sync::sync_source_with_progress(
                        &pool,
                        &settings.sync,
                        source,
                        &options,
                        &shutdown,
                        &bar,
                    )
                    .await
                    .context("recording the run failed")?;
                    if report.is_none() {
                        bar.stopped_before_start();
                    }
                    report
                };
                match report {
                    Some(report) => reports.push(report),
                    None => not_run.push(source.name()),
                }
            }
            watcher.abort();
            print!("{}", report::summary(&reports));
            if !not_run.is_empty() {
                eprintln!("stopped before syncing: {}", not_run.join(", "));
                return Ok(ExitCode::from(130));
            }
            Ok(report::exit_code(&reports))
        }
        Command::Run => match crate::daemon::run(settings()).await {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(crate::daemon::StartError::Config(e)) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(2))
            }
            Err(crate::daemon::StartError::Other(e)) => Err(e),
        },
        Command::Healthcheck => {
            let bind = settings().server.bind;
            let host = match bind.ip() {
                ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
                ip if ip.is_unspecified() => "[::1]".to_string(),
                ip => SocketAddr::new(ip, 0)
                    .to_string()
                    .trim_end_matches(":0")
                    .to_string(),
            };
            let url = format!("http://{host}:{}/healthz", bind.port());
            let answer = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()?
                .get(&url)
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => Ok(ExitCode::SUCCESS),
                Ok(r) => {
                    eprintln!("unhealthy: GET {url} answered {}", r.status());
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => {
                    eprintln!("unhealthy: GET {url}: {}", crate::http::error_chain(&e));
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Check { sources: names } => {
            let settings = settings();
            let selected = match sources::select(&settings, &names) {
                Ok(s) => s,
                // Nothing enabled: the database can still be checked.
                Err(sources::SelectError::NoneEnabled) => Vec::new(),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let (rows, ok) = crate::check::run(&settings, &selected).await;
            print!("{}", report::table(&["check", "result", "detail"], &rows));
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Status { json } => {
            let settings = settings();
            // Read-only: a missing database or pending migrations are reported (exit 1),
            // never created or applied.
            let pool = db::connect_existing(&settings.database).await?;
            db::require_migrated(&pool).await?;
            let status = crate::status::collect(&pool, &settings).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", report::status(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { format } => {
            let settings = settings();
            let pool = db::connect_existing(&settings.database).await?;
            db::require_migrated(&pool).await?;
            let schemas = crate::schema::read(&pool).await?;
            print!(
                "{}",
                match format {
                    crate::schema::Format::Markdown => crate::schema::markdown(&schemas),
                    crate::schema::Format::Dbt =>
                        crate::schema::dbt(&schemas, &settings, chrono::Utc::now()),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate {
            bind,
            seed,
            orders,
            token,
        } => {
            let defaults = SimOptions::default();
            let options = SimOptions {
                seed,
                orders,
                planningnow_token: token.clone(),
                ..defaults.clone()
            };
            let mut signals = StopSignals::new().context("listening for SIGTERM and SIGINT")?;
            let sim = tributary_simulator::start(bind, options)
                .await
                .with_context(|| format!("cannot serve on {bind}"))?;
            println!("listening on {}", sim.url());
            println!(
                "PlanningNow: base_url {} token {token}",
                sim.planningnow_url()
            );
            println!(
                "Aimsio: base_url {} username {} password {}",
                sim.aimsio_url(),
                defaults.aimsio_username,
                defaults.aimsio_password
            );
            println!(
                "aircalc: base_url {} token_url {} client_id {} client_secret {}",
                sim.aircalc_url(),
                sim.aircalc_token_url(),
                defaults.aircalc_client_id,
                defaults.aircalc_client_secret
            );
            signals.recv().await;
            sim.stop().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { orders } => demo::run(settings(), orders).await,
        Command::Bench {
            orders,
            aircalc_projects,
            aircalc_stored,
        } => {
            let settings = settings();
            if aircalc_projects > 0 {
                bench::aircalc(settings.clone(), aircalc_projects).await?;
            }
            if aircalc_stored > 0 {
                let again = if aircalc_projects > 0 {
                    aircalc_projects
                } else {
                    100
                };
                bench::aircalc_store(settings.clone(), aircalc_stored, again).await?;
            }
            bench::run(settings, &orders).await
        }
    }
}

/// Stops `shutdown` gently on the first stop signal and hard on the second; the third ends
/// the process at once (what is left `running` is closed by the next pass).
async fn stop_on_signals(mut signals: StopSignals, shutdown: crate::sync::Shutdown) {
    signals.recv().await;
    eprintln!("stopping after the batch in flight (press Ctrl-C again to abandon it)");
    shutdown.stop.cancel();
    signals.recv().await;
    eprintln!("abandoning the batch in flight; it rolls back (Ctrl-C again to quit at once)");
    shutdown.abort.cancel();
    signals.recv().await;
    std::process::exit(130);
}
