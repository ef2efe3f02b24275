//! An App's status, read from what KubeVela reports on its Application: the phase, the current
//! revision, when it was last deployed, the last error and each component's health. Pure: the
//! reconciler passes the Application it read and writes the result only when it changed.

use kubenova_api::conditions::{self, ConditionType, Reason};
use kubenova_api::crd::{AppSpec, AppStatus, ComponentHealth, Condition};
use serde_json::Value;

use super::render::PUBLISH_VERSION_ANNOTATION;

/// The phase KubeNova reports for a suspended app once KubeVela has delivered the suspension
/// (image apps: `scaler` at zero; helm apps: the release upgraded with zero replicas).
pub const SUSPENDED: &str = "suspended";

/// The status for an App of `generation` with `spec`, given its Vela `application` (`None`
/// while it does not exist yet). Condition times are kept from `previous` when nothing changed,
/// and set to `now` (RFC 3339) when a condition's status flips.
pub fn derive(
    spec: &AppSpec,
    generation: Option<i64>,
    application: Option<&Value>,
    previous: Option<&AppStatus>,
    now: &str,
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
    let last_error = failed_step
        .clone()
        .or_else(|| {
            workflow["message"]
                .as_str()
                .filter(|m| !m.is_empty() && vela_phase == "workflowFailed")
                .map(str::to_owned)
        })
        .or_else(|| {
            (vela_phase != "running")
                .then(|| unhealthy.clone())
                .flatten()
        });
    let app_generation = app["metadata"]["generation"].as_i64();
    // Vela has seen the latest spec and, when a publish version is set (KubeNova always sets
    // one), has started the delivery of that version: it records the version it runs as
    // `status.workflow.appRevision`. A `:deploy` changes only the version.
    let version = app["metadata"]["annotations"][PUBLISH_VERSION_ANNOTATION].as_str();
    let delivering = version.is_none_or(|v| workflow["appRevision"].as_str() == Some(v));
    let caught_up = status["observedGeneration"].as_i64() == app_generation && delivering;
    let phase = if spec.suspended && caught_up && vela_phase == "running" {
        SUSPENDED.to_owned()
    } else {
        vela_phase.to_owned()
    };
    let healthy = components.iter().all(|c| c.healthy) && !components.is_empty();
    let ready = if !caught_up {
        (
            false,
            Reason::Progressing,
            "KubeVela has not processed the latest change yet".to_owned(),
        )
    } else if vela_phase == "running" && healthy {
        (
            true,
            Reason::Running,
            "every component is healthy".to_owned(),
        )
    } else {
        (
            false,
            reason_for(vela_phase),
            last_error
                .clone()
                .or(unhealthy)
                .unwrap_or_else(|| format!("KubeVela reports {vela_phase}")),
        )
    };
    let last_deployed = workflow["endTime"]
        .as_str()
        .filter(|t| workflow["finished"].as_bool() == Some(true) && !t.is_empty())
        .map(str::to_owned);
    with_ready(
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
    )
}

fn reason_for(vela_phase: &str) -> Reason {
    match vela_phase {
        "workflowFailed" | "workflowTerminated" => Reason::DeliveryFailed,
        "unhealthy" => Reason::Unhealthy,
        "workflowSuspending" | "suspending" => Reason::Suspended,
        "deleting" => Reason::Deleting,
        _ => Reason::Progressing,
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

#[cfg(test)]
mod tests;
