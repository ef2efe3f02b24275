//! Tenants: Tenant objects in the workload cluster named in the route (projects are in
//! [`super::projects`]).
//!
//! Tenant names are unique across all clusters: each tenant has an index ConfigMap
//! `kubenova-tenant.<t>` in the management namespace naming its cluster, created atomically
//! before the Tenant (so the same name twice gives 409, whichever cluster), which is also how the
//! short `/tenants/{t}/...` routes find the cluster.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use kubenova_api::crd::{Limits, NetworkPolicySettings, Project, Quota, Tenant, TenantSpec};
use kubenova_api::{labels, names};
use serde_json::json;

use super::body::Json;
use super::clusters::INDEX_CLUSTER_LABEL;
use super::dto::{List, ObjectStatus, OwnersInput, TenantInput, TenantSettings, TenantView};
use super::error::ApiError;
use super::path::{ClusterPath, Path, TenantPath};
use crate::services::state::{AppState, MANAGEMENT};

mod everywhere;
mod hosts;
mod validate;
pub use everywhere::{get_by_name, list_all, usage};
use hosts::hosts_free;
pub use validate::validate_subject;
use validate::{settings_spec, validate_network_policy};
pub(crate) use validate::{validate_metadata, validate_name, validate_subjects};

/// The longest tenant name (room for `-<project>` in namespace names).
pub const MAX_TENANT_LEN: usize = 40;
/// The longest project name.
pub const MAX_PROJECT_LEN: usize = 22;

/// The prefix of the tenant index ConfigMaps' names: `kubenova-tenant.<tenant>`.
const INDEX_PREFIX: &str = "kubenova-tenant.";

fn index_name(tenant: &str) -> String {
    format!("{INDEX_PREFIX}{tenant}")
}

fn index_api(state: &AppState) -> Api<ConfigMap> {
    Api::namespaced(state.mgmt().clone(), &state.settings().namespace)
}

/// The cluster tenant `tenant` lives in, from the index.
pub async fn cluster_of(state: &AppState, tenant: &str) -> Result<String, ApiError> {
    index_api(state)
        .get_opt(&index_name(tenant))
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .and_then(|cm| cm.data.and_then(|d| d.get("cluster").cloned()))
        .ok_or_else(|| ApiError::not_found("tenant", tenant))
}

pub(crate) fn status_of(
    meta: &ObjectMeta,
    conditions: &[kubenova_api::crd::Condition],
    namespaces: Vec<String>,
) -> ObjectStatus {
    ObjectStatus {
        deleting_since: meta.deletion_timestamp.as_ref().map(|t| t.0.to_string()),
        ready: conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status == "True"),
        conditions: conditions.to_vec(),
        namespaces,
    }
}

fn tenant_view(cluster: &str, t: &Tenant) -> TenantView {
    let status = t.status.clone().unwrap_or_default();
    TenantView {
        name: t.name_any(),
        cluster: cluster.to_owned(),
        display_name: t.spec.display_name.clone(),
        owners: t.spec.owners.clone(),
        quota: t.spec.plan.quota.clone(),
        limits: t.spec.plan.limits.clone(),
        ingress_classes: t.spec.plan.ingress_classes.clone(),
        storage_classes: t.spec.plan.storage_classes.clone(),
        ingress_hosts: t.spec.plan.ingress_hosts.clone(),
        pod_security: t.spec.pod_security,
        prevent_deletion: t.spec.prevent_deletion,
        network_policy: t.spec.network_policy.clone(),
        labels: t.spec.labels.clone(),
        annotations: t.spec.annotations.clone(),
        status: status_of(&t.metadata, &status.conditions, status.namespaces),
    }
}

/// A tenant of cluster `{c}` (404 when it lives elsewhere), with the cluster's client.
pub(crate) async fn tenant_in(
    state: &AppState,
    cluster: &str,
    tenant: &str,
) -> Result<(Client, Api<Tenant>, Tenant), ApiError> {
    let (_, client) = state.cluster(cluster).await?;
    let home = cluster_of(state, tenant).await?;
    if home != cluster {
        return Err(ApiError::not_found("tenant", tenant)
            .with_details(json!({ "kind": "tenant", "name": tenant, "cluster": cluster })));
    }
    read_tenant(client, cluster, tenant).await
}

pub(super) async fn read_tenant(
    client: Client,
    cluster: &str,
    tenant: &str,
) -> Result<(Client, Api<Tenant>, Tenant), ApiError> {
    let api: Api<Tenant> = Api::all(client.clone());
    let found = api
        .get_opt(tenant)
        .await
        .map_err(|e| ApiError::from_kube(cluster, e))?
        .ok_or_else(|| ApiError::not_found("tenant", tenant))?;
    Ok((client, api, found))
}

pub(crate) fn managed_labels(tenant: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::MANAGED_BY.to_owned(),
            labels::MANAGED_BY_VALUE.to_owned(),
        ),
        (labels::TENANT.to_owned(), tenant.to_owned()),
    ])
}

/// `POST /api/v1/clusters/{c}/tenants`.
pub async fn create(
    State(state): State<AppState>,
    Path(ClusterPath { c }): Path<ClusterPath>,
    Json(input): Json<TenantInput>,
) -> Result<Response, ApiError> {
    let cluster = c.to_string();
    validate_name("name", &input.name, MAX_TENANT_LEN)?;
    let (tenant, settings) = input.split();
    let spec = settings_spec(settings)?;
    let (_, client) = state.cluster(&cluster).await?;
    hosts_free(&client, &cluster, &tenant, &spec.plan.ingress_hosts).await?;
    // A tenant's namespaces are `<tenant>-<anything>`: tenants `a` and `a-x` could both claim
    // `a-x-web`, so neither name may be another's followed by `-` (ADR 0009). The agent also
    // refuses the younger of two such Tenants made with kubectl.
    let existing = index_api(&state)
        .list(&ListParams::default().labels(&format!("{INDEX_CLUSTER_LABEL},{}", labels::TENANT)))
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?;
    let taken: Vec<String> = existing
        .items
        .iter()
        .filter(|cm| cm.name_any().starts_with(INDEX_PREFIX))
        .filter_map(|cm| cm.labels().get(labels::TENANT).cloned())
        .collect();
    if let Some(other) = names::overlapping_tenant(&tenant, taken.iter().map(String::as_str)) {
        return Err(ApiError::conflict(format!(
            "tenant name `{tenant}` overlaps tenant `{other}`: namespaces named `{long}-...` could belong to either; \
             choose a name that is not another tenant's name followed by `-` and does not start with one",
            long = if tenant.len() > other.len() { &tenant } else { other },
        ))
        .with_details(json!({ "kind": "tenant", "name": tenant, "overlaps": other })));
    }
    // Claim the name across all clusters first.
    let mut index_labels = managed_labels(&tenant);
    index_labels.insert(INDEX_CLUSTER_LABEL.to_owned(), cluster.clone());
    let index = ConfigMap {
        metadata: ObjectMeta {
            name: Some(index_name(&tenant)),
            labels: Some(index_labels),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("cluster".to_owned(), cluster.clone())])),
        ..ConfigMap::default()
    };
    match index_api(&state)
        .create(&PostParams::default(), &index)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let home = cluster_of(&state, &tenant).await.unwrap_or_default();
            return Err(ApiError::conflict(format!(
                "tenant `{tenant}` already exists (in cluster `{home}`); tenant names are unique across clusters"
            ))
            .with_details(json!({ "kind": "tenant", "name": tenant, "cluster": home })));
        }
        Err(e) => return Err(ApiError::from_kube(MANAGEMENT, e)),
    }
    let mut object = Tenant::new(&tenant, spec);
    object.metadata.labels = Some(managed_labels(&tenant));
    let api: Api<Tenant> = Api::all(client);
    match api.create(&PostParams::default(), &object).await {
        Ok(created) => Ok((
            StatusCode::CREATED,
            axum::Json(tenant_view(&cluster, &created)),
        )
            .into_response()),
        Err(e) => {
            let _ = index_api(&state)
                .delete(&index_name(&tenant), &DeleteParams::default())
                .await;
            Err(match e {
                kube::Error::Api(s) if s.code == 409 => ApiError::conflict(format!(
                    "tenant `{tenant}` already exists in cluster `{cluster}`"
                )),
                other => ApiError::from_kube(&cluster, other),
            })
        }
    }
}

/// `GET /api/v1/clusters/{c}/tenants`.
pub async fn list(
    State(state): State<AppState>,
    Path(ClusterPath { c }): Path<ClusterPath>,
) -> Result<axum::Json<List<TenantView>>, ApiError> {
    let cluster = c.to_string();
    let (_, client) = state.cluster(&cluster).await?;
    let api: Api<Tenant> = Api::all(client);
    let mut items: Vec<TenantView> = api
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiError::from_kube(&cluster, e))?
        .items
        .iter()
        .map(|t| tenant_view(&cluster, t))
        .collect();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(axum::Json(List { items }))
}

/// `GET /api/v1/clusters/{c}/tenants/{t}`.
pub async fn get(
    State(state): State<AppState>,
    Path(names): Path<TenantPath>,
) -> Result<axum::Json<TenantView>, ApiError> {
    let (cluster, tenant) = (names.c.to_string(), names.t.to_string());
    let (_, _, found) = tenant_in(&state, &cluster, &tenant).await?;
    Ok(axum::Json(tenant_view(&cluster, &found)))
}

async fn update_spec(
    state: &AppState,
    names: &TenantPath,
    change: impl FnOnce(&mut TenantSpec) -> Result<(), ApiError>,
) -> Result<axum::Json<TenantView>, ApiError> {
    let (cluster, tenant) = (names.c.to_string(), names.t.to_string());
    let (client, api, found) = tenant_in(state, &cluster, &tenant).await?;
    let mut spec = found.spec.clone();
    change(&mut spec)?;
    if spec.plan.ingress_hosts != found.spec.plan.ingress_hosts {
        hosts_free(&client, &cluster, &tenant, &spec.plan.ingress_hosts).await?;
    }
    let replaced = super::replace::replace_spec(
        &api,
        &cluster,
        found,
        |t: &mut Tenant| {
            t.spec = spec.clone();
            t.status = None;
        },
        |a, b| a.spec == b.spec,
    )
    .await?;
    Ok(axum::Json(tenant_view(&cluster, &replaced)))
}

/// `PUT /api/v1/clusters/{c}/tenants/{t}`.
pub async fn update(
    State(state): State<AppState>,
    Path(names): Path<TenantPath>,
    Json(input): Json<TenantSettings>,
) -> Result<axum::Json<TenantView>, ApiError> {
    let spec = settings_spec(input)?;
    update_spec(&state, &names, |s| {
        *s = spec;
        Ok(())
    })
    .await
}

/// `PUT .../tenants/{t}/owners`.
pub async fn owners(
    State(state): State<AppState>,
    Path(names): Path<TenantPath>,
    Json(input): Json<OwnersInput>,
) -> Result<axum::Json<TenantView>, ApiError> {
    validate_subjects("owners", &input.owners)?;
    update_spec(&state, &names, |s| {
        s.owners = input.owners;
        Ok(())
    })
    .await
}

/// `PUT .../tenants/{t}/quotas`.
pub async fn quotas(
    State(state): State<AppState>,
    Path(names): Path<TenantPath>,
    Json(input): Json<Quota>,
) -> Result<axum::Json<TenantView>, ApiError> {
    update_spec(&state, &names, |s| {
        s.plan.quota = input;
        Ok(())
    })
    .await
}

/// `PUT .../tenants/{t}/limits`.
pub async fn limits(
    State(state): State<AppState>,
    Path(names): Path<TenantPath>,
    Json(input): Json<Limits>,
) -> Result<axum::Json<TenantView>, ApiError> {
    update_spec(&state, &names, |s| {
        s.plan.limits = input;
        Ok(())
    })
    .await
}

/// `PUT .../tenants/{t}/network-policies`: replaces the tenant's network isolation; the agent
/// rewrites every project's `kubenova-isolation` NetworkPolicy from it.
pub async fn network_policies(
    State(state): State<AppState>,
    Path(names): Path<TenantPath>,
    Json(input): Json<NetworkPolicySettings>,
) -> Result<axum::Json<TenantView>, ApiError> {
    validate_network_policy("", &input)?;
    update_spec(&state, &names, |s| {
        s.network_policy = input;
        Ok(())
    })
    .await
}

/// `DELETE /api/v1/clusters/{c}/tenants/{t}`: refused while it has projects (also those being
/// deleted, named in `details.deleting`) or `preventDeletion` is set; else 202 with the tenant
/// being deleted (`status.deletingSince`). Its name leaves the API at once; the agent removes
/// its namespaces and Capsule Tenant behind.
pub async fn delete(
    State(state): State<AppState>,
    Path(names): Path<TenantPath>,
) -> Result<Response, ApiError> {
    let (cluster, tenant) = (names.c.to_string(), names.t.to_string());
    let (client, api, found) = tenant_in(&state, &cluster, &tenant).await?;
    if found.spec.prevent_deletion {
        return Err(ApiError::conflict(format!(
            "tenant `{tenant}` has preventDeletion set; clear it with PUT first"
        )));
    }
    let projects = tenant_projects(&client, &cluster, &tenant).await?;
    if !projects.is_empty() {
        return Err(still_has_projects(&tenant, &projects));
    }
    let deleting = api
        .delete(&tenant, &DeleteParams::default())
        .await
        .map_err(|e| ApiError::from_kube(&cluster, e))?
        .left_or_else(|_| found.clone());
    // Its tokens stop working now (the agent does the same before the finalizer goes, for
    // deletions with kubectl). After the delete: a token issued meanwhile is caught by the
    // issuer's own check (ADR 0010).
    super::tokens::revoke_scope(&state, &tenant, None, "tenant deleted").await?;
    match index_api(&state)
        .delete(&index_name(&tenant), &DeleteParams::default())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(ApiError::from_kube(MANAGEMENT, e)),
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(tenant_view(&cluster, &deleting)),
    )
        .into_response())
}

/// The 409 for a tenant that still has `projects`: which, and which of them are on their way.
fn still_has_projects(tenant: &str, projects: &[Project]) -> ApiError {
    let list: Vec<String> = projects.iter().map(|p| p.spec.project.clone()).collect();
    let deleting: Vec<String> = projects
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
        .map(|p| p.spec.project.clone())
        .collect();
    let message = if deleting.len() == list.len() {
        format!(
            "tenant `{tenant}` still has projects being deleted ({}); try again once they are gone (their GET answers 404)",
            list.join(", ")
        )
    } else {
        let shown: Vec<String> = list
            .iter()
            .map(|p| {
                if deleting.contains(p) {
                    format!("{p}: being deleted")
                } else {
                    p.clone()
                }
            })
            .collect();
        format!(
            "tenant `{tenant}` still has projects ({}); delete them first",
            shown.join(", ")
        )
    };
    ApiError::conflict(message).with_details(json!({ "projects": list, "deleting": deleting }))
}

pub(crate) async fn tenant_projects(
    client: &Client,
    cluster: &str,
    tenant: &str,
) -> Result<Vec<Project>, ApiError> {
    let api: Api<Project> = Api::all(client.clone());
    let mut items: Vec<Project> = api
        .list(&ListParams::default().labels(&format!("{}={tenant}", labels::TENANT)))
        .await
        .map_err(|e| ApiError::from_kube(cluster, e))?
        .items
        .into_iter()
        .filter(|p| p.spec.tenant == tenant)
        .collect();
    items.sort_by(|a, b| a.spec.project.cmp(&b.spec.project));
    Ok(items)
}
