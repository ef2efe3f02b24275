//! What the agent checks in an app's own namespace besides the Application, as pure functions
//! over the objects it read: the Secrets the app refers to, the errors Flux reports for a chart
//! app (in words the tenant can act on), and whether the delivered workloads have rolled out.
//! Every object read is the app's own (its name, its release labels, its namespace), so no other
//! tenant's data can end up in a status.

use std::collections::BTreeSet;

use kubenova_api::crd::{AppSpec, HelmSource};
use serde_json::Value;

/// A Secret an app refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretUse {
    /// The Secret's name.
    pub name: String,
    /// The key it needs (`None`: only that it exists).
    pub key: Option<String>,
    /// What refers to it, in the App's terms (`env DB_PASSWORD`).
    pub by: String,
}

/// The Secrets `spec` refers to: env variables from Secrets, the registry credentials
/// (`imagePullSecrets`) and the chart repository's credentials. (Chart values come only from
/// `helm.values`; there is no `valuesFrom` to check.)
pub fn secret_uses(spec: &AppSpec) -> Vec<SecretUse> {
    let mut uses = Vec::new();
    if let Some(image) = &spec.image {
        for env in &image.env {
            if let Some(r) = &env.secret_ref {
                uses.push(SecretUse {
                    name: r.name.clone(),
                    key: Some(r.key.clone()),
                    by: format!("env {}", env.name),
                });
            }
        }
        if let Some(secret) = &image.registry_secret {
            uses.push(SecretUse {
                name: secret.clone(),
                key: None,
                by: "image.registry (imagePullSecrets)".into(),
            });
        }
    }
    if let Some(secret) = spec
        .helm
        .as_ref()
        .and_then(|h| h.credentials_secret.as_ref())
    {
        uses.push(SecretUse {
            name: secret.clone(),
            key: None,
            by: "helm.credentials".into(),
        });
    }
    uses
}

/// What is wrong with `used` in `namespace`, given the keys of the Secret found there (`None`:
/// no such Secret).
pub fn missing_secret(
    used: &SecretUse,
    namespace: &str,
    keys: Option<&BTreeSet<String>>,
) -> Option<String> {
    match (keys, &used.key) {
        (None, _) => Some(format!(
            "Secret {} ({}) does not exist in {namespace}; create it and the app starts",
            used.name, used.by
        )),
        (Some(keys), Some(key)) if !keys.contains(key) => Some(format!(
            "Secret {} has no key {key} ({}) in {namespace}; add it and the app starts",
            used.name, used.by
        )),
        _ => None,
    }
}

/// The `Ready` condition of a Flux object when it reports a failure: `status: False` (Flux
/// reports work in progress as `Unknown`), and not one of the reasons that only say it waits.
/// helm-controller's `SourceNotReady` (`HelmChart '...' is not ready: ...`) is one: it repeats
/// the HelmChart's (or OCIRepository's) state, also while that only catches up with a change;
/// their own failures are read from them.
fn failure(object: &Value) -> Option<String> {
    let conditions = object["status"]["conditions"].as_array()?;
    let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
    let waiting = [
        "Progressing",
        "ProgressingWithRetry",
        "DependencyNotReady",
        "SourceNotReady",
    ];
    if ready["status"] != "False" || waiting.contains(&ready["reason"].as_str().unwrap_or("")) {
        return None;
    }
    ready["message"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
}

/// The error Flux reports for a chart app, from the first of its objects that fails in the order
/// they depend on each other: the repository (`<app>-source`), the HelmChart helm-controller made
/// for the release, the HelmRelease. Known causes of the repository and the chart are said in the
/// app's terms (the field to fix); others name the object's role and keep Flux's message.
pub fn flux_error(
    helm: &HelmSource,
    source: Option<&Value>,
    chart: Option<&Value>,
    release: Option<&Value>,
) -> Option<String> {
    let (role, message) = [
        ("the chart repository", source),
        ("the chart", chart),
        ("the Helm release", release),
    ]
    .into_iter()
    .find_map(|(role, object)| Some((role, failure(object?)?)))?;
    let lower = message.to_ascii_lowercase();
    let (chart, version, repo) = (&helm.chart, &helm.version, &helm.repo);
    if role == "the Helm release" {
        // Install and upgrade failures: the chart's own words (a refused object, a timeout).
        return Some(format!("{role}: {message}"));
    }
    Some(
        if lower.contains("no chart name found")
            || (lower.contains("chart")
                && lower.contains("not found")
                && !lower.contains("version"))
        {
            format!(
                "chart {chart} not found in {repo}: check helm.chart (the chart's name in the repository)"
            )
        } else if lower.contains("no chart version found")
            || lower.contains("no matching version")
            || lower.contains("with version matching")
        {
            format!("chart {chart} has no version matching {version} in {repo}: check helm.version")
        } else if lower.contains("401") || lower.contains("unauthorized") || lower.contains("403 ")
        {
            format!("{repo} refused the credentials: check helm.credentials ({role}: {message})")
        } else if lower.contains("manifest unknown") || lower.contains("not found") {
            format!(
                "chart {chart} {version} not found in {repo}: check helm.chart and helm.version ({message})"
            )
        } else {
            format!("{role}: {message}")
        },
    )
}

/// What the workloads (Deployments and StatefulSets, as read from the cluster) still wait for
/// before every pod of the delivered revision is up, like `kubectl rollout status`; `None` when
/// all have rolled out.
pub fn rollout(workloads: &[(&str, Value)]) -> Option<String> {
    workloads.iter().find_map(|(kind, w)| {
        let name = w["metadata"]["name"].as_str().unwrap_or("?");
        let want = w["spec"]["replicas"].as_i64().unwrap_or(1);
        let status = &w["status"];
        let count = |field: &str| status[field].as_i64().unwrap_or(0);
        let generation = w["metadata"]["generation"].as_i64().unwrap_or(0);
        if status["observedGeneration"].as_i64().unwrap_or(0) < generation {
            return Some(format!("{kind} {name}: the change is not rolled out yet"));
        }
        let (updated, ready) = (count("updatedReplicas"), count("readyReplicas"));
        let available = if *kind == "deployment" {
            count("availableReplicas")
        } else {
            ready
        };
        if updated < want || available < want || ready < want {
            return Some(format!(
                "{kind} {name}: {} of {want} pods of the new revision ready",
                updated.min(ready)
            ));
        }
        if *kind == "deployment" && count("replicas") > want {
            return Some(format!(
                "{kind} {name}: {} old pods still stopping",
                count("replicas") - want
            ));
        }
        None
    })
}
