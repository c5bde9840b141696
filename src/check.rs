//! `tributary check`: does the database exist, answer and have every migration applied, and
//! do the credentials of each selected source work, each proved with its cheapest call.
//! Read-only: it neither creates the database nor applies migrations (it reports them).
//! Secrets never appear in the output: errors name the source, endpoint and status only.

use std::time::Duration;

use sqlx::PgPool;

use crate::config::Settings;
use crate::http::error_chain;
use crate::{db, sources};

/// One row per check (what, OK/FAILED, detail) and whether all passed.
pub async fn run(settings: &Settings, selected: &[&'static str]) -> (Vec<Vec<String>>, bool) {
    let mut rows = Vec::new();
    let mut ok = true;
    let mut row = |what: &str, result: Result<String, String>| {
        ok &= result.is_ok();
        let (status, detail) = match result {
            Ok(detail) => ("OK", detail),
            Err(detail) => ("FAILED", detail),
        };
        rows.push(vec![what.to_string(), status.to_string(), detail]);
    };
    let pool = match db::connect_existing(&settings.database).await {
        Ok(pool) => {
            row(
                "database",
                migrations(&pool).await.map_err(|e| error_chain(&e)),
            );
            pool
        }
        Err(e) => {
            row("database", Err(error_chain(&e)));
            // Sources still get checked; their request budgets will say the ledger is down
            // (soon: a refused connection is not retried for long).
            match db::connect_lazy(&settings.database, Duration::from_secs(2)) {
                Ok(pool) => pool,
                Err(_) => return (rows, false),
            }
        }
    };
    match sources::build(settings, selected, &pool) {
        Ok(built) => {
            for source in built {
                let result = source.check().await.map_err(|e| e.to_string());
                row(source.name(), result);
            }
        }
        Err(e) => row("sources", Err(e.to_string())),
    }
    (rows, ok)
}

/// Whether every embedded migration is applied (the request ledger lives in them); pending
/// ones are reported, not applied.
async fn migrations(pool: &PgPool) -> Result<String, db::DbError> {
    db::require_migrated(pool).await?;
    Ok(format!(
        "reachable, all {} migrations applied",
        db::MIGRATOR.iter().count()
    ))
}
