//! The S3 source: one object per table, read through an IAM role in the bucket owner's
//! account (SPEC §6.1), on the official AWS SDK for Rust.
//!
//! A fetch is: STS AssumeRole on the table's role with the deployment's ExternalId and the
//! session name `lut-<table>` (credentials cached per (role, ExternalId) until 5 minutes
//! before they expire) → GetBucketLocation with those credentials (region cached per
//! bucket) → GetObject with `If-None-Match` on the stored ETag. A 304 ends it there: with
//! warm caches an unchanged object costs exactly one request. A changed object is streamed
//! into a [`BlobWriter`] (sha256, size, cap) in the configured temp directory.
//!
//! **Retries.** The SDK's own retries are switched off (`RetryConfig::disabled()`), so
//! every request on the wire is one of ours: a fetch makes at most
//! [`RetryPolicy::max_attempts`] attempts in all, each attempt resuming at the first step
//! whose result is not cached (a throttled AssumeRole is retried, not the whole chain), with
//! full-jitter exponential backoff between attempts. Only [`ErrorKind::Transient`] failures
//! are retried (throttling codes, 5xx, timeouts, connection errors, bodies broken
//! mid-download, stale temporary credentials, a wrong region); everything else fails at once.
//!
//! **Endpoint and proxy.** lut's own identity comes from the standard chain
//! (`aws_config::defaults`), which also honours `AWS_ENDPOINT_URL`
//! (`AWS_ENDPOINT_URL_STS`/`_S3`) and `AWS_REGION`; [`S3Config::endpoint_url`] overrides
//! them for both STS and S3. The SDK's default HTTPS client (behaviour version ≥ 2025-08-07,
//! which `BehaviorVersion::latest()` is) routes through `HTTPS_PROXY`/`HTTP_PROXY`/
//! `ALL_PROXY` and respects `NO_PROXY`; lut adds no HTTP stack of its own.

mod classify;
mod lazy;
mod observe;
mod session;
mod upload;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_smithy_types::date_time::Format;

use crate::download::{BlobWriter, Downloaded, WriteError};
use crate::{ErrorKind, Fetch, FetchRequest, Limits, Location, ObjectSource, SourceError, Stage};

pub use classify::{classify, Context, Observed, Op, Transport};
pub use lazy::LazyS3;
pub use session::{session_name, RetryPolicy, REFRESH_BEFORE_EXPIRY};
pub use upload::TEMPLATE_URL_EXPIRY;

use observe::observe;
use session::{CredentialCache, RegionCache, RoleCredentials};

/// Connect timeout for STS and S3.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to the response head of one request (a body then streams under the SDK's
/// stalled-stream protection, which fails a download that stops moving).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of the S3 source (service-wide; nothing here is per table).
#[derive(Clone)]
pub struct S3Config {
    /// STS and S3 endpoint (S3-compatible storage, a test server). Overrides
    /// `AWS_ENDPOINT_URL`; `None` keeps whatever the standard chain says.
    pub endpoint_url: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), for S3-compatible stores.
    pub force_path_style: bool,
    /// The deployment's ExternalId, already resolved (`LUT_EXTERNAL_ID`, config, catalog).
    pub external_id: String,
    /// Region for STS and GetBucketLocation; `None` = the standard chain's, else the role's
    /// partition default (us-east-1 for `aws`).
    pub region: Option<String>,
    pub limits: Limits,
    /// Where downloads are written (the blob store's temp area: same file system).
    pub temp_dir: PathBuf,
    pub retry: RetryPolicy,
}

impl S3Config {
    /// Defaults for everything but the ExternalId and the temp directory.
    pub fn new(external_id: impl Into<String>, temp_dir: impl Into<PathBuf>) -> S3Config {
        S3Config {
            endpoint_url: None,
            force_path_style: false,
            external_id: external_id.into(),
            region: None,
            limits: Limits::default(),
            temp_dir: temp_dir.into(),
            retry: RetryPolicy::default(),
        }
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint_url", &self.endpoint_url)
            .field("force_path_style", &self.force_path_style)
            .field("external_id", &"<redacted>")
            .field("region", &self.region)
            .field("limits", &self.limits)
            .field("temp_dir", &self.temp_dir)
            .field("retry", &self.retry)
            .finish()
    }
}

/// lut's own AWS identity, from STS GetCallerIdentity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account: String,
    /// The service principal to name in trust policies.
    pub arn: String,
    pub user_id: String,
}

/// What a ranged GetObject says about an object (see [`S3Source::check_access`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub etag: Option<String>,
    pub size: Option<u64>,
    pub last_modified: Option<String>,
    pub encryption: Option<String>,
    pub kms_key_id: Option<String>,
    /// The bucket's region.
    pub region: String,
}

/// Reads table objects from S3 through per-table IAM roles.
pub struct S3Source {
    config: S3Config,
    sdk: SdkConfig,
    sts: aws_sdk_sts::Client,
    creds: CredentialCache,
    regions: RegionCache,
    principal: tokio::sync::OnceCell<String>,
}

impl fmt::Debug for S3Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Source")
            .field("config", &self.config)
            .field("credentials", &self.creds)
            .finish_non_exhaustive()
    }
}

/// One table's object and role, for the calls and the messages.
struct Target<'a> {
    table: &'a str,
    role: String,
    partition: &'a str,
    bucket: &'a str,
    key: &'a str,
    kms_key: Option<String>,
}

impl S3Source {
    /// Loads lut's own identity and region from the standard AWS chain (environment,
    /// profiles, web identity, ECS/EC2 instance roles).
    pub async fn new(config: S3Config) -> Result<S3Source, SourceError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(r) = &config.region {
            loader = loader.region(Region::new(r.clone()));
        }
        let sdk = loader.load().await;
        S3Source::from_sdk_config(config, &sdk)
    }

    /// Uses an already loaded SDK configuration for lut's own identity (its credentials
    /// provider, region, HTTP client). Retries are switched off in it and timeouts set, as
    /// in [`S3Source::new`]; `config.endpoint_url` and `config.region` still override it.
    pub fn from_sdk_config(config: S3Config, sdk: &SdkConfig) -> Result<S3Source, SourceError> {
        if !session::valid_external_id(&config.external_id) {
            return Err(SourceError::new(
                ErrorKind::Invalid,
                Stage::AssumeRole,
                "lut's ExternalId is not valid for STS",
                "set LUT_EXTERNAL_ID or the config's external_id to 2 to 1224 characters of letters, digits and +=,.@:/-_",
            ));
        }
        let mut b = sdk
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .read_timeout(READ_TIMEOUT)
                    .build(),
            );
        if let Some(r) = &config.region {
            b = b.region(Region::new(r.clone()));
        }
        let sdk = b.build();
        let sts_region = sdk
            .region()
            .cloned()
            .unwrap_or_else(|| Region::new(session::partition_default_region("aws")));
        // The endpoint goes on each service's config: set there it wins over
        // AWS_ENDPOINT_URL(_STS/_S3), which the SDK otherwise prefers to SdkConfig's.
        let mut sts = aws_sdk_sts::config::Builder::from(&sdk).region(sts_region);
        if let Some(url) = &config.endpoint_url {
            sts = sts.endpoint_url(url.clone());
        }
        let sts = aws_sdk_sts::Client::from_conf(sts.build());
        Ok(S3Source {
            config,
            sdk,
            sts,
            creds: CredentialCache::default(),
            regions: RegionCache::default(),
            principal: tokio::sync::OnceCell::new(),
        })
    }

    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// lut's own principal (STS GetCallerIdentity), for `lut settings` and trust policies.
    pub async fn caller_identity(&self) -> Result<CallerIdentity, SourceError> {
        let ctx = self.context(None);
        let id = self
            .retrying(|| async {
                let out = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| classify(Op::CallerIdentity, &observe(&e), &ctx))?;
                Ok(CallerIdentity {
                    account: out.account().unwrap_or_default().to_string(),
                    arn: out.arn().unwrap_or_default().to_string(),
                    user_id: out.user_id().unwrap_or_default().to_string(),
                })
            })
            .await?;
        let _ = self.principal.set(id.arn.clone());
        Ok(id)
    }

    /// Assumes the table's role, locates the bucket and reads the object's first byte
    /// (a ranged GetObject, so that `s3:GetObject` and `kms:Decrypt` are both exercised,
    /// unlike HeadObject), reporting the step that failed: the "test connection" of §6.4.
    pub async fn check_access(
        &self,
        table: &str,
        location: &Location,
    ) -> Result<ObjectInfo, SourceError> {
        let t = target(table, location)?;
        let ctx = self.context(Some(&t));
        self.attempts(&t, |creds, region| {
            let ctx = &ctx;
            let t = &t;
            async move {
                let result = self
                    .s3_client(&creds, &region)
                    .get_object()
                    .bucket(t.bucket)
                    .key(t.key)
                    .range("bytes=0-0")
                    .send()
                    .await;
                let out = match result {
                    Ok(out) => out,
                    // An empty object has no byte 0.
                    Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                        return Ok(ObjectInfo {
                            etag: None,
                            size: Some(0),
                            last_modified: None,
                            encryption: None,
                            kms_key_id: None,
                            region,
                        });
                    }
                    Err(e) => return Err(classify(Op::GetObject, &observe(&e), ctx)),
                };
                // `bytes 0-0/<total>`
                let size = out
                    .content_range()
                    .and_then(|r| r.rsplit('/').next())
                    .and_then(|n| n.parse().ok())
                    .or_else(|| out.content_length().and_then(|n| u64::try_from(n).ok()));
                Ok(ObjectInfo {
                    etag: out.e_tag().map(str::to_string),
                    size,
                    last_modified: out
                        .last_modified()
                        .and_then(|d| d.fmt(Format::DateTime).ok()),
                    encryption: out.server_side_encryption().map(|s| s.as_str().to_string()),
                    kms_key_id: out.ssekms_key_id().map(str::to_string),
                    region,
                })
            }
        })
        .await
    }

    fn context<'a>(&'a self, t: Option<&'a Target<'a>>) -> Context<'a> {
        Context {
            table: t.map_or("", |t| t.table),
            role_arn: t.map_or("", |t| t.role.as_str()),
            external_id: &self.config.external_id,
            principal: self.principal.get().map(String::as_str),
            bucket: t.map_or("", |t| t.bucket),
            key: t.map_or("", |t| t.key),
            kms_key: t.and_then(|t| t.kms_key.as_deref()),
            endpoint: self.config.endpoint_url.as_deref(),
        }
    }

    /// Runs `op` up to `max_attempts` times while it fails transiently.
    async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T, SourceError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SourceError>>,
    {
        let max = self.config.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && attempt < max => {
                    self.pause(&e, attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(gave_up(e, attempt)),
            }
        }
    }

    /// The attempt loop of a fetch: credentials (cached or AssumeRole), region (cached or
    /// GetBucketLocation), then `op`; at most `max_attempts` attempts in all.
    async fn attempts<T, F, Fut>(&self, t: &Target<'_>, mut op: F) -> Result<T, SourceError>
    where
        F: FnMut(Credentials, String) -> Fut,
        Fut: std::future::Future<Output = Result<T, SourceError>>,
    {
        let max = self.config.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let result = async {
                let creds = self.role_credentials(t).await?;
                let region = self.bucket_region(t, &creds).await?;
                op(creds, region).await
            }
            .await;
            match result {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let code = e.code.as_deref().unwrap_or("");
                    if classify::STALE_CREDENTIALS.contains(&code) && e.stage != Stage::AssumeRole {
                        self.creds.forget(&t.role, &self.config.external_id).await;
                    }
                    if e.stage == Stage::GetObject
                        && (classify::WRONG_REGION.contains(&code) || e.http_status == Some(301))
                    {
                        self.regions.forget(t.bucket);
                    }
                    if e.is_transient() && attempt < max {
                        self.pause(&e, attempt).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(gave_up(e, attempt));
                }
            }
        }
    }

    async fn pause(&self, e: &SourceError, attempt: u32) {
        let delay = self.config.retry.backoff(attempt);
        tracing::debug!(
            stage = %e.stage,
            code = e.code.as_deref().unwrap_or(""),
            attempt,
            delay_ms = delay.as_millis() as u64,
            "transient failure, retrying: {}",
            e.cause
        );
        tokio::time::sleep(delay).await;
    }

    async fn role_credentials(&self, t: &Target<'_>) -> Result<Credentials, SourceError> {
        let slot = self.creds.slot(&t.role, &self.config.external_id);
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.fresh_at(SystemTime::now())) {
            return Ok(c.credentials.clone());
        }
        let fresh = self.assume_role(t).await?;
        let creds = fresh.credentials.clone();
        *cached = Some(fresh);
        Ok(creds)
    }

    async fn assume_role(&self, t: &Target<'_>) -> Result<RoleCredentials, SourceError> {
        let session = session_name(t.table);
        let result = self
            .sts
            .assume_role()
            .role_arn(&t.role)
            .role_session_name(&session)
            .external_id(&self.config.external_id)
            .duration_seconds(session::SESSION_SECONDS)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                let obs = observe(&e);
                if obs.status == Some(403)
                    && !obs.message.as_deref().unwrap_or("").contains("User: arn:")
                {
                    // Name lut's principal in the message; best effort.
                    let _ = self.principal_arn().await;
                }
                return Err(classify(Op::AssumeRole, &obs, &self.context(Some(t))));
            }
        };
        let Some(c) = out.credentials() else {
            return Err(SourceError::new(
                ErrorKind::Other,
                Stage::AssumeRole,
                format!("STS returned no credentials for {}", t.role),
                "check the endpoint setting: it must point at AWS STS or a compatible service",
            ));
        };
        let expires = SystemTime::try_from(*c.expiration())
            .unwrap_or_else(|_| SystemTime::now() + Duration::from_secs(900));
        tracing::debug!(table = t.table, role = %t.role, session = %session, "assumed role");
        Ok(RoleCredentials {
            credentials: Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                Some(expires),
                "lut-assume-role",
            ),
            expires,
            assumed_arn: out.assumed_role_user().map(|u| u.arn().to_string()),
        })
    }

    async fn principal_arn(&self) -> Option<String> {
        if let Some(p) = self.principal.get() {
            return Some(p.clone());
        }
        let out = self.sts.get_caller_identity().send().await.ok()?;
        let arn = out.arn()?.to_string();
        let _ = self.principal.set(arn.clone());
        Some(arn)
    }

    fn locate_region(&self, partition: &str) -> String {
        match self.sdk.region() {
            Some(r) => r.to_string(),
            None => session::partition_default_region(partition).to_string(),
        }
    }

    async fn bucket_region(
        &self,
        t: &Target<'_>,
        creds: &Credentials,
    ) -> Result<String, SourceError> {
        if let Some(r) = self.regions.get(t.bucket) {
            return Ok(r);
        }
        let out = self
            .s3_client(creds, &self.locate_region(t.partition))
            .get_bucket_location()
            .bucket(t.bucket)
            .send()
            .await
            .map_err(|e| classify(Op::LocateBucket, &observe(&e), &self.context(Some(t))))?;
        let region = session::region_of_location(out.location_constraint().map(|c| c.as_str()));
        self.regions.put(t.bucket, &region);
        Ok(region)
    }

    fn s3_client(&self, creds: &Credentials, region: &str) -> aws_sdk_s3::Client {
        let mut conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .credentials_provider(creds.clone())
            .force_path_style(self.config.force_path_style);
        if let Some(url) = &self.config.endpoint_url {
            conf = conf.endpoint_url(url.clone());
        }
        aws_sdk_s3::Client::from_conf(conf.build())
    }

    async fn get_once(
        &self,
        t: &Target<'_>,
        req: &FetchRequest,
        creds: Credentials,
        region: String,
    ) -> Result<Fetch, SourceError> {
        let ctx = self.context(Some(t));
        let mut op = self
            .s3_client(&creds, &region)
            .get_object()
            .bucket(t.bucket)
            .key(t.key);
        if let Some(etag) = &req.if_none_match {
            op = op.if_none_match(etag);
        }
        let out = match op.send().await {
            Ok(out) => out,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) => {
                tracing::debug!(table = t.table, "not modified");
                return Ok(Fetch::NotModified);
            }
            Err(e) => return Err(classify(Op::GetObject, &observe(&e), &ctx)),
        };
        let etag = out.e_tag().map(str::to_string);
        if etag.is_some() && etag == req.if_none_match {
            // A store that ignores If-None-Match: same answer, body left unread.
            return Ok(Fetch::NotModified);
        }
        let cap = self.config.limits.max_object_bytes;
        if out
            .content_length()
            .is_some_and(|n| u64::try_from(n).unwrap_or(0) > cap)
        {
            return Err(crate::local::too_large(cap).with_detail(format!(
                "Content-Length {} of s3://{}/{}",
                out.content_length().unwrap_or(0),
                t.bucket,
                t.key
            )));
        }
        let last_modified = out
            .last_modified()
            .and_then(|d| d.fmt(Format::DateTime).ok());
        let encryption = out.server_side_encryption().map(|s| s.as_str().to_string());
        let kms_key_id = out.ssekms_key_id().map(str::to_string);
        if let (Some(declared), Some(actual)) = (&t.kms_key, &kms_key_id) {
            if !same_kms_key(declared, actual) {
                tracing::warn!(
                    table = t.table,
                    declared = %declared,
                    actual = %actual,
                    "the object is encrypted with another KMS key than the table declares"
                );
            }
        }
        let dir = &self.config.temp_dir;
        let disk = |e: std::io::Error| {
            SourceError::new(
                ErrorKind::Other,
                Stage::Download,
                format!("cannot write the download to {}: {e}", dir.display()),
                "check free space and permissions of lut's data directory",
            )
            .with_detail(e.to_string())
        };
        let total = out.content_length().and_then(|n| u64::try_from(n).ok());
        let mut w = BlobWriter::create(dir, cap)
            .await
            .map_err(disk)?
            .with_progress(req.progress.clone(), total);
        let mut body = out.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                classify(
                    Op::ReadBody,
                    &Observed {
                        transport: Some(Transport::Io),
                        detail: DisplayErrorContext(&e).to_string(),
                        ..Observed::default()
                    },
                    &ctx,
                )
            })?;
            w.write(&chunk).await.map_err(|e| match e {
                WriteError::TooLarge { cap } => crate::local::too_large(cap),
                WriteError::Io(e) => disk(e),
            })?;
        }
        let (path, size, sha256) = w.finish().await.map_err(disk)?;
        tracing::debug!(table = t.table, size, "downloaded");
        Ok(Fetch::Modified(Downloaded {
            path,
            size,
            sha256,
            etag,
            last_modified,
            source: req.location.display(),
            encryption,
            kms_key_id,
        }))
    }
}

#[async_trait::async_trait]
impl ObjectSource for S3Source {
    async fn fetch(&self, req: &FetchRequest) -> Result<Fetch, SourceError> {
        let t = target(&req.table, &req.location)?;
        self.attempts(&t, |creds, region| self.get_once(&t, req, creds, region))
            .await
    }
}

fn target<'a>(table: &'a str, location: &'a Location) -> Result<Target<'a>, SourceError> {
    let Location::S3 {
        uri,
        role_arn,
        kms_key,
    } = location
    else {
        return Err(SourceError::new(
            ErrorKind::Invalid,
            Stage::GetObject,
            "the S3 source only reads s3:// locations",
            "this is a bug in lut's source selection",
        ));
    };
    Ok(Target {
        table,
        role: role_arn.to_string(),
        partition: &role_arn.partition,
        bucket: &uri.bucket,
        key: &uri.key,
        kms_key: kms_key.as_ref().map(|k| {
            format!(
                "arn:{}:kms:{}:{}:key/{}",
                k.partition, k.region, k.account, k.key_id
            )
        }),
    })
}

/// Compares a key ARN with what S3 reports (an ARN, or sometimes a bare key id).
fn same_kms_key(declared: &str, actual: &str) -> bool {
    let id = |s: &str| s.rsplit_once("key/").map_or(s, |(_, id)| id).to_string();
    declared == actual || id(declared) == id(actual)
}

fn gave_up(mut e: SourceError, attempts: u32) -> SourceError {
    if attempts > 1 {
        e.detail = format!("{} (gave up after {attempts} attempts)", e.detail);
    }
    e
}

#[cfg(test)]
mod tests;
