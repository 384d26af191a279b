//! `lut serve` observability over real HTTP: `/metrics` series and values after syncs,
//! uploads and enrichment (checked against the enrich response itself), the exposition
//! format line by line, seconds-since gauges after a restart, request ids, and logs that
//! never contain a token.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::prom::{check_histograms, validate, value, Sample};
use common::server::{apply_examples, spawn_binary, start, Server};
use common::{examples, lut};
use lut_store::{
    now_millis, Catalog, CheckRecord, DataDir, DefinitionChange, NewVersion, TableRecord,
};
use reqwest::StatusCode;
use serde_json::Value;

fn t(table: &str) -> [(&str, &str); 1] {
    [("table", table)]
}

async fn scrape(s: &Server) -> Vec<Sample> {
    let resp = s.get("/metrics", None).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    validate(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn the_validator_rejects_what_prometheus_would() {
    let ok = "# HELP a_total x\n# TYPE a_total counter\na_total{t=\"q\\\"\"} 1\n";
    assert_eq!(validate(ok).unwrap()[0].labels["t"], "q\"");
    for bad in [
        "a 1\n",                                        // no TYPE
        "# HELP a x\n# TYPE a gauge\na{t=\"x} 1\n",     // unterminated
        "# HELP a x\n# TYPE a gauge\na{t=x} 1\n",       // unquoted
        "# HELP a x\n# TYPE a gauge\na 1\na 2\n",       // series twice
        "# HELP a x\n# TYPE a gauge\na one\n",          // value
        "# HELP a x\n# TYPE a gauge\nb 1\n",            // outside its family
        "# HELP a x\n# TYPE a gauge\na 1",              // no final newline
        "# HELP h x\n# TYPE h histogram\nh_bucket 1\n", // no le
        "# HELP a x\n# TYPE a gauge\na{1t=\"x\"} 1\n",  // label name
        "# HELP a x\n# TYPE a gauge\na{t=\"\\x\"} 1\n", // escape
    ] {
        assert!(validate(bad).is_err(), "{bad:?}");
    }
}

// ---- fixtures ----

const SCHEMA: &str = "schema: Custom.Accounts\nparser:\n  csv:\n    hasHeader: true\nfields:\n  - {name: id, type: string, required: true}\n  - {name: owner, type: string}\n";

fn watched(name: &str, csv: &Path, period_minutes: u32) -> TableRecord {
    let now = now_millis();
    TableRecord {
        name: name.into(),
        enabled: true,
        spec_yaml: format!(
            "AnalysisType: lookup_table\nLookupName: {name}\nEnabled: true\nSchema: Custom.Accounts\nRefresh:\n  ObjectPath: file://{}\n  PeriodMinutes: {period_minutes}\nLogTypeMap:\n  PrimaryKey: id\n  AssociatedLogTypes:\n    - LogType: AWS.CloudTrail\n      Selectors: [recipientAccountId]\n",
            csv.display()
        ),
        schema_name: "Custom.Accounts".into(),
        schema_yaml: SCHEMA.into(),
        source_kind: "watch".into(),
        created_at: now,
        updated_at: now,
    }
}

/// The examples applied by the real `lut apply`, plus a watched CSV table `accounts`.
fn data_dir(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = dir.join("lut-data");
    apply_examples(&data);
    let csv = dir.join("accounts.csv");
    std::fs::write(&csv, "id,owner\n111122223333,alice\n").unwrap();
    DataDir::open(&data)
        .unwrap()
        .catalog()
        .apply(&DefinitionChange {
            upsert: vec![watched("accounts", &csv, 60)],
            ..DefinitionChange::default()
        })
        .unwrap();
    (data, csv)
}

/// Match objects per (table, selector) in enriched NDJSON.
fn matches_in(out: &[u8]) -> BTreeMap<(String, String), u64> {
    let mut m = BTreeMap::new();
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(Value::Object(ev)) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let Some(Value::Object(tables)) = ev.get("p_enrichment") else {
            continue;
        };
        for (table, sels) in tables {
            for (sel, v) in sels.as_object().unwrap() {
                let n = v.as_array().map_or(1, |a| a.len() as u64);
                *m.entry((table.clone(), sel.clone())).or_default() += n;
            }
        }
    }
    m
}

async fn enrich(s: &Server, body: Vec<u8>) -> Vec<u8> {
    let resp = s
        .post("/api/v1/enrich", Some(&s.read))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.bytes().await.unwrap().to_vec()
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_after_sync_upload_and_enrich() {
    let dir = tempfile::tempdir().unwrap();
    let (data, csv) = data_dir(dir.path());
    let s = start(&data).await;

    // A sync that publishes, one that fails validation, one that publishes again.
    let sync = |s: &Server| s.post("/api/v1/tables/accounts/sync", Some(&s.manage));
    let r = s.json(sync(&s), StatusCode::OK).await;
    let first = r["result"]["outcome"].as_str().unwrap().to_string();
    assert!(first == "updated" || first == "unchanged", "{r}");
    std::fs::write(&csv, "id,owner\n,nobody\n").unwrap();
    let r = s.json(sync(&s), StatusCode::OK).await;
    assert_eq!(r["result"]["outcome"], "failed", "{r}");
    let stage = r["result"]["failure"]["stage"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(&csv, "id,owner\n111122223333,bob\n999999999999,carol\n").unwrap();
    let r = s.json(sync(&s), StatusCode::OK).await;
    assert_eq!(r["result"]["outcome"], "updated", "{r}");
    let accounts_version = r["result"]["version"]["id"].as_i64().unwrap();

    // An upload to a file-backed table.
    let upload = "accountId,name,owner,environment,isProduction\n\
                  123456789012,payments-prod,alice@example.com,production,true\n\
                  210987654321,payments-staging,alice@example.com,staging,false\n\
                  999999999999,sandbox,dan@example.com,sandbox,false\n";
    let r = s
        .json(
            s.req(
                reqwest::Method::PUT,
                "/api/v1/tables/aws_accounts/data",
                Some(&s.manage),
            )
            .body(upload),
            StatusCode::OK,
        )
        .await;
    let aws_version = r["version"]["id"].as_i64().unwrap();

    let before = scrape(&s).await;

    // Enrichment: the examples, twice (the second request checks that counters only grow).
    let (_, events) = examples();
    let input = std::fs::read(&events).unwrap();
    let out1 = enrich(&s, input.clone()).await;
    let mid = scrape(&s).await;
    let out2 = enrich(&s, input.clone()).await;
    let after = scrape(&s).await;

    // Table gauges.
    let v = |m: &[Sample], n: &str, l: &[(&str, &str)]| {
        value(m, n, l).unwrap_or_else(|| panic!("no {n}{l:?}"))
    };
    assert_eq!(v(&after, "lut_table_rows", &t("accounts")), 2.0);
    assert_eq!(
        v(&after, "lut_table_live_version", &t("accounts")),
        accounts_version as f64
    );
    assert_eq!(v(&after, "lut_table_rows", &t("aws_accounts")), 3.0);
    assert_eq!(
        v(&after, "lut_table_live_version", &t("aws_accounts")),
        aws_version as f64
    );
    for table in ["accounts", "aws_accounts", "corp_networks"] {
        assert_eq!(v(&after, "lut_table_loaded", &t(table)), 1.0);
        let fresh = v(&after, "lut_table_seconds_since_new_data", &t(table));
        assert!((0.0..60.0).contains(&fresh), "{table}: {fresh}");
    }
    let ok = v(
        &after,
        "lut_table_seconds_since_last_success",
        &t("accounts"),
    );
    assert!((0.0..60.0).contains(&ok), "{ok}");
    // File-backed tables are never checked.
    assert_eq!(
        value(
            &after,
            "lut_table_seconds_since_last_success",
            &t("aws_accounts")
        ),
        None
    );

    // Syncs: outcomes, failures by stage, durations.
    assert_eq!(
        v(
            &after,
            "lut_sync_failures_total",
            &[("table", "accounts"), ("stage", &stage)]
        ),
        1.0
    );
    assert!(v(&after, "lut_syncs_total", &[("outcome", "failed")]) >= 1.0);
    assert!(v(&after, "lut_syncs_total", &[("outcome", "updated")]) >= 1.0);
    let failed_checks = v(
        &after,
        "lut_sync_check_duration_seconds_count",
        &[("table", "accounts"), ("outcome", "failed")],
    );
    assert_eq!(failed_checks, 1.0);
    assert!(check_histograms(&after, "lut_sync_check_duration_seconds") >= 2);

    // Enrichment counters equal what the responses carry.
    let lines = input.iter().filter(|&&b| b == b'\n').count() as f64;
    assert_eq!(v(&mid, "lut_enrich_lines_total", &[]), lines);
    assert_eq!(v(&after, "lut_enrich_lines_total", &[]), 2.0 * lines);
    assert_eq!(v(&after, "lut_enrich_requests_total", &[]), 2.0);
    assert_eq!(
        v(&after, "lut_enrich_bytes_in_total", &[]),
        2.0 * input.len() as f64
    );
    assert_eq!(
        v(&after, "lut_enrich_bytes_out_total", &[]),
        (out1.len() + out2.len()) as f64
    );
    assert_eq!(
        v(&after, "lut_enrich_events_total", &[]),
        v(&after, "lut_enrich_events_in_total", &[])
    );
    let expected = matches_in(&out1);
    assert!(
        expected.len() >= 3,
        "the examples match several tables and selectors: {expected:?}"
    );
    let sel = |m: &[Sample]| -> BTreeMap<(String, String), f64> {
        m.iter()
            .filter(|s| s.name == "lut_enrich_matches_total")
            .map(|s| {
                (
                    (s.labels["table"].clone(), s.labels["selector"].clone()),
                    s.value,
                )
            })
            .collect()
    };
    let (m_before, m_mid, m_after) = (sel(&before), sel(&mid), sel(&after));
    // Every selector of the current tables has a series, at 0 before any match.
    assert!(m_before.values().all(|&n| n == 0.0), "{m_before:?}");
    assert_eq!(
        m_before.keys().collect::<Vec<_>>(),
        m_after.keys().collect::<Vec<_>>()
    );
    for (key, n) in &m_mid {
        let want = expected.get(key).copied().unwrap_or(0) as f64;
        assert_eq!(*n, want, "{key:?} after one request");
        assert_eq!(m_after[key], 2.0 * want, "{key:?} after two");
    }
    for key in expected.keys() {
        assert!(m_mid.contains_key(key), "{key:?} has a series");
    }

    // HTTP.
    let enrich_route = [("method", "POST"), ("route", "/api/v1/enrich")];
    assert_eq!(
        v(
            &after,
            "lut_http_requests_total",
            &[enrich_route[0], enrich_route[1], ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        v(
            &after,
            "lut_http_request_duration_seconds_count",
            &enrich_route
        ),
        2.0
    );
    assert!(
        v(
            &after,
            "lut_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/v1/tables/{name}/sync"),
                ("status", "200")
            ]
        ) >= 3.0,
        "the route pattern, never the raw path"
    );
    assert!(!after.iter().any(|s| s
        .labels
        .get("route")
        .is_some_and(|r| r.contains("accounts"))));
    assert!(check_histograms(&after, "lut_http_request_duration_seconds") >= 3);

    // Counters and histogram counts never go down between scrapes.
    for (older, newer) in [(&before, &mid), (&mid, &after)] {
        for s in older.iter().filter(|s| {
            s.name.ends_with("_total") || s.name.ends_with("_count") || s.name.ends_with("_bucket")
        }) {
            let now = value(
                newer,
                &s.name,
                &s.labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>(),
            );
            assert!(
                now.is_some_and(|n| n >= s.value),
                "{} {:?}: {} then {now:?}",
                s.name,
                s.labels,
                s.value
            );
        }
    }

    // A deleted table's gauges go; its counters stay.
    s.json(
        s.delete("/api/v1/tables/accounts", Some(&s.manage)),
        StatusCode::OK,
    )
    .await;
    let gone = scrape(&s).await;
    assert_eq!(value(&gone, "lut_table_rows", &t("accounts")), None);
    assert_eq!(
        value(
            &gone,
            "lut_sync_failures_total",
            &[("table", "accounts"), ("stage", &stage)]
        ),
        Some(1.0)
    );
    s.shutdown().await;
}

/// Seconds-since gauges come from the stored state: a server started an hour after the
/// last check and the last new data says so from its first scrape.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_server_reports_seconds_since_from_stored_state() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("accounts.csv");
    let content = b"id,owner\n1,alice\n2,bob\n";
    std::fs::write(&csv, content).unwrap();
    let data = dir.path().join("lut-data");
    let hour_ago = now_millis() - 3_600_000;
    {
        let dd = DataDir::open(&data).unwrap();
        let cat = dd.catalog();
        // Period 2 h: the check an hour ago is not due again, so nothing refreshes it.
        cat.apply(&DefinitionChange {
            upsert: vec![watched("accounts", &csv, 120)],
            ..DefinitionChange::default()
        })
        .unwrap();
        let (sha, _) = dd.blobs().put_bytes(content).unwrap();
        let v = cat
            .add_version(
                &NewVersion {
                    table: "accounts".into(),
                    etag: None,
                    size: content.len() as u64,
                    sha256: sha,
                    rows: 2,
                    source: format!("file://{}", csv.display()),
                    fetched_at: hour_ago,
                },
                true,
            )
            .unwrap();
        cat.record_check(&CheckRecord {
            table: "accounts".into(),
            at: hour_ago,
            outcome: "updated".into(),
            version_id: Some(v.id),
            stage: None,
            code: None,
            message: None,
            duration_ms: 12,
        })
        .unwrap();
    }
    let s = start(&data).await;
    let m = scrape(&s).await;
    let t = t("accounts");
    for name in [
        "lut_table_seconds_since_last_success",
        "lut_table_seconds_since_new_data",
    ] {
        let secs = value(&m, name, &t).unwrap_or_else(|| panic!("no {name}"));
        assert!((3600.0..3700.0).contains(&secs), "{name} = {secs}");
    }
    assert_eq!(value(&m, "lut_table_rows", &t), Some(2.0));
    assert_eq!(value(&m, "lut_table_loaded", &t), Some(1.0));
    s.shutdown().await;

    // And again after a real restart: still counting from the stored times.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let s = start(&data).await;
    let m = scrape(&s).await;
    let secs = value(&m, "lut_table_seconds_since_new_data", &t).unwrap();
    assert!(secs >= 3601.0, "{secs}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_ids_are_echoed_generated_or_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_dir(dir.path());
    let s = start(&data).await;
    let id_of = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_string();
    let is_generated = |id: &str| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());

    // Given and valid: echoed.
    let given = "3f2a1c9e-7b4d-4c1e-9a0b-123456789abc";
    let r = s
        .get("/healthz", None)
        .header("x-request-id", given)
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&r), given);

    // Absent: generated, different each time.
    let a = id_of(&s.get("/healthz", None).send().await.unwrap());
    let b = id_of(&s.get("/healthz", None).send().await.unwrap());
    assert!(is_generated(&a) && is_generated(&b) && a != b, "{a} {b}");

    // Invalid (unsafe characters, too long): replaced by a generated one.
    for bad in ["has space", "a/b", "x\"y", &"a".repeat(129)] {
        let r = s
            .get("/healthz", None)
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let id = id_of(&r);
        assert!(is_generated(&id), "{bad:?} -> {id}");
    }

    // Error bodies carry it too, wherever the error comes from.
    for (req, status) in [
        (s.get("/api/v1/tables", None), StatusCode::UNAUTHORIZED),
        (
            s.get("/api/v1/tables/nope", Some(&s.read)),
            StatusCode::NOT_FOUND,
        ),
        (s.get("/no/such/route", None), StatusCode::NOT_FOUND),
        (
            s.get("/api/v1/tables/aws_accounts/checks?limit=x", Some(&s.read)),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = req.header("x-request-id", "err-1").send().await.unwrap();
        assert_eq!(r.status(), status);
        assert_eq!(id_of(&r), "err-1");
        let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(body["request_id"], "err-1", "{body}");
    }
    // And streaming responses have the header.
    let r = s
        .post("/api/v1/enrich", Some(&s.read))
        .header("x-request-id", "enrich-1")
        .body("{}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&r), "enrich-1");
    s.shutdown().await;
}

/// The binary's logs: one line per request with its id, status and token id; never the
/// token, the Authorization header or a query string.
#[test]
fn logs_name_requests_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_dir(dir.path());
    let dd = data.to_str().unwrap();
    // A token made before the first start, so the server prints no first-start token.
    let made = lut(
        [
            "--data-dir",
            dd,
            "tokens",
            "create",
            "--permission",
            "manage",
        ],
        None,
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let token = made.stdout_str().trim().to_string();
    let token_id = DataDir::open(&data).unwrap().catalog().tokens().unwrap()[0].id;

    // Everything lut logs, down to trace.
    let (mut child, addr, mut stderr) = spawn_binary(&data, &[("LUT_LOG", "warn,lut=trace")]);
    // Read the rest on a thread so the pipe never fills.
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        rest
    });
    let query_secret = "qs-secret-4711";
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let url = |p: &str| format!("http://{addr}{p}");
        let r = http
            .get(url("/api/v1/tables"))
            .bearer_auth(&token)
            .header("x-request-id", "log-test-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = http
            .get(url(&format!(
                "/api/v1/tables/aws_accounts/rows?key={query_secret}"
            )))
            .bearer_auth(&token)
            .header("x-request-id", "log-test-2")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = http
            .post(url("/api/v1/enrich"))
            .bearer_auth(&token)
            .header("x-request-id", "log-test-3")
            .body("{\"recipientAccountId\":\"1\"}\nnot json\n")
            .send()
            .await
            .unwrap();
        r.bytes().await.unwrap();
        let r = http
            .get(url("/api/v1/tables"))
            .bearer_auth("lut_wrong-token-value")
            .header("x-request-id", "log-test-4")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    });
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(child.wait().unwrap().success());
    let logs = reader.join().unwrap();

    let find = |id: &str| {
        logs.lines()
            .find(|l| l.contains(&format!("request_id={id}")) && l.contains("request finished"))
            .unwrap_or_else(|| panic!("no log line for {id}:\n{logs}"))
            .to_string()
    };
    let l1 = find("log-test-1");
    assert!(l1.contains("status=200"), "{l1}");
    assert!(l1.contains(&format!("token_id={token_id}")), "{l1}");
    assert!(
        !l1.contains('\x1b'),
        "no colours in a log that is not a terminal: {l1}"
    );
    assert!(l1.contains("route=/api/v1/tables"), "{l1}");
    assert!(l1.contains("method=GET"), "{l1}");
    assert!(l1.contains("latency_ms="), "{l1}");
    let l2 = find("log-test-2");
    assert!(l2.contains("route=/api/v1/tables/{name}/rows"), "{l2}");
    find("log-test-3");
    let l4 = find("log-test-4");
    assert!(
        l4.contains("status=401") && !l4.contains("token_id="),
        "{l4}"
    );

    for secret in [
        token.as_str(),
        "lut_wrong-token-value",
        query_secret,
        "Bearer",
    ] {
        assert!(!logs.contains(secret), "{secret:?} is in the logs:\n{logs}");
    }
}
