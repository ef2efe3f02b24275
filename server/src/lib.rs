//! The `kubenova-control` binary: one process that serves the REST API (`kubenova-control`, the
//! library) and runs the agent (`kubenova-agent`) unless `--no-agent`, plus the commands
//! `token --admin`, `openapi` and `keys`. This crate is the only one that knows both roles
//! (ADR 0020): the REST crate does not depend on the agent crate, nor the agent on the REST code.

pub mod serve;
