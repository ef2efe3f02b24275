//! `/api/v1/clusters`: registering workload clusters.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt, ResourceExt};
use kubenova_api::crd::{App, Cluster, ClusterSpec, ClusterStatus, Condition, Project, Tenant};
use kubenova_api::labels;
use serde_json::json;

use super::body::Json;
use super::dto::{ClusterInput, ClusterKubeconfig, ClusterView, List};
use super::error::ApiError;
use super::path::{ClusterPath, Path};
use crate::services::audit::rfc3339_now;
use crate::services::state::{AppState, MANAGEMENT, client_from_kubeconfig};

/// The field manager of everything control writes.
pub const FIELD_MANAGER: &str = "kubenova-control";
/// Label on the tenant index ConfigMaps (value: the cluster).
pub const INDEX_CLUSTER_LABEL: &str = "kubenova.io/cluster";

fn view(cluster: &Cluster) -> ClusterView {
    let status = cluster.status.clone().unwrap_or_default();
    ClusterView {
        name: cluster.name_any(),
        display_name: cluster.spec.display_name.clone(),
        proxy_url: cluster.spec.proxy_url.clone(),
        proxy_namespace: cluster.spec.proxy_namespace.clone(),
        kubernetes_version: status.kubernetes_version,
        conditions: status.conditions,
    }
}

fn validate(input: &ClusterInput) -> Result<(), ApiError> {
    kubenova_api::names::validate_dns1123_label("name", &input.name)
        .map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let url: http::Uri = input
        .proxy_url
        .parse()
        .map_err(|e| ApiError::invalid("proxyUrl", format!("not a URL: {e}")))?;
    if url.scheme_str() != Some("https") || url.host().is_none() {
        return Err(ApiError::invalid(
            "proxyUrl",
            "must be an https:// URL with a host (kubeconfigs never skip TLS verification)",
        ));
    }
    if !input.proxy_ca.contains("-----BEGIN CERTIFICATE-----") {
        return Err(ApiError::invalid(
            "proxyCa",
            "must be the PEM CA bundle (-----BEGIN CERTIFICATE-----) of the proxy's serving certificate",
        ));
    }
    if let Some(ns) = &input.proxy_namespace {
        kubenova_api::names::validate_dns1123_label("proxyNamespace", ns)
            .map_err(|e| ApiError::invalid("proxyNamespace", e.to_string()))?;
    }
    if input.display_name.as_ref().is_some_and(|d| d.len() > 256) {
        return Err(ApiError::invalid("displayName", "at most 256 characters"));
    }
    Ok(())
}

/// `POST /api/v1/clusters`.
pub async fn create(
    State(state): State<AppState>,
    Json(input): Json<ClusterInput>,
) -> Result<Response, ApiError> {
    validate(&input)?;
    let client = client_from_kubeconfig(&input.kubeconfig)
        .await
        .map_err(|e| ApiError::invalid("kubeconfig", format!("not a usable kubeconfig: {e:#}")))?;
    let version = tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
        .await
        .map_err(|_| ApiError::unavailable(&input.name, "no answer within 10 s"))?
        .map_err(|e| ApiError::unavailable(&input.name, e))?;
    let name = input.name.clone();
    if state
        .cluster_records()
        .get_opt(&name)
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "cluster `{name}` is already registered"
        )));
    }
    // The CRDs the API writes into the workload cluster.
    for crd in [Tenant::crd(), Project::crd(), App::crd()] {
        apply_crd(&client, &crd)
            .await
            .map_err(|e| ApiError::from_kube(&name, e))?;
    }
    let secret_name = format!("kubenova-cluster-{name}");
    let sealed = state
        .cipher()
        .seal(&name, input.kubeconfig.as_bytes())
        .map_err(|e| ApiError::internal(format!("encrypting the kubeconfig: {e:#}")))?;
    let record = Cluster::new(
        &name,
        ClusterSpec {
            display_name: input.display_name.clone(),
            proxy_url: input.proxy_url.clone(),
            proxy_ca: input.proxy_ca.clone(),
            kubeconfig_secret: secret_name.clone(),
            proxy_namespace: input
                .proxy_namespace
                .clone()
                .unwrap_or_else(|| "kubenova-system".into()),
        },
    );
    let created = state
        .cluster_records()
        .create(&PostParams::default(), &record)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 409 => {
                ApiError::conflict(format!("cluster `{name}` is already registered"))
            }
            other => ApiError::from_kube(MANAGEMENT, other),
        })?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name.clone()),
            labels: Some(BTreeMap::from([
                (
                    labels::MANAGED_BY.to_owned(),
                    labels::MANAGED_BY_VALUE.to_owned(),
                ),
                (INDEX_CLUSTER_LABEL.to_owned(), name.clone()),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("kubenova.io/encrypted-kubeconfig".into()),
        data: Some(BTreeMap::from([(
            "kubeconfig".to_owned(),
            ByteString(sealed.into_bytes()),
        )])),
        ..Secret::default()
    };
    let secrets = state.secrets();
    let stored = match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => secrets
            .replace(&secret_name, &PostParams::default(), &secret)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        // Nothing half-registered: take the record back.
        let _ = state
            .cluster_records()
            .delete(&name, &DeleteParams::default())
            .await;
        return Err(ApiError::from_kube(MANAGEMENT, e));
    }
    state.forget_cluster(&name);
    let status = probe(&state, &created, &client, Ok(version.git_version)).await;
    let updated = write_status(&state, &name, &status).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&updated))).into_response())
}

async fn apply_crd(client: &Client, crd: &CustomResourceDefinition) -> Result<(), kube::Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.metadata.name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(crd),
    )
    .await
    .map(|_| ())
}

fn condition(type_: &str, ok: Option<bool>, reason: &str, message: String) -> Condition {
    Condition {
        type_: type_.into(),
        status: match ok {
            Some(true) => "True",
            Some(false) => "False",
            None => "Unknown",
        }
        .into(),
        reason: reason.into(),
        message,
        last_transition_time: Some(rfc3339_now()),
        observed_generation: None,
    }
}

async fn crd_exists(client: &Client, name: &str) -> Result<bool, kube::Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    Ok(api.get_opt(name).await?.is_some())
}

/// Checks the cluster live: reachable, KubeNova agent, Capsule, KubeVela.
async fn probe(
    state: &AppState,
    cluster: &Cluster,
    client: &Client,
    version: Result<String, String>,
) -> ClusterStatus {
    let version = match version {
        Ok(v) => v,
        Err(e) => {
            let down =
                |t: &str| condition(t, None, "Unreachable", "the cluster did not answer".into());
            return ClusterStatus {
                conditions: vec![
                    condition("Reachable", Some(false), "Unreachable", e),
                    down("AgentReady"),
                    down("CapsuleReady"),
                    down("VelaReady"),
                ],
                kubernetes_version: None,
            };
        }
    };
    let mut conditions = vec![condition(
        "Reachable",
        Some(true),
        "Answered",
        format!("the apiserver answered (Kubernetes {version})"),
    )];
    // The agent: the KubeNova CRDs are installed and its Lease was renewed in the last minute.
    let agent = async {
        if !crd_exists(client, "tenants.kubenova.io").await? {
            return Ok::<_, kube::Error>((Some(false), "CrdsMissing", "the KubeNova CRDs are not installed".to_owned()));
        }
        for ns in [cluster.spec.proxy_namespace.as_str(), state.settings().namespace.as_str()] {
            let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
            if let Some(lease) = leases.get_opt(AGENT_LEASE).await? {
                let renewed = lease
                    .spec
                    .and_then(|s| s.renew_time)
                    .map(|t| t.0.as_second());
                let fresh = renewed.is_some_and(|t| crate::services::keys::time_now() - t < 60);
                return Ok(if fresh {
                    (Some(true), "LeaseRenewed", format!("Lease {ns}/{AGENT_LEASE} renewed within the last minute"))
                } else {
                    (Some(false), "LeaseStale", format!("Lease {ns}/{AGENT_LEASE} was not renewed in the last minute"))
                });
            }
        }
        Ok((
            Some(false),
            "NoLease",
            format!("no agent Lease `{AGENT_LEASE}` (is kubenova-control serve running with the agent for this cluster?)"),
        ))
    }
    .await;
    conditions.push(match agent {
        Ok((ok, reason, message)) => condition("AgentReady", ok, reason, message),
        Err(e) => condition("AgentReady", None, "CheckFailed", e.to_string()),
    });
    for (type_, crd, what) in [
        ("CapsuleReady", "tenants.capsule.clastix.io", "Capsule"),
        ("VelaReady", "applications.core.oam.dev", "KubeVela"),
    ] {
        conditions.push(match crd_exists(client, crd).await {
            Ok(true) => condition(
                type_,
                Some(true),
                "CrdInstalled",
                format!("{what} is installed ({crd})"),
            ),
            Ok(false) => condition(
                type_,
                Some(false),
                "CrdMissing",
                format!("{what} is not installed ({crd} missing)"),
            ),
            Err(e) => condition(type_, None, "CheckFailed", e.to_string()),
        });
    }
    ClusterStatus {
        conditions,
        kubernetes_version: Some(version),
    }
}

/// The name of the agent's leader-election Lease that `AgentReady` looks for.
pub const AGENT_LEASE: &str = "kubenova-agent";

async fn write_status(
    state: &AppState,
    name: &str,
    status: &ClusterStatus,
) -> Result<Cluster, ApiError> {
    state
        .cluster_records()
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))
}

/// `GET /api/v1/clusters`.
pub async fn list(
    State(state): State<AppState>,
) -> Result<axum::Json<List<ClusterView>>, ApiError> {
    let mut items: Vec<ClusterView> = state
        .cluster_records()
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .items
        .iter()
        .map(view)
        .collect();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(axum::Json(List { items }))
}

/// `GET /api/v1/clusters/{c}`: checks the cluster live and records what it found.
pub async fn get(
    State(state): State<AppState>,
    Path(ClusterPath { c }): Path<ClusterPath>,
) -> Result<axum::Json<ClusterView>, ApiError> {
    let name = c.to_string();
    let (record, client) = match state.cluster(&name).await {
        Ok(found) => found,
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
            // Registered, but its kubeconfig is unusable: show the record as it is.
            let record = state
                .cluster_records()
                .get(&name)
                .await
                .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?;
            return Ok(axum::Json(view(&record)));
        }
        Err(e) => return Err(e),
    };
    let version = tokio::time::timeout(Duration::from_secs(5), client.apiserver_version())
        .await
        .map_err(|_| "no answer within 5 s".to_owned())
        .and_then(|r| r.map(|v| v.git_version).map_err(|e| e.to_string()));
    let status = probe(&state, &record, &client, version).await;
    let updated = write_status(&state, &name, &status).await?;
    Ok(axum::Json(view(&updated)))
}

/// `DELETE /api/v1/clusters/{c}`: refused while tenants live there.
pub async fn delete(
    State(state): State<AppState>,
    Path(ClusterPath { c }): Path<ClusterPath>,
) -> Result<StatusCode, ApiError> {
    let name = c.to_string();
    let record = state
        .cluster_records()
        .get_opt(&name)
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .ok_or_else(|| ApiError::not_found("cluster", &name))?;
    let index: Api<ConfigMap> = Api::namespaced(state.mgmt().clone(), &state.settings().namespace);
    let tenants: Vec<String> = index
        .list(
            &ListParams::default()
                .labels(&format!("{INDEX_CLUSTER_LABEL}={name},{}", labels::TENANT)),
        )
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .items
        .iter()
        .filter_map(|cm| cm.labels().get(labels::TENANT).cloned())
        .collect();
    if !tenants.is_empty() {
        return Err(ApiError::conflict(format!(
            "cluster `{name}` still has tenants ({}); delete them first",
            tenants.join(", ")
        ))
        .with_details(json!({ "tenants": tenants })));
    }
    state
        .cluster_records()
        .delete(&name, &DeleteParams::default())
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?;
    match state
        .secrets()
        .delete(&record.spec.kubeconfig_secret, &DeleteParams::default())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(ApiError::from_kube(MANAGEMENT, e)),
    }
    state.forget_cluster(&name);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/clusters/{c}/kubeconfig` (admin only).
pub async fn kubeconfig(
    State(state): State<AppState>,
    Path(ClusterPath { c }): Path<ClusterPath>,
) -> Result<axum::Json<ClusterKubeconfig>, ApiError> {
    let name = c.to_string();
    let record = state
        .cluster_records()
        .get_opt(&name)
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .ok_or_else(|| ApiError::not_found("cluster", &name))?;
    let secret = state
        .secrets()
        .get(&record.spec.kubeconfig_secret)
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?;
    let sealed = secret
        .data
        .and_then(|d| {
            d.get("kubeconfig")
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        })
        .unwrap_or_default();
    let plain = state
        .cipher()
        .open(&name, &sealed)
        .map_err(|e| ApiError::internal(format!("cluster `{name}`: {e:#}")))?;
    Ok(axum::Json(ClusterKubeconfig {
        kubeconfig: String::from_utf8_lossy(&plain).into_owned(),
    }))
}
