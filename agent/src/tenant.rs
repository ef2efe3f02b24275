//! The Tenant controller: a KubeNova `Tenant` becomes
//!
//! - a Capsule `TenantOwner` `kubenova-<t>-owner`: the group `kubenova:tenant:<t>:owner` with
//!   the cluster roles `admin` and `capsule-namespace-deleter`, labelled
//!   `projectcapsule.dev/tenant=<t>` so the Capsule Tenant picks it up as its owner, and
//!   aggregated into `CapsuleConfiguration.status.users`, so Capsule treats the group as its user
//!   without widening the configuration;
//! - a Capsule `Tenant` `<t>` (v1beta2): `forceTenantPrefix`, the namespace count from the plan,
//!   the allowed ingress and storage classes, a `rules[].quota` entry (the v0.14 replacement of
//!   the deprecated `resourceQuotas`, enforced through a GlobalResourceQuota) with the plan's
//!   CPU, memory, storage and pod totals, and an additional RoleBinding of `view` for
//!   `kubenova:tenant:<t>:view`, which Capsule keeps in every tenant namespace, including those
//!   the owner creates later.
//!
//! - the baseline in every namespace the tenant's owners make themselves (with kubectl): the
//!   Pod Security labels of the tenant's level, the `kubenova-isolation` NetworkPolicy and the
//!   `kubenova-limits` LimitRange of the plan, then the [`labels::BASELINE`] mark that lets pods
//!   in (project namespaces get theirs from the project controller). A namespace is the
//!   tenant's when Capsule's owner reference names the tenant's Capsule Tenant by uid; labels
//!   are never asked (ADR 0009).
//!
//! A tenant whose name overlaps an older tenant's (`a` and `a-x`: both could own `a-x-web`)
//! gets neither: it reports `NameAvailable=False` (`NameOverlaps`).
//!
//! Status: `NameAvailable`, `CapsuleTenantReady` (Capsule's own Ready and the owner group in its
//! status), `TenantOwnerReady`, `QuotaReady`, `BaselineReady`, then `Ready`; the namespaces
//! Capsule counts; usage from the GlobalResourceQuota.

mod baseline;
mod plan;
mod status;

use std::future::Future;

use k8s_openapi::api::core::v1::{LimitRange, Namespace};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt as _};
use kubenova_api::crd::{Project, Tenant};
use kubenova_api::labels;
use tokio_util::sync::CancellationToken;

use self::baseline::ensure_baselines;
pub use self::plan::{desired_capsule_tenant, desired_owner};
use self::status::{Made, Observed, older_overlapping};
use super::apply::{self, Applied, Cached, Trigger};
use super::conditions::was_ready;
use super::frame::{self, Reconciler};
use super::hosts;
use super::{Error, Shared, capsule_owner, managed_selector, reference};

const CONTROLLER: &str = "tenant";

/// Capsule's label that ties TenantOwners and GlobalResourceQuotas to a tenant.
pub const CAPSULE_NEW_TENANT_LABEL: &str = "projectcapsule.dev/tenant";

/// The name of the quota rule in the Capsule Tenant (its GlobalResourceQuota is `<t>-kubenova`).
pub const QUOTA_RULE: &str = "kubenova";

/// The Capsule Tenant resource (v1beta2).
pub(crate) fn capsule_tenant_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("capsule.clastix.io", "v1beta2", "Tenant"),
        "tenants",
    )
}

/// The Capsule TenantOwner resource.
pub(crate) fn tenant_owner_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("capsule.clastix.io", "v1beta2", "TenantOwner"),
        "tenantowners",
    )
}

/// Capsule's GlobalResourceQuota resource.
pub(crate) fn global_quota_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("capsule.clastix.io", "v1beta2", "GlobalResourceQuota"),
        "globalresourcequotas",
    )
}

/// The TenantOwner's name for tenant `t`.
pub fn tenant_owner_name(tenant: &str) -> String {
    format!("kubenova-{tenant}-owner")
}

/// The shared caches (and this controller's triggers) of what every tenant namespace carries.
pub(crate) struct Baseline {
    /// Every tenant namespace.
    pub(crate) namespaces: (Cached<Namespace>, Trigger<Namespace>),
    /// The agent's LimitRanges.
    pub(crate) limits: (Cached<LimitRange>, Trigger<LimitRange>),
    /// The agent's NetworkPolicies.
    pub(crate) policies: (Cached<NetworkPolicy>, Trigger<NetworkPolicy>),
}

struct Ctx {
    shared: Shared,
    tenants: Store<Tenant>,
    capsule_tenants: Cached<DynamicObject>,
    owners: Cached<DynamicObject>,
    quotas: Cached<DynamicObject>,
    namespaces: Cached<Namespace>,
    limits: Cached<LimitRange>,
    policies: Cached<NetworkPolicy>,
}

impl Ctx {
    /// Waits until every cache is complete.
    async fn ready(&self) {
        self.capsule_tenants.ready().await;
        self.owners.ready().await;
        self.quotas.ready().await;
        self.namespaces.ready().await;
        self.limits.ready().await;
        self.policies.ready().await;
    }
}

/// The tenant of a namespace: the Capsule Tenant of its owner reference.
fn tenant_of_namespace(ns: &Namespace) -> Option<ObjectRef<Tenant>> {
    capsule_owner(ns).map(|(name, _)| ObjectRef::new(name))
}

/// The tenant of an object in a tenant namespace, from the namespace (not the object's labels,
/// which the tenant's admins may change); its label only while the namespace is not cached.
fn tenant_in_namespace<K: Resource>(
    namespaces: &Cached<Namespace>,
    object: &K,
) -> Option<ObjectRef<Tenant>> {
    match object
        .meta()
        .namespace
        .as_deref()
        .and_then(|ns| namespaces.get(None, ns))
    {
        Some(ns) => tenant_of_namespace(&ns),
        None => object
            .meta()
            .labels
            .as_ref()?
            .get(labels::TENANT)
            .map(|t| ObjectRef::new(t)),
    }
}

fn by_tenant_label(object: &DynamicObject, label: &str) -> Option<ObjectRef<Tenant>> {
    object.labels().get(label).map(|t| ObjectRef::new(t))
}

/// Runs the controller until `stop` is cancelled, on the shared caches of Tenants and Capsule
/// Tenants (each with this controller's own trigger).
pub(crate) async fn run(
    shared: Shared,
    stop: CancellationToken,
    (tenants, tenant_trigger): (Cached<Tenant>, Trigger<Tenant>),
    (capsule_tenants, ct_trigger): (Cached<DynamicObject>, Trigger<DynamicObject>),
    baseline: Baseline,
) {
    let Baseline {
        namespaces: (namespaces, ns_stream),
        limits: (limits, lr_stream),
        policies: (policies, np_stream),
    } = baseline;
    let client = shared.client.clone();
    let (to, grq) = (tenant_owner_resource(), global_quota_resource());
    let (owners, [to_stream]) = apply::watch(
        Api::<DynamicObject>::all_with(client.clone(), &to),
        managed_selector(),
        to.clone(),
        &stop,
    );
    let (quotas, [grq_stream]) = apply::watch(
        Api::<DynamicObject>::all_with(client.clone(), &grq),
        watcher::Config::default().labels(CAPSULE_NEW_TENANT_LABEL),
        grq.clone(),
        &stop,
    );
    let concurrency = shared.config.concurrency;
    let ctx = Ctx {
        shared,
        tenants: tenants.store(),
        capsule_tenants,
        owners,
        quotas,
        namespaces: namespaces.clone(),
        limits,
        policies,
    };
    let (for_lr, for_np) = (namespaces.clone(), namespaces);
    let controller = Controller::for_stream(tenant_trigger, tenants.store())
        .with_config(controller::Config::default().concurrency(concurrency))
        .watches_stream_with(
            ct_trigger,
            |o| by_tenant_label(&o, labels::TENANT),
            capsule_tenant_resource(),
        )
        .watches_stream_with(to_stream, |o| by_tenant_label(&o, labels::TENANT), to)
        .watches_stream_with(
            grq_stream,
            |o| by_tenant_label(&o, CAPSULE_NEW_TENANT_LABEL),
            grq,
        )
        .watches_stream(ns_stream, |ns: Namespace| tenant_of_namespace(&ns))
        .watches_stream(lr_stream, move |o: LimitRange| {
            tenant_in_namespace(&for_lr, &o)
        })
        .watches_stream(np_stream, move |o: NetworkPolicy| {
            tenant_in_namespace(&for_np, &o)
        });
    frame::run(controller, ctx, stop).await;
}

impl Reconciler for Ctx {
    type Object = Tenant;
    const CONTROLLER: &'static str = CONTROLLER;
    const FINALIZER: bool = true;

    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn api(&self, _: &Tenant) -> Api<Tenant> {
        Api::all(self.shared.client.clone())
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        Ctx::ready(self)
    }

    fn apply(&self, tenant: &Tenant) -> impl Future<Output = Result<Action, Error>> + Send {
        apply_tenant(tenant, self)
    }

    fn cleanup(&self, tenant: &Tenant) -> impl Future<Output = Result<Action, Error>> + Send {
        cleanup(tenant, self)
    }
}
/// A tenant's reconcile: the ordered [`steps`], then the status from what they observed.
async fn apply_tenant(tenant: &Tenant, ctx: &Ctx) -> Result<Action, Error> {
    let previous = tenant.status.clone().unwrap_or_default();
    let healing = was_ready(&previous.conditions, tenant.meta().generation);
    let observed = steps(tenant, ctx, healing).await?;
    let outcome = status::status(tenant, observed, &previous);
    let api: Api<Tenant> = Api::all(ctx.shared.client.clone());
    ctx.shared
        .write_status(&api, tenant, &previous, outcome.status)
        .await?;
    ctx.shared
        .metrics
        .converged(CONTROLLER, &tenant.name_any(), outcome.ready);
    Ok(outcome.requeue.action(ctx.shared.config.resync))
}

/// The steps, in order; each returns where the tenant stands if it cannot go on.
///
/// 1. The name: a tenant whose name overlaps an older one's gets nothing.
/// 2. The TenantOwner, then the Capsule Tenant (protected from deletion).
/// 3. Once Capsule reports its Tenant ready, the baseline of every namespace the owners made.
///
/// The Capsule Tenant allows only the ingress hosts the tenant holds (ADR 0015).
///
/// With `healing` (the tenant was Ready for this generation), every object that had to be
/// written again is reported as a heal.
async fn steps(tenant: &Tenant, ctx: &Ctx, healing: bool) -> Result<Observed, Error> {
    let name = tenant.name_any();
    let client = &ctx.shared.client;
    let metrics = &ctx.shared.metrics;

    if let Some(older) = older_overlapping(tenant, &ctx.tenants) {
        return Ok(Observed::Overlaps { older });
    }

    let to = tenant_owner_resource();
    let owner = apply::ensure(
        &Api::<DynamicObject>::all_with(client.clone(), &to),
        &ctx.owners,
        desired_owner(tenant),
        metrics,
    )
    .await?;
    let ct = capsule_tenant_resource();
    // The ingress hosts it holds (ADR 0015), decided and written under one lock.
    let cached = ctx.capsule_tenants.get(None, &name);
    let (hosts, decision) = hosts::decide(tenant, cached.as_ref(), client, &ct).await?;
    let mut desired = desired_capsule_tenant(tenant, true);
    hosts.restrict(&mut desired);
    let capsule = apply::ensure(
        &Api::<DynamicObject>::all_with(client.clone(), &ct),
        &ctx.capsule_tenants,
        desired,
        metrics,
    )
    .await?;
    drop(decision);
    if healing {
        for (applied, kind, resource, object) in [
            (owner, "TenantOwner", &to, tenant_owner_name(&name)),
            (capsule, "Tenant (Capsule)", &ct, name.clone()),
        ] {
            if applied != Applied::Unchanged {
                let related = reference(&resource.api_version, &resource.kind, None, &object);
                ctx.shared
                    .healed(
                        CONTROLLER,
                        &tenant.object_ref(&()),
                        applied,
                        (kind, &object),
                        related,
                    )
                    .await;
            }
        }
    }

    let capsule = ctx.capsule_tenants.get(None, &name);
    let owner_group = kubenova_api::identity::tenant_owner_group(&name);
    let capsule_ok = status::capsule_ready(capsule.as_ref(), &owner_group).0;
    let baselines = match capsule.as_ref().and_then(|c| c.uid()) {
        Some(uid) if capsule_ok => Some(ensure_baselines(tenant, &uid, ctx).await?),
        _ => None,
    };
    Ok(Observed::Made(Box::new(Made {
        capsule,
        owner: ctx.owners.get(None, &tenant_owner_name(&name)).is_some(),
        quota: ctx.quotas.get(None, &format!("{name}-{QUOTA_RULE}")),
        baselines,
        hosts,
    })))
}

async fn cleanup(tenant: &Tenant, ctx: &Ctx) -> Result<Action, Error> {
    let name = tenant.name_any();
    let client = &ctx.shared.client;
    let metrics = &ctx.shared.metrics;
    if tenant.spec.prevent_deletion {
        // The admission policy refuses such deletes; if it was missing, do nothing anyway.
        return Err(Error::Waiting("spec.preventDeletion is set".into()));
    }
    // No token of a deleted tenant may keep working, nor work for a later tenant of the same
    // name: revoke them all before anything else goes (ADR 0010).
    kubenova_revocation::revoke_scope_here(
        client,
        &ctx.shared.config.namespace,
        &name,
        None,
        "agent: tenant deleted",
    )
    .await?;
    // Projects first: their own finalizers remove their namespaces.
    let projects: Api<Project> = Api::all(client.clone());
    let mut remaining = 0;
    for project in projects.list(&Default::default()).await? {
        if project.spec.tenant != name {
            continue;
        }
        remaining += 1;
        if project.meta().deletion_timestamp.is_none() {
            apply::delete(
                &projects,
                None,
                None,
                &project.name_any(),
                "Project",
                metrics,
            )
            .await?;
        }
    }
    if remaining > 0 {
        tracing::debug!(tenant = %name, remaining, "waiting for the tenant's projects to go");
        return Err(Error::Waiting(format!(
            "{remaining} projects still being deleted"
        )));
    }
    let ct = capsule_tenant_resource();
    let capsule_api = Api::<DynamicObject>::all_with(client.clone(), &ct);
    if let Some(capsule) = capsule_api.get_opt(&name).await?
        && is_ours(&capsule, &name)
    {
        if capsule.meta().deletion_timestamp.is_some() {
            return Err(Error::Waiting("the Capsule Tenant is being deleted".into()));
        }
        apply::ensure(
            &capsule_api,
            &ctx.capsule_tenants,
            desired_capsule_tenant(tenant, false),
            metrics,
        )
        .await?;
        apply::delete(
            &capsule_api,
            Some(&ctx.capsule_tenants),
            None,
            &name,
            "Tenant (Capsule)",
            metrics,
        )
        .await?;
        return Err(Error::Waiting("the Capsule Tenant is being deleted".into()));
    }
    let to = tenant_owner_resource();
    let owner_api = Api::<DynamicObject>::all_with(client.clone(), &to);
    let owner_name = tenant_owner_name(&name);
    if let Some(owner) = owner_api.get_opt(&owner_name).await?
        && is_ours(&owner, &name)
    {
        apply::delete(
            &owner_api,
            Some(&ctx.owners),
            None,
            &owner_name,
            "TenantOwner",
            metrics,
        )
        .await?;
    }
    metrics.converged(CONTROLLER, &name, true);
    tracing::info!(tenant = %name, "tenant cleaned up");
    Ok(Action::await_change())
}

/// Whether `object` was made by the agent for `tenant`.
fn is_ours(object: &DynamicObject, tenant: &str) -> bool {
    let labels = object.labels();
    labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
        && labels.get(labels::TENANT).map(String::as_str) == Some(tenant)
}
