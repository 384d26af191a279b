//! Uploading a CloudFormation template to lut's template bucket, with lut's own identity,
//! and presigning a GET for it (the console's quick-create link needs an S3 URL that
//! CloudFormation can read; SPEC §6.4).

use std::time::Duration;

use aws_config::Region;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use super::{classify, observe, Op, S3Source};
use crate::{ErrorKind, SourceError, Stage};

/// How long a presigned template URL stays valid by default.
pub const TEMPLATE_URL_EXPIRY: Duration = Duration::from_secs(3600);

impl S3Source {
    fn own_client(&self) -> aws_sdk_s3::Client {
        let region = self
            .sdk
            .region()
            .cloned()
            .unwrap_or_else(|| Region::new(super::session::partition_default_region("aws")));
        let mut conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .region(region)
            .force_path_style(self.config.force_path_style);
        if let Some(url) = &self.config.endpoint_url {
            conf = conf.endpoint_url(url.clone());
        }
        aws_sdk_s3::Client::from_conf(conf.build())
    }

    /// Puts `body` at `s3://bucket/key` with lut's own credentials and returns a presigned
    /// GET URL for it that expires after `expires_in`.
    pub async fn upload_template(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<String, SourceError> {
        let client = self.own_client();
        let ctx = super::Context {
            table: "",
            role_arn: "",
            external_id: &self.config.external_id,
            principal: self.principal.get().map(String::as_str),
            bucket,
            key,
            kms_key: None,
            endpoint: self.config.endpoint_url.as_deref(),
        };
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| {
                let mut err = classify(Op::GetObject, &observe(&e), &ctx);
                err.cause = format!(
                    "cannot upload the template to s3://{bucket}/{key} with lut's own identity: {}",
                    err.cause
                );
                err.remedy = format!(
                    "allow lut's principal s3:PutObject and s3:GetObject on arn:aws:s3:::{bucket}/* (LUT_TEMPLATE_BUCKET)"
                );
                err
            })?;
        let presign = PresigningConfig::expires_in(expires_in).map_err(|e| {
            SourceError::new(
                ErrorKind::Invalid,
                Stage::GetObject,
                format!("invalid expiry for the template URL: {e}"),
                "use an expiry between 1 second and 7 days",
            )
        })?;
        let req = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(presign)
            .await
            .map_err(|e| {
                SourceError::new(
                    ErrorKind::Other,
                    Stage::GetObject,
                    format!("cannot presign the template URL: {e}"),
                    "check lut's AWS credentials",
                )
            })?;
        Ok(req.uri().to_string())
    }
}
