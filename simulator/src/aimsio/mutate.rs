//! The Aimsio control operations on the store: `mutate` (absolute numbers of changes,
//! additions and deletions, deterministic from its seed and the mutations before it),
//! `vanish` (listed, but the detail is gone) and `stale` (the detail newer than the list).
//!
//! A change appends ` [rev <ms>]` to the entity's text field and sets `<prefix>UpdatedAt`
//! of the detail and `updatedAt` of the list to `<ms>`: later than the object's both
//! timestamps and than every earlier mutation, never on a whole second. A stale detail
//! gets the same marks with the given time while its list entry stays as it was.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::data::{Entity, Store};
use super::model::Stamp;
use crate::rng::Rng;
use crate::shared::MutationReport;
use crate::values::nonzero_ms;

/// The most objects one mutation may add to one entity.
const MAX_ADD: usize = 100_000;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    entity: Option<String>,
    #[serde(default)]
    change: usize,
    #[serde(default)]
    add: usize,
    #[serde(default)]
    delete: usize,
    #[serde(default)]
    seed: u64,
}

/// A validated mutation: how many objects of each entity to change, add and delete.
pub(crate) struct Plan {
    entities: Vec<Entity>,
    change: usize,
    add: usize,
    delete: usize,
    seed: u64,
}

/// `entity` by name, or a message listing the known names.
pub(crate) fn entity(name: &str) -> Result<Entity, String> {
    Entity::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Entity::ALL.iter().map(|entity| entity.name()).collect();
        format!("unknown entity {name:?}; known: {}", known.join(", "))
    })
}

impl Plan {
    /// Parses a request body (empty means "no changes, all entities"); errors are
    /// messages for a 400 answer.
    pub(crate) fn parse(body: &[u8]) -> Result<Plan, String> {
        let request: Request = if body.iter().all(u8::is_ascii_whitespace) {
            Request::default()
        } else {
            serde_json::from_slice(body).map_err(|err| {
                format!("invalid mutate body (counts are non-negative integers): {err}")
            })?
        };
        if request.add > MAX_ADD {
            return Err(format!("add must be at most {MAX_ADD}"));
        }
        let entities = match request.entity {
            None => Entity::ALL.to_vec(),
            Some(name) => vec![entity(&name)?],
        };
        Ok(Plan {
            entities,
            change: request.change,
            add: request.add,
            delete: request.delete,
            seed: request.seed,
        })
    }
}

/// Applies `plan` to `store`, entity by entity in a fixed order; keyed by entity name.
/// Deletions come first, then changes among the rest (objects with a detail only), then
/// additions; counts beyond what there is are capped.
pub(crate) fn apply(store: &mut Store, plan: &Plan) -> BTreeMap<&'static str, MutationReport> {
    let root = Rng::new(plan.seed).fork(store.mutations);
    store.mutations += 1;
    plan.entities
        .iter()
        .map(|&entity| {
            let mut rng = root.fork(entity as u64);
            (entity.name(), mutate_entity(store, entity, plan, &mut rng))
        })
        .collect()
}

fn mutate_entity(store: &mut Store, entity: Entity, plan: &Plan, rng: &mut Rng) -> MutationReport {
    let mut keys: Vec<String> = store.objects(entity).keys().cloned().collect();
    let deletes = plan.delete.min(keys.len());
    rng.shuffle_prefix(&mut keys, deletes);
    let mut report = MutationReport {
        deleted: keys.drain(..deletes).collect(),
        ..MutationReport::default()
    };
    report.deleted.sort_unstable();
    for key in &report.deleted {
        store.objects_mut(entity).remove(key);
    }

    keys.retain(|key| store.objects(entity)[key].detail.is_some());
    let changes = plan.change.min(keys.len());
    rng.shuffle_prefix(&mut keys, changes);
    keys.truncate(changes);
    keys.sort_unstable();
    for key in keys {
        if change(store, entity, &key, rng) {
            report.changed.push(key);
        }
    }

    let context = store.context();
    for _ in 0..plan.add {
        let updated = later(store.clock, rng);
        store.clock = updated;
        let stamp = Stamp {
            created: updated,
            updated,
        };
        report.added.push(store.add(entity, rng, stamp, &context));
    }
    report.added.sort_unstable();
    report
}

/// A random time 1 s to 1 h after `base`, never on a whole second.
fn later(base: i64, rng: &mut Rng) -> i64 {
    nonzero_ms(base.saturating_add(rng.range(1_000, 3_600_000)))
}

/// Changes the object `key` of `entity` (which has a detail); false if it cannot.
fn change(store: &mut Store, entity: Entity, key: &str, rng: &mut Rng) -> bool {
    let clock = store.clock;
    let Some(object) = store.objects_mut(entity).get_mut(key) else {
        return false;
    };
    let Some(detail) = &object.detail else {
        return false;
    };
    let shown = serde_json::from_slice::<Value>(detail)
        .ok()
        .and_then(|detail| detail.get(entity.updated_field())?.as_i64())
        .unwrap_or(i64::MIN);
    let updated = later(clock.max(object.updated_at).max(shown), rng);
    let Some(marked) = mark(detail, entity, updated) else {
        return false;
    };
    object.detail = Some(marked);
    object.updated_at = updated;
    store.clock = updated;
    true
}

/// `detail` with `<prefix>UpdatedAt` set to `updated_at` and ` [rev <updated_at>]`
/// appended to the entity's text field; `None` if it is not a JSON object.
fn mark(detail: &[u8], entity: Entity, updated_at: i64) -> Option<Bytes> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice(detail) else {
        return None;
    };
    object.insert(entity.updated_field(), Value::from(updated_at));
    let field = entity.text_field();
    let tag = format!("[rev {updated_at}]");
    let text = match object.get(field).and_then(Value::as_str) {
        Some(old) if !old.is_empty() => format!("{old} {tag}"),
        _ => tag,
    };
    object.insert(field.to_owned(), Value::String(text));
    Some(Bytes::from(Value::Object(object).to_string()))
}

/// Why a control operation on one object failed.
#[derive(Debug, PartialEq)]
pub(crate) enum Refusal {
    /// No such object (or, for `stale`, no detail to make newer).
    NotFound,
    /// The request makes no sense for the object (a message for a 400 answer).
    Invalid(String),
}

/// Removes the detail of `key` of `entity`, which stays listed. Idempotent.
pub(crate) fn vanish(store: &mut Store, entity: Entity, key: &str) -> Result<(), Refusal> {
    let object = store
        .objects_mut(entity)
        .get_mut(key)
        .ok_or(Refusal::NotFound)?;
    object.detail = None;
    Ok(())
}

/// Makes the detail of `key` of `entity` newer than its list entry: updated at
/// `updated_at`, which must be later than the list's `updatedAt`.
pub(crate) fn stale(
    store: &mut Store,
    entity: Entity,
    key: &str,
    updated_at: i64,
) -> Result<(), Refusal> {
    let object = store
        .objects_mut(entity)
        .get_mut(key)
        .ok_or(Refusal::NotFound)?;
    let detail = object.detail.as_ref().ok_or(Refusal::NotFound)?;
    if updated_at <= object.updated_at {
        return Err(Refusal::Invalid(format!(
            "detail_updated_at must be later than the listed updatedAt {}",
            object.updated_at
        )));
    }
    let marked = mark(detail, entity, updated_at)
        .ok_or_else(|| Refusal::Invalid("the stored detail is not a JSON object".to_owned()))?;
    object.detail = Some(marked);
    Ok(())
}

/// A change of what the vendor sends for every object of an entity (as a new API version
/// would bring): fields `set` to a value, fields `unset`, and number fields served as their
/// text (`stringify`). Every object with a detail changes and is stamped later than
/// anything before (its list `updatedAt` and `<prefix>UpdatedAt`), so a delta fetches all.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reshape {
    #[serde(default)]
    pub(crate) set: serde_json::Map<String, Value>,
    #[serde(default)]
    pub(crate) unset: Vec<String>,
    #[serde(default)]
    pub(crate) stringify: Vec<String>,
    /// Only these objects (by guid or id); all when absent.
    pub(crate) keys: Option<Vec<String>>,
}

/// Applies `reshape` to every object of `entity` (or those of `keys`) that has a detail;
/// answers their keys.
pub(crate) fn reshape(store: &mut Store, entity: Entity, reshape: &Reshape) -> Vec<String> {
    let mut clock = store.clock;
    let mut changed = Vec::new();
    for (key, object) in store.objects_mut(entity).iter_mut() {
        if reshape
            .keys
            .as_ref()
            .is_some_and(|keys| !keys.contains(key))
        {
            continue;
        }
        let Some(Ok(Value::Object(mut detail))) = object
            .detail
            .as_deref()
            .map(serde_json::from_slice::<Value>)
        else {
            continue;
        };
        clock = nonzero_ms(clock.max(object.updated_at) + 1_000);
        for (field, value) in &reshape.set {
            detail.insert(field.clone(), value.clone());
        }
        for field in &reshape.unset {
            detail.remove(field);
        }
        for field in &reshape.stringify {
            if let Some(Value::Number(n)) = detail.get(field) {
                let text = n.to_string();
                detail.insert(field.clone(), Value::String(text));
            }
        }
        if detail.contains_key(&entity.updated_field()) {
            detail.insert(entity.updated_field(), Value::from(clock));
        }
        object.detail = Some(Bytes::from(Value::Object(detail).to_string()));
        object.updated_at = clock;
        changed.push(key.clone());
    }
    store.clock = clock;
    changed
}
