//! The OpenAPI document, generated from the route table ([`table::ROUTES`]: paths, methods,
//! roles, summaries) and the request/response types (their JSON Schemas, via schemars), with
//! the example payloads of `docs/examples/`. Committed as `docs/openapi/openapi.yaml`;
//! `make verify` fails when it drifts (`kubenova-control openapi` regenerates it).

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::error::Envelope;
use super::path;
use super::table::{self, Level, ROUTES, Reply, Route, SchemaFn};

/// The example payloads (file name, content), also used by tests so they cannot rot.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "grafana-app.json",
        include_str!("../../../docs/examples/grafana-app.json"),
    ),
    (
        "wordpress-app.json",
        include_str!("../../../docs/examples/wordpress-app.json"),
    ),
    (
        "app-traits.json",
        include_str!("../../../docs/examples/app-traits.json"),
    ),
    (
        "app-policies.json",
        include_str!("../../../docs/examples/app-policies.json"),
    ),
    (
        "cluster.json",
        include_str!("../../../docs/examples/cluster.json"),
    ),
    (
        "login-oidc.json",
        include_str!("../../../docs/examples/login-oidc.json"),
    ),
    (
        "tenant.json",
        include_str!("../../../docs/examples/tenant.json"),
    ),
    (
        "network-policies.json",
        include_str!("../../../docs/examples/network-policies.json"),
    ),
    (
        "owners.json",
        include_str!("../../../docs/examples/owners.json"),
    ),
    (
        "quota.json",
        include_str!("../../../docs/examples/quota.json"),
    ),
    (
        "limits.json",
        include_str!("../../../docs/examples/limits.json"),
    ),
    (
        "project.json",
        include_str!("../../../docs/examples/project.json"),
    ),
    (
        "access.json",
        include_str!("../../../docs/examples/access.json"),
    ),
    (
        "kubeconfig-project.json",
        include_str!("../../../docs/examples/kubeconfig-project.json"),
    ),
    (
        "token.json",
        include_str!("../../../docs/examples/token.json"),
    ),
];

fn example(name: &str) -> Option<Value> {
    EXAMPLES
        .iter()
        .find(|(file, _)| *file == name)
        .and_then(|(_, text)| serde_json::from_str(text).ok())
}

fn roles_text(route: &Route) -> String {
    if route.level == Level::Public {
        return "Public: no token.".into();
    }
    let roles: Vec<&str> = route.roles.iter().map(|r| r.as_str()).collect();
    let scope = match route.level {
        Level::Public => "",
        Level::Platform => "platform-wide",
        Level::Tenant => "tenant `{t}`",
        Level::Project => "project `{t}`/`{p}` (or its tenant)",
        Level::Own => "objects in the caller's own scope",
    };
    format!("Roles: {}. Scope: {scope}.", roles.join(", "))
}

/// Applies the generator's OpenAPI 3.0 transforms (nullable instead of `type: [.., null]`, ...)
/// to a schema it returned inline; `take_definitions(true)` does the same for the components.
fn finish(g: &mut SchemaGenerator, value: Value) -> Value {
    let Ok(mut schema) = schemars::Schema::try_from(value.clone()) else {
        return value;
    };
    for transform in g.transforms_mut() {
        transform.transform(&mut schema);
    }
    schema.to_value()
}

/// The query parameters of a query type: one per property of its (inline) schema.
fn query_params(g: &mut SchemaGenerator, schema: SchemaFn) -> Vec<Value> {
    let mut settings = g.settings().clone();
    settings.inline_subschemas = true;
    let mut inline = settings.into_generator();
    let schema = schema(&mut inline);
    let schema = finish(&mut inline, schema);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, prop)| {
                    let mut prop = prop.clone();
                    let description = prop
                        .as_object_mut()
                        .and_then(|o| o.remove("description"))
                        .unwrap_or(Value::Null);
                    json!({"name": name, "in": "query", "required": required.contains(&name.as_str()),
                           "description": description, "schema": prop})
                })
                .collect()
        })
        .unwrap_or_default()
}

fn operation(route: &Route, g: &mut SchemaGenerator, envelope: &Value) -> Value {
    let mut op = Map::new();
    op.insert("operationId".into(), json!(route.operation_id));
    op.insert("summary".into(), json!(route.summary));
    op.insert("description".into(), json!(roles_text(route)));
    op.insert(
        "tags".into(),
        json!([route.action.split('.').next().unwrap_or("meta")]),
    );
    if route.level != Level::Public {
        op.insert("security".into(), json!([{ "bearer": [] }]));
    }
    let mut params: Vec<Value> = table::params(route.path)
        .map(|name| {
            let description = if route.action == "apps.action" && name == "a" {
                "`<app>:<action>`: the app name, a colon, and deploy, suspend, resume, rollback, image-update or delete"
            } else {
                path::describe(name)
            };
            json!({"name": name, "in": "path", "required": true,
                   "description": description, "schema": {"type": "string"}})
        })
        .collect();
    if let Some(query) = route.query {
        params.extend(query_params(g, query));
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    if let Some(payload) = route.request {
        let schema = (payload.schema)(g);
        let mut media = json!({ "schema": finish(g, schema) });
        if let Some(value) = payload.example.and_then(example) {
            media["example"] = value;
        }
        op.insert(
            "requestBody".into(),
            json!({ "required": payload.required, "content": { "application/json": media } }),
        );
    }
    let mut responses = Map::new();
    let ok = match route.reply {
        Reply::Json(schema) => {
            let schema = schema(g);
            json!({"description": "success", "content": {"application/json": {"schema": finish(g, schema)}}})
        }
        Reply::Text(content_type, what) => json!({"description": what,
            "content": {content_type: {"schema": {"type": "string"}}}}),
        Reply::Empty => json!({"description": "success, no content"}),
    };
    responses.insert(route.status.to_string(), ok);
    let mut errors = vec![("default", "an error, as the KN envelope")];
    if route.level != Level::Public {
        errors.push(("401", "no valid API token"));
        errors.push(("403", "the token's roles or scope do not allow this"));
    }
    for (code, description) in errors {
        let mut media = json!({ "schema": envelope.clone() });
        if code == "403" {
            media["example"] = json!({"code": "KN-403", "message": "tenant other is outside this token's scope (tenant:acme)",
                "details": {"action": route.action, "scope": "tenant:acme"}, "requestId": "5f0c6c1e-8d1c-4f7e-9a51-1f3a2b7c9d10"});
        }
        responses.insert(
            code.into(),
            json!({"description": description, "content": {"application/json": media}}),
        );
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

/// The OpenAPI 3.0 document.
pub fn document() -> Value {
    let mut g = SchemaSettings::openapi3().into_generator();
    let envelope = g.subschema_for::<Envelope>().to_value();
    let mut paths = Map::new();
    for route in ROUTES {
        let op = operation(route, &mut g, &envelope);
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.as_str().to_lowercase()] = op;
    }
    let schemas = g.take_definitions(true);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "KubeNova API",
            "version": super::VERSION,
            "description": "Self-service tenants and projects on shared Kubernetes clusters. Every error is {\"code\":\"KN-4xx\",\"message\":...,\"details\":...,\"requestId\":...}. Authorization per route is listed in each operation's description.",
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT (aud kubenova-api)" } },
        },
    })
}

/// The document as YAML, as committed in `docs/openapi/openapi.yaml`.
pub fn yaml() -> Result<String, serde_yaml::Error> {
    Ok(format!(
        "# Generated by `kubenova-control openapi` from the route table and types; do not edit.\n{}",
        serde_yaml::to_string(&document())?
    ))
}

/// Checks an example file parses as the request body of the routes it documents (used by
/// tests); an example no route documents is an error.
pub fn check_example(name: &str, text: &str) -> Result<(), super::error::ApiError> {
    let mut checked = false;
    for payload in ROUTES.iter().filter_map(|r| r.request) {
        if payload.example == Some(name) {
            (payload.check)(text.as_bytes())?;
            checked = true;
        }
    }
    if checked {
        Ok(())
    } else {
        Err(super::error::ApiError::invalid(
            name,
            "no route documents this example",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_parses_as_its_request_type() {
        for (name, text) in EXAMPLES {
            check_example(name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn every_example_file_is_listed_and_in_the_document() {
        let listed: Vec<&str> = EXAMPLES.iter().map(|(name, _)| *name).collect();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples");
        for entry in std::fs::read_dir(&dir).expect("docs/examples") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            assert!(
                listed.contains(&name.as_str()),
                "docs/examples/{name} is not in EXAMPLES"
            );
        }
        let doc = document();
        let mut found = Vec::new();
        for path in doc["paths"].as_object().expect("paths").values() {
            for op in path.as_object().expect("operation").values() {
                if let Some(ex) = op.pointer("/requestBody/content/application~1json/example") {
                    found.push(ex.clone());
                }
            }
        }
        for (name, text) in EXAMPLES {
            let value: Value = serde_json::from_str(text).expect("example JSON");
            assert!(
                found.contains(&value),
                "{name} is not in the OpenAPI document"
            );
        }
    }

    #[test]
    fn every_route_is_documented_once_with_its_method() {
        let doc = document();
        let mut ids = std::collections::BTreeSet::new();
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.as_str().to_lowercase()];
            assert!(op.is_object(), "{} {}", route.method, route.path);
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        }
        let refs = serde_json::to_string(&doc).expect("json");
        for r in refs.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = r.split('"').next().unwrap_or_default();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling $ref {name}"
            );
        }
    }

    #[test]
    fn actions_without_a_body_declare_none() {
        let doc = document();
        let app = "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}";
        for verb in ["deploy", "suspend", "resume"] {
            let op = &doc["paths"][format!("{app}/{verb}")]["post"];
            assert!(op.is_object(), "{verb}");
            assert!(op.get("requestBody").is_none(), "{verb}: {op}");
        }
        let rollback = &doc["paths"][format!("{app}/rollback")]["post"];
        assert_eq!(rollback["requestBody"]["required"], false);
        let image = &doc["paths"][format!("{app}/image-update")]["post"];
        assert_eq!(image["requestBody"]["required"], true);
        assert_eq!(doc["paths"][app]["post"]["requestBody"]["required"], false);
    }
}
