//! Staging and merging rows in a transaction (deltas, per-object refreshes, lookups): rows
//! are COPYed into temporary staging tables, then merged (insert new, update changed, leave
//! unchanged rows untouched, soft-delete an object's vanished children) with the stream's
//! checkpoint. Also the deletion guard's policy and its refusals, which complete listings
//! (`load`) share.

use std::collections::BTreeMap;

use sqlx::AssertSqlSafe;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::statements::{changed_sql, fill_hash_sql, insert_sql, key_match};
use super::table::Table;
use super::values::copy_line;
use crate::db::checkpoints;
use crate::db::runs::TableCounts;

/// Rows of one batch in COPY text format, per table index, plus root keys to keep.
#[derive(Default)]
pub struct Batch {
    pub rows: Vec<String>,
    pub counts: Vec<u64>,
    /// Root keys of rejected records: their stored rows (and children) must not be deleted.
    pub keep: String,
}

impl Batch {
    pub fn new(tables: usize) -> Self {
        Self {
            rows: vec![String::new(); tables],
            counts: vec![0; tables],
            keep: String::new(),
        }
    }

    pub fn rows(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A refused mass delete.
#[derive(Debug, Clone)]
pub enum GuardTrip {
    /// A complete listing lacks an implausible share of a table's live rows.
    Listing {
        table: String,
        vanished: i64,
        live: i64,
    },
    /// Too many objects the source itself vouched for (listed, or returned before) now
    /// answer 404 one by one: a wrong `base_url` or a broken proxy is likelier than that
    /// many deletions.
    NotFound {
        table: String,
        missing: i64,
        vouched: i64,
    },
}

impl GuardTrip {
    /// The source whose table it is (the schema).
    fn source(&self) -> &str {
        let (GuardTrip::Listing { table, .. } | GuardTrip::NotFound { table, .. }) = self;
        table.split('.').next().unwrap_or(table)
    }
}

impl std::fmt::Display for GuardTrip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardTrip::Listing {
                table,
                vanished,
                live,
            } => write!(
                f,
                "deletion guard: the listing would soft-delete {vanished} of {live} live rows of {table}; nothing of it was applied"
            )?,
            GuardTrip::NotFound {
                table,
                missing,
                vouched,
            } => write!(
                f,
                "deletion guard: {missing} of the {vouched} objects of {table} asked this run that the source itself listed or returned before now answer 404 (a wrong base_url or a broken proxy is likelier than that many deletions); none of them was soft-deleted"
            )?,
        }
        write!(
            f,
            " (if this is real, run `tributary sync {} --allow-mass-delete` once, also while the daemon runs)",
            self.source()
        )
    }
}

/// When a listing may soft-delete what it no longer contains.
#[derive(Debug, Clone, Copy)]
pub struct DeletePolicy {
    pub max_fraction: f64,
    pub allow_mass_delete: bool,
}

impl DeletePolicy {
    /// Whether deleting `gone` of `live` rows is implausible: more than the allowed share, or
    /// everything because the listing came back empty.
    pub fn refuses(&self, gone: i64, live: i64, listing_empty: bool) -> bool {
        gone > 0
            && (listing_empty || gone as f64 > self.max_fraction * live as f64)
            && !self.allow_mass_delete
    }
}

/// Row counts of a merge, per table.
pub type Merged = BTreeMap<String, TableCounts>;

/// How a complete listing went: applied, or refused by the deletion guard.
pub enum Applied {
    Done(BTreeMap<String, TableCounts>),
    Refused(GuardTrip),
}

/// Staged rows from which a staging table is analyzed before the merge.
pub const ANALYZE_FROM: u64 = 1000;

/// Which stored rows a merge may soft-delete.
#[derive(Debug, Clone, Copy)]
pub enum Deletes<'a> {
    /// None: upsert only.
    None,
    /// The staged rows replace every row whose first key column holds one of these values
    /// (an object refreshed whole: its vanished children go).
    Within(&'a [String]),
}

/// Rows staged in temporary tables of a transaction, for one root table and its children.
/// Several stagings (different `prefix`es) may share a transaction.
pub struct Staging<'t> {
    tables: Vec<&'t Table>,
    prefix: &'static str,
    staged: Vec<u64>,
}

impl<'t> Staging<'t> {
    /// Makes sure the session has the staging tables, in one round trip. They stay with the
    /// connection and are emptied at every commit: creating and dropping five temporary
    /// tables per transaction cost an aircalc project's store more than its merge. Each is
    /// named after its table, so stagings of other tables never share one.
    pub async fn create(
        tx: &mut PgConnection,
        root: &'t Table,
        prefix: &'static str,
    ) -> Result<Self, sqlx::Error> {
        let tables = root.flatten();
        let staging = Self {
            staged: vec![0; tables.len()],
            tables,
            prefix,
        };
        // "already exists, skipping" is no news.
        let mut sql = String::from("SET LOCAL client_min_messages = warning;\n");
        for (i, table) in staging.tables.iter().enumerate() {
            let columns: Vec<String> = table
                .staged_columns()
                .iter()
                .map(|(name, ty)| format!("{name} {ty}"))
                .collect();
            sql += &format!(
                "CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS;\n",
                staging.stage_name(i),
                columns.join(", ")
            );
        }
        let keep: Vec<String> = root
            .key
            .iter()
            .enumerate()
            .map(|(i, c)| format!("k{i} {}", c.ty.sql()))
            .collect();
        sql += &format!(
            "CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS;\n\
             SET LOCAL client_min_messages TO DEFAULT;",
            staging.keep_name(),
            keep.join(", ")
        );
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await?;
        Ok(staging)
    }

    /// The staging table of table `i`, e.g. `_object_aircalc_positions`.
    fn stage_name(&self, i: usize) -> String {
        format!("{}{}", self.prefix, self.tables[i].name.replace('.', "_"))
    }

    /// The root keys of rejected records, e.g. `_object_aircalc_projects_keep`.
    fn keep_name(&self) -> String {
        format!("{}_keep", self.stage_name(0))
    }

    /// COPYs one batch into the staging tables.
    pub async fn stage(&mut self, tx: &mut PgConnection, batch: Batch) -> Result<(), sqlx::Error> {
        for (i, rows) in batch.rows.into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let columns: Vec<&str> = self.tables[i]
                .staged_columns()
                .iter()
                .map(|(n, _)| *n)
                .collect();
            let sql = format!(
                "COPY {} ({}) FROM STDIN",
                self.stage_name(i),
                columns.join(", ")
            );
            let mut copy = tx.copy_in_raw(&sql).await?;
            copy.send(rows.into_bytes()).await?;
            copy.finish().await?;
            self.staged[i] += batch.counts[i];
        }
        if !batch.keep.is_empty() {
            let sql = format!("COPY {} FROM STDIN", self.keep_name());
            let mut copy = tx.copy_in_raw(&sql).await?;
            copy.send(batch.keep.into_bytes()).await?;
            copy.finish().await?;
        }
        Ok(())
    }

    /// Merges the staged rows into the tables: inserts new rows, updates changed ones, leaves
    /// unchanged ones untouched and soft-deletes what `deletes` allows. A refused listing
    /// changes nothing (the caller rolls back).
    pub async fn merge(
        &self,
        tx: &mut PgConnection,
        run_id: i64,
        deletes: Deletes<'_>,
    ) -> Result<Merged, sqlx::Error> {
        let root_key: Vec<&str> = self.tables[0].key.iter().map(|c| c.name).collect();
        // Statistics only pay for a plan over many rows. Without them a staging table looks
        // like hundreds of rows to the planner, which then hashes the whole target table: a
        // cost that grows with the table, not with the object. Few rows merge by key, each
        // through the target's index.
        if self.staged.iter().all(|&n| n < ANALYZE_FROM) {
            sqlx::raw_sql("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
                .execute(&mut *tx)
                .await?;
        }
        for i in (0..self.tables.len()).filter(|&i| self.staged[i] >= ANALYZE_FROM) {
            sqlx::query(AssertSqlSafe(format!("ANALYZE {}", self.stage_name(i))))
                .execute(&mut *tx)
                .await?;
        }
        let mut counts = BTreeMap::new();
        for (i, table) in self.tables.iter().enumerate() {
            let stage = self.stage_name(i);
            sqlx::query(AssertSqlSafe(fill_hash_sql(table, &stage)))
                .execute(&mut *tx)
                .await?;
            let updated = sqlx::query(AssertSqlSafe(changed_sql(table, &stage)))
                .bind(run_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let inserted = sqlx::query(AssertSqlSafe(insert_sql(table, &stage)))
                .bind(run_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let vanished = self.vanished_condition(table, i, &root_key);
            let deleted = match deletes {
                Deletes::None => 0,
                Deletes::Within(scope) => {
                    let first = &table.key[0];
                    sqlx::query(AssertSqlSafe(format!(
                        "UPDATE {} t SET _deleted_at = now(), _run_id = $1 WHERE t._deleted_at IS NULL \
                         AND t.{} = ANY($2::{}[]) AND {vanished}",
                        table.name,
                        first.name,
                        first.ty.sql()
                    )))
                    .bind(run_id)
                    .bind(scope)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                }
            };
            counts.insert(
                table.name.to_string(),
                TableCounts {
                    inserted,
                    updated,
                    unchanged: self.staged[i].saturating_sub(inserted + updated),
                    deleted,
                },
            );
        }
        Ok(counts)
    }

    /// A live row of `t` is gone when it is not staged and its root record was not rejected.
    fn vanished_condition(&self, table: &Table, i: usize, root_key: &[&str]) -> String {
        let kept: Vec<String> = table.key[..root_key.len()]
            .iter()
            .enumerate()
            .map(|(k, c)| format!("kp.k{k} = t.{}", c.name))
            .collect();
        format!(
            "NOT EXISTS (SELECT 1 FROM {} s WHERE {}) AND NOT EXISTS (SELECT 1 FROM {} kp WHERE {})",
            self.stage_name(i),
            key_match(table, "s", "t"),
            self.keep_name(),
            kept.join(" AND ")
        )
    }
}

/// One stream's staging transaction, serialized with the stream's other writers.
pub struct Stager<'t> {
    tx: Transaction<'static, Postgres>,
    staging: Staging<'t>,
}

impl<'t> Stager<'t> {
    /// Opens the transaction, serializes writers of the same stream and creates the
    /// staging tables.
    pub async fn begin(pool: &PgPool, root: &'t Table, lock: &str) -> Result<Self, sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(lock)
            .execute(&mut *tx)
            .await?;
        let staging = Staging::create(&mut tx, root, "_stage_").await?;
        Ok(Self { tx, staging })
    }

    /// COPYs one batch into the staging tables.
    pub async fn stage(&mut self, batch: Batch) -> Result<(), sqlx::Error> {
        self.staging.stage(&mut self.tx, batch).await
    }

    /// Merges the staged rows into the tables and writes the checkpoint, all or nothing.
    pub async fn finish(
        mut self,
        run_id: i64,
        deletes: Deletes<'_>,
        checkpoint: (&str, &str, serde_json::Value),
    ) -> Result<Merged, sqlx::Error> {
        let merged = self.staging.merge(&mut self.tx, run_id, deletes).await?;
        let (source, stream, cursor) = checkpoint;
        checkpoints::write(&mut *self.tx, source, stream, cursor, run_id).await?;
        self.tx.commit().await?;
        Ok(merged)
    }
}

/// After a complete list of keys: soft-deletes the live rows of `table` whose leading key
/// columns equal `scope` and whose key is not `listed` or is `gone` (vanished between list
/// and detail), and writes the checkpoint, in one transaction. Returns the rows deleted.
pub async fn soft_delete_missing(
    pool: &PgPool,
    table: &Table,
    scope: &[String],
    listed: &[Vec<String>],
    gone: &[Vec<String>],
    run_id: i64,
    checkpoint: (&str, &str, serde_json::Value),
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let key_columns: Vec<String> = table
        .key
        .iter()
        .map(|c| format!("{} {}", c.name, c.ty.sql()))
        .collect();
    for (name, keys) in [("_listed", listed), ("_gone", gone)] {
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TEMP TABLE {name} ({}) ON COMMIT DROP",
            key_columns.join(", ")
        )))
        .execute(&mut *tx)
        .await?;
        if !keys.is_empty() {
            let rows: String = keys.iter().map(|k| copy_line(k)).collect();
            let mut copy = tx.copy_in_raw(&format!("COPY {name} FROM STDIN")).await?;
            copy.send(rows.into_bytes()).await?;
            copy.finish().await?;
        }
    }
    let scoped: Vec<String> = table.key[..scope.len()]
        .iter()
        .enumerate()
        .map(|(i, c)| format!(" AND t.{}::text = ${}", c.name, i + 2))
        .collect();
    // Two statements, each an (anti-)join on analyzed keys: an OR of both would run as a
    // per-row subplan, quadratic in the list's size.
    let mut deleted = 0;
    for (name, condition) in [("_listed", "NOT EXISTS"), ("_gone", "EXISTS")] {
        sqlx::query(AssertSqlSafe(format!("ANALYZE {name}")))
            .execute(&mut *tx)
            .await?;
        let sql = format!(
            "UPDATE {0} t SET _deleted_at = now(), _run_id = $1 WHERE t._deleted_at IS NULL{1} \
             AND {condition} (SELECT 1 FROM {name} s WHERE {2})",
            table.name,
            scoped.concat(),
            key_match(table, "s", "t")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(run_id);
        for value in scope {
            query = query.bind(value);
        }
        deleted += query.execute(&mut *tx).await?.rows_affected();
    }
    let (source, stream, cursor) = checkpoint;
    checkpoints::write(&mut *tx, source, stream, cursor, run_id).await?;
    tx.commit().await?;
    Ok(deleted)
}
