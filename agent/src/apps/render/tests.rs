use kubenova_api::crd::{
    App, AppSpec, ConfigFile, EnvVar, HelmSource, ImageSource, Ingress, Port, Resources,
    SecretKeyRef, VelaItem,
};
use serde_json::json;

use super::*;

const AT: Placement<'static> = Placement {
    tenant: "acme",
    project: "web",
    deployer: "kubenova-deployer",
};

fn app(name: &str, spec: AppSpec) -> App {
    let mut app = App::new(name, spec);
    app.metadata.namespace = Some("acme-web".into());
    app
}

fn grafana() -> ImageSource {
    ImageSource {
        image: "grafana/grafana".into(),
        tag: "11.0.0".into(),
        ports: vec![Port {
            port: 3000,
            name: Some("http".into()),
            expose: true,
        }],
        replicas: 2,
        resources: Resources {
            cpu: Some("250m".into()),
            memory: Some("256Mi".into()),
            cpu_limit: None,
            memory_limit: Some("512Mi".into()),
        },
        env: vec![
            EnvVar {
                name: "GF_LOG_LEVEL".into(),
                value: Some("warn".into()),
                secret_ref: None,
            },
            EnvVar {
                name: "GF_SECURITY_ADMIN_PASSWORD".into(),
                value: None,
                secret_ref: Some(SecretKeyRef {
                    name: "grafana-admin".into(),
                    key: "password".into(),
                }),
            },
        ],
        config_files: vec![ConfigFile {
            path: "/etc/grafana/grafana.ini".into(),
            content: "[server]\nroot_url = /\n".into(),
        }],
        registry_secret: Some("grafana-registry".into()),
        ingress: Some(Ingress {
            host: "grafana.example.com".into(),
            path: "/".into(),
            port: None,
            class: None,
        }),
    }
}

#[test]
fn an_image_app_is_a_webservice_applied_as_the_deployer() {
    let a = app(
        "grafana",
        AppSpec {
            image: Some(grafana()),
            ..AppSpec::default()
        },
    );
    let v = application(&a, AT).expect("renders");
    assert_eq!(v["kind"], "Application");
    assert_eq!(v["metadata"]["namespace"], "acme-web");
    assert_eq!(
        v["metadata"]["annotations"][SERVICE_ACCOUNT_ANNOTATION],
        "kubenova-deployer"
    );
    assert_eq!(v["metadata"]["labels"]["kubenova.io/tenant"], "acme");
    assert_eq!(v["metadata"]["labels"]["kubenova.io/project"], "web");
    assert_eq!(v["metadata"]["labels"][APP_LABEL], "grafana");
    let c = &v["spec"]["components"][0];
    assert_eq!(c["type"], "webservice");
    let p = &c["properties"];
    assert_eq!(p["image"], "grafana/grafana:11.0.0");
    assert_eq!(
        p["ports"],
        json!([{"port": 3000, "expose": true, "name": "http"}])
    );
    assert_eq!(p["cpu"], "250m");
    assert_eq!(p["limit"], json!({"memory": "512Mi"}));
    assert_eq!(p["imagePullSecrets"], json!(["grafana-registry"]));
    assert_eq!(
        p["env"],
        json!([
            {"name": "GF_LOG_LEVEL", "value": "warn"},
            {"name": "GF_SECURITY_ADMIN_PASSWORD",
             "valueFrom": {"secretKeyRef": {"name": "grafana-admin", "key": "password"}}},
        ])
    );
    assert_eq!(
        p["volumeMounts"]["configMap"],
        json!([{"name": "file-0", "mountPath": "/etc/grafana/grafana.ini",
                "subPath": "file-0", "cmName": "grafana-files"}])
    );
    assert_eq!(
        c["traits"],
        json!([
            {"type": "scaler", "properties": {"replicas": 2}},
            {"type": "gateway", "properties": {"domain": "grafana.example.com",
              "http": {"/": 3000}, "pathType": "Prefix", "classInSpec": true}},
        ])
    );
    assert!(v["spec"].get("policies").is_none());
}

#[test]
fn suspending_an_image_app_scales_it_to_zero_and_keeps_the_rest() {
    let running = app(
        "grafana",
        AppSpec {
            image: Some(grafana()),
            ..AppSpec::default()
        },
    );
    let mut suspended = running.clone();
    suspended.spec.suspended = true;
    let (a, b) = (
        application(&running, AT).expect("renders"),
        application(&suspended, AT).expect("renders"),
    );
    assert_eq!(
        b["spec"]["components"][0]["traits"][0]["properties"]["replicas"],
        0
    );
    assert_eq!(
        a["spec"]["components"][0]["properties"],
        b["spec"]["components"][0]["properties"]
    );
}

#[test]
fn the_config_files_go_into_one_config_map_with_a_key_per_file() {
    let a = app(
        "grafana",
        AppSpec {
            image: Some(grafana()),
            ..AppSpec::default()
        },
    );
    let cm = files_config_map(&a, AT)
        .expect("renders")
        .expect("has files");
    assert_eq!(cm["metadata"]["name"], "grafana-files");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "kubenova"
    );
    assert_eq!(cm["data"], json!({"file-0": "[server]\nroot_url = /\n"}));

    let mut bare = grafana();
    bare.config_files.clear();
    let none = app(
        "plain",
        AppSpec {
            image: Some(bare),
            ..AppSpec::default()
        },
    );
    assert_eq!(files_config_map(&none, AT), Ok(None));
}

#[test]
fn a_helm_app_uses_kubenovas_helm_component() {
    let a = app(
        "wordpress",
        AppSpec {
            helm: Some(HelmSource {
                repo: "oci://registry.example.com/charts".into(),
                chart: "wordpress".into(),
                version: "1.2.0".into(),
                values: Some(json!({"hostname": "blog.example.com"})),
                credentials_secret: Some("wordpress-repo".into()),
                insecure: false,
            }),
            traits: vec![VelaItem {
                type_: "labels".into(),
                name: None,
                properties: Some(json!({"team": "blue"})),
            }],
            policies: vec![VelaItem {
                type_: "garbage-collect".into(),
                name: Some("gc".into()),
                properties: None,
            }],
            ..AppSpec::default()
        },
    );
    let v = application(&a, AT).expect("renders");
    let c = &v["spec"]["components"][0];
    assert_eq!(c["type"], "helm");
    assert_eq!(
        c["properties"],
        json!({"url": "oci://registry.example.com/charts", "chart": "wordpress",
               "version": "1.2.0", "values": {"hostname": "blog.example.com"},
               "secretRef": "wordpress-repo"})
    );
    assert_eq!(
        c["traits"],
        json!([{"type": "labels", "properties": {"team": "blue"}}])
    );
    assert_eq!(
        v["spec"]["policies"],
        json!([{"type": "garbage-collect", "name": "gc"}])
    );
    assert_eq!(files_config_map(&a, AT), Ok(None));
}

#[test]
fn suspending_a_helm_app_sets_the_components_suspend_and_nothing_else() {
    let running = app(
        "wordpress",
        AppSpec {
            helm: Some(HelmSource {
                repo: "https://charts.example.com".into(),
                chart: "wordpress".into(),
                version: "0.1.0".into(),
                values: None,
                credentials_secret: None,
                insecure: false,
            }),
            ..AppSpec::default()
        },
    );
    let mut suspended = running.clone();
    suspended.spec.suspended = true;
    let (a, b) = (
        application(&running, AT).expect("renders"),
        application(&suspended, AT).expect("renders"),
    );
    let (pa, pb) = (
        &a["spec"]["components"][0]["properties"],
        &b["spec"]["components"][0]["properties"],
    );
    assert!(pa.get("suspend").is_none(), "{pa}");
    assert_eq!(pb["suspend"], true);
    let mut without = pb.clone();
    without.as_object_mut().expect("object").remove("suspend");
    assert_eq!(&without, pa);
}

#[test]
fn digests_and_missing_sources_are_handled() {
    let mut image = grafana();
    image.tag = format!("sha256:{}", "a".repeat(64));
    assert_eq!(
        image_reference(&image),
        format!("grafana/grafana@sha256:{}", "a".repeat(64))
    );
    let empty = app("x", AppSpec::default());
    assert_eq!(application(&empty, AT), Err(RenderError::NoSource));
    let mut unplaced = app(
        "x",
        AppSpec {
            image: Some(grafana()),
            ..AppSpec::default()
        },
    );
    unplaced.metadata.namespace = None;
    assert_eq!(
        application(&unplaced, AT),
        Err(RenderError::Unnamed("namespace"))
    );
}

#[test]
fn the_application_records_the_spec_a_rollback_restores() {
    let mut a = app(
        "grafana",
        AppSpec {
            image: Some(grafana()),
            ..AppSpec::default()
        },
    );
    a.spec.suspended = true;
    let v = application(&a, AT).expect("renders");
    // Vela copies the Application's annotations onto each revision it makes.
    let revision = json!({"metadata": {"annotations": v["metadata"]["annotations"].clone()}});
    let restored = spec_of_revision(&revision).expect("a KubeNova revision");
    assert!(!restored.suspended, "suspension is a state, not a version");
    assert_eq!(restored.image, a.spec.image);
    let nested = json!({"spec": {"application": {"metadata": v["metadata"].clone()}}});
    assert_eq!(spec_of_revision(&nested), Some(restored));
    assert_eq!(spec_of_revision(&json!({"metadata": {}})), None);
}

#[test]
fn the_publish_version_moves_with_every_spec_change_and_every_deploy() {
    let mut a = app(
        "grafana",
        AppSpec {
            image: Some(grafana()),
            ..AppSpec::default()
        },
    );
    a.metadata.generation = Some(1);
    let version = |a: &App| {
        application(a, AT).expect("renders")["metadata"]["annotations"][PUBLISH_VERSION_ANNOTATION]
            .as_str()
            .expect("a publish version")
            .to_owned()
    };
    let v1 = version(&a);
    assert!(v1.starts_with("1."), "{v1}");
    assert_eq!(version(&a), v1, "an unchanged App, the same version");
    // A rollback restores an older spec under a newer generation: a new version.
    a.metadata.generation = Some(3);
    let v3 = version(&a);
    assert_ne!(v3, v1);
    assert_eq!(
        v3.split_once('.').map(|(_, h)| h),
        v1.split_once('.').map(|(_, h)| h)
    );
    // `:deploy` stamps the App without changing its spec.
    a.metadata.annotations = Some(std::collections::BTreeMap::from([(
        DEPLOY_REQUESTED.to_owned(),
        "2026-11-21T10:00:00Z".to_owned(),
    )]));
    let deployed = version(&a);
    assert_ne!(deployed, v3);
    assert!(deployed.starts_with("3."), "{deployed}");
    // A different rendering (a KubeNova upgrade) moves it too.
    assert_ne!(
        publish_version(3, &json!({"components": []}), ""),
        publish_version(3, &json!({"components": [{}]}), "")
    );
}
