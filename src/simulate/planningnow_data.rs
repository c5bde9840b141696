//! PlanningNow fake data: the object kinds, the in-memory store (every top-level object
//! kept as its serialized JSON bytes), the deterministic generation of a whole data set
//! (objects in `planningnow_deals` and `planningnow_records`), the document folder tree
//! and the shared decimal and date helpers.
//!
//! The data is deliberately awkward, like the real API: decimal strings with fixed
//! scale, inconsistent field spelling, Unicode, nulls and two DST edge-case timestamps.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{Days, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use serde_json::{Value, json};

use super::planningnow_deals::{offer, order};
use super::planningnow_records::{COST_CENTRES, cost_centre, document, work_schedule};
use super::rng::Rng;

/// The object kinds the fake serves; `name()` is the URL segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Order,
    Offer,
    WorkSchedule,
    CostCentre,
    Document,
}

impl Kind {
    pub(super) const ALL: [Kind; 5] = [
        Kind::Order,
        Kind::Offer,
        Kind::WorkSchedule,
        Kind::CostCentre,
        Kind::Document,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Order => "order",
            Kind::Offer => "offer",
            Kind::WorkSchedule => "work-schedule",
            Kind::CostCentre => "cost-centre",
            Kind::Document => "document",
        }
    }

    pub(super) fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub(super) fn not_found(self) -> &'static str {
        match self {
            Kind::Order => "Order not found",
            Kind::Offer => "Offer not found",
            Kind::WorkSchedule => "Work schedule not found",
            Kind::CostCentre => "Cost centre not found",
            Kind::Document => "Document not found",
        }
    }

    pub(super) fn first_id(self) -> i64 {
        match self {
            Kind::Order => 1001,
            Kind::Offer => 5001,
            Kind::WorkSchedule => 101,
            Kind::CostCentre | Kind::Document => 1,
        }
    }
}

/// All PlanningNow objects, keyed by id per kind, plus the document folder tree.
pub(super) struct Store {
    objects: [BTreeMap<i64, Bytes>; 5],
    pub(super) tree: Vec<Value>,
    /// Orders and offers name project numbers `PRJ-00001` to `PRJ-<projects>`.
    projects: i64,
}

impl Store {
    /// The full data set for `orders` orders naming `orders / 2` project numbers;
    /// identical for identical arguments.
    #[cfg(test)]
    pub(super) fn generate(seed: u64, orders: usize) -> Store {
        Store::generate_naming(seed, orders, (orders / 2).max(3) as i64)
    }

    /// Like [`Store::generate`], with orders and offers naming the aircalc projects
    /// `PRJ-00001` to `PRJ-<aircalc_projects>` and, about one in ten, a number past them
    /// that aircalc does not know (yet), as real orders do.
    pub(super) fn generate_for(seed: u64, orders: usize, aircalc_projects: usize) -> Store {
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

    pub(super) fn objects(&self, kind: Kind) -> &BTreeMap<i64, Bytes> {
        &self.objects[kind as usize]
    }

    pub(super) fn objects_mut(&mut self, kind: Kind) -> &mut BTreeMap<i64, Bytes> {
        &mut self.objects[kind as usize]
    }
}

/// What new objects refer to: existing orders and offers (for documents) and the
/// number of distinct project numbers to draw from.
pub(super) struct Context {
    orders: Vec<i64>,
    offers: Vec<i64>,
    projects: i64,
}

impl Context {
    /// The context for new objects of `store`.
    pub(super) fn of(store: &Store) -> Context {
        Context {
            orders: store.objects(Kind::Order).keys().copied().collect(),
            offers: store.objects(Kind::Offer).keys().copied().collect(),
            projects: store.projects,
        }
    }
}

/// A new object of `kind` with `id`, drawn from `rng`.
pub(super) fn create(kind: Kind, rng: &mut Rng, id: i64, context: &Context) -> Bytes {
    match kind {
        Kind::Order => to_bytes(&order(rng, id, context.projects)),
        Kind::Offer => to_bytes(&offer(rng, id, context.projects)),
        Kind::WorkSchedule => to_bytes(&work_schedule(rng, id)),
        Kind::CostCentre => to_bytes(&cost_centre(rng, id)),
        Kind::Document => to_bytes(&document(rng, id, &context.orders, &context.offers)),
    }
}

/// `value` rounded half away from zero and shown with exactly `dp` decimals.
pub(super) fn fixed(value: Decimal, dp: u32) -> String {
    let mut value = value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    value.rescale(dp);
    value.to_string()
}

/// Gross amount of `netto` at `mwst_percent` VAT, rounded to cents; `None` on overflow
/// (only possible with stored objects put through the control API).
pub(super) fn brutto(netto: Decimal, mwst_percent: Decimal) -> Option<String> {
    let factor = Decimal::ONE.checked_add(mwst_percent.checked_div(Decimal::ONE_HUNDRED)?)?;
    Some(fixed(netto.checked_mul(factor)?, 2))
}

fn to_bytes<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("generated objects are plain JSON"))
}

/// The default folder tree, flat: (id, name, area, parent id).
pub(super) const FOLDERS: [(i64, &str, &str, Option<i64>); 14] = [
    (1, "Alle", "order", None),
    (2, "Technische Zeichnungen", "order", Some(1)),
    (3, "Revisionen", "order", Some(2)),
    (4, "Verträge", "order", Some(1)),
    (5, "Lieferscheine", "order", Some(1)),
    (6, "Alle", "offer", None),
    (7, "Kalkulation", "offer", Some(6)),
    (8, "Versendet", "offer", Some(6)),
    (9, "Archiv 2024", "offer", Some(8)),
    (10, "Alle", "customer", None),
    (11, "Korrespondenz", "customer", Some(10)),
    (12, "Zertifikate", "customer", Some(10)),
    (13, "ISO 9001", "customer", Some(12)),
    (14, "Übergabeprotokolle", "customer", Some(10)),
];
const BASE_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2024, 1, 1) {
    Some(date) => date,
    None => panic!("valid constant date"),
};

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

pub(super) fn day(offset: i64) -> NaiveDate {
    BASE_DATE + Days::new(offset.unsigned_abs())
}

/// An ordinary working-hours timestamp on `date` (never inside a DST switch hour).
pub(super) fn timestamp(rng: &mut Rng, date: NaiveDate) -> String {
    let (hour, minute) = (rng.range(6, 17), rng.range(0, 59));
    format!("{date} {hour:02}:{minute:02}:{:02}", rng.range(0, 59))
}
