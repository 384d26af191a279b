//! Alarms and the notifier (SPEC §7).
//!
//! Every enabled synced table with an alarm period (`Refresh.AlarmPeriodMinutes`) has two
//! alarms, evaluated on a [`Clock`]:
//!
//! - `no_data`: no new version received for the period — measured from the newest
//!   version's `fetched_at`, or from the table's `created_at` if it has none;
//! - `failing`: every check has failed for the period — measured from the oldest check of
//!   the unbroken run of failed checks that ends with the newest check.
//!
//! Each goes OK → ALARM → OK with one notification per transition, and a reminder every
//! `reminder_interval` while in ALARM. The state lives in the catalog (`alarms`), so a
//! restart neither forgets an alarm nor repeats its notification.
//!
//! System errors are notified by the same evaluation: every open CRITICAL error not yet
//! notified is sent once and marked (`notified_at`); repeats of it only increase its count
//! in the catalog, so they notify nothing. When a notified error is resolved (the next good
//! check) its resolution is sent once. Scanning the catalog rather than hooking the sync
//! engine's events means errors raised by any process (`lut sync` from the CLI while
//! `lut sync --watch` runs) are notified, and nothing is lost across a restart.
//!
//! Delivery is at least once: the state is stored after the alert has gone out, so a
//! crash in between may repeat one alert, but never loses one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lut_core::project::parse_definition;
use lut_core::spec::SpecOptions;
use lut_store::{AlarmRecord, Catalog, Millis, StoreError, SystemErrorRecord};

use crate::destinations::{Alert, AlertKind, Dispatcher};

/// The time alarms are evaluated at.
pub trait Clock: Send + Sync {
    fn now(&self) -> Millis;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        lut_store::now_millis()
    }
}

/// A clock tests set and advance.
#[derive(Debug, Default)]
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn new(at: Millis) -> TestClock {
        TestClock(AtomicI64::new(at))
    }
    pub fn set(&self, at: Millis) {
        self.0.store(at, Ordering::SeqCst);
    }
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(
            i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
    }
}

impl Clock for TestClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// The two alarm kinds.
pub const NO_DATA: &str = "no_data";
pub const FAILING: &str = "failing";
pub const OK: &str = "OK";
pub const ALARM: &str = "ALARM";

#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// Between reminders while an alarm stays in ALARM (default 24 h).
    pub reminder_interval: Duration,
    /// Between evaluations in [`Notifier::run`] (default 1 min).
    pub evaluate_every: Duration,
    pub spec: SpecOptions,
    /// Base of the `link` in alerts (e.g. the console's URL); `lut://` until one exists.
    pub link_base: String,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        NotifierSettings {
            reminder_interval: Duration::from_secs(24 * 3600),
            evaluate_every: Duration::from_secs(60),
            spec: SpecOptions::default(),
            link_base: "lut://".into(),
        }
    }
}

/// Evaluates alarms and pending error notifications and sends alerts.
pub struct Notifier {
    dispatcher: Dispatcher,
    clock: Arc<dyn Clock>,
    settings: NotifierSettings,
}

fn ms(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

impl Notifier {
    pub fn new(dispatcher: Dispatcher, clock: Arc<dyn Clock>, settings: NotifierSettings) -> Self {
        Notifier {
            dispatcher,
            clock,
            settings,
        }
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    fn catalog(&self) -> &Arc<dyn Catalog> {
        self.dispatcher.catalog()
    }

    fn link(&self, table: Option<&str>) -> String {
        let base = self.settings.link_base.trim_end_matches('/');
        let sep = if base.ends_with(':') { "//" } else { "/" };
        match table {
            Some(t) => format!("{base}{sep}tables/{t}"),
            None => format!("{base}{sep}errors"),
        }
    }

    /// Evaluates every minute until the task is dropped.
    pub async fn run(self) {
        loop {
            if let Err(e) = self.evaluate().await {
                tracing::warn!(error = %e, "alarm evaluation failed");
            }
            tokio::time::sleep(self.settings.evaluate_every).await;
        }
    }

    /// One evaluation: alarms, then pending error notifications. Returns the alerts
    /// produced (each was delivered to every destination that wants it).
    pub async fn evaluate(&self) -> Result<Vec<Alert>, StoreError> {
        let mut out = self.evaluate_alarms().await?;
        out.extend(self.evaluate_errors().await?);
        Ok(out)
    }

    async fn evaluate_alarms(&self) -> Result<Vec<Alert>, StoreError> {
        let now = self.clock.now();
        let catalog = self.catalog().clone();
        let mut stored: HashMap<(String, String), AlarmRecord> = catalog
            .alarms()?
            .into_iter()
            .map(|a| ((a.table.clone(), a.kind.clone()), a))
            .collect();
        let mut out = Vec::new();
        for rec in catalog.tables()? {
            if !rec.enabled {
                continue;
            }
            let Ok((spec, _)) =
                parse_definition(&rec.spec_yaml, &rec.schema_yaml, &self.settings.spec)
            else {
                continue;
            };
            let Some(minutes) = spec.source.alarm_period_minutes() else {
                continue;
            };
            let period = i64::from(minutes) * 60_000;
            // no data
            let last_data = catalog
                .latest_version(&rec.name)?
                .map_or(rec.created_at, |v| v.fetched_at);
            let no_data = (now - last_data >= period).then_some(last_data);
            // failing
            let checks = catalog.checks(&rec.name, usize::MAX)?;
            let failing_since = checks
                .iter()
                .take_while(|c| c.outcome == "failed")
                .last()
                .map(|c| c.at);
            let failing = failing_since.filter(|s| now - s >= period);
            let last_failure = checks.first().filter(|c| c.outcome == "failed");

            for (kind, since) in [(NO_DATA, no_data), (FAILING, failing)] {
                let key = (rec.name.clone(), kind.to_string());
                let existed = stored.remove(&key);
                let is_new = existed.is_none();
                let cur = existed.unwrap_or(AlarmRecord {
                    table: rec.name.clone(),
                    kind: kind.to_string(),
                    state: OK.into(),
                    since: now,
                    last_notified_at: None,
                    reminders: 0,
                });
                let (title, message, remedy) = match kind {
                    NO_DATA => (
                        format!("No data for table {} for {minutes} min", rec.name),
                        format!(
                            "No new version of table {} has been received for {} (alarm period {minutes} min); lookups use stale data.",
                            rec.name,
                            human(now - last_data)
                        ),
                        "Check that the producer still writes the object, that the role can read it (`lut errors --table ...`), and run `lut sync NAME`.".to_string(),
                    ),
                    _ => (
                        format!("Every check of table {} has failed for {minutes} min", rec.name),
                        match last_failure {
                            Some(c) => format!(
                                "Every check of table {} has failed since {}; the last failure: {}{}: {}",
                                rec.name,
                                crate::destinations::payload::iso(failing_since.unwrap_or(now)),
                                c.stage.as_deref().unwrap_or("?"),
                                c.code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default(),
                                c.message.as_deref().unwrap_or("")
                            ),
                            None => format!("Checks of table {} succeed again.", rec.name),
                        },
                        "See `lut errors --table NAME` for the cause and what to do.".to_string(),
                    ),
                };
                let mk = |k: AlertKind, since: Millis| Alert {
                    kind: k,
                    table: Some(rec.name.clone()),
                    severity: "HIGH".into(),
                    stage: Some(kind.to_string()),
                    code: None,
                    title: match k {
                        AlertKind::AlarmResolved => format!("Resolved: {title}"),
                        AlertKind::AlarmReminder => format!("Still in alarm: {title}"),
                        _ => title.clone(),
                    },
                    message: message.clone(),
                    remedy: remedy.clone(),
                    since,
                    at: now,
                    dedup_key: format!("lut/{}/{kind}", rec.name),
                    link: self.link(Some(&rec.name)),
                };
                let next = match (cur.state.as_str(), since) {
                    (ALARM, Some(_)) => {
                        let due = cur
                            .last_notified_at
                            .is_none_or(|l| now - l >= ms(self.settings.reminder_interval));
                        if !due {
                            continue;
                        }
                        let a = mk(AlertKind::AlarmReminder, cur.since);
                        self.dispatcher.broadcast(&a).await;
                        out.push(a);
                        AlarmRecord {
                            last_notified_at: Some(now),
                            reminders: cur.reminders + 1,
                            ..cur
                        }
                    }
                    (_, Some(s)) => {
                        let a = mk(AlertKind::AlarmTriggered, s);
                        self.dispatcher.broadcast(&a).await;
                        out.push(a);
                        AlarmRecord {
                            state: ALARM.into(),
                            since: now,
                            last_notified_at: Some(now),
                            reminders: 0,
                            ..cur
                        }
                    }
                    (ALARM, None) => {
                        let a = mk(AlertKind::AlarmResolved, cur.since);
                        self.dispatcher.broadcast(&a).await;
                        out.push(a);
                        AlarmRecord {
                            state: OK.into(),
                            since: now,
                            last_notified_at: Some(now),
                            reminders: 0,
                            ..cur
                        }
                    }
                    (_, None) => {
                        if !is_new {
                            continue;
                        }
                        cur
                    }
                };
                catalog.put_alarm(&next)?;
            }
        }
        Ok(out)
    }

    async fn evaluate_errors(&self) -> Result<Vec<Alert>, StoreError> {
        let catalog = self.catalog().clone();
        let mut out = Vec::new();
        for e in catalog.errors_to_notify()? {
            let a = self.error_alert(&e, AlertKind::ErrorRaised);
            self.dispatcher.broadcast(&a).await;
            catalog.mark_error_notified(e.id, false, self.clock.now())?;
            out.push(a);
        }
        for e in catalog.resolutions_to_notify()? {
            let a = self.error_alert(&e, AlertKind::ErrorResolved);
            self.dispatcher.broadcast(&a).await;
            catalog.mark_error_notified(e.id, true, self.clock.now())?;
            out.push(a);
        }
        Ok(out)
    }

    fn error_alert(&self, e: &SystemErrorRecord, kind: AlertKind) -> Alert {
        let what = match &e.table {
            Some(t) => format!("table {t}"),
            None => "lut".to_string(),
        };
        let title = match kind {
            AlertKind::ErrorResolved => {
                format!("Resolved: {} error in {what} at {}", e.severity, e.stage)
            }
            _ => format!("{} error in {what} at {}", e.severity, e.stage),
        };
        Alert {
            kind,
            table: e.table.clone(),
            severity: e.severity.clone(),
            stage: Some(e.stage.clone()),
            code: e.code.clone(),
            title,
            message: e.message.clone(),
            remedy: e.remedy.clone(),
            since: e.first_seen,
            at: e.resolved_at.unwrap_or(e.last_seen),
            dedup_key: format!(
                "lut/{}/{}/{}",
                e.table.as_deref().unwrap_or("-"),
                e.stage,
                e.code.as_deref().unwrap_or("-")
            ),
            link: self.link(e.table.as_deref()),
        }
    }
}

/// `2 h 5 min` for a duration in milliseconds.
fn human(ms: Millis) -> String {
    let min = ms.max(0) / 60_000;
    match (min / 60, min % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}
