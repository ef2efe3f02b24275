//! The App controller: each `App` in a project namespace becomes one KubeVela `Application`
//! (applied by Vela as the project's deployer ServiceAccount) and, for config files, one
//! ConfigMap; its status is what Vela reports (see [`crate::apps`]).
//!
//! Everything made for an App carries an owner reference to it, so deleting the App lets the
//! garbage collector remove the Application (whose own finalizer removes the workloads and
//! revisions), the ConfigMap and the credential Secrets the API stored for it. No finalizer is
//! needed.
//!
//! An App in a namespace that is not a KubeNova project namespace gets nothing but a condition
//! saying so. Without KubeVela in the cluster the controller waits for its CRDs.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt as _};
use kubenova_api::clock::rfc3339_now;
use kubenova_api::conditions::{self, ConditionType, Reason};
use kubenova_api::crd::{App, AppStatus, Condition};
use kubenova_api::labels;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::apply::{self, Cached, Trigger};
use super::frame::{self, Reconciler};
use super::project::names::DEPLOYER;
use super::{Error, Shared, managed_selector};
use crate::apps::pods;
use crate::apps::render::{self, APP_LABEL, Placement};
use crate::apps::status::{self, checks};

const CONTROLLER: &str = "app";

/// KubeVela's `Application` (core.oam.dev/v1beta1).
pub fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("core.oam.dev", "v1beta1", "Application"),
        "applications",
    )
}

pub use kubenova_api::apps::revision_resource;

struct Ctx {
    shared: Shared,
    applications: Cached<DynamicObject>,
    config_maps: Cached<ConfigMap>,
    namespaces: Cached<Namespace>,
}

impl Ctx {
    /// Waits until every cache is complete.
    async fn ready(&self) {
        self.applications.ready().await;
        self.config_maps.ready().await;
        self.namespaces.ready().await;
    }
}

fn app_of<K: Resource>(object: &K) -> Option<ObjectRef<App>> {
    let name = object.meta().labels.as_ref()?.get(APP_LABEL)?;
    Some(ObjectRef::new(name).within(object.meta().namespace.as_deref()?))
}

/// Runs the controller until `stop` is cancelled, on the shared cache of namespaces (with this
/// controller's own trigger).
pub(crate) async fn run(
    shared: Shared,
    stop: CancellationToken,
    (namespaces, ns_stream): (Cached<Namespace>, Trigger<Namespace>),
) {
    let client = shared.client.clone();
    let (apps, [app_trigger]) = apply::watch(
        Api::<App>::all(client.clone()),
        watcher::Config::default(),
        (),
        &stop,
    );
    let ar = application_resource();
    let (applications, [app_stream]) = apply::watch(
        Api::<DynamicObject>::all_with(client.clone(), &ar),
        managed_selector(),
        ar.clone(),
        &stop,
    );
    let (config_maps, [cm_stream]) = apply::watch(
        Api::<ConfigMap>::all(client.clone()),
        managed_selector(),
        (),
        &stop,
    );
    let concurrency = shared.config.concurrency;
    let ctx = Ctx {
        shared,
        applications,
        config_maps,
        namespaces,
    };
    let controller = Controller::for_stream(app_trigger, apps.store())
        .with_config(controller::Config::default().concurrency(concurrency));
    let apps = apps.store();
    let in_namespace = move |ns: Namespace| -> Vec<ObjectRef<App>> {
        let name = ns.name_any();
        apps.state()
            .iter()
            .filter(|a| a.namespace().as_deref() == Some(name.as_str()))
            .map(|a| ObjectRef::from_obj(&**a))
            .collect()
    };
    let controller = controller
        .watches_stream_with(app_stream, |o: DynamicObject| app_of(&o), ar)
        .watches_stream(cm_stream, |o: ConfigMap| app_of(&o))
        .watches_stream(ns_stream, in_namespace);
    frame::run(controller, ctx, stop).await;
}

impl Reconciler for Ctx {
    type Object = App;
    const CONTROLLER: &'static str = CONTROLLER;
    /// No finalizer: owner references let the garbage collector remove what was made.
    const FINALIZER: bool = false;

    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn api(&self, app: &App) -> Api<App> {
        Api::namespaced(
            self.shared.client.clone(),
            &app.namespace().unwrap_or_default(),
        )
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        Ctx::ready(self)
    }

    fn apply(&self, app: &App) -> impl Future<Output = Result<Action, Error>> + Send {
        apply_app(app, self)
    }

    fn cleanup(&self, _: &App) -> impl Future<Output = Result<Action, Error>> + Send {
        std::future::ready(Ok(Action::await_change()))
    }
}

/// The owner reference everything made for `app` carries.
fn owner(app: &App) -> Value {
    json!([{
        "apiVersion": App::api_version(&()),
        "kind": App::kind(&()),
        "name": app.name_any(),
        "uid": app.uid().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

async fn apply_app(app: &App, ctx: &Ctx) -> Result<Action, Error> {
    if app.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = app.namespace().unwrap_or_default();
    let name = app.name_any();
    let previous = app.status.clone().unwrap_or_default();
    let ns_labels = ctx
        .namespaces
        .get(None, &namespace)
        .and_then(|ns| ns.metadata.labels);
    let placement = ns_labels.as_ref().and_then(|l| {
        Some((
            l.get(labels::TENANT)?.clone(),
            l.get(labels::PROJECT)?.clone(),
        ))
    });
    let Some((tenant, project)) = placement else {
        let status = refused(
            app,
            &previous,
            Reason::NotInProject,
            format!(
                "{namespace} is not a KubeNova project namespace; apps live in project namespaces"
            ),
        );
        write_status(ctx, app, &previous, status).await?;
        return Ok(Action::await_change());
    };
    let at = Placement {
        tenant: &tenant,
        project: &project,
        deployer: DEPLOYER,
    };
    let mut application = match render::application(app, at) {
        Ok(v) => v,
        Err(e) => {
            let status = refused(app, &previous, Reason::Invalid, e.to_string());
            write_status(ctx, app, &previous, status).await?;
            return Ok(Action::await_change());
        }
    };
    application["metadata"]["ownerReferences"] = owner(app);
    let applied_version = application["metadata"]["annotations"]
        [render::PUBLISH_VERSION_ANNOTATION]
        .as_str()
        .map(str::to_owned);
    if let Some(mut cm) = render::files_config_map(app, at).unwrap_or_default() {
        cm["metadata"]["ownerReferences"] = owner(app);
        let api: Api<ConfigMap> = Api::namespaced(ctx.shared.client.clone(), &namespace);
        apply::ensure(&api, &ctx.config_maps, cm, &ctx.shared.metrics).await?;
    }
    let ar = application_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.shared.client.clone(), &namespace, &ar);
    apply::ensure(&api, &ctx.applications, application, &ctx.shared.metrics).await?;
    let live = ctx
        .applications
        .get(Some(&namespace), &name)
        .and_then(|o| serde_json::to_value(o).ok());
    let mut found = match &live {
        Some(live) => observe(ctx, app, &namespace, live).await?,
        None => status::Found::default(),
    };
    found.applied_version = applied_version;
    let now = rfc3339_now();
    let timeout = ctx.shared.config.app_delivery_timeout;
    let status = status::derive(
        &app.spec,
        app.meta().generation,
        live.as_ref(),
        &found,
        Some(&previous),
        (&now, timeout),
    );
    let ready = conditions::holds(&status.conditions, ConditionType::Ready);
    let phase = status.phase.clone().unwrap_or_default();
    let give_up_in = status::give_up_in(&status, &now, timeout);
    write_status(ctx, app, &previous, status).await?;
    Ok(if ready {
        Action::requeue(ctx.shared.config.resync)
    } else if phase == status::PROGRESSING || phase == status::WAITING_FOR_SECRETS {
        // Pods starting and Secrets being made wake nothing the agent watches: look again soon.
        Action::requeue(Duration::from_secs(3))
    } else if let Some(left) = give_up_in.filter(|d| !d.is_zero()) {
        // Give up on time: check again when the delivery timeout is reached.
        Action::requeue(left.min(Duration::from_secs(30)) + Duration::from_secs(1))
    } else {
        // Vela's own status changes wake us too; this only bounds how stale a status can get.
        Action::requeue(Duration::from_secs(30))
    })
}

/// Flux's `HelmRelease` (helm.toolkit.fluxcd.io/v2).
fn helm_release_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        "helmreleases",
    )
}

/// A Flux source kind (source.toolkit.fluxcd.io/v1).
fn source_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", kind),
        plural,
    )
}

/// Reads `name` of `ar` in `namespace` with the agent's client; a kind that is not installed
/// (or an object that does not exist) is `None`.
async fn read(
    ctx: &Ctx,
    ar: &ApiResource,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.shared.client.clone(), namespace, ar);
    match api.get_opt(name).await {
        Ok(found) => Ok(found.and_then(|o| serde_json::to_value(o).ok())),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What the app's status needs besides the Application, read from the app's own namespace:
/// missing Secrets, Flux's errors for a chart, and (once Vela says `running`) whether the
/// workloads have rolled out. See [`status::checks`].
async fn observe(
    ctx: &Ctx,
    app: &App,
    namespace: &str,
    live: &Value,
) -> Result<status::Found, Error> {
    let client = ctx.shared.client.clone();
    let name = app.name_any();
    let mut found = status::Found::default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for used in checks::secret_uses(&app.spec) {
        let keys = secrets.get_opt(&used.name).await?.map(|s| {
            s.data
                .unwrap_or_default()
                .into_keys()
                .chain(s.string_data.unwrap_or_default().into_keys())
                .collect::<BTreeSet<String>>()
        });
        found
            .missing_secrets
            .extend(checks::missing_secret(&used, namespace, keys.as_ref()));
    }
    let mut workloads = Vec::new();
    let running = live["status"]["status"] == "running" && !app.spec.suspended;
    if let Some(helm) = &app.spec.helm {
        let release = read(ctx, &helm_release_resource(), namespace, &name).await?;
        let source_name = format!("{name}-source");
        let source = if helm.repo.starts_with("oci://") {
            read(
                ctx,
                &source_resource("OCIRepository", "ocirepositories"),
                namespace,
                &source_name,
            )
            .await?
        } else {
            read(
                ctx,
                &source_resource("HelmRepository", "helmrepositories"),
                namespace,
                &source_name,
            )
            .await?
        };
        // helm-controller names the HelmChart it makes `<namespace>-<release>` in the source's
        // namespace (the app's) and records it as `status.helmChart` (`namespace/name`).
        let chart_name = release
            .as_ref()
            .and_then(|r| r["status"]["helmChart"].as_str())
            .and_then(|c| c.split_once('/'))
            .filter(|(ns, _)| *ns == namespace)
            .map_or_else(|| format!("{namespace}-{name}"), |(_, n)| n.to_owned());
        let chart = read(
            ctx,
            &source_resource("HelmChart", "helmcharts"),
            namespace,
            &chart_name,
        )
        .await?;
        found.delivery_error =
            checks::flux_error(helm, source.as_ref(), chart.as_ref(), release.as_ref());
        if running {
            let selector = ListParams::default().labels(&pods::release_selector(&name, namespace));
            for d in Api::<Deployment>::namespaced(client.clone(), namespace)
                .list(&selector)
                .await?
            {
                workloads.push(("deployment", serde_json::to_value(d).unwrap_or_default()));
            }
            for s in Api::<StatefulSet>::namespaced(client.clone(), namespace)
                .list(&selector)
                .await?
            {
                workloads.push(("statefulset", serde_json::to_value(s).unwrap_or_default()));
            }
        }
    } else if running {
        match Api::<Deployment>::namespaced(client.clone(), namespace)
            .get_opt(&name)
            .await?
        {
            Some(d) => workloads.push(("deployment", serde_json::to_value(d).unwrap_or_default())),
            None => found.rollout = Some(format!("deployment {name} is not created yet")),
        }
    }
    if found.rollout.is_none() {
        found.rollout = checks::rollout(&workloads);
    }
    Ok(found)
}

/// A status that says why nothing was made.
fn refused(app: &App, previous: &AppStatus, reason: Reason, message: String) -> AppStatus {
    let was = conditions::find(&previous.conditions, ConditionType::Ready);
    let last_transition_time = match was {
        Some(c) if !c.holds() && c.has_reason(reason) => c.last_transition_time.clone(),
        _ => Some(rfc3339_now()),
    };
    AppStatus {
        kind: Some(
            if app.spec.helm.is_some() {
                "helm"
            } else {
                "image"
            }
            .into(),
        ),
        phase: Some("refused".into()),
        last_error: Some(message.clone()),
        conditions: vec![Condition {
            last_transition_time,
            ..Condition::new(
                ConditionType::Ready,
                false,
                reason,
                message,
                app.meta().generation,
            )
        }],
        observed_generation: app.meta().generation,
        ..AppStatus::default()
    }
}

async fn write_status(
    ctx: &Ctx,
    app: &App,
    previous: &AppStatus,
    status: AppStatus,
) -> Result<(), Error> {
    ctx.shared
        .write_status(&ctx.api(app), app, previous, status)
        .await
}
