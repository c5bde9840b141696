//! The database: connection pool (creating the database when it is missing, for the commands
//! that write; the read-only ones only connect to an existing one and do not migrate) and
//! embedded migrations. Run records, checkpoints and rejects live in the submodules; a
//! source's own SQL is generated from its table specs in `crate::sync::apply`.

pub mod checkpoints;
pub mod rejects;
pub mod runs;

use std::str::FromStr;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres};

use crate::config::{DatabaseConfig, DatabaseTimeouts};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long the first connection may take (TCP, TLS, authentication) before tributary gives
/// up saying nothing answered. A refused connection fails at once.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database.url is not a valid PostgreSQL URL: {0}")]
    Url(String),
    /// The server could not be reached or refused the session (`reason` says how; it never
    /// holds the password).
    #[error("cannot connect to PostgreSQL database `{database}` at {host}:{port}: {reason}")]
    Connect {
        database: String,
        host: String,
        port: u16,
        reason: String,
    },
    /// The server answers but has no such database, and the command may not create it.
    #[error(
        "database `{database}` does not exist on the PostgreSQL server at {host}:{port} \
         (`tributary migrate` creates it)"
    )]
    Missing {
        database: String,
        host: String,
        port: u16,
    },
    #[error("database `{database}` does not exist and could not be created: {source}")]
    Create {
        database: String,
        #[source]
        source: sqlx::Error,
    },
    /// Embedded migrations the database has not applied (read-only commands do not apply them).
    #[error(
        "database `{database}` is not migrated ({pending} of {total} migrations pending); \
         run `tributary migrate`"
    )]
    NotMigrated {
        database: String,
        pending: usize,
        total: usize,
    },
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Opens a pool, creating the database first when it does not exist (and the role may): for
/// the commands that write (`migrate`, `sync`, `run`, `demo`, `bench`).
pub async fn connect(settings: impl Into<DatabaseConfig>) -> Result<PgPool, DbError> {
    open(&settings.into(), true).await
}

/// Opens a pool on a database that must exist already; never creates it. For the read-only
/// commands (`status`, `check`), which also do not migrate (see [`require_migrated`]).
pub async fn connect_existing(settings: impl Into<DatabaseConfig>) -> Result<PgPool, DbError> {
    open(&settings.into(), false).await
}

/// A pool that connects on first use and gives up acquiring after `acquire_timeout`, for
/// work that should go on (and fail on its own) when the database is down.
pub fn connect_lazy(
    settings: impl Into<DatabaseConfig>,
    acquire_timeout: Duration,
) -> Result<PgPool, DbError> {
    let settings = settings.into();
    let options = PgConnectOptions::from_str(settings.url.expose_secret())
        .map_err(|e| DbError::Url(redact(e)))?;
    let options = with_session_timeouts(options, &settings.timeouts);
    Ok(pool_options()
        .max_connections(settings.max_connections)
        .acquire_timeout(acquire_timeout)
        .connect_lazy_with(options))
}

/// A connection handed back to the pool gives up the buffers it grew (a COPY's grow to its
/// 2 MiB batches): idle between passes, the pool's connections hold 8 KiB each.
fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().after_release(|conn, _| {
        conn.shrink_buffers();
        Box::pin(async { Ok(true) })
    })
}

/// `statement_timeout` and `lock_timeout` as session settings of every connection made
/// with `options` (sent at connection start-up, so no pooled connection is ever without
/// them). A connection that must wait longer on purpose sets them to 0 itself.
fn with_session_timeouts(options: PgConnectOptions, t: &DatabaseTimeouts) -> PgConnectOptions {
    options.options([
        (
            "statement_timeout",
            format!("{}ms", t.statement.as_millis()),
        ),
        ("lock_timeout", format!("{}ms", t.lock.as_millis())),
    ])
}

/// One connection first, within [`CONNECT_TIMEOUT`], so that a refused connection or a
/// missing database is reported as such at once (the pool itself would retry a refused
/// connection until its acquire timeout and then only say it timed out); then the pool,
/// whose connections carry the configured statement and lock timeouts and whose callers
/// wait at most the acquire timeout for one.
async fn open(settings: &DatabaseConfig, create: bool) -> Result<PgPool, DbError> {
    use sqlx::ConnectOptions;
    let url = settings.url.expose_secret();
    let options = PgConnectOptions::from_str(url).map_err(|e| DbError::Url(redact(e)))?;
    let options = with_session_timeouts(options, &settings.timeouts);
    let database = options.get_database().unwrap_or("").to_string();
    let describe = |reason: String| DbError::Connect {
        database: database.clone(),
        host: options.get_host().to_string(),
        port: options.get_port(),
        reason,
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(connection)) => {
            let _ = sqlx::Connection::close(connection).await;
        }
        Ok(Err(e)) if is_missing_database(&e) => {
            if !create {
                return Err(DbError::Missing {
                    database,
                    host: options.get_host().to_string(),
                    port: options.get_port(),
                });
            }
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
        }
        Ok(Err(e)) => return Err(describe(connect_failure(&e))),
        Err(_) => {
            return Err(describe(format!(
                "no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            )));
        }
    }
    pool_options()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.timeouts.acquire)
        .connect_with(options.clone())
        .await
        .map_err(|e| describe(connect_failure(&e)))
}

/// Fails with [`DbError::NotMigrated`] when embedded migrations are pending.
pub async fn require_migrated(pool: &PgPool) -> Result<(), DbError> {
    let pending = pending_migrations(pool).await?;
    if pending.is_empty() {
        return Ok(());
    }
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await?;
    Err(DbError::NotMigrated {
        database,
        pending: pending.len(),
        total: MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .count(),
    })
}

/// Why a connection attempt failed, in words that name the cause (sqlx's own text for an io
/// error only says "error communicating with database"). Never holds the URL.
fn connect_failure(e: &sqlx::Error) -> String {
    use std::io::ErrorKind;
    match e {
        sqlx::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => {
                "connection refused (is PostgreSQL running and listening there?)".to_string()
            }
            ErrorKind::NotFound => format!("no such host or socket ({io})"),
            ErrorKind::TimedOut => format!("timed out ({io})"),
            _ => io.to_string(),
        },
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".to_string(),
        other => crate::http::error_chain(other),
    }
}

/// The server address of database.url (`host:port`) when nothing answers there: the
/// connection is refused, or the host, network or socket file is not there. `None` when
/// something answers, even with an error (authentication, a missing database) that
/// [`connect`] then reports, or when the URL does not parse or the server is slow to answer.
pub async fn nothing_answers(settings: impl Into<DatabaseConfig>) -> Option<String> {
    use sqlx::ConnectOptions;
    use std::io::ErrorKind;
    let settings = settings.into();
    let options = PgConnectOptions::from_str(settings.url.expose_secret()).ok()?;
    let attempt = tokio::time::timeout(CONNECT_TIMEOUT, options.connect());
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

/// Whether `e` is the connection failing rather than the statement: the socket broke or
/// was refused (`Io`), the wire protocol broke off mid-message, or the server said so —
/// SQLSTATE class 08 (connection exception), 57P01 (terminated by an administrator),
/// 57P02 (crash shutdown), 57P03 (cannot connect now). The same statement may succeed on a
/// fresh connection a moment later. A pool timeout is not one: the database may be frozen
/// or the pool exhausted, and waiting again would only multiply the wait.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// The waits between attempts of [`retry`]: about 8 s in all, enough to ride out a restart
/// or a failover of a few seconds.
pub const RETRY_WAITS: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// No attempt of [`retry`] starts later than this after the first.
const RETRY_WITHIN: Duration = Duration::from_secs(15);

/// The longest one attempt of [`retry`] waits for its answer.
const RETRY_ATTEMPT: Duration = Duration::from_secs(10);

/// Whether the database is silent: `SELECT 1` on a new connection of its own (the pool's
/// may all be busy, or stuck) gets no answer at all within `within` — a network that froze.
/// A database that answers, even with an error such as a refused connection, is not.
pub async fn silent(pool: &PgPool, within: Duration) -> bool {
    use sqlx::ConnectOptions;
    let options = pool.connect_options();
    let probe = async {
        let mut conn = options.connect().await?;
        sqlx::query("SELECT 1").execute(&mut conn).await?;
        sqlx::Connection::close(conn).await
    };
    tokio::time::timeout(within, probe).await.is_err()
}

/// Runs `op` (one small statement or transaction, safe to run again), and again on a fresh
/// connection after each of [`RETRY_WAITS`] while it fails with a [`is_transient`] error and
/// less than [`RETRY_WITHIN`] has passed; any other error, or the last one, is returned.
/// `what` names the work in the log.
pub async fn retry<T, F, Fut>(what: &str, mut op: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let started = std::time::Instant::now();
    let mut waits = RETRY_WAITS.iter();
    let mut attempt = 1u32;
    loop {
        // A connection whose network froze never answers: an attempt gets as long as
        // one statement of this kind may reasonably take, then counts as a lost connection.
        let outcome = tokio::time::timeout(RETRY_ATTEMPT, op())
            .await
            .unwrap_or_else(|_| {
                Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", RETRY_ATTEMPT.as_secs()),
                )))
            });
        match outcome {
            Ok(value) => {
                if attempt > 1 {
                    tracing::info!(what, attempt, "the database answers again");
                }
                return Ok(value);
            }
            Err(e) if is_transient(&e) => {
                let wait = match waits.next() {
                    Some(wait) if started.elapsed() + *wait < RETRY_WITHIN => *wait,
                    _ => return Err(e),
                };
                tracing::warn!(
                    what,
                    attempt,
                    error = %e,
                    retry_in_ms = wait.as_millis() as u64,
                    "lost the database connection; retrying on a fresh one"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
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

/// A database error as a person reads it: PostgreSQL's message with its detail, where and
/// hint, without sqlx's "at line N" (a line of PostgreSQL's own C source).
pub fn describe(e: &sqlx::Error) -> String {
    let sqlx::Error::Database(db) = e else {
        return e.to_string();
    };
    let mut text = db.message().to_string();
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        for (label, part) in [
            ("detail", pg.detail()),
            ("where", pg.r#where()),
            ("hint", pg.hint()),
        ] {
            if let Some(part) = part {
                text.push_str(&format!("; {label}: {part}"));
            }
        }
    }
    text
}

#[cfg(test)]
mod transient_tests {
    use super::*;

    #[tokio::test]
    async fn retry_rides_out_connection_errors_and_gives_up_on_others() {
        let mut calls = 0;
        let answer = retry("test", || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .expect("the third attempt succeeds");
        assert_eq!(answer, 3);

        let mut calls = 0;
        let failed = retry("test", || {
            calls += 1;
            async { Err::<(), _>(sqlx::Error::RowNotFound) }
        })
        .await;
        assert!(matches!(failed, Err(sqlx::Error::RowNotFound)));
        assert_eq!(calls, 1, "a statement error is not retried");
        assert!(!is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_transient(&sqlx::Error::Protocol("cut".into())));
    }
}
