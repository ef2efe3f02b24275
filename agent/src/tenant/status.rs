//! A tenant's status from what the agent observed: no cluster, no clock but the transition
//! times, table-tested below.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::DynamicObject;
use kube::runtime::reflector::Store;
use kube::{Resource as _, ResourceExt as _};
use kubenova_api::conditions::{ConditionType, Reason};
use kubenova_api::crd::{Tenant, TenantStatus, Usage};
use kubenova_api::identity;
use serde_json::Value;

use super::QUOTA_RULE;
use crate::conditions::{condition, finish};
use crate::frame::Requeue;
use crate::project::{hard, names};

/// What the reconcile saw, step by step; each variant is where it stopped.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Observed {
    /// An older tenant's name overlaps this one's: nothing is made.
    Overlaps {
        /// The older tenant.
        older: String,
    },
    /// The TenantOwner and the Capsule Tenant were applied; what the caches show.
    Made(Box<Made>),
}

/// The tenant's objects as the caches show them after the apply.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Made {
    /// The Capsule Tenant.
    pub(crate) capsule: Option<DynamicObject>,
    /// The TenantOwner exists.
    pub(crate) owner: bool,
    /// Capsule's GlobalResourceQuota `<t>-kubenova`.
    pub(crate) quota: Option<DynamicObject>,
    /// How many namespaces the owners made were given their baseline; `None` while the
    /// Capsule Tenant is not ready (nothing is looked at then).
    pub(crate) baselines: Option<usize>,
    /// The ingress hosts it holds, releases and is refused (ADR 0015).
    pub(crate) hosts: crate::hosts::Hosts,
}

/// What the reconcile writes and does next.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Outcome {
    /// The status to write (written only when it differs from the stored one).
    pub(crate) status: TenantStatus,
    /// Whether the tenant has converged.
    pub(crate) ready: bool,
    /// When to look again.
    pub(crate) requeue: Requeue,
}

/// The older tenant (by creation time, then name) whose name overlaps `tenant`'s, if any: the
/// older one keeps its name, the younger gets nothing.
pub(crate) fn older_overlapping(tenant: &Tenant, tenants: &Store<Tenant>) -> Option<String> {
    let name = tenant.name_any();
    let key = |t: &Tenant| (t.creation_timestamp().map(|c| c.0), t.name_any());
    tenants
        .state()
        .iter()
        .filter(|other| kubenova_api::names::tenants_overlap(&name, &other.name_any()))
        .filter(|other| key(other) < key(tenant))
        .map(|other| other.name_any())
        .min()
}

/// Whether Capsule reports its Tenant Ready with `owner_group` among its owners, the reason
/// and a message.
pub(crate) fn capsule_ready(
    capsule: Option<&DynamicObject>,
    owner_group: &str,
) -> (bool, Reason, String) {
    let Some(capsule) = capsule else {
        return (
            false,
            Reason::Missing,
            "the Capsule Tenant does not exist yet".into(),
        );
    };
    let status = &capsule.data["status"];
    // Capsule's own condition, in Capsule's spelling.
    let ready = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == ConditionType::Ready.as_str());
    let Some(ready) = ready else {
        return (
            false,
            Reason::Pending,
            "Capsule has not reported on the tenant yet".into(),
        );
    };
    if ready["status"] != kubenova_api::conditions::TRUE {
        return (
            false,
            Reason::CapsuleNotReady,
            format!(
                "Capsule says: {}",
                ready["message"].as_str().unwrap_or_default()
            ),
        );
    }
    let owned = status["owners"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|o| o["kind"] == "Group" && o["name"] == owner_group);
    if !owned {
        return (
            false,
            Reason::OwnerPending,
            format!("Capsule does not list {owner_group} as an owner yet"),
        );
    }
    (
        true,
        Reason::Ready,
        "Capsule reports the tenant Ready".into(),
    )
}

/// Usage from a GlobalResourceQuota's `status.total`.
pub(crate) fn usage_from(quota: Option<&DynamicObject>) -> Option<Usage> {
    let total = &quota?.data["status"]["total"];
    let map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect()
    };
    Some(Usage {
        hard: map(&total["hard"]),
        used: map(&total["used"]),
    })
}

/// The status of `tenant` given what was `observed` and its `previous` status.
pub(crate) fn status(tenant: &Tenant, observed: Observed, previous: &TenantStatus) -> Outcome {
    let name = tenant.name_any();
    let generation = tenant.meta().generation;
    let finished = |list| finish(list, &previous.conditions, generation);
    let made = match observed {
        Observed::Overlaps { older } => {
            let long = if name.len() > older.len() {
                &name
            } else {
                &older
            };
            let message = format!(
                "tenant {name} overlaps the older tenant {older}: namespaces named {long}-... could belong to either, \
                 so nothing is made for {name}; delete it and choose another name (no tenant's name may be another's followed by `-`)"
            );
            return Outcome {
                status: TenantStatus {
                    conditions: finished(vec![condition(
                        ConditionType::NameAvailable,
                        false,
                        Reason::NameOverlaps,
                        message,
                        generation,
                    )]),
                    observed_generation: generation,
                    ..TenantStatus::default()
                },
                ready: false,
                requeue: Requeue::After(Duration::from_secs(30)),
            };
        }
        Observed::Made(made) => *made,
    };
    let owner_group = identity::tenant_owner_group(&name);
    let (capsule_ok, capsule_reason, capsule_msg) =
        capsule_ready(made.capsule.as_ref(), &owner_group);
    let hard = hard(&tenant.spec.plan.quota);
    let usage = usage_from(made.quota.as_ref());
    let quota_ok = hard.is_empty()
        || usage
            .as_ref()
            .is_some_and(|u| hard.keys().all(|k| u.hard.contains_key(k)));
    let (baseline_ok, baseline_msg) = match made.baselines {
        Some(count) if capsule_ok => (
            true,
            format!(
                "{count} namespaces made by the tenant's owners carry the baseline (Pod Security {}, {}, {})",
                tenant.spec.pod_security.label(),
                names::NETWORK_POLICY,
                names::LIMITS
            ),
        ),
        _ => (false, "waiting for the Capsule Tenant".to_owned()),
    };
    let (hosts_ok, hosts_reason, hosts_msg) = made.hosts.condition();
    let conditions = finished(vec![
        condition(
            ConditionType::NameAvailable,
            true,
            Reason::Unique,
            format!("no other tenant's name overlaps {name}"),
            generation,
        ),
        condition(
            ConditionType::TenantOwnerReady,
            made.owner,
            if made.owner {
                Reason::Applied
            } else {
                Reason::Missing
            },
            format!("TenantOwner for group {owner_group}"),
            generation,
        ),
        condition(
            ConditionType::CapsuleTenantReady,
            capsule_ok,
            capsule_reason,
            capsule_msg,
            generation,
        ),
        condition(
            ConditionType::QuotaReady,
            quota_ok,
            if quota_ok {
                Reason::Enforced
            } else {
                Reason::Pending
            },
            if hard.is_empty() {
                "the plan sets no tenant-wide quota".to_owned()
            } else if quota_ok {
                format!("GlobalResourceQuota {name}-{QUOTA_RULE} enforces the plan")
            } else {
                format!("waiting for Capsule's GlobalResourceQuota {name}-{QUOTA_RULE}")
            },
            generation,
        ),
        condition(
            ConditionType::BaselineReady,
            baseline_ok,
            if baseline_ok {
                Reason::Applied
            } else {
                Reason::Pending
            },
            baseline_msg,
            generation,
        ),
        condition(
            ConditionType::IngressHostsReady,
            hosts_ok,
            hosts_reason,
            hosts_msg,
            generation,
        ),
    ]);
    let mut namespaces: Vec<String> = made
        .capsule
        .as_ref()
        .map(|c| {
            c.data["status"]["namespaces"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    namespaces.sort();
    let ready = capsule_ok && made.owner && quota_ok && baseline_ok && hosts_ok;
    Outcome {
        status: TenantStatus {
            conditions,
            observed_generation: generation,
            namespace_count: i32::try_from(namespaces.len()).unwrap_or(i32::MAX),
            namespaces,
            usage,
        },
        ready,
        requeue: if ready {
            Requeue::Resync
        } else {
            Requeue::After(Duration::from_secs(5))
        },
    }
}

#[cfg(test)]
mod tests;
