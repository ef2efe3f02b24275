//! The body of `POST`/`PUT .../apps`: what a user sends, checked field by field, and turned into
//! the `App` spec plus the Secrets that hold the credentials it carried.
//!
//! Credentials are write-only: they become Secrets in the project namespace (`<app>-registry`, a
//! `kubernetes.io/dockerconfigjson` Secret used as `imagePullSecrets`; `<app>-repo` for a chart
//! repository: username/password for HTTP repositories, a docker config for OCI registries), the
//! App names the Secret, and no answer of the API ever contains them. A `PUT` without credentials
//! keeps the Secret the App already has.

use std::collections::{BTreeMap, BTreeSet};

use crate::crd::{
    AppSpec, ConfigFile, EnvVar, HelmSource, ImageSource, Ingress, Port, Resources, VelaItem,
};
use crate::quantity::is_quantity;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Placement, app_labels};

mod helm;
mod image;
pub mod source;
use helm::plan_helm;
use image::plan_image;
pub use image::{registry_host, split_image};
pub use source::ChartSources;

/// A field that is wrong, and why, in words for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct Invalid {
    /// The JSON path of the field (`image.ports[0].port`).
    pub field: String,
    /// What is wrong and what would be right.
    pub why: String,
}

fn invalid(field: impl Into<String>, why: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        why: why.into(),
    }
}

/// An app as the API takes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppRequest {
    /// The app's name (a DNS label of at most 40 characters); on `PUT` it may be left out.
    #[serde(default)]
    pub name: Option<String>,
    /// A Helm chart (exclusive with `image`).
    #[serde(default)]
    pub helm: Option<HelmRequest>,
    /// A container image (exclusive with `helm`).
    #[serde(default)]
    pub image: Option<ImageRequest>,
    /// KubeVela traits (types the platform allows).
    #[serde(default)]
    pub traits: Vec<VelaItem>,
    /// KubeVela policies (types the platform allows).
    #[serde(default)]
    pub policies: Vec<VelaItem>,
}

/// A Helm chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmRequest {
    /// `https://...` (a Helm repository) or `oci://...` (an OCI registry path).
    pub repo: String,
    /// The chart's name.
    pub chart: String,
    /// The chart version (exact or a semver range).
    pub version: String,
    /// Values for the chart (an object).
    #[serde(default)]
    pub values: Option<Value>,
    /// Credentials for the repository (stored as a Secret, never returned).
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// The `oci://` registry speaks plain HTTP (no TLS).
    #[serde(default)]
    pub insecure: bool,
}

/// A user name and password (or token).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A container image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageRequest {
    /// The image, with or without its tag (`grafana/grafana:11.0.0`).
    pub image: String,
    /// The tag, when `image` has none.
    #[serde(default)]
    pub tag: Option<String>,
    /// Ports the container listens on.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// Pods to run (1 unless set).
    #[serde(default)]
    pub replicas: Option<i32>,
    /// Requests and limits.
    #[serde(default)]
    pub resources: Resources,
    /// Environment variables: literals or keys of Secrets in the project namespace.
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// Files to mount into the container.
    #[serde(default)]
    pub config_files: Vec<ConfigFile>,
    /// Credentials for a private registry (stored as a Secret, never returned).
    #[serde(default)]
    pub registry: Option<RegistryCredentials>,
    /// An Ingress.
    #[serde(default)]
    pub ingress: Option<Ingress>,
}

/// Credentials for a container registry.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryCredentials {
    /// The registry host (taken from the image when left out).
    #[serde(default)]
    pub server: Option<String>,
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Which KubeVela trait and policy types users may pass through, and where charts may come
/// from (platform configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// Trait types.
    pub traits: BTreeSet<String>,
    /// Policy types.
    pub policies: BTreeSet<String>,
    /// Chart repository hosts and plain HTTP (default: public hosts over TLS only).
    pub chart_sources: ChartSources,
}

impl Default for Allowed {
    /// Traits that only touch the app's own objects; no policies (topology and override
    /// policies could place objects elsewhere).
    fn default() -> Self {
        Allowed {
            traits: [
                "labels",
                "annotations",
                "resource",
                "command",
                "sidecar",
                "init-container",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            policies: BTreeSet::new(),
            chart_sources: ChartSources::default(),
        }
    }
}

/// Traits KubeNova sets itself on image apps (from `replicas` and `ingress`).
const OWN_TRAITS: [&str; 2] = ["scaler", "gateway"];

/// What to write for a request: the App's spec and the credential Secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The App's name.
    pub name: String,
    /// The App's spec.
    pub spec: AppSpec,
    /// Secrets to apply before the App (JSON objects, credentials inside).
    pub secrets: Vec<Value>,
}

/// The name of an app's registry Secret.
pub fn registry_secret_name(app: &str) -> String {
    format!("{app}-registry")
}

/// The name of an app's chart repository Secret.
pub fn repo_secret_name(app: &str) -> String {
    format!("{app}-repo")
}

/// Checks `request` and works out what to write. `name` is the app's name from the path (`PUT`)
/// or `None` (`POST`: the body names it); `existing` is the App's current spec on `PUT`.
pub fn plan(
    request: AppRequest,
    name: Option<&str>,
    existing: Option<&AppSpec>,
    at: Placement<'_>,
    allowed: &Allowed,
) -> Result<Planned, Invalid> {
    let name = match (name, request.name.as_deref()) {
        (Some(path), Some(body)) if path != body => {
            return Err(invalid(
                "name",
                format!(
                    "the body names {body:?} but the path names {path:?}; an app cannot be renamed"
                ),
            ));
        }
        (Some(path), _) => path.to_owned(),
        (None, Some(body)) => body.to_owned(),
        (None, None) => return Err(invalid("name", "required: the app's name")),
    };
    check_app_name(&name)?;
    let mut secrets = Vec::new();
    let (helm, image) = match (request.helm, request.image) {
        (Some(helm), None) => {
            let kept = existing
                .and_then(|s| s.helm.as_ref())
                .and_then(|h| h.credentials_secret.clone());
            (
                Some(plan_helm(
                    &name,
                    helm,
                    kept,
                    at,
                    &allowed.chart_sources,
                    &mut secrets,
                )?),
                None,
            )
        }
        (None, Some(image)) => {
            let kept = existing
                .and_then(|s| s.image.as_ref())
                .and_then(|i| i.registry_secret.clone());
            (
                None,
                Some(plan_image(&name, image, kept, at, &mut secrets)?),
            )
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "helm",
                "give either helm (a chart) or image (a container image), not both",
            ));
        }
        (None, None) => {
            return Err(invalid(
                "image",
                "required: either helm (a chart) or image (a container image)",
            ));
        }
    };
    for (i, t) in request.traits.iter().enumerate() {
        let field = format!("traits[{i}]");
        check_item(&field, t, &allowed.traits, "trait")?;
        if image.is_some() && OWN_TRAITS.contains(&t.type_.as_str()) {
            return Err(invalid(
                format!("{field}.type"),
                format!(
                    "{} is set by KubeNova from image.replicas and image.ingress; use those",
                    t.type_
                ),
            ));
        }
    }
    for (i, p) in request.policies.iter().enumerate() {
        let field = format!("policies[{i}]");
        check_item(&field, p, &allowed.policies, "policy")?;
        if p.name.is_none() {
            return Err(invalid(format!("{field}.name"), "required for a policy"));
        }
    }
    let suspended = existing.is_some_and(|s| s.suspended);
    Ok(Planned {
        name,
        spec: AppSpec {
            helm,
            image,
            traits: request.traits,
            policies: request.policies,
            suspended,
        },
        secrets,
    })
}

fn check_app_name(name: &str) -> Result<(), Invalid> {
    crate::names::validate_dns1123_label("name", name)
        .map_err(|e| invalid("name", e.to_string()))?;
    if name.len() > 40 {
        return Err(invalid(
            "name",
            format!(
                "is {} characters long; an app name has at most 40",
                name.len()
            ),
        ));
    }
    Ok(())
}

fn check_item(
    field: &str,
    item: &VelaItem,
    allowed: &BTreeSet<String>,
    what: &str,
) -> Result<(), Invalid> {
    if !allowed.contains(&item.type_) {
        let list = if allowed.is_empty() {
            "none are allowed on this platform".to_owned()
        } else {
            format!(
                "allowed: {}",
                allowed.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        return Err(invalid(
            format!("{field}.type"),
            format!("{what} type {:?} is not allowed ({list})", item.type_),
        ));
    }
    if let Some(properties) = &item.properties
        && !properties.is_object()
    {
        return Err(invalid(format!("{field}.properties"), "must be an object"));
    }
    Ok(())
}

fn check_credentials(field: &str, username: &str, password: &str) -> Result<(), Invalid> {
    if username.is_empty() || password.is_empty() {
        return Err(invalid(
            field,
            "username and password must both be set (or leave credentials out)",
        ));
    }
    Ok(())
}

fn secret(
    name: &str,
    app: &str,
    at: Placement<'_>,
    type_: &str,
    data: BTreeMap<String, String>,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "labels": app_labels(app, at) },
        "type": type_,
        "stringData": data,
    })
}

/// A `kubernetes.io/dockerconfigjson` Secret for one registry.
fn docker_config_secret(
    name: &str,
    app: &str,
    at: Placement<'_>,
    server: &str,
    username: &str,
    password: &str,
) -> Value {
    // Docker Hub's credentials are looked up under its historical index URL.
    let key = if server == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        server
    };
    let auth = STANDARD.encode(format!("{username}:{password}"));
    let config =
        json!({ "auths": { key: { "username": username, "password": password, "auth": auth } } });
    secret(
        name,
        app,
        at,
        "kubernetes.io/dockerconfigjson",
        BTreeMap::from([(".dockerconfigjson".to_owned(), config.to_string())]),
    )
}

#[cfg(test)]
mod tests;
