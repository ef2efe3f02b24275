//! Projects: Project objects of a tenant, in the tenant's workload cluster; each is a namespace
//! `<tenant>-<project>` made by the agent.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use std::collections::BTreeMap;

use kubenova_api::crd::{Access, Project, ProjectSpec, Tenant};
use kubenova_api::{labels, names};

use super::body::Json;
use super::dto::{List, ProjectInput, ProjectSettings, ProjectUsage, ProjectView};
use super::error::ApiError;
use super::path::{Path, ProjectPath, TenantPath};
use super::tenants::{
    MAX_PROJECT_LEN, managed_labels, status_of, tenant_in, tenant_projects, validate_metadata,
    validate_name, validate_subjects,
};
use crate::services::state::AppState;

fn project_view(cluster: &str, p: &Project) -> ProjectView {
    let status = p.status.clone().unwrap_or_default();
    ProjectView {
        name: p.spec.project.clone(),
        tenant: p.spec.tenant.clone(),
        cluster: cluster.to_owned(),
        namespace: names::project_namespace(&p.spec.tenant, &p.spec.project),
        quota: p.spec.quota.clone(),
        limits: p.spec.limits.clone(),
        pod_security: p.spec.pod_security,
        access: p.spec.access.clone(),
        labels: p.spec.labels.clone(),
        annotations: p.spec.annotations.clone(),
        status: status_of(
            &p.metadata,
            &status.conditions,
            status.namespace.into_iter().collect(),
        ),
    }
}

pub(crate) fn project_object_name(tenant: &str, project: &str) -> String {
    format!("{tenant}.{project}")
}

/// `POST .../tenants/{t}/projects`.
pub async fn create(
    State(state): State<AppState>,
    Path(names): Path<TenantPath>,
    Json(input): Json<ProjectInput>,
) -> Result<Response, ApiError> {
    let (cluster, tenant) = (names.c.to_string(), names.t.to_string());
    validate_name("name", &input.name, MAX_PROJECT_LEN)?;
    validate_subjects("access.developers", &input.access.developers)?;
    validate_subjects("access.readers", &input.access.readers)?;
    validate_metadata(&input.labels, &input.annotations)?;
    let (client, _, found) = tenant_in(&state, &cluster, &tenant).await?;
    not_the_tenants(&found, &input.labels, &input.annotations)?;
    let mut object = Project::new(
        &project_object_name(&tenant, &input.name),
        ProjectSpec {
            tenant: tenant.clone(),
            project: input.name.clone(),
            quota: input.quota,
            limits: input.limits,
            pod_security: input.pod_security,
            access: input.access,
            labels: input.labels,
            annotations: input.annotations,
        },
    );
    let mut l = managed_labels(&tenant);
    l.insert(labels::PROJECT.to_owned(), input.name.clone());
    object.metadata.labels = Some(l);
    let api: Api<Project> = Api::all(client);
    let created = api
        .create(&PostParams::default(), &object)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 409 => ApiError::conflict(format!(
                "project `{}` already exists in tenant `{tenant}`",
                input.name
            )),
            other => ApiError::from_kube(&cluster, other),
        })?;
    Ok((
        StatusCode::CREATED,
        axum::Json(project_view(&cluster, &created)),
    )
        .into_response())
}

/// `GET .../tenants/{t}/projects`.
pub async fn list(
    State(state): State<AppState>,
    Path(names): Path<TenantPath>,
) -> Result<axum::Json<List<ProjectView>>, ApiError> {
    let (cluster, tenant) = (names.c.to_string(), names.t.to_string());
    let (client, _, _) = tenant_in(&state, &cluster, &tenant).await?;
    let items = tenant_projects(&client, &cluster, &tenant)
        .await?
        .iter()
        .map(|p| project_view(&cluster, p))
        .collect();
    Ok(axum::Json(List { items }))
}

pub(crate) async fn project_in(
    state: &AppState,
    names: &ProjectPath,
) -> Result<(String, Api<Project>, Project), ApiError> {
    let (cluster, api, found, _) = project_and_tenant_in(state, names).await?;
    Ok((cluster, api, found))
}

/// The project of `names` and its tenant.
async fn project_and_tenant_in(
    state: &AppState,
    names: &ProjectPath,
) -> Result<(String, Api<Project>, Project, Tenant), ApiError> {
    let (cluster, tenant, project) = (names.c.as_str(), names.t.as_str(), names.p.as_str());
    let (client, _, owner) = tenant_in(state, cluster, tenant).await?;
    let api: Api<Project> = Api::all(client);
    let found = api
        .get_opt(&project_object_name(tenant, project))
        .await
        .map_err(|e| ApiError::from_kube(cluster, e))?
        .ok_or_else(|| ApiError::not_found("project", &format!("{tenant}/{project}")))?;
    Ok((cluster.to_owned(), api, found, owner))
}

/// `GET .../projects/{p}`.
pub async fn get(
    State(state): State<AppState>,
    Path(names): Path<ProjectPath>,
) -> Result<axum::Json<ProjectView>, ApiError> {
    let (cluster, _, found) = project_in(&state, &names).await?;
    Ok(axum::Json(project_view(&cluster, &found)))
}

/// Replaces the project's spec with what `change` makes of it (given its tenant, which may refuse).
async fn change(
    state: &AppState,
    names: &ProjectPath,
    change: impl FnOnce(&mut ProjectSpec, &Tenant) -> Result<(), ApiError>,
) -> Result<axum::Json<ProjectView>, ApiError> {
    let (cluster, api, found, tenant) = project_and_tenant_in(state, names).await?;
    let mut spec = found.spec.clone();
    change(&mut spec, &tenant)?;
    let replaced = super::replace::replace_spec(
        &api,
        &cluster,
        found,
        |p: &mut Project| {
            p.spec = spec.clone();
            p.status = None;
        },
        |a, b| a.spec == b.spec,
    )
    .await?;
    Ok(axum::Json(project_view(&cluster, &replaced)))
}

/// `PUT .../projects/{p}`.
pub async fn update(
    State(state): State<AppState>,
    Path(names): Path<ProjectPath>,
    Json(input): Json<ProjectSettings>,
) -> Result<axum::Json<ProjectView>, ApiError> {
    validate_subjects("access.developers", &input.access.developers)?;
    validate_subjects("access.readers", &input.access.readers)?;
    validate_metadata(&input.labels, &input.annotations)?;
    change(&state, &names, |s, tenant| {
        not_the_tenants(tenant, &input.labels, &input.annotations)?;
        s.quota = input.quota;
        s.limits = input.limits;
        s.pod_security = input.pod_security;
        s.access = input.access;
        s.labels = input.labels;
        s.annotations = input.annotations;
        Ok(())
    })
    .await
}

/// A project may not set a label or annotation its tenant sets: the tenant's apply to every
/// namespace of the tenant, and win (the agent leaves such a key to the tenant's value).
fn not_the_tenants(
    tenant: &Tenant,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    for (field, own, tenants) in [
        ("labels", labels, &tenant.spec.labels),
        ("annotations", annotations, &tenant.spec.annotations),
    ] {
        if let Some(key) = own.keys().find(|k| tenants.contains_key(*k)) {
            return Err(ApiError::invalid(
                &format!("{field}[{key:?}]"),
                format!(
                    "tenant `{}` sets this key for all its namespaces; leave it out or use another key",
                    tenant.name_any()
                ),
            ));
        }
    }
    Ok(())
}

/// `PUT .../projects/{p}/access`.
pub async fn access(
    State(state): State<AppState>,
    Path(names): Path<ProjectPath>,
    Json(input): Json<Access>,
) -> Result<axum::Json<ProjectView>, ApiError> {
    validate_subjects("developers", &input.developers)?;
    validate_subjects("readers", &input.readers)?;
    change(&state, &names, |s, _| {
        s.access = input;
        Ok(())
    })
    .await
}

/// `DELETE .../projects/{p}`: 202 with the project being deleted (`status.deletingSince`); the
/// agent removes its apps, then its namespace, and `GET` answers 404 once it is gone.
pub async fn delete(
    State(state): State<AppState>,
    Path(names): Path<ProjectPath>,
) -> Result<Response, ApiError> {
    let (cluster, api, found) = project_in(&state, &names).await?;
    let deleting = api
        .delete(&found.name_any(), &DeleteParams::default())
        .await
        .map_err(|e| ApiError::from_kube(&cluster, e))?
        .left_or_else(|_| {
            // Gone at once (no finalizer: the agent has never seen it); shown as it was.
            found.clone()
        });
    super::tokens::revoke_scope(
        &state,
        &found.spec.tenant,
        Some(&found.spec.project),
        "project deleted",
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(project_view(&cluster, &deleting)),
    )
        .into_response())
}

/// `GET .../projects/{p}/usage`.
pub async fn usage(
    State(state): State<AppState>,
    Path(names): Path<ProjectPath>,
) -> Result<axum::Json<ProjectUsage>, ApiError> {
    let (_, _, found) = project_in(&state, &names).await?;
    Ok(axum::Json(ProjectUsage {
        namespace: names::project_namespace(&found.spec.tenant, &found.spec.project),
        project: found.spec.project,
        usage: found.status.and_then(|s| s.usage),
    }))
}
