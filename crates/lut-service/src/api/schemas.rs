//! Log types (built-in Panther names plus every one a table references), schemas stored
//! with tables, and schema validation.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use lut_core::project::parse_definition;
use lut_core::spec::SpecOptions;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, Path, Query};
use super::routes::db;
use super::{auth, AppState};

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/log-types", get(log_types))
        .route("/api/v1/schemas", get(list_schemas))
        .route("/api/v1/schemas/validate", post(validate))
        .route("/api/v1/schemas/{name}", get(get_schema))
        .route_layer(from_fn_with_state(state, auth::require_read))
}

/// Built-in names plus those referenced by tables (with the tables referencing them).
pub async fn log_types(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let opts = SpecOptions {
        role_prefix: st.config.role_prefix.clone(),
    };
    let used = db(&st, move |cat| {
        let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for t in cat.tables()? {
            if let Ok((spec, _)) = parse_definition(&t.spec_yaml, &t.schema_yaml, &opts) {
                for lt in &spec.log_types {
                    used.entry(lt.log_type.clone())
                        .or_default()
                        .insert(t.name.clone());
                }
            }
        }
        Ok(used)
    })
    .await?;
    let builtin: BTreeSet<&str> = lut_core::log_types::builtin().collect();
    let mut all: BTreeSet<String> = builtin.iter().map(|s| s.to_string()).collect();
    all.extend(used.keys().cloned());
    let list: Vec<Value> = all
        .iter()
        .map(|n| {
            json!({
                "name": n,
                "builtin": builtin.contains(n.as_str()),
                "tables": used.get(n).map(|s| s.iter().collect::<Vec<_>>()).unwrap_or_default(),
            })
        })
        .collect();
    Ok(Json(json!({ "log_types": list })))
}

pub async fn list_schemas(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let v = db(&st, |cat| {
        let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in cat.tables()? {
            by.entry(t.schema_name.clone()).or_default().push(t.name);
        }
        Ok(by
            .into_iter()
            .map(|(name, tables)| json!({ "name": name, "tables": tables }))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(json!({ "schemas": v })))
}

/// The schema YAML stored with the tables using it (the most recently defined one).
pub async fn get_schema(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = db(&st, move |cat| {
        let mut tables: Vec<_> = cat
            .tables()?
            .into_iter()
            .filter(|t| t.schema_name == name)
            .collect();
        tables.sort_by_key(|t| std::cmp::Reverse(t.updated_at));
        let Some(first) = tables.first() else {
            return Err(ApiError::not_found(format!("no schema named {name:?}"))
                .with_details(json!({ "schema": name })));
        };
        Ok(json!({
            "name": name,
            "yaml": first.schema_yaml,
            "tables": tables.iter().map(|t| &t.name).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateQuery {
    /// The file name diagnostics are reported against (default `schema.yml`).
    file: Option<String>,
}

/// Validates a schema sent as YAML text: 200 with `valid: true` (and any warnings), or
/// 422 with the diagnostics (file, line, column, path, code, message).
pub async fn validate(Query(q): Query<ValidateQuery>, body: String) -> impl IntoResponse {
    let file = q.file.unwrap_or_else(|| "schema.yml".into());
    let (schema, diags) = lut_core::schema::parse_schema(&body, Some(std::path::Path::new(&file)));
    let list: Vec<Value> = diags
        .iter()
        .map(|d| {
            json!({
                "severity": d.severity,
                "file": file,
                "line": d.line,
                "column": d.column,
                "path": d.path,
                "code": d.code,
                "message": d.message,
            })
        })
        .collect();
    let valid = schema.is_some() && !diags.has_errors();
    let name = schema.map(|s| s.name);
    if !valid {
        // The uniform error envelope; the diagnostics are its details.
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("{file} is not a valid schema"),
        )
        .with_details(json!({"valid": false, "schema": name, "diagnostics": list}))
        .into_response();
    }
    Json(json!({"valid": true, "schema": name, "diagnostics": list})).into_response()
}
