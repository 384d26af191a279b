//! Target 6 (second half): a swap of a large table never stalls concurrent enrichment.
//!
//! In one process, the calling thread enriches events in batches (`--batch` lines), taking
//! one `Registry::load()` snapshot per batch exactly as the server does, and times every
//! batch (load, enrich, and dropping the snapshot, which frees a replaced table when it
//! held the last reference). Meanwhile a second thread builds the 1M-row table from its CSV
//! `--swaps` times and publishes each build with `Registry::swap_table` (an arc-swap
//! pointer store). The same number of batches is then timed with no builder running. The
//! table being swapped is the one the events are enriched with (the build data set's
//! events match it), so every batch does the same work before and after a swap.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use lut_core::enrich::lines::enrich_block;
use lut_core::enrich::{Enricher, Snapshot};
use lut_core::registry::Registry;
use lut_core::table;

use crate::data::Parsed;
use crate::inproc::{live, now_nanos};
use crate::measure::{fmt_num, Report, Sample, Threshold};

pub struct Inputs<'a> {
    pub parsed: &'a Parsed,
    /// The large table's CSV.
    pub csv: &'a [u8],
    /// Events whose `account` values are in that table.
    pub events: &'a [u8],
    pub batch: usize,
    pub swaps: usize,
}

/// Per-batch latencies, sorted, in seconds.
struct Latencies(Vec<f64>);

impl Latencies {
    fn new(mut v: Vec<f64>) -> Latencies {
        v.sort_by(f64::total_cmp);
        Latencies(v)
    }

    fn quantile(&self, q: f64) -> f64 {
        let n = self.0.len();
        let i = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
        self.0[i]
    }

    fn max(&self) -> f64 {
        self.0[self.0.len() - 1]
    }

    fn text(&self) -> String {
        format!(
            "median {} ms, p99 {} ms, worst {} ms ({} batches)",
            fmt_num(self.quantile(0.5) * 1e3),
            fmt_num(self.quantile(0.99) * 1e3),
            fmt_num(self.max() * 1e3),
            self.0.len()
        )
    }
}

/// Byte ranges of `batch` lines each (the last may be shorter).
fn batches(events: &[u8], batch: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut lines = 0;
    for nl in memchr::memchr_iter(b'\n', events) {
        lines += 1;
        if lines == batch {
            out.push(start..nl + 1);
            start = nl + 1;
            lines = 0;
        }
    }
    if start < events.len() {
        out.push(start..events.len());
    }
    out
}

/// What one enrichment loop saw.
struct Loop {
    /// Each batch's latency, in seconds.
    lat: Vec<f64>,
    enriched: u64,
    /// Batches that held the last reference to a replaced snapshot, so that dropping it
    /// freed the old table on this thread: (batch latency, time of that drop).
    freed: Vec<(f64, f64)>,
}

/// Enriches batches round-robin until `stop` is set (or `limit` batches are done).
fn enrich_loop(
    registry: &Registry,
    events: &[u8],
    ranges: &[Range<usize>],
    stop: &AtomicBool,
    limit: usize,
) -> Loop {
    let mut e = Enricher::new();
    let mut out = Vec::with_capacity(4 << 20);
    let now = now_nanos();
    let mut lat = Vec::new();
    let mut freed = Vec::new();
    let mut i = 0;
    while lat.len() < limit && !stop.load(Ordering::Relaxed) {
        let range = ranges[i % ranges.len()].clone();
        i += 1;
        let t0 = Instant::now();
        let snap = registry.load();
        enrich_block(&snap, &mut e, &events[range], None, now, false, &mut out);
        // Nobody else can take a new reference to a snapshot the registry no longer holds.
        let last = Arc::strong_count(&snap) == 1;
        let t_drop = Instant::now();
        drop(snap);
        let drop_secs = t_drop.elapsed().as_secs_f64();
        let secs = t0.elapsed().as_secs_f64();
        lat.push(secs);
        if last {
            freed.push((secs, drop_secs));
        }
        std::hint::black_box(&out);
        out.clear();
    }
    Loop {
        lat,
        enriched: e.stats.enriched,
        freed,
    }
}

/// Runs the measurement and records its figures and verdict.
pub fn run(report: &mut Report, inp: &Inputs) -> Result<()> {
    let build = || -> Result<lut_core::enrich::LiveTable> {
        let b = table::build(&inp.parsed.spec, &inp.parsed.schema, inp.csv)
            .map_err(|r| anyhow::anyhow!("{r}"))?;
        Ok(live(inp.parsed, b.table))
    };
    let first = build()?;
    let rows = first.table.len();
    let registry = Registry::new(Snapshot::new(vec![first]));
    let ranges = batches(inp.events, inp.batch.max(1));
    ensure!(!ranges.is_empty(), "no events for the swap measurement");
    let never = AtomicBool::new(false);
    // Warm-up: one pass over every batch.
    let warm = enrich_loop(&registry, inp.events, &ranges, &never, ranges.len());
    ensure!(
        warm.enriched > 0,
        "the swap events do not match the large table"
    );

    let done = AtomicBool::new(false);
    let mut build_secs = Vec::new();
    let during = std::thread::scope(|scope| -> Result<_> {
        let builder = scope.spawn(|| -> Result<Vec<f64>> {
            let mut secs = Vec::new();
            for _ in 0..inp.swaps.max(1) {
                let t0 = Instant::now();
                let t = build();
                secs.push(t0.elapsed().as_secs_f64());
                match t {
                    Ok(t) => registry.swap_table(t),
                    Err(e) => {
                        done.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            // A little enrichment after the last swap, when the old table is dropped.
            std::thread::sleep(Duration::from_millis(50));
            done.store(true, Ordering::Relaxed);
            Ok(secs)
        });
        let r = enrich_loop(&registry, inp.events, &ranges, &done, usize::MAX);
        build_secs = builder
            .join()
            .map_err(|_| anyhow::anyhow!("builder thread panicked"))??;
        Ok(r)
    })?;
    let without = enrich_loop(&registry, inp.events, &ranges, &never, during.lat.len());
    ensure!(
        during.enriched > 0 && without.enriched > 0,
        "nothing enriched in the swap measurement"
    );
    let freed = during.freed;
    let during = Latencies::new(during.lat);
    let without = Latencies::new(without.lat);
    let builds = Sample::from_secs(build_secs);

    report.value(
        "swap_table_build",
        builds.median(),
        &format!(
            "s per build of {rows} rows, median of {} (while enriching on another thread)",
            inp.swaps.max(1)
        ),
    );
    for (name, l) in [
        ("swap_batch_without", &without),
        ("swap_batch_during", &during),
    ] {
        report.value(
            &format!("{name}_p50"),
            l.quantile(0.5) * 1e3,
            &format!("ms per {}-line batch", inp.batch),
        );
        report.value(&format!("{name}_p99"), l.quantile(0.99) * 1e3, "ms");
        report.value(&format!("{name}_max"), l.max() * 1e3, "ms");
    }
    report.info(
        "6",
        &format!("batch latency without swaps ({}-line batches)", inp.batch),
        without.text(),
    );
    let worst_freeing = freed.iter().map(|f| f.0).fold(0.0, f64::max);
    let worst_drop = freed.iter().map(|f| f.1).fold(0.0, f64::max);
    report.info(
        "6",
        "batches that freed a replaced table (dropped the last snapshot reference)",
        format!(
            "{} of {} swaps; worst such batch {} ms, of which the drop {} ms",
            freed.len(),
            inp.swaps.max(1),
            fmt_num(worst_freeing * 1e3),
            fmt_num(worst_drop * 1e3)
        ),
    );
    // A reader that waited for the writer would lose a good part of a build.
    let stall_at = builds.median() / 2.0;
    report.target(
        "6",
        &format!(
            "no stall: worst batch during {} swaps of {rows} rows / half a build",
            inp.swaps.max(1)
        ),
        during.text(),
        format!("{} ms", fmt_num(stall_at * 1e3)),
        during.max() / stall_at,
        Threshold::AtMost(1.0),
    );
    report.target(
        "6",
        "p99 batch latency during swaps / without",
        format!("{} ms", fmt_num(during.quantile(0.99) * 1e3)),
        format!("{} ms", fmt_num(without.quantile(0.99) * 1e3)),
        during.quantile(0.99) / without.quantile(0.99),
        Threshold::AtMost(2.0),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_into_batches_of_lines() {
        let ev = b"a\nb\nc\nd\ne";
        let r = batches(ev, 2);
        assert_eq!(r, vec![0..4, 4..8, 8..9]);
        assert_eq!(batches(b"a\nb\n", 2), vec![0..4]);
    }

    #[test]
    fn quantiles() {
        let l = Latencies::new((1..=100).rev().map(f64::from).collect());
        assert_eq!(l.quantile(0.5), 50.0);
        assert_eq!(l.quantile(0.99), 99.0);
        assert_eq!(l.max(), 100.0);
    }
}
