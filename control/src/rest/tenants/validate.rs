//! What a tenant's or project's body must be, checked before anything is written: names,
//! subjects, classes, network settings, hosts, labels and annotations.

use std::collections::BTreeMap;

use kubenova_api::crd::{NetworkPolicySettings, Plan, TenantSpec};
use kubenova_api::names;

use super::super::dto::TenantSettings;
use super::super::error::ApiError;

/// Checks a token subject as it will appear in `kubenova:<sub>`.
pub fn validate_subject(field: &str, subject: &str) -> Result<(), ApiError> {
    if subject.is_empty() || subject.len() > 253 {
        return Err(ApiError::invalid(field, "must be 1 to 253 characters"));
    }
    if subject.contains(':') || subject.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!(
                "`{}` must not contain ':' or control characters (it becomes the Kubernetes user kubenova:<subject>)",
                subject.escape_default()
            ),
        ));
    }
    Ok(())
}

pub(crate) fn validate_subjects(field: &str, subjects: &[String]) -> Result<(), ApiError> {
    for (i, s) in subjects.iter().enumerate() {
        validate_subject(&format!("{field}[{i}]"), s)?;
    }
    Ok(())
}

pub(crate) fn validate_name(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    names::validate_dns1123_label(field, value)
        .map_err(|e| ApiError::invalid(field, e.to_string()))?;
    if value.len() > max {
        return Err(ApiError::invalid(
            field,
            format!(
                "is {} characters long; at most {max} are allowed",
                value.len()
            ),
        ));
    }
    Ok(())
}

fn validate_classes(field: &str, classes: &[String]) -> Result<(), ApiError> {
    for (i, c) in classes.iter().enumerate() {
        let f = format!("{field}[{i}]");
        names::validate_dns1123_label(&f, c).map_err(|e| ApiError::invalid(&f, e.to_string()))?;
    }
    Ok(())
}

pub(super) fn settings_spec(s: TenantSettings) -> Result<TenantSpec, ApiError> {
    validate_subjects("owners", &s.owners)?;
    validate_classes("ingressClasses", &s.ingress_classes)?;
    validate_classes("storageClasses", &s.storage_classes)?;
    if s.display_name.as_ref().is_some_and(|d| d.len() > 256) {
        return Err(ApiError::invalid("displayName", "at most 256 characters"));
    }
    validate_network_policy("networkPolicy.", &s.network_policy)?;
    validate_metadata(&s.labels, &s.annotations)?;
    kubenova_api::hosts::validate_claims(&s.ingress_hosts).map_err(|(i, why)| {
        ApiError::invalid(
            &i.map_or("ingressHosts".to_owned(), |i| format!("ingressHosts[{i}]")),
            why,
        )
    })?;
    Ok(TenantSpec {
        display_name: s.display_name,
        owners: s.owners,
        plan: Plan {
            quota: s.quota,
            limits: s.limits,
            ingress_classes: s.ingress_classes,
            storage_classes: s.storage_classes,
            ingress_hosts: s.ingress_hosts,
        },
        pod_security: s.pod_security,
        prevent_deletion: s.prevent_deletion,
        network_policy: s.network_policy,
        labels: s.labels,
        annotations: s.annotations,
    })
}

/// Labels and annotations of a tenant or project, as Kubernetes checks them and off the
/// reserved prefixes (ADR 0019).
pub(crate) fn validate_metadata(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    kubenova_api::metadata::validate_labels("labels", labels)
        .and_then(|()| kubenova_api::metadata::validate_annotations("annotations", annotations))
        .map_err(|e| ApiError::invalid(&e.field, e.why))
}

pub(super) fn validate_network_policy(
    prefix: &str,
    settings: &NetworkPolicySettings,
) -> Result<(), ApiError> {
    settings
        .validate()
        .map_err(|(field, why)| ApiError::invalid(&format!("{prefix}{field}"), why))
}
