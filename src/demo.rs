//! `tributary demo`: the simulator in-process, one sync of it into the `tributary_demo`
//! database on the configured server, the summary, and an example query with its result.
//! It never writes into the configured database itself.

use std::process::ExitCode;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::AssertSqlSafe;
use sqlx::Row;

use crate::config::Settings;
use crate::simulate::{self, SimOptions};
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

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let mut parsed = reqwest::Url::parse(url).context("database.url is not a URL")?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.to_string())
}

pub async fn run(mut settings: Settings, orders: usize) -> anyhow::Result<ExitCode> {
    let options = SimOptions {
        orders,
        ..SimOptions::default()
    };
    let token = options.planningnow_token.clone();
    let sim = simulate::start(([127, 0, 0, 1], 0).into(), options)
        .await
        .context("cannot start the simulator")?;
    let pn = &mut settings.sources.planningnow;
    pn.common.enabled = true;
    pn.common.requests_per_second = 50.0;
    pn.base_url = sim.planningnow_url();
    pn.token = Some(SecretString::from(token));
    settings.database.url =
        with_database(settings.database.url.expose_secret(), DEMO_DATABASE)?.into();

    println!(
        "simulated PlanningNow with {orders} orders at {}",
        sim.planningnow_url()
    );
    let pool = db::connect(&settings.database).await?;
    db::migrate(&pool).await?;
    println!("syncing into database `{DEMO_DATABASE}`\n");
    let source = sources::build(&settings, &[sources::planningnow::NAME], &pool)?;
    let options = SyncOptions {
        trigger: "demo",
        allow_mass_delete: false,
    };
    let report = sync_source(&pool, &settings.sync, source[0].as_ref(), &options).await?;
    let reports = [report];
    print!("{}", report::summary(&reports));

    println!("\nexample query (psql {DEMO_DATABASE}):\n{EXAMPLE_QUERY};\n");
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT id::text, o_conf_date::text, customer, project_no, ges_netto::text, \
         positions::text, positions_netto::text FROM ({EXAMPLE_QUERY}) q"
    )))
    .fetch_all(&pool)
    .await?;
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            (0..7)
                .map(|i| r.get::<Option<String>, _>(i).unwrap_or_default())
                .collect()
        })
        .collect();
    print!(
        "{}",
        report::table(
            &[
                "id",
                "o_conf_date",
                "customer",
                "project_no",
                "ges_netto",
                "positions",
                "positions_netto"
            ],
            &cells
        )
    );
    sim.stop().await;
    Ok(crate::cli::exit_code(&reports))
}
