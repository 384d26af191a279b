//! Enrichment plans: which tables and selectors apply to which log type (§5.1, §5.5).
//!
//! A [`Snapshot`] is an immutable set of live tables plus, per log type, the list of
//! (table, selectors) to apply, worked out once when the snapshot is built so the hot path
//! does one map lookup per log type and nothing else. Selector keys and table names are
//! pre-rendered as JSON (`"name":`) so they are copied, not escaped, per event.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::FixedState;

use crate::json::write::write_str;
use crate::schema::Schema;
use crate::selector::Selector;
use crate::spec::TableSpec;
use crate::table::Table;

/// A table version that enrichment can use.
#[derive(Debug, Clone)]
pub struct LiveTable {
    pub spec: Arc<TableSpec>,
    pub schema: Arc<Schema>,
    pub table: Arc<Table>,
}

/// One selector of one table, ready for the hot path.
#[derive(Debug)]
pub(crate) struct SelectorPlan {
    pub selector: Selector,
    /// `"<selector key>":`
    pub key_json: Vec<u8>,
    /// Matches are always a list (wildcards, `p_any_*` selectors, `cidrMatch: all`).
    pub always_list: bool,
    /// Index of this (table, selector) pair's match counter.
    pub counter: usize,
}

#[derive(Debug)]
pub(crate) struct TablePlan {
    /// Index into `Snapshot::tables`.
    pub table: usize,
    pub selectors: Vec<SelectorPlan>,
}

/// The tables that apply to one log type, in table order.
#[derive(Debug, Default)]
pub(crate) struct Route {
    pub plans: Vec<TablePlan>,
}

/// Where a match counter belongs, for summaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterName {
    pub table: String,
    pub selector: String,
    pub log_type: Option<String>,
}

/// An immutable set of live tables and their routes. `Snapshot::default()` is the empty
/// set (every event passes through unchanged).
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) tables: Vec<LiveTable>,
    /// `"<table name>":{` per table.
    pub(crate) table_open: Vec<Vec<u8>>,
    pub(crate) routes: Vec<Route>,
    pub(crate) by_log_type: HashMap<Box<str>, usize, FixedState>,
    /// Route for log types no table names: the tables matched through indicators alone.
    pub(crate) fallback: usize,
    pub(crate) counters: Vec<CounterName>,
    /// Distinguishes snapshots so per-thread caches notice a swap.
    pub(crate) id: u64,
}

impl Default for Snapshot {
    fn default() -> Self {
        // Built like any other so that it has its fallback route.
        Snapshot::new(Vec::new())
    }
}

impl Snapshot {
    /// Builds the routes for `tables`. Disabled tables are ignored.
    pub fn new(tables: Vec<LiveTable>) -> Snapshot {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let tables: Vec<LiveTable> = tables.into_iter().filter(|t| t.spec.enabled).collect();
        let mut snap = Snapshot {
            table_open: tables
                .iter()
                .map(|t| {
                    let mut v = Vec::with_capacity(t.spec.name.len() + 4);
                    write_str(&mut v, t.spec.name.as_bytes());
                    v.extend_from_slice(b":{");
                    v
                })
                .collect(),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            tables: Vec::new(),
            routes: Vec::new(),
            by_log_type: HashMap::default(),
            fallback: 0,
            counters: Vec::new(),
        };
        let mut log_types: Vec<&str> = Vec::new();
        for t in &tables {
            for lt in &t.spec.log_types {
                if !log_types.contains(&lt.log_type.as_str()) {
                    log_types.push(&lt.log_type);
                }
            }
        }
        let mut counters = Vec::new();
        for lt in &log_types {
            let route = Self::route_for(&tables, Some(lt), &mut counters);
            snap.by_log_type.insert((*lt).into(), snap.routes.len());
            snap.routes.push(route);
        }
        snap.fallback = snap.routes.len();
        let fallback = Self::route_for(&tables, None, &mut counters);
        snap.routes.push(fallback);
        snap.counters = counters;
        snap.tables = tables;
        snap
    }

    fn route_for(
        tables: &[LiveTable],
        log_type: Option<&str>,
        counters: &mut Vec<CounterName>,
    ) -> Route {
        let mut route = Route::default();
        for (ti, t) in tables.iter().enumerate() {
            let spec = &t.spec;
            let explicit = log_type.and_then(|lt| spec.log_types.iter().find(|l| l.log_type == lt));
            let selectors: Vec<(Selector, bool)> = match explicit {
                Some(l) if !l.selectors.is_empty() => {
                    l.selectors.iter().map(|s| (s.clone(), false)).collect()
                }
                Some(_) => auto_selectors(spec, &t.schema),
                None if spec.log_types.is_empty() => auto_selectors(spec, &t.schema),
                None => Vec::new(),
            };
            if selectors.is_empty() {
                continue;
            }
            let match_all = t.table.match_all();
            let plans = selectors
                .into_iter()
                .map(|(selector, auto)| {
                    let mut key_json = Vec::with_capacity(selector.key.len() + 3);
                    write_str(&mut key_json, selector.key.as_bytes());
                    key_json.push(b':');
                    counters.push(CounterName {
                        table: spec.name.clone(),
                        selector: selector.key.clone(),
                        log_type: log_type.map(str::to_string),
                    });
                    SelectorPlan {
                        always_list: auto || match_all || selector.has_wildcard(),
                        key_json,
                        selector,
                        counter: counters.len() - 1,
                    }
                })
                .collect();
            route.plans.push(TablePlan {
                table: ti,
                selectors: plans,
            });
        }
        route
    }

    pub fn tables(&self) -> &[LiveTable] {
        &self.tables
    }

    pub fn table(&self, name: &str) -> Option<&LiveTable> {
        self.tables.iter().find(|t| t.spec.name == name)
    }

    /// Names of the match counters an [`crate::enrich::Enricher`] keeps for this snapshot.
    pub fn counter_names(&self) -> &[CounterName] {
        &self.counters
    }

    /// Whether any table applies to events of `log_type`.
    pub fn applies_to(&self, log_type: &str) -> bool {
        !self.routes[self.route_index(log_type)].plans.is_empty()
    }

    #[inline]
    pub(crate) fn route_index(&self, log_type: &str) -> usize {
        self.by_log_type
            .get(log_type)
            .copied()
            .unwrap_or(self.fallback)
    }
}

/// §5.5: the `p_any_*` fields fed by the primary key's indicators; always lists.
pub fn auto_selectors(spec: &TableSpec, schema: &Schema) -> Vec<(Selector, bool)> {
    let Some(field) = schema.field(&spec.primary_key) else {
        return Vec::new();
    };
    let mut names: Vec<&str> = Vec::new();
    for ind in &field.indicators {
        for f in ind.p_any_fields() {
            if !names.contains(f) {
                names.push(f);
            }
        }
    }
    names
        .into_iter()
        .map(|n| {
            (
                Selector::parse(n).expect("p_any field names are plain selectors"),
                true,
            )
        })
        .collect()
}
