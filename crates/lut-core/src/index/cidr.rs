//! Immutable longest-prefix-match index over IPv4 and IPv6 prefixes, each
//! carrying a `u32` row id.
//!
//! Prefixes either nest or are disjoint, so per address family the whole set
//! flattens into a sorted list of disjoint ranges, each owned by its innermost
//! covering prefix (or by nobody, in gaps). A lookup is then one binary search
//! over plain integers, with no per-bit tree walk and no pointer chasing; the
//! enclosing prefixes are reached through a `parent` link per prefix. The
//! layout is a handful of flat vectors, so it is compact and builds in one
//! sort plus one linear sweep.

use std::fmt;
use std::iter::FusedIterator;
use std::net::IpAddr;

use crate::net::{mask_u128, mask_u32, Cidr};

/// Marks "no prefix": a gap owner or the parent of an outermost prefix.
const NONE: u32 = u32::MAX;

/// The integer form of an address in one family.
trait Key: Copy + Ord + Default {
    const BITS: u32;
    /// Last address of the prefix starting at `start` with length `len`.
    fn last(start: Self, len: u8) -> Self;
    fn checked_succ(self) -> Option<Self>;
    /// The top `n` bits (0 when `n` is 0).
    fn high(self, n: u32) -> Self;
    /// The `take` bits that follow the top `skip` bits, as a bucket number.
    fn bucket(self, skip: u32, take: u32) -> usize;
    fn leading_common(self, other: Self) -> u32;
}

macro_rules! impl_key {
    ($t:ty, $mask:ident) => {
        impl Key for $t {
            const BITS: u32 = <$t>::BITS;
            fn last(start: $t, len: u8) -> $t {
                start | !$mask(len)
            }
            fn checked_succ(self) -> Option<$t> {
                self.checked_add(1)
            }
            #[inline]
            fn high(self, n: u32) -> $t {
                self.checked_shr(Self::BITS - n).unwrap_or(0)
            }
            #[inline]
            fn bucket(self, skip: u32, take: u32) -> usize {
                // `take` is at most 20, so the bucket fits any usize.
                let rest = self.checked_shl(skip).unwrap_or(0);
                rest.checked_shr(Self::BITS - take).unwrap_or(0) as usize
            }
            fn leading_common(self, other: $t) -> u32 {
                (self ^ other).leading_zeros()
            }
        }
    };
}

impl_key!(u32, mask_u32);

/// An IPv6 address split in halves. A `u128` field is 16-byte aligned, which
/// would pad every range entry from 20 to 32 bytes; halves keep it at 24.
/// Field order makes the derived ordering the numeric one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
struct V6 {
    hi: u64,
    lo: u64,
}

impl V6 {
    #[inline]
    fn new(v: u128) -> V6 {
        V6 {
            hi: (v >> 64) as u64,
            lo: v as u64,
        }
    }

    #[inline]
    fn get(self) -> u128 {
        (u128::from(self.hi) << 64) | u128::from(self.lo)
    }
}

impl Key for V6 {
    const BITS: u32 = 128;
    fn last(start: V6, len: u8) -> V6 {
        V6::new(start.get() | !mask_u128(len))
    }
    fn checked_succ(self) -> Option<V6> {
        self.get().checked_add(1).map(V6::new)
    }
    #[inline]
    fn high(self, n: u32) -> V6 {
        V6::new(self.get().checked_shr(128 - n).unwrap_or(0))
    }
    #[inline]
    fn bucket(self, skip: u32, take: u32) -> usize {
        let rest = self.get().checked_shl(skip).unwrap_or(0);
        // `take` is at most 20, so the bucket fits any usize.
        rest.checked_shr(128 - take).unwrap_or(0) as usize
    }
    fn leading_common(self, other: V6) -> u32 {
        (self.get() ^ other.get()).leading_zeros()
    }
}

struct Pending<K> {
    start: K,
    len: u8,
    row: u32,
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

    /// Adds `net` (normalised, host bits zero) carrying `row`. Each prefix is
    /// expected once; if one repeats anyway the first insertion wins.
    pub fn insert(&mut self, net: Cidr, row: u32) {
        let len = net.len();
        match net.addr() {
            IpAddr::V4(a) => self.v4.push(Pending {
                start: u32::from(a) & mask_u32(len),
                len,
                row,
            }),
            IpAddr::V6(a) => self.v6.push(Pending {
                start: V6::new(u128::from(a) & mask_u128(len)),
                len,
                row,
            }),
        }
    }

    pub fn build(self) -> CidrIndex {
        CidrIndex {
            v4: Family::build(self.v4),
            v6: Family::build(self.v6),
        }
    }
}

/// The flattened ranges and prefix links for one address family.
struct Family<K> {
    /// Disjoint ranges sorted by strictly increasing start; a range runs
    /// until the next start (or the end of the address space).
    ranges: Vec<Range<K>>,
    /// Per prefix, in (start, len) order.
    prefixes: Vec<Link>,
    /// Narrows each search to a small slice of `starts`, see [`Buckets`].
    buckets: Buckets<K>,
}

/// One flattened range. The owner sits beside the start so the search's
/// last cache miss already brings it in.
#[derive(Clone, Copy)]
struct Range<K> {
    start: K,
    /// Innermost covering prefix, or `NONE` for a gap.
    owner: u32,
}

/// A prefix's row and its next enclosing prefix (`NONE` at the top), kept
/// together so walking outwards costs one miss per level.
#[derive(Clone, Copy)]
struct Link {
    row: u32,
    parent: u32,
}

/// A radix table over the bits right after those all range starts share:
/// `table[b]..table[b + 1]` are the ranges starting in bucket `b`. Without
/// it, a lookup in a million-prefix index binary-searches megabytes and
/// misses cache at almost every step; with it, the search stays within a
/// cache line or two.
struct Buckets<K> {
    /// Leading bits shared by every range start.
    skip: u32,
    /// The shared leading bits themselves, right-aligned.
    shared: K,
    /// Bucket bits taken after `skip`.
    take: u32,
    table: Vec<u32>,
}

/// Largest bucket table: 2^20 entries (4 MiB), reached around 8M ranges.
const MAX_BUCKET_BITS: u32 = 20;

impl<K: Key> Buckets<K> {
    fn build(ranges: &[Range<K>]) -> Buckets<K> {
        let (skip, shared) = match (ranges.first(), ranges.last()) {
            (Some(lo), Some(hi)) => {
                let (lo, hi) = (lo.start, hi.start);
                let skip = lo.leading_common(hi);
                (skip, lo.high(skip))
            }
            _ => (0, K::default()),
        };
        // About eight ranges per bucket: small enough for a search inside
        // one or two cache lines, large enough that the table stays a
        // fraction of the ranges' own size.
        let wanted = (ranges.len() * std::mem::size_of::<Range<K>>() / 64)
            .max(1)
            .ilog2();
        let take = wanted.min(MAX_BUCKET_BITS).min(K::BITS - skip);
        let mut table = vec![0u32; (1usize << take) + 1];
        for r in ranges {
            table[r.start.bucket(skip, take) + 1] += 1;
        }
        for b in 1..table.len() {
            table[b] += table[b - 1];
        }
        Buckets {
            skip,
            shared,
            take,
            table,
        }
    }
}

impl<K: Key> Family<K> {
    fn build(mut prefixes: Vec<Pending<K>>) -> Family<K> {
        // Stable sort, so among exact duplicates the first insertion leads
        // and `dedup_by` (which keeps the first of a run) retains it.
        prefixes.sort_by(|a, b| (a.start, a.len).cmp(&(b.start, b.len)));
        prefixes.dedup_by(|b, a| a.start == b.start && a.len == b.len);
        let n = prefixes.len();
        assert!(n < NONE as usize, "too many prefixes for one index");

        // Each prefix opens at most one range and closes at most one.
        let mut ranges = Ranges(Vec::with_capacity(n.saturating_mul(2)));
        let mut links: Vec<Link> = Vec::with_capacity(n);
        // The chain of prefixes enclosing the current position, outermost at
        // the bottom. Sorting by (start, len) guarantees a prefix arrives
        // after every prefix that encloses it.
        let mut stack: Vec<(u32, K)> = Vec::with_capacity(129);
        for (i, p) in prefixes.iter().enumerate() {
            while let Some(&(_, last)) = stack.last() {
                if last >= p.start {
                    break;
                }
                stack.pop();
                ranges.close(last, &stack);
            }
            links.push(Link {
                row: p.row,
                parent: stack.last().map_or(NONE, |&(idx, _)| idx),
            });
            // `n < NONE` was asserted, so the index fits.
            let idx = i as u32;
            stack.push((idx, K::last(p.start, p.len)));
            ranges.emit(p.start, idx);
        }
        while let Some((_, last)) = stack.pop() {
            ranges.close(last, &stack);
        }

        let mut ranges = ranges.0;
        ranges.shrink_to_fit();
        assert!(
            ranges.len() <= u32::MAX as usize,
            "too many ranges for one index"
        );
        Family {
            buckets: Buckets::build(&ranges),
            ranges,
            prefixes: links,
        }
    }

    /// Index of the innermost prefix containing `key`, or `NONE`.
    #[inline]
    fn owner(&self, key: K) -> u32 {
        match self.position(key) {
            0 => NONE,
            i => self.ranges[i - 1].owner,
        }
    }

    /// Number of range starts `<= key`.
    #[inline]
    fn position(&self, key: K) -> usize {
        let b = &self.buckets;
        let high = key.high(b.skip);
        if high != b.shared {
            // Outside the span the starts share: before all or after all.
            return if high < b.shared {
                0
            } else {
                self.ranges.len()
            };
        }
        let bucket = key.bucket(b.skip, b.take);
        let lo = b.table[bucket] as usize;
        let hi = b.table[bucket + 1] as usize;
        lo + upper_bound(&self.ranges[lo..hi], key)
    }

    fn heap_bytes(&self) -> usize {
        self.ranges.capacity() * std::mem::size_of::<Range<K>>()
            + self.prefixes.capacity() * std::mem::size_of::<Link>()
            + self.buckets.table.capacity() * std::mem::size_of::<u32>()
    }
}

/// Range list under construction; positions arrive in non-decreasing order.
struct Ranges<K>(Vec<Range<K>>);

impl<K: Key> Ranges<K> {
    /// Records that from `pos` on, `owner` is the innermost prefix. A later
    /// call at the same position supersedes an earlier one, and runs with
    /// the same owner are merged so lookups search as few ranges as possible.
    fn emit(&mut self, pos: K, owner: u32) {
        let ranges = &mut self.0;
        if ranges.last().is_some_and(|r| r.start == pos) {
            ranges.pop();
        }
        if ranges.last().map_or(NONE, |r| r.owner) != owner {
            ranges.push(Range { start: pos, owner });
        }
    }

    /// A prefix ending at `last` was popped; the space after it falls back to
    /// the new innermost enclosing prefix. Nothing follows the top address.
    fn close(&mut self, last: K, stack: &[(u32, K)]) {
        if let Some(next) = last.checked_succ() {
            self.emit(next, stack.last().map_or(NONE, |&(idx, _)| idx));
        }
    }
}

/// Buckets up to this size are counted with a linear scan: its loads are
/// independent, so a slice spanning several cache lines costs about one
/// miss, where a binary search would pay one miss per step.
const LINEAR_MAX: usize = 16;

/// Number of elements of sorted `a` that are `<= key`.
#[inline]
fn upper_bound<K: Copy + Ord>(a: &[Range<K>], key: K) -> usize {
    if a.len() <= LINEAR_MAX {
        return a.iter().map(|r| usize::from(r.start <= key)).sum();
    }
    // Fixed trip count with a data-dependent select rather than a branch,
    // so random lookups do not mispredict.
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
/// (see `crate::net::parse_ip`).
pub struct CidrIndex {
    v4: Family<u32>,
    v6: Family<V6>,
}

impl CidrIndex {
    /// Number of distinct prefixes held.
    pub fn len(&self) -> usize {
        self.v4.prefixes.len() + self.v6.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row of the most specific prefix containing `ip`; None when no prefix
    /// contains it.
    #[inline]
    pub fn longest(&self, ip: IpAddr) -> Option<u32> {
        self.containing(ip).next()
    }

    /// Rows of every prefix containing `ip`, most specific first.
    #[inline]
    pub fn containing(&self, ip: IpAddr) -> Containing<'_> {
        let (prefixes, next) = match ip {
            IpAddr::V4(a) => (&self.v4.prefixes, self.v4.owner(u32::from(a))),
            IpAddr::V6(a) => (&self.v6.prefixes, self.v6.owner(V6::new(u128::from(a)))),
        };
        Containing { prefixes, next }
    }

    /// Approximate heap bytes used (for memory reports).
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }
}

impl fmt::Debug for CidrIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CidrIndex")
            .field("v4_prefixes", &self.v4.prefixes.len())
            .field("v4_ranges", &self.v4.ranges.len())
            .field("v6_prefixes", &self.v6.prefixes.len())
            .field("v6_ranges", &self.v6.ranges.len())
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

/// Iterator over the rows of the prefixes containing an address, innermost
/// first; see [`CidrIndex::containing`].
#[derive(Clone)]
pub struct Containing<'a> {
    prefixes: &'a [Link],
    next: u32,
}

impl Iterator for Containing<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        // `NONE` is never a valid index, so `get` also ends the walk.
        let link = self.prefixes.get(self.next as usize)?;
        self.next = link.parent;
        Some(link.row)
    }
}

impl FusedIterator for Containing<'_> {}

impl fmt::Debug for Containing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

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

    fn all(idx: &CidrIndex, s: &str) -> Vec<u32> {
        idx.containing(ip(s)).collect()
    }

    #[test]
    fn nested_v4_levels_and_gaps() {
        let idx = index(&[("10.1.2.0/24", 3), ("10.0.0.0/8", 1), ("10.1.0.0/16", 2)]);
        assert_eq!(idx.len(), 3);
        let cases = [
            ("9.255.255.255", None),
            ("10.0.0.0", Some(1)),
            ("10.0.255.255", Some(1)),
            ("10.1.0.0", Some(2)),
            ("10.1.1.255", Some(2)),
            ("10.1.2.0", Some(3)),
            ("10.1.2.77", Some(3)),
            ("10.1.2.255", Some(3)),
            ("10.1.3.0", Some(2)),
            ("10.1.255.255", Some(2)),
            ("10.2.0.0", Some(1)),
            ("10.255.255.255", Some(1)),
            ("11.0.0.0", None),
            ("0.0.0.0", None),
            ("255.255.255.255", None),
        ];
        for (addr, want) in cases {
            assert_eq!(idx.longest(ip(addr)), want, "{addr}");
        }
        assert_eq!(all(&idx, "10.1.2.3"), [3, 2, 1]);
        assert_eq!(all(&idx, "10.1.9.9"), [2, 1]);
        assert_eq!(all(&idx, "10.9.9.9"), [1]);
        assert_eq!(all(&idx, "11.0.0.0"), [] as [u32; 0]);
    }

    #[test]
    fn shared_start_and_shared_end() {
        // Same start, different lengths; and inner prefixes ending exactly
        // where their parent ends.
        let idx = index(&[
            ("10.0.0.0/8", 1),
            ("10.0.0.0/16", 2),
            ("10.0.0.0/24", 3),
            ("10.255.255.0/24", 4),
            ("10.255.255.255/32", 5),
        ]);
        assert_eq!(all(&idx, "10.0.0.0"), [3, 2, 1]);
        assert_eq!(all(&idx, "10.0.1.0"), [2, 1]);
        assert_eq!(all(&idx, "10.1.0.0"), [1]);
        assert_eq!(all(&idx, "10.255.255.254"), [4, 1]);
        assert_eq!(all(&idx, "10.255.255.255"), [5, 4, 1]);
        assert_eq!(idx.longest(ip("11.0.0.0")), None);
    }

    #[test]
    fn adjacent_prefixes() {
        let idx = index(&[("10.0.0.0/24", 1), ("10.0.1.0/24", 2), ("10.0.2.0/23", 3)]);
        assert_eq!(idx.longest(ip("10.0.0.255")), Some(1));
        assert_eq!(idx.longest(ip("10.0.1.0")), Some(2));
        assert_eq!(idx.longest(ip("10.0.1.255")), Some(2));
        assert_eq!(idx.longest(ip("10.0.2.0")), Some(3));
        assert_eq!(idx.longest(ip("10.0.3.255")), Some(3));
        assert_eq!(idx.longest(ip("10.0.4.0")), None);
        assert_eq!(idx.longest(ip("9.255.255.255")), None);
    }

    #[test]
    fn default_route_and_hosts_at_edges() {
        let idx = index(&[
            ("0.0.0.0/0", 0),
            ("0.0.0.0/32", 1),
            ("255.255.255.255/32", 2),
            ("255.0.0.0/8", 3),
        ]);
        assert_eq!(all(&idx, "0.0.0.0"), [1, 0]);
        assert_eq!(all(&idx, "0.0.0.1"), [0]);
        assert_eq!(all(&idx, "128.0.0.0"), [0]);
        assert_eq!(all(&idx, "254.255.255.255"), [0]);
        assert_eq!(all(&idx, "255.0.0.0"), [3, 0]);
        assert_eq!(all(&idx, "255.255.255.254"), [3, 0]);
        assert_eq!(all(&idx, "255.255.255.255"), [2, 3, 0]);
        // The IPv4 default route says nothing about IPv6.
        assert_eq!(idx.longest(ip("::")), None);
    }

    #[test]
    fn max_address_alone() {
        let idx = index(&[
            ("255.255.255.255/32", 7),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 8),
        ]);
        assert_eq!(idx.longest(ip("255.255.255.255")), Some(7));
        assert_eq!(idx.longest(ip("255.255.255.254")), None);
        assert_eq!(
            idx.longest(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
            Some(8)
        );
        assert_eq!(
            idx.longest(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")),
            None
        );
        assert_eq!(idx.longest(ip("0.0.0.0")), None);
        assert_eq!(idx.longest(ip("::")), None);
    }

    #[test]
    fn v6_nesting_and_edges() {
        let idx = index(&[
            ("::/0", 0),
            ("2001:db8::/32", 1),
            ("2001:db8:1::/48", 2),
            ("2001:db8:1::1/128", 3),
            ("8000::/1", 4),
            ("::/128", 5),
        ]);
        assert_eq!(all(&idx, "2001:db8:1::1"), [3, 2, 1, 0]);
        assert_eq!(all(&idx, "2001:db8:1::2"), [2, 1, 0]);
        assert_eq!(all(&idx, "2001:db8:2::"), [1, 0]);
        assert_eq!(all(&idx, "2001:db9::"), [0]);
        assert_eq!(all(&idx, "::"), [5, 0]);
        assert_eq!(all(&idx, "::1"), [0]);
        assert_eq!(all(&idx, "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), [0]);
        assert_eq!(all(&idx, "8000::"), [4, 0]);
        assert_eq!(all(&idx, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), [4, 0]);
        assert_eq!(idx.longest(ip("1.2.3.4")), None);
    }

    #[test]
    fn families_are_separate() {
        let idx = index(&[("10.0.0.0/8", 1), ("::/96", 2), ("::a00:0/104", 3)]);
        assert_eq!(idx.longest(ip("10.0.0.1")), Some(1));
        // "::10.0.0.1" is the same 32 low bits, but IPv6.
        assert_eq!(idx.longest(ip("::10.0.0.1")), Some(3));
        assert_eq!(idx.longest(ip("::1")), Some(2));
        assert_eq!(idx.longest(ip("0.0.0.1")), None);
    }

    #[test]
    fn duplicate_insert_keeps_first() {
        let idx = index(&[
            ("10.0.0.0/8", 1),
            ("10.0.0.0/16", 5),
            ("10.0.0.0/8", 2),
            ("10.0.0.0/8", 3),
        ]);
        assert_eq!(idx.len(), 2);
        assert_eq!(all(&idx, "10.0.0.1"), [5, 1]);
        assert_eq!(all(&idx, "10.1.0.1"), [1]);
        let idx6 = index(&[("2001:db8::/32", 9), ("2001:db8::/32", 8)]);
        assert_eq!(idx6.longest(ip("2001:db8::1")), Some(9));
    }

    #[test]
    fn insert_clears_stray_host_bits() {
        // Cidr values are normalised by construction; masking again in the
        // builder is what keeps the range sweep sound regardless.
        let mut b = CidrIndexBuilder::new();
        b.insert(Cidr::new(ip("10.1.2.3"), 8).unwrap(), 1);
        let idx = b.build();
        assert_eq!(idx.longest(ip("10.0.0.0")), Some(1));
    }

    #[test]
    fn empty_index() {
        let idx = CidrIndexBuilder::with_capacity(0).build();
        assert!(idx.is_empty());
        assert_eq!(idx.len(), 0);
        assert_eq!(idx.longest(ip("1.2.3.4")), None);
        assert_eq!(idx.longest(ip("::1")), None);
        assert_eq!(idx.containing(ip("0.0.0.0")).next(), None);
        assert!(format!("{idx:?}").contains("v4_prefixes: 0"));
    }

    #[test]
    fn ranges_are_merged_and_memory_reported() {
        let idx = index(&[("10.0.0.0/8", 1), ("10.0.0.0/9", 2), ("10.128.0.0/9", 3)]);
        // /8 is fully covered by its two halves, so only 2 ranges plus the
        // gap after them remain.
        assert_eq!(idx.v4.ranges.len(), 3);
        assert!(idx.heap_bytes() >= 3 * 4 + 3 * 4 + 3 * 8);
        assert_eq!(all(&idx, "10.200.0.0"), [3, 1]);
    }

    /// Tiny xorshift generator so the property test needs no extra crates
    /// and is reproducible.
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
        fn u128(&mut self) -> u128 {
            (u128::from(self.next()) << 64) | u128::from(self.next())
        }
    }

    /// A random address near one of a few bases, so that prefixes and probe
    /// addresses cluster and nest; includes the extreme addresses.
    fn random_v4(rng: &mut Rng) -> u32 {
        const BASES: [u32; 5] = [0, 0x0a00_0000, 0xc0a8_0000, 0xffff_0000, 0x7fff_ff00];
        match rng.below(10) {
            0 => rng.next() as u32,
            1 => u32::MAX - rng.below(4) as u32,
            _ => {
                let base = BASES[rng.below(BASES.len() as u64) as usize];
                base ^ (rng.next() as u32 >> (8 + rng.below(24)))
            }
        }
    }

    fn random_v6(rng: &mut Rng) -> u128 {
        const BASES: [u128; 4] = [0, 0x2001_0db8 << 96, u128::MAX << 64, u128::MAX];
        match rng.below(10) {
            0 => rng.u128(),
            1 => u128::MAX - u128::from(rng.below(4)),
            _ => {
                let base = BASES[rng.below(BASES.len() as u64) as usize];
                base ^ (rng.u128() >> (16 + rng.below(112)))
            }
        }
    }

    fn random_len(rng: &mut Rng, max: u8) -> u8 {
        // Mostly long prefixes, a few short ones (including /0) so they nest.
        match rng.below(20) {
            0 => rng.below(u64::from(max) / 4 + 1) as u8,
            _ => rng.below(u64::from(max) + 1) as u8,
        }
    }

    fn random_ip(rng: &mut Rng) -> IpAddr {
        if rng.below(2) == 0 {
            IpAddr::V4(random_v4(rng).into())
        } else {
            // Callers fold mapped addresses into IPv4 before a lookup.
            let v6 = std::net::Ipv6Addr::from(random_v6(rng));
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
    }

    #[test]
    fn matches_brute_force_on_random_prefixes() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..4 {
            let n = [0, 40, 1500, 4000][round];
            let mut prefixes: Vec<(Cidr, u32)> = Vec::new();
            let mut b = CidrIndexBuilder::with_capacity(n);
            for row in 0..n as u32 {
                let net = if rng.below(2) == 0 {
                    let len = random_len(&mut rng, 32);
                    Cidr::new(IpAddr::V4(random_v4(&mut rng).into()), len).unwrap()
                } else {
                    let len = random_len(&mut rng, 128);
                    Cidr::new(IpAddr::V6(random_v6(&mut rng).into()), len).unwrap()
                };
                b.insert(net, row);
                // The reference keeps the first row of a duplicated prefix.
                if !prefixes.iter().any(|(p, _)| *p == net) {
                    prefixes.push((net, row));
                }
            }
            let idx = b.build();
            assert_eq!(idx.len(), prefixes.len());

            let mut nested_hits = 0;
            for _ in 0..20_000 {
                let addr = random_ip(&mut rng);
                let mut want: Vec<(u8, u32)> = prefixes
                    .iter()
                    .filter(|(p, _)| p.contains(addr))
                    .map(|(p, row)| (p.len(), *row))
                    .collect();
                want.sort_by(|a, b| b.0.cmp(&a.0));
                let want: Vec<u32> = want.into_iter().map(|(_, row)| row).collect();
                let got: Vec<u32> = idx.containing(addr).collect();
                assert_eq!(got, want, "round {round}, address {addr}");
                assert_eq!(
                    idx.longest(addr),
                    want.first().copied(),
                    "round {round}, {addr}"
                );
                if want.len() >= 3 {
                    nested_hits += 1;
                }
            }
            // Guard against a generator that stops producing nesting.
            if n >= 1500 {
                assert!(
                    nested_hits > 1000,
                    "only {nested_hits} deeply nested probes"
                );
            }
        }
    }
}
