//! A project's deletion, in order (ADR 0018):
//!
//! 1. its tokens are revoked (ADR 0010);
//! 2. its apps are deleted and waited for: KubeNova `App`s, KubeVela `Application`s and Flux
//!    `HelmRelease`s in the namespace. KubeVela removes an app's workloads, and helm-controller
//!    uninstalls a chart, as the project's deployer; deleting the namespace at once deletes the
//!    deployer's RoleBinding beside them, and their finalizers then fail with Forbidden and are
//!    retried with ever longer backoffs, which can hold the namespace for many minutes;
//! 3. the namespace is deleted and waited for (everything left in it goes with it).
//!
//! If the apps are not gone [`APPS_GRACE`] after the deletion began (KubeVela or Flux stopped,
//! a finalizer stuck), the namespace is deleted anyway. While it waits, the project's `Ready`
//! condition says `Deleting` and what it waits for.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::controller::Action;
use kube::{Api, Client, Resource as _, ResourceExt as _};
use kubenova_api::conditions::{ConditionType, Reason};
use kubenova_api::crd::{Condition, Project, ProjectStatus};
use kubenova_api::names::project_namespace;

use super::namespace::{capsule_uid, namespace_is_ours};
use super::{CONTROLLER, Ctx};
use crate::Error;
use crate::app::application_resource;
use crate::apply;
use crate::conditions::condition;
use crate::metrics::Metrics;

/// How long the apps of a deleted project may take to go before its namespace is deleted anyway.
pub(crate) const APPS_GRACE: Duration = Duration::from_secs(180);

/// The kinds removed before the namespace, in the order they are deleted.
fn app_kinds() -> [ApiResource; 3] {
    [
        ApiResource::erase::<kubenova_api::crd::App>(&()),
        application_resource(),
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
            "helmreleases",
        ),
    ]
}

/// Deletes every app object in `ns` not being deleted yet; returns those still there
/// (`Kind/name`), being deleted now or before. A kind whose CRD is not installed has none.
pub(crate) async fn remove_apps(
    client: &Client,
    ns: &str,
    metrics: &Metrics,
) -> Result<Vec<String>, Error> {
    let mut left = Vec::new();
    for kind in app_kinds() {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &kind);
        let items = match api.list(&ListParams::default()).await {
            Ok(list) => list.items,
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(e.into()),
        };
        for item in items {
            let name = item.metadata.name.clone().unwrap_or_default();
            if item.metadata.deletion_timestamp.is_none() {
                match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => metrics.write("delete", &kind.kind),
                    Err(kube::Error::Api(s)) if s.code == 404 => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            left.push(format!("{}/{name}", kind.kind));
        }
    }
    Ok(left)
}

/// Whether the apps of `project` have had their time: [`APPS_GRACE`] since its deletion began.
pub(crate) fn grace_over(project: &Project) -> bool {
    project.meta().deletion_timestamp.as_ref().is_some_and(|t| {
        Timestamp::now().as_second() - t.0.as_second() >= APPS_GRACE.as_secs() as i64
    })
}

/// What a deletion waiting for `left` (apps) says, or for the namespace when `left` is empty.
pub(crate) fn waiting_message(ns: &str, left: &[String], grace_over: bool) -> String {
    match (left, grace_over) {
        ([], _) => format!("namespace {ns} is being deleted"),
        (left, false) => format!(
            "removing the apps before namespace {ns} (as the deployer, while it may): {}",
            left.join(", ")
        ),
        (left, true) => format!(
            "namespace {ns} is being deleted; these apps were not gone after {}s and go with it: {}",
            APPS_GRACE.as_secs(),
            left.join(", ")
        ),
    }
}

/// The status of a project being deleted: its conditions as they were, with `Ready` false for
/// reason `Deleting` and `message` (the transition time kept while it stays false).
pub(crate) fn deleting(
    previous: &ProjectStatus,
    message: String,
    generation: Option<i64>,
) -> ProjectStatus {
    let mut ready: Condition = condition(
        ConditionType::Ready,
        false,
        Reason::Deleting,
        message,
        generation,
    );
    let before = previous.conditions.iter().find(|c| c.type_ == ready.type_);
    ready.last_transition_time = match before {
        Some(c) if c.status == ready.status => c.last_transition_time.clone(),
        _ => Some(kubenova_api::clock::rfc3339_now()),
    };
    let mut conditions: Vec<Condition> = previous
        .conditions
        .iter()
        .filter(|c| c.type_ != ready.type_)
        .cloned()
        .collect();
    conditions.push(ready);
    ProjectStatus {
        conditions,
        ..previous.clone()
    }
}

/// A project's deletion, in the order this module explains: tokens, apps, namespace.
pub(super) async fn cleanup(project: &Project, ctx: &Ctx) -> Result<Action, Error> {
    let (t, p) = (&project.spec.tenant, &project.spec.project);
    let name = project_namespace(t, p);
    // Its tokens stop working before its namespace goes (ADR 0010).
    kubenova_revocation::revoke_scope_here(
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
            let left = remove_apps(&ctx.shared.client, &name, &ctx.shared.metrics).await?;
            if !left.is_empty() {
                if !grace_over(project) {
                    let message = waiting_message(&name, &left, false);
                    return waiting(project, ctx, message).await;
                }
                let message = waiting_message(&name, &left, true);
                tracing::warn!(project = %project.name_any(), %message, "apps not gone in time");
                ctx.shared
                    .event(
                        &project.object_ref(&()),
                        true,
                        Reason::Deleting.as_str(),
                        "Delete",
                        message,
                        None,
                    )
                    .await;
            }
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
            return waiting(project, ctx, waiting_message(&name, &[], false)).await;
        }
    }
    ctx.shared
        .metrics
        .converged(CONTROLLER, &project.name_any(), true);
    tracing::info!(project = %project.name_any(), "project cleaned up");
    Ok(Action::await_change())
}

/// A deletion that waits: the project's status says for what, and the frame looks again soon.
async fn waiting(project: &Project, ctx: &Ctx, message: String) -> Result<Action, Error> {
    let previous = project.status.clone().unwrap_or_default();
    let status = deleting(&previous, message.clone(), project.meta().generation);
    let api: Api<Project> = Api::all(ctx.shared.client.clone());
    ctx.shared
        .write_status(&api, project, &previous, status)
        .await?;
    Err(Error::Waiting(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(status: &str, reason: &str, at: &str) -> Condition {
        Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            last_transition_time: Some(at.into()),
            observed_generation: Some(1),
        }
    }

    #[test]
    fn a_deleting_project_is_not_ready_and_says_what_it_waits_for() {
        let other = Condition {
            type_: "NamespaceReady".into(),
            ..ready("True", "Ready", "t0")
        };
        let previous = ProjectStatus {
            conditions: vec![other.clone(), ready("True", "Reconciled", "t0")],
            namespace: Some("a-b".into()),
            ..ProjectStatus::default()
        };
        let first = deleting(&previous, "waiting".into(), Some(1));
        assert_eq!(first.namespace.as_deref(), Some("a-b"));
        assert_eq!(first.conditions[0], other, "the other conditions stay");
        let r = &first.conditions[1];
        assert_eq!(
            (r.type_.as_str(), r.status.as_str(), r.reason.as_str()),
            ("Ready", "False", "Deleting")
        );
        assert_eq!(r.message, "waiting");
        assert_ne!(r.last_transition_time.as_deref(), Some("t0"), "it changed");
        // Waiting for something else later keeps the time it became false.
        let second = deleting(&first, "other".into(), Some(1));
        assert_eq!(
            second.conditions[1].last_transition_time,
            r.last_transition_time
        );
        assert_eq!(second.conditions[1].message, "other");
        assert_eq!(second.conditions.len(), 2);
    }

    #[test]
    fn the_message_names_the_apps_then_the_namespace() {
        let left = vec!["App/blog".to_owned(), "HelmRelease/blog".to_owned()];
        assert_eq!(
            waiting_message("a-b", &left, false),
            "removing the apps before namespace a-b (as the deployer, while it may): App/blog, HelmRelease/blog"
        );
        assert!(waiting_message("a-b", &left, true).contains("were not gone after 180s"));
        assert_eq!(
            waiting_message("a-b", &[], false),
            "namespace a-b is being deleted"
        );
    }

    #[test]
    fn the_grace_counts_from_the_deletion() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let mut p = Project::new("a.b", Default::default());
        assert!(!grace_over(&p), "not being deleted");
        let ago = |secs: i64| {
            Some(Time(
                Timestamp::from_second(Timestamp::now().as_second() - secs).expect("time"),
            ))
        };
        p.metadata.deletion_timestamp = ago(0);
        assert!(!grace_over(&p));
        p.metadata.deletion_timestamp = ago(179);
        assert!(!grace_over(&p));
        p.metadata.deletion_timestamp = ago(181);
        assert!(grace_over(&p));
    }
}
