//! Admission of one request, in one step: a slot under the cap on requests in flight, the
//! requests-per-second limiter (governor), then a reservation in the persisted budget. The
//! [`Pass`] it yields is settled when the answer is in (counted by status, its ledger time
//! moved to now) and then holds just the slot until the body has been read. A pass dropped
//! unsettled (its request cancelled) still settles its ledger entry.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::budget::{Budget, BudgetError};

pub struct Admission {
    limiter: DefaultDirectRateLimiter,
    in_flight: Arc<Semaphore>,
    max_parallel: usize,
    budget: Option<Budget>,
    requests: AtomicU64,
    answers: Mutex<BTreeMap<String, u64>>,
}

/// An admitted request: its in-flight slot and its budget reservation.
pub struct Pass<'a> {
    admission: &'a Admission,
    slot: Option<OwnedSemaphorePermit>,
    entry: Option<i64>,
}

/// The in-flight slot of a request whose answer is in, held until its body has been read.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    /// `None` when `requests_per_second` is too high for the limiter.
    pub fn new(
        requests_per_second: f64,
        max_parallel: usize,
        budget: Option<Budget>,
    ) -> Option<Self> {
        let period = Duration::from_secs_f64(1.0 / requests_per_second);
        let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::MIN);
        Some(Self {
            limiter: RateLimiter::direct(quota),
            in_flight: Arc::new(Semaphore::new(max_parallel)),
            max_parallel,
            budget,
            requests: AtomicU64::new(0),
            answers: Mutex::default(),
        })
    }

    /// Requests kept in flight at most.
    pub fn max_parallel(&self) -> usize {
        self.max_parallel
    }

    pub fn budget(&self) -> Option<&Budget> {
        self.budget.as_ref()
    }

    /// Requests admitted so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Answers settled so far, by status code (`"error"`: none came).
    pub fn answers(&self) -> BTreeMap<String, u64> {
        self.answers
            .lock()
            .expect("the answer counts are never poisoned")
            .clone()
    }

    /// Waits for a slot in flight, the rate limiter and the request budget (recording the
    /// request in the ledger as `endpoint`), then counts the request.
    pub async fn admit(&self, endpoint: &str) -> Result<Pass<'_>, BudgetError> {
        let slot = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .expect("the in-flight semaphore is never closed");
        self.limiter.until_ready().await;
        let entry = match &self.budget {
            Some(budget) => Some(budget.acquire(endpoint).await?),
            None => None,
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        Ok(Pass {
            admission: self,
            slot: Some(slot),
            entry,
        })
    }
}

impl Pass<'_> {
    /// The answer is in (or the request failed without one, `None`): it is counted by
    /// status, and its ledger time moves to now. Answers the slot, to hold until the body
    /// has been read.
    pub async fn settle(mut self, answer: Option<StatusCode>) -> Slot {
        let label = answer.map_or_else(|| "error".to_string(), |s| s.as_u16().to_string());
        *self
            .admission
            .answers
            .lock()
            .expect("the answer counts are never poisoned")
            .entry(label)
            .or_default() += 1;
        if let (Some(budget), Some(entry)) = (&self.admission.budget, self.entry.take()) {
            budget.settle(entry).await;
        }
        Slot {
            _permit: self.slot.take().expect("a pass is settled once"),
        }
    }
}

impl Drop for Pass<'_> {
    /// A request cancelled before its answer may still have reached the server: its ledger
    /// time moves to now as well, in the background.
    fn drop(&mut self) {
        let (Some(budget), Some(entry)) = (&self.admission.budget, self.entry.take()) else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let budget = budget.clone();
            runtime.spawn(async move { budget.settle(entry).await });
        }
    }
}
