//! Where a chart may come from (issue 12, item 7): `helm.repo` URLs that would make
//! source-controller fetch from inside (the metadata service, loopback, in-cluster names, the
//! apiserver, KubeNova's API) or carry credentials are refused with KN-422 naming the field, and
//! nothing is stored. This control plane allows `127.0.0.1` and plain HTTP (its chart
//! repositories and OCI registry are loopback HTTP servers, see the harness); a control plane
//! started without those flags refuses even them.

use super::*;

/// `kubectl get` as admin: does the object exist?
fn exists(ns: &str, what: &[&str]) -> bool {
    let mut args = vec!["-n", ns, "get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "name", "--ignore-not-found"]);
    !harness()
        .env
        .kubectl_run(&args, None)
        .expect("kubectl as admin")
        .trim()
        .is_empty()
}

/// POSTs a chart app from `repo` with credentials; checks the KN-422 names `field` and says
/// `words`, echoes no password, and that neither the App nor its credential Secret exists.
#[track_caller]
fn refused(
    control: &RunningControl,
    base: &str,
    ns: &str,
    name: &str,
    helm: Value,
    field: &str,
    words: &str,
) {
    let mut helm = helm;
    helm["chart"] = json!("greeter");
    helm["version"] = json!("0.1.0");
    helm["credentials"] = json!({ "username": "reader", "password": "pw-not-to-be-echoed" });
    let body = json!({ "name": name, "helm": helm });
    let response = control
        .call("POST", base, Some(&control.admin_token), Some(&body))
        .expect("POST");
    let v = expect(&response, 422);
    assert_eq!(v["code"], "KN-422", "{v}");
    assert_eq!(v["details"]["field"], field, "{helm}: {v}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{helm}: {message}");
    assert!(
        !response.text().contains("pw-not-to-be-echoed"),
        "{}",
        response.text()
    );
    let get = control
        .call(
            "GET",
            &format!("{base}/{name}"),
            Some(&control.admin_token),
            None,
        )
        .expect("GET");
    assert_eq!(
        get.status,
        404,
        "{helm}: the app was not stored: {}",
        get.text()
    );
    assert!(!exists(ns, &["apps.kubenova.io", name]), "{helm}: no App");
    assert!(
        !exists(ns, &["secret", &format!("{name}-repo")]),
        "{helm}: no Secret"
    );
}

#[test]
fn chart_sources_that_reach_inside_the_platform_are_refused_and_nothing_is_stored() {
    let (t, p, ns, _dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    let h = harness();
    let api = h.control.url.clone();
    let apiserver = h.env.server().to_owned();
    let cases = [
        (
            json!({ "repo": "http://169.254.169.254/latest/meta-data/" }),
            "helm.repo",
            "link-local",
        ),
        (
            json!({ "repo": "https://2852039166/" }),
            "helm.repo",
            "link-local",
        ),
        (
            json!({ "repo": "https://[::ffff:169.254.169.254]/" }),
            "helm.repo",
            "link-local",
        ),
        (
            json!({ "repo": "http://localhost:8080/" }),
            "helm.repo",
            "localhost",
        ),
        (
            json!({ "repo": "http://127.0.0.2:8080/" }),
            "helm.repo",
            "loopback",
        ),
        (
            json!({ "repo": "http://0x7f000002:8080/" }),
            "helm.repo",
            "loopback",
        ),
        (
            json!({ "repo": "https://kubernetes.default.svc/" }),
            "helm.repo",
            "in-cluster",
        ),
        (
            json!({ "repo": "https://reader:pw@charts.example.com/" }),
            "helm.repo",
            "helm.credentials",
        ),
        // 127.0.0.1 is allowed here, but not the apiserver's or the API's own port on it.
        (
            json!({ "repo": format!("{api}/api/v1") }),
            "helm.repo",
            "KubeNova's API",
        ),
        (json!({ "repo": apiserver }), "helm.repo", "apiserver"),
        (
            json!({ "repo": format!("oci://{}", apiserver.trim_start_matches("https://")), "insecure": true }),
            "helm.repo",
            "apiserver",
        ),
    ];
    for (i, (helm, field, words)) in cases.into_iter().enumerate() {
        refused(
            &h.control,
            &base,
            &ns,
            &format!("inside-{i}"),
            helm,
            field,
            words,
        );
    }
}

#[test]
fn without_the_platform_allowance_loopback_and_plain_http_repositories_are_refused() {
    let h = harness();
    let (t, p, ns, _dev) = project();
    let base = format!("/api/v1/clusters/{MAIN}/tenants/{t}/projects/{p}/apps");
    // A second control plane on the same management cluster with the default settings.
    let strict = testenv::block_on(h.env.start_control(
        Path::new(env!("CARGO_BIN_EXE_kubenova-control")),
        ControlOptions {
            no_agent: true,
            log_name: Some("kubenova-control-strict".into()),
            ..ControlOptions::default()
        },
    ))
    .expect("a second control plane");
    let repo = h.env.chart_repo(None).expect("chart repository");
    let registry = testenv::block_on(h.env.oci_registry(None)).expect("OCI registry");
    refused(
        &strict,
        &base,
        &ns,
        "loop",
        json!({ "repo": repo.url() }),
        "helm.repo",
        // Its own API and the apiserver listen on 127.0.0.1 here, so without an allowance that
        // host is refused on every port.
        "127.0.0.1",
    );
    refused(
        &strict,
        &base,
        &ns,
        "loop-other",
        json!({ "repo": "http://127.0.0.2:8080/" }),
        "helm.repo",
        "--app-chart-hosts",
    );
    refused(
        &strict,
        &base,
        &ns,
        "plain",
        json!({ "repo": "http://charts.example.com/" }),
        "helm.repo",
        "--app-chart-plain-http",
    );
    refused(
        &strict,
        &base,
        &ns,
        "oci-plain",
        json!({ "repo": "oci://registry.example.com/charts", "insecure": true }),
        "helm.insecure",
        "--app-chart-plain-http",
    );
    refused(
        &strict,
        &base,
        &ns,
        "oci-loop",
        json!({ "repo": registry.charts_url() }),
        "helm.repo",
        "127.0.0.1",
    );
    // The harness's control plane (which allows 127.0.0.1 and plain HTTP) takes the same repo.
    let body = json!({ "name": "allowed", "helm": { "repo": repo.url(), "chart": "greeter", "version": "0.1.0" } });
    expect(&call("POST", &base, Some(&body)), 201);
}
