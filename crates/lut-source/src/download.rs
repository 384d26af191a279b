//! Streaming an object to a temporary file while hashing and counting it, under a cap.

use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

/// A downloaded object: a temporary file (deleted when dropped unless persisted) and what
/// lut records about it.
#[derive(Debug)]
pub struct Downloaded {
    pub path: TempPath,
    /// Bytes as stored (compressed, if the object is).
    pub size: u64,
    /// Hex sha256 of those bytes; also the blob's content address.
    pub sha256: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// `s3://bucket/key` or `file:///path`.
    pub source: String,
    /// Server-side encryption reported by the store (`aws:kms`, `AES256`).
    pub encryption: Option<String>,
    pub kms_key_id: Option<String>,
}

/// Why writing a download stopped.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the object is larger than the {cap}-byte limit")]
    TooLarge { cap: u64 },
    #[error("cannot write the download to disk: {0}")]
    Io(#[from] io::Error),
}

/// Writes chunks to a temp file, hashing and counting as they come.
pub struct BlobWriter {
    progress: Option<(crate::Progress, Option<u64>)>,
    file: tokio::fs::File,
    path: TempPath,
    hasher: Sha256,
    size: u64,
    cap: u64,
}

impl BlobWriter {
    /// Creates the temp file in `dir` (the data directory's temp area, so that the blob
    /// store can rename it into place without copying).
    pub async fn create(dir: &Path, cap: u64) -> io::Result<BlobWriter> {
        tokio::fs::create_dir_all(dir).await?;
        let named = tempfile::Builder::new()
            .prefix("fetch-")
            .suffix(".part")
            .tempfile_in(dir)?;
        let (file, path) = named.into_parts();
        Ok(BlobWriter {
            progress: None,
            file: tokio::fs::File::from_std(file),
            path,
            hasher: Sha256::new(),
            size: 0,
            cap,
        })
    }

    /// Reports every write to `progress`, with the expected total when known.
    pub fn with_progress(mut self, progress: Option<crate::Progress>, total: Option<u64>) -> Self {
        self.progress = progress.map(|p| (p, total));
        self
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), WriteError> {
        self.size += chunk.len() as u64;
        if self.size > self.cap {
            return Err(WriteError::TooLarge { cap: self.cap });
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        if let Some((p, total)) = &self.progress {
            p.report(self.size, *total);
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes and fsyncs the file; returns its path, size and hex sha256.
    pub async fn finish(mut self) -> io::Result<(TempPath, u64, String)> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        Ok((self.path, self.size, hex::encode(self.hasher.finalize())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_counts_and_caps() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = BlobWriter::create(dir.path(), 10).await.unwrap();
        w.write(b"hello ").await.unwrap();
        w.write(b"you").await.unwrap();
        let (path, size, sha) = w.finish().await.unwrap();
        assert_eq!(size, 9);
        assert_eq!(sha, hex::encode(Sha256::digest(b"hello you")));
        assert_eq!(sha.len(), 64);
        assert_eq!(std::fs::read(&path).unwrap(), b"hello you");
        let mut w = BlobWriter::create(dir.path(), 4).await.unwrap();
        assert!(matches!(
            w.write(b"12345").await,
            Err(WriteError::TooLarge { cap: 4 })
        ));
    }
}
