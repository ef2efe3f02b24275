//! The control plane: the `/api/v1` REST API (clusters, tenants, projects, apps, kubeconfigs,
//! tokens) and the agent reconcilers that turn KubeNova objects into Capsule tenants, namespaces,
//! RBAC, quotas and KubeVela Applications.
//!
//! Built so far: `kubenova-crdgen`, which writes the CRD manifests of `kubenova_api::crd`. The
//! API server and the reconcilers (binary `kubenova-control`) come with the control and agent
//! work; this library is empty until then.
