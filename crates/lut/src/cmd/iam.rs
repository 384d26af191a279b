//! `lut tables iam NAME` (the IAM role of an S3 table: CloudFormation template, console
//! link, policies) and `lut tables test-connection NAME` (SPEC §6.4).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use lut_core::iam::{self, Principal};
use lut_core::schema::Schema;
use lut_core::spec::{S3Source as S3Spec, TableSpec};
use lut_service::iam as svc;
use lut_source::s3::{S3Source, TEMPLATE_URL_EXPIRY};
use lut_store::DataDir;

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
    svc::s3_table(dd.catalog().as_ref(), name, &state::role_prefix()).map_err(|e| match e {
        svc::TableIamError::NoTable(_) => {
            anyhow::anyhow!("no table named {name:?} in {}", data_dir.display())
        }
        e => anyhow::anyhow!("{e}"),
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
    let inputs = svc::role_inputs(&spec, &s3, &prefix, &trusted.arn, &external_id)?;
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
            let v = svc::policy_document(&inputs, &principal, &prefix);
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
            let region = args
                .region
                .clone()
                .or_else(|| std::env::var("AWS_REGION").ok())
                .unwrap_or_else(|| "us-east-1".into());
            let link = rt.block_on(async {
                let s = source().await?;
                svc::console_link(
                    &s,
                    &inputs,
                    &bucket,
                    &region,
                    Duration::from_secs(args.expires_in),
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}\n  fix: {}", e.remedy))
            })?;
            println!("{link}");
            eprintln!(
                "the link works for {} s; open it signed in to the bucket's account {}",
                args.expires_in,
                s3.account_id()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn test_connection(data_dir: &Path, name: &str, format: Format) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let (spec, schema, s3) = s3_table(&dd, data_dir, name)?;
    let (external_id, _) = state::external_id(dd.catalog().as_ref())?;
    let rt = state::runtime()?;
    let report = rt.block_on(svc::test_connection(
        state::s3_config(&dd, external_id),
        name,
        spec,
        schema,
        &s3,
    ));
    let ok = report.ok();
    let (steps, warnings) = (&report.steps, &report.warnings);
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json(name))
                .context("serialising the report")?
        );
    } else {
        println!("test-connection {name}: {} through {}", s3.uri, s3.role_arn);
        for s in steps {
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
        for w in warnings {
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
