//! API tokens: generation, hashing and their rows in the catalog.
//!
//! A token is `lut_` followed by 64 hex digits (32 random bytes from the OS). Only the
//! sha256 of the whole token is stored; the plaintext is shown once, when it is created.
//! Comparing a presented token's hash with the stored ones is done in constant time by the
//! caller ([`hashes_equal`]).

use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::OsRng;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Millis, Result, StoreError};

/// What a token may do: `read` views and enriches; `manage` does everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Read,
    Manage,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Manage => "manage",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        match s {
            "read" => Some(Permission::Read),
            "manage" => Some(Permission::Manage),
            _ => None,
        }
    }

    /// Whether a token with this permission may do what needs `needed`.
    pub fn allows(self, needed: Permission) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token to store (its hash, never its plaintext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub hash: String,
    pub permission: Permission,
    pub description: Option<String>,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

/// A stored token. `hash` is the hex sha256 of the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: i64,
    #[serde(skip)]
    pub hash: String,
    pub permission: Permission,
    pub description: Option<String>,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

impl TokenRecord {
    /// Not revoked and not expired at `now`.
    pub fn is_active(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// A fresh random token and its hash.
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = format!("lut_{}", hex::encode(bytes));
    let hash = hash(&token);
    (token, hash)
}

/// The stored form of a token: hex sha256 of its bytes.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

const COLUMNS: &str = "id, hash, permission, description, created_at, expires_at, revoked_at";

fn row(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let perm: String = r.get(2)?;
    Ok(TokenRecord {
        id: r.get(0)?,
        hash: r.get(1)?,
        permission: Permission::parse(&perm).unwrap_or(Permission::Read),
        description: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

pub(crate) fn add(conn: &Connection, t: &NewToken) -> Result<TokenRecord> {
    if t.hash.len() != 64 || !t.hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::Conflict("a token hash is 64 hex digits".into()));
    }
    conn.execute(
        "INSERT INTO tokens (hash, permission, description, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            t.hash,
            t.permission.as_str(),
            t.description,
            t.created_at,
            t.expires_at
        ],
    )?;
    let id = conn.last_insert_rowid();
    Ok(conn.query_row(
        &format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1"),
        [id],
        row,
    )?)
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<TokenRecord>> {
    let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM tokens ORDER BY id"))?;
    let rows = st
        .query_map([], row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(crate) fn revoke(conn: &Connection, id: i64, at: Millis) -> Result<bool> {
    let exists = conn
        .query_row("SELECT 1 FROM tokens WHERE id = ?1", [id], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        conn.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, at],
        )?;
    }
    Ok(exists)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Catalog, SqliteCatalog};

    #[test]
    fn tokens_round_trip_and_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let cat = SqliteCatalog::open(&dir.path().join("c.sqlite")).unwrap();
        let (plain, h) = generate();
        assert!(plain.starts_with("lut_") && plain.len() == 68);
        assert_eq!(hash(&plain), h);
        let t = cat
            .add_token(&NewToken {
                hash: h.clone(),
                permission: Permission::Manage,
                description: Some("first".into()),
                created_at: 10,
                expires_at: Some(100),
            })
            .unwrap();
        assert!(t.is_active(50) && !t.is_active(100));
        assert_eq!(cat.tokens().unwrap(), vec![t.clone()]);
        assert!(cat.revoke_token(t.id, 60).unwrap());
        assert!(!cat.tokens().unwrap()[0].is_active(61));
        assert!(!cat.revoke_token(999, 60).unwrap());
        assert!(hashes_equal(h.as_bytes(), h.as_bytes()));
        assert!(!hashes_equal(h.as_bytes(), hash("x").as_bytes()));
        assert!(Permission::Manage.allows(Permission::Read));
        assert!(!Permission::Read.allows(Permission::Manage));
    }
}
