//! The IAM role of an S3 table over the API (issue 5, items 3 and 4):
//! `GET /api/v1/tables/{name}/iam?format=cloudformation|cloudformation-json|policy|link`
//! (read) and `POST /api/v1/tables/{name}/test-connection` (manage; 200 with `"ok": false`
//! when a step fails). The same code as `lut tables iam` / `lut tables test-connection`
//! ([`crate::iam`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lut_core::iam::{self, Principal};
use lut_source::s3::{S3Source, TEMPLATE_URL_EXPIRY};
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ApiResult, Path};
use super::{auth, AppState};
use crate::iam::{self as svc, TableIamError};

pub fn routes(state: AppState) -> Router<AppState> {
    let read = Router::new()
        .route("/api/v1/tables/{name}/iam", get(get_iam))
        .route_layer(from_fn_with_state(state.clone(), auth::require_read));
    let manage = Router::new()
        .route(
            "/api/v1/tables/{name}/test-connection",
            post(test_connection),
        )
        .route_layer(from_fn_with_state(state, auth::require_manage));
    read.merge(manage)
}

impl From<TableIamError> for ApiError {
    fn from(e: TableIamError) -> Self {
        match e {
            TableIamError::NoTable(n) => ApiError::no_table(&n),
            TableIamError::Store(s) => s.into(),
            e @ TableIamError::Invalid { .. } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_definition", e.to_string())
            }
            e @ TableIamError::NotS3(_) => ApiError::bad_request(e.to_string()),
        }
    }
}

async fn table(
    st: &AppState,
    name: String,
) -> ApiResult<(
    lut_core::spec::TableSpec,
    lut_core::schema::Schema,
    lut_core::spec::S3Source,
)> {
    let cat = Arc::clone(&st.catalog);
    let prefix = st.config.role_prefix.clone();
    tokio::task::spawn_blocking(move || svc::s3_table(cat.as_ref(), &name, &prefix))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)
}

async fn source(st: &AppState) -> ApiResult<Arc<S3Source>> {
    st.s3.get().await.map_err(|e| {
        ApiError::new(StatusCode::BAD_GATEWAY, "aws_unavailable", e.to_string())
            .with_details(json!({"code": e.code, "fix": e.remedy}))
    })
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum IamFormat {
    #[default]
    Cloudformation,
    CloudformationJson,
    Policy,
    Link,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    #[default]
    Principal,
    Account,
}

#[derive(Debug, Deserialize, Default)]
pub struct IamQuery {
    #[serde(default)]
    format: IamFormat,
    #[serde(default)]
    trust: Trust,
    region: Option<String>,
    expires_in: Option<u64>,
}

async fn get_iam(
    State(st): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<IamQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(format!(
            "{e} (format: cloudformation, cloudformation-json, policy or link; trust: principal or account)"
        ))
    })?;
    let (spec, _, s3) = table(&st, name.clone()).await?;
    let principal_arn = match &st.config.principal {
        Some(arn) => arn.clone(),
        None => {
            st.s3
                .caller_identity()
                .await
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_GATEWAY,
                        "aws_unavailable",
                        format!("cannot find lut's own AWS principal: {e}"),
                    )
                    .with_details(json!({"code": e.code, "fix": e.remedy}))
                })?
                .arn
        }
    };
    let principal = Principal::from_caller_arn(&principal_arn)
        .map_err(|e| ApiError::internal(format!("lut's principal {principal_arn:?}: {e}")))?;
    let trusted = match q.trust {
        Trust::Principal => principal.clone(),
        Trust::Account => principal.account_root(),
    };
    let prefix = st.config.role_prefix.clone();
    let inputs = svc::role_inputs(&spec, &s3, &prefix, &trusted.arn, &st.external_id)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let text =
        |ct: &'static str, body: String| ([(header::CONTENT_TYPE, ct)], body).into_response();
    Ok(match q.format {
        IamFormat::Cloudformation => {
            text("application/yaml", iam::to_yaml(&iam::template(&inputs)))
        }
        IamFormat::CloudformationJson => {
            text("application/json", iam::to_json(&iam::template(&inputs)))
        }
        IamFormat::Policy => {
            Json(svc::policy_document(&inputs, &principal, &prefix)).into_response()
        }
        IamFormat::Link => {
            let Some(bucket) = st.config.template_bucket.clone() else {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "no_template_bucket",
                    "no console link: CloudFormation can only open a template stored in S3, and no template bucket is configured",
                )
                .with_details(json!({
                    "fix": "set [aws] template_bucket (or LUT_TEMPLATE_BUCKET) to a bucket in lut's own account that lut may s3:PutObject and s3:GetObject in, or deploy the template yourself (format=cloudformation)"
                })));
            };
            let region = q
                .region
                .clone()
                .or_else(|| std::env::var("AWS_REGION").ok())
                .unwrap_or_else(|| "us-east-1".into());
            let expires = q.expires_in.unwrap_or(TEMPLATE_URL_EXPIRY.as_secs());
            let s = source(&st).await?;
            let url =
                svc::console_link(&s, &inputs, &bucket, &region, Duration::from_secs(expires))
                    .await
                    .map_err(|e| {
                        ApiError::new(StatusCode::BAD_GATEWAY, "upload_failed", e.to_string())
                            .with_details(json!({"code": e.code, "fix": e.remedy}))
                    })?;
            Json(json!({
                "url": url,
                "expires_in": expires,
                "role_name": inputs.role_name,
                "account": s3.account_id(),
            }))
            .into_response()
        }
    })
}

async fn test_connection(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<(super::audit::AuditNote, Json<serde_json::Value>)> {
    let (spec, schema, s3) = table(&st, name.clone()).await?;
    let report = svc::test_connection(st.s3.config().clone(), &name, spec, schema, &s3).await;
    let v = report.to_json(&name);
    let ok = v["ok"].as_bool() == Some(true);
    let note =
        super::audit::AuditNote::details(json!({})).outcome(if ok { "ok" } else { "failed" });
    Ok((note, Json(v)))
}
