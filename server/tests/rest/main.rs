//! Integration tests of the REST API against the real testenv cluster, the real
//! `kubenova-control` binary, the real `kubenova-proxy` and the real kubectl.

mod audit;
mod clusters;
mod docs;
mod flow;
mod handlers;
mod harness;
mod issued;
mod keys;
mod protocol;
mod rotation;
mod tls;
