//! kubectl (and raw HTTP) through a real `kubenova-proxy` in front of a real kube-apiserver
//! with Capsule, in direct mode.

mod attacks;
mod harness;
mod http;
mod kubectl;
mod lifecycle;
mod revocation;
mod streams;
mod workflows;
