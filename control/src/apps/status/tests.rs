use kubenova_api::crd::{HelmSource, ImageSource};
use serde_json::json;

use super::*;

fn image_spec() -> AppSpec {
    AppSpec {
        image: Some(ImageSource {
            image: "nginx".into(),
            tag: "1".into(),
            replicas: 1,
            ..ImageSource::default()
        }),
        ..AppSpec::default()
    }
}

fn running(generation: i64, observed: i64) -> Value {
    json!({
        "metadata": {"generation": generation},
        "status": {
            "status": "running",
            "observedGeneration": observed,
            "latestRevision": {"name": "web-v3", "revision": 3},
            "services": [{"name": "web", "healthy": true, "message": "Ready:1/1"}],
            "workflow": {"finished": true, "endTime": "2026-11-21T08:00:00Z",
                         "steps": [{"name": "deploy", "phase": "succeeded"}]},
        }
    })
}

const NOW: &str = "2026-11-21T09:00:00Z";

#[test]
fn a_running_healthy_application_is_ready() {
    let s = derive(&image_spec(), Some(2), Some(&running(5, 5)), None, NOW);
    assert_eq!(s.kind.as_deref(), Some("image"));
    assert_eq!(s.phase.as_deref(), Some("running"));
    assert_eq!(s.revision.as_deref(), Some("web-v3"));
    assert_eq!(s.last_deployed.as_deref(), Some("2026-11-21T08:00:00Z"));
    assert_eq!(s.last_error, None);
    assert_eq!(s.observed_generation, Some(2));
    assert_eq!(s.components.len(), 1);
    assert_eq!(s.conditions[0].status, "True");
    assert_eq!(s.conditions[0].last_transition_time.as_deref(), Some(NOW));
    // Nothing changed: the same status, the transition time kept.
    let again = derive(
        &image_spec(),
        Some(2),
        Some(&running(5, 5)),
        Some(&s),
        "later",
    );
    assert_eq!(again, s);
}

#[test]
fn an_application_vela_has_not_caught_up_with_is_progressing() {
    let s = derive(&image_spec(), Some(2), Some(&running(6, 5)), None, NOW);
    assert_eq!(s.conditions[0].status, "False");
    assert_eq!(s.conditions[0].reason, "Progressing");
}

#[test]
fn a_publish_version_vela_has_not_started_is_progressing() {
    let mut app = running(5, 5);
    app["metadata"]["annotations"] = json!({"app.oam.dev/publishVersion": "4.abc"});
    app["status"]["workflow"]["appRevision"] = json!("3.def");
    let s = derive(&image_spec(), Some(4), Some(&app), None, NOW);
    assert_eq!(s.conditions[0].status, "False");
    assert_eq!(s.conditions[0].reason, "Progressing");
    let mut suspended = image_spec();
    suspended.suspended = true;
    let s = derive(&suspended, Some(4), Some(&app), None, NOW);
    assert_eq!(
        s.phase.as_deref(),
        Some("running"),
        "not suspended before delivery"
    );

    app["status"]["workflow"]["appRevision"] = json!("4.abc");
    let s = derive(&image_spec(), Some(4), Some(&app), None, NOW);
    assert_eq!(s.conditions[0].status, "True");
    let s = derive(&suspended, Some(4), Some(&app), None, NOW);
    assert_eq!(s.phase.as_deref(), Some(SUSPENDED));
}

#[test]
fn failures_name_the_step_or_the_component() {
    let failed = json!({
        "metadata": {"generation": 1},
        "status": {"status": "workflowFailed", "observedGeneration": 1,
                   "workflow": {"steps": [{"name": "deploy", "phase": "failed",
                                           "message": "chart not found"}]}}
    });
    let s = derive(&image_spec(), Some(1), Some(&failed), None, NOW);
    assert_eq!(
        s.last_error.as_deref(),
        Some("step deploy: chart not found")
    );
    assert_eq!(s.conditions[0].reason, "DeliveryFailed");

    let unhealthy = json!({
        "metadata": {"generation": 1},
        "status": {"status": "unhealthy", "observedGeneration": 1,
                   "services": [{"name": "web", "healthy": false, "message": "Ready:0/1"}]}
    });
    let s = derive(&image_spec(), Some(1), Some(&unhealthy), None, NOW);
    assert_eq!(s.last_error.as_deref(), Some("web: Ready:0/1"));
    assert_eq!(s.conditions[0].reason, "Unhealthy");
    assert!(!s.components[0].healthy);
}

#[test]
fn a_suspended_app_reports_suspended_and_a_missing_application_pending() {
    let mut spec = image_spec();
    spec.suspended = true;
    let s = derive(&spec, Some(3), Some(&running(2, 2)), None, NOW);
    assert_eq!(s.phase.as_deref(), Some(SUSPENDED));
    // Not before Vela has delivered the change.
    let s = derive(&spec, Some(3), Some(&running(3, 2)), None, NOW);
    assert_eq!(s.phase.as_deref(), Some("running"));

    let mut helm = AppSpec {
        helm: Some(HelmSource::default()),
        ..AppSpec::default()
    };
    helm.suspended = true;
    let s = derive(&helm, Some(4), Some(&running(2, 2)), None, NOW);
    assert_eq!(s.kind.as_deref(), Some("helm"));
    assert_eq!(s.phase.as_deref(), Some(SUSPENDED));
    helm.suspended = false;
    let s = derive(&helm, Some(1), None, None, NOW);
    assert_eq!(s.kind.as_deref(), Some("helm"));
    assert_eq!(s.phase.as_deref(), Some("pending"));
    assert_eq!(s.conditions[0].status, "False");
}
