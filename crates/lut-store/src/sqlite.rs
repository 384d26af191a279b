//! The embedded [`Catalog`]: one SQLite file in the data directory.
//!
//! Owns the connection settings that let a CLI process and a server process share the file
//! (WAL journal, busy timeout, every write transaction taking the write lock up front) and
//! the SQL behind each catalog operation. The schema itself lives in [`crate::migrations`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::datadir::now_millis;
use crate::migrations::{migrate, MIGRATIONS};
use crate::{
    AlarmRecord, AuditFilter, AuditRecord, Catalog, CheckRecord, DefinitionChange, DeliveryRecord,
    DestinationRecord, ErrorFilter, Millis, NewAuditEntry, NewDestination, NewSystemError,
    NewVersion, Result, StoreError, SystemErrorRecord, TableRecord, TableStatus, VersionRecord,
};

/// How long a statement waits for another process's write lock before failing with
/// "database is locked". Catalog transactions are short, so this is only reached when
/// something is wrong.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks kept per table by default; older ones are pruned as new ones are recorded.
pub const CHECK_HISTORY: usize = 1000;

#[path = "sqlite_rows.rs"]
mod rows;
use rows::*;

/// A [`Catalog`] in a SQLite database file.
pub struct SqliteCatalog {
    path: PathBuf,
    // One connection per catalog: SQLite serialises writers anyway, and the calls are short.
    conn: Mutex<Connection>,
    check_history: usize,
}

impl fmt::Debug for SqliteCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteCatalog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

const TABLE_COLUMNS: &str =
    "name, enabled, spec_yaml, schema_name, schema_yaml, source_kind, created_at, updated_at";

const VERSION_SELECT: &str = "SELECT v.id, v.table_name, v.etag, v.size, v.sha256, v.rows, \
     v.source, v.fetched_at, t.live_version_id IS v.id \
     FROM versions v JOIN tables t ON t.name = v.table_name";

const ERROR_COLUMNS: &str = "id, table_name, severity, stage, code, message, remedy, \
     first_seen, last_seen, count, resolved_at, acknowledged_at";

impl SqliteCatalog {
    /// Opens (creating if needed) the catalog at `path` and brings its schema up to date.
    /// Fails with [`StoreError::TooNew`] for a catalog written by a newer lut.
    pub fn open(path: &Path) -> Result<SqliteCatalog> {
        let mut conn = Connection::open(path)?;
        // Before anything that may wait on another process's lock.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers never block the writer and vice versa, so `lut tables list` works
        // while `lut serve` syncs. The mode is persistent in the file.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Conflict(format!(
                "the catalog {} cannot use write-ahead logging (journal mode {mode})",
                path.display()
            )));
        }
        // FULL: a committed live switch survives power loss too, so the blob collector can
        // trust the catalog it reads. Catalog writes are rare enough for the fsync.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        migrate(&mut conn, MIGRATIONS)?;
        Ok(SqliteCatalog {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            check_history: CHECK_HISTORY,
        })
    }

    /// Keeps `keep` checks per table instead of [`CHECK_HISTORY`] (at least 1).
    pub fn with_check_history(mut self, keep: usize) -> SqliteCatalog {
        self.check_history = keep.max(1);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (it rolls back on
        // drop), so the connection is still good.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&self.lock())
    }

    /// Runs `f` in a transaction that holds the write lock from its start: a deferred one
    /// that reads first could not upgrade once another process has written (SQLITE_BUSY
    /// without waiting), which is what "database is locked" under concurrency comes from.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

impl Catalog for SqliteCatalog {
    fn apply_audited(&self, change: &DefinitionChange, audit: &[NewAuditEntry]) -> Result<()> {
        self.write(|tx| {
            apply_change(tx, change)?;
            for e in audit {
                crate::audit::append(tx, e)?;
            }
            Ok(())
        })
    }

    fn put_schema_audited(
        &self,
        schema: &crate::schemas::SchemaRecord,
        users: &[(String, Millis)],
        change: &DefinitionChange,
        audit: &[NewAuditEntry],
    ) -> Result<()> {
        // One transaction: the stored schema and the tables re-applied with it change
        // together or not at all, and only if the tables are still the ones validated.
        self.write(|tx| {
            let mut expected = users.to_vec();
            expected.sort();
            if crate::schemas::users(tx, &schema.name)? != expected {
                return Err(StoreError::Conflict(format!(
                    "the tables using schema {:?} changed while it was being updated; send it again",
                    schema.name
                )));
            }
            crate::schemas::put(tx, schema)?;
            apply_change(tx, change)?;
            for e in audit {
                crate::audit::append(tx, e)?;
            }
            Ok(())
        })
    }

    fn schema(&self, name: &str) -> Result<Option<crate::schemas::SchemaRecord>> {
        self.read(|c| crate::schemas::get(c, name))
    }

    fn schemas(&self) -> Result<Vec<crate::schemas::SchemaRecord>> {
        self.read(crate::schemas::list)
    }

    fn delete_schema_audited(&self, name: &str, audit: &[NewAuditEntry]) -> Result<bool> {
        self.write(|tx| {
            let deleted = crate::schemas::delete(tx, name)?;
            if deleted {
                for e in audit {
                    crate::audit::append(tx, e)?;
                }
            }
            Ok(deleted)
        })
    }

    fn tables(&self) -> Result<Vec<TableRecord>> {
        self.read(|c| {
            let mut st = c.prepare(&format!("SELECT {TABLE_COLUMNS} FROM tables ORDER BY name"))?;
            let rows = st.query_map([], table_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn table(&self, name: &str) -> Result<Option<TableRecord>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {TABLE_COLUMNS} FROM tables WHERE name = ?1"),
                [name],
                table_from_row,
            )
            .optional()?)
        })
    }

    fn set_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE tables SET enabled = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, enabled, now_millis()],
            )?;
            if n == 0 {
                return Err(StoreError::NoSuchTable(name.to_string()));
            }
            Ok(())
        })
    }

    fn add_version(&self, v: &NewVersion, make_live: bool) -> Result<VersionRecord> {
        self.write(|tx| {
            let id = insert_version(tx, v)?;
            if make_live {
                // Checked in this transaction: a rollback committed after the caller last
                // looked must not be overridden by the sync that was already running.
                let pinned: bool = tx.query_row(
                    "SELECT pinned FROM tables WHERE name = ?1",
                    [&v.table],
                    |r| r.get(0),
                )?;
                if !pinned {
                    set_live_pointer(tx, &v.table, id)?;
                }
            }
            must_exist(tx, id)
        })
    }

    fn versions(&self, table: &str) -> Result<Vec<VersionRecord>> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "{VERSION_SELECT} WHERE v.table_name = ?1 ORDER BY v.id DESC"
            ))?;
            let rows = st.query_map([table], version_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn live_version(&self, table: &str) -> Result<Option<VersionRecord>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("{VERSION_SELECT} WHERE t.name = ?1 AND v.id = t.live_version_id"),
                [table],
                version_from_row,
            )
            .optional()?)
        })
    }

    fn latest_version(&self, table: &str) -> Result<Option<VersionRecord>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("{VERSION_SELECT} WHERE v.table_name = ?1 ORDER BY v.id DESC LIMIT 1"),
                [table],
                version_from_row,
            )
            .optional()?)
        })
    }

    fn referenced_blobs(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT DISTINCT sha256 FROM versions ORDER BY sha256")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn set_live(&self, table: &str, version_id: i64, pin: bool) -> Result<VersionRecord> {
        self.write(|tx| {
            require_table(tx, table)?;
            let owner: Option<String> = tx
                .query_row(
                    "SELECT table_name FROM versions WHERE id = ?1",
                    [version_id],
                    |r| r.get(0),
                )
                .optional()?;
            if owner.as_deref() != Some(table) {
                return Err(StoreError::Conflict(format!(
                    "table {table:?} has no version {version_id}"
                )));
            }
            set_live_pointer(tx, table, version_id)?;
            tx.execute(
                "UPDATE tables SET pinned = ?2 WHERE name = ?1",
                params![table, pin],
            )?;
            must_exist(tx, version_id)
        })
    }

    fn set_pinned(&self, table: &str, pinned: bool) -> Result<()> {
        self.write(|tx| {
            if tx.execute(
                "UPDATE tables SET pinned = ?2 WHERE name = ?1",
                params![table, pinned],
            )? == 0
            {
                return Err(StoreError::NoSuchTable(table.to_string()));
            }
            Ok(())
        })
    }

    fn is_pinned(&self, table: &str) -> Result<bool> {
        self.read(|c| {
            c.query_row("SELECT pinned FROM tables WHERE name = ?1", [table], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| StoreError::NoSuchTable(table.to_string()))
        })
    }

    fn prune_versions(&self, table: &str, keep: usize) -> Result<usize> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.write(|tx| {
            // The live version is kept whatever its age (after a rollback it is old).
            Ok(tx.execute(
                "DELETE FROM versions
                 WHERE table_name = ?1
                   AND id IS NOT (SELECT live_version_id FROM tables WHERE name = ?1)
                   AND id NOT IN (SELECT id FROM versions WHERE table_name = ?1
                                  ORDER BY id DESC LIMIT ?2)",
                params![table, keep],
            )?)
        })
    }

    fn record_check(&self, c: &CheckRecord) -> Result<()> {
        let keep = i64::try_from(self.check_history).unwrap_or(i64::MAX);
        self.write(|tx| {
            require_table(tx, &c.table)?;
            tx.execute(
                "INSERT INTO checks (table_name, at, outcome, version_id, stage, code, message,
                                     duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    c.table,
                    c.at,
                    c.outcome,
                    c.version_id,
                    c.stage,
                    c.code,
                    c.message,
                    c.duration_ms
                ],
            )?;
            // Bounded history: a table checked every minute would otherwise grow forever.
            tx.execute(
                "DELETE FROM checks WHERE table_name = ?1 AND id NOT IN
                     (SELECT id FROM checks WHERE table_name = ?1
                      ORDER BY at DESC, id DESC LIMIT ?2)",
                params![c.table, keep],
            )?;
            Ok(())
        })
    }

    fn checks(&self, table: &str, limit: usize) -> Result<Vec<CheckRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT table_name, at, outcome, version_id, stage, code, message, duration_ms
                 FROM checks WHERE table_name = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![table, limit], |r| {
                Ok(CheckRecord {
                    table: r.get(0)?,
                    at: r.get(1)?,
                    outcome: r.get(2)?,
                    version_id: r.get(3)?,
                    stage: r.get(4)?,
                    code: r.get(5)?,
                    message: r.get(6)?,
                    duration_ms: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn table_status(&self) -> Result<Vec<TableStatus>> {
        self.read(|c| {
            // Both subqueries walk an index on (table_name, ...), so a scrape stays cheap.
            let mut st = c.prepare(
                "SELECT t.name, t.enabled, lv.id, lv.rows,
                        (SELECT MAX(v.fetched_at) FROM versions v WHERE v.table_name = t.name),
                        (SELECT MAX(k.at) FROM checks k
                          WHERE k.table_name = t.name AND k.outcome <> 'failed')
                 FROM tables t LEFT JOIN versions lv ON lv.id = t.live_version_id
                 ORDER BY t.name",
            )?;
            let rows = st.query_map([], |r| {
                let id: Option<i64> = r.get(2)?;
                let rows: Option<i64> = r.get(3)?;
                Ok(TableStatus {
                    name: r.get(0)?,
                    enabled: r.get(1)?,
                    live: id.map(|id| (id, rows.unwrap_or(0).max(0) as u64)),
                    newest_data_at: r.get(4)?,
                    last_success_at: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn raise_error(&self, e: &NewSystemError) -> Result<SystemErrorRecord> {
        self.write(|tx| {
            // Same key expression as the unique index `system_errors_open`.
            let open: Option<i64> = tx
                .query_row(
                    "SELECT id FROM system_errors
                     WHERE ifnull(table_name, '') = ifnull(?1, '') AND stage = ?2
                       AND ifnull(code, '') = ifnull(?3, '') AND resolved_at IS NULL",
                    params![e.table, e.stage, e.code],
                    |r| r.get(0),
                )
                .optional()?;
            let id = match open {
                Some(id) => {
                    tx.execute(
                        "UPDATE system_errors
                         SET last_seen = max(last_seen, ?2), message = ?3, remedy = ?4,
                             severity = ?5, count = count + 1
                         WHERE id = ?1",
                        params![id, e.at, e.message, e.remedy, e.severity],
                    )?;
                    id
                }
                None => {
                    tx.execute(
                        "INSERT INTO system_errors (table_name, severity, stage, code, message,
                             remedy, first_seen, last_seen, count)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 1)",
                        params![e.table, e.severity, e.stage, e.code, e.message, e.remedy, e.at],
                    )?;
                    tx.last_insert_rowid()
                }
            };
            error_by_id(tx, id)
        })
    }

    fn resolve_errors(&self, table: &str, at: Millis) -> Result<usize> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE system_errors SET resolved_at = ?2
                 WHERE table_name = ?1 AND resolved_at IS NULL",
                params![table, at],
            )?)
        })
    }

    fn acknowledge_error(&self, id: i64, at: Millis) -> Result<bool> {
        self.write(|tx| {
            // The first acknowledgement's time is kept; the answer is whether the id exists.
            Ok(tx.execute(
                "UPDATE system_errors SET acknowledged_at = ifnull(acknowledged_at, ?2)
                 WHERE id = ?1",
                params![id, at],
            )? > 0)
        })
    }

    fn errors(&self, filter: &ErrorFilter) -> Result<Vec<SystemErrorRecord>> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {ERROR_COLUMNS} FROM system_errors
                 WHERE (?1 IS NULL OR table_name = ?1) AND (?2 OR resolved_at IS NULL)
                 ORDER BY last_seen DESC, id DESC"
            ))?;
            let rows = st.query_map(params![filter.table, filter.all], error_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn alarms(&self) -> Result<Vec<AlarmRecord>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT table_name, kind, state, since, last_notified_at, reminders
                 FROM alarms ORDER BY table_name, kind",
            )?;
            let rows = st.query_map([], |r| {
                Ok(AlarmRecord {
                    table: r.get(0)?,
                    kind: r.get(1)?,
                    state: r.get(2)?,
                    since: r.get(3)?,
                    last_notified_at: r.get(4)?,
                    reminders: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn put_alarm(&self, a: &AlarmRecord) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO alarms
                     (table_name, kind, state, since, last_notified_at, reminders)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    a.table,
                    a.kind,
                    a.state,
                    a.since,
                    a.last_notified_at,
                    a.reminders
                ],
            )?;
            Ok(())
        })
    }

    fn add_destination(&self, d: &NewDestination) -> Result<DestinationRecord> {
        self.write(|tx| {
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM destinations WHERE name = ?1)",
                [&d.name],
                |r| r.get(0),
            )?;
            if taken {
                return Err(StoreError::Conflict(format!(
                    "a destination named {:?} exists already",
                    d.name
                )));
            }
            tx.execute(
                "INSERT INTO destinations (name, kind, config, min_severity, table_filter,
                                           enabled, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    d.name,
                    d.kind,
                    d.config,
                    d.min_severity,
                    d.table_filter,
                    d.enabled,
                    d.created_at
                ],
            )?;
            Ok(DestinationRecord {
                id: tx.last_insert_rowid(),
                name: d.name.clone(),
                kind: d.kind.clone(),
                config: d.config.clone(),
                min_severity: d.min_severity.clone(),
                table_filter: d.table_filter.clone(),
                enabled: d.enabled,
                created_at: d.created_at,
            })
        })
    }

    fn destinations(&self) -> Result<Vec<DestinationRecord>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT id, name, kind, config, min_severity, table_filter, enabled, created_at
                 FROM destinations ORDER BY name",
            )?;
            let rows = st.query_map([], |r| {
                Ok(DestinationRecord {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    config: r.get(3)?,
                    min_severity: r.get(4)?,
                    table_filter: r.get(5)?,
                    enabled: r.get(6)?,
                    created_at: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn remove_destination(&self, name: &str) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("DELETE FROM destinations WHERE name = ?1", [name])? > 0))
    }

    fn log_delivery(&self, d: &DeliveryRecord) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO deliveries (destination, event, at, ok, status, error, attempt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    d.destination,
                    d.event,
                    d.at,
                    d.ok,
                    d.status,
                    d.error,
                    d.attempt
                ],
            )?;
            // Bounded log.
            tx.execute(
                "DELETE FROM deliveries WHERE destination = ?1 AND id NOT IN
                     (SELECT id FROM deliveries WHERE destination = ?1
                      ORDER BY id DESC LIMIT 1000)",
                [&d.destination],
            )?;
            Ok(())
        })
    }

    fn deliveries(&self, destination: Option<&str>, limit: usize) -> Result<Vec<DeliveryRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT destination, event, at, ok, status, error, attempt FROM deliveries
                 WHERE (?1 IS NULL OR destination = ?1) ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![destination, limit], |r| {
                Ok(DeliveryRecord {
                    destination: r.get(0)?,
                    event: r.get(1)?,
                    at: r.get(2)?,
                    ok: r.get(3)?,
                    status: r.get(4)?,
                    error: r.get(5)?,
                    attempt: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn errors_to_notify(&self) -> Result<Vec<SystemErrorRecord>> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {ERROR_COLUMNS} FROM system_errors
                 WHERE severity = 'CRITICAL' AND resolved_at IS NULL AND notified_at IS NULL
                 ORDER BY id"
            ))?;
            let rows = st.query_map([], error_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn resolutions_to_notify(&self) -> Result<Vec<SystemErrorRecord>> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {ERROR_COLUMNS} FROM system_errors
                 WHERE resolved_at IS NOT NULL AND notified_at IS NOT NULL
                   AND resolve_notified_at IS NULL
                 ORDER BY id"
            ))?;
            let rows = st.query_map([], error_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn mark_error_notified(&self, id: i64, resolved: bool, at: Millis) -> Result<()> {
        self.write(|tx| {
            let sql = if resolved {
                "UPDATE system_errors SET resolve_notified_at = ?2 WHERE id = ?1"
            } else {
                "UPDATE system_errors SET notified_at = ?2 WHERE id = ?1"
            };
            tx.execute(sql, params![id, at])?;
            Ok(())
        })
    }

    fn resolve_error_key(
        &self,
        table: Option<&str>,
        stage: &str,
        code: Option<&str>,
        at: Millis,
    ) -> Result<usize> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE system_errors SET resolved_at = ?4
                 WHERE ifnull(table_name, '') = ifnull(?1, '') AND stage = ?2
                   AND ifnull(code, '') = ifnull(?3, '') AND resolved_at IS NULL",
                params![table, stage, code, at],
            )?)
        })
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
    }

    fn add_token(&self, t: &crate::tokens::NewToken) -> Result<crate::tokens::TokenRecord> {
        self.write(|tx| crate::tokens::add(tx, t))
    }

    fn tokens(&self) -> Result<Vec<crate::tokens::TokenRecord>> {
        self.read(crate::tokens::list)
    }

    fn revoke_token(&self, id: i64, at: Millis) -> Result<bool> {
        self.write(|tx| crate::tokens::revoke(tx, id, at))
    }

    fn append_audit(&self, entry: &NewAuditEntry) -> Result<i64> {
        self.write(|tx| crate::audit::append(tx, entry))
    }

    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        self.read(|c| crate::audit::list(c, filter))
    }

    fn setting_or_init(&self, key: &str, value: &str) -> Result<String> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
                params![key, value],
            )?;
            Ok(
                tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }
}
