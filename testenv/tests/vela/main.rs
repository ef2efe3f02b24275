//! KubeVela and the Helm path in the test environment, shown against the real vela-core,
//! helm-controller and source-controller, sharing one environment.

mod apps;
mod helm;
mod isolation;
mod oci;
mod support;
