//! `App`: an application in a project namespace, delivered by KubeVela from a Helm chart or a
//! container image.
//!
//! The App holds what the user asked for, never a secret: credentials given to the API are
//! stored by it as Secrets in the project namespace, and the App names them. The agent renders
//! the App into one KubeVela `Application` (applied as the project's deployer ServiceAccount)
//! plus the ConfigMap of its config files.

// `KubeSchema` expands each struct into a private copy for its schema, which the
// `unreachable_pub` lint reports; the public types themselves are re-exported by `crd`.
#![allow(unreachable_pub)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::Condition;

/// An app.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubenova.io",
    version = "v1alpha1",
    kind = "App",
    plural = "apps",
    shortname = "knapp",
    namespaced,
    status = "AppStatus",
    derive = "PartialEq",
    doc = "A KubeNova app: a Helm chart or a container image, delivered by KubeVela in a project namespace.",
    printcolumn(name = "Kind", type_ = "string", json_path = ".status.kind"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Revision", type_ = "string", json_path = ".status.revision"),
    printcolumn(name = "Suspended", type_ = "boolean", json_path = ".spec.suspended"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 40 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("an app name is a DNS label of at most 40 characters"),
    validation = Rule::new("has(self.spec.helm) != has(self.spec.image)").message("an app has exactly one of spec.helm and spec.image"),
)]
#[serde(rename_all = "camelCase")]
pub struct AppSpec {
    /// A Helm chart (exclusive with `image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmSource>,
    /// A container image (exclusive with `helm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSource>,
    /// KubeVela traits, passed through (only types the platform allows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub traits: Vec<VelaItem>,
    /// KubeVela policies, passed through (only types the platform allows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub policies: Vec<VelaItem>,
    /// Stopped: no pods run; configuration and data are kept.
    #[serde(default)]
    pub suspended: bool,
}

/// Where a chart comes from and how it is configured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmSource {
    /// An HTTP(S) chart repository (`https://charts.example.com`) or an OCI registry path
    /// (`oci://registry.example.com/charts`).
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://') || self.startsWith('oci://')").message("repo must start with https://, http:// or oci://"))]
    #[schemars(length(max = 512))]
    pub repo: String,
    /// The chart's name in the repository.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$') && size(self) <= 100").message("chart must be a chart name such as wordpress"))]
    #[schemars(length(max = 100))]
    pub chart: String,
    /// The chart version (an exact version or a semver range).
    #[x_kube(validation = Rule::new("size(self) >= 1 && size(self) <= 64").message("version must be set"))]
    #[schemars(length(max = 64))]
    pub version: String,
    /// Values for the chart (an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "object_schema")]
    pub values: Option<serde_json::Value>,
    /// The OCI registry speaks plain HTTP (a registry inside the cluster or a test setup).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// The Secret (in the app's namespace) holding `username` and `password` for the repository;
    /// the API creates it from the credentials in the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub credentials_secret: Option<String>,
}

/// A container image and how it runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageSource {
    /// The image reference without the tag (`grafana/grafana`, `registry.example.com/team/app`).
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$')").message("image must be an image reference without tag, such as grafana/grafana"))]
    #[schemars(length(max = 255))]
    pub image: String,
    /// The tag (or `sha256:<digest>`).
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$') || self.matches('^sha256:[a-f0-9]{64}$')").message("tag must be an image tag such as 11.0.0, or sha256:<digest>"))]
    #[schemars(length(max = 128))]
    pub tag: String,
    /// Ports the container listens on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub ports: Vec<Port>,
    /// How many pods (when not suspended).
    #[serde(default = "one")]
    #[x_kube(validation = Rule::new("self >= 0 && self <= 100").message("replicas must be between 0 and 100"))]
    pub replicas: i32,
    /// Requests and limits.
    #[serde(default)]
    pub resources: Resources,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub env: Vec<EnvVar>,
    /// Files mounted into the container (kept in a ConfigMap the agent makes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub config_files: Vec<ConfigFile>,
    /// The `kubernetes.io/dockerconfigjson` Secret used as `imagePullSecrets`; the API creates
    /// it from the registry credentials in the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub registry_secret: Option<String>,
    /// An Ingress for the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Ingress>,
}

fn one() -> i32 {
    1
}

/// A container port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    /// The port number.
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("port must be between 1 and 65535"))]
    pub port: i32,
    /// A name (DNS label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 15))]
    pub name: Option<String>,
    /// Whether a Service exposes it (inside the cluster).
    #[serde(default = "yes")]
    pub expose: bool,
}

fn yes() -> bool {
    true
}

/// CPU and memory for the container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// CPU request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("cpu must be a quantity such as 250m"))]
    #[schemars(length(max = 32))]
    pub cpu: Option<String>,
    /// Memory request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("memory must be a quantity such as 256Mi"))]
    #[schemars(length(max = 32))]
    pub memory: Option<String>,
    /// CPU limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("cpuLimit must be a quantity such as 1"))]
    #[schemars(length(max = 32))]
    pub cpu_limit: Option<String>,
    /// Memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("memoryLimit must be a quantity such as 512Mi"))]
    #[schemars(length(max = 32))]
    pub memory_limit: Option<String>,
}

/// An environment variable: a literal or a key of a Secret in the app's namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.value) != has(self.secretRef)").message("an env entry has exactly one of value and secretRef"))]
pub struct EnvVar {
    /// The variable's name.
    #[x_kube(validation = Rule::new("self.matches('^[-._a-zA-Z][-._a-zA-Z0-9]*$')").message("env name must be a C identifier such as DB_HOST"))]
    #[schemars(length(max = 256))]
    pub name: String,
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32768))]
    pub value: Option<String>,
    /// A key of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
}

/// A key of a Secret in the app's namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    pub name: String,
    /// The key.
    pub key: String,
}

/// A file mounted into the container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigFile {
    /// Absolute path of the file in the container.
    #[x_kube(validation = Rule::new("self.startsWith('/') && !self.contains('..') && !self.endsWith('/')").message("path must be an absolute file path without .."))]
    #[schemars(length(max = 1024))]
    pub path: String,
    /// The file's content.
    #[schemars(length(max = 262144))]
    pub content: String,
}

/// Where the app is reachable from outside the cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ingress {
    /// The host name.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("host must be a DNS name such as grafana.example.com"))]
    #[schemars(length(max = 253))]
    pub host: String,
    /// The path prefix (`/` unless set).
    #[serde(default = "root")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("path must start with /"))]
    #[schemars(length(max = 1024))]
    pub path: String,
    /// The container port it sends traffic to (the first port unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// The IngressClass (the platform's default unless set; the tenant's plan may restrict it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub class: Option<String>,
}

fn root() -> String {
    "/".into()
}

/// A KubeVela trait or policy passed through: its type and properties.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct VelaItem {
    /// The definition's name (`scaler`, `labels`, `topology`, ...).
    #[serde(rename = "type")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("type must be a definition name such as scaler"))]
    #[schemars(length(max = 63))]
    pub type_: String,
    /// A name (policies need one; traits may omit it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub name: Option<String>,
    /// The definition's properties (an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "object_schema")]
    pub properties: Option<serde_json::Value>,
}

/// What the cluster says about the app.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// `helm` or `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// KubeVela's phase (`running`, `runningWorkflow`, `workflowFailed`, `unhealthy`, ...) or
    /// `suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The current KubeVela ApplicationRevision (`<app>-v<N>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// When the current revision was deployed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_deployed: Option<String>,
    /// The last error the delivery reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Health per component.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentHealth>,
    /// `Ready` and the specific conditions behind it.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One component's health, as KubeVela reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentHealth {
    /// The component.
    pub name: String,
    /// Whether it is healthy.
    pub healthy: bool,
    /// What KubeVela says about it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Values, properties: any JSON object, kept as given.
fn object_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}
