//! lut-bench: throughput of lut's table build, single-core enrichment, CIDR lookups and
//! the `lut enrich` process end to end, optionally side by side with the hand-written
//! speed floor (`shared/bench/limit`). See README.md.
//!
//! ```text
//! cargo build --release -p lut -p lut-bench && ./target/release/lut-bench [--floor --limit PATH]
//! ```

mod data;
mod external;
mod inproc;
mod measure;

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use lut_core::enrich::Snapshot;

use data::{DataSet, Params};
use measure::Report;

/// Benchmarks lut on a generated data set (see crates/lut-bench/README.md).
#[derive(Parser)]
#[command(name = "lut-bench")]
struct Args {
    /// Data directory (default: /dev/shm/lut-bench, or the temp dir without /dev/shm).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The data generator (default: <repo>/../shared/bench/gen.py).
    #[arg(long)]
    gen: Option<PathBuf>,
    /// Rows of accounts.csv.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// Events in events.jsonl.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// CIDR blocks in cidrs.csv.
    #[arg(long, default_value_t = 100_000)]
    cidrs: u64,
    /// Regenerate the data even if the stamp matches.
    #[arg(long)]
    regen: bool,
    /// Measured runs per figure (medians are reported; one extra warm-up run precedes them).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// IP addresses for the CIDR lookup figure.
    #[arg(long, default_value_t = 4_000_000)]
    lookups: usize,
    /// The `lut` binary for the end-to-end figure (default: `lut` next to this binary).
    #[arg(long)]
    lut: Option<PathBuf>,
    /// Skip the end-to-end `lut enrich` process figure.
    #[arg(long)]
    no_e2e: bool,
    /// Also run the speed floor (`limit`) on the same data and print lut/floor ratios.
    #[arg(long)]
    floor: bool,
    /// A built `shared/bench/limit` binary (implies --floor;
    /// default /tmp/limit-target/release/limit).
    #[arg(long)]
    limit: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runs = args.runs.max(1);
    println!("# lut-bench");
    for (k, v) in measure::machine_facts() {
        println!("{k}: {v}");
    }
    if cfg!(debug_assertions) {
        println!("warning: this is a debug build; run with --release for meaningful figures");
    }
    println!("runs: {runs} measured (medians) after 1 warm-up");

    let ds = DataSet::new(&args.data.clone().unwrap_or_else(data::default_dir));
    let gen = args.gen.clone().unwrap_or_else(data::default_gen);
    let params = Params {
        rows: args.rows,
        events: args.events,
        cidrs: args.cidrs,
    };
    data::ensure_generated(&ds, &gen, params, args.regen)?;
    data::write_specs(&ds)?;
    let accounts = data::parse_spec(&ds.spec_dir)?;
    let networks = data::parse_spec(&ds.cidr_spec_dir)?;
    let mut report = Report::default();

    println!("\n## a. table build (accounts.csv from memory)");
    let csv = read(&ds.accounts_csv)?;
    let table = inproc::build_table(&mut report, "table_build", "rows", &accounts, &csv, runs)?;
    report.value(
        "table_heap",
        table.heap_bytes() as f64 / csv.len() as f64,
        &format!(
            "× CSV size ({:.1} MB heap / {:.1} MB CSV, {} rows)",
            table.heap_bytes() as f64 / 1e6,
            csv.len() as f64 / 1e6,
            table.len()
        ),
    );
    drop(csv);

    println!("\n## b. enrichment on one core (events.jsonl from memory, output discarded)");
    let events = read(&ds.events)?;
    let snap = Snapshot::new(vec![inproc::live(&accounts, table)]);
    inproc::check_output(&snap, &events, &["accounts"])?;
    let stats = inproc::enrich(&mut report, "enrich_1core", &snap, &events, runs)?;
    let n_events = stats.events;

    println!("\n## c. CIDR table (cidrs.csv from memory)");
    let cidr_csv = read(&ds.cidrs_csv)?;
    let cidr_table = inproc::build_table(
        &mut report,
        "cidr_build",
        "prefixes",
        &networks,
        &cidr_csv,
        runs,
    )?;
    let ips = inproc::lookup_ips(&cidr_csv, args.lookups)?;
    drop(cidr_csv);
    inproc::cidr_lookups(&mut report, &cidr_table, &ips, runs)?;
    drop(ips);
    println!("(b+c: accounts and networks on srcAddr/dstAddr together)");
    let both = Snapshot::new(vec![
        snap.tables()[0].clone(),
        inproc::live(&networks, cidr_table),
    ]);
    inproc::check_output(&both, &events, &["accounts", "networks"])?;
    inproc::enrich(&mut report, "enrich_1core_with_cidr", &both, &events, runs)?;
    drop((both, snap, events));

    println!("\n## d. end to end: `lut enrich` process (start-up, table load, file I/O), 1 thread and all cores");
    let mut lut_e2e = None;
    match external::find_lut(args.lut.as_deref()) {
        _ if args.no_e2e => println!("skipped (--no-e2e)"),
        None => println!(
            "skipped: no release `lut` binary next to this one \
             (run `cargo build --release -p lut -p lut-bench`)"
        ),
        Some(lut) => {
            println!("binary: {}", lut.display());
            let t = external::lut_enrich(&lut, &ds, runs, 1)?;
            report.rate("e2e_lut", n_events as f64, 1e-6, &t.wall, "M events/s");
            report.secs("e2e_lut_wall", &t.wall);
            if let Some(load) = &t.load {
                report.secs("e2e_lut_table_load", load);
            }
            if let Some(enrich) = &t.enrich {
                report.rate(
                    "e2e_lut_enrich_phase",
                    n_events as f64,
                    1e-6,
                    enrich,
                    "M events/s",
                );
            }
            lut_e2e = Some(t);
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if cores > 1 {
                let t = external::lut_enrich(&lut, &ds, runs, cores)?;
                let name = format!("e2e_lut_{cores}_threads");
                report.rate(&name, n_events as f64, 1e-6, &t.wall, "M events/s");
                if let Some(enrich) = &t.enrich {
                    report.rate(
                        &format!("{name}_enrich_phase"),
                        n_events as f64,
                        1e-6,
                        enrich,
                        "M events/s",
                    );
                }
            }
        }
    }

    if args.floor || args.limit.is_some() {
        println!("\n## e. speed floor (shared/bench/limit, same data, same machine)");
        let limit = args
            .limit
            .clone()
            .unwrap_or_else(|| PathBuf::from("/tmp/limit-target/release/limit"));
        if limit.is_file() {
            floor(&mut report, &limit, &ds, runs, n_events, lut_e2e.as_ref())?;
        } else {
            println!(
                "skipped: {} not found; build it with `cargo build --release --manifest-path \
                 {} --target-dir /tmp/limit-target`",
                limit.display(),
                gen.with_file_name("limit/Cargo.toml").display()
            );
        }
    }

    println!("\n## summary ({runs} runs, medians; range = slowest – fastest run)\n");
    print!("{}", report.table());
    println!(
        "\ndata: {} ({} rows, {} events, {} CIDR blocks)",
        ds.dir.display(),
        args.rows,
        n_events,
        args.cidrs
    );
    Ok(())
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The floor's figures and the lut/floor ratios (time ratios: above 1 means lut is slower).
fn floor(
    report: &mut Report,
    limit: &std::path::Path,
    ds: &DataSet,
    runs: usize,
    n_events: u64,
    lut: Option<&external::ProcessTimes>,
) -> Result<()> {
    println!("binary: {}", limit.display());
    let scan = external::limit_enrich(limit, ds, false, runs)?;
    report.rate(
        "floor_scan",
        n_events as f64,
        1e-6,
        &scan.wall,
        "M events/s",
    );
    let dom = external::limit_enrich(limit, ds, true, runs)?;
    report.rate("floor_dom", n_events as f64, 1e-6, &dom.wall, "M events/s");
    let (load_rows_per_s, _) = external::limit_load(limit, ds, runs)?;
    report.value("floor_load_rows", load_rows_per_s * 1e-6, "M rows/s");

    if let Some(lut) = lut {
        let ratio = |a: f64, b: f64| a / b;
        report.value(
            "ratio_e2e_vs_floor_scan",
            ratio(lut.wall.median(), scan.wall.median()),
            "× (lut time / floor time)",
        );
        report.value(
            "ratio_e2e_vs_floor_dom",
            ratio(lut.wall.median(), dom.wall.median()),
            "× (lut time / floor time)",
        );
        if let (Some(l), Some(s), Some(d)) = (&lut.enrich, &scan.enrich, &dom.enrich) {
            report.value(
                "ratio_enrich_phase_vs_floor_scan",
                ratio(l.median(), s.median()),
                "× (lut time / floor time)",
            );
            report.value(
                "ratio_enrich_phase_vs_floor_dom",
                ratio(l.median(), d.median()),
                "× (lut time / floor time)",
            );
        }
        if let (Some(l), Some(s)) = (&lut.load, &scan.load) {
            report.value(
                "ratio_load_vs_floor",
                ratio(l.median(), s.median()),
                "× (lut load / floor load, in the enrich processes)",
            );
        }
    }
    if let Some(m) = report.metrics.iter().find(|m| m.name == "table_build_rows") {
        let lut_rows = m.value;
        report.value(
            "ratio_table_build_vs_floor_load",
            load_rows_per_s * 1e-6 / lut_rows,
            "× (floor rows/s / lut rows/s)",
        );
    }
    println!(
        "floor last run: scan: {} dom: {}",
        scan.last_stderr.trim(),
        dom.last_stderr.trim()
    );
    Ok(())
}
