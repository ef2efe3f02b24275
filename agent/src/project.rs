//! The Project controller: a KubeNova `Project` `<t>.<p>` becomes, in the namespace `<t>-<p>`:
//!
//! | object | name | why |
//! |---|---|---|
//! | Namespace | `<t>-<p>` | labelled with the tenant, the project, Capsule's tenant label and the Pod Security level; owner-referenced to the Capsule Tenant, which is how Capsule counts it as the tenant's |
//! | ResourceQuota | `kubenova-quota` | the project's quota, else the plan's |
//! | LimitRange | `kubenova-limits` | container defaults, from the project else the plan |
//! | NetworkPolicy | `kubenova-isolation` | deny by default; allow DNS, traffic inside the tenant (or only the project, per the tenant's `networkPolicy`) and the namespaces and address blocks the tenant's settings allow |
//! | RoleBinding | `kubenova-dev` | `kubenova-project-dev` for `kubenova:project:<t>:<p>:dev` |
//! | RoleBinding | `kubenova-view` | `view` for `kubenova:project:<t>:<p>:view` |
//! | ServiceAccount | `kubenova-deployer` | the identity apps are delivered as |
//! | RoleBinding | `kubenova-deployer` | `edit` for the deployer, in this namespace only |
//!
//! A namespace of that name that KubeNova did not make for this project is never touched: the
//! project reports `NamespaceReady=False` with reason `NamespaceConflict`. "Made for this
//! project" means: owned (Capsule's owner reference, by uid) by this tenant's Capsule Tenant and
//! carrying the project's KubeNova labels, which only the agent may write (ADR 0009).
//!
//! Once the objects above are in place the namespace gets [`labels::BASELINE`]; pods are refused
//! in a tenant namespace without it.

mod deletion;
mod namespace;
mod plan;
mod status;

use std::future::Future;

use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::DynamicObject;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt as _};
use kubenova_api::conditions::{self, ConditionType, Reason};
use kubenova_api::crd::{Project, Tenant};
use kubenova_api::labels;
use kubenova_api::names::project_namespace;
use tokio_util::sync::CancellationToken;

use self::namespace::{NamespaceState, ensure_namespace};
use self::plan::{Kind, Planned, namespace_manifest, plan, quota_hard};
pub use self::plan::{desired_namespace, desired_objects};
pub(crate) use self::plan::{hard, has_baseline, isolation_spec, limit_item, pod_security_labels};
use self::status::{Made, Observed};
use super::apply::{self, Applied, Cached, Trigger};
use super::conditions::was_ready;
use super::frame::{self, Reconciler};
use super::tenant::capsule_tenant_resource;
use super::{Error, Shared, managed_selector, owner_client, reference};

const CONTROLLER: &str = "project";

/// Names of the objects in a project namespace.
pub(crate) mod names {
    /// The ResourceQuota.
    pub const QUOTA: &str = "kubenova-quota";
    /// The LimitRange.
    pub const LIMITS: &str = "kubenova-limits";
    /// The NetworkPolicy.
    pub const NETWORK_POLICY: &str = "kubenova-isolation";
    /// The developers' RoleBinding.
    pub const DEV_BINDING: &str = "kubenova-dev";
    /// The readers' RoleBinding.
    pub const VIEW_BINDING: &str = "kubenova-view";
    /// The deployer ServiceAccount and its RoleBinding.
    pub use kubenova_api::names::DEPLOYER;
}

struct Ctx {
    shared: Shared,
    tenants: Cached<Tenant>,
    capsule_tenants: Cached<DynamicObject>,
    namespaces: Cached<Namespace>,
    quotas: Cached<ResourceQuota>,
    limits: Cached<LimitRange>,
    policies: Cached<NetworkPolicy>,
    bindings: Cached<RoleBinding>,
    accounts: Cached<ServiceAccount>,
}

impl Ctx {
    async fn ready(&self) {
        self.tenants.ready().await;
        self.capsule_tenants.ready().await;
        self.namespaces.ready().await;
        self.quotas.ready().await;
        self.limits.ready().await;
        self.policies.ready().await;
        self.bindings.ready().await;
        self.accounts.ready().await;
    }
}

fn project_of<K: Resource>(object: &K) -> Option<ObjectRef<Project>> {
    let l = object.meta().labels.as_ref()?;
    let tenant = l.get(labels::TENANT)?;
    let project = l.get(labels::PROJECT)?;
    Some(ObjectRef::new(&format!("{tenant}.{project}")))
}

/// The project of an object in a project namespace, from the namespace's labels (which only the
/// agent may write), not the object's own (which a tenant's admin may change); the object's
/// labels only while the namespace is not cached yet.
fn project_in_namespace<K: Resource>(
    namespaces: &Cached<Namespace>,
    object: &K,
) -> Option<ObjectRef<Project>> {
    match object
        .meta()
        .namespace
        .as_deref()
        .and_then(|ns| namespaces.get(None, ns))
    {
        Some(ns) => project_of(&ns),
        None => project_of(object),
    }
}

/// Runs the controller until `stop` is cancelled, on the shared caches of Tenants, Capsule
/// Tenants and namespaces (each with this controller's own trigger).
pub(crate) async fn run(
    shared: Shared,
    stop: CancellationToken,
    (tenants, tenant_stream): (Cached<Tenant>, Trigger<Tenant>),
    (capsule_tenants, ct_stream): (Cached<DynamicObject>, Trigger<DynamicObject>),
    (namespaces, ns_stream): (Cached<Namespace>, Trigger<Namespace>),
    (limits, lr_stream): (Cached<LimitRange>, Trigger<LimitRange>),
    (policies, np_stream): (Cached<NetworkPolicy>, Trigger<NetworkPolicy>),
) {
    let client = shared.client.clone();
    let (projects, [project_stream]) = apply::watch(
        Api::<Project>::all(client.clone()),
        watcher::Config::default(),
        (),
        &stop,
    );
    let (quotas, [rq_stream]) = apply::watch(
        Api::<ResourceQuota>::all(client.clone()),
        managed_selector(),
        (),
        &stop,
    );
    let (bindings, [rb_stream]) = apply::watch(
        Api::<RoleBinding>::all(client.clone()),
        managed_selector(),
        (),
        &stop,
    );
    let (accounts, [sa_stream]) = apply::watch(
        Api::<ServiceAccount>::all(client.clone()),
        managed_selector(),
        (),
        &stop,
    );
    let concurrency = shared.config.concurrency;
    let ctx = Ctx {
        shared,
        tenants,
        capsule_tenants,
        namespaces,
        quotas,
        limits,
        policies,
        bindings,
        accounts,
    };
    let controller = Controller::for_stream(project_stream, projects.store())
        .with_config(controller::Config::default().concurrency(concurrency));
    let projects = projects.store();
    let of_tenant = move |tenant: &str| -> Vec<ObjectRef<Project>> {
        projects
            .state()
            .iter()
            .filter(|p| p.spec.tenant == tenant)
            .map(|p| ObjectRef::from_obj(&**p))
            .collect()
    };
    let of_tenant2 = of_tenant.clone();
    let (ns_rq, ns_lr, ns_np, ns_rb, ns_sa) = (
        ctx.namespaces.clone(),
        ctx.namespaces.clone(),
        ctx.namespaces.clone(),
        ctx.namespaces.clone(),
        ctx.namespaces.clone(),
    );
    let controller = controller
        .watches_stream(tenant_stream, move |t: Tenant| of_tenant(&t.name_any()))
        .watches_stream_with(
            ct_stream,
            move |t: DynamicObject| of_tenant2(&t.name_any()),
            capsule_tenant_resource(),
        )
        .watches_stream(ns_stream, |o| project_of(&o))
        .watches_stream(rq_stream, move |o: ResourceQuota| {
            project_in_namespace(&ns_rq, &o)
        })
        .watches_stream(lr_stream, move |o: LimitRange| {
            project_in_namespace(&ns_lr, &o)
        })
        .watches_stream(np_stream, move |o: NetworkPolicy| {
            project_in_namespace(&ns_np, &o)
        })
        .watches_stream(rb_stream, move |o: RoleBinding| {
            project_in_namespace(&ns_rb, &o)
        })
        .watches_stream(sa_stream, move |o: ServiceAccount| {
            project_in_namespace(&ns_sa, &o)
        });
    frame::run(controller, ctx, stop).await;
}

impl Reconciler for Ctx {
    type Object = Project;
    const CONTROLLER: &'static str = CONTROLLER;
    const FINALIZER: bool = true;

    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn api(&self, _: &Project) -> Api<Project> {
        Api::all(self.shared.client.clone())
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        Ctx::ready(self)
    }

    fn apply(&self, project: &Project) -> impl Future<Output = Result<Action, Error>> + Send {
        apply_project(project, self)
    }

    fn cleanup(&self, project: &Project) -> impl Future<Output = Result<Action, Error>> + Send {
        deletion::cleanup(project, self)
    }
}
/// A project's reconcile: the ordered [`steps`], then the status from what they observed.
async fn apply_project(project: &Project, ctx: &Ctx) -> Result<Action, Error> {
    let name = project.name_any();
    let previous = project.status.clone().unwrap_or_default();
    let healing = was_ready(&previous.conditions, project.meta().generation);
    let observed = steps(project, ctx, healing).await?;
    let outcome = status::status(project, observed, &previous);
    if let Some(message) = outcome.announce_conflict {
        ctx.shared
            .event(
                &project.object_ref(&()),
                true,
                Reason::NamespaceConflict.as_str(),
                "Reconcile",
                message,
                None,
            )
            .await;
    }
    let api: Api<Project> = Api::all(ctx.shared.client.clone());
    ctx.shared
        .write_status(&api, project, &previous, outcome.status)
        .await?;
    ctx.shared
        .metrics
        .converged(CONTROLLER, &name, outcome.ready);
    Ok(outcome.requeue.action(ctx.shared.config.resync))
}

/// The steps, in order; each returns where the project stands if it cannot go on.
///
/// 1. The tenant: the namespace can only be made once Capsule lists the owner group on its
///    Tenant.
/// 2. The namespace, made as the tenant's owner; never one that is someone else's.
/// 3. The objects of the [`plan`], in order.
/// 4. The baseline mark on the namespace, once its NetworkPolicy and LimitRange exist.
///
/// With `healing` (the project was Ready for this generation), every object that had to be
/// written again is reported as a heal.
async fn steps(project: &Project, ctx: &Ctx, healing: bool) -> Result<Observed, Error> {
    let (t, p) = (&project.spec.tenant, &project.spec.project);
    let ns = project_namespace(t, p);
    let metrics = &ctx.shared.metrics;

    let Some(tenant) = ready_tenant(ctx, t) else {
        return Ok(Observed::TenantNotReady);
    };

    let (state, applied) = ensure_namespace(project, &tenant, ctx).await?;
    if healing && applied != Applied::Unchanged {
        heal(
            ctx,
            project,
            applied,
            "Namespace",
            &ns,
            reference("v1", "Namespace", None, &ns),
        )
        .await;
    }
    if state != NamespaceState::Ready {
        return Ok(Observed::Namespace(state));
    }

    for planned in plan(project, &tenant) {
        let (kind, name) = (planned.kind, planned.name);
        let applied = apply_planned(ctx, &ns, planned).await?;
        if healing && applied != Applied::Unchanged {
            let related = reference(kind.api_version(), kind.as_str(), Some(&ns), name);
            heal(
                ctx,
                project,
                applied,
                kind.as_str(),
                &format!("{ns}/{name}"),
                related,
            )
            .await;
        }
    }

    let made = Made {
        hard: quota_hard(project, &tenant),
        usage: ctx
            .quotas
            .get(Some(&ns), names::QUOTA)
            .and_then(|q| q.status)
            .map(|s| kubenova_api::crd::Usage {
                hard: s
                    .hard
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k, v.0))
                    .collect(),
                used: s
                    .used
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k, v.0))
                    .collect(),
            }),
        limits: ctx.limits.get(Some(&ns), names::LIMITS).is_some(),
        policy: ctx.policies.get(Some(&ns), names::NETWORK_POLICY).is_some(),
        access: [names::DEV_BINDING, names::VIEW_BINDING, names::DEPLOYER]
            .iter()
            .all(|b| ctx.bindings.get(Some(&ns), b).is_some())
            && ctx.accounts.get(Some(&ns), names::DEPLOYER).is_some(),
    };
    // Pods are admitted once the namespace is marked: only after its Pod Security labels (set
    // with the namespace), NetworkPolicy and LimitRange exist.
    if made.policy && made.limits {
        let as_owner: Api<Namespace> = Api::all(owner_client(&ctx.shared.client, t));
        apply::ensure(
            &as_owner,
            &ctx.namespaces,
            namespace_manifest(project, &tenant, true),
            metrics,
        )
        .await?;
    }
    Ok(Observed::Made(made))
}

/// Tenant `t`, if it is not being deleted and Capsule has made its Tenant ready.
fn ready_tenant(ctx: &Ctx, t: &str) -> Option<Tenant> {
    ctx.tenants.get(None, t).filter(|tenant| {
        tenant.meta().deletion_timestamp.is_none()
            && ctx.capsule_tenants.get(None, t).is_some()
            && tenant.status.as_ref().is_some_and(|s| {
                conditions::holds(&s.conditions, ConditionType::CapsuleTenantReady)
            })
    })
}

/// Applies one planned object with the cache of its kind.
async fn apply_planned(ctx: &Ctx, ns: &str, planned: Planned) -> Result<Applied, Error> {
    let client = &ctx.shared.client;
    let metrics = &ctx.shared.metrics;
    let manifest = planned.manifest;
    Ok(match planned.kind {
        Kind::ResourceQuota => {
            apply::ensure(
                &Api::namespaced(client.clone(), ns),
                &ctx.quotas,
                manifest,
                metrics,
            )
            .await?
        }
        Kind::LimitRange => {
            apply::ensure(
                &Api::namespaced(client.clone(), ns),
                &ctx.limits,
                manifest,
                metrics,
            )
            .await?
        }
        Kind::NetworkPolicy => {
            apply::ensure(
                &Api::namespaced(client.clone(), ns),
                &ctx.policies,
                manifest,
                metrics,
            )
            .await?
        }
        Kind::RoleBinding => {
            apply::ensure(
                &Api::namespaced(client.clone(), ns),
                &ctx.bindings,
                manifest,
                metrics,
            )
            .await?
        }
        Kind::ServiceAccount => {
            apply::ensure(
                &Api::namespaced(client.clone(), ns),
                &ctx.accounts,
                manifest,
                metrics,
            )
            .await?
        }
    })
}

async fn heal(
    ctx: &Ctx,
    project: &Project,
    applied: Applied,
    kind: &str,
    shown: &str,
    related: k8s_openapi::api::core::v1::ObjectReference,
) {
    ctx.shared
        .healed(
            CONTROLLER,
            &project.object_ref(&()),
            applied,
            (kind, shown),
            related,
        )
        .await;
}
