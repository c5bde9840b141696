//! aircalc NEXT fake data: the in-memory store (every project kept as its JSON bytes,
//! served verbatim, next to the rows it contributes to `pos-rows-aggregated`), the
//! deterministic generation of a data set (objects in `units`).
//!
//! Built to the assumed shapes: camelCase fields; timestamps ISO-8601 with milliseconds
//! and the offset of Europe/Berlin (`2025-06-03T09:12:44.123+02:00`, `+01:00` in winter,
//! never on a whole second). Projects are numbered `PRJ-00001`, … like the PlanningNow
//! orders' `project_no` (canonical upper case); a position's row carries its project's
//! `updatedAt`; a BOM exists for every listed position number.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use super::model::{Stamp, to_bytes};
use super::units::{bom, project, project_no};
use crate::rng::Rng;
use crate::values::nonzero_ms;

/// 2024-01-01T00:00:00Z, the earliest generated timestamp.
const EARLIEST: i64 = 1_704_067_200_000;
/// 2025-07-01T00:00:00Z, the latest generated timestamp.
const LATEST: i64 = 1_751_328_000_000;
const DAY: i64 = 86_400_000;
/// Offset of the random streams, apart from the other fakes'.
const STREAM: u64 = 0xA1_C000;

/// One stored project: its bytes, served as stored, and what the other endpoints need.
pub(crate) struct Project {
    body: Bytes,
    external_ref: Option<String>,
    pos_nos: Vec<String>,
    rows: Vec<Bytes>,
}

/// A row of `pos-rows-aggregated`, copied from a project and one of its positions
/// (missing fields are `null`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row<'a> {
    project_no: Option<&'a Value>,
    project_external_ref: Option<&'a Value>,
    pos_no: Option<&'a Value>,
    pos_external_ref: Option<&'a Value>,
    description: Option<&'a Value>,
    quantity: Option<&'a Value>,
    unit_type: Option<&'a Value>,
    updated_at: Option<&'a Value>,
}

impl Project {
    /// A project from its JSON: an object with a non-empty string `projectNo` and, if
    /// any, an array of position objects. Returns the project number too.
    fn parse(body: Bytes) -> Result<(String, Project), String> {
        let project = match serde_json::from_slice(&body) {
            Ok(Value::Object(project)) => project,
            Ok(_) => return Err("a project must be a JSON object".to_owned()),
            Err(err) => return Err(format!("invalid JSON: {err}")),
        };
        let project_no = match project.get("projectNo") {
            Some(Value::String(no)) if !no.is_empty() => no.clone(),
            _ => return Err(r#""projectNo" must be a non-empty string"#.to_owned()),
        };
        let positions = match project.get("positions") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(positions)) => positions.as_slice(),
            Some(_) => return Err(r#""positions" must be an array"#.to_owned()),
        };
        let mut pos_nos = Vec::new();
        let mut rows = Vec::new();
        for position in positions {
            let Value::Object(position) = position else {
                return Err("every position must be a JSON object".to_owned());
            };
            if let Some(Value::String(pos_no)) = position.get("posNo") {
                pos_nos.push(pos_no.clone());
            }
            rows.push(row(&project, position));
        }
        let external_ref = match project.get("externalRef") {
            Some(Value::String(external_ref)) => Some(external_ref.clone()),
            _ => None,
        };
        let project = Project {
            body,
            external_ref,
            pos_nos,
            rows,
        };
        Ok((project_no, project))
    }
}

fn row(project: &Map<String, Value>, position: &Map<String, Value>) -> Bytes {
    let row = Row {
        project_no: project.get("projectNo"),
        project_external_ref: project.get("externalRef"),
        pos_no: position.get("posNo"),
        pos_external_ref: position.get("externalRef"),
        description: position.get("description"),
        quantity: position.get("quantity"),
        unit_type: position.get("ahu").and_then(|ahu| ahu.get("unitType")),
        updated_at: project.get("updatedAt"),
    };
    to_bytes(&row)
}

/// All projects by number, and what mutations need.
pub(crate) struct Store {
    seed: u64,
    projects: BTreeMap<String, Project>,
    /// The highest `PRJ-` number used so far; added projects get the next free one.
    last_number: u64,
    /// The latest `updatedAt` a mutation handed out (starts at the newest generated).
    pub(crate) clock: i64,
    /// Mutations applied so far; mixed into each mutation's randomness.
    pub(crate) mutations: u64,
}

impl Store {
    /// Projects `PRJ-00001` to `PRJ-<projects>`; identical for identical arguments, and
    /// each project the same whatever the count.
    pub(crate) fn generate(seed: u64, projects: usize) -> Store {
        let mut store = Store {
            seed,
            projects: BTreeMap::new(),
            last_number: 0,
            clock: LATEST,
            mutations: 0,
        };
        let root = Rng::new(seed).fork(STREAM);
        for number in 1..=projects as u64 {
            let mut rng = root.fork(number);
            let updated = nonzero_ms(rng.range(EARLIEST + 60 * DAY, LATEST));
            let created = nonzero_ms(updated - rng.range(DAY / 24, 60 * DAY));
            store.add(&mut rng, number, Stamp { created, updated });
        }
        store
    }

    /// The project numbers, ascending.
    pub(crate) fn numbers(&self) -> Vec<String> {
        self.projects.keys().cloned().collect()
    }

    pub(crate) fn project(&self, project_no: &str) -> Option<&Bytes> {
        self.projects.get(project_no).map(|project| &project.body)
    }

    /// The project with this `externalRef` (the lowest number, should several have it).
    pub(crate) fn by_external_ref(&self, external_ref: &str) -> Option<&Bytes> {
        let mut projects = self.projects.values();
        let found = projects.find(|project| project.external_ref.as_deref() == Some(external_ref));
        found.map(|project| &project.body)
    }

    /// `pos-rows-aggregated`: every project's rows, by project number.
    pub(crate) fn rows(&self) -> Vec<u8> {
        let mut body = b"[".to_vec();
        let rows = self.projects.values().flat_map(|project| &project.rows);
        for (index, row) in rows.enumerate() {
            if index > 0 {
                body.push(b',');
            }
            body.extend_from_slice(row);
        }
        body.push(b']');
        body
    }

    /// The BOM of a listed position.
    pub(crate) fn bom(&self, pos_no: &str) -> Option<Bytes> {
        let listed = self.projects.values().flat_map(|project| &project.pos_nos);
        let mut listed = listed.map(String::as_str);
        listed
            .any(|listed| listed == pos_no)
            .then(|| bom(self.seed, pos_no))
    }

    /// Inserts (or replaces) the project `body` holds; returns its number, or why the
    /// body is no project.
    pub(crate) fn insert(&mut self, body: Bytes) -> Result<String, String> {
        let (project_no, project) = Project::parse(body)?;
        if let Some(number) = project_no.strip_prefix("PRJ-").and_then(|n| n.parse().ok()) {
            self.last_number = self.last_number.max(number);
        }
        self.projects.insert(project_no.clone(), project);
        Ok(project_no)
    }

    pub(crate) fn remove(&mut self, project_no: &str) -> bool {
        self.projects.remove(project_no).is_some()
    }

    /// Creates a new project under the next free number, which it returns.
    pub(crate) fn add_next(&mut self, rng: &mut Rng, stamp: Stamp) -> String {
        let mut number = self.last_number + 1;
        while self.projects.contains_key(&project_no(number)) {
            number += 1;
        }
        self.add(rng, number, stamp)
    }

    fn add(&mut self, rng: &mut Rng, number: u64, stamp: Stamp) -> String {
        self.insert(project(rng, number, stamp))
            .expect("generated projects are valid")
    }
}
