//! What `tributary status` reports: the latest run per source and stream, the request budget
//! of every source that has one, and how much aircalc refresh work is pending.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;

use crate::config::Settings;
use crate::db::runs::{self, LastRun};
use crate::http::budget::{self, Usage};
use crate::sources::aircalc::refresh;

#[derive(Debug, Serialize)]
pub struct Status {
    pub runs: Vec<LastRun>,
    pub budgets: Vec<Usage>,
    pub aircalc: Option<AircalcBacklog>,
}

/// aircalc projects due for a refresh, and when the current budget will have done them.
#[derive(Debug, Serialize)]
pub struct AircalcBacklog {
    pub pending_projects: usize,
    /// Requests one window allows this integration (`requests - reserve`).
    pub requests_per_window: u32,
    pub window_secs: u64,
    /// When all pending projects will have been fetched, at one request each and the full
    /// budget (BOMs, when fetched, cost one more request per position).
    pub all_refreshed_by: chrono::DateTime<chrono::Utc>,
}

pub async fn collect(pool: &PgPool, settings: &Settings) -> Result<Status, sqlx::Error> {
    let runs = runs::last_runs(pool).await?;
    let mut budgets = Vec::new();
    for name in crate::config::SOURCE_NAMES {
        let Some(common) = settings.source_common(name) else {
            continue;
        };
        let b = &common.budget;
        if b.requests > 0 {
            let window = Duration::from_secs(b.window_secs);
            budgets
                .push(budget::usage(pool, name, i64::from(b.requests - b.reserve), window).await?);
        }
    }
    let aircalc = &settings.sources.aircalc;
    let b = &aircalc.common.budget;
    let aircalc = if aircalc.common.enabled && b.requests > 0 {
        let pending = refresh::queue(pool, aircalc).await?.len();
        let per_window = b.requests.saturating_sub(b.reserve).max(1);
        let window = Duration::from_secs(b.window_secs);
        let usage = budget::usage(
            pool,
            crate::sources::aircalc::NAME,
            i64::from(per_window),
            window,
        )
        .await?;
        // What the current window still allows goes now; the rest needs whole windows, the
        // first of which starts when the current one's oldest request leaves it.
        let now_left = usage.remaining.max(0) as usize;
        let all_refreshed_by = if pending <= now_left {
            chrono::Utc::now()
        } else {
            let windows = (pending - now_left).div_ceil(per_window as usize) as u32;
            let first = usage.next_slot_frees_at.unwrap_or_else(chrono::Utc::now);
            first
                + chrono::Duration::from_std(window * windows.saturating_sub(1)).unwrap_or_default()
        };
        Some(AircalcBacklog {
            pending_projects: pending,
            requests_per_window: per_window,
            window_secs: b.window_secs,
            all_refreshed_by,
        })
    } else {
        None
    };
    Ok(Status {
        runs,
        budgets,
        aircalc,
    })
}
