//! Benchmarks for KubeNova, run against `testenv`: each result is a ratio against a baseline
//! taken in the same run (direct kube-apiserver, a no-op proxy, capsule-proxy), never a timed
//! test. Results and the commands that produced them go to `docs/performance.md`.
//!
//! Not built yet: the proxy and agent issues add the workloads.
