//! The audit log (issue 4): changes made over the API with two tokens and with the CLI
//! are recorded with the right actor, action and target; read-only, refused and failed
//! calls are not; paging with `before`; the log survives a restart; no token value or
//! destination secret appears in it; `lut audit` prints it as text and JSON.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::server::{start, JsonBody, Server};
use common::{example_bundle, examples, lut_env, ACCOUNTS_SCHEMA as SCHEMA, ACCOUNTS_SPEC as SPEC};
use lut_store::tokens::{self, NewToken, Permission};
use lut_store::{now_millis, Catalog, DataDir};
use reqwest::StatusCode;
use serde_json::{json, Value};

const HOOK_URL: &str = "http://127.0.0.1:9/hooks/SECRETPATH-1234";
const HOOK_SECRET: &str = "hmac-SECRET-5678";

fn fresh() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lut-data");
    (dir, data)
}

/// A manage token with a description, and its id.
fn add_described_token(data: &Path, description: &str) -> (String, i64) {
    let (plain, hash) = tokens::generate();
    let rec = DataDir::open(data)
        .unwrap()
        .catalog()
        .add_token(&NewToken {
            hash,
            permission: Permission::Manage,
            description: Some(description.into()),
            created_at: now_millis(),
            expires_at: None,
        })
        .unwrap();
    (plain, rec.id)
}

fn token_id(data: &Path, plain: &str) -> i64 {
    let h = tokens::hash(plain);
    DataDir::open(data)
        .unwrap()
        .catalog()
        .tokens()
        .unwrap()
        .into_iter()
        .find(|t| t.hash == h)
        .unwrap()
        .id
}

/// Every entry, following `next` pages of `limit`.
async fn all_entries(s: &Server, query: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut path = format!("/api/v1/audit?limit={limit}{query}");
        if let Some(b) = before {
            path.push_str(&format!("&before={b}"));
        }
        let v = s.json(s.get(&path, Some(&s.manage)), StatusCode::OK).await;
        let page = v["entries"].as_array().unwrap().clone();
        assert!(page.len() <= limit);
        out.extend(page);
        match v["next"].as_i64() {
            Some(n) => before = Some(n),
            None => return out,
        }
    }
}

/// (actor, action, target) of each entry, newest first.
fn triples(entries: &[Value]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

fn cli(data: &Path, args: &[&str]) -> common::Run {
    let mut all = vec!["--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    lut_env(&all, None, &[("USER", "audit-tester")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_and_cli_changes_are_audited() {
    let (_dir, data) = fresh();
    let s = start(&data).await;
    let (ops, ops_id) = add_described_token(&data, "ops-bot");
    let a = format!("token:{}", token_id(&data, &s.manage));
    let b = format!("token:{ops_id}");
    // The server re-reads tokens every 200 ms in tests.
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Changes with token A and token B.
    s.json(
        s.post("/api/v1/tables", Some(&s.manage))
            .jbody(&json!({ "spec": SPEC, "schema": SCHEMA })),
        StatusCode::CREATED,
    )
    .await;
    let up = s
        .json(
            s.req(
                reqwest::Method::PUT,
                "/api/v1/tables/accounts/data",
                Some(&ops),
            )
            .body("accountId,name\n1,one\n2,two\n"),
            StatusCode::OK,
        )
        .await;
    let version = up["version"]["id"].as_i64().unwrap();
    s.json(
        s.post("/api/v1/tables/accounts/disable", Some(&ops)),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.post("/api/v1/tables/accounts/enable", Some(&ops)),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.post("/api/v1/tables/accounts/sync", Some(&s.manage)),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.post("/api/v1/tables/accounts/rollback", Some(&ops))
            .jbody(&json!({ "version": version })),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.post("/api/v1/tables/accounts/unpin", Some(&ops)),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.post("/api/v1/tables/accounts/retention", Some(&s.manage))
            .jbody(&json!({ "keep": 1 })),
        StatusCode::OK,
    )
    .await;
    let err = DataDir::open(&data)
        .unwrap()
        .catalog()
        .raise_error(&lut_store::NewSystemError {
            table: Some("accounts".into()),
            severity: "HIGH".into(),
            stage: "test".into(),
            code: None,
            message: "m".into(),
            remedy: "r".into(),
            at: now_millis(),
        })
        .unwrap();
    s.json(
        s.post(&format!("/api/v1/errors/{}/ack", err.id), Some(&ops)),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.post("/api/v1/destinations", Some(&s.manage))
            .jbody(&json!({
                "name": "hook", "kind": "webhook", "url": HOOK_URL, "secret": HOOK_SECRET,
                "headers": { "X-Api-Key": "HEADER-SECRET-9" }, "min_severity": "LOW",
            })),
        StatusCode::CREATED,
    )
    .await;
    // Port 9 refuses: the test alert fails, which is its outcome, not a failed request.
    let t = s
        .json(
            s.post("/api/v1/destinations/hook/test", Some(&ops)),
            StatusCode::OK,
        )
        .await;
    assert_eq!(t["delivered"], false);
    s.json(
        s.delete("/api/v1/destinations/hook", Some(&s.manage)),
        StatusCode::OK,
    )
    .await;

    // Read-only, refused and failed calls: no entries.
    s.json(s.get("/api/v1/tables", Some(&s.read)), StatusCode::OK)
        .await;
    s.json(s.get("/api/v1/audit", Some(&s.manage)), StatusCode::OK)
        .await;
    s.json(s.get("/api/v1/audit", Some(&s.read)), StatusCode::FORBIDDEN)
        .await;
    s.json(
        s.post("/api/v1/tables/accounts/disable", Some(&s.read)),
        StatusCode::FORBIDDEN,
    )
    .await;
    s.json(
        s.post("/api/v1/tables/accounts/disable", None),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    s.json(
        s.post("/api/v1/tables", Some(&s.manage))
            .jbody(&json!({ "spec": SPEC, "schema": SCHEMA })),
        StatusCode::CONFLICT,
    )
    .await;
    s.json(
        s.delete("/api/v1/tables/nope", Some(&s.manage)),
        StatusCode::NOT_FOUND,
    )
    .await;
    // An invalid bundle (no schema) fails; a valid dry run changes nothing.
    let (specs, _) = examples();
    let one = json!({ "files": {
        "aws_accounts.yml": std::fs::read_to_string(specs.join("aws_accounts.yml")).unwrap(),
    }});
    s.json(
        s.post("/api/v1/apply", Some(&s.manage)).jbody(&one),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let v = s
        .json(
            s.post("/api/v1/apply?dry_run=true", Some(&s.manage))
                .jbody(&json!({ "files": example_bundle() })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(v["changes"], 2);
    // The real apply: one entry per table, written with the change.
    s.json(
        s.post("/api/v1/apply", Some(&s.manage))
            .jbody(&json!({ "files": example_bundle() })),
        StatusCode::OK,
    )
    .await;
    s.json(
        s.post("/api/v1/tables/accounts/rollback", Some(&s.manage))
            .jbody(&json!({ "version": 999_999 })),
        StatusCode::NOT_FOUND,
    )
    .await;

    let api = |who: &str, action: &str, target: &str| {
        (who.to_string(), action.to_string(), target.to_string())
    };
    let expected = vec![
        api(&a, "bundle.apply", "corp_networks"),
        api(&a, "bundle.apply", "aws_accounts"),
        api(&a, "destination.delete", "hook"),
        api(&b, "destination.test", "hook"),
        api(&a, "destination.create", "hook"),
        api(&b, "error.ack", &err.id.to_string()),
        api(&a, "table.retention", "accounts"),
        api(&b, "table.unpin", "accounts"),
        api(&b, "table.rollback", "accounts"),
        api(&a, "table.sync", "accounts"),
        api(&b, "table.enable", "accounts"),
        api(&b, "table.disable", "accounts"),
        api(&b, "table.upload", "accounts"),
        api(&a, "table.create", "accounts"),
    ];
    let entries = all_entries(&s, "", 100).await;
    assert_eq!(triples(&entries), expected, "{entries:#?}");
    let by = |action: &str| entries.iter().find(|e| e["action"] == action).unwrap();
    assert_eq!(by("table.upload")["actor_description"], "ops-bot");
    assert_eq!(by("table.upload")["details"]["version"], version);
    assert_eq!(by("table.upload")["table"], "accounts");
    assert_eq!(by("table.create")["details"]["action"], "add");
    assert_eq!(by("destination.test")["outcome"], "failed");
    assert_eq!(by("destination.create")["details"]["kind"], "webhook");
    assert!(by("table.sync")["outcome"].is_string());
    assert_eq!(by("table.rollback")["details"]["version"], version);
    assert_eq!(by("table.rollback")["details"]["pinned"], true);
    assert_eq!(by("table.unpin")["details"]["pinned"], false);
    assert_eq!(by("table.retention")["details"]["keep"], 1);
    assert!(entries.iter().all(|e| e["at"].as_i64().unwrap() > 0));

    // Paging by one gives the same list; filters.
    assert_eq!(all_entries(&s, "", 1).await, entries);
    assert_eq!(all_entries(&s, "", 3).await, entries);
    let mine = all_entries(&s, &format!("&actor={b}"), 100).await;
    assert_eq!(mine.len(), 7);
    let dest = all_entries(&s, "&action=destination.*", 100).await;
    assert_eq!(dest.len(), 3);
    let table = all_entries(&s, "&table=accounts", 100).await;
    assert_eq!(table.len(), 8);
    let e = s
        .json(
            s.get("/api/v1/audit?since=yesterday", Some(&s.manage)),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(e["error"]["code"], "bad_request");

    // A CLI apply on the shared data directory: actor cli:<user>; nothing changes (the API
    // applied the same files), so one entry without a target.
    let (specs, _) = examples();
    let run = cli(&data, &["apply", specs.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cli_entries = all_entries(&s, "&actor=cli:*", 100).await;
    assert_eq!(
        triples(&cli_entries),
        vec![api("cli:audit-tester", "bundle.apply", "-")]
    );
    assert_eq!(cli_entries[0]["details"]["changes"], 0);

    // No secret anywhere in the log.
    let text = s
        .get("/api/v1/audit?limit=1000", Some(&s.manage))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in [
        s.manage.as_str(),
        s.read.as_str(),
        ops.as_str(),
        HOOK_URL,
        "SECRETPATH",
        HOOK_SECRET,
        "HEADER-SECRET",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }

    // A restart keeps the log.
    s.shutdown().await;
    let s = start(&data).await;
    let after = all_entries(&s, "&action=table.*", 100).await;
    assert_eq!(after.len(), 8);
    assert_eq!(
        all_entries(&s, "", 100).await.len(),
        expected.len() + 1,
        "everything survives"
    );
    s.shutdown().await;
}

#[test]
fn cli_changes_and_lut_audit_output() {
    let (_dir, data) = fresh();
    let (specs, _) = examples();
    assert_eq!(cli(&data, &["apply", specs.to_str().unwrap()]).code, 0);
    // A dry run records nothing.
    assert_eq!(
        cli(&data, &["apply", "--dry-run", specs.to_str().unwrap()]).code,
        0
    );
    let created = cli(
        &data,
        &[
            "tokens",
            "create",
            "--permission",
            "read",
            "--description",
            "vector",
        ],
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let token = created.stdout_str().trim().to_string();
    assert!(token.starts_with("lut_"));
    assert_eq!(cli(&data, &["tokens", "revoke", "1"]).code, 0);
    let dd = DataDir::open(&data).unwrap();
    let live = dd.catalog().live_version("aws_accounts").unwrap().unwrap();
    drop(dd);
    let v = live.id.to_string();
    assert_eq!(
        cli(&data, &["tables", "rollback", "aws_accounts", &v]).code,
        0
    );
    assert_eq!(cli(&data, &["tables", "unpin", "aws_accounts"]).code, 0);
    let add = cli(
        &data,
        &[
            "destinations",
            "add",
            "--name",
            "hook",
            "--kind",
            "webhook",
            "--url",
            HOOK_URL,
        ],
    );
    assert_eq!(add.code, 0, "{}", add.stderr);
    assert_eq!(cli(&data, &["destinations", "remove", "hook"]).code, 0);
    // A failing command records nothing.
    assert_ne!(cli(&data, &["tokens", "revoke", "99"]).code, 0);
    assert_ne!(cli(&data, &["errors", "ack", "99"]).code, 0);

    let json = cli(&data, &["audit", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let entries = json.json();
    let got: Vec<(String, String)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["actor"], "cli:audit-tester");
            (
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("destination.delete", "hook"),
        ("destination.create", "hook"),
        ("table.unpin", "aws_accounts"),
        ("table.rollback", "aws_accounts"),
        ("token.revoke", "1"),
        ("token.create", "1"),
        ("bundle.apply", "corp_networks"),
        ("bundle.apply", "aws_accounts"),
    ]
    .iter()
    .map(|(a, t)| (a.to_string(), t.to_string()))
    .collect();
    assert_eq!(got, want);
    let raw = String::from_utf8_lossy(&json.stdout);
    assert!(
        !raw.contains(&token) && !raw.contains("SECRETPATH"),
        "{raw}"
    );
    assert_eq!(entries[5]["details"]["description"], "vector");
    assert_eq!(entries[3]["details"]["version"], live.id);

    // Text: a header and one aligned line per entry.
    let text = cli(&data, &["audit", "--table", "aws_accounts"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let out = text.stdout_str();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for h in ["TIME", "ACTOR", "ACTION", "TARGET", "DETAILS"] {
        assert!(lines[0].contains(h), "{out}");
    }
    assert!(lines[1].contains("cli:audit-tester") && lines[1].contains("table.unpin"));
    assert!(lines[3].contains("bundle.apply") && lines[3].contains("aws_accounts"));
    let col = lines[0].find("ACTION").unwrap();
    assert!(lines[1..]
        .iter()
        .all(|l| l[col..].starts_with("table.") || l[col..].starts_with("bundle.")));

    // --limit, --actor, --action.
    let one = cli(&data, &["audit", "--limit", "1", "--format", "json"]).json();
    assert_eq!(one.as_array().unwrap().len(), 1);
    let none = cli(&data, &["audit", "--actor", "token:1", "--format", "json"]).json();
    assert!(none.as_array().unwrap().is_empty());
    let tok = cli(&data, &["audit", "--action", "token.*", "--format", "json"]).json();
    assert_eq!(tok.as_array().unwrap().len(), 2);
    let empty = tempfile::tempdir().unwrap();
    let run = cli(&empty.path().join("d"), &["audit"]);
    assert_eq!(run.stdout_str().trim(), "no audit entries");
}
