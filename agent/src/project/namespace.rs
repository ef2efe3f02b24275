//! The project's namespace: made as the tenant's owner, never taken from someone else.

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Resource, ResourceExt as _};
use kubenova_api::conditions::Reason;
use kubenova_api::crd::{Project, Tenant};
use kubenova_api::labels;
use kubenova_api::names::project_namespace;

use super::Ctx;
use super::plan::{has_baseline, namespace_manifest};
use crate::apply::{self, Applied};
use crate::{Error, capsule_owner, owner_client};

/// Whether a namespace was made by KubeNova for this project: Capsule's owner reference names
/// this tenant's Capsule Tenant (by uid, while it exists: `capsule_uid`), and the project's
/// labels, which only the agent may write (the namespace policy of ADR 0009), are on it.
pub(super) fn namespace_is_ours(
    ns: &Namespace,
    tenant: &str,
    project: &str,
    capsule_uid: Option<&str>,
) -> bool {
    let l = ns.labels();
    let owned = capsule_owner(ns)
        .is_some_and(|(name, uid)| name == tenant && capsule_uid.is_none_or(|u| u == uid));
    owned
        && l.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
        && l.get(labels::TENANT).map(String::as_str) == Some(tenant)
        && l.get(labels::PROJECT).map(String::as_str) == Some(project)
}

/// The uid of tenant `t`'s Capsule Tenant, if the agent's cache holds it.
pub(super) fn capsule_uid(ctx: &Ctx, tenant: &str) -> Option<String> {
    ctx.capsule_tenants.get(None, tenant).and_then(|c| c.uid())
}

/// Where the project's namespace stands.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NamespaceState {
    /// It exists and is the project's.
    Ready,
    /// Not yet: being created, refused, or another of the same name is going away.
    Waiting(Reason, String),
    /// It exists and belongs to someone else: it is never touched.
    Conflict(String),
}

pub(super) async fn ensure_namespace(
    project: &Project,
    tenant: &Tenant,
    ctx: &Ctx,
) -> Result<(NamespaceState, Applied), Error> {
    let (t, p) = (&project.spec.tenant, &project.spec.project);
    let name = project_namespace(t, p);
    let api: Api<Namespace> = Api::all(ctx.shared.client.clone());
    let as_owner: Api<Namespace> = Api::all(owner_client(&ctx.shared.client, t));
    let metrics = &ctx.shared.metrics;
    let live = match ctx.namespaces.get(None, &name) {
        Some(ns) => Some(ns),
        // Not one of ours (the watch sees only those): ask the apiserver itself.
        None => api.get_opt(&name).await?,
    };
    let Some(live) = live else {
        // Made with KubeNova's own labels only: the fields a create sets stay the create's (an
        // Update manager), so the project's labels and annotations come with the apply right
        // after, whose fields go again when the spec drops them.
        let mut bare = project.clone();
        bare.spec.labels.clear();
        bare.spec.annotations.clear();
        let created = namespace_manifest(&bare, tenant, false);
        return match apply::create(&as_owner, &ctx.namespaces, created, metrics).await {
            Ok(_) => {
                // Now apply (adds the hash annotation, owns the fields with our manager).
                let desired = namespace_manifest(project, tenant, false);
                apply::ensure(&as_owner, &ctx.namespaces, desired, metrics).await?;
                Ok((NamespaceState::Ready, Applied::Created))
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok((
                NamespaceState::Waiting(
                    Reason::Creating,
                    format!("namespace {name} appeared meanwhile"),
                ),
                Applied::Unchanged,
            )),
            // Capsule refused (the plan's namespace count is reached, say): say why.
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 400 || s.code == 422 => Ok((
                NamespaceState::Waiting(
                    Reason::Refused,
                    format!("namespace {name} was refused: {}", s.message),
                ),
                Applied::Unchanged,
            )),
            Err(e) => Err(e.into()),
        };
    };
    // A namespace on its way out (a deleted project's, or the namespace of a deleted tenant of
    // the same name, owned by that tenant's Capsule uid) is no conflict: wait for it to go.
    if live.meta().deletion_timestamp.is_some() {
        return Ok((
            NamespaceState::Waiting(
                Reason::Terminating,
                format!("namespace {name} is being deleted; it will be made again"),
            ),
            Applied::Unchanged,
        ));
    }
    let uid = capsule_uid(ctx, t);
    if !namespace_is_ours(&live, t, p, uid.as_deref()) {
        let owner = holder(&live);
        return Ok((
            NamespaceState::Conflict(format!(
                "namespace {name} already exists and belongs to {owner}; it is not shared: choose another project name"
            )),
            Applied::Unchanged,
        ));
    }
    // Once marked, the mark stays (the same desired object, so nothing is re-applied).
    let desired = namespace_manifest(project, tenant, has_baseline(&live));
    let applied = apply::ensure(&as_owner, &ctx.namespaces, desired, metrics).await?;
    Ok((NamespaceState::Ready, applied))
}

/// Who holds a namespace that is not the project's, for the conflict message.
pub(super) fn holder(live: &Namespace) -> String {
    let l = live.labels();
    match (l.get(labels::TENANT), l.get(labels::PROJECT)) {
        (Some(ot), Some(op)) => format!("KubeNova project {ot}.{op}"),
        _ => match l.get(labels::CAPSULE_TENANT) {
            Some(ct) => format!("a namespace of tenant {ct} not made by KubeNova"),
            None => "a namespace not made by KubeNova".to_owned(),
        },
    }
}
