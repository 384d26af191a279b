//! Enrichment of one NDJSON line (§5): find the log type and selector values, look them
//! up, and splice `p_enrichment` into the original bytes.
//!
//! The line is validated and its top-level members located in one pass
//! ([`crate::json::scan`]); nested values are walked only along selector paths. Matches are
//! written from the rows' pre-rendered fragments, and the result is spliced in front of the
//! closing brace (or over an existing `p_enrichment`), so the rest of the event keeps its
//! exact bytes and an event without a match is copied unchanged. An [`Enricher`] owns all
//! scratch buffers, so once warmed up a line costs no allocation.

pub mod lines;
pub mod plan;

use crate::json::scan::{self, Kind, Member};
use crate::json::write::write_number_canonical;
use crate::net::parse_ip;
use crate::selector::Step;

pub use plan::{auto_selectors, CounterName, LiveTable, Snapshot};
use plan::{SelectorPlan, TablePlan};

/// What happened to one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `p_enrichment` was added or merged.
    Enriched,
    /// A JSON object with nothing to add; written unchanged.
    Unchanged,
    /// A JSON object without a log type (and no default); written unchanged.
    NoLogType,
    /// Not a JSON object; written unchanged.
    NotObject(scan::ScanError),
    /// Only whitespace; written unchanged.
    Blank,
}

/// Counters over the lines an [`Enricher`] has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub lines: u64,
    pub events: u64,
    pub enriched: u64,
    pub no_log_type: u64,
    pub not_object: u64,
    pub blank: u64,
    /// Matches per snapshot counter ([`Snapshot::counter_names`]).
    pub matches: Vec<u64>,
}

impl Stats {
    /// Adds another enricher's counters (threads each keep their own).
    pub fn merge(&mut self, other: &Stats) {
        self.lines += other.lines;
        self.events += other.events;
        self.enriched += other.enriched;
        self.no_log_type += other.no_log_type;
        self.not_object += other.not_object;
        self.blank += other.blank;
        if self.matches.len() < other.matches.len() {
            self.matches.resize(other.matches.len(), 0);
        }
        for (a, b) in self.matches.iter_mut().zip(&other.matches) {
            *a += b;
        }
    }
}

/// A selector value found in the event: absolute byte range and kind.
#[derive(Debug, Clone, Copy)]
struct Found {
    start: usize,
    end: usize,
    kind: Kind,
    escaped: bool,
}

/// A line's scan result: its object span and route, or the outcome that ends it early.
type Scanned = Result<(scan::ObjectSpan, usize), Outcome>;

/// A line of a batch, scanned ahead of being enriched (see [`Enricher::prepare`]).
#[derive(Debug, Default)]
struct Prepared {
    members: Vec<Member>,
    scanned: Option<Scanned>,
}

/// Lines [`lines::enrich_block`] scans ahead before enriching them: enough for the cache
/// misses of their lookups to overlap, few enough that their index slots and arena
/// entries are still cached when the lookups run.
pub const BATCH: usize = 16;

/// Exact lookups per line that get prefetched; more are simply looked up cold.
const MAX_HINTS_PER_LINE: usize = 8;

/// Per-thread enrichment state and scratch space.
#[derive(Debug, Default)]
pub struct Enricher {
    members: Vec<Member>,
    found: Vec<Found>,
    /// The rendered `p_enrichment` members for the current line.
    frag: Vec<u8>,
    /// Decoded string or canonical number of the current value.
    key: Vec<u8>,
    /// Case-folded probe for case-insensitive tables.
    fold: Vec<u8>,
    /// Distinct values already matched for the current selector (ranges into `seen_buf`).
    seen: Vec<(usize, usize)>,
    seen_buf: Vec<u8>,
    /// Which tables matched on this line (indexes into the snapshot's tables).
    matched_tables: Vec<usize>,
    cache: Option<(u64, Vec<u8>, usize)>,
    /// The current batch's lines, scanned ahead.
    ahead: Vec<Prepared>,
    /// (table, hash) of each prefetched exact lookup of the current batch.
    hints: Vec<(usize, u64)>,
    pub stats: Stats,
}

impl Enricher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Enriches `line` (without its newline) and appends the result to `out` (without a
    /// newline). `now` is the time expiring rows are checked against, in nanoseconds since
    /// the epoch.
    pub fn enrich_line(
        &mut self,
        snap: &Snapshot,
        line: &[u8],
        default_log_type: Option<&str>,
        now: i64,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let scanned = self.scan(snap, line, default_log_type);
        self.finish(snap, line, scanned, now, out)
    }

    /// First half of batched enrichment: scans `line` as line `k` of the batch (`k` <
    /// [`BATCH`]) and prefetches the index slots of its exact lookups. Counts nothing yet.
    ///
    /// Why batches: a lookup in a table far larger than the CPU caches costs two cache
    /// misses (index slot, then arena entry), and one line at a time they are paid in
    /// series. Scanning a batch first, then prefetching the entries
    /// ([`Enricher::prefetch_entries`]), then enriching ([`Enricher::finish_prepared`])
    /// overlaps the misses of all its lines. The output is exactly that of
    /// [`Enricher::enrich_line`] line by line.
    pub fn prepare(
        &mut self,
        snap: &Snapshot,
        k: usize,
        line: &[u8],
        default_log_type: Option<&str>,
    ) {
        if self.ahead.len() <= k {
            self.ahead.resize_with(k + 1, Prepared::default);
        }
        let scanned = self.scan(snap, line, default_log_type);
        if let Ok((_, route)) = scanned {
            self.hint(snap, route, line);
        }
        std::mem::swap(&mut self.members, &mut self.ahead[k].members);
        self.ahead[k].scanned = Some(scanned);
    }

    /// Second step of a batch: prefetches the arena entries the batch's lookups will most
    /// likely end at (their index slots were prefetched by [`Enricher::prepare`]).
    pub fn prefetch_entries(&mut self, snap: &Snapshot) {
        for &(t, hash) in &self.hints {
            snap.tables[t].table.prefetch_entry(hash);
        }
        self.hints.clear();
    }

    /// Last step of a batch: enriches line `k`, which [`Enricher::prepare`] scanned as
    /// `line` with the same snapshot, into `out` like [`Enricher::enrich_line`].
    pub fn finish_prepared(
        &mut self,
        snap: &Snapshot,
        k: usize,
        line: &[u8],
        now: i64,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let p = &mut self.ahead[k];
        let scanned = p.scanned.take().expect("finish_prepared after prepare");
        std::mem::swap(&mut self.members, &mut p.members);
        self.finish(snap, line, scanned, now, out)
    }

    /// Validates the line, records its members in `self.members` and picks its route.
    fn scan(&mut self, snap: &Snapshot, line: &[u8], default_log_type: Option<&str>) -> Scanned {
        let span = match scan::scan_object(line, &mut self.members) {
            Ok(span) => span,
            Err(_) if line.iter().all(u8::is_ascii_whitespace) => return Err(Outcome::Blank),
            Err(e) => return Err(Outcome::NotObject(e)),
        };
        match self.route(snap, line, default_log_type) {
            Some(route) => Ok((span, route)),
            None => Err(Outcome::NoLogType),
        }
    }

    /// Prefetches the index slots of the exact lookups the line will make (scalar values
    /// only; array elements are looked up cold) and remembers them for the entry prefetch.
    fn hint(&mut self, snap: &Snapshot, route: usize, line: &[u8]) {
        let first = self.hints.len();
        for plan in &snap.routes[route].plans {
            let t = &snap.tables[plan.table].table;
            if t.is_cidr() {
                continue;
            }
            for sel in &plan.selectors {
                self.locate(sel, line);
                for f in &self.found {
                    if self.hints.len() - first == MAX_HINTS_PER_LINE {
                        return;
                    }
                    if !value_key(line, *f, &mut self.key) {
                        continue;
                    }
                    if let Some(hash) = t.lookup_hash(&self.key, &mut self.fold) {
                        t.prefetch_slot(hash);
                        self.hints.push((plan.table, hash));
                    }
                }
            }
        }
    }

    /// Counts the line and writes it, enriched or unchanged.
    fn finish(
        &mut self,
        snap: &Snapshot,
        line: &[u8],
        scanned: Scanned,
        now: i64,
        out: &mut Vec<u8>,
    ) -> Outcome {
        self.stats.lines += 1;
        if self.stats.matches.len() < snap.counters.len() {
            self.stats.matches.resize(snap.counters.len(), 0);
        }
        let outcome = match scanned {
            Ok((span, route)) => self.enrich_scanned(snap, line, span, route, now, out),
            Err(outcome) => outcome,
        };
        match outcome {
            Outcome::Enriched => self.stats.enriched += 1,
            Outcome::NoLogType => self.stats.no_log_type += 1,
            Outcome::NotObject(_) => self.stats.not_object += 1,
            Outcome::Blank => self.stats.blank += 1,
            Outcome::Unchanged => {}
        }
        if !matches!(outcome, Outcome::NotObject(_) | Outcome::Blank) {
            self.stats.events += 1;
        }
        if outcome != Outcome::Enriched {
            out.extend_from_slice(line);
        }
        outcome
    }

    fn enrich_scanned(
        &mut self,
        snap: &Snapshot,
        line: &[u8],
        span: scan::ObjectSpan,
        route: usize,
        now: i64,
        out: &mut Vec<u8>,
    ) -> Outcome {
        self.frag.clear();
        self.matched_tables.clear();
        for plan in &snap.routes[route].plans {
            self.apply_table(snap, plan, line, now);
        }
        if self.frag.is_empty() {
            return Outcome::Unchanged;
        }
        self.splice(snap, line, span, out);
        Outcome::Enriched
    }

    /// The route for this event's log type, caching the last one: streams are mostly one
    /// log type, so most events skip the hash lookup.
    fn route(&mut self, snap: &Snapshot, line: &[u8], default: Option<&str>) -> Option<usize> {
        let lt = find_member(&self.members, line, b"p_log_type");
        let name: &[u8] = match lt {
            Some(m) if m.kind == Kind::String => {
                let raw = &line[m.value.0 + 1..m.value.1 - 1];
                if m.value_escaped {
                    self.key.clear();
                    scan::unescape_into(raw, &mut self.key);
                    &self.key
                } else {
                    raw
                }
            }
            _ => default?.as_bytes(),
        };
        if let Some((id, cached, route)) = &self.cache {
            if *id == snap.id && cached.as_slice() == name {
                return Some(*route);
            }
        }
        let route = match std::str::from_utf8(name) {
            Ok(s) => snap.route_index(s),
            Err(_) => snap.fallback,
        };
        let cache = self.cache.get_or_insert_with(|| (0, Vec::new(), 0));
        cache.0 = snap.id;
        cache.1.clear();
        cache.1.extend_from_slice(name);
        cache.2 = route;
        Some(route)
    }

    fn apply_table(&mut self, snap: &Snapshot, plan: &TablePlan, line: &[u8], now: i64) {
        let table_start = self.frag.len();
        if !self.frag.is_empty() {
            self.frag.push(b',');
        }
        self.frag.extend_from_slice(&snap.table_open[plan.table]);
        let body_start = self.frag.len();
        for sel in &plan.selectors {
            self.apply_selector(snap, plan.table, sel, line, now, body_start);
        }
        if self.frag.len() == body_start {
            self.frag.truncate(table_start);
        } else {
            self.frag.push(b'}');
            self.matched_tables.push(plan.table);
        }
    }

    fn apply_selector(
        &mut self,
        snap: &Snapshot,
        table: usize,
        sel: &SelectorPlan,
        line: &[u8],
        now: i64,
        body_start: usize,
    ) {
        self.locate(sel, line);
        if self.found.is_empty() {
            return;
        }
        let list = sel.always_list
            || self.found.len() > 1
            || self.found.iter().any(|f| f.kind == Kind::Array);
        let sel_start = self.frag.len();
        if self.frag.len() > body_start {
            self.frag.push(b',');
        }
        self.frag.extend_from_slice(&sel.key_json);
        if list {
            self.frag.push(b'[');
        }
        let value_start = self.frag.len();
        let t = &snap.tables[table].table;
        self.seen.clear();
        self.seen_buf.clear();
        let mut n = 0u64;
        for i in 0..self.found.len() {
            let f = self.found[i];
            if f.kind == Kind::Array {
                for (s, e, kind, escaped) in scan::elements(&line[f.start..f.end]) {
                    let el = Found {
                        start: f.start + s,
                        end: f.start + e,
                        kind,
                        escaped,
                    };
                    n += self.match_value(t, line, el, now, value_start, list);
                }
            } else {
                n += self.match_value(t, line, f, now, value_start, list);
            }
            if !list && n > 0 {
                break;
            }
        }
        if n == 0 {
            self.frag.truncate(sel_start);
            return;
        }
        if list {
            self.frag.push(b']');
        }
        self.stats.matches[sel.counter] += n;
    }

    /// Fills `self.found` with the values the selector reaches in the line.
    fn locate(&mut self, sel: &SelectorPlan, line: &[u8]) {
        self.found.clear();
        let steps = &sel.selector.steps;
        let Some(Step::Key(root)) = steps.first() else {
            return;
        };
        let Some(m) = find_member(&self.members, line, root.as_bytes()) else {
            return;
        };
        let top = Found {
            start: m.value.0,
            end: m.value.1,
            kind: m.kind,
            escaped: m.value_escaped,
        };
        walk(line, top, &steps[1..], &mut self.found);
    }

    /// Looks one scalar up and writes its match objects; returns how many were written.
    fn match_value(
        &mut self,
        t: &crate::table::Table,
        line: &[u8],
        f: Found,
        now: i64,
        value_start: usize,
        list: bool,
    ) -> u64 {
        if !value_key(line, f, &mut self.key) {
            return 0;
        }
        if list {
            // Each distinct value once (§5.3).
            let key = &self.key;
            if self
                .seen
                .iter()
                .any(|&(s, e)| &self.seen_buf[s..e] == key.as_slice())
            {
                return 0;
            }
            let s = self.seen_buf.len();
            self.seen_buf.extend_from_slice(key);
            self.seen.push((s, self.seen_buf.len()));
        }
        let mut written = 0u64;
        let frag = &mut self.frag;
        let mut emit = |members: &[u8]| {
            if frag.len() > value_start {
                frag.push(b',');
            }
            frag.extend_from_slice(b"{\"p_match\":");
            if f.kind == Kind::String {
                // The event's own string token is already valid JSON.
                frag.extend_from_slice(&line[f.start..f.end]);
            } else {
                frag.push(b'"');
                frag.extend_from_slice(&self.key);
                frag.push(b'"');
            }
            if !members.is_empty() {
                frag.push(b',');
                frag.extend_from_slice(members);
            }
            frag.push(b'}');
            written += 1;
        };
        if t.is_cidr() {
            if let Some(ip) = parse_ip(&self.key) {
                t.get_ip(ip, now, |row| emit(t.fragment(row)));
            }
        } else if let Some((_, members)) = t.lookup(&self.key, now, &mut self.fold) {
            emit(members);
        }
        written
    }

    /// Writes `line` with the rendered members in `self.frag` merged into `p_enrichment`.
    fn splice(&mut self, snap: &Snapshot, line: &[u8], span: scan::ObjectSpan, out: &mut Vec<u8>) {
        let existing = find_member(&self.members, line, b"p_enrichment");
        match existing {
            None => {
                out.reserve(line.len() + self.frag.len() + 20);
                out.extend_from_slice(&line[..span.close]);
                if !self.members.is_empty() {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"p_enrichment\":{");
                out.extend_from_slice(&self.frag);
                out.push(b'}');
                out.extend_from_slice(&line[span.close..]);
            }
            Some(m) => {
                let (vs, ve) = m.value;
                out.extend_from_slice(&line[..vs]);
                out.push(b'{');
                let mut wrote = false;
                if m.kind == Kind::Object {
                    // Keep other tables' entries; this run's tables replace their own.
                    let obj = &line[vs..ve];
                    for em in scan::members(obj) {
                        let key = &obj[em.key.0..em.key.1];
                        let replaced = self.matched_tables.iter().any(|&t| {
                            scan::raw_str_eq(
                                key,
                                em.key_escaped,
                                snap.tables[t].spec.name.as_bytes(),
                            )
                        });
                        if replaced {
                            continue;
                        }
                        if wrote {
                            out.push(b',');
                        }
                        out.extend_from_slice(&obj[em.key.0 - 1..em.value.1]);
                        wrote = true;
                    }
                }
                if wrote {
                    out.push(b',');
                }
                out.extend_from_slice(&self.frag);
                out.push(b'}');
                out.extend_from_slice(&line[ve..]);
            }
        }
    }
}

/// Puts the lookup key of a scalar value into `key` (decoded string, canonical number,
/// `true`/`false`); false for null, containers and the empty string, which never match.
fn value_key(line: &[u8], f: Found, key: &mut Vec<u8>) -> bool {
    key.clear();
    match f.kind {
        Kind::String => {
            let raw = &line[f.start + 1..f.end - 1];
            if f.escaped {
                scan::unescape_into(raw, key);
            } else {
                key.extend_from_slice(raw);
            }
        }
        Kind::Number => write_number_canonical(key, &line[f.start..f.end]),
        Kind::True => key.extend_from_slice(b"true"),
        Kind::False => key.extend_from_slice(b"false"),
        Kind::Null | Kind::Object | Kind::Array => return false,
    }
    !key.is_empty()
}

/// The top-level member named `name`; the last one when a key repeats, as JSON parsers do.
/// Plain keys (nearly all) are compared inline, length first: this runs several times
/// per line over every member.
#[inline]
fn find_member<'m>(members: &'m [Member], line: &[u8], name: &[u8]) -> Option<&'m Member> {
    members.iter().rev().find(|m| {
        let raw = &line[m.key.0..m.key.1];
        if m.key_escaped {
            scan::raw_str_eq(raw, true, name)
        } else {
            raw == name
        }
    })
}

/// Follows `steps` from `v`, collecting every value reached.
fn walk(line: &[u8], v: Found, steps: &[Step], out: &mut Vec<Found>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(v);
        return;
    };
    let body = &line[v.start..v.end];
    match (step, v.kind) {
        (Step::Key(k), Kind::Object) => {
            let hit = scan::members(body)
                .filter(|m| scan::raw_str_eq(&body[m.key.0..m.key.1], m.key_escaped, k.as_bytes()))
                .last();
            if let Some(m) = hit {
                let next = Found {
                    start: v.start + m.value.0,
                    end: v.start + m.value.1,
                    kind: m.kind,
                    escaped: m.value_escaped,
                };
                walk(line, next, rest, out);
            }
        }
        (Step::Index(n), Kind::Array) => {
            if let Some((s, e, kind, escaped)) = scan::elements(body).nth(*n) {
                let next = Found {
                    start: v.start + s,
                    end: v.start + e,
                    kind,
                    escaped,
                };
                walk(line, next, rest, out);
            }
        }
        (Step::Wildcard, Kind::Array) => {
            for (s, e, kind, escaped) in scan::elements(body) {
                let next = Found {
                    start: v.start + s,
                    end: v.start + e,
                    kind,
                    escaped,
                };
                walk(line, next, rest, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
