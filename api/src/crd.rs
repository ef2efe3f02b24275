//! KubeNova's custom resources (`kubenova.io/v1alpha1`): the desired state the API writes and
//! the agent reconciles. Kubernetes is the database; these types are its schema.
//!
//! [`Cluster`] and [`IssuedToken`] live in the management cluster (where control runs); Tenant
//! and Project in each workload cluster. All four are cluster-scoped; an [`App`] lives in its
//! project's namespace. A [`Project`] is named `<tenant>.<project>` (a rule the apiserver
//! enforces), so two tenants can never own the same Project object; the namespace it makes is
//! `<tenant>-<project>`, and a clash there is reported by the agent, never shared.
//!
//! The CRD manifests are generated from these types by `crdgen` into `config/crd/` and
//! `charts/kubenova/crds/`; `make verify` fails when they drift.

mod app;
mod cluster;
mod common;
mod project;
mod tenant;
mod token;

pub use app::{
    App, AppSpec, AppStatus, ComponentHealth, ConfigFile, EnvVar, HelmSource, ImageSource, Ingress,
    Port, Resources, SecretKeyRef, VelaItem,
};
pub use cluster::{Cluster, ClusterSpec, ClusterStatus};
pub use common::{Condition, Limits, PodSecurity, Quota, Usage};
pub use project::{Access, Project, ProjectSpec, ProjectStatus};
pub use tenant::{
    IpBlock, Isolation, NetworkPolicySettings, Plan, Tenant, TenantSpec, TenantStatus,
};
pub use token::{IssuedToken, IssuedTokenSpec, IssuedTokenStatus, TokenKind};

/// The API group of every KubeNova resource.
pub const GROUP: &str = "kubenova.io";

/// Every CRD, in the order they are written.
pub fn all()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt as _;
    vec![
        Tenant::crd(),
        Project::crd(),
        Cluster::crd(),
        IssuedToken::crd(),
        App::crd(),
    ]
}

#[cfg(test)]
mod tests;
