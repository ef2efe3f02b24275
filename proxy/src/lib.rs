//! The data path for `kubectl`: verifies KubeNova JWTs, checks the token's tenant or project
//! scope, and forwards to kube-apiserver (or capsule-proxy) with impersonation headers.
//!
//! Not built yet: the proxy issue delivers the binary `kubenova-proxy`. This library is empty on
//! purpose so the workspace layout is in place.
