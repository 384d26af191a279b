//! Stored schemas: Panther custom schemas kept by name on their own, so tables can be
//! defined against a schema stored once (`PUT /api/v1/schemas/{name}`).
//!
//! A table still keeps its own copy of the schema YAML (`tables.schema_yaml`, what its
//! data is built with); a stored schema is the copy new and updated definitions take when
//! they name it without sending one, and updating it re-applies the tables using it in the
//! same transaction ([`crate::Catalog::put_schema_audited`]), so the copies stay equal.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::{Millis, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaRecord {
    /// The `schema:` name inside the YAML.
    pub name: String,
    pub yaml: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const COLUMNS: &str = "name, yaml, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<SchemaRecord> {
    Ok(SchemaRecord {
        name: r.get(0)?,
        yaml: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
    })
}

/// Inserts or replaces by name; `created_at` survives a replacement.
pub(crate) fn put(conn: &Connection, s: &SchemaRecord) -> Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO schemas ({COLUMNS}) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET yaml = excluded.yaml, updated_at = excluded.updated_at"
        ),
        params![s.name, s.yaml, s.created_at, s.updated_at],
    )?;
    Ok(())
}

pub(crate) fn get(conn: &Connection, name: &str) -> Result<Option<SchemaRecord>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM schemas WHERE name = ?1"),
            [name],
            from_row,
        )
        .optional()?)
}

/// Every stored schema, by name.
pub(crate) fn list(conn: &Connection) -> Result<Vec<SchemaRecord>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM schemas ORDER BY name"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Deletes a stored schema; whether it existed. Refused with `Conflict` while a table
/// names it — checked in the deleting transaction, so a table defined concurrently cannot
/// slip between the check and the delete.
/// The tables using schema `name` with their `updated_at`, sorted by name.
pub(crate) fn users(conn: &Connection, name: &str) -> Result<Vec<(String, Millis)>> {
    Ok(conn
        .prepare(
            "SELECT name, updated_at FROM tables WHERE schema_name = ?1 ORDER BY name, updated_at",
        )?
        .query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn delete(conn: &Connection, name: &str) -> Result<bool> {
    let users = users(conn, name)?;
    if !users.is_empty() {
        let names: Vec<&str> = users.iter().map(|(n, _)| n.as_str()).collect();
        return Err(StoreError::Conflict(format!(
            "schema {name:?} is used by table(s) {}",
            names.join(", ")
        )));
    }
    Ok(conn.execute("DELETE FROM schemas WHERE name = ?1", [name])? > 0)
}

#[cfg(test)]
mod tests {
    use crate::sqlite::SqliteCatalog;
    use crate::{Catalog, DefinitionChange, StoreError, TableRecord};

    use super::SchemaRecord;

    fn rec(name: &str, yaml: &str, at: i64) -> SchemaRecord {
        SchemaRecord {
            name: name.into(),
            yaml: yaml.into(),
            created_at: at,
            updated_at: at,
        }
    }

    fn table(name: &str, schema: &str, yaml: &str) -> TableRecord {
        TableRecord {
            name: name.into(),
            enabled: true,
            spec_yaml: format!("LookupName: {name}\n"),
            schema_name: schema.into(),
            schema_yaml: yaml.into(),
            source_kind: "file".into(),
            created_at: 1,
            updated_at: 1,
        }
    }

    fn catalog() -> (tempfile::TempDir, SqliteCatalog) {
        let dir = tempfile::tempdir().unwrap();
        let cat = SqliteCatalog::open(&dir.path().join("catalog.db")).unwrap();
        (dir, cat)
    }

    #[test]
    fn put_get_list_and_replace_keeping_created_at() {
        let (_d, cat) = catalog();
        assert_eq!(cat.schema("A").unwrap(), None);
        let none = DefinitionChange::default();
        cat.put_schema_audited(&rec("B", "b1", 10), &[], &none, &[])
            .unwrap();
        cat.put_schema_audited(&rec("A", "a1", 10), &[], &none, &[])
            .unwrap();
        cat.put_schema_audited(&rec("A", "a2", 20), &[], &none, &[])
            .unwrap();
        let a = cat.schema("A").unwrap().unwrap();
        assert_eq!(
            (a.yaml.as_str(), a.created_at, a.updated_at),
            ("a2", 10, 20)
        );
        let names: Vec<String> = cat.schemas().unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["A", "B"]);
    }

    #[test]
    fn put_applies_the_tables_in_the_same_transaction() {
        let (_d, cat) = catalog();
        let change = DefinitionChange {
            upsert: vec![table("t", "S", "s1")],
            ..DefinitionChange::default()
        };
        cat.put_schema_audited(&rec("S", "s1", 1), &[], &change, &[])
            .unwrap();
        let t = cat.table("t").unwrap().unwrap();
        assert_eq!(t.schema_yaml, "s1");
        let users = [("t".to_string(), t.updated_at)];
        // A change that fails (a table both upserted and deleted) stores no schema either.
        let bad = DefinitionChange {
            upsert: vec![table("t", "S", "s2")],
            delete: vec!["t".into()],
            ..DefinitionChange::default()
        };
        assert!(cat
            .put_schema_audited(&rec("S", "s2", 2), &users, &bad, &[])
            .is_err());
        assert_eq!(cat.schema("S").unwrap().unwrap().yaml, "s1");
        assert_eq!(cat.table("t").unwrap().unwrap().schema_yaml, "s1");
    }

    #[test]
    fn delete_is_refused_while_a_table_uses_the_schema() {
        let (_d, cat) = catalog();
        let change = DefinitionChange {
            upsert: vec![table("t", "S", "s1")],
            ..DefinitionChange::default()
        };
        cat.put_schema_audited(&rec("S", "s1", 1), &[], &change, &[])
            .unwrap();
        let err = cat.delete_schema_audited("S", &[]).unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        cat.apply(&DefinitionChange {
            delete: vec!["t".into()],
            ..DefinitionChange::default()
        })
        .unwrap();
        assert!(cat.delete_schema_audited("S", &[]).unwrap());
        assert!(!cat.delete_schema_audited("S", &[]).unwrap());
        assert_eq!(cat.schema("S").unwrap(), None);
    }

    #[test]
    fn put_refuses_when_the_tables_changed_since_they_were_validated() {
        let (_d, cat) = catalog();
        let add = |name: &str| DefinitionChange {
            upsert: vec![table(name, "S", "s1")],
            ..DefinitionChange::default()
        };
        cat.put_schema_audited(&rec("S", "s1", 1), &[], &add("t"), &[])
            .unwrap();
        let t = cat.table("t").unwrap().unwrap();
        let validated = [("t".to_string(), t.updated_at)];
        // Another table took up the schema after the validation: refused, nothing stored.
        cat.apply(&add("u")).unwrap();
        let err = cat
            .put_schema_audited(&rec("S", "s2", 2), &validated, &add("t"), &[])
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert_eq!(cat.schema("S").unwrap().unwrap().yaml, "s1");
        // With the current set it goes through.
        let u = cat.table("u").unwrap().unwrap();
        let both = [validated[0].clone(), ("u".to_string(), u.updated_at)];
        cat.put_schema_audited(&rec("S", "s2", 2), &both, &add("t"), &[])
            .unwrap();
        assert_eq!(cat.schema("S").unwrap().unwrap().yaml, "s2");
    }
}
