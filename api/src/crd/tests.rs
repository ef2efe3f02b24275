//! The generated CRDs say what the API and the agent rely on.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use super::*;

fn json(crd: &CustomResourceDefinition) -> String {
    serde_json::to_string(crd).expect("CRD serialises")
}

#[test]
fn every_resource_has_its_scope_and_a_status_subresource() {
    for crd in all() {
        assert_eq!(crd.spec.group, GROUP);
        let scope = if crd.spec.names.kind == "App" {
            "Namespaced"
        } else {
            "Cluster"
        };
        assert_eq!(crd.spec.scope, scope, "{}", crd.spec.names.kind);
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert!(columns.contains(&"Age"), "{columns:?}");
        let conditions = [
            "tenants.kubenova.io",
            "projects.kubenova.io",
            "clusters.kubenova.io",
        ];
        if conditions.contains(&crd.metadata.name.as_deref().unwrap_or_default()) {
            assert!(columns.contains(&"Ready"), "{columns:?}");
        }
    }
}

#[test]
fn the_apiserver_checks_names_quantities_and_immutable_fields() {
    let tenant = json(&Tenant::crd_for_test());
    for rule in [
        "size(self.metadata.name) <= 40",
        "isQuantity(self)",
        "self >= 1",
    ] {
        assert!(tenant.contains(rule), "tenant CRD lacks {rule}");
    }
    let project = json(&Project::crd_for_test());
    for rule in [
        "self.metadata.name == self.spec.tenant + '.' + self.spec.project",
        "self == oldSelf",
        "size(self) <= 22",
    ] {
        assert!(project.contains(rule), "project CRD lacks {rule}");
    }
}

#[test]
fn specs_round_trip_in_camel_case() {
    let spec: ProjectSpec = serde_json::from_value(serde_json::json!({
        "tenant": "acme", "project": "web", "podSecurity": "restricted",
        "quota": {"cpu": "2", "pods": 20},
        "access": {"developers": ["dana"]},
    }))
    .expect("spec");
    assert_eq!(spec.pod_security, Some(PodSecurity::Restricted));
    assert_eq!(spec.quota.as_ref().and_then(|q| q.pods), Some(20));
    let back = serde_json::to_value(&spec).expect("json");
    assert_eq!(back["access"]["developers"][0], "dana");
    assert_eq!(back["podSecurity"], "restricted");
}

trait CrdForTest {
    fn crd_for_test() -> CustomResourceDefinition;
}

impl<K: kube::CustomResourceExt> CrdForTest for K {
    fn crd_for_test() -> CustomResourceDefinition {
        K::crd()
    }
}
