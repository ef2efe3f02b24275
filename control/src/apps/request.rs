//! The body of `POST`/`PUT .../apps`: what a user sends, checked field by field, and turned into
//! the `App` spec plus the Secrets that hold the credentials it carried.
//!
//! Credentials are write-only: they become Secrets in the project namespace (`<app>-registry`, a
//! `kubernetes.io/dockerconfigjson` Secret used as `imagePullSecrets`; `<app>-repo` for a chart
//! repository: username/password for HTTP repositories, a docker config for OCI registries), the
//! App names the Secret, and no answer of the API ever contains them. A `PUT` without credentials
//! keeps the Secret the App already has.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kubenova_api::crd::{
    AppSpec, ConfigFile, EnvVar, HelmSource, ImageSource, Ingress, Port, Resources, VelaItem,
};
use kubenova_api::quantity::is_quantity;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::render::{Placement, app_labels};

pub mod source;
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
    kubenova_api::names::validate_dns1123_label("name", name)
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

fn plan_helm(
    app: &str,
    helm: HelmRequest,
    kept: Option<String>,
    at: Placement<'_>,
    sources: &ChartSources,
    secrets: &mut Vec<Value>,
) -> Result<HelmSource, Invalid> {
    let oci = helm.repo.starts_with("oci://");
    let host = helm
        .repo
        .strip_prefix("oci://")
        .or_else(|| helm.repo.strip_prefix("https://"))
        .or_else(|| helm.repo.strip_prefix("http://"))
        .ok_or_else(|| {
            invalid(
                "helm.repo",
                "must start with https:// (a Helm repository) or oci:// (an OCI registry)",
            )
        })?
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    if host.is_empty() || helm.repo.len() > 512 || helm.repo.contains(char::is_whitespace) {
        return Err(invalid(
            "helm.repo",
            "must be a URL such as https://charts.example.com or oci://registry.example.com/charts",
        ));
    }
    if helm.insecure && !oci {
        return Err(invalid(
            "helm.insecure",
            "only an oci:// registry can be plain HTTP; use an http:// repo URL for a Helm repository",
        ));
    }
    source::check(&helm.repo, helm.insecure, sources)?;
    let chart_ok = !helm.chart.is_empty()
        && helm.chart.len() <= 100
        && helm
            .chart
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        && !helm.chart.starts_with(['-', '_', '.']);
    if !chart_ok {
        return Err(invalid(
            "helm.chart",
            "must be a chart name such as wordpress (lowercase letters, digits, '-', '_', '.')",
        ));
    }
    if helm.version.trim().is_empty() || helm.version.len() > 64 {
        return Err(invalid(
            "helm.version",
            "required: a chart version such as 1.2.0 or a range such as ^1.2",
        ));
    }
    if let Some(values) = &helm.values
        && !values.is_object()
    {
        return Err(invalid(
            "helm.values",
            "must be an object (the chart's values), not a list or a scalar",
        ));
    }
    let credentials_secret = match helm.credentials {
        Some(c) => {
            check_credentials("helm.credentials", &c.username, &c.password)?;
            let name = repo_secret_name(app);
            secrets.push(if oci {
                docker_config_secret(&name, app, at, &host, &c.username, &c.password)
            } else {
                secret(
                    &name,
                    app,
                    at,
                    "Opaque",
                    BTreeMap::from([
                        ("username".to_owned(), c.username),
                        ("password".to_owned(), c.password),
                    ]),
                )
            });
            Some(name)
        }
        None => kept,
    };
    Ok(HelmSource {
        repo: helm.repo,
        chart: helm.chart,
        version: helm.version,
        values: helm.values,
        insecure: helm.insecure,
        credentials_secret,
    })
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

/// Splits `grafana/grafana:11.0.0` into image and tag (a port in the registry host is not a
/// tag), and `image@sha256:...` into image and digest.
pub fn split_image(reference: &str) -> (&str, Option<&str>) {
    if let Some((image, digest)) = reference.split_once('@') {
        return (image, Some(digest));
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            Some(&reference[last_slash + i + 1..]),
        ),
        None => (reference, None),
    }
}

fn valid_image(image: &str) -> bool {
    let component = |c: &str| {
        !c.is_empty()
            && c.split(['.', '_', '-']).all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            })
    };
    let mut parts = image.split('/');
    let first = parts.next().unwrap_or_default();
    let first_ok = match first.split_once(':') {
        Some((host, port)) => {
            component(host) && !port.is_empty() && port.chars().all(|c| c.is_ascii_digit())
        }
        None => component(first),
    };
    image.len() <= 255 && first_ok && parts.all(component)
}

fn valid_tag(tag: &str) -> bool {
    if let Some(hex) = tag.strip_prefix("sha256:") {
        return hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    }
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The registry host of an image (`docker.io` when the first component is not a host).
pub fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

fn plan_image(
    app: &str,
    request: ImageRequest,
    kept: Option<String>,
    at: Placement<'_>,
    secrets: &mut Vec<Value>,
) -> Result<ImageSource, Invalid> {
    let (image, tag_in_image) = split_image(&request.image);
    let tag = match (tag_in_image, request.tag.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "image.tag",
                "the image already has a tag; give it in image or in tag, not both",
            ));
        }
        (Some(tag), None) | (None, Some(tag)) => tag.to_owned(),
        (None, None) => {
            return Err(invalid(
                "image.tag",
                "required: a tag such as 11.0.0 (in tag, or as image:tag)",
            ));
        }
    };
    if !valid_image(image) {
        return Err(invalid(
            "image.image",
            format!(
                "{image:?} is not an image reference; use e.g. grafana/grafana:11.0.0 or registry.example.com/team/app:1.0"
            ),
        ));
    }
    if !valid_tag(&tag) {
        return Err(invalid(
            "image.tag",
            format!(
                "{tag:?} is not a tag; use letters, digits, '_', '.', '-' (at most 128), or sha256:<digest>"
            ),
        ));
    }
    if request.ports.len() > 20 {
        return Err(invalid("image.ports", "at most 20 ports"));
    }
    let mut seen_ports = BTreeSet::new();
    for (i, p) in request.ports.iter().enumerate() {
        if !(1..=65535).contains(&p.port) {
            return Err(invalid(
                format!("image.ports[{i}].port"),
                "must be between 1 and 65535",
            ));
        }
        if !seen_ports.insert(p.port) {
            return Err(invalid(
                format!("image.ports[{i}].port"),
                format!("port {} is listed twice", p.port),
            ));
        }
        if let Some(name) = &p.name
            && (name.is_empty()
                || name.len() > 15
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(invalid(
                format!("image.ports[{i}].name"),
                "must be at most 15 lowercase letters, digits or '-'",
            ));
        }
    }
    let replicas = request.replicas.unwrap_or(1);
    if !(0..=100).contains(&replicas) {
        return Err(invalid("image.replicas", "must be between 0 and 100"));
    }
    let r = &request.resources;
    for (field, value) in [
        ("cpu", &r.cpu),
        ("memory", &r.memory),
        ("cpuLimit", &r.cpu_limit),
        ("memoryLimit", &r.memory_limit),
    ] {
        if let Some(v) = value
            && !is_quantity(v)
        {
            return Err(invalid(
                format!("image.resources.{field}"),
                format!(
                    "{v:?} is not a quantity; use e.g. 250m or 1 for CPU, 256Mi or 1Gi for memory"
                ),
            ));
        }
    }
    if request.env.len() > 100 {
        return Err(invalid("image.env", "at most 100 variables"));
    }
    let mut seen_env = BTreeSet::new();
    for (i, e) in request.env.iter().enumerate() {
        let field = format!("image.env[{i}]");
        let name_ok = !e.name.is_empty()
            && e.name.len() <= 256
            && !e.name.starts_with(|c: char| c.is_ascii_digit())
            && e.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
        if !name_ok {
            return Err(invalid(
                format!("{field}.name"),
                "must be a variable name such as DB_HOST",
            ));
        }
        if !seen_env.insert(e.name.as_str()) {
            return Err(invalid(
                format!("{field}.name"),
                format!("{} is set twice", e.name),
            ));
        }
        match (&e.value, &e.secret_ref) {
            (Some(_), None) => {}
            (None, Some(s)) => {
                kubenova_api::names::validate_dns1123_label("secretRef.name", &s.name)
                    .map_err(|err| invalid(format!("{field}.secretRef.name"), err.to_string()))?;
                if s.key.is_empty() || s.key.len() > 253 {
                    return Err(invalid(
                        format!("{field}.secretRef.key"),
                        "required: the key in the Secret",
                    ));
                }
            }
            _ => {
                return Err(invalid(
                    field,
                    "give exactly one of value (a literal) and secretRef (a key of a Secret)",
                ));
            }
        }
    }
    if request.config_files.len() > 20 {
        return Err(invalid("image.configFiles", "at most 20 files"));
    }
    let mut seen_paths = BTreeSet::new();
    let mut total = 0usize;
    for (i, f) in request.config_files.iter().enumerate() {
        let ok = f.path.starts_with('/')
            && !f.path.ends_with('/')
            && !f.path.split('/').any(|s| s == "..")
            && f.path.len() <= 1024;
        if !ok {
            return Err(invalid(
                format!("image.configFiles[{i}].path"),
                "must be an absolute file path without .. such as /etc/app/config.yaml",
            ));
        }
        if !seen_paths.insert(f.path.as_str()) {
            return Err(invalid(
                format!("image.configFiles[{i}].path"),
                format!("{} is listed twice", f.path),
            ));
        }
        total += f.content.len();
    }
    if total > 256 * 1024 {
        return Err(invalid(
            "image.configFiles",
            "the files together must be at most 256 KiB",
        ));
    }
    if let Some(ingress) = &request.ingress {
        let host_ok = !ingress.host.is_empty()
            && ingress.host.len() <= 253
            && ingress
                .host
                .split('.')
                .all(|label| kubenova_api::names::validate_dns1123_label("host", label).is_ok());
        if !host_ok {
            return Err(invalid(
                "image.ingress.host",
                "must be a DNS name such as grafana.example.com",
            ));
        }
        if !ingress.path.starts_with('/') {
            return Err(invalid("image.ingress.path", "must start with /"));
        }
        match ingress.port {
            Some(port) if !request.ports.iter().any(|p| p.port == port) => {
                return Err(invalid(
                    "image.ingress.port",
                    format!("{port} is not one of image.ports"),
                ));
            }
            None if request.ports.is_empty() => {
                return Err(invalid(
                    "image.ports",
                    "an ingress needs a port: list the port the container listens on",
                ));
            }
            _ => {}
        }
    }
    let registry_secret = match &request.registry {
        Some(c) => {
            check_credentials("image.registry", &c.username, &c.password)?;
            let name = registry_secret_name(app);
            let server = c
                .server
                .clone()
                .unwrap_or_else(|| registry_host(image).to_owned());
            secrets.push(docker_config_secret(
                &name,
                app,
                at,
                &server,
                &c.username,
                &c.password,
            ));
            Some(name)
        }
        None => kept,
    };
    Ok(ImageSource {
        image: image.to_owned(),
        tag,
        ports: request.ports,
        replicas,
        resources: request.resources,
        env: request.env,
        config_files: request.config_files,
        registry_secret,
        ingress: request.ingress,
    })
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
