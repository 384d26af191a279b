//! Encryption at rest of destination secrets (webhook URLs, HMAC keys, routing keys).
//!
//! The key is 32 bytes: from `LUT_SECRET_KEY` (base64 or hex) when set, otherwise from the
//! file `secret.key` (mode 0600) in the data directory, generated at first use. Values are
//! sealed with ChaCha20-Poly1305 and a random nonce as `v1:<base64(nonce || ciphertext)>`.
//! Neither the key nor a plaintext is ever part of a `Debug` output or a log line.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::{Result, StoreError};

/// The environment variable holding the key.
pub const SECRET_KEY_ENV: &str = "LUT_SECRET_KEY";
/// The key file inside a data directory (used when the variable is unset).
pub const SECRET_KEY_FILE: &str = "secret.key";

const PREFIX: &str = "v1:";

/// The key sealing destination secrets.
#[derive(Clone)]
pub struct SecretKey {
    key: [u8; 32],
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    pub fn from_bytes(key: [u8; 32]) -> SecretKey {
        SecretKey { key }
    }

    /// Parses 32 bytes written as base64 or hex.
    pub fn parse(text: &str) -> Result<SecretKey> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).ok()
        } else {
            B64.decode(t).ok()
        };
        match bytes.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()) {
            Some(key) => Ok(SecretKey { key }),
            None => Err(StoreError::Conflict(format!(
                "{SECRET_KEY_ENV} must be 32 bytes written as base64 or 64 hex digits"
            ))),
        }
    }

    /// A new random key.
    pub fn generate() -> SecretKey {
        let k = ChaCha20Poly1305::generate_key(&mut OsRng);
        let mut key = [0u8; 32];
        key.copy_from_slice(&k);
        SecretKey { key }
    }

    /// The key from `LUT_SECRET_KEY`, else from `<dir>/secret.key` (created if missing).
    pub fn load(dir: &Path) -> Result<SecretKey> {
        match std::env::var(SECRET_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => SecretKey::parse(&v),
            _ => SecretKey::load_file(&dir.join(SECRET_KEY_FILE)),
        }
    }

    /// Reads the key file, creating it with a new key if it does not exist. Two processes
    /// starting at once agree on one key: the file appears complete or not at all.
    pub fn load_file(path: &Path) -> Result<SecretKey> {
        if let Ok(text) = std::fs::read_to_string(path) {
            return SecretKey::parse(&text);
        }
        let key = SecretKey::generate();
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        // NamedTempFile is created 0600 on unix.
        tmp.write_all(B64.encode(key.key).as_bytes())?;
        tmp.as_file().sync_all()?;
        match tmp.persist_noclobber(path) {
            Ok(_) => Ok(key),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                SecretKey::parse(&std::fs::read_to_string(path)?)
            }
            Err(e) => Err(StoreError::Io(e.error)),
        }
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.key))
    }

    /// Encrypts `plain`.
    pub fn seal(&self, plain: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = self
            .cipher()
            .encrypt(&nonce, plain.as_bytes())
            .expect("ChaCha20-Poly1305 encryption cannot fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// Decrypts what [`SecretKey::seal`] produced (with the same key).
    pub fn open(&self, sealed: &str) -> Result<String> {
        let bad = || {
            StoreError::Conflict(
                "a stored secret cannot be decrypted (was LUT_SECRET_KEY or secret.key changed?)"
                    .to_string(),
            )
        };
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .ok_or_else(bad)?;
        if raw.len() < 12 {
            return Err(bad());
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self
            .cipher()
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

/// A masked form of a secret for listings: a URL keeps its scheme and host and the last
/// four characters (`https://hooks.slack.com/…/XyZ1`); anything else only its last four.
pub fn mask(secret: &str) -> String {
    let tail: String = {
        let chars: Vec<char> = secret.chars().collect();
        if chars.len() <= 8 {
            return "…".to_string();
        }
        chars[chars.len() - 4..].iter().collect()
    };
    if let Some((scheme, rest)) = secret.split_once("://") {
        let host = rest.split(['/', '?']).next().unwrap_or("");
        return format!("{scheme}://{host}/…/{tail}");
    }
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens() {
        let k = SecretKey::generate();
        let s = k.seal("https://hooks.slack.com/services/T/B/XyZ1");
        assert!(s.starts_with("v1:"));
        assert!(!s.contains("hooks"));
        assert_eq!(
            k.open(&s).expect("open"),
            "https://hooks.slack.com/services/T/B/XyZ1"
        );
        // Another key cannot open it; tampering is detected.
        assert!(SecretKey::generate().open(&s).is_err());
        let mut t = s.clone();
        t.pop();
        t.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(k.open(&t).is_err());
        assert_eq!(format!("{k:?}"), "SecretKey(<redacted>)");
    }

    #[test]
    fn parses_hex_and_base64() {
        let hexkey = "00".repeat(32);
        assert_eq!(SecretKey::parse(&hexkey).expect("hex").key, [0u8; 32]);
        let b = B64.encode([7u8; 32]);
        assert_eq!(SecretKey::parse(&b).expect("b64").key, [7u8; 32]);
        assert!(SecretKey::parse("short").is_err());
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(SECRET_KEY_FILE);
        let a = SecretKey::load_file(&p).expect("create");
        let b = SecretKey::load_file(&p).expect("read");
        assert_eq!(a.key, b.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn masks() {
        assert_eq!(
            mask("https://hooks.slack.com/services/T0/B0/abcdXyZ1"),
            "https://hooks.slack.com/…/XyZ1"
        );
        assert_eq!(mask("R0UTINGKEY1234567890abcd"), "…abcd");
        assert_eq!(mask("short"), "…");
    }
}
