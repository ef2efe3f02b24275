use super::*;

fn default() -> ChartSources {
    ChartSources {
        denied_endpoints: ["api.kubenova.example.com", "10.96.0.1"]
            .into_iter()
            .map(String::from)
            .collect(),
        ..ChartSources::default()
    }
}

fn dev() -> ChartSources {
    ChartSources {
        allowed_hosts: ["127.0.0.1".to_owned()].into(),
        plain_http: true,
        denied_endpoints: ["127.0.0.1:6443".to_owned(), "127.0.0.1:8080".to_owned()].into(),
    }
}

#[test]
fn public_tls_repositories_pass_by_default() {
    for (repo, insecure) in [
        ("https://charts.bitnami.com/bitnami", false),
        ("https://charts.example.com:8443/stable/", false),
        ("oci://registry-1.docker.io/bitnamicharts", false),
        ("oci://ghcr.io/org/charts", false),
        ("https://93.184.216.34/charts", false),
        ("https://[2606:4700::6810:85e5]/charts", false),
        ("HTTPS://Charts.Example.COM.", false),
    ] {
        assert_eq!(check(repo, insecure, &default()), Ok(()), "{repo}");
    }
}

#[test]
fn the_table_of_refusals() {
    // (url, insecure, field, words the message must contain)
    let cases: &[(&str, bool, &str, &str)] = &[
        (
            "http://charts.example.com",
            false,
            FIELD,
            "--app-chart-plain-http",
        ),
        (
            "oci://registry.example.com/c",
            true,
            "helm.insecure",
            "plain-HTTP",
        ),
        (
            "https://user:pw@charts.example.com",
            false,
            FIELD,
            "helm.credentials",
        ),
        (
            "oci://token@registry.example.com/c",
            false,
            FIELD,
            "helm.credentials",
        ),
        ("https://127.0.0.1/charts", false, FIELD, "loopback"),
        ("https://127.1.2.3:8443", false, FIELD, "loopback"),
        ("https://2130706433/", false, FIELD, "loopback"),
        ("https://0177.0.0.1/", false, FIELD, "loopback"),
        ("https://0x7f.1/", false, FIELD, "loopback"),
        ("https://0x7f000001/", false, FIELD, "loopback"),
        ("oci://2130706433/charts", false, FIELD, "loopback"),
        ("https://[::1]/", false, FIELD, "loopback"),
        ("https://[::ffff:127.0.0.1]/", false, FIELD, "loopback"),
        ("https://[::ffff:7f00:1]:8443/", false, FIELD, "loopback"),
        (
            "https://[::ffff:169.254.169.254]/",
            false,
            FIELD,
            "link-local",
        ),
        ("https://[64:ff9b::a9fe:a9fe]/", false, FIELD, "link-local"),
        (
            "https://169.254.169.254/latest/meta-data",
            false,
            FIELD,
            "link-local",
        ),
        ("https://2852039166/", false, FIELD, "link-local"),
        ("https://0xa9.0xfe.0xa9.0xfe/", false, FIELD, "link-local"),
        ("https://[fe80::1]/", false, FIELD, "link-local"),
        ("https://10.0.0.7/", false, FIELD, "private"),
        ("https://192.168.1.1/", false, FIELD, "private"),
        ("https://172.16.5.5/", false, FIELD, "private"),
        ("https://[fd00::1]/", false, FIELD, "private"),
        ("https://100.64.0.1/", false, FIELD, "carrier-grade"),
        ("https://0.0.0.0/", false, FIELD, "unspecified"),
        ("https://0/", false, FIELD, "unspecified"),
        ("https://[::]/", false, FIELD, "unspecified"),
        ("https://localhost/", false, FIELD, "localhost"),
        ("https://LOCALHOST.:8443/", false, FIELD, "localhost"),
        ("https://charts.localhost/", false, FIELD, "localhost"),
        ("https://kubernetes/", false, FIELD, "single-label"),
        ("https://kubernetes.default/", false, FIELD, "in-cluster"),
        (
            "https://kubernetes.default.svc/",
            false,
            FIELD,
            "in-cluster",
        ),
        (
            "https://kubenova-control.kubenova-system.svc.cluster.local/",
            false,
            FIELD,
            "in-cluster",
        ),
        (
            "https://metadata.google.internal/",
            false,
            FIELD,
            "private network",
        ),
        (
            "https://api.kubenova.example.com/",
            false,
            FIELD,
            "apiserver or KubeNova's API",
        ),
        (
            "https://10.96.0.1:443/",
            false,
            FIELD,
            "apiserver or KubeNova's API",
        ),
        (
            "https://api.kubenova.example.com:8443/",
            false,
            FIELD,
            "apiserver or KubeNova's API",
        ),
        ("https://1.2.3.256/", false, FIELD, "not a DNS name"),
        ("https://1.2.3.4.5/", false, FIELD, "not a DNS name"),
        ("https://a%2eb.example.com/", false, FIELD, "no escapes"),
        ("https://[::1/", false, FIELD, "closed"),
        ("https://charts.example.com:0/", false, FIELD, "port"),
        ("https://charts.example.com:99999/", false, FIELD, "port"),
        ("ftp://charts.example.com/", false, FIELD, "https://"),
        ("charts.example.com", false, FIELD, "https://"),
    ];
    for (repo, insecure, field, words) in cases {
        let err = check(repo, *insecure, &default()).expect_err(repo);
        assert_eq!(err.field, *field, "{repo}: {err}");
        assert!(err.why.contains(words), "{repo}: {err}");
    }
}

#[test]
fn allowed_hosts_and_plain_http_are_explicit_and_never_cover_the_apiserver_or_the_api() {
    let dev = dev();
    assert_eq!(check("http://127.0.0.1:34567", false, &dev), Ok(()));
    assert_eq!(check("oci://127.0.0.1:5000/charts", true, &dev), Ok(()));
    // Allowing 127.0.0.1 is not allowing other loopback spellings' hosts... 127.0.0.2 is
    // another host.
    assert!(check("http://127.0.0.2:34567", false, &dev).is_err());
    // ...but the same address, spelled differently, is the same host.
    assert_eq!(check("http://2130706433:34567", false, &dev), Ok(()));
    for denied in [
        "https://127.0.0.1:6443",
        "http://127.0.0.1:8080/api/v1",
        "http://0x7f.1:8080",
    ] {
        let err = check(denied, false, &dev).expect_err(denied);
        assert!(err.why.contains("apiserver or KubeNova's API"), "{err}");
    }
    // A host allowed with a port is allowed on that port only.
    let one_port = ChartSources {
        allowed_hosts: ["charts.internal:8443".to_owned()].into(),
        ..ChartSources::default()
    };
    assert_eq!(
        check("https://charts.internal:8443/x", false, &one_port),
        Ok(())
    );
    assert!(check("https://charts.internal/x", false, &one_port).is_err());
    // Credentials in the URL are refused even for an allowed host.
    assert!(check("http://u:p@127.0.0.1:34567", false, &dev).is_err());
}

#[test]
fn loose_ipv4_forms_read_as_inet_aton_does() {
    for (text, ip) in [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("0x7f.0x0.0x0.0x1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.65535", "10.0.255.255"),
        ("0", "0.0.0.0"),
    ] {
        assert_eq!(parse_ipv4_loose(text), ip.parse().ok(), "{text}");
    }
    for text in [
        "256.0.0.1",
        "1.2.3.4.5",
        "4294967296",
        "08.1.1.1",
        "example",
        "1..1",
    ] {
        assert_eq!(parse_ipv4_loose(text), None, "{text}");
    }
}
