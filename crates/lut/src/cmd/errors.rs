//! `lut errors`: system errors (failed syncs and the like), newest first; `lut errors ack
//! ID` acknowledges one.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use lut_store::{Catalog, ErrorFilter};

use super::{state, time, Format};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Only this table's errors.
    #[arg(long)]
    table: Option<String>,
    /// Include resolved errors.
    #[arg(long)]
    all: bool,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Acknowledge an error (it stays open until a good check resolves it).
    Ack { id: i64 },
}

pub fn run(data_dir: &Path, args: Args) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    if let Some(Command::Ack { id }) = args.command {
        if !dd
            .catalog()
            .acknowledge_error(id, lut_store::now_millis())?
        {
            anyhow::bail!("no system error #{id}");
        }
        super::audit::record(
            dd.catalog().as_ref(),
            lut_store::NewAuditEntry::new(&super::audit::actor(), "error.ack")
                .target(id.to_string()),
        );
        println!("acknowledged error #{id}");
        return Ok(ExitCode::SUCCESS);
    }
    let errors = dd.catalog().errors(&ErrorFilter {
        table: args.table,
        all: args.all,
    })?;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&errors)?);
        return Ok(ExitCode::SUCCESS);
    }
    if errors.is_empty() {
        println!("no {}system errors", if args.all { "" } else { "open " });
        return Ok(ExitCode::SUCCESS);
    }
    for e in errors {
        let state = match (e.resolved_at, e.acknowledged_at) {
            (Some(r), _) => format!("resolved {}", time(r)),
            (None, Some(_)) => "open, acknowledged".to_string(),
            (None, None) => "open".to_string(),
        };
        println!(
            "#{} {} {} {}{} — {} (seen {}×, first {}, last {}; {})",
            e.id,
            e.severity,
            e.table.as_deref().unwrap_or("-"),
            e.stage,
            e.code
                .as_ref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            e.message,
            e.count,
            time(e.first_seen),
            time(e.last_seen),
            state
        );
        println!("    what to do: {}", e.remedy);
    }
    Ok(ExitCode::SUCCESS)
}
