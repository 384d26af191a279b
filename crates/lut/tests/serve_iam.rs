//! The IAM routes of `lut serve` against moto (issue 5, items 3 and 4):
//! `GET /api/v1/tables/{name}/iam` and `POST /api/v1/tables/{name}/test-connection`, over
//! real HTTP from an in-process server on 127.0.0.1:0.

mod common;

use std::path::Path;

use common::lut_env;
use common::server::{start_with, Server};
use lut_testkit::{MotoServer, PutOptions, RoleSpec};
use reqwest::StatusCode;
use serde_json::Value;

const EXTERNAL_ID: &str = "lut-serve-iam-external-id";

async fn start(data: &Path, external_id: &str) -> Server {
    let id = external_id.to_string();
    start_with(data, move |c| {
        c.external_id = Some(id);
        c.s3_force_path_style = true;
        // The principal comes from STS (moto), as in a real deployment.
        c.principal = None;
    })
    .await
}

impl Server {
    async fn call(&self, post: bool, path: &str, token: &str, status: StatusCode) -> String {
        let url = format!("{}{path}", self.base);
        let r = if post {
            self.http.post(url)
        } else {
            self.http.get(url)
        };
        let resp = r.bearer_auth(token).send().await.unwrap();
        let got = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(got, status, "{path}: {text}");
        text
    }

    async fn call_json(&self, post: bool, path: &str, token: &str, status: StatusCode) -> Value {
        let text = self.call(post, path, token, status).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == name))
        .unwrap_or_else(|| panic!("no step {name}: {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn iam_outputs_and_connection_test_over_http() {
    let moto = MotoServer::shared();
    let name = moto.unique("siam").replace('-', "_");
    let principal = moto.create_principal(&format!("{}-svc", name.replace('_', "-")));
    let bucket = format!("{}-lookups", name.replace('_', "-"));
    moto.create_bucket(&bucket, None);
    let key = "tables/accounts.csv";
    moto.put_object(
        &bucket,
        key,
        b"accountId,owner\n111122223333,alice\n222233334444,bob\n",
        &PutOptions::default(),
    );
    let role_name = lut_core::iam::role_name("PantherLUTsRole-", &name).unwrap();
    let role_arn = moto.create_reader_role(&RoleSpec {
        name: role_name.clone(),
        trusted_arn: principal.arn.clone(),
        external_id: Some(EXTERNAL_ID.into()),
        bucket: bucket.clone(),
        keys: vec![key.to_string()],
        kms_key_arn: None,
    });

    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(
        specs.join("accounts.yml"),
        format!(
            "AnalysisType: lookup_table\nLookupName: {name}\nEnabled: true\nSchema: Custom.Accounts\nRefresh:\n  RoleARN: {role_arn}\n  ObjectPath: s3://{bucket}/{key}\n  PeriodMinutes: 60\nLogTypeMap:\n  PrimaryKey: accountId\n  AssociatedLogTypes:\n    - LogType: AWS.CloudTrail\n      Selectors: [recipientAccountId]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        specs.join("schema.yml"),
        "schema: Custom.Accounts\nparser:\n  csv:\n    hasHeader: true\nfields:\n  - {name: accountId, type: string, required: true}\n  - {name: owner, type: string, required: true}\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    let dd = data.to_str().unwrap();
    let r = lut_env(
        ["apply", specs.to_str().unwrap(), "--data-dir", dd],
        None,
        &[("LUT_EXTERNAL_ID", EXTERNAL_ID)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The in-process server reaches moto with lut's principal.
    std::env::set_var("AWS_ENDPOINT_URL", moto.endpoint());
    std::env::set_var("AWS_ACCESS_KEY_ID", &principal.key.access_key_id);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", &principal.key.secret_access_key);
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");

    let s = start(&data, EXTERNAL_ID).await;
    let iam = |f: &str| format!("/api/v1/tables/{name}/iam?format={f}");

    // Policies: the trust names lut's principal and ExternalId; ReadData the one object.
    let pol = s
        .call_json(false, &iam("policy"), &s.read, StatusCode::OK)
        .await;
    assert_eq!(pol["role_name"], role_name.as_str());
    assert_eq!(pol["service_principal"], principal.arn.as_str());
    // Settings name the same principal, looked up through STS (no restart, no config).
    let st = s
        .call_json(false, "/api/v1/settings", &s.read, StatusCode::OK)
        .await;
    assert_eq!(st["service_principal"], principal.arn.as_str());
    assert_eq!(st["service_principal_origin"], "sts");
    assert_eq!(st["external_id"], EXTERNAL_ID);
    assert_eq!(
        pol["trust_policy"]["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        EXTERNAL_ID
    );
    assert_eq!(pol["permission_policy"]["name"], "ReadData");
    assert_eq!(
        pol["permission_policy"]["document"],
        lut_core::iam::read_data_policy("aws", &bucket, key, None)
    );
    assert_eq!(
        pol["permission_policy"]["document"]["Statement"][1]["Resource"],
        format!("arn:aws:s3:::{bucket}/{key}").as_str()
    );

    // The template, as JSON and YAML.
    let tpl = s
        .call_json(false, &iam("cloudformation-json"), &s.read, StatusCode::OK)
        .await;
    assert!(tpl["Resources"].is_object(), "{tpl}");
    let yaml = s
        .call(false, &iam("cloudformation"), &s.read, StatusCode::OK)
        .await;
    assert!(yaml.contains("AWS::IAM::Role"), "{yaml}");
    // No template bucket: no link, and why.
    let e = s
        .call_json(false, &iam("link"), &s.read, StatusCode::CONFLICT)
        .await;
    assert_eq!(e["error"]["code"], "no_template_bucket");
    let e = s
        .call_json(false, &iam("yaml"), &s.read, StatusCode::BAD_REQUEST)
        .await;
    assert_eq!(e["error"]["code"], "bad_request");
    s.call_json(
        false,
        "/api/v1/tables/nope/iam?format=policy",
        &s.read,
        StatusCode::NOT_FOUND,
    )
    .await;

    // The connection test needs manage; with the right role every step passes.
    s.call_json(
        true,
        &format!("/api/v1/tables/{name}/test-connection"),
        &s.read,
        StatusCode::FORBIDDEN,
    )
    .await;
    let rep = s
        .call_json(
            true,
            &format!("/api/v1/tables/{name}/test-connection"),
            &s.manage,
            StatusCode::OK,
        )
        .await;
    assert_eq!(rep["ok"], true, "{rep}");
    for st in ["assume-role", "locate-bucket", "get-object", "read-rows"] {
        assert_eq!(step(&rep, st)["result"], "pass", "{st}: {rep}");
    }
    assert!(
        step(&rep, "read-rows")["detail"]
            .as_str()
            .unwrap()
            .contains("2 rows read, 2 loaded, 0 invalid"),
        "{rep}"
    );
    s.shutdown().await;

    // Another ExternalId: the role's trust refuses it, and the report says so (still 200).
    let s = start(&data, "not-the-deployments-id").await;
    let rep = s
        .call_json(
            true,
            &format!("/api/v1/tables/{name}/test-connection"),
            &s.manage,
            StatusCode::OK,
        )
        .await;
    assert_eq!(rep["ok"], false, "{rep}");
    let a = step(&rep, "assume-role");
    assert_eq!(a["result"], "fail", "{rep}");
    assert_eq!(a["code"], "AccessDenied", "{rep}");
    assert!(a["fix"].as_str().is_some_and(|f| !f.is_empty()), "{rep}");
    assert_eq!(step(&rep, "locate-bucket")["result"], "skipped", "{rep}");
    s.shutdown().await;
}
