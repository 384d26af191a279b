//! `lut tables iam NAME` (the IAM role of an S3 table: CloudFormation template, console
//! link, policies) and `lut tables test-connection NAME` (SPEC §6.4).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lut_core::iam::{self, Principal, RoleInputs};
use lut_core::project::parse_definition;
use lut_core::schema::Schema;
use lut_core::spec::{S3Source as S3Spec, Source, SpecOptions, TableSpec};
use lut_core::table::{self, BuildOptions};
use lut_source::s3::{S3Source, TEMPLATE_URL_EXPIRY};
use lut_source::{Fetch, FetchRequest, Limits, Location, ObjectSource, SourceError, Stage};
use lut_store::{Catalog, DataDir};
use serde_json::{json, Value};

use super::{state, Format};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum IamFormat {
    /// The CloudFormation template as YAML.
    #[default]
    Cloudformation,
    /// The CloudFormation template as JSON.
    CloudformationJson,
    /// The trust policy, the `ReadData` policy and lut's own principal policy, as JSON.
    Policy,
    /// Uploads the template to LUT_TEMPLATE_BUCKET and prints the console's quick-create link.
    Link,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Trust {
    /// Trust only lut's own role or user (least privilege).
    #[default]
    Principal,
    /// Trust lut's whole account (`arn:<partition>:iam::<account>:root`), as Panther does.
    Account,
}

#[derive(clap::Args)]
pub struct IamArgs {
    /// The S3 table (in the data directory).
    pub name: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: IamFormat,
    /// Whom the role trusts.
    #[arg(long, value_enum, default_value_t)]
    pub trust: Trust,
    /// lut's principal ARN, instead of asking STS GetCallerIdentity (works offline).
    #[arg(long)]
    pub principal: Option<String>,
    /// Region of the CloudFormation console link (default: AWS_REGION, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Seconds the presigned template URL of `--format link` stays valid.
    #[arg(long, default_value_t = TEMPLATE_URL_EXPIRY.as_secs())]
    pub expires_in: u64,
}

fn s3_table(dd: &DataDir, data_dir: &Path, name: &str) -> Result<(TableSpec, Schema, S3Spec)> {
    let Some(t) = dd.catalog().table(name)? else {
        bail!("no table named {name:?} in {}", data_dir.display());
    };
    let (spec, schema) = parse_definition(
        &t.spec_yaml,
        &t.schema_yaml,
        &SpecOptions {
            role_prefix: state::role_prefix(),
        },
    )
    .map_err(|d| {
        anyhow::anyhow!(
            "table {name:?} has an invalid definition ({} problems; see `lut validate`)",
            d.len()
        )
    })?;
    let Source::S3(s3) = spec.source.clone() else {
        bail!("table {name:?} is not read from S3: only S3 tables have an IAM role");
    };
    Ok((spec, schema, *s3))
}

fn kms_arn(s3: &S3Spec) -> Option<String> {
    s3.kms_key.as_ref().map(|k| {
        format!(
            "arn:{}:kms:{}:{}:key/{}",
            k.partition, k.region, k.account, k.key_id
        )
    })
}

pub fn iam(data_dir: &Path, args: IamArgs) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let (spec, _, s3) = s3_table(&dd, data_dir, &args.name)?;
    let (external_id, _) = state::external_id(dd.catalog().as_ref())?;
    let rt = state::runtime()?;
    let source = || async {
        S3Source::new(state::s3_config(&dd, external_id.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("{e}\n  fix: {}", e.remedy))
    };
    let principal = match &args.principal {
        Some(arn) => Principal::from_caller_arn(arn)?,
        None => {
            let id = rt.block_on(async {
                let s = source().await?;
                s.caller_identity()
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot find lut's own AWS principal: {e}\n  fix: {}\n  (or pass --principal ARN)", e.remedy))
            })?;
            Principal::from_caller_arn(&id.arn)?
        }
    };
    let trusted = match args.trust {
        Trust::Principal => principal.clone(),
        Trust::Account => principal.account_root(),
    };
    let prefix = state::role_prefix();
    let inputs = RoleInputs {
        table: spec.name.clone(),
        role_name: iam::role_name(&prefix, &spec.name)?,
        partition: s3.role_arn.partition.clone(),
        bucket: s3.uri.bucket.clone(),
        key: s3.uri.key.clone(),
        kms_key_arn: kms_arn(&s3),
        trusted_arn: trusted.arn.clone(),
        external_id: external_id.clone(),
    };
    if s3.role_arn.name != inputs.role_name {
        eprintln!(
            "note: the table's RoleARN names the role {:?}; the template creates {:?} (set Refresh.RoleARN to the stack's RoleARN output)",
            s3.role_arn.name, inputs.role_name
        );
    }
    match args.format {
        IamFormat::Cloudformation => print!("{}", iam::to_yaml(&iam::template(&inputs))),
        IamFormat::CloudformationJson => print!("{}", iam::to_json(&iam::template(&inputs))),
        IamFormat::Policy => {
            let v = json!({
                "role_name": inputs.role_name,
                "trust_policy": iam::trust_policy(&inputs.trusted_arn, &inputs.external_id),
                "permission_policy": {
                    "name": "ReadData",
                    "document": iam::read_data_policy(&inputs.partition, &inputs.bucket, &inputs.key, inputs.kms_key_arn.as_deref()),
                },
                "service_principal": principal.arn,
                "service_principal_policy": iam::service_principal_policy(&principal.partition, &prefix),
                "max_session_duration": iam::MAX_SESSION_SECONDS,
            });
            print!("{}", iam::to_json(&v));
        }
        IamFormat::Link => {
            let Some(bucket) = std::env::var("LUT_TEMPLATE_BUCKET")
                .ok()
                .filter(|b| !b.trim().is_empty())
            else {
                eprintln!(
                    "no console link: CloudFormation can only open a template stored in S3, and no template bucket is configured.\n  fix: set LUT_TEMPLATE_BUCKET to a bucket in lut's own account that lut may s3:PutObject and s3:GetObject in,\n       or deploy the template yourself: lut tables iam {} --format cloudformation > role.yml",
                    args.name
                );
                return Ok(ExitCode::FAILURE);
            };
            let body = iam::to_json(&iam::template(&inputs)).into_bytes();
            let key = format!("lut/templates/{}.json", inputs.role_name);
            let url = rt.block_on(async {
                let s = source().await?;
                s.upload_template(
                    &bucket,
                    &key,
                    body,
                    "application/json",
                    Duration::from_secs(args.expires_in),
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}\n  fix: {}", e.remedy))
            })?;
            let region = args
                .region
                .clone()
                .or_else(|| std::env::var("AWS_REGION").ok())
                .unwrap_or_else(|| "us-east-1".into());
            let params = iam::quick_create_params(&inputs);
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            println!(
                "{}",
                iam::quick_create_url(
                    &inputs.partition,
                    &region,
                    &iam::stack_name(&inputs.role_name),
                    &url,
                    &pairs
                )
            );
            eprintln!(
                "the link works for {} s; open it signed in to the bucket's account {}",
                args.expires_in,
                s3.account_id()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One step of the connection test.
struct Step {
    name: &'static str,
    ok: Option<bool>,
    detail: String,
    code: Option<String>,
    fix: Option<String>,
}

impl Step {
    fn new(name: &'static str) -> Step {
        Step {
            name,
            ok: None,
            detail: "not run".into(),
            code: None,
            fix: None,
        }
    }

    fn pass(&mut self, detail: impl Into<String>) {
        self.ok = Some(true);
        self.detail = detail.into();
    }

    fn fail(&mut self, e: &SourceError) {
        self.ok = Some(false);
        self.detail = if e.stage.as_str() == self.name {
            e.cause.clone()
        } else {
            format!("{}: {}", e.stage, e.cause)
        };
        self.code = e.code.clone();
        self.fix = Some(e.remedy.clone());
    }

    fn fail_with(&mut self, detail: impl Into<String>, fix: impl Into<String>) {
        self.ok = Some(false);
        self.detail = detail.into();
        self.fix = Some(fix.into());
    }
}

fn step_of(stage: Stage) -> usize {
    match stage {
        Stage::AssumeRole => 0,
        Stage::LocateBucket => 1,
        Stage::GetObject | Stage::Decrypt => 2,
        _ => 3,
    }
}

fn same_key(configured: &str, actual: &str) -> bool {
    let id = |s: &str| s.rsplit_once("key/").map_or(s, |(_, id)| id).to_string();
    configured == actual || id(configured) == id(actual)
}

pub fn test_connection(data_dir: &Path, name: &str, format: Format) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let (spec, schema, s3) = s3_table(&dd, data_dir, name)?;
    let (external_id, _) = state::external_id(dd.catalog().as_ref())?;
    let location = Location::S3 {
        uri: s3.uri.clone(),
        role_arn: s3.role_arn.clone(),
        kms_key: s3.kms_key.clone(),
    };
    let mut steps = vec![
        Step::new("assume-role"),
        Step::new("locate-bucket"),
        Step::new("get-object"),
        Step::new("read-rows"),
    ];
    let mut warnings = Vec::new();
    let rt = state::runtime()?;
    rt.block_on(async {
        let source = match S3Source::new(state::s3_config(&dd, external_id)).await {
            Ok(s) => s,
            Err(e) => {
                steps[0].fail(&e);
                return;
            }
        };
        let info = match source.check_access(name, &location).await {
            Ok(i) => i,
            Err(e) => {
                let at = step_of(e.stage);
                for s in &mut steps[..at] {
                    s.pass("ok");
                }
                steps[at].fail(&e);
                return;
            }
        };
        steps[0].pass(format!("assumed {} with lut's ExternalId", s3.role_arn));
        steps[1].pass(format!("bucket {} is in {}", s3.uri.bucket, info.region));
        let mut d = format!(
            "{} bytes, ETag {}, encryption {}",
            info.size.map_or("?".into(), |n| n.to_string()),
            info.etag.as_deref().unwrap_or("-"),
            info.encryption.as_deref().unwrap_or("none")
        );
        if let Some(k) = &info.kms_key_id {
            d.push_str(&format!(", KMS key {k}"));
        }
        let configured = kms_arn(&s3);
        match (&configured, &info.kms_key_id) {
            (Some(c), Some(a)) if !same_key(c, a) => {
                steps[2].fail_with(
                    format!("{d}; but the table declares the KMS key {c}"),
                    "set Refresh.KmsKey to the key the object is encrypted with (and grant the role kms:Decrypt on it)",
                );
                return;
            }
            (None, Some(a)) => warnings.push(format!(
                "the object is encrypted with the KMS key {a}, which the table does not declare; set Refresh.KmsKey so the role's policy grants kms:Decrypt on it"
            )),
            (Some(c), None) => warnings.push(format!(
                "the table declares the KMS key {c}, but the object is not encrypted with a KMS key"
            )),
            _ => {}
        }
        steps[2].pass(d);
        let req = FetchRequest {
            table: name.to_string(),
            location: location.clone(),
            if_none_match: None,
            progress: None,
        };
        let downloaded = match source.fetch(&req).await {
            Ok(Fetch::Modified(d)) => d,
            Ok(Fetch::NotModified) => {
                steps[3].fail_with("the store answered 304 to an unconditional GET", "check the endpoint setting");
                return;
            }
            Err(e) => {
                steps[3].fail(&e);
                return;
            }
        };
        let opts = BuildOptions {
            max_uncompressed_bytes: Limits::default().max_uncompressed_bytes,
        };
        let built = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&downloaded.path)?;
            Ok::<_, std::io::Error>(table::build_with(&spec, &schema, std::io::BufReader::new(file), &opts))
        })
        .await;
        match built {
            Ok(Ok(Ok(b))) => {
                let r = &b.report;
                let mut d = format!(
                    "{} rows read, {} loaded, {} invalid",
                    r.rows_read, r.rows_loaded, r.rows_invalid
                );
                for p in r.problems.iter().take(3) {
                    d.push_str(&format!("; {p}"));
                }
                steps[3].pass(d);
            }
            Ok(Ok(Err(rejected))) => {
                let r = &rejected.report;
                let mut d = format!("the data does not match the schema: {}", r.summary());
                for p in r.problems.iter().take(3) {
                    d.push_str(&format!("; {p}"));
                }
                steps[3].fail_with(d, "fix the object's rows or the table's schema, then run `lut validate` on a copy of the data");
            }
            Ok(Err(e)) => steps[3].fail_with(format!("cannot read the download: {e}"), "check lut's data directory"),
            Err(e) => steps[3].fail_with(format!("the build task failed: {e}"), "this is a bug in lut"),
        }
    });
    let ok = steps.iter().all(|s| s.ok == Some(true));
    if format == Format::Json {
        let v: Vec<Value> = steps
            .iter()
            .map(|s| {
                json!({"step": s.name, "result": match s.ok { Some(true) => "pass", Some(false) => "fail", None => "skipped" },
                       "detail": s.detail, "code": s.code, "fix": s.fix})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"table": name, "ok": ok, "steps": v, "warnings": warnings})
            )
            .context("serialising the report")?
        );
    } else {
        println!("test-connection {name}: {} through {}", s3.uri, s3.role_arn);
        for s in &steps {
            let tag = match s.ok {
                Some(true) => "PASS",
                Some(false) => "FAIL",
                None => "SKIP",
            };
            let code = s
                .code
                .as_ref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            println!("{tag} {:<13}{code} {}", s.name, s.detail);
            if let Some(fix) = &s.fix {
                println!("     fix: {fix}");
            }
        }
        for w in &warnings {
            println!("warning: {w}");
        }
        println!(
            "{}",
            if ok {
                "connection OK"
            } else {
                "connection FAILED"
            }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
