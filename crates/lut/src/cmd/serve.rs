//! `lut serve`: the HTTP API with the sync scheduler inside, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use lut_service::api::{self, ServeConfig};

use super::state;

#[derive(clap::Args)]
pub struct Args {
    /// TOML configuration file (every key is documented in examples/lut.toml).
    #[arg(long, env = "LUT_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Apply this directory of specs, schemas and data (as `lut apply DIR`, without
    /// pruning) before serving; the server does not start if it is invalid.
    #[arg(long, value_name = "DIR")]
    apply: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key the server speaks HTTPS only.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// `data_dir` is the global `--data-dir`; it wins over the file unless it is the default.
pub fn run(data_dir: &Path, args: Args) -> Result<ExitCode> {
    let mut config = ServeConfig::load(args.config.as_deref(), |k| std::env::var(k).ok())
        .map_err(|e| anyhow!("{e}"))?;
    let explicit_dir =
        data_dir != Path::new("./lut-data") || std::env::var_os("LUT_DATA_DIR").is_some();
    if explicit_dir || args.config.is_none() {
        config.data_dir = data_dir.to_path_buf();
    }
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = Some(api::TlsFiles { cert, key });
    }
    if let Some(dir) = args.apply {
        let code = super::apply::run(&config.data_dir, super::apply::Args::dir(dir))?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    let rt = state::runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        eprintln!(
            "lut serve: listening on http://{} (data directory {})",
            listener.local_addr()?,
            config.data_dir.display()
        );
        api::serve(listener, config, shutdown_signal())
            .await
            .map_err(|e| anyhow!("{e}"))?;
        eprintln!("lut serve: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
