//! The registry: the one place where new table versions meet the enrichment path.
//!
//! Writers build a complete [`Snapshot`] off to the side and [`Registry::publish`] it with
//! a single atomic pointer swap; readers take a cheap [`Registry::load`] per batch and are
//! never blocked, and never see half of one version and half of another.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::enrich::{LiveTable, Snapshot};

#[derive(Debug)]
pub struct Registry {
    current: ArcSwap<Snapshot>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            current: ArcSwap::from_pointee(Snapshot::default()),
        }
    }
}

impl Registry {
    pub fn new(snapshot: Snapshot) -> Self {
        Registry {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The current snapshot. Hold it for a batch of events, not forever: a held snapshot
    /// keeps its tables in memory after a swap.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Publishes a new set of tables atomically.
    pub fn publish(&self, tables: Vec<LiveTable>) {
        self.current.store(Arc::new(Snapshot::new(tables)));
    }

    /// Replaces (or adds) one table and publishes the result.
    pub fn swap_table(&self, table: LiveTable) {
        self.current.rcu(|cur| {
            let mut tables: Vec<LiveTable> = cur
                .tables()
                .iter()
                .filter(|t| t.spec.name != table.spec.name)
                .cloned()
                .collect();
            tables.push(table.clone());
            Snapshot::new(tables)
        });
    }
}
