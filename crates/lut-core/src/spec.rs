//! Lookup-table specs in the panther_analysis_tool YAML format (§2.1).
//!
//! Reads exactly PAT's keys plus lut's documented extensions (`caseInsensitive`,
//! `cidrMatch`, `maxInvalidRows`), checks each value's form (names, ARNs, S3 URIs,
//! periods, selectors) and reports every problem with its line. Cross-file checks (does the
//! schema exist, does the data file exist) belong to [`crate::project`]. SQL- and
//! GCS-sourced tables are checked for structure and then returned as [`SpecKind::Skipped`].

use std::path::{Component, Path, PathBuf};

use crate::aws::{KmsKeyArn, RoleArn, S3Uri, DEFAULT_ROLE_PREFIX};
use crate::diag::{Diagnostic, Diagnostics};
use crate::selector::Selector;
use crate::yaml::{MapReader, Node};

const SPEC_KEYS: &[&str] = &[
    "AnalysisType",
    "LookupName",
    "Enabled",
    "Schema",
    "Description",
    "Reference",
    "Filename",
    "Refresh",
    "LogTypeMap",
    "BaseVersion",
    "Query",
    "AthenaQuery",
    "SnowflakeQuery",
    "DatabricksQuery",
    "Indicators",
    "Validations",
    "caseInsensitive",
    "cidrMatch",
    "maxInvalidRows",
];
const QUERY_KEYS: &[&str] = &["Query", "AthenaQuery", "SnowflakeQuery", "DatabricksQuery"];
const REFRESH_KEYS: &[&str] = &[
    "ObjectPath",
    "RoleARN",
    "PeriodMinutes",
    "AlarmPeriodMinutes",
    "ObjectKMSKey",
    "GCSCredentials",
    "StorageProvider",
    "CronExpression",
];

/// Limits on S3 update periods (§2): 15 minutes to 7 days.
pub const MIN_PERIOD_MINUTES: i64 = 15;
pub const MAX_PERIOD_MINUTES: i64 = 7 * 24 * 60;
pub const DEFAULT_PERIOD_MINUTES: u32 = 60;
/// The Panther format caps the alarm period at one day.
pub const MAX_ALARM_PERIOD_MINUTES: i64 = 24 * 60;

/// Options that shape how a spec is checked.
#[derive(Debug, Clone)]
pub struct SpecOptions {
    /// Role names lut creates start with this; other names get a warning.
    pub role_prefix: String,
}

impl Default for SpecOptions {
    fn default() -> Self {
        SpecOptions {
            role_prefix: DEFAULT_ROLE_PREFIX.to_string(),
        }
    }
}

/// A checked lookup-table spec.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub name: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub schema: String,
    pub source: Source,
    pub primary_key: String,
    /// Log types and their selectors, in spec order. An empty list means "every log type,
    /// through indicator fields" (§5.5).
    pub log_types: Vec<LogTypeSelectors>,
    pub case_insensitive: bool,
    pub cidr_match: CidrMatch,
    pub max_invalid_rows: u64,
    /// The YAML file the spec came from and the line of its `LookupName`.
    pub file: Option<PathBuf>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `Filename`: a data file relative to the spec's directory.
    File {
        filename: String,
    },
    S3(Box<S3Source>),
    /// lut extension: `Refresh.ObjectPath: file:///abs/path` — a local file re-read every
    /// period (quick starts, air-gapped hosts, a file another tool keeps current).
    Watch(Box<WatchedFile>),
}

impl Source {
    /// `file`, `s3` or `watch`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::File { .. } => "file",
            Source::S3(_) => "s3",
            Source::Watch(_) => "watch",
        }
    }

    /// The update period of a synced table.
    pub fn period_minutes(&self) -> Option<u32> {
        match self {
            Source::File { .. } => None,
            Source::S3(s) => Some(s.period_minutes),
            Source::Watch(w) => Some(w.period_minutes),
        }
    }

    pub fn alarm_period_minutes(&self) -> Option<u32> {
        match self {
            Source::File { .. } => None,
            Source::S3(s) => s.alarm_period_minutes,
            Source::Watch(w) => w.alarm_period_minutes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedFile {
    pub path: PathBuf,
    pub period_minutes: u32,
    pub alarm_period_minutes: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct S3Source {
    pub uri: S3Uri,
    pub role_arn: RoleArn,
    pub kms_key: Option<KmsKeyArn>,
    pub period_minutes: u32,
    pub alarm_period_minutes: Option<u32>,
}

impl S3Source {
    /// The account holding the bucket: the role's account in the PAT format.
    pub fn account_id(&self) -> &str {
        &self.role_arn.account
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogTypeSelectors {
    pub log_type: String,
    /// Empty: use the indicator fields of the primary key (§5.5).
    pub selectors: Vec<Selector>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CidrMatch {
    #[default]
    Longest,
    All,
}

/// Why a spec was recognised but not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipKind {
    Sql,
    Gcs,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SpecKind {
    Table(Box<TableSpec>),
    Skipped { name: String, kind: SkipKind },
}

/// Does this YAML document declare itself a lookup table?
pub fn is_lookup_table(node: &Node) -> bool {
    node.get("AnalysisType").and_then(Node::as_str) == Some("lookup_table")
}

/// Parses a lookup-table spec document. Returns `None` when it has errors (all of them are
/// in `diags`); a skipped kind comes back with a warning in `diags`.
pub fn parse_spec_node(
    node: &Node,
    opts: &SpecOptions,
    diags: &mut Diagnostics,
) -> Option<SpecKind> {
    let errors_before = diags.error_count();
    let mut r = MapReader::new(node, "", diags)?;
    match r.required_str("AnalysisType", diags) {
        Some("lookup_table") | None => {}
        Some(other) => {
            let at = node.get("AnalysisType").unwrap_or(node);
            diags.push(at.error(
                "invalid-value",
                "AnalysisType",
                format!("AnalysisType must be \"lookup_table\", found {other:?}"),
            ));
        }
    }
    let name = r.required_str("LookupName", diags);
    if let (Some(n), Some(at)) = (name, node.get("LookupName")) {
        let len = n.chars().count();
        if !(1..=128).contains(&len) {
            diags.push(at.error(
                "invalid-value",
                "LookupName",
                format!("LookupName must be 1 to 128 characters long, found {len}"),
            ));
        }
    }
    let enabled = match r.bool("Enabled", diags) {
        Some(b) => b,
        None => {
            if !r.has("Enabled") {
                diags.push(r.missing("Enabled"));
            }
            true
        }
    };
    let description = r.str("Description", diags).map(str::to_string);
    let reference = r.str("Reference", diags).map(str::to_string);
    if r.get("BaseVersion").is_some_and(|v| v.as_i64().is_none()) {
        diags.push(r.wrong_type(
            node.get("BaseVersion").unwrap_or(node),
            "BaseVersion",
            "an integer",
        ));
    }
    let queries: Vec<(&str, &Node)> = QUERY_KEYS
        .iter()
        .filter_map(|k| {
            let v = r.get(k)?;
            Some((*k, v))
        })
        .collect();
    let schema_node = node.get("Schema").filter(|n| !n.is_null());
    let schema = r.str("Schema", diags);
    let filename = r.str("Filename", diags);
    let refresh = r.get("Refresh");
    let log_type_map = r.get("LogTypeMap");
    let indicators = r.get("Indicators");
    let validations = r.get("Validations");
    let case_insensitive = r.bool("caseInsensitive", diags).unwrap_or(false);
    let cidr_match = match r.get("cidrMatch") {
        None => CidrMatch::Longest,
        Some(n) => match n.as_str() {
            Some("longest") => CidrMatch::Longest,
            Some("all") => CidrMatch::All,
            _ => {
                diags.push(n.error(
                    "invalid-value",
                    "cidrMatch",
                    format!(
                        "cidrMatch must be \"longest\" or \"all\", found {}",
                        n.describe()
                    ),
                ));
                CidrMatch::Longest
            }
        },
    };
    let max_invalid_rows = match r.int("maxInvalidRows", diags) {
        Some(n) if n < 0 => {
            let at = node.get("maxInvalidRows").unwrap_or(node);
            diags.push(at.error(
                "invalid-value",
                "maxInvalidRows",
                "maxInvalidRows cannot be negative",
            ));
            0
        }
        Some(n) => n as u64,
        None => 0,
    };
    r.finish_with_hint(SPEC_KEYS, diags);

    let (primary_key, log_types) = match log_type_map {
        Some(m) => parse_log_type_map(m, diags),
        None => {
            diags.push(node.error(
                "missing-key",
                "LogTypeMap",
                "required key \"LogTypeMap\" is missing",
            ));
            (None, Vec::new())
        }
    };

    let gcs = refresh
        .is_some_and(|r| r.get("GCSCredentials").is_some() || r.get("StorageProvider").is_some());
    if !queries.is_empty() {
        check_sql(
            node,
            &queries,
            schema_node,
            filename.is_some(),
            refresh,
            indicators,
            validations,
            diags,
        );
        if diags.error_count() > errors_before {
            return None;
        }
        let name = name.unwrap_or_default().to_string();
        diags.push(node.get("LookupName").unwrap_or(node).warning(
            "skipped-sql",
            "",
            format!("lookup table {name:?} is SQL-sourced ({}); lut has no data lake to query, so it is skipped", queries[0].0),
        ));
        return Some(SpecKind::Skipped {
            name,
            kind: SkipKind::Sql,
        });
    }
    for (key, n) in [("Indicators", indicators), ("Validations", validations)] {
        if let Some(n) = n {
            diags.push(n.error("invalid-value", key, format!("{key} is only allowed on SQL-sourced lookup tables; declare indicators and validations in the schema")));
        }
    }
    if schema_node.is_none() {
        diags.push(node.error(
            "missing-key",
            "Schema",
            "required key \"Schema\" is missing",
        ));
    }
    if gcs {
        check_gcs(refresh.expect("gcs implies refresh"), diags);
        if diags.error_count() > errors_before {
            return None;
        }
        let name = name.unwrap_or_default().to_string();
        diags.push(node.get("LookupName").unwrap_or(node).warning(
            "skipped-gcs",
            "",
            format!("lookup table {name:?} syncs from Google Cloud Storage, which lut does not support yet; it is skipped"),
        ));
        return Some(SpecKind::Skipped {
            name,
            kind: SkipKind::Gcs,
        });
    }

    let source = match (filename, refresh) {
        (Some(_), Some(rf)) => {
            diags.push(rf.error(
                "invalid-value",
                "Refresh",
                "use either Filename or Refresh, not both",
            ));
            None
        }
        (Some(f), None) => {
            check_filename(f, node.get("Filename").unwrap_or(node), diags);
            Some(Source::File {
                filename: f.to_string(),
            })
        }
        (None, Some(rf)) if is_file_url(rf) => {
            parse_watch_refresh(rf, diags).map(|w| Source::Watch(Box::new(w)))
        }
        (None, Some(rf)) => parse_s3_refresh(rf, opts, diags).map(|s| Source::S3(Box::new(s))),
        (None, None) => {
            diags.push(node.error("missing-key", "Filename", "a lookup table needs a data source: Filename (a file next to the spec) or Refresh (an S3 object)"));
            None
        }
    };
    if diags.error_count() > errors_before {
        return None;
    }
    Some(SpecKind::Table(Box::new(TableSpec {
        name: name?.to_string(),
        enabled,
        description,
        reference,
        schema: schema?.to_string(),
        source: source?,
        primary_key: primary_key?,
        log_types,
        case_insensitive,
        cidr_match,
        max_invalid_rows,
        file: None,
        line: node.get("LookupName").map_or(node.line, |n| n.line),
    })))
}

fn parse_log_type_map(
    node: &Node,
    diags: &mut Diagnostics,
) -> (Option<String>, Vec<LogTypeSelectors>) {
    let Some(mut r) = MapReader::new(node, "LogTypeMap", diags) else {
        return (None, Vec::new());
    };
    let pk = r.required_str("PrimaryKey", diags).map(str::to_string);
    if let (Some(k), Some(at)) = (&pk, node.get("PrimaryKey")) {
        if k.is_empty() {
            diags.push(at.error(
                "invalid-value",
                "LogTypeMap.PrimaryKey",
                "PrimaryKey is empty",
            ));
        }
    }
    let mut out: Vec<LogTypeSelectors> = Vec::new();
    if let Some(list) = r.get("AssociatedLogTypes") {
        match list.as_seq() {
            None => diags.push(r.wrong_type(list, "AssociatedLogTypes", "a list")),
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("LogTypeMap.AssociatedLogTypes[{i}]");
                    if let Some(lt) = parse_log_type(item, &path, diags) {
                        if out.iter().any(|o| o.log_type == lt.log_type) {
                            diags.push(item.error(
                                "duplicate",
                                &path,
                                format!("log type {:?} is listed twice", lt.log_type),
                            ));
                            continue;
                        }
                        out.push(lt);
                    }
                }
            }
        }
    }
    r.finish_with_hint(&["PrimaryKey", "AssociatedLogTypes"], diags);
    (pk, out)
}

fn parse_log_type(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<LogTypeSelectors> {
    let mut r = MapReader::new(node, path, diags)?;
    let log_type = r.required_str("LogType", diags);
    if let (Some(lt), Some(at)) = (log_type, node.get("LogType")) {
        if !is_log_type_name(lt) {
            diags.push(at.error(
                "invalid-value",
                &format!("{path}.LogType"),
                format!("{lt:?} is not a log type name (expected dot-separated words such as AWS.CloudTrail or Custom.MyLogs)"),
            ));
        }
    }
    let mut selectors: Vec<Selector> = Vec::new();
    if let Some(list) = r.str_list("Selectors", diags) {
        for (i, (s, at)) in list.into_iter().enumerate() {
            let p = format!("{path}.Selectors[{i}]");
            match Selector::parse(s) {
                Ok(sel) => {
                    if selectors.iter().any(|o| o.key == sel.key) {
                        diags.push(at.error(
                            "duplicate",
                            &p,
                            format!("selector {s:?} is listed twice for this log type"),
                        ));
                    } else {
                        selectors.push(sel);
                    }
                }
                Err(e) => diags.push(at.error("invalid-selector", &p, e.to_string())),
            }
        }
    }
    r.finish_with_hint(&["LogType", "Selectors"], diags);
    Some(LogTypeSelectors {
        log_type: log_type?.to_string(),
        selectors,
    })
}

/// `AWS.CloudTrail`, `Amazon.EKS.Audit`, `Custom.My_Logs`: two or more words of letters,
/// digits and `_`/`-`, joined by dots.
pub fn is_log_type_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

fn check_filename(f: &str, at: &Node, diags: &mut Diagnostics) {
    let p = Path::new(f);
    if f.is_empty() {
        diags.push(at.error("invalid-value", "Filename", "Filename is empty"));
    } else if p.is_absolute() || f.contains("://") {
        diags.push(at.error(
            "invalid-value",
            "Filename",
            format!("Filename {f:?} must be a path relative to the spec's directory"),
        ));
    } else if escapes(p) {
        diags.push(at.error(
            "invalid-value",
            "Filename",
            format!("Filename {f:?} points outside the spec's directory"),
        ));
    }
}

/// Whether a relative path climbs above its starting directory.
fn escapes(p: &Path) -> bool {
    let mut depth: i64 = 0;
    for c in p.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

fn parse_s3_refresh(node: &Node, opts: &SpecOptions, diags: &mut Diagnostics) -> Option<S3Source> {
    let errors_before = diags.error_count();
    let mut r = MapReader::new(node, "Refresh", diags)?;
    let uri = r.required_str("ObjectPath", diags).and_then(|s| {
        S3Uri::parse(s)
            .map_err(|e| {
                diags.push(node.get("ObjectPath").unwrap_or(node).error(
                    "invalid-value",
                    "Refresh.ObjectPath",
                    e.to_string(),
                ))
            })
            .ok()
    });
    let role_arn = match r.str("RoleARN", diags) {
        None => {
            if !r.has("RoleARN") {
                diags.push(node.error(
                    "missing-key",
                    "Refresh.RoleARN",
                    "lut needs Refresh.RoleARN to read an S3 object: the IAM role in the bucket's account that lut assumes (see `lut tables iam`)",
                ));
            }
            None
        }
        Some(s) => {
            let at = node.get("RoleARN").unwrap_or(node);
            match RoleArn::parse(s) {
                Ok(arn) => {
                    if !arn.name.starts_with(&opts.role_prefix) {
                        diags.push(at.warning(
                            "role-prefix",
                            "Refresh.RoleARN",
                            format!(
                                "role name {:?} does not start with {:?}; lut's own IAM policy may only allow assuming roles with that prefix",
                                arn.name, opts.role_prefix
                            ),
                        ));
                    }
                    Some(arn)
                }
                Err(e) => {
                    diags.push(at.error("invalid-value", "Refresh.RoleARN", e.to_string()));
                    None
                }
            }
        }
    };
    let kms_key = r.str("ObjectKMSKey", diags).and_then(|s| {
        let at = node.get("ObjectKMSKey").unwrap_or(node);
        KmsKeyArn::parse(s)
            .map_err(|e| {
                diags.push(at.error("invalid-value", "Refresh.ObjectKMSKey", e.to_string()))
            })
            .ok()
    });
    let period = minutes(
        &mut r,
        node,
        "PeriodMinutes",
        MIN_PERIOD_MINUTES,
        MAX_PERIOD_MINUTES,
        diags,
    )
    .unwrap_or(DEFAULT_PERIOD_MINUTES);
    let alarm = minutes(
        &mut r,
        node,
        "AlarmPeriodMinutes",
        1,
        MAX_ALARM_PERIOD_MINUTES,
        diags,
    );
    if let Some(cron) = r.get("CronExpression") {
        diags.push(cron.error(
            "invalid-value",
            "Refresh.CronExpression",
            "CronExpression is only for SQL-sourced tables; S3 tables use PeriodMinutes",
        ));
    }
    r.finish_with_hint(REFRESH_KEYS, diags);
    if let (Some(k), Some(role)) = (&kms_key, &role_arn) {
        if k.partition != role.partition {
            let at = node.get("ObjectKMSKey").unwrap_or(node);
            diags.push(at.error(
                "invalid-value",
                "Refresh.ObjectKMSKey",
                format!(
                    "the KMS key is in partition {:?} but the role is in {:?}",
                    k.partition, role.partition
                ),
            ));
        }
    }
    if diags.error_count() > errors_before {
        return None;
    }
    Some(S3Source {
        uri: uri?,
        role_arn: role_arn?,
        kms_key,
        period_minutes: period,
        alarm_period_minutes: alarm,
    })
}

fn is_file_url(refresh: &Node) -> bool {
    refresh
        .get("ObjectPath")
        .and_then(Node::as_str)
        .is_some_and(|p| p.starts_with("file://"))
}

fn parse_watch_refresh(node: &Node, diags: &mut Diagnostics) -> Option<WatchedFile> {
    let errors_before = diags.error_count();
    let mut r = MapReader::new(node, "Refresh", diags)?;
    let raw = r.required_str("ObjectPath", diags)?;
    let path = PathBuf::from(raw.trim_start_matches("file://"));
    if !path.is_absolute() {
        let at = node.get("ObjectPath").unwrap_or(node);
        diags.push(at.error(
            "invalid-value",
            "Refresh.ObjectPath",
            format!(
                "a file:// ObjectPath must be absolute (file:///path/to/data.csv), found {raw:?}"
            ),
        ));
    }
    let period = minutes(&mut r, node, "PeriodMinutes", 1, MAX_PERIOD_MINUTES, diags)
        .unwrap_or(DEFAULT_PERIOD_MINUTES);
    let alarm = minutes(
        &mut r,
        node,
        "AlarmPeriodMinutes",
        1,
        MAX_ALARM_PERIOD_MINUTES,
        diags,
    );
    r.finish_with_hint(
        &["ObjectPath", "PeriodMinutes", "AlarmPeriodMinutes"],
        diags,
    );
    (diags.error_count() == errors_before).then_some(WatchedFile {
        path,
        period_minutes: period,
        alarm_period_minutes: alarm,
    })
}

fn minutes(
    r: &mut MapReader<'_>,
    node: &Node,
    key: &str,
    min: i64,
    max: i64,
    diags: &mut Diagnostics,
) -> Option<u32> {
    let v = r.int(key, diags)?;
    if (min..=max).contains(&v) {
        Some(v as u32)
    } else {
        let at = node.get(key).unwrap_or(node);
        diags.push(at.error(
            "invalid-value",
            &format!("Refresh.{key}"),
            format!("{key} must be between {min} and {max} minutes, found {v}"),
        ));
        None
    }
}

/// Diagnostic for a document that is not a mapping at all.
pub fn not_a_spec(node: &Node) -> Diagnostic {
    node.error(
        "not-a-spec",
        "",
        format!(
            "expected a lookup-table spec (a mapping with AnalysisType: lookup_table), found {}",
            node.describe()
        ),
    )
}

#[path = "spec_other.rs"]
mod other;
use other::{check_gcs, check_sql};

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
