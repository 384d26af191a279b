use super::*;

const P: &str = "PantherLUTsRole-";

#[test]
fn role_names_keep_clean_names() {
    assert_eq!(
        role_name(P, "aws_accounts").unwrap(),
        "PantherLUTsRole-aws_accounts"
    );
    assert_eq!(
        role_name(P, "a.b@c=d,e+f-g").unwrap(),
        "PantherLUTsRole-a.b@c=d,e+f-g"
    );
    assert_eq!(role_name("", "x").unwrap(), "x");
}

#[test]
fn role_names_are_sanitised_and_hashed() {
    let n = role_name(P, "threat intel/ips").unwrap();
    assert_eq!(
        n,
        format!(
            "PantherLUTsRole-threat-intel-ips-{}",
            short_hash("threat intel/ips")
        )
    );
    // Two names that sanitise alike still get distinct roles.
    let a = role_name(P, "a b").unwrap();
    let b = role_name(P, "a/b").unwrap();
    let c = role_name(P, "a-b").unwrap();
    assert_ne!(a, b);
    assert_ne!(a, c);
    assert_ne!(b, c);
    assert_eq!(c, "PantherLUTsRole-a-b");
    // IAM role names are case-insensitive: upper case gets a hash too.
    let up = role_name(P, "Accounts").unwrap();
    let low = role_name(P, "accounts").unwrap();
    assert_ne!(up.to_ascii_lowercase(), low.to_ascii_lowercase());
    // Non-ASCII characters become '-'.
    assert!(role_name(P, "näme")
        .unwrap()
        .starts_with("PantherLUTsRole-n-me-"));
    // Stable.
    assert_eq!(short_hash("a b"), short_hash("a b"));
    assert_eq!(short_hash(""), "811c9dc5");
}

#[test]
fn role_names_fit_in_64() {
    for t in [
        "x".repeat(48),
        "x".repeat(49),
        "x".repeat(200),
        "é".repeat(100),
        String::new(),
        "/".repeat(70),
    ] {
        let n = role_name(P, &t).unwrap();
        assert!(n.len() <= MAX_ROLE_NAME, "{n}");
        assert!(n.starts_with(P));
        assert!(
            RoleArn::parse(&format!("arn:aws:iam::123456789012:role/{n}")).is_ok(),
            "{n}"
        );
    }
    assert_eq!(role_name(P, &"x".repeat(48)).unwrap().len(), 64);
    let long_a = role_name(P, &format!("{}a", "x".repeat(100))).unwrap();
    let long_b = role_name(P, &format!("{}b", "x".repeat(100))).unwrap();
    assert_ne!(long_a, long_b);
    assert_eq!(long_a.len(), 64);
    assert!(matches!(
        role_name(&"p".repeat(60), "t"),
        Err(IamError::Prefix(_))
    ));
    assert!(matches!(
        role_name("bad prefix-", "t"),
        Err(IamError::Prefix(_))
    ));
}

#[test]
fn stack_names() {
    assert_eq!(
        stack_name("PantherLUTsRole-aws_accounts"),
        "PantherLUTsRole-aws-accounts"
    );
    assert_eq!(stack_name("_x"), "lut--x");
}

#[test]
fn principals_from_caller_arns() {
    let p = Principal::from_caller_arn("arn:aws:sts::123456789012:assumed-role/lut-svc/i-0abc")
        .unwrap();
    assert_eq!(p.arn, "arn:aws:iam::123456789012:role/lut-svc");
    assert_eq!(p.account, "123456789012");
    assert_eq!(p.account_root().arn, "arn:aws:iam::123456789012:root");
    let p =
        Principal::from_caller_arn("arn:aws-cn:sts::123456789012:assumed-role/r/s/extra").unwrap();
    assert_eq!(p.arn, "arn:aws-cn:iam::123456789012:role/r");
    assert_eq!(p.account_root().arn, "arn:aws-cn:iam::123456789012:root");
    let p = Principal::from_caller_arn("arn:aws-us-gov:iam::123456789012:user/ops/lut").unwrap();
    assert_eq!(p.arn, "arn:aws-us-gov:iam::123456789012:user/ops/lut");
    assert_eq!(p.partition, "aws-us-gov");
    assert_eq!(
        p.account_root().arn,
        "arn:aws-us-gov:iam::123456789012:root"
    );
    assert!(Principal::from_caller_arn("arn:aws:iam::123456789012:role/x").is_ok());
    assert!(Principal::from_caller_arn("arn:aws:iam::123456789012:root").is_ok());
    assert!(Principal::from_caller_arn("arn:aws:sts::123456789012:federated-user/bob").is_ok());
    for bad in [
        "",
        "arn:aws:sts::123456789012:assumed-role/onlyrole",
        "arn:aws:sts::123456789012:assumed-role//s",
        "arn:aws:sts::12345:assumed-role/r/s",
        "arn:awz:sts::123456789012:assumed-role/r/s",
        "arn:aws:sts:us-east-1:123456789012:assumed-role/r/s",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::123456789012:group/g",
        "arn:aws:iam::123456789012:user/",
    ] {
        assert!(
            matches!(Principal::from_caller_arn(bad), Err(IamError::Principal(_))),
            "{bad}"
        );
    }
}

#[test]
fn trust_policy_is_exact() {
    assert_eq!(
        trust_policy("arn:aws:iam::111122223333:role/lut", "ext-1"),
        json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "AssumedByLut", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/lut"},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:SecureTransport": "true"},
                          "StringEquals": {"sts:ExternalId": "ext-1"}}}]})
    );
}

#[test]
fn read_data_policy_is_exact() {
    assert_eq!(
        read_data_policy("aws-us-gov", "b1", "dir/t.csv", None),
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "LocateBucket", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": "arn:aws-us-gov:s3:::b1"},
            {"Sid": "ReadObject", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws-us-gov:s3:::b1/dir/t.csv"}]})
    );
    let k = "arn:aws:kms:us-east-1:111122223333:key/abc";
    let p = read_data_policy("aws", "b1", "t.csv", Some(k));
    assert_eq!(
        p["Statement"][2],
        json!({"Sid": "DecryptObject", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": k})
    );
    assert_eq!(
        service_principal_policy("aws-cn", P),
        json!({"Version": "2012-10-17", "Statement": [{"Sid": "AssumeLookupTableRoles", "Effect": "Allow",
            "Action": "sts:AssumeRole", "Resource": "arn:aws-cn:iam::*:role/PantherLUTsRole-*"}]})
    );
}

fn inputs(kms: Option<&str>) -> RoleInputs {
    RoleInputs {
        table: "aws_accounts".into(),
        role_name: "PantherLUTsRole-aws_accounts".into(),
        partition: "aws".into(),
        bucket: "lookups".into(),
        key: "t/a.csv".into(),
        kms_key_arn: kms.map(str::to_string),
        trusted_arn: "arn:aws:iam::111122223333:role/lut".into(),
        external_id: "ext-1".into(),
    }
}

#[test]
fn template_shape() {
    let t = template(&inputs(None));
    let role = &t["Resources"][ROLE_LOGICAL_ID];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    let p = &role["Properties"];
    assert_eq!(p["MaxSessionDuration"], 3600);
    assert_eq!(p["RoleName"], json!({"Ref": "RoleName"}));
    assert_eq!(
        t["Parameters"]["RoleName"]["Default"],
        "PantherLUTsRole-aws_accounts"
    );
    assert_eq!(t["Parameters"]["KmsKeyArn"]["Default"], "");
    assert_eq!(t["Parameters"]["ExternalId"]["Default"], "ext-1");
    let trust = &p["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Principal"]["AWS"],
        json!({"Ref": "ServicePrincipalArn"})
    );
    assert_eq!(
        trust["Condition"]["StringEquals"]["sts:ExternalId"],
        json!({"Ref": "ExternalId"})
    );
    assert_eq!(trust["Condition"]["Bool"]["aws:SecureTransport"], "true");
    let read = &p["Policies"][0];
    assert_eq!(read["PolicyName"], "ReadData");
    assert_eq!(
        read["PolicyDocument"]["Statement"][1]["Resource"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}/${ObjectKey}"})
    );
    assert_eq!(
        read["PolicyDocument"]["Statement"][2]["Fn::If"][0],
        "HasKmsKey"
    );
    assert_eq!(
        p["Tags"][0],
        json!({"Key": "lut:managed-by", "Value": "lut"})
    );
    assert_eq!(
        t["Outputs"]["RoleARN"]["Value"],
        json!({"Fn::GetAtt": [ROLE_LOGICAL_ID, "Arn"]})
    );
    let k = template(&inputs(Some("arn:aws:kms:us-east-1:111122223333:key/abc")));
    assert_eq!(
        k["Parameters"]["KmsKeyArn"]["Default"],
        "arn:aws:kms:us-east-1:111122223333:key/abc"
    );
}

#[test]
fn yaml_round_trips() {
    use yaml_rust2::{Yaml, YamlLoader};
    fn to_json(y: &Yaml) -> Value {
        match y {
            Yaml::String(s) => json!(s),
            Yaml::Integer(i) => json!(i),
            Yaml::Boolean(b) => json!(b),
            Yaml::Null => Value::Null,
            Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
            Yaml::Hash(h) => Value::Object(
                h.iter()
                    .map(|(k, v)| (k.as_str().unwrap().to_string(), to_json(v)))
                    .collect(),
            ),
            other => panic!("{other:?}"),
        }
    }
    for v in [
        template(&inputs(None)),
        template(&inputs(Some("arn:aws:kms:us-east-1:111122223333:key/abc"))),
        json!({"a": [], "b": {}, "c": [[1, 2], {"x": "y: z"}], "true": "no", "d\"e": "line\nbreak", "-": null}),
    ] {
        let y = to_yaml(&v);
        let docs = YamlLoader::load_from_str(&y).unwrap_or_else(|e| panic!("{e}\n{y}"));
        assert_eq!(to_json(&docs[0]), v, "{y}");
    }
    assert!(to_yaml(&template(&inputs(None)))
        .contains(" Fn::Sub: \"arn:${AWS::Partition}:s3:::${BucketName}\"\n"));
}

#[test]
fn quick_create_urls() {
    let u = quick_create_url(
        "aws",
        "eu-west-1",
        "PantherLUTsRole-a",
        "https://b.s3.amazonaws.com/t.json?X-Amz-Signature=a/b+c&x=1",
        &[("ExternalId", "a b&c=d"), ("KmsKeyArn", "")],
    );
    assert_eq!(
        u,
        "https://eu-west-1.console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/quickcreate?templateURL=https%3A%2F%2Fb.s3.amazonaws.com%2Ft.json%3FX-Amz-Signature%3Da%2Fb%2Bc%26x%3D1&stackName=PantherLUTsRole-a&param_ExternalId=a%20b%26c%3Dd&param_KmsKeyArn="
    );
    assert!(
        quick_create_url("aws-us-gov", "us-gov-west-1", "s", "u", &[]).starts_with(
            "https://console.amazonaws-us-gov.com/cloudformation/home?region=us-gov-west-1#"
        )
    );
    assert!(quick_create_url("aws-cn", "cn-north-1", "s", "u", &[])
        .starts_with("https://console.amazonaws.cn/"));
    assert_eq!(url_encode("é~"), "%C3%A9~");
}

#[test]
fn role_arn_checks() {
    let arn = "arn:aws:iam::111122223333:role/PantherLUTsRole-x";
    assert!(check_role_arn(arn, None, P).is_ok());
    assert!(check_role_arn(arn, Some("111122223333"), P).is_ok());
    assert!(matches!(
        check_role_arn(arn, Some("444455556666"), P),
        Err(IamError::AccountMismatch { .. })
    ));
    assert!(matches!(
        check_role_arn(arn, Some("4444"), P),
        Err(IamError::Id(AwsIdError::Account(_)))
    ));
    assert!(matches!(
        check_role_arn("arn:aws:iam::111122223333:role/other", None, P),
        Err(IamError::MissingPrefix { .. })
    ));
    assert!(matches!(
        check_role_arn("PantherLUTsRole-x", None, P),
        Err(IamError::Id(AwsIdError::NotArn { .. }))
    ));
    let e = check_role_arn(arn, Some("444455556666"), P)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("444455556666") && e.contains("111122223333"),
        "{e}"
    );
}
