//! Normalization: how one source record (a JSON object, possibly with nested child arrays)
//! becomes typed rows of its table and the child tables, in PostgreSQL's COPY text format.
//! A record that does not fit is rejected as a whole with a reason naming the field, and
//! the keys readable in it are kept so that what is stored under them stays. It knows
//! nothing about HTTP or transactions.

use std::collections::HashSet;

use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::table::{Column, Table};
use super::values::{convert, kind, row_line, unstorable};

/// Rows of one record, per table index, in COPY text format.
pub type RecordRows = Vec<(usize, String)>;

/// A record's rows and root keys, or why it does not fit (see [`Normalizer::prepare`]).
pub type Prepared = Result<(RecordRows, Vec<String>), String>;

/// Turns records into rows.
pub struct Normalizer {
    root: Table,
    tz: Tz,
    seen_root_keys: HashSet<String>,
}

/// A record that could not be normalized.
#[derive(Debug)]
pub struct Rejected {
    /// The record's root key values, when they could be read.
    pub key: Option<Vec<String>>,
    /// Every root-table key readable in the record (for a tree, all its nodes'): rows stored
    /// under them must be kept as they are.
    pub keep: Vec<Vec<String>>,
    pub error: String,
}

impl Normalizer {
    pub fn new(root: Table, tz: Tz) -> Self {
        Self {
            root,
            tz,
            seen_root_keys: HashSet::new(),
        }
    }

    /// Normalizes one top-level record into rows of the root table and its children.
    /// Returns the rows and the record's key.
    pub fn record(&mut self, record: &Value) -> Result<RecordRows, Rejected> {
        let prepared = self.prepare(record);
        self.admit(prepared)
            .map_err(|error| self.rejected(record, error))
    }

    /// A record's rows and the root keys they hold, or why it does not fit: all of
    /// [`Normalizer::record`] but the check against the keys of the records before it, so
    /// that records can be prepared on other threads.
    pub fn prepare(&self, record: &Value) -> Prepared {
        if let Some(problem) = unstorable(record, "") {
            return Err(problem);
        }
        let mut rows = Vec::new();
        let mut root_keys = Vec::new();
        self.rows(&self.root, 0, record, &[], 0, &mut rows, &mut root_keys)?;
        Ok((rows, root_keys))
    }

    /// A prepared record, taken in the listing's order: its rows, or why it is refused (it
    /// did not fit, or one of its root keys came before or twice in it).
    pub fn admit(&mut self, prepared: Prepared) -> Result<RecordRows, String> {
        let (rows, root_keys) = prepared?;
        let mut in_record = HashSet::new();
        for k in &root_keys {
            if self.seen_root_keys.contains(k) || !in_record.insert(k) {
                return Err(format!("duplicate key {k} in the listing"));
            }
        }
        self.seen_root_keys.extend(root_keys);
        Ok(rows)
    }

    /// A record refused for `error`, with the keys readable in it (the rows stored under
    /// them stay).
    pub fn rejected(&self, record: &Value, error: String) -> Rejected {
        let mut keep = Vec::new();
        self.readable_keys(record, 0, &mut keep);
        Rejected {
            key: keep.first().cloned(),
            keep,
            error,
        }
    }

    /// A record of the listing that is not storable as it came (not valid JSON, or over
    /// the size limit), of which `head` are the first bytes: its root key is looked for in
    /// them (the first `"field": value` of each key column), so that the row stored for it
    /// before is kept.
    pub fn unreadable(&self, head: &[u8], error: String) -> Rejected {
        let text = String::from_utf8_lossy(head);
        let mut found = Map::new();
        for column in &self.root.key {
            let names: &[&str] = if column.fields.is_empty() {
                std::slice::from_ref(&column.name)
            } else {
                column.fields
            };
            if let Some((name, value)) = names
                .iter()
                .find_map(|name| sniff(&text, name).map(|v| (*name, v)))
            {
                found.insert(name.to_string(), value);
            }
        }
        let key = self.root_key(&found).ok();
        Rejected {
            keep: key.iter().cloned().collect(),
            key,
            error,
        }
    }

    /// The root key of a record, when it can be read.
    pub fn key_of(&self, record: &Value) -> Option<Vec<String>> {
        record.as_object().and_then(|obj| self.root_key(obj).ok())
    }

    /// Root keys that can be read from `value` and, for a tree, from its descendants.
    fn readable_keys(&self, value: &Value, depth: usize, out: &mut Vec<Vec<String>>) {
        let Some(obj) = value.as_object() else { return };
        if let Ok(key) = self.root_key(obj) {
            out.push(key);
        }
        if let (Some(field), true) = (self.root.recursive, depth < 64)
            && let Some(Value::Array(children)) = obj.get(field)
        {
            for child in children {
                self.readable_keys(child, depth + 1, out);
            }
        }
    }

    fn root_key(&self, obj: &Map<String, Value>) -> Result<Vec<String>, String> {
        self.root
            .key
            .iter()
            .map(|c| key_value(c, obj, self.tz))
            .collect()
    }

    /// Writes the rows of `value` (a row of `table` under `parent_key`) and its
    /// descendants to `out`; returns the row's own key values (without its parent's).
    #[allow(clippy::too_many_arguments)]
    fn rows(
        &self,
        table: &Table,
        index: usize,
        value: &Value,
        parent_key: &[String],
        depth: usize,
        out: &mut RecordRows,
        root_keys: &mut Vec<String>,
    ) -> Result<Vec<String>, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| format!("expected an object, got {}", kind(value)))?;
        let own = table.key[table.inherited..]
            .iter()
            .map(|column| key_value(column, obj, self.tz))
            .collect::<Result<Vec<String>, String>>()?;
        // Each value is stored once: nested arrays that have tables of their own are left
        // out of this row's `raw` (their rows keep them).
        let raw = Own { obj, table };
        let full_key = || parent_key.iter().chain(&own);
        out.push((index, row_line(table, full_key(), obj, &raw, self.tz)?));
        if table.recursive.is_some() || depth == 0 {
            root_keys.push(joined(full_key()));
        }

        if let Some(field) = table.recursive {
            if depth > 64 {
                return Err(format!("`{field}` nests deeper than 64 levels"));
            }
            for (i, child) in array(obj, field)?.iter().enumerate() {
                self.rows(table, index, child, &[], depth + 1, out, root_keys)
                    .map_err(|e| format!("{field}[{i}]: {e}"))?;
            }
        }
        let mut child_index = index + 1;
        // The children's key begins with this row's key: built once, and only for a row that
        // has children (most rows are leaves).
        let key: Vec<String> = if table.children.is_empty() {
            Vec::new()
        } else {
            full_key().cloned().collect()
        };
        for (field, child_table) in &table.children {
            // Siblings share the parent's part of the key: their own parts tell them apart.
            let mut seen = HashSet::new();
            for (i, child) in array(obj, field)?.iter().enumerate() {
                let child_own = self
                    .rows(
                        child_table,
                        child_index,
                        child,
                        &key,
                        depth + 1,
                        out,
                        root_keys,
                    )
                    .map_err(|e| format!("{field}[{i}]: {e}"))?;
                if let Some(twice) = seen.replace(child_own) {
                    return Err(format!(
                        "{field}[{i}]: duplicate key {}",
                        joined(key.iter().chain(&twice))
                    ));
                }
            }
            child_index += child_table.flatten().len();
        }
        Ok(own)
    }
}

/// Key values joined with `/`, as keys are spelled in messages and in the listing's checks.
fn joined<'k>(parts: impl Iterator<Item = &'k String>) -> String {
    let mut out = String::new();
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(part);
    }
    out
}

/// A record's own fields: without the nested arrays its table's children (or its tree) take.
struct Own<'a> {
    obj: &'a Map<String, Value>,
    table: &'a Table,
}

impl Own<'_> {
    fn is_nested(&self, field: &str) -> bool {
        self.table.children.iter().any(|(f, _)| *f == field) || self.table.recursive == Some(field)
    }
}

impl serde::Serialize for Own<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (field, value) in self.obj {
            if !self.is_nested(field) {
                map.serialize_entry(field, value)?;
            }
        }
        map.end()
    }
}

fn array<'v>(obj: &'v Map<String, Value>, field: &str) -> Result<&'v [Value], String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(format!("`{field}` should be an array, got {}", kind(other))),
    }
}

/// The scalar value of the top-level key `name` of the object `text` begins, if it can be
/// read (keys of nested objects, and strings that merely say `name`, do not count).
fn sniff(text: &str, name: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let key = text.get(start..=i.min(bytes.len() - 1))?;
                let rest = text.get(i + 1..)?.trim_start();
                if depth == 1
                    && key == format!("\"{name}\"")
                    && let Some(value) = rest.strip_prefix(':')
                {
                    return scalar(value.trim_start());
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The JSON scalar (number or plain string) `text` begins with.
fn scalar(text: &str) -> Option<Value> {
    let end = if let Some(rest) = text.strip_prefix('"') {
        rest.find('"')? + 2
    } else {
        text.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.')))
            .unwrap_or(text.len())
    };
    serde_json::from_str(&text[..end]).ok()
}

fn key_value(column: &Column, obj: &Map<String, Value>, tz: Tz) -> Result<String, String> {
    let (field, value) = column.lookup(obj).ok_or_else(|| {
        format!(
            "key field `{}` is missing",
            column.fields.first().unwrap_or(&column.name)
        )
    })?;
    convert(column.ty, value, tz)
        .map_err(|e| format!("key field `{field}`: {e}"))?
        .ok_or_else(|| format!("key field `{field}` is null"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::table::ColType;
    use chrono_tz::Europe::Berlin;
    use serde_json::json;

    #[test]
    fn a_key_is_sniffed_from_the_top_level_of_an_unreadable_record() {
        assert_eq!(
            sniff(
                r#"{"contact":{"id":5},"label":"id","id":42,"x":"\ud800"}"#,
                "id"
            ),
            Some(Value::from(42))
        );
        assert_eq!(
            sniff(r#"{"a":[{"id":1}],"id":"A-7"}"#, "id"),
            Some(Value::from("A-7"))
        );
        assert_eq!(sniff(r#"{"a":{"id":1}"#, "id"), None);
    }

    fn orders() -> Table {
        Table {
            name: "t.orders",
            key: vec![Column::new("id", ColType::Int)],
            inherited: 0,
            columns: vec![
                Column::new("zu_haenden", ColType::Text).from(&["zuHaenden", "zu_haenden"]),
                Column::new("netto", ColType::Numeric),
            ],
            children: vec![(
                "positions",
                Table {
                    name: "t.positions",
                    key: vec![
                        Column::new("order_id", ColType::Int),
                        Column::new("id", ColType::Int),
                    ],
                    inherited: 1,
                    columns: vec![],
                    children: vec![(
                        "tasks",
                        Table {
                            name: "t.tasks",
                            key: vec![
                                Column::new("order_id", ColType::Int),
                                Column::new("position_id", ColType::Int),
                                Column::new("id", ColType::Int),
                            ],
                            inherited: 2,
                            columns: vec![],
                            children: vec![],
                            recursive: None,
                        },
                    )],
                    recursive: None,
                },
            )],
            recursive: None,
        }
    }

    #[test]
    fn nested_records_flatten_with_parent_keys_and_escaped_text() {
        let table = orders();
        let mut n = Normalizer::new(table, Berlin);
        let record = json!({"id": 7, "zuHaenden": "A\tB\\C\nD", "netto": "1.50",
            "positions": [{"id": 1, "tasks": [{"id": 101}, {"id": 102}]}, {"id": 2}]});
        let rows = n.record(&record).unwrap();
        let tables: Vec<usize> = rows.iter().map(|(i, _)| *i).collect();
        assert_eq!(tables, vec![0, 1, 2, 2, 1]);
        assert!(rows[0].1.starts_with("7\tA\\tB\\\\C\\nD\t1.50\t{"));
        assert!(rows[3].1.starts_with("7\t1\t102\t{"));
        assert!(
            !rows[1].1.contains("tasks"),
            "child raw leaves out its own children"
        );
        let err = n.record(&json!({"id": 7})).unwrap_err();
        assert!(err.error.contains("duplicate key 7"));
        let err = n.record(&json!({"id": 8, "netto": "abc"})).unwrap_err();
        assert_eq!(err.key, Some(vec!["8".to_string()]));
        assert!(
            err.error.contains("`netto`") && err.error.contains("abc"),
            "{}",
            err.error
        );
        let err = n
            .record(&json!({"id": 9, "positions": [{"id": 1}, {"id": 1}]}))
            .unwrap_err();
        assert!(
            err.error.contains("positions[1]: duplicate key 9/1"),
            "{}",
            err.error
        );
        let err = n
            .record(&json!({"id": 10, "subject": "a\u{0}b"}))
            .unwrap_err();
        assert!(err.error.contains("NUL"), "{}", err.error);
        assert!(
            n.record(&json!({"id": 11, "zuHaenden": "C:\\u0000dir"}))
                .is_ok()
        );
    }

    #[test]
    fn trees_flatten_and_a_bad_node_keeps_every_readable_key() {
        let table = Table {
            name: "t.folders",
            key: vec![Column::new("id", ColType::Int)],
            inherited: 0,
            columns: vec![Column::new("parent_id", ColType::Int)],
            children: vec![],
            recursive: Some("children"),
        };
        let mut n = Normalizer::new(table, Berlin);
        let tree = json!({"id": 1, "children": [{"id": 2, "parent_id": 1, "children": [{"id": 3, "parent_id": 2}]}]});
        let rows = n.record(&tree).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(
            rows.iter()
                .all(|(i, line)| *i == 0 && !line.contains("children"))
        );
        let bad = json!({"id": 4, "children": [{"id": 5, "parent_id": "abc"}, {"id": 6, "parent_id": 4}]});
        let err = n.record(&bad).unwrap_err();
        assert_eq!(
            err.keep,
            vec![vec!["4".to_string()], vec!["5".into()], vec!["6".into()]]
        );
        let twice = json!({"id": 7, "children": [{"id": 8}, {"id": 8}]});
        assert!(
            n.record(&twice)
                .unwrap_err()
                .error
                .contains("duplicate key 8")
        );
    }
}
