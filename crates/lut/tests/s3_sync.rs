//! `lut apply` + `lut sync` + `lut enrich` against a real S3/STS protocol server (moto, with
//! IAM enforcement on): the README's "Sync from S3" flow.

mod common;

use std::io::Write;

use common::lut_env;
use lut_testkit::{MotoServer, PutOptions, RoleSpec};

const EXTERNAL_ID: &str = "lut-cli-test-external-id";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn sync_from_s3_end_to_end() {
    let moto = MotoServer::shared();
    let name = moto.unique("cli");
    let principal = moto.create_principal(&format!("{name}-svc"));
    let bucket = format!("{name}-lookups");
    moto.create_bucket(&bucket, None);
    let key = "tables/accounts.csv.gz";
    let role = moto.create_reader_role(&RoleSpec {
        name: format!("PantherLUTsRole-{name}"),
        trusted_arn: principal.arn.clone(),
        external_id: Some(EXTERNAL_ID.into()),
        bucket: bucket.clone(),
        keys: vec![key.to_string()],
        kms_key_arn: None,
    });
    let put =
        |body: &str| moto.put_object(&bucket, key, &gzip(body.as_bytes()), &PutOptions::default());
    put("accountId,owner\n111122223333,alice\n");

    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(
        specs.join("accounts.yml"),
        format!(
            "AnalysisType: lookup_table\nLookupName: aws_accounts\nEnabled: true\nSchema: Custom.Accounts\nRefresh:\n  RoleARN: {role}\n  ObjectPath: s3://{bucket}/{key}\n  PeriodMinutes: 60\nLogTypeMap:\n  PrimaryKey: accountId\n  AssociatedLogTypes:\n    - LogType: AWS.CloudTrail\n      Selectors: [recipientAccountId]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        specs.join("schema.yml"),
        "schema: Custom.Accounts\nparser:\n  csv:\n    hasHeader: true\nfields:\n  - {name: accountId, type: string, required: true}\n  - {name: owner, type: string, required: true}\n",
    )
    .unwrap();
    let dd = tmp.path().join("data");
    let dd = dd.to_str().unwrap();
    let endpoint = moto.endpoint();
    let env = |external_id: &'static str| {
        vec![
            ("AWS_ENDPOINT_URL", endpoint.to_string()),
            ("AWS_ACCESS_KEY_ID", principal.key.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY",
                principal.key.secret_access_key.clone(),
            ),
            ("LUT_EXTERNAL_ID", external_id.to_string()),
        ]
    };
    let run = |args: &[&str], stdin: Option<&[u8]>, external_id: &'static str| {
        let owned = env(external_id);
        let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        lut_env(args, stdin, &pairs)
    };
    let owner = |id: &str| {
        let line =
            format!("{{\"p_log_type\":\"AWS.CloudTrail\",\"recipientAccountId\":\"{id}\"}}\n");
        let r = run(
            &["enrich", "-q", "--data-dir", dd],
            Some(line.as_bytes()),
            EXTERNAL_ID,
        );
        let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        v["p_enrichment"]["aws_accounts"]["recipientAccountId"]["owner"]
            .as_str()
            .map(str::to_string)
    };

    let r = run(
        &["apply", specs.to_str().unwrap(), "--data-dir", dd],
        None,
        EXTERNAL_ID,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout_str().contains("+ add     aws_accounts (s3)"),
        "{}",
        r.stdout_str()
    );

    let r = run(&["sync", "--data-dir", dd], None, EXTERNAL_ID);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout_str(), r.stderr);
    assert!(
        r.stdout_str()
            .contains("aws_accounts: updated to version 1 (1 rows)"),
        "{}",
        r.stdout_str()
    );
    assert_eq!(owner("111122223333").as_deref(), Some("alice"));

    let r = run(&["sync", "--data-dir", dd], None, EXTERNAL_ID);
    assert_eq!(r.stdout_str().trim(), "aws_accounts: unchanged");

    put("accountId,owner\n111122223333,bob\n444455556666,carol\n");
    let r = run(
        &["sync", "aws_accounts", "--data-dir", dd],
        None,
        EXTERNAL_ID,
    );
    assert!(
        r.stdout_str().contains("updated to version 2 (2 rows)"),
        "{}",
        r.stdout_str()
    );
    assert_eq!(owner("111122223333").as_deref(), Some("bob"));

    // Rows that break the schema: rejected, the live version keeps serving.
    put("accountId,owner\n111122223333,\n");
    let r = run(&["sync", "--data-dir", dd], None, EXTERNAL_ID);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout_str().contains("failed at validate"),
        "{}",
        r.stdout_str()
    );
    assert_eq!(owner("444455556666").as_deref(), Some("carol"));

    // A wrong ExternalId cannot assume the role.
    put("accountId,owner\n111122223333,dave\n");
    let r = run(&["sync", "--data-dir", dd], None, "not-the-right-id");
    assert_eq!(r.code, 1);
    assert!(
        r.stdout_str().contains("failed at assume-role"),
        "{}",
        r.stdout_str()
    );
    let errors = run(
        &["errors", "--data-dir", dd, "--format", "json"],
        None,
        EXTERNAL_ID,
    )
    .json();
    let stages: Vec<&str> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert!(
        stages.contains(&"assume-role") && stages.contains(&"validate"),
        "{errors}"
    );

    // The right one again: the fixed object goes live and the errors resolve.
    let r = run(&["sync", "--data-dir", dd], None, EXTERNAL_ID);
    assert_eq!(r.code, 0, "{}", r.stdout_str());
    assert_eq!(owner("111122223333").as_deref(), Some("dave"));
    let open = run(
        &["errors", "--data-dir", dd, "--format", "json"],
        None,
        EXTERNAL_ID,
    )
    .json();
    assert!(open.as_array().unwrap().is_empty(), "{open}");

    let settings = run(
        &["settings", "--data-dir", dd, "--format", "json"],
        None,
        EXTERNAL_ID,
    )
    .json();
    assert_eq!(settings["service_principal"], principal.arn.as_str());
    assert_eq!(settings["external_id"], EXTERNAL_ID);
}
