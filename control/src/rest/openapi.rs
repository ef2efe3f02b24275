//! The OpenAPI document, generated from the route table ([`table::ROUTES`]: paths, methods,
//! roles, summaries) and the request/response types (their JSON Schemas, via schemars), with
//! the example payloads of `docs/examples/`. Committed as `docs/openapi/openapi.yaml`;
//! `make verify` fails when it drifts (`kubenova-control openapi` regenerates it).

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::apps::{AppActionInput, AppView, RevisionView};
use super::dto::*;
use super::error::Envelope;
use super::table::{self, Level, ROUTES};
use crate::apps::request::AppRequest;

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
        "cluster.json",
        include_str!("../../../docs/examples/cluster.json"),
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

type Request = Option<(Value, Option<&'static str>)>;

struct Io {
    request: Request,
    status: u16,
    response: Option<Value>,
}

fn io(action: &str, g: &mut SchemaGenerator) -> Io {
    let s = |schema: schemars::Schema| schema.to_value();
    macro_rules! sch {
        ($t:ty) => {
            s(g.subschema_for::<$t>())
        };
    }
    let (request, status, response): (Request, u16, Option<Value>) = match action {
        "clusters.create" => (
            Some((sch!(ClusterInput), Some("cluster.json"))),
            201,
            Some(sch!(ClusterView)),
        ),
        "clusters.list" => (None, 200, Some(sch!(List<ClusterView>))),
        "clusters.get" => (None, 200, Some(sch!(ClusterView))),
        "clusters.kubeconfig" => (None, 200, Some(sch!(ClusterKubeconfig))),
        "tenants.create" => (
            Some((sch!(TenantInput), Some("tenant.json"))),
            201,
            Some(sch!(TenantView)),
        ),
        "tenants.list" => (None, 200, Some(sch!(List<TenantView>))),
        "tenants.get" => (None, 200, Some(sch!(TenantView))),
        "tenants.update" => (
            Some((sch!(TenantSettings), None)),
            200,
            Some(sch!(TenantView)),
        ),
        "tenants.owners" => (
            Some((sch!(OwnersInput), Some("owners.json"))),
            200,
            Some(sch!(TenantView)),
        ),
        "tenants.quotas" => (
            Some((sch!(kubenova_api::crd::Quota), Some("quota.json"))),
            200,
            Some(sch!(TenantView)),
        ),
        "tenants.limits" => (
            Some((sch!(kubenova_api::crd::Limits), Some("limits.json"))),
            200,
            Some(sch!(TenantView)),
        ),
        "tenants.network-policies" => (
            Some((
                sch!(kubenova_api::crd::NetworkPolicySettings),
                Some("network-policies.json"),
            )),
            200,
            Some(sch!(TenantView)),
        ),
        "tenants.usage" => (None, 200, Some(sch!(TenantUsage))),
        "projects.create" => (
            Some((sch!(ProjectInput), Some("project.json"))),
            201,
            Some(sch!(ProjectView)),
        ),
        "projects.list" => (None, 200, Some(sch!(List<ProjectView>))),
        "projects.get" => (None, 200, Some(sch!(ProjectView))),
        "projects.update" => (
            Some((sch!(ProjectSettings), None)),
            200,
            Some(sch!(ProjectView)),
        ),
        "projects.access" => (
            Some((sch!(AccessInput), Some("access.json"))),
            200,
            Some(sch!(ProjectView)),
        ),
        "projects.usage" => (None, 200, Some(sch!(ProjectUsage))),
        "kubeconfigs.tenant" => (
            Some((sch!(KubeconfigRequest), None)),
            201,
            Some(sch!(KubeconfigView)),
        ),
        "kubeconfigs.project" => (
            Some((sch!(KubeconfigRequest), Some("kubeconfig-project.json"))),
            201,
            Some(sch!(KubeconfigView)),
        ),
        "tokens.list" => (None, 200, Some(sch!(TokenList))),
        "tokens.create" => (
            Some((sch!(TokenInput), Some("token.json"))),
            201,
            Some(sch!(TokenView)),
        ),
        "tokens.revoke" => (None, 200, Some(sch!(TokenRecordView))),
        "tokens.me" => (None, 200, Some(sch!(Me))),
        "meta.version" => (None, 200, Some(sch!(VersionView))),
        "meta.jwks" => (
            None,
            200,
            Some(json!({"type": "object", "description": "JWKS (RFC 7517): {\"keys\": [...]}"})),
        ),
        "apps.create" => (
            Some((sch!(AppRequest), Some("grafana-app.json"))),
            201,
            Some(sch!(AppView)),
        ),
        "apps.list" => (None, 200, Some(sch!(List<AppView>))),
        "apps.get" => (None, 200, Some(sch!(AppView))),
        "apps.update" => (
            Some((sch!(AppRequest), Some("wordpress-app.json"))),
            200,
            Some(sch!(AppView)),
        ),
        "apps.traits" | "apps.policies" => (
            Some((sch!(Vec<kubenova_api::crd::VelaItem>), None)),
            200,
            Some(sch!(AppView)),
        ),
        "apps.action" => (Some((sch!(AppActionInput), None)), 200, Some(sch!(AppView))),
        "apps.revisions" => (None, 200, Some(sch!(List<RevisionView>))),
        "apps.status" => (
            None,
            200,
            Some(
                json!({"type": "object", "description": "phase, kind, revision, lastDeployed, lastEdit, lastError, suspended, components, conditions, pods"}),
            ),
        ),
        "apps.logs" => (
            None,
            200,
            Some(
                json!({"type": "string", "description": "text/plain: `[pod] line` per line; streams with follow=true"}),
            ),
        ),
        "clusters.delete" | "tenants.delete" | "projects.delete" | "apps.delete" => {
            (None, 204, None)
        }
        _ => (None, 200, None),
    };
    Io {
        request,
        status,
        response,
    }
}

fn roles_text(route: &table::Route) -> String {
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

/// The OpenAPI 3.0 document.
pub fn document() -> Value {
    let mut g = SchemaSettings::openapi3().into_generator();
    let envelope = g.subschema_for::<Envelope>().to_value();
    let mut paths = Map::new();
    for route in ROUTES {
        let io = io(route.action, &mut g);
        let mut op = Map::new();
        op.insert(
            "operationId".into(),
            json!(format!(
                "{}.{}",
                route.action,
                route.method.as_str().to_lowercase()
            )),
        );
        op.insert("summary".into(), json!(route.summary));
        op.insert("description".into(), json!(roles_text(route)));
        op.insert(
            "tags".into(),
            json!([route.action.split('.').next().unwrap_or("meta")]),
        );
        if route.level != Level::Public {
            op.insert("security".into(), json!([{ "bearer": [] }]));
        }
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true,
                       "description": param_doc(name), "schema": {"type": "string"}})
            })
            .collect();
        let mut params = params;
        if route.action.starts_with("kubeconfigs.") {
            for (name, doc) in [
                (
                    "role",
                    "tenantOwner|readOnly (tenant) or projectDev|readOnly (project)",
                ),
                (
                    "ttlSeconds",
                    "lifetime in seconds, at most the configured maximum",
                ),
                ("subject", "who the kubeconfig is for (default: the caller)"),
                (
                    "format",
                    "json (default) or yaml (the kubeconfig file itself)",
                ),
            ] {
                params.push(json!({"name": name, "in": "query", "required": false, "description": doc, "schema": {"type": "string"}}));
            }
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some((schema, ex)) = io.request {
            let mut media = json!({ "schema": schema });
            if let Some(value) = ex.and_then(example) {
                media["example"] = value;
            }
            op.insert(
                "requestBody".into(),
                json!({ "required": route.method != axum::http::Method::POST || !route.action.starts_with("kubeconfigs."),
                        "content": { "application/json": media } }),
            );
        }
        let mut responses = Map::new();
        let ok = match io.response {
            Some(schema) => {
                json!({"description": "success", "content": {"application/json": {"schema": schema}}})
            }
            None => json!({"description": "success"}),
        };
        responses.insert(io.status.to_string(), ok);
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
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.as_str().to_lowercase()] = Value::Object(op);
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

fn param_doc(name: &str) -> &'static str {
    match name {
        "c" => "cluster name",
        "t" => "tenant name",
        "p" => "project name",
        "a" => "app name (or `<app>:<action>` for actions)",
        "jti" => "token id",
        _ => "",
    }
}

/// The document as YAML, as committed in `docs/openapi/openapi.yaml`.
pub fn yaml() -> anyhow::Result<String> {
    Ok(format!(
        "# Generated by `kubenova-control openapi` from the route table and types; do not edit.\n{}",
        serde_yaml::to_string(&document())?
    ))
}

/// Checks an example file parses as the request type it documents (used by tests).
pub fn check_example(name: &str, text: &str) -> Result<(), super::error::ApiError> {
    use super::body::parse;
    let bytes = text.as_bytes();
    match name {
        "cluster.json" => parse::<ClusterInput>(bytes).map(drop),
        "tenant.json" => parse::<TenantInput>(bytes).map(drop),
        "owners.json" => parse::<OwnersInput>(bytes).map(drop),
        "quota.json" => parse::<kubenova_api::crd::Quota>(bytes).map(drop),
        "limits.json" => parse::<kubenova_api::crd::Limits>(bytes).map(drop),
        "network-policies.json" => {
            parse::<kubenova_api::crd::NetworkPolicySettings>(bytes).map(drop)
        }
        "project.json" => parse::<ProjectInput>(bytes).map(drop),
        "access.json" => parse::<AccessInput>(bytes).map(drop),
        "kubeconfig-project.json" => parse::<KubeconfigRequest>(bytes).map(drop),
        "token.json" => parse::<TokenInput>(bytes).map(drop),
        "grafana-app.json" | "wordpress-app.json" => parse::<AppRequest>(bytes).map(drop),
        other => Err(super::error::ApiError::invalid(
            other,
            "no request type documents this example",
        )),
    }
}

#[allow(dead_code)]
fn assert_schema<T: JsonSchema>() {}

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
    fn every_route_is_documented_once_with_its_method() {
        let doc = document();
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.as_str().to_lowercase()];
            assert!(op.is_object(), "{} {}", route.method, route.path);
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
}
