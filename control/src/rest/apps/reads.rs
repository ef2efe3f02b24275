//! What the cluster says about an app: its status with its pods, its KubeVela revisions, its
//! pods' logs.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{AsyncBufReadExt as _, StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt as _;
use kube::api::{Api, DynamicObject, ListParams, LogParams};
use kubenova_api::crd::App;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::dto::List;
use super::super::error::ApiError;
use super::super::path::{AppPath, Path};
use super::{Place, RevisionView, place, view};
use crate::services::state::AppState;
use kubenova_api::apps::pods;
use kubenova_api::apps::revision_resource;
use kubenova_api::apps::spec_of_revision;

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

/// One pod of an app, in its status.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodView {
    /// The pod's name.
    pub name: String,
    /// Its phase (`Running`, `Pending`, ...).
    pub phase: Option<String>,
    /// Whether it is Ready.
    pub ready: bool,
    /// The app component it runs.
    pub component: Option<String>,
}

/// An app's status with its pods (`GET .../status`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppStatusView {
    /// The app's name.
    pub name: String,
    /// `helm` or `image`.
    pub kind: Option<String>,
    /// The phase the agent reports.
    pub phase: Option<String>,
    /// The KubeVela revision it runs.
    pub revision: Option<String>,
    /// When it was last delivered.
    pub last_deployed: Option<String>,
    /// When its spec last changed.
    pub last_edit: Option<String>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Whether it is suspended.
    pub suspended: bool,
    /// Health per component.
    pub components: Vec<kubenova_api::crd::ComponentHealth>,
    /// The App's conditions.
    pub conditions: Vec<kubenova_api::crd::Condition>,
    /// Its pods.
    pub pods: Vec<PodView>,
}

pub(super) async fn revisions_of(place: &Place, app: &str) -> Result<Vec<DynamicObject>, ApiError> {
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

pub(super) fn revision_number(rev: &DynamicObject) -> i64 {
    rev.data["spec"]["application"]["status"]["latestRevision"]["revision"]
        .as_i64()
        .or_else(|| {
            rev.name_any()
                .rsplit_once("-v")
                .and_then(|(_, n)| n.parse().ok())
        })
        .unwrap_or(0)
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
    Path(path): Path<AppPath>,
) -> Result<axum::Json<AppStatusView>, ApiError> {
    let place = place(&state, &path.project()).await?;
    let app = place.get(&path.a).await?;
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
            PodView {
                name: p.name_any(),
                phase: s.phase,
                ready,
                component: p
                    .labels()
                    .get("app.oam.dev/component")
                    .cloned()
                    .or_else(|| app.spec.helm.is_some().then(|| app.name_any())),
            }
        })
        .collect::<Vec<_>>();
    let v = view(&app);
    Ok(axum::Json(AppStatusView {
        name: v.name,
        kind: v.status.kind,
        phase: v.status.phase,
        revision: v.status.revision,
        last_deployed: v.status.last_deployed,
        last_edit: v.last_edit,
        last_error: v.status.last_error,
        suspended: app.spec.suspended,
        components: v.status.components,
        conditions: v.status.conditions,
        pods,
    }))
}

/// `GET .../apps/{a}/revisions`.
pub async fn revisions(
    State(state): State<AppState>,
    Path(path): Path<AppPath>,
) -> Result<axum::Json<List<RevisionView>>, ApiError> {
    let place = place(&state, &path.project()).await?;
    let app = place.get(&path.a).await?;
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
    Path(path): Path<AppPath>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let place = place(&state, &path.project()).await?;
    let app = place.get(&path.a).await?;
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
