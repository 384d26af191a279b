//! The blob store: layout, idempotent puts, crash leftovers, garbage collection and digest
//! validation; and the data directory tying blobs to the catalog.

mod common;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use lut_store::blobs::{sha256_hex, validate_sha256};
use lut_store::{BlobStore, Catalog, DataDir, DefinitionChange, NewVersion, StoreError};

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::open(&dir.path().join("blobs")).expect("open");
    (dir, store)
}

fn write_tmp(store: &BlobStore, name: &str, data: &[u8]) -> std::path::PathBuf {
    let path = store.tmp_dir().join(name);
    File::create(&path)
        .and_then(|mut f| f.write_all(data))
        .expect("write temp");
    path
}

fn age(path: &Path, by: Duration) {
    File::open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - by))
        .expect("set mtime");
}

fn read(store: &BlobStore, sha: &str) -> Vec<u8> {
    let mut out = Vec::new();
    store
        .open_blob(sha)
        .expect("open blob")
        .read_to_end(&mut out)
        .expect("read");
    out
}

#[test]
fn put_file_moves_a_download_into_place() {
    let (_d, store) = store();
    let data = b"ip,owner\n10.0.0.1,alice\n";
    let sha = sha256_hex(data);
    let tmp = write_tmp(&store, "download-1", data);
    assert!(!store.exists(&sha).expect("exists"));
    let path = store.put_file(&tmp, &sha).expect("put");
    assert!(!tmp.exists(), "temp file moved, not copied");
    assert_eq!(path, store.path(&sha).expect("path"));
    assert!(path.starts_with(store.root().join("sha256").join(&sha[..2])));
    assert!(store.exists(&sha).expect("exists"));
    assert_eq!(read(&store, &sha), data);
}

#[test]
fn putting_existing_content_is_idempotent() {
    let (_d, store) = store();
    let data = b"same bytes";
    let (sha, first) = store.put_bytes(data).expect("put bytes");
    let tmp = write_tmp(&store, "download-2", data);
    let second = store.put_file(&tmp, &sha).expect("put again");
    assert_eq!(first, second);
    assert!(!tmp.exists(), "the redundant temp file is removed");
    let (sha2, third) = store.put_bytes(data).expect("put bytes again");
    assert_eq!(
        (sha2.as_str(), third.as_path()),
        (sha.as_str(), first.as_path())
    );
    assert_eq!(read(&store, &sha), data);
    // Nothing left behind in tmp/.
    assert_eq!(fs::read_dir(store.tmp_dir()).expect("ls").count(), 0);
}

#[test]
fn crash_leftovers_are_cleaned_but_fresh_work_is_spared() {
    let (_d, store) = store();
    // A download killed mid-way (old) and one another process is writing now (fresh).
    let orphan = write_tmp(&store, "download-orphan", b"half a fi");
    age(&orphan, Duration::from_secs(2 * 3600));
    let orphan_dir = store.tmp_dir().join("unpacked-orphan");
    fs::create_dir(&orphan_dir).expect("mkdir");
    fs::write(orphan_dir.join("x"), b"x").expect("write");
    age(&orphan_dir, Duration::from_secs(2 * 3600));
    let active = write_tmp(&store, "download-active", b"in progress");

    assert_eq!(store.clean_tmp().expect("clean"), 2);
    assert!(!orphan.exists());
    assert!(!orphan_dir.exists());
    assert!(
        active.exists(),
        "another process's download in progress is kept"
    );
    assert_eq!(
        store
            .clean_tmp_older_than(Duration::ZERO)
            .expect("clean all"),
        1
    );
    assert!(!active.exists());
    assert_eq!(store.clean_tmp().expect("clean empty"), 0);
}

#[test]
fn data_dir_open_cleans_orphans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("lut-data");
    let orphan = {
        let dd = DataDir::open(&root).expect("open");
        write_tmp(dd.blobs(), "download-orphan", b"partial")
    };
    age(&orphan, Duration::from_secs(2 * 3600));
    let _dd = DataDir::open(&root).expect("restart");
    assert!(!orphan.exists(), "start-up removes a crashed download");
}

#[test]
fn gc_deletes_only_unreferenced_old_blobs() {
    let (_d, store) = store();
    let (keep, keep_path) = store.put_bytes(b"keep").expect("put");
    let (drop_old, drop_path) = store.put_bytes(b"drop").expect("put");
    let (fresh, fresh_path) = store.put_bytes(b"fresh").expect("put");
    age(&keep_path, Duration::from_secs(2 * 3600));
    age(&drop_path, Duration::from_secs(2 * 3600));
    // Not a blob name: never touched by gc.
    let stray = keep_path.with_file_name("README");
    fs::write(&stray, b"not mine").expect("write");

    assert_eq!(store.gc(std::slice::from_ref(&keep)).expect("gc"), 1);
    assert!(store.exists(&keep).expect("exists"));
    assert!(!store.exists(&drop_old).expect("exists"));
    assert!(
        store.exists(&fresh).expect("exists"),
        "fresh blobs are spared"
    );
    assert!(stray.exists());
    assert!(fresh_path.exists());

    assert_eq!(
        store
            .gc_older_than(std::slice::from_ref(&keep), Duration::ZERO)
            .expect("gc all"),
        1
    );
    assert!(!store.exists(&fresh).expect("exists"));
    assert!(store.exists(&keep).expect("exists"));
}

#[test]
fn bad_digests_are_refused_everywhere() {
    let (dir, store) = store();
    let outside = dir.path().join("outside");
    fs::write(&outside, b"secret").expect("write");
    let good = sha256_hex(b"x");
    let bad = [
        "../outside".to_string(),
        format!("../../{}", &good[6..]),
        good.to_uppercase(),
        good[..63].to_string(),
        format!("{good}a"),
        String::new(),
        "g".repeat(64),
    ];
    for b in &bad {
        assert!(validate_sha256(b).is_err(), "{b:?}");
        assert!(matches!(store.path(b), Err(StoreError::Io(_))), "{b:?}");
        assert!(store.exists(b).is_err(), "{b:?}");
        assert!(store.open_blob(b).is_err(), "{b:?}");
        let tmp = write_tmp(&store, "t", b"data");
        assert!(store.put_file(&tmp, b).is_err(), "{b:?}");
        assert!(
            tmp.exists(),
            "a refused put leaves the temp file to its owner"
        );
    }
    assert!(outside.exists());
    assert_eq!(fs::read(&outside).expect("read"), b"secret");
}

#[test]
fn blob_then_catalog_through_the_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dd = DataDir::open(&dir.path().join("lut-data")).expect("open");
    let cat = dd.catalog();
    let data = b"a,b\n1,2\n";
    // The order the sync engine follows: blob durable first, then the catalog commit.
    let (sha, _) = dd.blobs().put_bytes(data).expect("put");
    cat.apply(&DefinitionChange {
        upsert: vec![common::table("t", 1)],
        versions: vec![NewVersion {
            table: "t".into(),
            etag: None,
            size: data.len() as u64,
            sha256: sha.clone(),
            rows: 1,
            source: "upload".into(),
            fetched_at: lut_store::now_millis(),
        }],
        ..Default::default()
    })
    .expect("apply");
    let live = cat.live_version("t").expect("live").expect("live");
    assert_eq!(read(dd.blobs(), &live.sha256), data);

    let (orphan, _) = dd.blobs().put_bytes(b"never referenced").expect("put");
    let referenced = cat.referenced_blobs().expect("referenced");
    assert_eq!(
        dd.blobs()
            .gc_older_than(&referenced, Duration::ZERO)
            .expect("gc"),
        1
    );
    assert!(!dd.blobs().exists(&orphan).expect("exists"));
    assert!(dd.blobs().exists(&sha).expect("exists"));
}
