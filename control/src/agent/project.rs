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

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt as _};
use kubenova_api::crd::{
    Isolation, Limits, NetworkPolicySettings, Project, ProjectStatus, Quota, Tenant, Usage,
};
use kubenova_api::names::project_namespace;
use kubenova_api::{identity, labels};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::apply::{self, Applied, Cached, FIELD_MANAGER, Trigger};
use super::cluster::{DEPLOYER_ROLE, PROJECT_DEV_ROLE};
use super::conditions::{condition, finish, was_ready};
use super::frame::{self, Reconciler};
use super::tenant::capsule_tenant_resource;
use super::{Error, Shared, managed_labels, managed_selector, owner_client};

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
    pub const DEPLOYER: &str = "kubenova-deployer";
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
        cleanup(project, self)
    }
}

/// The quota a project gets: its own, else the tenant plan's (without the namespace count).
pub(crate) fn quota_hard(project: &Project, tenant: &Tenant) -> BTreeMap<String, String> {
    let q: &Quota = project
        .spec
        .quota
        .as_ref()
        .unwrap_or(&tenant.spec.plan.quota);
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

pub(crate) fn limit_item(limits: &Limits) -> Value {
    let mut item = json!({ "type": "Container" });
    let mut default = serde_json::Map::new();
    let mut request = serde_json::Map::new();
    if let Some(v) = &limits.default_cpu_limit {
        default.insert("cpu".into(), json!(v));
    }
    if let Some(v) = &limits.default_memory_limit {
        default.insert("memory".into(), json!(v));
    }
    if let Some(v) = &limits.default_cpu_request {
        request.insert("cpu".into(), json!(v));
    }
    if let Some(v) = &limits.default_memory_request {
        request.insert("memory".into(), json!(v));
    }
    if !default.is_empty() {
        item["default"] = Value::Object(default);
    }
    if !request.is_empty() {
        item["defaultRequest"] = Value::Object(request);
    }
    item
}

/// The `kubenova-isolation` NetworkPolicy's spec: deny everything but traffic with the tenant
/// (or only the project's own namespace), DNS, and what the tenant's settings allow.
pub(crate) fn isolation_spec(tenant: &str, settings: &NetworkPolicySettings) -> Value {
    let inside = match settings.isolation {
        // A bare podSelector selects pods of the policy's own namespace.
        Isolation::Project => json!({ "podSelector": {} }),
        Isolation::Tenant => {
            json!({ "namespaceSelector": { "matchLabels": { labels::CAPSULE_TENANT: tenant } } })
        }
    };
    let namespace = |name: &String| json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": name } } });
    let mut from = vec![inside.clone()];
    from.extend(settings.allow_from_namespaces.iter().map(namespace));
    let mut to = vec![inside];
    to.extend(settings.allow_to_namespaces.iter().map(namespace));
    to.extend(settings.allow_egress.iter().map(|b| {
        let mut block = json!({ "cidr": b.cidr });
        if !b.except.is_empty() {
            block["except"] = json!(b.except);
        }
        json!({ "ipBlock": block })
    }));
    json!({
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{ "from": from }],
        "egress": [
            { "to": to },
            {
                "to": [{
                    "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "kube-system" } },
                    "podSelector": { "matchLabels": { "k8s-app": "kube-dns" } },
                }],
                "ports": [
                    { "protocol": "UDP", "port": 53 },
                    { "protocol": "TCP", "port": 53 },
                ],
            },
        ],
    })
}

/// Every object of the project except the namespace, as (kind, desired JSON).
pub fn desired_objects(project: &Project, tenant: &Tenant) -> Vec<(&'static str, Value)> {
    let (t, p) = (&project.spec.tenant, &project.spec.project);
    let ns = project_namespace(t, p);
    let meta = |name: &str| {
        json!({
            "name": name,
            "namespace": ns,
            "labels": managed_labels(t, Some(p)),
            "ownerReferences": [{
                "apiVersion": Project::api_version(&()),
                "kind": Project::kind(&()),
                "name": project.name_any(),
                "uid": project.uid().unwrap_or_default(),
                "controller": true,
                "blockOwnerDeletion": false,
            }],
        })
    };
    let limits = project
        .spec
        .limits
        .as_ref()
        .unwrap_or(&tenant.spec.plan.limits);
    let group = |name: String| json!([{ "kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name }]);
    vec![
        (
            "ResourceQuota",
            json!({
                "apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta(names::QUOTA),
                "spec": { "hard": quota_hard(project, tenant) },
            }),
        ),
        (
            "LimitRange",
            json!({
                "apiVersion": "v1", "kind": "LimitRange", "metadata": meta(names::LIMITS),
                "spec": { "limits": [limit_item(limits)] },
            }),
        ),
        (
            "NetworkPolicy",
            json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": meta(names::NETWORK_POLICY),
                "spec": isolation_spec(t, &tenant.spec.network_policy),
            }),
        ),
        (
            "RoleBinding",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": meta(names::DEV_BINDING),
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": PROJECT_DEV_ROLE },
                "subjects": group(identity::project_dev_group(t, p)),
            }),
        ),
        (
            "RoleBinding",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": meta(names::VIEW_BINDING),
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view" },
                "subjects": group(identity::project_view_group(t, p)),
            }),
        ),
        (
            "ServiceAccount",
            json!({
                "apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(names::DEPLOYER),
                // Nothing runs as the deployer (the agent's `kubenova-deployer-credentials`
                // policy refuses such pods and its tokens); no token is mounted either.
                "automountServiceAccountToken": false,
            }),
        ),
        (
            "RoleBinding",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": meta(names::DEPLOYER),
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": DEPLOYER_ROLE },
                "subjects": [{ "kind": "ServiceAccount", "name": names::DEPLOYER, "namespace": ns }],
            }),
        ),
    ]
}

/// The namespace of the project, complete (with [`labels::BASELINE`]). Capsule adds its owner
/// reference to the Capsule Tenant when the agent (acting as the tenant's owner) creates it.
pub fn desired_namespace(project: &Project, tenant: &Tenant) -> Value {
    namespace_manifest(project, tenant, true)
}

/// The namespace of the project; `baseline`: whether to mark it as having its baseline objects.
fn namespace_manifest(project: &Project, tenant: &Tenant, baseline: bool) -> Value {
    let (t, p) = (&project.spec.tenant, &project.spec.project);
    let level = project
        .spec
        .pod_security
        .unwrap_or(tenant.spec.pod_security)
        .label();
    let mut l = managed_labels(t, Some(p));
    l[labels::CAPSULE_TENANT] = json!(t);
    pod_security_labels(&mut l, level);
    if baseline {
        l[labels::BASELINE] = json!(labels::BASELINE_VALUE);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": project_namespace(t, p), "labels": l },
    })
}

/// Sets the Pod Security labels (`enforce`, `warn`, `audit`, each at `latest`) to `level`.
pub(crate) fn pod_security_labels(l: &mut Value, level: &str) {
    for mode in ["enforce", "warn", "audit"] {
        l[format!("{}{mode}", labels::POD_SECURITY_PREFIX)] = json!(level);
        l[format!("{}{mode}-version", labels::POD_SECURITY_PREFIX)] = json!("latest");
    }
}

/// Whether `ns` carries the agent's baseline mark.
pub(crate) fn has_baseline(ns: &Namespace) -> bool {
    ns.labels().get(labels::BASELINE).map(String::as_str) == Some(labels::BASELINE_VALUE)
}

/// Whether a namespace was made by KubeNova for this project: Capsule's owner reference names
/// this tenant's Capsule Tenant (by uid, while it exists: `capsule_uid`), and the project's
/// labels, which only the agent may write (the namespace policy of ADR 0009), are on it.
fn namespace_is_ours(
    ns: &Namespace,
    tenant: &str,
    project: &str,
    capsule_uid: Option<&str>,
) -> bool {
    let l = ns.labels();
    let owned = super::capsule_owner(ns)
        .is_some_and(|(name, uid)| name == tenant && capsule_uid.is_none_or(|u| u == uid));
    owned
        && l.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
        && l.get(labels::TENANT).map(String::as_str) == Some(tenant)
        && l.get(labels::PROJECT).map(String::as_str) == Some(project)
}

/// The uid of tenant `t`'s Capsule Tenant, if the agent's cache holds it.
fn capsule_uid(ctx: &Ctx, tenant: &str) -> Option<String> {
    ctx.capsule_tenants.get(None, tenant).and_then(|c| c.uid())
}

enum NamespaceState {
    Ready,
    Waiting(&'static str, String),
    Conflict(String),
}

async fn ensure_namespace(
    project: &Project,
    tenant: &Tenant,
    ctx: &Ctx,
) -> Result<(NamespaceState, Applied), Error> {
    let (t, p) = (&project.spec.tenant, &project.spec.project);
    let name = project_namespace(t, p);
    let api: Api<Namespace> = Api::all(ctx.shared.client.clone());
    let as_owner: Api<Namespace> = Api::all(owner_client(&ctx.shared.client, t));
    let metrics = &ctx.shared.metrics;
    let desired = namespace_manifest(project, tenant, false);
    let live = match ctx.namespaces.get(None, &name) {
        Some(ns) => Some(ns),
        // Not one of ours (the watch sees only those): ask the apiserver itself.
        None => api.get_opt(&name).await?,
    };
    let Some(live) = live else {
        return match apply::create(&as_owner, &ctx.namespaces, desired, metrics).await {
            Ok(_) => {
                // Now apply (adds the hash annotation, owns the fields with our manager).
                let desired = namespace_manifest(project, tenant, false);
                apply::ensure(&as_owner, &ctx.namespaces, desired, metrics).await?;
                Ok((NamespaceState::Ready, Applied::Created))
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok((
                NamespaceState::Waiting("Creating", format!("namespace {name} appeared meanwhile")),
                Applied::Unchanged,
            )),
            // Capsule refused (the plan's namespace count is reached, say): say why.
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 400 || s.code == 422 => Ok((
                NamespaceState::Waiting(
                    "Refused",
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
                "Terminating",
                format!("namespace {name} is being deleted; it will be made again"),
            ),
            Applied::Unchanged,
        ));
    }
    let uid = capsule_uid(ctx, t);
    if !namespace_is_ours(&live, t, p, uid.as_deref()) {
        let owner = match (
            live.labels().get(labels::TENANT),
            live.labels().get(labels::PROJECT),
        ) {
            (Some(ot), Some(op)) => format!("KubeNova project {ot}.{op}"),
            _ => match live.labels().get(labels::CAPSULE_TENANT) {
                Some(ct) => format!("a namespace of tenant {ct} not made by KubeNova"),
                None => "a namespace not made by KubeNova".to_owned(),
            },
        };
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

async fn apply_project(project: &Project, ctx: &Ctx) -> Result<Action, Error> {
    let name = project.name_any();
    let (t, p) = (&project.spec.tenant, &project.spec.project);
    let ns = project_namespace(t, p);
    let generation = project.meta().generation;
    let previous = project.status.clone().unwrap_or_default();
    let healing = was_ready(&previous.conditions, generation);
    let metrics = &ctx.shared.metrics;

    // The namespace can only be made once Capsule lists the owner group on its Tenant.
    let tenant = ctx.tenants.get(None, t).filter(|tenant| {
        tenant.meta().deletion_timestamp.is_none()
            && ctx.capsule_tenants.get(None, t).is_some()
            && tenant.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "CapsuleTenantReady" && c.status == "True")
            })
    });
    let Some(tenant) = tenant else {
        let message = format!(
            "tenant {t} does not exist, is being deleted, or Capsule has not made it ready yet"
        );
        let conditions = finish(
            vec![condition(
                "TenantReady",
                false,
                "TenantNotReady",
                message,
                generation,
            )],
            &previous.conditions,
            generation,
        );
        let status = ProjectStatus {
            conditions,
            observed_generation: generation,
            namespace: previous.namespace.clone(),
            usage: previous.usage.clone(),
        };
        write_status(ctx, &name, &previous, status).await?;
        metrics.converged(CONTROLLER, &name, false);
        return Ok(Action::requeue(Duration::from_secs(5)));
    };

    let (ns_state, ns_applied) = ensure_namespace(project, &tenant, ctx).await?;
    if healing && ns_applied != Applied::Unchanged {
        heal(ctx, project, ns_applied, ("v1", "Namespace", None, &ns)).await;
    }
    let tenant_cond = condition(
        "TenantReady",
        true,
        "Ready",
        format!("tenant {t} exists"),
        generation,
    );
    let ns_cond = match &ns_state {
        NamespaceState::Ready => condition(
            "NamespaceReady",
            true,
            "Ready",
            format!("namespace {ns}"),
            generation,
        ),
        NamespaceState::Waiting(reason, msg) => {
            condition("NamespaceReady", false, reason, msg.clone(), generation)
        }
        NamespaceState::Conflict(msg) => condition(
            "NamespaceReady",
            false,
            "NamespaceConflict",
            msg.clone(),
            generation,
        ),
    };
    if !matches!(ns_state, NamespaceState::Ready) {
        let conflict = matches!(ns_state, NamespaceState::Conflict(_));
        let already_said = previous
            .conditions
            .iter()
            .any(|c| c.type_ == "NamespaceReady" && c.reason == ns_cond.reason);
        if conflict && !already_said {
            ctx.shared
                .event(
                    &project.object_ref(&()),
                    true,
                    "NamespaceConflict",
                    "Reconcile",
                    ns_cond.message.clone(),
                    None,
                )
                .await;
        }
        let status = ProjectStatus {
            conditions: finish(vec![tenant_cond, ns_cond], &previous.conditions, generation),
            observed_generation: generation,
            namespace: None,
            usage: None,
        };
        write_status(ctx, &name, &previous, status).await?;
        metrics.converged(CONTROLLER, &name, false);
        // A conflict can be a passing race (Capsule's or our cache a step behind a tenant
        // deleted and made again under the same name), so it is looked at again soon; the
        // watches on namespaces and Capsule Tenants usually come first.
        return Ok(Action::requeue(Duration::from_secs(if conflict {
            15
        } else {
            2
        })));
    }

    let client = &ctx.shared.client;
    for (kind, desired) in desired_objects(project, &tenant) {
        let api_version = desired["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let object = desired["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let applied = match kind {
            "ResourceQuota" => {
                apply::ensure(
                    &Api::namespaced(client.clone(), &ns),
                    &ctx.quotas,
                    desired,
                    metrics,
                )
                .await?
            }
            "LimitRange" => {
                apply::ensure(
                    &Api::namespaced(client.clone(), &ns),
                    &ctx.limits,
                    desired,
                    metrics,
                )
                .await?
            }
            "NetworkPolicy" => {
                apply::ensure(
                    &Api::namespaced(client.clone(), &ns),
                    &ctx.policies,
                    desired,
                    metrics,
                )
                .await?
            }
            "RoleBinding" => {
                apply::ensure(
                    &Api::namespaced(client.clone(), &ns),
                    &ctx.bindings,
                    desired,
                    metrics,
                )
                .await?
            }
            _ => {
                apply::ensure(
                    &Api::namespaced(client.clone(), &ns),
                    &ctx.accounts,
                    desired,
                    metrics,
                )
                .await?
            }
        };
        if healing && applied != Applied::Unchanged {
            heal(
                ctx,
                project,
                applied,
                (&api_version, kind, Some(&ns), &object),
            )
            .await;
        }
    }

    let hard = quota_hard(project, &tenant);
    let quota = ctx.quotas.get(Some(&ns), names::QUOTA);
    let usage = quota
        .as_ref()
        .and_then(|q| q.status.as_ref())
        .map(|s| Usage {
            hard: s
                .hard
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            used: s
                .used
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
        });
    let quota_ok = usage
        .as_ref()
        .is_some_and(|u| hard.keys().all(|k| u.hard.contains_key(k)));
    let access_ok = [names::DEV_BINDING, names::VIEW_BINDING, names::DEPLOYER]
        .iter()
        .all(|b| ctx.bindings.get(Some(&ns), b).is_some())
        && ctx.accounts.get(Some(&ns), names::DEPLOYER).is_some();
    let np_ok = ctx.policies.get(Some(&ns), names::NETWORK_POLICY).is_some();
    let limits_ok = ctx.limits.get(Some(&ns), names::LIMITS).is_some();
    // Pods are admitted once the namespace is marked: only after its Pod Security labels (set
    // above), NetworkPolicy and LimitRange exist.
    if np_ok && limits_ok {
        let as_owner: Api<Namespace> = Api::all(owner_client(&ctx.shared.client, t));
        apply::ensure(
            &as_owner,
            &ctx.namespaces,
            namespace_manifest(project, &tenant, true),
            metrics,
        )
        .await?;
    }
    let conditions = finish(
        vec![
            tenant_cond,
            ns_cond,
            condition(
                "QuotaReady",
                quota_ok && limits_ok,
                if quota_ok && limits_ok {
                    "Enforced"
                } else {
                    "Pending"
                },
                if quota_ok {
                    format!(
                        "ResourceQuota {} and LimitRange {}",
                        names::QUOTA,
                        names::LIMITS
                    )
                } else {
                    "waiting for the quota controller to count the ResourceQuota".into()
                },
                generation,
            ),
            condition(
                "NetworkPolicyReady",
                np_ok,
                if np_ok { "Applied" } else { "Missing" },
                format!("NetworkPolicy {}", names::NETWORK_POLICY),
                generation,
            ),
            condition(
                "AccessReady",
                access_ok,
                if access_ok { "Applied" } else { "Missing" },
                "RoleBindings for developers, readers and the deployer".to_owned(),
                generation,
            ),
        ],
        &previous.conditions,
        generation,
    );
    let ready = quota_ok && limits_ok && np_ok && access_ok;
    let status = ProjectStatus {
        conditions,
        observed_generation: generation,
        namespace: Some(ns),
        usage,
    };
    write_status(ctx, &name, &previous, status).await?;
    metrics.converged(CONTROLLER, &name, ready);
    Ok(if ready {
        Action::requeue(ctx.shared.config.resync)
    } else {
        Action::requeue(Duration::from_secs(2))
    })
}

async fn write_status(
    ctx: &Ctx,
    name: &str,
    previous: &ProjectStatus,
    status: ProjectStatus,
) -> Result<(), Error> {
    if *previous == status {
        return Ok(());
    }
    let api: Api<Project> = Api::all(ctx.shared.client.clone());
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(json!({
            "apiVersion": Project::api_version(&()),
            "kind": Project::kind(&()),
            "status": status,
        })),
    )
    .await?;
    ctx.shared.metrics.write("status", "Project");
    Ok(())
}

async fn heal(
    ctx: &Ctx,
    project: &Project,
    applied: Applied,
    (api_version, kind, namespace, name): (&str, &str, Option<&str>, &str),
) {
    let object = match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    };
    let what = if applied == Applied::Created {
        "recreated (it had been deleted)"
    } else {
        "restored (it had been changed)"
    };
    tracing::info!(project = %project.name_any(), kind, object, what, "healed drift");
    ctx.shared.metrics.heal(CONTROLLER, kind);
    ctx.shared
        .event(
            &project.object_ref(&()),
            false,
            "Healed",
            "Heal",
            format!("{kind} {object} {what}"),
            Some(super::reference(api_version, kind, namespace, name)),
        )
        .await;
}

async fn cleanup(project: &Project, ctx: &Ctx) -> Result<Action, Error> {
    let (t, p) = (&project.spec.tenant, &project.spec.project);
    let name = project_namespace(t, p);
    // Its tokens stop working before its namespace goes (ADR 0010).
    crate::revocation::revoke_scope_here(
        &ctx.shared.client,
        &ctx.shared.config.namespace,
        t,
        Some(p),
        "agent: project deleted",
    )
    .await?;
    let api: Api<Namespace> = Api::all(ctx.shared.client.clone());
    let live = match ctx.namespaces.get(None, &name) {
        Some(ns) => Some(ns),
        None => api.get_opt(&name).await?,
    };
    let uid = capsule_uid(ctx, t);
    if let Some(ns) = live
        && namespace_is_ours(&ns, t, p, uid.as_deref())
    {
        if ns.meta().deletion_timestamp.is_none() {
            apply::delete(
                &api,
                Some(&ctx.namespaces),
                None,
                &name,
                "Namespace",
                &ctx.shared.metrics,
            )
            .await?;
        }
        // Wait until the namespace (and so everything in it) is gone.
        if api.get_opt(&name).await?.is_some() {
            return Err(Error::Waiting(format!("namespace {name} is being deleted")));
        }
    }
    ctx.shared
        .metrics
        .converged(CONTROLLER, &project.name_any(), true);
    tracing::info!(project = %project.name_any(), "project cleaned up");
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use kubenova_api::crd::{Plan, PodSecurity, ProjectSpec, TenantSpec};

    use super::*;

    fn fixtures(own_quota: Option<Quota>, pod_security: Option<PodSecurity>) -> (Project, Tenant) {
        let tenant = Tenant::new(
            "acme",
            TenantSpec {
                plan: Plan {
                    quota: Quota {
                        cpu: Some("4".into()),
                        namespaces: Some(3),
                        ..Quota::default()
                    },
                    limits: Limits {
                        default_cpu_request: Some("100m".into()),
                        ..Limits::default()
                    },
                    ..Plan::default()
                },
                ..TenantSpec::default()
            },
        );
        let project = Project::new(
            "acme.web",
            ProjectSpec {
                tenant: "acme".into(),
                project: "web".into(),
                quota: own_quota,
                pod_security,
                ..ProjectSpec::default()
            },
        );
        (project, tenant)
    }

    #[test]
    fn quota_comes_from_the_project_else_the_plan_without_namespaces() {
        let (project, tenant) = fixtures(None, None);
        let hard = quota_hard(&project, &tenant);
        assert_eq!(hard.get("requests.cpu").map(String::as_str), Some("4"));
        assert!(!hard.keys().any(|k| k.contains("namespace")));
        let (project, tenant) = fixtures(
            Some(Quota {
                pods: Some(5),
                ..Quota::default()
            }),
            None,
        );
        let hard = quota_hard(&project, &tenant);
        assert_eq!(hard.get("pods").map(String::as_str), Some("5"));
        assert!(!hard.contains_key("requests.cpu"));
    }

    #[test]
    fn the_namespace_is_labelled_with_tenant_project_capsule_and_pod_security() {
        let (project, tenant) = fixtures(None, Some(PodSecurity::Restricted));
        let ns = desired_namespace(&project, &tenant);
        let l = &ns["metadata"]["labels"];
        assert_eq!(ns["metadata"]["name"], "acme-web");
        assert_eq!(l[labels::TENANT], "acme");
        assert_eq!(l[labels::PROJECT], "web");
        assert_eq!(l[labels::CAPSULE_TENANT], "acme");
        assert_eq!(l["pod-security.kubernetes.io/enforce"], "restricted");
        let (project, tenant) = fixtures(None, None);
        let ns = desired_namespace(&project, &tenant);
        assert_eq!(
            ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "baseline"
        );
    }

    #[test]
    fn the_objects_bind_the_right_groups_and_allow_dns() {
        let (project, tenant) = fixtures(None, None);
        let objects = desired_objects(&project, &tenant);
        let find = |name: &str| {
            objects
                .iter()
                .find(|(_, o)| o["metadata"]["name"] == name)
                .map(|(_, o)| o.clone())
                .expect(name)
        };
        assert_eq!(
            find(names::DEV_BINDING)["subjects"][0]["name"],
            "kubenova:project:acme:web:dev"
        );
        assert_eq!(
            find(names::DEV_BINDING)["roleRef"]["name"],
            PROJECT_DEV_ROLE
        );
        assert_eq!(
            find(names::VIEW_BINDING)["subjects"][0]["name"],
            "kubenova:project:acme:web:view"
        );
        assert_eq!(find(names::DEPLOYER)["kind"], "ServiceAccount");
        let np = find(names::NETWORK_POLICY);
        assert_eq!(np["spec"]["egress"][1]["ports"][0]["port"], 53);
        assert_eq!(
            find(names::LIMITS)["spec"]["limits"][0]["defaultRequest"]["cpu"],
            "100m"
        );
    }

    #[test]
    fn the_isolation_follows_the_tenants_network_settings() {
        use kubenova_api::crd::IpBlock;
        let default = isolation_spec("acme", &NetworkPolicySettings::default());
        assert_eq!(
            default["ingress"],
            json!([{ "from": [{ "namespaceSelector": { "matchLabels": { labels::CAPSULE_TENANT: "acme" } } }] }])
        );
        assert_eq!(default["egress"][0]["to"], default["ingress"][0]["from"]);
        assert_eq!(default["egress"].as_array().map(Vec::len), Some(2));

        let open = isolation_spec(
            "acme",
            &NetworkPolicySettings {
                isolation: Isolation::Project,
                allow_from_namespaces: vec!["ingress-nginx".into()],
                allow_to_namespaces: vec!["shared-db".into()],
                allow_egress: vec![IpBlock {
                    cidr: "0.0.0.0/0".into(),
                    except: vec!["10.0.0.0/8".into()],
                }],
            },
        );
        let by_name = |n: &str| json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": n } } });
        assert_eq!(
            open["ingress"][0]["from"],
            json!([{ "podSelector": {} }, by_name("ingress-nginx")])
        );
        assert_eq!(
            open["egress"][0]["to"],
            json!([
                { "podSelector": {} },
                by_name("shared-db"),
                { "ipBlock": { "cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"] } },
            ])
        );
        assert_eq!(open["egress"][1], default["egress"][1], "DNS stays allowed");
    }
}
