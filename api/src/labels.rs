//! Label keys and values KubeNova puts on the objects it makes, and the ones it reads.
//!
//! Every object KubeNova creates carries [`MANAGED_BY`] = [`MANAGED_BY_VALUE`], [`TENANT`] and,
//! where it applies, [`PROJECT`]; the agent deletes only objects that carry them.

/// The standard "who manages this" label.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Our value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "kubenova";
/// The tenant an object belongs to.
pub const TENANT: &str = "kubenova.io/tenant";
/// The project an object belongs to.
pub const PROJECT: &str = "kubenova.io/project";
/// Capsule's label naming the tenant of a namespace (set by Capsule, or by us to pick one).
pub const CAPSULE_TENANT: &str = "capsule.clastix.io/tenant";
/// Marks the ConfigMaps in the proxy's namespace that list revoked token ids (`data`: jti to
/// expiry in Unix seconds). Control writes them; every proxy watches them.
pub const REVOCATIONS: &str = "kubenova.io/revocations";
/// Set by the agent on a tenant namespace once its baseline (Pod Security labels, the
/// `kubenova-isolation` NetworkPolicy, the `kubenova-limits` LimitRange) is in place. An
/// admission policy refuses pods in a tenant namespace that lacks it, and another lets only the
/// agent write it (see `docs/agent.md`, ADR 0009).
pub const BASELINE: &str = "kubenova.io/baseline";
/// Our value of [`BASELINE`].
pub const BASELINE_VALUE: &str = "applied";
/// The Pod Security Admission label prefix (`pod-security.kubernetes.io/enforce`, ...).
pub const POD_SECURITY_PREFIX: &str = "pod-security.kubernetes.io/";
/// On an `IssuedToken`: the `jti` of the token that asked for it, so revoking that token finds
/// everything it issued.
pub const ISSUED_BY: &str = "kubenova.io/issued-by";
