//! Streaming NDJSON through the enricher, on one thread or several.
//!
//! Input is cut into blocks of whole lines (about 1 MiB). With one thread each block is
//! enriched and written in turn. With more, a reader thread hands blocks to workers (each
//! with its own [`Enricher`]) and the calling thread writes their results back in input
//! order, so output order never depends on scheduling. Channels are bounded, so a slow
//! writer slows the reader instead of filling memory.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use lut_core::enrich::lines::{enrich_block, BlockResult};
use lut_core::enrich::{Enricher, Snapshot, Stats};

const READ_CHUNK: usize = 1 << 20;
const FLUSH_AT: usize = 1 << 20;

pub enum StreamError {
    /// `--strict` met a line that is not a JSON object (1-based line number).
    Strict {
        line: u64,
        reason: String,
    },
    Io(anyhow::Error),
}

fn io_err(e: io::Error, what: &str) -> StreamError {
    StreamError::Io(anyhow::Error::new(e).context(what.to_string()))
}

pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// Cuts a byte stream into blocks that end on a newline (the last one may not).
struct Blocks<R> {
    input: R,
    carry: Vec<u8>,
    eof: bool,
    bytes: u64,
}

impl<R: Read> Blocks<R> {
    fn new(input: R) -> Self {
        Blocks {
            input,
            carry: Vec::new(),
            eof: false,
            bytes: 0,
        }
    }

    /// Fills `block`; false at the end of the input.
    fn next(&mut self, block: &mut Vec<u8>) -> io::Result<bool> {
        block.clear();
        block.append(&mut self.carry);
        loop {
            if self.eof {
                return Ok(!block.is_empty());
            }
            let old = block.len();
            block.resize(old + READ_CHUNK, 0);
            let n = loop {
                match self.input.read(&mut block[old..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            block.truncate(old + n);
            self.bytes += n as u64;
            if n == 0 {
                self.eof = true;
                continue;
            }
            // Hand out whole lines; a line longer than a chunk just keeps reading.
            if let Some(p) = memchr::memrchr(b'\n', &block[old..]) {
                let cut = old + p + 1;
                self.carry.extend_from_slice(&block[cut..]);
                block.truncate(cut);
                return Ok(true);
            }
        }
    }
}

/// Enriches `input` into `output`; returns the bytes read and the merged counters.
pub fn run(
    snap: &Snapshot,
    input: impl Read + Send,
    output: &mut dyn Write,
    default_log_type: Option<&str>,
    strict: bool,
    threads: usize,
) -> Result<(u64, Stats), (StreamError, Stats)> {
    if threads <= 1 {
        single(snap, input, output, default_log_type, strict)
    } else {
        parallel(snap, input, output, default_log_type, strict, threads)
    }
}

fn single(
    snap: &Snapshot,
    input: impl Read,
    output: &mut dyn Write,
    default_log_type: Option<&str>,
    strict: bool,
) -> Result<(u64, Stats), (StreamError, Stats)> {
    let mut enricher = Enricher::new();
    let mut blocks = Blocks::new(input);
    let mut block = Vec::with_capacity(READ_CHUNK * 2);
    let mut out = Vec::with_capacity(FLUSH_AT + READ_CHUNK * 2);
    let mut lines = 0u64;
    loop {
        match blocks.next(&mut block) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err((io_err(e, "reading input"), enricher.stats)),
        }
        let r = enrich_block(
            snap,
            &mut enricher,
            &block,
            default_log_type,
            now_nanos(),
            strict,
            &mut out,
        );
        if let Some((idx, reason)) = r.rejected {
            let write = output.write_all(&out).and_then(|()| output.flush());
            let err = match write {
                Err(e) => io_err(e, "writing output"),
                Ok(()) => StreamError::Strict {
                    line: lines + idx + 1,
                    reason,
                },
            };
            return Err((err, enricher.stats));
        }
        lines += r.lines;
        if out.len() >= FLUSH_AT {
            if let Err(e) = output.write_all(&out) {
                return Err((io_err(e, "writing output"), enricher.stats));
            }
            out.clear();
        }
    }
    if let Err(e) = output.write_all(&out).and_then(|()| output.flush()) {
        return Err((io_err(e, "writing output"), enricher.stats));
    }
    Ok((blocks.bytes, enricher.stats))
}

type Work = (u64, Vec<u8>);
type Done = (u64, Vec<u8>, BlockResult);

fn parallel(
    snap: &Snapshot,
    input: impl Read + Send,
    output: &mut dyn Write,
    default_log_type: Option<&str>,
    strict: bool,
    threads: usize,
) -> Result<(u64, Stats), (StreamError, Stats)> {
    let (work_tx, work_rx) = sync_channel::<Work>(threads * 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = sync_channel::<Done>(threads * 2);
    std::thread::scope(|s| {
        let reader = s.spawn(move || -> io::Result<u64> {
            let mut blocks = Blocks::new(input);
            let mut seq = 0u64;
            loop {
                let mut block = Vec::with_capacity(READ_CHUNK * 2);
                if !blocks.next(&mut block)? {
                    return Ok(blocks.bytes);
                }
                if work_tx.send((seq, block)).is_err() {
                    // The writer stopped (--strict or a write error): stop reading.
                    return Ok(blocks.bytes);
                }
                seq += 1;
            }
        });
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let work_rx = work_rx.clone();
                let done_tx = done_tx.clone();
                s.spawn(move || worker(snap, &work_rx, done_tx, default_log_type, strict))
            })
            .collect();
        drop(done_tx);
        let written = write_in_order(done_rx, output);
        let mut stats = Stats::default();
        for w in workers {
            if let Ok(st) = w.join() {
                stats.merge(&st);
            }
        }
        let bytes = match reader.join() {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err((io_err(e, "reading input"), stats)),
            Err(_) => {
                return Err((
                    StreamError::Io(anyhow::anyhow!("the reader thread panicked")),
                    stats,
                ))
            }
        };
        match written {
            Ok(()) => Ok((bytes, stats)),
            Err(e) => Err((e, stats)),
        }
    })
}

fn worker(
    snap: &Snapshot,
    work: &Mutex<Receiver<Work>>,
    done: std::sync::mpsc::SyncSender<Done>,
    default_log_type: Option<&str>,
    strict: bool,
) -> Stats {
    let mut enricher = Enricher::new();
    loop {
        let next = work.lock().map(|rx| rx.recv());
        let Ok(Ok((seq, block))) = next else { break };
        let mut out = Vec::with_capacity(block.len() + block.len() / 2);
        let r = enrich_block(
            snap,
            &mut enricher,
            &block,
            default_log_type,
            now_nanos(),
            strict,
            &mut out,
        );
        if done.send((seq, out, r)).is_err() {
            break;
        }
    }
    enricher.stats
}

/// Writes results in input order as they arrive out of order.
fn write_in_order(done: Receiver<Done>, output: &mut dyn Write) -> Result<(), StreamError> {
    let mut pending: BTreeMap<u64, (Vec<u8>, BlockResult)> = BTreeMap::new();
    let mut next = 0u64;
    let mut lines = 0u64;
    for (seq, out, r) in done {
        pending.insert(seq, (out, r));
        while let Some((out, r)) = pending.remove(&next) {
            output
                .write_all(&out)
                .map_err(|e| io_err(e, "writing output"))?;
            if let Some((idx, reason)) = r.rejected {
                output.flush().map_err(|e| io_err(e, "writing output"))?;
                return Err(StreamError::Strict {
                    line: lines + idx + 1,
                    reason,
                });
            }
            lines += r.lines;
            next += 1;
        }
    }
    output.flush().map_err(|e| io_err(e, "writing output"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            v.extend_from_slice(
                format!("{{\"i\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 300)).as_bytes(),
            );
        }
        v
    }

    #[test]
    fn parallel_output_equals_single_and_keeps_order() {
        let input = lines(40_000);
        let snap = Snapshot::default();
        let mut one = Vec::new();
        let (b1, s1) = run(&snap, &input[..], &mut one, None, false, 1)
            .ok()
            .unwrap();
        for threads in [2, 3, 8] {
            let mut many = Vec::new();
            let (b2, s2) = run(&snap, &input[..], &mut many, None, false, threads)
                .ok()
                .unwrap();
            assert_eq!(many, one, "{threads} threads");
            assert_eq!((b1, s1.lines), (b2, s2.lines));
        }
        assert_eq!(one, input);
    }

    #[test]
    fn strict_reports_the_global_line_number_and_writes_only_lines_before_it() {
        // 25,000 good lines span many blocks; line 25,001 is not JSON.
        let mut input = lines(25_000);
        input.extend_from_slice(b"oops\n");
        input.extend_from_slice(&lines(5_000));
        for threads in [1, 2, 4] {
            let mut out = Vec::new();
            let res = run(
                &Snapshot::default(),
                &input[..],
                &mut out,
                None,
                true,
                threads,
            );
            let Err((StreamError::Strict { line, .. }, _)) = res else {
                panic!("strict must stop")
            };
            assert_eq!(line, 25_001, "{threads} threads");
            assert_eq!(
                out,
                lines(25_000),
                "{threads} threads: only the lines before it"
            );
        }
    }

    #[test]
    fn a_line_longer_than_a_read_chunk_stays_whole() {
        let mut input = format!("{{\"big\":\"{}\"}}\n", "y".repeat(3 * READ_CHUNK)).into_bytes();
        input.extend_from_slice(b"{\"small\":1}");
        for threads in [1, 2] {
            let mut out = Vec::new();
            run(
                &Snapshot::default(),
                &input[..],
                &mut out,
                None,
                false,
                threads,
            )
            .ok()
            .unwrap();
            assert_eq!(out, input);
        }
    }
}
