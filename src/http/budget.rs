//! The persisted request budget of a source: a sliding-window ledger in PostgreSQL
//! (`tributary.request_ledger`, admitted by `tributary.reserve_request`), so that no window
//! ever holds more than `requests - reserve` requests, across restarts and across processes
//! sharing the database. Waits for a free slot up to `max_wait`, else reports exhaustion.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use sqlx::postgres::types::PgInterval;

use crate::config::BudgetSettings;

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("the request budget is spent; the next slot frees in {}s", next_free_in.as_secs_f64().ceil())]
    Exhausted { next_free_in: Duration },
    #[error("the request ledger is unavailable: {0}")]
    Ledger(#[from] sqlx::Error),
}

#[derive(Debug, Clone)]
pub struct Budget {
    pool: PgPool,
    source: &'static str,
    limit: i32,
    window: Duration,
    max_wait: Duration,
}

/// Where a source's budget stands.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub source: String,
    pub limit: i64,
    pub window_secs: u64,
    pub used: i64,
    pub remaining: i64,
    /// When the oldest request of the window leaves it (None when the window is empty).
    pub next_slot_frees_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Budget {
    /// `None` when the settings turn the budget off.
    pub fn new(pool: PgPool, source: &'static str, settings: &BudgetSettings) -> Option<Self> {
        let (limit, window) = configured(settings)?;
        Some(Self {
            pool,
            source,
            limit: limit as i32,
            window,
            max_wait: Duration::from_secs(settings.max_wait_secs),
        })
    }

    /// The window used for admission: the configured one plus a margin for the time between
    /// recording a request and its arrival at the server (1 s, or a tenth of short windows).
    fn admission_window(&self) -> Duration {
        self.window + (self.window / 10).min(Duration::from_secs(1))
    }

    /// Records one request about to be sent, waiting for a free slot up to `max_wait`;
    /// answers its ledger entry, to `settle` once the answer has arrived.
    pub async fn acquire(&self, endpoint: &str) -> Result<i64, BudgetError> {
        let mut waited = Duration::ZERO;
        loop {
            let (wait, entry): (Option<PgInterval>, Option<i64>) = sqlx::query!(
                "SELECT wait, entry FROM tributary.reserve_request($1, $2, $3, $4)",
                self.source,
                self.limit,
                interval(self.admission_window()),
                endpoint,
            )
            .fetch_one(&self.pool)
            .await
            .map(|row| (row.wait, row.entry))?;
            let Some(wait) = wait.map(duration) else {
                return Ok(entry.unwrap_or_default());
            };
            if waited + wait > self.max_wait {
                return Err(BudgetError::Exhausted { next_free_in: wait });
            }
            tracing::info!(
                source = self.source,
                wait_ms = wait.as_millis() as u64,
                "request budget spent; waiting for the next free slot"
            );
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    /// Moves a request's ledger time to now, when its answer (or failure) has arrived: the
    /// server may have received it that late, and the window must count from then.
    pub async fn settle(&self, entry: i64) {
        let settled = sqlx::query!("SELECT FROM tributary.settle_request($1)", entry)
            .execute(&self.pool)
            .await;
        if let Err(e) = settled {
            tracing::warn!(source = self.source, error = %e, "cannot settle a request in the ledger");
        }
    }

    /// How long until the oldest request of the window leaves it (after a 429 without
    /// `Retry-After`, someone else is spending the shared budget).
    pub async fn until_oldest_expires(&self) -> Result<Option<Duration>, sqlx::Error> {
        let wait: Option<PgInterval> = sqlx::query_scalar!(
            "SELECT min(sent_at) + $2 - clock_timestamp() FROM tributary.request_ledger \
             WHERE source = $1 AND sent_at > clock_timestamp() - $2",
            self.source,
            interval(self.admission_window()),
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(wait.map(duration))
    }
}

/// The requests a budget allows per window (`requests - reserve`) and the window, as the
/// settings configure them; `None` when they turn the budget off.
fn configured(settings: &BudgetSettings) -> Option<(i64, Duration)> {
    (settings.requests > 0).then(|| {
        (
            i64::from(settings.requests - settings.reserve),
            Duration::from_secs(settings.window_secs),
        )
    })
}

/// Where `source`'s configured budget stands in the window ending now, for `status` and
/// `/metrics`; `None` when the settings turn the budget off.
pub async fn configured_usage(
    pool: &PgPool,
    source: &str,
    settings: &BudgetSettings,
) -> Result<Option<Usage>, sqlx::Error> {
    let Some((limit, window)) = configured(settings) else {
        return Ok(None);
    };
    let (used, oldest): (i64, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query!(
        "SELECT count(*) AS \"used!\", min(sent_at) AS oldest FROM tributary.request_ledger \
         WHERE source = $1 AND sent_at > clock_timestamp() - $2::interval",
        source,
        interval(window),
    )
    .fetch_one(pool)
    .await
    .map(|row| (row.used, row.oldest))?;
    Ok(Some(Usage {
        source: source.to_string(),
        limit,
        window_secs: window.as_secs(),
        used,
        remaining: (limit - used).max(0),
        next_slot_frees_at: oldest
            .map(|t| t + chrono::Duration::from_std(window).unwrap_or_default()),
    }))
}

fn interval(d: Duration) -> PgInterval {
    PgInterval {
        months: 0,
        days: 0,
        microseconds: d.as_micros() as i64,
    }
}

fn duration(i: PgInterval) -> Duration {
    let micros = i.microseconds + i64::from(i.days) * 86_400_000_000;
    Duration::from_micros(micros.max(0) as u64)
}
