//! What moto 5.2 does not enforce, pinned so that docs/s3.md stays true: if moto starts
//! enforcing one of these, its test fails and the doc (and maybe a stronger test) is due.
//! lut's own behaviour in each case is tested elsewhere (classification unit tests, the
//! fault proxy); these tests only describe the test server.

mod common;

use common::*;
use lut_source::{Fetch, ObjectSource};
use lut_testkit::json;
use lut_testkit::{AccessKey, PutOptions};

fn assume(
    w: &World,
    role_arn: &str,
    external_id: Option<&str>,
) -> Result<(AccessKey, String), String> {
    let mut args = json!({"RoleArn": role_arn, "RoleSessionName": "lut-gap"});
    if let Some(id) = external_id {
        args["ExternalId"] = json!(id);
    }
    let v = w
        .moto
        .call_as(
            &w.principal.key,
            None,
            "sts",
            "us-east-1",
            "assume_role",
            args,
        )
        .map_err(|e| e.to_string())?;
    let c = &v["Credentials"];
    Ok((
        AccessKey {
            access_key_id: c["AccessKeyId"].as_str().unwrap().into(),
            secret_access_key: c["SecretAccessKey"].as_str().unwrap().into(),
        },
        c["SessionToken"].as_str().unwrap().into(),
    ))
}

#[tokio::test]
async fn moto_does_not_check_kms_decrypt_on_s3_reads() {
    let w = World::new("gap-kms");
    let key = w.moto.create_kms_key(None);
    w.put_with(
        "k.csv",
        b"a\n1\n",
        &PutOptions {
            kms_key_id: Some(key.clone()),
            ..PutOptions::default()
        },
    );
    // No kms:Decrypt in the role's policy, yet the read succeeds. Real S3 answers 403
    // AccessDenied naming kms:Decrypt, which lut classifies as stage decrypt.
    let role = w.role("r", &["k.csv"], None);
    let src = w.source_at(w.moto.endpoint(), |_| {}).await;
    let r = src
        .fetch(&w.request("k", w.location("k.csv", &role), None))
        .await
        .unwrap();
    let Fetch::Modified(d) = r else { panic!() };
    assert_eq!(d.encryption.as_deref(), Some("aws:kms"));
}

#[test]
fn moto_accepts_assume_role_without_the_external_id() {
    let w = World::new("gap-extid");
    let role = w.role("r", &["a.csv"], None);
    // The trust policy has StringEquals sts:ExternalId, yet a request without one passes
    // (a wrong one is refused). That is why the proxy checks every AssumeRole lut sends.
    assert!(assume(&w, &role.to_string(), Some("wrong")).is_err());
    assert!(assume(&w, &role.to_string(), None).is_ok());
}

#[test]
fn moto_does_not_check_cross_account_trust() {
    let w = World::new("gap-xacct");
    // A role in another account that nobody created: real STS refuses (AccessDenied);
    // moto hands out credentials, because it evaluates trust only for its own account.
    let foreign = "arn:aws:iam::210987654321:role/PantherLUTsRole-nowhere";
    assert!(assume(&w, foreign, Some(EXTERNAL_ID)).is_ok());
}

#[test]
fn moto_refuses_head_object_that_s3_get_object_allows() {
    let w = World::new("gap-head");
    w.put("a.csv", b"a\n1\n");
    let role = w.role("r", &["a.csv"], None);
    let (key, token) = assume(&w, &role.to_string(), Some(EXTERNAL_ID)).unwrap();
    let args = json!({"Bucket": w.bucket, "Key": "a.csv"});
    let get = w.moto.call_as(
        &key,
        Some(&token),
        "s3",
        "us-east-1",
        "get_object",
        args.clone(),
    );
    assert!(get.is_ok(), "{get:?}");
    // Real S3 authorises HeadObject with s3:GetObject; moto 5.2 answers 403. lut's
    // check_access therefore reads byte 0 with a ranged GetObject instead.
    let head = w
        .moto
        .call_as(&key, Some(&token), "s3", "us-east-1", "head_object", args);
    assert!(head.is_err(), "{head:?}");
}
