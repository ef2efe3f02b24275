//! The scope decision as a table: token scope x request x the cluster's namespaces.

use std::collections::HashMap;

use http::{Method, Uri};
use kubenova_api::Scope;

use super::{Decision, decide};
use crate::cluster::View;
use crate::path::classify;

/// Tenants `acme` (acme-web, acme-db) and `other` (other-web); pods and configmaps are
/// namespaced, nodes and clusterroles are not.
struct Fake(HashMap<&'static str, &'static str>);

fn cluster() -> Fake {
    Fake(HashMap::from([
        ("acme-web", "acme"),
        ("acme-db", "acme"),
        ("other-web", "other"),
    ]))
}

impl View for Fake {
    fn tenant_of(&self, namespace: &str) -> Option<String> {
        self.0.get(namespace).map(|t| (*t).to_owned())
    }
    fn namespaces_of(&self, tenant: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .iter()
            .filter(|(_, t)| **t == tenant)
            .map(|(n, _)| (*n).to_owned())
            .collect();
        v.sort();
        v
    }
    fn is_namespaced(&self, _group: &str, _version: &str, resource: &str) -> Option<bool> {
        match resource {
            "pods" | "configmaps" | "deployments" | "secrets" => Some(true),
            "nodes" | "clusterroles" | "persistentvolumes" => Some(false),
            _ => None,
        }
    }
}

fn tenant() -> Scope {
    Scope::Tenant {
        tenant: "acme".into(),
    }
}

fn project() -> Scope {
    Scope::Project {
        tenant: "acme".into(),
        project: "web".into(),
    }
}

/// What a decision looks like in the table.
fn summary(d: &Decision) -> String {
    match d {
        Decision::Forward => "forward".into(),
        Decision::NamespaceList {
            label_selector,
            field_selector,
        } => {
            format!(
                "namespaces[{label_selector}|{}]",
                field_selector.clone().unwrap_or_default()
            )
        }
        Decision::AcrossNamespaces { namespaces } => format!("across[{}]", namespaces.join(",")),
        Decision::Deny(r) => format!("deny:{}", r.reason),
    }
}

#[test]
fn decisions() {
    let table: &[(Scope, &str, &str, &str)] = &[
        // discovery and version for everyone
        (tenant(), "GET", "/api", "forward"),
        (project(), "GET", "/apis/apps/v1", "forward"),
        (project(), "GET", "/version", "forward"),
        (project(), "GET", "/openapi/v3/apis/apps/v1", "forward"),
        (tenant(), "GET", "/metrics", "deny:non_resource"),
        (tenant(), "GET", "/logs/", "deny:non_resource"),
        // namespaced requests: own scope only
        (
            tenant(),
            "GET",
            "/api/v1/namespaces/acme-web/pods",
            "forward",
        ),
        (
            tenant(),
            "POST",
            "/api/v1/namespaces/acme-db/configmaps",
            "forward",
        ),
        (
            tenant(),
            "GET",
            "/api/v1/namespaces/other-web/pods",
            "deny:scope",
        ),
        (
            tenant(),
            "GET",
            "/api/v1/namespaces/unknown/pods",
            "deny:scope",
        ),
        (
            project(),
            "GET",
            "/api/v1/namespaces/acme-web/pods",
            "forward",
        ),
        (
            project(),
            "GET",
            "/api/v1/namespaces/acme-db/pods",
            "deny:scope",
        ),
        (
            project(),
            "POST",
            "/api/v1/namespaces/acme-web/pods/p/exec",
            "forward",
        ),
        (
            project(),
            "GET",
            "/api/v1/namespaces/other-web/pods/p/log",
            "deny:scope",
        ),
        // the namespace objects themselves
        (tenant(), "GET", "/api/v1/namespaces/acme-db", "forward"),
        (tenant(), "DELETE", "/api/v1/namespaces/acme-db", "forward"),
        (
            tenant(),
            "GET",
            "/api/v1/namespaces/other-web",
            "deny:scope",
        ),
        (project(), "GET", "/api/v1/namespaces/acme-db", "deny:scope"),
        (
            tenant(),
            "GET",
            "/api/v1/namespaces",
            "namespaces[capsule.clastix.io/tenant=acme|]",
        ),
        (
            tenant(),
            "GET",
            "/api/v1/namespaces?watch=true",
            "namespaces[capsule.clastix.io/tenant=acme|]",
        ),
        (
            project(),
            "GET",
            "/api/v1/namespaces",
            "namespaces[capsule.clastix.io/tenant=acme|metadata.name=acme-web]",
        ),
        (tenant(), "POST", "/api/v1/namespaces", "forward"),
        (project(), "POST", "/api/v1/namespaces", "deny:scope"),
        (tenant(), "DELETE", "/api/v1/namespaces", "deny:scope"),
        // across namespaces
        (tenant(), "GET", "/api/v1/pods", "across[acme-db,acme-web]"),
        (
            tenant(),
            "GET",
            "/apis/apps/v1/deployments?watch=1",
            "across[acme-db,acme-web]",
        ),
        (project(), "GET", "/api/v1/configmaps", "across[acme-web]"),
        (tenant(), "DELETE", "/api/v1/pods", "deny:scope"),
        // cluster-scoped and unknown resources
        (tenant(), "GET", "/api/v1/nodes", "deny:cluster_scoped"),
        (
            project(),
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin",
            "deny:cluster_scoped",
        ),
        (
            tenant(),
            "GET",
            "/apis/example.com/v1/widgets",
            "deny:unknown_resource",
        ),
        // self reviews describe only the requester
        (
            project(),
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            "forward",
        ),
        (
            project(),
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            "forward",
        ),
        (
            project(),
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            "deny:unknown_resource",
        ),
        // platform tokens are not served
        (
            Scope::Platform,
            "GET",
            "/api/v1/namespaces/acme-web/pods",
            "deny:platform_role",
        ),
    ];
    let view = cluster();
    for (scope, method, uri, expected) in table {
        let target = classify(
            &Method::from_bytes(method.as_bytes()).expect("method"),
            &uri.parse::<Uri>().expect("uri"),
        )
        .unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
        let got = summary(&decide(scope, &target, &view));
        assert_eq!(&got, expected, "{scope:?} {method} {uri}");
    }
}

#[test]
fn a_tenant_with_no_namespaces_gets_a_clear_refusal_for_lists() {
    let scope = Scope::Tenant {
        tenant: "empty".into(),
    };
    let target =
        classify(&Method::GET, &"/api/v1/pods".parse::<Uri>().expect("uri")).expect("classified");
    assert_eq!(
        summary(&decide(&scope, &target, &cluster())),
        "deny:no_namespaces"
    );
}
