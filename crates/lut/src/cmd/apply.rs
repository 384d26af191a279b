//! `lut apply DIR`: load definitions and `Filename` data into the data directory as one
//! change (all or nothing), showing what is added, changed, left and removed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use lut_core::project::{self, LoadOptions};
use lut_core::spec::SpecOptions;
use lut_store::{Catalog, DefinitionChange, NewVersion, TableRecord};
use sha2::{Digest, Sha256};

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

enum Plan {
    Add,
    Change(Vec<&'static str>),
    Same,
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
    let existing: HashMap<String, TableRecord> = catalog
        .tables()?
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let now = lut_store::now_millis();
    let mut change = DefinitionChange::default();
    let mut staged: Vec<(PathBuf, String)> = Vec::new();
    let mut lines = Vec::new();
    for t in &p.tables {
        let spec_file = t.spec.file.as_ref().context("spec without a file")?;
        let schema = t.schema.as_ref().context("spec without a schema")?;
        let schema_file = schema.file.as_ref().context("schema without a file")?;
        let spec_yaml = std::fs::read_to_string(spec_file)?;
        let schema_yaml = std::fs::read_to_string(schema_file)?;
        let old = existing.get(&t.spec.name);
        let record = TableRecord {
            name: t.spec.name.clone(),
            enabled: t.spec.enabled,
            spec_yaml,
            schema_name: schema.name.clone(),
            schema_yaml,
            source_kind: t.spec.source.kind().to_string(),
            created_at: old.map_or(now, |o| o.created_at),
            updated_at: now,
        };
        let mut plan = match old {
            None => Plan::Add,
            Some(o) => {
                let mut what = Vec::new();
                if o.spec_yaml != record.spec_yaml {
                    what.push("spec");
                }
                if o.schema_yaml != record.schema_yaml {
                    what.push("schema");
                }
                if what.is_empty() {
                    Plan::Same
                } else {
                    Plan::Change(what)
                }
            }
        };
        let mut detail = t.spec.source.kind().to_string();
        if let (Some(path), Some(built)) = (&t.data_path, &t.built) {
            let live = catalog.live_version(&t.spec.name)?;
            let (tmp, sha, size) = stage_file(dd.blobs().tmp_dir().as_path(), path)?;
            if live.as_ref().map(|v| v.sha256.as_str()) != Some(sha.as_str()) {
                change.versions.push(NewVersion {
                    table: t.spec.name.clone(),
                    etag: None,
                    size,
                    sha256: sha.clone(),
                    rows: built.table.len() as u64,
                    source: format!("file://{}", path.display()),
                    fetched_at: now,
                });
                staged.push((tmp, sha));
                plan = match plan {
                    Plan::Same => Plan::Change(vec!["data"]),
                    Plan::Change(mut w) => {
                        w.push("data");
                        Plan::Change(w)
                    }
                    Plan::Add => Plan::Add,
                };
            } else {
                let _ = std::fs::remove_file(tmp);
            }
            detail = format!("file, {} rows", built.table.len());
        }
        match &plan {
            Plan::Add => lines.push(format!("+ add     {} ({detail})", t.spec.name)),
            Plan::Change(w) => lines.push(format!("~ change  {} ({})", t.spec.name, w.join(", "))),
            Plan::Same => lines.push(format!("= same    {}", t.spec.name)),
        }
        if !matches!(plan, Plan::Same) {
            change.upsert.push(record);
        }
    }
    for s in &p.skipped {
        lines.push(format!("! skip    {} (not a file or S3 table)", s.name));
    }
    let defined: Vec<&str> = p.tables.iter().map(|t| t.spec.name.as_str()).collect();
    for name in existing.keys() {
        if !defined.contains(&name.as_str()) {
            if args.prune {
                change.delete.push(name.clone());
                lines.push(format!("- delete  {name}"));
            } else {
                lines.push(format!(
                    "  keep    {name} (not in {}; --prune removes it)",
                    args.dir.display()
                ));
            }
        }
    }
    lines.sort_by(|a, b| a[10..].cmp(&b[10..]));
    for l in &lines {
        println!("{l}");
    }
    let changes = change.upsert.len() + change.delete.len();
    if args.dry_run {
        for (tmp, _) in staged {
            let _ = std::fs::remove_file(tmp);
        }
        println!("dry run: {changes} change(s) not applied");
        return Ok(ExitCode::SUCCESS);
    }
    for (tmp, sha) in &staged {
        dd.blobs().put_file(tmp, sha)?;
    }
    catalog.apply(&change)?;
    println!("applied {changes} change(s) to {}", data_dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Copies a data file into the blob store's temp area while hashing it, so big files are
/// never held in memory; returns (temp path, sha256, size).
fn stage_file(tmp_dir: &Path, path: &Path) -> Result<(PathBuf, String, u64)> {
    std::fs::create_dir_all(tmp_dir)?;
    let mut src =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let named = tempfile::Builder::new()
        .prefix("apply-")
        .suffix(".part")
        .tempfile_in(tmp_dir)?;
    let (mut dst, tmp) = named.into_parts();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        size += n as u64;
    }
    dst.sync_all()?;
    let path = tmp.keep().context("cannot keep the staged file")?;
    Ok((path, hex::encode(hasher.finalize()), size))
}
