//! Prometheus metrics counted from [`SyncEvent`]s and the enrich handler.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use lut_core::enrich::Stats;

use super::AppState;

use crate::sync::SyncEvent;

#[derive(Default)]
struct TableGauges {
    rows: u64,
    version: i64,
}

/// (method, route pattern, status).
type HttpKey = (String, String, u16);

#[derive(Default)]
pub struct Metrics {
    pub enrich_requests: AtomicU64,
    pub enrich_bytes_in: AtomicU64,
    pub enrich_lines: AtomicU64,
    pub enrich_events: AtomicU64,
    pub enrich_enriched: AtomicU64,
    pub enrich_not_object: AtomicU64,
    syncs_unchanged: AtomicU64,
    syncs_updated: AtomicU64,
    syncs_failed: AtomicU64,
    tables: Mutex<BTreeMap<String, TableGauges>>,
    /// By (method, route, status): count and summed seconds to the response head.
    http: Mutex<BTreeMap<HttpKey, (u64, f64)>>,
}

/// Counts every request by method, matched route and status, with its latency (time to
/// the response head; a streaming body continues after).
pub async fn track_http(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let resp = next.run(req).await;
    let secs = started.elapsed().as_secs_f64();
    let mut http = st.metrics.http.lock().unwrap_or_else(|e| e.into_inner());
    let e = http
        .entry((method, route, resp.status().as_u16()))
        .or_insert((0, 0.0));
    e.0 += 1;
    e.1 += secs;
    resp
}

impl Metrics {
    pub fn observe(&self, ev: &SyncEvent) {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        match ev {
            SyncEvent::TableLoaded {
                table,
                version,
                rows,
            } => {
                let g = tables.entry(table.clone()).or_default();
                g.rows = *rows;
                g.version = *version;
            }
            SyncEvent::TableUnchanged { .. } => {
                self.syncs_unchanged.fetch_add(1, Relaxed);
            }
            SyncEvent::TableSwapped {
                table,
                version,
                rows,
                ..
            } => {
                self.syncs_updated.fetch_add(1, Relaxed);
                let g = tables.entry(table.clone()).or_default();
                g.rows = *rows;
                g.version = *version;
            }
            SyncEvent::SyncFailed { .. } => {
                self.syncs_failed.fetch_add(1, Relaxed);
            }
        }
    }

    /// Adds one block's enrichment counters.
    pub fn add_enrich(&self, s: &Stats) {
        self.enrich_lines.fetch_add(s.lines, Relaxed);
        self.enrich_events.fetch_add(s.events, Relaxed);
        self.enrich_enriched.fetch_add(s.enriched, Relaxed);
        self.enrich_not_object.fetch_add(s.not_object, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let c = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        c(
            &mut o,
            "lut_enrich_requests_total",
            "Enrich requests received.",
            self.enrich_requests.load(Relaxed),
        );
        c(
            &mut o,
            "lut_enrich_bytes_in_total",
            "Bytes of NDJSON received for enrichment.",
            self.enrich_bytes_in.load(Relaxed),
        );
        c(
            &mut o,
            "lut_enrich_lines_total",
            "Lines received for enrichment.",
            self.enrich_lines.load(Relaxed),
        );
        c(
            &mut o,
            "lut_enrich_events_in_total",
            "Events (JSON objects) received for enrichment.",
            self.enrich_events.load(Relaxed),
        );
        c(
            &mut o,
            "lut_enrich_events_enriched_total",
            "Events that got p_enrichment.",
            self.enrich_enriched.load(Relaxed),
        );
        c(
            &mut o,
            "lut_enrich_not_object_total",
            "Lines that were not JSON objects (passed through).",
            self.enrich_not_object.load(Relaxed),
        );
        let _ = writeln!(
            o,
            "# HELP lut_syncs_total Table checks by outcome.\n# TYPE lut_syncs_total counter"
        );
        for (outcome, v) in [
            ("unchanged", &self.syncs_unchanged),
            ("updated", &self.syncs_updated),
            ("failed", &self.syncs_failed),
        ] {
            let _ = writeln!(
                o,
                "lut_syncs_total{{outcome=\"{outcome}\"}} {}",
                v.load(Relaxed)
            );
        }
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            o,
            "# HELP lut_table_rows Rows in the live version of a table.\n# TYPE lut_table_rows gauge"
        );
        for (t, g) in tables.iter() {
            let _ = writeln!(o, "lut_table_rows{{table=\"{}\"}} {}", escape(t), g.rows);
        }
        let _ = writeln!(
            o,
            "# HELP lut_table_live_version The live version id of a table.\n# TYPE lut_table_live_version gauge"
        );
        for (t, g) in tables.iter() {
            let _ = writeln!(
                o,
                "lut_table_live_version{{table=\"{}\"}} {}",
                escape(t),
                g.version
            );
        }
        drop(tables);
        let http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            o,
            "# HELP lut_http_requests_total HTTP requests by method, route and status.\n# TYPE lut_http_requests_total counter"
        );
        for ((m, r, st), (n, _)) in http.iter() {
            let _ = writeln!(
                o,
                "lut_http_requests_total{{method=\"{m}\",route=\"{}\",status=\"{st}\"}} {n}",
                escape(r)
            );
        }
        let _ = writeln!(
            o,
            "# HELP lut_http_request_seconds_sum Seconds to the response head, summed.\n# TYPE lut_http_request_seconds_sum counter"
        );
        for ((m, r, st), (_, secs)) in http.iter() {
            let _ = writeln!(
                o,
                "lut_http_request_seconds_sum{{method=\"{m}\",route=\"{}\",status=\"{st}\"}} {secs:.6}",
                escape(r)
            );
        }
        o
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
