//! moto's server (an AWS protocol server: STS, IAM, S3, KMS) for tests, installed and
//! started by the test process itself.
//!
//! [`MotoServer::shared`] gives one server per test process:
//!
//! 1. `python3 python/bootstrap.py <target>/moto-venv moto[server]==5.2.6` creates the venv
//!    once per machine (an `flock` on `moto-venv.lock` keeps concurrent test processes from
//!    installing twice; a marker file written last says the venv is complete).
//! 2. `<venv>/bin/python python/moto_harness.py` serves moto's WSGI application (the one
//!    `moto_server` runs) on `127.0.0.1` with a port the kernel picks (no free-port race)
//!    and prints it. The harness also reads JSON commands on its stdin to set the world up
//!    with boto3 (one python process for the whole test binary, so set-up costs
//!    milliseconds, not an interpreter start per call).
//! 3. Lifetime: the child's stdin is a pipe whose write end only this process holds, in a
//!    static. However the test process ends (normal exit, panic, `kill -9`), the kernel
//!    closes that pipe and the harness, blocked reading stdin, sees end-of-file and exits.
//!    No signal handler, atexit hook or prctl is needed, and nothing is left running.
//! 4. `init` resets moto, creates an all-powerful admin user (the only keys the set-up
//!    helpers use) and switches IAM enforcement on (`POST /moto-api/reset-auth` with `0`),
//!    so trust policies, the ExternalId condition and identity policies are really checked.
//!
//! Tests share the server and run in parallel, so give every test its own names
//! ([`MotoServer::unique`]) instead of resetting. [`MotoServer::reset`] exists for a binary
//! whose tests run one at a time.
//!
//! Environment: `LUT_PYTHON` (default `python3`) is the interpreter that creates the venv;
//! `LUT_MOTO_VENV` overrides the venv path; `CARGO_TARGET_DIR` is honoured. The harness's
//! log (werkzeug's request lines, tracebacks) goes to `<target>/moto-logs/<binary>-<pid>.log`.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The moto version the harness installs.
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.2.6";

const BOOTSTRAP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/bootstrap.py");
const HARNESS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/moto_harness.py");

/// A failed set-up call: the AWS error code (or Python exception name) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotoError {
    pub code: String,
    pub message: String,
}

impl fmt::Display for MotoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for MotoError {}

/// A pair of IAM access keys.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// An IAM user standing in for lut's own identity (the service principal).
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_name: String,
    pub arn: String,
    pub key: AccessKey,
}

/// A role as lut's CloudFormation template (SPEC §6.4) would create it.
#[derive(Debug, Clone)]
pub struct RoleSpec {
    pub name: String,
    /// The principal ARN the trust policy names.
    pub trusted_arn: String,
    /// `StringEquals sts:ExternalId`; `None` leaves the condition out.
    pub external_id: Option<String>,
    pub bucket: String,
    /// Object keys the `ReadData` policy grants `s3:GetObject` on.
    pub keys: Vec<String>,
    /// Adds `kms:Decrypt` + `kms:DescribeKey` on this key.
    pub kms_key_arn: Option<String>,
}

/// Options for [`MotoServer::put_object`].
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// SSE-KMS with this key (id or ARN).
    pub kms_key_id: Option<String>,
}

struct Channel {
    // Kept so the child is not reaped early; the pipe, not this handle, ends it.
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// One moto server for this test process.
pub struct MotoServer {
    endpoint: String,
    account_id: String,
    admin: Mutex<AccessKey>,
    chan: Mutex<Channel>,
    log: PathBuf,
}

impl fmt::Debug for MotoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MotoServer")
            .field("endpoint", &self.endpoint)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceLock<MotoServer> = OnceLock::new();
static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// The Cargo target directory of this workspace.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

/// Makes sure the venv exists (installing moto once per machine) and returns its python.
pub fn ensure_venv() -> Result<PathBuf, String> {
    let venv = std::env::var_os("LUT_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("moto-venv"));
    let python = std::env::var("LUT_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(BOOTSTRAP)
        .arg(&venv)
        .arg(MOTO_REQUIREMENT)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            format!(
                "cannot run {python} (python3 with venv and pip is needed for the moto tests): {e}"
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "creating the moto venv at {} failed ({}); see the output above",
            venv.display(),
            out.status
        ));
    }
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(PathBuf::from(path))
}

/// The linters of the IAM tests (`cfn-lint` for templates, `parliament` for policies).
pub const LINT_REQUIREMENTS: &[&str] = &["cfn-lint==1.58.0", "parliament==1.6.4"];

/// Makes sure `<target>/lint-venv` holds [`LINT_REQUIREMENTS`] and returns its `bin`
/// directory.
pub fn ensure_lint_venv() -> Result<PathBuf, String> {
    ensure_tool_venv("lint-venv", LINT_REQUIREMENTS)
}

/// The API fuzzer run against `lut serve`'s OpenAPI document.
pub const SCHEMATHESIS_REQUIREMENTS: &[&str] = &["schemathesis==4.32.5"];

/// Makes sure `<target>/schemathesis-venv` holds [`SCHEMATHESIS_REQUIREMENTS`] and returns
/// its `bin` directory.
pub fn ensure_schemathesis_venv() -> Result<PathBuf, String> {
    ensure_tool_venv("schemathesis-venv", SCHEMATHESIS_REQUIREMENTS)
}

/// Makes sure `<target>/<name>` holds `requirements` (same bootstrap and lock discipline
/// as the moto venv, in a venv of its own so that tools never rebuild each other's) and
/// returns its `bin` directory.
fn ensure_tool_venv(name: &str, requirements: &[&str]) -> Result<PathBuf, String> {
    let venv = target_dir().join(name);
    let python = std::env::var("LUT_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(BOOTSTRAP)
        .arg(&venv)
        .args(requirements)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "creating the venv at {} failed ({}); see the output above",
            venv.display(),
            out.status
        ));
    }
    let py = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(py.parent().expect("venv/bin").to_path_buf())
}

impl MotoServer {
    /// The server of this test process, started on first use.
    pub fn shared() -> &'static MotoServer {
        SHARED.get_or_init(|| match MotoServer::start() {
            Ok(s) => s,
            Err(e) => panic!("lut-testkit: cannot start moto: {e}"),
        })
    }

    fn start() -> Result<MotoServer, String> {
        let python = ensure_venv()?;
        let logs = target_dir().join("moto-logs");
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        prune_old_logs(&logs);
        let exe = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "test".into());
        let log = logs.join(format!("{exe}-{}.log", std::process::id()));
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(&python)
            .arg("-u")
            .arg(HARNESS)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));

        // The first line is the port; moto takes a second or two to import.
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut line = String::new();
            let r = stdout.read_line(&mut line);
            let _ = tx.send(());
            (r, line, stdout)
        });
        if rx.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = child.kill();
            return Err(format!(
                "moto did not start within 120 s; see {}",
                log.display()
            ));
        }
        let (r, line, stdout) = reader
            .join()
            .map_err(|_| "reader thread panicked".to_string())?;
        r.map_err(|e| format!("reading moto's port: {e}"))?;
        let port: u16 = line
            .trim()
            .strip_prefix("LUT_MOTO_PORT=")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| {
                format!(
                    "moto did not report its port (got {line:?}); see {}",
                    log.display()
                )
            })?;
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_for_port(port, Duration::from_secs(30))?;

        let server = MotoServer {
            endpoint,
            account_id: String::new(),
            admin: Mutex::new(AccessKey {
                access_key_id: String::new(),
                secret_access_key: String::new(),
            }),
            chan: Mutex::new(Channel {
                _child: child,
                stdin,
                stdout,
            }),
            log,
        };
        let init = server
            .command(json!({"op": "init"}))
            .map_err(|e| format!("moto init failed: {e}"))?;
        let account_id = str_field(&init, "account_id");
        *server.admin.lock().unwrap() = AccessKey {
            access_key_id: str_field(&init, "access_key_id"),
            secret_access_key: str_field(&init, "secret_access_key"),
        };
        Ok(MotoServer {
            account_id,
            ..server
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// moto's default account, `123456789012`.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The admin user's keys (allowed everything).
    pub fn admin(&self) -> AccessKey {
        self.admin.lock().unwrap().clone()
    }

    /// Where the server's log goes.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// A name no other test in this process (or a later process on this server) uses:
    /// `<prefix>-<pid>-<n>`, lower case, fit for bucket, role and user names.
    pub fn unique(&self, prefix: &str) -> String {
        let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{}-{n}", std::process::id()).to_ascii_lowercase()
    }

    /// Wipes all of moto's state and sets the admin user up again (auth stays enforced).
    /// Only for test binaries whose tests do not run concurrently.
    pub fn reset(&self) {
        let init = self.command(json!({"op": "reset"})).expect("moto reset");
        *self.admin.lock().unwrap() = AccessKey {
            access_key_id: str_field(&init, "access_key_id"),
            secret_access_key: str_field(&init, "secret_access_key"),
        };
    }

    /// One boto3 call with the admin's keys, e.g.
    /// `call("s3", "us-east-1", "delete_object", json!({"Bucket": b, "Key": k}))`.
    /// Bytes go in and come out as `{"$b64": "..."}`.
    pub fn call(
        &self,
        service: &str,
        region: &str,
        method: &str,
        args: Value,
    ) -> Result<Value, MotoError> {
        self.command(json!({"op": "call", "service": service, "region": region, "method": method, "args": args}))
    }

    /// One boto3 call as someone else: `key` is an IAM user's keys, or temporary
    /// credentials with `session_token`.
    pub fn call_as(
        &self,
        key: &AccessKey,
        session_token: Option<&str>,
        service: &str,
        region: &str,
        method: &str,
        args: Value,
    ) -> Result<Value, MotoError> {
        let mut keys = vec![key.access_key_id.clone(), key.secret_access_key.clone()];
        keys.extend(session_token.map(str::to_string));
        self.command(json!({"op": "call", "service": service, "region": region, "method": method, "args": args, "keys": keys}))
    }

    /// lut's own identity: an IAM user allowed `sts:AssumeRole` on any role, with keys.
    pub fn create_principal(&self, name: &str) -> Principal {
        let v = self
            .command(json!({"op": "create_principal", "name": name}))
            .unwrap_or_else(|e| panic!("create_principal {name}: {e}"));
        Principal {
            user_name: str_field(&v, "user_name"),
            arn: str_field(&v, "arn"),
            key: AccessKey {
                access_key_id: str_field(&v, "access_key_id"),
                secret_access_key: str_field(&v, "secret_access_key"),
            },
        }
    }

    /// A role with the trust policy and `ReadData` policy of SPEC §6.4; returns its ARN.
    pub fn create_reader_role(&self, spec: &RoleSpec) -> String {
        let v = self
            .command(json!({
                "op": "create_reader_role",
                "name": spec.name,
                "trusted_arn": spec.trusted_arn,
                "external_id": spec.external_id,
                "bucket": spec.bucket,
                "keys": spec.keys,
                "kms_key_arn": spec.kms_key_arn,
            }))
            .unwrap_or_else(|e| panic!("create_reader_role {}: {e}", spec.name));
        str_field(&v, "arn")
    }

    /// Creates a bucket (`region` None = us-east-1).
    pub fn create_bucket(&self, name: &str, region: Option<&str>) {
        self.command(json!({"op": "create_bucket", "name": name, "region": region}))
            .unwrap_or_else(|e| panic!("create_bucket {name}: {e}"));
    }

    /// Uploads an object; returns its ETag (quoted, as S3 sends it).
    pub fn put_object(&self, bucket: &str, key: &str, body: &[u8], opts: &PutOptions) -> String {
        let v = self
            .command(json!({
                "op": "put_object",
                "bucket": bucket,
                "key": key,
                "body_b64": b64(body),
                "content_type": opts.content_type,
                "content_encoding": opts.content_encoding,
                "kms_key_id": opts.kms_key_id,
            }))
            .unwrap_or_else(|e| panic!("put_object s3://{bucket}/{key}: {e}"));
        str_field(&v, "etag")
    }

    pub fn delete_object(&self, bucket: &str, key: &str) {
        self.call(
            "s3",
            "us-east-1",
            "delete_object",
            json!({"Bucket": bucket, "Key": key}),
        )
        .unwrap_or_else(|e| panic!("delete_object s3://{bucket}/{key}: {e}"));
    }

    /// A symmetric KMS key; returns its ARN.
    pub fn create_kms_key(&self, region: Option<&str>) -> String {
        let v = self
            .command(json!({"op": "create_kms_key", "region": region}))
            .unwrap_or_else(|e| panic!("create_kms_key: {e}"));
        str_field(&v, "arn")
    }

    fn command(&self, cmd: Value) -> Result<Value, MotoError> {
        let mut chan = self.chan.lock().unwrap_or_else(|p| p.into_inner());
        let io_err = |e: std::io::Error| MotoError {
            code: "HarnessIo".into(),
            message: format!(
                "talking to the moto harness: {e} (see {})",
                self.log.display()
            ),
        };
        let mut line = cmd.to_string();
        line.push('\n');
        chan.stdin.write_all(line.as_bytes()).map_err(io_err)?;
        chan.stdin.flush().map_err(io_err)?;
        let mut answer = String::new();
        let n = chan.stdout.read_line(&mut answer).map_err(io_err)?;
        if n == 0 {
            return Err(MotoError {
                code: "HarnessExited".into(),
                message: format!("the moto harness exited; see {}", self.log.display()),
            });
        }
        let v: Value = serde_json::from_str(&answer).map_err(|e| MotoError {
            code: "HarnessProtocol".into(),
            message: format!("{e}: {answer:?}"),
        })?;
        if let Some(err) = v.get("error") {
            return Err(MotoError {
                code: err["code"].as_str().unwrap_or("?").to_string(),
                message: err["message"].as_str().unwrap_or("?").to_string(),
            });
        }
        Ok(v.get("ok").cloned().unwrap_or(Value::Null))
    }
}

fn str_field(v: &Value, name: &str) -> String {
    v.get(name)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("moto harness answer lacks {name}: {v}"))
        .to_string()
}

/// Deletes harness logs older than a day, so that the directory does not grow forever.
fn prune_old_logs(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(24 * 3600));
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn wait_for_port(port: u16, limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(format!("moto does not answer on 127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Standard base64 (the harness decodes it with Python's `base64`).
pub fn b64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(i.as_bytes()), o);
        }
    }
}
