//! `POST /_sim/aircalc/mutate`: the request, its validation, and the deterministic
//! deletions, changes and additions of projects (absolute numbers, capped at what there
//! is; deterministic from its seed and the mutations before it).
//!
//! A change appends ` [rev <n>]` (`n`: the mutation's number, replacing an earlier mark) to
//! the project's `name`, gives one position with an `ahu` object a new `priceNet` and sets
//! `updatedAt` (and with it the `updatedAt` of the project's rows) 1 s to 1 h later than
//! both the project's and every earlier mutation's; an addition is a new project under
//! the next free number, created and updated at such a time.

use bytes::Bytes;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use super::data::Store;
use super::model::{Stamp, iso, parse_iso};
use super::units::price_cents;
use crate::rng::Rng;
use crate::shared::MutationReport;
use crate::values::{nonzero_ms, number};

/// The most projects one mutation may add.
const MAX_ADD: usize = 100_000;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(default)]
    change: usize,
    #[serde(default)]
    add: usize,
    #[serde(default)]
    delete: usize,
    #[serde(default)]
    seed: u64,
}

/// A validated mutation: how many projects to change, add and delete.
pub(crate) struct Plan {
    change: usize,
    add: usize,
    delete: usize,
    seed: u64,
}

impl Plan {
    /// Parses a request body (empty means "no changes"); errors are messages for a 400
    /// answer.
    pub(crate) fn parse(body: &[u8]) -> Result<Plan, String> {
        let request: Request = if body.iter().all(u8::is_ascii_whitespace) {
            Request::default()
        } else {
            let value: Value = serde_json::from_slice(body)
                .map_err(|err| format!("invalid mutate body: {err}"))?;
            if !value.is_object() {
                return Err("the mutate body must be a JSON object".to_owned());
            }
            serde_json::from_value(value).map_err(|err| {
                format!("invalid mutate body (counts are non-negative integers): {err}")
            })?
        };
        if request.add > MAX_ADD {
            return Err(format!("add must be at most {MAX_ADD}"));
        }
        Ok(Plan {
            change: request.change,
            add: request.add,
            delete: request.delete,
            seed: request.seed,
        })
    }
}

/// Applies `plan` to `store`: deletions first, then changes among the rest, then
/// additions.
pub(crate) fn apply(store: &mut Store, plan: &Plan) -> MutationReport {
    let mut rng = Rng::new(plan.seed).fork(store.mutations);
    store.mutations += 1;
    let mut numbers = store.numbers();
    let deletes = plan.delete.min(numbers.len());
    rng.shuffle_prefix(&mut numbers, deletes);
    let mut report = MutationReport {
        deleted: numbers.drain(..deletes).collect(),
        ..MutationReport::default()
    };
    report.deleted.sort_unstable();
    for project_no in &report.deleted {
        store.remove(project_no);
    }

    let changes = plan.change.min(numbers.len());
    rng.shuffle_prefix(&mut numbers, changes);
    numbers.truncate(changes);
    numbers.sort_unstable();
    for project_no in numbers {
        if change(store, &project_no, &mut rng) {
            report.changed.push(project_no);
        }
    }

    for _ in 0..plan.add {
        let updated = later(store.clock, &mut rng);
        store.clock = updated;
        let stamp = Stamp {
            created: updated,
            updated,
        };
        report.added.push(store.add_next(&mut rng, stamp));
    }
    report.added.sort_unstable();
    report
}

/// A random time 1 s to 1 h after `base`, never on a whole second.
fn later(base: i64, rng: &mut Rng) -> i64 {
    nonzero_ms(base.saturating_add(rng.range(1_000, 3_600_000)))
}

/// Changes project `project_no`; false if it is not there or not a JSON object.
fn change(store: &mut Store, project_no: &str, rng: &mut Rng) -> bool {
    let Some(body) = store.project(project_no) else {
        return false;
    };
    let Ok(Value::Object(mut project)) = serde_json::from_slice(body) else {
        return false;
    };
    let shown = project
        .get("updatedAt")
        .and_then(Value::as_str)
        .and_then(parse_iso)
        .unwrap_or(i64::MIN);
    let updated = later(store.clock.max(shown), rng);
    project.insert("updatedAt".to_owned(), Value::String(iso(updated)));

    let name = project.get("name").and_then(Value::as_str).unwrap_or("");
    let base = name.rsplit_once(" [rev ").map_or(name, |(base, _)| base);
    let name = format!("{base} [rev {}]", store.mutations);
    project.insert(
        "name".to_owned(),
        Value::String(name.trim_start().to_owned()),
    );

    if let Some(Value::Array(positions)) = project.get_mut("positions") {
        let mut ahus: Vec<_> = positions
            .iter_mut()
            .filter_map(|position| position.get_mut("ahu")?.as_object_mut())
            .collect();
        if !ahus.is_empty() {
            let pick = rng.below(ahus.len() as u64) as usize;
            let ahu = &mut ahus[pick];
            let old = ahu.get("priceNet").map(Value::to_string);
            let old = old.and_then(|old| Decimal::from_str_exact(&old).ok());
            let mut cents = price_cents(rng);
            if old == Some(Decimal::new(cents, 2)) {
                cents += 1;
            }
            ahu.insert("priceNet".to_owned(), Value::Number(number(cents, 2)));
        }
    }
    store.clock = updated;
    let body = Bytes::from(Value::Object(project).to_string());
    store.insert(body).is_ok()
}
