//! Shared builders for the integration tests.
#![allow(dead_code)]

use lut_store::{NewSystemError, NewVersion, SqliteCatalog, TableRecord};

pub fn catalog() -> (tempfile::TempDir, SqliteCatalog) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = SqliteCatalog::open(&dir.path().join("catalog.sqlite")).expect("open catalog");
    (dir, cat)
}

pub fn table(name: &str, at: i64) -> TableRecord {
    TableRecord {
        name: name.to_string(),
        enabled: true,
        spec_yaml: format!("TableName: {name}\n"),
        schema_name: format!("Custom.{name}"),
        schema_yaml: "fields: []\n".to_string(),
        source_kind: "s3".to_string(),
        created_at: at,
        updated_at: at,
    }
}

/// A digest derived from `n`, distinct per `n`.
pub fn sha(n: u64) -> String {
    format!("{n:064x}")
}

pub fn version(table: &str, n: u64) -> NewVersion {
    NewVersion {
        table: table.to_string(),
        etag: Some(format!("\"etag-{n}\"")),
        size: 100 + n,
        sha256: sha(n),
        rows: n,
        source: format!("s3://bucket/{table}.csv"),
        fetched_at: 1_000 + n as i64,
    }
}

pub fn error(table: Option<&str>, stage: &str, code: Option<&str>, at: i64) -> NewSystemError {
    NewSystemError {
        table: table.map(str::to_string),
        severity: "CRITICAL".to_string(),
        stage: stage.to_string(),
        code: code.map(str::to_string),
        message: format!("failed at {at}"),
        remedy: "fix it".to_string(),
        at,
    }
}

pub fn check_record(table: &str, at: i64) -> lut_store::CheckRecord {
    lut_store::CheckRecord {
        table: table.to_string(),
        at,
        outcome: "unchanged".to_string(),
        version_id: None,
        stage: None,
        code: None,
        message: None,
        duration_ms: 1,
    }
}
