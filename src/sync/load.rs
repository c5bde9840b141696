//! Loading a complete listing: change detection in Rust. Each table's stored rows are read
//! as (key, `_hash`) first; while the listing streams in, a row whose key is stored with the
//! same hash is unchanged and only its key is sent (for soft deletes); new and changed rows
//! are staged whole; a table that was empty is loaded directly, without staging. At the end
//! what the listing lacks is soft-deleted behind the deletion guard, the staged rows are
//! merged, and the checkpoint is written, all in the stream's one transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::TryStreamExt;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Row, Transaction};
use tokio::sync::oneshot;

use super::apply::{ANALYZE_FROM, Applied, DeletePolicy, GuardTrip};
use super::digests::{self, Digests};
use super::statements::{changed_sql, fill_hash_sql, insert_sql, key_match};
use super::table::{ColType, Table};
use super::values::copy_line;
use crate::db::checkpoints;
use crate::db::runs::TableCounts;

/// The stored rows of one table in 16 bytes each (a 100 000-order listing's tables hold
/// 726 000): (hash of the key's text, `_hash`) sorted by key hash, and per position whether
/// the row is soft-deleted and whether the listing has it.
pub struct Stored {
    /// `_hash` 0 stands for NULL (a row stored before hashes existed): either way the row
    /// is staged and compared column by column.
    rows: Vec<(u64, i64)>,
    deleted: Bits,
    seen: Bits,
    /// Per position of a child table, the hash of its root key (read when unchanged records
    /// may be skipped: their rows are found through their root),
    roots: Vec<u64>,
    /// then where that root is among the stored root rows ([`NO_ROOT`]: not stored).
    under: Vec<u32>,
}

impl Stored {
    fn empty() -> Self {
        Self {
            rows: Vec::new(),
            deleted: Bits::new(0),
            seen: Bits::new(0),
            roots: Vec::new(),
            under: Vec::new(),
        }
    }

    /// The stored row with this key hash, if any.
    fn position(&self, key: u64) -> Option<usize> {
        position(&self.rows, key)
    }

    /// Live rows the listing does not have (so far).
    fn unseen(&self) -> u64 {
        (0..self.rows.len())
            .filter(|&i| !self.deleted.get(i) && !self.seen.get(i))
            .count() as u64
    }

    fn live(&self) -> u64 {
        (self.rows.len() - self.deleted.count()) as u64
    }
}

/// Where `key` is in `rows` (sorted by their first field, a key hash), if it is there. Key
/// hashes are spread evenly over `u64`, so a position interpolated between the ends of the
/// range is close: a few guesses narrow it to a stretch that a binary search finishes. A
/// binary search of the whole (726 000 rows, 11 MB) takes some 20 reads that each miss the
/// cache; the guesses are bounded, so hashes that are not even cost a binary search at most.
fn position(rows: &[(u64, i64)], key: u64) -> Option<usize> {
    let (mut lo, mut hi) = (0, rows.len());
    for _ in 0..8 {
        if hi - lo <= 32 {
            break;
        }
        let (first, last) = (rows[lo].0, rows[hi - 1].0);
        if key < first || key > last {
            return None;
        }
        let offset = (u128::from(key - first) * (hi - 1 - lo) as u128)
            .checked_div(u128::from(last - first))
            .unwrap_or(0);
        let guess = lo + offset as usize;
        match rows[guess].0.cmp(&key) {
            std::cmp::Ordering::Equal => return Some(guess),
            std::cmp::Ordering::Less => lo = guess + 1,
            std::cmp::Ordering::Greater => hi = guess,
        }
    }
    rows[lo..hi]
        .binary_search_by_key(&key, |&(k, _)| k)
        .ok()
        .map(|at| lo + at)
}

/// A fixed-size set of positions.
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Self {
        Self(vec![0; len.div_ceil(64)])
    }

    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// How the rows of a listing go to the database, decided per row on the parser thread.
pub struct Router {
    /// The root table's stored rows, then, once read, the child tables'.
    stored: Vec<Stored>,
    /// The child tables' stored rows while they are read (beside the listing: a listing
    /// whose records are all as written never waits for them before its end).
    reading: Option<oneshot::Receiver<Result<Vec<Stored>, sqlx::Error>>>,
    /// Per table, whether it was empty (its rows are loaded directly).
    direct: Vec<bool>,
    key_columns: Vec<usize>,
    /// Appended to a row loaded directly: `_inserted_at`, `_changed_at`, `_run_id`.
    direct_suffix: String,
    /// The digests of the records written before, when the stream has them (not a tree).
    digests: Option<Arc<Digests>>,
    /// Put before each digest line: the COPY fields `source` and `stream`, when the digests
    /// go straight into `tributary.listed_records` (the stream had none); else empty.
    records_prefix: String,
    /// Root rows whose record was listed unchanged and not parsed, by stored position.
    skipped: Bits,
    unparsed: u64,
}

/// What a listing had, beside its rows: per table, the live stored rows it lacked and the
/// rows under records listed unchanged; and the root keys of those records, as COPY text
/// (only when a table lacked rows: a search for them must keep these).
pub struct Listed {
    /// Live stored rows before the listing.
    pub live: Vec<u64>,
    pub unseen: Vec<u64>,
    pub covered: Vec<u64>,
    pub kept: String,
    /// Per table, whether every live row it lacked lies under a parsed record (a child
    /// table whose rows' roots are known): the search for them starts from the listed root
    /// keys, through the index, instead of the whole table.
    pub under_parsed: Vec<bool>,
    /// Records listed as written before, not parsed.
    pub unparsed: u64,
}

impl Router {
    /// The digests records are looked up in, if the stream has them.
    pub fn digests(&self) -> Option<Arc<Digests>> {
        self.digests.clone()
    }

    /// A record listed as it was written (entry `at` of the digests): its rows stay as they
    /// are. False when its root row was listed before: then it is a duplicate.
    pub fn unchanged(&mut self, at: usize, batch: &mut ListingBatch) -> bool {
        let Some(digests) = &self.digests else {
            return false;
        };
        let position = digests.entry(at).position;
        let root = &mut self.stored[0];
        if root.seen.get(position) {
            return false;
        }
        root.seen.set(position);
        self.skipped.set(position);
        self.unparsed += 1;
        batch.listed[0] += 1;
        true
    }

    /// Whether the root row of a parsed record (its COPY line) belongs to a record listed
    /// unchanged before it: then the parsed one is a duplicate.
    pub fn taken(&self, root_line: &str) -> bool {
        self.unparsed > 0
            && self.stored[0]
                .position(key_hash(key_text(root_line, self.key_columns[0])))
                .is_some_and(|at| self.skipped.get(at))
    }

    /// Notes the digest and shape of a parsed record whose rows were routed (`root_line` is
    /// its root row), to be written with them.
    pub fn written(&self, root_line: &str, digest: u128, shape: u64, batch: &mut ListingBatch) {
        // One COPY field: the key's fields are COPY text already, joined by an escaped tab.
        let key = key_text(root_line, self.key_columns[0]);
        batch.records.push_str(&self.records_prefix);
        for (n, field) in key.split('\t').enumerate() {
            if n > 0 {
                batch.records.push_str("\\t");
            }
            batch.records.push_str(field);
        }
        batch.records.push('\t');
        batch.records.push_str(&digests::copy_text(digest));
        batch.records.push('\t');
        batch.records.push_str(&(shape as i64).to_string());
        batch.records.push('\n');
    }

    /// Waits for the child tables' stored rows, if they are still being read, and finds
    /// each one's root row.
    fn children(&mut self) -> Result<(), String> {
        let Some(reading) = self.reading.take() else {
            return Ok(());
        };
        let children = reading
            .blocking_recv()
            .map_err(|_| "the reads of the stored rows stopped".to_string())?
            .map_err(|e| format!("reading the stored rows: {e}"))?;
        self.found(children);
        Ok(())
    }

    /// Takes the child tables' stored rows and finds each one's root row.
    fn found(&mut self, children: Vec<Stored>) {
        self.stored.extend(children);
        let (root, children) = self.stored.split_first_mut().expect("a root table");
        for table in children {
            table.under = std::mem::take(&mut table.roots)
                .into_iter()
                .map(|hash| root.position(hash).map_or(NO_ROOT, |at| at as u32))
                .collect();
        }
    }

    /// Routes one row (COPY text of the staged columns, `_hash` last) of table `i`.
    pub fn route(&mut self, i: usize, line: &str, batch: &mut ListingBatch) -> Result<(), String> {
        batch.listed[i] += 1;
        if self.direct[i] {
            batch.direct[i].push_str(line.trim_end_matches('\n'));
            batch.direct[i].push_str(&self.direct_suffix);
            return Ok(());
        }
        if i > 0 {
            self.children()?;
        }
        let stored = &mut self.stored[i];
        let key = key_text(line, self.key_columns[i]);
        batch.keys[i].push_str(key);
        batch.keys[i].push('\n');
        let hash = line
            .trim_end_matches('\n')
            .rsplit('\t')
            .next()
            .and_then(|h| h.parse::<i64>().ok());
        match stored.position(key_hash(key)) {
            Some(at) => {
                stored.seen.set(at);
                let (_, stored_hash) = stored.rows[at];
                if stored.deleted.get(at) || stored_hash == 0 || Some(stored_hash) != hash {
                    batch.stage(i, line);
                }
            }
            None => batch.stage(i, line),
        }
        Ok(())
    }

    /// What the listing had beside its rows (see [`Listed`]).
    pub fn listed(&mut self) -> Result<Listed, String> {
        self.children()?;
        let n = self.stored.len();
        let mut unseen = vec![0; n];
        let mut covered = vec![0; n];
        let mut under_parsed = vec![false; n];
        let (root, children) = self.stored.split_first().expect("a root table");
        unseen[0] = root.unseen();
        for (i, table) in children.iter().enumerate().map(|(i, t)| (i + 1, t)) {
            if table.under.len() != table.rows.len() {
                unseen[i] = table.unseen();
                continue;
            }
            under_parsed[i] = true;
            for at in 0..table.rows.len() {
                if table.deleted.get(at) || table.seen.get(at) {
                    continue;
                }
                let under = table.under[at];
                if under != NO_ROOT && self.skipped.get(under as usize) {
                    covered[i] += 1;
                    continue;
                }
                unseen[i] += 1;
                // A root listed and not skipped was parsed; any other (vanished, rejected,
                // not stored) calls for the search over the whole table.
                if under == NO_ROOT || !root.seen.get(under as usize) {
                    under_parsed[i] = false;
                }
            }
        }
        // Skipped records' roots are kept only from a search over a whole table.
        let whole = (0..n).any(|i| unseen[i] > 0 && !under_parsed[i]);
        let mut kept = String::new();
        if let (Some(digests), true) = (&self.digests, whole && self.unparsed > 0) {
            for at in 0..digests.len() {
                if self.skipped.get(digests.entry(at).position) {
                    let key: Vec<String> = digests.key(at).split('\t').map(String::from).collect();
                    kept.push_str(&copy_line(&key));
                }
            }
        }
        Ok(Listed {
            live: self.stored.iter().map(Stored::live).collect(),
            unseen,
            covered,
            kept,
            under_parsed,
            unparsed: self.unparsed,
        })
    }
}

/// The first `columns` fields of a COPY text line.
fn key_text(line: &str, columns: usize) -> &str {
    let mut end = 0;
    for (n, (at, _)) in line.match_indices('\t').enumerate() {
        end = at;
        if n + 1 == columns {
            break;
        }
    }
    &line[..end]
}

fn key_hash(key: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key.as_bytes())
}

/// What the parser hands the database writer, per table index.
pub struct ListingBatch {
    /// New and changed rows, to be staged.
    pub rows: Vec<String>,
    pub staged: Vec<u64>,
    /// Keys of every row of a table that had rows (for soft deletes).
    pub keys: Vec<String>,
    /// Rows of a table that was empty, with the bookkeeping columns.
    pub direct: Vec<String>,
    /// Rows the listing had.
    pub listed: Vec<u64>,
    /// Root keys of rejected records: their stored rows (and children) stay.
    pub keep: String,
    /// Digests of the records routed (COPY text of `_records`).
    pub records: String,
}

impl ListingBatch {
    pub fn new(tables: usize) -> Self {
        Self {
            rows: vec![String::new(); tables],
            staged: vec![0; tables],
            keys: vec![String::new(); tables],
            direct: vec![String::new(); tables],
            listed: vec![0; tables],
            keep: String::new(),
            records: String::new(),
        }
    }

    fn stage(&mut self, i: usize, line: &str) {
        self.rows[i].push_str(line);
        self.staged[i] += 1;
    }

    pub fn rows(&self) -> u64 {
        self.listed.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.rows() == 0 && self.keep.is_empty() && self.records.is_empty()
    }
}

/// A child row whose root row is not stored.
const NO_ROOT: u32 = u32::MAX;

/// Root rows (by position) under which a row has no `_hash`: their records are parsed and
/// compared column by column, whatever their digest says. `children`: the root keys (as
/// text) of the child rows without one.
fn unhashed_roots(root: &Stored, children: &[String]) -> Bits {
    let mut unhashed = Bits::new(root.rows.len());
    for (at, &(_, hash)) in root.rows.iter().enumerate() {
        if hash == 0 {
            unhashed.set(at);
        }
    }
    for key in children {
        if let Some(at) = root.position(key_hash(key)) {
            unhashed.set(at);
        }
    }
    unhashed
}

/// One listing's transaction.
pub struct Load<'t> {
    tx: Transaction<'static, Postgres>,
    tables: Vec<&'t Table>,
    direct: Vec<bool>,
    staged: Vec<u64>,
    listed: Vec<u64>,
    direct_rows: Vec<u64>,
    /// COPY text gathered per table and [`Target`], not sent yet.
    pending: Vec<[String; 3]>,
    pending_keep: String,
    pending_records: String,
    /// Where the digests of the records written go, when the stream keeps them.
    records: Option<(String, String)>,
    /// The stream had no digests: they are COPYed into `tributary.listed_records` itself.
    records_direct: bool,
    /// Statements that put back the foreign keys of empty tables, set aside for the load.
    restore: Vec<String>,
}

/// Gathered COPY text is sent once a target holds this much.
const COPY_BYTES: usize = 1 << 21;

/// Where a row of a listing goes.
#[derive(Clone, Copy)]
enum Target {
    /// New or changed: staged for the merge.
    Stage,
    /// Its key, for soft deletes.
    Listed,
    /// Straight into a table that was empty.
    Direct,
}

impl Target {
    fn copy_sql(self, table: &Table, i: usize) -> String {
        let staged: Vec<&str> = table.staged_columns().iter().map(|(n, _)| *n).collect();
        let (target, columns) = match self {
            Target::Stage => (format!("_stage_{i}"), staged),
            Target::Listed => (
                format!("_listed_{i}"),
                table.key.iter().map(|c| c.name).collect(),
            ),
            Target::Direct => (
                table.name.to_string(),
                staged
                    .into_iter()
                    .chain(["_inserted_at", "_changed_at", "_run_id"])
                    .collect(),
            ),
        };
        format!("COPY {target} ({}) FROM STDIN", columns.join(", "))
    }
}

impl<'t> Load<'t> {
    /// Opens the transaction, serializes writers of the same stream, creates the staging
    /// tables and reads what is stored; the [`Router`] decides for each row on the parser
    /// thread. `digests`: the stream (source, name) keeps the digests of its records, which
    /// start as these (read here).
    pub async fn begin(
        pool: &PgPool,
        root: &'t Table,
        lock: &str,
        run_id: i64,
        digests: Option<(&str, &str, Digests)>,
    ) -> Result<(Self, Router), sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(lock)
            .execute(&mut *tx)
            .await?;
        let tables = root.flatten();
        for (i, table) in tables.iter().enumerate() {
            create_temp(&mut tx, &format!("_stage_{i}"), &table.staged_columns()).await?;
            let keys: Vec<(&str, &str)> = table.key.iter().map(|c| (c.name, c.ty.sql())).collect();
            create_temp(&mut tx, &format!("_listed_{i}"), &keys).await?;
        }
        // Which child tables are empty, and the roots of their rows without `_hash` (found by
        // their partial index).
        let roots = digests.is_some().then_some(root.key.len());
        let mut direct = vec![];
        let mut unhashed_children = Vec::new();
        for table in &tables[1..] {
            let root_key: Vec<String> = table.key[..root.key.len()]
                .iter()
                .map(|c| format!("{}::text", c.name))
                .collect();
            let sql = format!(
                "SELECT NOT EXISTS (SELECT 1 FROM {0}), \
                 ARRAY(SELECT DISTINCT concat_ws(E'\\t', {1}) FROM {0} WHERE _hash IS NULL AND $1)",
                table.name,
                root_key.join(", ")
            );
            let (empty, unhashed): (bool, Vec<String>) = sqlx::query_as(AssertSqlSafe(sql))
                .bind(roots.is_some())
                .fetch_one(&mut *tx)
                .await?;
            direct.push(empty);
            unhashed_children.extend(unhashed);
        }
        // What is stored is read on connections of their own, side by side: the lock taken
        // above keeps the stream's other writers out until this transaction ends. The child
        // tables are read while the listing streams in, unless one is empty: setting its
        // foreign keys aside (below) locks the tables they refer to, so they are read first.
        let children: Vec<(Table, bool)> = tables[1..]
            .iter()
            .zip(&direct)
            .map(|(t, &empty)| ((*t).clone(), empty))
            .collect();
        let read_children = |pool: PgPool| async move {
            let reads = children.iter().map(|(table, empty)| {
                let pool = &pool;
                async move {
                    if *empty {
                        Ok(Stored::empty())
                    } else {
                        read_stored(pool, table, roots).await
                    }
                }
            });
            futures_util::future::try_join_all(reads).await
        };
        let (read, reading) = if direct.iter().any(|&empty| empty) {
            (Some(read_children(pool.clone()).await?), None)
        } else {
            let (done, reading) = oneshot::channel();
            let read = read_children(pool.clone());
            tokio::spawn(async move {
                let _ = done.send(read.await);
            });
            (None, Some(reading))
        };
        let written = async {
            match digests {
                Some((source, stream, digests)) => Ok(Some((
                    source,
                    stream,
                    digests.read(pool, source, stream).await?,
                ))),
                None => Ok(None),
            }
        };
        let (root_stored, digests) =
            futures_util::future::try_join(read_stored(pool, root, None), written).await?;
        direct.insert(0, root_stored.rows.is_empty());
        // Nothing is stored: digests left from rows deleted by hand describe nothing, and the
        // new ones are COPYed straight into their table (an upsert of them all cost 0.6 s of
        // a 100 000-order first sync).
        let records_direct = root_stored.rows.is_empty();
        let (records, digests) = match digests {
            Some((source, stream, digests)) => {
                if records_direct {
                    forget_digests(&mut tx, source, stream).await?;
                } else {
                    create_temp(
                        &mut tx,
                        "_records",
                        &[("key", "text"), ("digest", "bytea"), ("shape", "bigint")],
                    )
                    .await?;
                }
                let unhashed = unhashed_roots(&root_stored, &unhashed_children);
                let root = &root_stored;
                let digests = digests.resolve(|key| {
                    root.position(key_hash(key))
                        .filter(|&at| !root.deleted.get(at) && !unhashed.get(at))
                });
                (
                    Some((source.to_string(), stream.to_string())),
                    Some(Arc::new(digests)),
                )
            }
            None => (None, None),
        };
        let keep: Vec<(String, &str)> = root
            .key
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("k{i}"), c.ty.sql()))
            .collect();
        let keep: Vec<(&str, &str)> = keep.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        create_temp(&mut tx, "_keep", &keep).await?;
        let mut restore = Vec::new();
        for (table, &empty) in tables.iter().zip(&direct) {
            if empty {
                restore.extend(set_foreign_keys_aside(&mut tx, table).await?);
            }
        }
        let now: String = sqlx::query_scalar("SELECT now()::text")
            .fetch_one(&mut *tx)
            .await?;
        let n = tables.len();
        // Source and stream names are identifiers: nothing in them needs COPY's escaping.
        let records_prefix = match &records {
            Some((source, stream)) if records_direct => format!("{source}\t{stream}\t"),
            _ => String::new(),
        };
        let load = Self {
            direct: direct.clone(),
            staged: vec![0; n],
            listed: vec![0; n],
            direct_rows: vec![0; n],
            pending: (0..n).map(|_| Default::default()).collect(),
            pending_keep: String::new(),
            pending_records: String::new(),
            records_direct,
            records,
            restore,
            tx,
            tables: tables.clone(),
        };
        let mut router = Router {
            key_columns: tables.iter().map(|t| t.key.len()).collect(),
            skipped: Bits::new(root_stored.rows.len()),
            unparsed: 0,
            stored: vec![root_stored],
            reading,
            direct,
            direct_suffix: format!("\t{now}\t{now}\t{run_id}\n"),
            digests,
            records_prefix,
        };
        if let Some(children) = read {
            router.found(children);
        }
        Ok((load, router))
    }

    /// Takes one batch: staged rows, listed keys, rows of empty tables, kept keys. They are
    /// COPYed once a target has gathered [`COPY_BYTES`] (and the rest before the merge): each
    /// COPY costs a round trip that the connection's Nagle delay stretches to tens of ms.
    pub async fn write(&mut self, batch: ListingBatch) -> Result<(), sqlx::Error> {
        for i in 0..self.tables.len() {
            self.listed[i] += batch.listed[i];
            self.staged[i] += batch.staged[i];
            if self.direct[i] {
                self.direct_rows[i] += batch.listed[i];
            }
            for (kind, rows) in [
                (Target::Stage, &batch.rows[i]),
                (Target::Listed, &batch.keys[i]),
                (Target::Direct, &batch.direct[i]),
            ] {
                self.pending[i][kind as usize].push_str(rows);
            }
        }
        self.pending_keep.push_str(&batch.keep);
        self.pending_records.push_str(&batch.records);
        self.copy_pending(COPY_BYTES).await
    }

    /// COPYs what each target has gathered, once it holds at least `from` bytes.
    async fn copy_pending(&mut self, from: usize) -> Result<(), sqlx::Error> {
        for i in 0..self.tables.len() {
            for kind in [Target::Stage, Target::Listed, Target::Direct] {
                let rows = &mut self.pending[i][kind as usize];
                if rows.is_empty() || rows.len() < from {
                    continue;
                }
                let sql = kind.copy_sql(self.tables[i], i);
                copy(&mut self.tx, &sql, rows).await?;
                rows.clear();
            }
        }
        if !self.pending_keep.is_empty() && self.pending_keep.len() >= from {
            copy(&mut self.tx, "COPY _keep FROM STDIN", &self.pending_keep).await?;
            self.pending_keep.clear();
        }
        if !self.pending_records.is_empty() && self.pending_records.len() >= from {
            let sql = if self.records_direct {
                "COPY tributary.listed_records (source, stream, key, digest, shape) FROM STDIN"
            } else {
                "COPY _records FROM STDIN"
            };
            copy(&mut self.tx, sql, &self.pending_records).await?;
            self.pending_records.clear();
        }
        Ok(())
    }

    /// Merges the staged rows and writes the checkpoint, all or nothing. `deletes`: the
    /// listing is complete, and what it lacks is soft-deleted under that policy; `listed`:
    /// what the router found beside the rows (no live row unseen spares the database the
    /// search). The digests of the records routed are written only with `deletes`: a record
    /// counts as written when its rows are exactly what it made, its vanished children
    /// soft-deleted.
    pub async fn finish(
        mut self,
        run_id: i64,
        deletes: Option<DeletePolicy>,
        listed: &Listed,
        checkpoint: (&str, &str, serde_json::Value),
    ) -> Result<Applied, sqlx::Error> {
        let unseen = &listed.unseen;
        self.pending_keep.push_str(&listed.kept);
        for (i, covered) in listed.covered.iter().enumerate() {
            self.listed[i] += covered;
        }
        self.copy_pending(0).await?;
        // Rows not seen may still be kept (their record was rejected): only the database
        // knows; none unseen means none vanished.
        let search: Vec<bool> = (0..self.tables.len())
            .map(|i| deletes.is_some() && !self.direct[i] && unseen[i] > 0)
            .collect();
        // What the listing lacks is soft-deleted first, each table's count checked by the
        // guard: a refusal rolls it all back.
        let mut deleted = vec![0; self.tables.len()];
        for (i, table) in self.tables.iter().enumerate() {
            let Some(policy) = deletes else { break };
            if search[i] {
                analyze(&mut self.tx, &format!("_listed_{i}")).await?;
                let (roots, gone) = vanished(table, i, self.tables[0], listed.under_parsed[i]);
                let roots = roots.map(|r| format!(" FROM {r}")).unwrap_or_default();
                deleted[i] = sqlx::query(AssertSqlSafe(format!(
                    "UPDATE {} t SET _deleted_at = now(), _run_id = $1{roots} WHERE {gone}",
                    table.name
                )))
                .bind(run_id)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
            }
            let gone = deleted[i] as i64;
            if policy.refuses(gone, listed.live[i] as i64, i == 0 && self.listed[0] == 0) {
                self.tx.rollback().await?;
                return Ok(Applied::Refused(GuardTrip::Listing {
                    table: table.name.to_string(),
                    vanished: gone,
                    live: listed.live[i] as i64,
                }));
            }
        }
        let mut counts = BTreeMap::new();
        for (i, table) in self.tables.iter().enumerate() {
            let stage = format!("_stage_{i}");
            let (mut inserted, mut updated) = (self.direct_rows[i], 0);
            if self.staged[i] > 0 {
                if self.staged[i] >= ANALYZE_FROM {
                    analyze(&mut self.tx, &stage).await?;
                }
                sqlx::query(AssertSqlSafe(fill_hash_sql(table, &stage)))
                    .execute(&mut *self.tx)
                    .await?;
                updated = sqlx::query(AssertSqlSafe(changed_sql(table, &stage)))
                    .bind(run_id)
                    .execute(&mut *self.tx)
                    .await?
                    .rows_affected();
                inserted += sqlx::query(AssertSqlSafe(insert_sql(table, &stage)))
                    .bind(run_id)
                    .execute(&mut *self.tx)
                    .await?
                    .rows_affected();
            }
            counts.insert(
                table.name.to_string(),
                TableCounts {
                    inserted,
                    updated,
                    unchanged: self.listed[i].saturating_sub(inserted + updated),
                    deleted: deleted[i],
                },
            );
        }
        for sql in &self.restore {
            sqlx::raw_sql(AssertSqlSafe(sql.as_str()))
                .execute(&mut *self.tx)
                .await?;
        }
        match (&self.records, deletes) {
            // Written as they were COPYed, unless this listing does not count as written.
            (Some((source, stream)), None) if self.records_direct => {
                forget_digests(&mut self.tx, source, stream).await?;
            }
            (Some(_), Some(_)) if self.records_direct => {}
            (Some((source, stream)), Some(_)) => {
                sqlx::query(
                "INSERT INTO tributary.listed_records AS r (source, stream, key, digest, shape) \
                 SELECT $1, $2, key, digest, shape FROM _records \
                 ON CONFLICT (source, stream, key) DO UPDATE SET digest = excluded.digest, shape = excluded.shape",
            )
            .bind(source)
            .bind(stream)
            .execute(&mut *self.tx)
            .await?;
            }
            _ => {}
        }
        let (source, stream, cursor) = checkpoint;
        checkpoints::write(&mut *self.tx, source, stream, cursor, run_id).await?;
        self.tx.commit().await?;
        Ok(Applied::Done(counts))
    }
}

/// Deletes the digests a stream keeps: its records are all parsed on its next listing.
async fn forget_digests(
    tx: &mut PgConnection,
    source: &str,
    stream: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM tributary.listed_records WHERE source = $1 AND stream = $2")
        .bind(source)
        .bind(stream)
        .execute(tx)
        .await?;
    Ok(())
}

/// Drops the foreign keys of `table` (empty, about to be loaded) within the transaction and
/// returns the statements that add them back as they were, comment included. Added back
/// before the commit, each is checked in one pass over the loaded rows; kept, each row's
/// check would be queued and run at the commit one by one (3.5 s of a 100 000-order first
/// sync). The listing's tables are locked until the commit either way.
async fn set_foreign_keys_aside(
    tx: &mut PgConnection,
    table: &Table,
) -> Result<Vec<String>, sqlx::Error> {
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname), \
                format('ALTER TABLE %s ADD CONSTRAINT %I %s; COMMENT ON CONSTRAINT %I ON %s IS %L', \
                       c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid), \
                       c.conname, c.conrelid::regclass, obj_description(c.oid, 'pg_constraint')) \
         FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.contype = 'f' ORDER BY c.conname",
    )
    .bind(table.name)
    .fetch_all(&mut *tx)
    .await?;
    let mut restore = Vec::with_capacity(keys.len());
    for (drop, add) in keys {
        sqlx::raw_sql(AssertSqlSafe(drop)).execute(&mut *tx).await?;
        restore.push(add);
    }
    Ok(restore)
}

async fn create_temp(
    tx: &mut PgConnection,
    name: &str,
    columns: &[(&str, &str)],
) -> Result<(), sqlx::Error> {
    let columns: Vec<String> = columns.iter().map(|(n, t)| format!("{n} {t}")).collect();
    let sql = format!(
        "CREATE TEMP TABLE {name} ({}) ON COMMIT DROP",
        columns.join(", ")
    );
    sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await?;
    Ok(())
}

async fn copy(tx: &mut PgConnection, sql: &str, rows: &str) -> Result<(), sqlx::Error> {
    let mut copy = tx.copy_in_raw(sql).await?;
    copy.send(rows.as_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

async fn analyze(tx: &mut PgConnection, table: &str) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!("ANALYZE {table}")))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The stored rows of `table`: the hash of each key's text (as the normalizer renders it
/// for the simple key types; any other rendering only costs a staged row), `_hash`, and
/// whether it is soft-deleted; with `roots`, the hash of the text of that many leading key
/// columns (the root's key). Integer key columns come as integers and are written out here:
/// the server spares their text, a third of the time of a 726 000-row read.
async fn read_stored(
    pool: &PgPool,
    table: &Table,
    roots: Option<usize>,
) -> Result<Stored, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let int: Vec<bool> = table.key.iter().map(|c| c.ty == ColType::Int).collect();
    let key: Vec<String> = table
        .key
        .iter()
        .zip(&int)
        .map(|(c, &int)| {
            if int {
                format!("t.{}", c.name)
            } else {
                format!("t.{}::text", c.name)
            }
        })
        .collect();
    let sql = format!(
        "SELECT {}, t._hash, t._deleted_at IS NOT NULL FROM {} t",
        key.join(", "),
        table.name
    );
    let n = int.len();
    let mut rows = Vec::new();
    let mut deleted = Vec::new();
    let mut text = String::new();
    let mut digits = itoa::Buffer::new();
    let mut stored = sqlx::query(AssertSqlSafe(sql)).fetch(&mut *conn);
    while let Some(row) = stored.try_next().await? {
        text.clear();
        let mut root = 0;
        for (i, &int) in int.iter().enumerate() {
            if i > 0 {
                text.push('\t');
            }
            if int {
                text.push_str(digits.format(row.try_get::<i64, _>(i)?));
            } else {
                text.push_str(row.try_get::<&str, _>(i)?);
            }
            if roots == Some(i + 1) {
                root = key_hash(&text);
            }
        }
        let key = key_hash(&text);
        let hash: Option<i64> = row.try_get(n)?;
        rows.push((key, hash.unwrap_or(0), root));
        if row.try_get::<bool, _>(n + 1)? {
            deleted.push(key);
        }
    }
    rows.sort_unstable_by_key(|&(k, _, _)| k);
    let roots = if roots.is_some() {
        rows.iter().map(|&(_, _, r)| r).collect()
    } else {
        Vec::new()
    };
    let rows: Vec<(u64, i64)> = rows.into_iter().map(|(k, h, _)| (k, h)).collect();
    let mut stored = Stored {
        deleted: Bits::new(rows.len()),
        seen: Bits::new(rows.len()),
        rows,
        roots,
        under: Vec::new(),
    };
    for key in deleted {
        let at = stored.position(key).expect("read above");
        stored.deleted.set(at);
    }
    Ok(stored)
}

/// A live row of `t` is gone when the listing lacks its key and its root record was not
/// rejected. With `under_parsed`, only rows under the parsed records' roots (`_listed_0 r`,
/// the first item returned, to be joined) are searched, through the index on the root key.
fn vanished(
    table: &Table,
    i: usize,
    root: &Table,
    under_parsed: bool,
) -> (Option<&'static str>, String) {
    let kept: Vec<String> = table.key[..root.key.len()]
        .iter()
        .enumerate()
        .map(|(k, c)| format!("kp.k{k} = t.{}", c.name))
        .collect();
    let mut gone = format!(
        "t._deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM _listed_{i} s WHERE {}) \
         AND NOT EXISTS (SELECT 1 FROM _keep kp WHERE {})",
        key_match(table, "s", "t"),
        kept.join(" AND ")
    );
    if !under_parsed {
        return (None, gone);
    }
    for (r, t) in root.key.iter().zip(&table.key) {
        gone.push_str(&format!(" AND r.{} = t.{}", r.name, t.name));
    }
    (Some("_listed_0 r"), gone)
}

#[cfg(test)]
mod tests {
    use crate::sync::load::{key_hash, key_text, position};

    #[test]
    fn a_key_hash_is_found_where_it_is_and_only_there() {
        for n in [0usize, 1, 2, 31, 33, 1000, 100_000] {
            let mut rows: Vec<(u64, i64)> = (0..n)
                .map(|i| (key_hash(&i.to_string()), i as i64))
                .collect();
            rows.sort_unstable();
            for (at, &(k, _)) in rows.iter().enumerate() {
                assert_eq!(position(&rows, k), Some(at), "{n} rows");
            }
            for i in n..n + 1000 {
                assert_eq!(position(&rows, key_hash(&i.to_string())), None);
            }
        }
        // Hashes bunched at one end (not even) are found too, and the ends of u64.
        let mut rows: Vec<(u64, i64)> = (0..5000u64).map(|i| (i * i, 0)).collect();
        rows.push((u64::MAX, 0));
        for (at, &(k, _)) in rows.iter().enumerate() {
            assert_eq!(position(&rows, k), Some(at));
        }
        assert_eq!(position(&rows, 2), None);
        assert_eq!(position(&rows, u64::MAX - 1), None);
    }

    #[test]
    fn the_key_is_the_leading_fields_of_a_row() {
        assert_eq!(key_text("7\tA\tx\t{}\t12\n", 1), "7");
        assert_eq!(key_text("7\tA\tx\t{}\t12\n", 2), "7\tA");
    }
}
