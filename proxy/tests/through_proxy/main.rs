//! kubectl (and raw HTTP) through a real `kubenova-proxy` in front of a real kube-apiserver with
//! Capsule, in both proxy modes: every test runs twice, as `direct::<file>::<test>` (the proxy in
//! front of kube-apiserver) and as `capsule_proxy::<file>::<test>` (the proxy in front of the
//! environment's capsule-proxy). One environment serves both; each mode has its own proxy.
//!
//! The test files are written once and compiled into each mode's module by [`suite!`], with
//! that module's `MODE`. Run one mode with `cargo test --test through_proxy -- direct::` or
//! `-- capsule_proxy::`.

// Loading each test file once per mode is the point (see `suite!`).
#![allow(clippy::duplicate_mod)]

/// The test files, as modules of the mode module it is invoked in (`direct.rs`,
/// `capsule_proxy.rs`; paths are relative to their directory), which defines `MODE`.
macro_rules! suite {
    () => {
        #[path = "attacks.rs"]
        mod attacks;
        #[path = "exec_confined.rs"]
        mod exec_confined;
        #[path = "harness.rs"]
        mod harness;
        #[path = "http.rs"]
        mod http;
        #[path = "k9s.rs"]
        mod k9s;
        #[path = "kubectl.rs"]
        mod kubectl;
        #[path = "lifecycle.rs"]
        mod lifecycle;
        #[path = "matrix.rs"]
        mod matrix;
        #[path = "parity.rs"]
        mod parity;
        #[path = "protocol.rs"]
        mod protocol;
        #[path = "revocation.rs"]
        mod revocation;
        #[path = "streams.rs"]
        mod streams;
        #[path = "workflows.rs"]
        mod workflows;
    };
}
pub(crate) use suite;

mod capsule_proxy;
mod direct;

/// kwok sends every port-forward to one local port: one test at a time, of either mode, may
/// listen there (see `streams::Echo`).
pub(crate) static FORWARD_PORT: std::sync::Mutex<()> = std::sync::Mutex::new(());
