//! Apps: `App` objects in a project namespace of the workload cluster, delivered by the agent
//! through KubeVela (see [`kubenova_api::apps`] and `docs/apps.md`). Creating, editing and deleting them
//! here; their actions in [`actions`], what the cluster says about them in [`reads`].
//!
//! Credentials in a request become Secrets owned by the App (so deleting the App removes them);
//! no answer contains them.

pub mod actions;
pub mod reads;

pub use self::actions::{AppActionInput, ImageUpdateInput, RollbackInput};
pub use self::reads::{AppStatusView, LogsQuery, PodView};

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource as _, ResourceExt as _};
use kubenova_api::clock::rfc3339_now;
use kubenova_api::crd::{App, AppSpec, AppStatus, Project, VelaItem};
use kubenova_api::{labels, names};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::body::Json;
use super::dto::List;
use super::error::ApiError;
use super::path::{AppPath, Path, ProjectPath};
use super::projects::project_in;
use crate::services::state::AppState;
use kubenova_api::apps::request::{AppRequest, Invalid, plan};
use kubenova_api::apps::{APP_LABEL, Placement};

/// The field manager of the API's writes.
const MANAGER: &str = "kubenova-control";

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::invalid(&e.field, e.why)
    }
}

/// An app as the API shows it: the spec (no credentials, only Secret names) and the status the
/// cluster reports.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    /// The app's name.
    pub name: String,
    /// The project namespace.
    pub namespace: String,
    /// What was asked for.
    pub spec: AppSpec,
    /// What the cluster says.
    pub status: AppStatus,
    /// When the spec last changed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_edit: Option<String>,
}

/// One KubeVela ApplicationRevision of an app.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionView {
    /// `<app>-v<N>`.
    pub name: String,
    /// `N`.
    pub revision: i64,
    /// When Vela made it.
    pub created: Option<String>,
    /// Whether the app runs this revision now.
    pub current: bool,
    /// Whether KubeNova can roll back to it (it records the App spec).
    pub restorable: bool,
}

/// The project an app route names: cluster, client and namespace.
pub(super) struct Place {
    pub(super) cluster: String,
    pub(super) client: Client,
    pub(super) tenant: String,
    pub(super) project: String,
    pub(super) namespace: String,
}

pub(super) async fn place(state: &AppState, names: &ProjectPath) -> Result<Place, ApiError> {
    let (cluster, api, found): (String, Api<Project>, Project) = project_in(state, names).await?;
    let namespace = names::project_namespace(&found.spec.tenant, &found.spec.project);
    Ok(Place {
        cluster,
        client: api.into_client(),
        tenant: found.spec.tenant,
        project: found.spec.project,
        namespace,
    })
}

impl Place {
    pub(super) fn apps(&self) -> Api<App> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub(super) fn at(&self) -> Placement<'_> {
        Placement {
            tenant: &self.tenant,
            project: &self.project,
            deployer: kubenova_api::names::DEPLOYER,
        }
    }

    pub(super) async fn get(&self, name: &str) -> Result<App, ApiError> {
        self.apps()
            .get_opt(name)
            .await
            .map_err(|e| ApiError::from_kube(&self.cluster, e))?
            .ok_or_else(|| ApiError::not_found("app", &format!("{}/{name}", self.namespace)))
    }

    pub(super) async fn replace_spec(&self, app: App, spec: AppSpec) -> Result<App, ApiError> {
        let edited = rfc3339_now();
        super::replace::replace_spec(
            &self.apps(),
            &self.cluster,
            app,
            |a: &mut App| {
                a.spec = spec.clone();
                a.status = None;
                a.annotations_mut().insert(LAST_EDIT.into(), edited.clone());
            },
            |a, b| a.spec == b.spec,
        )
        .await
    }

    /// Applies credential Secrets owned by `app`.
    async fn secrets(&self, app: &App, secrets: Vec<Value>) -> Result<(), ApiError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        for mut secret in secrets {
            secret["metadata"]["namespace"] = json!(self.namespace);
            secret["metadata"]["ownerReferences"] = json!([{
                "apiVersion": App::api_version(&()),
                "kind": App::kind(&()),
                "name": app.name_any(),
                "uid": app.uid().unwrap_or_default(),
                "controller": true,
                "blockOwnerDeletion": true,
            }]);
            let name = secret["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            api.patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&secret),
            )
            .await
            .map_err(|e| ApiError::from_kube(&self.cluster, e))?;
        }
        Ok(())
    }
}

/// Annotation on the App: when its spec last changed through the API.
const LAST_EDIT: &str = "kubenova.io/last-edit";

pub(super) fn view(app: &App) -> AppView {
    AppView {
        name: app.name_any(),
        namespace: app.namespace().unwrap_or_default(),
        spec: app.spec.clone(),
        status: app.status.clone().unwrap_or_default(),
        last_edit: app
            .annotations()
            .get(LAST_EDIT)
            .cloned()
            .or_else(|| app.creation_timestamp().map(|t| t.0.to_string())),
    }
}

pub(super) fn allowed(state: &AppState) -> kubenova_api::apps::request::Allowed {
    state.settings().app_allowed.clone()
}

/// `POST .../apps`.
pub async fn create(
    State(state): State<AppState>,
    Path(project): Path<ProjectPath>,
    Json(input): Json<AppRequest>,
) -> Result<Response, ApiError> {
    let place = place(&state, &project).await?;
    let planned = plan(input, None, None, place.at(), &allowed(&state))?;
    let mut app = App::new(&planned.name, planned.spec);
    app.metadata.namespace = Some(place.namespace.clone());
    let mut l = BTreeMap::from([
        (
            labels::MANAGED_BY.to_owned(),
            labels::MANAGED_BY_VALUE.to_owned(),
        ),
        (labels::TENANT.to_owned(), place.tenant.clone()),
        (labels::PROJECT.to_owned(), place.project.clone()),
    ]);
    l.insert(APP_LABEL.to_owned(), planned.name.clone());
    app.metadata.labels = Some(l);
    app.metadata.annotations = Some(BTreeMap::from([(LAST_EDIT.to_owned(), rfc3339_now())]));
    let created = place
        .apps()
        .create(&PostParams::default(), &app)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 409 => ApiError::conflict(format!(
                "app `{}` already exists in {}",
                planned.name, place.namespace
            )),
            kube::Error::Api(s) if s.code == 422 => ApiError::invalid("spec", s.message),
            other => ApiError::from_kube(&place.cluster, other),
        })?;
    if let Err(e) = place.secrets(&created, planned.secrets).await {
        // Nothing half made: without its credentials the app goes too.
        let _ = place
            .apps()
            .delete(&created.name_any(), &DeleteParams::background())
            .await;
        return Err(e);
    }
    Ok((StatusCode::CREATED, axum::Json(view(&created))).into_response())
}

/// `GET .../apps`.
pub async fn list(
    State(state): State<AppState>,
    Path(project): Path<ProjectPath>,
) -> Result<axum::Json<List<AppView>>, ApiError> {
    let place = place(&state, &project).await?;
    let items = place
        .apps()
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiError::from_kube(&place.cluster, e))?
        .items
        .iter()
        .map(view)
        .collect();
    Ok(axum::Json(List { items }))
}

/// `GET .../apps/{a}`.
pub async fn get(
    State(state): State<AppState>,
    Path(path): Path<AppPath>,
) -> Result<axum::Json<AppView>, ApiError> {
    let place = place(&state, &path.project()).await?;
    let app = place.get(&path.a).await?;
    Ok(axum::Json(view(&app)))
}

/// `PUT .../apps/{a}`: replaces the app (credentials left out keep their Secret).
pub async fn update(
    State(state): State<AppState>,
    Path(path): Path<AppPath>,
    Json(input): Json<AppRequest>,
) -> Result<axum::Json<AppView>, ApiError> {
    let place = place(&state, &path.project()).await?;
    let name = path.a.to_string();
    let app = place.get(&name).await?;
    let planned = plan(
        input,
        Some(&name),
        Some(&app.spec),
        place.at(),
        &allowed(&state),
    )?;
    if app.spec.helm.is_some() != planned.spec.helm.is_some() {
        return Err(ApiError::invalid(
            if app.spec.helm.is_some() {
                "helm"
            } else {
                "image"
            },
            "an app cannot change between helm and image; delete it and create a new one",
        ));
    }
    place.secrets(&app, planned.secrets).await?;
    let replaced = place.replace_spec(app, planned.spec).await?;
    Ok(axum::Json(view(&replaced)))
}

/// The body of `PUT .../apps/{a}/traits`: the whole list, as the App keeps it (`spec.traits`)
/// and as KubeVela's Application takes it (`components[].traits`). An object, as every body of
/// this API, so it reads like the same field of `POST .../apps`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TraitsInput {
    /// The traits (types from the platform's allow-list; `[]` removes them all).
    pub traits: Vec<VelaItem>,
}

/// The body of `PUT .../apps/{a}/policies`: the whole list, as the App keeps it
/// (`spec.policies`) and as KubeVela's Application takes it (`policies`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PoliciesInput {
    /// The policies (types from the platform's allow-list, each with a name; `[]` removes them
    /// all).
    pub policies: Vec<VelaItem>,
}

/// `PUT .../apps/{a}/traits`: replaces the app's pass-through traits.
pub async fn traits(
    State(state): State<AppState>,
    Path(path): Path<AppPath>,
    Json(input): Json<TraitsInput>,
) -> Result<axum::Json<AppView>, ApiError> {
    change_items(&state, &path, |request| request.traits = input.traits).await
}

/// `PUT .../apps/{a}/policies`: replaces the app's pass-through policies.
pub async fn policies(
    State(state): State<AppState>,
    Path(path): Path<AppPath>,
    Json(input): Json<PoliciesInput>,
) -> Result<axum::Json<AppView>, ApiError> {
    change_items(&state, &path, |request| request.policies = input.policies).await
}

async fn change_items(
    state: &AppState,
    path: &AppPath,
    change: impl FnOnce(&mut AppRequest),
) -> Result<axum::Json<AppView>, ApiError> {
    let place = place(state, &path.project()).await?;
    let name = path.a.to_string();
    let app = place.get(&name).await?;
    // The current spec, as a request, with the list replaced: checked like any edit.
    let mut request = request_of(&app.spec);
    change(&mut request);
    let planned = plan(
        request,
        Some(&name),
        Some(&app.spec),
        place.at(),
        &allowed(state),
    )?;
    let replaced = place.replace_spec(app, planned.spec).await?;
    Ok(axum::Json(view(&replaced)))
}

/// The request that would produce `spec` (credentials stay in their Secrets).
pub(super) fn request_of(spec: &AppSpec) -> AppRequest {
    let value = json!({
        "helm": spec.helm.as_ref().map(|h| json!({
            "repo": h.repo, "chart": h.chart, "version": h.version, "values": h.values,
            "insecure": h.insecure,
        })),
        "image": spec.image.as_ref().map(|i| json!({
            "image": i.image, "tag": i.tag, "ports": i.ports, "replicas": i.replicas,
            "resources": i.resources, "env": i.env, "configFiles": i.config_files,
            "ingress": i.ingress,
        })),
        "traits": spec.traits,
        "policies": spec.policies,
    });
    serde_json::from_value(value).unwrap_or_default()
}

/// `DELETE .../apps/{a}` (and `POST .../apps/{a}:delete`).
pub async fn delete(
    State(state): State<AppState>,
    Path(path): Path<AppPath>,
) -> Result<StatusCode, ApiError> {
    let place = place(&state, &path.project()).await?;
    remove(&place, &path.a).await
}

pub(super) async fn remove(place: &Place, name: &str) -> Result<StatusCode, ApiError> {
    place.get(name).await?;
    place
        .apps()
        .delete(name, &DeleteParams::background())
        .await
        .map_err(|e| ApiError::from_kube(&place.cluster, e))?;
    Ok(StatusCode::NO_CONTENT)
}
