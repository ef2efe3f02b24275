//! KubeNova's shared language: the `kubenova.io/v1alpha1` CRD types, the JWT claims, the role and
//! scope types, and the one function that maps verified claims to a Kubernetes user and groups.
//!
//! This crate does no I/O. It is filled in by the proxy, control and agent work
//! (see `../shared/ARCHITECTURE.md`); today it is empty on purpose.
