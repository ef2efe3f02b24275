//! App actions, each its own operation (`POST .../apps/{a}/deploy`, `/suspend`, `/resume`,
//! `/rollback`, `/image-update`), and the seed's `POST .../apps/{a}:<action>` form, which does the
//! same by the suffix of `{a}`. Every action changes the App and lets the agent act: suspend and
//! resume set `spec.suspended`, rollback copies a revision's recorded spec back, image-update
//! changes the tag, deploy stamps the App; each is visible in `GET .../status` once the cluster
//! has done it.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use kube::ResourceExt as _;
use kube::api::{Patch, PatchParams};
use kubenova_api::clock::rfc3339_now;
use kubenova_api::crd::App;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::body::{Json, NoBody, OptionalJson};
use super::super::error::ApiError;
use super::super::path::{AppActionPath, AppPath, Path, ProjectPath};
use super::reads::revisions_of;
use super::{AppView, Place, allowed, place, remove, request_of, view};
use crate::services::state::AppState;
use kubenova_api::apps::request::plan;
use kubenova_api::apps::{DEPLOY_REQUESTED, spec_of_revision};

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

/// The project and the app a route names.
async fn found(state: &AppState, path: &AppPath) -> Result<(Place, App), ApiError> {
    let place = place(state, &path.project()).await?;
    let app = place.get(&path.a).await?;
    Ok((place, app))
}

/// `POST .../apps/{a}/deploy`: delivers the same spec again as a new revision.
pub async fn deploy(
    State(state): State<AppState>,
    Path(path): Path<AppPath>,
    NoBody: NoBody,
) -> Result<axum::Json<AppView>, ApiError> {
    let (place, app) = found(&state, &path).await?;
    Ok(axum::Json(view(&stamp(&place, app).await?)))
}

/// `POST .../apps/{a}/suspend`: sets `spec.suspended`.
pub async fn suspend(
    State(state): State<AppState>,
    Path(path): Path<AppPath>,
    NoBody: NoBody,
) -> Result<axum::Json<AppView>, ApiError> {
    let (place, app) = found(&state, &path).await?;
    Ok(axum::Json(view(&set_suspended(&place, app, true).await?)))
}

/// `POST .../apps/{a}/resume`: clears `spec.suspended`.
pub async fn resume(
    State(state): State<AppState>,
    Path(path): Path<AppPath>,
    NoBody: NoBody,
) -> Result<axum::Json<AppView>, ApiError> {
    let (place, app) = found(&state, &path).await?;
    Ok(axum::Json(view(&set_suspended(&place, app, false).await?)))
}

/// `POST .../apps/{a}/rollback`: restores a revision's spec (no body: the one before the
/// current revision).
pub async fn rollback(
    State(state): State<AppState>,
    Path(path): Path<AppPath>,
    OptionalJson(input): OptionalJson<RollbackInput>,
) -> Result<axum::Json<AppView>, ApiError> {
    let (place, app) = found(&state, &path).await?;
    let restored = restore(&place, app, input.unwrap_or_default()).await?;
    Ok(axum::Json(view(&restored)))
}

/// `POST .../apps/{a}/image-update`: changes an image app's tag (and image).
pub async fn image_update(
    State(state): State<AppState>,
    Path(path): Path<AppPath>,
    Json(input): Json<ImageUpdateInput>,
) -> Result<axum::Json<AppView>, ApiError> {
    let (place, app) = found(&state, &path).await?;
    Ok(axum::Json(view(&retag(&state, &place, app, input).await?)))
}

/// `POST .../apps/{a}` with `{a}` = `<app>:<action>` (the seed's form; `:delete` deletes).
pub async fn by_suffix(
    State(state): State<AppState>,
    Path(path): Path<AppActionPath>,
    OptionalJson(body): OptionalJson<Value>,
) -> Result<Response, ApiError> {
    let Some((name, verb)) = path.a.split_once(':') else {
        return Err(ApiError::invalid(
            "path",
            "POST on an app takes an action: <app>:deploy, :suspend, :resume, :rollback, :image-update or :delete",
        ));
    };
    kubenova_api::names::validate_dns1123_label("app", name)
        .map_err(|e| ApiError::invalid("app", e.to_string()))?;
    let project = ProjectPath {
        c: path.c,
        t: path.t,
        p: path.p,
    };
    let place = place(&state, &project).await?;
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
            stamp(&place, app).await?
        }
        "suspend" | "resume" => {
            no_body(&body)?;
            set_suspended(&place, app, verb == "suspend").await?
        }
        "rollback" => {
            let input: RollbackInput = parse_body(body)?;
            restore(&place, app, input).await?
        }
        "image-update" => {
            let input: ImageUpdateInput = parse_body(body)?;
            retag(&state, &place, app, input).await?
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

async fn set_suspended(place: &Place, app: App, suspended: bool) -> Result<App, ApiError> {
    let mut spec = app.spec.clone();
    spec.suspended = suspended;
    if spec == app.spec {
        Ok(app)
    } else {
        place.replace_spec(app, spec).await
    }
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
/// `kubenova_agent::apps::render`).
async fn stamp(place: &Place, app: App) -> Result<App, ApiError> {
    let patch = json!({ "metadata": { "annotations": { DEPLOY_REQUESTED: rfc3339_now() } } });
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

async fn restore(place: &Place, app: App, input: RollbackInput) -> Result<App, ApiError> {
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
    if spec == app.spec {
        // The revision's spec is the App's already (rolling back to the current revision, or to
        // one a `:deploy` repeated): no edit would change the publish version, so deliver it
        // again as `:deploy` does. Either way a rollback is a new revision.
        return stamp(place, app).await;
    }
    place.replace_spec(app, spec).await
}

async fn retag(
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
