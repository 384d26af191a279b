//! `lut destinations add|list|remove|test`: where alerts go (SPEC §7).
//!
//! Secrets (webhook URLs, HMAC keys, header values, routing keys) are sealed with the data
//! directory's key (`LUT_SECRET_KEY`, else `secret.key`) before they are stored, and shown
//! masked.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use lut_service::alarms::SystemClock;
use lut_service::destinations::{
    test_alert, DeliverySettings, DestinationConfig, Dispatcher, PAGERDUTY_EVENTS_URL, SEVERITIES,
};
use lut_store::{now_millis, Catalog, NewAuditEntry, NewDestination};
use serde_json::json;

use super::{state, time, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Add a destination.
    Add(AddArgs),
    /// List destinations (secrets masked).
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Remove a destination.
    Remove { name: String },
    /// Send a test alert to a destination and show each delivery attempt.
    Test { name: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    Webhook,
    Slack,
    Pagerduty,
    Teams,
    Sns,
}

#[derive(clap::Args)]
pub struct AddArgs {
    #[arg(long)]
    name: String,
    #[arg(long, value_enum)]
    kind: Kind,
    /// Webhook URL (webhook, slack, teams); a secret.
    #[arg(long)]
    url: Option<String>,
    /// PagerDuty Events API v2 routing (integration) key; a secret.
    #[arg(long)]
    routing_key: Option<String>,
    /// PagerDuty Events API URL (for a proxy or a test receiver).
    #[arg(long, default_value = PAGERDUTY_EVENTS_URL)]
    events_url: String,
    /// SNS topic ARN.
    #[arg(long)]
    topic_arn: Option<String>,
    /// Webhook: HMAC-SHA256 key; the body is signed in `X-Lut-Signature: sha256=<hex>`.
    #[arg(long, env = "LUT_WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Webhook: extra header `K=V` (repeatable); values are stored as secrets.
    #[arg(long = "header", value_name = "K=V")]
    headers: Vec<String>,
    /// Lowest severity delivered: CRITICAL, HIGH, MEDIUM, LOW or INFO.
    #[arg(long, default_value = "HIGH")]
    min_severity: String,
    /// Only alerts about this table.
    #[arg(long)]
    table: Option<String>,
}

pub fn run(data_dir: &Path, cmd: Command) -> Result<ExitCode> {
    let dd = state::open(data_dir)?;
    let catalog = dd.catalog();
    match cmd {
        Command::Add(a) => {
            let cfg = config(&a)?;
            let sev = a.min_severity.to_ascii_uppercase();
            if !SEVERITIES.contains(&sev.as_str()) {
                bail!("--min-severity must be one of {}", SEVERITIES.join(", "));
            }
            let key = dd.secret_key()?;
            let rec = catalog.add_destination(&NewDestination {
                name: a.name.clone(),
                kind: cfg.kind().into(),
                config: cfg.seal(&key),
                min_severity: sev,
                table_filter: a.table,
                enabled: true,
                created_at: now_millis(),
            })?;
            // Never the URL, key or secret.
            super::audit::record(
                catalog.as_ref(),
                NewAuditEntry::new(&super::audit::actor(), "destination.create")
                    .target(&rec.name)
                    .details(json!({
                        "id": rec.id, "kind": rec.kind, "min_severity": rec.min_severity,
                        "table": rec.table_filter, "enabled": rec.enabled,
                    })),
            );
            println!(
                "added destination {} ({}: {})",
                a.name,
                cfg.kind(),
                cfg.masked()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::List { format } => {
            let key = dd.secret_key()?;
            let mut rows = Vec::new();
            for d in catalog.destinations()? {
                let shown = match DestinationConfig::open(&d, &key) {
                    Ok(c) => c.masked(),
                    Err(e) => format!("<{e}>"),
                };
                let last = catalog.deliveries(Some(&d.name), 1)?.into_iter().next();
                rows.push((d, shown, last));
            }
            if format == Format::Json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(d, shown, last)| {
                        json!({"name": d.name, "kind": d.kind, "target": shown,
                               "min_severity": d.min_severity, "table": d.table_filter,
                               "enabled": d.enabled, "created_at": d.created_at,
                               "last_delivery": last})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            if rows.is_empty() {
                println!("no destinations");
            }
            for (d, shown, last) in rows {
                let last = match last {
                    Some(l) if l.ok => format!("last delivery ok {}", time(l.at)),
                    Some(l) => format!(
                        "last delivery FAILED {} ({})",
                        time(l.at),
                        l.error.unwrap_or_default()
                    ),
                    None => "never delivered".into(),
                };
                println!(
                    "{} {} {} — {}+{}; {}",
                    d.name,
                    d.kind,
                    shown,
                    d.min_severity,
                    d.table_filter
                        .map(|t| format!(", table {t}"))
                        .unwrap_or_default(),
                    last
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Remove { name } => {
            if !catalog.remove_destination(&name)? {
                bail!("no destination named {name:?}");
            }
            super::audit::record(
                catalog.as_ref(),
                NewAuditEntry::new(&super::audit::actor(), "destination.delete").target(&name),
            );
            println!("removed destination {name}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Test { name } => {
            let Some(d) = catalog.destinations()?.into_iter().find(|d| d.name == name) else {
                bail!("no destination named {name:?}");
            };
            let dispatcher = Dispatcher::new(
                catalog.clone(),
                dd.secret_key()?,
                Arc::new(SystemClock),
                DeliverySettings::default(),
            );
            let rt = state::runtime()?;
            let res = rt.block_on(dispatcher.deliver(&d, &test_alert(&name, now_millis())));
            // This test's attempts: the newest run of `test` entries, oldest first.
            let log = catalog.deliveries(Some(&name), 20)?;
            let mut mine: Vec<_> = log.iter().take_while(|l| l.event == "test").collect();
            if let Some(p) = mine.iter().position(|l| l.attempt == 1) {
                mine.truncate(p + 1);
            }
            for l in mine.iter().rev() {
                let status = l.status.map(|s| format!("HTTP {s}")).unwrap_or_default();
                println!(
                    "attempt {}: {} {}{}",
                    l.attempt,
                    if l.ok { "ok" } else { "failed" },
                    status,
                    l.error
                        .as_ref()
                        .map(|e| format!(" {e}"))
                        .unwrap_or_default()
                );
            }
            // As over the API: the attempts, not the error text (it may quote the URL).
            super::audit::record(
                catalog.as_ref(),
                NewAuditEntry::new(&super::audit::actor(), "destination.test")
                    .target(&name)
                    .outcome(if res.is_ok() { "delivered" } else { "failed" })
                    .details(json!({ "attempts": mine.len() })),
            );
            match res {
                Ok(()) => {
                    println!("test alert delivered to {name}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("lut: test alert to {name} failed: {e} (see `lut errors`)");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

fn need(v: &Option<String>, flag: &str, kind: &str) -> Result<String> {
    v.clone()
        .filter(|s| !s.trim().is_empty())
        .with_context(|| format!("--kind {kind} needs {flag}"))
}

fn config(a: &AddArgs) -> Result<DestinationConfig> {
    Ok(match a.kind {
        Kind::Webhook => {
            let mut headers = Vec::new();
            for h in &a.headers {
                let (k, v) = h
                    .split_once('=')
                    .with_context(|| format!("--header {h:?} is not K=V"))?;
                headers.push((k.trim().to_string(), v.to_string()));
            }
            DestinationConfig::Webhook {
                url: need(&a.url, "--url", "webhook")?,
                secret: a.secret.clone().filter(|s| !s.is_empty()),
                headers,
            }
        }
        Kind::Slack => DestinationConfig::Slack {
            url: need(&a.url, "--url", "slack")?,
        },
        Kind::Teams => DestinationConfig::Teams {
            url: need(&a.url, "--url", "teams")?,
        },
        Kind::Pagerduty => DestinationConfig::PagerDuty {
            routing_key: need(&a.routing_key, "--routing-key", "pagerduty")?,
            events_url: a.events_url.clone(),
        },
        Kind::Sns => {
            let arn = need(&a.topic_arn, "--topic-arn", "sns")?;
            if !arn.starts_with("arn:") || arn.split(':').count() != 6 {
                bail!(
                    "--topic-arn {arn:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
                );
            }
            DestinationConfig::Sns { topic_arn: arn }
        }
    })
}
