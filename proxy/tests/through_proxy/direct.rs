//! The suite with `kubenova-proxy --mode=direct`, in front of kube-apiserver.

/// The proxy mode of this suite.
pub(crate) const MODE: testenv::proxy::ProxyMode = testenv::proxy::ProxyMode::Direct;

crate::suite!();
