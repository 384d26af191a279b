//! Changing tables over the API (issue 4): apply bundles, table create / update / delete /
//! enable / disable, data uploads and export, over real HTTP on 127.0.0.1:0.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::server::{start_with, JsonBody};
use common::{example_bundle, examples, lut, ACCOUNTS_SCHEMA as SCHEMA, ACCOUNTS_SPEC as SPEC};
use lut_store::{Catalog, DataDir};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn table_names(data: &Path) -> Vec<String> {
    let dd = DataDir::open(data).unwrap();
    let mut v: Vec<String> = dd
        .catalog()
        .tables()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    v.sort();
    v
}

fn actions(v: &Value) -> BTreeMap<String, String> {
    v["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["table"].as_str().unwrap().to_string(),
                i["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn fresh() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lut-data");
    (dir, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_bundle_dry_run_all_or_nothing_and_auth() {
    let (_dir, data) = fresh();
    let s = start_with(&data, |_| {}).await;
    let bundle = example_bundle();

    // 401 / 403.
    let e = s
        .json(
            s.req(Method::POST, "/api/v1/apply", None)
                .jbody(&json!({ "files": bundle })),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    assert_eq!(e["error"]["code"], "unauthorized");
    s.json(
        s.req(Method::POST, "/api/v1/apply", Some(&s.read))
            .jbody(&json!({ "files": bundle })),
        StatusCode::FORBIDDEN,
    )
    .await;

    // Dry run: the plan, nothing written.
    let v = s
        .json(
            s.req(Method::POST, "/api/v1/apply?dry_run=true", Some(&s.manage))
                .jbody(&json!({ "files": bundle })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["dry_run"], true);
    let a = actions(&v);
    assert_eq!(a["aws_accounts"], "add");
    assert_eq!(a["corp_networks"], "add");
    assert!(table_names(&data).is_empty());

    // One bad spec: 422 with field-level diagnostics, nothing written.
    let mut bad = bundle.clone();
    bad.insert(
        "broken.yml".into(),
        "AnalysisType: lookup_table\nLookupName: broken\nSchema: Custom.Nope\nFilename: x.csv\nLogTypeMap:\n  PrimaryKey: id\n  AssociatedLogTypes: []\n".into(),
    );
    let e = s
        .json(
            s.req(Method::POST, "/api/v1/apply", Some(&s.manage))
                .jbody(&json!({ "files": bad })),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(e["error"]["code"], "invalid");
    let diags = e["error"]["details"]["diagnostics"].as_array().unwrap();
    assert!(!diags.is_empty());
    let d = diags
        .iter()
        .find(|d| d["file"] == "broken.yml")
        .unwrap_or_else(|| panic!("{diags:?}"));
    assert!(d["code"].is_string() && d["message"].is_string());
    assert!(table_names(&data).is_empty());

    // A path leaving the bundle: 400.
    let e = s
        .json(
            s.req(Method::POST, "/api/v1/apply", Some(&s.manage))
                .jbody(&json!({ "files": { "../x.yml": "a: 1" } })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(e["error"]["code"], "bad_request");

    // Apply: written and live at once.
    let v = s
        .json(
            s.req(Method::POST, "/api/v1/apply", Some(&s.manage))
                .jbody(&json!({ "files": bundle })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["applied"], true);
    assert_eq!(v["changes"], 2);
    assert_eq!(table_names(&data), vec!["aws_accounts", "corp_networks"]);
    let r = s
        .json(
            s.req(
                Method::GET,
                "/api/v1/tables/aws_accounts/rows?key=123456789012",
                Some(&s.read),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["matches"][0]["name"], "payments-prod");

    // Again: everything the same.
    let v = s
        .json(
            s.req(Method::POST, "/api/v1/apply", Some(&s.manage))
                .jbody(&json!({ "files": bundle })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["changes"], 0);
    assert!(actions(&v).values().all(|a| a == "same"), "{v}");

    // Without corp_networks: kept, or deleted with prune.
    let only: BTreeMap<String, String> = bundle
        .iter()
        .filter(|(k, _)| k.contains("aws_accounts"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let v = s
        .json(
            s.req(Method::POST, "/api/v1/apply", Some(&s.manage))
                .jbody(&json!({ "files": only })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(actions(&v)["corp_networks"], "keep");
    let v = s
        .json(
            s.req(Method::POST, "/api/v1/apply?prune=true", Some(&s.manage))
                .jbody(&json!({ "files": only })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(actions(&v)["corp_networks"], "delete");
    assert_eq!(table_names(&data), vec!["aws_accounts"]);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_update_enable_disable_delete() {
    let (_dir, data) = fresh();
    let s = start_with(&data, |_| {}).await;
    let def = json!({ "spec": SPEC, "schema": SCHEMA });

    s.json(
        s.req(Method::POST, "/api/v1/tables", Some(&s.read))
            .jbody(&def),
        StatusCode::FORBIDDEN,
    )
    .await;
    let v = s
        .json(
            s.req(Method::POST, "/api/v1/tables", Some(&s.manage))
                .jbody(&def),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(v["plan"]["action"], "add");
    assert_eq!(v["table"]["name"], "accounts");
    assert_eq!(table_names(&data), vec!["accounts"]);
    // Twice: 409.
    let e = s
        .json(
            s.req(Method::POST, "/api/v1/tables", Some(&s.manage))
                .jbody(&def),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(e["error"]["code"], "conflict");
    // Invalid: 422 with field-level details; not written.
    let bad = json!({ "spec": SPEC.replace("PrimaryKey: accountId", "PrimaryKey: nope").replace("LookupName: accounts", "LookupName: other"), "schema": SCHEMA });
    let e = s
        .json(
            s.req(Method::POST, "/api/v1/tables", Some(&s.manage))
                .jbody(&bad),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    let d = &e["error"]["details"]["diagnostics"][0];
    assert!(d["code"].is_string() && d["message"].is_string(), "{e}");
    assert_eq!(d["file"], "spec.yml", "{e}");
    assert_eq!(table_names(&data), vec!["accounts"]);
    // Not JSON: 4xx with the error shape.
    let e = s
        .json(
            s.req(Method::POST, "/api/v1/tables", Some(&s.manage))
                .header("content-type", "application/json")
                .body("{"),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(e["error"]["code"], "bad_request");

    // Update: name mismatch 422, unknown 404, real change.
    s.json(
        s.req(Method::PUT, "/api/v1/tables/other", Some(&s.manage))
            .jbody(&def),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let other = json!({ "spec": SPEC.replace("LookupName: accounts", "LookupName: other"), "schema": SCHEMA });
    s.json(
        s.req(Method::PUT, "/api/v1/tables/other", Some(&s.manage))
            .jbody(&other),
        StatusCode::NOT_FOUND,
    )
    .await;
    let changed = json!({ "spec": format!("{SPEC}Description: changed\n"), "schema": SCHEMA });
    let v = s
        .json(
            s.req(Method::PUT, "/api/v1/tables/accounts", Some(&s.manage))
                .jbody(&changed),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["plan"]["action"], "change", "{v}");
    assert_eq!(v["plan"]["what"], json!(["spec"]));

    // Disable / enable.
    let v = s
        .json(
            s.req(
                Method::POST,
                "/api/v1/tables/accounts/disable",
                Some(&s.manage),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["enabled"], false);
    let t = s
        .json(
            s.req(Method::GET, "/api/v1/tables/accounts", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert!(t.to_string().contains("\"enabled\":false"), "{t}");
    s.json(
        s.req(
            Method::POST,
            "/api/v1/tables/accounts/enable",
            Some(&s.manage),
        ),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.req(Method::POST, "/api/v1/tables/nope/enable", Some(&s.manage)),
        StatusCode::NOT_FOUND,
    )
    .await;

    // Delete.
    s.json(
        s.req(Method::DELETE, "/api/v1/tables/accounts", None),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    s.json(
        s.req(Method::DELETE, "/api/v1/tables/accounts", Some(&s.manage)),
        StatusCode::OK,
    )
    .await;
    assert!(table_names(&data).is_empty());
    s.json(
        s.req(Method::DELETE, "/api/v1/tables/accounts", Some(&s.manage)),
        StatusCode::NOT_FOUND,
    )
    .await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_accepted_rejected_and_too_large() {
    let (_dir, data) = fresh();
    let s = start_with(&data, |c| c.max_upload_bytes = 4096).await;
    s.json(
        s.req(Method::POST, "/api/v1/tables", Some(&s.manage))
            .jbody(&json!({ "spec": SPEC, "schema": SCHEMA })),
        StatusCode::CREATED,
    )
    .await;
    let up = "/api/v1/tables/accounts/data";

    s.json(
        s.req(Method::PUT, up, Some(&s.read))
            .body("accountId,name\n1,a\n"),
        StatusCode::FORBIDDEN,
    )
    .await;
    s.json(
        s.req(Method::PUT, "/api/v1/tables/nope/data", Some(&s.manage))
            .body("accountId,name\n1,a\n"),
        StatusCode::NOT_FOUND,
    )
    .await;

    // Accepted: a version from "upload", live at once.
    let v = s
        .json(
            s.req(Method::PUT, up, Some(&s.manage))
                .body("accountId,name\n111,alpha\n222,beta\n"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["accepted"], true);
    assert_eq!(v["version"]["source"], "upload");
    assert_eq!(v["report"]["rows_loaded"], 2);
    let live_id = v["version"]["id"].clone();
    let r = s
        .json(
            s.req(
                Method::GET,
                "/api/v1/tables/accounts/rows?key=111",
                Some(&s.read),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["matches"][0]["name"], "alpha");

    // Gzip, detected by its magic bytes.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"{\"accountId\":\"333\",\"name\":\"gamma\"}\n")
        .unwrap();
    let v = s
        .json(
            s.req(Method::PUT, up, Some(&s.manage))
                .body(gz.finish().unwrap()),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["report"]["compressed"], true, "{v}");
    let live_id2 = v["version"]["id"].clone();
    assert_ne!(live_id, live_id2);

    // Rejected: 422 with the report; the live version and the rows unchanged.
    let e = s
        .json(
            s.req(Method::PUT, up, Some(&s.manage))
                .body("name\nno-key-column\n"),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(e["error"]["code"], "rejected");
    assert!(e["error"]["details"]["report"].is_object(), "{e}");
    // Too large: 413, nothing changes.
    let big = format!("accountId,name\n{}", "9,x\n".repeat(2000));
    let e = s
        .json(
            s.req(Method::PUT, up, Some(&s.manage)).body(big),
            StatusCode::PAYLOAD_TOO_LARGE,
        )
        .await;
    assert_eq!(e["error"]["code"], "too_large");
    let dd = DataDir::open(&data).unwrap();
    assert_eq!(
        json!(dd.catalog().live_version("accounts").unwrap().unwrap().id),
        live_id2
    );
    assert_eq!(dd.catalog().versions("accounts").unwrap().len(), 2);
    let r = s
        .json(
            s.req(
                Method::GET,
                "/api/v1/tables/accounts/rows?key=333",
                Some(&s.read),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["matches"][0]["name"], "gamma");
    // No staged leftovers.
    let left: Vec<_> = std::fs::read_dir(dd.blobs().tmp_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Deleting takes the table out of the registry at once.
    s.json(
        s.req(Method::DELETE, "/api/v1/tables/accounts", Some(&s.manage)),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.req(
            Method::GET,
            "/api/v1/tables/accounts/rows?key=333",
            Some(&s.read),
        ),
        StatusCode::NOT_FOUND,
    )
    .await;

    // Only Filename tables take uploads.
    let watched = _dir.path().join("w.csv");
    std::fs::write(&watched, "accountId,name\n1,a\n").unwrap();
    let spec = SPEC.replace(
        "Filename: data/accounts.csv\n",
        &format!(
            "Refresh:\n  ObjectPath: file://{}\n  PeriodMinutes: 60\n",
            watched.display()
        ),
    );
    s.json(
        s.req(Method::POST, "/api/v1/tables", Some(&s.manage))
            .jbody(&json!({ "spec": spec, "schema": SCHEMA })),
        StatusCode::CREATED,
    )
    .await;
    let e = s
        .json(
            s.req(Method::PUT, up, Some(&s.manage))
                .body("accountId,name\n1,a\n"),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(e["error"]["code"], "not_uploadable");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_round_trip() {
    let (dir, data) = fresh();
    let (specs, _) = examples();
    let r = lut(
        [
            "--data-dir",
            data.to_str().unwrap(),
            "apply",
            specs.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = start_with(&data, |_| {}).await;

    s.json(
        s.req(Method::GET, "/api/v1/tables/aws_accounts/export", None),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    s.json(
        s.req(Method::GET, "/api/v1/tables/nope/export", Some(&s.read)),
        StatusCode::NOT_FOUND,
    )
    .await;
    let v = s
        .json(
            s.req(
                Method::GET,
                "/api/v1/tables/aws_accounts/export",
                Some(&s.read),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["spec_file"], "aws_accounts.yml");
    assert_eq!(
        v["spec_yaml"].as_str().unwrap(),
        std::fs::read_to_string(specs.join("aws_accounts.yml")).unwrap()
    );
    // The export re-applied through the API (with the data) is the same.
    let files = json!({
        v["spec_file"].as_str().unwrap(): v["spec_yaml"],
        v["schema_file"].as_str().unwrap(): v["schema_yaml"],
        "data/aws_accounts.csv": std::fs::read_to_string(specs.join("data/aws_accounts.csv")).unwrap(),
    });
    let a = s
        .json(
            s.req(Method::POST, "/api/v1/apply?dry_run=true", Some(&s.manage))
                .jbody(&json!({ "files": files })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(actions(&a)["aws_accounts"], "same", "{a}");

    // CLI export: files `lut validate` accepts and `lut apply` finds unchanged.
    let out = dir.path().join("export");
    for t in ["aws_accounts", "corp_networks"] {
        let r = lut(
            [
                "--data-dir",
                data.to_str().unwrap(),
                "tables",
                "export",
                t,
                "--out",
                out.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    assert!(out.join("aws_accounts.yml").is_file());
    assert!(out.join("Custom.AWSAccounts.schema.yml").is_file());
    assert!(out.join("data/aws_accounts.csv").is_file());
    let r = lut(
        [
            "--data-dir",
            data.to_str().unwrap(),
            "tables",
            "export",
            "nope",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no table named"), "{}", r.stderr);
    let r = lut(["validate", out.to_str().unwrap()], None);
    assert_eq!(r.code, 0, "{}{}", r.stdout_str(), r.stderr);
    let r = lut(
        [
            "--data-dir",
            data.to_str().unwrap(),
            "apply",
            "--dry-run",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let o = r.stdout_str();
    assert!(o.contains("= same    aws_accounts"), "{o}");
    assert!(o.contains("= same    corp_networks"), "{o}");
    s.shutdown().await;
}
