//! The request and response shapes of every route in `/openapi.json`: query parameters,
//! request bodies, and the success response's status, media type and JSON schema.
//!
//! Kept beside [`super::openapi::ROUTES`] and checked two ways: a unit test that every
//! route has a shape, and the schemathesis run (crates/lut/tests/schemathesis.rs) that
//! sends generated requests to a live server and validates every response against these
//! schemas. Response objects list the members clients rely on as `required` and leave
//! `additionalProperties` open, so adding a member is not a breaking change.

use serde_json::{json, Value};

/// One query parameter: name, JSON schema, required.
pub struct Query(pub &'static str, pub Value, pub bool);

pub struct Shape {
    pub query: Vec<Query>,
    /// (media type, schema) of the request body, which is then required.
    pub body: Option<(&'static str, Value)>,
    /// Status of the success response.
    pub status: u16,
    /// Media type and schema of the success response.
    pub media: &'static str,
    pub schema: Value,
    /// A second media type the success response may have (chosen by a query parameter).
    pub also: Option<(&'static str, Value)>,
}

fn obj(required: &[&str], props: Value) -> Value {
    json!({"type": "object", "required": required, "properties": props})
}

fn list_of(key: &str, item: Value) -> Value {
    obj(&[key], json!({ key: {"type": "array", "items": item} }))
}

fn ok(schema: Value) -> Shape {
    Shape {
        query: Vec::new(),
        body: None,
        status: 200,
        media: "application/json",
        schema,
        also: None,
    }
}

impl Shape {
    fn q(mut self, name: &'static str, schema: Value, required: bool) -> Shape {
        self.query.push(Query(name, schema, required));
        self
    }

    fn body(mut self, media: &'static str, schema: Value) -> Shape {
        self.body = Some((media, schema));
        self
    }

    fn status(mut self, status: u16) -> Shape {
        self.status = status;
        self
    }
}

fn int() -> Value {
    json!({"type": "integer"})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

fn version() -> Value {
    obj(
        &[
            "id",
            "table",
            "rows",
            "sha256",
            "size",
            "source",
            "fetched_at",
        ],
        json!({
            "id": int(), "table": string(), "rows": int(), "sha256": string(),
            "size": int(), "source": string(), "fetched_at": int(),
            "etag": nullable("string"), "live": boolean(),
        }),
    )
}

fn table() -> Value {
    obj(
        &[
            "name",
            "enabled",
            "source_kind",
            "schema_name",
            "pinned",
            "loaded",
        ],
        json!({
            "name": string(), "enabled": boolean(), "source_kind": string(),
            "schema_name": string(), "pinned": boolean(), "loaded": boolean(),
            "created_at": int(), "updated_at": int(),
            "live_version": {"oneOf": [{"type": "null"}, version()]},
            "last_check": {"type": ["object", "null"]},
        }),
    )
}

fn diagnostics() -> Value {
    json!({"type": "array", "items": obj(
        &["severity", "code", "message"],
        json!({"severity": string(), "code": string(), "message": string()}),
    )})
}

fn plan() -> Value {
    json!({"type": "array", "items": obj(
        &["table", "action"],
        json!({"table": string(), "action": {"enum": ["add", "change", "same", "delete", "keep", "skip"]}}),
    )})
}

fn definition() -> Value {
    json!({
        "type": "object", "required": ["spec"], "additionalProperties": false,
        "properties": {
            "spec": {"type": "string", "description": "panther_analysis_tool lookup-table spec (YAML)"},
            "schema": {"type": "string", "description": "Panther custom schema (YAML); without it, the stored schema the spec names"},
        },
    })
}

fn destination() -> Value {
    obj(
        &["id", "name", "kind", "target", "min_severity"],
        json!({
            "id": int(), "name": string(), "kind": string(),
            "target": {"type": "string", "description": "masked; secrets are never returned"},
            "min_severity": string(), "table": nullable("string"),
        }),
    )
}

fn check_outcome() -> Value {
    obj(
        &["table", "result"],
        json!({"table": string(), "result": obj(&["outcome"], json!({"outcome": {"enum": [
            "updated", "unchanged", "recorded_while_pinned", "failed", "not_synced"
        ]}}))}),
    )
}

/// The shape of `method path`; `None` for a route this module does not know (a test
/// fails then).
pub fn shape(method: &str, path: &str) -> Option<Shape> {
    let limit = json!({"type": "integer", "minimum": 1, "maximum": 1000});
    Some(match (method, path) {
        ("get", "/healthz") => ok(obj(&["status"], json!({"status": {"const": "ok"}}))),
        ("get", "/readyz") => ok(obj(
            &["status", "tables", "loaded_tables"],
            json!({"status": {"const": "ready"}, "tables": int(), "loaded_tables": int()}),
        )),
        ("get", "/metrics") => Shape {
            media: "text/plain",
            ..ok(string())
        },
        ("get", "/openapi.json") => ok(obj(&["openapi", "paths"], json!({}))),
        ("get", "/api/v1/tables") => ok(list_of("tables", table())),
        ("post", "/api/v1/tables") => ok(obj(&["table", "plan"], json!({"table": string()})))
            .body("application/json", definition())
            .status(201),
        ("get", "/api/v1/tables/{name}") => ok(json!({"allOf": [table(), obj(
            &["spec_yaml", "schema_yaml"],
            json!({"spec_yaml": string(), "schema_yaml": string()}),
        )]})),
        ("put", "/api/v1/tables/{name}") => {
            ok(obj(&["plan"], json!({}))).body("application/json", definition())
        }
        ("delete", "/api/v1/tables/{name}") => ok(obj(&["table"], json!({"table": string()}))),
        ("post", "/api/v1/tables/{name}/enable") | ("post", "/api/v1/tables/{name}/disable") => {
            ok(obj(
                &["table", "enabled"],
                json!({"table": string(), "enabled": boolean()}),
            ))
        }
        ("put", "/api/v1/tables/{name}/data") => ok(obj(
            &["accepted", "live", "version", "report"],
            json!({"accepted": boolean(), "live": boolean(), "version": version()}),
        ))
        .body(
            "application/octet-stream",
            json!({"type": "string", "format": "binary",
                   "description": "CSV, JSON lines or a JSON array, optionally gzip-compressed"}),
        ),
        ("get", "/api/v1/tables/{name}/export") => ok(obj(
            &["table", "spec_file", "spec_yaml", "schema", "schema_file", "schema_yaml"],
            json!({"table": string(), "spec_file": string(), "spec_yaml": string(),
                   "schema": string(), "schema_file": string(), "schema_yaml": string()}),
        )),
        ("post", "/api/v1/apply") => ok(obj(
            &["dry_run", "changes", "plan", "diagnostics"],
            json!({"dry_run": boolean(), "changes": int(), "plan": plan(), "diagnostics": diagnostics()}),
        ))
        .q("dry_run", boolean(), false)
        .q("prune", boolean(), false)
        .body(
            "application/json",
            json!({
                "type": "object", "required": ["files"], "additionalProperties": false,
                "properties": {"files": {
                    "type": "object", "additionalProperties": {"type": "string"},
                    "description": "relative path → file text: specs, schemas and small data files",
                }},
            }),
        ),
        ("get", "/api/v1/tables/{name}/versions") => ok(list_of("versions", version())),
        ("get", "/api/v1/tables/{name}/versions/{id}") => ok(version()),
        ("get", "/api/v1/tables/{name}/versions/diff") => ok(obj(
            &["counts", "added", "removed", "changed"],
            json!({
                "counts": obj(&["added", "removed", "changed", "unchanged"], json!({
                    "added": int(), "removed": int(), "changed": int(), "unchanged": int(),
                })),
                "added": {"type": "array"}, "removed": {"type": "array"}, "changed": {"type": "array"},
            }),
        ))
        .q("from", int(), true)
        .q("to", int(), true)
        .q("limit", limit.clone(), false),
        ("post", "/api/v1/tables/{name}/rollback") => ok(obj(&["table"], json!({}))).body(
            "application/json",
            json!({"type": "object", "required": ["version"], "additionalProperties": false,
                   "properties": {"version": int()}}),
        ),
        ("post", "/api/v1/tables/{name}/unpin") => ok(obj(&["table"], json!({}))),
        ("post", "/api/v1/tables/{name}/retention") => ok(obj(
            &["table", "keep", "pruned_versions", "deleted_blobs", "versions"],
            json!({"table": string(), "keep": int(), "pruned_versions": int(),
                   "deleted_blobs": int(), "versions": {"type": "array", "items": version()}}),
        ))
        .body(
            "application/json",
            json!({"type": "object", "required": ["keep"], "additionalProperties": false,
                   "properties": {"keep": {"type": "integer", "minimum": 1},
                                  "grace_seconds": {"type": "integer", "minimum": 0}}}),
        ),
        ("get", "/api/v1/tables/{name}/checks") => {
            ok(list_of("checks", json!({"type": "object"}))).q("limit", limit.clone(), false)
        }
        ("get", "/api/v1/tables/{name}/rows") => ok(obj(
            &["table", "key", "matches"],
            json!({"table": string(), "key": string(),
                   "matches": {"type": "array", "items": {"type": "object"}}}),
        ))
        .q("key", string(), true),
        ("post", "/api/v1/tables/{name}/sync") => ok(check_outcome()),
        ("get", "/api/v1/errors") => ok(list_of(
            "errors",
            obj(&["id", "table"], json!({"id": int()})),
        ))
        .q("table", string(), false)
        .q("status", json!({"enum": ["open", "resolved", "all"]}), false)
        .q("all", boolean(), false),
        ("post", "/api/v1/errors/{id}/ack") => ok(obj(
            &["id", "acknowledged"],
            json!({"id": int(), "acknowledged": boolean()}),
        )),
        ("get", "/api/v1/settings") => ok(obj(
            &["service_principal", "external_id", "role_name_prefix"],
            json!({"service_principal": nullable("string"), "external_id": string(),
                   "role_name_prefix": string(),
                   "service_principal_origin": {"enum": ["configured", "sts", "unavailable"]}}),
        )),
        ("post", "/api/v1/enrich") => Shape {
            media: "application/x-ndjson",
            ..ok(string())
        }
        .q("log_type", string(), false)
        .body(
            "application/x-ndjson",
            json!({"type": "string", "description": "one JSON event per line"}),
        ),
        ("get", "/api/v1/log-types") => ok(list_of(
            "log_types",
            obj(
                &["name", "builtin", "tables"],
                json!({"name": string(), "builtin": boolean(),
                       "tables": {"type": "array", "items": string()}}),
            ),
        )),
        ("get", "/api/v1/schemas") => ok(list_of(
            "schemas",
            obj(
                &["name", "stored", "tables"],
                json!({"name": string(), "stored": boolean(),
                       "tables": {"type": "array", "items": string()}}),
            ),
        )),
        ("get", "/api/v1/schemas/{name}") => ok(obj(
            &["name", "yaml", "stored", "tables"],
            json!({"name": string(), "yaml": string(), "stored": boolean(),
                   "created_at": nullable("integer"), "updated_at": nullable("integer"),
                   "tables": {"type": "array", "items": string()}}),
        )),
        ("put", "/api/v1/schemas/{name}") => ok(obj(
            &["schema", "created", "changed", "tables"],
            json!({"schema": string(), "created": boolean(), "changed": boolean(),
                   "tables": plan()}),
        ))
        .body("application/yaml", string()),
        ("delete", "/api/v1/schemas/{name}") => ok(obj(
            &["schema", "deleted"],
            json!({"schema": string(), "deleted": {"const": true}}),
        )),
        ("post", "/api/v1/schemas/validate") => ok(obj(
            &["valid", "diagnostics"],
            json!({"valid": {"const": true}, "schema": nullable("string"), "diagnostics": diagnostics()}),
        ))
        .q("file", string(), false)
        .body("application/yaml", string()),
        ("get", "/api/v1/destinations") => ok(list_of("destinations", destination())),
        ("post", "/api/v1/destinations") => ok(destination()).status(201).body(
            "application/json",
            json!({
                "type": "object", "required": ["name", "kind"], "additionalProperties": false,
                "properties": {
                    "name": string(),
                    "kind": {"enum": ["webhook", "slack", "pagerduty", "teams", "sns"]},
                    "url": string(), "secret": string(),
                    "headers": {"type": "object", "additionalProperties": string()},
                    "routing_key": string(), "events_url": string(), "topic_arn": string(),
                    "min_severity": {"enum": ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]},
                    "table": string(), "enabled": boolean(),
                },
            }),
        ),
        ("delete", "/api/v1/destinations/{id}") => ok(json!({"type": "object"})),
        ("post", "/api/v1/destinations/{id}/test") => ok(obj(
            &["delivered", "attempts"],
            json!({"delivered": boolean(), "attempts": int(), "error": nullable("string")}),
        )),
        ("get", "/api/v1/tables/{name}/iam") => Shape {
            also: Some(("application/yaml", string())),
            ..ok(json!({"type": "object"}))
        }
            .q(
                "format",
                json!({"enum": ["cloudformation", "cloudformation-json", "policy", "link"]}),
                false,
            )
            .q("trust", json!({"enum": ["principal", "account"]}), false)
            .q("region", string(), false)
            .q("expires_in", json!({"type": "integer", "minimum": 1}), false),
        ("post", "/api/v1/tables/{name}/test-connection") => ok(obj(
            &["ok", "steps"],
            json!({"ok": boolean(), "steps": {"type": "array"}}),
        )),
        ("get", "/api/v1/audit") => ok(obj(
            &["entries", "next"],
            json!({
                "entries": {"type": "array", "items": obj(
                    &["id", "at", "actor", "action", "outcome", "details"],
                    json!({"id": int(), "at": int(), "actor": string(),
                           "actor_description": nullable("string"), "action": string(),
                           "target": nullable("string"), "table": nullable("string"),
                           "outcome": string()}),
                )},
                "next": nullable("integer"),
            }),
        ))
        .q("table", string(), false)
        .q("actor", string(), false)
        .q("action", string(), false)
        .q("since", string(), false)
        .q("before", int(), false)
        .q("limit", limit, false),
        _ => return None,
    })
}
