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
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use lut_core::diag::Diagnostic;
use lut_core::enrich::{Enricher, Outcome, Snapshot};
use lut_core::project::{self, LoadOptions};
use lut_core::registry::Registry;
use lut_core::spec::Source;
use lut_store::Catalog;

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
    /// Do not print the summary to stderr.
    #[arg(long, short)]
    quiet: bool,
}

const READ_BLOCK: usize = 1 << 20;
const FLUSH_AT: usize = 1 << 20;

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

    let input: Box<dyn Read> = match &args.input {
        Some(path) => Box::new(
            File::open(path).with_context(|| format!("cannot open input {}", path.display()))?,
        ),
        None => Box::new(io::stdin().lock()),
    };
    let output: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path)
                .with_context(|| format!("cannot create output {}", path.display()))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let enrich_started = Instant::now();
    let mut enricher = Enricher::new();
    let result = stream(
        &snapshot,
        &mut enricher,
        input,
        output,
        args.log_type.as_deref(),
        args.strict,
    );
    let secs = enrich_started.elapsed().as_secs_f64();
    let (bytes_in, failure) = match result {
        Ok(n) => (n, None),
        Err(StreamError::Strict { line, reason }) => (
            0,
            Some(format!("line {line} is not a JSON object: {reason}")),
        ),
        Err(StreamError::Io(e)) => return Err(e),
    };
    if !args.quiet {
        print_summary(&snapshot, &enricher, bytes_in, load_secs, secs);
    }
    if let Some(f) = failure {
        eprintln!("lut: error: {f} (--strict)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

enum StreamError {
    Strict { line: u64, reason: String },
    Io(anyhow::Error),
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

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// Enriches every line of `input` into `output`; returns the bytes read.
fn stream(
    snap: &Snapshot,
    enricher: &mut Enricher,
    mut input: Box<dyn Read>,
    mut output: Box<dyn Write>,
    default_log_type: Option<&str>,
    strict: bool,
) -> Result<u64, StreamError> {
    let io_err =
        |e: io::Error, what: &str| StreamError::Io(anyhow::Error::new(e).context(what.to_string()));
    let mut buf = vec![0u8; READ_BLOCK];
    let mut out = Vec::with_capacity(FLUSH_AT + READ_BLOCK);
    let (mut filled, mut total) = (0usize, 0u64);
    let mut now = now_nanos();
    let mut since_clock = 0u32;
    let mut eof = false;
    while !eof {
        if filled == buf.len() {
            // A line longer than the buffer: grow rather than split it.
            buf.resize(buf.len() * 2, 0);
        }
        let n = input
            .read(&mut buf[filled..])
            .map_err(|e| io_err(e, "reading input"))?;
        eof = n == 0;
        filled += n;
        total += n as u64;
        let mut start = 0;
        loop {
            let (line, newline) = match memchr::memchr(b'\n', &buf[start..filled]) {
                Some(i) => (&buf[start..start + i], true),
                // The last line may lack its newline; it is written back without one.
                None if eof && start < filled => (&buf[start..filled], false),
                None => break,
            };
            start += line.len() + usize::from(newline);
            since_clock += 1;
            if since_clock == 4096 {
                now = now_nanos();
                since_clock = 0;
            }
            let before = out.len();
            let outcome = enricher.enrich_line(snap, line, default_log_type, now, &mut out);
            if strict {
                if let Outcome::NotObject(e) = outcome {
                    // Only the whole lines before the offending one are written.
                    out.truncate(before);
                    output
                        .write_all(&out)
                        .map_err(|e| io_err(e, "writing output"))?;
                    return Err(StreamError::Strict {
                        line: enricher.stats.lines,
                        reason: e.to_string(),
                    });
                }
            }
            if newline {
                out.push(b'\n');
            }
            if out.len() >= FLUSH_AT {
                output
                    .write_all(&out)
                    .map_err(|e| io_err(e, "writing output"))?;
                out.clear();
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
    output
        .write_all(&out)
        .map_err(|e| io_err(e, "writing output"))?;
    output.flush().map_err(|e| io_err(e, "writing output"))?;
    Ok(total)
}

fn print_summary(snap: &Snapshot, e: &Enricher, bytes: u64, load_secs: f64, secs: f64) {
    let s = &e.stats;
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
        "lut enrich: tables loaded in {:.3}s; enriched in {:.3}s ({:.0} events/s, {:.1} MB/s)",
        load_secs,
        secs,
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
