//! PlanningNow fake data: the in-memory store (every top-level object
//! kept as its serialized JSON bytes), the deterministic generation of a whole data set
//! (objects in `deals` and `records`) and the document folder tree.
//!
//! The data is deliberately awkward, like the real API: decimal strings with fixed
//! scale, inconsistent field spelling, Unicode, nulls and two DST edge-case timestamps.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use super::deals::{offer, order};
use super::model::{COST_CENTRES, FOLDERS, Kind};
use super::records::{cost_centre, document, work_schedule};
use crate::rng::Rng;

/// All PlanningNow objects, keyed by id per kind, plus the document folder tree.
pub(crate) struct Store {
    objects: [BTreeMap<i64, Bytes>; 5],
    pub(crate) tree: Vec<Value>,
    /// Orders and offers name project numbers `PRJ-00001` to `PRJ-<projects>`.
    projects: i64,
}

impl Store {
    /// The full data set for `orders` orders naming `orders / 2` project numbers;
    /// identical for identical arguments.
    #[cfg(test)]
    pub(crate) fn generate(seed: u64, orders: usize) -> Store {
        Store::generate_naming(seed, orders, (orders / 2).max(3) as i64)
    }

    /// Like [`Store::generate`], with orders and offers naming the aircalc projects
    /// `PRJ-00001` to `PRJ-<aircalc_projects>` and, about one in ten, a number past them
    /// that aircalc does not know (yet), as real orders do.
    pub(crate) fn generate_for(seed: u64, orders: usize, aircalc_projects: usize) -> Store {
        let known = aircalc_projects.max(1) as i64;
        Store::generate_naming(seed, orders, known + (known / 9).max(1))
    }

    fn generate_naming(seed: u64, orders: usize, projects: i64) -> Store {
        let root = Rng::new(seed);
        let mut store = Store {
            objects: Default::default(),
            tree: folder_tree(),
            projects,
        };
        let counts = [
            orders,
            (orders / 2).max(1),
            (orders / 20).max(2),
            COST_CENTRES.len(),
            (orders / 2).max(1),
        ];
        for (stream, (kind, count)) in Kind::ALL.into_iter().zip(counts).enumerate() {
            let mut rng = root.fork(stream as u64);
            let context = Context::of(&store);
            for id in (kind.first_id()..).take(count) {
                let object = create(kind, &mut rng, id, &context);
                store.objects_mut(kind).insert(id, object);
            }
        }
        store
    }

    pub(crate) fn objects(&self, kind: Kind) -> &BTreeMap<i64, Bytes> {
        &self.objects[kind as usize]
    }

    pub(crate) fn objects_mut(&mut self, kind: Kind) -> &mut BTreeMap<i64, Bytes> {
        &mut self.objects[kind as usize]
    }
}

/// What new objects refer to: existing orders and offers (for documents) and the
/// number of distinct project numbers to draw from.
pub(crate) struct Context {
    orders: Vec<i64>,
    offers: Vec<i64>,
    projects: i64,
}

impl Context {
    /// The context for new objects of `store`.
    pub(crate) fn of(store: &Store) -> Context {
        Context {
            orders: store.objects(Kind::Order).keys().copied().collect(),
            offers: store.objects(Kind::Offer).keys().copied().collect(),
            projects: store.projects,
        }
    }
}

/// A new object of `kind` with `id`, drawn from `rng`.
pub(crate) fn create(kind: Kind, rng: &mut Rng, id: i64, context: &Context) -> Bytes {
    match kind {
        Kind::Order => to_bytes(&order(rng, id, context.projects)),
        Kind::Offer => to_bytes(&offer(rng, id, context.projects)),
        Kind::WorkSchedule => to_bytes(&work_schedule(rng, id)),
        Kind::CostCentre => to_bytes(&cost_centre(rng, id)),
        Kind::Document => to_bytes(&document(rng, id, &context.orders, &context.offers)),
    }
}

fn to_bytes<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("generated objects are plain JSON"))
}

fn folder_tree() -> Vec<Value> {
    fn children(parent: Option<i64>) -> Vec<Value> {
        FOLDERS
            .iter()
            .filter(|folder| folder.3 == parent)
            .map(|&(id, name, area, parent_id)| {
                json!({"id": id, "name": name, "area": area, "parent_id": parent_id,
                       "children": children(Some(id))})
            })
            .collect()
    }
    children(None)
}
