//! In-process measurements against lut-core: table build, single-core enrichment and CIDR
//! lookups (target 5). Inputs are read into memory first and output is discarded, so
//! neither disk nor page-cache I/O is part of these figures.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use lut_core::enrich::{Enricher, LiveTable, Outcome, Snapshot, Stats};
use lut_core::table::{self, Table};

use crate::data::Parsed;
use crate::measure::{repeat, Report};

/// Output is dropped whenever the buffer reaches this size.
const OUT_CLEAR_AT: usize = 1 << 20;

pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// Builds `p`'s table from `bytes` `runs` times (after a warm-up); reports rows/s and MB/s
/// under `name` and returns the last table built and the median rows/s.
pub fn build_table(
    report: &mut Report,
    name: &str,
    row_unit: &str,
    p: &Parsed,
    bytes: &[u8],
    runs: usize,
) -> Result<(Table, f64)> {
    let (sample, built) = repeat(runs, || {
        let t0 = Instant::now();
        let built = table::build(&p.spec, &p.schema, bytes);
        let secs = t0.elapsed().as_secs_f64();
        Ok((secs, built.map_err(|r| anyhow::anyhow!("{r}"))?))
    })?;
    let rows = built.report.rows_loaded;
    ensure!(rows > 0, "table {:?} loaded no rows", p.spec.name);
    if !built.report.problems.is_empty() {
        println!(
            "note: {} rows of {:?} were skipped (first: {})",
            built.report.problems.len(),
            p.spec.name,
            built.report.problems[0].reason
        );
    }
    report.rate(
        &format!("{name}_{row_unit}"),
        rows as f64,
        1e-6,
        &sample,
        &format!("M {row_unit}/s"),
    );
    report.rate(
        &format!("{name}_bytes"),
        bytes.len() as f64,
        1e-6,
        &sample,
        "MB/s",
    );
    Ok((built.table, rows as f64 / sample.median()))
}

pub fn live(p: &Parsed, table: Table) -> LiveTable {
    LiveTable {
        spec: p.spec.clone(),
        schema: p.schema.clone(),
        table: Arc::new(table),
    }
}

/// Enriches every line of `events` once, output cleared every ~1 MiB.
fn enrich_all(snap: &Snapshot, events: &[u8], now: i64, out: &mut Vec<u8>) -> Stats {
    let mut e = Enricher::new();
    let mut start = 0;
    while start < events.len() {
        let end = memchr::memchr(b'\n', &events[start..]).map_or(events.len(), |i| start + i);
        e.enrich_line(snap, &events[start..end], None, now, out);
        out.push(b'\n');
        if out.len() >= OUT_CLEAR_AT {
            black_box(&out[..]);
            out.clear();
        }
        start = end + 1;
    }
    black_box(&out[..]);
    e.stats
}

/// Single-core enrichment of the in-memory `events` with `snap`; reports events/s and
/// input MB/s under `name` and returns the counters of the last run.
pub fn enrich(
    report: &mut Report,
    name: &str,
    snap: &Snapshot,
    events: &[u8],
    runs: usize,
) -> Result<Stats> {
    let now = now_nanos();
    let mut out = Vec::with_capacity(OUT_CLEAR_AT + (64 << 10));
    let (sample, stats) = repeat(runs, || {
        out.clear();
        let t0 = Instant::now();
        let stats = enrich_all(snap, events, now, &mut out);
        Ok((t0.elapsed().as_secs_f64(), stats))
    })?;
    ensure!(
        stats.enriched > 0,
        "{name}: no event was enriched: the generated spec does not match the data"
    );
    ensure!(
        stats.not_object == 0,
        "{name}: {} lines were not JSON objects",
        stats.not_object
    );
    report.rate(
        &format!("{name}_events"),
        stats.events as f64,
        1e-6,
        &sample,
        "M events/s",
    );
    report.rate(
        &format!("{name}_input"),
        events.len() as f64,
        1e-6,
        &sample,
        "MB/s",
    );
    report.value(
        &format!("{name}_enriched"),
        stats.enriched as f64 / stats.events.max(1) as f64 * 100.0,
        &format!("% of {} events", stats.events),
    );
    Ok(stats)
}

/// Enriches the first line that matches and checks the output is JSON holding a match
/// from each of `tables` (outside the timed loop).
pub fn check_output(snap: &Snapshot, events: &[u8], tables: &[&str]) -> Result<()> {
    let mut e = Enricher::new();
    let mut out = Vec::new();
    for line in events.split(|&b| b == b'\n').take(10_000) {
        out.clear();
        if e.enrich_line(snap, line, None, now_nanos(), &mut out) != Outcome::Enriched {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out).context("enriched line is not valid JSON")?;
        let pe = &v["p_enrichment"];
        if tables.iter().all(|t| pe.get(t).is_some()) {
            return Ok(());
        }
    }
    bail!("no enriched event among the first 10000 carries matches of all of {tables:?}")
}

/// A small deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }
}

/// Blocks of a `cidr,...` CSV (header skipped).
fn parse_blocks(csv: &[u8]) -> Result<Vec<(IpAddr, u8)>> {
    let text = std::str::from_utf8(csv).context("cidrs.csv is not UTF-8")?;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let cidr = line.split(',').next().unwrap_or("");
        let Some((addr, len)) = cidr.split_once('/') else {
            continue;
        };
        if let (Ok(a), Ok(l)) = (addr.parse::<IpAddr>(), len.parse::<u8>()) {
            out.push((a, l));
        }
    }
    ensure!(!out.is_empty(), "no CIDR blocks in cidrs.csv");
    Ok(out)
}

/// Which addresses a lookup set holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Half inside a random IPv4 block of the table, half uniformly random IPv4.
    V4,
    /// Half inside a random IPv6 block of the table, half uniformly random IPv6.
    V6,
    /// Half inside a random block of either family, 35% random IPv4, 15% random IPv6.
    Mixed,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
            Family::Mixed => "mixed",
        }
    }
}

/// An address inside `block`, with random host bits.
fn inside(rng: &mut Rng, (addr, len): (IpAddr, u8)) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let host = if len >= 32 {
                0
            } else {
                (rng.next_u64() as u32) & (u32::MAX >> len)
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) | host))
        }
        IpAddr::V6(a) => {
            let host = if len >= 128 {
                0
            } else {
                rng.u128() & (u128::MAX >> len)
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) | host))
        }
    }
}

/// `n` addresses of `family`, deterministically (see [`Family`]).
pub fn lookup_ips(csv: &[u8], n: usize, family: Family) -> Result<Vec<IpAddr>> {
    let all = parse_blocks(csv)?;
    let blocks: Vec<(IpAddr, u8)> = all
        .into_iter()
        .filter(|(a, _)| match family {
            Family::V4 => a.is_ipv4(),
            Family::V6 => a.is_ipv6(),
            Family::Mixed => true,
        })
        .collect();
    ensure!(
        !blocks.is_empty(),
        "cidrs.csv has no {} blocks",
        family.name()
    );
    let mut rng = Rng::new(0x6c75_742d_6265_6e63 ^ family as u64);
    let random_v4 = |rng: &mut Rng| IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32));
    let random_v6 = |rng: &mut Rng| IpAddr::V6(Ipv6Addr::from(rng.u128()));
    let mut ips = Vec::with_capacity(n);
    for _ in 0..n {
        let pick = rng.below(100);
        let ip = if pick < 50 {
            let b = blocks[rng.below(blocks.len() as u64) as usize];
            inside(&mut rng, b)
        } else {
            match family {
                Family::V4 => random_v4(&mut rng),
                Family::V6 => random_v6(&mut rng),
                Family::Mixed if pick < 85 => random_v4(&mut rng),
                Family::Mixed => random_v6(&mut rng),
            }
        };
        ips.push(ip);
    }
    Ok(ips)
}

/// Longest-prefix lookups of `ips` in `t` on this thread, reported as `name`; returns the
/// median lookups/s.
pub fn cidr_lookups(
    report: &mut Report,
    name: &str,
    t: &Table,
    ips: &[IpAddr],
    runs: usize,
) -> Result<f64> {
    ensure!(t.is_cidr(), "the networks table is not keyed by CIDR");
    let now = now_nanos();
    let (sample, hits) = repeat(runs, || {
        let mut acc = 0u64;
        let mut hits = 0usize;
        let t0 = Instant::now();
        for &ip in ips {
            hits += t.get_ip(ip, now, |row| acc = acc.wrapping_add(u64::from(row)));
        }
        let secs = t0.elapsed().as_secs_f64();
        black_box(acc);
        Ok((secs, hits))
    })?;
    ensure!(hits > 0, "{name}: no CIDR lookup matched");
    report.rate(name, ips.len() as f64, 1e-6, &sample, "M lookups/s");
    report.value(
        &format!("{name}_hits"),
        hits as f64 / ips.len() as f64 * 100.0,
        &format!("% of {} IPs", ips.len()),
    );
    Ok(ips.len() as f64 / sample.median())
}
