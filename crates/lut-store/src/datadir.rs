//! The data directory: where a lut installation keeps its durable state.
//!
//! Owns the layout and its creation:
//!
//! ```text
//! <root>/              0700 on unix (definitions, ExternalId and data are private)
//!   catalog.sqlite     the SqliteCatalog (+ -wal / -shm files while in use)
//!   blobs/             the BlobStore
//! ```
//!
//! Opening it cleans temp files left by a crashed process (old enough not to belong to a
//! process still running), so every start-up does it without the caller remembering.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::blobs::BlobStore;
use crate::sqlite::SqliteCatalog;
use crate::{Millis, Result};

/// File name of the catalog inside a data directory.
pub const CATALOG_FILE: &str = "catalog.sqlite";
/// Directory of the blob store inside a data directory.
pub const BLOBS_DIR: &str = "blobs";

/// The current time in milliseconds since the Unix epoch (0 for a clock before 1970).
pub fn now_millis() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
    })
}

/// An opened data directory: its catalog and its blobs.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
    catalog: Arc<SqliteCatalog>,
    blobs: BlobStore,
}

impl DataDir {
    /// Opens the data directory at `root`, creating it (and its parents) if needed, and
    /// migrates the catalog. Fails with [`crate::StoreError::TooNew`] for a directory
    /// written by a newer lut.
    pub fn open(root: &Path) -> Result<DataDir> {
        create_private_dir(root)?;
        let catalog = Arc::new(SqliteCatalog::open(&root.join(CATALOG_FILE))?);
        let blobs = BlobStore::open(&root.join(BLOBS_DIR))?;
        blobs.clean_tmp()?;
        Ok(DataDir {
            root: root.to_path_buf(),
            catalog,
            blobs,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The catalog, shareable across threads and tasks (coerces to `Arc<dyn Catalog>`).
    pub fn catalog(&self) -> Arc<SqliteCatalog> {
        Arc::clone(&self.catalog)
    }

    /// The key sealing destination secrets: `LUT_SECRET_KEY`, else `secret.key` here
    /// (generated, 0600, at first use).
    pub fn secret_key(&self) -> Result<crate::SecretKey> {
        crate::SecretKey::load(&self.root)
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }
}

#[cfg(unix)]
fn create_private_dir(root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    // The mode applies to directories created here; an existing directory keeps the
    // permissions its owner chose.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
}

#[cfg(not(unix))]
fn create_private_dir(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;

    #[test]
    fn creates_the_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("a").join("lut-data");
        let dd = DataDir::open(&root).expect("open");
        assert_eq!(dd.root(), root);
        assert!(root.join(CATALOG_FILE).is_file());
        assert!(root.join(BLOBS_DIR).join("sha256").is_dir());
        assert_eq!(dd.blobs().tmp_dir(), root.join(BLOBS_DIR).join("tmp"));
        assert!(dd.blobs().tmp_dir().is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&root).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        // Usable as the trait object the service holds.
        let cat: Arc<dyn Catalog> = dd.catalog();
        cat.set_setting("k", "v").expect("set");
        drop(dd);
        let again = DataDir::open(&root).expect("reopen");
        assert_eq!(
            again.catalog().setting("k").expect("get").as_deref(),
            Some("v")
        );
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_millis() > 1_577_836_800_000);
    }
}
