//! The baseline of the namespaces a tenant's owners make themselves (with kubectl).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Resource as _, ResourceExt as _};
use kubenova_api::crd::Tenant;
use kubenova_api::labels;

use super::Ctx;
use super::plan::{NamespaceBaseline, namespace_baseline};
use crate::apply::{self, Applied};
use crate::project::{has_baseline, names};
use crate::{Error, capsule_owner, owner_client, reference};

/// Gives every namespace the tenant's owners made (owned by its Capsule Tenant `capsule_uid`,
/// not a project's) its baseline: the isolation NetworkPolicy and LimitRange first, then the
/// Pod Security labels and the baseline mark in one write. Returns how many namespaces that is.
pub(super) async fn ensure_baselines(
    tenant: &Tenant,
    capsule_uid: &str,
    ctx: &Ctx,
) -> Result<usize, Error> {
    let t = tenant.name_any();
    let client = &ctx.shared.client;
    let metrics = &ctx.shared.metrics;
    let owned: Vec<Arc<Namespace>> = ctx
        .namespaces
        .store()
        .state()
        .into_iter()
        .filter(|ns| capsule_owner(ns) == Some((t.as_str(), capsule_uid)))
        .filter(|ns| ns.meta().deletion_timestamp.is_none())
        .filter(|ns| !is_project_namespace(ns, &t))
        .collect();
    let as_owner: Api<Namespace> = Api::all(owner_client(client, &t));
    for ns in &owned {
        let ns_name = ns.name_any();
        let was_complete = has_baseline(ns);
        let NamespaceBaseline {
            policy,
            limits,
            namespace,
        } = namespace_baseline(tenant, &ns_name);
        let np = apply::ensure(
            &Api::namespaced(client.clone(), &ns_name),
            &ctx.policies,
            policy,
            metrics,
        )
        .await?;
        let lr = apply::ensure(
            &Api::namespaced(client.clone(), &ns_name),
            &ctx.limits,
            limits,
            metrics,
        )
        .await?;
        let labelled = apply::ensure(&as_owner, &ctx.namespaces, namespace, metrics).await?;
        if was_complete {
            for (applied, api_version, kind, namespace, object) in [
                (
                    np,
                    "networking.k8s.io/v1",
                    "NetworkPolicy",
                    Some(ns_name.as_str()),
                    names::NETWORK_POLICY,
                ),
                (
                    lr,
                    "v1",
                    "LimitRange",
                    Some(ns_name.as_str()),
                    names::LIMITS,
                ),
                (labelled, "v1", "Namespace", None, ns_name.as_str()),
            ] {
                if applied != Applied::Unchanged {
                    let shown = namespace.map_or(object.to_owned(), |n| format!("{n}/{object}"));
                    let related = reference(api_version, kind, namespace, object);
                    ctx.shared
                        .healed(
                            super::CONTROLLER,
                            &tenant.object_ref(&()),
                            applied,
                            (kind, &shown),
                            related,
                        )
                        .await;
                }
            }
        }
    }
    Ok(owned.len())
}

/// Whether `ns` is a project's namespace of tenant `t` (labels only the agent may write): the
/// project controller's, not given a baseline here.
fn is_project_namespace(ns: &Namespace, t: &str) -> bool {
    let l = ns.labels();
    l.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
        && l.get(labels::TENANT).map(String::as_str) == Some(t)
        && l.contains_key(labels::PROJECT)
}
