//! Streaming a JSON listing: the response body flows chunk by chunk into a blocking
//! scanner that cuts the array (bare, or inside an envelope object under a named key) into
//! its elements by their bytes, and parses each element on its own. So a listing of any size
//! is never held in memory whole, one element larger than `max_record_bytes` is kept only
//! up to that size, and an element that is not valid JSON (invalid UTF-8, a lone surrogate)
//! is handed over as unreadable instead of ending the listing: the caller quarantines it
//! and the rest goes on. Only a broken structure (the body cut off, not an array) fails the
//! listing.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::sync::{Mutex, PoisonError, mpsc as mpsc_std};

use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

/// The fields of an envelope object other than the listed array.
pub type Envelope = Map<String, Value>;

/// How much the scanner reads.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes one element may have; a larger one is unreadable (its first bytes are kept).
    pub max_record_bytes: usize,
    /// Bytes the whole listing may have; a larger one fails.
    pub max_listing_bytes: u64,
}

/// One element of the listing.
#[derive(Debug)]
pub enum Item {
    /// A record, and the bytes it was read from.
    Record(Value, Vec<u8>),
    /// Not storable as it came: `head` holds its first bytes (at most `max_record_bytes`).
    Unreadable { head: Vec<u8>, error: String },
}

/// One scanned element of the listing, not parsed yet.
pub struct Element(Captured);

impl Element {
    /// The element's bytes, when it is within the record limit.
    pub fn bytes(&self) -> Option<&[u8]> {
        (self.0.total <= self.0.limit as u64).then_some(&self.0.bytes[..])
    }

    /// Its bytes, parsed.
    pub fn into_item(self) -> Item {
        self.0.into_item()
    }

    /// Its bytes (up to the record limit), not parsed.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0.bytes
    }
}

/// A JSON value from bytes. Valid UTF-8 is checked once for the whole value, not string by
/// string as `from_slice` does; bytes that are not UTF-8 get `from_slice`'s own error.
pub(super) fn parse_json(bytes: &[u8]) -> serde_json::Result<Value> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// Elements handed to a worker at a time: at most this many,
const CHUNK: usize = 64;
/// and no more once their bytes reach this.
const CHUNK_BYTES: usize = 256 * 1024;
/// Bytes of elements in flight (handed to the workers, not yet handed over) above which the
/// scanner waits: a listing of records near `sync.max_record_bytes` holds about one at a
/// time in flight, not chunks of them.
const MAX_IN_FLIGHT_BYTES: u64 = 4 * 1024 * 1024;

/// Parses a listing from `reader`: this thread scans it into elements while `workers`
/// threads (at least one) pass each through `prepare` (which parses it, or not), with that thread's own
/// state (made by `init`), and what `prepare` returns is handed to `on_item` here, in the
/// listing's order (an error it returns stops the parse). Chunks of elements in flight are
/// bounded in number and bytes. What a worker allocates to parse a record is freed by it: only
/// what `prepare` returns crosses threads. Returns the number of elements, the envelope's
/// other fields and the workers' states.
#[allow(clippy::too_many_arguments)]
pub fn parse<R, S, T, I, P, F>(
    reader: R,
    envelope: Option<&'static str>,
    limits: Limits,
    workers: usize,
    init: I,
    prepare: P,
    mut on_item: F,
) -> Result<(u64, Envelope, Vec<S>), String>
where
    R: Read,
    S: Send,
    T: Send,
    I: Fn() -> S + Sync,
    P: Fn(&mut S, Element) -> T + Sync,
    F: FnMut(T) -> Result<(), String>,
{
    let (work_tx, work_rx) = mpsc_std::channel::<(u64, Vec<Captured>)>();
    let work_rx = Mutex::new(work_rx);
    std::thread::scope(|scope| {
        // Owned here: dropped before the workers are joined, so that they stop waiting.
        let work_tx = work_tx;
        let (done_tx, done_rx) = mpsc_std::channel::<(u64, Vec<T>)>();
        let threads: Vec<_> = (0..workers.max(1))
            .map(|_| {
                let (work_rx, done_tx, init, prepare) =
                    (&work_rx, done_tx.clone(), &init, &prepare);
                scope.spawn(move || {
                    let mut state = init();
                    loop {
                        let next = work_rx
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .recv();
                        let Ok((seq, chunk)) = next else { break };
                        let prepared = chunk
                            .into_iter()
                            .map(|element| prepare(&mut state, Element(element)))
                            .collect();
                        if done_tx.send((seq, prepared)).is_err() {
                            break;
                        }
                    }
                    state
                })
            })
            .collect();
        drop(done_tx);
        let mut order = InOrder::new(done_rx, 2 * threads.len() as u64 + 2);
        let submit = |order: &mut InOrder<T>, chunk: Vec<Captured>, on_item: &mut F| {
            while order.full() {
                order.wait(on_item)?;
            }
            let bytes = chunk.iter().map(|e| e.bytes.len() as u64).sum();
            work_tx
                .send((order.sent, chunk))
                .map_err(|_| STOPPED.to_string())?;
            order.count_sent(bytes);
            order.drain(on_item)
        };
        let mut pending = Vec::with_capacity(CHUNK);
        let mut pending_bytes = 0;
        let parsed = scan(reader, envelope, limits, &mut |element| {
            pending_bytes += element.bytes.len();
            pending.push(element);
            if pending.len() == CHUNK || pending_bytes >= CHUNK_BYTES {
                let chunk = std::mem::replace(&mut pending, Vec::with_capacity(CHUNK));
                pending_bytes = 0;
                submit(&mut order, chunk, &mut on_item)?;
            }
            Ok(())
        })
        .and_then(|parsed| {
            if !pending.is_empty() {
                submit(&mut order, std::mem::take(&mut pending), &mut on_item)?;
            }
            while order.delivered < order.sent {
                order.wait(&mut on_item)?;
            }
            Ok(parsed)
        });
        drop(work_tx);
        drop(order);
        let states = threads
            .into_iter()
            .map(|t| t.join().map_err(|_| STOPPED.to_string()))
            .collect::<Result<Vec<S>, String>>();
        let (count, rest) = parsed?;
        Ok((count, rest, states?))
    })
}

const STOPPED: &str = "the listing's parser threads stopped";

/// Chunks handed to the workers, delivered in the order they were sent.
struct InOrder<T> {
    done: mpsc_std::Receiver<(u64, Vec<T>)>,
    ready: BTreeMap<u64, Vec<T>>,
    sent: u64,
    delivered: u64,
    max_in_flight: u64,
    /// Bytes of each chunk in flight, oldest first, and their sum.
    sizes: VecDeque<u64>,
    bytes: u64,
}

impl<T> InOrder<T> {
    fn new(done: mpsc_std::Receiver<(u64, Vec<T>)>, max_in_flight: u64) -> Self {
        Self {
            done,
            ready: BTreeMap::new(),
            sent: 0,
            delivered: 0,
            max_in_flight,
            sizes: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Whether another chunk must wait until one is handed over: enough chunks or bytes
    /// are in flight (one chunk may always go).
    fn full(&self) -> bool {
        self.sent > self.delivered
            && (self.sent - self.delivered >= self.max_in_flight
                || self.bytes >= MAX_IN_FLIGHT_BYTES)
    }

    /// Counts a chunk of `bytes` handed to the workers.
    fn count_sent(&mut self, bytes: u64) {
        self.sent += 1;
        self.sizes.push_back(bytes);
        self.bytes += bytes;
    }

    /// Waits for one chunk, then delivers what is in order.
    fn wait<F: FnMut(T) -> Result<(), String>>(&mut self, on_item: &mut F) -> Result<(), String> {
        let (seq, chunk) = self.done.recv().map_err(|_| STOPPED.to_string())?;
        self.ready.insert(seq, chunk);
        self.drain(on_item)
    }

    /// Delivers the chunks that arrived and are next in order.
    fn drain<F: FnMut(T) -> Result<(), String>>(&mut self, on_item: &mut F) -> Result<(), String> {
        while let Ok((seq, chunk)) = self.done.try_recv() {
            self.ready.insert(seq, chunk);
        }
        while let Some(chunk) = self.ready.remove(&self.delivered) {
            self.delivered += 1;
            self.bytes -= self.sizes.pop_front().unwrap_or(0);
            for prepared in chunk {
                on_item(prepared)?;
            }
        }
        Ok(())
    }
}

/// Scans a listing, handing each element's bytes to `on_element`.
fn scan<R: Read>(
    reader: R,
    envelope: Option<&'static str>,
    limits: Limits,
    on_element: &mut dyn FnMut(Captured) -> Result<(), String>,
) -> Result<(u64, Envelope), String> {
    let mut scan = Scanner::new(reader, limits);
    let mut rest = Envelope::new();
    let count = match (scan.non_space()?, envelope) {
        (Some(b'['), _) => scan.elements(on_element)?,
        (Some(b'{'), Some(wanted)) => {
            let mut count = None;
            loop {
                match scan.non_space()? {
                    Some(b'}') if count.is_some() || rest.is_empty() => break,
                    Some(b'"') => {}
                    _ => return Err("the answer's object is malformed".into()),
                }
                let key = scan.string_tail()?;
                if scan.non_space()? != Some(b':') {
                    return Err(format!("expected `:` after the key {key:?}"));
                }
                if key == wanted {
                    if scan.non_space()? != Some(b'[') {
                        return Err(format!("`{wanted}` is not a JSON array"));
                    }
                    count = Some(scan.elements(on_element)?);
                } else {
                    let value = scan.value()?;
                    let parsed = serde_json::from_slice(&value.bytes)
                        .map_err(|e| format!("the answer's `{key}`: {e}"))?;
                    rest.insert(key, parsed);
                }
                match scan.non_space()? {
                    Some(b',') => {}
                    Some(b'}') => break,
                    _ => return Err("the answer's object is malformed".into()),
                }
            }
            count.ok_or_else(|| format!("the answer has no `{wanted}`"))?
        }
        (Some(b'{'), None) => return Err("expected a JSON array, got an object".into()),
        (Some(_), Some(wanted)) => {
            return Err(format!(
                "expected an object with an array `{wanted}`, got something else"
            ));
        }
        (Some(_), None) => return Err("expected a JSON array, got something else".into()),
        (None, _) => return Err("the answer is empty".into()),
    };
    if scan.non_space()?.is_some() {
        return Err("trailing data after the listing".into());
    }
    Ok((count, rest))
}

/// One scanned JSON value: its bytes up to the record limit, and whether it had more.
struct Captured {
    bytes: Vec<u8>,
    total: u64,
    limit: usize,
}

impl Captured {
    fn new(limit: usize) -> Self {
        Self {
            bytes: Vec::new(),
            total: 0,
            limit,
        }
    }

    fn keep(&mut self, b: u8) {
        self.keep_all(&[b]);
    }

    /// The element as a record, or as unreadable when it is too large or not valid JSON.
    fn into_item(self) -> Item {
        let limit = self.limit;
        if self.total > limit as u64 {
            return Item::Unreadable {
                error: format!(
                    "the record has {} bytes, more than sync.max_record_bytes ({limit})",
                    self.total
                ),
                head: self.bytes,
            };
        }
        match parse_json(&self.bytes) {
            Ok(record) => Item::Record(record, self.bytes),
            Err(e) => Item::Unreadable {
                head: self.bytes,
                error: format!("not valid JSON: {e}"),
            },
        }
    }

    fn keep_all(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = self.limit.saturating_sub(self.bytes.len());
        self.bytes
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// Where a scan is inside an object or array: the brackets still open (a `]` closing a `{`
/// is a broken structure, which fails the listing rather than run one record into the
/// next), and whether it is in a string, just after a backslash.
struct Nesting {
    open: Vec<u8>,
    in_string: bool,
    escaped: bool,
}

impl Nesting {
    /// Just after `first`, an opening bracket.
    fn new(first: u8) -> Self {
        Self {
            open: vec![if first == b'{' { b'}' } else { b']' }],
            in_string: false,
            escaped: false,
        }
    }

    /// Scans on through `bytes`: where the value ends, just past its closing bracket, or
    /// None when it goes on past them.
    fn scan(&mut self, bytes: &[u8]) -> Result<Option<usize>, String> {
        let mut i = 0;
        while i < bytes.len() {
            if self.escaped {
                self.escaped = false;
                i += 1;
            } else if self.in_string {
                let Some(run) = memchr::memchr2(b'"', b'\\', &bytes[i..]) else {
                    return Ok(None);
                };
                i += run;
                if bytes[i] == b'\\' {
                    self.escaped = true;
                } else {
                    self.in_string = false;
                }
                i += 1;
            } else {
                let b = bytes[i];
                i += 1;
                match b {
                    b'"' => self.in_string = true,
                    b'{' => self.open.push(b'}'),
                    b'[' => self.open.push(b']'),
                    b'}' | b']' => {
                        if self.open.pop() != Some(b) {
                            return Err("mismatched brackets in the listing".into());
                        }
                        if self.open.is_empty() {
                            return Ok(Some(i));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(None)
    }
}

/// Reads a JSON text through its own buffer.
struct Scanner<R> {
    reader: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// A byte read too far (the end of a number), to be read again.
    back: Option<u8>,
    read: u64,
    limits: Limits,
}

impl<R: Read> Scanner<R> {
    fn new(reader: R, limits: Limits) -> Self {
        Self {
            reader,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
            back: None,
            read: 0,
            limits,
        }
    }

    fn next(&mut self) -> Result<Option<u8>, String> {
        if let Some(b) = self.back.take() {
            return Ok(Some(b));
        }
        if self.pos == self.len && !self.fill()? {
            return Ok(None);
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(Some(b))
    }

    /// Reads the next bytes into the buffer, all of it read; false at the end of the body.
    fn fill(&mut self) -> Result<bool, String> {
        self.len = loop {
            match self.reader.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        };
        self.pos = 0;
        if self.len == 0 {
            return Ok(false);
        }
        self.read += self.len as u64;
        if self.read > self.limits.max_listing_bytes {
            return Err(format!(
                "the listing is larger than sync.max_listing_bytes ({} bytes)",
                self.limits.max_listing_bytes
            ));
        }
        Ok(true)
    }

    fn must(&mut self) -> Result<u8, String> {
        self.next()?
            .ok_or_else(|| "the body ended inside the listing".to_string())
    }

    fn non_space(&mut self) -> Result<Option<u8>, String> {
        loop {
            match self.next()? {
                Some(b' ' | b'\t' | b'\n' | b'\r') => {}
                other => return Ok(other),
            }
        }
    }

    /// The elements of an array whose `[` was read, each handed to `on_element`.
    fn elements(
        &mut self,
        on_element: &mut dyn FnMut(Captured) -> Result<(), String>,
    ) -> Result<u64, String> {
        let mut count = 0;
        match self.non_space()? {
            Some(b']') => return Ok(0),
            Some(b) => self.back = Some(b),
            None => return Err("the body ended inside the listing".into()),
        }
        loop {
            on_element(self.value()?)?;
            count += 1;
            match self.non_space()? {
                Some(b',') => {}
                Some(b']') => return Ok(count),
                Some(_) => return Err("expected `,` or `]` between the listing's records".into()),
                None => return Err("the body ended inside the listing".into()),
            }
        }
    }

    /// The bytes of the next value, kept up to the record limit, read to its end.
    fn value(&mut self) -> Result<Captured, String> {
        let mut out = Captured::new(self.limits.max_record_bytes);
        let first = self
            .non_space()?
            .ok_or_else(|| "the body ended inside the listing".to_string())?;
        match first {
            b'{' | b'[' => {
                // Read through the buffer a run at a time: the bytes of the buffer up to
                // where the value ends are taken whole.
                let mut nesting = Nesting::new(first);
                out.keep(first);
                loop {
                    let rest = &self.buf[self.pos..self.len];
                    if let Some(end) = nesting.scan(rest)? {
                        out.keep_all(&rest[..end]);
                        self.pos += end;
                        return Ok(out);
                    }
                    out.keep_all(rest);
                    self.pos = self.len;
                    if !self.fill()? {
                        return Err("the body ended inside the listing".into());
                    }
                }
            }
            b'"' => {
                out.keep(first);
                self.string_into(&mut out)?;
                Ok(out)
            }
            b',' | b']' | b'}' | b':' => Err("a value is missing in the listing".into()),
            _ => {
                out.keep(first);
                loop {
                    match self.next()? {
                        Some(b @ (b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')) => {
                            self.back = Some(b);
                            return Ok(out);
                        }
                        Some(b) => out.keep(b),
                        None => return Ok(out),
                    }
                }
            }
        }
    }

    /// The rest of a string whose opening quote was read, closing quote included. The runs
    /// without a quote or a backslash are taken from the buffer whole.
    fn string_into(&mut self, out: &mut Captured) -> Result<(), String> {
        loop {
            if self.back.is_none() {
                let rest = &self.buf[self.pos..self.len];
                let run = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                out.keep_all(&rest[..run]);
                self.pos += run;
            }
            let b = self.must()?;
            out.keep(b);
            match b {
                b'"' => return Ok(()),
                b'\\' => {
                    let escaped = self.must()?;
                    out.keep(escaped);
                }
                _ => {}
            }
        }
    }

    /// An object key whose opening quote was read.
    fn string_tail(&mut self) -> Result<String, String> {
        let mut out = Captured::new(self.limits.max_record_bytes);
        out.keep(b'"');
        self.string_into(&mut out)?;
        serde_json::from_slice(&out.bytes).map_err(|e| format!("a key of the answer: {e}"))
    }
}

/// A blocking `Read` over body chunks sent from async code; an `Err` chunk is a transport
/// failure and surfaces as a read error.
pub struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    chunk: Bytes,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<Result<Bytes, String>>) -> Self {
        Self {
            rx,
            chunk: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len());
        out[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_record_bytes: 64,
        max_listing_bytes: 1 << 20,
    };

    #[test]
    fn records_parse_as_from_slice_parses_them_errors_included() {
        let cases: [&[u8]; 6] = [
            "{\"a\": \"äö€ \\u00e4 \\n\", \"n\": 8500.10, \"big\": 123456789012345678901234567890}"
                .as_bytes(),
            b"{\"a\": \"\xff\"}",
            b"{\"a\": \"\xc3\"}",
            b"{\"a\": 1,}",
            b"[1, \"x\"\n, {\"b\": nul}]",
            b"{\"k\": \"\xe2\x82\xac\"}",
        ];
        for bytes in cases {
            let expected = serde_json::from_slice::<Value>(bytes).map_err(|e| e.to_string());
            let got = parse_json(bytes).map_err(|e| e.to_string());
            assert_eq!(got, expected, "{}", String::from_utf8_lossy(bytes));
        }
        assert!(parse_json(b"{\"a\": \"\xff\"}").is_err());
    }

    /// Parses `body` with elements handed over as they are, on `workers` threads.
    fn parse_on<F: FnMut(Item) -> Result<(), String>>(
        body: &[u8],
        envelope: Option<&'static str>,
        workers: usize,
        on_item: F,
    ) -> Result<(u64, Envelope), String> {
        parse(
            body,
            envelope,
            LIMITS,
            workers,
            || (),
            |(), element| element.into_item(),
            on_item,
        )
        .map(|(count, rest, _)| (count, rest))
    }

    /// Parses `body` on one worker thread and on three; both must agree.
    fn run(
        body: &str,
        envelope: Option<&'static str>,
    ) -> Result<(Vec<Value>, u64, Envelope), String> {
        let with = |workers| {
            let mut items = Vec::new();
            let (count, rest) = parse_on(body.as_bytes(), envelope, workers, |item| {
                match item {
                    Item::Record(v, _) => items.push(v),
                    Item::Unreadable { error, .. } => items.push(Value::String(error)),
                }
                Ok(())
            })?;
            Ok((items, count, rest))
        };
        let one = with(1);
        assert_eq!(with(3), one, "three worker threads parse as one does");
        one
    }

    #[test]
    fn worker_threads_hand_records_over_in_order_with_their_own_state_and_stop_on_an_error() {
        let body = format!(
            "[{}]",
            (0..1000)
                .map(|i| match i {
                    500 => r#"{"id":"\ud800"}"#.to_string(),
                    _ => format!(r#"{{"id":{i}}}"#),
                })
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut ids = Vec::new();
        let (count, _, states) = parse(
            body.as_bytes(),
            None,
            LIMITS,
            3,
            || 0,
            |seen: &mut u64, element| {
                *seen += 1;
                let read = element.bytes().map(<[u8]>::to_vec);
                match element.into_item() {
                    Item::Record(v, bytes) => {
                        assert_eq!(read.as_ref(), Some(&bytes), "the bytes it was read from");
                        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), v);
                        v["id"].as_i64().unwrap()
                    }
                    Item::Unreadable { .. } => -1,
                }
            },
            |id| {
                ids.push(id);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(count, 1000);
        let expected: Vec<i64> = (0..1000).map(|i| if i == 500 { -1 } else { i }).collect();
        assert_eq!(ids, expected);
        assert_eq!((states.len(), states.iter().sum::<u64>()), (3, 1000));

        let mut seen = 0;
        let err = parse_on(body.as_bytes(), None, 2, |_| {
            seen += 1;
            if seen == 300 {
                Err("the writer stopped".to_string())
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!((err.as_str(), seen), ("the writer stopped", 300));
    }

    #[test]
    fn chunks_in_flight_are_bounded_by_count_and_by_bytes() {
        let (done_tx, done_rx) = mpsc_std::channel::<(u64, Vec<u8>)>();
        let mut order = InOrder::new(done_rx, 3);
        assert!(!order.full(), "one chunk may always go");
        order.count_sent(MAX_IN_FLIGHT_BYTES * 16);
        assert!(order.full(), "one huge chunk in flight: the next waits");
        let mut got = Vec::new();
        done_tx.send((0, vec![1])).unwrap();
        order
            .wait(&mut |b| {
                got.push(b);
                Ok(())
            })
            .unwrap();
        assert!(!order.full(), "handed over: the next may go");
        for _ in 0..3 {
            order.count_sent(10);
        }
        assert!(order.full(), "three small chunks are the most");
        for seq in 1..4 {
            done_tx.send((seq, vec![seq as u8 + 1])).unwrap();
        }
        order
            .drain(&mut |b| {
                got.push(b);
                Ok(())
            })
            .unwrap();
        assert_eq!(
            (got, order.bytes, order.full()),
            (vec![1, 2, 3, 4], 0, false)
        );
    }

    #[test]
    fn bare_arrays_and_envelopes() {
        let (items, count, _) = run(r#"[{"id":1},{"id":2}]"#, None).unwrap();
        assert_eq!((items.len(), count), (2, 2));
        let (items, count, rest) = run(
            r#"{"success":true,"documents":[{"id":1}],"count":1}"#,
            Some("documents"),
        )
        .unwrap();
        assert_eq!((items.len(), count), (1, 1));
        assert_eq!(rest["count"], 1);
        assert!(
            run(r#"{"success":false}"#, Some("documents"))
                .unwrap_err()
                .contains("no `documents`")
        );
        assert!(run(r#"{"a":1}"#, None).is_err());
        assert!(
            run(r#"[{"id":1}] x"#, None)
                .unwrap_err()
                .contains("trailing")
        );
        assert!(
            run(r#"[{"id":1},"#, None).is_err(),
            "a truncated body is an error"
        );
    }

    #[tokio::test]
    async fn chunks_split_anywhere_parse_the_same() {
        let body = r#"[{"id":1,"name":"Müller"},{"id":2,"name":"東京"}]"#.as_bytes();
        let (tx, rx) = mpsc::channel(4);
        let handle = tokio::task::spawn_blocking(move || {
            let mut names = Vec::new();
            let parsed = parse(
                ChannelReader::new(rx),
                None,
                LIMITS,
                2,
                || (),
                |(), element| element.into_item(),
                |item| {
                    let Item::Record(v, _) = item else {
                        panic!("{item:?}")
                    };
                    names.push(v["name"].as_str().unwrap().to_string());
                    Ok(())
                },
            );
            (parsed.map(|(n, _, _)| n), names)
        });
        for byte in body.chunks(1) {
            tx.send(Ok(Bytes::copy_from_slice(byte))).await.unwrap();
        }
        drop(tx);
        let (count, names) = handle.await.unwrap();
        assert_eq!(count, Ok(2));
        assert_eq!(names, vec!["Müller", "東京"]);
    }

    #[test]
    fn one_unreadable_or_oversized_record_does_not_end_the_listing() {
        let body = "[{\"id\":1},{\"id\":2,\"name\":\"\\ud800\"},{\"id\":3,\"long\":\"".to_string()
            + &"x".repeat(500)
            + "\"},{\"id\":4}]";
        let mut got = Vec::new();
        let (count, _) = parse_on(body.as_bytes(), None, 2, |item| {
            got.push(item);
            Ok(())
        })
        .unwrap();
        assert_eq!(count, 4);
        assert!(matches!(&got[0], Item::Record(v, _) if v["id"] == 1));
        assert!(
            matches!(&got[1], Item::Unreadable { error, .. } if error.contains("not valid JSON")),
            "{:?}",
            got[1]
        );
        match &got[2] {
            Item::Unreadable { head, error } => {
                assert_eq!(head.len(), 64, "kept only up to the limit");
                assert!(head.starts_with(br#"{"id":3"#));
                assert!(error.contains("max_record_bytes"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&got[3], Item::Record(v, _) if v["id"] == 4));

        // Before it is parsed, an element offers its bytes only when it is within the limit.
        let mut sizes = Vec::new();
        parse(
            body.as_bytes(),
            None,
            LIMITS,
            2,
            || (),
            |(), element| element.bytes().map(<[u8]>::len),
            |size| {
                sizes.push(size);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(sizes, vec![Some(8), Some(24), None, Some(8)]);
    }

    #[test]
    fn invalid_utf8_is_one_unreadable_record() {
        let mut body = br#"[{"id":1,"name":"M"#.to_vec();
        body.push(0xff);
        body.extend_from_slice(br#"ller"},{"id":2}]"#);
        let mut got = Vec::new();
        parse_on(&body[..], None, 1, |item| {
            got.push(item);
            Ok(())
        })
        .unwrap();
        assert!(matches!(&got[0], Item::Unreadable { .. }), "{:?}", got[0]);
        assert!(matches!(&got[1], Item::Record(v, _) if v["id"] == 2));
    }

    #[test]
    fn mismatched_brackets_fail_the_listing_instead_of_joining_records() {
        let err = run(r#"[{"id":1,"a":[1},{"id":2}],{"id":3}]"#, None).unwrap_err();
        assert!(err.contains("mismatched"), "{err}");
    }

    #[test]
    fn a_listing_over_its_ceiling_fails() {
        let body = format!("[{}1]", "1,".repeat(1 << 20));
        let err = parse_on(body.as_bytes(), None, 2, |_| Ok(())).unwrap_err();
        assert!(err.contains("max_listing_bytes"), "{err}");
    }

    #[test]
    fn escaped_quotes_and_brackets_inside_strings_do_not_cut_records() {
        let (items, count, _) = run(r#"[{"a":"x\"]}[{"},{"b":[1,{"c":"}"}]}]"#, None).unwrap();
        assert_eq!(count, 2);
        assert_eq!(items[0]["a"], "x\"]}[{");
        assert_eq!(items[1]["b"][1]["c"], "}");
    }
}
