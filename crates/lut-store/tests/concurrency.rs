//! Two catalogs on one file at once, as a CLI and a server share a data directory: in two
//! threads of this process, and in two processes (this test binary re-run as a child).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;

use common::{check_record, error, table, version};
use lut_store::{Catalog, DefinitionChange, ErrorFilter, SqliteCatalog};

const WRITES: u64 = 500;
const CHILD_ENV: &str = "LUT_STORE_TEST_CHILD_DB";

/// One writer's work: `WRITES` writes of every kind, on its own table plus shared rows.
fn writer(cat: &dyn Catalog, who: &str) {
    for i in 0..WRITES {
        match i % 4 {
            0 => {
                cat.add_version(&version(who, i), true)
                    .expect("add_version");
            }
            1 => cat
                .record_check(&check_record(who, i as i64))
                .expect("record_check"),
            2 => cat
                .set_setting(&format!("{who}-{i}"), &i.to_string())
                .expect("set_setting"),
            _ => {
                // The same key from both writers: one record whose count is the sum.
                cat.raise_error(&error(None, "shared", Some("X"), i as i64))
                    .expect("raise_error");
            }
        }
    }
}

fn prepare(path: &Path) {
    let cat = SqliteCatalog::open(path).expect("open");
    cat.apply(&DefinitionChange {
        upsert: vec![table("a", 1), table("b", 1)],
        ..Default::default()
    })
    .expect("apply");
}

fn verify(path: &Path) {
    let cat = SqliteCatalog::open(path).expect("open");
    for who in ["a", "b"] {
        let per_kind = WRITES / 4;
        assert_eq!(cat.versions(who).expect("versions").len() as u64, per_kind);
        assert_eq!(
            cat.checks(who, 10_000).expect("checks").len() as u64,
            per_kind
        );
        for i in (2..WRITES).step_by(4) {
            assert_eq!(
                cat.setting(&format!("{who}-{i}")).expect("setting"),
                Some(i.to_string())
            );
        }
        let live = cat.live_version(who).expect("live").expect("live");
        assert_eq!(
            live.id,
            cat.latest_version(who).expect("latest").expect("latest").id
        );
    }
    let errors = cat
        .errors(&ErrorFilter {
            table: None,
            all: true,
        })
        .expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].count as u64, 2 * WRITES / 4);
}

#[test]
fn two_catalogs_two_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.sqlite");
    prepare(&path);
    let start = Arc::new(Barrier::new(3));
    let handles: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|who| {
            let path = path.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                let cat = SqliteCatalog::open(&path).expect("open");
                start.wait();
                writer(&cat, who);
            })
        })
        .collect();
    // A reader alongside, as `lut tables list` beside a syncing server.
    let reader = SqliteCatalog::open(&path).expect("open reader");
    start.wait();
    for _ in 0..200 {
        reader.tables().expect("read while writing");
        reader.versions("a").expect("read while writing");
    }
    for h in handles {
        h.join().expect("writer thread");
    }
    verify(&path);
}

#[test]
fn two_processes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.sqlite");
    prepare(&path);
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        // Its harness summary would read like a second test run; failures go to stderr.
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child");
    let cat = SqliteCatalog::open(&path).expect("open");
    writer(&cat, "a");
    let status = child.wait().expect("child");
    assert!(status.success(), "child writer failed: {status}");
    verify(&path);
}

/// The other process of `two_processes`; does nothing when run as a normal test.
#[test]
fn child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let cat = SqliteCatalog::open(Path::new(&path)).expect("open in child");
    writer(&cat, "b");
}
