//! Streaming a JSON listing: the response body flows chunk by chunk into a blocking parser
//! that hands each element of the array (bare, or inside an envelope object under a named
//! key) to a callback, so a listing of any size is never held in memory whole.

use std::fmt;
use std::io::Read;

use bytes::Bytes;
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

/// The fields of an envelope object other than the listed array.
pub type Envelope = Map<String, Value>;

/// Parses a listing from `reader`, handing each element to `on_item` (an error it returns
/// stops the parse). Returns the number of elements and the envelope's other fields.
pub fn parse<R: Read, F: FnMut(Value) -> Result<(), String>>(
    reader: R,
    envelope: Option<&'static str>,
    mut on_item: F,
) -> Result<(u64, Envelope), String> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = Root {
        envelope,
        on_item: &mut on_item,
    }
    .deserialize(&mut de)
    .map_err(|e| e.to_string())?;
    de.end()
        .map_err(|e| format!("trailing data after the listing: {e}"))?;
    Ok(result)
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

struct Root<'f, F> {
    envelope: Option<&'static str>,
    on_item: &'f mut F,
}

impl<'de, F: FnMut(Value) -> Result<(), String>> DeserializeSeed<'de> for Root<'_, F> {
    type Value = (u64, Envelope);
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(Value) -> Result<(), String>> Visitor<'de> for Root<'_, F> {
    type Value = (u64, Envelope);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.envelope {
            Some(key) => write!(f, "an object with an array `{key}`"),
            None => f.write_str("a JSON array"),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let count = Items(self.on_item).visit_seq(seq)?;
        Ok((count, Envelope::new()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(wanted) = self.envelope else {
            return Err(A::Error::custom("expected a JSON array, got an object"));
        };
        let mut count = None;
        let mut rest = Envelope::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == wanted {
                count = Some(map.next_value_seed(Items(&mut *self.on_item))?);
            } else {
                rest.insert(key, map.next_value()?);
            }
        }
        let count =
            count.ok_or_else(|| A::Error::custom(format!("the answer has no `{wanted}`")))?;
        Ok((count, rest))
    }
}

struct Items<'f, F>(&'f mut F);

impl<'de, F: FnMut(Value) -> Result<(), String>> DeserializeSeed<'de> for Items<'_, F> {
    type Value = u64;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Value) -> Result<(), String>> Visitor<'de> for Items<'_, F> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut count = 0;
        while let Some(item) = seq.next_element::<Value>()? {
            (self.0)(item).map_err(A::Error::custom)?;
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        body: &str,
        envelope: Option<&'static str>,
    ) -> Result<(Vec<Value>, u64, Envelope), String> {
        let mut items = Vec::new();
        let (count, rest) = parse(body.as_bytes(), envelope, |v| {
            items.push(v);
            Ok(())
        })?;
        Ok((items, count, rest))
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
            let parsed = parse(ChannelReader::new(rx), None, |v| {
                names.push(v["name"].as_str().unwrap().to_string());
                Ok(())
            });
            (parsed.map(|(n, _)| n), names)
        });
        for byte in body.chunks(1) {
            tx.send(Ok(Bytes::copy_from_slice(byte))).await.unwrap();
        }
        drop(tx);
        let (count, names) = handle.await.unwrap();
        assert_eq!(count, Ok(2));
        assert_eq!(names, vec!["Müller", "東京"]);
    }
}
