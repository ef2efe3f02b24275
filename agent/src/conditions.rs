//! Conditions: built fresh on every reconcile, with `lastTransitionTime` kept from the previous
//! status when a condition's status did not change, so an unchanged world gives an identical
//! status (and no write). Types and reasons are [`kubenova_api::conditions`]'.

use kubenova_api::clock::rfc3339_now;
use kubenova_api::conditions::{self, ConditionType, Reason};
use kubenova_api::crd::Condition;

/// One condition, not yet timed.
pub(crate) fn condition(
    type_: ConditionType,
    ok: bool,
    reason: Reason,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    Condition::new(type_, ok, reason, message, generation)
}

/// Appends `Ready` (true when every other condition is) and sets transition times.
pub(crate) fn finish(
    mut conditions: Vec<Condition>,
    previous: &[Condition],
    generation: Option<i64>,
) -> Vec<Condition> {
    let ready = match conditions.iter().find(|c| !c.holds()) {
        None => condition(
            ConditionType::Ready,
            true,
            Reason::Reconciled,
            "all objects are in place",
            generation,
        ),
        // Ready says why not with the first failing condition's reason.
        Some(first) => Condition {
            reason: first.reason.clone(),
            ..condition(
                ConditionType::Ready,
                false,
                Reason::Pending,
                format!("{}: {}", first.type_, first.message),
                generation,
            )
        },
    };
    conditions.push(ready);
    let now = rfc3339_now();
    for c in &mut conditions {
        let before = previous.iter().find(|p| p.type_ == c.type_);
        c.last_transition_time = match before {
            Some(p) if p.status == c.status => p.last_transition_time.clone(),
            _ => Some(now.clone()),
        };
    }
    conditions
}

/// Whether `Ready` is true for `generation` in `conditions`.
pub(crate) fn was_ready(conditions: &[Condition], generation: Option<i64>) -> bool {
    conditions::find(conditions, ConditionType::Ready)
        .is_some_and(|c| c.holds() && c.observed_generation == generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_follows_the_first_failing_condition_and_times_are_kept() {
        let first = finish(
            vec![
                condition(ConditionType::TenantReady, true, Reason::Ready, "", Some(1)),
                condition(
                    ConditionType::NamespaceReady,
                    false,
                    Reason::Missing,
                    "no b",
                    Some(1),
                ),
            ],
            &[],
            Some(1),
        );
        let ready = conditions::find(&first, ConditionType::Ready).expect("ready");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "Missing");
        assert!(ready.message.contains("no b"));
        assert!(ready.message.starts_with("NamespaceReady: "));
        let again = finish(
            vec![
                condition(ConditionType::TenantReady, true, Reason::Ready, "", Some(1)),
                condition(
                    ConditionType::NamespaceReady,
                    false,
                    Reason::Missing,
                    "no b",
                    Some(1),
                ),
            ],
            &first,
            Some(1),
        );
        assert_eq!(first, again);
        assert!(!was_ready(&again, Some(1)));
    }
}
