//! Which pods belong to an app. Pure: the API lists what these selectors name.
//!
//! - image apps: Vela labels the pod template of its `webservice` Deployment with
//!   `app.oam.dev/name` and `app.oam.dev/component`;
//! - helm apps: a chart's pods carry only the chart's own labels. helm-controller (v1.4) labels
//!   every object of a release, at the top level only, with
//!   `helm.toolkit.fluxcd.io/name=<HelmRelease>` and `helm.toolkit.fluxcd.io/namespace=<its
//!   namespace>` (its `OriginLabels` post-renderer). So the pods of a chart are those the
//!   `spec.selector` of its workloads (Deployments, StatefulSets, DaemonSets, Jobs) select, plus
//!   bare pods the chart makes itself.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// The label helm-controller puts on every object of a release: the HelmRelease's name.
pub const FLUX_RELEASE_NAME: &str = "helm.toolkit.fluxcd.io/name";
/// The label helm-controller puts on every object of a release: the HelmRelease's namespace.
pub const FLUX_RELEASE_NAMESPACE: &str = "helm.toolkit.fluxcd.io/namespace";

/// The label selector of the objects helm-controller made for the HelmRelease `release` in
/// `namespace` (KubeNova's `helm` component names the HelmRelease after the app).
pub fn release_selector(release: &str, namespace: &str) -> String {
    format!("{FLUX_RELEASE_NAME}={release},{FLUX_RELEASE_NAMESPACE}={namespace}")
}

/// The label selector of an image app's pods (of one component, if given).
pub fn vela_selector(app: &str, component: Option<&str>) -> String {
    match component {
        Some(c) => format!("app.oam.dev/name={app},app.oam.dev/component={c}"),
        None => format!("app.oam.dev/name={app}"),
    }
}

/// A workload's `spec.selector` as a label-selector string; `None` for an empty selector
/// (which would select every pod of the namespace) or an operator Kubernetes does not know.
pub fn selector_string(selector: &LabelSelector) -> Option<String> {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            _ => return None,
        });
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    #[test]
    fn selectors_become_label_selector_strings() {
        let s = LabelSelector {
            match_labels: Some(BTreeMap::from([
                ("app.kubernetes.io/component".to_owned(), "web".to_owned()),
                ("app.kubernetes.io/instance".to_owned(), "blog".to_owned()),
            ])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
                LabelSelectorRequirement {
                    key: "zone".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["x".into()]),
                },
                LabelSelectorRequirement {
                    key: "team".into(),
                    operator: "Exists".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(
            selector_string(&s).as_deref(),
            Some(
                "app.kubernetes.io/component=web,app.kubernetes.io/instance=blog,\
                 tier in (a,b),!canary,zone notin (x),team"
            )
        );
    }

    #[test]
    fn an_empty_or_unknown_selector_selects_nothing() {
        assert_eq!(selector_string(&LabelSelector::default()), None);
        let odd = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "k".into(),
                operator: "Gt".into(),
                values: Some(vec!["1".into()]),
            }]),
        };
        assert_eq!(selector_string(&odd), None);
    }

    #[test]
    fn release_and_vela_selectors() {
        assert_eq!(
            release_selector("blog", "acme-web"),
            "helm.toolkit.fluxcd.io/name=blog,helm.toolkit.fluxcd.io/namespace=acme-web"
        );
        assert_eq!(vela_selector("web", None), "app.oam.dev/name=web");
        assert_eq!(
            vela_selector("web", Some("web")),
            "app.oam.dev/name=web,app.oam.dev/component=web"
        );
    }
}
