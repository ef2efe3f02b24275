//! May this token make this request, and how must it be forwarded? A pure function over the
//! token's scope, the classified request and the cluster view, tested by tables.
//!
//! RBAC and Capsule have the last word; this check is defence in depth that also keeps
//! out-of-scope requests away from the apiserver.

use kubenova_api::Scope;

#[cfg(test)]
mod tests;

use crate::body::Reject;
use crate::cluster::{TENANT_LABEL, View};
use crate::path::{ResourceRequest, Target, Verb};

/// How to handle a request that is in scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward unchanged, as the token's identity.
    Forward,
    /// A namespace list or watch: forward as the proxy itself, with selectors that keep only
    /// the token's namespaces (server-side, so every output format works).
    NamespaceList {
        /// ANDed to the client's `labelSelector`.
        label_selector: String,
        /// ANDed to the client's `fieldSelector`.
        field_selector: Option<String>,
    },
    /// A list or watch across namespaces of a namespaced resource: run it in each of these
    /// namespaces as the token's identity and merge the answers.
    AcrossNamespaces {
        /// The token's namespaces (at least one).
        namespaces: Vec<String>,
    },
    /// Refuse with this rejection; nothing reaches the apiserver.
    Deny(Reject),
}

/// Paths without a resource that every token may read: discovery, version, OpenAPI.
fn non_resource_allowed(path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    path == "/version"
        || path == "/api"
        || path == "/apis"
        || path.starts_with("/api/")
        || path.starts_with("/apis/")
        || path == "/openapi/v2"
        || path == "/openapi/v3"
        || path.starts_with("/openapi/v3/")
}

/// Cluster-scoped creations that only ever describe the requester (`kubectl auth can-i`,
/// `kubectl auth whoami`).
fn self_review(r: &ResourceRequest) -> bool {
    r.verb == Verb::Create
        && r.name.is_none()
        && matches!(
            (r.group.as_str(), r.resource.as_str()),
            ("authorization.k8s.io", "selfsubjectaccessreviews")
                | ("authorization.k8s.io", "selfsubjectrulesreviews")
                | ("authentication.k8s.io", "selfsubjectreviews")
        )
}

/// Whether `namespace` is inside `scope`.
pub fn in_scope(scope: &Scope, namespace: &str, tenant_of_namespace: Option<&str>) -> bool {
    match scope {
        Scope::Platform => false,
        Scope::Tenant { tenant } => tenant_of_namespace == Some(tenant.as_str()),
        Scope::Project { tenant, .. } => {
            tenant_of_namespace == Some(tenant.as_str())
                && scope.project_namespace().as_deref() == Some(namespace)
        }
    }
}

fn describe(scope: &Scope) -> String {
    match scope {
        Scope::Platform => "a platform token".into(),
        Scope::Tenant { tenant } => format!("tenant {tenant}"),
        Scope::Project { tenant, project } => format!("project {project} of tenant {tenant}"),
    }
}

fn outside(scope: &Scope, namespace: &str) -> Decision {
    Decision::Deny(Reject::forbidden(
        "scope",
        format!(
            "namespace {namespace} is outside {}; this kubeconfig only reaches its own namespaces",
            describe(scope)
        ),
    ))
}

/// Decides what to do with `target` for a token of `scope`.
pub fn decide(scope: &Scope, target: &Target, view: &dyn View) -> Decision {
    let request = match target {
        Target::NonResource { path } if non_resource_allowed(path) => return Decision::Forward,
        Target::NonResource { path } => {
            return Decision::Deny(Reject::forbidden(
                "non_resource",
                format!("{path} is not available through KubeNova"),
            ));
        }
        Target::Resource(request) => request,
    };
    let Some(tenant) = scope.tenant() else {
        return Decision::Deny(Reject::forbidden(
            "platform_role",
            "platform tokens are not served by the proxy; use the cluster's own credentials",
        ));
    };
    if request.group.is_empty() && request.resource == "namespaces" {
        return namespaces(scope, tenant, request, view);
    }
    if let Some(namespace) = &request.namespace {
        return if in_scope(scope, namespace, view.tenant_of(namespace).as_deref()) {
            Decision::Forward
        } else {
            outside(scope, namespace)
        };
    }
    if self_review(request) {
        return Decision::Forward;
    }
    let namespaced = view.is_namespaced(&request.group, &request.version, &request.resource);
    match (namespaced, request.verb) {
        (Some(true), Verb::List | Verb::Watch) => {
            let namespaces = token_namespaces(scope, tenant, view);
            if namespaces.is_empty() {
                Decision::Deny(Reject::forbidden(
                    "no_namespaces",
                    format!("{} has no namespaces yet", describe(scope)),
                ))
            } else {
                Decision::AcrossNamespaces { namespaces }
            }
        }
        (Some(true), _) => Decision::Deny(Reject::forbidden(
            "scope",
            format!(
                "{} across all namespaces is not allowed; name a namespace",
                request.verb.as_str()
            ),
        )),
        (Some(false), _) => Decision::Deny(Reject::forbidden(
            deny::CLUSTER_SCOPED,
            format!(
                "{} is cluster-scoped; KubeNova tokens reach only their own namespaces",
                resource_name(request)
            ),
        )),
        (None, _) => Decision::Deny(Reject::forbidden(
            deny::UNKNOWN_RESOURCE,
            format!(
                "{} is not a resource this cluster serves",
                resource_name(request)
            ),
        )),
    }
}

/// Reasons of [`decide`]'s refusals that other modules act on (the handler re-checks an unknown
/// resource, capsule-proxy mode hands some cluster-scoped reads over): one spelling for both.
pub mod deny {
    /// The cluster does not serve the resource (as far as the proxy's view knows).
    pub const UNKNOWN_RESOURCE: &str = "unknown_resource";
    /// The resource is cluster-scoped.
    pub const CLUSTER_SCOPED: &str = "cluster_scoped";
}

fn resource_name(r: &ResourceRequest) -> String {
    if r.group.is_empty() {
        r.resource.clone()
    } else {
        format!("{}.{}", r.resource, r.group)
    }
}

/// The namespaces a list or watch of `group`/`resource` across all namespaces runs in for a
/// token of `scope` (what [`decide`] serves as [`Decision::AcrossNamespaces`]); `None` when the
/// proxy serves no such list: a platform token, the namespaces themselves, a cluster-scoped
/// resource or one discovery does not know. An empty `version` stands for any.
pub fn across_namespaces(
    scope: &Scope,
    group: &str,
    version: &str,
    resource: &str,
    view: &dyn View,
) -> Option<Vec<String>> {
    let tenant = scope.tenant()?;
    if group.is_empty() && resource == "namespaces" {
        return None;
    }
    (view.is_namespaced(group, version, resource) == Some(true))
        .then(|| token_namespaces(scope, tenant, view))
}

fn token_namespaces(scope: &Scope, tenant: &str, view: &dyn View) -> Vec<String> {
    let all = view.namespaces_of(tenant);
    match scope.project_namespace() {
        Some(project) => all.into_iter().filter(|ns| *ns == project).collect(),
        None => all,
    }
}

fn namespaces(scope: &Scope, tenant: &str, r: &ResourceRequest, view: &dyn View) -> Decision {
    // `/api/v1/namespaces/<ns>[/status|/finalize]`: Kubernetes reports the namespace as both
    // the name and the namespace of the request.
    if let Some(name) = r.name.as_deref().or(r.namespace.as_deref()) {
        return if in_scope(scope, name, view.tenant_of(name).as_deref()) {
            Decision::Forward
        } else {
            outside(scope, name)
        };
    }
    match r.verb {
        Verb::List | Verb::Watch => Decision::NamespaceList {
            label_selector: format!("{TENANT_LABEL}={tenant}"),
            field_selector: scope
                .project_namespace()
                .map(|ns| format!("metadata.name={ns}")),
        },
        // Capsule admits the namespace into the owner's tenant, or refuses it.
        Verb::Create if matches!(scope, Scope::Tenant { .. }) => Decision::Forward,
        Verb::Create => Decision::Deny(Reject::forbidden(
            "scope",
            "a project kubeconfig cannot create namespaces; ask a tenant owner",
        )),
        verb => Decision::Deny(Reject::forbidden(
            "scope",
            format!("{} on all namespaces is not allowed", verb.as_str()),
        )),
    }
}
