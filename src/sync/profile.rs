//! Profiling records: which JSON paths a stream's records carry, with which JSON types, and
//! how many records had each, for the field catalogue (`catalogue`). A record is walked once,
//! as already parsed; paths are interned in a trie of field names (a lookup hashes one name,
//! not the whole path, and allocates only for a path never seen before), so the cost is one
//! small hash lookup per field. Paths are dotted for nested objects and take `[]` for array
//! elements (`positions[].amount`); the walk stops below [`MAX_DEPTH`] levels, and a stream
//! interns at most [`MAX_PATHS`] paths (more are dropped, and the profile says so).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde_json::Value;

/// Path segments walked below the record (deeper values are not looked into).
pub const MAX_DEPTH: usize = 6;
/// Distinct paths a stream's profile holds at most.
pub const MAX_PATHS: usize = 10_000;

/// JSON types, as bits of [`Types`].
pub const NULL: u8 = 1;
pub const BOOLEAN: u8 = 2;
pub const INTEGER: u8 = 4;
pub const NUMBER: u8 = 8;
pub const STRING: u8 = 16;
pub const OBJECT: u8 = 32;
pub const ARRAY: u8 = 64;

const NAMES: [(u8, &str); 7] = [
    (NULL, "null"),
    (BOOLEAN, "boolean"),
    (INTEGER, "integer"),
    (NUMBER, "number"),
    (STRING, "string"),
    (OBJECT, "object"),
    (ARRAY, "array"),
];

/// The set of JSON types seen at a path.
pub type Types = u8;

/// The names of the types in `types`, in a fixed order.
pub fn type_names(types: Types) -> Vec<&'static str> {
    NAMES
        .iter()
        .filter(|(bit, _)| types & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// The bits of type names (unknown names are ignored).
pub fn types_of(names: &[String]) -> Types {
    names
        .iter()
        .filter_map(|n| {
            NAMES
                .iter()
                .find(|(_, name)| name == n)
                .map(|(bit, _)| *bit)
        })
        .fold(0, |a, b| a | b)
}

/// The type bit of a value. An integer is a number without a fraction or exponent that
/// fits 64 bits.
pub fn type_of(value: &Value) -> Types {
    match value {
        Value::Null => NULL,
        Value::Bool(_) => BOOLEAN,
        Value::Number(n) if n.is_i64() || n.is_u64() => INTEGER,
        Value::Number(_) => NUMBER,
        Value::String(_) => STRING,
        Value::Object(_) => OBJECT,
        Value::Array(_) => ARRAY,
    }
}

/// FxHash: field names are short and not attacker-chosen keys of a long-lived table that
/// could grow without bound (the trie is capped), so a fast hash will do.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

struct Node {
    parent: u32,
    /// The field name, or `[]` for the elements of an array.
    name: Box<str>,
    fields: FxMap<Box<str>, u32>,
    elements: Option<u32>,
    /// Segments from the record to this node.
    depth: usize,
    /// A hash of the path, the same in every profile.
    path: u64,
    types: Types,
    records: u64,
    /// The last record (1-based) counted in `records`,
    last: u64,
    /// and the types it had here.
    last_types: Types,
}

impl Node {
    fn new(parent: u32, name: Box<str>, depth: usize, path: u64) -> Self {
        Node {
            parent,
            name,
            fields: FxMap::default(),
            elements: None,
            depth,
            path,
            types: 0,
            records: 0,
            last: 0,
            last_types: 0,
        }
    }
}

/// A path's hash and the types a record had there, as one term of a record's shape.
fn shape_term(path: u64, types: Types) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(&[types], path)
}

/// One path of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    pub path: String,
    pub types: Types,
    /// Records that had the path (once per record, however many array elements had it).
    pub records: u64,
}

/// The paths seen in the records of one stream run.
pub struct Profile {
    /// Node 0 is the record itself.
    nodes: Vec<Node>,
    records: u64,
    /// A field holding more records of the same shape (a tree): its elements are profiled
    /// as records' fields, not as paths below it.
    recursive: Option<&'static str>,
    truncated: bool,
    /// The shape of the record being profiled: the sum of its paths' [`shape_term`]s.
    shape: u64,
}

impl Default for Profile {
    fn default() -> Self {
        Profile::new(None)
    }
}

impl Profile {
    pub fn new(recursive: Option<&'static str>) -> Self {
        Profile {
            nodes: vec![Node::new(0, "".into(), 0, 0)],
            records: 0,
            recursive,
            truncated: false,
            shape: 0,
        }
    }

    /// Profiles one record (anything but an object only counts as a record) and returns its
    /// shape: a hash of the paths it has and the types it has at each, the same in every
    /// profile, so that records of one shape add the same to a profile. 0 stands for a shape
    /// not known (paths were dropped).
    pub fn record(&mut self, record: &Value) -> u64 {
        self.records += 1;
        self.shape = 1;
        if let Value::Object(obj) = record {
            self.object(0, obj, 0);
        }
        if self.truncated { 0 } else { self.shape.max(1) }
    }

    /// An empty profile of records of the same shape (for another thread to fill).
    pub fn blank(&self) -> Profile {
        Profile::new(self.recursive)
    }

    /// Adds the records `other` profiled (records of the same shape, each profiled by one
    /// of the two): their paths, types and counts.
    pub fn merge(&mut self, other: &Profile) {
        self.merge_times(other, 1);
    }

    /// Adds the records `other` profiled `times` over: for a profile of one record, as many
    /// records of its shape.
    pub fn merge_times(&mut self, other: &Profile, times: u64) {
        self.records += other.records * times;
        self.truncated |= other.truncated;
        // Nodes come after their parents, so each parent is placed before its children.
        let mut placed: Vec<Option<u32>> = vec![Some(0); other.nodes.len()];
        for (i, node) in other.nodes.iter().enumerate().skip(1) {
            let elements = other.nodes[node.parent as usize].elements == Some(i as u32);
            let here = placed[node.parent as usize].and_then(|parent| {
                if elements {
                    self.elements(parent)
                } else {
                    self.field(parent, &node.name)
                }
            });
            placed[i] = here;
            if let Some(here) = here {
                let n = &mut self.nodes[here as usize];
                n.types |= node.types;
                n.records += node.records * times;
            }
        }
    }

    /// Records profiled.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Whether paths were dropped at [`MAX_PATHS`].
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    fn object(&mut self, node: u32, obj: &serde_json::Map<String, Value>, nest: usize) {
        for (name, value) in obj {
            if node == 0
                && self.recursive == Some(name.as_str())
                && let Value::Array(items) = value
            {
                if let Some(field) = self.field(0, name) {
                    self.seen(field, ARRAY);
                }
                if nest < 64 {
                    for item in items {
                        if let Value::Object(child) = item {
                            self.object(0, child, nest + 1);
                        }
                    }
                }
                continue;
            }
            let Some(field) = self.field(node, name) else {
                continue;
            };
            self.value(field, value, nest);
        }
    }

    /// `nest`: trees folded so far (a bound on the recursion, not on the paths).
    fn value(&mut self, node: u32, value: &Value, nest: usize) {
        self.seen(node, type_of(value));
        if self.nodes[node as usize].depth >= MAX_DEPTH {
            return;
        }
        match value {
            Value::Object(obj) => self.object(node, obj, nest),
            Value::Array(items) => {
                if items.is_empty() {
                    return;
                }
                let Some(elements) = self.elements(node) else {
                    return;
                };
                for item in items {
                    self.value(elements, item, nest);
                }
            }
            _ => {}
        }
    }

    fn seen(&mut self, node: u32, ty: Types) {
        let records = self.records;
        let n = &mut self.nodes[node as usize];
        n.types |= ty;
        if n.last != records {
            n.last = records;
            n.records += 1;
            n.last_types = ty;
            self.shape = self.shape.wrapping_add(shape_term(n.path, ty));
        } else if ty & !n.last_types != 0 {
            let before = shape_term(n.path, n.last_types);
            n.last_types |= ty;
            self.shape = self
                .shape
                .wrapping_sub(before)
                .wrapping_add(shape_term(n.path, n.last_types));
        }
    }

    fn field(&mut self, node: u32, name: &str) -> Option<u32> {
        if let Some(&child) = self.nodes[node as usize].fields.get(name) {
            return Some(child);
        }
        let child = self.push(node, name.into())?;
        self.nodes[node as usize].fields.insert(name.into(), child);
        Some(child)
    }

    fn elements(&mut self, node: u32) -> Option<u32> {
        if let Some(child) = self.nodes[node as usize].elements {
            return Some(child);
        }
        let child = self.push(node, "[]".into())?;
        self.nodes[node as usize].elements = Some(child);
        Some(child)
    }

    fn push(&mut self, parent: u32, name: Box<str>) -> Option<u32> {
        if self.nodes.len() > MAX_PATHS {
            self.truncated = true;
            return None;
        }
        let above = &self.nodes[parent as usize];
        let (depth, path) = (
            above.depth + 1,
            xxhash_rust::xxh3::xxh3_64_with_seed(name.as_bytes(), above.path),
        );
        self.nodes.push(Node::new(parent, name, depth, path));
        Some((self.nodes.len() - 1) as u32)
    }

    /// Every path seen, with its types and the records that had it.
    pub fn paths(&self) -> Vec<PathStat> {
        let mut out = Vec::with_capacity(self.nodes.len().saturating_sub(1));
        for (i, node) in self.nodes.iter().enumerate().skip(1) {
            if node.records == 0 {
                continue;
            }
            out.push(PathStat {
                path: self.path(i as u32),
                types: node.types,
                records: node.records,
            });
        }
        out
    }

    fn path(&self, node: u32) -> String {
        let mut names = Vec::new();
        let mut n = node;
        while n != 0 {
            let node = &self.nodes[n as usize];
            names.push(&*node.name);
            n = node.parent;
        }
        let mut path = String::new();
        for name in names.iter().rev() {
            if !path.is_empty() && *name != "[]" {
                path.push('.');
            }
            path.push_str(name);
        }
        path
    }
}

/// The path `path` is part of (`a.b` of `a.b.c`, `a` of `a[]`), if any.
pub fn parent(path: &str) -> Option<&str> {
    if let Some(p) = path.strip_suffix("[]") {
        return Some(p);
    }
    path.rfind('.').map(|i| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stats(profile: &Profile) -> Vec<(String, Vec<&'static str>, u64)> {
        let mut all: Vec<_> = profile
            .paths()
            .into_iter()
            .map(|p| (p.path, type_names(p.types), p.records))
            .collect();
        all.sort();
        all
    }

    #[test]
    fn paths_types_and_record_counts() {
        let mut p = Profile::default();
        p.record(
            &json!({"id": 1, "netto": "1.50", "positions": [{"amount": 2}, {"amount": 2.5}],
            "contact": {"name": null}}),
        );
        p.record(&json!({"id": 2, "netto": 3, "positions": [], "contact": {"name": "x"}}));
        assert_eq!(
            stats(&p),
            vec![
                ("contact".into(), vec!["object"], 2),
                ("contact.name".into(), vec!["null", "string"], 2),
                ("id".into(), vec!["integer"], 2),
                ("netto".into(), vec!["integer", "string"], 2),
                ("positions".into(), vec!["array"], 2),
                ("positions[]".into(), vec!["object"], 1),
                ("positions[].amount".into(), vec!["integer", "number"], 1),
            ]
        );
        assert_eq!(p.records(), 2);

        // Records profiled in two parts (on two threads), merged: the profile of them all.
        let second = json!({"id": 1, "netto": "1.50", "positions": [{"amount": 2}, {"amount": 2.5}],
            "contact": {"name": null}, "[]": [{"[]": 1}], "deep": {"a": {"b": [[1]]}}});
        let first = json!({"id": 2, "netto": 3, "positions": [], "contact": {"name": "x"}});
        let mut whole = Profile::default();
        whole.record(&first);
        whole.record(&second);
        let mut one = Profile::default();
        one.record(&first);
        let mut two = one.blank();
        two.record(&second);
        one.merge(&two);
        assert_eq!(stats(&one), stats(&whole));
        assert_eq!(one.records(), 2);
        assert_eq!(parent("positions[].amount"), Some("positions[]"));
        assert_eq!(parent("positions[]"), Some("positions"));
        assert_eq!(parent("id"), None);
    }

    #[test]
    fn records_of_one_shape_add_the_same_as_one_of_them_times_their_number() {
        let a = json!({"id": 1, "netto": "1.50", "positions": [{"amount": 2}, {"amount": 2.5}],
            "contact": {"name": null}});
        // Other values and order, the same paths and types: the same shape.
        let a2 = json!({"contact": {"name": null}, "positions": [{"amount": 2.5}, {"amount": 7}],
            "netto": "9", "id": 8});
        // One more type at one path, one path less, a value moved to another path: not.
        let others = [
            json!({"id": 1, "netto": "1.50", "positions": [{"amount": 2}, {"amount": "x"}],
                "contact": {"name": null}}),
            json!({"id": 1, "netto": "1.50", "positions": [], "contact": {"name": null}}),
            json!({"id": 1, "netto": "1.50", "positions": [{"amount": 2}, {"amount": 2.5}],
                "contact": {"nome": null}}),
            json!({"id": 1, "netto": "1.50", "positions": [{"amount": 2.5}, {"amount": 1}, {"amount": 3}],
                "contact": {"name": null}}),
        ];
        let mut fresh = Profile::default();
        let shape = fresh.record(&a);
        let mut used = Profile::default();
        used.record(&others[0]);
        assert_eq!(used.record(&a2), shape, "the same in another profile");
        for other in &others[..3] {
            assert_ne!(Profile::default().record(other), shape, "{other}");
        }
        assert_eq!(
            Profile::default().record(&others[3]),
            shape,
            "three elements or two, of the same types: the same paths and types"
        );

        let mut counted = Profile::default();
        counted.record(&others[1]);
        let mut whole = Profile::default();
        whole.record(&others[1]);
        for _ in 0..5 {
            whole.record(&a2);
        }
        counted.merge_times(&fresh, 5);
        assert_eq!(stats(&counted), stats(&whole));
        assert_eq!(counted.records(), 6);

        let mut wide = Profile::default();
        let fields: serde_json::Map<String, Value> = (0..MAX_PATHS + 50)
            .map(|i| (format!("f{i}"), json!(i)))
            .collect();
        assert_eq!(
            wide.record(&Value::Object(fields)),
            0,
            "paths dropped: unknown"
        );
    }

    #[test]
    fn depth_is_capped_and_trees_fold_into_the_record() {
        let mut p = Profile::default();
        p.record(&json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}));
        let paths: Vec<String> = p.paths().into_iter().map(|s| s.path).collect();
        assert!(paths.contains(&"a.b.c.d.e.f".to_string()), "{paths:?}");
        assert!(!paths.iter().any(|p| p.ends_with(".g")), "{paths:?}");

        let mut tree = Profile::new(Some("children"));
        tree.record(&json!({"id": 1, "children": [{"id": 2, "name": "x", "children": []}]}));
        assert_eq!(
            stats(&tree),
            vec![
                ("children".into(), vec!["array"], 1),
                ("id".into(), vec!["integer"], 1),
                ("name".into(), vec!["string"], 1),
            ]
        );
    }

    #[test]
    fn paths_are_capped() {
        let mut p = Profile::default();
        let wide: serde_json::Map<String, Value> = (0..MAX_PATHS + 50)
            .map(|i| (format!("f{i}"), json!(i)))
            .collect();
        p.record(&Value::Object(wide));
        assert!(p.truncated());
        assert!(p.paths().len() <= MAX_PATHS);
    }

    /// Not a benchmark (debug builds say little); run with
    /// `cargo test --release profile_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn profile_cost() {
        let record = json!({"id": 7, "zuHaenden": "A", "netto": "1.50", "brutto": 2.5,
            "kunde": {"id": 3, "name": "x", "ort": "y"}, "datum": "2024-01-01",
            "positions": [{"id": 1, "amount": 2, "text": "t", "tasks": [{"id": 101}, {"id": 102}]},
                          {"id": 2, "amount": 3.5, "text": "u"}]});
        let mut p = Profile::default();
        let n = 1_000_000;
        let started = std::time::Instant::now();
        for _ in 0..n {
            p.record(std::hint::black_box(&record));
        }
        let per = started.elapsed() / n;
        // For scale, in the same build: serializing the record, which normalizing does once
        // per row for `raw`.
        let started = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..n {
            bytes += serde_json::to_string(std::hint::black_box(&record))
                .unwrap()
                .len();
        }
        let serialize = started.elapsed() / n;
        println!(
            "{per:?} per record of {} paths; serializing it: {serialize:?} ({bytes} bytes)",
            p.paths().len()
        );
    }
}
