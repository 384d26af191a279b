//! The IAM role end to end against moto (IAM enforcement on): `lut tables iam` generates the
//! CloudFormation template, moto's CloudFormation creates the role from it, lut assumes the
//! role (the stack's `RoleARN` output) and syncs; then the trust, the policy and the bucket
//! are broken in turn and `lut tables test-connection` must name the failing step.

mod common;

use common::{lut_env, Run};
use lut_testkit::{json, MotoServer, PutOptions};

const EXTERNAL_ID: &str = "lut-iam-e2e-external-id";

#[test]
fn role_from_generated_template_end_to_end() {
    let moto = MotoServer::shared();
    let name = moto.unique("iam").replace('-', "_");
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
    moto.put_object(
        &bucket,
        "tables/other.csv",
        b"accountId,owner\n1,x\n",
        &PutOptions::default(),
    );
    let role_name = lut_core::iam::role_name("PantherLUTsRole-", &name).unwrap();
    let role_arn = format!("arn:aws:iam::{}:role/{role_name}", moto.account_id());

    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    let write_spec = |object: &str| {
        std::fs::write(
            specs.join("accounts.yml"),
            format!(
                "AnalysisType: lookup_table\nLookupName: {name}\nEnabled: true\nSchema: Custom.Accounts\nRefresh:\n  RoleARN: {role_arn}\n  ObjectPath: {object}\n  PeriodMinutes: 60\nLogTypeMap:\n  PrimaryKey: accountId\n  AssociatedLogTypes:\n    - LogType: AWS.CloudTrail\n      Selectors: [recipientAccountId]\n"
            ),
        )
        .unwrap();
    };
    write_spec(&format!("s3://{bucket}/{key}"));
    std::fs::write(
        specs.join("schema.yml"),
        "schema: Custom.Accounts\nparser:\n  csv:\n    hasHeader: true\nfields:\n  - {name: accountId, type: string, required: true}\n  - {name: owner, type: string, required: true}\n",
    )
    .unwrap();
    let dd = tmp.path().join("data");
    let dd = dd.to_str().unwrap();
    let endpoint = moto.endpoint().to_string();
    let run = |args: &[&str], external_id: &str| -> Run {
        let env = [
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", principal.key.access_key_id.as_str()),
            (
                "AWS_SECRET_ACCESS_KEY",
                principal.key.secret_access_key.as_str(),
            ),
            ("LUT_EXTERNAL_ID", external_id),
            ("LUT_S3_FORCE_PATH_STYLE", "1"),
        ];
        lut_env(args, None, &env)
    };
    let r = run(
        &["apply", specs.to_str().unwrap(), "--data-dir", dd],
        EXTERNAL_ID,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The policies name lut's principal (GetCallerIdentity) and the ExternalId.
    let pol = run(
        &[
            "tables",
            "iam",
            &name,
            "--format",
            "policy",
            "--data-dir",
            dd,
        ],
        EXTERNAL_ID,
    );
    assert_eq!(pol.code, 0, "{}", pol.stderr);
    let pol = pol.json();
    assert_eq!(pol["role_name"], role_name.as_str());
    assert_eq!(
        pol["trust_policy"]["Statement"][0]["Principal"]["AWS"],
        principal.arn.as_str()
    );
    assert_eq!(
        pol["trust_policy"]["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        EXTERNAL_ID
    );
    assert_eq!(
        pol["permission_policy"]["document"]["Statement"][1]["Resource"],
        format!("arn:aws:s3:::{bucket}/{key}").as_str()
    );

    // Without a template bucket there is no link, and lut says why.
    let link = run(
        &["tables", "iam", &name, "--format", "link", "--data-dir", dd],
        EXTERNAL_ID,
    );
    assert_eq!(link.code, 1);
    assert!(
        link.stderr.contains("LUT_TEMPLATE_BUCKET"),
        "{}",
        link.stderr
    );

    // With a template bucket lut may write to, the link points at an uploaded template.
    let tpl_bucket = format!("{}-templates", name.replace('_', "-"));
    moto.create_bucket(&tpl_bucket, None);
    moto.call(
        "iam",
        "us-east-1",
        "put_user_policy",
        json!({
            "UserName": principal.user_name,
            "PolicyName": "lut-templates",
            "PolicyDocument": json!({
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/*"},
                    {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": format!("arn:aws:s3:::{tpl_bucket}/*")}
                ]
            }).to_string(),
        }),
    )
    .unwrap();
    let link = lut_env(
        ["tables", "iam", &name, "--format", "link", "--data-dir", dd],
        None,
        &[
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", principal.key.access_key_id.as_str()),
            (
                "AWS_SECRET_ACCESS_KEY",
                principal.key.secret_access_key.as_str(),
            ),
            ("LUT_EXTERNAL_ID", EXTERNAL_ID),
            ("LUT_S3_FORCE_PATH_STYLE", "1"),
            ("LUT_TEMPLATE_BUCKET", tpl_bucket.as_str()),
        ],
    );
    assert_eq!(link.code, 0, "{}\n{}", link.stdout_str(), link.stderr);
    let url = link.stdout_str();
    assert!(
        url.contains("console.aws.amazon.com/cloudformation"),
        "{url}"
    );
    assert!(url.contains("templateURL="), "{url}");
    assert!(
        url.contains("X-Amz-Signature"),
        "a presigned template URL: {url}"
    );
    assert!(
        url.contains("X-Amz-Expires%3D3600"),
        "expires in an hour by default: {url}"
    );
    let listed = moto
        .call(
            "s3",
            "us-east-1",
            "list_objects_v2",
            json!({"Bucket": tpl_bucket}),
        )
        .unwrap();
    assert_eq!(listed["KeyCount"], 1, "the template was uploaded: {listed}");

    // The template, deployed by moto's CloudFormation with the admin's identity.
    let tpl = run(
        &[
            "tables",
            "iam",
            &name,
            "--format",
            "cloudformation-json",
            "--data-dir",
            dd,
        ],
        EXTERNAL_ID,
    );
    assert_eq!(tpl.code, 0, "{}", tpl.stderr);
    let stack = lut_core::iam::stack_name(&role_name);
    moto.call(
        "cloudformation",
        "us-east-1",
        "create_stack",
        json!({"StackName": stack, "TemplateBody": tpl.stdout_str(), "Capabilities": ["CAPABILITY_NAMED_IAM"]}),
    )
    .expect("create_stack");
    let stacks = moto
        .call(
            "cloudformation",
            "us-east-1",
            "describe_stacks",
            json!({"StackName": stack}),
        )
        .expect("describe_stacks");
    let outputs = &stacks["Stacks"][0]["Outputs"];
    let output = outputs
        .as_array()
        .and_then(|o| o.iter().find(|o| o["OutputKey"] == "RoleARN"))
        .unwrap_or_else(|| panic!("no RoleARN output: {stacks}"));
    assert_eq!(output["OutputValue"], role_arn.as_str());
    // moto gap (docs/s3.md): a role created by CloudFormation keeps its inline policy
    // unserialised, and IAM enforcement then fails with HTTP 500. The policy moto resolved
    // from the template (Fn::Sub, Fn::If/AWS::NoValue) is checked and put back as JSON.
    let got = moto
        .call(
            "iam",
            "us-east-1",
            "get_role_policy",
            json!({"RoleName": role_name, "PolicyName": "ReadData"}),
        )
        .expect("get_role_policy");
    // moto answers with Python's repr of the dict: check the resolved ARNs in it.
    let doc = got["PolicyDocument"].to_string();
    assert!(
        doc.contains(&format!("arn:aws:s3:::{bucket}/{key}"))
            && !doc.contains("Fn::")
            && !doc.contains("kms:"),
        "{doc}"
    );
    let want = lut_core::iam::read_data_policy("aws", &bucket, key, None);
    moto.call(
        "iam",
        "us-east-1",
        "put_role_policy",
        json!({"RoleName": role_name, "PolicyName": "ReadData", "PolicyDocument": want.to_string()}),
    )
    .expect("put_role_policy");

    let r = run(&["sync", "--data-dir", dd], EXTERNAL_ID);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout_str(), r.stderr);
    assert!(
        r.stdout_str().contains("updated to version 1 (2 rows)"),
        "{}",
        r.stdout_str()
    );

    let test = |external_id: &str| {
        run(
            &["tables", "test-connection", &name, "--data-dir", dd],
            external_id,
        )
    };
    let r = test(EXTERNAL_ID);
    let out = r.stdout_str();
    assert_eq!(r.code, 0, "{out}\n{}", r.stderr);
    for step in [
        "PASS assume-role",
        "PASS locate-bucket",
        "PASS get-object",
        "PASS read-rows",
        "connection OK",
    ] {
        assert!(out.contains(step), "{step}:\n{out}");
    }
    assert!(out.contains("2 rows read, 2 loaded, 0 invalid"), "{out}");
    let versions_before = run(
        &[
            "tables",
            "show",
            &name,
            "--format",
            "json",
            "--data-dir",
            dd,
        ],
        EXTERNAL_ID,
    )
    .json();

    // Broken trust: another ExternalId.
    let r = test("not-the-deployments-id");
    let out = r.stdout_str();
    assert_eq!(r.code, 1, "{out}");
    assert!(out.contains("FAIL assume-role"), "{out}");
    assert!(out.contains("AccessDenied"), "{out}");
    assert!(out.contains("SKIP locate-bucket"), "{out}");

    // Broken policy: the table points at an object the role may not read.
    write_spec(&format!("s3://{bucket}/tables/other.csv"));
    assert_eq!(
        run(
            &["apply", specs.to_str().unwrap(), "--data-dir", dd],
            EXTERNAL_ID
        )
        .code,
        0
    );
    let r = test(EXTERNAL_ID);
    let out = r.stdout_str();
    assert_eq!(r.code, 1, "{out}");
    assert!(
        out.contains("PASS assume-role") && out.contains("PASS locate-bucket"),
        "{out}"
    );
    assert!(
        out.contains("FAIL get-object") && out.contains("AccessDenied"),
        "{out}"
    );

    // Broken bucket: it does not exist.
    write_spec(&format!("s3://{bucket}-missing/{key}"));
    assert_eq!(
        run(
            &["apply", specs.to_str().unwrap(), "--data-dir", dd],
            EXTERNAL_ID
        )
        .code,
        0
    );
    let r = test(EXTERNAL_ID);
    let out = r.stdout_str();
    assert_eq!(r.code, 1, "{out}");
    assert!(out.contains("PASS assume-role"), "{out}");
    assert!(out.contains("FAIL locate-bucket"), "{out}");
    assert!(out.contains("fix: "), "{out}");

    // The connection test changed nothing.
    let show = run(
        &[
            "tables",
            "show",
            &name,
            "--format",
            "json",
            "--data-dir",
            dd,
        ],
        EXTERNAL_ID,
    )
    .json();
    assert_eq!(show["versions"], versions_before["versions"]);
}
