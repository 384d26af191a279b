//! The exact body each destination kind receives for an [`Alert`].

use lut_store::Millis;
use serde_json::{json, Value};

use super::{Alert, AlertKind};

/// `2026-01-02T03:04:05Z`.
pub fn iso(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The generic webhook body (also the SNS message).
pub fn webhook(a: &Alert) -> Value {
    json!({
        "source": "lut",
        "event": a.kind.as_str(),
        "title": a.title,
        "table": a.table,
        "severity": a.severity,
        "stage": a.stage,
        "code": a.code,
        "message": a.message,
        "remedy": a.remedy,
        "since": iso(a.since),
        "at": iso(a.at),
        "dedup_key": a.dedup_key,
        "link": a.link,
    })
}

fn icon(a: &Alert) -> &'static str {
    match a.kind {
        AlertKind::AlarmResolved | AlertKind::ErrorResolved => ":white_check_mark:",
        AlertKind::Test => ":information_source:",
        _ => ":rotating_light:",
    }
}

/// A Slack incoming-webhook message: `text` (notifications, fallback) and blocks.
pub fn slack(a: &Alert) -> Value {
    let table = a.table.as_deref().unwrap_or("-");
    let text = format!(
        "{} {} — table {table}: {} What to do: {}",
        icon(a),
        a.title,
        a.message,
        a.remedy
    );
    json!({
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": a.title}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": format!("*Table:*\n{table}")},
                {"type": "mrkdwn", "text": format!("*Severity:*\n{}", a.severity)},
            ]},
            {"type": "section", "text": {"type": "mrkdwn", "text":
                format!("*Cause:* {}\n*What to do:* {}", a.message, a.remedy)}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": format!("{} · since {} · <{}|open in lut>",
                    a.kind.as_str(), iso(a.since), a.link)},
            ]},
        ],
    })
}

/// PagerDuty's severities: critical, error, warning, info.
fn pd_severity(s: &str) -> &'static str {
    match s.to_ascii_uppercase().as_str() {
        "CRITICAL" => "critical",
        "HIGH" => "error",
        "MEDIUM" | "LOW" => "warning",
        _ => "info",
    }
}

/// A PagerDuty Events API v2 event: `trigger` for problems (and reminders, which PagerDuty
/// de-duplicates into the open incident), `resolve` for resolutions.
pub fn pagerduty(a: &Alert, routing_key: &str) -> Value {
    if a.kind.is_resolution() {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": a.dedup_key,
        });
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": a.dedup_key,
        "payload": {
            "summary": a.title,
            "source": "lut",
            "severity": pd_severity(&a.severity),
            "timestamp": iso(a.at),
            "component": a.table,
            "group": a.stage,
            "class": a.code,
            "custom_details": {
                "message": a.message,
                "remedy": a.remedy,
                "since": iso(a.since),
                "event": a.kind.as_str(),
            },
        },
        "links": [{"href": a.link, "text": "open in lut"}],
    })
}

/// A Microsoft Teams incoming-webhook MessageCard.
pub fn teams(a: &Alert) -> Value {
    let color = match a.kind {
        AlertKind::AlarmResolved | AlertKind::ErrorResolved => "2EB886",
        AlertKind::Test => "439FE0",
        _ => "D70000",
    };
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "themeColor": color,
        "summary": a.title,
        "title": a.title,
        "sections": [{
            "facts": [
                {"name": "Table", "value": a.table.as_deref().unwrap_or("-")},
                {"name": "Severity", "value": a.severity},
                {"name": "Event", "value": a.kind.as_str()},
                {"name": "Since", "value": iso(a.since)},
            ],
            "text": format!("**Cause:** {}<br>**What to do:** {}", a.message, a.remedy),
        }],
        "potentialAction": [{
            "@type": "OpenUri",
            "name": "Open in lut",
            "targets": [{"os": "default", "uri": a.link}],
        }],
    })
}

/// The SNS subject (at most 100 characters, no line breaks).
pub fn sns_subject(a: &Alert) -> String {
    let s: String = a
        .title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(100)
        .collect();
    s
}
