//! Aimsio's shared vocabulary: the timestamps and identifiers of generated objects and
//! what new objects refer to (employees and job orders), for every generator.

use serde::Deserialize;

use crate::rng::Rng;

/// 2024-01-01T00:00:00Z, the earliest generated timestamp.
pub(crate) const EARLIEST: i64 = 1_704_067_200_000;
pub(crate) const DAY: i64 = 86_400_000;

/// When an object was created and last updated, in epoch milliseconds.
#[derive(Clone, Copy)]
pub(crate) struct Stamp {
    pub(crate) created: i64,
    pub(crate) updated: i64,
}

/// An employee, as jobs and timecards refer to it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Person {
    pub(crate) employee_code: String,
    pub(crate) employee_first_name: String,
    pub(crate) employee_last_name: String,
}

/// A job order, as NRBs, invoices and timecards refer to it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobRef {
    pub(crate) job_number: String,
    pub(crate) job_client_code: String,
    pub(crate) job_client_name: String,
}

/// What new objects refer to: the employees and job orders with a detail.
pub(crate) struct Context {
    pub(crate) employees: Vec<Person>,
    pub(crate) jobs: Vec<JobRef>,
}

impl Context {
    /// A uniformly chosen employee, if there is any.
    pub(crate) fn employee(&self, rng: &mut Rng) -> Option<&Person> {
        self.employees
            .get(rng.below(self.employees.len() as u64) as usize)
    }

    /// A uniformly chosen job order, if there is any.
    pub(crate) fn job(&self, rng: &mut Rng) -> Option<&JobRef> {
        self.jobs.get(rng.below(self.jobs.len() as u64) as usize)
    }
}

/// A random version-4 UUID in its usual lowercase text form.
pub(crate) fn guid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// A fixed guid for catalogue entry `index` of the catalogue `table` (clients, trades…).
pub(crate) fn catalogue_guid(table: u64, index: usize) -> String {
    guid(&mut Rng::new(table.wrapping_mul(1_000_003) ^ index as u64))
}

/// Midnight UTC of a random day `lo..=hi` days after [`EARLIEST`], in epoch milliseconds.
pub(crate) fn day(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    EARLIEST + rng.range(lo, hi) * DAY
}
