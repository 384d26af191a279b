//! lut-store: durable state in a data directory, embedded (no server).
//!
//! - [`Catalog`]: table definitions, versions, sync history, system errors and settings,
//!   behind a trait so a PostgreSQL catalog can follow; [`sqlite::SqliteCatalog`] is the
//!   embedded implementation (WAL mode, so a CLI and a running server can share it).
//! - [`blobs::BlobStore`]: version data stored content-addressed by sha256; a blob is
//!   written to a temp file, fsynced and renamed before the catalog transaction that makes
//!   it live, so a crash never leaves a live version without its data.
//! - [`DataDir`]: the directory layout tying the two together.
//! - [`audit`]: the append-only log of who changed what.
//! - [`schemas`]: schemas stored by name, apart from the tables using them.

pub mod audit;
pub mod blobs;
pub mod datadir;
pub mod migrations;
pub mod schemas;
pub mod secrets;
pub mod sqlite;
pub mod tokens;

use serde::Serialize;

pub use audit::{Actor, AuditFilter, AuditRecord, NewAuditEntry};
pub use blobs::BlobStore;
pub use datadir::{now_millis, DataDir};
pub use migrations::SCHEMA_VERSION;
pub use schemas::SchemaRecord;
pub use secrets::SecretKey;
pub use sqlite::SqliteCatalog;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("catalog error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("data directory error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the catalog was written by a newer lut (schema version {found}, this lut knows up to {known})")]
    TooNew { found: i64, known: i64 },
    #[error("no table named {0:?}")]
    NoSuchTable(String),
    #[error("{0}")]
    Conflict(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A table definition as stored: the PAT spec and its schema as YAML text (the source of
/// truth, re-parsed by lut-core on load, and exportable unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRecord {
    pub name: String,
    pub enabled: bool,
    pub spec_yaml: String,
    pub schema_name: String,
    pub schema_yaml: String,
    /// `file`, `s3` or `upload`.
    pub source_kind: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A version to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    pub table: String,
    pub etag: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub rows: u64,
    /// `s3://...`, `file://...` or `upload`.
    pub source: String,
    pub fetched_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRecord {
    pub id: i64,
    pub table: String,
    pub etag: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub rows: u64,
    pub source: String,
    pub fetched_at: Millis,
    pub live: bool,
}

/// What `/metrics` reports about one table, read for every table in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStatus {
    pub name: String,
    pub enabled: bool,
    /// The live version's id and rows.
    pub live: Option<(i64, u64)>,
    /// When the newest version (live or not) was fetched: the last time new data arrived.
    pub newest_data_at: Option<Millis>,
    /// The last check that did not fail (within the kept check history).
    pub last_success_at: Option<Millis>,
}

/// The outcome of one check of a table's source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRecord {
    pub table: String,
    pub at: Millis,
    /// `unchanged`, `updated` or `failed`.
    pub outcome: String,
    pub version_id: Option<i64>,
    pub stage: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub duration_ms: i64,
}

/// A system error to raise; repeats of an open error with the same (table, stage, code)
/// update that record instead of adding one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSystemError {
    pub table: Option<String>,
    /// `CRITICAL`, `HIGH`, `MEDIUM`, `LOW`, `INFO`.
    pub severity: String,
    pub stage: String,
    pub code: Option<String>,
    pub message: String,
    pub remedy: String,
    pub at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemErrorRecord {
    pub id: i64,
    pub table: Option<String>,
    pub severity: String,
    pub stage: String,
    pub code: Option<String>,
    pub message: String,
    pub remedy: String,
    pub first_seen: Millis,
    pub last_seen: Millis,
    pub count: i64,
    pub resolved_at: Option<Millis>,
    pub acknowledged_at: Option<Millis>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFilter {
    pub table: Option<String>,
    /// Include resolved errors.
    pub all: bool,
}

/// The persisted state of one alarm of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmRecord {
    pub table: String,
    /// `no_data` or `failing`.
    pub kind: String,
    /// `OK` or `ALARM`.
    pub state: String,
    /// When the alarm entered `state`.
    pub since: Millis,
    /// When the last notification (transition or reminder) was sent.
    pub last_notified_at: Option<Millis>,
    /// Reminders sent during the current ALARM.
    pub reminders: i64,
}

/// An alert destination to add. `config` is JSON whose secret values the caller has
/// already sealed with a [`SecretKey`]; the catalog never sees a plaintext secret.
#[derive(Clone, PartialEq, Eq)]
pub struct NewDestination {
    pub name: String,
    /// `webhook`, `slack`, `pagerduty`, `teams` or `sns`.
    pub kind: String,
    pub config: String,
    /// Lowest severity delivered (`CRITICAL` > `HIGH` > `MEDIUM` > `LOW` > `INFO`).
    pub min_severity: String,
    pub table_filter: Option<String>,
    pub enabled: bool,
    pub created_at: Millis,
}

#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct DestinationRecord {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// Sealed config JSON (see [`NewDestination::config`]).
    pub config: String,
    pub min_severity: String,
    pub table_filter: Option<String>,
    pub enabled: bool,
    pub created_at: Millis,
}

// The config holds sealed secrets only, but even those stay out of logs.
impl std::fmt::Debug for NewDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDestination")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("config", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DestinationRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestinationRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("config", &"<redacted>")
            .field("min_severity", &self.min_severity)
            .field("table_filter", &self.table_filter)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// One delivery attempt to a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    pub destination: String,
    /// What was delivered, e.g. `alarm.no_data.ALARM:t1`, `error:12`, `test`.
    pub event: String,
    pub at: Millis,
    pub ok: bool,
    /// HTTP status, when there was a response.
    pub status: Option<i64>,
    pub error: Option<String>,
    /// 1 for the first attempt.
    pub attempt: i64,
}

/// One all-or-nothing change of definitions (`lut apply`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefinitionChange {
    pub upsert: Vec<TableRecord>,
    pub delete: Vec<String>,
    /// Versions of file-backed tables to record and make live in the same transaction;
    /// their blobs must already be in the blob store.
    pub versions: Vec<NewVersion>,
}

/// The catalog of tables, versions, checks, errors and settings.
pub trait Catalog: Send + Sync {
    /// Applies definitions (and initial versions) in one transaction.
    fn apply(&self, change: &DefinitionChange) -> Result<()> {
        self.apply_audited(change, &[])
    }
    /// [`Catalog::apply`] appending `audit` entries in the same transaction: the change
    /// and its record are committed together or not at all.
    fn apply_audited(&self, change: &DefinitionChange, audit: &[NewAuditEntry]) -> Result<()>;
    /// Stores `schema` (insert or replace by name) and applies `change` (the tables
    /// re-applied with it) and `audit` in one transaction. `users` are the tables using
    /// the schema, with the `updated_at` they had when they were validated against it: if
    /// that set changed since (a table defined, changed or deleted meanwhile), nothing is
    /// written and the answer is [`StoreError::Conflict`], so no concurrent definition
    /// change is overwritten with a stale copy or left unvalidated.
    fn put_schema_audited(
        &self,
        schema: &SchemaRecord,
        users: &[(String, Millis)],
        change: &DefinitionChange,
        audit: &[NewAuditEntry],
    ) -> Result<()>;
    fn schema(&self, name: &str) -> Result<Option<SchemaRecord>>;
    /// Every stored schema, by name.
    fn schemas(&self) -> Result<Vec<SchemaRecord>>;
    /// Deletes a stored schema (with `audit`, when it existed); whether it existed.
    /// `Conflict` while a table's `schema_name` names it.
    fn delete_schema_audited(&self, name: &str, audit: &[NewAuditEntry]) -> Result<bool>;
    fn tables(&self) -> Result<Vec<TableRecord>>;
    fn table(&self, name: &str) -> Result<Option<TableRecord>>;
    fn set_enabled(&self, name: &str, enabled: bool) -> Result<()>;

    /// Records a version; with `make_live` it becomes the table's live version in the same
    /// transaction.
    fn add_version(&self, v: &NewVersion, make_live: bool) -> Result<VersionRecord>;
    fn versions(&self, table: &str) -> Result<Vec<VersionRecord>>;
    fn live_version(&self, table: &str) -> Result<Option<VersionRecord>>;
    /// The newest version recorded (live or not): its ETag is what the next conditional
    /// GET sends.
    fn latest_version(&self, table: &str) -> Result<Option<VersionRecord>>;
    /// Every sha256 any version refers to (blobs not listed may be deleted).
    fn referenced_blobs(&self) -> Result<Vec<String>>;

    /// Makes an existing version of `table` live (rollback, SPEC §9); with `pin` the table
    /// is pinned so later syncs record newer versions without making them live, without it
    /// the table is unpinned. Fails with `Conflict` if the version is not the table's.
    fn set_live(&self, table: &str, version_id: i64, pin: bool) -> Result<VersionRecord>;
    /// Pins or unpins a table without changing its live version.
    fn set_pinned(&self, table: &str, pinned: bool) -> Result<()>;
    /// Whether a table is pinned. While it is, `add_version(v, true)` records `v` but
    /// leaves the live version alone (the returned record's `live` is false); `apply`
    /// versions are made live and unpin.
    fn is_pinned(&self, table: &str) -> Result<bool>;
    /// Retention: deletes all but the newest `keep` versions of `table`, never the live
    /// one; returns how many were deleted. Their blobs become garbage for `BlobStore::gc`.
    fn prune_versions(&self, table: &str, keep: usize) -> Result<usize>;

    fn record_check(&self, c: &CheckRecord) -> Result<()>;
    fn checks(&self, table: &str, limit: usize) -> Result<Vec<CheckRecord>>;
    /// Every table's live version, newest data and last successful check, by name.
    fn table_status(&self) -> Result<Vec<TableStatus>>;

    fn raise_error(&self, e: &NewSystemError) -> Result<SystemErrorRecord>;
    /// Resolves the open errors of a table (a later check succeeded); returns how many.
    fn resolve_errors(&self, table: &str, at: Millis) -> Result<usize>;
    fn acknowledge_error(&self, id: i64, at: Millis) -> Result<bool>;
    fn errors(&self, filter: &ErrorFilter) -> Result<Vec<SystemErrorRecord>>;

    /// Every alarm's state, by table then kind.
    fn alarms(&self) -> Result<Vec<AlarmRecord>>;
    /// Stores an alarm's state (insert or replace by (table, kind)).
    fn put_alarm(&self, a: &AlarmRecord) -> Result<()>;

    /// Adds a destination; fails with `Conflict` if the name is taken.
    fn add_destination(&self, d: &NewDestination) -> Result<DestinationRecord>;
    fn destinations(&self) -> Result<Vec<DestinationRecord>>;
    /// Removes a destination by name; whether it existed.
    fn remove_destination(&self, name: &str) -> Result<bool>;
    fn log_delivery(&self, d: &DeliveryRecord) -> Result<()>;
    /// The newest deliveries first, of one destination or all.
    fn deliveries(&self, destination: Option<&str>, limit: usize) -> Result<Vec<DeliveryRecord>>;

    /// Open CRITICAL errors not yet notified.
    fn errors_to_notify(&self) -> Result<Vec<SystemErrorRecord>>;
    /// Errors notified when raised, resolved since, and whose resolution is not notified.
    fn resolutions_to_notify(&self) -> Result<Vec<SystemErrorRecord>>;
    /// Marks an error's raise (`resolved` false) or resolution as notified.
    fn mark_error_notified(&self, id: i64, resolved: bool, at: Millis) -> Result<()>;
    /// Resolves the open errors of one (table, stage, code), e.g. a destination's own
    /// delivery error once it delivers again; returns how many.
    fn resolve_error_key(
        &self,
        table: Option<&str>,
        stage: &str,
        code: Option<&str>,
        at: Millis,
    ) -> Result<usize>;

    /// Stores an API token's hash ([`tokens`]).
    fn add_token(&self, t: &tokens::NewToken) -> Result<tokens::TokenRecord>;
    /// Every token, revoked and expired ones included, oldest first.
    fn tokens(&self) -> Result<Vec<tokens::TokenRecord>>;
    /// Revokes a token; whether it exists.
    fn revoke_token(&self, id: i64, at: Millis) -> Result<bool>;

    /// Appends an entry to the audit log ([`audit`]); returns its id.
    fn append_audit(&self, entry: &NewAuditEntry) -> Result<i64>;
    /// Audit entries, newest first.
    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;

    fn setting(&self, key: &str) -> Result<Option<String>>;
    fn set_setting(&self, key: &str, value: &str) -> Result<()>;
    /// Stores `value` under `key` unless a value is already there, and returns the stored
    /// value: two processes generating an ExternalId at first start agree on one.
    fn setting_or_init(&self, key: &str, value: &str) -> Result<String>;
}
