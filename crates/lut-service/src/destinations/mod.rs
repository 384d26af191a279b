//! Alert destinations (SPEC §7): generic webhook, Slack, PagerDuty Events API v2,
//! Microsoft Teams and Amazon SNS.
//!
//! - [`Alert`]: what is delivered — an alarm transition or reminder, a system error raised
//!   or resolved, or a test.
//! - [`DestinationConfig`]: a destination's settings; its secrets (webhook URLs, HMAC keys,
//!   header values, routing keys) are sealed with the data directory's
//!   [`lut_store::SecretKey`] before they reach the catalog ([`DestinationConfig::seal`]),
//!   never appear in `Debug` output, and are shown masked ([`DestinationConfig::masked`]).
//! - [`payload`]: each kind's exact body.
//! - [`Dispatcher`]: delivery with timeouts and retries with backoff on 5xx, 429 and
//!   transport errors; every attempt goes to the delivery log, and a destination whose
//!   retries run out raises a system error of its own (no table, stage `notify`), resolved
//!   by its next successful delivery.

pub mod payload;

mod dispatch;
pub mod sync;

pub use dispatch::{DeliverySettings, Dispatcher};

use std::fmt;

use lut_store::secrets::mask;
use lut_store::{DestinationRecord, Millis, SecretKey, StoreError};
use serde_json::{json, Map, Value};

/// Severities from most to least severe.
pub const SEVERITIES: &[&str] = &["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"];

/// Rank of a severity (0 = CRITICAL); unknown ones rank lowest.
pub fn severity_rank(s: &str) -> usize {
    SEVERITIES
        .iter()
        .position(|x| x.eq_ignore_ascii_case(s))
        .unwrap_or(SEVERITIES.len())
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// An alarm went OK → ALARM.
    AlarmTriggered,
    /// Still in ALARM (periodic reminder).
    AlarmReminder,
    /// An alarm went ALARM → OK.
    AlarmResolved,
    /// A new CRITICAL system error.
    ErrorRaised,
    /// A notified system error was resolved.
    ErrorResolved,
    /// `lut destinations test`.
    Test,
}

impl AlertKind {
    /// The `event` field of payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::AlarmTriggered => "alarm.triggered",
            AlertKind::AlarmReminder => "alarm.reminder",
            AlertKind::AlarmResolved => "alarm.resolved",
            AlertKind::ErrorRaised => "error.raised",
            AlertKind::ErrorResolved => "error.resolved",
            AlertKind::Test => "test",
        }
    }

    /// Whether this alert ends a problem (PagerDuty `resolve`).
    pub fn is_resolution(self) -> bool {
        matches!(self, AlertKind::AlarmResolved | AlertKind::ErrorResolved)
    }
}

/// One alert, in the shape every destination renders from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub kind: AlertKind,
    pub table: Option<String>,
    pub severity: String,
    /// `no_data` / `failing` for alarms; the failing stage for errors.
    pub stage: Option<String>,
    pub code: Option<String>,
    pub title: String,
    pub message: String,
    pub remedy: String,
    /// When the problem started.
    pub since: Millis,
    /// When this alert was produced.
    pub at: Millis,
    /// Stable per problem: per (table, alarm kind) or per (table, stage, code).
    pub dedup_key: String,
    /// Where a user can look (a placeholder until the console exists).
    pub link: String,
}

impl Alert {
    /// A short label for the delivery log.
    pub fn label(&self) -> String {
        match &self.table {
            Some(t) => format!("{}:{t}", self.kind.as_str()),
            None => self.kind.as_str().to_string(),
        }
    }
}

/// A destination's settings, secrets in the clear (only in memory).
#[derive(Clone, PartialEq, Eq)]
pub enum DestinationConfig {
    Webhook {
        url: String,
        /// HMAC-SHA256 key: when set, `X-Lut-Signature: sha256=<hex>` signs the body.
        secret: Option<String>,
        headers: Vec<(String, String)>,
    },
    Slack {
        url: String,
    },
    PagerDuty {
        routing_key: String,
        /// The Events API v2 enqueue URL (a setting so tests can use loopback).
        events_url: String,
    },
    Teams {
        url: String,
    },
    Sns {
        topic_arn: String,
    },
}

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

impl fmt::Debug for DestinationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DestinationConfig({}: {})", self.kind(), self.masked())
    }
}

fn bad(msg: impl Into<String>) -> StoreError {
    StoreError::Conflict(msg.into())
}

impl DestinationConfig {
    /// `webhook`, `slack`, `pagerduty`, `teams` or `sns`.
    pub fn kind(&self) -> &'static str {
        match self {
            DestinationConfig::Webhook { .. } => "webhook",
            DestinationConfig::Slack { .. } => "slack",
            DestinationConfig::PagerDuty { .. } => "pagerduty",
            DestinationConfig::Teams { .. } => "teams",
            DestinationConfig::Sns { .. } => "sns",
        }
    }

    /// A one-line description with every secret masked.
    pub fn masked(&self) -> String {
        match self {
            DestinationConfig::Webhook {
                url,
                secret,
                headers,
            } => {
                let mut s = mask(url);
                if secret.is_some() {
                    s.push_str(" (signed)");
                }
                for (k, _) in headers {
                    s.push_str(&format!(" {k}: …"));
                }
                s
            }
            DestinationConfig::Slack { url } | DestinationConfig::Teams { url } => mask(url),
            DestinationConfig::PagerDuty {
                routing_key,
                events_url,
            } => {
                let mut s = format!("routing key {}", mask(routing_key));
                if events_url != PAGERDUTY_EVENTS_URL {
                    s.push_str(&format!(" via {events_url}"));
                }
                s
            }
            DestinationConfig::Sns { topic_arn } => topic_arn.clone(),
        }
    }

    /// The catalog form: JSON with secret values sealed.
    pub fn seal(&self, key: &SecretKey) -> String {
        let v = match self {
            DestinationConfig::Webhook {
                url,
                secret,
                headers,
            } => {
                let mut h = Map::new();
                for (k, v) in headers {
                    h.insert(k.clone(), Value::String(key.seal(v)));
                }
                json!({"url": key.seal(url), "secret": secret.as_ref().map(|s| key.seal(s)), "headers": h})
            }
            DestinationConfig::Slack { url } | DestinationConfig::Teams { url } => {
                json!({"url": key.seal(url)})
            }
            DestinationConfig::PagerDuty {
                routing_key,
                events_url,
            } => json!({"routing_key": key.seal(routing_key), "events_url": events_url}),
            DestinationConfig::Sns { topic_arn } => json!({"topic_arn": topic_arn}),
        };
        v.to_string()
    }

    /// Reads a catalog record's config back, opening its secrets.
    pub fn open(rec: &DestinationRecord, key: &SecretKey) -> Result<DestinationConfig, StoreError> {
        let v: Value = serde_json::from_str(&rec.config)
            .map_err(|e| bad(format!("destination {:?}: bad config: {e}", rec.name)))?;
        let sealed = |field: &str| -> Result<String, StoreError> {
            let s = v
                .get(field)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("destination {:?}: no {field}", rec.name)))?;
            key.open(s)
        };
        Ok(match rec.kind.as_str() {
            "webhook" => {
                let secret = match v.get("secret").and_then(Value::as_str) {
                    Some(s) => Some(key.open(s)?),
                    None => None,
                };
                let mut headers = Vec::new();
                if let Some(h) = v.get("headers").and_then(Value::as_object) {
                    for (k, val) in h {
                        headers.push((k.clone(), key.open(val.as_str().unwrap_or(""))?));
                    }
                }
                DestinationConfig::Webhook {
                    url: sealed("url")?,
                    secret,
                    headers,
                }
            }
            "slack" => DestinationConfig::Slack {
                url: sealed("url")?,
            },
            "teams" => DestinationConfig::Teams {
                url: sealed("url")?,
            },
            "pagerduty" => DestinationConfig::PagerDuty {
                routing_key: sealed("routing_key")?,
                events_url: v
                    .get("events_url")
                    .and_then(Value::as_str)
                    .unwrap_or(PAGERDUTY_EVENTS_URL)
                    .to_string(),
            },
            "sns" => DestinationConfig::Sns {
                topic_arn: v
                    .get("topic_arn")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(format!("destination {:?}: no topic_arn", rec.name)))?
                    .to_string(),
            },
            other => return Err(bad(format!("unknown destination kind {other:?}"))),
        })
    }
}

/// Whether a destination wants an alert: enabled, severity at least its minimum, and its
/// table filter (if any) matching. Test alerts pass every filter.
pub fn wants(rec: &DestinationRecord, alert: &Alert) -> bool {
    if alert.kind == AlertKind::Test {
        return true;
    }
    if !rec.enabled || severity_rank(&alert.severity) > severity_rank(&rec.min_severity) {
        return false;
    }
    match (&rec.table_filter, &alert.table) {
        (None, _) => true,
        (Some(f), Some(t)) => f == t,
        // Errors of no table (e.g. a destination's own) go to unfiltered destinations only.
        (Some(_), None) => false,
    }
}

/// A test alert for `lut destinations test`.
pub fn test_alert(destination: &str, at: Millis) -> Alert {
    Alert {
        kind: AlertKind::Test,
        table: None,
        severity: "INFO".into(),
        stage: None,
        code: None,
        title: format!("lut test alert for destination {destination}"),
        message: "This is a test alert sent by `lut destinations test`.".into(),
        remedy: "Nothing to do: the destination works.".into(),
        since: at,
        at,
        dedup_key: format!("lut/test/{destination}"),
        link: "lut://destinations".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(cfg: &DestinationConfig, key: &SecretKey) -> DestinationRecord {
        DestinationRecord {
            id: 1,
            name: "d".into(),
            kind: cfg.kind().into(),
            config: cfg.seal(key),
            min_severity: "HIGH".into(),
            table_filter: Some("t1".into()),
            enabled: true,
            created_at: 0,
        }
    }

    #[test]
    fn secrets_are_sealed_and_masked() {
        let key = SecretKey::generate();
        let cfg = DestinationConfig::Webhook {
            url: "https://example.com/hooks/abcdef123456".into(),
            secret: Some("hmac-secret-value".into()),
            headers: vec![("Authorization".into(), "Bearer tok-123456".into())],
        };
        let r = rec(&cfg, &key);
        for s in ["abcdef123456", "hmac-secret-value", "tok-123456"] {
            assert!(!r.config.contains(s), "{s} in {}", r.config);
            assert!(!format!("{cfg:?}").contains(s));
            assert!(!format!("{r:?}").contains(s));
        }
        assert_eq!(
            cfg.masked(),
            "https://example.com/…/3456 (signed) Authorization: …"
        );
        assert_eq!(DestinationConfig::open(&r, &key).expect("open"), cfg);
        let pd = DestinationConfig::PagerDuty {
            routing_key: "R0UTINGKEY1234567890abcd".into(),
            events_url: PAGERDUTY_EVENTS_URL.into(),
        };
        assert_eq!(pd.masked(), "routing key …abcd");
        assert_eq!(
            DestinationConfig::open(&rec(&pd, &key), &key).expect("pd"),
            pd
        );
    }

    #[test]
    fn filters() {
        let key = SecretKey::generate();
        let r = rec(&DestinationConfig::Slack { url: "u".into() }, &key);
        let mut a = test_alert("d", 0);
        a.kind = AlertKind::ErrorRaised;
        a.severity = "CRITICAL".into();
        a.table = Some("t1".into());
        assert!(wants(&r, &a));
        a.table = Some("t2".into());
        assert!(!wants(&r, &a));
        a.table = Some("t1".into());
        a.severity = "MEDIUM".into();
        assert!(!wants(&r, &a));
        a.kind = AlertKind::Test;
        assert!(wants(&r, &a));
    }
}
