//! What the controllers share: the client and metrics ([`Shared`]), status writes, heal and
//! other Events, the owner-impersonating client, references, the reconcile error, and the labels
//! and selector of what the agent makes.

use std::sync::Arc;

use kube::runtime::events::{Event as KubeEvent, EventType, Recorder};

use super::apply::{self, FIELD_MANAGER};
use super::{Config, metrics};

/// What both controllers share.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) client: kube::Client,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) recorder: Recorder,
    pub(crate) config: Config,
}

impl Shared {
    /// Writes `status` as the status of `object` (server-side apply, our field manager), unless
    /// it equals `previous`, the stored one: an unchanged world writes nothing.
    pub(crate) async fn write_status<K, S>(
        &self,
        api: &kube::Api<K>,
        object: &K,
        previous: &S,
        status: S,
    ) -> Result<(), Error>
    where
        K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        S: serde::Serialize + PartialEq,
    {
        if *previous == status {
            return Ok(());
        }
        use kube::ResourceExt as _;
        api.patch_status(
            &object.name_any(),
            &kube::api::PatchParams::apply(FIELD_MANAGER).force(),
            &kube::api::Patch::Apply(serde_json::json!({
                "apiVersion": K::api_version(&()),
                "kind": K::kind(&()),
                "status": status,
            })),
        )
        .await?;
        self.metrics.write("status", &K::kind(&()));
        Ok(())
    }

    /// Reports a heal of `related` (a `kind`, shown as `shown`) made for `owner`: a log line,
    /// the heals metric and a Normal `Healed` Event on the owner.
    pub(crate) async fn healed(
        &self,
        controller: &'static str,
        owner: &k8s_openapi::api::core::v1::ObjectReference,
        applied: apply::Applied,
        (kind, shown): (&str, &str),
        related: k8s_openapi::api::core::v1::ObjectReference,
    ) {
        let what = if applied == apply::Applied::Created {
            "recreated (it had been deleted)"
        } else {
            "restored (it had been changed)"
        };
        tracing::info!(owner = ?owner.name, kind, object = shown, what, "healed drift");
        self.metrics.heal(controller, kind);
        self.event(
            owner,
            false,
            "Healed",
            "Heal",
            format!("{kind} {shown} {what}"),
            Some(related),
        )
        .await;
    }

    /// Publishes a Kubernetes Event about `object`; failures are logged, never fatal.
    pub(crate) async fn event(
        &self,
        object: &k8s_openapi::api::core::v1::ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
        related: Option<k8s_openapi::api::core::v1::ObjectReference>,
    ) {
        let event = KubeEvent {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: related,
        };
        if let Err(e) = self.recorder.publish(&event, object).await {
            tracing::warn!(error = %e, reason, "could not publish an Event");
        } else {
            self.metrics.write("create", "Event");
        }
    }
}

/// A client that sends every request as the owners of `tenant` would (`Impersonate-User:
/// kubenova-agent`, `Impersonate-Group: kubenova:tenant:<t>:owner, projectcapsule.dev`).
///
/// Capsule admits, labels and owner-references a tenant namespace only when a tenant owner (or
/// a Capsule administrator) writes it; the agent acts as the tenant's owner for its namespaces
/// rather than being made a Capsule administrator (see ADR 0004).
pub(crate) fn owner_client(base: &kube::Client, tenant: &str) -> kube::Client {
    use http::HeaderValue;
    let groups: Vec<HeaderValue> = [
        kubenova_api::identity::tenant_owner_group(tenant),
        kubenova_api::identity::CAPSULE_USER_GROUP.to_owned(),
    ]
    .iter()
    .filter_map(|g| HeaderValue::from_str(g).ok())
    .collect();
    let base = base.clone();
    let service = tower::service_fn(move |mut request: http::Request<kube::client::Body>| {
        let headers = request.headers_mut();
        headers.insert("Impersonate-User", HeaderValue::from_static(OWNER_USER));
        for g in &groups {
            headers.append("Impersonate-Group", g.clone());
        }
        let base = base.clone();
        async move { base.send(request).await }
    });
    kube::Client::new(service, "default")
}

/// The user name the agent impersonates when it acts as a tenant's owner.
pub const OWNER_USER: &str = "kubenova-agent";

/// A reference to an object the agent made (the `related` object of a heal Event).
pub(crate) fn reference(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> k8s_openapi::api::core::v1::ObjectReference {
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(api_version.to_owned()),
        kind: Some(kind.to_owned()),
        namespace: namespace.map(str::to_owned),
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The apiserver refused or could not be reached.
    #[error("{0}")]
    Kube(#[from] kube::Error),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// Cleanup is under way but not finished (the finalizer must stay): try again soon.
    #[error("waiting: {0}")]
    Waiting(String),
}

impl Error {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(_)) => "api",
            Error::Kube(_) => "client",
            Error::Finalizer(e) => match &**e {
                kube::runtime::finalizer::Error::CleanupFailed(Error::Waiting(_)) => "waiting",
                _ => "finalizer",
            },
            Error::Waiting(_) => "waiting",
        }
    }

    /// Whether this is only a cleanup that is not finished yet.
    pub(crate) fn is_waiting(&self) -> bool {
        self.kind() == "waiting"
    }
}

/// The name of the Capsule Tenant that owns namespace `ns` (Capsule's owner reference, which
/// its webhook sets at creation and keeps), and that Tenant's uid: the only thing the agent
/// decides a namespace's tenant from (never a label).
pub(crate) fn capsule_owner(ns: &k8s_openapi::api::core::v1::Namespace) -> Option<(&str, &str)> {
    ns.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.kind == "Tenant" && r.api_version.starts_with("capsule.clastix.io/"))
        .map(|r| (r.name.as_str(), r.uid.as_str()))
}

/// The labels every object the agent makes carries.
pub(crate) fn managed_labels(tenant: &str, project: Option<&str>) -> serde_json::Value {
    use kubenova_api::labels;
    let mut map = serde_json::Map::new();
    map.insert(labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into());
    map.insert(labels::TENANT.into(), tenant.into());
    if let Some(project) = project {
        map.insert(labels::PROJECT.into(), project.into());
    }
    serde_json::Value::Object(map)
}

/// The watcher configuration for objects the agent made (selected by the managed-by label).
pub(crate) fn managed_selector() -> kube::runtime::watcher::Config {
    use kubenova_api::labels;
    kube::runtime::watcher::Config::default().labels(&format!(
        "{}={}",
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    ))
}
