//! `lut serve` version management (§9), log types, schemas, destinations and the OpenAPI
//! document, over real HTTP on 127.0.0.1:0.

mod common;

use common::server::{start, JsonBody, Server};

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{json, Value};

/// Helpers for the `accounts` table these tests use.
impl Server {
    async fn sync(&self) -> Value {
        self.json(
            self.post("/api/v1/tables/accounts/sync", Some(&self.manage)),
            StatusCode::OK,
        )
        .await
    }

    async fn owner(&self, key: &str) -> Value {
        let r = self
            .json(
                self.get(
                    &format!("/api/v1/tables/accounts/rows?key={key}"),
                    Some(&self.read),
                ),
                StatusCode::OK,
            )
            .await;
        r["matches"][0]["owner"].clone()
    }

    async fn version_ids(&self) -> Vec<i64> {
        let v = self
            .json(
                self.get("/api/v1/tables/accounts/versions", Some(&self.read)),
                StatusCode::OK,
            )
            .await;
        let mut ids: Vec<i64> = v["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_i64().unwrap())
            .collect();
        ids.sort();
        ids
    }
}

const SCHEMA: &str = "schema: Custom.Accounts\nparser:\n  csv:\n    hasHeader: true\nfields:\n  - {name: id, type: string, required: true}\n  - {name: owner, type: string}\n";

fn watched(dir: &Path) -> std::path::PathBuf {
    let csv = dir.join("accounts.csv");
    std::fs::write(&csv, "id,owner\n1,alice\n").unwrap();
    let data = dir.join("lut-data");
    let spec = format!(
        "AnalysisType: lookup_table\nLookupName: accounts\nEnabled: true\nSchema: Custom.Accounts\nRefresh:\n  ObjectPath: file://{}\n  PeriodMinutes: 60\nLogTypeMap:\n  PrimaryKey: id\n  AssociatedLogTypes:\n    - LogType: AWS.CloudTrail\n      Selectors: [recipientAccountId]\n    - LogType: Custom.InHouse\n      Selectors: [account]\n",
        csv.display()
    );
    common::server::define_watched_accounts(&data, spec, SCHEMA);
    data
}

fn blob_count(data: &Path) -> usize {
    let mut n = 0;
    for fan in std::fs::read_dir(data.join("blobs").join("sha256")).unwrap() {
        let fan = fan.unwrap();
        if fan.file_type().unwrap().is_dir() {
            n += std::fs::read_dir(fan.path()).unwrap().count();
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn diff_rollback_unpin_and_retention() {
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("accounts.csv");
    let data = watched(dir.path());
    let s = start(&data).await;
    let r = s.sync().await;
    let o = r["result"]["outcome"].as_str().unwrap().to_string();
    assert!(o == "updated" || o == "unchanged", "{r}");
    std::fs::write(&csv, "id,owner\n1,bob\n2,carol\n").unwrap();
    assert_eq!(s.sync().await["result"]["outcome"], "updated");
    let ids = s.version_ids().await;
    assert_eq!(ids.len(), 2);
    let (v1, v2) = (ids[0], ids[1]);

    // Diff: key 2 added, key 1 changed.
    let d = s
        .json(
            s.get(
                &format!("/api/v1/tables/accounts/versions/diff?from={v1}&to={v2}"),
                Some(&s.read),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        d["counts"],
        json!({"added": 1, "removed": 0, "changed": 1, "unchanged": 0})
    );
    assert_eq!(d["added"][0]["key"], "2");
    assert_eq!(d["added"][0]["row"]["owner"], "carol");
    assert_eq!(d["changed"][0]["from"]["owner"], "alice");
    assert_eq!(d["changed"][0]["to"]["owner"], "bob");
    let d = s
        .json(
            s.get(
                &format!("/api/v1/tables/accounts/versions/diff?from={v2}&to={v1}&limit=0"),
                Some(&s.read),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(d["counts"]["removed"], 1);
    assert_eq!(d["removed"], json!([]));
    s.json(
        s.get(
            &format!("/api/v1/tables/accounts/versions/diff?from={v1}&to=99999"),
            Some(&s.read),
        ),
        StatusCode::NOT_FOUND,
    )
    .await;
    s.json(
        s.get(
            &format!("/api/v1/tables/accounts/versions/diff?from={v1}&to={v2}"),
            None,
        ),
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Rollback: manage only; v1 live at once, pinned.
    for (tok, code) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(&s.read), StatusCode::FORBIDDEN),
    ] {
        let e = s
            .json(
                s.post("/api/v1/tables/accounts/rollback", tok.map(|t| t.as_str()))
                    .jbody(&json!({ "version": v1 })),
                code,
            )
            .await;
        assert!(e["error"]["code"].is_string());
        s.json(
            s.post("/api/v1/tables/accounts/unpin", tok.map(|t| t.as_str())),
            code,
        )
        .await;
        s.json(
            s.post("/api/v1/tables/accounts/retention", tok.map(|t| t.as_str()))
                .jbody(&json!({ "keep": 1 })),
            code,
        )
        .await;
    }
    let r = s
        .json(
            s.post("/api/v1/tables/accounts/rollback", Some(&s.manage))
                .jbody(&json!({ "version": v1 })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["live_version"]["id"], v1);
    assert_eq!(s.owner("1").await, "alice");
    let t = s
        .json(
            s.get("/api/v1/tables/accounts", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(t["pinned"], true);
    assert_eq!(t["live_version"]["id"], v1);

    // A later sync records a version but does not serve it.
    std::fs::write(&csv, "id,owner\n1,dave\n3,erin\n").unwrap();
    let r = s.sync().await;
    assert_eq!(r["result"]["outcome"], "recorded_while_pinned", "{r}");
    assert_eq!(s.owner("1").await, "alice");
    let ids = s.version_ids().await;
    assert_eq!(ids.len(), 3);
    let v3 = ids[2];

    // Unpin serves the newest.
    let r = s
        .json(
            s.post("/api/v1/tables/accounts/unpin", Some(&s.manage)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["live_version"]["id"], v3);
    assert_eq!(s.owner("1").await, "dave");
    let t = s
        .json(
            s.get("/api/v1/tables/accounts", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(t["pinned"], false);

    // Retention: keep 1, unreferenced blobs deleted.
    assert_eq!(blob_count(&data), 3);
    s.json(
        s.post("/api/v1/tables/accounts/retention", Some(&s.manage))
            .jbody(&json!({ "keep": 0 })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let r = s
        .json(
            s.post("/api/v1/tables/accounts/retention", Some(&s.manage))
                .jbody(&json!({ "keep": 1, "grace_seconds": 0 })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["pruned_versions"], 2, "{r}");
    assert_eq!(r["deleted_blobs"], 2, "{r}");
    assert_eq!(s.version_ids().await, vec![v3]);
    assert_eq!(blob_count(&data), 1);
    assert_eq!(s.owner("1").await, "dave");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn log_types_schemas_destinations_and_openapi() {
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let dir = tempfile::tempdir().unwrap();
    let data = watched(dir.path());
    let s = start(&data).await;

    // Log types: built-in plus the table's own.
    let l = s
        .json(s.get("/api/v1/log-types", Some(&s.read)), StatusCode::OK)
        .await;
    let list = l["log_types"].as_array().unwrap();
    assert!(list.len() >= 40);
    let find = |n: &str| list.iter().find(|v| v["name"] == n).cloned();
    assert_eq!(find("Okta.SystemLog").unwrap()["builtin"], true);
    assert_eq!(
        find("AWS.CloudTrail").unwrap()["tables"],
        json!(["accounts"])
    );
    let custom = find("Custom.InHouse").unwrap();
    assert_eq!(custom["builtin"], false);
    assert_eq!(custom["tables"], json!(["accounts"]));
    s.json(s.get("/api/v1/log-types", None), StatusCode::UNAUTHORIZED)
        .await;

    // Schemas.
    let l = s
        .json(s.get("/api/v1/schemas", Some(&s.read)), StatusCode::OK)
        .await;
    assert_eq!(l["schemas"][0]["name"], "Custom.Accounts");
    let g = s
        .json(
            s.get("/api/v1/schemas/Custom.Accounts", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(g["yaml"], SCHEMA);
    s.json(
        s.get("/api/v1/schemas/Nope", Some(&s.read)),
        StatusCode::NOT_FOUND,
    )
    .await;
    let v = s
        .json(
            s.post("/api/v1/schemas/validate", Some(&s.read))
                .body(SCHEMA),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["valid"], true);
    let bad = "schema: Custom.Bad\nfields:\n  - name: a\n    type: string\n  - name: b\n    type: nonsense\n";
    let v = s
        .json(
            s.post("/api/v1/schemas/validate?file=bad.yml", Some(&s.read))
                .body(bad),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(v["error"]["code"], "invalid");
    let v = &v["error"]["details"];
    assert_eq!(v["valid"], false);
    let d = &v["diagnostics"][0];
    assert_eq!(d["file"], "bad.yml");
    assert!(d["line"].as_u64().unwrap() >= 5, "{v}");
    assert!(d["code"].is_string() && d["message"].is_string());
    s.json(
        s.post("/api/v1/schemas/validate", None).body(SCHEMA),
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Destinations: create (manage), list masked (read), delete.
    let body = json!({
        "name": "hook", "kind": "webhook",
        "url": "http://127.0.0.1:9/hook?token=supersecretvalue123",
        "secret": "hmac-secret-value", "min_severity": "medium",
    });
    s.json(
        s.post("/api/v1/destinations", Some(&s.read)).jbody(&body),
        StatusCode::FORBIDDEN,
    )
    .await;
    s.json(
        s.post("/api/v1/destinations", None).jbody(&body),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let c = s
        .json(
            s.post("/api/v1/destinations", Some(&s.manage)).jbody(&body),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(c["min_severity"], "MEDIUM");
    s.json(
        s.post("/api/v1/destinations", Some(&s.manage)).jbody(&body),
        StatusCode::CONFLICT,
    )
    .await;
    s.json(
        s.post("/api/v1/destinations", Some(&s.manage))
            .jbody(&json!({"name": "x", "kind": "slack"})),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let resp = s
        .get("/api/v1/destinations", Some(&s.read))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(!text.contains("supersecretvalue123"), "{text}");
    assert!(!text.contains("hmac-secret-value"), "{text}");
    let l: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(l["destinations"][0]["name"], "hook");
    s.json(
        s.get("/api/v1/destinations", None),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let id = c["id"].as_i64().unwrap();
    s.json(
        s.delete(&format!("/api/v1/destinations/{id}"), Some(&s.read)),
        StatusCode::FORBIDDEN,
    )
    .await;
    s.json(
        s.post(&format!("/api/v1/destinations/{id}/test"), Some(&s.read)),
        StatusCode::FORBIDDEN,
    )
    .await;
    s.json(
        s.delete(&format!("/api/v1/destinations/{id}"), Some(&s.manage)),
        StatusCode::OK,
    )
    .await;
    let l = s
        .json(s.get("/api/v1/destinations", Some(&s.read)), StatusCode::OK)
        .await;
    assert_eq!(l["destinations"], json!([]));
    s.json(
        s.delete(&format!("/api/v1/destinations/{id}"), Some(&s.manage)),
        StatusCode::NOT_FOUND,
    )
    .await;

    // The OpenAPI document is open and describes these routes.
    let o = s.json(s.get("/openapi.json", None), StatusCode::OK).await;
    assert_eq!(o["openapi"], "3.1.0");
    assert!(o["paths"]["/api/v1/tables/{name}/rollback"]["post"].is_object());
    assert!(o["components"]["securitySchemes"]["bearer"].is_object());
    s.shutdown().await;
}
