//! The sync engine and scheduler end to end on a real data directory, with watched local
//! files as the source (S3 is covered against moto in s3 tests).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lut_core::enrich::{Enricher, Outcome};
use lut_core::registry::Registry;
use lut_service::sync::{CheckOutcome, Scheduler, SchedulerSettings, SyncEngine, SyncSettings};
use lut_source::local::LocalSource;
use lut_source::{Limits, Stage};
use lut_store::{Catalog, DataDir, DefinitionChange, ErrorFilter, TableRecord};

const SCHEMA: &str = "schema: Custom.Accounts\nparser:\n  csv:\n    hasHeader: true\nfields:\n  - {name: id, type: string, required: true}\n  - {name: owner, type: string}\n  - {name: n, type: int}\n";

fn spec(path: &Path) -> String {
    format!(
        "AnalysisType: lookup_table\nLookupName: accounts\nEnabled: true\nSchema: Custom.Accounts\nRefresh:\n  ObjectPath: file://{}\n  PeriodMinutes: 1\nLogTypeMap:\n  PrimaryKey: id\n  AssociatedLogTypes:\n    - LogType: AWS.CloudTrail\n      Selectors: [recipientAccountId]\n",
        path.display()
    )
}

struct World {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    datadir: DataDir,
    registry: Arc<Registry>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("accounts.csv");
        let datadir = DataDir::open(&dir.path().join("lut-data")).unwrap();
        let w = World {
            data,
            datadir,
            registry: Arc::new(Registry::default()),
            _dir: dir,
        };
        w.apply();
        w
    }

    fn apply(&self) {
        let now = lut_store::datadir::now_millis();
        self.datadir
            .catalog()
            .apply(&DefinitionChange {
                upsert: vec![TableRecord {
                    name: "accounts".into(),
                    enabled: true,
                    spec_yaml: spec(&self.data),
                    schema_name: "Custom.Accounts".into(),
                    schema_yaml: SCHEMA.into(),
                    source_kind: "watch".into(),
                    created_at: now,
                    updated_at: now,
                }],
                ..DefinitionChange::default()
            })
            .unwrap();
    }

    fn engine(&self, limits: Limits) -> SyncEngine {
        let local = LocalSource::new(self.datadir.blobs().tmp_dir(), limits);
        SyncEngine::new(
            self.datadir.catalog(),
            self.datadir.blobs().clone(),
            self.registry.clone(),
            Arc::new(local),
            None,
            SyncSettings {
                limits,
                ..SyncSettings::default()
            },
        )
    }

    fn write(&self, csv: &str) {
        std::fs::write(&self.data, csv).unwrap();
        // Local ETags come from mtime and size; make each write distinct.
        let t = std::time::SystemTime::now() + Duration::from_secs(fastrand_secs());
        let f = std::fs::File::options()
            .write(true)
            .open(&self.data)
            .unwrap();
        f.set_modified(t).unwrap();
    }

    /// The owner enrichment gives account `id`, if any.
    fn owner(&self, id: &str) -> Option<String> {
        let snap = self.registry.load();
        let mut e = Enricher::new();
        let mut out = Vec::new();
        let line = format!(r#"{{"p_log_type":"AWS.CloudTrail","recipientAccountId":"{id}"}}"#);
        if e.enrich_line(&snap, line.as_bytes(), None, 0, &mut out) != Outcome::Enriched {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        v["p_enrichment"]["accounts"]["recipientAccountId"]["owner"]
            .as_str()
            .map(str::to_string)
    }
}

fn fastrand_secs() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn new_unchanged_changed_rejected_and_recovered() {
    let w = World::new();
    let engine = w.engine(Limits::default());
    w.write("id,owner,n\n111,alice,1\n222,bob,2\n");

    let CheckOutcome::Updated { version, .. } = engine.check("accounts").await.unwrap() else {
        panic!("first check must load the data")
    };
    assert_eq!(version.rows, 2);
    assert_eq!(w.owner("111").as_deref(), Some("alice"));

    assert!(matches!(
        engine.check("accounts").await.unwrap(),
        CheckOutcome::Unchanged
    ));

    w.write("id,owner,n\n111,carol,1\n");
    let CheckOutcome::Updated { version: v2, .. } = engine.check("accounts").await.unwrap() else {
        panic!()
    };
    assert!(v2.id > version.id);
    assert_eq!(w.owner("111").as_deref(), Some("carol"));
    assert_eq!(w.owner("222"), None);

    // Broken data: rejected, the live version keeps serving, a system error is raised.
    w.write("id,owner,n\n111,dave,notanumber\n");
    let CheckOutcome::Failed(f) = engine.check("accounts").await.unwrap() else {
        panic!()
    };
    assert_eq!(f.stage, Stage::Validate);
    assert!(f.cause.contains("row 1"), "{f}");
    assert_eq!(w.owner("111").as_deref(), Some("carol"));
    let catalog = w.datadir.catalog();
    assert_eq!(catalog.live_version("accounts").unwrap().unwrap().id, v2.id);
    let errors = catalog.errors(&ErrorFilter::default()).unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].severity.as_str(), errors[0].stage.as_str()),
        ("CRITICAL", "validate")
    );

    // The same broken object again: not downloaded again, still an error (one record).
    let CheckOutcome::Failed(f) = engine.check("accounts").await.unwrap() else {
        panic!()
    };
    assert_eq!(f.code.as_deref(), Some("StillRejected"));
    let errors = catalog.errors(&ErrorFilter::default()).unwrap();
    assert_eq!(
        errors.len(),
        2,
        "a different code is a different error: {errors:?}"
    );

    // Fixed: new version live, errors resolved.
    w.write("id,owner,n\n111,erin,1\n");
    assert!(matches!(
        engine.check("accounts").await.unwrap(),
        CheckOutcome::Updated { .. }
    ));
    assert_eq!(w.owner("111").as_deref(), Some("erin"));
    assert!(catalog.errors(&ErrorFilter::default()).unwrap().is_empty());
    let history = catalog.checks("accounts", 10).unwrap();
    let outcomes: Vec<&str> = history.iter().map(|c| c.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "updated",
            "failed",
            "failed",
            "updated",
            "unchanged",
            "updated"
        ]
    );
}

#[tokio::test]
async fn restart_serves_the_last_good_version_before_any_fetch() {
    let w = World::new();
    w.write("id,owner,n\n111,alice,1\n");
    assert!(matches!(
        w.engine(Limits::default()).check("accounts").await.unwrap(),
        CheckOutcome::Updated { .. }
    ));
    // The source disappears; a new process starts on the same data directory.
    std::fs::remove_file(&w.data).unwrap();
    let registry = Arc::new(Registry::default());
    let datadir = DataDir::open(w.datadir.root()).unwrap();
    let local = LocalSource::new(datadir.blobs().tmp_dir(), Limits::default());
    let engine = SyncEngine::new(
        datadir.catalog(),
        datadir.blobs().clone(),
        registry.clone(),
        Arc::new(local),
        None,
        SyncSettings::default(),
    );
    let problems = engine.load_live().await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(registry.load().tables().len(), 1);
    let CheckOutcome::Failed(f) = engine.check("accounts").await.unwrap() else {
        panic!()
    };
    assert_eq!(f.stage, Stage::GetObject);
    assert_eq!(
        registry.load().tables().len(),
        1,
        "a failed check keeps the loaded version"
    );
}

#[tokio::test]
async fn limits_apply_to_downloads_and_decompressed_data() {
    let w = World::new();
    w.write(&format!(
        "id,owner,n\n{}",
        (0..1000)
            .map(|i| format!("{i},o,{i}\n"))
            .collect::<String>()
    ));
    let tiny = Limits {
        max_object_bytes: 100,
        max_uncompressed_bytes: 1 << 30,
    };
    let CheckOutcome::Failed(f) = w.engine(tiny).check("accounts").await.unwrap() else {
        panic!()
    };
    assert_eq!(f.stage, Stage::Download);
    let tiny = Limits {
        max_object_bytes: 1 << 30,
        max_uncompressed_bytes: 100,
    };
    let CheckOutcome::Failed(f) = w.engine(tiny).check("accounts").await.unwrap() else {
        panic!()
    };
    assert_eq!(f.stage, Stage::Parse, "{f}");
    assert!(f.cause.contains("limit"), "{f}");
}

#[tokio::test]
async fn scheduler_checks_new_tables_and_answers_sync_now() {
    let w = World::new();
    w.write("id,owner,n\n111,alice,1\n");
    let engine = Arc::new(w.engine(Limits::default()));
    let (scheduler, handle) = Scheduler::new(
        engine.clone(),
        SchedulerSettings {
            rescan_every: Duration::from_millis(50),
            ..SchedulerSettings::default()
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(scheduler.run(async {
        let _ = stop_rx.await;
    }));
    // A new table is checked soon after it appears (within the 2 s first-check jitter).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while w.owner("111").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scheduler never loaded the table"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.write("id,owner,n\n111,bob,1\n");
    let outcome = handle.sync_now("accounts").await.unwrap();
    assert!(
        matches!(outcome, CheckOutcome::Updated { .. }),
        "{outcome:?}"
    );
    assert_eq!(w.owner("111").as_deref(), Some("bob"));
    assert!(handle.sync_now("nope").await.is_err());
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap();
    assert!(
        handle.sync_now("accounts").await.is_err(),
        "a stopped scheduler says so"
    );
}

#[tokio::test]
async fn a_changed_definition_rereads_an_unchanged_object() {
    let w = World::new();
    let engine = w.engine(Limits::default());
    // Rows that the first schema rejects (n is not an int) ...
    w.write("id,owner,n\n111,alice,x\n");
    assert!(matches!(
        engine.check("accounts").await.unwrap(),
        CheckOutcome::Failed(_)
    ));
    // ... and that a corrected schema accepts, without the object changing.
    std::thread::sleep(Duration::from_millis(5));
    let now = lut_store::datadir::now_millis();
    let catalog = w.datadir.catalog();
    let mut rec = catalog.table("accounts").unwrap().unwrap();
    rec.schema_yaml = SCHEMA.replace("{name: n, type: int}", "{name: n, type: string}");
    rec.updated_at = now;
    catalog
        .apply(&DefinitionChange {
            upsert: vec![rec],
            ..DefinitionChange::default()
        })
        .unwrap();
    let outcome = engine.check("accounts").await.unwrap();
    assert!(
        matches!(outcome, CheckOutcome::Updated { .. }),
        "{outcome:?}"
    );
    assert_eq!(w.owner("111").as_deref(), Some("alice"));
    assert!(matches!(
        engine.check("accounts").await.unwrap(),
        CheckOutcome::Unchanged
    ));
}

#[tokio::test]
async fn corrupt_gzip_is_a_parse_failure_and_keeps_the_live_version() {
    let w = World::new();
    let engine = w.engine(Limits::default());
    w.write("id,owner,n\n111,alice,1\n");
    assert!(matches!(
        engine.check("accounts").await.unwrap(),
        CheckOutcome::Updated { .. }
    ));
    let mut broken = vec![0x1f, 0x8b, 0x08, 0x00];
    broken.extend_from_slice(b"definitely not deflate data");
    std::fs::write(&w.data, &broken).unwrap();
    let f = std::fs::File::options().write(true).open(&w.data).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    let CheckOutcome::Failed(f) = engine.check("accounts").await.unwrap() else {
        panic!()
    };
    assert_eq!(
        (f.stage, f.code.as_deref()),
        (Stage::Parse, Some("DataUnreadable")),
        "{f}"
    );
    assert!(f.cause.contains("gzip"), "{f}");
    assert_eq!(w.owner("111").as_deref(), Some("alice"));
}
