//! Table specs and normalization: how one source record (a JSON object, possibly with nested
//! child arrays) becomes typed rows of one or more tables. Values are checked here, in Rust,
//! and rendered in PostgreSQL's COPY text format; a record that does not fit is rejected as a
//! whole with a reason naming the field. It knows nothing about HTTP or transactions.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

/// The column types tributary maps source fields to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int,
    /// Exact decimal; the text as served is kept (scale included).
    Numeric,
    Text,
    Date,
    /// Company local time without offset, converted with the source's zone; values with an
    /// offset are taken as they are.
    LocalTimestamp,
    Bool,
    /// Epoch milliseconds (a number or digits) as `timestamptz`, exact to the millisecond.
    EpochMillis,
    /// Any JSON value (objects of custom fields, nested schedules) as `jsonb`.
    Json,
}

impl ColType {
    pub fn sql(self) -> &'static str {
        match self {
            ColType::Int => "bigint",
            ColType::Numeric => "numeric",
            ColType::Text => "text",
            ColType::Date => "date",
            ColType::LocalTimestamp => "timestamptz",
            ColType::Bool => "boolean",
            ColType::EpochMillis => "timestamptz",
            ColType::Json => "jsonb",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    /// Source field names, first present wins; empty means the column's own name.
    pub fields: &'static [&'static str],
}

impl Column {
    pub const fn new(name: &'static str, ty: ColType) -> Self {
        Self {
            name,
            ty,
            fields: &[],
        }
    }

    /// The column is read from these source fields (spellings differ between endpoints).
    pub const fn from(mut self, fields: &'static [&'static str]) -> Self {
        self.fields = fields;
        self
    }

    /// The first present field; `a.b` reads field `b` of the object in field `a`.
    fn lookup<'v>(&self, obj: &'v Map<String, Value>) -> Option<(&'static str, &'v Value)> {
        if self.fields.is_empty() {
            return obj.get(self.name).map(|v| (self.name, v));
        }
        self.fields.iter().find_map(|f| {
            let mut parts = f.split('.');
            let first = obj.get(parts.next()?)?;
            parts
                .try_fold(first, |v, part| v.get(part))
                .map(|v| (*f, v))
        })
    }
}

/// A target table and, recursively, the tables its nested arrays land in.
#[derive(Debug, Clone)]
pub struct Table {
    /// Schema-qualified name, e.g. `planningnow.orders`.
    pub name: &'static str,
    /// Key columns: first `inherited` of them are the parent's key, the rest come from the
    /// record itself.
    pub key: Vec<Column>,
    pub inherited: usize,
    pub columns: Vec<Column>,
    /// Nested arrays (field name, table) whose elements are rows of a child table.
    pub children: Vec<(&'static str, Table)>,
    /// A nested field holding more rows of this same table (a tree, e.g. folders).
    pub recursive: Option<&'static str>,
}

impl Table {
    /// This table and all its descendants, depth first; the position is the table's index
    /// in every per-table array of a stream.
    pub fn flatten(&self) -> Vec<&Table> {
        let mut out = vec![self];
        for (_, child) in &self.children {
            out.extend(child.flatten());
        }
        out
    }

    /// Key columns, data columns, then `raw`: the column order of staged rows.
    pub fn staged_columns(&self) -> Vec<(&'static str, &'static str)> {
        self.key
            .iter()
            .chain(&self.columns)
            .map(|c| (c.name, c.ty.sql()))
            .chain([("raw", "jsonb")])
            .collect()
    }
}

/// Rows of one record, per table index, in COPY text format.
pub type RecordRows = Vec<(usize, String)>;

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
        let reject = |error: String| {
            let mut keep = Vec::new();
            self.readable_keys(record, 0, &mut keep);
            Rejected {
                key: keep.first().cloned(),
                keep,
                error,
            }
        };
        if let Some(problem) = unstorable(record, "") {
            return Err(reject(problem));
        }
        let mut rows = Vec::new();
        let mut root_keys = Vec::new();
        if let Err(e) = self.rows(
            &self.root,
            0,
            record,
            &[],
            0,
            true,
            &mut rows,
            &mut root_keys,
        ) {
            return Err(reject(e));
        }
        let mut in_record = HashSet::new();
        for k in &root_keys {
            if self.seen_root_keys.contains(k) || !in_record.insert(k) {
                return Err(reject(format!("duplicate key {k} in the listing")));
            }
        }
        self.seen_root_keys.extend(root_keys);
        Ok(rows)
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
        if let (Some(field), true) = (self.root.recursive, depth < 64) {
            if let Some(Value::Array(children)) = obj.get(field) {
                for child in children {
                    self.readable_keys(child, depth + 1, out);
                }
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

    #[allow(clippy::too_many_arguments)]
    fn rows(
        &self,
        table: &Table,
        index: usize,
        value: &Value,
        parent_key: &[String],
        depth: usize,
        whole_raw: bool,
        out: &mut RecordRows,
        root_keys: &mut Vec<String>,
    ) -> Result<Vec<String>, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| format!("expected an object, got {}", kind(value)))?;
        let mut key: Vec<String> = parent_key.to_vec();
        for column in &table.key[table.inherited..] {
            key.push(key_value(column, obj, self.tz)?);
        }
        let raw = if whole_raw && table.recursive.is_none() {
            serde_json::to_string(value)
        } else {
            let mut own = obj.clone();
            for (field, _) in &table.children {
                own.remove(*field);
            }
            if let Some(field) = table.recursive {
                own.remove(field);
            }
            serde_json::to_string(&own)
        }
        .map_err(|e| e.to_string())?;
        out.push((index, row_line(table, &key, obj, &raw, self.tz)?));
        if table.recursive.is_some() || depth == 0 {
            root_keys.push(key.join("/"));
        }

        if let Some(field) = table.recursive {
            if depth > 64 {
                return Err(format!("`{field}` nests deeper than 64 levels"));
            }
            for (i, child) in array(obj, field)?.iter().enumerate() {
                self.rows(table, index, child, &[], depth + 1, false, out, root_keys)
                    .map_err(|e| format!("{field}[{i}]: {e}"))?;
            }
        }
        let mut child_index = index + 1;
        for (field, child_table) in &table.children {
            let mut seen = HashSet::new();
            for (i, child) in array(obj, field)?.iter().enumerate() {
                let child_key = self
                    .rows(
                        child_table,
                        child_index,
                        child,
                        &key,
                        depth + 1,
                        false,
                        out,
                        root_keys,
                    )
                    .map_err(|e| format!("{field}[{i}]: {e}"))?;
                if !seen.insert(child_key.clone()) {
                    return Err(format!(
                        "{field}[{i}]: duplicate key {}",
                        child_key.join("/")
                    ));
                }
            }
            child_index += child_table.flatten().len();
        }
        Ok(key)
    }
}

/// Why PostgreSQL could not store `value` (in `raw jsonb` or a column), if it could not: a
/// NUL character in a string or key, or a number beyond `numeric`. `path` names where.
pub fn unstorable(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(s) if s.contains('\0') => Some(format!(
            "`{path}` contains a NUL character, which PostgreSQL cannot store"
        )),
        Value::Number(n) if !storable_number(&n.to_string()) => Some(format!(
            "`{path}` is the number {}, beyond what PostgreSQL's numeric can hold",
            excerpt(&n.to_string())
        )),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| unstorable(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let at = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                return Some(format!(
                    "a key in `{path}` contains a NUL character, which PostgreSQL cannot store"
                ));
            }
            unstorable(v, &at)
        }),
        _ => None,
    }
}

/// Whether PostgreSQL's `numeric` (and so `jsonb`) accepts the JSON number `text`: an
/// exponent within ±1000, at most 131072 digits before the point and 16383 after.
pub fn storable_number(text: &str) -> bool {
    let unsigned = text.trim_start_matches('-');
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => match unsigned[at + 1..].parse::<i64>() {
            Ok(e) => (&unsigned[..at], e),
            Err(_) => return false,
        },
        None => (unsigned, 0),
    };
    if !(-1000..=1000).contains(&exponent) {
        return false;
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let int_digits = int.trim_start_matches('0').len() as i64 + exponent;
    let frac_digits = frac.len() as i64 - exponent;
    int_digits <= 131_072 && frac_digits <= 16_383
}

fn excerpt(text: &str) -> String {
    if text.len() <= 40 {
        text.to_string()
    } else {
        format!("{}… ({} characters)", &text[..40], text.len())
    }
}

/// One staged row in COPY text format: the key values, the table's columns read from `obj`,
/// and `raw` (serialized JSON).
pub fn row_line(
    table: &Table,
    key: &[String],
    obj: &Map<String, Value>,
    raw: &str,
    tz: Tz,
) -> Result<String, String> {
    let mut line = String::with_capacity(256 + raw.len());
    for k in key {
        push_field(&mut line, Some(k));
    }
    for column in &table.columns {
        let text = match column.lookup(obj) {
            Some((field, v)) => {
                convert(column.ty, v, tz).map_err(|e| format!("field `{field}`: {e}"))?
            }
            None => None,
        };
        push_field(&mut line, text.as_deref());
    }
    push_field(&mut line, Some(raw));
    line.pop();
    line.push('\n');
    Ok(line)
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
                if depth == 1 && key == format!("\"{name}\"") {
                    if let Some(value) = rest.strip_prefix(':') {
                        return scalar(value.trim_start());
                    }
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

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Converts one source value to the COPY text of its column type (`None` is NULL).
pub fn convert(ty: ColType, value: &Value, tz: Tz) -> Result<Option<String>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let bad = |what: &str| Err(format!("{value} is not {what}"));
    match ty {
        ColType::Text => Ok(Some(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
        ColType::Int => match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Ok(Some(i.to_string())),
                None => bad("an integer"),
            },
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Ok(Some(i.to_string())),
                Err(_) => bad("an integer"),
            },
            _ => bad("an integer"),
        },
        ColType::Numeric => match value {
            Value::Number(n) if is_decimal(&n.to_string()) => Ok(Some(n.to_string())),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) if is_decimal(s.trim()) => Ok(Some(s.trim().to_string())),
            _ => bad("a decimal number"),
        },
        ColType::Bool => match value {
            Value::Bool(b) => Ok(Some(b.to_string())),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(Some("false".into())),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Some("true".into())),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "" => Ok(None),
                "true" | "t" | "1" | "yes" => Ok(Some("true".into())),
                "false" | "f" | "0" | "no" => Ok(Some("false".into())),
                _ => bad("a boolean"),
            },
            _ => bad("a boolean"),
        },
        ColType::EpochMillis => {
            let millis = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) if s.trim().is_empty() => return Ok(None),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match millis.and_then(DateTime::<Utc>::from_timestamp_millis) {
                Some(t) if (1..=9999).contains(&t.year()) => {
                    Ok(Some(t.to_rfc3339_opts(SecondsFormat::Millis, true)))
                }
                _ => bad("epoch milliseconds"),
            }
        }
        ColType::Json => Ok(Some(value.to_string())),
        ColType::Date => match value.as_str().map(str::trim) {
            Some("" | "0000-00-00") => Ok(None),
            Some(s) => match parse_date(s) {
                Some(d) => Ok(Some(d.to_string())),
                None => bad("a date (YYYY-MM-DD, years 1 to 9999)"),
            },
            None => bad("a date (YYYY-MM-DD)"),
        },
        ColType::LocalTimestamp => match value.as_str().map(str::trim) {
            Some("" | "0000-00-00 00:00:00" | "0000-00-00") => Ok(None),
            Some(s) => match parse_timestamp(s, tz).filter(|t| (1..=9999).contains(&t.year())) {
                Some(t) => Ok(Some(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))),
                None => bad("a timestamp (YYYY-MM-DD HH:MM:SS, years 1 to 9999)"),
            },
            None => bad("a timestamp (YYYY-MM-DD HH:MM:SS)"),
        },
    }
}

/// A date, or the date of a date-time; years 1 to 9999 (what PostgreSQL and chrono agree on).
fn parse_date(s: &str) -> Option<NaiveDate> {
    let date = if s.len() == 10 {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?
    } else {
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?
            .date()
    };
    (1..=9999).contains(&date.year()).then_some(date)
}

/// `[+-]digits[.digits][e[+-]digits]`, as PostgreSQL's numeric reads it exactly, with at most
/// 1000 digits and an exponent of at most 1000 either way (far inside numeric's range).
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = !(int.is_empty() && frac.is_empty())
        && digits(int)
        && digits(frac)
        && int.len() + frac.len() <= 1000;
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.len() <= 4 && digits(e) && e.parse::<u32>().is_ok_and(|n| n <= 1000)
    });
    mantissa_ok && exponent_ok
}

/// A local wall-clock time in `tz` (or any RFC 3339 time) as UTC. A time that does not
/// exist (spring-forward gap) is read with the offset in force before the gap; an ambiguous
/// one (fall-back) as its first occurrence.
pub fn parse_timestamp(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?;
    Some(match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let before = tz
                .offset_from_utc_datetime(&(naive - chrono::Duration::days(1)))
                .fix();
            (naive - chrono::Duration::seconds(before.local_minus_utc().into())).and_utc()
        }
    })
}

/// One COPY text line of non-null values.
pub fn copy_line(values: &[String]) -> String {
    let mut line = String::new();
    for v in values {
        push_field(&mut line, Some(v));
    }
    line.pop();
    line.push('\n');
    line
}

/// Appends one COPY text field and a tab.
fn push_field(line: &mut String, value: Option<&str>) {
    match value {
        None => line.push_str("\\N"),
        Some(v) => {
            for ch in v.chars() {
                match ch {
                    '\\' => line.push_str("\\\\"),
                    '\n' => line.push_str("\\n"),
                    '\r' => line.push_str("\\r"),
                    '\t' => line.push_str("\\t"),
                    c => line.push(c),
                }
            }
        }
    }
    line.push('\t');
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;
    use serde_json::json;

    fn utc(s: &str) -> String {
        parse_timestamp(s, Berlin).unwrap().to_rfc3339()
    }

    #[test]
    fn local_times_convert_across_daylight_saving() {
        assert_eq!(utc("2025-09-20 08:00:00"), "2025-09-20T06:00:00+00:00");
        assert_eq!(utc("2025-01-20 08:00:00"), "2025-01-20T07:00:00+00:00");
        // 02:30 does not exist on 2025-03-30 in Berlin: read with the winter offset.
        assert_eq!(utc("2025-03-30 02:30:00"), "2025-03-30T01:30:00+00:00");
        // 02:30 happens twice on 2025-10-26: the first (summer time) is taken.
        assert_eq!(utc("2025-10-26 02:30:00"), "2025-10-26T00:30:00+00:00");
        assert_eq!(
            utc("2025-10-26T02:30:00+01:00"),
            "2025-10-26T01:30:00+00:00"
        );
    }

    #[test]
    fn decimals_are_kept_exactly_and_garbage_is_refused() {
        for ok in ["8500.00", "1.850", "-0.5", ".5", "12", "1e3", "+7.25"] {
            assert_eq!(
                convert(ColType::Numeric, &json!(ok), Berlin),
                Ok(Some(ok.to_string()))
            );
        }
        for bad in ["abc", "1,50", "1.2.3", "", "e5", "1e", "NaN", "1_000"] {
            let r = convert(ColType::Numeric, &json!(bad), Berlin);
            if bad.is_empty() {
                assert_eq!(r, Ok(None));
            } else {
                assert!(r.is_err(), "{bad} accepted");
            }
        }
        assert_eq!(
            convert(ColType::Numeric, &json!(2), Berlin),
            Ok(Some("2".into()))
        );
    }

    #[test]
    fn dates_ints_bools_and_zero_dates() {
        assert_eq!(
            convert(ColType::Date, &json!("2025-08-15"), Berlin),
            Ok(Some("2025-08-15".into()))
        );
        assert_eq!(
            convert(ColType::Date, &json!("0000-00-00"), Berlin),
            Ok(None)
        );
        assert!(convert(ColType::Date, &json!("15.08.2025"), Berlin).is_err());
        for bad in ["2025-8-1", "0000-01-01", "2025-08-15x", "2025-08-1"] {
            assert!(
                convert(ColType::Date, &json!(bad), Berlin).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            convert(ColType::Date, &json!("2025-08-15 10:00:00"), Berlin),
            Ok(Some("2025-08-15".into()))
        );
        assert!(
            convert(
                ColType::LocalTimestamp,
                &json!("0001-01-01 00:00:00"),
                Berlin
            )
            .is_err()
        );
        let long = format!("0.{}", "1".repeat(1001));
        assert!(convert(ColType::Numeric, &json!(long), Berlin).is_err());
        assert!(convert(ColType::Numeric, &json!("1e-9999"), Berlin).is_err());
        let exact: Value =
            serde_json::from_str("[8500.10, 123456789012345678901234567890]").unwrap();
        assert_eq!(
            convert(ColType::Numeric, &exact[0], Berlin),
            Ok(Some("8500.10".into()))
        );
        assert_eq!(
            convert(ColType::Numeric, &exact[1], Berlin),
            Ok(Some("123456789012345678901234567890".into()))
        );
        assert_eq!(
            convert(ColType::Int, &json!("42"), Berlin),
            Ok(Some("42".into()))
        );
        assert!(convert(ColType::Int, &json!(1.5), Berlin).is_err());
        assert_eq!(
            convert(ColType::Bool, &json!(0), Berlin),
            Ok(Some("false".into()))
        );
        assert_eq!(
            convert(ColType::EpochMillis, &json!(1_731_234_567_891_i64), Berlin),
            Ok(Some("2024-11-10T10:29:27.891Z".into()))
        );
        assert!(convert(ColType::EpochMillis, &json!("soon"), Berlin).is_err());
        assert_eq!(
            convert(ColType::Json, &json!({"a": [1, "x"]}), Berlin),
            Ok(Some(r#"{"a":[1,"x"]}"#.into()))
        );
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

#[cfg(test)]
mod storable_tests {
    use super::*;

    #[test]
    fn numbers_beyond_numeric_and_nul_are_unstorable() {
        let v: Value = serde_json::from_str(r#"{"a":[1,{"b":1e999999}],"c":"x"}"#).unwrap();
        let problem = unstorable(&v, "").expect("unstorable");
        assert!(problem.contains("`a[1].b`"), "{problem}");
        for ok in ["1", "-12.50", "1e1000", "1E-1000", "0.000001"] {
            assert!(storable_number(ok), "{ok}");
        }
        for bad in ["1e1001", "1e999999", "-1E-999999", "1e-9223372036854775808"] {
            assert!(!storable_number(bad), "{bad}");
        }
        let nul: Value = serde_json::from_str(r#"{"k":"a\u0000b"}"#).unwrap();
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
        assert!(unstorable(&nul, "").unwrap().contains("NUL"));
    }
}
