//! kill -9 during a sync (download, build or swap) never damages the data directory: a
//! restart serves the last good version and the catalog stays consistent.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::lut;

fn table_file(path: &Path, owner: &str, rows: usize) {
    let mut s = String::with_capacity(rows * 24);
    s.push_str("host,owner\n");
    for i in 0..rows {
        s.push_str(&format!("host-{i},{owner}\n"));
    }
    std::fs::write(path, s).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    use std::sync::atomic::{AtomicU64, Ordering};
    static BUMP: AtomicU64 = AtomicU64::new(100);
    f.set_modified(
        std::time::SystemTime::now() + Duration::from_secs(BUMP.fetch_add(1, Ordering::Relaxed)),
    )
    .unwrap();
}

fn owner_of(dd: &str, host: &str) -> Option<String> {
    let line = format!("{{\"p_log_type\":\"Custom.Hosts\",\"host\":\"{host}\"}}\n");
    let r = lut(["enrich", "-q", "--data-dir", dd], Some(line.as_bytes()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    v["p_enrichment"]["owners"]["host"]["owner"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn kill_9_mid_sync_leaves_the_last_good_version() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("data");
    let dd = dd.to_str().unwrap();
    let data = tmp.path().join("owners.csv");
    let specs = tmp.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(
        specs.join("owners.yml"),
        format!(
            "AnalysisType: lookup_table\nLookupName: owners\nEnabled: true\nSchema: Custom.Owners\nRefresh:\n  ObjectPath: file://{}\nLogTypeMap:\n  PrimaryKey: host\n  AssociatedLogTypes:\n    - LogType: Custom.Hosts\n      Selectors: [host]\n",
            data.display()
        ),
    )
    .unwrap();
    std::fs::write(
        specs.join("schema.yml"),
        "schema: Custom.Owners\nfields:\n  - {name: host, type: string, required: true}\n  - {name: owner, type: string, required: true}\n",
    )
    .unwrap();
    assert_eq!(
        lut(["--data-dir", dd, "apply", specs.to_str().unwrap()], None).code,
        0
    );
    table_file(&data, "v1", 150_000);
    assert_eq!(lut(["sync", "--data-dir", dd], None).code, 0);
    assert_eq!(owner_of(dd, "host-7").as_deref(), Some("v1"));

    // Kill runs at increasing points of their work until one gets through.
    table_file(&data, "v2", 150_000);
    let mut killed_mid_way = 0;
    for step in 0..8u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lut"))
            .args(["sync", "--data-dir", dd])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "y")
            .env("AWS_REGION", "us-east-1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(40 + step * 60));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL on unix
        child.wait().unwrap();
        if !finished {
            killed_mid_way += 1;
        }
        // Whatever the moment, the table serves one whole version.
        let owner = owner_of(dd, "host-7");
        assert!(
            matches!(owner.as_deref(), Some("v1") | Some("v2")),
            "after kill {step}: {owner:?}"
        );
        let show = lut(
            [
                "tables",
                "show",
                "owners",
                "--data-dir",
                dd,
                "--format",
                "json",
            ],
            None,
        );
        assert_eq!(show.code, 0, "{}", show.stderr);
        let v = show.json();
        let sha = v["live_version"]["sha256"].as_str().unwrap();
        let blob = Path::new(dd).join("blobs/sha256").join(&sha[..2]).join(sha);
        assert!(
            blob.is_file(),
            "the live version's blob exists: {}",
            blob.display()
        );
        if owner.as_deref() == Some("v2") {
            break;
        }
    }
    assert!(
        killed_mid_way > 0,
        "no run was interrupted; the test did not test anything"
    );
    // A clean run finishes the job.
    let r = lut(["sync", "--data-dir", dd], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(owner_of(dd, "host-7").as_deref(), Some("v2"));
    assert_eq!(owner_of(dd, "host-149999").as_deref(), Some("v2"));
}
