//! Helpers shared by the `lut` integration tests: run the real binary, read its JSON
//! report, locate the conformance data and the project's examples, convert YAML to JSON.
#![allow(dead_code)]

pub mod prom;
pub mod server;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lut_core::yaml::{Node, Resolved, Value as YValue};
use serde_json::{json, Value};

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn stdout_str(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    /// The stdout of `--format json`, parsed.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not a JSON report ({e}):\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&self.stdout),
                self.stderr
            )
        })
    }
}

/// Runs `lut` with `args`, feeding `stdin` (or nothing) to it.
pub fn lut<I, S>(args: I, stdin: Option<&[u8]>) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    lut_env(args, stdin, &[])
}

/// [`lut`] with extra environment variables (set after the loopback-only defaults).
pub fn lut_env<I, S>(args: I, stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lut"));
    cmd.args(args)
        .env_remove("LUT_ROLE_PREFIX")
        .env_remove("LUT_EXTERNAL_ID")
        .env_remove("LUT_DATA_DIR")
        .env_remove("AWS_PROFILE")
        // Keep every AWS call on loopback: no instance metadata, no real endpoints.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "AKIDLUTTESTS")
        .env("AWS_SECRET_ACCESS_KEY", "lut-tests-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the lut binary");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        let data = input.to_vec();
        // Write from a thread so a large input cannot deadlock against a full stdout pipe.
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait for lut");
        writer.join().expect("stdin writer");
        return to_run(out);
    }
    to_run(child.wait_with_output().expect("wait for lut"))
}

fn to_run(out: std::process::Output) -> Run {
    Run {
        code: out.status.code().expect("lut exited by a signal"),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `lut validate --format json PATHS...`
pub fn validate_json(paths: &[&Path]) -> (Run, Value) {
    let mut args: Vec<std::ffi::OsString> =
        vec!["validate".into(), "--format".into(), "json".into()];
    args.extend(paths.iter().map(|p| p.as_os_str().to_owned()));
    let run = lut(args, None);
    let report = run.json();
    (run, report)
}

/// The conformance data: `LUT_CONFORMANCE_DIR`, else `shared/conformance` beside the checkout.
/// Missing data is a failure, never a silent skip.
pub fn conformance_dir() -> PathBuf {
    let dir = match std::env::var_os("LUT_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"),
    };
    assert!(
        dir.join("pat").is_dir() && dir.join("panther-analysis").is_dir(),
        "conformance data not found at {} (expected pat/ and panther-analysis/ in it); \
         set LUT_CONFORMANCE_DIR to the shared/conformance directory",
        dir.display()
    );
    dir.canonicalize().expect("canonical conformance dir")
}

/// The project's `examples/` directory.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .canonicalize()
        .expect("examples/ directory of the project")
}

/// The `*.yml` / `*.yaml` files directly in `dir`, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
        })
        .collect();
    out.sort();
    out
}

/// Every `*.yml` / `*.yaml` file under `dir`, recursively, sorted.
pub fn yaml_files_recursive(dir: &Path) -> Vec<PathBuf> {
    let mut out = yaml_files(dir);
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.') {
            out.extend(yaml_files_recursive(&p));
        }
    }
    out.sort();
    out
}

/// Parses a YAML file with lut's own parser and converts it to JSON.
pub fn read_yaml(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let node = lut_core::yaml::parse(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .unwrap_or_else(|| panic!("{}: no YAML document", path.display()));
    yaml_to_json(&node)
}

pub fn yaml_to_json(node: &Node) -> Value {
    match &node.value {
        YValue::Seq(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        YValue::Map(entries) => {
            let mut m = serde_json::Map::new();
            for (k, v) in entries {
                let key = match k.resolved() {
                    Some(Resolved::Str(s)) => s.to_string(),
                    Some(Resolved::Int(i)) => i.to_string(),
                    Some(Resolved::Bool(b)) => b.to_string(),
                    _ => panic!("unsupported YAML key at line {}", k.line),
                };
                m.insert(key, yaml_to_json(v));
            }
            Value::Object(m)
        }
        YValue::Scalar { .. } => match node.resolved().expect("scalar") {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => json!(b),
            Resolved::Int(i) => json!(i),
            Resolved::Float(f) => serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Resolved::Str(s) => json!(s),
        },
    }
}

/// The diagnostics of a validate report.
pub fn diagnostics(report: &Value) -> &Vec<Value> {
    report["diagnostics"]
        .as_array()
        .expect("report.diagnostics is a list")
}

/// The string list under `key` of a validate report (`tables`, `skipped`, `schemas`).
pub fn names(report: &Value, key: &str) -> Vec<String> {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("report.{key} is a list: {report}"))
        .iter()
        .map(|v| v.as_str().expect("name").to_string())
        .collect()
}

/// Whether a diagnostic names exactly `file` (pass the path as it was given to lut).
pub fn about(d: &Value, file: &Path) -> bool {
    d["file"].as_str().is_some_and(|f| Path::new(f) == file)
}

/// Writes `content` to `dir/rel`, creating parent directories.
pub fn write(dir: &Path, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
    std::fs::write(&path, content).expect("write file");
    path
}

/// Parses every line of NDJSON output that is a JSON object; other lines become `None`.
pub fn parse_lines(out: &str) -> Vec<Option<Value>> {
    out.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
        })
        .collect()
}

/// Whether `actual` holds every key of `expected` with an equal value.
pub fn is_subset(expected: &serde_json::Map<String, Value>, actual: &Value) -> bool {
    let Some(a) = actual.as_object() else {
        return false;
    };
    expected.iter().all(|(k, v)| a.get(k) == Some(v))
}

/// The example spec directory and events of the project.
pub fn examples() -> (PathBuf, PathBuf) {
    let ex = examples_dir();
    (ex.join("specs"), ex.join("events.jsonl"))
}

/// `lut enrich --spec-dir DIR EXTRA...` with `stdin` as input.
pub fn enrich(spec_dir: &Path, extra: &[&str], stdin: &[u8]) -> Run {
    let mut args: Vec<std::ffi::OsString> = vec!["enrich".into(), "--spec-dir".into()];
    args.push(spec_dir.as_os_str().to_owned());
    args.extend(extra.iter().map(Into::into));
    lut(args, Some(stdin))
}

/// The single output event of a successful run.
pub fn one_event(run: &Run) -> Value {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.stdout_str();
    assert_eq!(out.lines().count(), 1, "{out}");
    serde_json::from_str(out.trim_end()).expect("JSON output")
}

/// The output event whose `key` equals `value`.
pub fn find<'a>(events: &'a [Option<Value>], key: &str, value: &str) -> &'a Value {
    events
        .iter()
        .flatten()
        .find(|e| e[key] == json!(value))
        .unwrap_or_else(|| panic!("no output event with {key} = {value}"))
}

/// A `Filename` table spec for API tests (data comes by upload).
pub const ACCOUNTS_SPEC: &str = "AnalysisType: lookup_table
LookupName: accounts
Enabled: true
Filename: data/accounts.csv
Schema: Custom.Accounts
LogTypeMap:
  PrimaryKey: accountId
  AssociatedLogTypes:
    - LogType: AWS.CloudTrail
      Selectors:
        - recipientAccountId
";

/// The schema of [`ACCOUNTS_SPEC`].
pub const ACCOUNTS_SCHEMA: &str = "schema: Custom.Accounts
fields:
  - name: accountId
    type: string
    required: true
  - name: name
    type: string
";

/// The examples' spec directory as an apply bundle: relative path -> text.
pub fn example_bundle() -> BTreeMap<String, String> {
    let (specs, _) = examples();
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    walk(&specs, &specs, &mut out);
    out
}
