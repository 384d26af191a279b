//! `lut alarms`: the state of every table's "no data" and "failing" alarm.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use lut_store::Catalog;

use super::{state, time, Format};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub fn run(data_dir: &Path, args: Args) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let alarms = dd.catalog().alarms()?;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&alarms)?);
        return Ok(ExitCode::SUCCESS);
    }
    if alarms.is_empty() {
        println!("no alarms evaluated yet (tables need Refresh.AlarmPeriodMinutes, and `lut sync --watch` evaluates them)");
    }
    for a in alarms {
        let reminders = if a.reminders > 0 {
            format!(", {} reminder(s)", a.reminders)
        } else {
            String::new()
        };
        println!(
            "{} {} {} since {}{}",
            a.table,
            a.kind,
            a.state,
            time(a.since),
            reminders
        );
    }
    Ok(ExitCode::SUCCESS)
}
