//! Structure checks of the lookup-table specs lut recognises but does not load: SQL-sourced
//! (`Query`, `AthenaQuery`, ...) and GCS-sourced tables. They are checked as
//! panther_analysis_tool checks them so a repository validates, then skipped.

use super::REFRESH_KEYS;
use crate::diag::Diagnostics;
use crate::yaml::{MapReader, Node};

#[allow(clippy::too_many_arguments)]
pub(super) fn check_sql(
    node: &Node,
    queries: &[(&str, &Node)],
    schema: Option<&Node>,
    has_filename: bool,
    refresh: Option<&Node>,
    indicators: Option<&Node>,
    validations: Option<&Node>,
    diags: &mut Diagnostics,
) {
    if queries.len() > 1 {
        let keys: Vec<&str> = queries.iter().map(|(k, _)| *k).collect();
        diags.push(queries[1].1.error(
            "invalid-value",
            queries[1].0,
            format!("use exactly one of {}", keys.join(", ")),
        ));
    }
    for (k, q) in queries {
        if q.as_str().is_none_or(|s| s.trim().is_empty()) {
            diags.push(q.error(
                "wrong-type",
                k,
                format!("{k} must be a non-empty SQL string, found {}", q.describe()),
            ));
        }
    }
    if let Some(s) = schema {
        diags.push(s.error(
            "invalid-value",
            "Schema",
            "a SQL-sourced lookup table takes its columns from the query: Schema is not allowed",
        ));
    }
    if has_filename {
        diags.push(node.error(
            "invalid-value",
            "Filename",
            "a SQL-sourced lookup table cannot also have a Filename",
        ));
    }
    match refresh {
        None => diags.push(node.error(
            "missing-key",
            "Refresh",
            "a SQL-sourced lookup table needs Refresh with PeriodMinutes or CronExpression",
        )),
        Some(rf) => {
            let mut r = match MapReader::new(rf, "Refresh", diags) {
                Some(r) => r,
                None => return,
            };
            let has_period = r.has("PeriodMinutes");
            let has_cron = r.has("CronExpression");
            r.int("PeriodMinutes", diags);
            if let Some(c) = r.get("CronExpression") {
                if c.as_str().is_none() {
                    diags.push(r.wrong_type(c, "CronExpression", "a string (a cron expression)"));
                }
            }
            r.finish_with_hint(&["PeriodMinutes", "CronExpression"], diags);
            if has_period == has_cron {
                diags.push(rf.error("invalid-value", "Refresh", "a SQL-sourced lookup table needs exactly one of PeriodMinutes or CronExpression"));
            }
        }
    }
    check_field_lists(indicators, "Indicators", diags);
    check_field_lists(validations, "Validations", diags);
}

/// `Indicators: [{Field, Indicators: [..]}]` and `Validations: [{Field, Validations: [..]}]`.
fn check_field_lists(node: Option<&Node>, key: &'static str, diags: &mut Diagnostics) {
    let Some(node) = node else { return };
    let Some(items) = node.as_seq() else {
        diags.push(node.error(
            "wrong-type",
            key,
            format!("{key} must be a list, found {}", node.describe()),
        ));
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("{key}[{i}]");
        let Some(mut r) = MapReader::new(item, &path, diags) else {
            continue;
        };
        r.required_str("Field", diags);
        if r.str_list(key, diags).is_none() && !r.has(key) {
            diags.push(r.missing(key));
        }
        r.finish_with_hint(&["Field", key], diags);
    }
}

pub(super) fn check_gcs(node: &Node, diags: &mut Diagnostics) {
    let Some(mut r) = MapReader::new(node, "Refresh", diags) else {
        return;
    };
    if let Some(p) = r.required_str("ObjectPath", diags) {
        if !p.starts_with("gs://") || p.len() <= 5 {
            let at = node.get("ObjectPath").unwrap_or(node);
            diags.push(at.error(
                "invalid-value",
                "Refresh.ObjectPath",
                format!("a GCS object path must look like gs://bucket/object, found {p:?}"),
            ));
        }
    }
    r.str("GCSCredentials", diags);
    r.str("StorageProvider", diags);
    r.int("PeriodMinutes", diags);
    r.int("AlarmPeriodMinutes", diags);
    r.finish_with_hint(REFRESH_KEYS, diags);
}
