//! What an [`App`] becomes in its namespace: one KubeVela `Application` (applied by Vela as the
//! project's deployer ServiceAccount) and, for config files, one ConfigMap. Pure functions: the
//! reconciler applies what they return.
//!
//! - `image` apps use Vela's built-in `webservice` component; replicas go through the `scaler`
//!   trait (0 while suspended), the ingress through the `gateway` trait, config files through a
//!   ConfigMap mounted file by file (`subPath`), registry credentials as `imagePullSecrets`.
//! - `helm` apps use KubeNova's `helm` ComponentDefinition (`config/vela/helm.yaml`: FluxCD
//!   source- and helm-controller underneath); while suspended its `suspend` property puts every
//!   Deployment and StatefulSet of the chart at zero replicas.

pub use kubenova_api::apps::{
    APP_LABEL, DEPLOY_REQUESTED, Placement, SPEC_ANNOTATION, app_labels, spec_of_revision,
};
use kubenova_api::crd::{App, AppSpec, HelmSource, ImageSource, VelaItem};
use serde_json::{Map, Value, json};

/// The annotation that makes Vela apply an Application as a ServiceAccount of its namespace.
pub const SERVICE_ACCOUNT_ANNOTATION: &str = "app.oam.dev/service-account-name";

/// KubeVela's publish-version annotation. With it set, Vela makes a new ApplicationRevision
/// whenever its value differs from the latest revision's, and re-runs the delivery workflow only
/// when it changes (vela-core v1.10 `currentAppRevIsNew`, `CheckWorkflowRestart`).
pub const PUBLISH_VERSION_ANNOTATION: &str = "app.oam.dev/publishVersion";

/// Why an app cannot be rendered (the API checks the same before it stores an App).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// Neither or both of `helm` and `image`.
    #[error("an app has exactly one of spec.helm and spec.image")]
    NoSource,
    /// The app has no name or namespace.
    #[error("the App has no {0}")]
    Unnamed(&'static str),
}

/// The name of the ConfigMap holding an app's config files.
pub fn files_config_map_name(app: &str) -> String {
    format!("{app}-files")
}

/// The KubeVela `Application` for `app`.
pub fn application(app: &App, at: Placement<'_>) -> Result<Value, RenderError> {
    let name = app
        .metadata
        .name
        .as_deref()
        .ok_or(RenderError::Unnamed("name"))?;
    let namespace = app
        .metadata
        .namespace
        .as_deref()
        .ok_or(RenderError::Unnamed("namespace"))?;
    let spec = &app.spec;
    let (kind, properties, mut traits) = match (&spec.helm, &spec.image) {
        (Some(helm), None) => ("helm", helm_properties(helm, spec.suspended), Vec::new()),
        (None, Some(image)) => (
            "webservice",
            image_properties(name, image),
            image_traits(image, spec.suspended),
        ),
        _ => return Err(RenderError::NoSource),
    };
    traits.extend(spec.traits.iter().map(vela_item));
    let mut component = json!({ "name": name, "type": kind, "properties": properties });
    if !traits.is_empty() {
        component["traits"] = Value::Array(traits);
    }
    let mut application = json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": app_labels(name, at),
            "annotations": {
                SERVICE_ACCOUNT_ANNOTATION: at.deployer,
                SPEC_ANNOTATION: spec_snapshot(spec),
            },
        },
        "spec": { "components": [component] },
    });
    if !spec.policies.is_empty() {
        application["spec"]["policies"] =
            Value::Array(spec.policies.iter().map(vela_item).collect());
    }
    let version = publish_version(
        app.metadata.generation.unwrap_or(0),
        &application["spec"],
        app.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DEPLOY_REQUESTED))
            .map_or("", String::as_str),
    );
    application["metadata"]["annotations"][PUBLISH_VERSION_ANNOTATION] = json!(version);
    Ok(application)
}

/// The publish version of an Application: `<App generation>.<hash>`, the hash over the rendered
/// spec and the last `:deploy` stamp. Every change of the App's spec (an edit, a rollback, a
/// suspend) moves the generation, a `:deploy` moves the stamp and a KubeNova upgrade that renders
/// differently moves the hash; each makes KubeVela deliver again as a new revision, even when
/// the spec equals an older revision's. Re-applying an unchanged App changes nothing.
pub fn publish_version(generation: i64, spec: &Value, deploy_stamp: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(spec.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(deploy_stamp.as_bytes());
    let hash: String = hasher
        .finalize()
        .iter()
        .take(5)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{generation}.{hash}")
}

/// The App spec as recorded on the Application: everything but `suspended`, which is a state of
/// the app rather than a version of it.
fn spec_snapshot(spec: &AppSpec) -> String {
    let mut snapshot = spec.clone();
    snapshot.suspended = false;
    serde_json::to_string(&snapshot).unwrap_or_default()
}

/// The ConfigMap with an image app's config files, if it has any: one key per file.
pub fn files_config_map(app: &App, at: Placement<'_>) -> Result<Option<Value>, RenderError> {
    let name = app
        .metadata
        .name
        .as_deref()
        .ok_or(RenderError::Unnamed("name"))?;
    let namespace = app
        .metadata
        .namespace
        .as_deref()
        .ok_or(RenderError::Unnamed("namespace"))?;
    let Some(image) = &app.spec.image else {
        return Ok(None);
    };
    if image.config_files.is_empty() {
        return Ok(None);
    }
    let data: Map<String, Value> = image
        .config_files
        .iter()
        .enumerate()
        .map(|(i, f)| (file_key(i), Value::String(f.content.clone())))
        .collect();
    Ok(Some(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": files_config_map_name(name),
            "namespace": namespace,
            "labels": app_labels(name, at),
        },
        "data": data,
    })))
}

fn file_key(index: usize) -> String {
    format!("file-{index}")
}

/// The `helm` component's properties; `suspend` (every Deployment and StatefulSet of the chart at
/// zero replicas, see `config/vela/helm.yaml`) only while the app is suspended.
fn helm_properties(helm: &HelmSource, suspended: bool) -> Value {
    let mut p = json!({ "url": helm.repo, "chart": helm.chart, "version": helm.version });
    if suspended {
        p["suspend"] = json!(true);
    }
    if let Some(values) = &helm.values {
        p["values"] = values.clone();
    }
    if let Some(secret) = &helm.credentials_secret {
        p["secretRef"] = json!(secret);
    }
    if helm.insecure {
        p["insecure"] = json!(true);
    }
    p
}

/// `image:tag`, or `image@sha256:...` for a digest.
pub fn image_reference(image: &ImageSource) -> String {
    if image.tag.starts_with("sha256:") {
        format!("{}@{}", image.image, image.tag)
    } else {
        format!("{}:{}", image.image, image.tag)
    }
}

fn image_properties(app: &str, image: &ImageSource) -> Value {
    let mut p = json!({ "image": image_reference(image) });
    if !image.ports.is_empty() {
        p["ports"] = image
            .ports
            .iter()
            .map(|port| {
                let mut v = json!({ "port": port.port, "expose": port.expose });
                if let Some(name) = &port.name {
                    v["name"] = json!(name);
                }
                v
            })
            .collect();
    }
    let r = &image.resources;
    if let Some(cpu) = &r.cpu {
        p["cpu"] = json!(cpu);
    }
    if let Some(memory) = &r.memory {
        p["memory"] = json!(memory);
    }
    if r.cpu_limit.is_some() || r.memory_limit.is_some() {
        let mut limit = Map::new();
        if let Some(cpu) = &r.cpu_limit {
            limit.insert("cpu".into(), json!(cpu));
        }
        if let Some(memory) = &r.memory_limit {
            limit.insert("memory".into(), json!(memory));
        }
        p["limit"] = Value::Object(limit);
    }
    if !image.env.is_empty() {
        p["env"] = image
            .env
            .iter()
            .map(|e| match (&e.value, &e.secret_ref) {
                (_, Some(secret)) => json!({
                    "name": e.name,
                    "valueFrom": { "secretKeyRef": { "name": secret.name, "key": secret.key } },
                }),
                (value, None) => {
                    json!({ "name": e.name, "value": value.clone().unwrap_or_default() })
                }
            })
            .collect();
    }
    if let Some(secret) = &image.registry_secret {
        p["imagePullSecrets"] = json!([secret]);
    }
    if !image.config_files.is_empty() {
        let config_map = files_config_map_name(app);
        p["volumeMounts"] = json!({
            "configMap": image
                .config_files
                .iter()
                .enumerate()
                .map(|(i, f)| json!({
                    "name": file_key(i),
                    "mountPath": f.path,
                    "subPath": file_key(i),
                    "cmName": config_map,
                }))
                .collect::<Vec<_>>(),
        });
    }
    p
}

fn image_traits(image: &ImageSource, suspended: bool) -> Vec<Value> {
    let replicas = if suspended { 0 } else { image.replicas };
    let mut traits = vec![json!({ "type": "scaler", "properties": { "replicas": replicas } })];
    if let Some(ingress) = &image.ingress {
        let port = ingress
            .port
            .or_else(|| image.ports.first().map(|p| p.port))
            .unwrap_or(80);
        let mut properties = json!({
            "domain": ingress.host,
            "http": { ingress.path.clone(): port },
            "pathType": "Prefix",
            "classInSpec": true,
        });
        if let Some(class) = &ingress.class {
            properties["class"] = json!(class);
        }
        traits.push(json!({ "type": "gateway", "properties": properties }));
    }
    traits
}

fn vela_item(item: &VelaItem) -> Value {
    let mut v = json!({ "type": item.type_ });
    if let Some(name) = &item.name {
        v["name"] = json!(name);
    }
    if let Some(properties) = &item.properties {
        v["properties"] = properties.clone();
    }
    v
}

#[cfg(test)]
mod tests;
