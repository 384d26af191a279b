//! [`SyncEngine`]: checks and start-up loading.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use lut_core::enrich::LiveTable;
use lut_core::project::parse_definition;
use lut_core::registry::Registry;
use lut_core::schema::Schema;
use lut_core::spec::{Source, SpecOptions, TableSpec};
use lut_core::table::{self, BuildOptions, BuildReport};
use lut_source::{Fetch, FetchRequest, Limits, Location, ObjectSource, SourceError, Stage};
use lut_store::datadir::now_millis;
use lut_store::{
    BlobStore, Catalog, CheckRecord, NewSystemError, NewVersion, StoreError, TableRecord,
    VersionRecord,
};
use tokio::sync::Mutex;

/// Settings of the engine (service-wide, never per table).
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub limits: Limits,
    pub spec: SpecOptions,
    /// Versions kept per table (§9, default 10); older ones and their blobs are deleted.
    pub keep_versions: usize,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            limits: Limits::default(),
            spec: SpecOptions::default(),
            keep_versions: 10,
        }
    }
}

/// Why a check failed, ready to show a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    pub code: Option<String>,
    pub cause: String,
    pub remedy: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.stage)?;
        if let Some(c) = &self.code {
            write!(f, " ({c})")?;
        }
        write!(f, ": {}", self.cause)
    }
}

impl From<SourceError> for Failure {
    fn from(e: SourceError) -> Self {
        Failure {
            stage: e.stage,
            code: e.code,
            cause: e.cause,
            remedy: e.remedy,
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone)]
pub enum CheckOutcome {
    /// The object still has the ETag of the version lut holds.
    Unchanged,
    /// A new version is live.
    Updated {
        version: VersionRecord,
        report: Box<BuildReport>,
    },
    /// A new version was recorded but the table is pinned to an older one.
    RecordedWhilePinned { version: VersionRecord },
    /// The check failed; the live version (if any) is untouched.
    Failed(Failure),
    /// Nothing to check: the table's data was applied from a file, or it is disabled.
    NotSynced(&'static str),
}

impl CheckOutcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, CheckOutcome::Failed(_))
    }
}

/// Typed telemetry: each event is logged here and counted by the service's metrics.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    TableLoaded {
        table: String,
        version: i64,
        rows: u64,
    },
    TableUnchanged {
        table: String,
    },
    TableSwapped {
        table: String,
        version: i64,
        rows: u64,
        skipped_rows: u64,
    },
    SyncFailed {
        table: String,
        failure: Failure,
    },
    /// Every recorded check, after its outcome's own event: `outcome` is the check
    /// history's (`unchanged`, `updated`, `recorded` or `failed`).
    CheckFinished {
        table: String,
        outcome: &'static str,
        duration: std::time::Duration,
    },
}

/// Why a blob did not become a table.
enum BuildFailure {
    Unreadable(String),
    Rejected(Box<table::Rejected>),
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildFailure::Unreadable(m) => f.write_str(m),
            BuildFailure::Rejected(r) => write!(f, "{r}"),
        }
    }
}

/// A live version that could not be loaded at start-up.
#[derive(Debug, Clone)]
pub struct LoadProblem {
    pub table: String,
    pub message: String,
}

/// Receives every [`SyncEvent`].
type Observer = Arc<dyn Fn(&SyncEvent) + Send + Sync>;

/// What a check is busy with, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Downloading,
    /// Parsing, validating and indexing (bytes of the stored object read so far).
    Building,
}

/// Told how a check advances: table, phase, bytes done, total bytes when known.
pub type ProgressFn = Arc<dyn Fn(&str, Phase, u64, Option<u64>) + Send + Sync>;

/// Checks tables and keeps the registry in step with the catalog.
pub struct SyncEngine {
    catalog: Arc<dyn Catalog>,
    blobs: BlobStore,
    registry: Arc<Registry>,
    local: Arc<dyn ObjectSource>,
    s3: Option<Arc<dyn ObjectSource>>,
    settings: SyncSettings,
    /// One check per table at a time; different tables proceed in parallel.
    locks: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
    observer: Option<Observer>,
    progress: Option<ProgressFn>,
}

/// Where the engine remembers the ETag of a version it rejected, so that an unchanged
/// broken object is neither downloaded again nor mistaken for a healthy one.
fn rejected_key(table: &str) -> String {
    format!("sync.rejected_etag.{table}")
}

/// Where the engine remembers which definition (its `updated_at`) the newest version was
/// built with: after `lut apply` changes a spec or schema, the object must be read again
/// even if it did not change, or the table would keep serving rows checked against the old
/// schema.
fn built_with_key(table: &str) -> String {
    format!("sync.built_with.{table}")
}

impl SyncEngine {
    pub fn new(
        catalog: Arc<dyn Catalog>,
        blobs: BlobStore,
        registry: Arc<Registry>,
        local: Arc<dyn ObjectSource>,
        s3: Option<Arc<dyn ObjectSource>>,
        settings: SyncSettings,
    ) -> Self {
        SyncEngine {
            catalog,
            blobs,
            registry,
            local,
            s3,
            settings,
            locks: std::sync::Mutex::new(HashMap::new()),
            observer: None,
            progress: None,
        }
    }

    /// Receives every [`SyncEvent`] (metrics, progress output).
    pub fn with_observer(mut self, f: impl Fn(&SyncEvent) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(f));
        self
    }

    /// Receives progress of downloads and builds (progress bars).
    pub fn with_progress(
        mut self,
        f: impl Fn(&str, Phase, u64, Option<u64>) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    pub fn spec_options(&self) -> &SpecOptions {
        &self.settings.spec
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    fn emit(&self, ev: SyncEvent) {
        match &ev {
            SyncEvent::TableLoaded {
                table,
                version,
                rows,
            } => {
                tracing::info!(table, version, rows, "loaded live version")
            }
            SyncEvent::TableUnchanged { table } => tracing::debug!(table, "unchanged"),
            SyncEvent::TableSwapped {
                table,
                version,
                rows,
                skipped_rows,
            } => {
                tracing::info!(table, version, rows, skipped_rows, "new version live")
            }
            SyncEvent::SyncFailed { table, failure } => {
                tracing::warn!(table, stage = %failure.stage, code = ?failure.code, cause = %failure.cause, "sync failed")
            }
            SyncEvent::CheckFinished {
                table,
                outcome,
                duration,
            } => tracing::debug!(table, outcome, ?duration, "check finished"),
        }
        if let Some(o) = &self.observer {
            o(&ev);
        }
    }

    /// Loads the live version of every enabled table from the data directory and
    /// publishes them together, before any network call. Tables that cannot be loaded are
    /// reported (and raised as system errors) but do not stop the others.
    pub async fn load_live(&self) -> Result<Vec<LoadProblem>, StoreError> {
        let mut live = Vec::new();
        let mut problems = Vec::new();
        for rec in self.catalog.tables()? {
            if !rec.enabled {
                continue;
            }
            let Some(version) = self.catalog.live_version(&rec.name)? else {
                continue;
            };
            match self.load_version(&rec, &version).await {
                Ok(t) => {
                    self.emit(SyncEvent::TableLoaded {
                        table: rec.name.clone(),
                        version: version.id,
                        rows: version.rows,
                    });
                    live.push(t);
                }
                Err(message) => {
                    self.catalog.raise_error(&NewSystemError {
                        table: Some(rec.name.clone()),
                        severity: "CRITICAL".into(),
                        stage: Stage::Parse.as_str().into(),
                        code: Some("LiveVersionUnreadable".into()),
                        message: format!(
                            "the live version could not be loaded at start-up: {message}"
                        ),
                        remedy: "run `lut sync` for this table to fetch a fresh version".into(),
                        at: now_millis(),
                    })?;
                    problems.push(LoadProblem {
                        table: rec.name.clone(),
                        message,
                    });
                }
            }
        }
        self.registry.publish(live);
        Ok(problems)
    }

    /// Makes the registry follow the catalog for one table after another process (the CLI)
    /// changed it: loads its live version and swaps it in, or removes the table when it is
    /// deleted, disabled or has no live version. Returns the version now loaded. A version
    /// that cannot be loaded is logged and leaves the registry as it was.
    pub async fn reload_table(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let lock = self.lock_for(name);
        let _held = lock.lock().await;
        let rec = match self.catalog.table(name)? {
            Some(r) if r.enabled => r,
            _ => {
                self.registry.remove_table(name);
                return Ok(None);
            }
        };
        let Some(version) = self.catalog.live_version(name)? else {
            self.registry.remove_table(name);
            return Ok(None);
        };
        match self.load_version(&rec, &version).await {
            Ok(t) => {
                self.registry.swap_table(t);
                self.emit(SyncEvent::TableLoaded {
                    table: rec.name.clone(),
                    version: version.id,
                    rows: version.rows,
                });
                Ok(Some(version.id))
            }
            Err(message) => {
                tracing::warn!(table = name, version = version.id, %message, "cannot load the live version");
                Ok(None)
            }
        }
    }

    async fn load_version(
        &self,
        rec: &TableRecord,
        v: &VersionRecord,
    ) -> Result<LiveTable, String> {
        let (spec, schema) = self.definition(rec).map_err(|f| f.cause)?;
        let path = self.blobs.path(&v.sha256).map_err(|e| e.to_string())?;
        let (spec, schema) = (Arc::new(spec), Arc::new(schema));
        let built = self
            .build_blob(spec.clone(), schema.clone(), path, None)
            .await
            .map_err(|e| e.to_string())?;
        Ok(LiveTable {
            spec,
            schema,
            table: Arc::new(built.table),
        })
    }

    fn definition(&self, rec: &TableRecord) -> Result<(TableSpec, Schema), Failure> {
        parse_definition(&rec.spec_yaml, &rec.schema_yaml, &self.settings.spec).map_err(|d| {
            Failure {
                stage: Stage::Validate,
                code: Some("InvalidDefinition".into()),
                cause: format!(
                    "the stored definition is invalid: {}",
                    d.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                remedy: "fix the spec and run `lut apply` again".into(),
            }
        })
    }

    /// Builds a table from a blob on a blocking thread, beside whatever is live.
    async fn build_blob(
        &self,
        spec: Arc<TableSpec>,
        schema: Arc<Schema>,
        path: PathBuf,
        progress: Option<ProgressFn>,
    ) -> Result<table::Built, BuildFailure> {
        let opts = BuildOptions {
            max_uncompressed_bytes: self.settings.limits.max_uncompressed_bytes,
        };
        // Low priority: a build must not take CPU from enrichment (see `lowprio`).
        let res = crate::lowprio::run(move || {
            let file = std::fs::File::open(&path).map_err(|e| {
                BuildFailure::Unreadable(format!("cannot open {}: {e}", path.display()))
            })?;
            let total = file.metadata().ok().map(|m| m.len());
            let reader = Counting {
                inner: file,
                done: 0,
                reported: 0,
                total,
                table: spec.name.clone(),
                progress,
            };
            table::build_with(&spec, &schema, std::io::BufReader::new(reader), &opts)
                .map_err(|r| BuildFailure::Rejected(Box::new(r)))
        })
        .await;
        res.unwrap_or_else(|e| {
            Err(BuildFailure::Unreadable(format!(
                "the build task failed: {e}"
            )))
        })
    }

    fn lock_for(&self, table: &str) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(table.to_string()).or_default().clone()
    }

    /// Checks one table now. Store errors (the catalog itself failing) are returned as
    /// `Err`; everything about the table's source and data is in the outcome.
    pub async fn check(&self, name: &str) -> Result<CheckOutcome, StoreError> {
        let lock = self.lock_for(name);
        let _guard = lock.lock().await;
        let started = Instant::now();
        let rec = self
            .catalog
            .table(name)?
            .ok_or_else(|| StoreError::NoSuchTable(name.to_string()))?;
        if !rec.enabled {
            return Ok(CheckOutcome::NotSynced("the table is disabled"));
        }
        let outcome = match self.definition(&rec) {
            Err(f) => CheckOutcome::Failed(f),
            Ok((spec, schema)) => self.check_source(&rec, spec, schema).await?,
        };
        self.record(name, &outcome, started)?;
        Ok(outcome)
    }

    async fn check_source(
        &self,
        rec: &TableRecord,
        spec: TableSpec,
        schema: Schema,
    ) -> Result<CheckOutcome, StoreError> {
        let (location, source) = match &spec.source {
            Source::File { .. } => {
                return Ok(CheckOutcome::NotSynced("its data is applied from a file"))
            }
            Source::Watch(w) => (Location::File(w.path.clone()), Some(self.local.clone())),
            Source::S3(s3) => (
                Location::S3 {
                    uri: s3.uri.clone(),
                    role_arn: s3.role_arn.clone(),
                    kms_key: s3.kms_key.clone(),
                },
                self.s3.clone(),
            ),
        };
        let Some(source) = source else {
            return Ok(CheckOutcome::Failed(Failure {
                stage: Stage::AssumeRole,
                code: Some("NoAwsAccess".into()),
                cause: "lut has no AWS access configured, so it cannot read S3 tables".into(),
                remedy: "give lut AWS credentials (environment, profile or instance role) and restart it".into(),
            }));
        };
        let built_with = self.catalog.setting(&built_with_key(&rec.name))?;
        let definition_changed = built_with.is_some_and(|b| b != rec.updated_at.to_string());
        let rejected = self
            .catalog
            .setting(&rejected_key(&rec.name))?
            .filter(|etag| !etag.is_empty() && !definition_changed);
        let latest = self.catalog.latest_version(&rec.name)?;
        let if_none_match = if definition_changed {
            None
        } else {
            rejected
                .clone()
                .or_else(|| latest.as_ref().and_then(|v| v.etag.clone()))
        };
        let progress = self.progress.clone().map(|f| {
            let table = rec.name.clone();
            lut_source::Progress::new(move |done, total| f(&table, Phase::Downloading, done, total))
        });
        let req = FetchRequest {
            table: rec.name.clone(),
            location,
            if_none_match,
            progress,
        };
        let downloaded = match source.fetch(&req).await {
            Err(e) => return Ok(CheckOutcome::Failed(e.into())),
            Ok(Fetch::NotModified) if rejected.is_some() => {
                return Ok(CheckOutcome::Failed(Failure {
                    stage: Stage::Validate,
                    code: Some("StillRejected".into()),
                    cause: "the object has not changed since its data was rejected".into(),
                    remedy:
                        "fix the data in the object; lut picks up the new version on the next check"
                            .into(),
                }))
            }
            Ok(Fetch::NotModified) => return Ok(CheckOutcome::Unchanged),
            Ok(Fetch::Modified(d)) => d,
        };
        let tmp = downloaded
            .path
            .keep()
            .map_err(|e| StoreError::Io(e.error))?;
        let blob = self.blobs.put_file(&tmp, &downloaded.sha256)?;
        let (spec, schema) = (Arc::new(spec), Arc::new(schema));
        let built = match self
            .build_blob(spec.clone(), schema.clone(), blob, self.progress.clone())
            .await
        {
            Ok(b) => b,
            Err(failure) => {
                if let Some(etag) = &downloaded.etag {
                    self.catalog.set_setting(&rejected_key(&rec.name), etag)?;
                }
                self.catalog
                    .set_setting(&built_with_key(&rec.name), &rec.updated_at.to_string())?;
                return Ok(CheckOutcome::Failed(rejected_failure(&failure)));
            }
        };
        let version = self.catalog.add_version(
            &NewVersion {
                table: rec.name.clone(),
                etag: downloaded.etag.clone(),
                size: downloaded.size,
                sha256: downloaded.sha256.clone(),
                rows: built.table.len() as u64,
                source: downloaded.source.clone(),
                fetched_at: now_millis(),
            },
            true,
        )?;
        self.catalog.set_setting(&rejected_key(&rec.name), "")?;
        self.catalog
            .set_setting(&built_with_key(&rec.name), &rec.updated_at.to_string())?;
        if !version.live {
            // A rolled-back table is pinned: newer objects are recorded, not served (§9).
            return Ok(CheckOutcome::RecordedWhilePinned { version });
        }
        self.registry.swap_table(LiveTable {
            spec,
            schema,
            table: Arc::new(built.table),
        });
        self.retain(&rec.name)?;
        Ok(CheckOutcome::Updated {
            version,
            report: Box::new(built.report),
        })
    }

    /// Keeps the newest versions (§9) and deletes blobs no version refers to any more.
    fn retain(&self, table: &str) -> Result<(), StoreError> {
        self.catalog
            .prune_versions(table, self.settings.keep_versions.max(1))?;
        self.blobs.gc(&self.catalog.referenced_blobs()?)?;
        Ok(())
    }

    /// Records the check, raises or resolves system errors, and emits the event.
    fn record(
        &self,
        name: &str,
        outcome: &CheckOutcome,
        started: Instant,
    ) -> Result<(), StoreError> {
        let at = now_millis();
        let elapsed = started.elapsed();
        let duration_ms = elapsed.as_millis() as i64;
        let mut check = CheckRecord {
            table: name.to_string(),
            at,
            outcome: String::new(),
            version_id: None,
            stage: None,
            code: None,
            message: None,
            duration_ms,
        };
        match outcome {
            CheckOutcome::NotSynced(_) => return Ok(()),
            CheckOutcome::Unchanged => {
                check.outcome = "unchanged".into();
                self.catalog.resolve_errors(name, at)?;
                self.emit(SyncEvent::TableUnchanged {
                    table: name.to_string(),
                });
            }
            CheckOutcome::RecordedWhilePinned { version } => {
                check.outcome = "recorded".into();
                check.version_id = Some(version.id);
                self.catalog.resolve_errors(name, at)?;
            }
            CheckOutcome::Updated { version, report } => {
                check.outcome = "updated".into();
                check.version_id = Some(version.id);
                self.catalog.resolve_errors(name, at)?;
                self.emit(SyncEvent::TableSwapped {
                    table: name.to_string(),
                    version: version.id,
                    rows: version.rows,
                    skipped_rows: report.rows_invalid,
                });
            }
            CheckOutcome::Failed(f) => {
                check.outcome = "failed".into();
                check.stage = Some(f.stage.as_str().into());
                check.code = f.code.clone();
                check.message = Some(f.cause.clone());
                self.catalog.raise_error(&NewSystemError {
                    table: Some(name.to_string()),
                    severity: "CRITICAL".into(),
                    stage: f.stage.as_str().into(),
                    code: f.code.clone(),
                    message: f.cause.clone(),
                    remedy: f.remedy.clone(),
                    at,
                })?;
                self.emit(SyncEvent::SyncFailed {
                    table: name.to_string(),
                    failure: f.clone(),
                });
            }
        }
        self.catalog.record_check(&check)?;
        self.emit(SyncEvent::CheckFinished {
            table: name.to_string(),
            outcome: match outcome {
                CheckOutcome::Unchanged => "unchanged",
                CheckOutcome::Updated { .. } => "updated",
                CheckOutcome::RecordedWhilePinned { .. } => "recorded",
                _ => "failed",
            },
            duration: elapsed,
        });
        Ok(())
    }
}

fn rejected_failure(f: &BuildFailure) -> Failure {
    let (stage, code, detail) = match f {
        BuildFailure::Unreadable(m) => (Stage::Download, "BlobUnreadable", m.clone()),
        BuildFailure::Rejected(r) if r.report.fatal.is_some() => {
            (Stage::Parse, "DataUnreadable", r.report.summary())
        }
        BuildFailure::Rejected(r) => {
            let first: Vec<String> = r
                .report
                .problems
                .iter()
                .take(3)
                .map(|p| p.to_string())
                .collect();
            (
                Stage::Validate,
                "RowsRejected",
                format!("{} ({})", r.report.summary(), first.join("; ")),
            )
        }
    };
    Failure {
        stage,
        code: Some(code.into()),
        cause: format!("the new data was rejected: {detail}; the previous version stays live"),
        remedy: "fix the data in the object (see the problems listed), or set maxInvalidRows if some bad rows are acceptable".into(),
    }
}

/// Reports how much of a blob a build has read, about every megabyte.
struct Counting {
    inner: std::fs::File,
    done: u64,
    reported: u64,
    total: Option<u64>,
    table: String,
    progress: Option<ProgressFn>,
}

impl std::io::Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if let Some(p) = &self.progress {
            if self.done - self.reported >= 1 << 20 || n == 0 {
                self.reported = self.done;
                p(&self.table, Phase::Building, self.done, self.total);
            }
        }
        Ok(n)
    }
}

impl SyncEngine {
    /// An engine over a data directory: the local source plus, when `s3` is given, the S3
    /// source. The S3 source loads lut's AWS configuration at its first fetch, so local-only
    /// use never touches the credential chain and an S3 table applied later needs no
    /// restart; a set-up failure fails the S3 tables' checks with its cause.
    pub fn for_data_dir(
        dd: &lut_store::DataDir,
        registry: Arc<Registry>,
        s3: Option<Arc<lut_source::s3::LazyS3>>,
        settings: SyncSettings,
    ) -> SyncEngine {
        let local: Arc<dyn ObjectSource> = Arc::new(lut_source::local::LocalSource::new(
            dd.blobs().tmp_dir(),
            settings.limits,
        ));
        let s3: Option<Arc<dyn ObjectSource>> = s3.map(|s| s as Arc<dyn ObjectSource>);
        SyncEngine::new(
            dd.catalog(),
            dd.blobs().clone(),
            registry,
            local,
            s3,
            settings,
        )
    }
}
