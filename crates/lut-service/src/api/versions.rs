//! Version management over the API (SPEC §9): diff two versions, roll back (pins),
//! unpin, and retention (prune + blob gc).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::{Json, Router};
use lut_core::enrich::LiveTable;
use lut_core::project::parse_definition;
use lut_core::spec::SpecOptions;
use lut_core::table::{self, BuildOptions, Table};
use lut_store::blobs::{BlobStore, GC_GRACE};
use lut_store::datadir::BLOBS_DIR;
use lut_store::{Catalog, TableRecord, VersionRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit::AuditNote;
use super::error::{ApiError, ApiResult, Path, Query};
use super::routes::db;
use super::{auth, AppState};

/// `GET .../versions/diff` (read) and rollback / unpin / retention (manage).
pub fn routes(state: AppState) -> Router<AppState> {
    let read = Router::new()
        .route("/api/v1/tables/{name}/versions/diff", get(diff))
        .route_layer(from_fn_with_state(state.clone(), auth::require_read));
    let manage = Router::new()
        .route("/api/v1/tables/{name}/rollback", post(rollback))
        .route("/api/v1/tables/{name}/unpin", post(unpin))
        .route("/api/v1/tables/{name}/retention", post(retention))
        .route_layer(from_fn_with_state(state, auth::require_manage));
    read.merge(manage)
}

fn blobs(st: &AppState) -> Result<BlobStore, ApiError> {
    BlobStore::open(&st.config.data_dir.join(BLOBS_DIR)).map_err(ApiError::from)
}

fn find_version(cat: &dyn Catalog, name: &str, id: i64) -> Result<VersionRecord, ApiError> {
    cat.versions(name)?
        .into_iter()
        .find(|v| v.id == id)
        .ok_or_else(|| {
            ApiError::not_found(format!("table {name:?} has no version {id}"))
                .with_details(json!({ "table": name, "version": id }))
        })
}

/// Builds a version's table from its blob with the table's current definition.
fn build_version(
    st: &AppState,
    rec: &TableRecord,
    v: &VersionRecord,
) -> Result<LiveTable, ApiError> {
    build_stored(rec, v, &blobs(st)?, &st.config.role_prefix)
}

/// Builds a stored version (its blob in `store`) with the table's current definition;
/// shared with the CLI (`lut tables diff`).
pub fn build_stored(
    rec: &TableRecord,
    v: &VersionRecord,
    store: &BlobStore,
    role_prefix: &str,
) -> Result<LiveTable, ApiError> {
    let opts = SpecOptions {
        role_prefix: role_prefix.to_string(),
    };
    let (spec, schema) =
        parse_definition(&rec.spec_yaml, &rec.schema_yaml, &opts).map_err(|d| {
            ApiError::new(
                StatusCode::CONFLICT,
                "invalid_definition",
                format!(
                    "the stored definition is invalid: {}",
                    d.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            )
        })?;
    let path = store.path(&v.sha256)?;
    let file = std::fs::File::open(&path).map_err(|e| {
        ApiError::new(
            StatusCode::CONFLICT,
            "blob_missing",
            format!("version {} cannot be read: {e}", v.id),
        )
        .with_details(json!({ "version": v.id, "sha256": v.sha256 }))
    })?;
    let built = table::build_with(
        &spec,
        &schema,
        std::io::BufReader::new(file),
        &BuildOptions::default(),
    )
    .map_err(|r| {
        ApiError::new(
            StatusCode::CONFLICT,
            "version_unbuildable",
            format!(
                "version {} does not build with the current definition: {r}",
                v.id
            ),
        )
        .with_details(json!({ "version": v.id }))
    })?;
    Ok(LiveTable {
        spec: Arc::new(spec),
        schema: Arc::new(schema),
        table: Arc::new(built.table),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    from: i64,
    to: i64,
    limit: Option<usize>,
}

fn row_json(t: &Table, row: u32) -> Value {
    let mut s = Vec::with_capacity(t.fragment(row).len() + 2);
    s.push(b'{');
    s.extend_from_slice(t.fragment(row));
    s.push(b'}');
    serde_json::from_slice(&s)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(t.fragment(row)).into_owned()))
}

fn key_str(t: &Table, row: u32) -> String {
    String::from_utf8_lossy(t.key(row)).into_owned()
}

/// Rows added, removed and changed between two versions, by primary key.
pub fn diff_tables(a: &Table, b: &Table, limit: usize) -> Value {
    let index = |t: &Table| -> HashMap<Vec<u8>, u32> {
        (0..t.len() as u32)
            .map(|r| (t.key(r).to_vec(), r))
            .collect()
    };
    let (ia, ib) = (index(a), index(b));
    let mut sorted_b: Vec<(&Vec<u8>, &u32)> = ib.iter().collect();
    sorted_b.sort();
    let mut sorted_a: Vec<(&Vec<u8>, &u32)> = ia.iter().collect();
    sorted_a.sort();
    let (mut added, mut removed, mut changed, mut unchanged) = (0u64, 0u64, 0u64, 0u64);
    let (mut ex_added, mut ex_removed, mut ex_changed) = (Vec::new(), Vec::new(), Vec::new());
    for (k, &rb) in &sorted_b {
        match ia.get(*k) {
            None => {
                added += 1;
                if ex_added.len() < limit {
                    ex_added.push(json!({ "key": key_str(b, rb), "row": row_json(b, rb) }));
                }
            }
            Some(&ra) if a.fragment(ra) != b.fragment(rb) => {
                changed += 1;
                if ex_changed.len() < limit {
                    ex_changed.push(json!({
                        "key": key_str(b, rb),
                        "from": row_json(a, ra),
                        "to": row_json(b, rb),
                    }));
                }
            }
            Some(_) => unchanged += 1,
        }
    }
    for (k, &ra) in &sorted_a {
        if !ib.contains_key(*k) {
            removed += 1;
            if ex_removed.len() < limit {
                ex_removed.push(json!({ "key": key_str(a, ra), "row": row_json(a, ra) }));
            }
        }
    }
    json!({
        "counts": { "added": added, "removed": removed, "changed": changed, "unchanged": unchanged },
        "added": ex_added,
        "removed": ex_removed,
        "changed": ex_changed,
    })
}

pub async fn diff(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(50).min(1000);
    let st2 = st.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let cat = st2.catalog.as_ref();
        let rec = cat.table(&name)?.ok_or_else(|| ApiError::no_table(&name))?;
        let (va, vb) = (
            find_version(cat, &name, q.from)?,
            find_version(cat, &name, q.to)?,
        );
        let a = build_version(&st2, &rec, &va)?;
        let b = build_version(&st2, &rec, &vb)?;
        let mut d = diff_tables(&a.table, &b.table, limit);
        d["table"] = json!(name);
        d["from"] = json!(va);
        d["to"] = json!(vb);
        d["limit"] = json!(limit);
        Ok(d)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(Json(out))
}

/// Makes `version` live (pinned when `pin`) and publishes it to the registry now.
async fn make_live(
    st: &AppState,
    name: String,
    version: Option<i64>,
    pin: bool,
) -> ApiResult<Value> {
    let st2 = st.clone();
    let n = name.clone();
    let found = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        let cat = st2.catalog.as_ref();
        let rec = cat.table(&n)?.ok_or_else(|| ApiError::no_table(&n))?;
        let target = match version {
            Some(id) => Some(find_version(cat, &n, id)?),
            None => {
                cat.set_pinned(&n, false)?;
                cat.latest_version(&n)?
            }
        };
        Ok((rec, target))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let (rec, Some(target)) = found else {
        return Ok(json!({ "table": name, "pinned": false, "live_version": null }));
    };
    // Build first, at low priority (a rollback must not slow enrichment); a version that
    // cannot be served is not made live. The catalog writes then go back to the blocking
    // pool, so a starved build thread never sits on the catalog's write lock.
    let live = if rec.enabled {
        let (st2, rec2, target2) = (st.clone(), rec.clone(), target.clone());
        let built = crate::lowprio::run(move || build_version(&st2, &rec2, &target2))
            .await
            .map_err(ApiError::internal)??;
        Some(built)
    } else {
        None
    };
    let st2 = st.clone();
    tokio::task::spawn_blocking(move || -> ApiResult<Value> {
        let v = st2.catalog.set_live(&name, target.id, pin)?;
        if let Some(t) = live {
            st2.registry.swap_table(t);
        }
        Ok(json!({
            "table": name,
            "pinned": pin,
            "live_version": v,
            "published": rec.enabled,
        }))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    version: i64,
}

pub async fn rollback(
    State(st): State<AppState>,
    Path(name): Path<String>,
    b: Result<Json<RollbackBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let b = super::error::json_body(b)?;
    let v = make_live(&st, name, Some(b.version), true).await?;
    Ok((live_note(&v), Json(v)))
}

pub async fn unpin(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let v = make_live(&st, name, None, false).await?;
    Ok((live_note(&v), Json(v)))
}

/// The audit details of a rollback or unpin: which version went live.
fn live_note(v: &Value) -> AuditNote {
    AuditNote::details(json!({
        "version": v["live_version"]["id"],
        "pinned": v["pinned"],
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    keep: usize,
    /// Unreferenced blobs younger than this survive (default one hour, so a download in
    /// flight is never deleted); 0 deletes every unreferenced blob.
    grace_seconds: Option<u64>,
}

pub async fn retention(
    State(st): State<AppState>,
    Path(name): Path<String>,
    b: Result<Json<RetentionBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let b = super::error::json_body(b)?;
    if b.keep == 0 {
        return Err(ApiError::bad_request("keep must be at least 1")
            .with_details(json!({ "field": "keep" })));
    }
    let grace = b.grace_seconds.map_or(GC_GRACE, Duration::from_secs);
    let store = blobs(&st)?;
    let out = db(&st, move |cat| {
        if cat.table(&name)?.is_none() {
            return Err(ApiError::no_table(&name));
        }
        let pruned = cat.prune_versions(&name, b.keep)?;
        let deleted = store.gc_older_than(&cat.referenced_blobs()?, grace)?;
        Ok(json!({
            "table": name,
            "keep": b.keep,
            "pruned_versions": pruned,
            "deleted_blobs": deleted,
            "versions": cat.versions(&name)?,
        }))
    })
    .await?;
    let note = AuditNote::details(json!({
        "keep": out["keep"],
        "pruned_versions": out["pruned_versions"],
        "deleted_blobs": out["deleted_blobs"],
    }));
    Ok((note, Json(out)))
}
