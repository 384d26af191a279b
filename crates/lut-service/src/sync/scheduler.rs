//! [`Scheduler`]: runs [`SyncEngine::check`] for every enabled synced table on its period.
//!
//! Each table is due `period ± jitter` after its last check. A failing table backs off
//! (doubling, never more often than its period, at most `max_backoff`). A semaphore caps
//! the checks running at once. The table list is re-read from the catalog every few
//! seconds, so tables applied by the CLI while a server runs are picked up. `sync_now`
//! requests go through the same cap.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lut_core::project::parse_definition;
use lut_store::Millis;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::engine::{CheckOutcome, SyncEngine};

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Checks running at once.
    pub max_concurrent: usize,
    /// How often the table list is re-read from the catalog.
    pub rescan_every: Duration,
    /// Fraction of the period by which a due time is moved at random (spreads load).
    pub jitter: f64,
    /// Longest wait between checks of a failing table.
    pub max_backoff: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            max_concurrent: 4,
            rescan_every: Duration::from_secs(5),
            jitter: 0.1,
            max_backoff: Duration::from_secs(6 * 3600),
        }
    }
}

enum Command {
    SyncNow {
        table: String,
        reply: oneshot::Sender<Result<CheckOutcome, String>>,
    },
}

/// Asks a running scheduler for things.
#[derive(Clone)]
pub struct SchedulerHandle {
    tx: mpsc::Sender<Command>,
}

impl SchedulerHandle {
    /// Checks `table` now (through the concurrency cap) and returns the outcome.
    pub async fn sync_now(&self, table: &str) -> Result<CheckOutcome, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::SyncNow {
                table: table.to_string(),
                reply,
            })
            .await
            .map_err(|_| "the scheduler is not running".to_string())?;
        rx.await.map_err(|_| "the scheduler stopped".to_string())?
    }
}

struct Entry {
    updated_at: Millis,
    period: Duration,
    due: Instant,
    failures: u32,
    running: bool,
}

pub struct Scheduler {
    engine: Arc<SyncEngine>,
    settings: SchedulerSettings,
    rx: mpsc::Receiver<Command>,
    entries: HashMap<String, Entry>,
}

impl Scheduler {
    pub fn new(
        engine: Arc<SyncEngine>,
        settings: SchedulerSettings,
    ) -> (Scheduler, SchedulerHandle) {
        let (tx, rx) = mpsc::channel(64);
        (
            Scheduler {
                engine,
                settings,
                rx,
                entries: HashMap::new(),
            },
            SchedulerHandle { tx },
        )
    }

    /// Runs until `shutdown` resolves; running checks are then cancelled at their next
    /// await point, which never leaves partial state (an unreferenced blob at worst).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let sem = Arc::new(Semaphore::new(self.settings.max_concurrent.max(1)));
        let mut tasks: JoinSet<TaskResult> = JoinSet::new();
        let mut rescan = tokio::time::interval(self.settings.rescan_every);
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next_due = self
                .entries
                .values()
                .filter(|e| !e.running)
                .map(|e| e.due)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = &mut shutdown => break,
                _ = rescan.tick() => self.rescan(),
                Some(cmd) = self.rx.recv() => match cmd {
                    Command::SyncNow { table, reply } => {
                        if let Some(e) = self.entries.get_mut(&table) {
                            e.running = true;
                        }
                        spawn_check(&mut tasks, &self.engine, &sem, table, Some(reply));
                    }
                },
                _ = tokio::time::sleep_until(next_due) => {
                    let now = Instant::now();
                    let due: Vec<String> = self
                        .entries
                        .iter()
                        .filter(|(_, e)| !e.running && e.due <= now)
                        .map(|(n, _)| n.clone())
                        .collect();
                    for name in due {
                        if let Some(e) = self.entries.get_mut(&name) {
                            e.running = true;
                        }
                        spawn_check(&mut tasks, &self.engine, &sem, name, None);
                    }
                }
                Some(done) = tasks.join_next() => {
                    if let Ok((name, outcome, reply)) = done {
                        self.finished(&name, outcome.as_ref());
                        if let Some(reply) = reply {
                            let _ = reply.send(outcome.ok_or_else(|| format!("table {name:?} could not be checked (see the log)")));
                        }
                    }
                }
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }

    /// Re-reads the table list: new tables become due soon (or when their last check says),
    /// changed ones take their new period, removed or disabled ones are dropped.
    fn rescan(&mut self) {
        let catalog = self.engine.catalog();
        let tables = match catalog.tables() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the table list");
                return;
            }
        };
        let settings = self.engine.spec_options().clone();
        let mut seen = Vec::with_capacity(tables.len());
        for rec in tables {
            if !rec.enabled {
                continue;
            }
            if let Some(e) = self.entries.get(&rec.name) {
                if e.updated_at == rec.updated_at {
                    seen.push(rec.name);
                    continue;
                }
            }
            let Ok((spec, _)) = parse_definition(&rec.spec_yaml, &rec.schema_yaml, &settings)
            else {
                continue;
            };
            let Some(minutes) = spec.source.period_minutes() else {
                continue;
            };
            let period = Duration::from_secs(u64::from(minutes) * 60);
            let last = catalog
                .checks(&rec.name, 1)
                .ok()
                .and_then(|c| c.into_iter().next());
            let due = match (&self.entries.get(&rec.name), last) {
                (Some(e), _) => e.due.min(Instant::now() + period),
                (None, Some(last)) => {
                    let since = (lut_store::datadir::now_millis() - last.at).max(0) as u64;
                    Instant::now() + period.saturating_sub(Duration::from_millis(since))
                }
                (None, None) => Instant::now() + self.jittered(Duration::from_secs(2)),
            };
            let (failures, running) = self
                .entries
                .get(&rec.name)
                .map_or((0, false), |e| (e.failures, e.running));
            self.entries.insert(
                rec.name.clone(),
                Entry {
                    updated_at: rec.updated_at,
                    period,
                    due,
                    failures,
                    running,
                },
            );
            seen.push(rec.name);
        }
        self.entries.retain(|name, _| seen.contains(name));
    }

    fn finished(&mut self, name: &str, outcome: Option<&CheckOutcome>) {
        let max_backoff = self.settings.max_backoff;
        let jitter = self.settings.jitter;
        let Some(e) = self.entries.get_mut(name) else {
            return;
        };
        e.running = false;
        let wait = match outcome {
            Some(CheckOutcome::Failed(_)) | None => {
                e.failures = e.failures.saturating_add(1);
                let factor = 1u32 << e.failures.saturating_sub(1).min(16);
                e.period
                    .saturating_mul(factor)
                    .min(max_backoff.max(e.period))
            }
            Some(_) => {
                e.failures = 0;
                e.period
            }
        };
        e.due = Instant::now() + jitter_by(wait, jitter);
    }

    fn jittered(&self, d: Duration) -> Duration {
        jitter_by(d, self.settings.jitter)
    }
}

/// `d` moved by up to `±fraction` at random; never below zero.
fn jitter_by(d: Duration, fraction: f64) -> Duration {
    let f = 1.0 + fraction * (fastrand::f64() * 2.0 - 1.0);
    d.mul_f64(f.max(0.0))
}

type TaskResult = (
    String,
    Option<CheckOutcome>,
    Option<oneshot::Sender<Result<CheckOutcome, String>>>,
);

fn spawn_check(
    tasks: &mut JoinSet<TaskResult>,
    engine: &Arc<SyncEngine>,
    sem: &Arc<Semaphore>,
    table: String,
    reply: Option<oneshot::Sender<Result<CheckOutcome, String>>>,
) {
    let engine = engine.clone();
    let sem = sem.clone();
    tasks.spawn(async move {
        let _permit = sem.acquire_owned().await.ok();
        let outcome = match engine.check(&table).await {
            Ok(o) => Some(o),
            Err(e) => {
                tracing::error!(table, error = %e, "check failed in the catalog");
                None
            }
        };
        (table, outcome, reply)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds() {
        let d = Duration::from_secs(100);
        for _ in 0..1000 {
            let j = jitter_by(d, 0.1);
            assert!(
                j >= Duration::from_secs(90) && j <= Duration::from_secs(110),
                "{j:?}"
            );
        }
        assert_eq!(jitter_by(d, 0.0), d);
    }
}
