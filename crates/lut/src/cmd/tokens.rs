//! `lut tokens create|list|revoke`: API bearer tokens. Only hashes are stored; a new
//! token's plaintext is printed once. A running server sees changes within seconds.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use lut_store::tokens::{self, NewToken, Permission};
use lut_store::{now_millis, Catalog, NewAuditEntry};

use super::{state, time, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a token and print it (only this once).
    Create {
        /// `read` (view, look up, enrich) or `manage` (everything).
        #[arg(long)]
        permission: String,
        /// Lifetime, e.g. `90d`, `12h`, `30m`, `3600s` (default: no expiry).
        #[arg(long)]
        expires_in: Option<String>,
        /// A note on what the token is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// List tokens (never their values).
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Revoke a token by id.
    Revoke { id: i64 },
}

/// `90d`, `12h`, `30m`, `45s` (or plain seconds) to milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: i64 = match num.parse() {
        Ok(n) if n > 0 => n,
        _ => bail!("invalid duration {s:?} (use e.g. 90d, 12h, 30m, 3600s)"),
    };
    let mult = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("invalid duration unit in {s:?} (use s, m, h or d)"),
    };
    n.checked_mul(mult)
        .ok_or_else(|| anyhow::anyhow!("duration {s:?} is too long"))
}

pub fn run(data_dir: &Path, cmd: Command) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let cat = dd.catalog();
    match cmd {
        Command::Create {
            permission,
            expires_in,
            description,
        } => {
            let Some(permission) = Permission::parse(&permission) else {
                bail!("--permission must be `read` or `manage`, not {permission:?}");
            };
            let now = now_millis();
            let expires_at = match expires_in {
                Some(d) => Some(now + parse_duration_ms(&d)?),
                None => None,
            };
            let (plain, hash) = tokens::generate();
            let rec = cat.add_token(&NewToken {
                hash,
                permission,
                description,
                created_at: now,
                expires_at,
            })?;
            // The token's id and attributes only; its value is never recorded.
            super::audit::record(
                cat.as_ref(),
                NewAuditEntry::new(&super::audit::actor(), "token.create")
                    .target(rec.id.to_string())
                    .details(serde_json::json!({
                        "permission": rec.permission,
                        "description": rec.description,
                        "expires_at": rec.expires_at,
                    })),
            );
            eprintln!(
                "lut: created {} token {} (shown only this once; store it now)",
                rec.permission, rec.id
            );
            println!("{plain}");
        }
        Command::List { format } => {
            let list = cat.tokens()?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            let now = now_millis();
            for t in list {
                let status = if t.revoked_at.is_some() {
                    "revoked"
                } else if !t.is_active(now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\tcreated {}\texpires {}\t{}",
                    t.id,
                    t.permission,
                    status,
                    time(t.created_at),
                    t.expires_at.map_or_else(|| "never".to_string(), time),
                    t.description.unwrap_or_default()
                );
            }
        }
        Command::Revoke { id } => {
            if !cat.revoke_token(id, now_millis())? {
                eprintln!("lut: error: no token with id {id}");
                return Ok(ExitCode::from(1));
            }
            super::audit::record(
                cat.as_ref(),
                NewAuditEntry::new(&super::audit::actor(), "token.revoke").target(id.to_string()),
            );
            eprintln!("lut: revoked token {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_durations() {
        assert_eq!(super::parse_duration_ms("90d").unwrap(), 90 * 86_400_000);
        assert_eq!(super::parse_duration_ms("12h").unwrap(), 12 * 3_600_000);
        assert_eq!(super::parse_duration_ms("30").unwrap(), 30_000);
        assert!(super::parse_duration_ms("0d").is_err());
        assert!(super::parse_duration_ms("3w").is_err());
    }
}
