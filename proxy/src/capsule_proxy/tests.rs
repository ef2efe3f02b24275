//! Which decisions capsule-proxy mode hands to capsule-proxy, as a table over token roles and
//! requests; and the identity headers it refuses.

use std::collections::HashMap;

use http::{HeaderMap, HeaderValue, Method, Uri};
use kubenova_api::{Claims, Role};

use super::CapsuleProxyMode;
use crate::auth::Principal;
use crate::cluster::View;
use crate::forward::Impersonation;
use crate::path::classify;
use crate::scope::{Decision, decide};

/// Tenant `acme` with acme-web and acme-db, tenant `other` with other-web.
struct Fake(HashMap<&'static str, &'static str>);

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
            "pods" | "configmaps" | "secrets" => Some(true),
            "nodes" | "clusterroles" | "persistentvolumes" | "storageclasses" | "tenants" => {
                Some(false)
            }
            _ => None,
        }
    }
}

fn principal(roles: &[Role], tenant: &str, project: Option<&str>) -> Principal {
    let claims = Claims {
        iss: "https://control".into(),
        sub: "alice".into(),
        aud: kubenova_api::claims::PROXY_AUDIENCE.into(),
        exp: i64::MAX,
        nbf: 0,
        iat: 0,
        jti: "j".into(),
        roles: roles.to_vec(),
        tenant: Some(tenant.into()),
        project: project.map(str::to_owned),
        cluster: None,
    };
    let scope = claims.scope().expect("scope");
    let identity = kubenova_api::identity(&claims).expect("identity");
    let impersonation = Impersonation::new(&identity);
    Principal {
        claims,
        identity,
        scope,
        impersonation,
    }
}

fn summary(d: &Decision) -> String {
    match d {
        Decision::Forward => "forward".into(),
        Decision::NamespaceList { .. } => "proxy-filters-namespaces".into(),
        Decision::AcrossNamespaces { namespaces } => format!("fanout[{}]", namespaces.join(",")),
        Decision::Deny(r) => format!("deny:{}", r.reason),
    }
}

#[test]
fn tenant_owners_lists_go_to_capsule_proxy_and_the_rest_is_decided_as_in_direct_mode() {
    let view = Fake(HashMap::from([
        ("acme-web", "acme"),
        ("acme-db", "acme"),
        ("other-web", "other"),
    ]));
    let mode = CapsuleProxyMode::new("X-Forwarded-Client-Cert").expect("mode");
    let owner = principal(&[Role::TenantOwner], "acme", None);
    let viewer = principal(&[Role::ReadOnly], "acme", None);
    let dev = principal(&[Role::ProjectDev], "acme", Some("web"));
    let empty_owner = principal(&[Role::TenantOwner], "empty", None);
    let table: &[(&Principal, &str, &str, &str)] = &[
        // Tenant owners: capsule-proxy filters namespace lists and the cluster kinds it knows.
        (&owner, "GET", "/api/v1/namespaces", "forward"),
        (&owner, "GET", "/api/v1/namespaces?watch=1", "forward"),
        (&owner, "GET", "/api/v1/nodes", "forward"),
        (&owner, "GET", "/api/v1/nodes/kwok-node-0", "forward"),
        (&owner, "GET", "/api/v1/persistentvolumes", "forward"),
        (
            &owner,
            "GET",
            "/apis/storage.k8s.io/v1/storageclasses",
            "forward",
        ),
        (
            &owner,
            "GET",
            "/apis/capsule.clastix.io/v1beta2/tenants",
            "forward",
        ),
        // -A stays the proxy's own fan-out (capsule-proxy knows only what it discovered at start).
        (&owner, "GET", "/api/v1/pods", "fanout[acme-db,acme-web]"),
        (
            &owner,
            "GET",
            "/api/v1/secrets?watch=true",
            "fanout[acme-db,acme-web]",
        ),
        (&empty_owner, "GET", "/api/v1/pods", "deny:no_namespaces"),
        (&empty_owner, "GET", "/api/v1/namespaces", "forward"),
        // ... but never writes, subresources or other cluster-scoped kinds.
        (
            &owner,
            "DELETE",
            "/api/v1/nodes/kwok-node-0",
            "deny:cluster_scoped",
        ),
        (
            &owner,
            "POST",
            "/apis/storage.k8s.io/v1/storageclasses",
            "deny:cluster_scoped",
        ),
        (
            &owner,
            "GET",
            "/api/v1/nodes/kwok-node-0/proxy/metrics",
            "deny:cluster_scoped",
        ),
        (
            &owner,
            "GET",
            "/api/v1/nodes/kwok-node-0/status",
            "deny:cluster_scoped",
        ),
        (
            &owner,
            "PATCH",
            "/apis/capsule.clastix.io/v1beta2/tenants/acme",
            "deny:cluster_scoped",
        ),
        (
            &owner,
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            "deny:cluster_scoped",
        ),
        (&owner, "DELETE", "/api/v1/pods", "deny:scope"),
        // The scope check is unchanged for named namespaces.
        (
            &owner,
            "GET",
            "/api/v1/namespaces/other-web/pods",
            "deny:scope",
        ),
        (&owner, "GET", "/api/v1/namespaces/other-web", "deny:scope"),
        (&owner, "GET", "/api/v1/namespaces/acme-web/pods", "forward"),
        // Identities capsule-proxy passes through unfiltered: the proxy filters, as in direct mode.
        (
            &viewer,
            "GET",
            "/api/v1/namespaces",
            "proxy-filters-namespaces",
        ),
        (&viewer, "GET", "/api/v1/pods", "fanout[acme-db,acme-web]"),
        (&viewer, "GET", "/api/v1/nodes", "deny:cluster_scoped"),
        (
            &dev,
            "GET",
            "/api/v1/namespaces",
            "proxy-filters-namespaces",
        ),
        (&dev, "GET", "/api/v1/pods", "fanout[acme-web]"),
        (
            &dev,
            "GET",
            "/apis/capsule.clastix.io/v1beta2/tenants",
            "deny:cluster_scoped",
        ),
        (&dev, "GET", "/api/v1/namespaces/acme-db/pods", "deny:scope"),
    ];
    let mut wrong = Vec::new();
    for (who, method, uri, want) in table {
        let target = classify(
            &Method::from_bytes(method.as_bytes()).expect("method"),
            &uri.parse::<Uri>().expect("uri"),
        )
        .expect("classified");
        let direct = decide(&who.scope, &target, &view);
        let got = summary(&mode.hand_over(direct, who, &target));
        if got != *want {
            wrong.push(format!(
                "{:?} {method} {uri}: got {got}, want {want}",
                who.claims.roles
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn forwarded_client_certificates_are_refused_under_the_configured_name() {
    let mode = CapsuleProxyMode::new("X-Client-Cert-Chain").expect("mode");
    for name in ["x-client-cert-chain", "X-CLIENT-CERT-CHAIN"] {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_static("Hash=abc;Cert=\"x\""),
        );
        let reject = mode.refuse_identity_headers(&headers).expect_err("refused");
        assert_eq!(reject.reason, "identity_header", "{name}");
        assert_eq!(reject.status, http::StatusCode::FORBIDDEN, "{name}");
    }
    let mut ordinary = HeaderMap::new();
    ordinary.insert("accept", HeaderValue::from_static("application/json"));
    assert!(mode.refuse_identity_headers(&ordinary).is_ok());
}
