//! A restarted server keeps everything: tables and their enabled flags, every version and
//! which one is live, pins, destinations, tokens, the ExternalId, and what enrichment and
//! lookups return, which it serves before its first request (no sync needed).

mod common;

use std::path::PathBuf;

use common::server::{start, JsonBody, Server};
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

/// Everything a client can see, read with `token`.
async fn snapshot(s: &Server, token: &str) -> Value {
    let t = Some(token);
    let get = |p: &str| s.json(s.get(p, t), StatusCode::OK);
    let mut tables = get("/api/v1/tables").await;
    let mut versions = json!({});
    for tb in tables["tables"].as_array_mut().unwrap() {
        let name = tb["name"].as_str().unwrap().to_string();
        versions[&name] = get(&format!("/api/v1/tables/{name}/versions")).await;
        // When the last check ran is not state to keep.
        tb.as_object_mut().unwrap().remove("last_check");
    }
    // Disabled: no live data, the same answer before and after (but for the request id).
    let mut cidr = s
        .json(
            s.get("/api/v1/tables/corp_networks/rows?key=10.20.30.40", t),
            StatusCode::CONFLICT,
        )
        .await;
    cidr.as_object_mut().unwrap().remove("request_id");
    let (_, events) = examples();
    let enriched = s
        .req(Method::POST, "/api/v1/enrich", t)
        .body(std::fs::read(&events).unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    json!({
        "tables": tables,
        "versions": versions,
        "destinations": get("/api/v1/destinations").await,
        "settings": get("/api/v1/settings").await,
        "schemas": get("/api/v1/schemas").await,
        "rows": get("/api/v1/tables/aws_accounts/rows?key=210987654321").await,
        "cidr": cidr,
        "enriched": enriched,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_everything() {
    let (_dir, data) = applied();
    let s = start(&data).await;
    let m = Some(s.manage.as_str());

    // Changes of every kind: a new uploaded version, then a rollback that pins the table
    // to the first one; a disabled table; a destination.
    let csv = "accountId,name,owner,environment,isProduction\n\
               210987654321,renamed-staging,bob@example.com,staging,false\n";
    s.json(
        s.req(Method::PUT, "/api/v1/tables/aws_accounts/data", m)
            .body(csv),
        StatusCode::OK,
    )
    .await;
    let first = s
        .json(
            s.get("/api/v1/tables/aws_accounts/versions", m),
            StatusCode::OK,
        )
        .await["versions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .clone();
    s.json(
        s.post("/api/v1/tables/aws_accounts/rollback", m)
            .jbody(&json!({ "version": first })),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.post("/api/v1/tables/corp_networks/disable", m),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.post("/api/v1/destinations", m).jbody(&json!({
            "name": "oncall", "kind": "webhook", "url": "http://127.0.0.1:9/hook",
            "min_severity": "HIGH",
        })),
        StatusCode::CREATED,
    )
    .await;
    let before = snapshot(&s, &s.manage).await;
    assert_eq!(before["tables"]["tables"][0]["pinned"], true, "{before}");
    assert_eq!(before["rows"]["matches"][0]["name"], "payments-staging");
    let (old_read, old_manage) = (s.read.clone(), s.manage.clone());
    s.shutdown().await;

    // The same data directory, a new process-like start: the old tokens still work and
    // everything reads the same, from the first request on.
    let s = start(&data).await;
    let after = snapshot(&s, &old_manage).await;
    assert_eq!(after, before);
    s.json(s.get("/api/v1/tables", Some(&old_read)), StatusCode::OK)
        .await;
    // Still pinned: unpinning makes the newest (uploaded) version live again.
    s.json(
        s.post("/api/v1/tables/aws_accounts/unpin", Some(&old_manage)),
        StatusCode::OK,
    )
    .await;
    let rows = s
        .json(
            s.get(
                "/api/v1/tables/aws_accounts/rows?key=210987654321",
                Some(&old_read),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(rows["matches"][0]["name"], "renamed-staging");
    s.shutdown().await;
}
