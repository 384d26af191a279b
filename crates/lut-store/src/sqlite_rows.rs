//! Row mapping and small SQL helpers shared by the SQLite catalog's operations.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::{ERROR_COLUMNS, TABLE_COLUMNS, VERSION_SELECT};
use crate::blobs::validate_sha256;
use crate::{
    now_millis, DefinitionChange, NewVersion, Result, StoreError, SystemErrorRecord, TableRecord,
    VersionRecord,
};

pub(super) fn table_exists(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn
        .query_row("SELECT 1 FROM tables WHERE name = ?1", [name], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(super) fn require_table(conn: &Connection, name: &str) -> Result<()> {
    if table_exists(conn, name)? {
        Ok(())
    } else {
        Err(StoreError::NoSuchTable(name.to_string()))
    }
}

pub(super) fn table_from_row(r: &Row<'_>) -> rusqlite::Result<TableRecord> {
    Ok(TableRecord {
        name: r.get(0)?,
        enabled: r.get(1)?,
        spec_yaml: r.get(2)?,
        schema_name: r.get(3)?,
        schema_yaml: r.get(4)?,
        source_kind: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

/// SQLite integers are i64; sizes and row counts are u64 in the API.
pub(super) fn get_u64(r: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = r.get(idx)?;
    u64::try_from(v).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Integer, Box::new(e))
    })
}

pub(super) fn to_i64(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Conflict(format!("{what} {v} is too large to store")))
}

pub(super) fn version_from_row(r: &Row<'_>) -> rusqlite::Result<VersionRecord> {
    Ok(VersionRecord {
        id: r.get(0)?,
        table: r.get(1)?,
        etag: r.get(2)?,
        size: get_u64(r, 3)?,
        sha256: r.get(4)?,
        rows: get_u64(r, 5)?,
        source: r.get(6)?,
        fetched_at: r.get(7)?,
        live: r.get(8)?,
    })
}

pub(super) fn error_from_row(r: &Row<'_>) -> rusqlite::Result<SystemErrorRecord> {
    Ok(SystemErrorRecord {
        id: r.get(0)?,
        table: r.get(1)?,
        severity: r.get(2)?,
        stage: r.get(3)?,
        code: r.get(4)?,
        message: r.get(5)?,
        remedy: r.get(6)?,
        first_seen: r.get(7)?,
        last_seen: r.get(8)?,
        count: r.get(9)?,
        resolved_at: r.get(10)?,
        acknowledged_at: r.get(11)?,
    })
}

pub(super) fn version_by_id(conn: &Connection, id: i64) -> Result<Option<VersionRecord>> {
    Ok(conn
        .query_row(
            &format!("{VERSION_SELECT} WHERE v.id = ?1"),
            [id],
            version_from_row,
        )
        .optional()?)
}

pub(super) fn error_by_id(conn: &Connection, id: i64) -> Result<SystemErrorRecord> {
    Ok(conn.query_row(
        &format!("SELECT {ERROR_COLUMNS} FROM system_errors WHERE id = ?1"),
        [id],
        error_from_row,
    )?)
}

/// Inserts a version (the table must exist) and returns its id.
pub(super) fn insert_version(tx: &Transaction<'_>, v: &NewVersion) -> Result<i64> {
    validate_sha256(&v.sha256)?;
    let size = to_i64(v.size, "size")?;
    let rows = to_i64(v.rows, "row count")?;
    require_table(tx, &v.table)?;
    tx.execute(
        "INSERT INTO versions (table_name, etag, size, sha256, rows, source, fetched_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            v.table,
            v.etag,
            size,
            v.sha256,
            rows,
            v.source,
            v.fetched_at
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

pub(super) fn set_live_pointer(tx: &Transaction<'_>, table: &str, id: i64) -> Result<()> {
    tx.execute(
        "UPDATE tables SET live_version_id = ?2 WHERE name = ?1",
        params![table, id],
    )?;
    Ok(())
}

pub(super) fn must_exist(tx: &Transaction<'_>, id: i64) -> Result<VersionRecord> {
    version_by_id(tx, id)?.ok_or_else(|| {
        StoreError::Conflict(format!("version {id} vanished inside its transaction"))
    })
}

/// Writes a [`DefinitionChange`] inside `tx` (shared by `apply_audited` and
/// `put_schema_audited`).
pub(super) fn apply_change(tx: &Transaction<'_>, change: &DefinitionChange) -> Result<()> {
    if let Some(name) = change
        .upsert
        .iter()
        .map(|t| &t.name)
        .find(|n| change.delete.contains(n))
    {
        return Err(StoreError::Conflict(format!(
            "table {name:?} is both defined and deleted in one change"
        )));
    }
    for t in &change.upsert {
        // created_at, the live pointer and the pin survive a redefinition.
        tx.execute(
            &format!(
                "INSERT INTO tables ({TABLE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(name) DO UPDATE SET
                         enabled = excluded.enabled,
                         spec_yaml = excluded.spec_yaml,
                         schema_name = excluded.schema_name,
                         schema_yaml = excluded.schema_yaml,
                         source_kind = excluded.source_kind,
                         updated_at = excluded.updated_at"
            ),
            params![
                t.name,
                t.enabled,
                t.spec_yaml,
                t.schema_name,
                t.schema_yaml,
                t.source_kind,
                t.created_at,
                t.updated_at
            ],
        )?;
    }
    let now = now_millis();
    for name in &change.delete {
        // Versions and checks go with it (ON DELETE CASCADE).
        if tx.execute("DELETE FROM tables WHERE name = ?1", [name])? == 0 {
            return Err(StoreError::NoSuchTable(name.clone()));
        }
        // Its open errors can no longer be resolved by a successful check.
        tx.execute(
            "UPDATE system_errors SET resolved_at = ?2
                 WHERE table_name = ?1 AND resolved_at IS NULL",
            params![name, now],
        )?;
    }
    for v in &change.versions {
        let id = insert_version(tx, v)?;
        set_live_pointer(tx, &v.table, id)?;
        // Data the user applies explicitly replaces a rollback: unpin.
        tx.execute("UPDATE tables SET pinned = 0 WHERE name = ?1", [&v.table])?;
    }
    Ok(())
}
