//! Applying table definitions: the one code path behind `lut apply` and the API's
//! `POST /api/v1/apply` and table routes.
//!
//! [`plan`] compares a loaded [`Project`] with the catalog (add / change / same per table,
//! delete or keep for tables the project no longer defines) and stages the data of
//! `Filename` tables into the blob store's temp area; [`Plan::commit`] then moves the
//! staged blobs in place and writes everything as one [`Catalog::apply`] transaction (all
//! or nothing), while [`Plan::discard`] drops the staged files (dry runs).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use lut_core::project::Project;
use lut_store::blobs::BlobStore;
use lut_store::{
    Actor, Catalog, DefinitionChange, NewAuditEntry, NewVersion, SchemaRecord, TableRecord,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub type DefinitionError = Box<dyn std::error::Error + Send + Sync>;

fn err(msg: impl Into<String>) -> DefinitionError {
    msg.into().into()
}

/// What applying does to one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    Add,
    /// What changed: `spec`, `schema`, `data`.
    Change {
        what: Vec<&'static str>,
    },
    Same,
    Delete,
    /// In the catalog but not in the project, and not pruned.
    Keep,
    /// A spec lut recognises but does not load (SQL or GCS sourced).
    Skip,
}

/// One line of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    pub table: String,
    #[serde(flatten)]
    pub action: Action,
    /// `file, N rows` / the source kind for additions.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl PlanItem {
    /// The line `lut apply` prints; `dir` names the applied directory (for `keep`).
    pub fn line(&self, dir: &str) -> String {
        let name = &self.table;
        match &self.action {
            Action::Add => format!("+ add     {name} ({})", self.detail),
            Action::Change { what } => format!("~ change  {name} ({})", what.join(", ")),
            Action::Same => format!("= same    {name}"),
            Action::Delete => format!("- delete  {name}"),
            Action::Keep => format!("  keep    {name} (not in {dir}; --prune removes it)"),
            Action::Skip => format!("! skip    {name} (not a file or S3 table)"),
        }
    }

    /// Whether applying writes anything for this table.
    pub fn is_change(&self) -> bool {
        matches!(
            self.action,
            Action::Add | Action::Change { .. } | Action::Delete
        )
    }
}

/// How [`plan`] treats the catalog.
pub struct PlanOptions<'a> {
    /// Delete tables the project no longer defines.
    pub prune: bool,
    /// The `source` recorded for a version built from a data file.
    pub source_for: &'a dyn Fn(&Path) -> String,
    /// Keep an existing table's enabled flag instead of taking the spec's `Enabled`: a
    /// stored schema's update re-applies tables to change their schema, not to re-enable
    /// one disabled over the API.
    pub keep_enabled: bool,
}

/// The computed plan, with data staged in the blob store's temp area.
#[derive(Debug)]
pub struct Plan {
    /// Sorted by table name.
    pub items: Vec<PlanItem>,
    change: DefinitionChange,
    staged: Vec<(PathBuf, String)>,
}

impl Plan {
    /// Tables written or deleted.
    pub fn changes(&self) -> usize {
        self.change.upsert.len() + self.change.delete.len()
    }

    /// The names of the tables written or deleted.
    pub fn changed_tables(&self) -> Vec<String> {
        self.change
            .upsert
            .iter()
            .map(|t| t.name.clone())
            .chain(self.change.delete.iter().cloned())
            .collect()
    }

    /// Drops the staged data (dry run).
    pub fn discard(self) {
        for (tmp, _) in self.staged {
            let _ = std::fs::remove_file(tmp);
        }
    }

    /// Audit entries for committing this plan as `action` (`bundle.apply`, ...): one per
    /// table written or deleted (details: its plan line), or one without a target when
    /// nothing changes, so the call itself is still on record.
    pub fn audit_entries(&self, actor: &Actor, action: &str) -> Vec<NewAuditEntry> {
        let out: Vec<NewAuditEntry> = self
            .items
            .iter()
            .filter(|i| i.is_change())
            .map(|i| {
                NewAuditEntry::new(actor, action)
                    .on_table(&i.table)
                    .details(serde_json::to_value(i).unwrap_or_default())
            })
            .collect();
        if out.is_empty() {
            return vec![
                NewAuditEntry::new(actor, action).details(serde_json::json!({
                    "changes": 0,
                    "tables": self.items.len(),
                })),
            ];
        }
        out
    }

    /// Stores the staged data and writes the change as one catalog transaction.
    pub fn commit(self, catalog: &dyn Catalog, blobs: &BlobStore) -> Result<(), DefinitionError> {
        self.commit_audited(catalog, blobs, &[])
    }

    /// [`Plan::commit`] with audit entries written in the same transaction.
    pub fn commit_audited(
        self,
        catalog: &dyn Catalog,
        blobs: &BlobStore,
        audit: &[NewAuditEntry],
    ) -> Result<(), DefinitionError> {
        store_staged(self.staged, blobs)?;
        catalog.apply_audited(&self.change, audit)?;
        Ok(())
    }

    /// [`Plan::commit_audited`] storing `schema` in the same transaction: a stored schema
    /// and the tables re-applied with it change together or not at all.
    pub fn commit_with_schema(
        self,
        catalog: &dyn Catalog,
        blobs: &BlobStore,
        schema: &SchemaRecord,
        users: &[(String, lut_store::Millis)],
        audit: &[NewAuditEntry],
    ) -> Result<(), DefinitionError> {
        store_staged(self.staged, blobs)?;
        catalog.put_schema_audited(schema, users, &self.change, audit)?;
        Ok(())
    }
}

/// Moves staged data into the blob store (before the catalog transaction that makes it
/// live); on a failure the rest of the staged files are removed.
fn store_staged(staged: Vec<(PathBuf, String)>, blobs: &BlobStore) -> Result<(), DefinitionError> {
    let mut staged = staged.into_iter();
    while let Some((tmp, sha)) = staged.next() {
        if let Err(e) = blobs.put_file(&tmp, &sha) {
            for (t, _) in staged {
                let _ = std::fs::remove_file(t);
            }
            return Err(e.into());
        }
    }
    Ok(())
}

/// Compares `p` (loaded without errors) with the catalog; see the module docs.
pub fn plan(
    p: &Project,
    catalog: &dyn Catalog,
    blobs: &BlobStore,
    opts: &PlanOptions<'_>,
) -> Result<Plan, DefinitionError> {
    let existing: HashMap<String, TableRecord> = catalog
        .tables()?
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let now = lut_store::now_millis();
    let mut change = DefinitionChange::default();
    let mut staged: Vec<(PathBuf, String)> = Vec::new();
    let mut items = Vec::new();
    let result = (|| -> Result<(), DefinitionError> {
        for t in &p.tables {
            let spec_file = t
                .spec
                .file
                .as_ref()
                .ok_or_else(|| err("spec without a file"))?;
            let schema = t
                .schema
                .as_ref()
                .ok_or_else(|| err("spec without a schema"))?;
            let schema_file = schema
                .file
                .as_ref()
                .ok_or_else(|| err("schema without a file"))?;
            let spec_yaml = std::fs::read_to_string(spec_file)?;
            let schema_yaml = std::fs::read_to_string(schema_file)?;
            let old = existing.get(&t.spec.name);
            let record = TableRecord {
                name: t.spec.name.clone(),
                enabled: match old {
                    Some(o) if opts.keep_enabled => o.enabled,
                    _ => t.spec.enabled,
                },
                spec_yaml,
                schema_name: schema.name.clone(),
                schema_yaml,
                source_kind: t.spec.source.kind().to_string(),
                created_at: old.map_or(now, |o| o.created_at),
                updated_at: now,
            };
            let mut action = match old {
                None => Action::Add,
                Some(o) => {
                    let mut what = Vec::new();
                    if o.spec_yaml != record.spec_yaml {
                        what.push("spec");
                    }
                    if o.schema_yaml != record.schema_yaml {
                        what.push("schema");
                    }
                    if what.is_empty() {
                        Action::Same
                    } else {
                        Action::Change { what }
                    }
                }
            };
            let mut detail = t.spec.source.kind().to_string();
            if let (Some(path), Some(built)) = (&t.data_path, &t.built) {
                let live = catalog.live_version(&t.spec.name)?;
                let (tmp, sha, size) = stage_file(blobs.tmp_dir().as_path(), path)?;
                if live.as_ref().map(|v| v.sha256.as_str()) != Some(sha.as_str()) {
                    change.versions.push(NewVersion {
                        table: t.spec.name.clone(),
                        etag: None,
                        size,
                        sha256: sha.clone(),
                        rows: built.table.len() as u64,
                        source: (opts.source_for)(path),
                        fetched_at: now,
                    });
                    staged.push((tmp, sha));
                    action = match action {
                        Action::Same => Action::Change { what: vec!["data"] },
                        Action::Change { mut what } => {
                            what.push("data");
                            Action::Change { what }
                        }
                        other => other,
                    };
                } else {
                    let _ = std::fs::remove_file(tmp);
                }
                detail = format!("file, {} rows", built.table.len());
            }
            if action != Action::Same {
                change.upsert.push(record);
            }
            items.push(PlanItem {
                table: t.spec.name.clone(),
                action,
                detail,
            });
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (tmp, _) in staged {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    for s in &p.skipped {
        items.push(PlanItem {
            table: s.name.clone(),
            action: Action::Skip,
            detail: String::new(),
        });
    }
    let defined: Vec<&str> = p.tables.iter().map(|t| t.spec.name.as_str()).collect();
    for name in existing.keys() {
        if !defined.contains(&name.as_str()) {
            let action = if opts.prune {
                change.delete.push(name.clone());
                Action::Delete
            } else {
                Action::Keep
            };
            items.push(PlanItem {
                table: name.clone(),
                action,
                detail: String::new(),
            });
        }
    }
    items.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(Plan {
        items,
        change,
        staged,
    })
}

/// Copies a data file into the blob store's temp area while hashing it, so big files are
/// never held in memory; returns (temp path, sha256, size).
pub fn stage_file(tmp_dir: &Path, path: &Path) -> Result<(PathBuf, String, u64), DefinitionError> {
    std::fs::create_dir_all(tmp_dir)?;
    let mut src = std::fs::File::open(path)
        .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    let (mut dst, tmp) = temp_in(tmp_dir, "apply-")?;
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
    Ok((tmp, hex::encode(hasher.finalize()), size))
}

/// A fresh, uniquely named file in `dir` (kept: the caller removes or stores it).
pub fn temp_in(dir: &Path, prefix: &str) -> std::io::Result<(std::fs::File, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    loop {
        let name: String = (0..16).map(|_| fastrand::alphanumeric()).collect();
        let path = dir.join(format!("{prefix}{name}.part"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}
