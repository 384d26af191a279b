//! The OpenAPI document against the live server: schemathesis (from PyPI, installed into
//! `target/schemathesis-venv` on first use) generates requests for every operation in
//! `/openapi.json` and checks that no response is a 5xx and that every response matches
//! its documented status, media type and schema.
//!
//! The server is the real binary started as the README starts it (`lut serve --apply
//! examples/specs`), with a manage token, so generated requests also create, change and
//! delete tables. Everything stays on loopback: AWS endpoints and HTTP(S) proxies point
//! at a closed local port, and `POST /api/v1/destinations/{id}/test` (which would deliver
//! to whatever URL a generated destination names) is left out. The run is bounded and
//! deterministic: a fixed seed, a fixed number of examples per operation, one worker.

mod common;

use std::io::{BufRead, Read};
use std::process::Command;
use std::time::Duration;

/// Cases per operation and phase; enough to reach every handler's validation paths while
/// keeping the run well under a minute.
const MAX_EXAMPLES: &str = "40";

#[test]
fn openapi_document_holds_for_generated_requests() {
    let bin = lut_testkit::ensure_schemathesis_venv().expect("schemathesis venv");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lut-data");
    let loopback_only = [
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_ACCESS_KEY_ID", "AKIDLUTTESTS"),
        ("AWS_SECRET_ACCESS_KEY", "lut-tests-secret"),
        ("AWS_REGION", "us-east-1"),
        ("HTTP_PROXY", "http://127.0.0.1:9"),
        ("HTTPS_PROXY", "http://127.0.0.1:9"),
        ("NO_PROXY", "127.0.0.1,localhost"),
    ];
    let specs = common::examples().0;
    let (mut child, addr, mut stderr) = common::server::spawn_binary_with(
        &data,
        &["--apply".as_ref(), specs.as_os_str()],
        &loopback_only,
    );
    // The first-start token follows the "listening" line.
    let mut token = String::new();
    while !token.starts_with("lut_") {
        token.clear();
        assert!(
            stderr.read_line(&mut token).unwrap() > 0,
            "serve exited early"
        );
        token = token.trim().to_string();
    }
    // Keep draining the server's log so it never blocks on a full pipe; kept for the end.
    let log = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });

    let out = Command::new(bin.join("st"))
        .args(["run", &format!("http://{addr}/openapi.json")])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", "20261205", "-w", "1"])
        .args(["--exclude-path-regex", "^/api/v1/destinations/\\{id\\}/test$"])
        .args(["--request-timeout", "30"])
        // Its cache of found crashes goes to the temp dir, not into the source tree.
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);

    // The server survived the run and still answers.
    let alive = healthy(&format!("http://{addr}/healthz"));
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let status = child.wait().unwrap();
    let server_log = log.join().unwrap();

    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("Tested:") && !report.contains("Tested: 0"),
        "{report}"
    );
    assert!(alive, "the server stopped answering during the run");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(
        !server_log.contains("panicked"),
        "the server panicked:\n{server_log}"
    );
    assert!(
        !server_log.contains(&token),
        "the token leaked into the log"
    );
}

/// Whether `url` answers 2xx (the test itself runs no async runtime).
fn healthy(url: &str) -> bool {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        matches!(client.get(url).send().await, Ok(r) if r.status().is_success())
    })
}
