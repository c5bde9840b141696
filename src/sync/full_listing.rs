//! Full-listing streams: one GET returns every record of a kind. The body streams through
//! the parser and normalizer into staging tables while it downloads; when it is complete the
//! listing is merged in one transaction with its checkpoint (see `apply`). Rejected records
//! are written to `tributary.rejects`.

use std::collections::HashMap;

use bytes::Bytes;
use chrono_tz::Tz;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::apply::Applied;
use super::context::StreamContext;
use super::digests::Digests;
use super::error::SyncError;
use super::listing::{self, ChannelReader, Element, Item, Limits};
use super::load::{ListingBatch, Load, Router};
use super::normalize::{Normalizer, Prepared, Rejected};
use super::profile::Profile;
use super::table::Table;
use super::values::copy_line;
use crate::db::rejects::{self, Reject};
use crate::db::runs::RunCounts;
use crate::http::{ApiClient, error_chain};

/// A stream served as one complete listing.
#[derive(Debug, Clone)]
pub struct ListingStream {
    pub name: &'static str,
    /// Path below the source's base URL.
    pub path: &'static str,
    /// Key of the array when the listing is wrapped in an object.
    pub envelope: Option<&'static str>,
    pub table: Table,
}

/// Collects normalized rows into batches on the parser thread, routing each to the
/// database as new, changed or unchanged.
struct Sink {
    normalizer: Normalizer,
    router: Router,
    batch: ListingBatch,
    tables: usize,
    batch_rows: u64,
    tx: mpsc::Sender<ListingBatch>,
    rejects: Vec<Reject>,
    profile: Profile,
    /// Records listed unchanged, not parsed, per shape: how many, and the profile of one.
    shapes: HashMap<u64, (u64, Profile)>,
}

/// Shapes of records listed unchanged that a listing counts apart; records of further
/// shapes are parsed to be profiled.
const MAX_SHAPES: usize = 4096;

/// An element of the listing as a parser thread hands it over: a record's rows (or why it
/// does not fit), the bytes it was read from and its digest and shape; a record whose
/// digest was written before (entry `at`), not parsed; or an element that is not readable.
enum Parsed {
    Record {
        bytes: Vec<u8>,
        prepared: Prepared,
        written: Option<(u128, u64)>,
    },
    Unchanged {
        at: usize,
        bytes: Vec<u8>,
    },
    Unreadable {
        head: Vec<u8>,
        error: String,
    },
}

/// Threads that parse, profile and normalize a listing's records beside the one that scans
/// it and routes their rows: one per core, up to 4.
fn parse_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// Digests one element on a parser thread and, unless it was written so before, parses,
/// profiles and normalizes it, into that thread's profile; the parsed record is freed there.
fn prepare(
    shape: &Normalizer,
    digests: Option<&Digests>,
    profile: &mut Profile,
    element: Element,
) -> Parsed {
    let digest = match (digests, element.bytes()) {
        (Some(digests), Some(bytes)) => {
            let digest = digests.digest(bytes);
            if let Some(at) = digests.find(digest) {
                let bytes = element.into_bytes();
                return Parsed::Unchanged { at, bytes };
            }
            Some(digest)
        }
        _ => None,
    };
    match element.into_item() {
        Item::Record(record, bytes) => {
            let record_shape = profile.record(&record);
            let prepared = shape.prepare(&record);
            Parsed::Record {
                bytes,
                prepared,
                written: digest.map(|d| (d, record_shape)),
            }
        }
        Item::Unreadable { head, error } => Parsed::Unreadable { head, error },
    }
}

impl Sink {
    fn item(&mut self, item: Parsed) -> Result<(), String> {
        let (bytes, prepared, written) = match item {
            Parsed::Record {
                bytes,
                prepared,
                written,
            } => (bytes, prepared, written),
            Parsed::Unchanged { at, bytes } => {
                if self.router.unchanged(at, &mut self.batch) {
                    let shape = self.router.digests().map_or(0, |d| d.entry(at).shape);
                    self.count(shape, &bytes)?;
                } else {
                    let record = parse(&bytes)?;
                    self.profile.record(&record);
                    self.duplicate(record);
                }
                return self.flush_full();
            }
            Parsed::Unreadable { head, error } => {
                let rejected = self.normalizer.unreadable(&head, error);
                self.reject(rejected, rejects::unreadable_payload(&head));
                return Ok(());
            }
        };
        match self.normalizer.admit(prepared) {
            Ok(rows)
                if rows
                    .first()
                    .is_some_and(|(_, root)| self.router.taken(root)) =>
            {
                self.duplicate(parse(&bytes)?);
            }
            Ok(rows) => {
                for (i, line) in &rows {
                    self.router.route(*i, line, &mut self.batch)?;
                }
                if let (Some((digest, shape)), Some((_, root))) = (written, rows.first()) {
                    self.router.written(root, digest, shape, &mut self.batch);
                }
            }
            Err(error) => {
                // The bytes parsed on the parser thread: they parse here too.
                let record = parse(&bytes)?;
                let rejected = self.normalizer.rejected(&record, error);
                self.reject(rejected, record);
            }
        }
        self.flush_full()
    }

    /// Counts a record listed unchanged in the profile: as one more of its shape, or, for a
    /// shape not counted yet (or not known), by profiling its bytes.
    fn count(&mut self, shape: u64, bytes: &[u8]) -> Result<(), String> {
        if let Some((n, _)) = self.shapes.get_mut(&shape) {
            *n += 1;
            return Ok(());
        }
        let record = parse(bytes)?;
        if shape == 0 || self.shapes.len() >= MAX_SHAPES {
            self.profile.record(&record);
        } else {
            let mut one = self.profile.blank();
            one.record(&record);
            self.shapes.insert(shape, (1, one));
        }
        Ok(())
    }

    /// Refuses a record whose root key came before in the listing.
    fn duplicate(&mut self, record: Value) {
        let key = self
            .normalizer
            .key_of(&record)
            .unwrap_or_default()
            .join("/");
        let rejected = self
            .normalizer
            .rejected(&record, format!("duplicate key {key} in the listing"));
        self.reject(rejected, record);
    }

    fn flush_full(&mut self) -> Result<(), String> {
        if self.batch.rows() >= self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Sets a record aside; the rows stored under its keys stay as they are.
    fn reject(&mut self, rejected: Rejected, payload: Value) {
        for key in &rejected.keep {
            self.batch.keep.push_str(&copy_line(key));
        }
        self.rejects.push(Reject {
            key: rejected.key.map(|k| k.join("/")),
            payload: rejects::kept_payload(payload),
            error: rejected.error,
        });
    }

    fn flush(&mut self) -> Result<(), String> {
        let batch = std::mem::replace(&mut self.batch, ListingBatch::new(self.tables));
        if batch.is_empty() {
            return Ok(());
        }
        self.tx
            .blocking_send(batch)
            .map_err(|_| "the database writer stopped".to_string())
    }
}

fn parse(bytes: &[u8]) -> Result<Value, String> {
    listing::parse_json(bytes).map_err(|e| e.to_string())
}

/// Fetches the listing and applies it.
pub async fn sync(
    ctx: &StreamContext<'_>,
    client: &ApiClient,
    stream: &ListingStream,
    tz: Tz,
    counts: &mut RunCounts,
    profile: &mut Profile,
) -> Result<(), SyncError> {
    let endpoint = format!("GET {}", stream.path);
    let listing_error = |message: String| SyncError::Listing {
        source_name: client.source(),
        endpoint: endpoint.clone(),
        message,
    };
    // Lock first, so that concurrent writers apply listings in the order they fetched them.
    let lock = format!("tributary:{}:{}", ctx.source, stream.name);
    // A tree's records hold root rows of their own beneath them: those are parsed each time.
    let digests = stream
        .table
        .recursive
        .is_none()
        .then(|| (ctx.source, stream.name, Digests::new(&stream.table, tz)));
    let (mut load, router) =
        Load::begin(ctx.pool, &stream.table, &lock, ctx.run_id, digests).await?;
    let digests = router.digests();
    let mut response = client.get(stream.path).await?;

    let tables = stream.table.flatten().len();
    let (chunk_tx, chunk_rx) = mpsc::channel::<Result<Bytes, String>>(8);
    // One batch waits for the writer while the next is gathered: with the parser threads
    // ahead of the database on a first load, a second waiting batch was 6 MB more memory.
    let (batch_tx, batch_rx) = mpsc::channel::<ListingBatch>(1);
    let mut sink = Sink {
        normalizer: Normalizer::new(stream.table.clone(), tz),
        router,
        batch: ListingBatch::new(tables),
        tables,
        batch_rows: ctx.settings.batch_rows as u64,
        tx: batch_tx,
        rejects: Vec::new(),
        profile: std::mem::take(profile),
        shapes: HashMap::new(),
    };
    let envelope = stream.envelope;
    let limits = Limits {
        max_record_bytes: ctx.settings.max_record_bytes,
        max_listing_bytes: ctx.settings.max_listing_bytes,
    };
    let shape = Normalizer::new(stream.table.clone(), tz);
    let parser = tokio::task::spawn_blocking(move || {
        let blank = sink.profile.blank();
        let parsed = listing::parse(
            ChannelReader::new(chunk_rx),
            envelope,
            limits,
            parse_threads(),
            || blank.blank(),
            |profile, element| prepare(&shape, digests.as_deref(), profile, element),
            |item| sink.item(item),
        )
        .and_then(|(fetched, envelope, profiles)| {
            for profile in &profiles {
                sink.profile.merge(profile);
            }
            for (n, one) in sink.shapes.values() {
                sink.profile.merge_times(one, *n);
            }
            sink.flush()?;
            let listed = sink.router.listed()?;
            Ok((fetched, envelope, listed))
        });
        (parsed, sink.rejects, sink.profile)
    });
    let feed = async move {
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if chunk_tx.send(Ok(chunk)).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = chunk_tx
                        .send(Err(format!("the body broke off: {}", error_chain(&e))))
                        .await;
                    break;
                }
            }
        }
    };
    let write = async {
        // Owned here so that a failed writer drops the receiver and unblocks the parser.
        let mut batches = batch_rx;
        while let Some(batch) = batches.recv().await {
            load.write(batch).await?;
        }
        Ok::<(), sqlx::Error>(())
    };
    let ((), written) = tokio::join!(feed, write);
    let (parsed, rejected, profiled) = parser
        .await
        .map_err(|e| listing_error(format!("parser stopped: {e}")))?;
    *profile = profiled;
    counts.rejected = rejected.len() as u64;
    written?;
    let (fetched, envelope, listed) = parsed.map_err(&listing_error)?;
    counts.fetched = fetched;
    counts.unparsed = listed.unparsed;
    if envelope.get("success") == Some(&Value::Bool(false)) {
        return Err(listing_error(format!(
            "the answer says success=false: {envelope:?}"
        )));
    }
    // A record set aside without a readable key may be any stored row: this listing then
    // deletes nothing (the next one without such a record does).
    let keyless = rejected.iter().filter(|r| r.key.is_none()).count();
    if keyless > 0 {
        tracing::warn!(
            stream = stream.name,
            keyless,
            "records without a readable key were set aside; nothing is soft-deleted this time"
        );
    }
    let deletes = (keyless == 0).then(|| ctx.delete_policy());
    let complete = load
        .finish(
            ctx.run_id,
            deletes,
            &listed,
            (
                ctx.source,
                stream.name,
                json!({"complete_listing_at": chrono::Utc::now(), "records": fetched}),
            ),
        )
        .await?;
    rejects::record(ctx.pool, ctx.source, stream.name, ctx.run_id, &rejected).await?;
    match complete {
        Applied::Done(tables) => {
            counts.tables = tables;
            Ok(())
        }
        Applied::Refused(trip) => Err(SyncError::Guard(trip)),
    }
}
