//! A `lut serve` instance for API tests: a server on 127.0.0.1:0 over a data directory,
//! with a read and a manage token, and small request helpers.

use std::path::Path;
use std::time::Duration;

use lut_service::api::{serve, ServeConfig, ServeError};
use lut_store::tokens::{self, NewToken, Permission};
use lut_store::{now_millis, Catalog, DataDir};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// `.jbody(&json)`: a JSON request body.
pub trait JsonBody {
    fn jbody(self, v: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn jbody(self, v: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(v.to_string())
    }
}

pub struct Server {
    pub base: String,
    pub read: String,
    pub manage: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

/// Adds a token straight to the catalog and returns its secret.
pub fn add_token(dd: &DataDir, p: Permission, expires_at: Option<i64>) -> String {
    let (plain, hash) = tokens::generate();
    dd.catalog()
        .add_token(&NewToken {
            hash,
            permission: p,
            description: None,
            created_at: now_millis(),
            expires_at,
        })
        .unwrap();
    plain
}

/// `lut apply` of the project's examples into the data directory `data`.
pub fn apply_examples(data: &Path) {
    let (specs, _) = super::examples();
    let r = super::lut(
        [
            "--data-dir",
            data.to_str().unwrap(),
            "apply",
            specs.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The `lut serve` binary on 127.0.0.1:0 over `data`, with `env` set: the child, its
/// address, and its stderr after the "listening" line (read it, or the pipe fills up).
// The caller waits for the child it gets back; a failed test does not.
#[allow(clippy::zombie_processes)]
pub fn spawn_binary(
    data: &Path,
    env: &[(&str, &str)],
) -> (
    std::process::Child,
    String,
    std::io::BufReader<std::process::ChildStderr>,
) {
    spawn_binary_with(data, &[], env)
}

/// [`spawn_binary`] with more `serve` arguments (e.g. `--apply DIR`). The caller owns and
/// waits for the child; only the "exited early" panic leaves it, and then it has exited.
#[allow(clippy::zombie_processes)]
pub fn spawn_binary_with(
    data: &Path,
    serve_args: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
) -> (
    std::process::Child,
    String,
    std::io::BufReader<std::process::ChildStderr>,
) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_lut"))
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(serve_args)
        .env_remove("LUT_CONFIG")
        .env_remove("LUT_LISTEN")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited early"
        );
        if let Some(rest) = line.trim().strip_prefix("lut serve: listening on http://") {
            let addr = rest.split_whitespace().next().unwrap().to_string();
            return (child, addr, stderr);
        }
    }
}

pub async fn start(data: &Path) -> Server {
    start_with(data, |_| {}).await
}

/// Starts a server with fast rescans and token refreshes, after `tweak` has its say.
pub async fn start_with(data: &Path, tweak: impl FnOnce(&mut ServeConfig)) -> Server {
    let dd = DataDir::open(data).unwrap();
    let read = add_token(&dd, Permission::Read, None);
    let manage = add_token(&dd, Permission::Manage, None);
    drop(dd);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut config = ServeConfig {
        data_dir: data.to_path_buf(),
        rescan: Duration::from_secs(1),
        token_refresh: Duration::from_millis(200),
        bootstrap_token: false,
        // A configured principal keeps `GET /api/v1/settings` off the AWS credential chain;
        // tests of the STS lookup set it back to `None`.
        principal: Some("arn:aws:iam::123456789012:role/lut-tests".into()),
        ..ServeConfig::default()
    };
    tweak(&mut config);
    let task = tokio::spawn(serve(listener, config, async move {
        let _ = rx.await;
    }));
    Server {
        base: format!("http://{addr}"),
        read,
        manage,
        stop: Some(tx),
        task,
        http: reqwest::Client::new(),
    }
}

impl Server {
    pub fn req(&self, m: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let r = self.http.request(m, format!("{}{path}", self.base));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        self.req(Method::GET, path, token)
    }

    pub fn post(&self, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        self.req(Method::POST, path, token)
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        self.req(Method::DELETE, path, token)
    }

    /// Sends `r`, checks the status and parses the JSON body.
    pub async fn json(&self, r: reqwest::RequestBuilder, status: StatusCode) -> Value {
        let resp = r.send().await.unwrap();
        let got = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(got, status, "body: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// Stops the server and waits for a clean exit.
    pub async fn shutdown(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("graceful shutdown in time")
            .unwrap()
            .unwrap();
    }
}

/// Defines `accounts` (schema `Custom.Accounts` = `schema_yaml`) as a watched-file table with
/// `spec_yaml`, straight in the catalog of the data directory at `data`.
pub fn define_watched_accounts(data: &Path, spec_yaml: String, schema_yaml: &str) {
    let now = now_millis();
    DataDir::open(data)
        .unwrap()
        .catalog()
        .apply(&lut_store::DefinitionChange {
            upsert: vec![lut_store::TableRecord {
                name: "accounts".into(),
                enabled: true,
                spec_yaml,
                schema_name: "Custom.Accounts".into(),
                schema_yaml: schema_yaml.into(),
                source_kind: "watch".into(),
                created_at: now,
                updated_at: now,
            }],
            ..lut_store::DefinitionChange::default()
        })
        .unwrap();
}
