//! The generated CloudFormation templates pass `cfn-lint` with no errors, and the policies
//! pass `parliament` with no findings above LOW (both from PyPI, in `target/lint-venv`).

use std::path::Path;
use std::process::Command;

use lut_core::iam::{self, RoleInputs};

fn inputs(partition: &str, kms: bool) -> RoleInputs {
    RoleInputs {
        table: "aws accounts/v2".into(),
        role_name: iam::role_name("PantherLUTsRole-", "aws accounts/v2").unwrap(),
        partition: partition.into(),
        bucket: "lookup-tables".into(),
        key: "tables/accounts.csv.gz".into(),
        kms_key_arn: kms.then(|| {
            let region = if partition == "aws-us-gov" { "us-gov-west-1" } else { "us-east-1" };
            format!("arn:{partition}:kms:{region}:111122223333:key/73d4c1e5-26d7-4a60-b2b5-13d171af7772")
        }),
        trusted_arn: format!("arn:{partition}:iam::444455556666:role/lut-service"),
        external_id: "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4".into(),
    }
}

fn run(bin: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn templates_and_policies_pass_the_linters() {
    let bin = lut_testkit::ensure_lint_venv().expect("lint venv");
    let dir = tempfile::tempdir().unwrap();
    let mut templates = Vec::new();
    let mut policies = Vec::new();
    for partition in ["aws", "aws-us-gov"] {
        for kms in [false, true] {
            let r = inputs(partition, kms);
            let t = iam::template(&r);
            for (ext, text) in [("json", iam::to_json(&t)), ("yaml", iam::to_yaml(&t))] {
                let p = dir.path().join(format!("role-{partition}-{kms}.{ext}"));
                std::fs::write(&p, text).unwrap();
                templates.push(p);
            }
            let read =
                iam::read_data_policy(partition, &r.bucket, &r.key, r.kms_key_arn.as_deref());
            let p = dir.path().join(format!("read-{partition}-{kms}.json"));
            std::fs::write(&p, iam::to_json(&read)).unwrap();
            policies.push(p);
        }
        let p = dir.path().join(format!("service-{partition}.json"));
        std::fs::write(
            &p,
            iam::to_json(&iam::service_principal_policy(
                partition,
                "PantherLUTsRole-",
            )),
        )
        .unwrap();
        policies.push(p);
    }

    // cfn-lint: exit code bit 2 = errors, 4 = warnings, 8 = informational.
    let mut args = vec!["--format", "parseable", "--"];
    let paths: Vec<String> = templates.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let (code, text) = run(&bin.join("cfn-lint"), &args);
    if !text.trim().is_empty() {
        println!("cfn-lint said:\n{text}");
    }
    assert!(
        code >= 0 && code & 2 == 0 && code & 1 == 0,
        "cfn-lint found errors (exit {code}):\n{text}"
    );
    let errors: Vec<&str> = text.lines().filter(|l| l.contains(":E")).collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // parliament: identity policies; the trust policy has a Principal, which parliament's
    // identity-policy checks do not model, so it is linted without it as well.
    // `--string`: parliament refuses `--file` when stdin is not a terminal.
    for p in &policies {
        let body = std::fs::read_to_string(p).unwrap();
        let (code, text) = run(
            &bin.join("parliament"),
            &["--minimum_severity", "MEDIUM", "--json", "--string", &body],
        );
        assert!(
            code == 0 && text.trim().is_empty(),
            "parliament on {}:\n{text}",
            p.display()
        );
        let (_, low) = run(&bin.join("parliament"), &["--string", &body]);
        if !low.trim().is_empty() {
            println!("parliament (low) on {}:\n{low}", p.display());
        }
    }
    // A trust policy is a resource policy without a Resource, which parliament (identity
    // policies only) calls MALFORMED: it is linted with the role it is attached to as the
    // Resource, which is what the statement means.
    let mut trust = iam::trust_policy("arn:aws:iam::444455556666:role/lut-service", "ext-id-1");
    trust["Statement"][0]["Resource"] =
        serde_json::json!("arn:aws:iam::111122223333:role/PantherLUTsRole-aws_accounts");
    let (code, text) = run(
        &bin.join("parliament"),
        &[
            "--minimum_severity",
            "MEDIUM",
            "--json",
            "--string",
            &trust.to_string(),
        ],
    );
    assert!(
        code == 0 && text.trim().is_empty(),
        "parliament on the trust policy:\n{text}"
    );
}
