//! `POST /api/v1/enrich?log_type=...`: NDJSON in, NDJSON out, streaming both ways.
//!
//! The request body is read chunk by chunk; whole lines are cut off as they arrive and
//! enriched as one block (inline when small, on the blocking pool when large) with the
//! registry snapshot loaded for that block, so a table swap never waits for a request and
//! a request never waits for a swap. Output blocks go through a bounded channel into the
//! response body: a client that stops reading stops the reading of its input, so memory
//! stays bounded whatever the body's size. Only the last line may lack its newline, and
//! it is then written back without one, like `lut enrich`.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use lut_core::enrich::lines::enrich_block;
use lut_core::enrich::{Enricher, Stats};
use serde::Deserialize;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::error::Query;
use super::AppState;

/// Blocks at least this large are enriched on the blocking pool.
const BLOCKING_AT: usize = 64 * 1024;
/// A single line longer than this fails the request (memory stays bounded).
pub const MAX_LINE: usize = 64 * 1024 * 1024;
/// Output blocks buffered before the reader waits for the client.
const QUEUE: usize = 4;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichQuery {
    pub log_type: Option<String>,
}

type Chunk = Result<Bytes, std::io::Error>;

pub async fn enrich(
    State(st): State<AppState>,
    Query(q): Query<EnrichQuery>,
    body: Body,
) -> Response {
    st.metrics.enrich_requests.fetch_add(1, Relaxed);
    let (tx, rx) = mpsc::channel::<Chunk>(QUEUE);
    // The pump's log lines belong to the request.
    tokio::spawn(
        pump(st, q.log_type.filter(|s| !s.is_empty()), body, tx)
            .instrument(tracing::Span::current()),
    );
    let out =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    (
        [(CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(out),
    )
        .into_response()
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// Reads the body, enriches whole-line blocks, sends them on; stops early when the client
/// goes away (the send fails).
async fn pump(st: AppState, log_type: Option<String>, body: Body, tx: mpsc::Sender<Chunk>) {
    let mut input = body.into_data_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut enricher = Enricher::new();
    loop {
        let chunk = match input.next().await {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "enrich request body failed");
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return;
            }
            None => break,
        };
        st.metrics
            .enrich_bytes_in
            .fetch_add(chunk.len() as u64, Relaxed);
        let old = pending.len();
        pending.extend_from_slice(&chunk);
        let Some(p) = memchr_last_newline(&pending[old..]) else {
            if pending.len() > MAX_LINE {
                let _ = tx
                    .send(Err(std::io::Error::other(format!(
                        "a line is longer than {MAX_LINE} bytes"
                    ))))
                    .await;
                return;
            }
            continue;
        };
        let cut = old + p + 1;
        let rest = pending.split_off(cut);
        let block = std::mem::replace(&mut pending, rest);
        let out;
        (enricher, out) = run_block(&st, enricher, block, log_type.clone()).await;
        if tx.send(Ok(out)).await.is_err() {
            return;
        }
    }
    if !pending.is_empty() {
        let (_, out) = run_block(&st, enricher, pending, log_type).await;
        let _ = tx.send(Ok(out)).await;
    }
}

fn memchr_last_newline(b: &[u8]) -> Option<usize> {
    b.iter().rposition(|&c| c == b'\n')
}

async fn run_block(
    st: &AppState,
    mut enricher: Enricher,
    block: Vec<u8>,
    log_type: Option<String>,
) -> (Enricher, Bytes) {
    // One snapshot per block: a swap after this load affects the next block only.
    let snap = st.registry.load();
    let big = block.len() >= BLOCKING_AT;
    let counted = snap.clone();
    let work = move || {
        let mut out = Vec::with_capacity(block.len() + block.len() / 4);
        enrich_block(
            &snap,
            &mut enricher,
            &block,
            log_type.as_deref(),
            now_nanos(),
            false,
            &mut out,
        );
        let stats = std::mem::take(&mut enricher.stats);
        (enricher, out, stats)
    };
    let (enricher, out, stats): (Enricher, Vec<u8>, Stats) = if big {
        match tokio::task::spawn_blocking(work).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    } else {
        work()
    };
    st.metrics.add_enrich(&counted, &stats, out.len() as u64);
    (enricher, Bytes::from(out))
}
