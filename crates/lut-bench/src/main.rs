//! lut-bench: measures lut against the six performance targets of issue 7 and prints each
//! target's measured value, what it is compared with, the ratio and PASS/MISS (see
//! README.md):
//!
//! 1. `lut enrich` on one thread, end to end, vs the speed floor (`shared/bench/limit`);
//! 2. `lut enrich --threads N`: enrichment-phase speed-up, output identical;
//! 3. `POST /api/v1/enrich` of `lut serve` over loopback, without and during table swaps;
//! 4. table build from a 1M-row CSV vs the floor's load, memory / CSV size, (`--big`) 10M;
//! 5. CIDR table of 1M prefixes: build and longest-prefix lookups (IPv4, IPv6, mixed);
//! 6. S3 conditional GET (cited test) and no enrichment stall during large-table swaps.
//!
//! ```text
//! cargo build --release -p lut -p lut-bench && ./target/release/lut-bench
//! ```

mod data;
mod external;
mod http;
mod inproc;
mod load;
mod measure;
mod serve;
mod swap;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use lut_core::enrich::Snapshot;

use data::{DataSet, Params, Parsed};
use external::ProcessTimes;
use inproc::Family;
use measure::{fmt_num, Report, Threshold};

/// Measures lut against the issue-7 performance targets (see crates/lut-bench/README.md).
#[derive(Parser)]
#[command(name = "lut-bench")]
struct Args {
    /// Data directory (default: /dev/shm/lut-bench, or the temp dir without /dev/shm).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The data generator (default: <repo>/../shared/bench/gen.py).
    #[arg(long)]
    gen: Option<PathBuf>,
    /// Rows of the enrichment table (accounts.csv of the main data set).
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// Events in events.jsonl (targets 1-3).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// CIDR prefixes in cidrs.csv (target 5).
    #[arg(long, default_value_t = 1_000_000)]
    cidrs: u64,
    /// Rows of the build data set's table (targets 4 and 6).
    #[arg(long, default_value_t = 1_000_000)]
    build_rows: u64,
    /// Events of the build data set, enriched during the swaps of target 6.
    #[arg(long, default_value_t = 100_000)]
    swap_events: u64,
    /// Regenerate the data even if the stamps match.
    #[arg(long)]
    regen: bool,
    /// Measured runs per figure (medians are reported; one extra warm-up run precedes them).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// IP addresses per CIDR lookup figure (target 5).
    #[arg(long, default_value_t = 4_000_000)]
    lookups: usize,
    /// Threads for target 2 (default: the available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Pause between two table swaps in target 3, in milliseconds (0: back to back).
    #[arg(long, default_value_t = 0)]
    swap_pause_ms: u64,
    /// Table swaps (1M-row builds) during target 6.
    #[arg(long, default_value_t = 5)]
    swaps: usize,
    /// Lines per enrichment batch in target 6.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Also build and query the 10M-row table of target 4 (~1 GB CSV, several GB memory).
    #[arg(long)]
    big: bool,
    /// Rows of the `--big` table.
    #[arg(long, default_value_t = 10_000_000)]
    big_rows: u64,
    /// Targets to run, e.g. `--targets 1,3` (default: all six).
    #[arg(long, value_delimiter = ',', default_values_t = [1u8, 2, 3, 4, 5, 6])]
    targets: Vec<u8>,
    /// The `lut` binary (default: `lut` next to this binary).
    #[arg(long)]
    lut: Option<PathBuf>,
    /// The speed floor binary (default: /tmp/limit-target/release/limit, built from
    /// <gen.py's directory>/limit when missing).
    #[arg(long)]
    limit: Option<PathBuf>,
    /// Do not run (or build) the speed floor; targets 1 and 4's ratios are then skipped.
    #[arg(long)]
    no_floor: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let runs = args.runs.max(1);
    let want = |t: u8| args.targets.contains(&t);
    println!("# lut-bench");
    for (k, v) in measure::machine_facts() {
        println!("{k}: {v}");
    }
    if cfg!(debug_assertions) {
        println!("warning: this is a debug build; run with --release for meaningful figures");
    }
    println!(
        "runs: {runs} measured (medians) after 1 warm-up; targets {:?}",
        args.targets
    );

    let dir = args.data.clone().unwrap_or_else(data::default_dir);
    let ds = DataSet::new(&dir);
    let build_ds = DataSet::new(&dir.join("build"));
    let gen = args.gen.clone().unwrap_or_else(data::default_gen);
    // The main set (targets 1, 2, 3, 5) and the build set (4, 6), each with its spec
    // directories; the build set's `accounts` spec is the same table definition.
    let main_specs = if [1, 2, 3, 5].iter().any(|&t| want(t)) {
        let p = Params {
            rows: args.rows,
            events: args.events,
            cidrs: args.cidrs,
        };
        data::ensure_generated(&ds, &gen, p, args.regen)?;
        data::write_specs(&ds)?;
        Some((
            data::parse_spec(&ds.spec_dir)?,
            data::parse_spec(&ds.cidr_spec_dir)?,
        ))
    } else {
        None
    };
    let build_accounts = if want(4) || want(6) {
        let p = Params {
            rows: args.build_rows,
            events: args.swap_events,
            cidrs: 0,
        };
        data::ensure_generated(&build_ds, &gen, p, args.regen)?;
        data::write_specs(&build_ds)?;
        Some(data::parse_spec(&build_ds.spec_dir)?)
    } else {
        None
    };
    let limit = if args.no_floor || !(want(1) || want(4)) {
        None
    } else {
        external::find_or_build_limit(args.limit.as_deref(), &gen)
    };
    let mut report = Report::default();

    if let (true, Some((accounts, _))) = (want(1) || want(2) || want(3), &main_specs) {
        enrich_targets(&mut report, &args, &ds, accounts, limit.as_deref(), runs)?;
    }
    if let (true, Some(accounts)) = (want(4), &build_accounts) {
        println!(
            "\n## target 4: table build from CSV ({} rows) and memory",
            args.build_rows
        );
        load::run(
            &mut report,
            &load::Inputs {
                parsed: accounts,
                csv_path: &build_ds.accounts_csv,
                runs,
                limit: limit.as_deref(),
                big_rows: args.big.then_some(args.big_rows),
                big_dir: dir.join("big"),
            },
        )?;
    }
    if let (true, Some((_, networks))) = (want(5), &main_specs) {
        cidr_target(&mut report, &args, &ds, networks, runs)?;
    }
    if let (true, Some(accounts)) = (want(6), &build_accounts) {
        println!("\n## target 6: unchanged S3 object; no stall during large-table swaps");
        report.info(
            "6",
            "unchanged S3 object = one conditional GetObject, no parsing",
            "covered by tests, not re-measured: lut-source/tests/s3.rs \
             unchanged_object_costs_one_get_object_and_no_download (one GetObject, 304, nothing \
             downloaded); lut/tests/s3_sync.rs sync_from_s3_end_to_end (`lut sync`: unchanged)"
                .into(),
        );
        let csv = read(&build_ds.accounts_csv)?;
        let events = read(&build_ds.events)?;
        swap::run(
            &mut report,
            &swap::Inputs {
                parsed: accounts,
                csv: &csv,
                events: &events,
                batch: args.batch,
                swaps: args.swaps,
            },
        )?;
    }

    println!("\n## figures ({runs} runs, medians; range = slowest – fastest run)\n");
    print!("{}", report.table());
    println!("\n## targets\n");
    print!("{}", report.targets_table());
    println!(
        "\ndata: {} ({} rows, {} events, {} CIDR prefixes; build set {} rows, {} events); {:.0} s in all",
        ds.dir.display(),
        args.rows,
        args.events,
        args.cidrs,
        args.build_rows,
        args.swap_events,
        started.elapsed().as_secs_f64()
    );
    if report.any_failed() {
        bail!("a correctness check failed (FAIL above)");
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn rate(n: u64, s: &measure::Sample) -> f64 {
    n as f64 / s.median()
}

fn m_per_s(v: f64, unit: &str) -> String {
    format!("{} M {unit}/s", fmt_num(v * 1e-6))
}

/// Targets 1, 2 and 3, which share `lut enrich --threads 1` (its figures and its output as
/// the reference).
fn enrich_targets(
    report: &mut Report,
    args: &Args,
    ds: &DataSet,
    accounts: &Parsed,
    limit: Option<&Path>,
    runs: usize,
) -> Result<()> {
    let want = |t: u8| args.targets.contains(&t);
    let Some(lut) = external::find_lut(args.lut.as_deref()) else {
        let why =
            "no release `lut` binary next to lut-bench (cargo build --release -p lut -p lut-bench)";
        for t in [1u8, 2, 3].into_iter().filter(|&t| want(t)) {
            report.skip(&t.to_string(), "`lut enrich` / `lut serve` targets", why);
        }
        return Ok(());
    };
    let n = count_lines(&ds.events)?;
    println!(
        "\n## target 1: `lut enrich` on one thread, end to end, vs the speed floor \
         (also the reference of targets 2 and 3)"
    );
    println!("binary: {}", lut.display());
    let out1 = ds.dir.join("lut-out-1.jsonl");
    let t1 = external::lut_enrich(&lut, ds, runs, 1, &out1)?;
    report.rate("e2e_lut", n as f64, 1e-6, &t1.wall, "M events/s");
    report.secs("e2e_lut_wall", &t1.wall);
    let (Some(load1), Some(enrich1)) = (&t1.load, &t1.enrich) else {
        bail!(
            "cannot read lut's load and enrich times from: {}",
            t1.last_stderr
        );
    };
    report.secs("e2e_lut_table_load", load1);
    report.rate(
        "e2e_lut_enrich_phase",
        n as f64,
        1e-6,
        enrich1,
        "M events/s",
    );

    let result = (|| -> Result<()> {
        if want(1) {
            target1(report, ds, accounts, limit, runs, n, &t1)?;
        }
        if want(2) {
            target2(report, args, ds, &lut, runs, n, &t1, &out1)?;
        }
        if want(3) {
            println!("\n## target 3: POST /api/v1/enrich over loopback HTTP (lut serve)");
            serve::run(
                report,
                &serve::Inputs {
                    lut: &lut,
                    ds,
                    reference: &out1,
                    events: n,
                    lut_events_per_sec: rate(n, enrich1),
                    runs,
                    swap_pause: Duration::from_millis(args.swap_pause_ms),
                },
            )?;
        }
        Ok(())
    })();
    let _ = fs::remove_file(&out1);
    result
}

fn target1(
    report: &mut Report,
    ds: &DataSet,
    accounts: &Parsed,
    limit: Option<&Path>,
    runs: usize,
    n: u64,
    t1: &ProcessTimes,
) -> Result<()> {
    // Supporting figure: the enrichment alone, in process, no I/O.
    let csv = read(&ds.accounts_csv)?;
    let built = lut_core::table::build(&accounts.spec, &accounts.schema, &csv[..])
        .map_err(|r| anyhow::anyhow!("{r}"))?;
    drop(csv);
    let events = read(&ds.events)?;
    let snap = Snapshot::new(vec![inproc::live(accounts, built.table)]);
    inproc::check_output(&snap, &events, &["accounts"])?;
    inproc::enrich(report, "enrich_1core_inproc", &snap, &events, runs)?;
    drop((snap, events));

    let what = "`lut enrich` 1 thread end to end / floor `--extract dom`";
    let stretch = "stretch: `lut enrich` 1 thread end to end / floor default (`scan`)";
    let Some(limit) = limit else {
        report.skip(
            "1",
            what,
            "no floor binary (--no-floor, or it could not be built)",
        );
        report.skip("1", stretch, "no floor binary");
        return Ok(());
    };
    println!("floor: {}", limit.display());
    let scan = external::limit_enrich(limit, ds, false, runs)?;
    report.rate("floor_scan", n as f64, 1e-6, &scan.wall, "M events/s");
    let dom = external::limit_enrich(limit, ds, true, runs)?;
    report.rate("floor_dom", n as f64, 1e-6, &dom.wall, "M events/s");
    println!(
        "floor last run: scan: {} dom: {}",
        scan.last_stderr.trim(),
        dom.last_stderr.trim()
    );
    if let (Some(l), Some(d)) = (&t1.enrich, &dom.enrich) {
        report.value(
            "ratio_enrich_phase_vs_floor_dom",
            d.median() / l.median(),
            "× (lut enrich-phase events/s / floor's; load excluded on both sides)",
        );
    }
    let lut_rate = rate(n, &t1.wall);
    report.target(
        "1",
        what,
        m_per_s(lut_rate, "events"),
        m_per_s(rate(n, &dom.wall), "events"),
        dom.wall.median() / t1.wall.median(),
        Threshold::AtLeast(0.9),
    );
    report.target(
        "1",
        stretch,
        m_per_s(lut_rate, "events"),
        m_per_s(rate(n, &scan.wall), "events"),
        scan.wall.median() / t1.wall.median(),
        Threshold::AtLeast(0.6),
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn target2(
    report: &mut Report,
    args: &Args,
    ds: &DataSet,
    lut: &Path,
    runs: usize,
    n: u64,
    t1: &ProcessTimes,
    out1: &Path,
) -> Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |c| c.get()));
    println!("\n## target 2: `lut enrich --threads {threads}` vs one thread");
    let what = format!("enrich phase, {threads} threads / 1 thread (`lut enrich`)");
    if threads < 2 {
        report.skip("2", &what, "one core only (or --threads 1)");
        return Ok(());
    }
    let out_n = ds.dir.join(format!("lut-out-{threads}.jsonl"));
    let tn = external::lut_enrich(lut, ds, runs, threads, &out_n);
    let diff = tn
        .as_ref()
        .ok()
        .map(|_| external::first_difference(out1, &out_n));
    let _ = fs::remove_file(&out_n);
    let tn = tn?;
    let diff = diff.transpose()?.flatten();
    let name = format!("e2e_lut_{threads}_threads");
    report.rate(&name, n as f64, 1e-6, &tn.wall, "M events/s");
    let (Some(en), Some(e1)) = (&tn.enrich, &t1.enrich) else {
        bail!("cannot read lut's enrich time from: {}", tn.last_stderr);
    };
    report.rate(
        &format!("{name}_enrich_phase"),
        n as f64,
        1e-6,
        en,
        "M events/s",
    );
    report.check(
        "2",
        &format!("output of {threads} threads = output of 1 thread"),
        diff.is_none(),
        diff.map_or("byte for byte".into(), |o| format!("differs at byte {o}")),
        "identical",
    );
    report.target(
        "2",
        &what,
        m_per_s(rate(n, en), "events"),
        m_per_s(rate(n, e1), "events"),
        e1.median() / en.median(),
        Threshold::AtLeast(1.6),
    );
    Ok(())
}

fn count_lines(path: &Path) -> Result<u64> {
    let bytes = read(path)?;
    let mut n = memchr::memchr_iter(b'\n', &bytes).count() as u64;
    if bytes.last().is_some_and(|&b| b != b'\n') {
        n += 1;
    }
    Ok(n)
}

/// Target 5: the CIDR table's build and longest-prefix lookups on one core.
fn cidr_target(
    report: &mut Report,
    args: &Args,
    ds: &DataSet,
    networks: &Parsed,
    runs: usize,
) -> Result<()> {
    println!(
        "\n## target 5: CIDR table of {} prefixes (IPv4 + IPv6, nested)",
        args.cidrs
    );
    let csv = read(&ds.cidrs_csv)?;
    let (table, build_rate) =
        inproc::build_table(report, "cidr_build", "prefixes", networks, &csv, runs)?;
    let prefixes = table.len();
    let mut rates = Vec::new();
    for family in [Family::V4, Family::V6, Family::Mixed] {
        let ips = inproc::lookup_ips(&csv, args.lookups, family)?;
        let name = format!("cidr_lookup_{}", family.name());
        rates.push((
            family,
            inproc::cidr_lookups(report, &name, &table, &ips, runs)?,
        ));
    }
    drop(csv);
    report.target(
        "5",
        &format!("CIDR table build, {prefixes} prefixes"),
        m_per_s(build_rate, "prefixes"),
        "1 M prefixes/s".into(),
        build_rate / 1e6,
        Threshold::AtLeast(1.0),
    );
    for (family, r) in rates {
        report.target(
            "5",
            &format!(
                "longest-prefix lookups, one core, {} addresses",
                family.name()
            ),
            m_per_s(r, "lookups"),
            "5 M lookups/s".into(),
            r / 5e6,
            Threshold::AtLeast(1.0),
        );
    }
    Ok(())
}
