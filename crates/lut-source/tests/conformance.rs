//! One conformance suite for every `ObjectSource`: the same checks run against the local
//! file source and the S3 source (on moto, IAM enforcement on).

mod common;

use std::path::{Path, PathBuf};

use lut_source::local::LocalSource;
use lut_source::{ErrorKind, Fetch, FetchRequest, Limits, Location, ObjectSource, Stage};
use sha2::{Digest, Sha256};

/// What the suite needs from a backend.
#[async_trait::async_trait]
trait Backend: Send + Sync {
    /// A source with `max_object_bytes = cap`.
    async fn source(&self, cap: u64) -> Box<dyn ObjectSource>;
    /// Creates or replaces the object `name`.
    fn put(&self, name: &str, data: &[u8]);
    fn location(&self, name: &str) -> Location;
    /// The source's temp directory.
    fn temp_dir(&self) -> &Path;
}

fn limits(cap: u64) -> Limits {
    Limits {
        max_object_bytes: cap,
        ..Limits::default()
    }
}

fn req(b: &dyn Backend, name: &str, etag: Option<&str>) -> FetchRequest {
    FetchRequest {
        table: format!("conformance_{}", name.replace('.', "_")),
        location: b.location(name),
        if_none_match: etag.map(str::to_string),
        progress: None,
    }
}

fn temp_files(b: &dyn Backend) -> Vec<PathBuf> {
    match std::fs::read_dir(b.temp_dir()) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

async fn conformance(b: &dyn Backend) {
    let v1 = b"id,name\n1,alpha\n2,beta\n".to_vec();
    let v2 = b"id,name\n1,alpha\n2,beta\n3,gamma\n".to_vec();
    b.put("a.csv", &v1);
    let big = vec![b'x'; 100];
    b.put("big.csv", &big);
    let src = b.source(64).await;

    // A first fetch downloads, hashes and counts, into the temp directory.
    let Fetch::Modified(d1) = src.fetch(&req(b, "a.csv", None)).await.unwrap() else {
        panic!("first fetch must download");
    };
    assert_eq!(d1.size, v1.len() as u64);
    assert_eq!(d1.sha256, hex::encode(Sha256::digest(&v1)));
    assert_eq!(std::fs::read(&d1.path).unwrap(), v1);
    assert_eq!(
        d1.path.parent(),
        Some(b.temp_dir()),
        "temp file in the configured temp dir"
    );
    assert_eq!(d1.source, b.location("a.csv").display());
    let etag1 = d1.etag.clone().expect("an ETag");

    // Same ETag: not modified, nothing written.
    let r = src.fetch(&req(b, "a.csv", Some(&etag1))).await.unwrap();
    assert!(matches!(r, Fetch::NotModified), "{r:?}");
    assert_eq!(
        temp_files(b).len(),
        1,
        "only the first download: {:?}",
        temp_files(b)
    );
    drop(d1);
    assert!(
        temp_files(b).is_empty(),
        "a dropped download deletes its temp file"
    );

    // A changed object: modified, with a new ETag.
    b.put("a.csv", &v2);
    let Fetch::Modified(d2) = src.fetch(&req(b, "a.csv", Some(&etag1))).await.unwrap() else {
        panic!("a changed object must download");
    };
    assert_ne!(d2.etag.as_deref(), Some(etag1.as_str()));
    assert_eq!(d2.sha256, hex::encode(Sha256::digest(&v2)));
    assert_eq!(d2.size, v2.len() as u64);
    let etag2 = d2.etag.clone().unwrap();
    drop(d2);
    let r = src.fetch(&req(b, "a.csv", Some(&etag2))).await.unwrap();
    assert!(matches!(r, Fetch::NotModified));

    // Missing object.
    let e = src.fetch(&req(b, "missing.csv", None)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e:?}");
    assert!(!e.cause.is_empty() && !e.remedy.is_empty());

    // Over the cap, and exactly at it.
    let e = src.fetch(&req(b, "big.csv", None)).await.unwrap_err();
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::TooLarge, Stage::Download),
        "{e:?}"
    );
    assert!(
        temp_files(b).is_empty(),
        "no partial file left: {:?}",
        temp_files(b)
    );
    let exact = b.source(100).await;
    let Fetch::Modified(d) = exact.fetch(&req(b, "big.csv", None)).await.unwrap() else {
        panic!("an object of exactly the cap is accepted");
    };
    assert_eq!(d.size, 100);
}

struct Local {
    files: tempfile::TempDir,
    temp: tempfile::TempDir,
}

#[async_trait::async_trait]
impl Backend for Local {
    async fn source(&self, cap: u64) -> Box<dyn ObjectSource> {
        Box::new(LocalSource::new(self.temp.path(), limits(cap)))
    }
    fn put(&self, name: &str, data: &[u8]) {
        std::fs::write(self.files.path().join(name), data).unwrap();
    }
    fn location(&self, name: &str) -> Location {
        Location::File(self.files.path().join(name))
    }
    fn temp_dir(&self) -> &Path {
        self.temp.path()
    }
}

struct S3 {
    world: common::World,
    role: lut_core::aws::RoleArn,
}

#[async_trait::async_trait]
impl Backend for S3 {
    async fn source(&self, cap: u64) -> Box<dyn ObjectSource> {
        let s = self
            .world
            .source_at(self.world.moto.endpoint(), |c| c.limits = limits(cap))
            .await;
        Box::new(s)
    }
    fn put(&self, name: &str, data: &[u8]) {
        self.world.put(name, data);
    }
    fn location(&self, name: &str) -> Location {
        self.world.location(name, &self.role)
    }
    fn temp_dir(&self) -> &Path {
        self.world.temp.path()
    }
}

#[tokio::test]
async fn local_source_conforms() {
    let b = Local {
        files: tempfile::tempdir().unwrap(),
        temp: tempfile::tempdir().unwrap(),
    };
    conformance(&b).await;
}

#[tokio::test]
async fn s3_source_conforms() {
    let world = common::World::new("conformance");
    // The role may read the missing key too, so that S3 answers NoSuchKey, not 403.
    let role = world.role("r", &["a.csv", "big.csv", "missing.csv"], None);
    conformance(&S3 { world, role }).await;
}
