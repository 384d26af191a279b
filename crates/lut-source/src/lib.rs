//! lut-source: where table data comes from.
//!
//! An [`ObjectSource`] fetches one object conditionally (`If-None-Match` on the ETag lut
//! stored) and streams a changed object to a temporary file while hashing and counting it,
//! under a size cap. Failures are [`SourceError`]s classified by [`Stage`] with an AWS
//! error code where there is one, a plain-language cause and a remedy, so the sync engine
//! can raise a useful system error without knowing which backend failed. Implementations:
//! [`local::LocalSource`] (`file://`) and [`s3::S3Source`] (AWS SDK for Rust).

pub mod download;
pub mod error;
pub mod local;
pub mod s3;

use std::path::PathBuf;

use lut_core::aws::{KmsKeyArn, RoleArn, S3Uri};

pub use download::Downloaded;
pub use error::{ErrorKind, SourceError, Stage};

/// Where one table's object lives.
// One per table and rarely moved: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file (quick starts, tests, air-gapped use).
    File(PathBuf),
    /// One S3 object read through an IAM role in the bucket owner's account.
    S3 {
        uri: S3Uri,
        role_arn: RoleArn,
        kms_key: Option<KmsKeyArn>,
    },
}

impl Location {
    /// `file:///abs/path` or `s3://bucket/key`, for messages and version records.
    pub fn display(&self) -> String {
        match self {
            Location::File(p) => format!("file://{}", p.display()),
            Location::S3 { uri, .. } => uri.to_string(),
        }
    }
}

/// Caps that keep a wrong or hostile object from exhausting memory or disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes downloaded (as stored, before decompression).
    pub max_object_bytes: u64,
    /// Bytes after decompression, enforced while parsing.
    pub max_uncompressed_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_object_bytes: 1 << 30,
            max_uncompressed_bytes: 4 << 30,
        }
    }
}

/// Receives download progress: bytes so far and, when the store said, the total.
#[derive(Clone)]
pub struct Progress(std::sync::Arc<dyn Fn(u64, Option<u64>) + Send + Sync>);

impl Progress {
    pub fn new(f: impl Fn(u64, Option<u64>) + Send + Sync + 'static) -> Self {
        Progress(std::sync::Arc::new(f))
    }

    pub fn report(&self, done: u64, total: Option<u64>) {
        (self.0)(done, total)
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// One conditional fetch.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// The table the object belongs to (names the STS session, appears in errors).
    pub table: String,
    pub location: Location,
    /// The ETag of the version lut already has; a match means "not modified".
    pub if_none_match: Option<String>,
    /// Told how a download advances (progress bars); `None` when nobody watches.
    pub progress: Option<Progress>,
}

/// The result of a fetch.
#[derive(Debug)]
pub enum Fetch {
    /// The object still has the ETag lut holds; nothing was downloaded.
    NotModified,
    /// A new version, downloaded to a temporary file.
    Modified(Downloaded),
}

/// A place table data can be fetched from.
#[async_trait::async_trait]
pub trait ObjectSource: Send + Sync {
    /// Fetches `req.location` unless it still matches `req.if_none_match`. The object is
    /// streamed to a temporary file in the source's temp directory (same file system as
    /// the blob store, so it can be renamed into place).
    async fn fetch(&self, req: &FetchRequest) -> Result<Fetch, SourceError>;
}
