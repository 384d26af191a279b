//! The local file source: `file://` objects for quick starts, tests and air-gapped use.
//!
//! A local file's ETag is derived from its modification time and size, so an unchanged
//! file costs one `stat` and no read, like a 304 from S3.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use tokio::io::AsyncReadExt;

use crate::download::{BlobWriter, Downloaded, WriteError};
use crate::{ErrorKind, Fetch, FetchRequest, Limits, Location, ObjectSource, SourceError, Stage};

#[derive(Debug, Clone)]
pub struct LocalSource {
    temp_dir: PathBuf,
    limits: Limits,
}

impl LocalSource {
    pub fn new(temp_dir: impl Into<PathBuf>, limits: Limits) -> Self {
        LocalSource {
            temp_dir: temp_dir.into(),
            limits,
        }
    }
}

/// `"<mtime ns hex>-<size hex>"`, quoted like an HTTP ETag.
fn etag_of(meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{mtime:x}-{:x}\"", meta.len())
}

fn io_error(stage: Stage, path: &Path, e: std::io::Error) -> SourceError {
    let (kind, cause, remedy) = match e.kind() {
        std::io::ErrorKind::NotFound => (
            ErrorKind::NotFound,
            format!("{} does not exist", path.display()),
            "check the path, or create the file".to_string(),
        ),
        std::io::ErrorKind::PermissionDenied => (
            ErrorKind::PermissionDenied,
            format!("lut may not read {}", path.display()),
            "give the user running lut read access to the file".to_string(),
        ),
        _ => (
            ErrorKind::Other,
            format!("cannot read {}: {e}", path.display()),
            "check the file and the disk".to_string(),
        ),
    };
    SourceError::new(kind, stage, cause, remedy).with_detail(e.to_string())
}

#[async_trait::async_trait]
impl ObjectSource for LocalSource {
    async fn fetch(&self, req: &FetchRequest) -> Result<Fetch, SourceError> {
        let Location::File(path) = &req.location else {
            return Err(SourceError::new(
                ErrorKind::Invalid,
                Stage::GetObject,
                "the local source only reads file:// locations",
                "this is a bug in lut's source selection",
            ));
        };
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| io_error(Stage::GetObject, path, e))?;
        if !meta.is_file() {
            return Err(SourceError::new(
                ErrorKind::Invalid,
                Stage::GetObject,
                format!("{} is not a regular file", path.display()),
                "point the table at one file",
            ));
        }
        let etag = etag_of(&meta);
        if req.if_none_match.as_deref() == Some(etag.as_str()) {
            return Ok(Fetch::NotModified);
        }
        if meta.len() > self.limits.max_object_bytes {
            return Err(too_large(self.limits.max_object_bytes));
        }
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| io_error(Stage::GetObject, path, e))?;
        let mut w = BlobWriter::create(&self.temp_dir, self.limits.max_object_bytes)
            .await
            .map_err(|e| io_error(Stage::Download, &self.temp_dir, e))?
            .with_progress(req.progress.clone(), Some(meta.len()));
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| io_error(Stage::Download, path, e))?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n]).await.map_err(|e| match e {
                WriteError::TooLarge { cap } => too_large(cap),
                WriteError::Io(e) => io_error(Stage::Download, &self.temp_dir, e),
            })?;
        }
        let (tmp, size, sha256) = w
            .finish()
            .await
            .map_err(|e| io_error(Stage::Download, &self.temp_dir, e))?;
        Ok(Fetch::Modified(Downloaded {
            path: tmp,
            size,
            sha256,
            etag: Some(etag),
            last_modified: None,
            source: req.location.display(),
            encryption: None,
            kms_key_id: None,
        }))
    }
}

pub(crate) fn too_large(cap: u64) -> SourceError {
    SourceError::new(
        ErrorKind::TooLarge,
        Stage::Download,
        format!("the object is larger than the {cap}-byte limit"),
        "check that the table points at the right object, or raise the limit (max_object_bytes)",
    )
}
