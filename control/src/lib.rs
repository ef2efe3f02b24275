//! The control plane's REST API: `/api/v1` (clusters, tenants, projects, apps, kubeconfigs,
//! tokens) and the services behind it (signing keys, audit, state, serving TLS). It does not
//! depend on the agent (`kubenova-agent`); what both need is in `kubenova-api` and
//! `kubenova-revocation`. The `kubenova-control` binary (crate `kubenova-server`) runs both.

pub mod rest;
pub mod services;
pub mod ui;
