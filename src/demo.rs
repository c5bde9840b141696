//! `tributary demo`: the three simulators in-process, one sync of all of them into the
//! `tributary_demo` database on the configured server, the summary, and two example queries
//! with their results (the biggest orders, and orders joined to aircalc projects). It never
//! writes into the configured database itself. When nothing answers at the configured
//! server, it runs on a private cluster (`crate::pgcluster`) that it stops when it ends.

use std::process::ExitCode;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{PgPool, Row};
use tributary_simulator::{RunningSimulator, SimOptions};

use crate::config::Settings;
use crate::database_url::with_database;
use crate::pgcluster::{self, PrivateCluster};
use crate::sources::aimsio::AimsioSettings;
use crate::sources::aircalc::AircalcSettings;
use crate::sources::planningnow::PlanningNowSettings;
use crate::sync::{SyncOptions, sync_source};
use crate::{db, report, sources};

pub const DEMO_DATABASE: &str = "tributary_demo";

/// The example an analyst would start with: the biggest orders and their positions.
pub const EXAMPLE_QUERY: &str = "\
SELECT o.id, o.o_conf_date, o.addressfield_1 AS customer, o.project_no, o.ges_netto,
       count(p.id) AS positions, sum(p.netto) AS positions_netto
FROM planningnow.orders o
JOIN planningnow.order_positions p ON p.order_id = o.id AND p._deleted_at IS NULL
WHERE o._deleted_at IS NULL
GROUP BY o.id
ORDER BY o.ges_netto DESC, o.id
LIMIT 5";

/// PlanningNow orders joined to the aircalc projects they name.
pub const JOIN_QUERY: &str = "\
SELECT order_id, project_no, aircalc_project_no, project_name, positions, units,
       ahu_net_price, order_ges_netto
FROM analytics.order_projects
ORDER BY aircalc_project_no IS NULL, order_ges_netto DESC
LIMIT 5";

/// Points every source at the simulator.
fn use_simulator(settings: &mut Settings, sim: &RunningSimulator, options: &SimOptions) {
    settings
        .source_mut(sources::planningnow::NAME)
        .expect("every source is in the settings")
        .update(|pn: &mut PlanningNowSettings| {
            pn.common.enabled = true;
            pn.common.requests_per_second = 50.0;
            pn.base_url = sim.planningnow_url();
            pn.token = Some(SecretString::from(options.planningnow_token.clone()));
        });
    settings
        .source_mut(sources::aimsio::NAME)
        .expect("every source is in the settings")
        .update(|aimsio: &mut AimsioSettings| {
            aimsio.common.enabled = true;
            aimsio.base_url = sim.aimsio_url();
            aimsio.username = options.aimsio_username.clone();
            aimsio.password = Some(SecretString::from(options.aimsio_password.clone()));
        });
    settings
        .source_mut(sources::aircalc::NAME)
        .expect("every source is in the settings")
        .update(|aircalc: &mut AircalcSettings| {
            aircalc.common.enabled = true;
            aircalc.common.requests_per_second = 20.0;
            aircalc.base_url = sim.aircalc_url();
            aircalc.token_url = sim.aircalc_token_url();
            aircalc.client_id = options.aircalc_client_id.clone();
            aircalc.client_secret = Some(SecretString::from(options.aircalc_client_secret.clone()));
        });
}

/// Runs `sql` with every column cast to text and prints it as a table.
async fn show(pool: &PgPool, sql: &str, columns: &[&str]) -> anyhow::Result<()> {
    let casts: Vec<String> = columns.iter().map(|c| format!("{c}::text")).collect();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM ({sql}) q",
        casts.join(", ")
    )))
    .fetch_all(pool)
    .await?;
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            (0..columns.len())
                .map(|i| r.get::<Option<String>, _>(i).unwrap_or_default())
                .collect()
        })
        .collect();
    println!("{sql};\n");
    print!("{}", report::table(columns, &cells));
    Ok(())
}

/// The demo on the configured server, or on a private cluster when nothing answers there.
pub async fn run(mut settings: Settings, orders: usize) -> anyhow::Result<ExitCode> {
    settings.database.url =
        with_database(settings.database.url.expose_secret(), DEMO_DATABASE)?.into();
    let Some(target) = db::nothing_answers(&settings.database).await else {
        return sync_and_show(settings, orders, &format!("psql {DEMO_DATABASE}")).await;
    };
    let plan = pgcluster::plan(&pgcluster::Host::current(), &target)?;
    let cluster = tokio::task::spawn_blocking(move || PrivateCluster::start(&plan)).await??;
    println!(
        "no PostgreSQL answers at {target}: {} private cluster in {} on port {}; it stops when \
         the demo ends",
        if cluster.created() {
            "created and started a"
        } else {
            "started the"
        },
        cluster.dir().display(),
        cluster.port()
    );
    settings.database.url = cluster.url(DEMO_DATABASE).into();
    let outcome = tokio::select! {
        outcome = sync_and_show(settings, orders, "of the private cluster") => outcome,
        Ok(()) = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let stopped = tokio::task::spawn_blocking(move || cluster.stop()).await?;
    match (outcome, stopped) {
        (outcome, Ok(())) => outcome,
        (Ok(_), Err(stop)) => Err(stop.into()),
        (Err(demo), Err(stop)) => {
            tracing::error!("stopping the private cluster failed too: {stop}");
            Err(demo)
        }
    }
}

/// The simulators, one sync of every source into `settings.database`, and what landed.
/// `hint` follows the database's name in the output.
async fn sync_and_show(
    mut settings: Settings,
    orders: usize,
    hint: &str,
) -> anyhow::Result<ExitCode> {
    let options = SimOptions {
        orders,
        aimsio_objects: 8,
        // PlanningNow's orders name orders/2 project numbers; most exist in aircalc.
        aircalc_projects: orders * 2 / 5,
        ..SimOptions::default()
    };
    let sim = tributary_simulator::start(([127, 0, 0, 1], 0).into(), options.clone())
        .await
        .context("cannot start the simulator")?;
    use_simulator(&mut settings, &sim, &options);

    println!(
        "simulated PlanningNow ({orders} orders), Aimsio and aircalc NEXT at {}",
        sim.url()
    );
    let pool = db::connect(&settings.database).await?;
    db::migrate(&pool).await?;
    println!("syncing into database `{DEMO_DATABASE}` ({hint})\n");
    let names = [
        sources::planningnow::NAME,
        sources::aimsio::NAME,
        sources::aircalc::NAME,
    ];
    let options = SyncOptions {
        trigger: "demo",
        allow_mass_delete: false,
    };
    let mut reports = Vec::new();
    for source in sources::build(&settings, &names, &pool)? {
        reports.push(sync_source(&pool, &settings.sync, &source, &options).await?);
    }
    print!("{}", report::summary(&reports));

    println!("\nthe biggest orders:");
    show(
        &pool,
        EXAMPLE_QUERY,
        &[
            "id",
            "o_conf_date",
            "customer",
            "project_no",
            "ges_netto",
            "positions",
            "positions_netto",
        ],
    )
    .await?;
    println!("\norders joined to aircalc projects:");
    show(
        &pool,
        JOIN_QUERY,
        &[
            "order_id",
            "project_no",
            "aircalc_project_no",
            "project_name",
            "positions",
            "units",
            "ahu_net_price",
            "order_ges_netto",
        ],
    )
    .await?;
    sim.stop().await;
    Ok(report::exit_code(&reports))
}
