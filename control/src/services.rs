//! Services the REST API is built on, with no HTTP routing of their own: the signing keys and
//! the cluster-kubeconfig cipher ([`keys`]), the audit log ([`audit`]), and the state every
//! request shares: settings, clients, caches, metrics ([`state`]). The serving certificate,
//! reloaded when its files change, is `kubenova-tls` (shared with the proxy).

pub mod audit;
pub mod keys;
pub mod oidc;
pub mod state;
