//! `lut tables versions|diff|rollback|unpin` (SPEC §9): a table's versions, what changed
//! between two, and pinning an older one live. A running `lut serve` follows these
//! changes within its rescan interval.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use lut_service::api::versions::{build_stored, diff_tables};
use lut_store::{Catalog, NewAuditEntry, VersionRecord};
use serde_json::json;

use super::{state, time, Format};

#[derive(clap::Args)]
pub struct VersionsArgs {
    pub name: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(clap::Args)]
pub struct DiffArgs {
    pub name: String,
    pub from: i64,
    pub to: i64,
    /// Example rows shown per kind of change.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

fn find(cat: &dyn Catalog, name: &str, id: i64) -> Result<VersionRecord> {
    cat.versions(name)?
        .into_iter()
        .find(|v| v.id == id)
        .ok_or_else(|| anyhow!("table {name:?} has no version {id}"))
}

fn need_table(cat: &dyn Catalog, name: &str) -> Result<lut_store::TableRecord> {
    cat.table(name)?
        .ok_or_else(|| anyhow!("no table named {name:?}"))
}

pub fn versions(data_dir: &Path, a: VersionsArgs) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let cat = dd.catalog();
    need_table(cat.as_ref(), &a.name)?;
    let vs = cat.versions(&a.name)?;
    let pinned = cat.is_pinned(&a.name)?;
    if a.format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"table": a.name, "pinned": pinned, "versions": vs})
            )?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if vs.is_empty() {
        println!("no versions");
    }
    for v in vs {
        println!(
            "{:>6} {} {:>10} rows {:>12} bytes sha256 {} {}{}",
            v.id,
            time(v.fetched_at),
            v.rows,
            v.size,
            &v.sha256[..v.sha256.len().min(12)],
            v.source,
            if v.live {
                if pinned {
                    "  LIVE (pinned)"
                } else {
                    "  LIVE"
                }
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn diff(data_dir: &Path, a: DiffArgs) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let cat = dd.catalog();
    let rec = need_table(cat.as_ref(), &a.name)?;
    let (va, vb) = (
        find(cat.as_ref(), &a.name, a.from)?,
        find(cat.as_ref(), &a.name, a.to)?,
    );
    let prefix = state::role_prefix();
    let ta = build_stored(&rec, &va, dd.blobs(), &prefix).map_err(|e| anyhow!(e.message))?;
    let tb = build_stored(&rec, &vb, dd.blobs(), &prefix).map_err(|e| anyhow!(e.message))?;
    let d = diff_tables(&ta.table, &tb.table, a.limit);
    if a.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(ExitCode::SUCCESS);
    }
    let c = &d["counts"];
    println!(
        "{} {} -> {}: {} added, {} removed, {} changed, {} unchanged",
        a.name, a.from, a.to, c["added"], c["removed"], c["changed"], c["unchanged"]
    );
    for r in d["added"].as_array().into_iter().flatten() {
        println!("+ {} {}", r["key"].as_str().unwrap_or(""), r["row"]);
    }
    for r in d["removed"].as_array().into_iter().flatten() {
        println!("- {} {}", r["key"].as_str().unwrap_or(""), r["row"]);
    }
    for r in d["changed"].as_array().into_iter().flatten() {
        println!(
            "~ {} {} -> {}",
            r["key"].as_str().unwrap_or(""),
            r["from"],
            r["to"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(data_dir: &Path, name: &str, version: i64) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let cat = dd.catalog();
    let rec = need_table(cat.as_ref(), name)?;
    let v = find(cat.as_ref(), name, version)?;
    // Refuse a version that would not load.
    build_stored(&rec, &v, dd.blobs(), &state::role_prefix()).map_err(|e| anyhow!(e.message))?;
    cat.set_live(name, version, true)?;
    super::audit::record(
        cat.as_ref(),
        NewAuditEntry::new(&super::audit::actor(), "table.rollback")
            .on_table(name)
            .details(serde_json::json!({ "version": version, "pinned": true })),
    );
    println!("table {name}: version {version} is live and the table is pinned (later syncs are recorded, not served; `lut tables unpin {name}` to resume)");
    Ok(ExitCode::SUCCESS)
}

pub fn unpin(data_dir: &Path, name: &str) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let cat = dd.catalog();
    need_table(cat.as_ref(), name)?;
    cat.set_pinned(name, false)?;
    let live = match cat.latest_version(name)? {
        Some(v) => {
            cat.set_live(name, v.id, false)?;
            println!("table {name}: unpinned; newest version {} is live", v.id);
            Some(v.id)
        }
        None => {
            println!("table {name}: unpinned (no versions yet)");
            None
        }
    };
    super::audit::record(
        cat.as_ref(),
        NewAuditEntry::new(&super::audit::actor(), "table.unpin")
            .on_table(name)
            .details(serde_json::json!({ "version": live, "pinned": false })),
    );
    Ok(ExitCode::SUCCESS)
}
