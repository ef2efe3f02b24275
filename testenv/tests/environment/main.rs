//! Integration tests of the test environment itself, sharing one environment.

mod capsule;
mod cluster;
mod support;
