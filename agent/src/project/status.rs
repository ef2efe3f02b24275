//! A project's status from what the agent observed: no cluster, no clock but the transition
//! times, table-tested below.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Resource as _;
use kubenova_api::conditions::{self, ConditionType, Reason};
use kubenova_api::crd::{Project, ProjectStatus, Usage};
use kubenova_api::names::project_namespace;

use super::names;
use super::namespace::NamespaceState;
use crate::conditions::{condition, finish};
use crate::frame::Requeue;

/// What the reconcile saw, step by step; each variant is where it stopped.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Observed {
    /// The tenant does not exist, is being deleted, or Capsule has not made it ready yet.
    TenantNotReady,
    /// The namespace is not the project's (yet): never [`NamespaceState::Ready`].
    Namespace(NamespaceState),
    /// The namespace and every object were applied; what the caches show of them.
    Made(Made),
}

/// The project's objects as the caches show them after the apply.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Made {
    /// What the ResourceQuota must hold.
    pub(crate) hard: BTreeMap<String, String>,
    /// The ResourceQuota's status, once the quota controller has counted it.
    pub(crate) usage: Option<Usage>,
    /// The LimitRange exists.
    pub(crate) limits: bool,
    /// The NetworkPolicy exists.
    pub(crate) policy: bool,
    /// The three RoleBindings and the deployer ServiceAccount exist.
    pub(crate) access: bool,
}

/// What the reconcile writes and does next.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Outcome {
    /// The status to write (written only when it differs from the stored one).
    pub(crate) status: ProjectStatus,
    /// Whether the project has converged.
    pub(crate) ready: bool,
    /// When to look again.
    pub(crate) requeue: Requeue,
    /// A namespace conflict not reported before: the message of the Warning Event to publish.
    pub(crate) announce_conflict: Option<String>,
}

/// The status of `project` given what was `observed` and its `previous` status.
pub(crate) fn status(project: &Project, observed: Observed, previous: &ProjectStatus) -> Outcome {
    let (t, p) = (&project.spec.tenant, &project.spec.project);
    let ns = project_namespace(t, p);
    let generation = project.meta().generation;
    let finished = |list| finish(list, &previous.conditions, generation);
    let tenant_ready = condition(
        ConditionType::TenantReady,
        true,
        Reason::Ready,
        format!("tenant {t} exists"),
        generation,
    );
    match observed {
        Observed::TenantNotReady => Outcome {
            status: ProjectStatus {
                conditions: finished(vec![condition(
                    ConditionType::TenantReady,
                    false,
                    Reason::TenantNotReady,
                    format!(
                        "tenant {t} does not exist, is being deleted, or Capsule has not made it ready yet"
                    ),
                    generation,
                )]),
                observed_generation: generation,
                namespace: previous.namespace.clone(),
                usage: previous.usage.clone(),
            },
            ready: false,
            requeue: Requeue::After(Duration::from_secs(5)),
            announce_conflict: None,
        },
        Observed::Namespace(state) => {
            let (reason, message, conflict) = match state {
                NamespaceState::Waiting(reason, message) => (reason, message, false),
                NamespaceState::Conflict(message) => (Reason::NamespaceConflict, message, true),
                // Not a stop: a caller error, reported rather than hidden.
                NamespaceState::Ready => (
                    Reason::Pending,
                    format!("namespace {ns} is ready but its objects were not applied"),
                    false,
                ),
            };
            let already_said =
                conditions::find(&previous.conditions, ConditionType::NamespaceReady)
                    .is_some_and(|c| c.has_reason(reason));
            let ns_cond = condition(
                ConditionType::NamespaceReady,
                false,
                reason,
                message,
                generation,
            );
            let announce_conflict = (conflict && !already_said).then(|| ns_cond.message.clone());
            Outcome {
                status: ProjectStatus {
                    conditions: finished(vec![tenant_ready, ns_cond]),
                    observed_generation: generation,
                    namespace: None,
                    usage: None,
                },
                ready: false,
                // A conflict can be a passing race (Capsule's or our cache a step behind a
                // tenant deleted and made again under the same name), so it is looked at again
                // soon; the watches on namespaces and Capsule Tenants usually come first.
                requeue: Requeue::After(Duration::from_secs(if conflict { 15 } else { 2 })),
                announce_conflict,
            }
        }
        Observed::Made(made) => {
            let quota_counted = made
                .usage
                .as_ref()
                .is_some_and(|u| made.hard.keys().all(|k| u.hard.contains_key(k)));
            let quota_ok = quota_counted && made.limits;
            let conditions = finished(vec![
                tenant_ready,
                condition(
                    ConditionType::NamespaceReady,
                    true,
                    Reason::Ready,
                    format!("namespace {ns}"),
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
                    if quota_counted {
                        format!(
                            "ResourceQuota {} and LimitRange {}",
                            names::QUOTA,
                            names::LIMITS
                        )
                    } else {
                        "waiting for the quota controller to count the ResourceQuota".into()
                    },
                    generation,
                ),
                condition(
                    ConditionType::NetworkPolicyReady,
                    made.policy,
                    if made.policy {
                        Reason::Applied
                    } else {
                        Reason::Missing
                    },
                    format!("NetworkPolicy {}", names::NETWORK_POLICY),
                    generation,
                ),
                condition(
                    ConditionType::AccessReady,
                    made.access,
                    if made.access {
                        Reason::Applied
                    } else {
                        Reason::Missing
                    },
                    "RoleBindings for developers, readers and the deployer",
                    generation,
                ),
            ]);
            let ready = quota_ok && made.policy && made.access;
            Outcome {
                status: ProjectStatus {
                    conditions,
                    observed_generation: generation,
                    namespace: Some(ns),
                    usage: made.usage,
                },
                ready,
                requeue: if ready {
                    Requeue::Resync
                } else {
                    Requeue::After(Duration::from_secs(2))
                },
                announce_conflict: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kubenova_api::crd::{Condition, ProjectSpec};

    use super::*;

    fn project() -> Project {
        let mut p = Project::new(
            "acme.web",
            ProjectSpec {
                tenant: "acme".into(),
                project: "web".into(),
                ..ProjectSpec::default()
            },
        );
        p.metadata.generation = Some(3);
        p
    }

    fn counted(keys: &[&str]) -> Option<Usage> {
        Some(Usage {
            hard: keys
                .iter()
                .map(|k| ((*k).to_owned(), "1".to_owned()))
                .collect(),
            used: BTreeMap::new(),
        })
    }

    fn made() -> Made {
        Made {
            hard: [("pods".to_owned(), "1".to_owned())].into(),
            usage: counted(&["pods"]),
            limits: true,
            policy: true,
            access: true,
        }
    }

    /// `(type, status, reason)` of every condition, in order.
    fn summary(status: &ProjectStatus) -> Vec<(String, String, String)> {
        status
            .conditions
            .iter()
            .map(|c: &Condition| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect()
    }

    fn row(t: &str, s: &str, r: &str) -> (String, String, String) {
        (t.into(), s.into(), r.into())
    }

    /// A case: its name, the observation, the conditions wanted, ready, the requeue.
    type Row = (
        &'static str,
        Observed,
        Vec<(String, String, String)>,
        bool,
        Requeue,
    );

    #[test]
    fn each_observation_gives_its_conditions_readiness_and_requeue() {
        let conflict = "namespace acme-web already exists and belongs to someone".to_owned();
        let table: Vec<Row> = vec![
            (
                "tenant not ready",
                Observed::TenantNotReady,
                vec![
                    row("TenantReady", "False", "TenantNotReady"),
                    row("Ready", "False", "TenantNotReady"),
                ],
                false,
                Requeue::After(Duration::from_secs(5)),
            ),
            (
                "namespace terminating",
                Observed::Namespace(NamespaceState::Waiting(Reason::Terminating, "going".into())),
                vec![
                    row("TenantReady", "True", "Ready"),
                    row("NamespaceReady", "False", "Terminating"),
                    row("Ready", "False", "Terminating"),
                ],
                false,
                Requeue::After(Duration::from_secs(2)),
            ),
            (
                "namespace conflict",
                Observed::Namespace(NamespaceState::Conflict(conflict.clone())),
                vec![
                    row("TenantReady", "True", "Ready"),
                    row("NamespaceReady", "False", "NamespaceConflict"),
                    row("Ready", "False", "NamespaceConflict"),
                ],
                false,
                Requeue::After(Duration::from_secs(15)),
            ),
            (
                "everything in place",
                Observed::Made(made()),
                vec![
                    row("TenantReady", "True", "Ready"),
                    row("NamespaceReady", "True", "Ready"),
                    row("QuotaReady", "True", "Enforced"),
                    row("NetworkPolicyReady", "True", "Applied"),
                    row("AccessReady", "True", "Applied"),
                    row("Ready", "True", "Reconciled"),
                ],
                true,
                Requeue::Resync,
            ),
            (
                "quota not counted yet",
                Observed::Made(Made {
                    usage: counted(&["cpu"]),
                    ..made()
                }),
                vec![
                    row("TenantReady", "True", "Ready"),
                    row("NamespaceReady", "True", "Ready"),
                    row("QuotaReady", "False", "Pending"),
                    row("NetworkPolicyReady", "True", "Applied"),
                    row("AccessReady", "True", "Applied"),
                    row("Ready", "False", "Pending"),
                ],
                false,
                Requeue::After(Duration::from_secs(2)),
            ),
            (
                "no LimitRange, no policy, no access",
                Observed::Made(Made {
                    limits: false,
                    policy: false,
                    access: false,
                    ..made()
                }),
                vec![
                    row("TenantReady", "True", "Ready"),
                    row("NamespaceReady", "True", "Ready"),
                    row("QuotaReady", "False", "Pending"),
                    row("NetworkPolicyReady", "False", "Missing"),
                    row("AccessReady", "False", "Missing"),
                    row("Ready", "False", "Pending"),
                ],
                false,
                Requeue::After(Duration::from_secs(2)),
            ),
        ];
        for (case, observed, want, ready, requeue) in table {
            let out = status(&project(), observed, &ProjectStatus::default());
            assert_eq!(summary(&out.status), want, "{case}");
            assert_eq!(out.ready, ready, "{case}");
            assert_eq!(out.requeue, requeue, "{case}");
            assert_eq!(out.status.observed_generation, Some(3), "{case}");
            assert!(
                out.status
                    .conditions
                    .iter()
                    .all(|c| c.observed_generation == Some(3) && c.last_transition_time.is_some()),
                "{case}"
            );
        }
    }

    #[test]
    fn the_namespace_and_usage_are_reported_once_made_and_kept_while_the_tenant_is_away() {
        let made = status(
            &project(),
            Observed::Made(made()),
            &ProjectStatus::default(),
        );
        assert_eq!(made.status.namespace.as_deref(), Some("acme-web"));
        assert_eq!(made.status.usage, counted(&["pods"]));
        let away = status(&project(), Observed::TenantNotReady, &made.status);
        assert_eq!(away.status.namespace.as_deref(), Some("acme-web"));
        assert_eq!(away.status.usage, counted(&["pods"]));
        let conflict = status(
            &project(),
            Observed::Namespace(NamespaceState::Conflict("taken".into())),
            &made.status,
        );
        assert_eq!(conflict.status.namespace, None);
        assert_eq!(conflict.status.usage, None);
    }

    #[test]
    fn a_conflict_is_announced_once_and_an_unchanged_world_gives_the_same_status() {
        let observed = || Observed::Namespace(NamespaceState::Conflict("taken by bob".into()));
        let first = status(&project(), observed(), &ProjectStatus::default());
        assert_eq!(first.announce_conflict.as_deref(), Some("taken by bob"));
        let second = status(&project(), observed(), &first.status);
        assert_eq!(second.announce_conflict, None, "said already");
        assert_eq!(second.status, first.status, "nothing to write");
        let waiting = status(
            &project(),
            Observed::Namespace(NamespaceState::Waiting(Reason::Creating, "x".into())),
            &ProjectStatus::default(),
        );
        assert_eq!(
            waiting.announce_conflict, None,
            "only conflicts are announced"
        );
    }
}
