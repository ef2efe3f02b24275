//! Request and response bodies. Requests refuse unknown fields; every type has a JSON Schema
//! for the OpenAPI document.

use std::collections::BTreeMap;

use kubenova_api::Role;
use kubenova_api::crd::{
    Access, Condition, Limits, NetworkPolicySettings, PodSecurity, Quota, TokenKind, Usage,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Register a workload cluster.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterInput {
    /// The cluster's name (DNS label); `local` in `make dev`.
    pub name: String,
    /// A human-readable name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// An admin kubeconfig (YAML or JSON) for the cluster; stored encrypted, never returned
    /// except to admins by `GET /clusters/{c}/kubeconfig`.
    pub kubeconfig: String,
    /// The `https://` URL of the cluster's KubeNova proxy.
    pub proxy_url: String,
    /// The PEM CA bundle of the proxy's serving certificate.
    pub proxy_ca: String,
    /// The proxy's namespace in that cluster (revocations go there); `kubenova-system`.
    #[serde(default)]
    pub proxy_namespace: Option<String>,
}

/// A registered cluster.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// The name.
    pub name: String,
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Where kubeconfigs point.
    pub proxy_url: String,
    /// The proxy's namespace.
    pub proxy_namespace: String,
    /// The Kubernetes version the cluster reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// `Reachable`, `AgentReady`, `CapsuleReady`, `VelaReady`.
    pub conditions: Vec<Condition>,
}

/// An admin kubeconfig (admins only).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterKubeconfig {
    /// The kubeconfig as registered.
    pub kubeconfig: String,
}

/// Declares, from one field list, the body that creates an object (`$create`: a `name` and the
/// settings) and the body that replaces its settings (`$replace`: everything but the name), with
/// `$create::split` between them.
macro_rules! create_and_replace {
    (
        $(#[$cmeta:meta])* $create:ident { $(#[$nmeta:meta])* name }
        $(#[$rmeta:meta])* $replace:ident
        { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }
    ) => {
        $(#[$cmeta])*
        #[derive(Debug, Clone, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $create {
            $(#[$nmeta])*
            pub name: String,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        $(#[$rmeta])*
        #[derive(Debug, Clone, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $replace {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $create {
            /// The name and the settings.
            pub fn split(self) -> (String, $replace) {
                (self.name, $replace { $($field: self.$field,)* })
            }
        }
    };
}

create_and_replace! {
    /// Create a tenant.
    TenantInput {
        /// The name: a DNS label of at most 40 characters, unique across all clusters.
        name
    }
    /// Replace a tenant's settings (everything but the name).
    TenantSettings
    {
        /// A human-readable name.
        #[serde(default)]
        display_name: Option<String>,
        /// Token subjects who may get tenantOwner kubeconfigs.
        #[serde(default)]
        owners: Vec<String>,
        /// Totals across the tenant's namespaces.
        #[serde(default)]
        quota: Quota,
        /// Container defaults.
        #[serde(default)]
        limits: Limits,
        /// IngressClasses the tenant may use (empty: any).
        #[serde(default)]
        ingress_classes: Vec<String>,
        /// StorageClasses the tenant may use (empty: any).
        #[serde(default)]
        storage_classes: Vec<String>,
        /// Hosts the tenant's Ingresses may use, whatever the path: `shop.example.com`, or
        /// `*.shop.example.com` for every name below it. No other tenant of the cluster may claim
        /// an overlapping host (409). Empty: the tenant's Ingresses may use no host.
        #[serde(default)]
        ingress_hosts: Vec<String>,
        /// Pod Security level of new projects.
        #[serde(default)]
        pod_security: PodSecurity,
        /// Refuse deletion while set.
        #[serde(default)]
        prevent_deletion: bool,
        /// Network isolation of the tenant's projects (default: traffic inside the tenant and DNS).
        #[serde(default)]
        network_policy: NetworkPolicySettings,
        /// Labels for every namespace of the tenant, as Kubernetes allows them; none under
        /// `kubernetes.io`, `k8s.io`, `kubenova.io`, `capsule.clastix.io`, `projectcapsule.dev`
        /// or their subdomains.
        #[serde(default)]
        labels: BTreeMap<String, String>,
        /// Annotations for every namespace of the tenant, as `labels`.
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
}

/// Replace a tenant's owners.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnersInput {
    /// Token subjects who may get tenantOwner kubeconfigs.
    pub owners: Vec<String>,
}

/// A tenant as the API shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    /// The name.
    pub name: String,
    /// The cluster it lives in.
    pub cluster: String,
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Owners.
    pub owners: Vec<String>,
    /// Quota.
    pub quota: Quota,
    /// Container defaults.
    pub limits: Limits,
    /// Allowed IngressClasses.
    pub ingress_classes: Vec<String>,
    /// Allowed StorageClasses.
    pub storage_classes: Vec<String>,
    /// Hosts the tenant's Ingresses may use (its claims; `status` says whether it holds them).
    pub ingress_hosts: Vec<String>,
    /// Pod Security level.
    pub pod_security: PodSecurity,
    /// Deletion refused while set.
    pub prevent_deletion: bool,
    /// Network isolation of the tenant's projects.
    pub network_policy: NetworkPolicySettings,
    /// Labels of every namespace of the tenant.
    pub labels: BTreeMap<String, String>,
    /// Annotations of every namespace of the tenant.
    pub annotations: BTreeMap<String, String>,
    /// What the agent reported.
    pub status: ObjectStatus,
}

/// What the agent reported about a tenant or project.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    /// `true`/`false` from the `Ready` condition; absent until the agent reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// All conditions.
    pub conditions: Vec<Condition>,
    /// The namespaces (tenant) or namespace (project).
    pub namespaces: Vec<String>,
    /// Set while it is being deleted: when the deletion began (RFC 3339). Deletion is
    /// asynchronous: the agent revokes its tokens, removes its apps, then its namespaces; `GET`
    /// answers 404 once it is gone. Until then `Ready` is false and says what it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleting_since: Option<String>,
}

create_and_replace! {
    /// Create a project.
    ProjectInput {
        /// The name: a DNS label of at most 22 characters; the namespace is `<tenant>-<name>`.
        name
    }
    /// Replace a project's settings (everything but the name).
    ProjectSettings
    {
        /// The project's own quota.
        #[serde(default)]
        quota: Option<Quota>,
        /// Container defaults (else the tenant's).
        #[serde(default)]
        limits: Option<Limits>,
        /// Pod Security level (else the tenant's).
        #[serde(default)]
        pod_security: Option<PodSecurity>,
        /// Who gets projectDev and readOnly kubeconfigs.
        #[serde(default)]
        access: Access,
        /// Labels for the project's namespace, as the tenant's (a key the tenant sets is
        /// refused: the tenant's apply to all its namespaces).
        #[serde(default)]
        labels: BTreeMap<String, String>,
        /// Annotations for the project's namespace, as `labels`.
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
}

/// A project as the API shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    /// The name.
    pub name: String,
    /// The tenant.
    pub tenant: String,
    /// The cluster.
    pub cluster: String,
    /// The namespace `<tenant>-<project>`.
    pub namespace: String,
    /// Quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// Container defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Pod Security level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<PodSecurity>,
    /// Access.
    pub access: Access,
    /// Labels of the project's namespace.
    pub labels: BTreeMap<String, String>,
    /// Annotations of the project's namespace.
    pub annotations: BTreeMap<String, String>,
    /// What the agent reported.
    pub status: ObjectStatus,
}

/// Quota use of a tenant and its projects.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantUsage {
    /// The tenant.
    pub tenant: String,
    /// The cluster.
    pub cluster: String,
    /// Across the tenant (absent until the agent reported it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Per project.
    pub projects: Vec<ProjectUsage>,
}

/// Quota use of one project.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectUsage {
    /// The project.
    pub project: String,
    /// Its namespace.
    pub namespace: String,
    /// Absent until the agent reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// Options for a kubeconfig (body of the POST forms; query of the GET form).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeconfigRequest {
    /// `tenantOwner` or `readOnly` for tenant kubeconfigs (default `tenantOwner`);
    /// `projectDev` or `readOnly` for project kubeconfigs (default `projectDev`).
    #[serde(default)]
    pub role: Option<Role>,
    /// Lifetime in seconds (default 8 h, at most the configured maximum).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Who the kubeconfig is for (default: the caller). They must be entitled: a tenant owner,
    /// or a developer/reader of the project.
    #[serde(default)]
    pub subject: Option<String>,
}

/// Query of the kubeconfig endpoints.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeconfigQuery {
    /// `tenantOwner` or `readOnly` (tenant), `projectDev` or `readOnly` (project); as in the
    /// body, given once.
    #[serde(default)]
    pub role: Option<Role>,
    /// Lifetime in seconds, at most the configured maximum; as in the body, given once.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Who the kubeconfig is for (default: the caller); as in the body, given once.
    #[serde(default)]
    pub subject: Option<String>,
    /// `json` (default) or `yaml`: answer with the kubeconfig file itself (`application/yaml`) instead of JSON.
    #[serde(default)]
    pub format: Option<String>,
    /// `token` (default): the kubeconfig carries a token. `exec`: no token is issued; the
    /// kubeconfig's user runs `kubenova credential` (a client-go exec plugin) that gets a
    /// short-lived proxy token from the caller's session whenever one is needed (for the
    /// caller only: no `subject` or `ttlSeconds`).
    #[serde(default)]
    pub mode: Option<String>,
}

/// Query of the credential endpoints.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialQuery {
    /// `tenantOwner` (default) or `readOnly` for a tenant; `projectDev` (default) or
    /// `readOnly` for a project.
    #[serde(default)]
    pub role: Option<Role>,
}

/// A short-lived proxy token for the caller (what `kubenova credential` hands to kubectl).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialView {
    /// The bearer token for the cluster's proxy.
    pub token: String,
    /// Its id; it is recorded as issued by the caller's token, so revoking that token revokes it.
    pub jti: String,
    /// Who it is for (the caller).
    pub subject: String,
    /// Its role.
    pub role: Role,
    /// When it stops working (RFC 3339): the server's credential lifetime, at most what the
    /// caller's token has left.
    pub expires_at: String,
}

/// An issued kubeconfig.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigView {
    /// The kubeconfig file (YAML): the cluster's proxy URL and CA, and the token (or, with
    /// `mode=exec`, the `kubenova credential` command).
    pub kubeconfig: String,
    /// The token's id (revoke it with `DELETE /api/v1/tokens/{jti}`); with `mode=exec`, the
    /// caller's token's (the session the plugin gets its tokens from).
    pub jti: String,
    /// Who it is for.
    pub subject: String,
    /// Its role.
    pub role: Role,
    /// When it stops working (RFC 3339); with `mode=exec`, when the caller's token (the
    /// session) expires.
    pub expires_at: String,
}

/// Mint an API token.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenInput {
    /// Who it is for.
    pub subject: String,
    /// Its roles (one scope per token).
    pub roles: Vec<Role>,
    /// The tenant, for scoped roles.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The project, for project-scoped roles.
    #[serde(default)]
    pub project: Option<String>,
    /// Lifetime in seconds (default 1 h, at most the configured maximum).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
}

/// A minted API token. The token is shown once and never stored.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    /// The bearer token.
    pub token: String,
    /// Its id.
    pub jti: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}

/// The record of an issued token (never the token).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecordView {
    /// The id.
    pub jti: String,
    /// `kubeconfig` or `api`.
    pub kind: TokenKind,
    /// Who it is for.
    pub subject: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Cluster (kubeconfig tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Issued (RFC 3339).
    pub issued_at: String,
    /// Expires (RFC 3339).
    pub expires_at: String,
    /// Who asked for it.
    pub issued_by: String,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// The list of token records.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenList {
    /// Records in the caller's scope, newest first.
    pub items: Vec<TokenRecordView>,
}

/// The caller, as its token says.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    /// The subject.
    pub subject: String,
    /// The roles.
    pub roles: Vec<Role>,
    /// The tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The cluster of the scope's tenant (scoped tokens; absent when it could not be looked up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The token's id.
    pub jti: String,
    /// When the token expires (RFC 3339).
    pub expires_at: String,
}

/// Every tenant of every registered cluster, and the clusters that did not answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllTenants {
    /// The tenants of the clusters that answered, by name.
    pub items: Vec<TenantView>,
    /// Clusters whose tenants are missing from `items` because they did not answer (absent when
    /// every cluster answered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreachable: Vec<ClusterProblem>,
}

/// A cluster that could not be read, and why.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterProblem {
    /// The cluster.
    pub cluster: String,
    /// What went wrong (the error's message).
    pub message: String,
}

/// A list of objects.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    /// The objects, by name.
    pub items: Vec<T>,
}

/// The version.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionView {
    /// The crate version.
    pub version: String,
}
