//! The S3 source against moto's server (IAM enforcement on), through the fault proxy of
//! lut-testkit, which also counts requests and checks every AssumeRole's ExternalId.

mod common;

use std::io::Write;

use common::*;
use lut_source::s3::S3Source;
use lut_source::{Downloaded, ErrorKind, Fetch, FetchRequest, ObjectSource, SourceError, Stage};
use lut_testkit::{Fault, Match, PutOptions, RoleSpec};
use sha2::{Digest, Sha256};

const CSV: &[u8] = b"accountId,name,env\n111122223333,payments,prod\n444455556666,sandbox,dev\n";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

async fn modified(src: &S3Source, req: &FetchRequest) -> Downloaded {
    match src.fetch(req).await {
        Ok(Fetch::Modified(d)) => d,
        other => panic!("expected a download, got {other:?}"),
    }
}

async fn failed(src: &S3Source, req: &FetchRequest) -> SourceError {
    match src.fetch(req).await {
        Err(e) => e,
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn csv_and_gzip_objects() {
    let w = World::new("formats");
    let jsonl =
        b"{\"ip\":\"10.0.0.1\",\"tag\":\"scanner\"}\n{\"ip\":\"10.0.0.2\",\"tag\":\"tor\"}\n";
    let gz = gzip(jsonl);
    w.put("accounts.csv", CSV);
    w.put_with(
        "intel.jsonl.gz",
        &gz,
        &PutOptions {
            content_type: Some("application/x-ndjson".into()),
            content_encoding: Some("gzip".into()),
            ..PutOptions::default()
        },
    );
    let role = w.role("r", &["accounts.csv", "intel.jsonl.gz"], None);
    let proxy = w.proxy();
    let src = w.source_at(&proxy.endpoint(), |_| {}).await;

    let d = modified(
        &src,
        &w.request("accounts", w.location("accounts.csv", &role), None),
    )
    .await;
    assert_eq!(std::fs::read(&d.path).unwrap(), CSV);
    assert_eq!(
        (d.size, d.sha256.as_str()),
        (CSV.len() as u64, sha(CSV).as_str())
    );
    assert_eq!(d.source, format!("s3://{}/accounts.csv", w.bucket));
    assert!(
        d.etag.as_deref().is_some_and(|e| e.starts_with('"')),
        "{:?}",
        d.etag
    );
    assert!(
        d.last_modified.as_deref().is_some_and(|t| t.ends_with('Z')),
        "{:?}",
        d.last_modified
    );
    assert_eq!(d.encryption, None);

    // Bytes as stored: the parser, not the source, decompresses (gzip by magic bytes).
    let d = modified(
        &src,
        &w.request("intel", w.location("intel.jsonl.gz", &role), None),
    )
    .await;
    assert_eq!(std::fs::read(&d.path).unwrap(), gz);
    assert_eq!(
        (d.size, d.sha256.as_str()),
        (gz.len() as u64, sha(&gz).as_str())
    );
    assert_external_ids(&proxy, EXTERNAL_ID);
}

#[tokio::test]
async fn sse_kms_object() {
    let w = World::new("kms");
    let key = w.moto.create_kms_key(None);
    w.put_with(
        "secret.csv",
        CSV,
        &PutOptions {
            kms_key_id: Some(key.clone()),
            ..PutOptions::default()
        },
    );
    let role = w.role("r", &["secret.csv"], Some(&key));
    let src = w.source_at(w.moto.endpoint(), |_| {}).await;
    let req = w.request(
        "secret",
        w.location_in(&w.bucket, "secret.csv", &role, Some(&key)),
        None,
    );
    let d = modified(&src, &req).await;
    assert_eq!(std::fs::read(&d.path).unwrap(), CSV);
    assert_eq!(d.encryption.as_deref(), Some("aws:kms"));
    let reported = d.kms_key_id.expect("the KMS key id is reported");
    assert!(
        key.ends_with(reported.rsplit('/').next().unwrap()),
        "{reported} vs {key}"
    );
}

#[tokio::test]
async fn wrong_external_id_is_refused_at_assume_role() {
    let w = World::new("extid");
    w.put("a.csv", CSV);
    let role = w.role("r", &["a.csv"], None);
    let proxy = w.proxy();
    let src = w
        .source_at(&proxy.endpoint(), |c| {
            c.external_id = "not-the-right-one".into()
        })
        .await;
    let e = failed(&src, &w.request("a", w.location("a.csv", &role), None)).await;
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::PermissionDenied, Stage::AssumeRole),
        "{e:?}"
    );
    assert_eq!(e.http_status, Some(403));
    assert!(
        e.cause.contains(&w.principal.arn) && e.cause.contains(&role.to_string()),
        "{}",
        e.cause
    );
    assert!(
        e.remedy.contains("not-the-right-one") && e.remedy.contains("trust policy"),
        "{}",
        e.remedy
    );
    // Permanent: one AssumeRole, no retries, nothing further.
    assert_eq!(count_assume_role(&proxy), 1);
    assert_eq!(
        proxy
            .requests()
            .iter()
            .filter(|r| r.method == "GET")
            .count(),
        0
    );
    assert_external_ids(&proxy, "not-the-right-one");
}

#[tokio::test]
async fn role_without_trust_for_lut_is_refused_at_assume_role() {
    let w = World::new("trust");
    w.put("a.csv", CSV);
    let other = w.moto.create_principal(&format!("{}-stranger", w.name));
    let role = w.role_with(RoleSpec {
        name: format!("PantherLUTsRole-{}-r", w.name),
        trusted_arn: other.arn.clone(),
        external_id: Some(EXTERNAL_ID.into()),
        bucket: w.bucket.clone(),
        keys: vec!["a.csv".into()],
        kms_key_arn: None,
    });
    let src = w.source_at(w.moto.endpoint(), |_| {}).await;
    let e = failed(&src, &w.request("a", w.location("a.csv", &role), None)).await;
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::PermissionDenied, Stage::AssumeRole),
        "{e:?}"
    );
    assert!(e.cause.contains("may not assume"), "{}", e.cause);
}

#[tokio::test]
async fn object_outside_the_role_policy_is_access_denied() {
    let w = World::new("policy");
    w.put("allowed.csv", CSV);
    w.put("forbidden.csv", CSV);
    let role = w.role("r", &["allowed.csv"], None);
    let src = w.source_at(w.moto.endpoint(), |_| {}).await;
    modified(
        &src,
        &w.request("ok", w.location("allowed.csv", &role), None),
    )
    .await;
    let e = failed(
        &src,
        &w.request("no", w.location("forbidden.csv", &role), None),
    )
    .await;
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::PermissionDenied, Stage::GetObject),
        "{e:?}"
    );
    assert_eq!(
        (e.code.as_deref(), e.http_status),
        (Some("AccessDenied"), Some(403))
    );
    assert!(
        e.cause.contains("s3:GetObject") && e.cause.contains("may not exist"),
        "{}",
        e.cause
    );
    assert!(e
        .remedy
        .contains(&format!("arn:aws:s3:::{}/forbidden.csv", w.bucket)));
    assert!(w.temp_files().is_empty());
}

#[tokio::test]
async fn missing_bucket_and_missing_key() {
    let w = World::new("missing");
    let ghost = format!("{}-ghost", w.name);
    let ghost_role = w.role_with(RoleSpec {
        name: format!("PantherLUTsRole-{}-ghost", w.name),
        trusted_arn: w.principal.arn.clone(),
        external_id: Some(EXTERNAL_ID.into()),
        bucket: ghost.clone(),
        keys: vec!["a.csv".into()],
        kms_key_arn: None,
    });
    let src = w.source_at(w.moto.endpoint(), |_| {}).await;
    let e = failed(
        &src,
        &w.request("g", w.location_in(&ghost, "a.csv", &ghost_role, None), None),
    )
    .await;
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::NotFound, Stage::LocateBucket),
        "{e:?}"
    );
    assert_eq!(e.code.as_deref(), Some("NoSuchBucket"));
    assert!(e.cause.contains(&ghost));

    // The role may read the key, but nobody uploaded it: NoSuchKey.
    let role = w.role("r", &["later.csv"], None);
    let e = failed(&src, &w.request("l", w.location("later.csv", &role), None)).await;
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::NotFound, Stage::GetObject),
        "{e:?}"
    );
    assert_eq!(e.code.as_deref(), Some("NoSuchKey"));
    // A key outside the policy answers 403, as S3 does without s3:ListBucket.
    let e = failed(
        &src,
        &w.request("x", w.location("nowhere.csv", &role), None),
    )
    .await;
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::PermissionDenied, Stage::GetObject),
        "{e:?}"
    );
    assert!(e.cause.contains("may not exist"));
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_then_succeed() {
    let w = World::new("retry");
    w.put("a.csv", CSV);
    let role = w.role("r", &["a.csv"], None);
    let proxy = w.proxy();
    let src = w
        .source_at(&proxy.endpoint(), |c| c.retry = fast_retry(6))
        .await;
    let obj = Match::get_object(&w.bucket, "a.csv");
    proxy.inject(Match::action("AssumeRole"), Fault::throttling(), 1);
    proxy.inject(
        Match::get_bucket_location(&w.bucket),
        Fault::internal_error(),
        1,
    );
    proxy.inject(obj.clone(), Fault::slow_down(), 1);
    proxy.inject(obj.clone(), Fault::unavailable(), 1);
    let d = modified(&src, &w.request("a", w.location("a.csv", &role), None)).await;
    assert_eq!(d.sha256, sha(CSV));
    // Each step retried just where it failed: 2 + 2 + 3 requests, 5 failures + 1 success
    // = 6 attempts, all the policy allows.
    assert_eq!(count_assume_role(&proxy), 2);
    assert_eq!(count_locate(&proxy, &w.bucket), 2);
    assert_eq!(count_get_object(&proxy, &w.bucket, "a.csv"), 3);
    let statuses: Vec<_> = proxy.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            Some(400),
            Some(200),
            Some(500),
            Some(200),
            Some(503),
            Some(503),
            Some(200)
        ]
    );
    assert_external_ids(&proxy, EXTERNAL_ID);
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let w = World::new("giveup");
    w.put("a.csv", CSV);
    let role = w.role("r", &["a.csv"], None);
    let proxy = w.proxy();
    let src = w
        .source_at(&proxy.endpoint(), |c| c.retry = fast_retry(3))
        .await;
    proxy.inject(
        Match::get_object(&w.bucket, "a.csv"),
        Fault::slow_down(),
        10,
    );
    let e = failed(&src, &w.request("a", w.location("a.csv", &role), None)).await;
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::Transient, Stage::GetObject),
        "{e:?}"
    );
    assert_eq!(
        (e.code.as_deref(), e.http_status),
        (Some("SlowDown"), Some(503))
    );
    assert!(
        e.detail.contains("gave up after 3 attempts"),
        "{}",
        e.detail
    );
    assert_eq!(count_get_object(&proxy, &w.bucket, "a.csv"), 3);
    // The credentials and the region survive for the next check: one of each.
    assert_eq!(
        (count_assume_role(&proxy), count_locate(&proxy, &w.bucket)),
        (1, 1)
    );
    assert!(w.temp_files().is_empty());
    assert_external_ids(&proxy, EXTERNAL_ID);
}

#[tokio::test]
async fn connection_resets_are_retried() {
    let w = World::new("reset");
    let big: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i},row-{i}\n").into_bytes())
        .collect();
    w.put("big.csv", &big);
    let role = w.role("r", &["big.csv"], None);
    let proxy = w.proxy();
    let src = w.source_at(&proxy.endpoint(), |_| {}).await;
    let obj = Match::get_object(&w.bucket, "big.csv");
    proxy.inject(Match::action("AssumeRole"), Fault::Reset, 1);
    proxy.inject(obj.clone(), Fault::Reset, 1);
    proxy.inject(obj.clone(), Fault::ResetMidBody { after: 100_000 }, 1);
    let d = modified(&src, &w.request("big", w.location("big.csv", &role), None)).await;
    assert_eq!(
        (d.size, d.sha256.as_str()),
        (big.len() as u64, sha(&big).as_str())
    );
    assert_eq!(count_assume_role(&proxy), 2);
    assert_eq!(count_get_object(&proxy, &w.bucket, "big.csv"), 3);
    // The broken download's partial file is gone; only the finished one remains.
    assert_eq!(w.temp_files().len(), 1);
    drop(d);
    assert!(w.temp_files().is_empty());
    assert_external_ids(&proxy, EXTERNAL_ID);
}

#[tokio::test]
async fn credentials_and_region_are_cached_across_fetches() {
    let w = World::new("cache");
    for k in ["a.csv", "b.csv", "c.csv"] {
        w.put(k, CSV);
    }
    let role = w.role("r", &["a.csv", "b.csv", "c.csv"], None);
    let proxy = w.proxy();
    let src = w.source_at(&proxy.endpoint(), |_| {}).await;
    for (table, key) in [
        ("ta", "a.csv"),
        ("tb", "b.csv"),
        ("tc", "c.csv"),
        ("ta", "a.csv"),
    ] {
        modified(&src, &w.request(table, w.location(key, &role), None)).await;
    }
    assert_eq!(
        count_assume_role(&proxy),
        1,
        "one AssumeRole per (role, ExternalId)"
    );
    assert_eq!(
        count_locate(&proxy, &w.bucket),
        1,
        "one GetBucketLocation per bucket"
    );
    assert_eq!(proxy.count(|r| r.method == "GET"), 5);
    assert_external_ids(&proxy, EXTERNAL_ID);

    // Concurrent fetches on a cold cache still make a single AssumeRole.
    let proxy = w.proxy();
    let src = w.source_at(&proxy.endpoint(), |_| {}).await;
    let reqs: Vec<_> = ["a.csv", "b.csv", "c.csv"]
        .iter()
        .map(|k| w.request("t", w.location(k, &role), None))
        .collect();
    let results = futures_join(&src, &reqs).await;
    assert!(
        results.iter().all(|r| matches!(r, Ok(Fetch::Modified(_)))),
        "{results:?}"
    );
    assert_eq!(count_assume_role(&proxy), 1);
    assert_external_ids(&proxy, EXTERNAL_ID);
}

async fn futures_join(src: &S3Source, reqs: &[FetchRequest]) -> Vec<Result<Fetch, SourceError>> {
    let (a, b, c) = tokio::join!(
        src.fetch(&reqs[0]),
        src.fetch(&reqs[1]),
        src.fetch(&reqs[2])
    );
    vec![a, b, c]
}

#[tokio::test]
async fn unchanged_object_costs_one_get_object_and_no_download() {
    let w = World::new("etag");
    w.put("a.csv", CSV);
    let role = w.role("r", &["a.csv"], None);
    let proxy = w.proxy();
    let src = w.source_at(&proxy.endpoint(), |_| {}).await;
    let first = modified(&src, &w.request("a", w.location("a.csv", &role), None)).await;
    let etag = first.etag.clone().unwrap();
    drop(first);
    assert_external_ids(&proxy, EXTERNAL_ID);
    proxy.clear_requests();

    let r = src
        .fetch(&w.request("a", w.location("a.csv", &role), Some(&etag)))
        .await
        .unwrap();
    assert!(matches!(r, Fetch::NotModified), "{r:?}");
    let reqs = proxy.requests();
    assert_eq!(reqs.len(), 1, "exactly one request: {reqs:?}");
    assert!(reqs[0].is_get_object(&w.bucket, "a.csv"));
    assert_eq!(reqs[0].header("if-none-match"), Some(etag.as_str()));
    assert_eq!(reqs[0].status, Some(304));
    assert!(
        w.temp_files().is_empty(),
        "nothing written: {:?}",
        w.temp_files()
    );

    // A changed object comes back with a new ETag.
    w.put("a.csv", b"accountId,name\n1,x\n");
    let d = modified(
        &src,
        &w.request("a", w.location("a.csv", &role), Some(&etag)),
    )
    .await;
    assert_ne!(d.etag.as_deref(), Some(etag.as_str()));
}

#[tokio::test]
async fn oversized_object_is_rejected_from_content_length() {
    let w = World::new("cap");
    w.put("a.csv", CSV);
    let role = w.role("r", &["a.csv"], None);
    let src = w
        .source_at(w.moto.endpoint(), |c| c.limits.max_object_bytes = 16)
        .await;
    let e = failed(&src, &w.request("a", w.location("a.csv", &role), None)).await;
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::TooLarge, Stage::Download),
        "{e:?}"
    );
    assert!(
        e.detail.contains("Content-Length"),
        "rejected before reading: {}",
        e.detail
    );
    assert!(w.temp_files().is_empty(), "no temp file was even created");
}

#[tokio::test]
async fn a_bucket_in_another_region_is_located_and_signed_for() {
    let w = World::new("region");
    let bucket = format!("{}-eu", w.name);
    w.moto.create_bucket(&bucket, Some("eu-west-1"));
    w.moto
        .put_object(&bucket, "a.csv", CSV, &PutOptions::default());
    let role = w.role_with(RoleSpec {
        name: format!("PantherLUTsRole-{}-eu", w.name),
        trusted_arn: w.principal.arn.clone(),
        external_id: Some(EXTERNAL_ID.into()),
        bucket: bucket.clone(),
        keys: vec!["a.csv".into()],
        kms_key_arn: None,
    });
    let proxy = w.proxy();
    let src = w.source_at(&proxy.endpoint(), |_| {}).await;
    modified(
        &src,
        &w.request("eu", w.location_in(&bucket, "a.csv", &role, None), None),
    )
    .await;
    let get = proxy
        .requests()
        .into_iter()
        .find(|r| r.is_get_object(&bucket, "a.csv"))
        .unwrap();
    let auth = get.header("authorization").unwrap_or_default().to_string();
    assert!(auth.contains("/eu-west-1/s3/aws4_request"), "{auth}");
    assert_external_ids(&proxy, EXTERNAL_ID);
}

#[tokio::test]
async fn caller_identity_is_lut_own_principal() {
    let w = World::new("whoami");
    let src = w.source_at(w.moto.endpoint(), |_| {}).await;
    let id = src.caller_identity().await.unwrap();
    assert_eq!(id.arn, w.principal.arn);
    assert_eq!(id.account, w.moto.account_id());
}

#[tokio::test]
async fn check_access_reports_the_failing_step() {
    let w = World::new("probe");
    w.put("a.csv", CSV);
    let role = w.role("r", &["a.csv", "b.csv"], None);
    let src = w.source_at(w.moto.endpoint(), |_| {}).await;
    let info = src
        .check_access("a", &w.location("a.csv", &role))
        .await
        .unwrap();
    assert_eq!(info.size, Some(CSV.len() as u64));
    assert_eq!(info.region, "us-east-1");
    assert!(info.etag.is_some());
    let e = src
        .check_access("b", &w.location("b.csv", &role))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::NotFound, Stage::GetObject),
        "{e:?}"
    );
    let bad = w
        .source_at(w.moto.endpoint(), |c| c.external_id = "wrong-id".into())
        .await;
    let e = bad
        .check_access("a", &w.location("a.csv", &role))
        .await
        .unwrap_err();
    assert_eq!(e.stage, Stage::AssumeRole);
}

#[tokio::test]
async fn stale_credentials_and_a_wrong_region_are_refreshed() {
    let w = World::new("stale");
    w.put("a.csv", CSV);
    let role = w.role("r", &["a.csv"], None);
    let proxy = w.proxy();
    let src = w.source_at(&proxy.endpoint(), |_| {}).await;
    let req = w.request("a", w.location("a.csv", &role), None);
    modified(&src, &req).await;
    assert_eq!(
        (count_assume_role(&proxy), count_locate(&proxy, &w.bucket)),
        (1, 1)
    );

    // S3 says the cached session expired: lut assumes the role again and retries.
    let obj = Match::get_object(&w.bucket, "a.csv");
    proxy.inject(
        obj.clone(),
        Fault::status(400, "ExpiredToken", "The provided token has expired."),
        1,
    );
    modified(&src, &req).await;
    assert_eq!(count_assume_role(&proxy), 2);
    assert_eq!(count_get_object(&proxy, &w.bucket, "a.csv"), 3);

    // S3 says the bucket is elsewhere: lut locates it again and retries.
    proxy.inject(obj, Fault::status(301, "PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint."), 1);
    modified(&src, &req).await;
    assert_eq!(count_locate(&proxy, &w.bucket), 2);
    assert_eq!(count_assume_role(&proxy), 2);
    assert_external_ids(&proxy, EXTERNAL_ID);
}
