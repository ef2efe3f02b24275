//! Benchmarks for KubeNova, run against `testenv`: each result is a ratio against a baseline
//! taken in the same run (direct kube-apiserver, a no-op proxy, capsule-proxy), never a timed
//! test.
//!
//! `kubenova-bench proxy` (`make bench`) compares kube-apiserver direct, a no-op TLS
//! pass-through (`kubenova-bench-noop`) and `kubenova-proxy`, and writes
//! `docs/performance-proxy.md`. The modules: [`client`] (a kubectl-style HTTP/2 client),
//! [`load`] (the workloads), [`procfs`] (CPU time and memory of a process), [`setup`] (the
//! objects read), [`jwt`] (token verification in-process) and [`report`].

pub mod client;
pub mod jwt;
pub mod load;
pub mod procfs;
pub mod report;
pub mod setup;
