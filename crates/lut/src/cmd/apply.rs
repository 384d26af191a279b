//! `lut apply DIR`: load definitions and `Filename` data into the data directory as one
//! change (all or nothing), showing what is added, changed, left and removed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use lut_core::project::{self, LoadOptions};
use lut_core::spec::SpecOptions;
use lut_service::definitions::{self, PlanOptions};

use super::{fails, print_diagnostics, state};

#[derive(clap::Args)]
pub struct Args {
    /// Directory of specs, schemas and data files.
    dir: PathBuf,
    /// Show what would change without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Also remove tables the directory no longer defines.
    #[arg(long)]
    prune: bool,
}

impl Args {
    /// Applies `dir` without pruning (what `lut serve --apply DIR` does at start).
    pub fn dir(dir: PathBuf) -> Args {
        Args {
            dir,
            dry_run: false,
            prune: false,
        }
    }
}

pub fn run(data_dir: &Path, args: Args) -> Result<ExitCode> {
    let opts = LoadOptions {
        spec: SpecOptions {
            role_prefix: state::role_prefix(),
        },
        load_data: true,
    };
    let p = project::load(std::slice::from_ref(&args.dir), &opts);
    print_diagnostics(&p.diagnostics);
    if fails(&p.diagnostics, false) || p.spec_count() == 0 {
        if p.spec_count() == 0 {
            eprintln!("lut: no lookup-table spec found in {}", args.dir.display());
        }
        eprintln!("lut: nothing applied: fix the problems above first");
        return Ok(ExitCode::from(1));
    }
    let dd = state::open(data_dir)?;
    let catalog = dd.catalog();
    let source_for = |path: &Path| format!("file://{}", path.display());
    let plan = definitions::plan(
        &p,
        catalog.as_ref(),
        dd.blobs(),
        &PlanOptions {
            prune: args.prune,
            source_for: &source_for,
            keep_enabled: false,
        },
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let dir = args.dir.display().to_string();
    for item in &plan.items {
        println!("{}", item.line(&dir));
    }
    let changes = plan.changes();
    if args.dry_run {
        plan.discard();
        println!("dry run: {changes} change(s) not applied");
        return Ok(ExitCode::SUCCESS);
    }
    // Recorded in the apply's own transaction: one entry per changed table.
    let entries = plan.audit_entries(&super::audit::actor(), "bundle.apply");
    plan.commit_audited(catalog.as_ref(), dd.blobs(), &entries)
        .map_err(|e| anyhow::anyhow!(e))?;
    println!("applied {changes} change(s) to {}", data_dir.display());
    Ok(ExitCode::SUCCESS)
}
