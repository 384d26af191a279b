//! `lut settings`: what a user needs to set up the IAM role of an S3 table (§6.4).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::{state, Format};
use lut_source::s3::S3Source;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub fn run(data_dir: &Path, args: Args) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let catalog = dd.catalog();
    let (external_id, origin) = state::external_id(catalog.as_ref())?;
    let origin = match origin {
        state::IdOrigin::Environment => "LUT_EXTERNAL_ID",
        state::IdOrigin::Catalog => "generated and kept in the data directory",
    };
    let rt = state::runtime()?;
    let principal = rt.block_on(async {
        let s3 = S3Source::new(state::s3_config(&dd, external_id.clone()))
            .await
            .map_err(|e| e.to_string())?;
        s3.caller_identity().await.map_err(|e| e.to_string())
    });
    let prefix = state::role_prefix();
    if args.format == Format::Json {
        let (arn, account, err) = match &principal {
            Ok(id) => (Some(id.arn.clone()), Some(id.account.clone()), None),
            Err(e) => (None, None, Some(e.clone())),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"service_principal": arn, "account": account,
                "principal_error": err, "external_id": external_id, "external_id_origin": origin,
                "role_name_prefix": prefix}))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    match &principal {
        Ok(id) => println!("service principal: {} (account {})", id.arn, id.account),
        Err(e) => println!("service principal: unavailable — {e}"),
    }
    println!("external id:       {external_id} ({origin})");
    println!("role name prefix:  {prefix}");
    Ok(ExitCode::SUCCESS)
}
