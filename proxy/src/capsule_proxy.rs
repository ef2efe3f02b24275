//! `--mode=capsule-proxy`: what changes when the upstream is capsule-proxy instead of
//! kube-apiserver (docs/adr/0012-capsule-proxy-mode.md).
//!
//! The data path stays the same: the proxy verifies the KubeNova token, strips and refuses
//! client identity headers, checks the scope, and forwards with its own ServiceAccount token
//! plus `Impersonate-User`/`Impersonate-Group`. capsule-proxy authenticates that token (a
//! TokenReview), checks with SubjectAccessReviews that the proxy may impersonate the user and
//! each group, and from then on treats the request as the impersonated identity.
//!
//! Two things differ:
//!
//! - **Who filters lists.** For identities capsule-proxy treats as Capsule users (tenant owners,
//!   who carry Capsule's user group) the namespace list and watch and reads of the cluster-scoped
//!   kinds capsule-proxy filters (nodes, storage, ingress, priority and runtime classes,
//!   persistent volumes, node metrics, Capsule tenants) are forwarded as the identity and
//!   filtered by capsule-proxy. Every other identity (project and read-only tokens) is passed
//!   through by capsule-proxy unfiltered, so for those the proxy keeps filtering namespace lists
//!   itself, exactly as in direct mode. Lists across namespaces (`-A`) stay the proxy's own
//!   (one request per namespace, as the identity) for everyone: capsule-proxy only knows the
//!   resources it discovered when it started, so a CRD installed later would be refused.
//! - **More headers carry identity.** capsule-proxy can authenticate a request from a forwarded
//!   client certificate when configured to (`--auth-preferred-types` with
//!   `XForwardedClientCert`). The standard header, `X-Forwarded-Client-Cert`, is refused in both
//!   modes with the other identity headers (`extract`); the name capsule-proxy's
//!   `--xfcc-header-name` sets, when it is another, is refused here.

use http::HeaderMap;
use http::header::HeaderName;
use kubenova_api::identity::CAPSULE_USER_GROUP;

use crate::auth::Principal;
use crate::body::Reject;
use crate::path::{ResourceRequest, Target, Verb};
use crate::scope::Decision;

/// The cluster-scoped resources (group, plural) capsule-proxy v0.14 filters for tenant users
/// (its modules with the `ProxyClusterScoped` gate off, its default).
const FILTERED_CLUSTER_KINDS: [(&str, &str); 8] = [
    ("", "nodes"),
    ("", "persistentvolumes"),
    ("storage.k8s.io", "storageclasses"),
    ("networking.k8s.io", "ingressclasses"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("node.k8s.io", "runtimeclasses"),
    ("metrics.k8s.io", "nodes"),
    ("capsule.clastix.io", "tenants"),
];

/// What capsule-proxy mode needs at request time.
#[derive(Debug, Clone)]
pub struct CapsuleProxyMode {
    xfcc_header: HeaderName,
}

impl CapsuleProxyMode {
    /// Capsule-proxy mode whose capsule-proxy reads forwarded client certificates from
    /// `xfcc_header`.
    pub fn new(xfcc_header: &str) -> Result<Self, http::header::InvalidHeaderName> {
        Ok(CapsuleProxyMode {
            xfcc_header: HeaderName::from_bytes(xfcc_header.as_bytes())?,
        })
    }

    /// Refuses a request that carries a header capsule-proxy could take an identity from and
    /// that the common header hygiene does not already handle: a forwarded client certificate
    /// under the name capsule-proxy is configured with. Compared case-insensitively.
    pub fn refuse_identity_headers(&self, headers: &HeaderMap) -> Result<(), Reject> {
        if headers.contains_key(&self.xfcc_header) {
            return Err(Reject::forbidden(
                "identity_header",
                "forwarded client certificate headers are not allowed: the proxy sets your identity",
            ));
        }
        Ok(())
    }

    /// Turns the scope decision of direct mode into the one for capsule-proxy: for identities
    /// capsule-proxy filters for, the namespace list and the cluster-scoped reads it filters go
    /// to it as the identity; everything else is decided as in direct mode.
    pub fn hand_over(
        &self,
        decision: Decision,
        principal: &Principal,
        target: &Target,
    ) -> Decision {
        if !filtered_by_capsule_proxy(principal) {
            return decision;
        }
        let Target::Resource(request) = target else {
            return decision;
        };
        match decision {
            // The namespace list or watch: capsule-proxy lists the tenant's namespaces.
            Decision::NamespaceList { .. } => Decision::Forward,
            Decision::Deny(reject)
                if reject.reason == crate::scope::deny::CLUSTER_SCOPED
                    && filtered_read(request) =>
            {
                Decision::Forward
            }
            other => other,
        }
    }
}

/// Whether capsule-proxy treats the identity as a Capsule user, and so filters its lists: it
/// carries Capsule's user group (tenant owners; `kubenova_api::identity`).
pub fn filtered_by_capsule_proxy(principal: &Principal) -> bool {
    principal
        .identity
        .groups
        .iter()
        .any(|group| group == CAPSULE_USER_GROUP)
}

/// A get, list or watch (no subresource) of a cluster-scoped kind capsule-proxy filters.
fn filtered_read(request: &ResourceRequest) -> bool {
    request.subresource.is_none()
        && matches!(request.verb, Verb::Get | Verb::List | Verb::Watch)
        && FILTERED_CLUSTER_KINDS
            .iter()
            .any(|(group, resource)| request.group == *group && request.resource == *resource)
}

#[cfg(test)]
mod tests;
