//! `lut sync [NAME...]`: check tables' sources now, one line per table; `--watch` runs the
//! scheduler in the foreground until Ctrl-C.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};
use lut_core::registry::Registry;
use lut_service::sync::{CheckOutcome, Phase, Scheduler, SchedulerSettings, SyncEvent};
use lut_store::Catalog;

use super::state;

#[derive(clap::Args)]
pub struct Args {
    /// Tables to check (default: every enabled table that syncs from a source).
    names: Vec<String>,
    /// Keep checking every table on its period until interrupted.
    #[arg(long)]
    watch: bool,
    /// Checks running at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

pub fn run(data_dir: &Path, args: Args) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let rt = state::runtime()?;
    rt.block_on(async move {
        let registry = Arc::new(Registry::default());
        if args.watch {
            let engine = state::engine(&dd, registry)
                .await?
                .with_observer(print_event);
            let problems = engine.load_live().await?;
            for p in problems {
                eprintln!("lut: warning: {}: {}", p.table, p.message);
            }
            let (scheduler, _handle) = Scheduler::new(
                Arc::new(engine),
                SchedulerSettings {
                    max_concurrent: args.concurrency,
                    ..SchedulerSettings::default()
                },
            );
            // Alarms and alerts (SPEC §7): evaluated every minute beside the scheduler.
            let clock: Arc<dyn lut_service::alarms::Clock> =
                Arc::new(lut_service::alarms::SystemClock);
            let notifier = lut_service::alarms::Notifier::new(
                lut_service::destinations::Dispatcher::new(
                    dd.catalog(),
                    dd.secret_key()?,
                    clock.clone(),
                    lut_service::destinations::DeliverySettings::default(),
                ),
                clock,
                lut_service::alarms::NotifierSettings {
                    reminder_interval: reminder_interval()?,
                    ..lut_service::alarms::NotifierSettings::default()
                },
            );
            let notifier = tokio::spawn(notifier.run());
            eprintln!("lut: watching {} (Ctrl-C stops)", data_dir.display());
            scheduler
                .run(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await;
            notifier.abort();
            eprintln!("lut: stopped");
            return Ok(ExitCode::SUCCESS);
        }
        let bars = Bars::new();
        let progress = bars.clone();
        let engine =
            state::engine(&dd, registry)
                .await?
                .with_progress(move |table, phase, done, total| {
                    progress.update(table, phase, done, total)
                });
        let catalog = dd.catalog();
        let names: Vec<String> = if args.names.is_empty() {
            catalog
                .tables()?
                .into_iter()
                .filter(|t| t.enabled && t.source_kind != "file")
                .map(|t| t.name)
                .collect()
        } else {
            for n in &args.names {
                if catalog.table(n)?.is_none() {
                    bail!("no table named {n:?} in {}", data_dir.display());
                }
            }
            args.names.clone()
        };
        if names.is_empty() {
            println!("no tables to sync");
        }
        let mut failed = 0;
        for name in names {
            let outcome = engine.check(&name).await?;
            bars.finish(&name);
            if outcome.is_failure() {
                failed += 1;
            }
            println!("{name}: {}", describe(&outcome));
        }
        Ok(if failed > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

fn describe(o: &CheckOutcome) -> String {
    match o {
        CheckOutcome::Unchanged => "unchanged".into(),
        CheckOutcome::Updated { version, report } => {
            let mut s = format!("updated to version {} ({} rows", version.id, version.rows);
            if report.rows_invalid > 0 {
                s.push_str(&format!(", {} invalid rows skipped", report.rows_invalid));
            }
            s.push(')');
            s
        }
        CheckOutcome::RecordedWhilePinned { version } => {
            format!(
                "new version {} recorded; the table is pinned, so it is not live",
                version.id
            )
        }
        CheckOutcome::Failed(f) => format!("failed at {f} — {}", f.remedy),
        CheckOutcome::NotSynced(why) => format!("not synced: {why}"),
    }
}

fn print_event(ev: &SyncEvent) {
    match ev {
        SyncEvent::TableLoaded {
            table,
            version,
            rows,
        } => {
            eprintln!("lut: {table}: serving version {version} ({rows} rows)")
        }
        SyncEvent::TableUnchanged { table } => eprintln!("lut: {table}: unchanged"),
        SyncEvent::TableSwapped {
            table,
            version,
            rows,
            skipped_rows,
        } => {
            eprintln!("lut: {table}: version {version} live ({rows} rows, {skipped_rows} skipped)")
        }
        SyncEvent::SyncFailed { table, failure } => {
            eprintln!("lut: {table}: failed at {failure} — {}", failure.remedy)
        }
        // Each outcome above already said what happened.
        SyncEvent::CheckFinished { .. } => {}
    }
}

/// Progress of downloads and builds on stderr: bars on a terminal; otherwise (logs, CI)
/// a plain line each time a phase of a large object passes another quarter.
#[derive(Clone)]
enum Bars {
    Terminal {
        multi: indicatif::MultiProgress,
        bars: Arc<std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>>,
    },
    Plain {
        /// (table, phase) -> quarters already reported.
        seen: Arc<std::sync::Mutex<std::collections::HashMap<(String, &'static str), u64>>>,
    },
}

/// Objects smaller than this finish too fast for plain progress lines to help.
const PLAIN_MIN_BYTES: u64 = 64 << 20;

impl Bars {
    fn new() -> Bars {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            Bars::Terminal {
                multi: indicatif::MultiProgress::new(),
                bars: Arc::default(),
            }
        } else {
            Bars::Plain {
                seen: Arc::default(),
            }
        }
    }

    fn update(&self, table: &str, phase: Phase, done: u64, total: Option<u64>) {
        let what = match phase {
            Phase::Downloading => "downloading",
            Phase::Building => "validating",
        };
        match self {
            Bars::Terminal { multi, bars } => {
                let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
                let bar = bars.entry(table.to_string()).or_insert_with(|| {
                    let bar = multi.add(indicatif::ProgressBar::new(0));
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{msg:>32} {bar:30} {bytes}/{total_bytes} ({eta})",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    bar
                });
                bar.set_message(format!("{table}: {what}"));
                bar.set_length(total.unwrap_or(done));
                bar.set_position(done);
            }
            Bars::Plain { seen } => {
                let Some(total) = total.filter(|t| *t >= PLAIN_MIN_BYTES) else {
                    return;
                };
                let quarter = done.saturating_mul(4) / total;
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                let last = seen.entry((table.to_string(), what)).or_insert(0);
                if quarter > *last {
                    *last = quarter;
                    eprintln!("lut: {table}: {what} {} of {} MiB", done >> 20, total >> 20);
                }
            }
        }
    }

    fn finish(&self, table: &str) {
        match self {
            Bars::Terminal { bars, .. } => {
                let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(bar) = bars.remove(table) {
                    bar.finish_and_clear();
                }
            }
            Bars::Plain { seen } => {
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                seen.retain(|(t, _), _| t != table);
            }
        }
    }
}

/// `LUT_ALARM_REMINDER_MINUTES` (default 1440: a reminder a day while an alarm lasts).
fn reminder_interval() -> Result<std::time::Duration> {
    let minutes = match std::env::var("LUT_ALARM_REMINDER_MINUTES") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<u64>().map_err(|_| {
            anyhow::anyhow!("LUT_ALARM_REMINDER_MINUTES must be a whole number of minutes")
        })?,
        _ => 24 * 60,
    };
    Ok(std::time::Duration::from_secs(minutes.max(1) * 60))
}
