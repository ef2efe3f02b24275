use kubenova_api::crd::{HelmSource, ImageSource};
use serde_json::json;

use super::*;

mod checks;

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
const TIMEOUT: Duration = Duration::from_secs(600);

/// `derive` with nothing found besides the Application.
fn d(
    spec: &AppSpec,
    generation: Option<i64>,
    application: Option<&Value>,
    previous: Option<&AppStatus>,
    now: &str,
) -> AppStatus {
    derive(
        spec,
        generation,
        application,
        &Found::default(),
        previous,
        (now, TIMEOUT),
    )
}

#[test]
fn a_running_healthy_application_is_ready() {
    let s = d(&image_spec(), Some(2), Some(&running(5, 5)), None, NOW);
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
    let again = d(
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
    let s = d(&image_spec(), Some(2), Some(&running(6, 5)), None, NOW);
    assert_eq!(
        s.phase.as_deref(),
        Some(PROGRESSING),
        "not Vela's running of before"
    );
    assert_eq!(s.conditions[0].status, "False");
    assert_eq!(s.conditions[0].reason, "Progressing");
}

#[test]
fn a_publish_version_vela_has_not_started_is_progressing() {
    let mut app = running(5, 5);
    app["metadata"]["annotations"] = json!({"app.oam.dev/publishVersion": "4.abc"});
    app["status"]["workflow"]["appRevision"] = json!("3.def");
    let s = d(&image_spec(), Some(4), Some(&app), None, NOW);
    assert_eq!(s.conditions[0].status, "False");
    assert_eq!(s.conditions[0].reason, "Progressing");
    let mut suspended = image_spec();
    suspended.suspended = true;
    let s = d(&suspended, Some(4), Some(&app), None, NOW);
    assert_eq!(
        s.phase.as_deref(),
        Some(PROGRESSING),
        "not suspended before delivery, nor running"
    );

    app["status"]["workflow"]["appRevision"] = json!("4.abc");
    let s = d(&image_spec(), Some(4), Some(&app), None, NOW);
    assert_eq!(s.conditions[0].status, "True");
    let s = d(&suspended, Some(4), Some(&app), None, NOW);
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
    let s = d(&image_spec(), Some(1), Some(&failed), None, NOW);
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
    let s = d(&image_spec(), Some(1), Some(&unhealthy), None, NOW);
    // A component's health message is not an error: it is in the components and in Ready.
    assert_eq!(s.last_error, None);
    assert_eq!(s.conditions[0].message, "web: Ready:0/1");
    assert_eq!(s.conditions[0].reason, "Unhealthy");
    assert!(!s.components[0].healthy);
}

#[test]
fn a_suspended_app_reports_suspended_and_a_missing_application_pending() {
    let mut spec = image_spec();
    spec.suspended = true;
    let s = d(&spec, Some(3), Some(&running(2, 2)), None, NOW);
    assert_eq!(s.phase.as_deref(), Some(SUSPENDED));
    // Not before Vela has delivered the change.
    let s = d(&spec, Some(3), Some(&running(3, 2)), None, NOW);
    assert_eq!(s.phase.as_deref(), Some(PROGRESSING));

    let mut helm = AppSpec {
        helm: Some(HelmSource::default()),
        ..AppSpec::default()
    };
    helm.suspended = true;
    let s = d(&helm, Some(4), Some(&running(2, 2)), None, NOW);
    assert_eq!(s.kind.as_deref(), Some("helm"));
    assert_eq!(s.phase.as_deref(), Some(SUSPENDED));
    helm.suspended = false;
    let s = d(&helm, Some(1), None, None, NOW);
    assert_eq!(s.kind.as_deref(), Some("helm"));
    assert_eq!(s.phase.as_deref(), Some("pending"));
    assert_eq!(s.conditions[0].status, "False");
}

fn helm_spec() -> AppSpec {
    AppSpec {
        helm: Some(HelmSource {
            repo: "https://charts.example.com".into(),
            chart: "greeter".into(),
            version: "0.1.0".into(),
            ..HelmSource::default()
        }),
        ..AppSpec::default()
    }
}

#[test]
fn progress_messages_of_a_chart_are_not_errors() {
    for (vela, message) in [
        (
            "runningWorkflow",
            "Running 'install' action with timeout of 5m0s",
        ),
        (
            "runningWorkflow",
            "Helm upgrade succeeded for release ns/hello.v2 with chart greeter@0.2.0",
        ),
        (
            "unhealthy",
            "Helm install succeeded for release ns/hello.v1 with chart greeter@0.1.0",
        ),
    ] {
        let app = json!({
            "metadata": {"generation": 1},
            "status": {"status": vela, "observedGeneration": 1,
                       "services": [{"name": "hello", "healthy": false, "message": message}],
                       "workflow": {"steps": [{"name": "hello", "phase": "running"}]}}
        });
        let s = d(&helm_spec(), Some(1), Some(&app), None, NOW);
        assert_eq!(s.last_error, None, "{message}");
        assert_eq!(s.conditions[0].status, "False");
        assert_eq!(s.conditions[0].message, format!("hello: {message}"));
    }
}

#[test]
fn a_delivered_app_whose_pods_are_not_up_is_progressing() {
    let found = Found {
        rollout: Some("deployment web: 0 of 1 pods of the new revision ready".into()),
        ..Found::default()
    };
    let s = derive(
        &image_spec(),
        Some(2),
        Some(&running(5, 5)),
        &found,
        None,
        (NOW, TIMEOUT),
    );
    assert_eq!(s.phase.as_deref(), Some(PROGRESSING));
    assert_eq!(s.conditions[0].status, "False");
    assert_eq!(s.conditions[0].reason, "Progressing");
    assert_eq!(
        s.conditions[0].message,
        found.rollout.clone().unwrap_or_default()
    );
    assert_eq!(s.last_error, None, "progress is no error");
    // Not while suspended: the workloads are not checked then (the agent finds no rollout).
    let mut suspended = image_spec();
    suspended.suspended = true;
    let s = derive(
        &suspended,
        Some(2),
        Some(&running(5, 5)),
        &Found::default(),
        None,
        (NOW, TIMEOUT),
    );
    assert_eq!(s.phase.as_deref(), Some(SUSPENDED));
}

#[test]
fn a_missing_secret_holds_the_app_until_it_exists() {
    let found = Found {
        missing_secrets: vec!["Secret db (env DB) does not exist in t-web".into()],
        ..Found::default()
    };
    let s = derive(
        &image_spec(),
        Some(2),
        Some(&running(5, 5)),
        &found,
        None,
        (NOW, TIMEOUT),
    );
    assert_eq!(s.phase.as_deref(), Some(WAITING_FOR_SECRETS));
    assert_eq!(s.conditions[0].reason, "SecretMissing");
    assert_eq!(
        s.last_error.as_deref(),
        Some("Secret db (env DB) does not exist in t-web")
    );
    let stalled = conditions::find(&s.conditions, ConditionType::Stalled).expect("Stalled");
    assert!(stalled.holds() && stalled.has_reason(Reason::SecretMissing));
    // It never gives up: the Secret may come any time.
    let later = derive(
        &image_spec(),
        Some(2),
        Some(&running(5, 5)),
        &found,
        Some(&s),
        ("2026-11-22T09:00:00Z", TIMEOUT),
    );
    assert_eq!(later.phase.as_deref(), Some(WAITING_FOR_SECRETS));
    // Once it exists: running, and no Stalled condition.
    let s = derive(
        &image_spec(),
        Some(2),
        Some(&running(5, 5)),
        &Found::default(),
        Some(&later),
        (NOW, TIMEOUT),
    );
    assert_eq!(s.phase.as_deref(), Some("running"));
    assert_eq!(s.last_error, None);
    assert!(conditions::find(&s.conditions, ConditionType::Stalled).is_none());
}

#[test]
fn a_delivery_error_fails_the_app_after_the_timeout_and_a_new_generation_starts_over() {
    let app = json!({
        "metadata": {"generation": 1},
        "status": {"status": "runningWorkflow", "observedGeneration": 1,
                   "services": [{"name": "hello", "healthy": false,
                                 "message": "HelmChart 'ns/ns-hello' is not ready"}]}
    });
    let found = Found {
        delivery_error: Some(
            "chart greter not found in https://charts.example.com: check helm.chart".into(),
        ),
        ..Found::default()
    };
    let first = derive(
        &helm_spec(),
        Some(3),
        Some(&app),
        &found,
        None,
        ("2026-11-21T09:00:00Z", TIMEOUT),
    );
    assert_eq!(first.phase.as_deref(), Some("runningWorkflow"));
    assert_eq!(first.last_error, found.delivery_error);
    assert_eq!(first.conditions[0].reason, "DeliveryError");
    assert_eq!(
        give_up_in(&first, "2026-11-21T09:04:00Z", TIMEOUT),
        Some(Duration::from_secs(360))
    );
    let still = derive(
        &helm_spec(),
        Some(3),
        Some(&app),
        &found,
        Some(&first),
        ("2026-11-21T09:09:59Z", TIMEOUT),
    );
    assert_eq!(still.phase.as_deref(), Some("runningWorkflow"));
    let failed = derive(
        &helm_spec(),
        Some(3),
        Some(&app),
        &found,
        Some(&still),
        ("2026-11-21T09:10:00Z", TIMEOUT),
    );
    assert_eq!(failed.phase.as_deref(), Some(FAILED));
    assert_eq!(failed.conditions[0].reason, "DeliveryFailed");
    assert!(
        failed.conditions[0].message.contains("greter")
            && failed.conditions[0].message.contains("10m")
    );
    assert_eq!(failed.last_error, found.delivery_error);
    // An edit (a new generation) starts the clock again.
    let edited = derive(
        &helm_spec(),
        Some(4),
        Some(&app),
        &found,
        Some(&failed),
        ("2026-11-21T09:11:00Z", TIMEOUT),
    );
    assert_ne!(edited.phase.as_deref(), Some(FAILED));
    // Fixed: no error, no Stalled.
    let fixed = derive(
        &helm_spec(),
        Some(4),
        Some(&running(1, 1)),
        &Found::default(),
        Some(&edited),
        (NOW, TIMEOUT),
    );
    assert_eq!(fixed.phase.as_deref(), Some("running"));
    assert!(conditions::find(&fixed.conditions, ConditionType::Stalled).is_none());
}

#[test]
fn an_application_read_back_before_the_agents_apply_shows_is_progressing() {
    // The agent has applied publish version 5.new (a resume); its cache still holds the
    // Application as it was: Vela `running` the suspended delivery 4.old.
    let mut stale = running(4, 4);
    stale["metadata"]["annotations"] = json!({"app.oam.dev/publishVersion": "4.old"});
    stale["status"]["workflow"]["appRevision"] = json!("4.old");
    let found = Found {
        applied_version: Some("5.new".into()),
        ..Found::default()
    };
    let s = derive(
        &image_spec(),
        Some(5),
        Some(&stale),
        &found,
        None,
        (NOW, TIMEOUT),
    );
    assert_ne!(s.phase.as_deref(), Some("running"), "{s:?}");
    assert_eq!(s.conditions[0].status, "False");
    assert_eq!(s.conditions[0].reason, "Progressing");
    // Once read back with that version and delivered: running.
    stale["metadata"]["annotations"] = json!({"app.oam.dev/publishVersion": "5.new"});
    stale["status"]["workflow"]["appRevision"] = json!("5.new");
    let s = derive(
        &image_spec(),
        Some(5),
        Some(&stale),
        &found,
        None,
        (NOW, TIMEOUT),
    );
    assert_eq!(s.phase.as_deref(), Some("running"));
}
