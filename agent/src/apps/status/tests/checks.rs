use std::collections::BTreeSet;

use kubenova_api::crd::{EnvVar, HelmSource, ImageSource, SecretKeyRef};
use serde_json::json;

use super::super::checks::*;
use super::*;

fn not_ready(reason: &str, message: &str) -> Value {
    json!({"status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": reason, "message": message}]}})
}

fn helm() -> HelmSource {
    HelmSource {
        repo: "https://charts.example.com".into(),
        chart: "greter".into(),
        version: "0.1.0".into(),
        ..HelmSource::default()
    }
}

#[test]
fn a_chart_that_is_not_in_the_repository_is_named_with_the_field_to_fix() {
    let chart = not_ready(
        "InvalidChartReference",
        "invalid chart reference: failed to get chart version for remote reference: no chart name found",
    );
    let release = not_ready(
        "SourceNotReady",
        "HelmChart 'ns/ns-typo' is not ready: invalid chart reference",
    );
    let e = flux_error(&helm(), None, Some(&chart), Some(&release)).expect("an error");
    assert_eq!(
        e,
        "chart greter not found in https://charts.example.com: check helm.chart (the chart's name in the repository)"
    );
    let version = not_ready(
        "InvalidChartReference",
        "no chart version found for greter-9.9.9",
    );
    let e = flux_error(&helm(), None, Some(&version), None).expect("an error");
    assert!(e.contains("check helm.version"), "{e}");
    // The repository fails first: its error wins.
    let source = not_ready(
        "AuthenticationFailed",
        "failed to fetch index: 401 Unauthorized",
    );
    let e = flux_error(&helm(), Some(&source), Some(&chart), Some(&release)).expect("an error");
    assert!(e.contains("check helm.credentials"), "{e}");
    // The release's failures keep Flux's words, even when they say "not found".
    let install = not_ready(
        "InstallFailed",
        "Helm install failed: namespaces \"other\" not found",
    );
    assert_eq!(
        flux_error(&helm(), None, None, Some(&install)).as_deref(),
        Some("the Helm release: Helm install failed: namespaces \"other\" not found")
    );
    // Anything else keeps Flux's words with the object's role.
    let other = not_ready("UpgradeFailed", "Helm upgrade failed: timed out waiting");
    assert_eq!(
        flux_error(&helm(), None, None, Some(&other)).as_deref(),
        Some("the Helm release: Helm upgrade failed: timed out waiting")
    );
}

#[test]
fn flux_at_work_or_ready_is_no_error() {
    let progressing = json!({"status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "Progressing",
         "message": "Running 'install' action with timeout of 5m0s"}]}});
    let waiting = not_ready("DependencyNotReady", "waiting for the source");
    // helm-controller while the HelmChart catches up with an upgrade.
    let catching_up = not_ready(
        "SourceNotReady",
        "HelmChart 'ns/ns-hello' is not ready: latest generation of object has not been reconciled",
    );
    assert_eq!(flux_error(&helm(), None, None, Some(&catching_up)), None);
    let ready = json!({"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "UpgradeSucceeded",
         "message": "Helm upgrade succeeded"}]}});
    assert_eq!(
        flux_error(&helm(), Some(&ready), Some(&waiting), Some(&progressing)),
        None
    );
    assert_eq!(flux_error(&helm(), None, None, None), None);
}

#[test]
fn secrets_are_checked_by_name_and_key() {
    let spec = AppSpec {
        image: Some(ImageSource {
            env: vec![
                EnvVar {
                    name: "DB_PASSWORD".into(),
                    secret_ref: Some(SecretKeyRef {
                        name: "db".into(),
                        key: "password".into(),
                    }),
                    ..EnvVar::default()
                },
                EnvVar {
                    name: "MODE".into(),
                    value: Some("x".into()),
                    ..EnvVar::default()
                },
            ],
            registry_secret: Some("web-registry".into()),
            ..ImageSource::default()
        }),
        ..AppSpec::default()
    };
    let uses = secret_uses(&spec);
    assert_eq!(uses.len(), 2, "{uses:?}");
    let missing = missing_secret(&uses[0], "t-web", None).expect("missing");
    assert!(
        missing.contains("db") && missing.contains("env DB_PASSWORD") && missing.contains("t-web"),
        "{missing}"
    );
    let keys: BTreeSet<String> = ["user".to_owned()].into();
    let no_key = missing_secret(&uses[0], "t-web", Some(&keys)).expect("no key");
    assert!(no_key.contains("no key password"), "{no_key}");
    let keys: BTreeSet<String> = ["password".to_owned()].into();
    assert_eq!(missing_secret(&uses[0], "t-web", Some(&keys)), None);
    assert!(uses[1].by.contains("imagePullSecrets"));
    assert_eq!(
        missing_secret(&uses[1], "t-web", Some(&BTreeSet::new())),
        None
    );

    let mut chart = helm();
    chart.credentials_secret = Some("blog-repo".into());
    let uses = secret_uses(&AppSpec {
        helm: Some(chart),
        ..AppSpec::default()
    });
    assert_eq!(uses[0].by, "helm.credentials");
}

#[test]
fn rollout_waits_for_the_new_revisions_pods_like_kubectl_rollout_status() {
    let deployment = |generation: i64, observed: i64, updated: i64, ready: i64, replicas: i64| {
        json!({"metadata": {"name": "web", "generation": generation},
               "spec": {"replicas": 1},
               "status": {"observedGeneration": observed, "updatedReplicas": updated,
                          "readyReplicas": ready, "availableReplicas": ready,
                          "replicas": replicas}})
    };
    assert!(
        rollout(&[("deployment", deployment(3, 2, 1, 1, 1))]).is_some(),
        "not observed"
    );
    assert!(
        rollout(&[("deployment", deployment(3, 3, 0, 0, 0))]).is_some(),
        "no pod yet"
    );
    assert!(
        rollout(&[("deployment", deployment(3, 3, 1, 0, 1))]).is_some(),
        "not ready"
    );
    assert!(
        rollout(&[("deployment", deployment(3, 3, 1, 1, 2))]).is_some(),
        "old pod"
    );
    assert_eq!(rollout(&[("deployment", deployment(3, 3, 1, 1, 1))]), None);
    let sts = json!({"metadata": {"name": "cache", "generation": 1},
                     "spec": {"replicas": 2},
                     "status": {"observedGeneration": 1, "updatedReplicas": 2, "readyReplicas": 1}});
    let pending = rollout(&[
        ("deployment", deployment(3, 3, 1, 1, 1)),
        ("statefulset", sts),
    ]);
    assert_eq!(
        pending.as_deref(),
        Some("statefulset cache: 1 of 2 pods of the new revision ready")
    );
    assert_eq!(rollout(&[]), None);
}
