//! Exact-match index: an open-addressing hash table whose slots are single `u64`s holding
//! a short hash tag and a payload (the table's arena offset of the row).
//!
//! Why not a general-purpose map: with tables far larger than the CPU caches, an exact
//! lookup costs cache misses, not instructions. Here a probe reads one slot (linear probing
//! at a load factor of at most 1/2 rarely leaves its cache line), compares 24 bits of tag,
//! and only on a tag match touches the arena, where the key and the row's fragment sit
//! together. A miss therefore usually costs one cache miss and a hit two, and since both
//! addresses follow from the hash alone, a caller that knows its keys ahead of time can
//! prefetch them ([`ExactIndex::prefetch_slot`], [`ExactIndex::prefetch_payload`]).
//!
//! The index stores no keys: callers compare through a `key_of(payload)` function, so the
//! keys live only once, in the table's arena.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

/// A fixed seed keeps hashing deterministic across runs (handy when profiling); the keys
/// come from the table owner's own data, so hash flooding is not a concern here.
const SEED: u64 = 0x6c75_745f_6b65_7973;

/// Low bits of a slot: payload + 1 (0 marks an empty slot).
const PAYLOAD_BITS: u32 = 40;
const PAYLOAD_MASK: u64 = (1 << PAYLOAD_BITS) - 1;
/// Largest payload a slot can hold (1 TiB of arena).
pub const MAX_PAYLOAD: u64 = PAYLOAD_MASK - 1;

/// The hash's top 24 bits, in place; the slot position uses the low bits, so the two are
/// independent.
#[inline]
fn tag(hash: u64) -> u64 {
    hash & !PAYLOAD_MASK
}

pub struct ExactIndex {
    slots: Vec<u64>,
    mask: usize,
    len: usize,
    hasher: FixedState,
}

impl std::fmt::Debug for ExactIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactIndex")
            .field("len", &self.len)
            .field("slots", &self.slots.len())
            .finish()
    }
}

/// Hints the CPU to start loading `p`'s cache line; no effect on the program's meaning.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, even on an invalid address,
    // and reads nothing the program can observe. SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl ExactIndex {
    /// An empty index with room for `n` keys before it grows.
    pub fn with_capacity(n: usize) -> Self {
        let cap = n.saturating_mul(2).next_power_of_two().max(16);
        ExactIndex {
            slots: vec![0; cap],
            mask: cap - 1,
            len: 0,
            hasher: FixedState::with_seed(SEED),
        }
    }

    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The payload stored under `key` (whose hash is `hash`), or the empty slot where it
    /// would go.
    #[inline]
    fn find<'a>(
        &self,
        key: &[u8],
        hash: u64,
        key_of: impl Fn(u64) -> &'a [u8],
    ) -> Result<u64, usize> {
        let t = tag(hash);
        let mut i = hash as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return Err(i);
            }
            if s & !PAYLOAD_MASK == t {
                let payload = (s & PAYLOAD_MASK) - 1;
                if key_of(payload) == key {
                    return Ok(payload);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Inserts `payload` under `key`; when the key is already present returns the payload
    /// that has it and inserts nothing. `key_of` gives the key of a stored payload.
    pub fn insert<'a>(
        &mut self,
        key: &[u8],
        payload: u64,
        key_of: impl Fn(u64) -> &'a [u8],
    ) -> Result<(), u64> {
        let hash = self.hash(key);
        let hasher = self.hasher.clone();
        self.insert_hashed(key, hash, payload, &key_of, |p| hasher.hash_one(key_of(p)))
    }

    fn insert_hashed<'a>(
        &mut self,
        key: &[u8],
        hash: u64,
        payload: u64,
        key_of: impl Fn(u64) -> &'a [u8],
        // The hash of a stored payload, for growing.
        hash_of: impl Fn(u64) -> u64,
    ) -> Result<(), u64> {
        assert!(payload <= MAX_PAYLOAD, "exact index payload out of range");
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow(&hash_of);
        }
        match self.find(key, hash, key_of) {
            Ok(existing) => Err(existing),
            Err(i) => {
                self.slots[i] = tag(hash) | (payload + 1);
                self.len += 1;
                Ok(())
            }
        }
    }

    fn grow(&mut self, hash_of: impl Fn(u64) -> u64) {
        let cap = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![0; cap]);
        self.mask = cap - 1;
        for s in old.into_iter().filter(|&s| s != 0) {
            self.place(hash_of((s & PAYLOAD_MASK) - 1), s);
        }
    }

    /// Puts a slot value known to be absent into the first free slot of its probe run.
    fn place(&mut self, hash: u64, slot: u64) {
        let mut i = hash as usize & self.mask;
        while self.slots[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = tag(hash) | (slot & PAYLOAD_MASK);
    }

    #[inline]
    pub fn get<'a>(&self, key: &[u8], key_of: impl Fn(u64) -> &'a [u8]) -> Option<u64> {
        self.get_hashed(key, self.hash(key), key_of)
    }

    /// [`ExactIndex::get`] with the key's hash already computed.
    #[inline]
    pub fn get_hashed<'a>(
        &self,
        key: &[u8],
        hash: u64,
        key_of: impl Fn(u64) -> &'a [u8],
    ) -> Option<u64> {
        self.find(key, hash, key_of).ok()
    }

    /// Starts loading the slot a probe for `hash` reads first.
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        prefetch(self.slots.as_ptr().wrapping_add(hash as usize & self.mask));
    }

    /// The payload of the first slot in `hash`'s probe run whose tag matches: most likely
    /// the key's own entry, worth prefetching. Reads the slot, so prefetch it first.
    #[inline]
    pub fn candidate(&self, hash: u64) -> Option<u64> {
        let t = tag(hash);
        let mut i = hash as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if s & !PAYLOAD_MASK == t {
                return Some((s & PAYLOAD_MASK) - 1);
            }
            i = (i + 1) & self.mask;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes: one `u64` per slot.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_grow_and_duplicates() {
        let keys: Vec<Vec<u8>> = (0..10_000).map(|i| format!("k{i}").into_bytes()).collect();
        let key_of = |r: u64| keys[r as usize].as_slice();
        let mut idx = ExactIndex::with_capacity(4);
        for i in 0..keys.len() as u64 {
            idx.insert(&keys[i as usize], i, key_of).unwrap();
        }
        assert_eq!(idx.len(), 10_000);
        assert!(idx.slots.len() >= 20_000);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(idx.get(k, key_of), Some(i as u64));
            assert!(idx.candidate(idx.hash(k)).is_some());
        }
        assert_eq!(idx.get(b"k10000", key_of), None);
        assert_eq!(idx.get(b"", key_of), None);
        assert_eq!(idx.insert(b"k77", 99, key_of), Err(77));
        assert_eq!(idx.get(b"k77", key_of), Some(77));
        assert_eq!(idx.len(), 10_000);
    }

    #[test]
    fn equal_hashes_fall_back_to_key_comparison() {
        // Every key gets the same hash, so the same tag and the same first slot: only the
        // key comparison tells them apart, and growing keeps them all.
        let keys: Vec<Vec<u8>> = (0..64).map(|i| vec![b'a'; i]).collect();
        let key_of = |r: u64| keys[r as usize].as_slice();
        let mut idx = ExactIndex::with_capacity(0);
        for i in 0..keys.len() as u64 {
            idx.insert_hashed(&keys[i as usize], 7, i, key_of, |_| 7)
                .unwrap();
        }
        assert_eq!(idx.insert_hashed(b"aaa", 7, 99, key_of, |_| 7), Err(3));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(idx.get_hashed(k, 7, key_of), Some(i as u64));
        }
        assert_eq!(idx.get_hashed(b"b", 7, key_of), None);
        assert_eq!(idx.candidate(7), Some(0));
        // Same first slot, other tag: the whole run is skipped without a key comparison.
        let other = 1 << 63 | 7;
        assert_eq!(idx.candidate(other), None);
        assert_eq!(idx.get_hashed(b"aaa", other, |_| unreachable!()), None);
    }
}
