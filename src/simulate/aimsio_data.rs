//! Aimsio fake data: the entities, the in-memory store (every object kept as its
//! serialized detail plus its list entry), the deterministic generation of a data set
//! (objects in `aimsio_jobs` and `aimsio_crew`), what new objects refer to, and the
//! helpers for identifiers, epoch-millisecond timestamps and exact JSON numbers.
//!
//! Like the real API: fields carry an entity prefix, every timestamp is an integer of
//! epoch milliseconds (`updatedAt` values never fall on a whole second), decimal numbers
//! keep their scale (`125.50`, `51.045100`), text holds Unicode, some fields are null.

use std::collections::BTreeMap;

use bytes::Bytes;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Number;

use super::aimsio_crew::{billable_item, employee, equipment, timecard};
use super::aimsio_jobs::{invoice, job_order, nrb};
use super::rng::Rng;

/// The entities the fake serves; `name()` is the URL segment and the list's `dtype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Entity {
    Employee,
    Equipment,
    BillableItem,
    JobOrder,
    Nrb,
    Invoice,
    Timecard,
}

impl Entity {
    /// Every entity, referenced ones first (the order of generation and mutation).
    pub(super) const ALL: [Entity; 7] = [
        Entity::Employee,
        Entity::Equipment,
        Entity::BillableItem,
        Entity::JobOrder,
        Entity::Nrb,
        Entity::Invoice,
        Entity::Timecard,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Entity::Employee => "Employee",
            Entity::Equipment => "Equipment",
            Entity::BillableItem => "BillableItem",
            Entity::JobOrder => "JobOrder",
            Entity::Nrb => "NRB",
            Entity::Invoice => "Invoice",
            Entity::Timecard => "Timecard",
        }
    }

    /// The entity named exactly (case-sensitive) `name`.
    pub(super) fn parse(name: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|entity| entity.name() == name)
    }

    /// The prefix of the detail's field names.
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Entity::Employee => "employee",
            Entity::Equipment => "equipment",
            Entity::BillableItem => "billableItem",
            Entity::JobOrder => "job",
            Entity::Nrb => "nrb",
            Entity::Invoice => "invoice",
            Entity::Timecard => "timecard",
        }
    }

    /// The list entry's identifier field: the vendor says `id` for some entities.
    pub(super) fn key(self) -> &'static str {
        match self {
            Entity::Employee | Entity::Timecard => "id",
            _ => "guid",
        }
    }

    /// The detail's `<prefix>UpdatedAt` field.
    pub(super) fn updated_field(self) -> String {
        format!("{}UpdatedAt", self.prefix())
    }

    /// The text field that a change (and a stale detail) visibly marks.
    pub(super) fn text_field(self) -> &'static str {
        match self {
            Entity::Employee => "employeeNickName",
            Entity::Equipment => "equipmentName",
            Entity::BillableItem => "billableItemDescription",
            Entity::JobOrder => "jobName",
            Entity::Nrb => "nrbName",
            Entity::Invoice => "invoiceMemo",
            Entity::Timecard => "timecardComment",
        }
    }
}

/// One object: its list entry's `updatedAt` and its detail (`None`: listed, but the
/// detail answers 404).
pub(super) struct Object {
    pub(super) updated_at: i64,
    pub(super) detail: Option<Bytes>,
}

/// All Aimsio objects, keyed by guid (or id) per entity, and the control state.
pub(super) struct Store {
    objects: [BTreeMap<String, Object>; 7],
    /// Objects ever created per entity: the serial number of the next one, minus one.
    created: [u64; 7],
    /// The latest `updatedAt` a mutation handed out (starts at the newest generated).
    pub(super) clock: i64,
    /// Mutations applied so far; mixed into each mutation's randomness.
    pub(super) mutations: u64,
    /// Entities the account may not read (403).
    pub(super) forbidden: Vec<Entity>,
}

/// 2024-01-01T00:00:00Z, the earliest generated timestamp.
const EARLIEST: i64 = 1_704_067_200_000;
/// 2025-07-01T00:00:00Z, the latest generated timestamp.
const LATEST: i64 = 1_751_328_000_000;
pub(super) const DAY: i64 = 86_400_000;
/// Offset of the random streams, apart from PlanningNow's.
const STREAM: u64 = 0xA1_5100;

/// When an object was created and last updated, in epoch milliseconds.
#[derive(Clone, Copy)]
pub(super) struct Stamp {
    pub(super) created: i64,
    pub(super) updated: i64,
}

impl Store {
    /// `per_entity` objects of every entity; identical for identical arguments.
    pub(super) fn generate(seed: u64, per_entity: usize) -> Store {
        let root = Rng::new(seed);
        let mut store = Store {
            objects: Default::default(),
            created: [0; 7],
            clock: LATEST,
            mutations: 0,
            forbidden: Vec::new(),
        };
        for entity in Entity::ALL {
            let mut rng = root.fork(STREAM + entity as u64);
            let context = Context::of(&store);
            for _ in 0..per_entity {
                let updated = nonzero_ms(rng.range(EARLIEST + 60 * DAY, LATEST));
                let created = nonzero_ms(updated - rng.range(1, 60 * DAY));
                store.add(entity, &mut rng, Stamp { created, updated }, &context);
            }
        }
        store
    }

    pub(super) fn objects(&self, entity: Entity) -> &BTreeMap<String, Object> {
        &self.objects[entity as usize]
    }

    pub(super) fn objects_mut(&mut self, entity: Entity) -> &mut BTreeMap<String, Object> {
        &mut self.objects[entity as usize]
    }

    /// Creates an object of `entity` stamped `stamp` under a new guid, which it returns.
    pub(super) fn add(
        &mut self,
        entity: Entity,
        rng: &mut Rng,
        stamp: Stamp,
        context: &Context,
    ) -> String {
        let guid = loop {
            let guid = guid(rng);
            if !self.objects(entity).contains_key(&guid) {
                break guid;
            }
        };
        let serial = &mut self.created[entity as usize];
        *serial += 1;
        let detail = create(entity, rng, *serial, &guid, stamp, context);
        let object = Object {
            updated_at: stamp.updated,
            detail: Some(detail),
        };
        self.objects_mut(entity).insert(guid.clone(), object);
        guid
    }
}

/// An employee, as jobs and timecards refer to it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Person {
    pub(super) employee_code: String,
    pub(super) employee_first_name: String,
    pub(super) employee_last_name: String,
}

/// A job order, as NRBs, invoices and timecards refer to it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobRef {
    pub(super) job_number: String,
    pub(super) job_client_code: String,
    pub(super) job_client_name: String,
}

/// What new objects refer to: the employees and job orders with a detail.
pub(super) struct Context {
    pub(super) employees: Vec<Person>,
    pub(super) jobs: Vec<JobRef>,
}

impl Context {
    pub(super) fn of(store: &Store) -> Context {
        fn parsed<T: DeserializeOwned>(store: &Store, entity: Entity) -> Vec<T> {
            store
                .objects(entity)
                .values()
                .filter_map(|object| serde_json::from_slice(object.detail.as_ref()?).ok())
                .collect()
        }
        Context {
            employees: parsed(store, Entity::Employee),
            jobs: parsed(store, Entity::JobOrder),
        }
    }

    /// A uniformly chosen employee, if there is any.
    pub(super) fn employee(&self, rng: &mut Rng) -> Option<&Person> {
        self.employees
            .get(rng.below(self.employees.len() as u64) as usize)
    }

    /// A uniformly chosen job order, if there is any.
    pub(super) fn job(&self, rng: &mut Rng) -> Option<&JobRef> {
        self.jobs.get(rng.below(self.jobs.len() as u64) as usize)
    }
}

/// The detail of a new object of `entity`, the `serial`-th of its entity.
fn create(
    entity: Entity,
    rng: &mut Rng,
    serial: u64,
    guid: &str,
    stamp: Stamp,
    context: &Context,
) -> Bytes {
    let guid = guid.to_owned();
    match entity {
        Entity::Employee => to_bytes(&employee(rng, serial, guid, stamp)),
        Entity::Equipment => to_bytes(&equipment(rng, serial, guid, stamp)),
        Entity::BillableItem => to_bytes(&billable_item(rng, serial, guid, stamp)),
        Entity::JobOrder => to_bytes(&job_order(rng, serial, guid, stamp, context)),
        Entity::Nrb => to_bytes(&nrb(rng, serial, guid, stamp, context)),
        Entity::Invoice => to_bytes(&invoice(rng, serial, guid, stamp, context)),
        Entity::Timecard => to_bytes(&timecard(rng, serial, guid, stamp, context)),
    }
}

fn to_bytes<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("generated objects are plain JSON"))
}

/// A random version-4 UUID in its usual lowercase text form.
pub(super) fn guid(rng: &mut Rng) -> String {
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
pub(super) fn catalogue_guid(table: u64, index: usize) -> String {
    guid(&mut Rng::new(table.wrapping_mul(1_000_003) ^ index as u64))
}

/// `ms`, moved one millisecond later if it falls on a whole second.
pub(super) fn nonzero_ms(ms: i64) -> i64 {
    if ms % 1_000 == 0 { ms + 1 } else { ms }
}

/// Midnight UTC of a random day `lo..=hi` days after [`EARLIEST`], in epoch milliseconds.
pub(super) fn day(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    EARLIEST + rng.range(lo, hi) * DAY
}

/// The JSON number `units × 10^-scale`, written with exactly `scale` decimals (serde_json's
/// `arbitrary_precision` keeps the literal: `number(12550, 2)` is served as `125.50`).
pub(super) fn number(units: i64, scale: u32) -> Number {
    Decimal::new(units, scale)
        .to_string()
        .parse()
        .expect("a decimal is a JSON number")
}
