//! Table specs: the tables a source's records land in, their keys, typed columns (and the
//! record fields each is read from), child tables for nested arrays, and trees. Turning a
//! record into rows is `normalize`; checking and rendering values is `values`.

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
    pub(super) fn lookup<'v>(
        &self,
        obj: &'v Map<String, Value>,
    ) -> Option<(&'static str, &'v Value)> {
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

    /// Key columns, data columns, `raw`, then `_hash` (of all before it): the column order
    /// of staged rows.
    pub fn staged_columns(&self) -> Vec<(&'static str, &'static str)> {
        self.key
            .iter()
            .chain(&self.columns)
            .map(|c| (c.name, c.ty.sql()))
            .chain([("raw", "jsonb"), ("_hash", "bigint")])
            .collect()
    }
}
