//! What the data-directory commands share: opening the directory, the deployment's
//! ExternalId, and a sync engine wired to the local and S3 sources.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use lut_core::registry::Registry;
use lut_core::spec::SpecOptions;
use lut_service::sync::{SyncEngine, SyncSettings};
use lut_source::s3::S3Config;
use lut_source::Limits;
use lut_store::{Catalog, DataDir};

/// The catalog setting that holds the ExternalId generated at first start.
const EXTERNAL_ID_KEY: &str = "external_id";

pub fn open(data_dir: &Path) -> Result<DataDir> {
    DataDir::open(data_dir)
        .with_context(|| format!("cannot open the data directory {}", data_dir.display()))
}

/// Where the ExternalId came from, for `lut settings`.
pub enum IdOrigin {
    Environment,
    Catalog,
}

/// `LUT_EXTERNAL_ID` wins; otherwise the one stored in the catalog, generated at first use
/// (two processes starting together agree on one through `setting_or_init`).
pub fn external_id(catalog: &dyn Catalog) -> Result<(String, IdOrigin)> {
    if let Ok(id) = std::env::var("LUT_EXTERNAL_ID") {
        if !id.trim().is_empty() {
            return Ok((id, IdOrigin::Environment));
        }
    }
    let fresh: String = (0..32).map(|_| fastrand::alphanumeric()).collect();
    let id = catalog.setting_or_init(EXTERNAL_ID_KEY, &fresh)?;
    Ok((id, IdOrigin::Catalog))
}

pub fn role_prefix() -> String {
    std::env::var("LUT_ROLE_PREFIX")
        .unwrap_or_else(|_| lut_core::aws::DEFAULT_ROLE_PREFIX.to_string())
}

/// Service settings from the environment (a config file arrives with `lut serve`).
pub fn s3_config(dd: &DataDir, external_id: String) -> S3Config {
    S3Config {
        endpoint_url: std::env::var("LUT_S3_ENDPOINT")
            .ok()
            .filter(|s| !s.is_empty()),
        force_path_style: std::env::var("LUT_S3_FORCE_PATH_STYLE")
            .is_ok_and(|v| v == "1" || v == "true"),
        external_id,
        region: None,
        limits: Limits::default(),
        temp_dir: dd.blobs().tmp_dir(),
        retry: Default::default(),
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A sync engine over the data directory. AWS access is configured only when the catalog
/// holds S3 tables (so local-only use never touches the AWS credential chain); when it
/// cannot be configured, S3 tables fail their checks with that reason.
pub async fn engine(dd: &DataDir, registry: Arc<Registry>) -> Result<SyncEngine> {
    let needs_s3 = dd.catalog().tables()?.iter().any(|t| t.source_kind == "s3");
    engine_with(dd, registry, needs_s3).await
}

/// [`engine`] with the S3 decision made by the caller (`false`: never configure AWS).
pub async fn engine_with(
    dd: &DataDir,
    registry: Arc<Registry>,
    with_s3: bool,
) -> Result<SyncEngine> {
    let s3 = if with_s3 {
        let (external_id, _) = external_id(dd.catalog().as_ref())?;
        Some(Arc::new(lut_source::s3::LazyS3::new(s3_config(
            dd,
            external_id,
        ))))
    } else {
        None
    };
    let settings = SyncSettings {
        spec: SpecOptions {
            role_prefix: role_prefix(),
        },
        ..SyncSettings::default()
    };
    Ok(SyncEngine::for_data_dir(dd, registry, s3, settings))
}
