//! Alert destinations over the API (issue 6): list (secrets masked), create, delete, test.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use lut_store::{now_millis, Catalog, DestinationRecord, NewDestination, SecretKey};
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit::AuditNote;
use super::error::{ApiError, ApiResult, Path};
use super::routes::db;
use super::{auth, AppState};
use crate::alarms::SystemClock;
use crate::destinations::{
    test_alert, DeliverySettings, DestinationConfig, Dispatcher, PAGERDUTY_EVENTS_URL, SEVERITIES,
};

pub fn routes(state: AppState) -> Router<AppState> {
    let read = Router::new()
        .route("/api/v1/destinations", get(list))
        .route_layer(from_fn_with_state(state.clone(), auth::require_read));
    let manage = Router::new()
        .route("/api/v1/destinations", post(create))
        .route("/api/v1/destinations/{id}", delete(remove))
        .route("/api/v1/destinations/{id}/test", post(test))
        .route_layer(from_fn_with_state(state, auth::require_manage));
    read.merge(manage)
}

fn key(st: &AppState) -> Result<SecretKey, ApiError> {
    SecretKey::load(&st.config.data_dir).map_err(ApiError::from)
}

fn shown(d: &DestinationRecord, key: &SecretKey) -> Value {
    let target = match DestinationConfig::open(d, key) {
        Ok(c) => c.masked(),
        Err(e) => format!("<{e}>"),
    };
    json!({
        "id": d.id,
        "name": d.name,
        "kind": d.kind,
        "target": target,
        "min_severity": d.min_severity,
        "table": d.table_filter,
        "enabled": d.enabled,
        "created_at": d.created_at,
    })
}

/// A destination by numeric id or by name.
fn find(cat: &dyn Catalog, id: &str) -> Result<DestinationRecord, ApiError> {
    let num = id.parse::<i64>().ok();
    cat.destinations()?
        .into_iter()
        .find(|d| Some(d.id) == num || d.name == id)
        .ok_or_else(|| {
            ApiError::not_found(format!("no destination {id:?}"))
                .with_details(json!({ "destination": id }))
        })
}

pub async fn list(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let key = key(&st)?;
    let v = db(&st, move |cat| {
        let mut out = Vec::new();
        for d in cat.destinations()? {
            let mut v = shown(&d, &key);
            v["last_delivery"] = json!(cat.deliveries(Some(&d.name), 1)?.into_iter().next());
            out.push(v);
        }
        Ok(out)
    })
    .await?;
    Ok(Json(json!({ "destinations": v })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    kind: String,
    url: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    routing_key: Option<String>,
    events_url: Option<String>,
    topic_arn: Option<String>,
    min_severity: Option<String>,
    table: Option<String>,
    enabled: Option<bool>,
}

fn invalid(field: &str, msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", msg)
        .with_details(json!({ "field": field }))
}

fn need(v: &Option<String>, field: &str, kind: &str) -> Result<String, ApiError> {
    v.clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid(field, format!("kind {kind} needs {field}")))
}

fn config(b: &CreateBody) -> Result<DestinationConfig, ApiError> {
    Ok(match b.kind.as_str() {
        "webhook" => DestinationConfig::Webhook {
            url: need(&b.url, "url", "webhook")?,
            secret: b.secret.clone().filter(|s| !s.is_empty()),
            headers: b
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        "slack" => DestinationConfig::Slack {
            url: need(&b.url, "url", "slack")?,
        },
        "teams" => DestinationConfig::Teams {
            url: need(&b.url, "url", "teams")?,
        },
        "pagerduty" => DestinationConfig::PagerDuty {
            routing_key: need(&b.routing_key, "routing_key", "pagerduty")?,
            events_url: b
                .events_url
                .clone()
                .unwrap_or_else(|| PAGERDUTY_EVENTS_URL.into()),
        },
        "sns" => {
            let arn = need(&b.topic_arn, "topic_arn", "sns")?;
            if !arn.starts_with("arn:") || arn.split(':').count() != 6 {
                return Err(invalid(
                    "topic_arn",
                    format!("{arn:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"),
                ));
            }
            DestinationConfig::Sns { topic_arn: arn }
        }
        other => {
            return Err(invalid(
                "kind",
                format!("unknown kind {other:?}; one of webhook, slack, teams, pagerduty, sns"),
            ))
        }
    })
}

pub async fn create(
    State(st): State<AppState>,
    b: Result<Json<CreateBody>, JsonRejection>,
) -> ApiResult<(StatusCode, AuditNote, Json<Value>)> {
    let b = super::error::json_body(b)?;
    if b.name.trim().is_empty() {
        return Err(invalid("name", "name must not be empty"));
    }
    let cfg = config(&b)?;
    let sev = b
        .min_severity
        .as_deref()
        .unwrap_or("HIGH")
        .to_ascii_uppercase();
    if !SEVERITIES.contains(&sev.as_str()) {
        return Err(invalid(
            "min_severity",
            format!("min_severity must be one of {}", SEVERITIES.join(", ")),
        ));
    }
    let key = key(&st)?;
    let v = db(&st, move |cat| {
        if cat.destinations()?.iter().any(|d| d.name == b.name) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("a destination named {:?} exists", b.name),
            ));
        }
        let rec = cat.add_destination(&NewDestination {
            name: b.name.clone(),
            kind: cfg.kind().into(),
            config: cfg.seal(&key),
            min_severity: sev,
            table_filter: b.table.clone(),
            enabled: b.enabled.unwrap_or(true),
            created_at: now_millis(),
        })?;
        Ok(shown(&rec, &key))
    })
    .await?;
    // Never the URL, key or secret: only what says which destination it is.
    let note = AuditNote::details(json!({
        "id": v["id"], "kind": v["kind"], "min_severity": v["min_severity"],
        "table": v["table"], "enabled": v["enabled"],
    }))
    .target(v["name"].as_str().unwrap_or_default());
    Ok((StatusCode::CREATED, note, Json(v)))
}

pub async fn remove(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let v = db(&st, move |cat| {
        let d = find(cat, &id)?;
        cat.remove_destination(&d.name)?;
        Ok(json!({ "removed": d.name, "id": d.id }))
    })
    .await?;
    let note = AuditNote::details(json!({ "id": v["id"] }))
        .target(v["removed"].as_str().unwrap_or_default());
    Ok((note, Json(v)))
}

/// Sends a test alert (with the usual retries) and reports each attempt.
pub async fn test(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(AuditNote, Json<Value>)> {
    let d = db(&st, move |cat| find(cat, &id)).await?;
    let dispatcher = Dispatcher::new(
        st.catalog.clone(),
        key(&st)?,
        Arc::new(SystemClock),
        DeliverySettings::default(),
    );
    let res = dispatcher
        .deliver(&d, &test_alert(&d.name, now_millis()))
        .await;
    let name = d.name.clone();
    let attempts = db(&st, move |cat| {
        let log = cat.deliveries(Some(&name), 20)?;
        let mut mine: Vec<_> = log.into_iter().take_while(|l| l.event == "test").collect();
        if let Some(p) = mine.iter().position(|l| l.attempt == 1) {
            mine.truncate(p + 1);
        }
        mine.reverse();
        Ok(mine)
    })
    .await?;
    // The delivery error is left out: it may quote the destination's URL.
    let note = AuditNote::details(json!({ "attempts": attempts.len() }))
        .target(&d.name)
        .outcome(if res.is_ok() { "delivered" } else { "failed" });
    Ok((
        note,
        Json(json!({
            "destination": d.name,
            "delivered": res.is_ok(),
            "error": res.err(),
            "attempts": attempts,
        })),
    ))
}
