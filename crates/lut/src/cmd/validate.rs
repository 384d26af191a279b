//! `lut validate PATH...`: check specs, schemas and data; exit 1 on any problem.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use lut_core::diag::Diagnostic;
use lut_core::project::{self, LoadOptions};
use lut_core::spec::SpecOptions;
use serde::Serialize;

use super::{fails, print_diagnostics};

#[derive(clap::Args)]
pub struct Args {
    /// Spec directories or files (searched recursively for *.yml / *.yaml).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Treat warnings (such as skipped SQL tables) as failures.
    #[arg(long)]
    strict: bool,
    /// Prefix of the IAM role names lut creates; other role names get a warning.
    #[arg(long, default_value = lut_core::aws::DEFAULT_ROLE_PREFIX, env = "LUT_ROLE_PREFIX")]
    role_prefix: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    valid: bool,
    tables: Vec<&'a str>,
    skipped: Vec<&'a str>,
    schemas: Vec<&'a str>,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<&'a Diagnostic>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let opts = LoadOptions {
        spec: SpecOptions {
            role_prefix: args.role_prefix.clone(),
        },
        load_data: true,
    };
    let mut p = project::load(&args.paths, &opts);
    if p.spec_count() == 0 {
        let where_ = args
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        p.diagnostics.push(Diagnostic::error(
            "no-specs",
            format!("no lookup-table spec (a YAML file with AnalysisType: lookup_table) found in {where_}"),
        ));
    }
    let failed = fails(&p.diagnostics, args.strict);
    match args.format {
        Format::Json => {
            let report = JsonReport {
                valid: !failed,
                tables: p.tables.iter().map(|t| t.spec.name.as_str()).collect(),
                skipped: p.skipped.iter().map(|s| s.name.as_str()).collect(),
                schemas: p.schemas.iter().map(|s| s.name.as_str()).collect(),
                errors: p.diagnostics.error_count(),
                warnings: p.diagnostics.warning_count(),
                diagnostics: p.diagnostics.iter().collect(),
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Format::Text => {
            print_diagnostics(&p.diagnostics);
            let rows: u64 = p
                .tables
                .iter()
                .filter_map(|t| t.built.as_ref())
                .map(|b| b.report.rows_loaded)
                .sum();
            let data_files = p.tables.iter().filter(|t| t.built.is_some()).count();
            eprintln!(
                "{}: {} lookup table(s) ({} skipped), {} schema(s), {} data file(s) with {} rows; {} error(s), {} warning(s)",
                if failed { "invalid" } else { "valid" },
                p.tables.len(),
                p.skipped.len(),
                p.schemas.len(),
                data_files,
                rows,
                p.diagnostics.error_count(),
                p.diagnostics.warning_count(),
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
