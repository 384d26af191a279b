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
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn index(prefixes: &[(&str, u32)]) -> CidrIndex {
        let mut b = CidrIndexBuilder::with_capacity(prefixes.len());
        for &(s, row) in prefixes {
            b.insert(Cidr::parse_strict(s).unwrap(), row);
        }
        b.build()
    }

    /// Checks `containing` at each address, and `longest` as its first row.
    fn check(idx: &CidrIndex, cases: &[(&str, &[u32])]) {
        for &(addr, want) in cases {
            let got: Vec<u32> = idx.containing(ip(addr)).collect();
            assert_eq!(got, want, "containing {addr}");
            assert_eq!(
                idx.longest(ip(addr)),
                want.first().copied(),
                "longest {addr}"
            );
        }
    }

    #[test]
    fn nested_v4_levels_and_gaps() {
        let idx = index(&[("10.1.2.0/24", 3), ("10.0.0.0/8", 1), ("10.1.0.0/16", 2)]);
        assert_eq!(idx.len(), 3);
        #[rustfmt::skip]
        check(&idx, &[
            ("0.0.0.0", &[]), ("9.255.255.255", &[]),
            ("10.0.0.0", &[1]), ("10.0.255.255", &[1]),
            ("10.1.0.0", &[2, 1]), ("10.1.1.255", &[2, 1]),
            ("10.1.2.0", &[3, 2, 1]), ("10.1.2.77", &[3, 2, 1]), ("10.1.2.255", &[3, 2, 1]),
            ("10.1.3.0", &[2, 1]), ("10.1.255.255", &[2, 1]),
            ("10.2.0.0", &[1]), ("10.255.255.255", &[1]),
            ("11.0.0.0", &[]), ("255.255.255.255", &[]),
        ]);
    }

    #[test]
    fn shared_starts_shared_ends_and_adjacency() {
        #[rustfmt::skip]
        let idx = index(&[
            ("10.0.0.0/8", 1), ("10.0.0.0/16", 2), ("10.0.0.0/24", 3),
            ("10.255.255.0/24", 4), ("10.255.255.255/32", 5),
            ("11.0.0.0/24", 6), ("11.0.1.0/24", 7), ("11.0.2.0/23", 8),
        ]);
        #[rustfmt::skip]
        check(&idx, &[
            ("10.0.0.0", &[3, 2, 1]), ("10.0.1.0", &[2, 1]), ("10.1.0.0", &[1]),
            ("10.255.255.254", &[4, 1]), ("10.255.255.255", &[5, 4, 1]),
            ("11.0.0.255", &[6]), ("11.0.1.0", &[7]), ("11.0.1.255", &[7]),
            ("11.0.2.0", &[8]), ("11.0.3.255", &[8]), ("11.0.4.0", &[]),
        ]);
    }

    #[test]
    fn default_route_and_extreme_addresses() {
        #[rustfmt::skip]
        let idx = index(&[
            ("0.0.0.0/0", 0), ("0.0.0.0/32", 1), ("255.255.255.255/32", 2), ("255.0.0.0/8", 3),
        ]);
        #[rustfmt::skip]
        check(&idx, &[
            ("0.0.0.0", &[1, 0]), ("0.0.0.1", &[0]), ("254.255.255.255", &[0]),
            ("255.0.0.0", &[3, 0]), ("255.255.255.254", &[3, 0]),
            ("255.255.255.255", &[2, 3, 0]),
            // The IPv4 default route says nothing about IPv6.
            ("::", &[]), ("::ffff:ffff", &[]),
        ]);
        let top = index(&[
            ("255.255.255.255/32", 7),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 8),
        ]);
        #[rustfmt::skip]
        check(&top, &[
            ("255.255.255.255", &[7]), ("255.255.255.254", &[]), ("0.0.0.0", &[]),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &[8]),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", &[]), ("::", &[]),
        ]);
    }

    #[test]
    fn v6_nesting_and_edges() {
        #[rustfmt::skip]
        let idx = index(&[
            ("::/0", 0), ("2001:db8::/32", 1), ("2001:db8:1::/48", 2),
            ("2001:db8:1::1/128", 3), ("8000::/1", 4), ("::/128", 5),
        ]);
        #[rustfmt::skip]
        check(&idx, &[
            ("2001:db8:1::1", &[3, 2, 1, 0]), ("2001:db8:1::2", &[2, 1, 0]),
            ("2001:db8:2::", &[1, 0]), ("2001:db9::", &[0]), ("::", &[5, 0]), ("::1", &[0]),
            ("7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &[0]), ("8000::", &[4, 0]),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &[4, 0]), ("1.2.3.4", &[]),
        ]);
    }

    #[test]
    fn families_are_separate() {
        let idx = index(&[("10.0.0.0/8", 1), ("::/96", 2), ("::a00:0/104", 3)]);
        // "::10.0.0.1" has the same low 32 bits as 10.0.0.1, but is IPv6.
        #[rustfmt::skip]
        check(&idx, &[
            ("10.0.0.1", &[1]), ("::10.0.0.1", &[3, 2]), ("::1", &[2]), ("0.0.0.1", &[]),
        ]);
    }

    #[test]
    fn duplicate_insert_keeps_first() {
        #[rustfmt::skip]
        let idx = index(&[
            ("10.0.0.0/8", 1), ("10.0.0.0/16", 5), ("10.0.0.0/8", 2), ("10.0.0.0/8", 3),
            ("2001:db8::/32", 9), ("2001:db8::/32", 8),
        ]);
        assert_eq!(idx.len(), 3);
        #[rustfmt::skip]
        check(&idx, &[("10.0.0.1", &[5, 1]), ("10.1.0.1", &[1]), ("2001:db8::1", &[9])]);
    }

    #[test]
    fn empty_index() {
        let idx = CidrIndexBuilder::with_capacity(0).build();
        assert!(idx.is_empty());
        #[rustfmt::skip]
        check(&idx, &[("1.2.3.4", &[]), ("0.0.0.0", &[]), ("::", &[]), ("::1", &[])]);
        assert!(format!("{idx:?}").contains("v4_prefixes: 0"));
    }

    #[test]
    fn covered_parent_leaves_no_ranges_and_memory_is_reported() {
        let idx = index(&[("10.0.0.0/8", 1), ("10.0.0.0/9", 2), ("10.128.0.0/9", 3)]);
        // Both halves cover the /8, so: two halves plus the gap after them.
        assert_eq!(idx.v4.ranges.len(), 3);
        assert!(idx.heap_bytes() >= 3 * 12 + 3 * 8);
        check(&idx, &[("10.200.0.0", &[3, 1]), ("10.0.0.0", &[2, 1])]);
    }

    #[test]
    fn search_paths_agree_with_counting() {
        // Both the linear and the binary path, at every boundary.
        for n in 0..3 * LINEAR_MAX {
            let ranges: Vec<Range<u32>> = (0..n as u32)
                .map(|i| Range {
                    start: i * 2,
                    owner: i,
                    row: i,
                })
                .collect();
            for key in 0..2 * n as u32 + 2 {
                let want = ranges.iter().filter(|r| r.start <= key).count();
                assert_eq!(upper_bound(&ranges, key), want, "n {n}, key {key}");
            }
        }
    }

    /// Tiny xorshift generator: reproducible, and no extra crates.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// An address of `bits` bits, left-aligned in a u128: mostly near one
        /// of a few bases so that prefixes and probes cluster and nest, with
        /// the very top of the space included.
        fn addr(&mut self, bits: u32) -> u128 {
            const BASES: [u128; 5] = [0, 0x0a00_0000 << 96, 0x2001_0db8 << 96, !0 << 64, !0];
            let noise = (u128::from(self.next()) << 64) | u128::from(self.next());
            let wide = match self.below(10) {
                0 => noise,
                1 => !0 - (u128::from(self.below(4)) << (128 - bits)),
                _ => {
                    BASES[self.below(5) as usize] ^ (noise >> (8 + self.below(u64::from(bits) - 8)))
                }
            };
            wide >> (128 - bits) << (128 - bits)
        }
        fn ip(&mut self) -> IpAddr {
            let ip = if self.below(2) == 0 {
                IpAddr::V4(((self.addr(32) >> 96) as u32).into())
            } else {
                IpAddr::V6(self.addr(128).into())
            };
            // Callers fold mapped addresses into IPv4 before a lookup.
            crate::net::parse_ip(ip.to_string().as_bytes()).unwrap()
        }
    }

    /// Longest-prefix answer by brute force: every containing prefix, most specific first.
    fn naive(reference: &[(Cidr, u32)], addr: IpAddr) -> Vec<u32> {
        let mut hits: Vec<&(Cidr, u32)> =
            reference.iter().filter(|(p, _)| p.contains(addr)).collect();
        hits.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        hits.iter().map(|(_, row)| *row).collect()
    }

    #[test]
    fn dense_clusters_build_child_nodes_and_match_brute_force() {
        // Thousands of nested blocks inside one /32 (IPv6) and one /16 (IPv4): a flat radix
        // table would put them all in one bucket; the tree must split them down to leaves.
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let v6_base: u128 = 0x2001_0db8 << 96;
        let v4_base: u32 = 0xc0a8_0000;
        let mut reference: Vec<(Cidr, u32)> = Vec::new();
        let mut b = CidrIndexBuilder::new();
        for row in 0..6000u32 {
            let (ip, len) = if row % 2 == 0 {
                let a = v6_base | (u128::from(rng.next()) << 32 >> 32);
                (IpAddr::V6(a.into()), 32 + rng.below(33) as u8)
            } else {
                let a = v4_base | (rng.next() as u32 & 0xffff);
                (IpAddr::V4(a.into()), 16 + rng.below(17) as u8)
            };
            let net = Cidr::new(ip, len).unwrap();
            b.insert(net, row);
            if !reference.iter().any(|(p, _)| *p == net) {
                reference.push((net, row));
            }
        }
        let idx = b.build();
        for fam in [&idx.v4.buckets, &idx.v6.buckets] {
            assert!(
                fam.slots.iter().any(|s| s.n & CHILD != 0),
                "expected child nodes"
            );
        }
        // Leaves stay small wherever the key has bits left to split on.
        for s in idx.v6.buckets.slots.iter().filter(|s| s.n & CHILD == 0) {
            assert!(s.n as usize <= Buckets::leaf_max::<V6>(), "leaf of {}", s.n);
        }
        for i in 0..30_000u32 {
            let addr = match i % 4 {
                0 => IpAddr::V6((v6_base | (u128::from(rng.next()) << 32 >> 32)).into()),
                1 => IpAddr::V4((v4_base | (rng.next() as u32 & 0xffff)).into()),
                // Probes at block starts and just before them hit the slice edges.
                _ => {
                    let (net, _) = reference[rng.below(reference.len() as u64) as usize];
                    match net.addr() {
                        IpAddr::V4(a) if i % 4 == 3 => {
                            IpAddr::V4((u32::from(a).wrapping_sub(1)).into())
                        }
                        IpAddr::V6(a) if i % 4 == 3 => {
                            IpAddr::V6((u128::from(a).wrapping_sub(1)).into())
                        }
                        a => a,
                    }
                }
            };
            let want = naive(&reference, addr);
            let got: Vec<u32> = idx.containing(addr).collect();
            assert_eq!(got, want, "containing {addr}");
        }
    }

    #[test]
    fn matches_brute_force_on_random_prefixes() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for (round, n) in [0, 40, 1500, 4000].into_iter().enumerate() {
            let mut reference: Vec<(Cidr, u32)> = Vec::new();
            let mut b = CidrIndexBuilder::new();
            for row in 0..n {
                let ip = rng.ip();
                let max = if ip.is_ipv4() { 32 } else { 128 };
                // Mostly any length, sometimes a short one, so they nest.
                let len = match rng.below(20) {
                    0 => rng.below(max / 4 + 1),
                    _ => rng.below(max + 1),
                };
                let net = Cidr::new(ip, len as u8).unwrap();
                b.insert(net, row);
                if !reference.iter().any(|(p, _)| *p == net) {
                    reference.push((net, row));
                }
            }
            let idx = b.build();
            assert_eq!(idx.len(), reference.len());

            let mut deeply_nested = 0;
            for _ in 0..20_000 {
                let addr = rng.ip();
                let mut hits: Vec<&(Cidr, u32)> =
                    reference.iter().filter(|(p, _)| p.contains(addr)).collect();
                hits.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
                let want: Vec<u32> = hits.iter().map(|(_, row)| *row).collect();
                let got: Vec<u32> = idx.containing(addr).collect();
                assert_eq!(got, want, "round {round}, containing {addr}");
                assert_eq!(
                    idx.longest(addr),
                    want.first().copied(),
                    "round {round}, {addr}"
                );
                deeply_nested += usize::from(want.len() >= 3);
            }
            // Guards against a generator that stops producing nesting.
            assert!(
                n < 1500 || deeply_nested > 1000,
                "only {deeply_nested} nested probes"
            );
        }
    }
}
