//! The data path for `kubectl`: verifies KubeNova JWTs, checks the token's tenant or project
//! scope, and forwards to kube-apiserver (or capsule-proxy) with impersonation headers.
//!
//! One module per concern, in the order a request meets them: [`tls`] and [`server`] accept
//! it; [`extract`] takes the credentials and strips identity headers; [`path`] normalises and
//! classifies the path; [`auth`] verifies the token (keys from [`keys`], revocations and the
//! namespace index from [`cluster`]); [`sessions`] ends streams whose token is revoked or
//! expires; [`scope`] decides ([`review`] answers the access reviews of what it serves itself);
//! [`forward`], [`rewrite`] and
//! [`fanout`] talk to the [`upstream`]; [`metrics`] counts; [`logging`] writes the log
//! lines off the request path. [`handler`] strings them together.

pub mod auth;
pub mod body;
pub mod capsule_proxy;
pub mod cluster;
pub mod config;
pub mod extract;
pub mod fanout;
pub mod forward;
pub mod handler;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod path;
pub mod review;
pub mod rewrite;
pub mod run;
pub mod scope;
pub mod server;
pub mod sessions;
pub mod upstream;
