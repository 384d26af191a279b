//! Handlers of the read and manage routes (enrichment is in [`super::enrich`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use lut_store::{now_millis, Catalog, ErrorFilter, TableRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit::AuditNote;
use super::error::{ApiError, ApiResult, Path, Query};
use super::AppState;
use crate::sync::CheckOutcome;

/// Runs catalog calls on the blocking pool (SQLite may wait on another process's lock).
pub(super) async fn db<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&dyn Catalog) -> Result<T, ApiError> + Send + 'static,
) -> ApiResult<T> {
    let cat = Arc::clone(&st.catalog);
    tokio::task::spawn_blocking(move || f(cat.as_ref()))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
}

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready once the catalog answers (live versions are loaded before the listener starts).
pub async fn readyz(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let tables = db(&st, |cat| Ok(cat.tables()?.len()))
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", e.message))?;
    let loaded = st.registry.load().tables().len();
    Ok(Json(
        json!({ "status": "ready", "tables": tables, "loaded_tables": loaded }),
    ))
}

fn summary(cat: &dyn Catalog, t: &TableRecord, loaded: bool) -> Result<Value, ApiError> {
    let live = cat.live_version(&t.name)?;
    let last_check = cat.checks(&t.name, 1)?.into_iter().next();
    Ok(json!({
        "name": t.name,
        "enabled": t.enabled,
        "source_kind": t.source_kind,
        "schema_name": t.schema_name,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "pinned": cat.is_pinned(&t.name)?,
        "loaded": loaded,
        "live_version": live,
        "last_check": last_check,
    }))
}

pub async fn list_tables(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let snap = st.registry.load();
    let loaded: Vec<String> = snap.tables().iter().map(|t| t.spec.name.clone()).collect();
    let tables = db(&st, move |cat| {
        cat.tables()?
            .iter()
            .map(|t| summary(cat, t, loaded.contains(&t.name)))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(Json(json!({ "tables": tables })))
}

pub async fn get_table(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let loaded = st.registry.load().table(&name).is_some();
    let v = db(&st, move |cat| {
        let t = cat.table(&name)?.ok_or_else(|| ApiError::no_table(&name))?;
        let mut v = summary(cat, &t, loaded)?;
        v["spec_yaml"] = Value::String(t.spec_yaml.clone());
        v["schema_yaml"] = Value::String(t.schema_yaml.clone());
        Ok(v)
    })
    .await?;
    Ok(Json(v))
}

pub async fn versions(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = db(&st, move |cat| {
        if cat.table(&name)?.is_none() {
            return Err(ApiError::no_table(&name));
        }
        Ok(cat.versions(&name)?)
    })
    .await?;
    Ok(Json(json!({ "versions": v })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    limit: Option<usize>,
}

/// The table's check history, newest first (`limit`, default 100).
pub async fn checks(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<LimitQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let v = db(&st, move |cat| {
        if cat.table(&name)?.is_none() {
            return Err(ApiError::no_table(&name));
        }
        Ok(cat.checks(&name, limit)?)
    })
    .await?;
    Ok(Json(json!({ "checks": v })))
}

/// One version's metadata.
pub async fn version(
    State(st): State<AppState>,
    Path((name, id)): Path<(String, i64)>,
) -> ApiResult<Json<Value>> {
    let v = db(&st, move |cat| {
        if cat.table(&name)?.is_none() {
            return Err(ApiError::no_table(&name));
        }
        cat.versions(&name)?
            .into_iter()
            .find(|v| v.id == id)
            .ok_or_else(|| {
                ApiError::not_found(format!("table {name:?} has no version {id}"))
                    .with_details(json!({ "table": name, "version": id }))
            })
    })
    .await?;
    Ok(Json(json!(v)))
}

pub async fn sync_now(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let n = name.clone();
    db(&st, move |cat| {
        cat.table(&n)?
            .map(|_| ())
            .ok_or_else(|| ApiError::no_table(&n))
    })
    .await?;
    let outcome = st
        .scheduler
        .sync_now(&name)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e))?;
    let v = match outcome {
        CheckOutcome::Unchanged => json!({ "outcome": "unchanged" }),
        CheckOutcome::Updated { version, report } => json!({
            "outcome": "updated",
            "version": version,
            "report": report,
        }),
        CheckOutcome::RecordedWhilePinned { version } => {
            json!({ "outcome": "recorded_while_pinned", "version": version })
        }
        CheckOutcome::Failed(f) => json!({
            "outcome": "failed",
            "failure": {
                "stage": f.stage.to_string(),
                "code": f.code,
                "cause": f.cause,
                "remedy": f.remedy,
            }
        }),
        CheckOutcome::NotSynced(why) => json!({ "outcome": "not_synced", "reason": why }),
    };
    // The sync's outcome is the audit entry's; a failure's cause stays in the check history.
    let note = AuditNote::details(json!({ "version": v["version"]["id"] }))
        .outcome(v["outcome"].as_str().unwrap_or("unknown"));
    Ok((note, Json(json!({ "table": name, "result": v }))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsQuery {
    table: Option<String>,
    /// `open` (default), `resolved` or `all`.
    status: Option<ErrorStatus>,
    /// The same as `status=all` (kept for older clients).
    #[serde(default)]
    all: bool,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ErrorStatus {
    Open,
    Resolved,
    All,
}

pub async fn errors(
    State(st): State<AppState>,
    Query(q): Query<ErrorsQuery>,
) -> ApiResult<Json<Value>> {
    let status = match (q.status, q.all) {
        (Some(s), _) => s,
        (None, true) => ErrorStatus::All,
        (None, false) => ErrorStatus::Open,
    };
    let mut v = db(&st, move |cat| {
        Ok(cat.errors(&ErrorFilter {
            table: q.table,
            all: status != ErrorStatus::Open,
        })?)
    })
    .await?;
    if status == ErrorStatus::Resolved {
        v.retain(|e| e.resolved_at.is_some());
    }
    Ok(Json(json!({ "errors": v })))
}

pub async fn ack_error(State(st): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let found = db(&st, move |cat| Ok(cat.acknowledge_error(id, now_millis())?)).await?;
    if !found {
        return Err(ApiError::not_found(format!("no system error with id {id}")));
    }
    Ok(Json(json!({ "id": id, "acknowledged": true })))
}

/// The principal comes from the configuration when set, else from STS GetCallerIdentity
/// (looked up once); when AWS cannot be reached the reason is returned beside a null
/// principal rather than failing the whole settings page.
pub async fn settings(State(st): State<AppState>) -> Json<Value> {
    let (principal, origin, error) = match &st.config.principal {
        Some(arn) => (Some(arn.clone()), "configured", None),
        None => {
            // Bounded: a settings page must not hang on an unreachable STS endpoint.
            let lookup = st.s3.caller_identity();
            match tokio::time::timeout(std::time::Duration::from_secs(10), lookup).await {
                Ok(Ok(id)) => (Some(id.arn), "sts", None),
                Ok(Err(e)) => (None, "unavailable", Some(e.to_string())),
                Err(_) => (
                    None,
                    "unavailable",
                    Some("STS did not answer in 10 s".into()),
                ),
            }
        }
    };
    Json(json!({
        "service_principal": principal,
        "service_principal_origin": origin,
        "service_principal_error": error,
        "external_id": &*st.external_id,
        "role_name_prefix": st.config.role_prefix,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowsQuery {
    key: String,
}

/// What enrichment would attach for `key`: the exact row, or the CIDR blocks holding an IP.
pub async fn rows(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<RowsQuery>,
) -> ApiResult<Json<Value>> {
    let snap = st.registry.load();
    let Some(live) = snap.table(&name) else {
        let n = name.clone();
        let exists = db(&st, move |cat| Ok(cat.table(&n)?.is_some())).await?;
        return Err(if exists {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_live_version",
                format!("table {name:?} has no live data loaded (disabled or never synced)"),
            )
        } else {
            ApiError::no_table(&name)
        });
    };
    let table = &live.table;
    let now = super::enrich_now();
    let mut frags: Vec<&[u8]> = Vec::new();
    let mut scratch = Vec::new();
    if let Some(r) = table.get(q.key.as_bytes(), now, &mut scratch) {
        frags.push(table.fragment(r));
    } else if let Some(ip) = lut_core::net::parse_ip(q.key.as_bytes()) {
        table.get_ip(ip, now, |r| frags.push(table.fragment(r)));
    }
    let matches = frags
        .into_iter()
        .map(|f| {
            let mut obj = Vec::with_capacity(f.len() + 2);
            obj.push(b'{');
            obj.extend_from_slice(f);
            obj.push(b'}');
            serde_json::from_slice::<Value>(&obj).map_err(|e| ApiError::internal(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(
        json!({ "table": name, "key": q.key, "matches": matches }),
    ))
}
