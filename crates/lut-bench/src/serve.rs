//! Target 3: `POST /api/v1/enrich` of a real `lut serve` over loopback HTTP, one streaming
//! client, without and during table swaps.
//!
//! Set-up, all with the release `lut` binary: `lut --data-dir D apply DIR/spec` (version A
//! of table `accounts`, from the spec's `Filename`), `lut --data-dir D tokens create
//! --permission manage`, `lut --data-dir D serve --listen 127.0.0.1:0` (the bound address
//! is read from its "listening on" line), wait for `GET /readyz`, then `PUT
//! /api/v1/tables/accounts/data` with the same rows in reverse order (version B: other
//! bytes, so a separate version, but the same enrichment output).
//!
//! Each run streams `events.jsonl` as the request body and reads the response while it is
//! sent (see `http.rs`). The swap runs do the same while another thread alternates `POST
//! /api/v1/tables/accounts/rollback {"version": A|B}` for the whole duration (each one
//! rebuilds the version from its stored blob and publishes it); `POST .../unpin` ends it.
//! Warm-up runs compare the response byte for byte with `lut enrich`'s output.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::data::DataSet;
use crate::external::read_full;
use crate::http;
use crate::measure::{fmt_num, repeat, Report, Sample, Threshold};

const TABLE: &str = "accounts";

/// What target 3 needs from the earlier targets.
pub struct Inputs<'a> {
    pub lut: &'a Path,
    pub ds: &'a DataSet,
    /// `lut enrich --threads 1`'s output for the same events and table.
    pub reference: &'a Path,
    pub events: u64,
    /// `lut enrich --threads 1`'s enrichment-phase throughput (events/s).
    pub lut_events_per_sec: f64,
    pub runs: usize,
    /// Pause between two swaps (0: back to back).
    pub swap_pause: Duration,
}

/// Runs target 3 and records its figures and verdicts.
pub fn run(report: &mut Report, inp: &Inputs) -> Result<()> {
    let dd = inp.ds.dir.join("serve-data");
    let _ = fs::remove_dir_all(&dd);
    let result = run_in(report, inp, &dd);
    let _ = fs::remove_dir_all(&dd);
    result
}

fn run_in(report: &mut Report, inp: &Inputs, dd: &Path) -> Result<()> {
    let out = lut_cmd(inp.lut, dd, &["apply"], &[&inp.ds.spec_dir])?;
    println!("lut apply: {}", out.lines().last().unwrap_or("").trim());
    let token = lut_cmd(
        inp.lut,
        dd,
        &["tokens", "create", "--permission", "manage"],
        &[],
    )?
    .trim()
    .to_string();
    ensure!(
        token.starts_with("lut_"),
        "unexpected token output {token:?}"
    );

    let mut server = Server::start(inp.lut, dd)?;
    let addr = server.addr;
    println!("lut serve: listening on {addr}");
    server.wait_ready(&token)?;

    let versions = http::request(
        addr,
        "GET",
        &format!("/api/v1/tables/{TABLE}/versions"),
        Some(&token),
        b"",
    )?;
    ensure!(versions.status == 200, "versions: {}", versions.text());
    let v = versions.json()?;
    let a = v["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|x| x["live"] == true))
        .and_then(|x| x["id"].as_i64())
        .with_context(|| format!("no live version in {v}"))?;
    let reversed = reversed_csv(&inp.ds.accounts_csv)?;
    let put = http::request(
        addr,
        "PUT",
        &format!("/api/v1/tables/{TABLE}/data"),
        Some(&token),
        &reversed,
    )?;
    ensure!(
        put.status == 200,
        "upload: HTTP {}: {}",
        put.status,
        put.text()
    );
    let b = put.json()?["version"]["id"]
        .as_i64()
        .with_context(|| format!("no version id in {}", put.text()))?;
    drop(reversed);
    println!("versions: A = {a} (lut apply), B = {b} (upload, rows reversed)");

    let events = &inp.ds.events;
    // Without swaps.
    let mut first = true;
    let mut plain_problems = Vec::new();
    let (plain, ()) = repeat(inp.runs, || {
        let verify = std::mem::take(&mut first).then_some(inp.reference);
        let s = stream_once(addr, &token, events, verify)?;
        plain_problems.extend(problem(&s, inp.events));
        Ok((s.secs, ()))
    })?;
    let plain_check = plain_problems.into_iter().next();

    // During swaps.
    let mut first = true;
    let mut swaps = Vec::new();
    let mut swap_secs = Vec::new();
    let mut swap_wall = 0.0;
    let mut swap_problems = Vec::new();
    let (swapping, ()) = repeat(inp.runs, || {
        let warm_up = std::mem::take(&mut first);
        let verify = warm_up.then_some(inp.reference);
        let stop = AtomicBool::new(false);
        let (s, sw) = std::thread::scope(|scope| {
            let swapper = scope.spawn(|| swap_loop(addr, &token, [a, b], &stop, inp.swap_pause));
            let s = stream_once(addr, &token, events, verify);
            stop.store(true, Ordering::Relaxed);
            let sw = swapper
                .join()
                .map_err(|_| anyhow::anyhow!("swapper panicked"));
            (s, sw)
        });
        let (s, (n, times)) = (s?, sw??);
        if !warm_up {
            swaps.push(n);
            swap_secs.extend(times);
            swap_wall += s.secs;
        }
        swap_problems.extend(problem(&s, inp.events));
        Ok((s.secs, ()))
    })?;
    let swap_check = swap_problems.into_iter().next();
    let unpin = http::request(
        addr,
        "POST",
        &format!("/api/v1/tables/{TABLE}/unpin"),
        Some(&token),
        b"",
    )?;
    ensure!(unpin.status == 200, "unpin: {}", unpin.text());
    drop(server);

    let n = inp.events as f64;
    report.rate("http_enrich", n, 1e-6, &plain, "M events/s");
    report.rate("http_enrich_during_swaps", n, 1e-6, &swapping, "M events/s");
    let total_swaps: u64 = swaps.iter().sum();
    report.value(
        "http_swaps",
        total_swaps as f64 / swap_wall.max(1e-9),
        &format!(
            "swaps/s ({total_swaps} swaps in {} measured runs, per run {swaps:?})",
            inp.runs
        ),
    );
    if !swap_secs.is_empty() {
        let s = Sample::from_secs(swap_secs);
        report.value(
            "http_swap_latency",
            s.median() * 1e3,
            &format!(
                "ms per rollback request, median (range {} – {} ms)",
                fmt_num(s.min() * 1e3),
                fmt_num(s.max() * 1e3)
            ),
        );
    }

    let http_rate = n / plain.median();
    let swap_rate = n / swapping.median();
    report.check(
        "3",
        "HTTP output = `lut enrich` output",
        plain_check.is_none() && swap_check.is_none(),
        match (&plain_check, &swap_check) {
            (None, None) => "byte for byte, without and during swaps".into(),
            (p, s) => format!(
                "without swaps: {}; during swaps: {}",
                p.as_deref().unwrap_or("same"),
                s.as_deref().unwrap_or("same")
            ),
        },
        "identical",
    );
    report.target(
        "3",
        "HTTP enrich, 1 streaming client / `lut enrich` 1 thread (enrich phase)",
        format!("{} M events/s", fmt_num(http_rate * 1e-6)),
        format!("{} M events/s", fmt_num(inp.lut_events_per_sec * 1e-6)),
        http_rate / inp.lut_events_per_sec,
        Threshold::AtLeast(0.6),
    );
    report.target(
        "3",
        "HTTP enrich slowdown during table swaps, %",
        format!(
            "{} M events/s during {total_swaps} swaps",
            fmt_num(swap_rate * 1e-6)
        ),
        format!("{} M events/s without", fmt_num(http_rate * 1e-6)),
        (1.0 - swap_rate / http_rate) * 100.0,
        Threshold::AtMost(20.0),
    );
    Ok(())
}

/// `lut --data-dir DD <args> <paths>`; returns stdout, fails with stderr.
fn lut_cmd(lut: &Path, dd: &Path, args: &[&str], paths: &[&PathBuf]) -> Result<String> {
    let out = Command::new(lut)
        .arg("--data-dir")
        .arg(dd)
        .args(args)
        .args(paths)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .with_context(|| format!("running {} {args:?}", lut.display()))?;
    if !out.status.success() {
        bail!(
            "lut {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The CSV with its data rows in reverse order (header first).
fn reversed_csv(path: &Path) -> Result<Vec<u8>> {
    let csv = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines: Vec<&[u8]> = csv
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    ensure!(lines.len() > 2, "{} has too few rows", path.display());
    lines[1..].reverse();
    let mut out = Vec::with_capacity(csv.len() + 1);
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    Ok(out)
}

/// One streamed request's outcome.
struct Stream {
    secs: f64,
    lines: u64,
    bytes: u64,
    /// Where the response first differed from the reference (verified runs only).
    mismatch: Option<String>,
}

/// Streams `events` through `POST /api/v1/enrich`, counting output lines; with `verify`,
/// compares the response with that file as it arrives.
fn stream_once(
    addr: SocketAddr,
    token: &str,
    events: &Path,
    verify: Option<&Path>,
) -> Result<Stream> {
    let mut reference = match verify {
        Some(p) => Some(BufReader::with_capacity(
            1 << 20,
            File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
        None => None,
    };
    let mut scratch = Vec::new();
    let mut lines = 0u64;
    let mut offset = 0u64;
    let mut mismatch = None;
    let s = http::stream_file(addr, "/api/v1/enrich", token, events, |b| {
        lines += memchr::memchr_iter(b'\n', b).count() as u64;
        if let (Some(r), None) = (reference.as_mut(), &mismatch) {
            scratch.resize(b.len(), 0);
            let n = read_full(r, &mut scratch)?;
            if let Some(i) = (0..n).find(|&i| scratch[i] != b[i]) {
                mismatch = Some(format!("differs at byte {}", offset + i as u64));
            } else if n < b.len() {
                mismatch = Some(format!(
                    "longer than the reference ({} bytes)",
                    offset + n as u64
                ));
            }
        }
        offset += b.len() as u64;
        Ok(())
    })?;
    if let (Some(r), None) = (reference.as_mut(), &mismatch) {
        let mut one = [0u8; 1];
        if r.read(&mut one)? != 0 {
            mismatch = Some(format!(
                "shorter than the reference ({} bytes)",
                s.bytes_out
            ));
        }
    }
    Ok(Stream {
        secs: s.secs,
        lines,
        bytes: s.bytes_out,
        mismatch,
    })
}

/// Why a run's output is wrong, if it is: its line count, or (verified runs) the
/// comparison with the reference.
fn problem(s: &Stream, events: u64) -> Option<String> {
    if s.lines != events {
        return Some(format!(
            "{} output lines for {events} events ({} bytes)",
            s.lines, s.bytes
        ));
    }
    s.mismatch.clone()
}

/// Alternates the live version between `versions` until `stop`; returns the number of
/// swaps and each one's request time.
fn swap_loop(
    addr: SocketAddr,
    token: &str,
    versions: [i64; 2],
    stop: &AtomicBool,
    pause: Duration,
) -> Result<(u64, Vec<f64>)> {
    let path = format!("/api/v1/tables/{TABLE}/rollback");
    let mut n = 0u64;
    let mut times = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let body = format!("{{\"version\":{}}}", versions[(n % 2) as usize]);
        let t0 = Instant::now();
        let r = http::request(addr, "POST", &path, Some(token), body.as_bytes())?;
        ensure!(r.status == 200, "rollback: HTTP {}: {}", r.status, r.text());
        times.push(t0.elapsed().as_secs_f64());
        n += 1;
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    Ok((n, times))
}

/// A `lut serve` child process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(lut: &Path, dd: &Path) -> Result<Server> {
        let mut child = Command::new(lut)
            .arg("--data-dir")
            .arg(dd)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("LUT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} serve", lut.display()))?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
                let mut l = log2.lock().unwrap_or_else(|e| e.into_inner());
                l.push(line);
                if l.len() > 200 {
                    l.remove(0);
                }
            }
        });
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => bail!(
                "lut serve did not report its address within 60 s:\n{}",
                server.log_text()
            ),
        };
        server.addr = addr
            .parse()
            .with_context(|| format!("bad address {addr:?} in lut serve's output"))?;
        Ok(server)
    }

    fn log_text(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// Polls `/readyz` until it answers 200 with the table loaded.
    fn wait_ready(&mut self, token: &str) -> Result<()> {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("lut serve exited ({status}):\n{}", self.log_text());
            }
            if let Ok(r) = http::request(self.addr, "GET", "/readyz", Some(token), b"") {
                if r.status == 200 && r.json()?["loaded_tables"].as_u64() == Some(1) {
                    return Ok(());
                }
            }
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("lut serve not ready after 60 s:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
