//! Exact-match index: a SwissTable of row ids keyed by the rows' key bytes.
//!
//! The keys themselves live in the table's arena; the index stores only a `u32` row id per
//! entry, so it costs about 4.6 bytes a row instead of a `String` key per row, and a probe
//! compares against the arena in place.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

/// A fixed seed keeps hashing deterministic across runs (handy when profiling); the keys
/// come from the table owner's own data, so hash flooding is not a concern here.
const SEED: u64 = 0x6c75_745f_6b65_7973;

pub struct ExactIndex {
    map: HashTable<u32>,
    hasher: FixedState,
}

impl std::fmt::Debug for ExactIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactIndex")
            .field("len", &self.map.len())
            .finish()
    }
}

impl ExactIndex {
    pub fn with_capacity(n: usize) -> Self {
        ExactIndex {
            map: HashTable::with_capacity(n),
            hasher: FixedState::with_seed(SEED),
        }
    }

    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Inserts `row` under `key`; when the key is already present returns the row that has
    /// it and inserts nothing.
    pub fn insert<'a>(
        &mut self,
        key: &[u8],
        row: u32,
        key_of: impl Fn(u32) -> &'a [u8],
    ) -> Result<(), u32> {
        let hash = self.hash(key);
        let hasher = &self.hasher;
        match self
            .map
            .entry(hash, |&r| key_of(r) == key, |&r| hasher.hash_one(key_of(r)))
        {
            hashbrown::hash_table::Entry::Occupied(e) => Err(*e.get()),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(row);
                Ok(())
            }
        }
    }

    #[inline]
    pub fn get<'a>(&self, key: &[u8], key_of: impl Fn(u32) -> &'a [u8]) -> Option<u32> {
        self.map
            .find(self.hash(key), |&r| key_of(r) == key)
            .copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Approximate heap bytes: one id plus one control byte per bucket.
    pub fn heap_bytes(&self) -> usize {
        self.map.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_and_duplicates() {
        let keys: Vec<Vec<u8>> = (0..10_000).map(|i| format!("k{i}").into_bytes()).collect();
        let key_of = |r: u32| keys[r as usize].as_slice();
        let mut idx = ExactIndex::with_capacity(4);
        for i in 0..keys.len() as u32 {
            idx.insert(&keys[i as usize], i, key_of).unwrap();
        }
        assert_eq!(idx.len(), 10_000);
        assert_eq!(idx.get(b"k1234", key_of), Some(1234));
        assert_eq!(idx.get(b"k10000", key_of), None);
        assert_eq!(idx.get(b"", key_of), None);
        assert_eq!(idx.insert(b"k77", 99, key_of), Err(77));
        assert_eq!(idx.get(b"k77", key_of), Some(77));
    }
}
