//! `lut tables list|show`: what the data directory holds; `iam` and `test-connection`
//! (in [`super::iam`]).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use lut_core::project::parse_definition;
use lut_core::spec::{Source, SpecOptions};
use lut_store::{Catalog, ErrorFilter};
use serde_json::json;

use super::{state, time, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// One line per table: source, live version, last check.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// A table's configuration, live version, last check and open errors.
    Show {
        name: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Writes the stored definition as files `lut apply` takes again: `<name>.yml`, the
    /// schema, and for `Filename` tables the live data at the spec's `Filename` path.
    Export {
        name: String,
        /// Directory to write into (created if needed).
        #[arg(long, default_value = ".")]
        out: std::path::PathBuf,
    },
    /// The table's IAM role: CloudFormation template, console link or policies (§6.4).
    Iam(super::iam::IamArgs),
    /// Assumes the table's role, reads the object's metadata and first rows, and reports
    /// each step; changes nothing.
    TestConnection {
        name: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// The table's stored versions, newest first, and which is live.
    Versions(super::versions::VersionsArgs),
    /// Rows added, removed and changed between two versions, by primary key.
    Diff(super::versions::DiffArgs),
    /// Makes an older version live and pins the table (later syncs are recorded only).
    Rollback { name: String, version: i64 },
    /// Unpins the table and makes its newest version live.
    Unpin { name: String },
}

pub fn run(data_dir: &Path, cmd: Command) -> Result<ExitCode> {
    let cmd = match cmd {
        Command::Iam(args) => return super::iam::iam(data_dir, args),
        Command::TestConnection { name, format } => {
            return super::iam::test_connection(data_dir, &name, format)
        }
        Command::Versions(a) => return super::versions::versions(data_dir, a),
        Command::Diff(a) => return super::versions::diff(data_dir, a),
        Command::Rollback { name, version } => {
            return super::versions::rollback(data_dir, &name, version)
        }
        Command::Unpin { name } => return super::versions::unpin(data_dir, &name),
        other => other,
    };
    let dd = state::open(data_dir)?;
    let catalog = dd.catalog();
    match cmd {
        Command::List { format } => {
            let mut rows = Vec::new();
            for t in catalog.tables()? {
                let live = catalog.live_version(&t.name)?;
                let last = catalog.checks(&t.name, 1)?.into_iter().next();
                rows.push((t, live, last));
            }
            if format == Format::Json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(t, live, last)| {
                        json!({"name": t.name, "enabled": t.enabled, "source": t.source_kind,
                               "schema": t.schema_name, "live_version": live, "last_check": last})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            if rows.is_empty() {
                println!(
                    "no tables in {} (add some with `lut apply DIR`)",
                    data_dir.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<32} {:<8} {:<6} {:>10} {:<22} LAST CHECK",
                "NAME", "ENABLED", "SOURCE", "ROWS", "LIVE SINCE"
            );
            for (t, live, last) in rows {
                let (rows, since) = live.map_or(("-".to_string(), "-".to_string()), |v| {
                    (v.rows.to_string(), time(v.fetched_at))
                });
                let last =
                    last.map_or("-".to_string(), |c| format!("{} {}", c.outcome, time(c.at)));
                println!(
                    "{:<32} {:<8} {:<6} {:>10} {:<22} {}",
                    t.name,
                    if t.enabled { "yes" } else { "no" },
                    t.source_kind,
                    rows,
                    since,
                    last
                );
            }
        }
        Command::Export { name, out } => return export(&dd, &name, &out),
        Command::Show { name, format } => {
            let Some(t) = catalog.table(&name)? else {
                bail!("no table named {name:?} in {}", data_dir.display());
            };
            let live = catalog.live_version(&name)?;
            let versions = catalog.versions(&name)?;
            let checks = catalog.checks(&name, 5)?;
            let errors = catalog.errors(&ErrorFilter {
                table: Some(name.clone()),
                all: false,
            })?;
            let pinned = catalog.is_pinned(&name)?;
            if format == Format::Json {
                let v = json!({"table": t, "pinned": pinned, "live_version": live, "versions": versions,
                               "recent_checks": checks, "open_errors": errors});
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("name:        {}", t.name);
            println!("enabled:     {}", t.enabled);
            println!("schema:      {}", t.schema_name);
            match parse_definition(
                &t.spec_yaml,
                &t.schema_yaml,
                &SpecOptions {
                    role_prefix: state::role_prefix(),
                },
            ) {
                Ok((spec, _)) => {
                    match &spec.source {
                        Source::File { filename } => {
                            println!("source:      file {filename} (applied with `lut apply`)")
                        }
                        Source::S3(s3) => {
                            println!("source:      {} every {} min", s3.uri, s3.period_minutes);
                            println!("role:        {}", s3.role_arn);
                            if let Some(k) = &s3.kms_key {
                                println!(
                                    "kms key:     arn:{}:kms:{}:{}:key/{}",
                                    k.partition, k.region, k.account, k.key_id
                                );
                            }
                        }
                        Source::Watch(w) => println!(
                            "source:      file://{} every {} min",
                            w.path.display(),
                            w.period_minutes
                        ),
                    }
                    println!("primary key: {}", spec.primary_key);
                    if spec.log_types.is_empty() {
                        println!("log types:   all, through indicator fields");
                    }
                    for lt in &spec.log_types {
                        let sels: Vec<&str> =
                            lt.selectors.iter().map(|s| s.source.as_str()).collect();
                        println!(
                            "log type:    {} [{}]",
                            lt.log_type,
                            if sels.is_empty() {
                                "indicator fields".to_string()
                            } else {
                                sels.join(", ")
                            }
                        );
                    }
                }
                Err(d) => println!("definition:  INVALID ({} problems)", d.len()),
            }
            match &live {
                Some(v) => println!(
                    "live:        version {} — {} rows, {} bytes, sha256 {}, from {} at {}{}",
                    v.id,
                    v.rows,
                    v.size,
                    &v.sha256[..12],
                    v.source,
                    time(v.fetched_at),
                    if pinned { " (pinned)" } else { "" }
                ),
                None => println!("live:        none yet"),
            }
            println!("versions:    {}", versions.len());
            for c in &checks {
                let detail = match (&c.stage, &c.code, &c.message) {
                    (Some(s), code, Some(m)) => format!(
                        " at {s}{}: {m}",
                        code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
                    ),
                    _ => String::new(),
                };
                println!(
                    "check:       {} {}{} ({} ms)",
                    time(c.at),
                    c.outcome,
                    detail,
                    c.duration_ms
                );
            }
            for e in &errors {
                println!(
                    "error:       #{} {} {}: {} — {}",
                    e.id, e.severity, e.stage, e.message, e.remedy
                );
            }
        }
        Command::Iam(_)
        | Command::TestConnection { .. }
        | Command::Versions(_)
        | Command::Diff(_)
        | Command::Rollback { .. }
        | Command::Unpin { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `lut tables export NAME [--out DIR]`.
fn export(dd: &lut_store::DataDir, name: &str, out: &Path) -> Result<ExitCode> {
    let catalog = dd.catalog();
    let Some(t) = catalog.table(name)? else {
        bail!("no table named {name:?} in {}", dd.root().display());
    };
    std::fs::create_dir_all(out)?;
    let spec_path = out.join(format!("{}.yml", t.name));
    std::fs::write(&spec_path, &t.spec_yaml)?;
    println!("wrote {}", spec_path.display());
    let schema_path = out.join(lut_service::api::tables_write::schema_file_name(
        &t.schema_name,
    ));
    std::fs::write(&schema_path, &t.schema_yaml)?;
    println!("wrote {}", schema_path.display());
    let opts = SpecOptions {
        role_prefix: state::role_prefix(),
    };
    if let Ok((spec, _)) = parse_definition(&t.spec_yaml, &t.schema_yaml, &opts) {
        if let Source::File { filename } = &spec.source {
            let inside = std::path::Path::new(filename).components().all(|c| {
                matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            });
            if !inside {
                eprintln!("lut: {filename} is not inside the export directory: data not written");
                return Ok(ExitCode::SUCCESS);
            }
            match catalog.live_version(name)? {
                Some(v) => {
                    let data = out.join(filename);
                    if let Some(parent) = data.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::copy(dd.blobs().path(&v.sha256)?, &data)?;
                    println!("wrote {}", data.display());
                }
                None => eprintln!("lut: {name} has no live version: {filename} not written"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
