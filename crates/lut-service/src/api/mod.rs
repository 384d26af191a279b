//! The HTTP API of `lut serve` (SPEC §8): axum on tokio.
//!
//! [`serve`] opens the data directory, loads every live version (no request is accepted
//! before), runs the sync scheduler, and serves until its shutdown future resolves; then
//! in-flight requests finish and the scheduler stops (running checks are cancelled at an
//! await point, which never leaves partial state).
//!
//! Routes: `/healthz` and `/metrics` are open; everything under `/api/v1` needs a bearer
//! token ([`auth`]), `read` for viewing, lookups and enrichment, `manage` for changes.

pub mod audit;
pub mod auth;
pub mod config;
mod destinations_api;
pub mod enrich;
pub mod error;
mod iam_api;
pub mod metrics;
mod openapi;
mod openapi_shapes;
pub mod request;
pub mod routes;
mod schemas;
mod schemas_write;
pub mod tables_write;
pub mod tls;
pub mod versions;

use std::future::{Future, IntoFuture};
use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use lut_core::registry::Registry;
use lut_core::spec::SpecOptions;
use lut_source::s3::{LazyS3, S3Config};
use lut_source::Limits;
use lut_store::{Catalog, DataDir};

pub use config::ServeConfig;
pub use tls::TlsFiles;

use crate::sync::{
    Scheduler, SchedulerHandle, SchedulerSettings, SyncEngine, SyncEvent, SyncSettings,
};
use metrics::Metrics;

/// The catalog setting holding the ExternalId generated at first start (shared with the CLI).
const EXTERNAL_ID_KEY: &str = "external_id";

pub type ServeError = Box<dyn std::error::Error + Send + Sync>;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<dyn Catalog>,
    pub registry: Arc<Registry>,
    pub scheduler: SchedulerHandle,
    /// The server's sync engine (reloads after API changes go through it).
    pub engine: Arc<SyncEngine>,
    pub metrics: Arc<Metrics>,
    pub tokens: Arc<auth::TokenCache>,
    pub config: Arc<ServeConfig>,
    pub external_id: Arc<str>,
    /// lut's S3 access (loaded on first use), shared by syncs, IAM routes and settings.
    pub s3: Arc<LazyS3>,
}

/// Nanoseconds since the epoch, the time row expiry is checked against.
pub(crate) fn enrich_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// The routes over `state`.
pub fn router(state: AppState) -> Router {
    let read = Router::new()
        .route("/api/v1/tables", get(routes::list_tables))
        .route("/api/v1/tables/{name}", get(routes::get_table))
        .route("/api/v1/tables/{name}/versions", get(routes::versions))
        .route("/api/v1/tables/{name}/versions/{id}", get(routes::version))
        .route("/api/v1/tables/{name}/checks", get(routes::checks))
        .route("/api/v1/tables/{name}/rows", get(routes::rows))
        .route("/api/v1/errors", get(routes::errors))
        .route("/api/v1/settings", get(routes::settings))
        .route("/api/v1/enrich", post(enrich::enrich))
        .route_layer(from_fn_with_state(state.clone(), auth::require_read));
    let manage = Router::new()
        .route("/api/v1/tables/{name}/sync", post(routes::sync_now))
        .route("/api/v1/errors/{id}/ack", post(routes::ack_error))
        .route_layer(from_fn_with_state(state.clone(), auth::require_manage));
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(metrics::scrape))
        .merge(read)
        .merge(manage)
        .merge(tables_write::routes(state.clone()))
        .merge(versions::routes(state.clone()))
        .merge(schemas::routes(state.clone()))
        .merge(schemas_write::routes(state.clone()))
        .merge(destinations_api::routes(state.clone()))
        .merge(iam_api::routes(state.clone()))
        .merge(audit::routes(state.clone()))
        .merge(openapi::routes())
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.max_json_bytes,
        ))
        .layer(axum::middleware::from_fn(error::uniform_errors))
        .layer(from_fn_with_state(state.clone(), request::observe))
        .with_state(state)
}

/// Runs the service on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let config = Arc::new(config);
    // Bad certificate files stop the start, before anything else is touched.
    let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
    let dd = {
        let root = config.data_dir.clone();
        tokio::task::spawn_blocking(move || DataDir::open(&root)).await??
    };
    let catalog: Arc<dyn Catalog> = dd.catalog();
    let external_id: Arc<str> = match &config.external_id {
        Some(id) => id.as_str().into(),
        None => {
            let fresh: String = (0..32).map(|_| fastrand::alphanumeric()).collect();
            catalog.setting_or_init(EXTERNAL_ID_KEY, &fresh)?.into()
        }
    };
    if !config.destinations.is_empty() {
        let (cat, entries) = (catalog.clone(), config.destinations.clone());
        let key = dd.secret_key()?;
        let synced = tokio::task::spawn_blocking(move || {
            crate::destinations::sync::sync_destinations(cat.as_ref(), &key, &entries)
        })
        .await??;
        for (name, what) in synced {
            tracing::info!(destination = %name, ?what, "destination from the config file");
        }
    }
    let metrics = Arc::new(Metrics::default());
    let registry = Arc::new(Registry::default());
    let swapped: Swapped = Arc::default();
    let s3 = lazy_s3(&dd, &config, &external_id);
    let engine = {
        let m = metrics.clone();
        let sw = swapped.clone();
        build_engine(&dd, &config, registry.clone(), s3.clone()).with_observer(move |ev| {
            m.observe(ev);
            if let SyncEvent::TableSwapped { table, version, .. } = ev {
                sw.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(table.clone(), *version);
            }
        })
    };
    // What the follower compares against is read BEFORE the live versions are loaded: a
    // change another process commits while they load is then seen as a change and loaded
    // again, instead of being taken as already loaded (which left a `lut apply` made right
    // at start-up unserved until the next change).
    let known = catalog_state(catalog.as_ref())?;
    // Live versions first: enrichment must never see an empty registry for a table that
    // has data.
    for p in engine.load_live().await? {
        tracing::warn!(table = %p.table, problem = %p.message, "live version not loaded");
    }
    if config.bootstrap_token {
        if let Some(token) = auth::bootstrap(catalog.as_ref())? {
            eprintln!(
                "lut serve: created the first manage token (shown only this once; store it now):\n{token}"
            );
        }
    }
    let tokens = Arc::new(auth::TokenCache::new(
        config.token_refresh,
        catalog.tokens()?,
    ));
    let engine = Arc::new(engine);
    let (scheduler, handle) = Scheduler::new(
        engine.clone(),
        SchedulerSettings {
            max_concurrent: config.sync_concurrency,
            rescan_every: config.rescan,
            ..SchedulerSettings::default()
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sched = tokio::spawn(scheduler.run(async move {
        let _ = stop_rx.await;
    }));
    let follower = tokio::spawn(follow_catalog(
        engine.clone(),
        known,
        swapped,
        config.rescan,
    ));
    // Alarms and system errors go to the configured destinations (§7).
    let clock: Arc<dyn crate::alarms::Clock> = Arc::new(crate::alarms::SystemClock);
    let notifier = tokio::spawn(
        crate::alarms::Notifier::new(
            crate::destinations::Dispatcher::new(
                dd.catalog(),
                dd.secret_key()?,
                clock.clone(),
                crate::destinations::DeliverySettings::default(),
            ),
            clock,
            crate::alarms::NotifierSettings::default(),
        )
        .run(),
    );
    let state = AppState {
        catalog,
        registry,
        scheduler: handle,
        engine,
        metrics,
        tokens,
        config: config.clone(),
        external_id,
        s3,
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "lut serve listening");
    }
    // Shutdown: stop accepting, let in-flight requests finish for up to the grace period.
    let (began_tx, mut began_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        let _ = began_tx.send(true);
    };
    let grace = config.shutdown_grace;
    let deadline = async move {
        while !*began_rx.borrow() {
            if began_rx.changed().await.is_err() && !*began_rx.borrow() {
                std::future::pending::<()>().await;
            }
        }
        tokio::time::sleep(grace).await;
    };
    let app = router(state);
    let server = async move {
        match tls {
            Some(acceptor) => {
                let listener = tls::TlsListener::new(listener, acceptor)?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(signal)
                    .into_future()
                    .await
            }
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(signal)
                    .into_future()
                    .await
            }
        }
    };
    let served = tokio::select! {
        r = server => r,
        _ = deadline => {
            tracing::warn!(?grace, "requests still running after the grace period; closing them");
            Ok(())
        }
    };
    let _ = stop_tx.send(());
    follower.abort();
    notifier.abort();
    let _ = sched.await;
    served?;
    Ok(())
}

/// lut's S3 access: always present, but the AWS configuration is loaded only when an S3
/// table is first checked (or the principal is asked for), so a server that starts with
/// only local tables never walks the credential chain and picks up S3 tables applied later
/// without a restart.
fn lazy_s3(dd: &DataDir, config: &ServeConfig, external_id: &str) -> Arc<LazyS3> {
    Arc::new(LazyS3::new(S3Config {
        endpoint_url: config.s3_endpoint.clone(),
        force_path_style: config.s3_force_path_style,
        external_id: external_id.to_string(),
        region: None,
        limits: Limits::default(),
        temp_dir: dd.blobs().tmp_dir(),
        retry: Default::default(),
    }))
}

fn build_engine(
    dd: &DataDir,
    config: &ServeConfig,
    registry: Arc<Registry>,
    s3: Arc<LazyS3>,
) -> SyncEngine {
    let settings = SyncSettings {
        limits: Limits::default(),
        spec: SpecOptions {
            role_prefix: config.role_prefix.clone(),
        },
        keep_versions: config.keep_versions,
    };
    SyncEngine::for_data_dir(dd, registry, Some(s3), settings)
}

/// Versions this server's own syncs made live, by table (so the follower does not load
/// them a second time).
type Swapped = Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>;

/// What the follower compares: per table, (enabled, definition time, live version).
type CatalogState = std::collections::HashMap<String, (bool, i64, Option<i64>)>;

fn catalog_state(catalog: &dyn Catalog) -> lut_store::Result<CatalogState> {
    let mut out = CatalogState::new();
    for t in catalog.tables()? {
        let live = catalog.live_version(&t.name)?.map(|v| v.id);
        out.insert(t.name, (t.enabled, t.updated_at, live));
    }
    Ok(out)
}

/// Keeps the registry in step with changes other processes make to the shared data
/// directory (`lut apply`, `lut sync`, `lut tables disable`, ...): every `every`, tables
/// whose definition, enabled flag or live version changed are reloaded, and deleted ones
/// dropped. Changes this server's own syncs made are already live and are skipped.
async fn follow_catalog(
    engine: Arc<SyncEngine>,
    mut known: CatalogState,
    swapped: Swapped,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        // Tables replaced since the last tick that no request holds any more are freed
        // here, off the enrichment path (see `Registry::reclaim`).
        let reg = engine.registry().clone();
        let _ = tokio::task::spawn_blocking(move || reg.reclaim()).await;
        let cat = engine.catalog().clone();
        let now = match tokio::task::spawn_blocking(move || catalog_state(cat.as_ref())).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the catalog to follow changes");
                continue;
            }
            Err(_) => continue,
        };
        let mut changed: Vec<String> = Vec::new();
        for (name, cur) in &now {
            let before = known.get(name);
            if before == Some(cur) {
                continue;
            }
            // Only the live version moved, to the one our own sync just published.
            let own = before.is_some_and(|b| b.0 == cur.0 && b.1 == cur.1)
                && cur.2.is_some()
                && swapped
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(name)
                    .copied()
                    == cur.2;
            if !own {
                changed.push(name.clone());
            }
        }
        changed.extend(known.keys().filter(|n| !now.contains_key(*n)).cloned());
        for name in changed {
            match engine.reload_table(&name).await {
                Ok(v) => tracing::info!(table = %name, version = ?v, "followed a catalog change"),
                Err(e) => {
                    tracing::warn!(table = %name, error = %e, "cannot follow a catalog change")
                }
            }
        }
        known = now;
    }
}
