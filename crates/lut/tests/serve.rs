//! `lut serve` end to end: the API server in-process on 127.0.0.1:0 over a data directory
//! filled by the real `lut apply`, exercised over real HTTP.

mod common;

use common::server::{
    add_token, apply_examples, define_watched_accounts, spawn_binary_with, start, start_with,
};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{examples, lut};
use lut_store::tokens::Permission;
use lut_store::{now_millis, Catalog, DataDir};
use reqwest::StatusCode;
use serde_json::Value;

fn applied_examples() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lut-data");
    apply_examples(&data);
    (dir, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_tables_enrich_metrics_and_shutdown() {
    let (_dir, data) = applied_examples();
    let s = start_with(&data, |c| {
        c.principal = Some("arn:aws:iam::123456789012:role/lut-service".into())
    })
    .await;

    // Open routes.
    let h = s.json(s.get("/healthz", None), StatusCode::OK).await;
    assert_eq!(h["status"], "ok");

    // 401 without or with a bad token, with the error shape; 403 with too little.
    let e = s
        .json(s.get("/api/v1/tables", None), StatusCode::UNAUTHORIZED)
        .await;
    assert_eq!(e["error"]["code"], "unauthorized");
    assert!(e["error"]["message"].is_string());
    assert!(e["error"].get("details").is_some());
    s.json(
        s.get("/api/v1/tables", Some("lut_nope")),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let e = s
        .json(
            s.post("/api/v1/tables/aws_accounts/sync", Some(&s.read)),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(e["error"]["code"], "forbidden");
    s.json(
        s.post("/api/v1/errors/999/ack", Some(&s.read)),
        StatusCode::FORBIDDEN,
    )
    .await;
    s.json(
        s.post("/api/v1/errors/999/ack", Some(&s.manage)),
        StatusCode::NOT_FOUND,
    )
    .await;

    // Tables.
    let list = s
        .json(s.get("/api/v1/tables", Some(&s.read)), StatusCode::OK)
        .await;
    let names: Vec<&str> = list["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aws_accounts", "corp_networks"]);
    let t = s
        .json(
            s.get("/api/v1/tables/aws_accounts", Some(&s.manage)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(t["loaded"], true);
    assert!(t["live_version"]["rows"].as_u64().unwrap() > 0);
    assert!(t["spec_yaml"].as_str().unwrap().contains("aws_accounts"));
    let e = s
        .json(
            s.get("/api/v1/tables/nope", Some(&s.read)),
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_eq!(e["error"]["code"], "not_found");
    let v = s
        .json(
            s.get("/api/v1/tables/aws_accounts/versions", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["versions"].as_array().unwrap().len(), 1);

    // Lookups: exact and CIDR.
    let r = s
        .json(
            s.get(
                "/api/v1/tables/aws_accounts/rows?key=123456789012",
                Some(&s.read),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["matches"][0]["name"], "payments-prod");
    let r = s
        .json(
            s.get(
                "/api/v1/tables/corp_networks/rows?key=10.20.30.40",
                Some(&s.read),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["matches"][0]["site"], "berlin-lab");
    let r = s
        .json(
            s.get("/api/v1/tables/aws_accounts/rows?key=000", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["matches"].as_array().unwrap().len(), 0);

    // Bad inputs get the JSON error shape.
    let e = s
        .json(
            s.get("/api/v1/errors?bogus=1", Some(&s.read)),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(e["error"]["code"], "bad_request");
    let e = s
        .json(
            s.post("/api/v1/errors/abc/ack", Some(&s.manage)),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(e["error"]["details"]["in"], "path");
    let e = s
        .json(
            s.http.delete(format!("{}/api/v1/tables", s.base)),
            StatusCode::METHOD_NOT_ALLOWED,
        )
        .await;
    assert_eq!(e["error"]["code"], "method_not_allowed");
    s.json(s.get("/nope", None), StatusCode::NOT_FOUND).await;
    let id = v["versions"][0]["id"].as_i64().unwrap();
    let one = s
        .json(
            s.get(
                &format!("/api/v1/tables/aws_accounts/versions/{id}"),
                Some(&s.read),
            ),
            StatusCode::OK,
        )
        .await;
    assert_eq!(one["live"], true);
    s.json(
        s.get("/api/v1/tables/aws_accounts/versions/999", Some(&s.read)),
        StatusCode::NOT_FOUND,
    )
    .await;
    let c = s
        .json(
            s.get("/api/v1/tables/aws_accounts/checks", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert!(c["checks"].is_array());
    let r = s.json(s.get("/readyz", None), StatusCode::OK).await;
    assert_eq!(r["loaded_tables"], 2);

    // Errors: one resolved, one open (written by another process sharing the catalog).
    {
        let dd = DataDir::open(&data).unwrap();
        let cat = dd.catalog();
        let raise = |table: &str, at: i64| lut_store::NewSystemError {
            table: Some(table.into()),
            severity: "CRITICAL".into(),
            stage: "get-object".into(),
            code: Some("AccessDenied".into()),
            message: format!("{table} is unreadable"),
            remedy: "fix the policy".into(),
            at,
        };
        cat.raise_error(&raise("aws_accounts", 1)).unwrap();
        cat.resolve_errors("aws_accounts", 2).unwrap();
        cat.raise_error(&raise("corp_networks", 3)).unwrap();
    }
    let tables_of = |v: &Value| -> Vec<String> {
        let mut t: Vec<String> = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["table"].as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    };
    for (query, want) in [
        ("", vec!["corp_networks"]),
        ("?status=open", vec!["corp_networks"]),
        ("?status=resolved", vec!["aws_accounts"]),
        ("?status=all", vec!["aws_accounts", "corp_networks"]),
        ("?all=true", vec!["aws_accounts", "corp_networks"]),
        ("?status=all&table=aws_accounts", vec!["aws_accounts"]),
    ] {
        let e = s
            .json(
                s.get(&format!("/api/v1/errors{query}"), Some(&s.read)),
                StatusCode::OK,
            )
            .await;
        assert_eq!(tables_of(&e), want, "{query}: {e}");
    }
    s.json(
        s.get("/api/v1/errors?status=closed", Some(&s.read)),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let st = s
        .json(s.get("/api/v1/settings", Some(&s.read)), StatusCode::OK)
        .await;
    assert_eq!(st["external_id"].as_str().unwrap().len(), 32);
    assert_eq!(
        st["service_principal"],
        "arn:aws:iam::123456789012:role/lut-service"
    );
    assert_eq!(st["service_principal_origin"], "configured");

    // Enrichment gives the bytes `lut enrich --spec-dir` gives.
    let (specs, events) = examples();
    let input = std::fs::read(&events).unwrap();
    let cli = lut(
        [
            "enrich",
            "-q",
            "--spec-dir",
            specs.to_str().unwrap(),
            "--input",
            events.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    let resp = s
        .post("/api/v1/enrich", Some(&s.read))
        .body(input.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let got = resp.bytes().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&cli.stdout)
    );
    let unauth = s
        .post("/api/v1/enrich", None)
        .body(input.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), StatusCode::UNAUTHORIZED);

    // Metrics.
    let m = s
        .get("/metrics", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = input.iter().filter(|&&b| b == b'\n').count();
    assert!(
        m.contains(&format!("lut_enrich_lines_total {lines}")),
        "{m}"
    );
    assert!(m.contains("lut_table_rows{table=\"aws_accounts\"}"), "{m}");
    assert!(m.contains("lut_syncs_total{outcome=\"failed\"} 0"), "{m}");
    assert!(
        m.contains(
            "lut_http_requests_total{method=\"GET\",route=\"/api/v1/tables\",status=\"401\"} 2"
        ),
        "{m}"
    );

    // A revoked token stops working within the refresh interval.
    let dd = DataDir::open(&data).unwrap();
    let id = dd.catalog().tokens().unwrap()[0].id;
    dd.catalog().revoke_token(id, now_millis()).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    s.json(
        s.get("/api/v1/tables", Some(&s.read)),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // An expired one never works.
    let old = add_token(&dd, Permission::Manage, Some(now_millis() - 1));
    tokio::time::sleep(Duration::from_millis(400)).await;
    s.json(
        s.get("/api/v1/tables", Some(&old)),
        StatusCode::UNAUTHORIZED,
    )
    .await;

    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_body_streams_back_complete_and_in_order() {
    let (dir, data) = applied_examples();
    let s = start(&data).await;
    const LINES: usize = 200_000;
    let accounts = ["123456789012", "210987654321", "999999999999"];
    let mut all = Vec::new();
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    for c in 0..LINES / 1000 {
        let mut chunk = Vec::new();
        for i in c * 1000..(c + 1) * 1000 {
            chunk.extend_from_slice(
                format!(
                    "{{\"p_log_type\":\"AWS.CloudTrail\",\"recipientAccountId\":\"{}\",\"n\":{i}}}\n",
                    accounts[i % 3]
                )
                .as_bytes(),
            );
        }
        all.extend_from_slice(&chunk);
        // Split chunks mid-line so blocks must be re-cut on line boundaries.
        let mid = chunk.len() / 3;
        chunks.push(chunk[..mid].to_vec());
        chunks.push(chunk[mid..].to_vec());
    }
    let input_path = dir.path().join("big.jsonl");
    std::fs::write(&input_path, &all).unwrap();
    let (specs, _) = examples();
    let cli = lut(
        [
            "enrich",
            "-q",
            "--spec-dir",
            specs.to_str().unwrap(),
            "--input",
            input_path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(cli.code, 0, "{}", cli.stderr);

    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, std::io::Error>),
    ));
    let resp = s
        .post("/api/v1/enrich?log_type=AWS.CloudTrail", Some(&s.read))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let got = resp.bytes().await.unwrap();
    assert_eq!(got.iter().filter(|&&b| b == b'\n').count(), LINES);
    assert!(got == cli.stdout, "streamed output differs from lut enrich");
    s.shutdown().await;
}

const SCHEMA: &str = "schema: Custom.Accounts\nparser:\n  csv:\n    hasHeader: true\nfields:\n  - {name: id, type: string, required: true}\n  - {name: owner, type: string}\n";

fn watched_spec(path: &Path) -> String {
    format!(
        "AnalysisType: lookup_table\nLookupName: accounts\nEnabled: true\nSchema: Custom.Accounts\nRefresh:\n  ObjectPath: file://{}\n  PeriodMinutes: 60\nLogTypeMap:\n  PrimaryKey: id\n  AssociatedLogTypes:\n    - LogType: AWS.CloudTrail\n      Selectors: [recipientAccountId]\n",
        path.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_now_on_a_watched_file_table() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("accounts.csv");
    std::fs::write(&csv, "id,owner\n1,alice\n").unwrap();
    let data = dir.path().join("lut-data");
    define_watched_accounts(&data, watched_spec(&csv), SCHEMA);
    let s = start(&data).await;
    let r = s
        .json(
            s.post("/api/v1/tables/accounts/sync", Some(&s.manage)),
            StatusCode::OK,
        )
        .await;
    // The scheduler may have checked it first at start; either way it is live now.
    let outcome = r["result"]["outcome"].as_str().unwrap().to_string();
    assert!(outcome == "updated" || outcome == "unchanged", "{r}");
    let r = s
        .json(
            s.get("/api/v1/tables/accounts/rows?key=1", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["matches"][0]["owner"], "alice");

    std::fs::write(&csv, "id,owner\n1,bob\n2,carol\n").unwrap();
    let r = s
        .json(
            s.post("/api/v1/tables/accounts/sync", Some(&s.manage)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["result"]["outcome"], "updated", "{r}");
    let r = s
        .json(
            s.get("/api/v1/tables/accounts/rows?key=1", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["matches"][0]["owner"], "bob");
    let v = s
        .json(
            s.get("/api/v1/tables/accounts/versions", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["versions"].as_array().unwrap().len(), 2);
    let t = s
        .json(
            s.get("/api/v1/tables/accounts", Some(&s.read)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(t["last_check"]["outcome"], "updated");
    assert_eq!(t["live_version"]["rows"], 2);
    s.json(
        s.post("/api/v1/tables/nope/sync", Some(&s.manage)),
        StatusCode::NOT_FOUND,
    )
    .await;
    let m = s
        .get("/metrics", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("lut_table_rows{table=\"accounts\"} 2"), "{m}");
    s.shutdown().await;
}

/// The binary as the README starts it (`lut serve --apply examples/specs`): the example
/// tables applied and loaded, its first-start token, `lut tokens` beside it, then SIGTERM.
#[test]
fn the_binary_serves_prints_a_first_token_and_stops_on_sigterm() {
    use std::io::BufRead;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lut-data");
    let specs = examples().0;
    let (mut child, addr, mut stderr) =
        spawn_binary_with(&data, &["--apply".as_ref(), specs.as_os_str()], &[]);
    // The first-start token comes after the "listening" line.
    let mut token = None;
    let mut line = String::new();
    while token.is_none() {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited early"
        );
        if line.trim().starts_with("lut_") {
            token = Some(line.trim().to_string());
        }
    }
    let token = token.unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let r = http
            .get(format!("http://{addr}/api/v1/tables"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let tables: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        let loaded: Vec<_> = tables["tables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["loaded"] == true)
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(loaded.len(), 2, "both example tables serve: {tables}");
        // The README's enrich call gives what `lut enrich --spec-dir` gives.
        let (specs, events) = examples();
        let input = std::fs::read(&events).unwrap();
        let cli = lut(
            ["enrich", "--spec-dir", specs.to_str().unwrap()],
            Some(&input),
        );
        let served = http
            .post(format!("http://{addr}/api/v1/enrich"))
            .bearer_auth(&token)
            .body(input)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(served.as_ref(), cli.stdout.as_slice());
    });

    // `lut tokens` against the same data directory while the server runs.
    let dd = data.to_str().unwrap();
    let made = lut(
        [
            "--data-dir",
            dd,
            "tokens",
            "create",
            "--permission",
            "read",
            "--expires-in",
            "1d",
        ],
        None,
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let read = made.stdout_str().trim().to_string();
    assert!(read.starts_with("lut_"));
    let listed = lut(
        ["--data-dir", dd, "tokens", "list", "--format", "json"],
        None,
    );
    let list = listed.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        !listed.stdout_str().contains(&read),
        "values are never listed"
    );
    let bad = lut(
        [
            "--data-dir",
            dd,
            "tokens",
            "create",
            "--permission",
            "admin",
        ],
        None,
    );
    assert_ne!(bad.code, 0);
    rt.block_on(async {
        let http = reqwest::Client::new();
        let mut status = StatusCode::UNAUTHORIZED;
        for _ in 0..50 {
            status = http
                .get(format!("http://{addr}/api/v1/tables"))
                .bearer_auth(&read)
                .send()
                .await
                .unwrap()
                .status();
            if status == StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            status,
            StatusCode::OK,
            "a CLI-made token reaches the server"
        );
    });
    let id = list[1]["id"].as_i64().unwrap().to_string();
    let revoked = lut(["--data-dir", dd, "tokens", "revoke", &id], None);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
}

/// Enrichment requests running while a table is swapped again and again all succeed, and
/// each line is enriched by exactly one version (both of its matches agree), never going
/// back to an older one within a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrichment_during_swaps_sees_one_version_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("accounts.csv");
    let write_gen = |g: u32| {
        std::fs::write(&csv, format!("id,owner\n1,v{g}\n2,v{g}\n")).unwrap();
    };
    write_gen(0);
    let data = dir.path().join("lut-data");
    let spec = watched_spec(&csv).replace(
        "Selectors: [recipientAccountId]",
        "Selectors: [recipientAccountId, sourceAccount]",
    );
    define_watched_accounts(&data, spec, SCHEMA);
    let s = start(&data).await;
    s.json(
        s.post("/api/v1/tables/accounts/sync", Some(&s.manage)),
        StatusCode::OK,
    )
    .await;

    const LINES: usize = 20_000;
    let mut requests = Vec::new();
    for _ in 0..3 {
        let http = s.http.clone();
        let url = format!("{}/api/v1/enrich?log_type=AWS.CloudTrail", s.base);
        let token = s.read.clone();
        requests.push(tokio::spawn(async move {
            let chunks = (0..LINES / 500).map(|c| {
                let mut chunk = Vec::new();
                for i in c * 500..(c + 1) * 500 {
                    chunk.extend_from_slice(
                        format!(
                            "{{\"recipientAccountId\":\"1\",\"sourceAccount\":\"2\",\"n\":{i}}}\n"
                        )
                        .as_bytes(),
                    );
                }
                Ok::<_, std::io::Error>(chunk)
            });
            // Slow the body down so swaps land in the middle of it.
            let body =
                futures_util::StreamExt::then(futures_util::stream::iter(chunks), |c| async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    c
                });
            let resp = http
                .post(url)
                .bearer_auth(token)
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.bytes().await.unwrap()
        }));
    }
    for g in 1..=5 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        write_gen(g);
        let r = s
            .json(
                s.post("/api/v1/tables/accounts/sync", Some(&s.manage)),
                StatusCode::OK,
            )
            .await;
        assert_eq!(r["result"]["outcome"], "updated", "{r}");
    }
    let mut seen = std::collections::BTreeSet::new();
    for req in requests {
        let out = req.await.unwrap();
        let mut last = 0u32;
        let mut n = 0usize;
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_slice(line).unwrap();
            assert_eq!(v["n"], n);
            n += 1;
            let acc = &v["p_enrichment"]["accounts"];
            let a = acc["recipientAccountId"]["owner"].as_str().unwrap();
            let b = acc["sourceAccount"]["owner"].as_str().unwrap();
            assert_eq!(a, b, "one version per line: {v}");
            let g: u32 = a[1..].parse().unwrap();
            assert!(g >= last, "never back to an older version");
            last = g;
            seen.insert(g);
        }
        assert_eq!(n, LINES);
    }
    assert!(
        seen.len() > 1,
        "swaps happened during the requests: {seen:?}"
    );
    s.shutdown().await;
}

/// A request that never ends does not keep the server from stopping: after the grace
/// period it is cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_cuts_off_requests_after_the_grace_period() {
    let (_dir, data) = applied_examples();
    let s = start_with(&data, |c| c.shutdown_grace = Duration::from_millis(300)).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(b"{\"a\":1}\n".to_vec())).await.unwrap();
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let resp = s
        .post("/api/v1/enrich", Some(&s.read))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    s.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(tx);
}

/// `lut apply` on the data directory a server uses reaches the server within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_changes_reach_a_running_server() {
    let (dir, data) = applied_examples();
    let s = start(&data).await;
    let specs = dir.path().join("specs");
    let (orig, _) = examples();
    let copy = Command::new("cp")
        .arg("-r")
        .arg(&orig)
        .arg(&specs)
        .status()
        .unwrap();
    assert!(copy.success());
    let csv = specs.join("data/aws_accounts.csv");
    let text = std::fs::read_to_string(&csv)
        .unwrap()
        .replace("payments-prod", "payments-renamed");
    std::fs::write(&csv, text).unwrap();
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
    let mut name = Value::Null;
    // The server rescans every ~2 s; allow a loaded CI machine 30 s.
    for _ in 0..300 {
        let r = s
            .json(
                s.get(
                    "/api/v1/tables/aws_accounts/rows?key=123456789012",
                    Some(&s.read),
                ),
                StatusCode::OK,
            )
            .await;
        name = r["matches"][0]["name"].clone();
        if name == "payments-renamed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(name, "payments-renamed");
    s.shutdown().await;
}
