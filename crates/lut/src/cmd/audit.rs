//! `lut audit`: the data directory's audit log, newest first; and how the other commands
//! record their changes in it (actor `cli:<user>`).
//!
//! CLI changes are recorded right after they succeed (`lut apply`: in the apply's own
//! transaction). Syncs run by `lut sync` are not: their outcomes are the check history.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use lut_service::api::audit::parse_time;
use lut_store::{Actor, AuditFilter, AuditRecord, Catalog, NewAuditEntry};

use super::{state, time, Format};

#[derive(clap::Args)]
pub struct Args {
    /// Only entries about this table.
    #[arg(long)]
    table: Option<String>,
    /// Only this actor (`token:3`, `cli:alice`); a trailing `*` matches a prefix (`cli:*`).
    #[arg(long)]
    actor: Option<String>,
    /// Only this action (`table.delete`); a trailing `*` matches a prefix (`table.*`).
    #[arg(long)]
    action: Option<String>,
    /// Only entries at or after this time (RFC 3339 or milliseconds since the epoch).
    #[arg(long)]
    since: Option<String>,
    /// Only entries older than this entry id (paging).
    #[arg(long)]
    before: Option<i64>,
    /// At most this many entries (at most 1000).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// The OS user running this command: `$USER`, `$LOGNAME`, else the numeric uid.
pub fn actor() -> Actor {
    let user = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|u| !u.trim().is_empty())
        .unwrap_or_else(uid);
    Actor::cli(&user)
}

#[cfg(unix)]
fn uid() -> String {
    use std::os::unix::fs::MetadataExt;
    // /proc/self is owned by the process's user; no libc call needed.
    std::fs::metadata("/proc/self")
        .map_or_else(|_| "unknown".into(), |m| format!("uid:{}", m.uid()))
}

#[cfg(not(unix))]
fn uid() -> String {
    "unknown".into()
}

/// Appends `entry`. The change is already made, so a failure is a warning, not an error
/// that would tell a script the change did not happen.
pub fn record(catalog: &dyn Catalog, entry: NewAuditEntry) {
    if let Err(e) = catalog.append_audit(&entry) {
        eprintln!(
            "lut: warning: the change was made but could not be recorded in the audit log: {e}"
        );
    }
}

pub fn run(data_dir: &Path, args: Args) -> Result<ExitCode> {
    let since = match args.since.as_deref() {
        Some(s) => match parse_time(s) {
            Some(t) => Some(t),
            None => bail!("--since {s:?} is neither RFC 3339 nor milliseconds since the epoch"),
        },
        None => None,
    };
    let dd = state::open(data_dir)?;
    let entries = dd.catalog().audit(&AuditFilter {
        table: args.table,
        actor: args.actor,
        action: args.action,
        since,
        before: args.before,
        limit: args.limit.clamp(1, lut_store::audit::MAX_PAGE),
    })?;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("no audit entries");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&entries));
    Ok(ExitCode::SUCCESS)
}

/// A table with aligned columns: id, time, actor, action, target, outcome, details.
fn render(entries: &[AuditRecord]) -> String {
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            let actor = match &e.actor_description {
                Some(d) => format!("{} ({d})", e.actor),
                None => e.actor.clone(),
            };
            let details = match &e.details {
                serde_json::Value::Object(m) if m.is_empty() => String::new(),
                d => d.to_string(),
            };
            [
                e.id.to_string(),
                time(e.at),
                actor,
                e.action.clone(),
                e.target.clone().unwrap_or_else(|| "-".into()),
                e.outcome.clone(),
                details,
            ]
        })
        .collect();
    let head = [
        "ID", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAILS",
    ];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&head);
    for r in &rows {
        line(&r.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned_columns() {
        let e = AuditRecord {
            id: 7,
            at: 0,
            actor: "token:2".into(),
            actor_description: Some("ci".into()),
            action: "table.delete".into(),
            target: Some("accounts".into()),
            table: Some("accounts".into()),
            outcome: "ok".into(),
            details: serde_json::json!({}),
        };
        let out = render(&[e]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ID  TIME"));
        assert_eq!(
            lines[1],
            "7   1970-01-01 00:00:00Z  token:2 (ci)  table.delete  accounts  ok"
        );
    }

    #[test]
    fn the_actor_is_a_cli_user() {
        assert!(actor().id.starts_with("cli:"));
    }
}
