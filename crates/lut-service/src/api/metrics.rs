//! Prometheus metrics of `lut serve` (`GET /metrics`, text format 0.0.4).
//!
//! Three sources, each read the cheapest way it can be:
//! - per-table state (rows, live version, seconds since the last successful check and
//!   since new data) is read from the catalog at scrape time, so it is right after a
//!   restart and follows changes the CLI makes to a shared data directory;
//! - sync counters and check durations are counted from the engine's [`SyncEvent`]s;
//! - enrichment counters are added once per enriched block (never per event), and HTTP
//!   counters once per request by the [`super::request`] middleware.
//!
//! Label cardinality is bounded: tables and selectors come from definitions, stages and
//! outcomes are fixed sets, and routes are matched route patterns. Gauges describe the
//! tables that exist now; counters and histograms of a deleted table keep their series
//! until the process restarts (dropping them would look like a counter reset).

#[path = "metrics_text.rs"]
pub mod text;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use lut_core::enrich::{Snapshot, Stats};
use lut_store::TableStatus;

use super::AppState;
use crate::sync::SyncEvent;
use text::{Exposition, Histogram, CHECK_BUCKETS, HTTP_BUCKETS};

/// Check outcomes, in the order they are listed.
const OUTCOMES: [&str; 4] = ["unchanged", "updated", "recorded", "failed"];

/// A two-level map looked up by `&str` so that a hit allocates nothing.
type Nested<V> = BTreeMap<String, BTreeMap<String, V>>;

fn entry<'m, V>(m: &'m mut Nested<V>, a: &str, b: &str, new: impl FnOnce() -> V) -> &'m mut V {
    if !m.contains_key(a) {
        m.insert(a.to_string(), BTreeMap::new());
    }
    let inner = m.get_mut(a).expect("inserted above");
    if !inner.contains_key(b) {
        inner.insert(b.to_string(), new());
    }
    inner.get_mut(b).expect("inserted above")
}

#[derive(Default)]
struct SyncCounters {
    /// By outcome, in [`OUTCOMES`] order.
    outcomes: [u64; 4],
    /// By table, then outcome.
    durations: Nested<Histogram>,
    /// By table, then stage.
    failures: Nested<u64>,
}

/// Per (route, method): requests by status, and their durations.
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    duration: Histogram,
}

#[derive(Default)]
pub struct Metrics {
    pub enrich_requests: AtomicU64,
    pub enrich_bytes_in: AtomicU64,
    enrich_bytes_out: AtomicU64,
    enrich_lines: AtomicU64,
    enrich_events: AtomicU64,
    enrich_enriched: AtomicU64,
    enrich_not_object: AtomicU64,
    /// By table, then selector.
    matches: Mutex<Nested<u64>>,
    sync: Mutex<SyncCounters>,
    /// By route pattern, then method.
    http: Mutex<Nested<RouteStats>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// Counts a sync engine event.
    pub fn observe(&self, ev: &SyncEvent) {
        match ev {
            SyncEvent::CheckFinished {
                table,
                outcome,
                duration,
            } => {
                let mut s = lock(&self.sync);
                if let Some(i) = OUTCOMES.iter().position(|o| o == outcome) {
                    s.outcomes[i] += 1;
                }
                entry(&mut s.durations, table, outcome, || {
                    Histogram::new(CHECK_BUCKETS)
                })
                .observe(duration.as_secs_f64());
            }
            SyncEvent::SyncFailed { table, failure } => {
                let mut s = lock(&self.sync);
                *entry(&mut s.failures, table, failure.stage.as_str(), || 0) += 1;
            }
            SyncEvent::TableLoaded { .. }
            | SyncEvent::TableUnchanged { .. }
            | SyncEvent::TableSwapped { .. } => {}
        }
    }

    /// Adds one enriched block: its counters, its output size and its matches, named by
    /// the snapshot that enriched it. One lock per block, none when nothing matched.
    pub fn add_enrich(&self, snap: &Snapshot, s: &Stats, bytes_out: u64) {
        self.enrich_lines.fetch_add(s.lines, Relaxed);
        self.enrich_events.fetch_add(s.events, Relaxed);
        self.enrich_enriched.fetch_add(s.enriched, Relaxed);
        self.enrich_not_object.fetch_add(s.not_object, Relaxed);
        self.enrich_bytes_out.fetch_add(bytes_out, Relaxed);
        if s.matches.iter().all(|&n| n == 0) {
            return;
        }
        let names = snap.counter_names();
        let mut m = lock(&self.matches);
        for (name, &n) in names.iter().zip(&s.matches).filter(|(_, &n)| n > 0) {
            // A selector used for several log types has one counter per log type.
            *entry(&mut m, &name.table, &name.selector, || 0) += n;
        }
    }

    /// Counts one finished HTTP request.
    pub fn add_http(&self, method: &str, route: &str, status: u16, took: Duration) {
        let mut http = lock(&self.http);
        let r = entry(&mut http, route, method, || RouteStats {
            by_status: BTreeMap::new(),
            duration: Histogram::new(HTTP_BUCKETS),
        });
        *r.by_status.entry(status).or_default() += 1;
        r.duration.observe(took.as_secs_f64());
    }

    /// The exposition: `tables` from the catalog, `snap` the registry's current snapshot
    /// (which tables are loaded, and which selectors exist), `now` in epoch milliseconds.
    pub fn render(&self, tables: &[TableStatus], snap: &Snapshot, now: i64) -> String {
        let mut e = Exposition::default();
        self.render_tables(&mut e, tables, snap, now);
        self.render_sync(&mut e);
        self.render_enrich(&mut e, snap);
        self.render_http(&mut e);
        e.finish()
    }

    fn render_tables(&self, e: &mut Exposition, tables: &[TableStatus], snap: &Snapshot, now: i64) {
        type Value = fn(&TableStatus, &Snapshot, i64) -> Option<f64>;
        let families: [(&str, &str, Value); 5] = [
            (
                "lut_table_rows",
                "Rows in the live version of an enabled table.",
                |t, _, _| t.live.map(|(_, rows)| rows as f64),
            ),
            (
                "lut_table_live_version",
                "The live version id of an enabled table.",
                |t, _, _| t.live.map(|(id, _)| id as f64),
            ),
            (
                "lut_table_loaded",
                "1 when the table is in the registry enrichment uses, else 0.",
                |t, snap, _| Some(f64::from(u8::from(snap.table(&t.name).is_some()))),
            ),
            (
                "lut_table_seconds_since_last_success",
                "Seconds since the last check that did not fail (absent before the first).",
                |t, _, now| t.last_success_at.map(|at| seconds_since(now, at)),
            ),
            (
                "lut_table_seconds_since_new_data",
                "Seconds since the newest version was fetched, uploaded or applied.",
                |t, _, now| t.newest_data_at.map(|at| seconds_since(now, at)),
            ),
        ];
        for (name, help, value) in families {
            e.family(name, "gauge", help);
            for t in tables.iter().filter(|t| t.enabled) {
                if let Some(v) = value(t, snap, now) {
                    e.sample(name, &[("table", &t.name)], v);
                }
            }
        }
    }

    fn render_sync(&self, e: &mut Exposition) {
        let s = lock(&self.sync);
        e.family("lut_syncs_total", "counter", "Table checks by outcome.");
        for (o, n) in OUTCOMES.iter().zip(s.outcomes) {
            e.sample("lut_syncs_total", &[("outcome", o)], n);
        }
        e.family(
            "lut_sync_check_duration_seconds",
            "histogram",
            "Duration of table checks by table and outcome.",
        );
        for (table, by_outcome) in &s.durations {
            for (outcome, h) in by_outcome {
                e.histogram(
                    "lut_sync_check_duration_seconds",
                    &[("table", table), ("outcome", outcome)],
                    h,
                );
            }
        }
        e.family(
            "lut_sync_failures_total",
            "counter",
            "Failed table checks by table and the stage that failed.",
        );
        for (table, by_stage) in &s.failures {
            for (stage, n) in by_stage {
                e.sample(
                    "lut_sync_failures_total",
                    &[("table", table), ("stage", stage)],
                    n,
                );
            }
        }
    }

    fn render_enrich(&self, e: &mut Exposition, snap: &Snapshot) {
        let counters: [(&str, &str, &AtomicU64); 8] = [
            (
                "lut_enrich_requests_total",
                "Enrich requests received.",
                &self.enrich_requests,
            ),
            (
                "lut_enrich_bytes_in_total",
                "Bytes of NDJSON received for enrichment.",
                &self.enrich_bytes_in,
            ),
            (
                "lut_enrich_bytes_out_total",
                "Bytes of NDJSON sent back by enrichment.",
                &self.enrich_bytes_out,
            ),
            (
                "lut_enrich_lines_total",
                "Lines received for enrichment.",
                &self.enrich_lines,
            ),
            (
                "lut_enrich_events_total",
                "Events (JSON object lines) received for enrichment.",
                &self.enrich_events,
            ),
            (
                "lut_enrich_events_in_total",
                "Deprecated alias of lut_enrich_events_total.",
                &self.enrich_events,
            ),
            (
                "lut_enrich_events_enriched_total",
                "Events that got p_enrichment.",
                &self.enrich_enriched,
            ),
            (
                "lut_enrich_not_object_total",
                "Lines that were not JSON objects (passed through).",
                &self.enrich_not_object,
            ),
        ];
        for (name, help, v) in counters {
            e.family(name, "counter", help);
            e.sample(name, &[], v.load(Relaxed));
        }
        let mut m = lock(&self.matches);
        // Every selector the current tables define has a series from the start, so that
        // rate() sees its first match.
        for c in snap.counter_names() {
            entry(&mut m, &c.table, &c.selector, || 0);
        }
        e.family(
            "lut_enrich_matches_total",
            "counter",
            "Rows attached to events, by table and selector.",
        );
        for (table, by_selector) in m.iter() {
            for (selector, n) in by_selector {
                e.sample(
                    "lut_enrich_matches_total",
                    &[("table", table), ("selector", selector)],
                    n,
                );
            }
        }
    }

    fn render_http(&self, e: &mut Exposition) {
        let http = lock(&self.http);
        e.family(
            "lut_http_requests_total",
            "counter",
            "HTTP requests by method, route pattern and status.",
        );
        for (route, by_method) in http.iter() {
            for (method, r) in by_method {
                for (status, n) in &r.by_status {
                    e.sample(
                        "lut_http_requests_total",
                        &[
                            ("method", method),
                            ("route", route),
                            ("status", &status.to_string()),
                        ],
                        n,
                    );
                }
            }
        }
        e.family(
            "lut_http_request_duration_seconds",
            "histogram",
            "HTTP request durations until the response body ended, by method and route pattern.",
        );
        for (route, by_method) in http.iter() {
            for (method, r) in by_method {
                e.histogram(
                    "lut_http_request_duration_seconds",
                    &[("method", method), ("route", route)],
                    &r.duration,
                );
            }
        }
    }
}

fn seconds_since(now: i64, at: i64) -> f64 {
    (now - at).max(0) as f64 / 1000.0
}

/// `GET /metrics`.
pub async fn scrape(State(st): State<AppState>) -> impl IntoResponse {
    let cat = st.catalog.clone();
    let tables = match tokio::task::spawn_blocking(move || cat.table_status()).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            // The other families are still worth serving.
            tracing::warn!(error = %e, "cannot read table status for /metrics");
            Vec::new()
        }
        Err(_) => Vec::new(),
    };
    let body = st
        .metrics
        .render(&tables, &st.registry.load(), lut_store::now_millis());
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
}
