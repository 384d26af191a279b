//! Whole-process measurements (targets 1, 2 and the floor of 4): the release `lut enrich`
//! binary end to end, and the hand-written speed floor (`shared/bench/limit`) on the same
//! data; plus byte-for-byte comparison of output files.

use std::fs::File;
use std::io::{BufReader, Read};
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

/// `lut enrich --spec-dir spec --input events.jsonl --output OUT --threads N`; `out` is
/// left in place (the caller compares and removes it).
pub fn lut_enrich(
    lut: &Path,
    ds: &DataSet,
    runs: usize,
    threads: usize,
    out: &Path,
) -> Result<ProcessTimes> {
    collect(
        runs,
        || {
            let mut c = Command::new(lut);
            c.arg("enrich")
                .arg("--spec-dir")
                .arg(&ds.spec_dir)
                .arg("--input")
                .arg(&ds.events)
                .arg("--output")
                .arg(out)
                .arg("--threads")
                .arg(threads.to_string());
            c
        },
        |s| number_after(s, "tables loaded in "),
        |s| number_after(s, "enriched in "),
    )
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

/// `limit load CSV`: its own rows/s figure (median) and the process wall times.
pub fn limit_load(limit: &Path, csv: &Path, runs: usize) -> Result<(f64, ProcessTimes)> {
    let t = collect(
        runs,
        || {
            let mut c = Command::new(limit);
            c.arg("load").arg(csv);
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

/// The floor binary: `explicit`, else `/tmp/limit-target/release/limit`, built with cargo
/// from `<gen.py's directory>/limit` when it is missing. `None` (after saying why) when it
/// cannot be had.
pub fn find_or_build_limit(explicit: Option<&Path>, gen: &Path) -> Option<PathBuf> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Some(p.to_path_buf());
        }
        println!("floor: {} not found", p.display());
        return None;
    }
    let target = Path::new("/tmp/limit-target");
    let bin = target.join("release/limit");
    if bin.is_file() {
        return Some(bin);
    }
    let manifest = gen.with_file_name("limit").join("Cargo.toml");
    if !manifest.is_file() {
        println!("floor: {} not found", manifest.display());
        return None;
    }
    println!(
        "floor: building it (cargo build --release --manifest-path {} --target-dir {})",
        manifest.display(),
        target.display()
    );
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target)
        .status();
    match status {
        Ok(s) if s.success() && bin.is_file() => Some(bin),
        Ok(s) => {
            println!("floor: cargo build failed ({s})");
            None
        }
        Err(e) => {
            println!("floor: cannot run cargo: {e}");
            None
        }
    }
}

/// Where two files first differ: `None` when they are byte-for-byte equal, else the
/// offset of the first difference (or the length of the shorter file).
pub fn first_difference(a: &Path, b: &Path) -> Result<Option<u64>> {
    let open = |p: &Path| -> Result<BufReader<File>> {
        Ok(BufReader::with_capacity(
            1 << 20,
            File::open(p).with_context(|| format!("opening {}", p.display()))?,
        ))
    };
    first_difference_of(open(a)?, open(b)?)
}

fn first_difference_of(mut a: impl Read, mut b: impl Read) -> Result<Option<u64>> {
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut offset = 0u64;
    loop {
        let na = read_full(&mut a, &mut ba)?;
        let nb = read_full(&mut b, &mut bb)?;
        let n = na.min(nb);
        if let Some(i) = ba[..n].iter().zip(&bb[..n]).position(|(x, y)| x != y) {
            return Ok(Some(offset + i as u64));
        }
        if na != nb {
            return Ok(Some(offset + n as u64));
        }
        if na == 0 {
            return Ok(None);
        }
        offset += n as u64;
    }
}

/// Fills `buf` unless the reader ends first; returns the bytes read.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::{first_difference_of, number_after};

    #[test]
    fn finds_first_difference() {
        let same = first_difference_of(&b"abc\ndef\n"[..], &b"abc\ndef\n"[..]).unwrap();
        assert_eq!(same, None);
        let diff = first_difference_of(&b"abc\ndXf\n"[..], &b"abc\ndef\n"[..]).unwrap();
        assert_eq!(diff, Some(5));
        let short = first_difference_of(&b"abc"[..], &b"abcd"[..]).unwrap();
        assert_eq!(short, Some(3));
        let big = vec![7u8; (1 << 20) + 10];
        let mut other = big.clone();
        other[(1 << 20) + 3] = 8;
        assert_eq!(
            first_difference_of(&big[..], &other[..]).unwrap(),
            Some((1 << 20) + 3)
        );
    }

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
