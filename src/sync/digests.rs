//! Digests of the root records of a full listing as their rows were last written
//! (`tributary.listed_records`): a record listed again with the same bytes is not parsed,
//! normalized or sent anywhere; its stored rows are as that record made them. A digest is a
//! 128-bit xxh3 of the record's bytes, seeded with what else decides the rows: tributary's
//! version, the table definitions and the time zone.

use chrono_tz::Tz;
use futures_util::TryStreamExt;
use sqlx::PgPool;

use super::table::Table;

/// The stream's written digests whose root rows are stored and live, by digest.
pub struct Digests {
    seed: u64,
    entries: Vec<Entry>,
    /// The entries' root keys, one after the other.
    keys: String,
}

/// One written record.
pub struct Entry {
    pub digest: u128,
    /// Where its root row is among the stored rows of the root table.
    pub position: usize,
    /// Its shape in the field catalogue (see `Profile::record`).
    pub shape: u64,
    key: (u32, u32),
}

impl Digests {
    /// No entries yet: records are digested, none is found.
    pub fn new(root: &Table, tz: Tz) -> Self {
        let what = format!("{} {tz} {root:?}", env!("CARGO_PKG_VERSION"));
        Self {
            seed: xxhash_rust::xxh3::xxh3_64(what.as_bytes()),
            entries: Vec::new(),
            keys: String::new(),
        }
    }

    /// Reads the stream's written digests (on a connection of its own, beside the reads of
    /// the stored rows).
    pub async fn read(
        mut self,
        pool: &PgPool,
        source: &str,
        stream: &str,
    ) -> Result<Self, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        let mut rows = sqlx::query_as::<_, (String, Vec<u8>, i64)>(
            "SELECT key, digest, shape FROM tributary.listed_records WHERE source = $1 AND stream = $2",
        )
        .bind(source)
        .bind(stream)
        .fetch(&mut *conn);
        while let Some((key, digest, shape)) = rows.try_next().await? {
            let Ok(digest) = <[u8; 16]>::try_from(&digest[..]) else {
                continue;
            };
            let start = self.keys.len() as u32;
            self.keys.push_str(&key);
            self.entries.push(Entry {
                digest: u128::from_le_bytes(digest),
                position: usize::MAX,
                shape: shape as u64,
                key: (start, self.keys.len() as u32),
            });
        }
        Ok(self)
    }

    /// Keeps the entries whose root row `position` finds by its key text (stored, live and
    /// hashed), and notes where that row is.
    pub fn resolve(mut self, position: impl Fn(&str) -> Option<usize>) -> Self {
        let keys = &self.keys;
        self.entries.retain_mut(|e| {
            let key = &keys[e.key.0 as usize..e.key.1 as usize];
            position(key).map(|at| e.position = at).is_some()
        });
        self.entries.sort_unstable_by_key(|e| e.digest);
        self.entries.shrink_to_fit();
        self
    }

    pub fn digest(&self, bytes: &[u8]) -> u128 {
        xxhash_rust::xxh3::xxh3_128_with_seed(bytes, self.seed)
    }

    /// The entry written with this digest, if any.
    pub fn find(&self, digest: u128) -> Option<usize> {
        self.entries
            .binary_search_by_key(&digest, |e| e.digest)
            .ok()
    }

    pub fn entry(&self, at: usize) -> &Entry {
        &self.entries[at]
    }

    /// The root key of an entry, as stored (columns separated by a tab).
    pub fn key(&self, at: usize) -> &str {
        let (start, end) = self.entries[at].key;
        &self.keys[start as usize..end as usize]
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A digest as COPY text of a `bytea`.
pub fn copy_text(digest: u128) -> String {
    format!("\\\\x{:032x}", u128::from_be_bytes(digest.to_le_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_copied_as_its_bytes_in_order() {
        let digest = u128::from_le_bytes(*b"0123456789abcdef");
        assert_eq!(copy_text(digest), "\\\\x30313233343536373839616263646566");
    }
}
