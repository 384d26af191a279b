//! The audit log: one append-only row per change made through the API or the CLI, saying
//! who (a token or an OS user) did what to which object.
//!
//! Rows are never updated or deleted (triggers in migration 6 refuse it), so the log is
//! history even for tables and destinations that no longer exist. `details` is a small JSON
//! object chosen by the caller; as a second line of defence against a caller passing a
//! secret along, members whose names say they hold one (URLs, secrets, tokens, keys,
//! headers) are removed here before anything is stored, and oversized details are replaced
//! by a marker.

use rusqlite::{params, Connection, Row};
use serde::Serialize;
use serde_json::Value;

use crate::{Millis, Result, StoreError};

/// Largest serialised `details` kept; bigger ones are replaced by `{"truncated": true}`.
pub const MAX_DETAILS_BYTES: usize = 4096;

/// Entries returned by one query at most.
pub const MAX_PAGE: usize = 1000;

/// Member names never stored in `details`, whatever the caller passes.
const REDACTED: &[&str] = &[
    "secret",
    "token",
    "url",
    "events_url",
    "routing_key",
    "headers",
    "password",
    "authorization",
    "config",
    "target",
];

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub at: Millis,
    /// `token:<id>` or `cli:<user>`.
    pub actor: String,
    /// The token's description, when the actor is a token that has one.
    pub actor_description: Option<String>,
    /// Stable dotted name: `table.create`, `bundle.apply`, `token.revoke`, ...
    pub action: String,
    /// What was acted on: a table or destination name, an error or token id.
    pub target: Option<String>,
    /// The table concerned, if any (what `--table` filters on).
    pub table: Option<String>,
    /// `ok` for plain changes; the result for actions that have one (`updated`,
    /// `unchanged`, `failed` for a sync; `delivered` or `failed` for a test alert).
    pub outcome: String,
    /// A small JSON object (plan summary, version id, ...), never a secret.
    pub details: Value,
}

impl NewAuditEntry {
    /// An entry with outcome `ok`, empty details and the current time.
    pub fn new(actor: &Actor, action: &str) -> NewAuditEntry {
        NewAuditEntry {
            at: crate::now_millis(),
            actor: actor.id.clone(),
            actor_description: actor.description.clone(),
            action: action.to_string(),
            target: None,
            table: None,
            outcome: "ok".into(),
            details: Value::Object(Default::default()),
        }
    }

    /// Sets the target, and the table when the target is one.
    pub fn on_table(mut self, table: &str) -> NewAuditEntry {
        self.target = Some(table.to_string());
        self.table = Some(table.to_string());
        self
    }

    pub fn target(mut self, target: impl Into<String>) -> NewAuditEntry {
        self.target = Some(target.into());
        self
    }

    pub fn outcome(mut self, outcome: impl Into<String>) -> NewAuditEntry {
        self.outcome = outcome.into();
        self
    }

    pub fn details(mut self, details: Value) -> NewAuditEntry {
        self.details = details;
        self
    }
}

/// Who makes a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `token:<id>` or `cli:<user>`.
    pub id: String,
    pub description: Option<String>,
}

impl Actor {
    pub fn token(id: i64, description: Option<&str>) -> Actor {
        Actor {
            id: format!("token:{id}"),
            description: description.map(str::to_string),
        }
    }

    pub fn cli(user: &str) -> Actor {
        Actor {
            id: format!("cli:{user}"),
            description: None,
        }
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: Millis,
    pub actor: String,
    pub actor_description: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub table: Option<String>,
    pub outcome: String,
    pub details: Value,
}

/// Which entries to list, newest first. `actor` and `action` match exactly, or by prefix
/// when they end with `*` (`cli:*`, `table.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub table: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Entries at or after this time.
    pub since: Option<Millis>,
    /// Entries with an id below this one (the previous page's `next`).
    pub before: Option<i64>,
    /// At most this many (capped at [`MAX_PAGE`]; 0 means the cap).
    pub limit: usize,
}

/// Removes secret-looking members (recursively) and bounds the size.
pub fn sanitize(details: &Value) -> Value {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !REDACTED.contains(&k.to_ascii_lowercase().as_str()))
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let v = strip(details);
    if v.to_string().len() > MAX_DETAILS_BYTES {
        serde_json::json!({ "truncated": true })
    } else {
        v
    }
}

pub(crate) fn append(conn: &Connection, e: &NewAuditEntry) -> Result<i64> {
    if e.actor.is_empty() || e.action.is_empty() {
        return Err(StoreError::Conflict(
            "an audit entry needs an actor and an action".into(),
        ));
    }
    conn.execute(
        "INSERT INTO audit (at, actor, actor_description, action, target, table_name, outcome,
                            details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            e.at,
            e.actor,
            e.actor_description,
            e.action,
            e.target,
            e.table,
            e.outcome,
            sanitize(&e.details).to_string()
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

fn row(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    let details: String = r.get(8)?;
    Ok(AuditRecord {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        actor_description: r.get(3)?,
        action: r.get(4)?,
        target: r.get(5)?,
        table: r.get(6)?,
        outcome: r.get(7)?,
        details: serde_json::from_str(&details).unwrap_or(Value::String(details)),
    })
}

/// `(exact, prefix)` parameters for a filter value: a trailing `*` asks for a prefix.
fn pattern(v: &Option<String>) -> (Option<&str>, Option<&str>) {
    match v.as_deref() {
        Some(p) => match p.strip_suffix('*') {
            Some(prefix) => (None, Some(prefix)),
            None => (Some(p), None),
        },
        None => (None, None),
    }
}

pub(crate) fn list(conn: &Connection, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
    let limit = match f.limit {
        0 => MAX_PAGE,
        n => n.min(MAX_PAGE),
    } as i64;
    let (actor, actor_prefix) = pattern(&f.actor);
    let (action, action_prefix) = pattern(&f.action);
    let mut st = conn.prepare(
        "SELECT id, at, actor, actor_description, action, target, table_name, outcome, details
         FROM audit
         WHERE (?1 IS NULL OR table_name = ?1)
           AND (?2 IS NULL OR actor = ?2)
           AND (?3 IS NULL OR substr(actor, 1, length(?3)) = ?3)
           AND (?4 IS NULL OR action = ?4)
           AND (?5 IS NULL OR substr(action, 1, length(?5)) = ?5)
           AND (?6 IS NULL OR at >= ?6)
           AND (?7 IS NULL OR id < ?7)
         ORDER BY id DESC LIMIT ?8",
    )?;
    let rows = st.query_map(
        params![
            f.table,
            actor,
            actor_prefix,
            action,
            action_prefix,
            f.since,
            f.before,
            limit
        ],
        row,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Catalog, DefinitionChange, SqliteCatalog, TableRecord};

    fn catalog() -> (tempfile::TempDir, SqliteCatalog) {
        let dir = tempfile::tempdir().unwrap();
        let cat = SqliteCatalog::open(&dir.path().join("c.sqlite")).unwrap();
        (dir, cat)
    }

    fn table(name: &str) -> TableRecord {
        TableRecord {
            name: name.into(),
            enabled: true,
            spec_yaml: "spec".into(),
            schema_name: "Custom.T".into(),
            schema_yaml: "schema".into(),
            source_kind: "file".into(),
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn appends_and_filters_newest_first() {
        let (_d, cat) = catalog();
        let alice = Actor::token(1, Some("ci"));
        let bob = Actor::cli("bob");
        for (i, (who, action, t)) in [
            (&alice, "table.create", "a"),
            (&bob, "table.rollback", "a"),
            (&alice, "table.delete", "b"),
            (&bob, "token.create", "7"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut e = NewAuditEntry::new(who, action).details(json!({ "n": i }));
            e.at = 100 + i as i64;
            e = if action.starts_with("table.") {
                e.on_table(t)
            } else {
                e.target(t)
            };
            cat.append_audit(&e).unwrap();
        }
        let all = cat.audit(&AuditFilter::default()).unwrap();
        assert_eq!(
            all.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
            [
                "token.create",
                "table.delete",
                "table.rollback",
                "table.create"
            ]
        );
        assert_eq!(all[3].actor, "token:1");
        assert_eq!(all[3].actor_description.as_deref(), Some("ci"));
        assert_eq!(all[3].details, json!({ "n": 0 }));
        assert_eq!(all[3].outcome, "ok");
        let q = |f: AuditFilter| -> Vec<i64> {
            cat.audit(&f).unwrap().into_iter().map(|r| r.id).collect()
        };
        let ids: Vec<i64> = all.iter().map(|r| r.id).collect();
        let only_a = AuditFilter {
            table: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(q(only_a), [ids[2], ids[3]]);
        let cli = AuditFilter {
            actor: Some("cli:*".into()),
            ..Default::default()
        };
        assert_eq!(q(cli), [ids[0], ids[2]]);
        let exact = AuditFilter {
            actor: Some("token:1".into()),
            action: Some("table.*".into()),
            ..Default::default()
        };
        assert_eq!(q(exact), [ids[1], ids[3]]);
        let since = AuditFilter {
            since: Some(102),
            ..Default::default()
        };
        assert_eq!(q(since), [ids[0], ids[1]]);
        // Paging: two at a time, `before` the last id seen.
        let page1 = q(AuditFilter {
            limit: 2,
            ..Default::default()
        });
        let page2 = q(AuditFilter {
            limit: 2,
            before: page1.last().copied(),
            ..Default::default()
        });
        assert_eq!([page1, page2].concat(), ids);
    }

    #[test]
    fn secrets_and_big_details_are_not_stored() {
        let (_d, cat) = catalog();
        let e = NewAuditEntry::new(&Actor::cli("x"), "destination.create").details(json!({
            "kind": "webhook",
            "url": "https://hooks.example/secret-path",
            "nested": { "Secret": "s3cr3t", "headers": { "a": "b" }, "keep": 1 },
        }));
        cat.append_audit(&e).unwrap();
        let big = NewAuditEntry::new(&Actor::cli("x"), "bundle.apply")
            .details(json!({ "blob": "x".repeat(MAX_DETAILS_BYTES) }));
        cat.append_audit(&big).unwrap();
        let got = cat.audit(&AuditFilter::default()).unwrap();
        assert_eq!(got[0].details, json!({ "truncated": true }));
        assert_eq!(
            got[1].details,
            json!({ "kind": "webhook", "nested": { "keep": 1 } })
        );
    }

    #[test]
    fn the_log_is_append_only() {
        let (d, cat) = catalog();
        cat.append_audit(&NewAuditEntry::new(&Actor::cli("x"), "error.ack").target("1"))
            .unwrap();
        drop(cat);
        let conn = Connection::open(d.path().join("c.sqlite")).unwrap();
        assert!(conn.execute("UPDATE audit SET actor = 'y'", []).is_err());
        assert!(conn.execute("DELETE FROM audit", []).is_err());
        let n: i64 = conn
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn apply_records_in_the_same_transaction() {
        let (_d, cat) = catalog();
        let who = Actor::cli("ann");
        cat.apply_audited(
            &DefinitionChange {
                upsert: vec![table("t")],
                ..Default::default()
            },
            &[NewAuditEntry::new(&who, "bundle.apply").on_table("t")],
        )
        .unwrap();
        assert_eq!(cat.audit(&AuditFilter::default()).unwrap().len(), 1);
        // A failing change (deleting a table that is not there) records nothing.
        let err = cat.apply_audited(
            &DefinitionChange {
                delete: vec!["ghost".into()],
                ..Default::default()
            },
            &[NewAuditEntry::new(&who, "table.delete").on_table("ghost")],
        );
        assert!(err.is_err());
        assert_eq!(cat.audit(&AuditFilter::default()).unwrap().len(), 1);
        // Entries outlive their table.
        cat.apply(&DefinitionChange {
            delete: vec!["t".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(cat.audit(&AuditFilter::default()).unwrap().len(), 1);
    }
}
