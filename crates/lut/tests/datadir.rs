//! The data-directory commands end to end: apply, tables, sync of watched files, errors,
//! settings, and enrich from the live tables.

mod common;

use std::path::Path;

use common::lut;

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    // Local ETags derive from mtime and size: make every write visible.
    let f = std::fs::File::options().write(true).open(path).unwrap();
    let bump = std::time::SystemTime::now() + std::time::Duration::from_secs(rand_secs());
    f.set_modified(bump).unwrap();
}

fn rand_secs() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(10);
    N.fetch_add(1, Ordering::Relaxed)
}

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A spec directory with one table synced from a watched local file.
fn watched(dir: &Path, data: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("owners.yml"),
        format!(
            "AnalysisType: lookup_table\nLookupName: owners\nEnabled: true\nSchema: Custom.Owners\nRefresh:\n  ObjectPath: file://{}\n  PeriodMinutes: 15\nLogTypeMap:\n  PrimaryKey: host\n  AssociatedLogTypes:\n    - LogType: Custom.Hosts\n      Selectors: [host]\n",
            data.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("schema.yml"),
        "schema: Custom.Owners\nfields:\n  - {name: host, type: string, required: true}\n  - {name: owner, type: string, required: true}\n",
    )
    .unwrap();
}

#[test]
fn apply_is_idempotent_reports_changes_and_prunes() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("data");
    let dd = dd.to_str().unwrap();
    let specs = tmp.path().join("specs");
    copy_dir(&examples().join("specs"), &specs);

    let r = lut(["--data-dir", dd, "apply", specs.to_str().unwrap()], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.stdout_str();
    assert!(
        out.contains("+ add     aws_accounts (file, 4 rows)"),
        "{out}"
    );
    assert!(
        out.contains("+ add     corp_networks (file, 5 rows)"),
        "{out}"
    );

    // The global option is accepted after the subcommand too.
    let r = lut(["apply", specs.to_str().unwrap(), "--data-dir", dd], None);
    assert!(
        r.stdout_str().contains("= same    aws_accounts"),
        "{}",
        r.stdout_str()
    );
    assert!(r.stdout_str().contains("applied 0 change(s)"));

    let csv = specs.join("data/aws_accounts.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("555566667777,new-account,dan@example.com,staging,false\n");
    std::fs::write(&csv, text).unwrap();
    let r = lut(
        [
            "--data-dir",
            dd,
            "apply",
            specs.to_str().unwrap(),
            "--dry-run",
        ],
        None,
    );
    assert!(
        r.stdout_str().contains("~ change  aws_accounts (data)"),
        "{}",
        r.stdout_str()
    );
    assert!(r.stdout_str().contains("dry run: 1 change(s) not applied"));
    let list = lut(
        ["--data-dir", dd, "tables", "list", "--format", "json"],
        None,
    )
    .json();
    let rows = |list: &serde_json::Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "aws_accounts")
            .unwrap()["live_version"]["rows"]
            .clone()
    };
    assert_eq!(rows(&list), 4, "a dry run changes nothing");
    let r = lut(["--data-dir", dd, "apply", specs.to_str().unwrap()], None);
    assert_eq!(r.code, 0);
    let list = lut(
        ["--data-dir", dd, "tables", "list", "--format", "json"],
        None,
    )
    .json();
    assert_eq!(rows(&list), 5);

    std::fs::remove_file(specs.join("corp_networks.yml")).unwrap();
    let r = lut(["--data-dir", dd, "apply", specs.to_str().unwrap()], None);
    assert!(
        r.stdout_str().contains("  keep    corp_networks"),
        "{}",
        r.stdout_str()
    );
    let r = lut(
        [
            "--data-dir",
            dd,
            "apply",
            specs.to_str().unwrap(),
            "--prune",
        ],
        None,
    );
    assert!(
        r.stdout_str().contains("- delete  corp_networks"),
        "{}",
        r.stdout_str()
    );
    let list = lut(
        ["--data-dir", dd, "tables", "list", "--format", "json"],
        None,
    )
    .json();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn apply_refuses_invalid_directories_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("data");
    let specs = tmp.path().join("specs");
    copy_dir(&examples().join("specs"), &specs);
    std::fs::write(
        specs.join("data/aws_accounts.csv"),
        "accountId,name\n1,x\n1,y\n",
    )
    .unwrap();
    let r = lut(
        [
            "--data-dir",
            dd.to_str().unwrap(),
            "apply",
            specs.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("duplicate primary key"), "{}", r.stderr);
    let list = lut(
        [
            "--data-dir",
            dd.to_str().unwrap(),
            "tables",
            "list",
            "--format",
            "json",
        ],
        None,
    )
    .json();
    assert!(list.as_array().unwrap().is_empty());
}

#[test]
fn enrich_from_the_data_directory_matches_the_spec_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("data");
    let specs = examples().join("specs");
    let events = std::fs::read(examples().join("events.jsonl")).unwrap();
    assert_eq!(
        lut(
            [
                "--data-dir",
                dd.to_str().unwrap(),
                "apply",
                specs.to_str().unwrap()
            ],
            None
        )
        .code,
        0
    );
    let from_specs = lut(
        ["enrich", "-q", "--spec-dir", specs.to_str().unwrap()],
        Some(&events),
    );
    let from_dd = lut(
        ["enrich", "-q", "--data-dir", dd.to_str().unwrap()],
        Some(&events),
    );
    assert_eq!(from_dd.code, 0, "{}", from_dd.stderr);
    assert_eq!(from_dd.stdout_str(), from_specs.stdout_str());
    assert!(from_dd.stdout_str().contains("payments-prod"));
}

#[test]
fn sync_watched_files_errors_and_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("data");
    let dd = dd.to_str().unwrap();
    let data = tmp.path().join("owners.csv");
    let specs = tmp.path().join("specs");
    watched(&specs, &data);
    write(&data, "host,owner\nweb-1,alice\n");
    assert_eq!(
        lut(["--data-dir", dd, "apply", specs.to_str().unwrap()], None).code,
        0
    );

    let enrich = |host: &str| {
        let line = format!("{{\"p_log_type\":\"Custom.Hosts\",\"host\":\"{host}\"}}\n");
        let r = lut(["enrich", "-q", "--data-dir", dd], Some(line.as_bytes()));
        let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        v["p_enrichment"]["owners"]["host"]["owner"]
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(enrich("web-1"), None, "no data before the first sync");

    let r = lut(["sync", "--data-dir", dd], None);
    assert_eq!(r.code, 0, "{}{}", r.stdout_str(), r.stderr);
    assert!(
        r.stdout_str()
            .starts_with("owners: updated to version 1 (1 rows)"),
        "{}",
        r.stdout_str()
    );
    assert_eq!(enrich("web-1").as_deref(), Some("alice"));
    let r = lut(["sync", "owners", "--data-dir", dd], None);
    assert_eq!(r.stdout_str().trim(), "owners: unchanged");

    write(&data, "host,owner\nweb-1,\n");
    let r = lut(["sync", "--data-dir", dd], None);
    assert_eq!(r.code, 1, "a failed check exits 1");
    assert!(
        r.stdout_str()
            .contains("owners: failed at validate (RowsRejected)"),
        "{}",
        r.stdout_str()
    );
    assert_eq!(
        enrich("web-1").as_deref(),
        Some("alice"),
        "the live version keeps serving"
    );
    let errors = lut(["errors", "--data-dir", dd, "--format", "json"], None).json();
    assert_eq!(errors.as_array().unwrap().len(), 1);
    assert_eq!(errors[0]["stage"], "validate");
    let text = lut(["errors", "--data-dir", dd], None).stdout_str();
    assert!(text.contains("what to do:"), "{text}");

    write(&data, "host,owner\nweb-1,bob\n");
    let r = lut(["sync", "--data-dir", dd], None);
    assert_eq!(r.code, 0);
    assert_eq!(enrich("web-1").as_deref(), Some("bob"));
    assert!(lut(["errors", "--data-dir", dd], None)
        .stdout_str()
        .contains("no open system errors"));
    let shown = lut(["tables", "show", "owners", "--data-dir", dd], None).stdout_str();
    assert!(
        shown.contains("live:        version 2"),
        "rejected data is not a version: {shown}"
    );
    assert!(shown.contains("check:"), "{shown}");
    assert_eq!(lut(["sync", "nope", "--data-dir", dd], None).code, 1);
}

#[test]
fn settings_keep_one_external_id_unless_overridden() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("data");
    let dd = dd.to_str().unwrap();
    let first = lut(["settings", "--data-dir", dd, "--format", "json"], None).json();
    let second = lut(["settings", "--data-dir", dd, "--format", "json"], None).json();
    let id = first["external_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(second["external_id"], id.as_str());
    assert_eq!(first["role_name_prefix"], "PantherLUTsRole-");
    assert!(first["service_principal"].is_null(), "no AWS here: {first}");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lut"));
    let out = cmd
        .args(["settings", "--data-dir", dd])
        .env("LUT_EXTERNAL_ID", "from-the-environment")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("external id:       from-the-environment (LUT_EXTERNAL_ID)"),
        "{text}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}
