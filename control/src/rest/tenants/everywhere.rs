//! Tenants by name alone, across clusters: tenant names are unique across all of them, and the
//! index in the management cluster says where each lives.

use std::collections::BTreeMap;

use axum::extract::State;
use kube::Client;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use kubenova_api::crd::Tenant;
use kubenova_api::names;

use super::super::clusters::INDEX_CLUSTER_LABEL;
use super::super::dto::{AllTenants, ClusterProblem, ProjectUsage, TenantUsage, TenantView};
use super::super::error::ApiError;
use super::super::path::{Path, TenantRef};
use super::{INDEX_PREFIX, cluster_of, index_api, read_tenant, tenant_projects, tenant_view};
use crate::services::state::{AppState, MANAGEMENT};

/// Tenant `tenant` by its name alone: the index says its cluster (read once).
pub(super) async fn tenant_by_name(
    state: &AppState,
    tenant: &str,
) -> Result<(String, Client, Tenant), ApiError> {
    let cluster = cluster_of(state, tenant).await?;
    let (_, client) = state.cluster(&cluster).await?;
    let (client, _, found) = read_tenant(client, &cluster, tenant).await?;
    Ok((cluster, client, found))
}

/// `GET /api/v1/tenants`: every tenant of every registered cluster, by name (tenant names are
/// unique across clusters). A cluster that does not answer is named in `unreachable` rather than
/// failing the whole list or silently missing from it.
pub async fn list_all(State(state): State<AppState>) -> Result<axum::Json<AllTenants>, ApiError> {
    let clusters = state
        .cluster_records()
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?;
    // Where each tenant lives, from the index (one read): a Tenant object is listed only under
    // its home cluster, as every other endpoint finds it (two registrations of one apiserver
    // would otherwise show it twice).
    let home: BTreeMap<String, String> = index_api(&state)
        .list(&ListParams::default().labels(INDEX_CLUSTER_LABEL))
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .items
        .into_iter()
        .filter_map(|cm| {
            let tenant = cm.name_any().strip_prefix(INDEX_PREFIX)?.to_owned();
            Some((tenant, cm.data?.remove("cluster")?))
        })
        .collect();
    let mut all = AllTenants {
        items: Vec::new(),
        unreachable: Vec::new(),
    };
    for record in &clusters.items {
        let cluster = record.name_any();
        let listed = match state.cluster(&cluster).await {
            Ok((_, client)) => Api::<Tenant>::all(client)
                .list(&ListParams::default())
                .await
                .map_err(|e| ApiError::from_kube(&cluster, e)),
            Err(e) => Err(e),
        };
        match listed {
            Ok(tenants) => all.items.extend(
                tenants
                    .items
                    .iter()
                    .filter(|t| home.get(&t.name_any()) == Some(&cluster))
                    .map(|t| tenant_view(&cluster, t)),
            ),
            Err(e) => all.unreachable.push(ClusterProblem {
                cluster,
                message: e.message,
            }),
        }
    }
    all.items
        .sort_by(|a, b| a.name.cmp(&b.name).then(a.cluster.cmp(&b.cluster)));
    Ok(axum::Json(all))
}

/// `GET /api/v1/tenants/{t}`: a tenant by its name alone (its cluster is looked up).
pub async fn get_by_name(
    State(state): State<AppState>,
    Path(TenantRef { t }): Path<TenantRef>,
) -> Result<axum::Json<TenantView>, ApiError> {
    let (cluster, _, found) = tenant_by_name(&state, t.as_str()).await?;
    Ok(axum::Json(tenant_view(&cluster, &found)))
}

/// `GET /api/v1/tenants/{t}/usage`.
pub async fn usage(
    State(state): State<AppState>,
    Path(TenantRef { t }): Path<TenantRef>,
) -> Result<axum::Json<TenantUsage>, ApiError> {
    let tenant = t.to_string();
    let (cluster, client, found) = tenant_by_name(&state, &tenant).await?;
    let projects = tenant_projects(&client, &cluster, &tenant).await?;
    Ok(axum::Json(TenantUsage {
        tenant: tenant.clone(),
        cluster,
        usage: found.status.and_then(|s| s.usage),
        projects: projects
            .into_iter()
            .map(|p| ProjectUsage {
                namespace: names::project_namespace(&tenant, &p.spec.project),
                project: p.spec.project,
                usage: p.status.and_then(|s| s.usage),
            })
            .collect(),
    }))
}
