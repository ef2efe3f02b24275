//! An App's status, read from what KubeVela reports on its Application: the phase, the current
//! revision, when it was last deployed, the last error and each component's health. Pure: the
//! reconciler passes the Application it read and writes the result only when it changed.

use std::time::Duration;

use kubenova_api::conditions::{self, ConditionType, Reason};
use kubenova_api::crd::{AppSpec, AppStatus, ComponentHealth, Condition};
use serde_json::Value;

use super::render::PUBLISH_VERSION_ANNOTATION;

/// The phase KubeNova reports for a suspended app once KubeVela has delivered the suspension
/// (image apps: `scaler` at zero; helm apps: the release upgraded with zero replicas).
pub const SUSPENDED: &str = "suspended";

/// The phase of an app whose latest change KubeVela has not started to deliver yet, or has
/// delivered but whose workloads have not rolled out yet (pods starting after a resume, a rolling
/// update after an edit).
pub const PROGRESSING: &str = "progressing";

/// The phase of an app that refers to a Secret (or a key) that does not exist.
pub const WAITING_FOR_SECRETS: &str = "waitingForSecrets";

/// The phase of an app whose delivery error has lasted longer than the delivery timeout.
pub const FAILED: &str = "failed";

/// What the agent found in the app's namespace besides the Application (see [`checks`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Found {
    /// The error Flux reports for a chart app, in the tenant's words.
    pub delivery_error: Option<String>,
    /// One sentence per Secret or key the app refers to that does not exist.
    pub missing_secrets: Vec<String>,
    /// What the delivered workloads still wait for (`None`: rolled out).
    pub rollout: Option<String>,
    /// The publish version the agent has just applied: until the Application read back carries
    /// it (the agent's cache may still hold the one before), Vela's phase is about an older
    /// delivery and says nothing about this one.
    pub applied_version: Option<String>,
}

/// The status for an App of `generation` with `spec`, given its Vela `application` (`None`
/// while it does not exist yet) and what else the agent `found`. Condition times are kept from
/// `previous` when nothing changed, and set to `now` (RFC 3339) when a condition's status flips.
/// A delivery error that has lasted `timeout` (since the `Stalled` condition's time) makes the
/// phase `failed`.
pub fn derive(
    spec: &AppSpec,
    generation: Option<i64>,
    application: Option<&Value>,
    found: &Found,
    previous: Option<&AppStatus>,
    (now, timeout): (&str, Duration),
) -> AppStatus {
    let kind = if spec.helm.is_some() { "helm" } else { "image" };
    let Some(app) = application else {
        return with_ready(
            AppStatus {
                kind: Some(kind.into()),
                phase: Some("pending".into()),
                observed_generation: generation,
                ..AppStatus::default()
            },
            (
                false,
                Reason::Pending,
                "the KubeVela Application is not created yet".into(),
            ),
            previous,
            now,
        );
    };
    let status = &app["status"];
    let vela_phase = status["status"].as_str().unwrap_or("pending");
    let components: Vec<ComponentHealth> = status["services"]
        .as_array()
        .map(|services| {
            services
                .iter()
                .map(|s| ComponentHealth {
                    name: s["name"].as_str().unwrap_or_default().to_owned(),
                    healthy: s["healthy"].as_bool().unwrap_or(false),
                    message: s["message"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let workflow = &status["workflow"];
    let failed_step = workflow["steps"].as_array().and_then(|steps| {
        steps.iter().find(|s| s["phase"] == "failed").map(|s| {
            format!(
                "step {}: {}",
                s["name"].as_str().unwrap_or("?"),
                s["message"]
                    .as_str()
                    .filter(|m| !m.is_empty())
                    .or(s["reason"].as_str())
                    .unwrap_or("failed")
            )
        })
    });
    let unhealthy = components.iter().find(|c| !c.healthy).map(|c| {
        format!(
            "{}: {}",
            c.name,
            if c.message.is_empty() {
                "not healthy"
            } else {
                &c.message
            }
        )
    });
    // Errors only: a failed step, a failed workflow, what Flux refuses, a missing Secret. A
    // component's message is what its health check says (helm-controller's "Running 'install'
    // action...", "Helm upgrade succeeded", Vela's "Ready:0/1"): progress, shown in
    // `components` and the Ready condition, never as an error.
    let delivery_error = failed_step
        .or_else(|| {
            workflow["message"]
                .as_str()
                .filter(|m| !m.is_empty() && vela_phase == "workflowFailed")
                .map(str::to_owned)
        })
        .or_else(|| found.delivery_error.clone());
    let secrets_missing = (!found.missing_secrets.is_empty() && !spec.suspended)
        .then(|| found.missing_secrets.join("; "));
    let last_error = delivery_error.clone().or_else(|| secrets_missing.clone());
    let app_generation = app["metadata"]["generation"].as_i64();
    // Vela has seen the latest spec and, when a publish version is set (KubeNova always sets
    // one), has started the delivery of that version: it records the version it runs as
    // `status.workflow.appRevision`. A `:deploy` changes only the version.
    let version = app["metadata"]["annotations"][PUBLISH_VERSION_ANNOTATION].as_str();
    let delivering = version.is_none_or(|v| workflow["appRevision"].as_str() == Some(v))
        && found
            .applied_version
            .as_deref()
            .is_none_or(|applied| version == Some(applied));
    let caught_up = status["observedGeneration"].as_i64() == app_generation && delivering;
    let healthy = components.iter().all(|c| c.healthy) && !components.is_empty();
    // Since when the delivery has been stalled by an error (kept from `previous` while the same
    // generation stays stalled for the same reason).
    let stalled = delivery_error
        .as_ref()
        .map(|e| (Reason::DeliveryError, e.clone()))
        .or_else(|| {
            secrets_missing
                .as_ref()
                .map(|e| (Reason::SecretMissing, e.clone()))
        })
        .map(|(reason, message)| {
            let since = previous
                .and_then(|p| conditions::find(&p.conditions, ConditionType::Stalled))
                .filter(|c| {
                    c.holds() && c.has_reason(reason) && c.observed_generation == generation
                })
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.to_owned());
            (reason, message, since)
        });
    let gave_up = stalled.as_ref().is_some_and(|(reason, _, since)| {
        *reason == Reason::DeliveryError && elapsed(since, now) >= timeout
    });
    let rolled_out = found.rollout.is_none();
    let (phase, ready) = if gave_up {
        (
            FAILED.to_owned(),
            (
                false,
                Reason::DeliveryFailed,
                format!(
                    "{} (no delivery for {}; fix the app and it is delivered again)",
                    delivery_error.clone().unwrap_or_default(),
                    human(timeout)
                ),
            ),
        )
    } else if spec.suspended && caught_up && vela_phase == "running" {
        (
            SUSPENDED.to_owned(),
            if healthy {
                (
                    true,
                    Reason::Running,
                    "every component is healthy".to_owned(),
                )
            } else {
                (
                    false,
                    reason_for(vela_phase, Reason::Progressing),
                    unhealthy.clone().unwrap_or_default(),
                )
            },
        )
    } else if let Some(missing) = &secrets_missing {
        (
            WAITING_FOR_SECRETS.to_owned(),
            (false, Reason::SecretMissing, missing.clone()),
        )
    } else if !caught_up {
        // Vela's phase is still the one of the delivery before (`running` of the old spec).
        (
            PROGRESSING.to_owned(),
            (
                false,
                Reason::Progressing,
                "KubeVela has not processed the latest change yet".to_owned(),
            ),
        )
    } else if vela_phase == "running" && healthy && !rolled_out {
        (
            PROGRESSING.to_owned(),
            (
                false,
                Reason::Progressing,
                found.rollout.clone().unwrap_or_default(),
            ),
        )
    } else if vela_phase == "running" && healthy {
        (
            vela_phase.to_owned(),
            (
                true,
                Reason::Running,
                "every component is healthy".to_owned(),
            ),
        )
    } else if let Some(error) = &delivery_error {
        (
            vela_phase.to_owned(),
            (
                false,
                reason_for(vela_phase, Reason::DeliveryError),
                error.clone(),
            ),
        )
    } else {
        (
            vela_phase.to_owned(),
            (
                false,
                reason_for(vela_phase, Reason::Progressing),
                unhealthy.unwrap_or_else(|| format!("KubeVela reports {vela_phase}")),
            ),
        )
    };
    let last_deployed = workflow["endTime"]
        .as_str()
        .filter(|t| workflow["finished"].as_bool() == Some(true) && !t.is_empty())
        .map(str::to_owned);
    let mut derived = with_ready(
        AppStatus {
            kind: Some(kind.into()),
            phase: Some(phase),
            revision: status["latestRevision"]["name"].as_str().map(str::to_owned),
            last_deployed,
            last_error,
            components,
            conditions: Vec::new(),
            observed_generation: generation,
        },
        ready,
        previous,
        now,
    );
    if let Some((reason, message, since)) = stalled {
        derived.conditions.push(Condition {
            last_transition_time: Some(since),
            ..Condition::new(ConditionType::Stalled, true, reason, message, generation)
        });
    }
    derived
}

/// How long after the delivery error seen first at `since` the agent checks again to give up
/// on time (`None`: no delivery error).
pub fn give_up_in(status: &AppStatus, now: &str, timeout: Duration) -> Option<Duration> {
    let stalled = conditions::find(&status.conditions, ConditionType::Stalled)
        .filter(|c| c.holds() && c.has_reason(Reason::DeliveryError))?;
    let since = stalled.last_transition_time.as_deref()?;
    Some(timeout.saturating_sub(elapsed(since, now)))
}

/// `90s` as `1m30s`, `600s` as `10m`.
fn human(d: Duration) -> String {
    let (m, s) = (d.as_secs() / 60, d.as_secs() % 60);
    match (m, s) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

/// The time from `since` to `now` (both RFC 3339); zero if either does not parse.
fn elapsed(since: &str, now: &str) -> Duration {
    let parse = |t: &str| t.parse::<k8s_openapi::jiff::Timestamp>().ok();
    match (parse(since), parse(now)) {
        (Some(a), Some(b)) => {
            Duration::from_secs(u64::try_from(b.as_second() - a.as_second()).unwrap_or(0))
        }
        _ => Duration::ZERO,
    }
}

fn reason_for(vela_phase: &str, otherwise: Reason) -> Reason {
    match vela_phase {
        "workflowFailed" | "workflowTerminated" => Reason::DeliveryFailed,
        "unhealthy" => Reason::Unhealthy,
        "workflowSuspending" | "suspending" => Reason::Suspended,
        "deleting" => Reason::Deleting,
        _ => otherwise,
    }
}

fn with_ready(
    mut status: AppStatus,
    (ready, reason, message): (bool, Reason, String),
    previous: Option<&AppStatus>,
    now: &str,
) -> AppStatus {
    let before = previous.and_then(|p| conditions::find(&p.conditions, ConditionType::Ready));
    let last_transition_time = match before {
        Some(c) if c.holds() == ready => c.last_transition_time.clone(),
        _ => Some(now.to_owned()),
    };
    status.conditions = vec![Condition {
        last_transition_time,
        ..Condition::new(
            ConditionType::Ready,
            ready,
            reason,
            message,
            status.observed_generation,
        )
    }];
    status
}

pub mod checks;

#[cfg(test)]
mod tests;
