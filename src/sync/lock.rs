//! One pass per source at a time, across every process on the database: a session-level
//! advisory lock on a connection of its own.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::pool::PoolConnection;

use crate::db;

/// Whether a live process holds the source's pass (its runs marked `running` are its own),
/// as opposed to runs a killed process left `running`. Only looks (at `pg_locks`): a daemon
/// taking the lock meanwhile is never disturbed.
pub async fn pass_in_progress(pool: &PgPool, source: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0))",
    )
    .bind(PassLock::key(source))
    .fetch_one(pool)
    .await
}

/// The source's session-level advisory lock. It lives with a connection of its own that is
/// closed (not returned to the pool) when the pass ends, so a crashed process frees it.
pub(super) struct PassLock {
    conn: sqlx::PgConnection,
}

impl PassLock {
    pub(super) async fn acquire(
        pool: &PgPool,
        source: &str,
        wait: bool,
    ) -> Result<Option<Self>, sqlx::Error> {
        let mut conn = PoolConnection::detach(pool.acquire().await?);
        let key = Self::key(source);
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(&key)
            .fetch_one(&mut conn)
            .await?;
        if !free {
            if !wait {
                sqlx::Connection::close(conn).await?;
                return Ok(None);
            }
            tracing::info!(
                source,
                "another process is syncing this source; waiting for it to finish"
            );
            // That pass may take as long as it takes: this wait is not bounded by the
            // pool's statement and lock timeouts (the connection is detached, never reused).
            sqlx::raw_sql("SET statement_timeout = 0; SET lock_timeout = 0")
                .execute(&mut conn)
                .await?;
            sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
                .bind(&key)
                .execute(&mut conn)
                .await?;
        }
        Ok(Some(Self { conn }))
    }

    /// Closes the lock's connection (which frees the lock). On a network that froze the
    /// goodbye is never answered: after a few seconds the connection is dropped instead,
    /// and the server frees the lock when it notices the session gone.
    pub(super) async fn release(self) -> Result<(), sqlx::Error> {
        tokio::time::timeout(Duration::from_secs(3), sqlx::Connection::close(self.conn))
            .await
            .unwrap_or(Ok(()))
    }

    /// Makes sure the lock is still held. It lives with its connection: when a database drop
    /// ended that connection, the lock went with it, and it is taken again on a new one —
    /// without waiting, riding out the drop by [`db::retry`]. `Ok(false)`: another process
    /// took the source meanwhile; this pass must not go on beside it.
    /// The advisory lock's name; its key is `hashtextextended(name, 0)`.
    fn key(source: &str) -> String {
        format!("tributary:pass:{source}")
    }

    pub(super) async fn hold(&mut self, pool: &PgPool, source: &str) -> Result<bool, sqlx::Error> {
        let alive = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::Connection::ping(&mut self.conn),
        )
        .await;
        if matches!(alive, Ok(Ok(()))) {
            return Ok(true);
        }
        tracing::warn!(
            source,
            "the pass lock's connection is gone; taking the lock again"
        );
        // The server may not have noticed yet that the old session is gone (it holds the
        // lock until it does): a lock still taken is asked for again over the same waits.
        let mut waits = db::RETRY_WAITS.iter();
        loop {
            let again = db::retry("taking the pass lock again", || {
                Self::acquire(pool, source, false)
            })
            .await?;
            match (again, waits.next()) {
                (Some(again), _) => {
                    *self = again;
                    return Ok(true);
                }
                (None, Some(wait)) => tokio::time::sleep(*wait).await,
                (None, None) => return Ok(false),
            }
        }
    }
}
