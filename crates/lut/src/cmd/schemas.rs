//! `lut schemas list|show`: the schemas stored in the data directory (`PUT
//! /api/v1/schemas/{name}`) and those only kept as a table's own copy, read-only.
//!
//! Storing a schema from the CLI is not offered yet: a stored schema's update re-applies
//! the tables using it, which the API does (`PUT /api/v1/schemas/{name}`); `lut apply DIR`
//! remains the CLI's way to change schemas of tables.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use lut_store::Catalog;
use serde_json::json;

use super::{state, time, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// List schemas: stored ones and those kept with tables, with the tables using them.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print a schema's YAML (the stored one, else the newest table copy).
    Show { name: String },
}

pub fn run(data_dir: &Path, cmd: Command) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let cat = dd.catalog();
    let stored: BTreeMap<String, lut_store::SchemaRecord> = cat
        .schemas()?
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let mut tables = cat.tables()?;
    // Newest definition first, so `show` falls back to the most recent copy.
    tables.sort_by_key(|t| std::cmp::Reverse(t.updated_at));
    match cmd {
        Command::List { format } => {
            let mut by: BTreeMap<&str, Vec<&str>> =
                stored.keys().map(|k| (k.as_str(), Vec::new())).collect();
            for t in &tables {
                by.entry(&t.schema_name).or_default().push(&t.name);
            }
            for users in by.values_mut() {
                users.sort();
            }
            if format == Format::Json {
                let list: Vec<_> = by
                    .iter()
                    .map(|(name, users)| {
                        json!({"name": name, "stored": stored.contains_key(*name), "tables": users})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            for (name, users) in by {
                let origin = match stored.get(name) {
                    Some(s) => format!("stored, updated {}", time(s.updated_at)),
                    None => "table copy".to_string(),
                };
                println!("{name}\t{origin}\ttables: {}", users.join(", "));
            }
        }
        Command::Show { name } => {
            let yaml = match stored.get(&name) {
                Some(s) => s.yaml.clone(),
                None => match tables.iter().find(|t| t.schema_name == name) {
                    Some(t) => t.schema_yaml.clone(),
                    None => {
                        eprintln!("lut: error: no schema named {name:?}");
                        return Ok(ExitCode::from(1));
                    }
                },
            };
            print!("{yaml}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
