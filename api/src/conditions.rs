//! The condition types and reasons KubeNova's resources report, typed, so the agent that writes
//! them and the API and tools that read them cannot disagree about a spelling. The serialised
//! strings (what `kubectl get -o yaml` shows) are the variants' names.
//!
//! A [`Condition`] keeps plain strings (other writers, Kubernetes' own shape); compare through
//! [`Condition::is`], [`Condition::has_reason`] and [`find`] rather than with string literals.

use std::fmt;

use crate::crd::Condition;

/// `status` of a condition that holds.
pub const TRUE: &str = "True";
/// `status` of a condition that does not hold.
pub const FALSE: &str = "False";

macro_rules! named {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The serialised form.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)*
                }
            }

            /// The value whose serialised form is `text`.
            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_owned()
            }
        }
    };
}

named! {
    /// What a condition is about.
    ConditionType {
        /// Every other condition of the object holds (on Tenants, Projects and Apps).
        Ready,
        /// Tenant: no older tenant's name overlaps this one.
        NameAvailable,
        /// Tenant: the Capsule TenantOwner of the owner group exists.
        TenantOwnerReady,
        /// Tenant: Capsule reports its Tenant Ready and lists the owner group.
        CapsuleTenantReady,
        /// Tenant and Project: the quota is enforced.
        QuotaReady,
        /// Tenant: every namespace the owners made carries the baseline.
        BaselineReady,
        /// Tenant: the ingress hosts it claims are its own (ADR 0015).
        IngressHostsReady,
        /// Project: its tenant exists and Capsule has made it ready.
        TenantReady,
        /// Project: its namespace exists and is the project's.
        NamespaceReady,
        /// Project: the isolation NetworkPolicy exists.
        NetworkPolicyReady,
        /// Project: the RoleBindings and the deployer exist.
        AccessReady,
        /// App: present (`True`) only while something the tenant must fix blocks the delivery (a
        /// chart that cannot be fetched, a Secret that does not exist); its
        /// `lastTransitionTime` is when that started.
        Stalled,
    }
}

named! {
    /// Why a condition has its status (CamelCase, as Kubernetes writes reasons).
    Reason {
        /// Ready: every condition holds.
        Reconciled,
        /// The object is in place and reports ready.
        Ready,
        /// The objects were applied.
        Applied,
        /// An object is missing.
        Missing,
        /// Waiting for another controller (Capsule, the quota controller).
        Pending,
        /// A quota is enforced.
        Enforced,
        /// NameAvailable: no overlap.
        Unique,
        /// NameAvailable: an older tenant's name overlaps.
        NameOverlaps,
        /// CapsuleTenantReady: Capsule says its Tenant is not ready.
        CapsuleNotReady,
        /// CapsuleTenantReady: Capsule does not list the owner group yet.
        OwnerPending,
        /// TenantReady: the tenant is missing, being deleted or not ready.
        TenantNotReady,
        /// NamespaceReady: the namespace exists and is not the project's.
        NamespaceConflict,
        /// NamespaceReady: the namespace appeared while being created.
        Creating,
        /// NamespaceReady: the apiserver or Capsule refused the namespace.
        Refused,
        /// NamespaceReady: a namespace of that name is being deleted.
        Terminating,
        /// IngressHostsReady: every claimed host is the tenant's.
        Held,
        /// IngressHostsReady: another tenant holds a claimed host.
        HostTaken,
        /// IngressHostsReady: a host no longer claimed is still used by one of its Ingresses.
        Releasing,
        /// App: not in a project namespace.
        NotInProject,
        /// App: the spec cannot be rendered.
        Invalid,
        /// App: KubeVela is delivering.
        Progressing,
        /// App: every component is healthy.
        Running,
        /// App: the delivery workflow failed or was terminated.
        DeliveryFailed,
        /// App: a component is unhealthy.
        Unhealthy,
        /// App: suspended.
        Suspended,
        /// App or project: being deleted (the message says what it waits for).
        Deleting,
        /// App: Flux or KubeVela reports an error that keeps the app from being delivered.
        DeliveryError,
        /// App: a Secret (or a key of one) the app refers to does not exist.
        SecretMissing,
    }
}

impl Condition {
    /// A condition of `type_` that holds when `ok`, not yet timed.
    pub fn new(
        type_: ConditionType,
        ok: bool,
        reason: Reason,
        message: impl Into<String>,
        generation: Option<i64>,
    ) -> Condition {
        Condition {
            type_: type_.into(),
            status: if ok { TRUE } else { FALSE }.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: None,
            observed_generation: generation,
        }
    }

    /// Whether this condition is of `type_`.
    pub fn is(&self, type_: ConditionType) -> bool {
        self.type_ == type_.as_str()
    }

    /// Whether it holds (`status: "True"`).
    pub fn holds(&self) -> bool {
        self.status == TRUE
    }

    /// Whether its reason is `reason`.
    pub fn has_reason(&self, reason: Reason) -> bool {
        self.reason == reason.as_str()
    }
}

/// The condition of `type_` in `conditions`.
pub fn find(conditions: &[Condition], type_: ConditionType) -> Option<&Condition> {
    conditions.iter().find(|c| c.is(type_))
}

/// Whether the condition of `type_` is in `conditions` and holds.
pub fn holds(conditions: &[Condition], type_: ConditionType) -> bool {
    find(conditions, type_).is_some_and(Condition::holds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serialised_strings_are_the_ones_objects_already_carry() {
        for (value, text) in [
            (ConditionType::Ready.as_str(), "Ready"),
            (
                ConditionType::CapsuleTenantReady.as_str(),
                "CapsuleTenantReady",
            ),
            (ConditionType::NamespaceReady.as_str(), "NamespaceReady"),
            (Reason::NamespaceConflict.as_str(), "NamespaceConflict"),
            (Reason::NameOverlaps.as_str(), "NameOverlaps"),
            (Reason::DeliveryFailed.as_str(), "DeliveryFailed"),
        ] {
            assert_eq!(value, text);
        }
        for t in ConditionType::ALL {
            assert_eq!(ConditionType::parse(t.as_str()), Some(*t));
        }
        for r in Reason::ALL {
            assert_eq!(Reason::parse(&r.to_string()), Some(*r));
        }
        assert_eq!(Reason::parse("ready"), None);
    }

    #[test]
    fn conditions_are_found_by_type_and_compared_by_reason() {
        let conditions = vec![
            Condition::new(
                ConditionType::NamespaceReady,
                false,
                Reason::NamespaceConflict,
                "taken",
                Some(2),
            ),
            Condition::new(ConditionType::Ready, true, Reason::Reconciled, "", Some(2)),
        ];
        let ns = find(&conditions, ConditionType::NamespaceReady).expect("present");
        assert_eq!(ns.status, "False");
        assert!(ns.has_reason(Reason::NamespaceConflict));
        assert!(!ns.has_reason(Reason::Terminating));
        assert!(holds(&conditions, ConditionType::Ready));
        assert!(!holds(&conditions, ConditionType::NamespaceReady));
        assert!(!holds(&conditions, ConditionType::AccessReady), "absent");
        let json = serde_json::to_value(&conditions[0]).expect("json");
        assert_eq!(json["type"], "NamespaceReady");
        assert_eq!(json["reason"], "NamespaceConflict");
    }
}
