//! Tests of the CIDR index: nesting, edges, families, duplicates, the radix tree's
//! child nodes, and agreement with a brute-force longest-prefix search on random and
//! densely clustered prefixes.

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
            _ => BASES[self.below(5) as usize] ^ (noise >> (8 + self.below(u64::from(bits) - 8))),
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
    let mut hits: Vec<&(Cidr, u32)> = reference.iter().filter(|(p, _)| p.contains(addr)).collect();
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
