//! [`LazyS3`]: an S3 source that loads lut's AWS identity on first use.
//!
//! A server may start with only local tables and get its first S3 table from the API or a
//! `lut apply` minutes later. Loading the AWS configuration at start would make local-only
//! use walk the credential chain (and its instance-metadata timeouts); not loading it
//! would leave S3 tables applied later failing until a restart. So the source is always
//! there and the SDK configuration is loaded by the first fetch (or identity lookup).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// The last failed identity lookup, answered again for [`IDENTITY_RETRY`].
    identity_failed: Mutex<Option<(Instant, SourceError)>>,
}

/// How long a failed identity lookup is remembered. A settings page polled by a client
/// must not turn into one STS call (and its timeouts) per request when AWS is unreachable.
pub const IDENTITY_RETRY: Duration = Duration::from_secs(60);

impl LazyS3 {
    pub fn new(config: S3Config) -> LazyS3 {
        LazyS3 {
            config,
            source: OnceCell::new(),
            identity: OnceCell::new(),
            identity_failed: Mutex::new(None),
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
    /// process runs); a failed lookup is answered from memory for [`IDENTITY_RETRY`], then
    /// tried again.
    pub async fn caller_identity(&self) -> Result<CallerIdentity, SourceError> {
        if let Some(id) = self.identity.get() {
            return Ok(id.clone());
        }
        if let Some((at, e)) = &*self
            .identity_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
        {
            if at.elapsed() < IDENTITY_RETRY {
                return Err(e.clone());
            }
        }
        let found = self
            .identity
            .get_or_try_init(|| async { self.get().await?.caller_identity().await })
            .await
            .cloned();
        if let Err(e) = &found {
            *self
                .identity_failed
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), e.clone()));
        }
        found
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed loopback port as the AWS endpoint: every lookup fails at once.
    fn unreachable() -> LazyS3 {
        let mut cfg = S3Config::new("lut-test-external-id", std::env::temp_dir());
        cfg.endpoint_url = Some("http://127.0.0.1:9".into());
        cfg.region = Some("us-east-1".into());
        LazyS3::new(cfg)
    }

    #[tokio::test]
    async fn nothing_loads_until_used_and_a_failed_identity_is_remembered() {
        // Without credentials in the environment the chain would end at the instance
        // metadata service, which is not on loopback; every test that touches the chain
        // sets this same value, so setting it here races with nothing that reads another.
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        let s3 = unreachable();
        assert!(!s3.is_loaded(), "creating it touches no AWS configuration");
        let first = s3.caller_identity().await.unwrap_err();
        assert!(s3.is_loaded());
        let again = std::time::Instant::now();
        let second = s3.caller_identity().await.unwrap_err();
        assert_eq!(first, second, "answered from memory");
        assert!(again.elapsed() < Duration::from_millis(50));
    }
}
