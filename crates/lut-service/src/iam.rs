//! The IAM role of an S3 table (SPEC §6.4), shared by the CLI (`lut tables iam`,
//! `lut tables test-connection`) and the API (`/api/v1/tables/{name}/iam`,
//! `/api/v1/tables/{name}/test-connection`): the table's role inputs, the policies document,
//! the console link, and the connection test as a list of steps. Nothing here changes AWS
//! or the catalog (the link uploads the template to lut's own template bucket).

use std::time::Duration;

use lut_core::iam::{self, Principal, RoleInputs};
use lut_core::project::parse_definition;
use lut_core::schema::Schema;
use lut_core::spec::{S3Source as S3Spec, Source, SpecOptions, TableSpec};
use lut_core::table::{self, BuildOptions};
use lut_source::s3::{S3Config, S3Source};
use lut_source::{Fetch, FetchRequest, Limits, Location, ObjectSource, SourceError, Stage};
use lut_store::Catalog;
use serde_json::{json, Value};

/// Why a table's IAM outputs cannot be produced.
#[derive(Debug, thiserror::Error)]
pub enum TableIamError {
    #[error("no table named {0:?}")]
    NoTable(String),
    #[error("table {name:?} has an invalid definition ({problems} problems; see `lut validate`)")]
    Invalid { name: String, problems: usize },
    #[error("table {0:?} is not read from S3: only S3 tables have an IAM role")]
    NotS3(String),
    #[error(transparent)]
    Store(#[from] lut_store::StoreError),
}

/// The table's definition and its S3 source.
pub fn s3_table(
    catalog: &dyn Catalog,
    name: &str,
    role_prefix: &str,
) -> Result<(TableSpec, Schema, S3Spec), TableIamError> {
    let Some(t) = catalog.table(name)? else {
        return Err(TableIamError::NoTable(name.to_string()));
    };
    let (spec, schema) = parse_definition(
        &t.spec_yaml,
        &t.schema_yaml,
        &SpecOptions {
            role_prefix: role_prefix.to_string(),
        },
    )
    .map_err(|d| TableIamError::Invalid {
        name: name.to_string(),
        problems: d.len(),
    })?;
    let Source::S3(s3) = spec.source.clone() else {
        return Err(TableIamError::NotS3(name.to_string()));
    };
    Ok((spec, schema, *s3))
}

/// The ARN of the table's declared KMS key.
pub fn kms_arn(s3: &S3Spec) -> Option<String> {
    s3.kms_key.as_ref().map(|k| {
        format!(
            "arn:{}:kms:{}:{}:key/{}",
            k.partition, k.region, k.account, k.key_id
        )
    })
}

/// The inputs of the role's template and policies.
pub fn role_inputs(
    spec: &TableSpec,
    s3: &S3Spec,
    prefix: &str,
    trusted_arn: &str,
    external_id: &str,
) -> Result<RoleInputs, iam::IamError> {
    Ok(RoleInputs {
        table: spec.name.clone(),
        role_name: iam::role_name(prefix, &spec.name)?,
        partition: s3.role_arn.partition.clone(),
        bucket: s3.uri.bucket.clone(),
        key: s3.uri.key.clone(),
        kms_key_arn: kms_arn(s3),
        trusted_arn: trusted_arn.to_string(),
        external_id: external_id.to_string(),
    })
}

/// The manual set-up: trust policy, `ReadData` policy and lut's own principal policy.
pub fn policy_document(inputs: &RoleInputs, principal: &Principal, prefix: &str) -> Value {
    json!({
        "role_name": inputs.role_name,
        "trust_policy": iam::trust_policy(&inputs.trusted_arn, &inputs.external_id),
        "permission_policy": {
            "name": "ReadData",
            "document": iam::read_data_policy(&inputs.partition, &inputs.bucket, &inputs.key, inputs.kms_key_arn.as_deref()),
        },
        "service_principal": principal.arn,
        "service_principal_policy": iam::service_principal_policy(&principal.partition, prefix),
        "max_session_duration": iam::MAX_SESSION_SECONDS,
    })
}

/// Uploads the template to `bucket` and returns the console's quick-create link.
pub async fn console_link(
    source: &S3Source,
    inputs: &RoleInputs,
    bucket: &str,
    region: &str,
    expires_in: Duration,
) -> Result<String, SourceError> {
    let body = iam::to_json(&iam::template(inputs)).into_bytes();
    let key = format!("lut/templates/{}.json", inputs.role_name);
    let url = source
        .upload_template(bucket, &key, body, "application/json", expires_in)
        .await?;
    let params = iam::quick_create_params(inputs);
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(iam::quick_create_url(
        &inputs.partition,
        region,
        &iam::stack_name(&inputs.role_name),
        &url,
        &pairs,
    ))
}

/// One step of the connection test.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    /// `None`: not run.
    pub ok: Option<bool>,
    pub detail: String,
    /// The AWS or parse error code.
    pub code: Option<String>,
    pub fix: Option<String>,
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

    /// `pass`, `fail` or `skipped`.
    pub fn result(&self) -> &'static str {
        match self.ok {
            Some(true) => "pass",
            Some(false) => "fail",
            None => "skipped",
        }
    }
}

/// The connection test's outcome.
#[derive(Debug, Clone)]
pub struct ConnectionReport {
    pub steps: Vec<Step>,
    pub warnings: Vec<String>,
}

impl ConnectionReport {
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| s.ok == Some(true))
    }

    /// `{"table", "ok", "steps": [{"step", "result", "detail", "code", "fix"}], "warnings"}`.
    pub fn to_json(&self, table: &str) -> Value {
        let v: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                json!({"step": s.name, "result": s.result(),
                       "detail": s.detail, "code": s.code, "fix": s.fix})
            })
            .collect();
        json!({"table": table, "ok": self.ok(), "steps": v, "warnings": self.warnings})
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

/// Assumes the role, locates the bucket, heads the object and reads its rows against the
/// schema; changes nothing.
pub async fn test_connection(
    config: S3Config,
    name: &str,
    spec: TableSpec,
    schema: Schema,
    s3: &S3Spec,
) -> ConnectionReport {
    let mut report = ConnectionReport {
        steps: vec![
            Step::new("assume-role"),
            Step::new("locate-bucket"),
            Step::new("get-object"),
            Step::new("read-rows"),
        ],
        warnings: Vec::new(),
    };
    run_steps(config, name, spec, schema, s3, &mut report).await;
    report
}

async fn run_steps(
    config: S3Config,
    name: &str,
    spec: TableSpec,
    schema: Schema,
    s3: &S3Spec,
    report: &mut ConnectionReport,
) {
    let steps = &mut report.steps;
    let warnings = &mut report.warnings;
    let location = Location::S3 {
        uri: s3.uri.clone(),
        role_arn: s3.role_arn.clone(),
        kms_key: s3.kms_key.clone(),
    };
    let source = match S3Source::new(config).await {
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
    let configured = kms_arn(s3);
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
            steps[3].fail_with(
                "the store answered 304 to an unconditional GET",
                "check the endpoint setting",
            );
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
        Ok::<_, std::io::Error>(table::build_with(
            &spec,
            &schema,
            std::io::BufReader::new(file),
            &opts,
        ))
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
            steps[3].fail_with(
                d,
                "fix the object's rows or the table's schema, then run `lut validate` on a copy of the data",
            );
        }
        Ok(Err(e)) => steps[3].fail_with(
            format!("cannot read the download: {e}"),
            "check lut's data directory",
        ),
        Err(e) => steps[3].fail_with(
            format!("the build task failed: {e}"),
            "this is a bug in lut",
        ),
    }
}
