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
