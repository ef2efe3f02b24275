//! The control plane: the `/api/v1` REST API (clusters, tenants, projects, apps, kubeconfigs,
//! tokens) and the agent reconcilers that turn KubeNova objects into Capsule tenants, namespaces,
//! RBAC, quotas and KubeVela Applications.
//!
//! Not built yet: the control and agent issues deliver the binary `kubenova-control`. This
//! library is empty on purpose so the workspace layout is in place.
