//! Apps, as both roles see them: what a request to create or edit an `App` may hold and what it
//! becomes ([`request`]), which pods belong to an app ([`pods`]), and the names and annotations the
//! REST API and the agent both read on what an app is made of. Pure: the agent renders and
//! applies (`kubenova_agent::apps`), the REST API validates and reads.

pub mod pods;
pub mod request;

use std::collections::BTreeMap;

use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use crate::crd::AppSpec;
use crate::labels;

/// The label naming the app on everything KubeNova makes for it.
pub const APP_LABEL: &str = "kubenova.io/app";
/// The annotation on the Application (and so on every ApplicationRevision Vela snapshots from
/// it) holding the App spec it was rendered from: what `:rollback` restores.
pub const SPEC_ANNOTATION: &str = "kubenova.io/app-spec";
/// Annotation on the App: when `:deploy` was last asked for (part of the publish version).
pub const DEPLOY_REQUESTED: &str = "kubenova.io/deploy-requested";

/// Where an app lives and who deploys it.
#[derive(Clone, Copy, Debug)]
pub struct Placement<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The project.
    pub project: &'a str,
    /// The project's deployer ServiceAccount.
    pub deployer: &'a str,
}

/// The labels on every object KubeNova makes for an app.
pub fn app_labels(app: &str, at: Placement<'_>) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into()),
        (labels::TENANT.into(), at.tenant.into()),
        (labels::PROJECT.into(), at.project.into()),
        (APP_LABEL.into(), app.into()),
    ])
}

/// The App spec an ApplicationRevision was made from (its own annotations, else those of the
/// Application snapshot inside it); `None` for a revision KubeNova did not render.
pub fn spec_of_revision(revision: &Value) -> Option<AppSpec> {
    let annotation = |v: &Value| {
        v["metadata"]["annotations"][SPEC_ANNOTATION]
            .as_str()
            .map(str::to_owned)
    };
    let text = annotation(revision).or_else(|| annotation(&revision["spec"]["application"]))?;
    serde_json::from_str(&text).ok()
}

/// KubeVela's `ApplicationRevision` (the agent watches them, the API lists them for an app's
/// history and `:rollback`).
pub fn revision_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("core.oam.dev", "v1beta1", "ApplicationRevision"),
        "applicationrevisions",
    )
}
