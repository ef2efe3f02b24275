use kube::runtime::watcher;
use kubenova_api::crd::{Plan, Quota, TenantSpec};
use serde_json::json;

use super::*;
use crate::hosts::Hosts;

fn tenant(quota: Quota) -> Tenant {
    let mut t = Tenant::new(
        "acme",
        TenantSpec {
            plan: Plan {
                quota,
                ..Plan::default()
            },
            ..TenantSpec::default()
        },
    );
    t.metadata.generation = Some(2);
    t
}

fn capsule(status: Value) -> Option<DynamicObject> {
    Some(
        serde_json::from_value(json!({
            "apiVersion": "capsule.clastix.io/v1beta2", "kind": "Tenant",
            "metadata": { "name": "acme", "uid": "c-1" },
            "status": status,
        }))
        .expect("capsule tenant"),
    )
}

fn capsule_ready_with_owner() -> Option<DynamicObject> {
    capsule(json!({
        "conditions": [{ "type": "Ready", "status": "True" }],
        "owners": [{ "kind": "Group", "name": "kubenova:tenant:acme:owner" }],
        "namespaces": ["acme-web", "acme-db"],
    }))
}

fn grq(hard: Value) -> Option<DynamicObject> {
    Some(
        serde_json::from_value(json!({
            "apiVersion": "capsule.clastix.io/v1beta2", "kind": "GlobalResourceQuota",
            "metadata": { "name": "acme-kubenova" },
            "status": { "total": { "hard": hard, "used": { "pods": "1" } } },
        }))
        .expect("quota"),
    )
}

fn made() -> Made {
    Made {
        capsule: capsule_ready_with_owner(),
        owner: true,
        quota: grq(json!({ "pods": "10" })),
        baselines: Some(1),
        hosts: Hosts {
            granted: vec!["shop.example.com".into()],
            ..Hosts::default()
        },
    }
}

/// `(type, status, reason)` of every condition but `Ready`, then `Ready`'s.
fn summary(status: &TenantStatus) -> Vec<String> {
    status
        .conditions
        .iter()
        .map(|c| format!("{}={} {}", c.type_, c.status, c.reason))
        .collect()
}

/// A case: its name, the plan's quota, the observation, the conditions wanted, ready, the
/// requeue.
type Row = (&'static str, Quota, Observed, Vec<String>, bool, Requeue);

#[test]
fn each_observation_gives_its_conditions_readiness_and_requeue() {
    let pods = || Quota {
        pods: Some(10),
        ..Quota::default()
    };
    let with_hosts = |capsule: &str, quota: &str, baseline: &str, hosts: &str, ready: &str| {
        vec![
            "NameAvailable=True Unique".to_owned(),
            "TenantOwnerReady=True Applied".to_owned(),
            format!("CapsuleTenantReady={capsule}"),
            format!("QuotaReady={quota}"),
            format!("BaselineReady={baseline}"),
            format!("IngressHostsReady={hosts}"),
            format!("Ready={ready}"),
        ]
    };
    let all = |capsule: &str, quota: &str, baseline: &str, ready: &str| {
        with_hosts(capsule, quota, baseline, "True Held", ready)
    };
    let table: Vec<Row> = vec![
        (
            "overlapping name",
            pods(),
            Observed::Overlaps { older: "ac".into() },
            vec![
                "NameAvailable=False NameOverlaps".to_owned(),
                "Ready=False NameOverlaps".to_owned(),
            ],
            false,
            Requeue::After(Duration::from_secs(30)),
        ),
        (
            "all in place",
            pods(),
            Observed::Made(Box::new(made())),
            all(
                "True Ready",
                "True Enforced",
                "True Applied",
                "True Reconciled",
            ),
            true,
            Requeue::Resync,
        ),
        (
            "no Capsule Tenant yet",
            pods(),
            Observed::Made(Box::new(Made {
                capsule: None,
                baselines: None,
                ..made()
            })),
            all(
                "False Missing",
                "True Enforced",
                "False Pending",
                "False Missing",
            ),
            false,
            Requeue::After(Duration::from_secs(5)),
        ),
        (
            "Capsule not ready",
            pods(),
            Observed::Made(Box::new(Made {
                capsule: capsule(
                    json!({ "conditions": [{ "type": "Ready", "status": "False", "message": "no" }] }),
                ),
                baselines: None,
                ..made()
            })),
            all(
                "False CapsuleNotReady",
                "True Enforced",
                "False Pending",
                "False CapsuleNotReady",
            ),
            false,
            Requeue::After(Duration::from_secs(5)),
        ),
        (
            "owner group not listed",
            pods(),
            Observed::Made(Box::new(Made {
                capsule: capsule(json!({ "conditions": [{ "type": "Ready", "status": "True" }] })),
                baselines: None,
                ..made()
            })),
            all(
                "False OwnerPending",
                "True Enforced",
                "False Pending",
                "False OwnerPending",
            ),
            false,
            Requeue::After(Duration::from_secs(5)),
        ),
        (
            "quota not carried yet",
            pods(),
            Observed::Made(Box::new(Made {
                quota: None,
                ..made()
            })),
            all(
                "True Ready",
                "False Pending",
                "True Applied",
                "False Pending",
            ),
            false,
            Requeue::After(Duration::from_secs(5)),
        ),
        (
            "a claimed host another tenant holds",
            pods(),
            Observed::Made(Box::new(Made {
                hosts: Hosts {
                    refused: vec![(
                        "shop.example.com".into(),
                        "other".into(),
                        "*.example.com".into(),
                    )],
                    ..Hosts::default()
                },
                ..made()
            })),
            with_hosts(
                "True Ready",
                "True Enforced",
                "True Applied",
                "False HostTaken",
                "False HostTaken",
            ),
            false,
            Requeue::After(Duration::from_secs(5)),
        ),
        (
            "a host no longer claimed that an Ingress still uses",
            pods(),
            Observed::Made(Box::new(Made {
                hosts: Hosts {
                    releasing: vec![("old.example.com".into(), "acme-web/shop".into())],
                    ..Hosts::default()
                },
                ..made()
            })),
            with_hosts(
                "True Ready",
                "True Enforced",
                "True Applied",
                "False Releasing",
                "False Releasing",
            ),
            false,
            Requeue::After(Duration::from_secs(5)),
        ),
        (
            "no tenant-wide quota needs no GlobalResourceQuota",
            Quota::default(),
            Observed::Made(Box::new(Made {
                quota: None,
                ..made()
            })),
            all(
                "True Ready",
                "True Enforced",
                "True Applied",
                "True Reconciled",
            ),
            true,
            Requeue::Resync,
        ),
    ];
    for (case, quota, observed, want, ready, requeue) in table {
        let out = status(&tenant(quota), observed, &TenantStatus::default());
        assert_eq!(summary(&out.status), want, "{case}");
        assert_eq!(out.ready, ready, "{case}");
        assert_eq!(out.requeue, requeue, "{case}");
        assert_eq!(out.status.observed_generation, Some(2), "{case}");
    }
}

#[test]
fn namespaces_and_usage_come_from_capsule() {
    let out = status(
        &tenant(Quota::default()),
        Observed::Made(Box::new(made())),
        &TenantStatus::default(),
    );
    assert_eq!(out.status.namespaces, ["acme-db", "acme-web"], "sorted");
    assert_eq!(out.status.namespace_count, 2);
    let usage = out.status.usage.clone().expect("usage");
    assert_eq!(usage.hard.get("pods").map(String::as_str), Some("10"));
    assert_eq!(usage.used.get("pods").map(String::as_str), Some("1"));
    let again = status(
        &tenant(Quota::default()),
        Observed::Made(Box::new(made())),
        &out.status,
    );
    assert_eq!(
        again.status, out.status,
        "an unchanged world writes nothing"
    );
}

#[test]
fn the_younger_of_two_overlapping_tenants_gives_way() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let at = |name: &str, secs: i64| {
        let mut t = Tenant::new(name, TenantSpec::default());
        t.metadata.creation_timestamp = Some(Time(
            k8s_openapi::jiff::Timestamp::from_second(secs).expect("time"),
        ));
        t
    };
    let mut writer = kube::runtime::reflector::store::Writer::<Tenant>::default();
    for t in [at("a", 10), at("a-x", 20), at("ab", 5), at("b-a", 1)] {
        writer.apply_watcher_event(&watcher::Event::Apply(t));
    }
    let store = writer.as_reader();
    assert_eq!(
        older_overlapping(&at("a-x", 20), &store).as_deref(),
        Some("a")
    );
    assert_eq!(
        older_overlapping(&at("a", 10), &store),
        None,
        "the older keeps its name"
    );
    assert_eq!(older_overlapping(&at("ab", 5), &store), None);
    // Same second: the name decides.
    assert_eq!(
        older_overlapping(&at("a-x", 10), &store).as_deref(),
        Some("a")
    );
}
