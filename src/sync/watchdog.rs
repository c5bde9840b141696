//! The watchdog: database work stuck on a connection whose network froze would wait
//! forever (the server's timeouts cannot reach it), so it is raced against probes on
//! connections of their own.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::error::Frozen;
use crate::db;

/// Ends (with the seconds it waited) once the database has been silent for `misses` probes
/// in a row on connections of their own: work stuck on a connection whose network froze
/// would otherwise wait forever, since the server's timeouts cannot reach it. A database
/// that answers, if only to refuse, is not frozen (lost connections are retried and fail
/// on their own). A probe gets the pool's acquire timeout; they start that often (at most
/// every 5 s).
pub(super) async fn frozen(pool: &PgPool, misses: u32) -> u64 {
    let within = pool.options().get_acquire_timeout();
    let every = within.min(Duration::from_secs(5));
    let mut since = None;
    let mut missed = 0;
    loop {
        tokio::time::sleep(every).await;
        let started = Instant::now();
        if !db::silent(pool, within).await {
            since = None;
            missed = 0;
        } else {
            let first = *since.get_or_insert(started);
            missed += 1;
            if missed >= misses {
                return Instant::now().duration_since(first).as_secs().max(1);
            }
        }
    }
}

/// Runs `work` (database work outside a stream: migrations, taking the pass lock, recording
/// runs) unless the database stops answering probes on connections of their own, three in
/// a row: a wait on a connection whose network froze ends instead of lasting forever.
pub async fn unless_frozen<F: std::future::Future>(
    pool: &PgPool,
    work: F,
) -> Result<F::Output, Frozen> {
    tokio::select! {
        output = work => Ok(output),
        secs = frozen(pool, 3) => Err(Frozen(secs)),
    }
}
