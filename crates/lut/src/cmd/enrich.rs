//! `lut enrich`: NDJSON in, NDJSON out, enriched with the tables of a spec directory.
//!
//! Input is read in large blocks and split into lines in place; every input line produces
//! exactly one output line (lines that are not JSON objects pass through unchanged and
//! are counted, or stop the run under `--strict`). Nothing is written when the specs,
//! schemas or data are invalid.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use lut_core::diag::Diagnostic;
use lut_core::enrich::{Snapshot, Stats};
use lut_core::project::{self, LoadOptions};
use lut_core::registry::Registry;
use lut_core::spec::Source;
use lut_store::Catalog;

use super::stream::{self, StreamError};
use super::{fails, print_diagnostics, state};

#[derive(clap::Args)]
pub struct Args {
    /// Directory of lookup-table specs, schemas and data files (default: the live tables
    /// of the data directory).
    #[arg(long)]
    spec_dir: Option<PathBuf>,
    /// Log type for events that carry no `p_log_type`.
    #[arg(long)]
    log_type: Option<String>,
    /// Input file (default: standard input).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Output file (default: standard output).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Stop with exit code 1 at the first line that is not a JSON object.
    #[arg(long)]
    strict: bool,
    /// Worker threads (default: the available cores). Output order is the input order.
    #[arg(long)]
    threads: Option<usize>,
    /// Do not print the summary to stderr.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(data_dir: &Path, args: Args) -> Result<ExitCode> {
    let started = Instant::now();
    let snapshot = match &args.spec_dir {
        Some(dir) => match from_spec_dir(dir, args.quiet) {
            Some(s) => s,
            None => return Ok(ExitCode::from(1)),
        },
        None => from_data_dir(data_dir, args.quiet)?,
    };
    let load_secs = started.elapsed().as_secs_f64();
    if snapshot.tables().is_empty() && !args.quiet {
        eprintln!("lut: warning: no enabled table with data; events pass through unchanged");
    }

    let input: Box<dyn Read + Send> = match &args.input {
        Some(path) => Box::new(
            File::open(path).with_context(|| format!("cannot open input {}", path.display()))?,
        ),
        None => Box::new(io::stdin()),
    };
    let mut output: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path)
                .with_context(|| format!("cannot create output {}", path.display()))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let enrich_started = Instant::now();
    let result = stream::run(
        &snapshot,
        input,
        &mut output,
        args.log_type.as_deref(),
        args.strict,
        threads,
    );
    let secs = enrich_started.elapsed().as_secs_f64();
    let (bytes_in, stats, failure) = match result {
        Ok((n, stats)) => (n, stats, None),
        Err((StreamError::Strict { line, reason }, stats)) => (
            0,
            stats,
            Some(format!("line {line} is not a JSON object: {reason}")),
        ),
        Err((StreamError::Io(e), _)) => return Err(e),
    };
    if !args.quiet {
        print_summary(&snapshot, &stats, bytes_in, load_secs, secs, threads);
    }
    if let Some(f) = failure {
        eprintln!("lut: error: {f} (--strict)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The tables of a spec directory; `None` (after printing why) when anything in it is
/// invalid, so nothing is enriched with a partial set.
fn from_spec_dir(dir: &Path, quiet: bool) -> Option<Snapshot> {
    let mut p = project::load(
        std::slice::from_ref(&dir.to_path_buf()),
        &LoadOptions {
            load_data: true,
            ..LoadOptions::default()
        },
    );
    if p.spec_count() == 0 {
        p.diagnostics.push(Diagnostic::error(
            "no-specs",
            format!("no lookup-table spec found in {}", dir.display()),
        ));
    }
    if fails(&p.diagnostics, false) {
        print_diagnostics(&p.diagnostics);
        eprintln!("lut: refusing to enrich: the spec directory has errors (nothing was written)");
        return None;
    }
    for t in &p.tables {
        if t.spec.enabled && !matches!(t.spec.source, Source::File { .. }) {
            p.diagnostics.push(Diagnostic::warning(
                "synced-table-skipped",
                format!(
                    "table {:?} syncs from a source; `lut enrich --spec-dir` only loads Filename data, so it is skipped (use `lut apply` and `lut sync`, then `lut enrich` without --spec-dir)",
                    t.spec.name
                ),
            ));
        }
    }
    if !quiet {
        print_diagnostics(&p.diagnostics);
    }
    Some(Snapshot::new(p.into_live_tables()))
}

/// The live versions of the data directory's enabled tables, loaded without any network
/// call; tables without a live version yet are reported and skipped.
fn from_data_dir(data_dir: &Path, quiet: bool) -> Result<Snapshot> {
    let dd = state::open(data_dir)?;
    let registry = Arc::new(Registry::default());
    let rt = state::runtime()?;
    let problems = rt.block_on(async {
        // Loading live versions never needs the network.
        let engine = state::engine_with(&dd, registry.clone(), false).await?;
        anyhow::Ok(engine.load_live().await?)
    })?;
    if !quiet {
        for p in problems {
            eprintln!("lut: warning: table {:?} skipped: {}", p.table, p.message);
        }
        for t in dd.catalog().tables()? {
            if t.enabled && dd.catalog().live_version(&t.name)?.is_none() {
                eprintln!(
                    "lut: warning: table {:?} has no data yet (run `lut sync`); skipped",
                    t.name
                );
            }
        }
    }
    let snap = registry.load();
    Ok(Snapshot::new(snap.tables().to_vec()))
}

fn print_summary(
    snap: &Snapshot,
    s: &Stats,
    bytes: u64,
    load_secs: f64,
    secs: f64,
    threads: usize,
) {
    let rate = if secs > 0.0 {
        s.lines as f64 / secs
    } else {
        0.0
    };
    eprintln!(
        "lut enrich: {} lines in, {} lines out; {} events, {} enriched, {} without log type, {} passed through (not a JSON object), {} blank",
        s.lines, s.lines, s.events, s.enriched, s.no_log_type, s.not_object, s.blank
    );
    eprintln!(
        "lut enrich: tables loaded in {:.3}s; enriched in {:.3}s on {} thread(s) ({:.0} events/s, {:.1} MB/s)",
        load_secs,
        secs,
        threads,
        rate,
        if secs > 0.0 {
            bytes as f64 / secs / 1e6
        } else {
            0.0
        }
    );
    // Sum counters of the same (table, selector) across log types.
    let mut rows: Vec<(String, String, u64)> = Vec::new();
    for (name, n) in snap.counter_names().iter().zip(&s.matches) {
        match rows
            .iter_mut()
            .find(|r| r.0 == name.table && r.1 == name.selector)
        {
            Some(r) => r.2 += n,
            None => rows.push((name.table.clone(), name.selector.clone(), *n)),
        }
    }
    for (table, selector, n) in rows {
        eprintln!("lut enrich: matches {table}.{selector}: {n}");
    }
}
