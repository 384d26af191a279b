//! Changing stored schemas (issue 4): `PUT /api/v1/schemas/{name}` with the schema YAML as
//! the body, and `DELETE /api/v1/schemas/{name}`.
//!
//! A PUT re-applies every table whose definition names the schema, through the code path
//! of a table update ([`super::tables_write::check_files`], then
//! [`crate::definitions::plan`]): each table's stored spec is validated with the new
//! schema first, one by one so the diagnostics can be told per table, and only when all
//! pass are the schema and the tables written in one catalog transaction. Like a table
//! update, this checks definitions, not the live data: a live version that no longer
//! builds with the new schema stays loaded until its next version (the engine logs it).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::routing::put;
use axum::{Extension, Json, Router};
use lut_store::{NewAuditEntry, SchemaRecord};
use serde_json::{json, Value};

use super::audit::{self, AuditNote};
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Path};
use super::tables_write::{blobs, blocking, check_files, internal, reload};
use super::AppState;
use crate::definitions::{self, PlanOptions};

/// Media types a schema body may be sent as (none at all is taken as YAML too).
const YAML_TYPES: &[&str] = &[
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/plain",
];

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/schemas/{name}",
            put(put_schema).delete(delete_schema),
        )
        .route_layer(from_fn_with_state(state, super::auth::require_manage))
}

fn unprocessable(message: String, details: Value) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_details(details)
}

/// The body as YAML text: 415 for a media type that is not YAML or plain text, 400 for
/// bytes that are not UTF-8.
fn yaml_body(headers: &HeaderMap, body: &Bytes) -> ApiResult<String> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let media = ct
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !YAML_TYPES.contains(&media.as_str()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("send the schema as YAML ({})", YAML_TYPES.join(", ")),
            )
            .with_details(json!({ "content_type": media })));
        }
    }
    String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("the schema is not UTF-8 text"))
}

/// `PUT /api/v1/schemas/{name}`: stores the schema (201 new, 200 replaced or unchanged)
/// and re-applies the tables using it; 422 with per-table diagnostics when any of them
/// would be invalid with it, and then nothing changes. Audited (`schema.put`) in the
/// change's own transaction.
pub async fn put_schema(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, AuditNote, Json<Value>)> {
    let text = yaml_body(&headers, &body)?;
    let file = "schema.yml";
    let (schema, _) = super::schemas::parse(&text, file)?;
    if schema.name != name {
        let message = format!("the YAML names schema {:?}, not {name:?}", schema.name);
        return Err(unprocessable(
            message.clone(),
            json!({
                "schema": name,
                "diagnostics": [{"severity": "error", "code": "name-mismatch",
                    "file": file, "path": "schema", "message": message}],
            }),
        ));
    }
    let actor = audit::actor(&caller);
    let st2 = st.clone();
    let (created, v, reapplied) = blocking(move || {
        let blobs = blobs(&st2)?;
        let old = st2.catalog.schema(&name)?;
        let users: Vec<_> = st2
            .catalog
            .tables()?
            .into_iter()
            .filter(|t| t.schema_name == name)
            .collect();
        // Each table alone first, so a failure names the table it concerns.
        let mut failures = Vec::new();
        for t in &users {
            let files = BTreeMap::from([
                ("spec.yml".to_string(), t.spec_yaml.clone()),
                (file.to_string(), text.clone()),
            ]);
            match check_files(&st2, &blobs, &files) {
                Ok((_, p)) if p.tables.len() == 1 && p.tables[0].spec.name == t.name => {}
                Ok(_) => failures.push(json!({
                    "table": t.name,
                    "message": "the stored spec no longer loads as this table",
                    "diagnostics": [],
                })),
                Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => failures.push(json!({
                    "table": t.name,
                    "message": e.message,
                    "diagnostics": e.details.get("diagnostics").cloned().unwrap_or(json!([])),
                })),
                Err(e) => return Err(e),
            }
        }
        if !failures.is_empty() {
            let names: Vec<&str> = failures
                .iter()
                .filter_map(|f| f["table"].as_str())
                .collect();
            return Err(unprocessable(
                format!(
                    "nothing changed: schema {name:?} would make table(s) {} invalid",
                    names.join(", ")
                ),
                json!({ "schema": name, "tables": failures }),
            ));
        }
        // All pass: the tables and the schema together, planned like a table update.
        let mut files = BTreeMap::from([(file.to_string(), text.clone())]);
        for (i, t) in users.iter().enumerate() {
            files.insert(format!("specs/{i}.yml"), t.spec_yaml.clone());
        }
        let (_dir, p) = check_files(&st2, &blobs, &files)?;
        let source_for = |path: &std::path::Path| format!("file://{}", path.display());
        let plan = definitions::plan(
            &p,
            st2.catalog.as_ref(),
            &blobs,
            &PlanOptions {
                prune: false,
                source_for: &source_for,
                keep_enabled: true,
            },
        )
        .map_err(internal)?;
        let tables: Vec<_> = plan
            .items
            .iter()
            .filter(|i| users.iter().any(|u| u.name == i.table))
            .cloned()
            .collect();
        let reapplied: Vec<String> = tables
            .iter()
            .filter(|i| i.is_change())
            .map(|i| i.table.clone())
            .collect();
        let created = old.is_none();
        let changed = old.as_ref().is_none_or(|o| o.yaml != text);
        let v = json!({
            "schema": name,
            "created": created,
            "changed": changed,
            "tables": tables,
        });
        if !changed && reapplied.is_empty() {
            plan.discard();
            return Ok((created, v, None));
        }
        let now = lut_store::now_millis();
        let rec = SchemaRecord {
            name: name.clone(),
            yaml: text,
            created_at: old.map_or(now, |o| o.created_at),
            updated_at: now,
        };
        let entry = NewAuditEntry::new(&actor, "schema.put")
            .target(&name)
            .details(v.clone());
        let validated: Vec<(String, lut_store::Millis)> = users
            .iter()
            .map(|t| (t.name.clone(), t.updated_at))
            .collect();
        plan.commit_with_schema(st2.catalog.as_ref(), &blobs, &rec, &validated, &[entry])
            // A conflict (the tables changed meanwhile) is a 409 the client can retry.
            .map_err(|e| match e.downcast::<lut_store::StoreError>() {
                Ok(store) => ApiError::from(*store),
                Err(other) => internal(other),
            })?;
        Ok((created, v, Some(reapplied)))
    })
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let note = match reapplied {
        Some(names) => {
            reload(&st, &names).await?;
            AuditNote::Done
        }
        // Nothing written: the call is still on record, by the middleware.
        None => AuditNote::details(v.clone()).target(v["schema"].as_str().unwrap_or("")),
    };
    Ok((status, note, Json(v)))
}

/// `DELETE /api/v1/schemas/{name}`: 409 while a table uses the schema, 404 when none is
/// stored. Audited (`schema.delete`) in the deleting transaction.
pub async fn delete_schema(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let cat = st.catalog.clone();
    let n = name.clone();
    let entry = NewAuditEntry::new(&audit::actor(&caller), "schema.delete").target(&name);
    let deleted = blocking(move || Ok(cat.delete_schema_audited(&n, &[entry])?)).await?;
    if !deleted {
        return Err(
            ApiError::not_found(format!("no schema named {name:?} is stored"))
                .with_details(json!({ "schema": name })),
        );
    }
    Ok((
        AuditNote::Done,
        Json(json!({ "schema": name, "deleted": true })),
    ))
}
