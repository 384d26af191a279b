//! The audit log over the API: recording every successful change made with a `manage`
//! token, and `GET /api/v1/audit` to read it.
//!
//! Recording is done by the `manage` middleware ([`super::auth::require_manage`]) rather
//! than by each handler, so a new manage route cannot forget it: after a handler answers
//! 2xx to a request whose method is not GET, an entry is appended with the calling token as
//! actor, the action named in [`ACTIONS`] for the route, and the `{name}` (a table) or
//! `{id}` path parameter as target. Handlers add what only they know (details, a target
//! from the body, an outcome) by returning an [`AuditNote`] with their response, or say
//! [`AuditNote::Done`] when they wrote the entry in the change's own catalog transaction
//! (definition changes) or changed nothing (a dry run). Failed, refused and read-only
//! requests leave no entry: they changed nothing.
//!
//! Reading needs `manage`: entries name tokens and their descriptions, which `read` tokens
//! (handed to log shippers) cannot otherwise see.

use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::Method;
use axum::response::{IntoResponseParts, Response, ResponseParts};
use axum::routing::get;
use axum::{Json, RequestExt, Router};
use lut_store::{Actor, AuditFilter, NewAuditEntry};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult, Query};
use super::routes::db;
use super::AppState;

/// (method, route, action) for every manage route that changes something.
pub const ACTIONS: &[(&str, &str, &str)] = &[
    ("post", "/api/v1/apply", "bundle.apply"),
    ("post", "/api/v1/tables", "table.create"),
    ("put", "/api/v1/tables/{name}", "table.update"),
    ("delete", "/api/v1/tables/{name}", "table.delete"),
    ("post", "/api/v1/tables/{name}/enable", "table.enable"),
    ("post", "/api/v1/tables/{name}/disable", "table.disable"),
    ("put", "/api/v1/tables/{name}/data", "table.upload"),
    ("post", "/api/v1/tables/{name}/sync", "table.sync"),
    ("post", "/api/v1/tables/{name}/rollback", "table.rollback"),
    ("post", "/api/v1/tables/{name}/unpin", "table.unpin"),
    ("post", "/api/v1/tables/{name}/retention", "table.retention"),
    (
        "post",
        "/api/v1/tables/{name}/test-connection",
        "table.test_connection",
    ),
    ("post", "/api/v1/errors/{id}/ack", "error.ack"),
    ("put", "/api/v1/schemas/{name}", "schema.put"),
    ("delete", "/api/v1/schemas/{name}", "schema.delete"),
    ("post", "/api/v1/destinations", "destination.create"),
    ("delete", "/api/v1/destinations/{id}", "destination.delete"),
    ("post", "/api/v1/destinations/{id}/test", "destination.test"),
];

/// The action for a route; an unlisted route is still recorded, under its method and path.
pub fn action_for(method: &Method, route: &str) -> String {
    let m = method.as_str().to_ascii_lowercase();
    ACTIONS
        .iter()
        .find(|(am, ar, _)| *am == m && *ar == route)
        .map_or_else(|| format!("http.{m} {route}"), |(_, _, a)| a.to_string())
}

/// The actor for an authenticated token.
pub fn actor(caller: &Caller) -> Actor {
    Actor::token(caller.0.id, caller.0.description.as_deref())
}

/// What a handler adds to (or says about) the entry the middleware records.
#[derive(Debug, Clone)]
pub enum AuditNote {
    /// Nothing to record here: written in the change's transaction, or no change made.
    Done,
    /// Fields for the entry; `None` keeps the middleware's default.
    Entry {
        target: Option<String>,
        table: Option<String>,
        outcome: Option<String>,
        details: Value,
    },
}

impl AuditNote {
    pub fn details(details: Value) -> AuditNote {
        AuditNote::Entry {
            target: None,
            table: None,
            outcome: None,
            details,
        }
    }

    pub fn outcome(self, outcome: impl Into<String>) -> AuditNote {
        match self {
            AuditNote::Entry {
                target,
                table,
                details,
                ..
            } => AuditNote::Entry {
                target,
                table,
                outcome: Some(outcome.into()),
                details,
            },
            done => done,
        }
    }

    /// The target when the path does not name it (or names it by id): a table.
    pub fn table(self, name: &str) -> AuditNote {
        self.with_target(name, true)
    }

    /// The target when the path does not name it: something other than a table.
    pub fn target(self, target: &str) -> AuditNote {
        self.with_target(target, false)
    }

    fn with_target(self, t: &str, is_table: bool) -> AuditNote {
        match self {
            AuditNote::Entry {
                outcome, details, ..
            } => AuditNote::Entry {
                target: Some(t.to_string()),
                table: is_table.then(|| t.to_string()),
                outcome,
                details,
            },
            done => done,
        }
    }
}

/// Handlers return `(AuditNote, Json(..))`: the note travels in the response extensions.
impl IntoResponseParts for AuditNote {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

/// What the middleware knows about a request before the handler runs.
pub struct Pending {
    actor: Actor,
    action: String,
    target: Option<String>,
    table: Option<String>,
}

impl Pending {
    /// `None` for requests that change nothing (GET / HEAD) or carry no caller.
    pub async fn of(req: &mut Request) -> Option<Pending> {
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            return None;
        }
        let caller = req.extensions().get::<Caller>()?.clone();
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| req.uri().path().to_string(), |m| m.as_str().to_string());
        let action = action_for(req.method(), &route);
        let (mut target, mut table) = (None, None);
        if let Ok(params) = req.extract_parts::<RawPathParams>().await {
            for (k, v) in &params {
                match k {
                    "name" => {
                        target = Some(v.to_string());
                        table = Some(v.to_string());
                    }
                    "id" if target.is_none() => target = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        Some(Pending {
            actor: actor(&caller),
            action,
            target,
            table,
        })
    }

    /// Records the change `resp` reports, if it succeeded, and passes `resp` on.
    pub async fn record(self, st: &AppState, mut resp: Response) -> Response {
        if !resp.status().is_success() {
            return resp;
        }
        let mut e = NewAuditEntry::new(&self.actor, &self.action);
        e.target = self.target;
        e.table = self.table;
        match resp.extensions_mut().remove::<AuditNote>() {
            Some(AuditNote::Done) => return resp,
            Some(AuditNote::Entry {
                target,
                table,
                outcome,
                details,
            }) => {
                if target.is_some() {
                    (e.target, e.table) = (target, table);
                }
                if let Some(o) = outcome {
                    e.outcome = o;
                }
                e.details = details;
            }
            None => {}
        }
        // The change is made: a failure to record it is logged loudly, not reported as a
        // failure of the change.
        let action = e.action.clone();
        if let Err(err) = db(st, move |cat| Ok(cat.append_audit(&e)?)).await {
            tracing::error!(action, error = %err.message, "cannot record an audit entry");
        }
        resp
    }
}

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new().route("/api/v1/audit", get(list)).route_layer(
        axum::middleware::from_fn_with_state(state, super::auth::require_manage),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    table: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    /// Milliseconds since the epoch or an RFC 3339 time.
    since: Option<String>,
    before: Option<i64>,
    limit: Option<usize>,
}

/// A time as milliseconds since the epoch or RFC 3339.
pub fn parse_time(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// `GET /api/v1/audit`: entries newest first; `next` is the `before` of the next page.
pub async fn list(
    State(st): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let since = match q.since.as_deref() {
        Some(s) => Some(parse_time(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "since={s:?} is neither milliseconds since the epoch nor an RFC 3339 time"
            ))
            .with_details(json!({ "in": "query", "field": "since" }))
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, lut_store::audit::MAX_PAGE);
    let filter = AuditFilter {
        table: q.table,
        actor: q.actor,
        action: q.action,
        since,
        before: q.before,
        limit,
    };
    let entries = db(&st, move |cat| Ok(cat.audit(&filter)?)).await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(json!({ "entries": entries, "next": next })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every manage route that is not a GET has a named action.
    #[test]
    fn every_change_route_has_an_action() {
        for (m, path, perm, _) in super::super::openapi::ROUTES {
            if *perm == "manage" && *m != "get" {
                let method = Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap();
                let a = action_for(&method, path);
                assert!(!a.starts_with("http."), "{m} {path} has no audit action");
            }
        }
        assert_eq!(
            action_for(&Method::POST, "/api/v1/nope"),
            "http.post /api/v1/nope"
        );
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time("1000"), Some(1000));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time("yesterday"), None);
    }
}
