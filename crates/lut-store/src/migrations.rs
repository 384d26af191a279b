//! The catalog's schema history: an ordered list of migration steps and the code that
//! brings a database up to date.
//!
//! The schema version is SQLite's `PRAGMA user_version`: the number of steps applied. A
//! step, once released, is never edited — later changes are new steps appended here, so
//! every lut can open any older data directory. A database whose version is higher than
//! the steps known here was written by a newer lut and is refused ([`StoreError::TooNew`])
//! rather than misread.

use rusqlite::{Connection, TransactionBehavior};

use crate::{Result, StoreError};

/// Migration steps in order; step `i` takes the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: table definitions, their versions (with the live pointer) and settings.
    r#"
    CREATE TABLE tables (
        name            TEXT PRIMARY KEY NOT NULL,
        enabled         INTEGER NOT NULL,
        spec_yaml       TEXT NOT NULL,
        schema_name     TEXT NOT NULL,
        schema_yaml     TEXT NOT NULL,
        source_kind     TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        -- The version lookups use. That it belongs to this table is enforced in code.
        live_version_id INTEGER REFERENCES versions(id) ON DELETE SET NULL
    );
    -- AUTOINCREMENT: ids are never reused, so "newest" is "highest id" even after deletes.
    CREATE TABLE versions (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        table_name  TEXT NOT NULL REFERENCES tables(name) ON DELETE CASCADE,
        etag        TEXT,
        size        INTEGER NOT NULL,
        sha256      TEXT NOT NULL,
        rows        INTEGER NOT NULL,
        source      TEXT NOT NULL,
        fetched_at  INTEGER NOT NULL
    );
    CREATE INDEX versions_by_table ON versions(table_name, id);
    CREATE INDEX versions_by_sha256 ON versions(sha256);
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    );
    "#,
    // 2: sync history and system errors.
    r#"
    CREATE TABLE checks (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        table_name  TEXT NOT NULL REFERENCES tables(name) ON DELETE CASCADE,
        at          INTEGER NOT NULL,
        outcome     TEXT NOT NULL,
        version_id  INTEGER REFERENCES versions(id) ON DELETE SET NULL,
        stage       TEXT,
        code        TEXT,
        message     TEXT,
        duration_ms INTEGER NOT NULL
    );
    CREATE INDEX checks_by_table ON checks(table_name, at, id);
    -- No foreign key on table_name: an error may concern a table that is not (or no
    -- longer) defined, and errors are history worth keeping.
    CREATE TABLE system_errors (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        table_name      TEXT,
        severity        TEXT NOT NULL,
        stage           TEXT NOT NULL,
        code            TEXT,
        message         TEXT NOT NULL,
        remedy          TEXT NOT NULL,
        first_seen      INTEGER NOT NULL,
        last_seen       INTEGER NOT NULL,
        count           INTEGER NOT NULL,
        resolved_at     INTEGER,
        acknowledged_at INTEGER
    );
    -- At most one open error per (table, stage, code), even with two processes raising.
    CREATE UNIQUE INDEX system_errors_open
        ON system_errors(ifnull(table_name, ''), stage, ifnull(code, ''))
        WHERE resolved_at IS NULL;
    CREATE INDEX system_errors_by_last_seen ON system_errors(last_seen);
    "#,
    // 3: pinning (SPEC §9: a rollback pins the table; newer versions are recorded but not
    // made live until it is unpinned).
    r#"
    ALTER TABLE tables ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
    "#,
    // 4: alarms, alert destinations, their delivery log, and which system errors have
    // been notified (so a restart neither repeats nor forgets a notification).
    r#"
    CREATE TABLE alarms (
        table_name       TEXT NOT NULL,
        kind             TEXT NOT NULL,
        state            TEXT NOT NULL,
        since            INTEGER NOT NULL,
        last_notified_at INTEGER,
        reminders        INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (table_name, kind)
    );
    CREATE TABLE destinations (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        name         TEXT NOT NULL UNIQUE,
        kind         TEXT NOT NULL,
        -- JSON; secret values inside are sealed (see lut_store::secrets).
        config       TEXT NOT NULL,
        min_severity TEXT NOT NULL,
        table_filter TEXT,
        enabled      INTEGER NOT NULL,
        created_at   INTEGER NOT NULL
    );
    CREATE TABLE deliveries (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        destination TEXT NOT NULL,
        event       TEXT NOT NULL,
        at          INTEGER NOT NULL,
        ok          INTEGER NOT NULL,
        status      INTEGER,
        error       TEXT,
        attempt     INTEGER NOT NULL
    );
    CREATE INDEX deliveries_by_destination ON deliveries(destination, id);
    ALTER TABLE system_errors ADD COLUMN notified_at INTEGER;
    ALTER TABLE system_errors ADD COLUMN resolve_notified_at INTEGER;
    "#,
    // 5: API tokens (only sha256 hashes of the tokens are stored).
    r#"
    CREATE TABLE tokens (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        hash         TEXT NOT NULL UNIQUE,
        permission   TEXT NOT NULL,
        description  TEXT,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER,
        revoked_at   INTEGER
    );
    "#,
    // 6: the audit log (lut_store::audit): append-only, so no foreign keys (entries outlive
    // the tables, destinations and tokens they name) and triggers refusing changes.
    r#"
    CREATE TABLE audit (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        at                INTEGER NOT NULL,
        actor             TEXT NOT NULL,
        actor_description TEXT,
        action            TEXT NOT NULL,
        target            TEXT,
        table_name        TEXT,
        outcome           TEXT NOT NULL,
        details           TEXT NOT NULL
    );
    CREATE INDEX audit_by_table ON audit(table_name, id);
    CREATE INDEX audit_by_actor ON audit(actor, id);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 7: stored schemas (lut_store::schemas). No foreign key from tables.schema_name: a
    // table may carry its own copy of a schema that was never stored.
    r#"
    CREATE TABLE schemas (
        name       TEXT PRIMARY KEY NOT NULL,
        yaml       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    "#,
];

/// The schema version this lut writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Applies the missing steps of `steps`, each in its own transaction together with the
/// version bump, so a crash leaves the database at one step or the next, never between.
pub(crate) fn migrate(conn: &mut Connection, steps: &[&str]) -> Result<()> {
    let known = steps.len() as i64;
    // Usual case, an up-to-date catalog: decided without the write lock, so opening the
    // catalog does not queue behind another process's writes.
    let found = user_version(conn)?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    if found == known {
        return Ok(());
    }
    loop {
        // IMMEDIATE takes the write lock before reading the version: two processes opening
        // a fresh data directory at once cannot both apply the same step.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = user_version(&tx)?;
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        if found == known {
            return Ok(());
        }
        let step = usize::try_from(found)
            .map_err(|_| StoreError::Conflict(format!("invalid catalog schema version {found}")))?;
        tx.execute_batch(steps[step])?;
        tx.pragma_update(None, "user_version", found + 1)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteCatalog;
    use crate::Catalog;

    #[test]
    fn fresh_database_gets_every_step() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn, MIGRATIONS).expect("migrate");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
        // Idempotent.
        migrate(&mut conn, MIGRATIONS).expect("migrate again");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
    }

    #[test]
    fn upgrades_a_version_1_catalog_keeping_its_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.sqlite");
        {
            // A catalog as the first schema version left it, written by hand.
            let mut conn = Connection::open(&path).expect("open");
            migrate(&mut conn, &MIGRATIONS[..1]).expect("v1");
            assert_eq!(user_version(&conn).expect("version"), 1);
            conn.execute_batch(
                "INSERT INTO tables (name, enabled, spec_yaml, schema_name, schema_yaml,
                                     source_kind, created_at, updated_at)
                 VALUES ('old', 1, 'spec', 'Custom.Old', 'schema', 's3', 10, 20);
                 INSERT INTO versions (table_name, etag, size, sha256, rows, source, fetched_at)
                 VALUES ('old', '\"e1\"', 3, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
                         1, 's3://b/k', 30);
                 UPDATE tables SET live_version_id = 1 WHERE name = 'old';
                 INSERT INTO settings (key, value) VALUES ('external_id', 'abc');",
            )
            .expect("v1 data");
            // The steps after 1 have not happened.
            let has_checks: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'checks'",
                    [],
                    |r| r.get(0),
                )
                .expect("query");
            assert_eq!(has_checks, 0);
        }

        let cat = SqliteCatalog::open(&path).expect("open upgrades");
        let old = cat.table("old").expect("table").expect("kept");
        assert_eq!((old.created_at, old.updated_at), (10, 20));
        let live = cat.live_version("old").expect("live").expect("live kept");
        assert_eq!(live.id, 1);
        assert_eq!(live.etag.as_deref(), Some("\"e1\""));
        assert!(!cat.is_pinned("old").expect("pinned column added"));
        assert_eq!(
            cat.setting("external_id").expect("setting").as_deref(),
            Some("abc")
        );
        // Tables from later steps work.
        cat.record_check(&crate::CheckRecord {
            table: "old".into(),
            at: 40,
            outcome: "unchanged".into(),
            version_id: Some(1),
            stage: None,
            code: None,
            message: None,
            duration_ms: 5,
        })
        .expect("check");
        assert_eq!(cat.checks("old", 10).expect("checks").len(), 1);
        drop(cat);

        let conn = Connection::open(&path).expect("reopen");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
    }

    #[test]
    fn refuses_a_newer_catalog() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.sqlite");
        {
            let mut conn = Connection::open(&path).expect("open");
            migrate(&mut conn, MIGRATIONS).expect("migrate");
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .expect("bump");
        }
        match SqliteCatalog::open(&path) {
            Err(StoreError::TooNew { found, known }) => {
                assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
        // And nothing was changed by the refused open.
        let conn = Connection::open(&path).expect("reopen");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION + 1);
    }

    #[test]
    fn a_failing_step_rolls_back_alone() {
        let mut conn = Connection::open_in_memory().expect("open");
        let steps = [MIGRATIONS[0], "CREATE TABLE broken (", MIGRATIONS[1]];
        assert!(migrate(&mut conn, &steps).is_err());
        // Step 1 committed, step 2 did not, step 3 never ran.
        assert_eq!(user_version(&conn).expect("version"), 1);
    }
}
