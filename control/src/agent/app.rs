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

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
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
use crate::apps::render::{self, APP_LABEL, Placement};
use crate::apps::status;

const CONTROLLER: &str = "app";

/// KubeVela's `Application` (core.oam.dev/v1beta1).
pub fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("core.oam.dev", "v1beta1", "Application"),
        "applications",
    )
}

/// KubeVela's `ApplicationRevision` (core.oam.dev/v1beta1).
pub fn revision_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("core.oam.dev", "v1beta1", "ApplicationRevision"),
        "applicationrevisions",
    )
}

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
    let status = status::derive(
        &app.spec,
        app.meta().generation,
        live.as_ref(),
        Some(&previous),
        &rfc3339_now(),
    );
    let ready = conditions::holds(&status.conditions, ConditionType::Ready);
    write_status(ctx, app, &previous, status).await?;
    Ok(if ready {
        Action::requeue(ctx.shared.config.resync)
    } else {
        // Vela's own status changes wake us too; this only bounds how stale a status can get.
        Action::requeue(Duration::from_secs(30))
    })
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
