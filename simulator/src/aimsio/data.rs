//! Aimsio fake data: the entities, the in-memory store (every object kept as its
//! serialized detail plus its list entry), the deterministic generation of a data set
//! (objects in `jobs` and `crew`) and what new objects of a store refer to.
//!
//! Like the real API: fields carry an entity prefix, every timestamp is an integer of
//! epoch milliseconds (`updatedAt` values never fall on a whole second), decimal numbers
//! keep their scale (`125.50`, `51.045100`), text holds Unicode, some fields are null.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::crew::{billable_item, employee, equipment, timecard};
use super::jobs::{invoice, job_order, nrb};
use super::model::{Context, DAY, EARLIEST, Stamp, guid};
use crate::rng::Rng;
use crate::values::nonzero_ms;

/// The entities the fake serves; `name()` is the URL segment and the list's `dtype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entity {
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
    pub(crate) const ALL: [Entity; 7] = [
        Entity::Employee,
        Entity::Equipment,
        Entity::BillableItem,
        Entity::JobOrder,
        Entity::Nrb,
        Entity::Invoice,
        Entity::Timecard,
    ];

    pub(crate) fn name(self) -> &'static str {
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
    pub(crate) fn parse(name: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|entity| entity.name() == name)
    }

    /// The prefix of the detail's field names.
    pub(crate) fn prefix(self) -> &'static str {
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
    pub(crate) fn key(self) -> &'static str {
        match self {
            Entity::Employee | Entity::Timecard => "id",
            _ => "guid",
        }
    }

    /// The detail's `<prefix>UpdatedAt` field.
    pub(crate) fn updated_field(self) -> String {
        format!("{}UpdatedAt", self.prefix())
    }

    /// The text field that a change (and a stale detail) visibly marks.
    pub(crate) fn text_field(self) -> &'static str {
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
pub(crate) struct Object {
    pub(crate) updated_at: i64,
    pub(crate) detail: Option<Bytes>,
}

/// All Aimsio objects, keyed by guid (or id) per entity, and the control state.
pub(crate) struct Store {
    objects: [BTreeMap<String, Object>; 7],
    /// Objects ever created per entity: the serial number of the next one, minus one.
    created: [u64; 7],
    /// The latest `updatedAt` a mutation handed out (starts at the newest generated).
    pub(crate) clock: i64,
    /// Mutations applied so far; mixed into each mutation's randomness.
    pub(crate) mutations: u64,
    /// Entities the account may not read (403).
    pub(crate) forbidden: Vec<Entity>,
}

/// 2025-07-01T00:00:00Z, the latest generated timestamp.
const LATEST: i64 = 1_751_328_000_000;
/// Offset of the random streams, apart from PlanningNow's.
const STREAM: u64 = 0xA1_5100;

impl Store {
    /// `per_entity` objects of every entity; identical for identical arguments.
    pub(crate) fn generate(seed: u64, per_entity: usize) -> Store {
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
            let context = store.context();
            for _ in 0..per_entity {
                let updated = nonzero_ms(rng.range(EARLIEST + 60 * DAY, LATEST));
                let created = nonzero_ms(updated - rng.range(1, 60 * DAY));
                store.add(entity, &mut rng, Stamp { created, updated }, &context);
            }
        }
        store
    }

    pub(crate) fn objects(&self, entity: Entity) -> &BTreeMap<String, Object> {
        &self.objects[entity as usize]
    }

    pub(crate) fn objects_mut(&mut self, entity: Entity) -> &mut BTreeMap<String, Object> {
        &mut self.objects[entity as usize]
    }

    /// Creates an object of `entity` stamped `stamp` under a new guid, which it returns.
    pub(crate) fn add(
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

    /// What new objects of this store refer to.
    pub(crate) fn context(&self) -> Context {
        fn parsed<T: DeserializeOwned>(store: &Store, entity: Entity) -> Vec<T> {
            store
                .objects(entity)
                .values()
                .filter_map(|object| serde_json::from_slice(object.detail.as_ref()?).ok())
                .collect()
        }
        Context {
            employees: parsed(self, Entity::Employee),
            jobs: parsed(self, Entity::JobOrder),
        }
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
