//! Tests of the spec parser.

use super::*;
use crate::yaml;

fn parse(src: &str) -> (Option<SpecKind>, Diagnostics) {
    let node = yaml::parse(src).unwrap().unwrap();
    let mut diags = Diagnostics::new();
    let spec = parse_spec_node(&node, &SpecOptions::default(), &mut diags);
    (spec, diags)
}

fn table(src: &str) -> TableSpec {
    match parse(src) {
        (Some(SpecKind::Table(t)), d) if !d.has_errors() => *t,
        (other, d) => panic!("expected a table, got {other:?}: {d:?}"),
    }
}

fn errors(src: &str) -> Vec<(String, Option<usize>, String)> {
    let (_, d) = parse(src);
    d.iter()
        .filter(|d| d.is_error())
        .map(|d| (d.path.clone(), d.line, d.message.clone()))
        .collect()
}

const FILE_SPEC: &str = "\
AnalysisType: lookup_table
LookupName: accounts
Enabled: true
Filename: accounts.csv
Schema: Custom.Accounts
LogTypeMap:
  PrimaryKey: id
  AssociatedLogTypes:
    - LogType: AWS.CloudTrail
      Selectors:
        - \"$userIdentity.accountId\"
        - recipientAccountId
";

#[test]
fn file_spec_with_selectors() {
    let t = table(FILE_SPEC);
    assert_eq!(t.name, "accounts");
    assert_eq!(
        t.source,
        Source::File {
            filename: "accounts.csv".into()
        }
    );
    assert_eq!(t.primary_key, "id");
    assert_eq!(t.log_types.len(), 1);
    let keys: Vec<&str> = t.log_types[0]
        .selectors
        .iter()
        .map(|s| s.key.as_str())
        .collect();
    assert_eq!(keys, ["userIdentity.accountId", "recipientAccountId"]);
    assert_eq!(t.cidr_match, CidrMatch::Longest);
    assert!(!t.case_insensitive);
    assert_eq!(t.line, 2);
}

#[test]
fn s3_spec_with_extensions() {
    let t = table(
        "AnalysisType: lookup_table
LookupName: nets
Enabled: false
Schema: Custom.Nets
Refresh:
  RoleARN: arn:aws:iam::123456789123:role/PantherLUTsRole-nets
  ObjectPath: s3://bucket-a/nets.csv.gz
  PeriodMinutes: 30
  AlarmPeriodMinutes: 120
  ObjectKMSKey: arn:aws:kms:us-east-1:123456789123:key/abc-123
LogTypeMap:
  PrimaryKey: cidr
caseInsensitive: true
cidrMatch: all
maxInvalidRows: 5
BaseVersion: 3
",
    );
    let Source::S3(s3) = &t.source else {
        panic!("{t:?}")
    };
    assert_eq!(s3.uri.key, "nets.csv.gz");
    assert_eq!(s3.account_id(), "123456789123");
    assert_eq!(
        (s3.period_minutes, s3.alarm_period_minutes),
        (30, Some(120))
    );
    assert!(s3.kms_key.is_some());
    assert!(!t.enabled && t.case_insensitive);
    assert_eq!(t.cidr_match, CidrMatch::All);
    assert_eq!(t.max_invalid_rows, 5);
    assert!(t.log_types.is_empty());
}

#[test]
fn default_period_and_role_prefix_warning() {
    let (spec, d) = parse(
        "AnalysisType: lookup_table
LookupName: x
Enabled: true
Schema: S.T
Refresh:
  RoleARN: arn:aws:iam::123456789123:role/other-role
  ObjectPath: s3://bucket-a/k
LogTypeMap: {PrimaryKey: id}
",
    );
    let Some(SpecKind::Table(t)) = spec else {
        panic!("{d:?}")
    };
    let Source::S3(s3) = &t.source else { panic!() };
    assert_eq!(s3.period_minutes, DEFAULT_PERIOD_MINUTES);
    assert!(!d.has_errors());
    let w: Vec<_> = d.iter().map(|d| (d.code, d.line)).collect();
    assert_eq!(w, vec![("role-prefix", Some(6))]);
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let src = format!("{FILE_SPEC}Colour: blue\n");
    let errs = errors(&src);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!((errs[0].0.as_str(), errs[0].1), ("Colour", Some(13)));
    let src = FILE_SPEC.replace("  PrimaryKey: id\n", "  PrimaryKey: id\n  Primary: x\n");
    let errs = errors(&src);
    assert_eq!(
        (errs[0].0.as_str(), errs[0].1),
        ("LogTypeMap.Primary", Some(8))
    );
}

#[test]
fn value_errors() {
    let cases = [
        (
            FILE_SPEC.replace("Enabled: true", "Enabled: yes please"),
            "Enabled",
        ),
        (
            FILE_SPEC.replace("Filename: accounts.csv", "Filename: /etc/passwd"),
            "Filename",
        ),
        (
            FILE_SPEC.replace("Filename: accounts.csv", "Filename: ../x.csv"),
            "Filename",
        ),
        (
            FILE_SPEC.replace("LogType: AWS.CloudTrail", "LogType: cloudtrail"),
            "LogTypeMap.AssociatedLogTypes[0].LogType",
        ),
        (
            FILE_SPEC.replace("- recipientAccountId", "- \"$.a[\""),
            "LogTypeMap.AssociatedLogTypes[0].Selectors[1]",
        ),
        (
            FILE_SPEC.replace("- recipientAccountId", "- \"$.userIdentity.accountId\""),
            "LogTypeMap.AssociatedLogTypes[0].Selectors[1]",
        ),
        (
            FILE_SPEC.replace(
                "LookupName: accounts",
                &format!("LookupName: {}", "x".repeat(129)),
            ),
            "LookupName",
        ),
        (format!("{FILE_SPEC}cidrMatch: most\n"), "cidrMatch"),
        (format!("{FILE_SPEC}maxInvalidRows: -1\n"), "maxInvalidRows"),
        (FILE_SPEC.replace("Schema: Custom.Accounts\n", ""), "Schema"),
        (
            FILE_SPEC.replace("Filename: accounts.csv\n", ""),
            "Filename",
        ),
    ];
    for (src, path) in cases {
        let errs = errors(&src);
        assert!(errs.iter().any(|e| e.0 == path), "{path}: {errs:?}");
    }
}

#[test]
fn s3_value_errors() {
    let base = "AnalysisType: lookup_table
LookupName: x
Enabled: true
Schema: S.T
Refresh:
  RoleARN: ROLE
  ObjectPath: URI
  PeriodMinutes: PERIOD
LogTypeMap: {PrimaryKey: id}
";
    let good = |role: &str, uri: &str, period: &str| {
        base.replace("ROLE", role)
            .replace("URI", uri)
            .replace("PERIOD", period)
    };
    let role = "arn:aws:iam::123456789123:role/PantherLUTsRole-x";
    assert!(errors(&good(role, "s3://bucket-a/k", "60")).is_empty());
    for (src, path) in [
        (
            good("arn:aws:iam::1234:role/x", "s3://bucket-a/k", "60"),
            "Refresh.RoleARN",
        ),
        (good(role, "s3://Bucket/k", "60"), "Refresh.ObjectPath"),
        (good(role, "s3://bucket-a/", "60"), "Refresh.ObjectPath"),
        (good(role, "s3://bucket-a/k", "5"), "Refresh.PeriodMinutes"),
        (
            good(role, "s3://bucket-a/k", "20000"),
            "Refresh.PeriodMinutes",
        ),
        (
            good(role, "s3://bucket-a/k", "sixty"),
            "Refresh.PeriodMinutes",
        ),
        (
            base.replace("  RoleARN: ROLE\n", "")
                .replace("URI", "s3://bucket-a/k")
                .replace("PERIOD", "60"),
            "Refresh.RoleARN",
        ),
    ] {
        let errs = errors(&src);
        assert!(errs.iter().any(|e| e.0 == path), "{path}: {errs:?}");
    }
}

#[test]
fn sql_specs_are_checked_then_skipped() {
    let ok = "AnalysisType: lookup_table
LookupName: q
Enabled: true
Query: SELECT 1
LogTypeMap: {PrimaryKey: id}
Refresh: {CronExpression: '0 * * * *'}
Indicators:
  - Field: name
    Indicators: [username]
";
    let (spec, d) = parse(ok);
    assert_eq!(
        spec,
        Some(SpecKind::Skipped {
            name: "q".into(),
            kind: SkipKind::Sql
        })
    );
    assert_eq!(
        d.iter().map(|d| d.code).collect::<Vec<_>>(),
        vec!["skipped-sql"]
    );
    for bad in [
        ok.replace("Query: SELECT 1", "Query: SELECT 1\nSchema: X.Y"),
        ok.replace("{CronExpression: '0 * * * *'}", "{CronExpression: 42}"),
        ok.replace("{CronExpression: '0 * * * *'}", "{PeriodMinutes: nope}"),
        ok.replace(
            "{CronExpression: '0 * * * *'}",
            "{PeriodMinutes: 60, CronExpression: '0 * * * *'}",
        ),
        ok.replace("    Indicators: [username]\n", ""),
    ] {
        assert!(!errors(&bad).is_empty(), "{bad}");
    }
}

#[test]
fn gcs_specs_are_skipped() {
    let (spec, d) = parse(
        "AnalysisType: lookup_table
LookupName: g
Enabled: true
Schema: S.T
Refresh:
  ObjectPath: gs://b/o.csv
  GCSCredentials: creds
  PeriodMinutes: 60
LogTypeMap: {PrimaryKey: id}
",
    );
    assert_eq!(
        spec,
        Some(SpecKind::Skipped {
            name: "g".into(),
            kind: SkipKind::Gcs
        })
    );
    assert!(!d.has_errors(), "{d:?}");
}

#[test]
fn log_type_names() {
    for ok in [
        "AWS.CloudTrail",
        "Amazon.EKS.Audit",
        "Custom.My_Logs",
        "OCSF.AccountChange",
    ] {
        assert!(is_log_type_name(ok), "{ok}");
    }
    for bad in ["CloudTrail", "AWS.", ".x", "a b.c", ""] {
        assert!(!is_log_type_name(bad), "{bad}");
    }
}

#[test]
fn file_url_refresh_is_a_watched_local_file() {
    let base = "AnalysisType: lookup_table\nLookupName: w\nEnabled: true\nSchema: S.T\nLogTypeMap: {PrimaryKey: id}\nRefresh:\n";
    let t = table(&format!(
        "{base}  ObjectPath: file:///srv/feeds/ips.csv\n  PeriodMinutes: 5\n"
    ));
    let Source::Watch(w) = &t.source else {
        panic!("{t:?}")
    };
    assert_eq!(w.path, std::path::PathBuf::from("/srv/feeds/ips.csv"));
    assert_eq!(
        (t.source.kind(), t.source.period_minutes()),
        ("watch", Some(5))
    );
    let errs = errors(&format!("{base}  ObjectPath: file://relative.csv\n"));
    assert_eq!(errs[0].0, "Refresh.ObjectPath");
    let errs = errors(&format!(
        "{base}  ObjectPath: file:///x.csv\n  RoleARN: arn:aws:iam::123456789012:role/x\n"
    ));
    assert_eq!(errs[0].0, "Refresh.RoleARN", "{errs:?}");
}
