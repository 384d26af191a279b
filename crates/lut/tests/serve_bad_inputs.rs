//! Bad requests to every route that takes input: malformed JSON and YAML, unknown fields,
//! oversized bodies, wrong content types, bad path and query values. Each gets the right
//! status and the `{"error": {"code", "message", "details"}}` envelope, and none changes
//! anything (the table list and live versions are compared before and after).

mod common;

use std::path::PathBuf;

use common::server::{start_with, JsonBody, Server};
use common::{examples, lut};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn applied() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lut-data");
    let (specs, _) = examples();
    let r = lut(
        [
            "apply",
            specs.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    (dir, data)
}

/// Sends and checks the status and the envelope's code; returns the error object.
async fn refused(s: &Server, r: reqwest::RequestBuilder, status: StatusCode, code: &str) -> Value {
    let resp = r.send().await.unwrap();
    let got = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    assert!(ct.starts_with("application/json"), "{ct}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let e = &v["error"];
    assert_eq!(e["code"], code, "{text}");
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{text}"
    );
    assert!(e.get("details").is_some(), "{text}");
    let _ = s;
    e.clone()
}

async fn state(s: &Server) -> Value {
    let t = s
        .json(s.get("/api/v1/tables", Some(&s.manage)), StatusCode::OK)
        .await;
    let mut out = Vec::new();
    for t in t["tables"].as_array().unwrap() {
        out.push(json!([
            t["name"],
            t["enabled"],
            t["live_version"]["id"],
            t["pinned"],
            t["updated_at"]
        ]));
    }
    json!(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_with_the_error_envelope_and_change_nothing() {
    let (_dir, data) = applied();
    let s = start_with(&data, |c| c.max_json_bytes = 4096).await;
    let m = Some(s.manage.as_str());
    let before = state(&s).await;

    // Malformed JSON, to every JSON route.
    let json_routes = [
        (Method::POST, "/api/v1/tables"),
        (Method::PUT, "/api/v1/tables/aws_accounts"),
        (Method::POST, "/api/v1/apply"),
        (Method::POST, "/api/v1/tables/aws_accounts/rollback"),
        (Method::POST, "/api/v1/tables/aws_accounts/retention"),
        (Method::POST, "/api/v1/destinations"),
    ];
    for (method, path) in &json_routes {
        let r = s
            .req(method.clone(), path, m)
            .header("content-type", "application/json")
            .body("{,}");
        refused(&s, r, StatusCode::BAD_REQUEST, "bad_request").await;
        // Not JSON at all, said to be JSON.
        let r = s
            .req(method.clone(), path, m)
            .header("content-type", "application/json")
            .body("spec: yaml");
        refused(&s, r, StatusCode::BAD_REQUEST, "bad_request").await;
        // The wrong content type.
        let r = s
            .req(method.clone(), path, m)
            .header("content-type", "text/plain")
            .body("{}");
        refused(
            &s,
            r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        // Over the JSON body limit.
        let big = json!({"files": {"a.yml": "x".repeat(8192)}});
        let r = s.req(method.clone(), path, m).jbody(&big);
        refused(&s, r, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    }

    // Unknown fields are named.
    let (specs, _) = examples();
    let spec = std::fs::read_to_string(specs.join("aws_accounts.yml")).unwrap_or_default();
    for (path, body) in [
        (
            "/api/v1/tables",
            json!({"spec": "x", "schema": "y", "extra": 1}),
        ),
        ("/api/v1/apply", json!({"files": {}, "prune": true})),
        (
            "/api/v1/tables/aws_accounts/rollback",
            json!({"version": 1, "force": true}),
        ),
        (
            "/api/v1/tables/aws_accounts/retention",
            json!({"keep": 2, "all": true}),
        ),
        (
            "/api/v1/destinations",
            json!({"name": "d", "kind": "webhook", "colour": "red"}),
        ),
    ] {
        let e = refused(
            &s,
            s.post(path, m).jbody(&body),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
        )
        .await;
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains("unknown field"), "{path}: {msg}");
    }
    let _ = spec;

    // Wrong types and missing members.
    refused(
        &s,
        s.post("/api/v1/tables/aws_accounts/rollback", m)
            .jbody(&json!({"version": "one"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "bad_request",
    )
    .await;
    refused(
        &s,
        s.post("/api/v1/tables", m).jbody(&json!({"schema": "y"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "bad_request",
    )
    .await;
    // `schema` may be left out (the stored schema is used), so this one reaches the loader.
    refused(
        &s,
        s.post("/api/v1/tables", m).jbody(&json!({"spec": "x"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;

    // Malformed YAML in a definition: 422 with a diagnostic that names the line.
    let e = refused(
        &s,
        s.post("/api/v1/tables", m).jbody(&json!({
            "spec": "AnalysisType: lookup_table\nLookupName: [unclosed\n",
            "schema": "schema: Custom.X\nfields: []\n",
        })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    let diags = e["details"]["diagnostics"].as_array().unwrap();
    assert!(
        diags
            .iter()
            .any(|d| d["file"] == "spec.yml" && d["line"].as_u64().is_some()),
        "{e}"
    );
    // Malformed YAML to the schema validator.
    let e = refused(
        &s,
        s.post("/api/v1/schemas/validate", m)
            .body("fields: [\n  - name: a\n"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    assert!(!e["details"]["diagnostics"].as_array().unwrap().is_empty());
    // A body that is not UTF-8.
    refused(
        &s,
        s.post("/api/v1/schemas/validate", m)
            .body(vec![0xff, 0xfe, 0x00]),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;

    // Names and ids: unknown tables, ids that are not numbers, a traversal attempt.
    for path in [
        "/api/v1/tables/nope",
        "/api/v1/tables/nope/versions",
        "/api/v1/tables/..%2F..%2Fetc/versions",
        "/api/v1/schemas/Custom.Nope",
    ] {
        refused(&s, s.get(path, m), StatusCode::NOT_FOUND, "not_found").await;
    }
    for path in [
        "/api/v1/tables/aws_accounts/versions/abc",
        "/api/v1/tables/aws_accounts/versions/diff?from=x&to=1",
        "/api/v1/tables/aws_accounts/checks?limit=-1",
        "/api/v1/tables/aws_accounts/rows",
        "/api/v1/errors?all=maybe",
    ] {
        refused(&s, s.get(path, m), StatusCode::BAD_REQUEST, "bad_request").await;
    }
    refused(
        &s,
        s.post("/api/v1/errors/abc/ack", m),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    refused(
        &s,
        s.post("/api/v1/apply?dry_run=perhaps", m)
            .jbody(&json!({"files": {}})),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    // Bundle paths that leave the bundle.
    for bad in ["../x.yml", "/etc/passwd", "a/../../b.yml"] {
        refused(
            &s,
            s.post("/api/v1/apply", m)
                .jbody(&json!({"files": {bad: "x"}})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    // Uploads to a table that does not exist, and an empty upload.
    refused(
        &s,
        s.req(Method::PUT, "/api/v1/tables/nope/data", m)
            .body("a,b\n"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // A method the route does not take, and a route that does not exist.
    refused(
        &s,
        s.req(Method::PATCH, "/api/v1/tables/aws_accounts", m),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    refused(
        &s,
        s.get("/api/v2/tables", m),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    assert_eq!(
        state(&s).await,
        before,
        "a refused request changed something"
    );
    s.shutdown().await;
}
