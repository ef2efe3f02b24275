use std::time::Duration;

use super::*;

fn policy() -> Policy {
    Policy::new(
        Duration::from_secs(100),
        Duration::from_secs(20),
        Duration::from_secs(300),
    )
    .expect("valid")
}

fn times(published: i64, activated: Option<i64>, deactivated: Option<i64>) -> KeyTimes {
    KeyTimes {
        published: Some(published),
        activated,
        deactivated,
    }
}

fn schedule(next: Option<&str>, keys: &[(&str, KeyTimes)]) -> Schedule {
    Schedule {
        next: next.map(str::to_owned),
        keys: keys.iter().map(|(k, t)| ((*k).to_owned(), *t)).collect(),
    }
}

#[test]
fn a_policy_needs_a_period_longer_than_the_publish_delay() {
    let s = Duration::from_secs;
    assert!(Policy::new(s(60), s(60), s(10)).is_err());
    assert!(Policy::new(s(60), s(0), s(10)).is_err());
    let p = Policy::new(s(3600), s(60), s(10)).expect("valid");
    assert_eq!(p.check_every(), s(15));
}

#[test]
fn keys_without_times_count_from_now_and_gone_keys_are_dropped() {
    let recorded = schedule(Some("gone"), &[("gone", times(1, None, None))]);
    let step = plan(500, "a", &["a", "b"], &recorded, &policy());
    assert_eq!(
        step,
        Step::Record(schedule(
            None,
            &[
                ("a", times(500, Some(500), None)),
                // A key that is neither active nor next is an old one: it stopped signing now at
                // the latest, so its retirement can only come later than it might have.
                ("b", times(500, None, Some(500))),
            ]
        ))
    );
}

#[test]
fn a_key_switched_by_hand_joins_the_schedule() {
    // `keys rotate` made b active; the schedule still says a.
    let recorded = schedule(None, &[("a", times(0, Some(0), None))]);
    let Step::Record(full) = plan(50, "b", &["a", "b"], &recorded, &policy()) else {
        panic!("expected a record step");
    };
    assert_eq!(full.keys["a"], times(0, Some(0), Some(50)));
    assert_eq!(full.keys["b"], times(50, Some(50), None));
}

#[test]
fn a_rotation_publishes_then_activates_then_retires() {
    let p = policy();
    let start = schedule(None, &[("a", times(0, Some(0), None))]);
    // Before period - delay: nothing.
    assert_eq!(plan(79, "a", &["a"], &start, &p), Step::Wait);
    // At period - delay: publish.
    assert_eq!(plan(80, "a", &["a"], &start, &p), Step::Publish);
    let published = schedule(
        Some("b"),
        &[("a", times(0, Some(0), None)), ("b", times(80, None, None))],
    );
    // Published, but neither delay nor period has passed.
    assert_eq!(plan(99, "a", &["a", "b"], &published, &p), Step::Wait);
    assert_eq!(
        plan(100, "a", &["a", "b"], &published, &p),
        Step::Activate("b".into())
    );
    // A key published late (say every replica was down) still waits its full delay.
    let late = schedule(
        Some("b"),
        &[
            ("a", times(0, Some(0), None)),
            ("b", times(150, None, None)),
        ],
    );
    assert_eq!(plan(169, "a", &["a", "b"], &late, &p), Step::Wait);
    assert_eq!(
        plan(170, "a", &["a", "b"], &late, &p),
        Step::Activate("b".into())
    );
    let rotated = schedule(
        None,
        &[
            ("a", times(0, Some(0), Some(100))),
            ("b", times(80, Some(100), None)),
        ],
    );
    assert_eq!(plan(101, "b", &["a", "b"], &rotated, &p), Step::Wait);
    // The old key verifies for keep_for after it stopped signing (with a period long enough
    // that b is not due to be followed meanwhile).
    let long = Policy {
        period: Duration::from_secs(1000),
        ..p
    };
    assert_eq!(plan(399, "b", &["a", "b"], &rotated, &long), Step::Wait);
    assert_eq!(
        plan(400, "b", &["a", "b"], &rotated, &long),
        Step::Retire(vec!["a".into()])
    );
}

#[test]
fn the_next_rotation_is_due_before_an_old_retirement() {
    let p = policy();
    let s = schedule(
        None,
        &[
            ("a", times(0, Some(0), Some(100))),
            ("b", times(80, Some(100), None)),
        ],
    );
    // With a period of 100, b's successor is due at 180 and a's retirement at 400: at 400 both
    // are due; the rotation goes first, the retirement on a later tick.
    assert_eq!(plan(400, "b", &["a", "b"], &s, &p), Step::Publish);
    let long = Policy {
        period: Duration::from_secs(1000),
        ..p
    };
    assert_eq!(
        plan(400, "b", &["a", "b"], &s, &long),
        Step::Retire(vec!["a".into()])
    );
}

#[test]
fn old_keys_retire_oldest_first() {
    let s = schedule(
        None,
        &[
            ("a", times(0, Some(0), Some(100))),
            ("b", times(80, Some(100), Some(50))),
            ("c", times(90, Some(120), None)),
        ],
    );
    let p = Policy::new(
        Duration::from_secs(1000),
        Duration::from_secs(20),
        Duration::from_secs(10),
    )
    .expect("valid");
    assert_eq!(
        plan(200, "c", &["a", "b", "c"], &s, &p),
        Step::Retire(vec!["b".into(), "a".into()])
    );
}

#[test]
fn the_schedule_reads_back_what_it_wrote_and_survives_garbage() {
    let s = schedule(
        Some("b"),
        &[("a", times(1, Some(2), None)), ("b", times(3, None, None))],
    );
    let mut secret = Secret::default();
    secret.metadata.annotations = Some(
        [(
            SCHEDULE_ANNOTATION.to_owned(),
            serde_json::to_string(&s).expect("json"),
        )]
        .into(),
    );
    assert_eq!(schedule_of(&secret), s);
    secret.metadata.annotations = Some([(SCHEDULE_ANNOTATION.to_owned(), "{".to_owned())].into());
    assert_eq!(schedule_of(&secret), Schedule::default());
}
