//! The database: connection pool (creating the database when it is missing) and embedded
//! migrations. Run records, checkpoints and rejects live in the submodules; a source's own
//! SQL is generated from its table specs in `crate::sync::apply`.

pub mod checkpoints;
pub mod rejects;
pub mod runs;

use std::str::FromStr;

use secrecy::ExposeSecret;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::config::DatabaseSettings;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database.url is not a valid PostgreSQL URL: {0}")]
    Url(String),
    #[error("cannot connect to PostgreSQL database `{database}` at {host}:{port}: {source}")]
    Connect {
        database: String,
        host: String,
        port: u16,
        #[source]
        source: sqlx::Error,
    },
    #[error("database `{database}` does not exist and could not be created: {source}")]
    Create {
        database: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Opens a pool, creating the database first when it does not exist (and the role may).
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, DbError> {
    let url = settings.url.expose_secret();
    let options = PgConnectOptions::from_str(url).map_err(|e| DbError::Url(redact(e)))?;
    let describe = |source| DbError::Connect {
        database: options.get_database().unwrap_or("").to_string(),
        host: options.get_host().to_string(),
        port: options.get_port(),
        source,
    };
    let pool_options = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(std::time::Duration::from_secs(30));
    match pool_options.clone().connect_with(options.clone()).await {
        Ok(pool) => Ok(pool),
        Err(e) if is_missing_database(&e) => {
            let database = options.get_database().unwrap_or("").to_string();
            match Postgres::create_database(url).await {
                Ok(()) => tracing::info!(%database, "created database"),
                // Another process may have created it meanwhile.
                Err(e) if !is_duplicate_database(&e) => {
                    return Err(DbError::Create {
                        database,
                        source: e,
                    });
                }
                Err(_) => {}
            }
            pool_options
                .connect_with(options.clone())
                .await
                .map_err(describe)
        }
        Err(e) => Err(describe(e)),
    }
}

/// The server address of database.url (`host:port`) when nothing answers there: the
/// connection is refused, or the host, network or socket file is not there. `None` when
/// something answers, even with an error (authentication, a missing database) that
/// [`connect`] then reports, or when the URL does not parse or the server is slow to answer.
pub async fn nothing_answers(settings: &DatabaseSettings) -> Option<String> {
    use sqlx::ConnectOptions;
    use std::io::ErrorKind;
    let options = PgConnectOptions::from_str(settings.url.expose_secret()).ok()?;
    let attempt = tokio::time::timeout(std::time::Duration::from_secs(10), options.connect());
    match attempt.await {
        Ok(Err(sqlx::Error::Io(e)))
            if matches!(
                e.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::NotFound
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::AddrNotAvailable
            ) =>
        {
            Some(format!("{}:{}", options.get_host(), options.get_port()))
        }
        Ok(Ok(connection)) => {
            let _ = sqlx::Connection::close(connection).await;
            None
        }
        _ => None,
    }
}

/// Applies the embedded migrations (idempotent; concurrent callers serialize on a lock).
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Embedded migrations the database has not applied successfully (empty: it is current).
pub async fn pending_migrations(pool: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .or_else(|e| match &e {
                // No migration table yet: nothing is applied.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => {
                    Ok(Vec::new())
                }
                _ => Err(e),
            })?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .map(|m| m.version)
        .collect())
}

fn is_missing_database(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000"))
}

fn is_duplicate_database(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P04"))
}

/// sqlx's URL errors can quote the URL, which may hold a password.
fn redact(e: sqlx::Error) -> String {
    match e {
        sqlx::Error::Configuration(inner) => {
            let text = inner.to_string();
            if text.contains("://") {
                "malformed URL".to_string()
            } else {
                text
            }
        }
        other => other.to_string(),
    }
}
