//! Every request shape kubectl sends, and the attacks the proxy must refuse.

use http::{Method, Uri};

use super::{PathError, ResourceRequest, Target, Verb, classify};

type Expected = Result<Target, PathError>;
type Row<'a> = (&'a str, &'a str, Expected);

fn run(method: &str, uri: &str) -> Expected {
    let method = Method::from_bytes(method.as_bytes()).expect("test method parses");
    let uri: Uri = uri.parse().expect("test URI parses");
    classify(&method, &uri)
}

fn non(path: &str) -> Expected {
    Ok(Target::NonResource {
        path: path.to_owned(),
    })
}

/// (group, version), namespace, resource, name, subresource, verb.
fn res(
    gv: (&str, &str),
    namespace: Option<&str>,
    resource: &str,
    name: Option<&str>,
    subresource: Option<&str>,
    verb: Verb,
) -> Expected {
    Ok(Target::Resource(ResourceRequest {
        group: gv.0.to_owned(),
        version: gv.1.to_owned(),
        namespace: namespace.map(str::to_owned),
        resource: resource.to_owned(),
        name: name.map(str::to_owned),
        subresource: subresource.map(str::to_owned),
        verb,
    }))
}

const CORE: (&str, &str) = ("", "v1");
const APPS: (&str, &str) = ("apps", "v1");
const DEV: Option<&str> = Some("dev");
const WEB: Option<&str> = Some("web-0");

fn check_table(table: &[Row]) {
    for (method, uri, expected) in table {
        assert_eq!(&run(method, uri), expected, "{method} {uri}");
    }
}

#[test]
fn discovery_and_other_non_resource_paths() {
    #[rustfmt::skip]
    let table: &[Row] = &[
        ("GET", "/", non("/")),
        ("GET", "/api", non("/api")),
        ("GET", "/api/v1", non("/api/v1")),
        ("GET", "/api/v1/", non("/api/v1/")),
        ("GET", "/apis", non("/apis")),
        ("GET", "/apis/apps", non("/apis/apps")),
        ("GET", "/apis/apps/v1", non("/apis/apps/v1")),
        ("GET", "/version?timeout=32s", non("/version")),
        ("GET", "/openapi/v2", non("/openapi/v2")),
        ("GET", "/openapi/v3", non("/openapi/v3")),
        ("GET", "/openapi/v3/apis/apps/v1?hash=0A1B2C", non("/openapi/v3/apis/apps/v1")),
        ("GET", "/healthz/etcd", non("/healthz/etcd")),
        ("GET", "/livez?verbose", non("/livez")),
    ];
    check_table(table);
}

#[test]
fn pods_get_list_watch() {
    use Verb::*;
    let pods = "/api/v1/namespaces/dev/pods";
    #[rustfmt::skip]
    let table: &[Row] = &[
        ("GET", pods, res(CORE, DEV, "pods", None, None, List)),
        ("HEAD", pods, res(CORE, DEV, "pods", None, None, List)),
        ("GET", "/api/v1/namespaces/dev/pods?limit=500", res(CORE, DEV, "pods", None, None, List)),
        ("GET", "/api/v1/namespaces/dev/pods/web-0", res(CORE, DEV, "pods", WEB, None, Get)),
        ("GET", "/api/v1/namespaces/dev/pods?watch=true&allowWatchBookmarks=true", res(CORE, DEV, "pods", None, None, Watch)),
        ("GET", "/api/v1/namespaces/dev/pods?watch=1", res(CORE, DEV, "pods", None, None, Watch)),
        ("GET", "/api/v1/namespaces/dev/pods?sendInitialEvents=true&watch=true", res(CORE, DEV, "pods", None, None, Watch)),
        ("GET", "/api/v1/namespaces/dev/pods?fieldSelector=metadata.name%3Dweb-0&watch=%74rue", res(CORE, DEV, "pods", None, None, Watch)),
        // kube-apiserver reads every value but "0" and "false" (any case) as a watch.
        ("GET", "/api/v1/namespaces/dev/pods?watch", res(CORE, DEV, "pods", None, None, Watch)),
        ("GET", "/api/v1/namespaces/dev/pods?watch=yes", res(CORE, DEV, "pods", None, None, Watch)),
        ("GET", "/api/v1/namespaces/dev/pods?watch=false", res(CORE, DEV, "pods", None, None, List)),
        ("GET", "/api/v1/namespaces/dev/pods?watch=FALSE", res(CORE, DEV, "pods", None, None, List)),
        ("GET", "/api/v1/namespaces/dev/pods?watch=0", res(CORE, DEV, "pods", None, None, List)),
        ("GET", "/api/v1/namespaces/dev/pods?%77atch=true", res(CORE, DEV, "pods", None, None, Watch)),
        // A named GET ignores ?watch, as in Kubernetes.
        ("GET", "/api/v1/namespaces/dev/pods/web-0?watch=true", res(CORE, DEV, "pods", WEB, None, Get)),
        ("GET", "/api/v1/pods", res(CORE, None, "pods", None, None, List)),
        ("GET", "/api/v1/pods?watch=true", res(CORE, None, "pods", None, None, Watch)),
        ("GET", "/api/v1/watch/pods", res(CORE, None, "pods", None, None, Watch)),
        ("GET", "/api/v1/watch/namespaces/dev/pods", res(CORE, DEV, "pods", None, None, Watch)),
        ("GET", "/api/v1/watch/namespaces/dev/pods/web-0", res(CORE, DEV, "pods", WEB, None, Watch)),
    ];
    check_table(table);
}

#[test]
fn the_namespace_object_has_its_name_as_namespace() {
    use Verb::*;
    let ns = "namespaces";
    #[rustfmt::skip]
    let table: &[Row] = &[
        ("GET", "/api/v1/namespaces", res(CORE, None, ns, None, None, List)),
        ("GET", "/api/v1/namespaces?watch=true", res(CORE, None, ns, None, None, Watch)),
        ("GET", "/api/v1/watch/namespaces", res(CORE, None, ns, None, None, Watch)),
        ("POST", "/api/v1/namespaces", res(CORE, None, ns, None, None, Create)),
        ("GET", "/api/v1/namespaces/dev", res(CORE, DEV, ns, DEV, None, Get)),
        ("GET", "/api/v1/watch/namespaces/dev", res(CORE, DEV, ns, DEV, None, Watch)),
        ("PATCH", "/api/v1/namespaces/dev", res(CORE, DEV, ns, DEV, None, Patch)),
        ("DELETE", "/api/v1/namespaces/dev", res(CORE, DEV, ns, DEV, None, Delete)),
        ("GET", "/api/v1/namespaces/dev/status", res(CORE, DEV, ns, DEV, Some("status"), Get)),
        ("PUT", "/api/v1/namespaces/dev/finalize", res(CORE, DEV, ns, DEV, Some("finalize"), Update)),
    ];
    check_table(table);
}

#[test]
fn logs_exec_attach_portforward_and_writes() {
    use Verb::*;
    let pod = |sub, verb| res(CORE, DEV, "pods", WEB, Some(sub), verb);
    #[rustfmt::skip]
    let table: &[Row] = &[
        ("GET", "/api/v1/namespaces/dev/pods/web-0/log?follow=true&container=app", pod("log", Get)),
        ("POST", "/api/v1/namespaces/dev/pods/web-0/exec?command=sh&stdin=true&tty=true", pod("exec", Create)),
        ("GET", "/api/v1/namespaces/dev/pods/web-0/exec?command=ls&command=-l&stdout=true", pod("exec", Get)),
        ("POST", "/api/v1/namespaces/dev/pods/web-0/attach?stdin=true", pod("attach", Create)),
        ("GET", "/api/v1/namespaces/dev/pods/web-0/portforward?ports=8080", pod("portforward", Get)),
        ("POST", "/api/v1/namespaces/dev/pods/web-0/portforward", pod("portforward", Create)),
        ("POST", "/api/v1/namespaces/dev/pods/web-0/eviction", pod("eviction", Create)),
        ("PATCH", "/apis/apps/v1/namespaces/dev/deployments/web?fieldManager=kubectl&force=true", res(APPS, DEV, "deployments", Some("web"), None, Patch)),
        ("PUT", "/apis/apps/v1/namespaces/dev/deployments/web/scale", res(APPS, DEV, "deployments", Some("web"), Some("scale"), Update)),
        ("GET", "/apis/apps/v1/deployments", res(APPS, None, "deployments", None, None, List)),
        ("DELETE", "/api/v1/namespaces/dev/pods?labelSelector=app%3Dweb", res(CORE, DEV, "pods", None, None, DeleteCollection)),
        ("DELETE", "/api/v1/namespaces/dev/pods/web-0", res(CORE, DEV, "pods", WEB, None, Delete)),
        ("POST", "/api/v1/namespaces/dev/serviceaccounts/default/token", res(CORE, DEV, "serviceaccounts", Some("default"), Some("token"), Create)),
    ];
    check_table(table);
}

#[test]
fn custom_resources_reviews_and_cluster_scoped_names() {
    use Verb::*;
    let capsule = ("capsule.clastix.io", "v1beta2");
    let authz = ("authorization.k8s.io", "v1");
    #[rustfmt::skip]
    let table: &[Row] = &[
        ("GET", "/apis/capsule.clastix.io/v1beta2/tenants/foo", res(capsule, None, "tenants", Some("foo"), None, Get)),
        ("GET", "/apis/capsule.clastix.io/v1beta2/tenants", res(capsule, None, "tenants", None, None, List)),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", res(authz, None, "selfsubjectaccessreviews", None, None, Create)),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", res(authz, None, "selfsubjectrulesreviews", None, None, Create)),
        ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", res(("authentication.k8s.io", "v1"), None, "selfsubjectreviews", None, None, Create)),
        ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:foo", res(("rbac.authorization.k8s.io", "v1"), None, "clusterroles", Some("system:controller:foo"), None, Get)),
    ];
    check_table(table);
}

#[test]
fn proxy_subresource_takes_a_further_path() {
    use Verb::*;
    let node = Some("kwok-node-0");
    #[rustfmt::skip]
    let table: &[Row] = &[
        ("GET", "/api/v1/nodes/kwok-node-0/proxy/metrics", res(CORE, None, "nodes", node, Some("proxy"), Get)),
        ("GET", "/api/v1/nodes/kwok-node-0/proxy/", res(CORE, None, "nodes", node, Some("proxy"), Get)),
        ("GET", "/api/v1/namespaces/dev/pods/web-0/proxy", res(CORE, DEV, "pods", WEB, Some("proxy"), Get)),
        ("POST", "/api/v1/namespaces/dev/services/web:http/proxy/api/ready", res(CORE, DEV, "services", Some("web:http"), Some("proxy"), Create)),
        ("GET", "/api/v1/nodes/n/proxy/a/../../secrets", Err(PathError::DotSegment)),
        ("GET", "/api/v1/nodes/n/proxy/a//b", Err(PathError::EmptySegment)),
    ];
    check_table(table);
}

#[test]
fn traversal_and_encoding_attacks_are_refused() {
    use PathError::*;
    #[rustfmt::skip]
    let table: &[Row] = &[
        ("GET", "/api/v1/namespaces/%2e%2e/pods", Err(EncodedSeparator)),
        ("GET", "/api/v1/namespaces/%2E%2E/pods", Err(EncodedSeparator)),
        ("GET", "/api/v1/namespaces/../pods", Err(DotSegment)),
        ("GET", "/api/v1/namespaces/./pods", Err(DotSegment)),
        ("GET", "/api/v1/namespaces/a/pods/..%2f..%2fsecrets", Err(EncodedSeparator)),
        ("GET", "/api/v1/namespaces/a%2Fb/pods", Err(EncodedSeparator)),
        ("GET", "/api/v1/namespaces/a%5cb/pods", Err(EncodedSeparator)),
        ("GET", "/api/v1/namespaces/a/pods/%252e%252e", Err(EncodedSeparator)),
        ("GET", "/api/v1/namespaces/%61/pods", Err(PercentEncoded)),
        ("GET", "/api/v1/namespaces/a/pods/web%20x", Err(PercentEncoded)),
        ("GET", "/api/v1/namespaces/a/pods/web%", Err(PercentEncoded)),
        ("GET", "/api//v1/pods", Err(EmptySegment)),
        ("GET", "//api/v1/pods", Err(EmptySegment)),
        ("GET", "/api/v1/pods//", Err(EmptySegment)),
        ("GET", "http://evil/api/v1/pods", Err(AbsoluteForm)),
        ("GET", "https://kube:6443/api/v1/pods", Err(AbsoluteForm)),
        ("CONNECT", "evil.example:443", Err(AbsoluteForm)),
        ("OPTIONS", "*", Err(AbsoluteForm)),
        ("GET", "/api/v1/namespaces/a\\b/pods", Err(ForbiddenCharacter)),
        ("GET", "/api/v1/namespaces/..\\secrets/pods", Err(ForbiddenCharacter)),
        ("GET", "/api/v1/namespaces/d\u{e9}v/pods", Err(ForbiddenCharacter)),
    ];
    check_table(table);
    // NUL and other control bytes never reach classify: http::Uri refuses them.
    for uri in [
        "/api/v1/namespaces/a\0/pods",
        "/api/v1/pods?watch=\x01",
        "/api/v1/\x7f",
    ] {
        assert!(uri.parse::<Uri>().is_err(), "{uri:?}");
    }
}

#[test]
fn names_and_segments_must_be_kubernetes_shaped() {
    use PathError::*;
    let long_ns = format!("/api/v1/namespaces/{}/pods", "a".repeat(64));
    let long_name = format!("/api/v1/namespaces/dev/pods/{}", "a".repeat(254));
    #[rustfmt::skip]
    let table: &[Row] = &[
        ("GET", "/api/v1/namespaces/Dev/pods", Err(InvalidNamespace("Dev".into()))),
        ("GET", "/api/v1/namespaces/-dev/pods", Err(InvalidNamespace("-dev".into()))),
        ("GET", "/api/v1/namespaces/a:b", Err(InvalidNamespace("a:b".into()))),
        ("GET", "/api/v1/namespaces/a.b/pods", Err(InvalidNamespace("a.b".into()))),
        ("GET", &long_ns, Err(InvalidNamespace("a".repeat(64)))),
        ("GET", "/api/v1/namespaces/dev/pods/a..b", Err(InvalidName("a..b".into()))),
        ("GET", "/api/v1/namespaces/dev/pods/web;x", Err(InvalidName("web;x".into()))),
        ("GET", &long_name, Err(InvalidName("a".repeat(64)))),
        ("GET", "/api/v1/namespaces/dev/pods/", Err(TrailingSlash)),
        ("GET", "/api/v1/namespaces/dev/", Err(TrailingSlash)),
        ("GET", "/api/v1/namespaces/dev/namespaces/other", Err(Malformed("namespaces do not contain namespaces"))),
        ("GET", "/api/v1/watch", Err(Malformed("/watch/ must be followed by a resource"))),
        ("GET", "/api/v1/proxy/nodes/n", Err(Malformed("the legacy /proxy/ prefix is not served"))),
        ("GET", "/api/v1/watch/namespaces/dev/pods/web-0/log", Err(Malformed("/watch/ paths do not take a subresource"))),
        ("POST", "/api/v1/watch/pods", Err(MethodNotAllowed("POST".into()))),
        ("OPTIONS", "/api/v1/pods", Err(MethodNotAllowed("OPTIONS".into()))),
    ];
    check_table(table);
    for uri in [
        "/api/v1/namespaces/dev/pods/web-0/status/extra",
        "/api/v1/namespaces/dev/pods/web-0/log/x",
        "/api/v1/namespaces/dev/status/x",
        "/apis/Apps/v1/deployments",
        "/apis/apps/V1/deployments",
        "/apis/a..b/v1/things",
        "/api/v1/Pods",
        "/api/v1/namespaces/dev/pods/web-0/Exec",
    ] {
        let got = run("GET", uri);
        assert!(matches!(got, Err(Malformed(_))), "GET {uri}: {got:?}");
    }
}

#[test]
fn queries_the_apiserver_could_read_differently_are_refused() {
    for uri in [
        "/api/v1/pods?watch=true;x=1",
        "/api/v1/pods?watch=false&watch=true",
        "/api/v1/pods?watch=%zz",
        "/api/v1/pods?labelSelector=a%3",
        "/api/v1/pods?watch=fal%C5%BFe",
        "/api/v1/pods?x=\u{e9}",
    ] {
        let got = run("GET", uri);
        assert!(
            matches!(got, Err(PathError::InvalidQuery(_))),
            "{uri}: {got:?}"
        );
    }
    let many = format!("/api/v1/pods?{}watch=true", "a=1&".repeat(1000));
    assert!(matches!(run("GET", &many), Err(PathError::InvalidQuery(_))));
}

#[test]
fn errors_have_distinct_reasons_and_say_why() {
    let errors = [
        PathError::AbsoluteForm,
        PathError::EncodedSeparator,
        PathError::PercentEncoded,
        PathError::DotSegment,
        PathError::EmptySegment,
        PathError::TrailingSlash,
        PathError::ForbiddenCharacter,
        PathError::InvalidNamespace("x".into()),
        PathError::InvalidName("x".into()),
        PathError::MethodNotAllowed("x".into()),
        PathError::Malformed("x"),
        PathError::InvalidQuery("x"),
    ];
    let mut reasons: Vec<_> = errors.iter().map(PathError::reason).collect();
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), errors.len());
    for error in &errors {
        assert!(error.to_string().contains("refused"), "{error}");
    }
}

#[test]
fn verbs_and_connect_subresources() {
    assert_eq!(Verb::DeleteCollection.as_str(), "deletecollection");
    assert!(Verb::Watch.is_read() && !Verb::Patch.is_read());
    let Ok(Target::Resource(exec)) = run("GET", "/api/v1/namespaces/dev/pods/web-0/exec") else {
        panic!("exec classifies");
    };
    assert!(exec.verb.is_read() && exec.is_connect());
    let Ok(Target::Resource(log)) = run("GET", "/api/v1/namespaces/dev/pods/web-0/log") else {
        panic!("log classifies");
    };
    assert!(!log.is_connect());
}
