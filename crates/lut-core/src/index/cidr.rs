//! Immutable longest-prefix-match index over IPv4 and IPv6 prefixes, each
//! carrying a `u32` row id.
//!
//! Prefixes either nest or are disjoint, so per address family the whole set
//! flattens into a sorted array of disjoint ranges, each owned by its
//! innermost covering prefix (or by nobody, in gaps). A lookup is a search
//! over plain integers: no per-bit tree walk, no pointer chasing. Enclosing
//! prefixes are reached through a `parent` link per prefix. Building is one
//! sort plus one linear sweep.
//!
//! With a million prefixes the arrays are tens of megabytes, so lookup speed
//! is a matter of cache misses, not comparisons. A radix table on the leading
//! address bits narrows each search to about one cache line of ranges, and
//! each range carries its owner's row, so `longest` costs roughly two misses.

use std::fmt;
use std::iter::FusedIterator;
use std::net::IpAddr;

use crate::net::{mask_u128, Cidr};

/// Marks "no prefix": a gap's owner or an outermost prefix's parent.
const NONE: u32 = u32::MAX;

/// An address as stored in one family's ranges. All bit arithmetic happens
/// on the address left-aligned in a `u128`, so it is written once for both
/// families.
trait Key: Copy + Ord {
    const BITS: u32;
    fn widen(self) -> u128;
    fn narrow(v: u128) -> Self;
}

impl Key for u32 {
    const BITS: u32 = 32;
    #[inline]
    fn widen(self) -> u128 {
        u128::from(self) << 96
    }
    #[inline]
    fn narrow(v: u128) -> u32 {
        (v >> 96) as u32
    }
}

/// An IPv6 address split in halves. A `u128` field is 16-byte aligned, which
/// would pad every range entry from 24 to 32 bytes. Field order makes the
/// derived ordering the numeric one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct V6 {
    hi: u64,
    lo: u64,
}

impl Key for V6 {
    const BITS: u32 = 128;
    #[inline]
    fn widen(self) -> u128 {
        (u128::from(self.hi) << 64) | u128::from(self.lo)
    }
    #[inline]
    fn narrow(v: u128) -> V6 {
        V6 {
            hi: (v >> 64) as u64,
            lo: v as u64,
        }
    }
}

/// The address just past a prefix; None when the prefix runs to the top of
/// the address space, where "last + 1" would overflow.
fn prefix_end<K: Key>(start: K, len: u8) -> Option<K> {
    let unit = 1u128 << (128 - K::BITS);
    let last = start.widen() | (!mask_u128(len) & !(unit - 1));
    last.checked_add(unit).map(K::narrow)
}

struct Pending<K> {
    start: K,
    len: u8,
    row: u32,
}

impl<K: Key> Pending<K> {
    /// Masking again keeps the sweep sound even for a hand-built `Cidr`.
    fn new(wide: u128, len: u8, row: u32) -> Self {
        let start = K::narrow(wide & mask_u128(len));
        Pending { start, len, row }
    }
}

/// Collects prefixes; [`CidrIndexBuilder::build`] turns them into a
/// [`CidrIndex`].
#[derive(Default)]
pub struct CidrIndexBuilder {
    v4: Vec<Pending<u32>>,
    v6: Vec<Pending<V6>>,
}

impl CidrIndexBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves room for `n` prefixes, assuming they are mostly IPv4.
    pub fn with_capacity(n: usize) -> Self {
        CidrIndexBuilder {
            v4: Vec::with_capacity(n),
            v6: Vec::new(),
        }
    }

    /// Adds `net` carrying `row`. Each prefix is expected once; if one
    /// repeats anyway, the first insertion wins.
    pub fn insert(&mut self, net: Cidr, row: u32) {
        let len = net.len();
        match net.addr() {
            IpAddr::V4(a) => self.v4.push(Pending::new(u32::from(a).widen(), len, row)),
            IpAddr::V6(a) => self.v6.push(Pending::new(a.into(), len, row)),
        }
    }

    pub fn build(self) -> CidrIndex {
        CidrIndex {
            v4: Family::build(self.v4),
            v6: Family::build(self.v6),
        }
    }
}

/// One flattened range, running from `start` to the next range's start.
struct Range<K> {
    start: K,
    /// Innermost covering prefix, or `NONE` for a gap.
    owner: u32,
    /// The owner's row, copied here so `longest` needs no further miss.
    row: u32,
}

/// A prefix's row and its next enclosing prefix, kept together so walking
/// outwards costs one miss per level.
#[derive(Debug, Clone, Copy)]
struct Link {
    row: u32,
    parent: u32,
}

/// The flattened ranges and prefix links for one address family.
struct Family<K> {
    /// Sorted by strictly increasing start.
    ranges: Vec<Range<K>>,
    /// Per prefix, in (start, len) order; `Range::owner` indexes this.
    links: Vec<Link>,
    buckets: Buckets,
}

impl<K: Key> Family<K> {
    fn build(mut prefixes: Vec<Pending<K>>) -> Family<K> {
        // Stable sort, so of exact duplicates the first inserted leads, and
        // `dedup_by` keeps the first of each run.
        prefixes.sort_by_key(|p| (p.start, p.len));
        prefixes.dedup_by(|x, y| (x.start, x.len) == (y.start, y.len));
        assert!(prefixes.len() < NONE as usize, "too many prefixes");

        // Each prefix opens at most one range and closes at most one.
        let mut ranges = Vec::with_capacity(prefixes.len().saturating_mul(2));
        let mut links = Vec::with_capacity(prefixes.len());
        // Prefixes enclosing the sweep position, innermost on top, with the
        // address just past each (None: it reaches the top of the space).
        // Sorting by (start, len) brings every prefix after its enclosers.
        let mut stack: Vec<(u32, Option<K>)> = Vec::with_capacity(129);
        for (i, p) in prefixes.iter().enumerate() {
            while let Some(&(_, Some(end))) = stack.last() {
                if end > p.start {
                    break;
                }
                stack.pop();
                emit(&mut ranges, end, top(&stack));
            }
            links.push(Link {
                row: p.row,
                parent: top(&stack),
            });
            // Bounded by the assert above.
            let idx = i as u32;
            stack.push((idx, prefix_end(p.start, p.len)));
            emit(&mut ranges, p.start, idx);
        }
        while let Some((_, end)) = stack.pop() {
            if let Some(end) = end {
                emit(&mut ranges, end, top(&stack));
            }
        }

        for r in &mut ranges {
            if let Some(link) = links.get(r.owner as usize) {
                r.row = link.row;
            }
        }
        ranges.shrink_to_fit();
        assert!(ranges.len() <= u32::MAX as usize, "too many ranges");
        Family {
            buckets: Buckets::build(&ranges),
            ranges,
            links,
        }
    }

    /// Owner and row of the range containing `key`; the owner is `NONE`
    /// in a gap.
    #[inline]
    fn find(&self, key: K) -> (u32, u32) {
        let (lo, hi) = self.buckets.slice(key.widen(), K::BITS, self.ranges.len());
        match (lo + upper_bound(&self.ranges[lo..hi], key)).checked_sub(1) {
            Some(i) => (self.ranges[i].owner, self.ranges[i].row),
            None => (NONE, 0),
        }
    }

    fn heap_bytes(&self) -> usize {
        self.ranges.capacity() * std::mem::size_of::<Range<K>>()
            + self.links.capacity() * std::mem::size_of::<Link>()
            + self.buckets.slots.capacity() * std::mem::size_of::<Slot>()
    }
}

fn top<K>(stack: &[(u32, K)]) -> u32 {
    stack.last().map_or(NONE, |&(idx, _)| idx)
}

/// Records that from `pos` on, `owner` is the innermost prefix. Positions
/// arrive in non-decreasing order; a later call at the same position wins,
/// and runs with one owner merge so lookups search fewer ranges.
fn emit<K: Key>(ranges: &mut Vec<Range<K>>, pos: K, owner: u32) {
    if ranges.last().is_some_and(|r| r.start == pos) {
        ranges.pop();
    }
    if ranges.last().map_or(NONE, |r| r.owner) != owner {
        ranges.push(Range {
            start: pos,
            owner,
            row: 0,
        });
    }
}

/// A radix tree over the address bits after those every range start shares, whose
/// leaves are short slices of the sorted ranges.
///
/// Why a tree: with clustered prefixes (a million blocks inside a handful of networks,
/// as real allocations are) one flat radix table leaves a few buckets holding most
/// ranges, and the binary search inside them pays a cache miss per step. Here a bucket
/// holding more than a leaf's worth of ranges gets a child node over the next bits, sized
/// to its ranges, so every lookup ends in a slice of a few cache lines, whatever the
/// distribution. Hot nodes stay cached; a lookup costs about one miss per cold level.
struct Buckets {
    /// Count of leading bits shared by every range start.
    skip: u32,
    /// Those shared bits, left-aligned like `Key::widen`.
    shared: u128,
    /// Bits the root node takes after `skip`.
    take: u32,
    /// Every node's buckets; the root's come first.
    slots: Vec<Slot>,
}

/// One bucket: the ranges starting in it (`first`, `n`), or, when `n` has [`CHILD`] set,
/// a child node whose `1 << (n & !CHILD)` buckets start at slot `first`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    first: u32,
    n: u32,
}

const CHILD: u32 = 1 << 31;

/// Caps the root at 2^16 buckets (512 KiB); denser parts get child nodes.
const ROOT_BITS: u32 = 16;
/// Caps a child node at 2^8 buckets (2 KiB).
const CHILD_BITS: u32 = 8;
/// A leaf slice spans at most this many bytes of ranges (three cache lines).
const LEAF_BYTES: usize = 192;

/// `take` bits of `wide` after its first `from` bits.
#[inline]
fn bits(wide: u128, from: u32, take: u32) -> usize {
    if take == 0 {
        return 0;
    }
    // At most ROOT_BITS wide, so it fits any usize.
    (wide.checked_shl(from).unwrap_or(0) >> (128 - take)) as usize
}

impl Buckets {
    fn build<K: Key>(ranges: &[Range<K>]) -> Buckets {
        let (skip, shared) = match (ranges.first(), ranges.last()) {
            (Some(first), Some(last)) => {
                let first = first.start.widen();
                let skip = (first ^ last.start.widen()).leading_zeros().min(K::BITS);
                (skip, first & mask_u128(skip as u8))
            }
            _ => (0, 0),
        };
        let leaf = Self::leaf_max::<K>();
        // About one leaf of ranges per root bucket.
        let wanted = (ranges.len() / leaf).max(1).ilog2() + 1;
        let take = wanted.min(ROOT_BITS).min(K::BITS - skip);
        let mut buckets = Buckets {
            skip,
            shared,
            take,
            slots: Vec::new(),
        };
        buckets.node(ranges, 0, skip, take, leaf, K::BITS);
        buckets.slots.shrink_to_fit();
        buckets
    }

    fn leaf_max<K>() -> usize {
        (LEAF_BYTES / std::mem::size_of::<Range<K>>()).max(2)
    }

    /// Appends a node over bits `from..from + take` of `ranges` (which all share their
    /// first `from` bits and start at index `base` of the family's ranges) and, below it,
    /// the children its crowded buckets need. Returns the node's first slot.
    fn node<K: Key>(
        &mut self,
        ranges: &[Range<K>],
        base: u32,
        from: u32,
        take: u32,
        leaf: usize,
        key_bits: u32,
    ) -> u32 {
        let at = self.slots.len();
        let width = 1usize << take;
        self.slots.resize(at + width, Slot { first: 0, n: 0 });
        // Ranges are sorted, so each bucket's ranges are one run.
        let mut i = 0;
        for b in 0..width {
            let start = i;
            while i < ranges.len() && bits(ranges[i].start.widen(), from, take) == b {
                i += 1;
            }
            // Bounded by the family's u32 range count (asserted when building).
            self.slots[at + b] = Slot {
                first: base + start as u32,
                n: (i - start) as u32,
            };
        }
        let below = from + take;
        for b in 0..width {
            let Slot { first, n } = self.slots[at + b];
            if n as usize <= leaf || below >= key_bits {
                continue;
            }
            // Enough buckets for about one leaf each, within what the key has left.
            let sub = ((n as usize / leaf).max(1).ilog2() + 1)
                .min(CHILD_BITS)
                .min(key_bits - below);
            let run = &ranges[(first - base) as usize..(first - base + n) as usize];
            let child = self.node(run, first, below, sub, leaf, key_bits);
            self.slots[at + b] = Slot {
                first: child,
                n: CHILD | sub,
            };
        }
        u32::try_from(at).expect("CIDR radix tree under 2^32 slots")
    }

    /// The slice `lo..hi` of ranges to search for `wide`: those starting in its leaf
    /// bucket. The range containing `wide` is the last one in it starting at or below
    /// `wide`, or else the one just before `lo` (which covers the bucket's start).
    #[inline]
    fn slice(&self, wide: u128, key_bits: u32, total: usize) -> (usize, usize) {
        let high = wide & mask_u128(self.skip as u8);
        if high != self.shared {
            return if high < self.shared {
                (0, 0)
            } else {
                (total, total)
            };
        }
        let mut from = self.skip + self.take;
        let mut slot = self.slots[bits(wide, self.skip, self.take)];
        while slot.n & CHILD != 0 {
            let take = slot.n & !CHILD;
            slot = self.slots[slot.first as usize + bits(wide, from, take)];
            from += take;
        }
        debug_assert!(from <= key_bits);
        let lo = slot.first as usize;
        (lo, lo + slot.n as usize)
    }
}

/// Slices up to this length are counted with a linear scan: its loads are
/// independent, so a slice spanning a few cache lines costs about one miss,
/// where a binary search would pay one per step.
const LINEAR_MAX: usize = 16;

/// Number of ranges in sorted `a` that start at or below `key`.
#[inline]
fn upper_bound<K: Key>(a: &[Range<K>], key: K) -> usize {
    if a.len() <= LINEAR_MAX {
        return a.iter().map(|r| usize::from(r.start <= key)).sum();
    }
    // Fixed trip count and a select rather than a branch: random lookups
    // would mispredict half the branches.
    let mut base = 0usize;
    let mut size = a.len();
    while size > 1 {
        let half = size / 2;
        let mid = base + half;
        base = if a[mid].start <= key { mid } else { base };
        size -= half;
    }
    base + usize::from(a[base].start <= key)
}

/// Immutable longest-prefix-match index. IPv4 addresses only match IPv4
/// prefixes and IPv6 only IPv6; callers map `::ffff:a.b.c.d` to IPv4 first
/// (`crate::net::parse_ip` does).
pub struct CidrIndex {
    v4: Family<u32>,
    v6: Family<V6>,
}

impl CidrIndex {
    /// Number of distinct prefixes held.
    pub fn len(&self) -> usize {
        self.v4.links.len() + self.v6.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row of the most specific prefix containing `ip`; None when no prefix
    /// contains it.
    #[inline]
    pub fn longest(&self, ip: IpAddr) -> Option<u32> {
        let (owner, row) = match ip {
            IpAddr::V4(a) => self.v4.find(u32::from(a)),
            IpAddr::V6(a) => self.v6.find(V6::narrow(a.into())),
        };
        (owner != NONE).then_some(row)
    }

    /// Rows of every prefix containing `ip`, most specific first.
    #[inline]
    pub fn containing(&self, ip: IpAddr) -> Containing<'_> {
        let (links, (owner, row)) = match ip {
            IpAddr::V4(a) => (&self.v4.links, self.v4.find(u32::from(a))),
            IpAddr::V6(a) => (&self.v6.links, self.v6.find(V6::narrow(a.into()))),
        };
        Containing {
            links,
            current: owner,
            first: (owner != NONE).then_some(row),
        }
    }

    /// Approximate heap bytes used (for memory reports).
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }
}

impl fmt::Debug for CidrIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CidrIndex")
            .field("v4_prefixes", &self.v4.links.len())
            .field("v4_ranges", &self.v4.ranges.len())
            .field("v6_prefixes", &self.v6.links.len())
            .field("v6_ranges", &self.v6.ranges.len())
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

/// Iterator over the rows of the prefixes containing an address, innermost
/// first; see [`CidrIndex::containing`].
#[derive(Debug, Clone)]
pub struct Containing<'a> {
    links: &'a [Link],
    /// The prefix whose row was (or, while `first` is pending, will be) yielded last.
    current: u32,
    /// The innermost prefix's row, copied into its range: the usual caller wants only
    /// this one and so never touches `links` (a cache miss in a big table).
    first: Option<u32>,
}

impl Iterator for Containing<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        if let Some(row) = self.first.take() {
            return Some(row);
        }
        // `NONE` is never a valid index, so `get` also ends the walk.
        let parent = self.links.get(self.current as usize)?.parent;
        let link = self.links.get(parent as usize)?;
        self.current = parent;
        Some(link.row)
    }
}

impl FusedIterator for Containing<'_> {}

#[cfg(test)]
#[path = "cidr_tests.rs"]
mod tests;
