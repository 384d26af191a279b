//! Target 4: table build with full validation from CSV, and the memory of the result.
//!
//! - The 1M-row `accounts.csv` of the build data set is read into memory once and built
//!   with `lut_core::table::build` (schema validation, key index, pre-rendered rows):
//!   rows/s against the floor's `limit load` of the same file (which reads the file,
//!   from tmpfs, and validates nothing).
//! - Memory: `Table::heap_bytes()` / CSV size, and the process's RSS growth and peak
//!   growth over one build (measured on the first build of the process section, before
//!   the timed runs, with the peak reset through /proc/self/clear_refs).
//! - `--big`: a 10M-row table (gen.py's 1M rows written ten times, keys prefixed with the
//!   copy number so that all are distinct) is built streaming from the file, then looked
//!   up; reports time, heap/CSV, peak RSS and lookups/s.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use lut_core::table::{self, Table};

use crate::data::Parsed;
use crate::external;
use crate::inproc::{self, now_nanos, Rng};
use crate::measure::{self, fmt_num, Report, Threshold};

pub struct Inputs<'a> {
    pub parsed: &'a Parsed,
    /// The build data set's accounts.csv (1M rows by default).
    pub csv_path: &'a Path,
    pub runs: usize,
    pub limit: Option<&'a Path>,
    /// Rows of the big table, when `--big` was given.
    pub big_rows: Option<u64>,
    /// Where the big CSV is written.
    pub big_dir: PathBuf,
}

const MB: f64 = 1e6;

/// Memory of one build: heap bytes of the table, RSS growth, peak RSS growth.
struct Memory {
    heap: usize,
    rss_growth: Option<u64>,
    peak_growth: Option<u64>,
    /// The process's peak RSS (VmHWM) after the build.
    peak: Option<u64>,
}

fn measured_build(p: &Parsed, input: impl std::io::Read) -> Result<(Table, f64, Memory)> {
    let peak_reset = measure::reset_peak_rss();
    let rss0 = measure::rss_bytes();
    let t0 = Instant::now();
    let built = table::build(&p.spec, &p.schema, input).map_err(|r| anyhow::anyhow!("{r}"))?;
    let secs = t0.elapsed().as_secs_f64();
    let rss1 = measure::rss_bytes();
    let peak = measure::peak_rss_bytes();
    let growth = |a: Option<u64>| Some(a?.saturating_sub(rss0?));
    let mem = Memory {
        heap: built.table.heap_bytes(),
        rss_growth: growth(rss1),
        peak_growth: if peak_reset { growth(peak) } else { None },
        peak,
    };
    Ok((built.table, secs, mem))
}

fn mb(b: Option<u64>) -> String {
    b.map_or("n/a".into(), |b| format!("{} MB", fmt_num(b as f64 / MB)))
}

pub fn run(report: &mut Report, inp: &Inputs) -> Result<()> {
    let csv =
        fs::read(inp.csv_path).with_context(|| format!("reading {}", inp.csv_path.display()))?;
    let (t, _, mem) = measured_build(inp.parsed, &csv[..])?;
    let rows = t.len();
    drop(t);
    report.value(
        "build_rss_growth",
        mem.rss_growth.unwrap_or(0) as f64 / csv.len() as f64,
        &format!(
            "× CSV size (RSS after build − before: {}; peak during build: {})",
            mb(mem.rss_growth),
            mb(mem.peak_growth)
        ),
    );
    let (_, lut_rows_per_s) =
        inproc::build_table(report, "table_build", "rows", inp.parsed, &csv, inp.runs)?;
    let heap_ratio = mem.heap as f64 / csv.len() as f64;
    report.value(
        "table_heap",
        heap_ratio,
        &format!(
            "× CSV size ({} MB heap / {} MB CSV, {rows} rows)",
            fmt_num(mem.heap as f64 / MB),
            fmt_num(csv.len() as f64 / MB)
        ),
    );
    drop(csv);

    let what = format!("table build, {rows} rows, full validation / floor `limit load`");
    match inp.limit {
        Some(limit) => {
            let (floor_rows_per_s, _) = external::limit_load(limit, inp.csv_path, inp.runs)?;
            report.value("floor_load_rows", floor_rows_per_s * 1e-6, "M rows/s");
            report.target(
                "4",
                &what,
                format!("{} M rows/s", fmt_num(lut_rows_per_s * 1e-6)),
                format!("{} M rows/s", fmt_num(floor_rows_per_s * 1e-6)),
                lut_rows_per_s / floor_rows_per_s,
                Threshold::AtLeast(0.5),
            );
        }
        None => report.skip("4", &what, "no floor binary"),
    }
    report.target(
        "4",
        &format!("table memory / CSV size ({rows} rows, Table::heap_bytes)"),
        format!("{} MB", fmt_num(mem.heap as f64 / MB)),
        format!(
            "{} MB CSV",
            fmt_num(inp.csv_path.metadata()?.len() as f64 / MB)
        ),
        heap_ratio,
        Threshold::AtMost(3.0),
    );
    report.info(
        "4",
        "process RSS growth over that build",
        format!(
            "{} after, {} at peak",
            mb(mem.rss_growth),
            mb(mem.peak_growth)
        ),
    );

    match inp.big_rows {
        Some(n) => big(report, inp, n)?,
        None => report.skip(
            "4",
            "10M-row table loads and serves",
            "skipped (opt-in: --big; writes a ~1 GB CSV and needs several GB of memory)",
        ),
    }
    Ok(())
}

/// Writes `copies` copies of `src`'s data rows to `dst`, each key prefixed with its copy
/// number (zero-padded), unless `dst` already holds exactly that.
fn write_big_csv(src: &[u8], dst: &Path, copies: usize) -> Result<()> {
    let stamp = dst.with_extension("stamp");
    let want = format!("copies={copies} of {} bytes\n", src.len());
    if dst.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s == want) {
        println!("big table: reusing {}", dst.display());
        return Ok(());
    }
    let _ = fs::remove_file(&stamp);
    if let Some(d) = dst.parent() {
        fs::create_dir_all(d)?;
    }
    let t0 = Instant::now();
    let width = (copies.max(2) - 1).to_string().len();
    let mut lines = src.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let header = lines.next().context("empty CSV")?;
    let rows: Vec<&[u8]> = lines.collect();
    let mut w = BufWriter::with_capacity(
        1 << 20,
        File::create(dst).with_context(|| format!("creating {}", dst.display()))?,
    );
    w.write_all(header)?;
    w.write_all(b"\n")?;
    for c in 0..copies {
        let prefix = format!("{c:0width$}");
        for r in &rows {
            w.write_all(prefix.as_bytes())?;
            w.write_all(r)?;
            w.write_all(b"\n")?;
        }
    }
    w.flush()?;
    fs::write(&stamp, want)?;
    println!(
        "big table: wrote {} ({copies} copies) in {:.1} s",
        dst.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn big(report: &mut Report, inp: &Inputs, n: u64) -> Result<()> {
    let src = fs::read(inp.csv_path)?;
    let src_rows = memchr::memchr_iter(b'\n', &src)
        .count()
        .saturating_sub(1)
        .max(1);
    let copies = (n as usize).div_ceil(src_rows);
    let path = inp.big_dir.join("accounts.csv");
    write_big_csv(&src, &path, copies)?;
    // Keys to look up: every 97th row of the source, in a random copy.
    let width = (copies.max(2) - 1).to_string().len();
    let mut rng = Rng::new(42);
    let keys: Vec<Vec<u8>> = src
        .split(|&b| b == b'\n')
        .skip(1)
        .step_by(97)
        .filter_map(|l| l.split(|&b| b == b',').next().filter(|k| !k.is_empty()))
        .map(|k| {
            let mut key = format!("{:0width$}", rng.below(copies as u64)).into_bytes();
            key.extend_from_slice(k);
            key
        })
        .collect();
    drop(src);
    let csv_len = path.metadata()?.len();

    let file = File::open(&path)?;
    let (t, secs, mem) = measured_build(inp.parsed, BufReader::with_capacity(1 << 20, file))?;
    let rows = t.len();
    let heap_ratio = mem.heap as f64 / csv_len as f64;
    report.value("big_build_rows", rows as f64 / secs * 1e-6, "M rows/s");
    report.value("big_build_secs", secs, &format!("s for {rows} rows"));
    report.value(
        "big_table_heap",
        heap_ratio,
        &format!(
            "× CSV size ({} MB heap / {} MB CSV)",
            fmt_num(mem.heap as f64 / MB),
            fmt_num(csv_len as f64 / MB)
        ),
    );

    let now = now_nanos();
    let mut scratch = Vec::new();
    let t0 = Instant::now();
    let mut hits = 0usize;
    let rounds = 20;
    for _ in 0..rounds {
        for k in &keys {
            hits += usize::from(t.get(k, now, &mut scratch).is_some());
        }
    }
    let lookup_secs = t0.elapsed().as_secs_f64();
    let lookups = keys.len() * rounds;
    report.value(
        "big_lookups",
        lookups as f64 / lookup_secs * 1e-6,
        &format!("M lookups/s ({hits} of {lookups} hit)"),
    );
    ensure!(!keys.is_empty(), "no keys to look up");
    report.check(
        "4",
        &format!("{rows}-row table loads and serves"),
        rows as u64 >= n && hits == lookups,
        format!(
            "built in {} s ({} M rows/s), peak RSS {} (+{} over the build), {hits}/{lookups} lookups hit",
            fmt_num(secs),
            fmt_num(rows as f64 / secs * 1e-6),
            mb(mem.peak),
            mb(mem.peak_growth)
        ),
        "all rows, all hits",
    );
    report.target(
        "4",
        &format!("table memory / CSV size ({rows} rows)"),
        format!("{} MB", fmt_num(mem.heap as f64 / MB)),
        format!("{} MB CSV", fmt_num(csv_len as f64 / MB)),
        heap_ratio,
        Threshold::AtMost(3.0),
    );
    drop(t);
    Ok(())
}
