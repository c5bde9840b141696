//! `POST /_sim/planningnow/mutate`: the request, its validation, and the deterministic
//! deletes, changes and additions it applies to the PlanningNow store.

use std::collections::BTreeMap;

use bytes::Bytes;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::data::{Context, Store, create};
use super::model::{Kind, brutto, fixed};
use crate::rng::Rng;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(default)]
    change: f64,
    #[serde(default)]
    add: f64,
    #[serde(default)]
    delete: f64,
    #[serde(default)]
    seed: u64,
    kinds: Option<Vec<String>>,
}

/// A validated mutation: fractions of each kind to change, add and delete.
pub(crate) struct Plan {
    change: f64,
    add: f64,
    delete: f64,
    seed: u64,
    kinds: Vec<Kind>,
}

impl Plan {
    /// Parses a request body (empty means "no changes, all kinds"); errors are messages
    /// for a 400 answer.
    pub(crate) fn parse(body: &[u8]) -> Result<Plan, String> {
        let request: Request = if body.iter().all(u8::is_ascii_whitespace) {
            Request::default()
        } else {
            serde_json::from_slice(body).map_err(|err| format!("invalid mutate body: {err}"))?
        };
        for (name, value) in [
            ("change", request.change),
            ("add", request.add),
            ("delete", request.delete),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("{name} must be a fraction between 0 and 1"));
            }
        }
        let kinds = match request.kinds {
            None => Kind::ALL.to_vec(),
            Some(names) => {
                let mut wanted = Vec::new();
                for name in &names {
                    wanted.push(Kind::parse(name).ok_or_else(|| format!("unknown kind {name:?}"))?);
                }
                Kind::ALL
                    .into_iter()
                    .filter(|kind| wanted.contains(kind))
                    .collect()
            }
        };
        Ok(Plan {
            change: request.change,
            add: request.add,
            delete: request.delete,
            seed: request.seed,
            kinds,
        })
    }
}

/// What a mutation did to one kind; ids ascending.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    pub(crate) changed: Vec<i64>,
    pub(crate) added: Vec<i64>,
    pub(crate) deleted: Vec<i64>,
    /// `[parent_id, position_id]` of positions removed from changed orders and offers.
    pub(crate) positions_removed: Vec<(i64, i64)>,
}

/// Applies `plan` to `store`, kind by kind in a fixed order; keyed by kind name.
pub(crate) fn apply(store: &mut Store, plan: &Plan) -> BTreeMap<&'static str, Report> {
    let root = Rng::new(plan.seed);
    plan.kinds
        .iter()
        .map(|&kind| {
            let mut rng = root.fork(kind as u64);
            (kind.name(), mutate_kind(store, kind, plan, &mut rng))
        })
        .collect()
}

fn share(fraction: f64, n: usize) -> usize {
    ((fraction * n as f64).round() as usize).min(n)
}

fn mutate_kind(store: &mut Store, kind: Kind, plan: &Plan, rng: &mut Rng) -> Report {
    let mut ids: Vec<i64> = store.objects(kind).keys().copied().collect();
    let n = ids.len();
    let next_id = ids
        .last()
        .map_or(kind.first_id(), |max| max.saturating_add(1));
    let deletes = share(plan.delete, n);
    let changes = share(plan.change, n).min(n - deletes);
    let adds = share(plan.add, n);
    rng.shuffle_prefix(&mut ids, deletes + changes);

    let mut report = Report {
        deleted: ids[..deletes].to_vec(),
        ..Report::default()
    };
    report.deleted.sort_unstable();
    for id in &report.deleted {
        store.objects_mut(kind).remove(id);
    }

    let mut to_change = ids[deletes..deletes + changes].to_vec();
    to_change.sort_unstable();
    for id in to_change {
        let objects = store.objects_mut(kind);
        let parsed = objects.get(&id).map(|bytes| serde_json::from_slice(bytes));
        let Some(Ok(Value::Object(mut object))) = parsed else {
            continue;
        };
        if let Some(position) = change(kind, &mut object, rng) {
            report.positions_removed.push((id, position));
        }
        objects.insert(id, Bytes::from(Value::Object(object).to_string()));
        report.changed.push(id);
    }

    let context = Context::of(store);
    for id in (0..adds).map_while(|k| next_id.checked_add(k as i64)) {
        let object = create(kind, rng, id, &context);
        store.objects_mut(kind).insert(id, object);
        report.added.push(id);
    }
    report
}

fn decimal(value: Option<&Value>) -> Option<Decimal> {
    value?.as_str()?.parse().ok()
}

fn append_text(object: &mut Map<String, Value>, key: &str, tag: &str) {
    let old = object.get(key).and_then(Value::as_str).unwrap_or_default();
    let new = format!("{old}{tag}");
    object.insert(key.to_owned(), Value::String(new));
}

/// Changes one object visibly; returns the id of a removed position, if any.
fn change(kind: Kind, object: &mut Map<String, Value>, rng: &mut Rng) -> Option<i64> {
    let tag = format!(" [Änderung {}]", rng.range(1, 9_999));
    match kind {
        Kind::Order => {
            append_text(object, "subject", &tag);
            change_positions(object, rng)
        }
        Kind::Offer => {
            append_text(object, "lead_text", &tag);
            change_positions(object, rng)
        }
        Kind::WorkSchedule => {
            append_text(object, "name", &tag);
            let delta = Decimal::new(rng.range(100, 10_000), 2);
            for key in ["sum_cost_fremdfert", "sum_cost"] {
                if let Some(new) = decimal(object.get(key)).and_then(|old| old.checked_add(delta)) {
                    object.insert(key.to_owned(), Value::String(fixed(new, 2)));
                }
            }
            let sum_cost = decimal(object.get("sum_cost"));
            let los = object.get("los_stueck").and_then(Value::as_i64);
            if let Some(per_one) = sum_cost
                .zip(los)
                .and_then(|(sum, los)| sum.checked_div(los.into()))
            {
                object.insert("costperone".to_owned(), Value::String(fixed(per_one, 2)));
            }
            None
        }
        Kind::CostCentre => {
            append_text(object, "name", &tag);
            let key = if object.contains_key("kalk_min_kosten") {
                "kalk_min_kosten"
            } else {
                "kalkMinKosten"
            };
            let kalk = fixed(Decimal::new(rng.range(500, 4_500), 3), 3);
            object.insert(key.to_owned(), Value::String(kalk));
            None
        }
        Kind::Document => {
            append_text(object, "filename", &tag);
            let do_print = object.get("do_print").and_then(Value::as_bool);
            object.insert("do_print".to_owned(), Value::Bool(do_print != Some(true)));
            None
        }
    }
}

/// Drops the last of two or more positions, raises the first position's amount by one,
/// raises one task's `min_wage` and recomputes the totals; returns the dropped position id.
fn change_positions(object: &mut Map<String, Value>, rng: &mut Rng) -> Option<i64> {
    let Some(Value::Array(positions)) = object.get_mut("positions") else {
        return None;
    };
    let removed = if positions.len() >= 2 {
        positions
            .pop()
            .and_then(|p| p.get("id").and_then(Value::as_i64))
    } else {
        None
    };
    if let Some(Value::Object(first)) = positions.first_mut() {
        raise_amount(first);
    }
    let mut tasks: Vec<&mut Map<String, Value>> = positions
        .iter_mut()
        .filter_map(|position| position.get_mut("tasks")?.as_array_mut())
        .flatten()
        .filter_map(Value::as_object_mut)
        .collect();
    if !tasks.is_empty() {
        let index = rng.below(tasks.len() as u64) as usize;
        let task = &mut tasks[index];
        let old = decimal(task.get("min_wage")).unwrap_or_default();
        let raised = old.checked_add(Decimal::new(rng.range(10, 500), 2));
        task.insert(
            "min_wage".to_owned(),
            Value::String(fixed(raised.unwrap_or(old), 2)),
        );
    }
    let total = positions.iter().try_fold(Decimal::ZERO, |total, position| {
        total.checked_add(decimal(position.get("netto"))?)
    });
    if let Some(total) = total {
        for key in ["netto", "ges_netto"] {
            object.insert(key.to_owned(), Value::String(fixed(total, 2)));
        }
    }
    removed
}

fn raise_amount(position: &mut Map<String, Value>) {
    let (Some(amount), Some(unit_price)) = (
        decimal(position.get("amount")),
        decimal(position.get("unit_price")),
    ) else {
        return;
    };
    let Some((amount, netto)) = amount
        .checked_add(Decimal::ONE)
        .and_then(|amount| Some((amount, amount.checked_mul(unit_price)?)))
    else {
        return;
    };
    position.insert("amount".to_owned(), Value::String(fixed(amount, 2)));
    position.insert("netto".to_owned(), Value::String(fixed(netto, 2)));
    if let Some(gross) = decimal(position.get("mwst_percent")).and_then(|mwst| brutto(netto, mwst))
    {
        position.insert("brutto".to_owned(), Value::String(gross));
    }
}
