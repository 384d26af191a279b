//! The `lut` command line: thin commands over `lut-core`.
//!
//! Exit codes a script can trust: 0 success, 1 invalid input or specs, 2 usage error.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lut",
    version,
    about = "Keep security lookup tables in sync and enrich log events with them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check lookup-table specs, schemas and data files (every problem is listed).
    Validate(cmd::validate::Args),
    /// Enrich NDJSON events with the tables of a spec directory.
    Enrich(cmd::enrich::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => cmd::validate::run(args),
        Command::Enrich(args) => cmd::enrich::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lut: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
