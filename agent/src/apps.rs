//! Apps: what an `App` becomes in the cluster (a KubeVela Application and its ConfigMap,
//! [`render`]) and what its status says ([`status`]). What the REST API needs too (requests,
//! pods, the app's names) is in [`kubenova_api::apps`].

pub use kubenova_api::apps::pods;
pub mod render;
pub mod status;
