//! The `lut` command line: thin commands over the library crates.
//!
//! Exit codes a script can trust: 0 success, 1 invalid input, failed checks or errors,
//! 2 usage error.

mod cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lut",
    version,
    about = "Keep security lookup tables in sync and enrich log events with them"
)]
struct Cli {
    /// Where lut keeps its catalog and table versions.
    #[arg(
        long,
        global = true,
        env = "LUT_DATA_DIR",
        default_value = "./lut-data"
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check lookup-table specs, schemas and data files (every problem is listed).
    Validate(cmd::validate::Args),
    /// Load a directory of specs, schemas and data into the data directory (all or nothing).
    Apply(cmd::apply::Args),
    /// List and inspect the tables in the data directory.
    #[command(subcommand)]
    Tables(cmd::tables::Command),
    /// List and show schemas (stored ones and the copies kept with tables).
    #[command(subcommand)]
    Schemas(cmd::schemas::Command),
    /// Check synced tables' sources now (or keep checking with --watch).
    Sync(cmd::sync::Args),
    /// Show system errors (`lut errors ack ID` acknowledges one).
    Errors(cmd::errors::Args),
    /// Where alerts go: webhook, Slack, PagerDuty, Teams, SNS.
    #[command(subcommand)]
    Destinations(cmd::destinations::Command),
    /// Show the "no data" and "failing" alarms of each table.
    Alarms(cmd::alarms::Args),
    /// Show the service principal, the ExternalId and the role-name prefix.
    Settings(cmd::settings::Args),
    /// Enrich NDJSON events with a spec directory's tables or the data directory's live tables.
    Enrich(cmd::enrich::Args),
    /// Run the HTTP API (with the sync scheduler inside) until Ctrl-C or SIGTERM.
    Serve(cmd::serve::Args),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Tokens(cmd::tokens::Command),
    /// Who changed what: the audit log of API and CLI changes, newest first.
    Audit(cmd::audit::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cmd::init_logging(if matches!(cli.command, Command::Serve(_)) {
        // Targets match by prefix: every lut crate at info, dependencies at warn.
        "warn,lut=info"
    } else {
        "warn"
    });
    let dd = cli.data_dir;
    let result = match cli.command {
        Command::Validate(args) => cmd::validate::run(args),
        Command::Apply(args) => cmd::apply::run(&dd, args),
        Command::Tables(c) => cmd::tables::run(&dd, c),
        Command::Schemas(c) => cmd::schemas::run(&dd, c),
        Command::Sync(args) => cmd::sync::run(&dd, args),
        Command::Errors(args) => cmd::errors::run(&dd, args),
        Command::Destinations(c) => cmd::destinations::run(&dd, c),
        Command::Alarms(args) => cmd::alarms::run(&dd, args),
        Command::Settings(args) => cmd::settings::run(&dd, args),
        Command::Enrich(args) => cmd::enrich::run(&dd, args),
        Command::Serve(args) => cmd::serve::run(&dd, args),
        Command::Tokens(c) => cmd::tokens::run(&dd, c),
        Command::Audit(args) => cmd::audit::run(&dd, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lut: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
