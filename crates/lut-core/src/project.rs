//! A directory of specs, schemas and data files, checked as a whole (§2.1, §4).
//!
//! [`load`] finds every `*.yml`/`*.yaml` under the given paths, sorts them into
//! lookup-table specs, schemas and everything else (other analysis types are ignored),
//! parses them, checks the references between them (schema exists, primary key usable,
//! data file present) and, when asked, builds each file-backed table so data problems are
//! reported too. Everything found goes into one [`Diagnostics`] list.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics};
use crate::enrich::{auto_selectors, LiveTable};
use crate::schema::{parse_schema_node, Schema};
use crate::spec::{self, parse_spec_node, SkipKind, Source, SpecKind, SpecOptions, TableSpec};
use crate::table::{self, Built};
use crate::yaml::{self, Node};

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub spec: SpecOptions,
    /// Build the tables of `Filename` specs (reads and validates their data).
    pub load_data: bool,
}

/// One lookup-table spec found in the project.
#[derive(Debug)]
pub struct ProjectTable {
    pub spec: Arc<TableSpec>,
    pub schema: Option<Arc<Schema>>,
    /// The resolved data file of a `Filename` spec.
    pub data_path: Option<PathBuf>,
    /// The built table, when data was loaded and accepted.
    pub built: Option<Built>,
}

/// A spec lut recognised but does not load (SQL or GCS sourced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedSpec {
    pub name: String,
    pub kind: SkipKind,
    pub file: PathBuf,
}

#[derive(Debug, Default)]
pub struct Project {
    /// YAML files that declare `AnalysisType: lookup_table`, valid or not.
    pub spec_files: usize,
    pub tables: Vec<ProjectTable>,
    pub schemas: Vec<Arc<Schema>>,
    pub skipped: Vec<SkippedSpec>,
    pub diagnostics: Diagnostics,
}

impl Project {
    /// Lookup-table spec files found, whatever their state.
    pub fn spec_count(&self) -> usize {
        self.spec_files
    }

    /// Moves the built tables of enabled specs out as live tables (no copy).
    pub fn into_live_tables(self) -> Vec<LiveTable> {
        self.tables
            .into_iter()
            .filter(|t| t.spec.enabled)
            .filter_map(|t| {
                Some(LiveTable {
                    spec: t.spec,
                    schema: t.schema?,
                    table: Arc::new(t.built?.table),
                })
            })
            .collect()
    }
}

enum Found {
    Spec(Node),
    Schema(Node),
}

/// Loads and checks everything under `paths` (files or directories).
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Project {
    let mut p = Project::default();
    let mut specs: Vec<(PathBuf, PathBuf, Node)> = Vec::new();
    let mut schema_nodes: Vec<(PathBuf, Node)> = Vec::new();
    for root in paths {
        let files = match collect(root) {
            Ok(f) => f,
            Err(d) => {
                p.diagnostics.push(*d);
                continue;
            }
        };
        let explicit = root.is_file();
        for file in files {
            match classify(&file, explicit, &mut p.diagnostics) {
                Some(Found::Spec(n)) => specs.push((root.clone(), file, n)),
                Some(Found::Schema(n)) => schema_nodes.push((file, n)),
                None => {}
            }
        }
    }

    let mut schema_files: HashMap<String, PathBuf> = HashMap::new();
    for (file, node) in &schema_nodes {
        let mut diags = Diagnostics::new();
        if let Some(s) = parse_schema_node(node, Some(file), &mut diags) {
            if let Some(first) = schema_files.get(&s.name) {
                diags.push(node.error(
                    "duplicate-schema",
                    "schema",
                    format!("schema {:?} is also defined in {}", s.name, first.display()),
                ));
            } else {
                schema_files.insert(s.name.clone(), file.clone());
                p.schemas.push(Arc::new(s));
            }
        }
        diags.set_file(file);
        p.diagnostics.extend(diags);
    }

    p.spec_files = specs.len();
    let mut names: HashMap<String, PathBuf> = HashMap::new();
    for (root, file, node) in &specs {
        let mut diags = Diagnostics::new();
        let parsed = parse_spec_node(node, &opts.spec, &mut diags);
        let name = match &parsed {
            Some(SpecKind::Table(t)) => Some(t.name.clone()),
            Some(SpecKind::Skipped { name, .. }) => Some(name.clone()),
            None => None,
        };
        if let Some(name) = name {
            if let Some(first) = names.get(&name) {
                let at = node.get("LookupName").unwrap_or(node);
                diags.push(at.error(
                    "duplicate-table",
                    "LookupName",
                    format!(
                        "lookup table {name:?} is also defined in {}",
                        first.display()
                    ),
                ));
                diags.set_file(file);
                p.diagnostics.extend(diags);
                continue;
            }
            names.insert(name, file.clone());
        }
        match parsed {
            Some(SpecKind::Table(mut t)) => {
                t.file = Some(file.clone());
                let schema = p.schemas.iter().find(|s| s.name == t.schema).cloned();
                let data_path =
                    check_references(&t, schema.as_deref(), root, file, node, &mut diags);
                p.tables.push(ProjectTable {
                    spec: Arc::new(*t),
                    schema,
                    data_path,
                    built: None,
                });
            }
            Some(SpecKind::Skipped { name, kind }) => p.skipped.push(SkippedSpec {
                name,
                kind,
                file: file.clone(),
            }),
            None => {}
        }
        diags.set_file(file);
        p.diagnostics.extend(diags);
    }

    if opts.load_data {
        for t in &mut p.tables {
            let (Some(schema), Some(path)) = (&t.schema, &t.data_path) else {
                continue;
            };
            t.built = build_file(&t.spec, schema, path, &mut p.diagnostics);
        }
    }
    p
}

/// Builds one table from a local file, turning its report into diagnostics.
pub fn build_file(
    spec: &TableSpec,
    schema: &Schema,
    path: &Path,
    diags: &mut Diagnostics,
) -> Option<Built> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            diags.push(
                Diagnostic::error(
                    "data-file",
                    format!("cannot open data file of table {:?}: {e}", spec.name),
                )
                .in_file(path),
            );
            return None;
        }
    };
    match table::build(spec, schema, file) {
        Ok(built) => {
            for prob in &built.report.problems {
                diags.push(row_diag(prob, path, false));
            }
            Some(built)
        }
        Err(rejected) => {
            let r = &rejected.report;
            for prob in &r.problems {
                diags.push(row_diag(prob, path, true));
            }
            diags.push(
                Diagnostic::error(
                    "data-rejected",
                    format!("data of table {:?} rejected: {}", spec.name, r.summary()),
                )
                .in_file(path),
            );
            None
        }
    }
}

fn row_diag(prob: &table::RowProblem, path: &Path, error: bool) -> Diagnostic {
    let msg = format!("row {}: {}", prob.row, prob.reason);
    let mut d = if error {
        Diagnostic::error("invalid-row", msg)
    } else {
        Diagnostic::warning("skipped-row", msg)
    };
    d = d.in_file(path);
    if let Some(line) = prob.line {
        d.line = Some(line as usize);
    }
    if let Some(col) = &prob.column {
        d.path = col.clone();
    }
    d
}

/// Checks a spec against the rest of the project; returns the data file path if any.
fn check_references(
    t: &TableSpec,
    schema: Option<&Schema>,
    root: &Path,
    file: &Path,
    node: &Node,
    diags: &mut Diagnostics,
) -> Option<PathBuf> {
    let at = |key: &str| node.get(key).unwrap_or(node);
    match schema {
        None => diags.push(at("Schema").error(
            "unknown-schema",
            "Schema",
            format!(
                "unknown schema {:?}: no schema with that name was found under {}",
                t.schema,
                root.display()
            ),
        )),
        Some(s) => {
            if let Err(e) = table::key_field(t, s) {
                let pk_node = node
                    .get("LogTypeMap")
                    .and_then(|m| m.get("PrimaryKey"))
                    .unwrap_or(node);
                diags.push(pk_node.error("invalid-key", "LogTypeMap.PrimaryKey", e));
            } else {
                check_selectors_reach(t, s, node, diags);
            }
        }
    }
    let Source::File { filename } = &t.source else {
        return None;
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    let path = dir.join(filename);
    let root_dir = if root.is_file() {
        root.parent().unwrap_or(Path::new("."))
    } else {
        root
    };
    let inside = match (path.canonicalize(), root_dir.canonicalize()) {
        (Ok(p), Ok(r)) => p.starts_with(r),
        _ => true,
    };
    if !path.is_file() {
        diags.push(at("Filename").error(
            "missing-data-file",
            "Filename",
            format!(
                "data file {:?} does not exist (looked for {})",
                filename,
                path.display()
            ),
        ));
        None
    } else if !inside {
        diags.push(at("Filename").error(
            "invalid-value",
            "Filename",
            format!(
                "data file {:?} resolves outside {}",
                filename,
                root_dir.display()
            ),
        ));
        None
    } else {
        Some(path)
    }
}

/// Warns about associations that can never match anything.
fn check_selectors_reach(t: &TableSpec, s: &Schema, node: &Node, diags: &mut Diagnostics) {
    let auto = auto_selectors(t, s);
    if !auto.is_empty() {
        return;
    }
    let ltm = node.get("LogTypeMap").unwrap_or(node);
    if t.log_types.is_empty() {
        diags.push(ltm.warning(
            "never-matches",
            "LogTypeMap.AssociatedLogTypes",
            format!("no log types are associated and primary key {:?} has no indicators, so this table enriches nothing", t.primary_key),
        ));
    }
    for (i, lt) in t.log_types.iter().enumerate() {
        if lt.selectors.is_empty() {
            diags.push(ltm.warning(
                "never-matches",
                &format!("LogTypeMap.AssociatedLogTypes[{i}]"),
                format!("log type {:?} lists no selectors and primary key {:?} has no indicators, so nothing will match", lt.log_type, t.primary_key),
            ));
        }
    }
}

/// Every YAML file under `root` (or `root` itself), sorted, skipping hidden entries.
fn collect(root: &Path) -> Result<Vec<PathBuf>, Box<Diagnostic>> {
    let meta = fs::metadata(root)
        .map_err(|e| Diagnostic::error("io", format!("cannot read {}: {e}", root.display())))?;
    if meta.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| {
            Diagnostic::error(
                "io",
                format!("cannot read directory {}: {e}", dir.display()),
            )
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if hidden {
                continue;
            }
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and sorts one YAML file. `explicit` files (named on the command line) must be a
/// spec or a schema; files met while walking a directory may be anything.
fn classify(file: &Path, explicit: bool, diags: &mut Diagnostics) -> Option<Found> {
    let text = match fs::read(file) {
        Ok(b) => match String::from_utf8(b) {
            Ok(s) => s,
            Err(_) => {
                diags.push(
                    Diagnostic::error("encoding", "the file is not valid UTF-8").in_file(file),
                );
                return None;
            }
        },
        Err(e) => {
            diags.push(Diagnostic::error("io", format!("cannot read the file: {e}")).in_file(file));
            return None;
        }
    };
    let node = match yaml::parse(&text) {
        Ok(Some(n)) => n,
        Ok(None) => {
            let d = if explicit {
                Diagnostic::error(
                    "empty-file",
                    "the file is empty: expected a lookup-table spec or a schema",
                )
            } else {
                Diagnostic::warning("empty-file", "the file holds no YAML document; ignored")
            };
            diags.push(d.in_file(file));
            return None;
        }
        Err(e) => {
            diags.push(e.to_diagnostic().in_file(file));
            return None;
        }
    };
    if node.as_map().is_none() {
        if explicit {
            diags.push(spec::not_a_spec(&node).in_file(file));
        }
        return None;
    }
    if let Some(at) = node.get("AnalysisType") {
        if spec::is_lookup_table(&node) {
            return Some(Found::Spec(node));
        }
        if explicit {
            diags.push(
                at.error(
                    "not-a-spec",
                    "AnalysisType",
                    format!("not a lookup-table spec: AnalysisType is {}", at.describe()),
                )
                .in_file(file),
            );
        }
        return None;
    }
    if node.get("schema").is_some() && node.get("fields").is_some() {
        return Some(Found::Schema(node));
    }
    if explicit {
        diags.push(
            node.error("not-a-spec", "", "neither a lookup-table spec (AnalysisType: lookup_table) nor a schema (schema + fields)")
                .in_file(file),
        );
    }
    None
}

/// Parses a stored table definition (the catalog keeps spec and schema as YAML text) and
/// checks that they fit together. Problems come back as diagnostics.
pub fn parse_definition(
    spec_yaml: &str,
    schema_yaml: &str,
    opts: &SpecOptions,
) -> Result<(TableSpec, Schema), Diagnostics> {
    let mut diags = Diagnostics::new();
    let (schema, schema_diags) = crate::schema::parse_schema(schema_yaml, None);
    diags.extend(schema_diags);
    let spec = match yaml::parse(spec_yaml) {
        Ok(Some(node)) => match parse_spec_node(&node, &opts.clone(), &mut diags) {
            Some(SpecKind::Table(t)) => Some(*t),
            Some(SpecKind::Skipped { name, .. }) => {
                diags.push(Diagnostic::error(
                    "unsupported",
                    format!("lookup table {name:?} has a source lut does not support"),
                ));
                None
            }
            None => None,
        },
        Ok(None) => {
            diags.push(Diagnostic::error("empty-file", "the stored spec is empty"));
            None
        }
        Err(e) => {
            diags.push(e.to_diagnostic());
            None
        }
    };
    match (spec, schema) {
        (Some(spec), Some(schema)) if !diags.has_errors() => {
            if spec.schema != schema.name {
                diags.push(Diagnostic::error(
                    "unknown-schema",
                    format!(
                        "the spec names schema {:?} but the stored schema is {:?}",
                        spec.schema, schema.name
                    ),
                ));
                return Err(diags);
            }
            if let Err(e) = table::key_field(&spec, &schema) {
                diags.push(Diagnostic::error("invalid-key", e));
                return Err(diags);
            }
            Ok((spec, schema))
        }
        _ => Err(diags),
    }
}
