//! The agent against a real kube-apiserver, kube-controller-manager, kwok and Capsule, checked
//! with the real kubectl where a person would use it. One environment and one agent (its own
//! client certificate, user `kubenova-agent`, no leader election) serve every test here.

mod common;
mod drift;
mod isolation;
mod metadata;
mod project;
mod quota;
mod tenant;
