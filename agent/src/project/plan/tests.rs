use kubenova_api::crd::{Plan, PodSecurity, ProjectSpec, TenantSpec};

use super::*;

fn fixtures(own_quota: Option<Quota>, pod_security: Option<PodSecurity>) -> (Project, Tenant) {
    let tenant = Tenant::new(
        "acme",
        TenantSpec {
            plan: Plan {
                quota: Quota {
                    cpu: Some("4".into()),
                    namespaces: Some(3),
                    ..Quota::default()
                },
                limits: Limits {
                    default_cpu_request: Some("100m".into()),
                    ..Limits::default()
                },
                ..Plan::default()
            },
            ..TenantSpec::default()
        },
    );
    let project = Project::new(
        "acme.web",
        ProjectSpec {
            tenant: "acme".into(),
            project: "web".into(),
            quota: own_quota,
            pod_security,
            ..ProjectSpec::default()
        },
    );
    (project, tenant)
}

#[test]
fn the_namespace_carries_the_projects_labels_but_not_the_tenants_keys() {
    let (mut project, mut tenant) = fixtures(None, None);
    tenant.spec.labels = [("team".to_owned(), "pay".to_owned())].into();
    tenant.spec.annotations = [("example.com/a".to_owned(), "t".to_owned())].into();
    project.spec.labels = [
        ("team".to_owned(), "other".to_owned()),
        ("tier".to_owned(), "web".to_owned()),
        (
            "pod-security.kubernetes.io/enforce".to_owned(),
            "privileged".to_owned(),
        ),
    ]
    .into();
    project.spec.annotations = [
        ("example.com/a".to_owned(), "p".to_owned()),
        ("example.com/b".to_owned(), "p".to_owned()),
    ]
    .into();
    let ns = namespace_manifest(&project, &tenant, false);
    let l = &ns["metadata"]["labels"];
    assert_eq!(l["tier"], "web");
    assert!(
        l.get("team").is_none(),
        "the tenant's key is Capsule's to write"
    );
    assert_eq!(l["pod-security.kubernetes.io/enforce"], "baseline");
    assert_eq!(ns["metadata"]["annotations"], json!({"example.com/b": "p"}));
    let (project, tenant) = fixtures(None, None);
    let ns = namespace_manifest(&project, &tenant, false);
    assert!(ns["metadata"].get("annotations").is_none());
}

#[test]
fn quota_comes_from_the_project_else_the_plan_without_namespaces() {
    let (project, tenant) = fixtures(None, None);
    let hard = quota_hard(&project, &tenant);
    assert_eq!(hard.get("requests.cpu").map(String::as_str), Some("4"));
    assert!(!hard.keys().any(|k| k.contains("namespace")));
    let (project, tenant) = fixtures(
        Some(Quota {
            pods: Some(5),
            ..Quota::default()
        }),
        None,
    );
    let hard = quota_hard(&project, &tenant);
    assert_eq!(hard.get("pods").map(String::as_str), Some("5"));
    assert!(!hard.contains_key("requests.cpu"));
}

#[test]
fn the_namespace_is_labelled_with_tenant_project_capsule_and_pod_security() {
    let (project, tenant) = fixtures(None, Some(PodSecurity::Restricted));
    let ns = desired_namespace(&project, &tenant);
    let l = &ns["metadata"]["labels"];
    assert_eq!(ns["metadata"]["name"], "acme-web");
    assert_eq!(l[labels::TENANT], "acme");
    assert_eq!(l[labels::PROJECT], "web");
    assert_eq!(l[labels::CAPSULE_TENANT], "acme");
    assert_eq!(l["pod-security.kubernetes.io/enforce"], "restricted");
    let (project, tenant) = fixtures(None, None);
    let ns = desired_namespace(&project, &tenant);
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "baseline"
    );
}

#[test]
fn the_objects_bind_the_right_groups_and_allow_dns() {
    let (project, tenant) = fixtures(None, None);
    let objects = desired_objects(&project, &tenant);
    let find = |name: &str| {
        objects
            .iter()
            .find(|(_, o)| o["metadata"]["name"] == name)
            .map(|(_, o)| o.clone())
            .expect(name)
    };
    assert_eq!(
        find(names::DEV_BINDING)["subjects"][0]["name"],
        "kubenova:project:acme:web:dev"
    );
    assert_eq!(
        find(names::DEV_BINDING)["roleRef"]["name"],
        PROJECT_DEV_ROLE
    );
    assert_eq!(
        find(names::VIEW_BINDING)["subjects"][0]["name"],
        "kubenova:project:acme:web:view"
    );
    assert_eq!(find(names::DEPLOYER)["kind"], "ServiceAccount");
    let np = find(names::NETWORK_POLICY);
    assert_eq!(np["spec"]["egress"][1]["ports"][0]["port"], 53);
    assert_eq!(
        find(names::LIMITS)["spec"]["limits"][0]["defaultRequest"]["cpu"],
        "100m"
    );
}

#[test]
fn the_isolation_follows_the_tenants_network_settings() {
    use kubenova_api::crd::IpBlock;
    let default = isolation_spec("acme", &NetworkPolicySettings::default());
    assert_eq!(
        default["ingress"],
        json!([{ "from": [{ "namespaceSelector": { "matchLabels": { labels::CAPSULE_TENANT: "acme" } } }] }])
    );
    assert_eq!(default["egress"][0]["to"], default["ingress"][0]["from"]);
    assert_eq!(default["egress"].as_array().map(Vec::len), Some(2));

    let open = isolation_spec(
        "acme",
        &NetworkPolicySettings {
            isolation: Isolation::Project,
            allow_from_namespaces: vec!["ingress-nginx".into()],
            allow_to_namespaces: vec!["shared-db".into()],
            allow_egress: vec![IpBlock {
                cidr: "0.0.0.0/0".into(),
                except: vec!["10.0.0.0/8".into()],
            }],
        },
    );
    let by_name = |n: &str| json!({ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": n } } });
    assert_eq!(
        open["ingress"][0]["from"],
        json!([{ "podSelector": {} }, by_name("ingress-nginx")])
    );
    assert_eq!(
        open["egress"][0]["to"],
        json!([
            { "podSelector": {} },
            by_name("shared-db"),
            { "ipBlock": { "cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"] } },
        ])
    );
    assert_eq!(open["egress"][1], default["egress"][1], "DNS stays allowed");
}

#[test]
fn the_plan_lists_each_object_once_in_apply_order_with_its_own_kind() {
    let (project, tenant) = fixtures(None, None);
    let plan = plan(&project, &tenant);
    let order: Vec<(Kind, &str)> = plan.iter().map(|p| (p.kind, p.name)).collect();
    assert_eq!(
        order,
        [
            (Kind::ResourceQuota, names::QUOTA),
            (Kind::LimitRange, names::LIMITS),
            (Kind::NetworkPolicy, names::NETWORK_POLICY),
            (Kind::RoleBinding, names::DEV_BINDING),
            (Kind::RoleBinding, names::VIEW_BINDING),
            (Kind::ServiceAccount, names::DEPLOYER),
            (Kind::RoleBinding, names::DEPLOYER),
        ]
    );
    for p in &plan {
        assert_eq!(p.manifest["kind"], p.kind.as_str());
        assert_eq!(p.manifest["apiVersion"], p.kind.api_version());
        assert_eq!(p.manifest["metadata"]["name"], p.name);
        assert_eq!(p.manifest["metadata"]["namespace"], "acme-web");
    }
}
