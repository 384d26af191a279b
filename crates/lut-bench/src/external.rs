//! Whole-process measurements: the release `lut enrich` binary end to end, and the
//! hand-written speed floor (`shared/bench/limit`) on the same data.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::data::DataSet;
use crate::measure::{repeat, Sample};

/// Runs `cmd`, returning its wall time and stderr; fails when it fails.
fn run_timed(cmd: &mut Command) -> Result<(f64, String)> {
    let t0 = Instant::now();
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    let secs = t0.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!("{cmd:?} failed ({}):\n{stderr}", out.status);
    }
    Ok((secs, stderr))
}

/// The number after `prefix` in `text` (up to the first character that cannot be part of
/// a number).
fn number_after(text: &str, prefix: &str) -> Option<f64> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The release `lut` binary next to this one, if it was built.
pub fn find_lut(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let exe = std::env::current_exe().ok()?;
    let lut = exe
        .parent()?
        .join(format!("lut{}", std::env::consts::EXE_SUFFIX));
    lut.is_file().then_some(lut)
}

/// Times of one whole-process configuration: wall clock, and the program's own split
/// into table load and enrichment where it reports one.
pub struct ProcessTimes {
    pub wall: Sample,
    pub load: Option<Sample>,
    pub enrich: Option<Sample>,
    pub last_stderr: String,
}

fn collect(
    runs: usize,
    mut cmd: impl FnMut() -> Command,
    load_of: impl Fn(&str) -> Option<f64>,
    enrich_of: impl Fn(&str) -> Option<f64>,
) -> Result<ProcessTimes> {
    let mut loads = Vec::new();
    let mut enriches = Vec::new();
    let mut first = true;
    let (wall, last_stderr) = repeat(runs, || {
        let (secs, stderr) = run_timed(&mut cmd())?;
        if !first {
            loads.extend(load_of(&stderr));
            enriches.extend(enrich_of(&stderr));
        }
        first = false;
        Ok((secs, stderr))
    })?;
    let sample = |v: Vec<f64>| (v.len() == runs.max(1)).then(|| Sample::from_secs(v));
    Ok(ProcessTimes {
        wall,
        load: sample(loads),
        enrich: sample(enriches),
        last_stderr,
    })
}

/// `lut enrich --spec-dir spec --input events.jsonl --output <data dir>/lut-out.jsonl
/// --threads N`.
pub fn lut_enrich(lut: &Path, ds: &DataSet, runs: usize, threads: usize) -> Result<ProcessTimes> {
    let out = ds.dir.join("lut-out.jsonl");
    let t = collect(
        runs,
        || {
            let mut c = Command::new(lut);
            c.arg("enrich")
                .arg("--spec-dir")
                .arg(&ds.spec_dir)
                .arg("--input")
                .arg(&ds.events)
                .arg("--output")
                .arg(&out)
                .arg("--threads")
                .arg(threads.to_string());
            c
        },
        |s| number_after(s, "tables loaded in "),
        |s| number_after(s, "enriched in "),
    );
    let _ = std::fs::remove_file(&out);
    t
}

/// `limit enrich accounts.csv events.jsonl <data dir>/limit-out.jsonl [--extract dom]`.
pub fn limit_enrich(limit: &Path, ds: &DataSet, dom: bool, runs: usize) -> Result<ProcessTimes> {
    let out = ds.dir.join("limit-out.jsonl");
    let t = collect(
        runs,
        || {
            let mut c = Command::new(limit);
            c.arg("enrich")
                .arg(&ds.accounts_csv)
                .arg(&ds.events)
                .arg(&out);
            if dom {
                c.args(["--extract", "dom"]);
            }
            c
        },
        |s| number_after(s, "load_secs="),
        |s| Some(number_after(s, "total_secs=")? - number_after(s, "load_secs=")?),
    );
    let _ = std::fs::remove_file(&out);
    t
}

/// `limit load accounts.csv`: its own rows/s figure (median) and the process wall times.
pub fn limit_load(limit: &Path, ds: &DataSet, runs: usize) -> Result<(f64, ProcessTimes)> {
    let t = collect(
        runs,
        || {
            let mut c = Command::new(limit);
            c.arg("load").arg(&ds.accounts_csv);
            c
        },
        |s| number_after(s, "secs="),
        |_| None,
    )?;
    let Some(load) = &t.load else {
        bail!(
            "cannot read the load time from `limit load`: {}",
            t.last_stderr
        );
    };
    let rows = number_after(&t.last_stderr, "rows=")
        .with_context(|| format!("cannot read rows from `limit load`: {}", t.last_stderr))?;
    Ok((rows / load.median(), t))
}

#[cfg(test)]
mod tests {
    use super::number_after;

    #[test]
    fn parses_numbers() {
        let lut = "lut enrich: tables loaded in 0.123s; enriched in 1.500s (1 events/s)";
        assert_eq!(number_after(lut, "tables loaded in "), Some(0.123));
        assert_eq!(number_after(lut, "enriched in "), Some(1.5));
        let limit = "events=10 matched=7 table_rows=5 load_secs=0.0400 total_secs=0.5000";
        assert_eq!(number_after(limit, "load_secs="), Some(0.04));
        assert_eq!(number_after(limit, "total_secs="), Some(0.5));
        assert_eq!(number_after("load rows=100 secs=0.5", "rows="), Some(100.0));
        assert_eq!(number_after("load rows=100 secs=0.5", "secs="), Some(0.5));
        assert_eq!(number_after("nothing", "secs="), None);
    }
}
