//! Enriching a block of NDJSON lines: the unit of work for streams and threads.
//!
//! A block holds whole lines; only the last block of a stream may end without a newline,
//! and its last line is then written back without one. Every input line produces exactly
//! one output line. Lines are enriched in batches of [`BATCH`] (see
//! [`Enricher::prepare`]), which changes timing only, never output.

use super::{Enricher, Outcome, Snapshot, BATCH};

/// How a block went.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockResult {
    /// Lines processed (and written).
    pub lines: u64,
    /// Under `strict`, the 0-based index within the block of the first line that is not a
    /// JSON object, and why; the output then holds only the lines before it.
    pub rejected: Option<(u64, String)>,
}

/// Enriches every line of `block` into `out`.
pub fn enrich_block(
    snap: &Snapshot,
    enricher: &mut Enricher,
    block: &[u8],
    default_log_type: Option<&str>,
    now: i64,
    strict: bool,
    out: &mut Vec<u8>,
) -> BlockResult {
    let mut res = BlockResult::default();
    // (start, end, followed by a newline) of each line of the current batch.
    let mut batch = [(0usize, 0usize, false); BATCH];
    let mut start = 0;
    while start < block.len() {
        let mut n = 0;
        while n < BATCH && start < block.len() {
            let (end, newline) = match memchr::memchr(b'\n', &block[start..]) {
                Some(i) => (start + i, true),
                None => (block.len(), false),
            };
            enricher.prepare(snap, n, &block[start..end], default_log_type);
            batch[n] = (start, end, newline);
            start = end + usize::from(newline);
            n += 1;
        }
        enricher.prefetch_entries(snap);
        for (k, &(s, e, newline)) in batch[..n].iter().enumerate() {
            let before = out.len();
            let outcome = enricher.finish_prepared(snap, k, &block[s..e], now, out);
            if strict {
                if let Outcome::NotObject(e) = outcome {
                    out.truncate(before);
                    res.rejected = Some((res.lines, e.to_string()));
                    return res;
                }
            }
            if newline {
                out.push(b'\n');
            }
            res.lines += 1;
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_output_line_per_input_line_and_strict_stops() {
        let snap = Snapshot::default();
        let mut e = Enricher::new();
        let mut out = Vec::new();
        let r = enrich_block(
            &snap,
            &mut e,
            b"{\"a\":1}\nnot json\n{}",
            None,
            0,
            false,
            &mut out,
        );
        assert_eq!(
            r,
            BlockResult {
                lines: 3,
                rejected: None
            }
        );
        assert_eq!(out, b"{\"a\":1}\nnot json\n{}");
        out.clear();
        let r = enrich_block(
            &snap,
            &mut e,
            b"{\"a\":1}\nnot json\n{}\n",
            None,
            0,
            true,
            &mut out,
        );
        assert_eq!(r.lines, 1);
        assert_eq!(r.rejected.as_ref().map(|r| r.0), Some(1));
        assert_eq!(out, b"{\"a\":1}\n");
        out.clear();
        let r = enrich_block(&snap, &mut e, b"\n\n", None, 0, false, &mut out);
        assert_eq!((r.lines, out.as_slice()), (2, &b"\n\n"[..]));
    }
}
