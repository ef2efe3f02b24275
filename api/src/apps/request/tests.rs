use serde_json::json;

use super::*;

const AT: Placement<'static> = Placement {
    tenant: "acme",
    project: "web",
    deployer: "kubenova-deployer",
};

fn request(body: Value) -> AppRequest {
    serde_json::from_value(body).expect("a well-formed request")
}

fn plan_new(body: Value) -> Result<Planned, Invalid> {
    plan(request(body), None, None, AT, &Allowed::default())
}

#[test]
fn an_image_app_with_registry_credentials_gets_a_pull_secret() {
    let planned = plan_new(json!({
        "name": "grafana",
        "image": {
            "image": "registry.example.com:5000/team/grafana:11.0.0",
            "ports": [{"port": 3000}],
            "registry": {"username": "robot", "password": "s3cret"},
            "ingress": {"host": "grafana.example.com"},
        },
    }))
    .expect("valid");
    assert_eq!(planned.name, "grafana");
    let image = planned.spec.image.expect("image");
    assert_eq!(image.image, "registry.example.com:5000/team/grafana");
    assert_eq!(image.tag, "11.0.0");
    assert_eq!(image.replicas, 1);
    assert_eq!(image.registry_secret.as_deref(), Some("grafana-registry"));
    assert_eq!(planned.secrets.len(), 1);
    let secret = &planned.secrets[0];
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(secret["metadata"]["name"], "grafana-registry");
    assert_eq!(secret["metadata"]["labels"]["kubenova.io/app"], "grafana");
    let config: Value = serde_json::from_str(
        secret["stringData"][".dockerconfigjson"]
            .as_str()
            .expect("string"),
    )
    .expect("json");
    let entry = &config["auths"]["registry.example.com:5000"];
    assert_eq!(entry["username"], "robot");
    assert_eq!(entry["auth"], STANDARD.encode("robot:s3cret"));
}

#[test]
fn docker_hub_images_use_the_index_url_and_digests_are_kept() {
    let planned = plan_new(json!({
        "name": "nginx",
        "image": {"image": "nginx", "tag": format!("sha256:{}", "0".repeat(64)),
                  "registry": {"username": "u", "password": "p"}},
    }))
    .expect("valid");
    let config: Value = serde_json::from_str(
        planned.secrets[0]["stringData"][".dockerconfigjson"]
            .as_str()
            .expect("string"),
    )
    .expect("json");
    assert!(config["auths"]["https://index.docker.io/v1/"].is_object());
    assert!(
        planned
            .spec
            .image
            .expect("image")
            .tag
            .starts_with("sha256:")
    );
}

#[test]
fn helm_credentials_become_a_secret_of_the_kind_flux_reads() {
    let http = plan_new(json!({
        "name": "wordpress",
        "helm": {"repo": "https://charts.example.com", "chart": "wordpress", "version": "1.2.0",
                 "values": {"hostname": "blog.example.com"},
                 "credentials": {"username": "u", "password": "p"}},
    }))
    .expect("valid");
    assert_eq!(http.secrets[0]["type"], "Opaque");
    assert_eq!(
        http.secrets[0]["stringData"],
        json!({"username": "u", "password": "p"})
    );
    assert_eq!(
        http.spec.helm.expect("helm").credentials_secret.as_deref(),
        Some("wordpress-repo")
    );

    let oci = plan_new(json!({
        "name": "wordpress",
        "helm": {"repo": "oci://registry.example.com/charts", "chart": "wordpress",
                 "version": "1.2.0", "credentials": {"username": "u", "password": "p"}},
    }))
    .expect("valid");
    assert_eq!(oci.secrets[0]["type"], "kubernetes.io/dockerconfigjson");
    let config: Value = serde_json::from_str(
        oci.secrets[0]["stringData"][".dockerconfigjson"]
            .as_str()
            .expect("string"),
    )
    .expect("json");
    assert!(config["auths"]["registry.example.com"].is_object());
}

#[test]
fn a_put_without_credentials_keeps_the_secret_and_the_suspension() {
    let existing = plan_new(json!({
        "name": "grafana",
        "image": {"image": "grafana/grafana:11.0.0", "registry": {"username": "u", "password": "p"}},
    }))
    .expect("valid")
    .spec;
    let mut existing = existing;
    existing.suspended = true;
    let updated = plan(
        request(json!({"image": {"image": "grafana/grafana:11.1.0"}})),
        Some("grafana"),
        Some(&existing),
        AT,
        &Allowed::default(),
    )
    .expect("valid");
    assert!(updated.secrets.is_empty(), "no credentials, no new Secret");
    let image = updated.spec.image.expect("image");
    assert_eq!(image.tag, "11.1.0");
    assert_eq!(image.registry_secret.as_deref(), Some("grafana-registry"));
    assert!(updated.spec.suspended);
}

#[test]
fn credentials_never_show_in_debug_output() {
    let r = request(json!({
        "name": "a",
        "image": {"image": "nginx:1", "registry": {"username": "u", "password": "hunter2"}},
        "helm": {"repo": "https://x.example.com", "chart": "c", "version": "1",
                 "credentials": {"username": "u", "password": "hunter3"}},
    }));
    let text = format!("{r:?}");
    assert!(
        !text.contains("hunter2") && !text.contains("hunter3"),
        "{text}"
    );
}

#[test]
fn unknown_fields_are_refused_when_parsing() {
    for body in [
        json!({"name": "a", "image": {"image": "nginx:1"}, "replica": 2}),
        json!({"name": "a", "image": {"image": "nginx:1", "replica": 2}}),
        json!({"name": "a", "helm": {"repo": "https://x", "chart": "c", "version": "1", "value": {}}}),
    ] {
        assert!(
            serde_json::from_value::<AppRequest>(body.clone()).is_err(),
            "{body}"
        );
    }
}

#[test]
fn every_bad_field_is_named() {
    let cases = [
        (json!({"image": {"image": "nginx:1"}}), "name"),
        (
            json!({"name": "Bad_Name", "image": {"image": "nginx:1"}}),
            "name",
        ),
        (
            json!({"name": "a".repeat(41), "image": {"image": "nginx:1"}}),
            "name",
        ),
        (json!({"name": "a"}), "image"),
        (
            json!({"name": "a", "image": {"image": "nginx:1"},
                   "helm": {"repo": "https://x.example.com", "chart": "c", "version": "1"}}),
            "helm",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx"}}),
            "image.tag",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "tag": "2"}}),
            "image.tag",
        ),
        (
            json!({"name": "a", "image": {"image": "Not An Image:1"}}),
            "image.image",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:bad tag"}}),
            "image.tag",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx", "tag": "sha256:abc"}}),
            "image.tag",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "ports": [{"port": 0}]}}),
            "image.ports[0].port",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "ports": [{"port": 80}, {"port": 80}]}}),
            "image.ports[1].port",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "ports": [{"port": 80, "name": "Web"}]}}),
            "image.ports[0].name",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "replicas": 101}}),
            "image.replicas",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "replicas": -1}}),
            "image.replicas",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "resources": {"memory": "lots"}}}),
            "image.resources.memory",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "env": [{"name": "1X", "value": "v"}]}}),
            "image.env[0].name",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1",
                   "env": [{"name": "X", "value": "v"}, {"name": "X", "value": "w"}]}}),
            "image.env[1].name",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "env": [{"name": "X"}]}}),
            "image.env[0]",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1",
                   "env": [{"name": "X", "secretRef": {"name": "Bad", "key": "k"}}]}}),
            "image.env[0].secretRef.name",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1",
                   "configFiles": [{"path": "etc/app.conf", "content": ""}]}}),
            "image.configFiles[0].path",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1",
                   "configFiles": [{"path": "/etc/../passwd", "content": ""}]}}),
            "image.configFiles[0].path",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1",
                   "configFiles": [{"path": "/a", "content": "x".repeat(300 * 1024)}]}}),
            "image.configFiles",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "ports": [{"port": 80}],
                   "ingress": {"host": "not a host"}}}),
            "image.ingress.host",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "ingress": {"host": "a.example.com"}}}),
            "image.ports",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "ports": [{"port": 80}],
                   "ingress": {"host": "a.example.com", "port": 81}}}),
            "image.ingress.port",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1", "registry": {"username": "", "password": "p"}}}),
            "image.registry",
        ),
        (
            json!({"name": "a", "helm": {"repo": "ftp://x.example.com", "chart": "c", "version": "1"}}),
            "helm.repo",
        ),
        (
            json!({"name": "a", "helm": {"repo": "https://", "chart": "c", "version": "1"}}),
            "helm.repo",
        ),
        (
            json!({"name": "a", "helm": {"repo": "https://x.example.com", "chart": "../c", "version": "1"}}),
            "helm.chart",
        ),
        (
            json!({"name": "a", "helm": {"repo": "https://x.example.com", "chart": "c", "version": " "}}),
            "helm.version",
        ),
        (
            json!({"name": "a", "helm": {"repo": "https://x.example.com", "chart": "c", "version": "1",
                   "values": ["a"]}}),
            "helm.values",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1"},
                   "traits": [{"type": "hostalias"}]}),
            "traits[0].type",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1"},
                   "traits": [{"type": "scaler", "properties": {"replicas": 3}}]}),
            "traits[0].type",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1"},
                   "traits": [{"type": "labels", "properties": "x"}]}),
            "traits[0].properties",
        ),
        (
            json!({"name": "a", "image": {"image": "nginx:1"},
                   "policies": [{"type": "topology", "name": "t"}]}),
            "policies[0].type",
        ),
    ];
    for (body, field) in cases {
        let err = plan_new(body.clone()).expect_err(&format!("refused: {body}"));
        assert_eq!(err.field, field, "{body} -> {err}");
        assert!(!err.why.is_empty());
    }
    let renamed = plan(
        request(json!({"name": "b", "image": {"image": "nginx:1"}})),
        Some("a"),
        None,
        AT,
        &Allowed::default(),
    )
    .expect_err("renaming");
    assert_eq!(renamed.field, "name");
}

#[test]
fn allowed_traits_and_policies_pass_through() {
    let allowed = Allowed {
        traits: ["labels".to_owned()].into(),
        policies: ["garbage-collect".to_owned()].into(),
        ..Allowed::default()
    };
    let planned = plan(
        request(json!({"name": "a", "image": {"image": "nginx:1"},
               "traits": [{"type": "labels", "properties": {"team": "blue"}}],
               "policies": [{"type": "garbage-collect", "name": "gc"}]})),
        None,
        None,
        AT,
        &allowed,
    )
    .expect("valid");
    assert_eq!(planned.spec.traits[0].type_, "labels");
    assert_eq!(planned.spec.policies[0].name.as_deref(), Some("gc"));
    let unnamed = plan(
        request(json!({"name": "a", "image": {"image": "nginx:1"},
               "policies": [{"type": "garbage-collect"}]})),
        None,
        None,
        AT,
        &allowed,
    )
    .expect_err("a policy needs a name");
    assert_eq!(unnamed.field, "policies[0].name");
}

#[test]
fn image_references_split_at_the_tag_not_the_port() {
    assert_eq!(split_image("nginx:1.27"), ("nginx", Some("1.27")));
    assert_eq!(
        split_image("registry.example.com:5000/team/app"),
        ("registry.example.com:5000/team/app", None)
    );
    assert_eq!(
        split_image("registry.example.com:5000/team/app:2"),
        ("registry.example.com:5000/team/app", Some("2"))
    );
    assert_eq!(split_image("app@sha256:abc"), ("app", Some("sha256:abc")));
    assert_eq!(registry_host("grafana/grafana"), "docker.io");
    assert_eq!(registry_host("localhost/app"), "localhost");
    assert_eq!(registry_host("ghcr.io/org/app"), "ghcr.io");
}

#[test]
fn the_documented_examples_are_valid_requests() {
    for text in [
        include_str!("../../../../docs/examples/grafana-app.json"),
        include_str!("../../../../docs/examples/wordpress-app.json"),
    ] {
        let body: Value = serde_json::from_str(text).expect("JSON");
        let planned = plan_new(body).expect("the example passes every check");
        assert_eq!(planned.secrets.len(), 1, "each example carries credentials");
    }
}
