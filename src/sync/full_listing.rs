//! Full-listing streams: one GET returns every record of a kind. The body streams through
//! the parser and normalizer into staging tables while it downloads; when it is complete the
//! listing is merged in one transaction with its checkpoint (see `apply`). Rejected records
//! are written to `tributary.rejects`.

use bytes::Bytes;
use chrono_tz::Tz;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::apply::Applied;
use super::context::StreamContext;
use super::error::SyncError;
use super::listing::{self, ChannelReader, Item, Limits};
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
}

/// An element of the listing as a parser thread hands it over: a record's rows (or why it
/// does not fit) and the bytes it was read from, or an element that is not readable.
enum Parsed {
    Record { bytes: Vec<u8>, prepared: Prepared },
    Unreadable { head: Vec<u8>, error: String },
}

/// Threads that parse, profile and normalize a listing's records beside the one that scans
/// it and routes their rows: one per core, up to 4.
fn parse_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// Parses, profiles and normalizes one element on a parser thread, into that thread's
/// profile; the parsed record is freed there.
fn prepare(shape: &Normalizer, profile: &mut Profile, item: Item) -> Parsed {
    match item {
        Item::Record(record, bytes) => {
            profile.record(&record);
            let prepared = shape.prepare(&record);
            Parsed::Record { bytes, prepared }
        }
        Item::Unreadable { head, error } => Parsed::Unreadable { head, error },
    }
}

impl Sink {
    fn item(&mut self, item: Parsed) -> Result<(), String> {
        let (bytes, prepared) = match item {
            Parsed::Record { bytes, prepared } => (bytes, prepared),
            Parsed::Unreadable { head, error } => {
                let rejected = self.normalizer.unreadable(&head, error);
                self.reject(rejected, rejects::unreadable_payload(&head));
                return Ok(());
            }
        };
        match self.normalizer.admit(prepared) {
            Ok(rows) => {
                for (i, line) in rows {
                    self.router.route(i, &line, &mut self.batch);
                }
            }
            Err(error) => {
                // The bytes parsed on the parser thread: they parse here too.
                let record: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                let rejected = self.normalizer.rejected(&record, error);
                self.reject(rejected, record);
            }
        }
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
    let (mut load, router) = Load::begin(ctx.pool, &stream.table, &lock, ctx.run_id).await?;
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
            |profile, item| prepare(&shape, profile, item),
            |item| sink.item(item),
        )
        .and_then(|(fetched, envelope, profiles)| {
            for profile in &profiles {
                sink.profile.merge(profile);
            }
            sink.flush().map(|()| (fetched, envelope))
        });
        (parsed, sink.rejects, sink.router.unseen(), sink.profile)
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
    let (parsed, rejected, unseen, profiled) = parser
        .await
        .map_err(|e| listing_error(format!("parser stopped: {e}")))?;
    *profile = profiled;
    counts.rejected = rejected.len() as u64;
    written?;
    let (fetched, envelope) = parsed.map_err(&listing_error)?;
    counts.fetched = fetched;
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
            &unseen,
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
