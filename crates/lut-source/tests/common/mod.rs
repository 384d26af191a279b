//! Shared set-up for the S3 tests: a principal, a bucket and roles on the process's moto
//! server, with unique names so tests run in parallel.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use lut_core::aws::{KmsKeyArn, RoleArn, S3Uri};
use lut_source::s3::{RetryPolicy, S3Config, S3Source};
use lut_source::{FetchRequest, Location};
use lut_testkit::{FaultProxy, MotoServer, Principal, PutOptions, RoleSpec};

pub const EXTERNAL_ID: &str = "lut-test-external-id-0001";

/// Fast retries so that tests of backoff take milliseconds.
pub fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

pub struct World {
    pub moto: &'static MotoServer,
    pub principal: Principal,
    pub bucket: String,
    pub temp: tempfile::TempDir,
    pub name: String,
}

impl World {
    /// lut's principal and one bucket, named after `prefix`.
    pub fn new(prefix: &str) -> World {
        let moto = MotoServer::shared();
        let name = moto.unique(prefix);
        let principal = moto.create_principal(&format!("{name}-svc"));
        let bucket = format!("{name}-data");
        moto.create_bucket(&bucket, None);
        World {
            moto,
            principal,
            bucket,
            temp: tempfile::tempdir().unwrap(),
            name,
        }
    }

    /// A reader role trusting this world's principal with [`EXTERNAL_ID`].
    pub fn role(&self, suffix: &str, keys: &[&str], kms_key_arn: Option<&str>) -> RoleArn {
        self.role_with(RoleSpec {
            name: format!("PantherLUTsRole-{}-{suffix}", self.name),
            trusted_arn: self.principal.arn.clone(),
            external_id: Some(EXTERNAL_ID.into()),
            bucket: self.bucket.clone(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            kms_key_arn: kms_key_arn.map(str::to_string),
        })
    }

    pub fn role_with(&self, spec: RoleSpec) -> RoleArn {
        RoleArn::parse(&self.moto.create_reader_role(&spec)).unwrap()
    }

    pub fn put(&self, key: &str, body: &[u8]) -> String {
        self.moto
            .put_object(&self.bucket, key, body, &PutOptions::default())
    }

    pub fn put_with(&self, key: &str, body: &[u8], opts: &PutOptions) -> String {
        self.moto.put_object(&self.bucket, key, body, opts)
    }

    pub fn location(&self, key: &str, role: &RoleArn) -> Location {
        self.location_in(&self.bucket, key, role, None)
    }

    pub fn location_in(
        &self,
        bucket: &str,
        key: &str,
        role: &RoleArn,
        kms: Option<&str>,
    ) -> Location {
        Location::S3 {
            uri: S3Uri::parse(&format!("s3://{bucket}/{key}")).unwrap(),
            role_arn: role.clone(),
            kms_key: kms.map(|k| KmsKeyArn::parse(k).unwrap()),
        }
    }

    pub fn request(&self, table: &str, location: Location, etag: Option<&str>) -> FetchRequest {
        FetchRequest {
            table: table.into(),
            location,
            if_none_match: etag.map(str::to_string),
            progress: None,
        }
    }

    /// A proxy in front of moto, to count requests and inject faults.
    pub fn proxy(&self) -> FaultProxy {
        FaultProxy::start(self.moto.endpoint())
    }

    /// An S3 source with this world's principal as lut's identity, talking to `endpoint`.
    pub async fn source_at(&self, endpoint: &str, tweak: impl FnOnce(&mut S3Config)) -> S3Source {
        let key = &self.principal.key;
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                &key.access_key_id,
                &key.secret_access_key,
                None,
                None,
                "lut-test",
            ))
            .load()
            .await;
        let mut c = S3Config::new(EXTERNAL_ID, self.temp.path());
        c.endpoint_url = Some(endpoint.to_string());
        c.force_path_style = true;
        c.retry = fast_retry(4);
        tweak(&mut c);
        S3Source::from_sdk_config(c, &sdk).unwrap()
    }

    pub fn temp_files(&self) -> Vec<String> {
        files_in(self.temp.path())
    }
}

pub fn files_in(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Every AssumeRole the proxy saw carried `ExternalId=<expected>`.
pub fn assert_external_ids(proxy: &FaultProxy, expected: &str) {
    let calls: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.action().as_deref() == Some("AssumeRole"))
        .collect();
    for r in &calls {
        assert_eq!(
            r.form("ExternalId").as_deref(),
            Some(expected),
            "AssumeRole without the ExternalId: {r:?}"
        );
        let session = r.form("RoleSessionName").unwrap_or_default();
        assert!(
            session.starts_with("lut-") && session.len() <= 64,
            "session name {session:?}"
        );
    }
}

pub fn count_assume_role(proxy: &FaultProxy) -> usize {
    proxy.count(|r| r.action().as_deref() == Some("AssumeRole"))
}

pub fn count_get_object(proxy: &FaultProxy, bucket: &str, key: &str) -> usize {
    proxy.count(|r| r.is_get_object(bucket, key))
}

pub fn count_locate(proxy: &FaultProxy, bucket: &str) -> usize {
    proxy.count(|r| r.is_get_bucket_location(bucket))
}
