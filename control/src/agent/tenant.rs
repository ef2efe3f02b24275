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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use k8s_openapi::api::core::v1::{LimitRange, Namespace};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt as _};
use kubenova_api::crd::{Project, Tenant, TenantStatus, Usage};
use kubenova_api::{identity, labels};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::apply::{self, Applied, Cached, FIELD_MANAGER, Trigger};
use super::conditions::{condition, finish, was_ready};
use super::hosts;
use super::project::{has_baseline, isolation_spec, limit_item, names, pod_security_labels};
use super::{
    Error, FINALIZER, Shared, capsule_owner, managed_labels, managed_selector, owner_client,
};

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
    let ctx = Arc::new(Ctx {
        shared,
        tenants: tenants.store(),
        capsule_tenants,
        owners,
        quotas,
        namespaces: namespaces.clone(),
        limits,
        policies,
    });
    let (for_lr, for_np) = (namespaces.clone(), namespaces);
    Controller::for_stream(tenant_trigger, tenants.store())
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
        })
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| std::future::ready(()))
        .await;
}

fn error_policy(tenant: Arc<Tenant>, error: &Error, ctx: Arc<Ctx>) -> Action {
    if !error.is_waiting() {
        tracing::warn!(tenant = %tenant.name_any(), error = %error, "tenant reconcile failed");
    }
    if error.is_waiting() {
        tracing::debug!(%error, "cleanup not finished yet");
        return Action::requeue(Duration::from_secs(1));
    }
    ctx.shared.metrics.error(CONTROLLER, error.kind());
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(tenant: Arc<Tenant>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    // Every cache is complete before a reconcile starts, so "absent" really means absent (the
    // controller drains its triggers meanwhile, as in `project`).
    ctx.ready().await;
    let timer = ctx.shared.metrics.start(CONTROLLER);
    let api: Api<Tenant> = Api::all(ctx.shared.client.clone());
    let result = finalizer(&api, FINALIZER, tenant, |event| async {
        match event {
            Finalizer::Apply(t) => apply_tenant(&t, &ctx).await,
            Finalizer::Cleanup(t) => cleanup(&t, &ctx).await,
        }
    })
    .await;
    let result = match result {
        // Removed already (a second cleanup on a stale copy): nothing left to do.
        Err(kube::runtime::finalizer::Error::RemoveFinalizer(kube::Error::Api(s)))
            if s.code == 404 =>
        {
            Ok(Action::await_change())
        }
        other => other.map_err(|e| Error::Finalizer(Box::new(e))),
    };
    timer.finish(if result.is_ok() { "ok" } else { "error" });
    result
}

fn quota_hard(tenant: &Tenant) -> BTreeMap<String, String> {
    let q = &tenant.spec.plan.quota;
    let mut hard = BTreeMap::new();
    if let Some(cpu) = &q.cpu {
        hard.insert("requests.cpu".to_owned(), cpu.clone());
    }
    if let Some(memory) = &q.memory {
        hard.insert("requests.memory".to_owned(), memory.clone());
    }
    if let Some(storage) = &q.storage {
        hard.insert("requests.storage".to_owned(), storage.clone());
    }
    if let Some(pods) = q.pods {
        hard.insert("pods".to_owned(), pods.to_string());
    }
    hard
}

/// The Capsule Tenant for `tenant`. `protect` sets Capsule's own `preventDeletion`: deleting the
/// Capsule Tenant would make the garbage collector delete every namespace of the tenant, so only
/// the agent's cleanup (which first clears the flag) may do it.
pub fn desired_capsule_tenant(tenant: &Tenant, protect: bool) -> Value {
    let name = tenant.name_any();
    let plan = &tenant.spec.plan;
    let mut spec = json!({
        "forceTenantPrefix": true,
        "preventDeletion": protect,
        "additionalRoleBindings": [{
            "clusterRoleName": "view",
            "subjects": [{
                "kind": "Group",
                "apiGroup": "rbac.authorization.k8s.io",
                "name": identity::tenant_view_group(&name),
            }],
        }],
    });
    if let Some(n) = plan.quota.namespaces {
        spec["namespaceOptions"] = json!({ "quota": n });
    }
    // An Ingress may not take a host and path another Ingress in any Capsule tenant already
    // uses (Capsule's admission webhook checks it, ADR 0009).
    spec["ingressOptions"] = json!({ "hostnameCollisionScope": "Cluster" });
    if !plan.ingress_classes.is_empty() {
        spec["ingressOptions"]["allowedClasses"] = json!({ "allowed": plan.ingress_classes });
    }
    if !plan.storage_classes.is_empty() {
        spec["storageClasses"] = json!({ "allowed": plan.storage_classes });
    }
    let hard = quota_hard(tenant);
    if !hard.is_empty() {
        spec["rules"] = json!([{ "quota": [{ "name": QUOTA_RULE, "hard": hard }] }]);
    }
    json!({
        "apiVersion": "capsule.clastix.io/v1beta2",
        "kind": "Tenant",
        "metadata": {
            "name": name,
            "labels": managed_labels(&name, None),
            "ownerReferences": [owner_reference(tenant)],
        },
        "spec": spec,
    })
}

/// The TenantOwner for `tenant`.
pub fn desired_owner(tenant: &Tenant) -> Value {
    let name = tenant.name_any();
    let mut labels = managed_labels(&name, None);
    labels[CAPSULE_NEW_TENANT_LABEL] = json!(name);
    json!({
        "apiVersion": "capsule.clastix.io/v1beta2",
        "kind": "TenantOwner",
        "metadata": {
            "name": tenant_owner_name(&name),
            "labels": labels,
            "ownerReferences": [owner_reference(tenant)],
        },
        "spec": {
            "kind": "Group",
            "name": identity::tenant_owner_group(&name),
            "clusterRoles": ["admin", "capsule-namespace-deleter"],
            "aggregate": true,
        },
    })
}

fn owner_reference(tenant: &Tenant) -> Value {
    json!({
        "apiVersion": Tenant::api_version(&()),
        "kind": Tenant::kind(&()),
        "name": tenant.name_any(),
        "uid": tenant.uid().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": false,
    })
}

fn capsule_ready(capsule: Option<&DynamicObject>, owner_group: &str) -> (bool, String, String) {
    let Some(capsule) = capsule else {
        return (
            false,
            "Missing".into(),
            "the Capsule Tenant does not exist yet".into(),
        );
    };
    let status = &capsule.data["status"];
    let ready = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready");
    let Some(ready) = ready else {
        return (
            false,
            "Pending".into(),
            "Capsule has not reported on the tenant yet".into(),
        );
    };
    if ready["status"] != "True" {
        return (
            false,
            "CapsuleNotReady".into(),
            format!(
                "Capsule says: {}",
                ready["message"].as_str().unwrap_or_default()
            ),
        );
    }
    let owned = status["owners"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|o| o["kind"] == "Group" && o["name"] == owner_group);
    if !owned {
        return (
            false,
            "OwnerPending".into(),
            format!("Capsule does not list {owner_group} as an owner yet"),
        );
    }
    (
        true,
        "Ready".into(),
        "Capsule reports the tenant Ready".into(),
    )
}

fn usage_from(quota: Option<&DynamicObject>) -> Option<Usage> {
    let total = &quota?.data["status"]["total"];
    let map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect()
    };
    Some(Usage {
        hard: map(&total["hard"]),
        used: map(&total["used"]),
    })
}

async fn apply_tenant(tenant: &Tenant, ctx: &Ctx) -> Result<Action, Error> {
    let name = tenant.name_any();
    let client = &ctx.shared.client;
    let metrics = &ctx.shared.metrics;
    let generation = tenant.meta().generation;
    let previous = tenant.status.clone().unwrap_or_default();
    let healing = was_ready(&previous.conditions, generation);

    if let Some(older) = older_overlapping(tenant, &ctx.tenants) {
        let long = if name.len() > older.len() {
            &name
        } else {
            &older
        };
        let message = format!(
            "tenant {name} overlaps the older tenant {older}: namespaces named {long}-... could belong to either, \
             so nothing is made for {name}; delete it and choose another name (no tenant's name may be another's followed by `-`)"
        );
        let conditions = finish(
            vec![condition(
                "NameAvailable",
                false,
                "NameOverlaps",
                message,
                generation,
            )],
            &previous.conditions,
            generation,
        );
        let status = TenantStatus {
            conditions,
            observed_generation: generation,
            ..TenantStatus::default()
        };
        write_status(ctx, &name, &previous, status).await?;
        metrics.converged(CONTROLLER, &name, false);
        return Ok(Action::requeue(Duration::from_secs(30)));
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
                let related =
                    super::reference(&resource.api_version, &resource.kind, None, &object);
                heal(ctx, tenant, applied, kind, &object, related).await;
            }
        }
    }

    let capsule_obj = ctx.capsule_tenants.get(None, &name);
    let owner_group = identity::tenant_owner_group(&name);
    let (capsule_ok, capsule_reason, capsule_msg) =
        capsule_ready(capsule_obj.as_ref(), &owner_group);
    let owner_ok = ctx.owners.get(None, &tenant_owner_name(&name)).is_some();
    let hard = quota_hard(tenant);
    let grq = ctx.quotas.get(None, &format!("{name}-{QUOTA_RULE}"));
    let usage = usage_from(grq.as_ref());
    let quota_ok = hard.is_empty()
        || usage
            .as_ref()
            .is_some_and(|u| hard.keys().all(|k| u.hard.contains_key(k)));
    let (baseline_ok, baseline_msg) = match capsule_obj.as_ref().and_then(|c| c.uid()) {
        Some(uid) if capsule_ok => ensure_baselines(tenant, &uid, ctx).await?,
        _ => (false, "waiting for the Capsule Tenant".to_owned()),
    };
    let (hosts_ok, hosts_reason, hosts_msg) = hosts.condition();
    let conditions = finish(
        vec![
            condition(
                "NameAvailable",
                true,
                "Unique",
                format!("no other tenant's name overlaps {name}"),
                generation,
            ),
            condition(
                "TenantOwnerReady",
                owner_ok,
                if owner_ok { "Applied" } else { "Missing" },
                format!("TenantOwner for group {owner_group}"),
                generation,
            ),
            condition(
                "CapsuleTenantReady",
                capsule_ok,
                &capsule_reason,
                capsule_msg,
                generation,
            ),
            condition(
                "QuotaReady",
                quota_ok,
                if quota_ok { "Enforced" } else { "Pending" },
                if hard.is_empty() {
                    "the plan sets no tenant-wide quota".to_owned()
                } else if quota_ok {
                    format!("GlobalResourceQuota {name}-{QUOTA_RULE} enforces the plan")
                } else {
                    format!("waiting for Capsule's GlobalResourceQuota {name}-{QUOTA_RULE}")
                },
                generation,
            ),
            condition(
                "BaselineReady",
                baseline_ok,
                if baseline_ok { "Applied" } else { "Pending" },
                baseline_msg,
                generation,
            ),
            condition(
                "IngressHostsReady",
                hosts_ok,
                hosts_reason,
                hosts_msg,
                generation,
            ),
        ],
        &previous.conditions,
        generation,
    );
    let mut namespaces: Vec<String> = capsule_obj
        .as_ref()
        .map(|c| {
            c.data["status"]["namespaces"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    namespaces.sort();
    let ready = capsule_ok && owner_ok && quota_ok && baseline_ok && hosts_ok;
    let status = TenantStatus {
        conditions,
        observed_generation: generation,
        namespace_count: i32::try_from(namespaces.len()).unwrap_or(i32::MAX),
        namespaces,
        usage,
    };
    write_status(ctx, &name, &previous, status).await?;
    metrics.converged(CONTROLLER, &name, ready);
    Ok(if ready {
        Action::requeue(ctx.shared.config.resync)
    } else {
        Action::requeue(Duration::from_secs(5))
    })
}

/// The older tenant (by creation time, then name) whose name overlaps `tenant`'s, if any: the
/// older one keeps its name, the younger gets nothing.
fn older_overlapping(tenant: &Tenant, tenants: &Store<Tenant>) -> Option<String> {
    let name = tenant.name_any();
    let key = |t: &Tenant| (t.creation_timestamp().map(|c| c.0), t.name_any());
    tenants
        .state()
        .iter()
        .filter(|other| kubenova_api::names::tenants_overlap(&name, &other.name_any()))
        .filter(|other| key(other) < key(tenant))
        .map(|other| other.name_any())
        .min()
}

/// Gives every namespace the tenant's owners made (owned by its Capsule Tenant `capsule_uid`,
/// not a project's) its baseline: the isolation NetworkPolicy and LimitRange first, then the
/// Pod Security labels and the baseline mark in one write. Returns whether all have it and a
/// message for `BaselineReady`.
async fn ensure_baselines(
    tenant: &Tenant,
    capsule_uid: &str,
    ctx: &Ctx,
) -> Result<(bool, String), Error> {
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
        .filter(|ns| {
            // A project's namespace (labels only the agent may write): the project controller's.
            let l = ns.labels();
            !(l.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
                && l.get(labels::TENANT) == Some(&t)
                && l.contains_key(labels::PROJECT))
        })
        .collect();
    let as_owner: Api<Namespace> = Api::all(owner_client(client, &t));
    for ns in &owned {
        let ns_name = ns.name_any();
        let was_complete = has_baseline(ns);
        let meta = |name: &str| {
            json!({
                "name": name,
                "namespace": ns_name,
                "labels": managed_labels(&t, None),
                "ownerReferences": [owner_reference(tenant)],
            })
        };
        let policy = json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta(names::NETWORK_POLICY),
            "spec": isolation_spec(&t, &tenant.spec.network_policy),
        });
        let limits = json!({
            "apiVersion": "v1", "kind": "LimitRange", "metadata": meta(names::LIMITS),
            "spec": { "limits": [limit_item(&tenant.spec.plan.limits)] },
        });
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
        let mut l = json!({ labels::TENANT: t });
        pod_security_labels(&mut l, tenant.spec.pod_security.label());
        l[labels::BASELINE] = json!(labels::BASELINE_VALUE);
        let desired = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": { "name": ns_name, "labels": l },
        });
        let labelled = apply::ensure(&as_owner, &ctx.namespaces, desired, metrics).await?;
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
                    let related = super::reference(api_version, kind, namespace, object);
                    heal(ctx, tenant, applied, kind, &shown, related).await;
                }
            }
        }
    }
    Ok((
        true,
        format!(
            "{} namespaces made by the tenant's owners carry the baseline (Pod Security {}, {}, {})",
            owned.len(),
            tenant.spec.pod_security.label(),
            names::NETWORK_POLICY,
            names::LIMITS
        ),
    ))
}

async fn write_status(
    ctx: &Ctx,
    name: &str,
    previous: &TenantStatus,
    status: TenantStatus,
) -> Result<(), Error> {
    if *previous == status {
        return Ok(());
    }
    let api: Api<Tenant> = Api::all(ctx.shared.client.clone());
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(json!({
            "apiVersion": Tenant::api_version(&()),
            "kind": Tenant::kind(&()),
            "status": status,
        })),
    )
    .await?;
    ctx.shared.metrics.write("status", "Tenant");
    Ok(())
}

async fn heal(
    ctx: &Ctx,
    tenant: &Tenant,
    applied: Applied,
    kind: &str,
    object: &str,
    related: k8s_openapi::api::core::v1::ObjectReference,
) {
    let what = if applied == Applied::Created {
        "recreated (it had been deleted)"
    } else {
        "restored (it had been changed)"
    };
    tracing::info!(tenant = %tenant.name_any(), kind, object, what, "healed drift");
    ctx.shared.metrics.heal(CONTROLLER, kind);
    ctx.shared
        .event(
            &tenant.object_ref(&()),
            false,
            "Healed",
            "Heal",
            format!("{kind} {object} {what}"),
            Some(related),
        )
        .await;
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
    crate::revocation::revoke_scope_here(
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

#[cfg(test)]
mod tests {
    use kubenova_api::crd::{Plan, Quota, TenantSpec};

    use super::*;

    fn tenant(plan: Plan) -> Tenant {
        let mut t = Tenant::new(
            "acme",
            TenantSpec {
                plan,
                ..TenantSpec::default()
            },
        );
        t.metadata.uid = Some("uid-1".into());
        t
    }

    #[test]
    fn the_capsule_tenant_carries_prefix_view_access_and_the_plan() {
        let desired = desired_capsule_tenant(
            &tenant(Plan {
                quota: Quota {
                    cpu: Some("4".into()),
                    pods: Some(10),
                    namespaces: Some(3),
                    ..Quota::default()
                },
                ingress_classes: vec!["nginx".into()],
                ..Plan::default()
            }),
            true,
        );
        let spec = &desired["spec"];
        assert_eq!(spec["preventDeletion"], true);
        assert_eq!(spec["forceTenantPrefix"], true);
        assert_eq!(spec["namespaceOptions"]["quota"], 3);
        assert_eq!(
            spec["ingressOptions"]["allowedClasses"]["allowed"][0],
            "nginx"
        );
        assert!(spec.get("storageClasses").is_none());
        assert_eq!(spec["rules"][0]["quota"][0]["hard"]["requests.cpu"], "4");
        assert_eq!(spec["rules"][0]["quota"][0]["hard"]["pods"], "10");
        assert_eq!(
            spec["additionalRoleBindings"][0]["subjects"][0]["name"],
            "kubenova:tenant:acme:view"
        );
        assert!(
            spec.get("owners").is_none(),
            "owners come from the TenantOwner"
        );
        assert!(spec.get("resourceQuotas").is_none(), "deprecated in v0.14");
    }

    #[test]
    fn the_younger_of_two_overlapping_tenants_gives_way() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let at = |name: &str, secs: i64| {
            let mut t = Tenant::new(name, TenantSpec::default());
            t.metadata.creation_timestamp = Some(Time(
                k8s_openapi::jiff::Timestamp::from_second(secs).expect("time"),
            ));
            t
        };
        let mut writer = kube::runtime::reflector::store::Writer::<Tenant>::default();
        for t in [at("a", 10), at("a-x", 20), at("ab", 5), at("b-a", 1)] {
            writer.apply_watcher_event(&watcher::Event::Apply(t));
        }
        let store = writer.as_reader();
        assert_eq!(
            older_overlapping(&at("a-x", 20), &store).as_deref(),
            Some("a")
        );
        assert_eq!(
            older_overlapping(&at("a", 10), &store),
            None,
            "the older keeps its name"
        );
        assert_eq!(older_overlapping(&at("ab", 5), &store), None);
        // Same second: the name decides.
        assert_eq!(
            older_overlapping(&at("a-x", 10), &store).as_deref(),
            Some("a")
        );
    }

    #[test]
    fn every_capsule_tenant_refuses_hosts_other_tenants_use() {
        let desired = desired_capsule_tenant(&tenant(Plan::default()), true);
        assert_eq!(
            desired["spec"]["ingressOptions"]["hostnameCollisionScope"],
            "Cluster"
        );
    }

    #[test]
    fn the_owner_is_the_owner_group_aggregated_as_a_capsule_user() {
        let desired = desired_owner(&tenant(Plan::default()));
        assert_eq!(desired["metadata"]["name"], "kubenova-acme-owner");
        assert_eq!(
            desired["metadata"]["labels"][CAPSULE_NEW_TENANT_LABEL],
            "acme"
        );
        assert_eq!(desired["spec"]["name"], "kubenova:tenant:acme:owner");
        assert_eq!(desired["spec"]["aggregate"], true);
    }
}
