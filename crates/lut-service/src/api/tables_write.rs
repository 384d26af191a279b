//! Changing tables over the API (issue 4): `POST /api/v1/apply` (a bundle of specs,
//! schemas and small data files), table create / update / delete / enable / disable, data
//! uploads for `Filename` tables, and export of the stored definition.
//!
//! Definitions are validated exactly like `lut validate` (the bundle is written to a temp
//! directory in the blob store and loaded with [`lut_core::project::load`]) and applied
//! through [`crate::definitions`], the code path `lut apply` uses: one catalog transaction,
//! all or nothing. After a change the registry is brought in step at once with the sync
//! engine's `reload_table`.
//!
//! Uploads: only `Filename` tables (source `file`) take data uploads — their data comes
//! from files, and S3 / watched tables would overwrite an upload at their next check.

use std::collections::BTreeMap;
use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use futures_util::StreamExt;
use lut_core::diag::Diagnostic;
use lut_core::enrich::LiveTable;
use lut_core::project::{self, LoadOptions, Project};
use lut_core::spec::SpecOptions;
use lut_core::table::{self, BuildOptions};
use lut_source::Limits;
use lut_store::{BlobStore, DefinitionChange, NewAuditEntry, NewVersion};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::audit::{self, AuditNote};
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Path, Query};
use super::AppState;
use crate::definitions::{self, PlanOptions};

/// [`read_routes`] and [`manage_routes`] behind their token checks.
pub fn routes(state: AppState) -> Router<AppState> {
    use axum::middleware::from_fn_with_state;
    read_routes()
        .route_layer(from_fn_with_state(state.clone(), super::auth::require_read))
        .merge(manage_routes().route_layer(from_fn_with_state(state, super::auth::require_manage)))
}

/// Routes that need `read`.
pub fn read_routes() -> Router<AppState> {
    Router::new().route("/api/v1/tables/{name}/export", get(export))
}

/// Routes that need `manage`.
pub fn manage_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/apply", post(apply))
        .route("/api/v1/tables", post(create_table))
        .route(
            "/api/v1/tables/{name}",
            put(update_table).delete(delete_table),
        )
        .route("/api/v1/tables/{name}/enable", post(enable))
        .route("/api/v1/tables/{name}/disable", post(disable))
        .route("/api/v1/tables/{name}/data", put(upload))
}

pub(super) fn blobs(st: &AppState) -> ApiResult<BlobStore> {
    BlobStore::open(&st.config.data_dir.join(lut_store::datadir::BLOBS_DIR))
        .map_err(|e| ApiError::internal(e.to_string()))
}

pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Runs blocking work (catalog, files) off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

/// Builds a table on a low-priority thread (see [`crate::lowprio`]).
async fn building<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    crate::lowprio::run(f).await.map_err(ApiError::internal)?
}

/// Brings the registry in step with the catalog for `names`, through the server's engine.
pub(super) async fn reload(st: &AppState, names: &[String]) -> ApiResult<()> {
    for n in names {
        st.engine.reload_table(n).await?;
    }
    Ok(())
}

fn spec_options(st: &AppState) -> SpecOptions {
    SpecOptions {
        role_prefix: st.config.role_prefix.clone(),
    }
}

/// A temp directory in the blob store's temp area, removed on drop.
pub(super) struct Scratch(pub(super) PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(blobs: &BlobStore) -> ApiResult<Scratch> {
    let name: String = (0..16).map(|_| fastrand::alphanumeric()).collect();
    let dir = blobs.tmp_dir().join(format!("bundle-{name}"));
    std::fs::create_dir_all(&dir).map_err(internal)?;
    Ok(Scratch(dir))
}

/// Writes `files` (relative paths) under `dir`; a path leaving it is a 400.
fn write_files(dir: &FsPath, files: &BTreeMap<String, String>) -> ApiResult<()> {
    for (name, text) in files {
        let rel = FsPath::new(name);
        let ok = !name.is_empty()
            && rel
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !ok {
            return Err(ApiError::bad_request(format!(
                "file name {name:?} must be a relative path inside the bundle"
            ))
            .with_details(json!({ "file": name })));
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(internal)?;
        }
        std::fs::write(&path, text).map_err(internal)?;
    }
    Ok(())
}

/// Diagnostics as JSON with file names relative to the bundle.
pub(super) fn diagnostics_json(dir: &FsPath, diags: &[Diagnostic]) -> Vec<Value> {
    diags
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.message = d.message.replace(&format!("{}/", dir.display()), "");
            if let Some(f) = &d.file {
                if let Ok(rel) = f.strip_prefix(dir) {
                    d.file = Some(rel.to_path_buf());
                }
            }
            json!(d)
        })
        .collect()
}

fn invalid(dir: &FsPath, p: &Project, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_details(json!({
        "diagnostics": diagnostics_json(dir, &p.diagnostics.clone().into_vec()),
    }))
}

fn load(dir: &FsPath, st: &AppState, load_data: bool) -> Project {
    project::load(
        &[dir.to_path_buf()],
        &LoadOptions {
            spec: spec_options(st),
            load_data,
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyQuery {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    prune: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    files: BTreeMap<String, String>,
}

/// `POST /api/v1/apply[?dry_run=true][&prune=true]` with `{"files": {"path": "text"}}`.
/// Audited in the apply's own transaction (one `bundle.apply` entry per changed table).
pub async fn apply(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ApplyQuery>,
    body: Result<Json<Bundle>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let bundle = super::error::json_body(body)?;
    let actor = audit::actor(&caller);
    let st2 = st.clone();
    let (v, changed) = blocking(move || {
        let blobs = blobs(&st2)?;
        let dir = scratch(&blobs)?;
        write_files(&dir.0, &bundle.files)?;
        let p = load(&dir.0, &st2, true);
        if p.spec_count() == 0 {
            return Err(invalid(&dir.0, &p, "the bundle holds no lookup-table spec"));
        }
        if p.diagnostics.has_errors() {
            return Err(invalid(
                &dir.0,
                &p,
                "nothing applied: the bundle is invalid",
            ));
        }
        let source_for = |path: &FsPath| {
            let rel = path.strip_prefix(&dir.0).unwrap_or(path);
            format!("api:{}", rel.display())
        };
        let plan = definitions::plan(
            &p,
            st2.catalog.as_ref(),
            &blobs,
            &PlanOptions {
                prune: q.prune,
                source_for: &source_for,
                keep_enabled: false,
            },
        )
        .map_err(internal)?;
        let changes = plan.changes();
        let mut v = json!({
            "dry_run": q.dry_run,
            "changes": changes,
            "plan": plan.items,
            "diagnostics": diagnostics_json(&dir.0, &p.diagnostics.clone().into_vec()),
        });
        if q.dry_run {
            plan.discard();
            return Ok((v, Vec::new()));
        }
        let changed = plan.changed_tables();
        let entries = plan.audit_entries(&actor, "bundle.apply");
        plan.commit_audited(st2.catalog.as_ref(), &blobs, &entries)
            .map_err(internal)?;
        v["applied"] = json!(true);
        Ok((v, changed))
    })
    .await?;
    reload(&st, &changed).await?;
    // A dry run changed nothing; a real one was recorded with the change.
    Ok((AuditNote::Done, Json(v)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The PAT-format spec YAML.
    spec: String,
    /// The schema YAML; without it, the stored schema the spec's `Schema:` names.
    #[serde(default)]
    schema: Option<String>,
}

/// Loads `files` (specs and schemas) from a scratch directory exactly like `lut validate`,
/// without data (a `Filename` table's data comes by upload, so its missing file is not an
/// error): 422 with the diagnostics when invalid.
pub(super) fn check_files(
    st: &AppState,
    blobs: &BlobStore,
    files: &BTreeMap<String, String>,
) -> ApiResult<(Scratch, Project)> {
    let dir = scratch(blobs)?;
    write_files(&dir.0, files)?;
    let mut p = load(&dir.0, st, false);
    let mut kept = lut_core::diag::Diagnostics::new();
    for d in std::mem::take(&mut p.diagnostics).into_vec() {
        if d.code != "missing-data-file" {
            kept.push(d);
        }
    }
    p.diagnostics = kept;
    if p.diagnostics.has_errors() {
        return Err(invalid(&dir.0, &p, "the definition is invalid"));
    }
    Ok((dir, p))
}

/// The schema YAML for a definition sent without one: the stored schema its spec names.
/// `None` when the spec names none (or cannot be read): loading it alone then reports why.
fn stored_schema_for(st: &AppState, spec: &str) -> ApiResult<Option<String>> {
    let Some(name) = lut_core::yaml::parse(spec)
        .ok()
        .flatten()
        .and_then(|n| n.get("Schema").and_then(|s| s.as_str()).map(str::to_string))
    else {
        return Ok(None);
    };
    match st.catalog.schema(&name)? {
        Some(s) => Ok(Some(s.yaml)),
        None => {
            let message = format!(
                "no schema named {name:?} is stored: send \"schema\" or PUT /api/v1/schemas/{name} first"
            );
            Err(
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", &message).with_details(
                    json!({
                        "schema": name,
                        "diagnostics": [{"severity": "error", "code": "unknown-schema",
                            "file": "spec.yml", "path": "Schema", "message": message}],
                    }),
                ),
            )
        }
    }
}

/// Validates one spec + schema and applies it; `expect` is the table name of a PUT.
/// Audited (`table.create` / `table.update`) in the change's own transaction.
async fn put_definition(
    st: AppState,
    actor: lut_store::Actor,
    def: Definition,
    expect: Option<String>,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let st2 = st.clone();
    let (v, name) = blocking(move || {
        let blobs = blobs(&st2)?;
        let schema = match def.schema {
            Some(s) => Some(s),
            None => stored_schema_for(&st2, &def.spec)?,
        };
        let mut files = BTreeMap::from([("spec.yml".to_string(), def.spec)]);
        if let Some(schema) = schema {
            files.insert("schema.yml".to_string(), schema);
        }
        let (dir, p) = check_files(&st2, &blobs, &files)?;
        let [t] = p.tables.as_slice() else {
            let msg = if p.skipped.is_empty() {
                "the spec is not a lookup-table spec"
            } else {
                "the spec has a source lut does not support"
            };
            return Err(invalid(&dir.0, &p, msg));
        };
        let name = t.spec.name.clone();
        let exists = st2.catalog.table(&name)?.is_some();
        match &expect {
            None if exists => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("table {name:?} exists; PUT /api/v1/tables/{name} updates it"),
                )
                .with_details(json!({ "table": name })))
            }
            Some(want) if *want != name => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    format!("the spec names table {name:?}, not {want:?}"),
                )
                .with_details(json!({
                    "diagnostics": [{"severity": "error", "code": "name-mismatch",
                        "file": "spec.yml", "path": "LookupName",
                        "message": format!("the spec names table {name:?}, not {want:?}")}]
                })))
            }
            Some(want) if !exists => return Err(ApiError::no_table(want)),
            _ => {}
        }
        let source_for = |path: &FsPath| format!("file://{}", path.display());
        let plan = definitions::plan(
            &p,
            st2.catalog.as_ref(),
            &blobs,
            &PlanOptions {
                prune: false,
                source_for: &source_for,
                keep_enabled: false,
            },
        )
        .map_err(internal)?;
        let item = plan
            .items
            .iter()
            .find(|i| i.table == name)
            .cloned()
            .ok_or_else(|| internal("the plan lost the table"))?;
        let action = if expect.is_some() {
            "table.update"
        } else {
            "table.create"
        };
        let entry = NewAuditEntry::new(&actor, action)
            .on_table(&name)
            .details(json!(item));
        plan.commit_audited(st2.catalog.as_ref(), &blobs, &[entry])
            .map_err(internal)?;
        let rec = st2.catalog.table(&name)?;
        let v = json!({
            "plan": item,
            "table": rec.map(|r| json!({
                "name": r.name, "enabled": r.enabled, "source": r.source_kind,
                "schema": r.schema_name, "created_at": r.created_at, "updated_at": r.updated_at,
            })),
            "diagnostics": diagnostics_json(&dir.0, &p.diagnostics.clone().into_vec()),
        });
        Ok((v, name))
    })
    .await?;
    reload(&st, &[name]).await?;
    Ok((AuditNote::Done, Json(v)))
}

/// `POST /api/v1/tables` with `{"spec": "...", "schema": "..."}`: 201, 409 if it exists.
pub async fn create_table(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<Definition>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, AuditNote, Json<Value>)> {
    let def = super::error::json_body(body)?;
    let (note, v) = put_definition(st, audit::actor(&caller), def, None).await?;
    Ok((StatusCode::CREATED, note, v))
}

/// `PUT /api/v1/tables/{name}`: replaces the definition of an existing table.
pub async fn update_table(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Json<Definition>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let def = super::error::json_body(body)?;
    put_definition(st, audit::actor(&caller), def, Some(name)).await
}

/// `DELETE /api/v1/tables/{name}`: the table, its versions and checks (audited in the
/// same transaction).
pub async fn delete_table(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let cat = st.catalog.clone();
    let n = name.clone();
    let entry = NewAuditEntry::new(&audit::actor(&caller), "table.delete").on_table(&name);
    blocking(move || {
        if cat.table(&n)?.is_none() {
            return Err(ApiError::no_table(&n));
        }
        cat.apply_audited(
            &DefinitionChange {
                delete: vec![n],
                ..DefinitionChange::default()
            },
            &[entry],
        )?;
        Ok(())
    })
    .await?;
    reload(&st, std::slice::from_ref(&name)).await?;
    Ok((
        AuditNote::Done,
        Json(json!({ "table": name, "deleted": true })),
    ))
}

async fn set_enabled(st: AppState, name: String, enabled: bool) -> ApiResult<Json<Value>> {
    let cat = st.catalog.clone();
    let n = name.clone();
    blocking(move || {
        if cat.table(&n)?.is_none() {
            return Err(ApiError::no_table(&n));
        }
        cat.set_enabled(&n, enabled)?;
        Ok(())
    })
    .await?;
    reload(&st, std::slice::from_ref(&name)).await?;
    Ok(Json(json!({ "table": name, "enabled": enabled })))
}

pub async fn enable(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    set_enabled(st, name, true).await
}

pub async fn disable(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    set_enabled(st, name, false).await
}

/// `PUT /api/v1/tables/{name}/data`: CSV / JSONL / JSON, gzip or not, streamed to the
/// blob store's temp area; built and validated like a synced version; 422 with the report
/// when rejected (nothing changes), otherwise recorded (`source: "upload"`) and made live.
pub async fn upload(
    State(st): State<AppState>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let cat = st.catalog.clone();
    let n = name.clone();
    let rec = blocking(move || cat.table(&n)?.ok_or_else(|| ApiError::no_table(&n))).await?;
    if rec.source_kind != "file" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_uploadable",
            format!(
                "table {name:?} is synced from its {} source; only Filename tables take uploads",
                rec.source_kind
            ),
        )
        .with_details(json!({ "table": name, "source": rec.source_kind })));
    }
    let (spec, schema) =
        project::parse_definition(&rec.spec_yaml, &rec.schema_yaml, &spec_options(&st)).map_err(
            |d| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    "the stored definition is invalid",
                )
                .with_details(json!({ "diagnostics": d }))
            },
        )?;
    let blobs = blobs(&st)?;
    let max = st.config.max_upload_bytes;
    let (file, tmp) = definitions::temp_in(&blobs.tmp_dir(), "upload-").map_err(internal)?;
    let guard = TmpFile(Some(tmp.clone()));
    let mut file_async = tokio::fs::File::from_std(file.try_clone().map_err(internal)?);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the upload is larger than the limit of {max} bytes"),
            )
            .with_details(json!({ "limit": max })));
        }
        hasher.update(&chunk);
        file_async.write_all(&chunk).await.map_err(internal)?;
    }
    file_async.flush().await.map_err(internal)?;
    drop(file_async);
    let sha = hex::encode(hasher.finalize());
    let (spec, schema) = (Arc::new(spec), Arc::new(schema));
    let (sp, sc, path) = (spec.clone(), schema.clone(), tmp.clone());
    let built = building(move || {
        file.sync_all().map_err(internal)?;
        drop(file);
        let f = std::fs::File::open(&path).map_err(internal)?;
        let opts = BuildOptions {
            max_uncompressed_bytes: Limits::default().max_uncompressed_bytes,
        };
        Ok(table::build_with(
            &sp,
            &sc,
            std::io::BufReader::new(f),
            &opts,
        ))
    })
    .await?;
    let built = match built {
        Ok(b) => b,
        Err(r) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rejected",
                format!("the upload was rejected: {}", r.report.summary()),
            )
            .with_details(json!({ "table": name, "report": r.report })))
        }
    };
    let (cat, n, keep) = (st.catalog.clone(), name.clone(), st.config.keep_versions);
    let rows = built.table.len() as u64;
    let version = blocking(move || {
        blobs.put_file(&tmp, &sha).map_err(internal)?;
        let v = cat.add_version(
            &NewVersion {
                table: n.clone(),
                etag: None,
                size,
                sha256: sha,
                rows,
                source: "upload".into(),
                fetched_at: lut_store::now_millis(),
            },
            true,
        )?;
        // A pinned table records the upload without making it live.
        let live = cat.live_version(&n)?.map(|l| l.id) == Some(v.id);
        let _ = cat.prune_versions(&n, keep.max(1));
        Ok((v, live))
    })
    .await?;
    drop(guard);
    let (version, live) = version;
    if live && rec.enabled {
        st.registry.swap_table(LiveTable {
            spec,
            schema,
            table: Arc::new(built.table),
        });
    }
    let note = AuditNote::details(json!({
        "version": version.id,
        "rows": version.rows,
        "size": version.size,
        "sha256": version.sha256,
        "live": live,
    }));
    Ok((
        note,
        Json(json!({
            "table": name,
            "accepted": true,
            "live": live,
            "version": version,
            "report": built.report,
        })),
    ))
}

/// Removes a staged upload unless it was stored.
struct TmpFile(Option<PathBuf>);

impl Drop for TmpFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A file name for a schema export: the schema name with unsafe characters replaced.
pub fn schema_file_name(schema: &str) -> String {
    let safe: String = schema
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.schema.yml")
}

/// `GET /api/v1/tables/{name}/export`: the stored spec and schema YAML.
pub async fn export(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let cat = st.catalog.clone();
    let n = name.clone();
    let rec = blocking(move || cat.table(&n)?.ok_or_else(|| ApiError::no_table(&n))).await?;
    Ok(Json(json!({
        "table": rec.name,
        "spec_file": format!("{}.yml", rec.name),
        "spec_yaml": rec.spec_yaml,
        "schema": rec.schema_name,
        "schema_file": schema_file_name(&rec.schema_name),
        "schema_yaml": rec.schema_yaml,
    })))
}
