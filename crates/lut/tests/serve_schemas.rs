//! Stored schemas over the API (issue 4): `PUT` / `DELETE /api/v1/schemas/{name}`, tables
//! defined without a schema of their own, and the all-or-nothing re-apply of the tables
//! using a schema, over real HTTP on 127.0.0.1:0.

mod common;

use common::lut;
use common::server::{start_with, JsonBody, Server};
use common::{ACCOUNTS_SCHEMA as SCHEMA, ACCOUNTS_SPEC as SPEC};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const NAME: &str = "Custom.Accounts";
const PATH: &str = "/api/v1/schemas/Custom.Accounts";

/// A compatible change of [`SCHEMA`]: one more optional field.
fn schema_v2() -> String {
    format!("{SCHEMA}  - name: owner\n    type: string\n")
}

/// An incompatible change: the spec's primary key `accountId` is gone.
const SCHEMA_NO_KEY: &str = "schema: Custom.Accounts\nfields:\n  - name: name\n    type: string\n";

fn put_yaml(
    s: &Server,
    path: &str,
    token: Option<&str>,
    media: &str,
    body: &str,
) -> reqwest::RequestBuilder {
    s.req(Method::PUT, path, token)
        .header("content-type", media)
        .body(body.to_string())
}

async fn export(s: &Server) -> Value {
    s.json(
        s.get("/api/v1/tables/accounts/export", Some(&s.read)),
        StatusCode::OK,
    )
    .await
}

async fn stored_yaml(s: &Server) -> Value {
    s.json(s.get(PATH, Some(&s.read)), StatusCode::OK).await
}

async fn enriched_name(s: &Server, account: &str) -> String {
    let resp = s
        .post("/api/v1/enrich?log_type=AWS.CloudTrail", Some(&s.read))
        .body(format!("{{\"recipientAccountId\":\"{account}\"}}\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stored_schemas_put_reapply_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lut-data");
    let s = start_with(&data, |_| {}).await;

    // Only manage tokens store schemas.
    s.json(
        put_yaml(&s, PATH, None, "application/yaml", SCHEMA),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    s.json(
        put_yaml(&s, PATH, Some(&s.read), "application/yaml", SCHEMA),
        StatusCode::FORBIDDEN,
    )
    .await;

    // New: 201; the same again: 200 and unchanged. Listed with no table yet.
    let v = s
        .json(
            put_yaml(&s, PATH, Some(&s.manage), "application/yaml", SCHEMA),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(
        v,
        json!({"schema": NAME, "created": true, "changed": true, "tables": []})
    );
    let v = s
        .json(
            put_yaml(&s, PATH, Some(&s.manage), "text/yaml", SCHEMA),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (&v["created"], &v["changed"]),
        (&json!(false), &json!(false))
    );
    let list = s
        .json(s.get("/api/v1/schemas", Some(&s.read)), StatusCode::OK)
        .await;
    assert_eq!(
        list["schemas"],
        json!([{"name": NAME, "stored": true, "tables": []}])
    );

    // A table defined without a schema takes the stored one; an unknown one is a 422.
    let t = s
        .json(
            s.post("/api/v1/tables", Some(&s.manage))
                .jbody(&json!({ "spec": SPEC })),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(t["table"]["schema"], NAME);
    assert_eq!(export(&s).await["schema_yaml"], SCHEMA);
    let other = SPEC
        .replace("LookupName: accounts", "LookupName: other")
        .replace("Custom.Accounts", "Custom.Missing");
    let e = s
        .json(
            s.post("/api/v1/tables", Some(&s.manage))
                .jbody(&json!({ "spec": other })),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(e["error"]["code"], "invalid");
    assert_eq!(e["error"]["details"]["schema"], "Custom.Missing");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Custom.Missing"));
    // PUT of the table without a schema works the same way.
    s.json(
        s.req(Method::PUT, "/api/v1/tables/accounts", Some(&s.manage))
            .jbody(&json!({ "spec": SPEC })),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.req(Method::PUT, "/api/v1/tables/accounts/data", Some(&s.manage))
            .body("accountId,name\n111,alpha\n"),
        StatusCode::OK,
    )
    .await;
    assert!(enriched_name(&s, "111").await.contains("alpha"));

    // A compatible update re-applies the table, which keeps enriching.
    let v2 = schema_v2();
    let v = s
        .json(
            put_yaml(&s, PATH, Some(&s.manage), "text/plain; charset=utf-8", &v2),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (&v["created"], &v["changed"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(v["tables"][0]["table"], "accounts");
    assert_eq!(v["tables"][0]["action"], "change");
    assert_eq!(export(&s).await["schema_yaml"], v2.as_str());
    let g = stored_yaml(&s).await;
    assert_eq!((&g["yaml"], &g["stored"]), (&json!(v2), &json!(true)));
    assert_eq!(g["tables"], json!(["accounts"]));
    assert!(enriched_name(&s, "111").await.contains("alpha"));
    let r = s
        .json(
            s.get("/api/v1/tables/accounts/rows?key=111", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["matches"][0]["name"], "alpha");

    // An incompatible update: 422 naming the table, and nothing changes.
    let e = s
        .json(
            put_yaml(
                &s,
                PATH,
                Some(&s.manage),
                "application/x-yaml",
                SCHEMA_NO_KEY,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(e["error"]["code"], "invalid");
    let failed = &e["error"]["details"]["tables"];
    assert_eq!(failed[0]["table"], "accounts", "{e}");
    assert!(
        !failed[0]["diagnostics"].as_array().unwrap().is_empty(),
        "{e}"
    );
    assert_eq!(stored_yaml(&s).await["yaml"], v2.as_str());
    assert_eq!(export(&s).await["schema_yaml"], v2.as_str());
    assert!(enriched_name(&s, "111").await.contains("alpha"));

    // The name inside the YAML must be the one in the path.
    let e = s
        .json(
            put_yaml(
                &s,
                "/api/v1/schemas/Custom.Other",
                Some(&s.manage),
                "application/yaml",
                SCHEMA,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(
        e["error"]["details"]["diagnostics"][0]["code"],
        "name-mismatch"
    );

    // Bad YAML: 422 with line numbers; not YAML at all: 415.
    let e = s
        .json(
            put_yaml(
                &s,
                PATH,
                Some(&s.manage),
                "application/yaml",
                "schema: Custom.Accounts\nfields:\n  - name: [oops\n",
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    let d = &e["error"]["details"]["diagnostics"][0];
    assert!(d["line"].as_u64().unwrap() >= 1, "{e}");
    assert_eq!(d["file"], "schema.yml");
    s.json(
        put_yaml(&s, PATH, Some(&s.manage), "application/json", SCHEMA),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert_eq!(stored_yaml(&s).await["yaml"], v2.as_str());

    // Delete: 409 while used, 403 for read, 200 once unused, then 404.
    let e = s
        .json(s.delete(PATH, Some(&s.manage)), StatusCode::CONFLICT)
        .await;
    assert_eq!(e["error"]["code"], "conflict");
    s.json(s.delete(PATH, Some(&s.read)), StatusCode::FORBIDDEN)
        .await;
    let unused = SCHEMA.replace(NAME, "Custom.Unused");
    s.json(
        put_yaml(
            &s,
            "/api/v1/schemas/Custom.Unused",
            Some(&s.manage),
            "application/yaml",
            &unused,
        ),
        StatusCode::CREATED,
    )
    .await;
    let v = s
        .json(
            s.delete("/api/v1/schemas/Custom.Unused", Some(&s.manage)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v, json!({"schema": "Custom.Unused", "deleted": true}));
    s.json(
        s.delete("/api/v1/schemas/Custom.Unused", Some(&s.manage)),
        StatusCode::NOT_FOUND,
    )
    .await;
    s.json(
        s.get("/api/v1/schemas/Custom.Unused", Some(&s.read)),
        StatusCode::NOT_FOUND,
    )
    .await;

    // Audit: the successful changes, by schema name, and no table for the schema entries.
    let a = s
        .json(
            s.get("/api/v1/audit?action=schema.put", Some(&s.manage)),
            StatusCode::OK,
        )
        .await;
    let puts = a["entries"].as_array().unwrap();
    // New, unchanged (still on record), compatible update, and Custom.Unused.
    assert_eq!(puts.len(), 4, "{a}");
    assert!(puts.iter().all(|e| e["table"].is_null()), "{a}");
    let targets: Vec<&str> = puts.iter().map(|e| e["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["Custom.Unused", NAME, NAME, NAME]);
    let a = s
        .json(
            s.get("/api/v1/audit?action=schema.delete", Some(&s.manage)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(a["entries"].as_array().unwrap().len(), 1, "{a}");
    assert_eq!(a["entries"][0]["target"], "Custom.Unused");

    // The CLI reads the same catalog.
    let run = lut(
        [
            "--data-dir".as_ref(),
            data.as_os_str(),
            "schemas".as_ref(),
            "list".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
        ],
        None,
    );
    assert_eq!(
        run.json(),
        json!([{"name": NAME, "stored": true, "tables": ["accounts"]}])
    );
    let run = lut(
        [
            "--data-dir".as_ref(),
            data.as_os_str(),
            "schemas".as_ref(),
            "show".as_ref(),
            NAME.as_ref(),
        ],
        None,
    );
    assert_eq!(run.stdout_str(), v2);
    let run = lut(
        [
            "--data-dir".as_ref(),
            data.as_os_str(),
            "schemas".as_ref(),
            "show".as_ref(),
            "Custom.Nope".as_ref(),
        ],
        None,
    );
    assert!(run.stderr.contains("no schema named"), "{}", run.stderr);

    s.shutdown().await;
}

/// Two tables on one schema: an update that breaks only one of them changes neither, and a
/// table defined with its own copy is brought back in line by the next schema PUT.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_failing_table_blocks_the_whole_schema_update() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lut-data");
    let s = start_with(&data, |_| {}).await;
    s.json(
        put_yaml(&s, PATH, Some(&s.manage), "application/yaml", SCHEMA),
        StatusCode::CREATED,
    )
    .await;
    // `by_name` keys on the `name` field; `accounts` on `accountId`.
    let by_name = SPEC
        .replace("LookupName: accounts", "LookupName: by_name")
        .replace("PrimaryKey: accountId", "PrimaryKey: name");
    for spec in [SPEC.to_string(), by_name.clone()] {
        s.json(
            s.post("/api/v1/tables", Some(&s.manage))
                .jbody(&json!({ "spec": spec })),
            StatusCode::CREATED,
        )
        .await;
    }
    let list = s
        .json(s.get("/api/v1/schemas", Some(&s.read)), StatusCode::OK)
        .await;
    assert_eq!(
        list["schemas"],
        json!([{"name": NAME, "stored": true, "tables": ["accounts", "by_name"]}])
    );

    // Without `name`: fine for `accounts`, not for `by_name`: 422 naming only `by_name`.
    let no_name = "schema: Custom.Accounts\nfields:\n  - name: accountId\n    type: string\n    required: true\n";
    let e = s
        .json(
            put_yaml(&s, PATH, Some(&s.manage), "application/yaml", no_name),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    let failed = e["error"]["details"]["tables"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{e}");
    assert_eq!(failed[0]["table"], "by_name");
    assert!(e["error"]["message"].as_str().unwrap().contains("by_name"));
    for t in ["accounts", "by_name"] {
        let x = s
            .json(
                s.get(&format!("/api/v1/tables/{t}/export"), Some(&s.read)),
                StatusCode::OK,
            )
            .await;
        assert_eq!(x["schema_yaml"], SCHEMA, "{t} changed");
    }
    assert_eq!(stored_yaml(&s).await["yaml"], SCHEMA);

    // A table updated with its own copy: the stored schema is still what GET shows, and the
    // next schema PUT (same YAML, so `changed: false`) re-applies it to that table only.
    let own = format!("{SCHEMA}  - name: extra\n    type: string\n");
    s.json(
        s.req(Method::PUT, "/api/v1/tables/accounts", Some(&s.manage))
            .jbody(&json!({ "spec": SPEC, "schema": own })),
        StatusCode::OK,
    )
    .await;
    assert_eq!(stored_yaml(&s).await["yaml"], SCHEMA);
    assert_eq!(export(&s).await["schema_yaml"], own.as_str());
    // Disabled over the API: the re-apply below changes its schema, not whether it runs.
    s.json(
        s.post("/api/v1/tables/accounts/disable", Some(&s.manage)),
        StatusCode::OK,
    )
    .await;
    let v = s
        .json(
            put_yaml(&s, PATH, Some(&s.manage), "application/yaml", SCHEMA),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["changed"], false);
    let actions: Vec<(&str, &str)> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["table"].as_str().unwrap(), t["action"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("accounts", "change"), ("by_name", "same")]);
    assert_eq!(export(&s).await["schema_yaml"], SCHEMA);
    let t = s
        .json(
            s.get("/api/v1/tables/accounts", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(t["enabled"], false, "{t}");
    s.shutdown().await;
}
