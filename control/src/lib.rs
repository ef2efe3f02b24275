//! The control plane: the `/api/v1` REST API (clusters, tenants, projects, apps, kubeconfigs,
//! tokens) and the agent reconcilers that turn KubeNova objects into Capsule tenants, namespaces,
//! RBAC, quotas and KubeVela Applications.

pub mod agent;
pub mod apps;
pub mod rest;
pub mod revocation;
pub mod serve;
pub mod services;
pub mod ui;
