//! Log types (built-in Panther names plus every one a table references), reading schemas
//! (stored ones and the copies kept with tables), and schema validation. Changing stored
//! schemas is in [`super::schemas_write`].

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

/// Every schema: the stored ones (`stored: true`, possibly used by no table yet) and those
/// only kept as a table's own copy, each with the tables using it.
pub async fn list_schemas(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let v = db(&st, |cat| {
        let mut by: BTreeMap<String, (bool, Vec<String>)> = BTreeMap::new();
        for s in cat.schemas()? {
            by.entry(s.name).or_default().0 = true;
        }
        for t in cat.tables()? {
            by.entry(t.schema_name.clone()).or_default().1.push(t.name);
        }
        Ok(by
            .into_iter()
            .map(|(name, (stored, tables))| {
                json!({ "name": name, "stored": stored, "tables": tables })
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(json!({ "schemas": v })))
}

/// One schema's YAML: the stored schema when there is one (a schema PUT re-applies it to
/// every table using it, so their copies are equal), otherwise the copy kept with the most
/// recently defined table using it.
pub async fn get_schema(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = db(&st, move |cat| {
        let stored = cat.schema(&name)?;
        let mut tables: Vec<_> = cat
            .tables()?
            .into_iter()
            .filter(|t| t.schema_name == name)
            .collect();
        tables.sort_by_key(|t| std::cmp::Reverse(t.updated_at));
        let yaml = match (&stored, tables.first()) {
            (Some(s), _) => s.yaml.clone(),
            (None, Some(t)) => t.schema_yaml.clone(),
            (None, None) => {
                return Err(ApiError::not_found(format!("no schema named {name:?}"))
                    .with_details(json!({ "schema": name })))
            }
        };
        Ok(json!({
            "name": name,
            "yaml": yaml,
            "stored": stored.is_some(),
            "created_at": stored.as_ref().map(|s| s.created_at),
            "updated_at": stored.as_ref().map(|s| s.updated_at),
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

/// Diagnostics of a schema as JSON, reported against `file`.
pub(super) fn diagnostics_json(file: &str, diags: &lut_core::diag::Diagnostics) -> Vec<Value> {
    diags
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
        .collect()
}

/// Parses schema YAML: the schema, or the 422 (uniform envelope, the diagnostics as its
/// details) that `validate` and a schema PUT answer.
pub(super) fn parse(
    text: &str,
    file: &str,
) -> Result<(lut_core::schema::Schema, Vec<Value>), ApiError> {
    let (schema, diags) = lut_core::schema::parse_schema(text, Some(std::path::Path::new(file)));
    let list = diagnostics_json(file, &diags);
    match schema {
        Some(s) if !diags.has_errors() => Ok((s, list)),
        schema => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("{file} is not a valid schema"),
        )
        .with_details(json!({
            "valid": false,
            "schema": schema.map(|s| s.name),
            "diagnostics": list,
        }))),
    }
}

/// Validates a schema sent as YAML text: 200 with `valid: true` (and any warnings), or
/// 422 with the diagnostics (file, line, column, path, code, message).
pub async fn validate(Query(q): Query<ValidateQuery>, body: String) -> impl IntoResponse {
    let file = q.file.unwrap_or_else(|| "schema.yml".into());
    match parse(&body, &file) {
        Ok((schema, list)) => {
            Json(json!({"valid": true, "schema": schema.name, "diagnostics": list})).into_response()
        }
        Err(e) => e.into_response(),
    }
}
