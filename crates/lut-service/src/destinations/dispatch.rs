//! Delivery: HTTP (reqwest over rustls) and SNS, with retries and the delivery log.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use lut_store::{Catalog, DeliveryRecord, DestinationRecord, NewSystemError, SecretKey};
use sha2::Sha256;
use std::collections::HashMap;

use tokio::sync::Mutex;

use super::{payload, wants, Alert, DestinationConfig};
use crate::alarms::Clock;

/// How deliveries are attempted.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Per attempt.
    pub timeout: Duration,
    /// Attempts per alert (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each later one (with jitter).
    pub backoff: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            timeout: Duration::from_secs(10),
            attempts: 4,
            backoff: Duration::from_millis(500),
        }
    }
}

/// One attempt's result.
struct Attempt {
    ok: bool,
    status: Option<i64>,
    error: Option<String>,
    retryable: bool,
}

/// Sends alerts to destinations.
pub struct Dispatcher {
    catalog: Arc<dyn Catalog>,
    key: SecretKey,
    clock: Arc<dyn Clock>,
    settings: DeliverySettings,
    http: reqwest::Client,
    /// One SNS client per region (a topic's region is in its ARN).
    sns: Mutex<HashMap<String, aws_sdk_sns::Client>>,
}

/// The `X-Lut-Signature` value for `body` under `secret`: `sha256=<hex>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Dispatcher {
    pub fn new(
        catalog: Arc<dyn Catalog>,
        key: SecretKey,
        clock: Arc<dyn Clock>,
        settings: DeliverySettings,
    ) -> Dispatcher {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("lut/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's settings are valid");
        Dispatcher {
            catalog,
            key,
            clock,
            settings,
            http,
            sns: Mutex::new(HashMap::new()),
        }
    }

    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    /// Delivers `alert` to every destination that wants it; returns how many took it.
    pub async fn broadcast(&self, alert: &Alert) -> usize {
        let dests = match self.catalog.destinations() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read destinations");
                return 0;
            }
        };
        let mut ok = 0;
        for d in dests.iter().filter(|d| wants(d, alert)) {
            if self.deliver(d, alert).await.is_ok() {
                ok += 1;
            }
        }
        ok
    }

    /// Delivers `alert` to one destination with retries, logging every attempt. When the
    /// retries run out, the destination's own system error is raised (HIGH, no table,
    /// stage `notify`, code `DeliveryFailed(<name>)`); a success resolves it.
    pub async fn deliver(&self, dest: &DestinationRecord, alert: &Alert) -> Result<(), String> {
        let cfg = DestinationConfig::open(dest, &self.key).map_err(|e| e.to_string())?;
        let attempts = self.settings.attempts.max(1);
        let code = format!("DeliveryFailed({})", dest.name);
        let mut last = String::new();
        for n in 1..=attempts {
            let a = self.attempt(&cfg, alert).await;
            let log = DeliveryRecord {
                destination: dest.name.clone(),
                event: alert.label(),
                at: self.clock.now(),
                ok: a.ok,
                status: a.status,
                error: a.error.clone(),
                attempt: i64::from(n),
            };
            if let Err(e) = self.catalog.log_delivery(&log) {
                tracing::warn!(error = %e, "cannot write the delivery log");
            }
            if a.ok {
                let _ =
                    self.catalog
                        .resolve_error_key(None, "notify", Some(&code), self.clock.now());
                return Ok(());
            }
            last = a.error.unwrap_or_default();
            tracing::warn!(destination = %dest.name, attempt = n, error = %last, "delivery failed");
            if !a.retryable || n == attempts {
                break;
            }
            let base = self.settings.backoff.saturating_mul(1 << (n - 1).min(10));
            let jitter = base.mul_f64(fastrand::f64() * 0.25);
            tokio::time::sleep(base + jitter).await;
        }
        let _ = self.catalog.raise_error(&NewSystemError {
            table: None,
            severity: "HIGH".into(),
            stage: "notify".into(),
            code: Some(code),
            message: format!(
                "alerts to destination {} ({}) cannot be delivered: {last}",
                dest.name, dest.kind
            ),
            remedy: format!(
                "Check the destination's URL, key or topic and that it accepts requests from \
                 this host, then run `lut destinations test {}`.",
                dest.name
            ),
            at: self.clock.now(),
        });
        Err(last)
    }

    async fn attempt(&self, cfg: &DestinationConfig, alert: &Alert) -> Attempt {
        let (url, body, headers): (&str, Vec<u8>, Vec<(String, String)>) = match cfg {
            DestinationConfig::Webhook {
                url,
                secret,
                headers,
            } => {
                let body = payload::webhook(alert).to_string().into_bytes();
                let mut h = headers.clone();
                if let Some(s) = secret {
                    h.push(("X-Lut-Signature".into(), signature(s, &body)));
                }
                (url, body, h)
            }
            DestinationConfig::Slack { url } => {
                (url, payload::slack(alert).to_string().into_bytes(), vec![])
            }
            DestinationConfig::Teams { url } => {
                (url, payload::teams(alert).to_string().into_bytes(), vec![])
            }
            DestinationConfig::PagerDuty {
                routing_key,
                events_url,
            } => (
                events_url,
                payload::pagerduty(alert, routing_key)
                    .to_string()
                    .into_bytes(),
                vec![],
            ),
            DestinationConfig::Sns { topic_arn } => return self.publish(topic_arn, alert).await,
        };
        let mut req = self
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .body(body);
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let code = i64::from(status.as_u16());
                if status.is_success() {
                    Attempt {
                        ok: true,
                        status: Some(code),
                        error: None,
                        retryable: false,
                    }
                } else {
                    Attempt {
                        ok: false,
                        status: Some(code),
                        error: Some(format!("HTTP {status}")),
                        retryable: status.is_server_error() || code == 429 || code == 408,
                    }
                }
            }
            // Transport errors (refused, reset, timeout) are worth retrying. The URL (a
            // secret) is stripped from the message.
            Err(e) => Attempt {
                ok: false,
                status: None,
                error: Some(describe(&e.without_url())),
                retryable: true,
            },
        }
    }

    async fn publish(&self, topic_arn: &str, alert: &Alert) -> Attempt {
        // The topic's region is in its ARN: arn:aws:sns:REGION:ACCOUNT:NAME.
        let region = topic_arn
            .split(':')
            .nth(3)
            .unwrap_or("us-east-1")
            .to_string();
        let client = {
            let mut clients = self.sns.lock().await;
            match clients.get(&region) {
                Some(c) => c.clone(),
                None => {
                    // lut's own identity, and AWS_ENDPOINT_URL(_SNS) like the rest of lut.
                    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
                        .region(aws_config::Region::new(region.clone()))
                        .timeout_config(
                            aws_config::timeout::TimeoutConfig::builder()
                                .operation_attempt_timeout(self.settings.timeout)
                                .build(),
                        )
                        // Retries are ours (each attempt logged).
                        .retry_config(aws_config::retry::RetryConfig::disabled())
                        .load()
                        .await;
                    let c = aws_sdk_sns::Client::new(&conf);
                    clients.insert(region, c.clone());
                    c
                }
            }
        };
        let res = client
            .publish()
            .topic_arn(topic_arn)
            .subject(payload::sns_subject(alert))
            .message(payload::webhook(alert).to_string())
            .send()
            .await;
        match res {
            Ok(_) => Attempt {
                ok: true,
                status: None,
                error: None,
                retryable: false,
            },
            Err(e) => {
                let retryable = !matches!(e, aws_sdk_sns::error::SdkError::ServiceError(_));
                let msg = format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                );
                Attempt {
                    ok: false,
                    status: e.raw_response().map(|r| i64::from(r.status().as_u16())),
                    error: Some(msg),
                    retryable,
                }
            }
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(&format!(": {c}"));
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_hmac_sha256_hex() {
        assert_eq!(
            super::signature("key", b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
