//! Content-addressed storage of version data.
//!
//! Owns the `blobs/` part of a data directory:
//!
//! ```text
//! blobs/sha256/ab/ab12…   one file per distinct content, named by its sha256
//! blobs/tmp/              downloads and uploads in progress (same file system, so a
//!                         finished file can be renamed into place atomically)
//! ```
//!
//! A blob only ever appears under `sha256/` complete and durable: its temp file is fsynced,
//! renamed into place and the directory fsynced, all before the caller records a version
//! that refers to it. Two processes (a CLI and a server) may use the same store at once;
//! the grace periods on [`BlobStore::clean_tmp`] and [`BlobStore::gc`] exist for that.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

/// Temp files younger than this are left alone by [`BlobStore::clean_tmp`]: another process
/// sharing the data directory may still be writing (or parsing) them. A download in progress
/// keeps touching its file, and a crashed process's leftovers are older than this by the
/// next start-up or periodic clean.
pub const TMP_GRACE: Duration = Duration::from_secs(60 * 60);

/// Blobs written or re-used within this window are never collected by [`BlobStore::gc`]:
/// another process may have put the blob and not yet committed the version that refers to
/// it, so the list of referenced blobs the collector was given can be stale.
pub const GC_GRACE: Duration = Duration::from_secs(60 * 60);

/// Checks that `s` is a sha256 digest as lut writes it: 64 lowercase hex digits. Anything
/// else is refused before it is used in a path, so no value can name a file outside the
/// store.
pub fn validate_sha256(s: &str) -> Result<()> {
    let ok = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid sha256 digest {s:?}: expected 64 lowercase hex digits"),
        )))
    }
}

/// The sha256 of `data` as 64 lowercase hex digits.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Content-addressed blob files under one root directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    objects: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: &Path) -> Result<BlobStore> {
        let objects = root.join("sha256");
        let tmp = root.join("tmp");
        fs::create_dir_all(&objects)?;
        fs::create_dir_all(&tmp)?;
        Ok(BlobStore {
            root: root.to_path_buf(),
            objects,
            tmp,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where downloads and uploads are written before [`BlobStore::put_file`]: on the same
    /// file system as the blobs, so moving a finished file into place is one rename.
    pub fn tmp_dir(&self) -> PathBuf {
        self.tmp.clone()
    }

    /// The path a blob has (or would have). Fails only for an invalid digest.
    pub fn path(&self, sha256: &str) -> Result<PathBuf> {
        validate_sha256(sha256)?;
        Ok(self.objects.join(&sha256[..2]).join(sha256))
    }

    pub fn exists(&self, sha256: &str) -> Result<bool> {
        Ok(self.path(sha256)?.is_file())
    }

    /// Opens a blob for reading (named `open_blob` because `open` opens the store).
    pub fn open_blob(&self, sha256: &str) -> Result<File> {
        Ok(File::open(self.path(sha256)?)?)
    }

    /// Moves a finished temp file into the store as the blob `sha256`, which the caller
    /// computed while writing it (it is not re-read here: that would double the I/O of a
    /// large download). If the blob already exists the temp file is removed and the
    /// existing path returned, so putting the same content twice is harmless.
    ///
    /// On return the blob is durable: file data fsynced, renamed, directory fsynced.
    pub fn put_file(&self, tmp: &Path, sha256: &str) -> Result<PathBuf> {
        let dest = self.path(sha256)?;
        if dest.is_file() {
            // Refresh the mtime so a concurrent `gc` working from a list that predates the
            // caller's catalog commit does not delete the blob it is about to reference.
            touch(&dest)?;
            remove_if_exists(tmp)?;
            return Ok(dest);
        }
        sync_file(tmp)?;
        touch(tmp)?;
        let dir = dest
            .parent()
            .ok_or_else(|| io::Error::other("blob path has no parent directory"))?;
        if !dir.is_dir() {
            fs::create_dir_all(dir)?;
            // The new fan-out directory's entry lives in `sha256/`.
            sync_dir(&self.objects)?;
        }
        match fs::rename(tmp, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                // The caller wrote somewhere other than `tmp_dir()`: copy into our own temp
                // dir first so the final step is still an atomic rename.
                self.copy_in(tmp, &dest)?;
                remove_if_exists(tmp)?;
            }
            Err(e) => return Err(e.into()),
        }
        sync_dir(dir)?;
        Ok(dest)
    }

    /// Stores `data` (an upload, a file applied from a spec directory) and returns its
    /// sha256 and path.
    pub fn put_bytes(&self, data: &[u8]) -> Result<(String, PathBuf)> {
        let sha = sha256_hex(data);
        let dest = self.path(&sha)?;
        if dest.is_file() {
            touch(&dest)?;
            return Ok((sha, dest));
        }
        let mut tmp = tempfile::Builder::new()
            .prefix("put-")
            .tempfile_in(&self.tmp)?;
        tmp.write_all(data)?;
        tmp.flush()?;
        // From here `put_file` owns the file; the TempPath removes it if we fail first.
        let tmp_path = tmp.into_temp_path();
        let path = self.put_file(&tmp_path, &sha)?;
        // Already renamed away: nothing left for the guard to delete.
        let _ = tmp_path.keep();
        Ok((sha, path))
    }

    /// Removes leftovers of crashed downloads and uploads from `tmp/` (older than
    /// [`TMP_GRACE`], so another process's work in progress is spared). Returns how many
    /// entries were removed.
    pub fn clean_tmp(&self) -> Result<usize> {
        self.clean_tmp_older_than(TMP_GRACE)
    }

    /// [`BlobStore::clean_tmp`] with an explicit age; `Duration::ZERO` removes everything
    /// (only safe when no other process uses the data directory).
    pub fn clean_tmp_older_than(&self, age: Duration) -> Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.tmp)? {
            let entry = entry?;
            let meta = match entry.metadata() {
                Ok(m) => m,
                // Removed by its owner while we were listing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            if !older_than(&meta, age) {
                continue;
            }
            let path = entry.path();
            let res = if meta.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match res {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(removed)
    }

    /// Deletes blobs not in `referenced` (from [`crate::Catalog::referenced_blobs`]),
    /// sparing those written or re-used within [`GC_GRACE`]. Returns how many were deleted.
    pub fn gc(&self, referenced: &[String]) -> Result<usize> {
        self.gc_older_than(referenced, GC_GRACE)
    }

    /// [`BlobStore::gc`] with an explicit grace period; `Duration::ZERO` deletes every
    /// unreferenced blob (only safe when no other process writes to the data directory).
    pub fn gc_older_than(&self, referenced: &[String], grace: Duration) -> Result<usize> {
        let keep: HashSet<&str> = referenced.iter().map(String::as_str).collect();
        let mut deleted = 0;
        for fan in fs::read_dir(&self.objects)? {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(fan.path())? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                // Only files that look like blobs are ours to delete.
                if validate_sha256(name).is_err() || keep.contains(name) {
                    continue;
                }
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                };
                if !meta.is_file() || !older_than(&meta, grace) {
                    continue;
                }
                match fs::remove_file(entry.path()) {
                    Ok(()) => deleted += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(deleted)
    }

    /// Copies `src` into a temp file of ours, fsyncs it and renames it to `dest`.
    fn copy_in(&self, src: &Path, dest: &Path) -> Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix("copy-")
            .tempfile_in(&self.tmp)?;
        io::copy(&mut File::open(src)?, tmp.as_file_mut())?;
        tmp.as_file().sync_all()?;
        tmp.persist(dest).map_err(|e| StoreError::Io(e.error))?;
        Ok(())
    }
}

fn older_than(meta: &fs::Metadata, age: Duration) -> bool {
    if age.is_zero() {
        return true;
    }
    match meta.modified() {
        Ok(m) => SystemTime::now()
            .duration_since(m)
            .is_ok_and(|elapsed| elapsed >= age),
        // No mtime support: treat as old rather than never cleaning.
        Err(_) => true,
    }
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Sets a file's mtime to now (the grace clocks of `gc` and `clean_tmp` read it).
fn touch(path: &Path) -> io::Result<()> {
    File::open(path)?.set_modified(SystemTime::now())
}

fn sync_file(path: &Path) -> io::Result<()> {
    // Windows needs write access to flush a file; unix does not, and the file may have been
    // created read-only.
    #[cfg(unix)]
    let f = File::open(path)?;
    #[cfg(not(unix))]
    let f = fs::OpenOptions::new().write(true).open(path)?;
    f.sync_all()
}

/// Makes a rename or a new entry in `dir` durable (unix); elsewhere a no-op.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        (dir, store)
    }

    #[test]
    fn validates_digests() {
        let good = sha256_hex(b"x");
        assert!(validate_sha256(&good).is_ok());
        for bad in [
            "",
            "../../../../etc/passwd",
            &good[..63],
            &format!("{good}0"),
            &good.to_uppercase(),
            &format!("{}/", &good[..63]),
            &format!("..{}", &good[2..]),
        ] {
            assert!(validate_sha256(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn layout_is_sha256_fanout() {
        let (dir, store) = store();
        let (sha, path) = store.put_bytes(b"hello").expect("put");
        assert_eq!(
            sha,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(path, dir.path().join("sha256").join("2c").join(&sha));
        assert_eq!(fs::read(&path).expect("read"), b"hello");
    }

    #[test]
    fn touch_refreshes_mtime() {
        let (_dir, store) = store();
        let (sha, path) = store.put_bytes(b"old").expect("put");
        let old = SystemTime::now() - Duration::from_secs(3 * 3600);
        File::open(&path)
            .expect("open")
            .set_modified(old)
            .expect("set mtime");
        // Re-putting existing content counts as a use: gc must then spare it.
        store.put_bytes(b"old").expect("put again");
        assert_eq!(store.gc(&[]).expect("gc"), 0);
        assert!(store.exists(&sha).expect("exists"));
    }
}
