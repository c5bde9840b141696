//! The statements that merge staged rows into a table: new rows inserted, changed rows
//! (another `_hash`) updated, unchanged ones left untouched.

use super::table::Table;

pub(super) fn key_match(table: &Table, left: &str, right: &str) -> String {
    table
        .key
        .iter()
        .map(|c| format!("{left}.{0} = {right}.{0}", c.name))
        .collect::<Vec<_>>()
        .join(" AND ")
}

pub(super) fn insert_sql(table: &Table, stage: &str) -> String {
    let columns: Vec<&str> = table.staged_columns().iter().map(|(n, _)| *n).collect();
    let select: Vec<String> = columns.iter().map(|c| format!("s.{c}")).collect();
    format!(
        "INSERT INTO {0} ({1}, _inserted_at, _changed_at, _run_id) \
         SELECT {2}, now(), now(), $1 FROM {3} s \
         WHERE NOT EXISTS (SELECT 1 FROM {0} t WHERE {4}) ON CONFLICT DO NOTHING",
        table.name,
        columns.join(", "),
        select.join(", "),
        stage,
        key_match(table, "t", "s")
    )
}

/// Rows stored before hashes existed (NULL `_hash`) whose typed columns are as staged get
/// their hash and the record's `raw` as stored from now on (without the nested arrays that
/// have rows of their own), and `_changed_at` stays: the content did not change.
pub(super) fn fill_hash_sql(table: &Table, stage: &str) -> String {
    let same: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!(" AND t.{0} IS NOT DISTINCT FROM s.{0}", c.name))
        .collect();
    format!(
        "UPDATE {} t SET _hash = s._hash, raw = s.raw FROM {stage} s WHERE {} AND t._hash IS NULL \
         AND t._deleted_at IS NULL{}",
        table.name,
        key_match(table, "t", "s"),
        same.concat()
    )
}

/// Rows whose content changed (another hash) or that come back from a soft delete.
pub(super) fn changed_sql(table: &Table, stage: &str) -> String {
    let set: Vec<String> = data_columns(table)
        .iter()
        .chain(&["_hash"])
        .map(|c| format!("{c} = s.{c}"))
        .collect();
    format!(
        "UPDATE {} t SET {}, _changed_at = now(), _deleted_at = NULL, _run_id = $1 \
         FROM {stage} s WHERE {} AND (t._hash IS DISTINCT FROM s._hash OR t._deleted_at IS NOT NULL)",
        table.name,
        set.join(", "),
        key_match(table, "t", "s"),
    )
}

fn data_columns(table: &Table) -> Vec<&'static str> {
    table
        .columns
        .iter()
        .map(|c| c.name)
        .chain(["raw"])
        .collect()
}
