//! [`ServeConfig`]: `lut serve`'s settings from a TOML file, `LUT_*` environment variables
//! and flags (later sources win). `examples/lut.toml` documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Checks running at once.
    pub sync_concurrency: usize,
    /// How often the scheduler re-reads the table list (CLI changes reach the server).
    pub rescan: Duration,
    /// Versions kept per table.
    pub keep_versions: usize,
    pub role_prefix: String,
    /// Overrides the ExternalId stored in the catalog.
    pub external_id: Option<String>,
    /// The service principal shown in settings, when configured instead of looked up.
    pub principal: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_force_path_style: bool,
    /// How often the token list is re-read from the catalog (`lut tokens` reaches the server).
    pub token_refresh: Duration,
    /// Print a first manage token at first start when the catalog has none.
    pub bootstrap_token: bool,
    /// How long in-flight requests may run on after shutdown begins.
    pub shutdown_grace: Duration,
    /// Largest body `PUT /api/v1/tables/{name}/data` accepts (bytes; more is 413).
    pub max_upload_bytes: u64,
    /// Largest JSON or YAML request body (apply bundles, definitions, schemas; more is 413).
    /// Streaming routes (enrich, upload) are not bound by it.
    pub max_json_bytes: usize,
    /// HTTPS with these PEM files; plain HTTP when `None`.
    pub tls: Option<super::tls::TlsFiles>,
    /// Bucket in lut's own account the console link's template is uploaded to.
    pub template_bucket: Option<String>,
    /// `[[destinations]]`: created or updated by name in the catalog at start (never deleted).
    pub destinations: Vec<DestinationEntry>,
}

/// One `[[destinations]]` entry of the config file (secrets in the clear until sealed).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationEntry {
    pub name: String,
    /// `webhook`, `slack`, `pagerduty`, `teams` or `sns`.
    pub kind: String,
    /// webhook, slack, teams: the URL.
    pub url: Option<String>,
    /// pagerduty: the integration's routing key.
    pub routing_key: Option<String>,
    /// pagerduty: the Events API v2 URL (default PagerDuty's).
    pub events_url: Option<String>,
    /// sns: the topic ARN.
    pub topic_arn: Option<String>,
    /// webhook: the HMAC-SHA256 key.
    pub secret: Option<String>,
    /// webhook: extra headers.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Lowest severity delivered (default HIGH).
    pub min_severity: Option<String>,
    /// Only alerts about this table.
    pub table: Option<String>,
}

impl std::fmt::Debug for DestinationEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DestinationEntry({}: {})", self.name, self.kind)
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            data_dir: PathBuf::from("./lut-data"),
            sync_concurrency: 4,
            rescan: Duration::from_secs(5),
            keep_versions: 10,
            role_prefix: lut_core::aws::DEFAULT_ROLE_PREFIX.to_string(),
            external_id: None,
            principal: None,
            s3_endpoint: None,
            s3_force_path_style: false,
            token_refresh: Duration::from_secs(2),
            bootstrap_token: true,
            shutdown_grace: Duration::from_secs(30),
            max_upload_bytes: 256 * 1024 * 1024,
            max_json_bytes: 16 * 1024 * 1024,
            tls: None,
            template_bucket: None,
            destinations: Vec::new(),
        }
    }
}

/// The file format; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    shutdown_grace_seconds: Option<u64>,
    max_upload_bytes: Option<u64>,
    max_json_bytes: Option<usize>,
    tls: Option<FileTls>,
    #[serde(default)]
    sync: FileSync,
    #[serde(default)]
    aws: FileAws,
    #[serde(default)]
    tokens: FileTokens,
    #[serde(default)]
    destinations: Vec<DestinationEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSync {
    concurrency: Option<usize>,
    rescan_seconds: Option<u64>,
    keep_versions: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAws {
    role_prefix: Option<String>,
    external_id: Option<String>,
    principal: Option<String>,
    s3_endpoint: Option<String>,
    s3_force_path_style: Option<bool>,
    template_bucket: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTokens {
    refresh_seconds: Option<u64>,
    bootstrap: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

fn bad(key: &str, v: &str, why: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("invalid {key} {v:?}: {why}"))
}

impl ServeConfig {
    /// Defaults, then `file` (if given), then the environment as read by `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ServeConfig, ConfigError> {
        let mut c = ServeConfig::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            c.apply_file(&text)
                .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))?;
        }
        c.apply_env(env)?;
        Ok(c)
    }

    /// Applies a TOML document.
    pub fn apply_file(&mut self, text: &str) -> Result<(), ConfigError> {
        let f: File = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        if let Some(l) = f.listen {
            self.listen = l.parse().map_err(|e| bad("listen", &l, e))?;
        }
        if let Some(d) = f.data_dir {
            self.data_dir = d;
        }
        if let Some(s) = f.shutdown_grace_seconds {
            self.shutdown_grace = Duration::from_secs(s);
        }
        if let Some(n) = f.max_upload_bytes {
            self.max_upload_bytes = n;
        }
        if let Some(n) = f.max_json_bytes {
            self.max_json_bytes = n.max(1024);
        }
        if let Some(t) = f.tls {
            self.tls = Some(super::tls::TlsFiles {
                cert: t.cert,
                key: t.key,
            });
        }
        if let Some(n) = f.sync.concurrency {
            self.sync_concurrency = n.max(1);
        }
        if let Some(s) = f.sync.rescan_seconds {
            self.rescan = Duration::from_secs(s.max(1));
        }
        if let Some(n) = f.sync.keep_versions {
            self.keep_versions = n.max(1);
        }
        if let Some(p) = f.aws.role_prefix {
            self.role_prefix = p;
        }
        self.external_id = f.aws.external_id.or(self.external_id.take());
        self.principal = f.aws.principal.or(self.principal.take());
        self.s3_endpoint = f.aws.s3_endpoint.or(self.s3_endpoint.take());
        if let Some(b) = f.aws.s3_force_path_style {
            self.s3_force_path_style = b;
        }
        self.template_bucket = f.aws.template_bucket.or(self.template_bucket.take());
        let mut seen = std::collections::HashSet::new();
        for d in &f.destinations {
            if !seen.insert(d.name.as_str()) {
                return Err(ConfigError(format!(
                    "[[destinations]] names {:?} twice",
                    d.name
                )));
            }
            crate::destinations::sync::entry_config(d).map_err(ConfigError)?;
        }
        if !f.destinations.is_empty() {
            self.destinations = f.destinations;
        }
        if let Some(s) = f.tokens.refresh_seconds {
            self.token_refresh = Duration::from_secs(s.max(1));
        }
        if let Some(b) = f.tokens.bootstrap {
            self.bootstrap_token = b;
        }
        Ok(())
    }

    /// Applies `LUT_*` variables (empty values are ignored).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("LUT_LISTEN") {
            self.listen = v.parse().map_err(|e| bad("LUT_LISTEN", &v, e))?;
        }
        if let Some(v) = get("LUT_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("LUT_SYNC_CONCURRENCY") {
            let n: usize = v.parse().map_err(|e| bad("LUT_SYNC_CONCURRENCY", &v, e))?;
            self.sync_concurrency = n.max(1);
        }
        if let Some(v) = get("LUT_KEEP_VERSIONS") {
            let n: usize = v.parse().map_err(|e| bad("LUT_KEEP_VERSIONS", &v, e))?;
            self.keep_versions = n.max(1);
        }
        if let Some(v) = get("LUT_ROLE_PREFIX") {
            self.role_prefix = v;
        }
        if let Some(v) = get("LUT_EXTERNAL_ID") {
            self.external_id = Some(v);
        }
        if let Some(v) = get("LUT_PRINCIPAL") {
            self.principal = Some(v);
        }
        if let Some(v) = get("LUT_S3_ENDPOINT") {
            self.s3_endpoint = Some(v);
        }
        if let Some(v) = get("LUT_TEMPLATE_BUCKET") {
            self.template_bucket = Some(v);
        }
        match (get("LUT_TLS_CERT"), get("LUT_TLS_KEY")) {
            (Some(cert), Some(key)) => {
                self.tls = Some(super::tls::TlsFiles {
                    cert: cert.into(),
                    key: key.into(),
                })
            }
            (None, None) => {}
            _ => {
                return Err(ConfigError(
                    "LUT_TLS_CERT and LUT_TLS_KEY must be set together".into(),
                ))
            }
        }
        if let Some(v) = get("LUT_S3_FORCE_PATH_STYLE") {
            self.s3_force_path_style = v == "1" || v == "true";
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_env_wins() {
        let example = include_str!("../../../../examples/lut.toml");
        let mut c = ServeConfig::default();
        c.apply_file(example).expect("example parses");
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        c.apply_env(|k| (k == "LUT_LISTEN").then(|| "127.0.0.1:9999".to_string()))
            .unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert!(c.apply_file("nope = 1").is_err());
        assert!(c.tls.is_none());
        c.apply_file("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"")
            .unwrap();
        assert_eq!(c.tls.as_ref().unwrap().key, PathBuf::from("k.pem"));
        assert!(c.apply_file("[tls]\ncert = \"c.pem\"").is_err());
        assert!(c
            .apply_env(|k| (k == "LUT_TLS_CERT").then(|| "x".to_string()))
            .is_err());
        assert!(c.apply_file("listen = \"x\"").is_err());
    }
}
