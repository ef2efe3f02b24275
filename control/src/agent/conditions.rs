//! Conditions: built fresh on every reconcile, with `lastTransitionTime` kept from the previous
//! status when a condition's status did not change, so an unchanged world gives an identical
//! status (and no write).

use k8s_openapi::jiff::Timestamp;
use kubenova_api::crd::Condition;

/// The condition every resource has: all the specific ones are true.
pub(crate) const READY: &str = "Ready";

/// One condition, not yet timed.
pub(crate) fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: None,
        observed_generation: generation,
    }
}

/// Appends `Ready` (true when every other condition is) and sets transition times.
pub(crate) fn finish(
    mut conditions: Vec<Condition>,
    previous: &[Condition],
    generation: Option<i64>,
) -> Vec<Condition> {
    let failing: Vec<&Condition> = conditions.iter().filter(|c| c.status != "True").collect();
    let ready = match failing.first() {
        None => condition(
            READY,
            true,
            "Reconciled",
            "all objects are in place",
            generation,
        ),
        Some(first) => condition(
            READY,
            false,
            &first.reason,
            format!("{}: {}", first.type_, first.message),
            generation,
        ),
    };
    conditions.push(ready);
    let now = Timestamp::now().to_string();
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
    conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True" && c.observed_generation == generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_follows_the_first_failing_condition_and_times_are_kept() {
        let first = finish(
            vec![
                condition("A", true, "Fine", "", Some(1)),
                condition("B", false, "Missing", "no b", Some(1)),
            ],
            &[],
            Some(1),
        );
        let ready = first.iter().find(|c| c.type_ == READY).expect("ready");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "Missing");
        assert!(ready.message.contains("no b"));
        let again = finish(
            vec![
                condition("A", true, "Fine", "", Some(1)),
                condition("B", false, "Missing", "no b", Some(1)),
            ],
            &first,
            Some(1),
        );
        assert_eq!(first, again);
        assert!(!was_ready(&again, Some(1)));
    }
}
