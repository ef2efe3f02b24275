//! Apps: what an `App` becomes in the cluster (a KubeVela Application and its ConfigMap).

pub mod pods;
pub mod render;
pub mod request;
pub mod status;
