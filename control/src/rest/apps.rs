//! Apps: `App` objects in a project namespace of the workload cluster, delivered by the agent
//! through KubeVela (see [`crate::apps`] and `docs/apps.md`).
//!
//! Credentials in a request become Secrets owned by the App (so deleting the App removes them);
//! no answer contains them. Every operation changes the App and lets the agent act: suspend and
//! resume set `spec.suspended`, rollback copies a revision's recorded spec back, image-update
//! changes the tag; each is visible in `GET .../status` once the cluster has done it.

use std::collections::BTreeMap;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{AsyncBufReadExt as _, StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams,
};
use kube::{Client, Resource as _, ResourceExt as _};
use kubenova_api::crd::{App, AppSpec, AppStatus, Project};
use kubenova_api::{labels, names};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::PathNames;
use super::body::{Json, OptionalJson};
use super::clusters::name_path;
use super::dto::List;
use super::error::ApiError;
use super::state::AppState;
use super::tenants::project_in;
use crate::agent::app::revision_resource;
use crate::apps::pods;
use crate::apps::render::{APP_LABEL, DEPLOY_REQUESTED, Placement, spec_of_revision};
use crate::apps::request::{AppRequest, Invalid, plan};

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

/// The body of `:rollback` (empty: the revision before the current one).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackInput {
    /// The revision to go back to (`<app>-v<N>` or `N`).
    #[serde(default)]
    pub revision: Option<String>,
}

/// The body of `:image-update`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageUpdateInput {
    /// The new tag (or `sha256:<digest>`).
    pub tag: String,
    /// A new image reference without tag (the current one unless set).
    #[serde(default)]
    pub image: Option<String>,
}

/// The body of an action (`<app>:rollback`, `<app>:image-update`; the others take none).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AppActionInput {
    /// `:rollback`.
    Rollback(RollbackInput),
    /// `:image-update`.
    ImageUpdate(ImageUpdateInput),
}

/// The query of `GET .../logs`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogsQuery {
    /// Only pods of this component (the app's name for single-component apps).
    #[serde(default)]
    pub component: Option<String>,
    /// Keep streaming new lines.
    #[serde(default)]
    pub follow: bool,
    /// Lines from the end of each pod's log (default 100, at most 10,000).
    #[serde(default)]
    pub tail: Option<i64>,
}

/// The project an app route names: cluster, client and namespace.
struct Place {
    cluster: String,
    client: Client,
    tenant: String,
    project: String,
    namespace: String,
}

async fn place(state: &AppState, names: &PathNames) -> Result<Place, ApiError> {
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
    fn apps(&self) -> Api<App> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn at(&self) -> Placement<'_> {
        Placement {
            tenant: &self.tenant,
            project: &self.project,
            deployer: crate::agent::names::DEPLOYER,
        }
    }

    async fn get(&self, name: &str) -> Result<App, ApiError> {
        self.apps()
            .get_opt(name)
            .await
            .map_err(|e| ApiError::from_kube(&self.cluster, e))?
            .ok_or_else(|| ApiError::not_found("app", &format!("{}/{name}", self.namespace)))
    }

    async fn replace_spec(&self, app: App, spec: AppSpec) -> Result<App, ApiError> {
        let edited = now();
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

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

fn view(app: &App) -> AppView {
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

fn allowed(state: &AppState) -> crate::apps::request::Allowed {
    state.settings().app_allowed.clone()
}

/// `POST .../apps`.
pub async fn create(
    State(state): State<AppState>,
    Extension(names): Extension<PathNames>,
    Json(input): Json<AppRequest>,
) -> Result<Response, ApiError> {
    let place = place(&state, &names).await?;
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
    app.metadata.annotations = Some(BTreeMap::from([(LAST_EDIT.to_owned(), now())]));
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
    Extension(names): Extension<PathNames>,
) -> Result<axum::Json<List<AppView>>, ApiError> {
    let place = place(&state, &names).await?;
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
    Extension(names): Extension<PathNames>,
) -> Result<axum::Json<AppView>, ApiError> {
    let place = place(&state, &names).await?;
    let app = place.get(&name_path(&names, "a")?).await?;
    Ok(axum::Json(view(&app)))
}

/// `PUT .../apps/{a}`: replaces the app (credentials left out keep their Secret).
pub async fn update(
    State(state): State<AppState>,
    Extension(names): Extension<PathNames>,
    Json(input): Json<AppRequest>,
) -> Result<axum::Json<AppView>, ApiError> {
    let place = place(&state, &names).await?;
    let name = name_path(&names, "a")?;
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

/// `PUT .../apps/{a}/traits`: replaces the app's pass-through traits.
pub async fn traits(
    State(state): State<AppState>,
    Extension(names): Extension<PathNames>,
    Json(input): Json<Vec<kubenova_api::crd::VelaItem>>,
) -> Result<axum::Json<AppView>, ApiError> {
    change_items(&state, &names, |request| request.traits = input).await
}

/// `PUT .../apps/{a}/policies`: replaces the app's pass-through policies.
pub async fn policies(
    State(state): State<AppState>,
    Extension(names): Extension<PathNames>,
    Json(input): Json<Vec<kubenova_api::crd::VelaItem>>,
) -> Result<axum::Json<AppView>, ApiError> {
    change_items(&state, &names, |request| request.policies = input).await
}

async fn change_items(
    state: &AppState,
    names: &PathNames,
    change: impl FnOnce(&mut AppRequest),
) -> Result<axum::Json<AppView>, ApiError> {
    let place = place(state, names).await?;
    let name = name_path(names, "a")?;
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
fn request_of(spec: &AppSpec) -> AppRequest {
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
    Extension(names): Extension<PathNames>,
) -> Result<StatusCode, ApiError> {
    let place = place(&state, &names).await?;
    remove(&place, &name_path(&names, "a")?).await
}

async fn remove(place: &Place, name: &str) -> Result<StatusCode, ApiError> {
    place.get(name).await?;
    place
        .apps()
        .delete(name, &DeleteParams::background())
        .await
        .map_err(|e| ApiError::from_kube(&place.cluster, e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../apps/{a}` with `{a}` = `<app>:<action>`.
pub async fn action(
    State(state): State<AppState>,
    Extension(names): Extension<PathNames>,
    OptionalJson(body): OptionalJson<Value>,
) -> Result<Response, ApiError> {
    let target = names.get("a").unwrap_or_default().to_owned();
    let Some((name, verb)) = target.split_once(':') else {
        return Err(ApiError::invalid(
            "path",
            "POST on an app takes an action: <app>:deploy, :suspend, :resume, :rollback, :image-update or :delete",
        ));
    };
    kubenova_api::names::validate_dns1123_label("app", name)
        .map_err(|e| ApiError::invalid("app", e.to_string()))?;
    let place = place(&state, &names).await?;
    let no_body = |body: &Option<Value>| match body {
        None => Ok(()),
        Some(v) if v.as_object().is_some_and(|o| o.is_empty()) => Ok(()),
        Some(_) => Err(ApiError::invalid("body", format!(":{verb} takes no body"))),
    };
    let app = place.get(name).await?;
    let changed = match verb {
        "delete" => {
            no_body(&body)?;
            return remove(&place, name).await.map(IntoResponse::into_response);
        }
        "deploy" => {
            no_body(&body)?;
            deploy(&place, app).await?
        }
        "suspend" | "resume" => {
            no_body(&body)?;
            let mut spec = app.spec.clone();
            spec.suspended = verb == "suspend";
            if spec == app.spec {
                app
            } else {
                place.replace_spec(app, spec).await?
            }
        }
        "rollback" => {
            let input: RollbackInput = parse_body(body)?;
            rollback(&place, app, input).await?
        }
        "image-update" => {
            let input: ImageUpdateInput = parse_body(body)?;
            image_update(&state, &place, app, input).await?
        }
        other => {
            return Err(ApiError::invalid(
                "action",
                format!(
                    "unknown action `{other}`; use deploy, suspend, resume, rollback, image-update or delete"
                ),
            ));
        }
    };
    Ok(axum::Json(view(&changed)).into_response())
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(
    body: Option<Value>,
) -> Result<T, ApiError> {
    match body {
        None => Ok(T::default()),
        Some(v) => serde_path_to_error::deserialize(v)
            .map_err(|e| ApiError::invalid(&e.path().to_string(), e.inner().to_string())),
    }
}

/// `:deploy`: stamps the App; the stamp is part of the Application's publish version, so the
/// agent's next apply makes KubeVela run the delivery again as a new revision (see
/// [`crate::apps::render`]).
async fn deploy(place: &Place, app: App) -> Result<App, ApiError> {
    let patch = json!({ "metadata": { "annotations": { DEPLOY_REQUESTED: now() } } });
    place
        .apps()
        .patch(
            &app.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|e| ApiError::from_kube(&place.cluster, e))
}

async fn revisions_of(place: &Place, app: &str) -> Result<Vec<DynamicObject>, ApiError> {
    let ar = revision_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(place.client.clone(), &place.namespace, &ar);
    let mut items = api
        .list(&ListParams::default().labels(&format!("app.oam.dev/name={app}")))
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => ApiError::unavailable(
                &place.cluster,
                "KubeVela is not installed in this cluster (no ApplicationRevisions)",
            ),
            other => ApiError::from_kube(&place.cluster, other),
        })?
        .items;
    items.sort_by_key(revision_number);
    Ok(items)
}

fn revision_number(rev: &DynamicObject) -> i64 {
    rev.data["spec"]["application"]["status"]["latestRevision"]["revision"]
        .as_i64()
        .or_else(|| {
            rev.name_any()
                .rsplit_once("-v")
                .and_then(|(_, n)| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn rollback(place: &Place, app: App, input: RollbackInput) -> Result<App, ApiError> {
    let name = app.name_any();
    let revisions = revisions_of(place, &name).await?;
    let current = app.status.as_ref().and_then(|s| s.revision.clone());
    let target = match &input.revision {
        Some(r) => {
            let wanted = if r.chars().all(|c| c.is_ascii_digit()) {
                format!("{name}-v{r}")
            } else {
                r.clone()
            };
            revisions
                .iter()
                .find(|rev| rev.name_any() == wanted)
                .ok_or_else(|| {
                    ApiError::not_found("revision", &wanted).with_details(json!({
                        "revisions": revisions.iter().map(|r| r.name_any()).collect::<Vec<_>>(),
                    }))
                })?
        }
        None => {
            let position = current
                .as_ref()
                .and_then(|c| revisions.iter().position(|r| &r.name_any() == c))
                .unwrap_or(revisions.len());
            position
                .checked_sub(1)
                .and_then(|i| revisions.get(i))
                .ok_or_else(|| {
                    ApiError::conflict(format!(
                        "app `{name}` has no revision before {}; nothing to roll back to",
                        current.as_deref().unwrap_or("the current one")
                    ))
                })?
        }
    };
    let value = serde_json::to_value(target).unwrap_or(Value::Null);
    let mut spec = spec_of_revision(&value).ok_or_else(|| {
        ApiError::conflict(format!(
            "revision {} was not made by KubeNova and cannot be restored",
            target.name_any()
        ))
    })?;
    spec.suspended = app.spec.suspended;
    place.replace_spec(app, spec).await
}

async fn image_update(
    state: &AppState,
    place: &Place,
    app: App,
    input: ImageUpdateInput,
) -> Result<App, ApiError> {
    let Some(image) = &app.spec.image else {
        return Err(ApiError::invalid(
            "tag",
            "image-update applies to image apps; for a helm app change helm.version with PUT",
        ));
    };
    let mut request = request_of(&app.spec);
    if let Some(r) = request.image.as_mut() {
        r.image = input.image.clone().unwrap_or_else(|| image.image.clone());
        r.tag = Some(input.tag.clone());
    }
    let planned = plan(
        request,
        Some(&app.name_any()),
        Some(&app.spec),
        place.at(),
        &allowed(state),
    )
    .map_err(|e| match e.field.as_str() {
        "image.tag" => ApiError::invalid("tag", e.why),
        "image.image" => ApiError::invalid("image", e.why),
        _ => e.into(),
    })?;
    place.replace_spec(app, planned.spec).await
}

/// The pods of `app` (of one `component`, if given): an image app's by Vela's
/// labels, a helm app's through the workloads helm-controller made for its release (see
/// [`pods`]), sorted by name. A helm app has one component, named after the app.
async fn pods_of(place: &Place, app: &App, component: Option<&str>) -> Result<Vec<Pod>, ApiError> {
    let name = app.name_any();
    let api: Api<Pod> = Api::namespaced(place.client.clone(), &place.namespace);
    let kube_err = |e| ApiError::from_kube(&place.cluster, e);
    let selectors = if app.spec.helm.is_none() {
        vec![pods::vela_selector(&name, component)]
    } else if component.is_some_and(|c| c != name) {
        Vec::new()
    } else {
        let release =
            ListParams::default().labels(&pods::release_selector(&name, &place.namespace));
        let (client, ns) = (&place.client, place.namespace.as_str());
        let mut selectors = vec![pods::release_selector(&name, &place.namespace)];
        selectors.extend(
            workload_selectors::<Deployment>(client, ns, &release, |d| d.spec.map(|s| s.selector))
                .await
                .map_err(kube_err)?,
        );
        selectors.extend(
            workload_selectors::<StatefulSet>(client, ns, &release, |d| d.spec.map(|s| s.selector))
                .await
                .map_err(kube_err)?,
        );
        selectors.extend(
            workload_selectors::<DaemonSet>(client, ns, &release, |d| d.spec.map(|s| s.selector))
                .await
                .map_err(kube_err)?,
        );
        selectors.extend(
            workload_selectors::<Job>(client, ns, &release, |j| j.spec.and_then(|s| s.selector))
                .await
                .map_err(kube_err)?,
        );
        selectors
    };
    let mut found = BTreeMap::new();
    for selector in selectors {
        for pod in api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(kube_err)?
            .items
        {
            found.insert(pod.name_any(), pod);
        }
    }
    Ok(found.into_values().collect())
}

/// The pod selectors of the workloads of kind `K` that `release` lists in `namespace`.
async fn workload_selectors<K>(
    client: &kube::Client,
    namespace: &str,
    release: &ListParams,
    selector: impl Fn(K) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> Result<Vec<String>, kube::Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    Ok(Api::<K>::namespaced(client.clone(), namespace)
        .list(release)
        .await?
        .items
        .into_iter()
        .filter_map(|w| pods::selector_string(&selector(w)?))
        .collect())
}

/// `GET .../apps/{a}/status`: the App's status with its pods.
pub async fn status(
    State(state): State<AppState>,
    Extension(names): Extension<PathNames>,
) -> Result<axum::Json<Value>, ApiError> {
    let place = place(&state, &names).await?;
    let app = place.get(&name_path(&names, "a")?).await?;
    let pods = pods_of(&place, &app, None)
        .await?
        .iter()
        .map(|p| {
            let s = p.status.clone().unwrap_or_default();
            let ready = s
                .conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            json!({
                "name": p.name_any(),
                "phase": s.phase,
                "ready": ready,
                "component": p
                    .labels()
                    .get("app.oam.dev/component")
                    .cloned()
                    .or_else(|| app.spec.helm.is_some().then(|| app.name_any())),
            })
        })
        .collect::<Vec<_>>();
    let v = view(&app);
    Ok(axum::Json(json!({
        "name": v.name,
        "kind": v.status.kind,
        "phase": v.status.phase,
        "revision": v.status.revision,
        "lastDeployed": v.status.last_deployed,
        "lastEdit": v.last_edit,
        "lastError": v.status.last_error,
        "suspended": app.spec.suspended,
        "components": v.status.components,
        "conditions": v.status.conditions,
        "pods": pods,
    })))
}

/// `GET .../apps/{a}/revisions`.
pub async fn revisions(
    State(state): State<AppState>,
    Extension(names): Extension<PathNames>,
) -> Result<axum::Json<List<RevisionView>>, ApiError> {
    let place = place(&state, &names).await?;
    let app = place.get(&name_path(&names, "a")?).await?;
    let current = app.status.and_then(|s| s.revision);
    let items = revisions_of(&place, &app.metadata.name.unwrap_or_default())
        .await?
        .iter()
        .map(|rev| {
            let value = serde_json::to_value(rev).unwrap_or(Value::Null);
            RevisionView {
                name: rev.name_any(),
                revision: revision_number(rev),
                created: rev.creation_timestamp().map(|t| t.0.to_string()),
                current: current.as_deref() == Some(rev.name_any().as_str()),
                restorable: spec_of_revision(&value).is_some(),
            }
        })
        .collect();
    Ok(axum::Json(List { items }))
}

/// `GET .../apps/{a}/logs?component=&follow=&tail=`: the pods' logs as text, each line prefixed
/// with `[pod]`; with `follow=true` the answer streams until the client goes away.
pub async fn logs(
    State(state): State<AppState>,
    Extension(names): Extension<PathNames>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let place = place(&state, &names).await?;
    let app = place.get(&name_path(&names, "a")?).await?;
    let tail = query.tail.unwrap_or(100);
    if !(0..=10_000).contains(&tail) {
        return Err(ApiError::invalid("tail", "must be between 0 and 10000"));
    }
    if let Some(component) = &query.component {
        kubenova_api::names::validate_dns1123_label("component", component)
            .map_err(|e| ApiError::invalid("component", e.to_string()))?;
    }
    let pods: Api<Pod> = Api::namespaced(place.client.clone(), &place.namespace);
    let found = pods_of(&place, &app, query.component.as_deref()).await?;
    if found.is_empty() {
        return Err(ApiError::not_found(
            "pods of app",
            &format!("{}/{}", place.namespace, app.name_any()),
        ));
    }
    let params = LogParams {
        follow: query.follow,
        tail_lines: Some(tail),
        ..LogParams::default()
    };
    let mut streams = Vec::new();
    for pod in &found {
        let name = pod.name_any();
        let lines = pods
            .log_stream(&name, &params)
            .await
            .map_err(|e| ApiError::from_kube(&place.cluster, e))?
            .lines()
            .map_ok(move |line| format!("[{name}] {line}\n"));
        streams.push(lines.boxed());
    }
    let body = Body::from_stream(futures_util::stream::select_all(streams));
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}
