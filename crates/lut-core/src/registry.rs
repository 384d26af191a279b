//! The registry: the one place where new table versions meet the enrichment path.
//!
//! Writers build a complete [`Snapshot`] off to the side and [`Registry::publish`] it with
//! a single atomic pointer swap; readers take a cheap [`Registry::load`] per batch and are
//! never blocked, and never see half of one version and half of another.
//!
//! Replaced snapshots are retired, not dropped: the registry keeps them until no reader
//! holds them and then frees them on a thread of their own ([`Registry::reclaim`], also
//! run by every publish). Otherwise the last reader to let go of a replaced snapshot would
//! free the old table inside its enrichment batch, and a publish called from an async task
//! would free it on a runtime worker — tens of milliseconds for a million rows, on the
//! path of whatever request happened to be there.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::enrich::{LiveTable, Snapshot};

#[derive(Debug)]
pub struct Registry {
    current: ArcSwap<Snapshot>,
    /// Replaced snapshots that readers may still hold.
    retired: Mutex<Vec<Arc<Snapshot>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(Snapshot::default())
    }
}

impl Registry {
    pub fn new(snapshot: Snapshot) -> Self {
        Registry {
            current: ArcSwap::from_pointee(snapshot),
            retired: Mutex::new(Vec::new()),
        }
    }

    /// Frees retired snapshots no reader holds any more, on a short-lived thread of their
    /// own, so the caller (an async task, a request) never pays for the free; returns how
    /// many are still held.
    pub fn reclaim(&self) -> usize {
        let (freed, held) = {
            let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
            let (free, held): (Vec<_>, Vec<_>) =
                retired.drain(..).partition(|s| Arc::strong_count(s) == 1);
            *retired = held;
            (free, retired.len())
        };
        if !freed.is_empty() {
            // A count of one means only this list held the snapshot, so nothing can take a
            // new reference while the thread drops it. If no thread can be started, the
            // error drops the closure and the snapshots are freed here instead.
            let _ = std::thread::Builder::new()
                .name("lut-reclaim".into())
                .spawn(move || drop(freed));
        }
        held
    }

    fn retire(&self, old: Arc<Snapshot>) {
        self.retired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(old);
        self.reclaim();
    }

    /// The current snapshot. Hold it for a batch of events, not forever: a held snapshot
    /// keeps its tables in memory after a swap.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Publishes a new set of tables atomically.
    pub fn publish(&self, tables: Vec<LiveTable>) {
        let old = self.current.swap(Arc::new(Snapshot::new(tables)));
        self.retire(old);
    }

    /// Removes a table (deleted or disabled) and publishes the result.
    pub fn remove_table(&self, name: &str) {
        let old = self.current.rcu(|cur| {
            Snapshot::new(
                cur.tables()
                    .iter()
                    .filter(|t| t.spec.name != name)
                    .cloned()
                    .collect(),
            )
        });
        self.retire(old);
    }

    /// Replaces (or adds) one table and publishes the result.
    pub fn swap_table(&self, table: LiveTable) {
        let old = self.current.rcu(|cur| {
            let mut tables: Vec<LiveTable> = cur
                .tables()
                .iter()
                .filter(|t| t.spec.name != table.spec.name)
                .cloned()
                .collect();
            tables.push(table.clone());
            Snapshot::new(tables)
        });
        self.retire(old);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::enrich::Enricher;
    use crate::testutil::live_table;

    fn version(v: u32) -> LiveTable {
        let spec = "AnalysisType: lookup_table\nLookupName: t\nEnabled: true\nSchema: S.T\nFilename: f\nLogTypeMap:\n  PrimaryKey: k\n  AssociatedLogTypes:\n    - LogType: A.B\n      Selectors: [k]\n";
        let schema = "schema: S.T\nfields:\n  - {name: k, type: string, required: true}\n  - {name: v, type: int}\n";
        let data: String = (0..50)
            .map(|i| format!("{{\"k\":\"{i}\",\"v\":{v}}}\n"))
            .collect();
        live_table(spec, schema, &data)
    }

    #[test]
    fn publish_and_swap_replace_by_name() {
        let reg = Registry::default();
        assert!(reg.load().tables().is_empty());
        reg.publish(vec![version(1)]);
        let first = reg.load();
        reg.swap_table(version(2));
        let second = reg.load();
        assert_eq!(
            second.tables().len(),
            1,
            "swap replaces the table of the same name"
        );
        assert_eq!(second.tables()[0].table.fragment(0), b"\"k\":\"0\",\"v\":2");
        // A snapshot taken before the swap still sees the old version.
        assert_eq!(first.tables()[0].table.fragment(0), b"\"k\":\"0\",\"v\":1");
    }

    #[test]
    fn replaced_tables_are_freed_by_the_writer_not_the_last_reader() {
        let reg = Registry::default();
        reg.publish(vec![version(1)]);
        let reader = reg.load();
        let old_table = Arc::downgrade(&reader.tables()[0].table);
        reg.swap_table(version(2));
        assert_eq!(reg.reclaim(), 1, "a reader still holds the old snapshot");
        drop(reader);
        // The reader let go, but the old table is still alive: nothing was freed on its
        // path.
        assert!(old_table.upgrade().is_some());
        assert_eq!(reg.reclaim(), 0);
        // Freed on a thread of its own, soon.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while old_table.upgrade().is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(old_table.upgrade().is_none(), "the reclaim thread freed it");
        // Unheld snapshots are freed by the publish itself.
        reg.swap_table(version(3));
        assert_eq!(reg.reclaim(), 0);
    }

    #[test]
    fn readers_never_see_a_mixed_version_during_swaps() {
        let reg = Registry::default();
        reg.publish(vec![version(0)]);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut e = Enricher::new();
                let mut out = Vec::new();
                let mut checked = 0u32;
                while !stop.load(Ordering::Relaxed) || checked == 0 {
                    let snap = reg.load();
                    let mut seen = None;
                    for k in 0..50 {
                        out.clear();
                        let line = format!("{{\"p_log_type\":\"A.B\",\"k\":\"{k}\"}}");
                        e.enrich_line(&snap, line.as_bytes(), None, 0, &mut out);
                        let text = String::from_utf8_lossy(&out);
                        let v = text
                            .rsplit("\"v\":")
                            .next()
                            .unwrap()
                            .trim_end_matches('}')
                            .to_string();
                        assert_eq!(
                            *seen.get_or_insert(v.clone()),
                            v,
                            "one snapshot, one version"
                        );
                    }
                    checked += 1;
                }
                checked
            });
            for v in 1..=30 {
                reg.swap_table(version(v));
            }
            stop.store(true, Ordering::Relaxed);
            assert!(reader.join().unwrap() > 0);
        });
        assert!(reg.load().tables()[0].table.fragment(0).ends_with(b":30"));
    }
}
