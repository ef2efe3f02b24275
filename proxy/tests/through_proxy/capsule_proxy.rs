//! The suite with `kubenova-proxy --mode=capsule-proxy`, in front of capsule-proxy (which is in
//! front of kube-apiserver).

/// The proxy mode of this suite.
pub(crate) const MODE: testenv::proxy::ProxyMode = testenv::proxy::ProxyMode::CapsuleProxy;

crate::suite!();
