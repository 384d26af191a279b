//! `S3Source::new` takes lut's identity, region and endpoint from the standard AWS chain
//! (environment variables here), and `S3Config::endpoint_url` overrides the environment's
//! endpoint. Its own binary: it sets process-wide environment variables.

mod common;

use common::*;
use lut_source::s3::{S3Config, S3Source};
use lut_source::{Fetch, ObjectSource};

#[test]
fn identity_region_and_endpoint_come_from_the_environment() {
    let w = World::new("env");
    w.put("a.csv", b"a,b\n1,2\n");
    let role = w.role("r", &["a.csv"], None);
    let env_proxy = w.proxy();
    let cfg_proxy = w.proxy();
    // Before any runtime or client exists: nothing else reads the environment concurrently.
    let isolate = w.temp.path().join("no-such-aws-file");
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", w.principal.key.access_key_id.as_str()),
        (
            "AWS_SECRET_ACCESS_KEY",
            w.principal.key.secret_access_key.as_str(),
        ),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", env_proxy.endpoint().as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", isolate.to_str().unwrap()),
        ("AWS_SHARED_CREDENTIALS_FILE", isolate.to_str().unwrap()),
    ] {
        std::env::set_var(k, v);
    }
    std::env::remove_var("AWS_PROFILE");
    std::env::remove_var("AWS_SESSION_TOKEN");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = S3Config::new(EXTERNAL_ID, w.temp.path());
        c.force_path_style = true;
        let src = S3Source::new(c.clone()).await.unwrap();
        let id = src.caller_identity().await.unwrap();
        assert_eq!(id.arn, w.principal.arn);
        let r = src
            .fetch(&w.request("a", w.location("a.csv", &role), None))
            .await
            .unwrap();
        assert!(matches!(r, Fetch::Modified(_)));
        assert!(env_proxy.count(|r| r.action().as_deref() == Some("AssumeRole")) == 1);
        assert!(env_proxy.count(|r| r.is_get_object(&w.bucket, "a.csv")) == 1);

        // The config's endpoint wins over AWS_ENDPOINT_URL, for STS and S3 alike.
        c.endpoint_url = Some(cfg_proxy.endpoint());
        let before = env_proxy.requests().len();
        let src = S3Source::new(c).await.unwrap();
        let r = src
            .fetch(&w.request("a", w.location("a.csv", &role), None))
            .await
            .unwrap();
        assert!(matches!(r, Fetch::Modified(_)));
        assert_eq!(
            env_proxy.requests().len(),
            before,
            "nothing went to the environment's endpoint"
        );
        assert_eq!(
            cfg_proxy.count(|r| r.action().as_deref() == Some("AssumeRole")),
            1
        );
        assert_eq!(cfg_proxy.count(|r| r.is_get_object(&w.bucket, "a.csv")), 1);
        assert_external_ids(&cfg_proxy, EXTERNAL_ID);
        assert_external_ids(&env_proxy, EXTERNAL_ID);
    });
}
