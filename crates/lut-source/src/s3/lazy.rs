//! [`LazyS3`]: an S3 source that loads lut's AWS identity on first use.
//!
//! A server may start with only local tables and get its first S3 table from the API or a
//! `lut apply` minutes later. Loading the AWS configuration at start would make local-only
//! use walk the credential chain (and its instance-metadata timeouts); not loading it
//! would leave S3 tables applied later failing until a restart. So the source is always
//! there and the SDK configuration is loaded by the first fetch (or identity lookup).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::{CallerIdentity, S3Config, S3Source};
use crate::{Fetch, FetchRequest, ObjectSource, SourceError};

/// An [`S3Source`] built from `config` when it is first needed. A failed build (an
/// invalid ExternalId) is not cached, so the error is reported on every use.
pub struct LazyS3 {
    config: S3Config,
    source: OnceCell<Arc<S3Source>>,
    identity: OnceCell<CallerIdentity>,
}

impl LazyS3 {
    pub fn new(config: S3Config) -> LazyS3 {
        LazyS3 {
            config,
            source: OnceCell::new(),
            identity: OnceCell::new(),
        }
    }

    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// The source, loading lut's AWS configuration the first time.
    pub async fn get(&self) -> Result<Arc<S3Source>, SourceError> {
        self.source
            .get_or_try_init(|| async { S3Source::new(self.config.clone()).await.map(Arc::new) })
            .await
            .cloned()
    }

    /// Whether the AWS configuration has been loaded (for readiness and tests).
    pub fn is_loaded(&self) -> bool {
        self.source.initialized()
    }

    /// lut's own principal, looked up through STS once (it does not change while the
    /// process runs; a failed lookup is retried by the next call).
    pub async fn caller_identity(&self) -> Result<CallerIdentity, SourceError> {
        self.identity
            .get_or_try_init(|| async { self.get().await?.caller_identity().await })
            .await
            .cloned()
    }
}

impl std::fmt::Debug for LazyS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyS3")
            .field("loaded", &self.is_loaded())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ObjectSource for LazyS3 {
    async fn fetch(&self, req: &FetchRequest) -> Result<Fetch, SourceError> {
        self.get().await?.fetch(req).await
    }
}
