//! `GET /openapi.json`: an OpenAPI 3.1 document of every route (hand-maintained; a unit
//! test checks that every route registered in this module's siblings is described).

use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use super::openapi_shapes as shapes;
use super::AppState;

/// (method, path, permission, summary). Permission `none` means no token is needed.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("get", "/healthz", "none", "Liveness"),
    (
        "get",
        "/readyz",
        "none",
        "Readiness (catalog reachable, live versions loaded)",
    ),
    ("get", "/metrics", "none", "Prometheus metrics"),
    ("get", "/openapi.json", "none", "This document"),
    ("get", "/api/v1/tables", "read", "List tables"),
    ("post", "/api/v1/tables", "manage", "Create a table"),
    (
        "get",
        "/api/v1/tables/{name}",
        "read",
        "One table with its spec and schema",
    ),
    ("put", "/api/v1/tables/{name}", "manage", "Update a table"),
    (
        "delete",
        "/api/v1/tables/{name}",
        "manage",
        "Delete a table",
    ),
    (
        "post",
        "/api/v1/tables/{name}/enable",
        "manage",
        "Enable a table",
    ),
    (
        "post",
        "/api/v1/tables/{name}/disable",
        "manage",
        "Disable a table",
    ),
    (
        "put",
        "/api/v1/tables/{name}/data",
        "manage",
        "Upload a data file as a new version",
    ),
    (
        "get",
        "/api/v1/tables/{name}/export",
        "read",
        "Export a table's definition",
    ),
    (
        "post",
        "/api/v1/apply",
        "manage",
        "Apply a bundle of specs and schemas",
    ),
    (
        "get",
        "/api/v1/tables/{name}/versions",
        "read",
        "Stored versions",
    ),
    (
        "get",
        "/api/v1/tables/{name}/versions/{id}",
        "read",
        "One version",
    ),
    (
        "get",
        "/api/v1/tables/{name}/versions/diff",
        "read",
        "Rows added, removed and changed between two versions (from, to, limit)",
    ),
    (
        "post",
        "/api/v1/tables/{name}/rollback",
        "manage",
        "Make a version live and pin the table ({\"version\": ID})",
    ),
    (
        "post",
        "/api/v1/tables/{name}/unpin",
        "manage",
        "Unpin and make the newest version live",
    ),
    (
        "post",
        "/api/v1/tables/{name}/retention",
        "manage",
        "Prune to N versions and delete unreferenced blobs ({\"keep\": N, \"grace_seconds\"?})",
    ),
    (
        "get",
        "/api/v1/tables/{name}/checks",
        "read",
        "Check history",
    ),
    (
        "get",
        "/api/v1/tables/{name}/rows",
        "read",
        "Look rows up by key",
    ),
    (
        "post",
        "/api/v1/tables/{name}/sync",
        "manage",
        "Check the source now",
    ),
    ("get", "/api/v1/errors", "read", "System errors"),
    (
        "post",
        "/api/v1/errors/{id}/ack",
        "manage",
        "Acknowledge an error",
    ),
    ("get", "/api/v1/settings", "read", "Effective settings"),
    (
        "get",
        "/api/v1/audit",
        "manage",
        "Audit log, newest first (table, actor, action, since, before, limit); `next` pages",
    ),
    ("post", "/api/v1/enrich", "read", "Enrich NDJSON events"),
    (
        "get",
        "/api/v1/log-types",
        "read",
        "Built-in and referenced log types",
    ),
    (
        "get",
        "/api/v1/schemas",
        "read",
        "Stored schemas and those kept with tables",
    ),
    ("get", "/api/v1/schemas/{name}", "read", "One schema's YAML"),
    (
        "put",
        "/api/v1/schemas/{name}",
        "manage",
        "Store a schema (YAML body) and re-apply the tables using it (422 per-table diagnostics)",
    ),
    (
        "delete",
        "/api/v1/schemas/{name}",
        "manage",
        "Delete a stored schema (409 while a table uses it)",
    ),
    (
        "post",
        "/api/v1/schemas/validate",
        "read",
        "Validate schema YAML (200 valid, 422 diagnostics)",
    ),
    (
        "get",
        "/api/v1/destinations",
        "read",
        "Alert destinations (secrets masked)",
    ),
    (
        "post",
        "/api/v1/destinations",
        "manage",
        "Add a destination",
    ),
    (
        "delete",
        "/api/v1/destinations/{id}",
        "manage",
        "Remove a destination (by id or name)",
    ),
    (
        "post",
        "/api/v1/destinations/{id}/test",
        "manage",
        "Send a test alert",
    ),
    (
        "get",
        "/api/v1/tables/{name}/iam",
        "read",
        "An S3 table's IAM role: ?format=cloudformation|cloudformation-json|policy|link (&trust=principal|account, &region, &expires_in)",
    ),
    (
        "post",
        "/api/v1/tables/{name}/test-connection",
        "manage",
        "Connection test: assume-role, locate-bucket, get-object, read-rows (200 with ok=false when a step fails)",
    ),
];

/// The document never changes while the process runs: built and serialised once.
static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| document().to_string());

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/openapi.json",
        get(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                DOCUMENT.as_str(),
            )
        }),
    )
}

fn error_response(desc: &str) -> Value {
    json!({
        "description": desc,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

/// A path parameter's schema: version and error ids are integers; a destination is named
/// by id or name; the example is the bundled example table, so generated requests reach
/// the handlers' logic instead of stopping at 404.
fn path_param(path: &str, name: &str) -> Value {
    let schema = match name {
        "id" if path.contains("/versions/") || path.starts_with("/api/v1/errors") => {
            json!({"type": "integer", "minimum": 1})
        }
        "name" => json!({"type": "string", "minLength": 1, "maxLength": 128,
                         "examples": ["aws_accounts"]}),
        _ => json!({"type": "string", "minLength": 1}),
    };
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, perm, summary) in ROUTES {
        let shape = shapes::shape(method, path)
            .unwrap_or_else(|| panic!("{method} {path} has no shape in openapi_shapes.rs"));
        let mut params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|p| path_param(path, p))
            .collect();
        for shapes::Query(name, schema, required) in &shape.query {
            params
                .push(json!({"name": name, "in": "query", "required": required, "schema": schema}));
        }
        let mut content = Map::new();
        content.insert(shape.media.into(), json!({ "schema": shape.schema }));
        if let Some((media, schema)) = &shape.also {
            content.insert((*media).into(), json!({ "schema": schema }));
        }
        let mut responses = Map::new();
        responses.insert(
            shape.status.to_string(),
            json!({"description": "OK", "content": content}),
        );
        responses.insert("default".into(), error_response("Error"));
        let mut op = json!({
            "summary": summary,
            "operationId": format!("{method}_{}", path.trim_matches('/').replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": params,
        });
        if let Some((media, schema)) = &shape.body {
            let mut content = json!({ *media: { "schema": schema } });
            // NDJSON is text: saying so lets generic clients (and schemathesis) send it.
            if *media == "application/x-ndjson" {
                content["text/plain"] = json!({ "schema": schema });
            }
            op["requestBody"] = json!({"required": true, "content": content});
        }
        if *perm == "none" {
            op["security"] = json!([]);
        } else {
            responses.insert("401".into(), error_response("Missing or invalid token"));
            responses.insert(
                "403".into(),
                error_response(&format!("Token lacks `{perm}` permission")),
            );
            op["x-permission"] = json!(perm);
        }
        op["responses"] = Value::Object(responses);
        paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(method.to_string(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "lut", "version": env!("CARGO_PKG_VERSION") },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": {
                        "type": "object",
                        "required": ["code", "message", "details"],
                        "properties": {
                            "code": { "type": "string" },
                            "message": { "type": "string" },
                            "details": {}
                        }
                    }}
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    /// Every `.route("PATH", method(...))` in the API sources is described.
    #[test]
    fn every_route_is_documented() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
        let doc = super::document();
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let mut rest = text.as_str();
            while let Some(i) = rest.find(".route(") {
                rest = &rest[i + 7..];
                let Some(q) = rest.find('"') else { break };
                let after = &rest[q + 1..];
                let end = after.find('"').unwrap();
                let path = &after[..end];
                let call = &after[end + 1..];
                let call = &call[..call.find(")\n").unwrap_or(call.len()).min(200)];
                for m in ["get", "post", "put", "delete", "patch"] {
                    if call.contains(&format!("{m}(")) {
                        assert!(
                            doc["paths"][path][m].is_object(),
                            "{m} {path} is not in openapi.json"
                        );
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen >= 30, "only {seen} routes found");
        let _: serde_json::Value = serde_json::from_str(&doc.to_string()).unwrap();
    }
}
