//! The seed's story with the CLI alone, as the admin, a tenant owner (alice) and a project
//! developer (bob), with the refusals each meets, on one environment.

use super::*;

const T: &str = "clitest";
const P: &str = "shop";

#[test]
fn the_story_with_the_cli_alone() {
    // Under target/tmp, not $TMPDIR: the fake pods' `exec` runs as `nobody` in a directory
    // beside the environment's, so every directory above it must be open to others. Kept when
    // the test fails.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(testenv::unique_name("kubenova-cli"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    eprintln!("running the story in {}", dir.display());
    let dev = Dev::start(&dir);
    let path = dev.path();
    let server = dev.var("KUBENOVA_API_URL").to_owned();
    let admin = User::new(&dir, "admin", &path);
    let alice = User::new(&dir, "alice", &path);
    let bob = User::new(&dir, "bob", &path);

    logins(&admin, &server, dev.var("KUBENOVA_ADMIN_TOKEN"));
    certificate_authority(&dev, &dir);
    platform(&admin);
    tenant(&admin);
    let alice_jti = owner(&admin, &alice, &server);
    developer(&dev, &admin, &bob, &server);
    admin_kubeconfigs(&admin, &dir);
    tokens(&admin, &alice, &alice_jti, &server);
    cleanup(&admin, &alice);
    drop(dev);
    std::fs::remove_dir_all(&dir).expect("removing the scratch dir");
}

/// Bad tokens are refused with exit 4 and write nothing; a good one is stored 0600.
fn logins(admin: &User, server: &str, token: &str) {
    let ran = admin.kn(&["login", "--server", server, "--token", "garbage"]);
    assert_eq!(ran.code, 4, "{ran:?}");
    assert!(ran.stderr.starts_with("error: KN-401 "), "{ran:?}");
    assert!(
        ran.stderr
            .contains("hint: the token is missing, expired or revoked"),
        "{ran:?}"
    );
    assert!(!admin.config().exists(), "a refused login wrote the config");

    // --token-stdin with nothing on stdin: refused, nothing written.
    let err = admin.fails(&["login", "--server", server, "--token-stdin"], 2, None);
    assert!(err.starts_with("error: the token is empty"), "{err}");
    assert!(!admin.config().exists(), "a refused login wrote the config");
    let ran = admin.kn_in(
        &[
            "login",
            "--server",
            server,
            "--name",
            "dev",
            "--token-stdin",
        ],
        Some(&format!("{token}\n")),
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout.starts_with(&format!(
            "Logged in to {server} as bootstrap-admin (admin); context \"dev\" saved in "
        )),
        "{ran:?}"
    );
    let mode = std::fs::metadata(admin.config())
        .expect("config")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let config = std::fs::read_to_string(admin.config()).expect("config");
    assert!(config.contains("current-context: dev"), "{config}");

    let me = admin.json(&["whoami"]);
    assert_eq!(me["subject"], "bootstrap-admin");
    assert_eq!(me["roles"][0], "admin");
    let table = admin.ok(&["whoami"]);
    assert!(
        table.starts_with(
            "SUBJECT           ROLES   TENANT   PROJECT   EXPIRES\nbootstrap-admin   admin"
        ),
        "{table}"
    );

    // Contexts: list without tokens, use, delete.
    let list = admin.ok(&["context", "list"]);
    assert_eq!(
        list,
        format!(
            "CURRENT   NAME   SERVER{}CLUSTER\n*         dev    {server}\n",
            " ".repeat(server.len() - 6 + 3)
        )
    );
    assert!(!admin.ok(&["context", "list", "-o", "json"]).contains(token));
    admin.ok(&[
        "login",
        "--server",
        server,
        "--token",
        token,
        "--name",
        "spare",
        "--cluster",
        "local",
    ]);
    assert_eq!(admin.ok(&["context", "current"]), "spare\n");
    admin.ok(&["context", "use", "dev"]);
    assert_eq!(
        admin.ok(&["context", "list", "-o", "name"]),
        "context/dev\ncontext/spare\n"
    );
    admin.fails(&["context", "use", "nope"], 2, None);
    // --context picks another one for one command.
    admin.ok(&["--context", "spare", "whoami"]);
    admin.ok(&["context", "delete", "spare"]);
    assert_eq!(
        admin.ok(&["context", "list", "--no-headers", "-o", "name"]),
        "context/dev\n"
    );
}

/// `--certificate-authority`: a second kubenova-control (the environment's management cluster
/// and keys, API only) serving TLS with a certificate from a CA of this test's. Logging in with
/// that CA works and the CA is kept in the context; no CA, a wrong one or a file that is not one
/// is refused with a clear message and exit code, and writes nothing.
fn certificate_authority(dev: &Dev, dir: &Path) {
    let tls = dir.join("tls");
    let ca = testenv::pki::Pki::new(&tls.join("ca")).expect("CA");
    let serving = ca
        .serving("kubenova-control", &["127.0.0.1"])
        .expect("serving certificate");
    let wrong = testenv::pki::Pki::new(&tls.join("wrong")).expect("another CA");
    let (ca_file, wrong_file) = (
        ca.ca().cert_path.to_str().expect("utf-8").to_owned(),
        wrong.ca().cert_path.to_str().expect("utf-8").to_owned(),
    );
    let port = testenv::free_port().expect("a port");
    let control = testenv::workspace_binary(&root(), "kubenova-server", "kubenova-control")
        .expect("kubenova-control");
    let log = std::fs::File::create(tls.join("control.log")).expect("log");
    let child = Command::new(control)
        .arg("serve")
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--kubeconfig={}", dev.var("KUBECONFIG")))
        .arg(format!("--namespace={}", testenv::control::NAMESPACE))
        .arg(format!("--issuer={}", testenv::proxy::ISSUER))
        .arg(format!("--audit-log={}", tls.join("audit.log").display()))
        .args(["--leader-election=false", "--no-agent"])
        .arg(format!("--tls-cert={}", serving.cert_path.display()))
        .arg(format!("--tls-key={}", serving.key_path.display()))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("kubenova-control serve");
    struct Stop(Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _control = Stop(child);
    let server = format!("https://127.0.0.1:{port}");
    let token = dev.var("KUBENOVA_ADMIN_TOKEN");
    let user = User::new(dir, "tls-user", &dev.path());
    eventually("the TLS API answers", Duration::from_secs(90), || {
        user.kn(&[
            "--server",
            &server,
            "--token",
            token,
            "--certificate-authority",
            &ca_file,
            "health",
            "--ready",
        ])
        .code
            == 0
    });

    // Without the CA (the system's roots do not know it), and with a CA that did not sign it.
    for (case, ca_args) in [
        ("no CA", vec![]),
        (
            "a wrong CA",
            vec!["--certificate-authority", wrong_file.as_str()],
        ),
    ] {
        let mut args = vec!["login", "--server", &server, "--token", token];
        args.extend(ca_args.iter().copied());
        let ran = user.kn(&args);
        assert_eq!(ran.code, 1, "{case}: {ran:?}");
        assert!(
            ran.stderr.starts_with(&format!(
                "error: the certificate of {server} is not trusted"
            )),
            "{case}: {ran:?}"
        );
        assert!(
            ran.stderr
                .contains("hint: give the CA that signed it with --certificate-authority FILE"),
            "{case}: {ran:?}"
        );
        assert!(!user.config().exists(), "a refused login wrote the config");
    }
    // A file that is no CA, and none at all: usage errors.
    let ran = user.kn(&[
        "login",
        "--server",
        &server,
        "--token",
        token,
        "--certificate-authority",
        "Cargo.toml",
    ]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.starts_with("error: the certificate authority"),
        "{ran:?}"
    );
    let missing = tls.join("missing.crt");
    let ran = user.kn(&[
        "login",
        "--server",
        &server,
        "--token",
        token,
        "--certificate-authority",
        missing.to_str().expect("utf-8"),
    ]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .starts_with("error: reading --certificate-authority"),
        "{ran:?}"
    );
    assert!(!user.config().exists(), "a refused login wrote the config");

    // The right CA: logged in, the CA kept in the context, used by later commands.
    let ran = user.kn(&[
        "login",
        "--server",
        &server,
        "--token",
        token,
        "--certificate-authority",
        &ca_file,
        "--name",
        "tls",
    ]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let config = std::fs::read_to_string(user.config()).expect("config");
    assert!(
        config.contains("certificate-authority-data")
            && config.contains("BEGIN CERTIFICATE")
            && !config.contains("insecure-skip-tls-verify: true"),
        "{config}"
    );
    assert_eq!(user.json(&["whoami"])["subject"], "bootstrap-admin");
    assert_eq!(
        user.ok(&["cluster", "list", "-o", "name"]),
        "cluster/local\n"
    );
    // The context's default cluster, kept beside its CA.
    assert_eq!(
        user.ok(&["context", "set-cluster", "local"]),
        "Context \"tls\" uses cluster \"local\".\n"
    );
    let config = std::fs::read_to_string(user.config()).expect("config");
    assert!(
        config.contains("cluster: local") && config.contains("certificate-authority-data"),
        "{config}"
    );
    // --insecure-skip-tls-verify gets through without a CA (testing only), and is kept.
    let insecure = User::new(dir, "tls-insecure", &dev.path());
    let ran = insecure.kn(&[
        "login",
        "--server",
        &server,
        "--token",
        token,
        "--insecure-skip-tls-verify",
    ]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let config = std::fs::read_to_string(insecure.config()).expect("config");
    assert!(
        config.contains("insecure-skip-tls-verify: true"),
        "{config}"
    );
    assert_eq!(insecure.json(&["whoami"])["subject"], "bootstrap-admin");
}

/// Clusters, health, version and the public documents as the admin.
fn platform(admin: &User) {
    assert_eq!(
        admin.ok(&["cluster", "list", "-o", "name"]),
        "cluster/local\n"
    );
    let local = admin.json(&["cluster", "get", "local"]);
    assert_eq!(local["name"], "local");
    let table = admin.ok(&["clusters", "list", "--no-headers"]);
    assert!(table.starts_with("local   https://127.0.0.1:"), "{table}");
    let wide = admin.ok(&["cluster", "list", "-o", "wide"]);
    assert!(wide.contains("Reachable=True"), "{wide}");
    let kubeconfig = admin.ok(&["cluster", "kubeconfig", "local"]);
    assert!(
        kubeconfig.contains("clusters"),
        "the stored admin kubeconfig"
    );
    admin.fails(&["cluster", "get", "nope"], 3, Some("KN-404"));
    admin.fails(&["cluster", "delete", "nope"], 3, Some("KN-404"));
    // A cluster whose kubeconfig is not one: the API names the field.
    let bad = std::env::temp_dir().join(format!("kn-cli-cluster-{}.json", std::process::id()));
    std::fs::write(&bad, r#"{"name": "other", "kubeconfig": "nope", "proxyUrl": "https://127.0.0.1:1", "proxyCa": "nope"}"#).expect("file");
    let err = admin.fails(
        &["cluster", "create", "-f", bad.to_str().expect("utf-8")],
        1,
        None,
    );
    assert!(err.starts_with("error: KN-4"), "{err}");
    assert_eq!(admin.ok(&["health"]), "ok\n");
    assert_eq!(admin.ok(&["health", "--ready"]), "ok\n");
    let version = admin.ok(&["version"]);
    assert!(
        version.starts_with(&format!("client: {}\nserver: ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let openapi: Value = serde_json::from_str(&admin.ok(&["server", "openapi"])).expect("openapi");
    assert_eq!(openapi["openapi"], "3.0.3");
    let jwks: Value = serde_json::from_str(&admin.ok(&["server", "jwks"])).expect("jwks");
    assert!(jwks["keys"].as_array().is_some_and(|k| !k.is_empty()));
    assert!(
        admin
            .ok(&["server", "metrics"])
            .contains("kubenova_api_requests_total")
    );
}

/// A tenant made with flags and `--wait`, then every part of it changed.
fn tenant(admin: &User) {
    let out = admin.ok(&[
        "tenant",
        "create",
        T,
        "--cluster",
        "local",
        "--owner",
        "alice",
        "--display-name",
        "CLI test",
        "--quota",
        "pods=50",
        "--quota",
        "cpu=8",
        "--label",
        "team=web",
        "--ingress-host",
        "*.clitest.example.com",
        "--wait",
        "--timeout",
        "3m",
    ]);
    assert_eq!(out, format!("tenant/{T} created and ready\n"));
    admin.fails(
        &[
            "tenant",
            "create",
            T,
            "--cluster",
            "local",
            "--owner",
            "alice",
        ],
        5,
        Some("KN-409"),
    );
    admin.fails(&["tenant", "create", "x"], 2, None);
    let t = admin.json(&["tenant", "get", T]);
    assert_eq!(t["owners"], serde_json::json!(["alice"]));
    assert_eq!(t["quota"]["pods"], 50);
    assert_eq!(t["labels"]["team"], "web");
    let by_cluster = admin.json(&["tenant", "get", T, "--cluster", "local"]);
    assert_eq!(by_cluster["name"], T);
    assert_eq!(
        admin.ok(&["tenant", "list", "-o", "name"]),
        format!("tenant/{T}\n")
    );
    assert_eq!(
        admin.ok(&["tenants", "list", "--cluster", "local", "-o", "name"]),
        format!("tenant/{T}\n")
    );
    snapshot("tenant-list.txt", &admin.ok(&["tenant", "list"]));
    snapshot(
        "tenant-list-wide.txt",
        &admin.ok(&["tenant", "list", "-o", "wide"]),
    );
    let yaml = admin.ok(&["tenant", "get", T, "-o", "yaml"]);
    assert!(yaml.contains(&format!("name: {T}\n")), "{yaml}");

    assert_eq!(
        admin.ok(&[
            "tenant", "owners", T, "--owner", "alice", "--owner", "carol"
        ]),
        format!("tenant/{T} owners replaced\n")
    );
    assert_eq!(
        admin.ok(&["tenant", "quota", T, "-f", "docs/examples/quota.json"]),
        format!("tenant/{T} quota replaced\n")
    );
    assert_eq!(
        admin.ok(&[
            "tenant",
            "quota",
            T,
            "--set",
            "pods=40",
            "--set",
            "memory=16Gi"
        ]),
        format!("tenant/{T} quota replaced\n")
    );
    assert_eq!(admin.json(&["tenant", "get", T])["quota"]["pods"], 40);
    assert_eq!(
        admin.ok(&["tenant", "limits", T, "-f", "docs/examples/limits.json"]),
        format!("tenant/{T} limits replaced\n")
    );
    admin.ok(&["tenant", "limits", T, "--set", "defaultCpuRequest=100m"]);
    admin.fails(
        &[
            "tenant",
            "limits",
            T,
            "--set",
            "defaultCpuRequest=100m",
            "-f",
            "docs/examples/limits.json",
        ],
        2,
        None,
    );
    assert_eq!(
        admin.ok(&[
            "tenant",
            "network-policies",
            T,
            "-f",
            "docs/examples/network-policies.json"
        ]),
        format!("tenant/{T} network policies replaced\n")
    );
    // Settings, every one at once, from YAML on standard input.
    let ran = admin.kn_in(
        &["tenant", "update", T, "-f", "-"],
        Some("owners: [alice]\ndisplayName: CLI test 2\nquota: {pods: 40}\ningressHosts: ['*.clitest.example.com']\nlabels: {team: web}\n"),
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        admin.json(&["tenant", "get", T])["displayName"],
        "CLI test 2"
    );
    // A wrong field: KN-422 naming it, exit 1.
    let ran = admin.kn_in(
        &["tenant", "update", T, "-f", "-"],
        Some("{\"owners\": \"alice\"}"),
    );
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.starts_with("error: KN-422 "), "{ran:?}");
    assert!(ran.stderr.contains("owners"), "{ran:?}");
    let usage = admin.ok(&["tenant", "usage", T]);
    assert!(usage.starts_with("SCOPE"), "{usage}");
    assert!(usage.contains(&format!("tenant/{T}")), "{usage}");
}

/// alice owns the tenant: she makes the project and grants bob access; platform things are
/// refused. Answers her token's jti.
fn owner(admin: &User, alice: &User, server: &str) -> String {
    let ran = admin.kn(&[
        "token",
        "create",
        "--subject",
        "alice",
        "--role",
        "tenantOwner",
        "--tenant",
        T,
        "--ttl",
        "2h",
    ]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let token = ran.stdout.trim().to_owned();
    assert!(ran.stderr.starts_with("token "), "{ran:?}");
    let jti = ran
        .stderr
        .split_whitespace()
        .nth(1)
        .expect("jti")
        .to_owned();
    let ran = alice.kn_in(
        &["login", "--server", server, "--token-stdin"],
        Some(&token),
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains(" as alice (tenantOwner)"), "{ran:?}");

    assert_eq!(alice.json(&["tenant", "get", T])["name"], T);
    alice.fails(&["cluster", "list"], 4, Some("KN-403"));
    alice.fails(
        &["tenant", "create", "other", "--cluster", "local"],
        4,
        Some("KN-403"),
    );
    alice.fails(
        &["tenant", "quota", T, "--set", "pods=100"],
        4,
        Some("KN-403"),
    );
    // Her token's tenant is the default.
    let out = alice.ok(&[
        "project",
        "create",
        P,
        "--developer",
        "bob",
        "--label",
        "tier=front",
        "--wait",
        "--timeout",
        "3m",
    ]);
    assert_eq!(out, format!("project/{P} created and ready\n"));
    alice.fails(&["project", "create", P, "-t", T], 5, Some("KN-409"));
    snapshot("project-list.txt", &alice.ok(&["project", "list", "-t", T]));
    assert_eq!(
        alice.ok(&[
            "project",
            "access",
            P,
            "--developer",
            "bob",
            "--reader",
            "carol"
        ]),
        format!("project/{P} access replaced\n")
    );
    let p = alice.json(&["project", "get", P]);
    assert_eq!(p["access"]["readers"], serde_json::json!(["carol"]));
    assert_eq!(p["namespace"], format!("{T}-{P}"));
    let ran = alice.kn_in(
        &["project", "update", P, "-f", "-"],
        Some("{\"access\": {\"developers\": [\"bob\"], \"readers\": [\"carol\"]}, \"labels\": {\"tier\": \"back\"}}"),
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(alice.json(&["project", "get", P])["labels"]["tier"], "back");
    let usage = alice.ok(&["project", "usage", P]);
    assert!(usage.contains(&format!("project/{P}")), "{usage}");
    alice.fails(&["project", "get", "nope"], 3, Some("KN-404"));
    // Her own tenant kubeconfig, merged beside what her kubeconfig already holds.
    std::fs::create_dir_all(alice.kubeconfig().parent().expect("dir")).expect("dir");
    std::fs::write(
        alice.kubeconfig(),
        "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: 'https://other:6443'}\nusers:\n- name: other\n  user: {token: keep-me}\ncontexts:\n- name: other\n  context: {cluster: other, user: other}\ncurrent-context: other\n",
    )
    .expect("kubeconfig");
    let out = alice.ok(&["kubeconfig", "tenant", T, "--merge"]);
    assert!(
        out.starts_with(&format!("Merged context \"local-{T}\" into ")),
        "{out}"
    );
    let merged = std::fs::read_to_string(alice.kubeconfig()).expect("kubeconfig");
    assert!(
        merged.contains("keep-me") && merged.contains("current-context: other"),
        "{merged}"
    );
    assert!(merged.contains(&format!("name: local-{T}")), "{merged}");
    jti
}

/// bob develops in the project: kubectl through the proxy with the merged context, Grafana with
/// --wait, image update, rollback, suspend, resume, deploy, logs -f, delete.
fn developer(dev: &Dev, admin: &User, bob: &User, server: &str) {
    let token = admin.ok(&[
        "token",
        "create",
        "--subject",
        "bob",
        "--role",
        "projectDev",
        "--tenant",
        T,
        "--project",
        P,
    ]);
    let ran = bob.kn_in(
        &[
            "login",
            "--server",
            server,
            "--token-stdin",
            "--cluster",
            "local",
        ],
        Some(&token),
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    let me = bob.json(&["whoami"]);
    assert_eq!(
        (me["tenant"].as_str(), me["project"].as_str()),
        (Some(T), Some(P))
    );
    bob.fails(&["tenant", "get", T], 4, Some("KN-403"));
    bob.fails(&["project", "create", "x", "-t", T], 4, Some("KN-403"));

    // kubeconfig project --merge --use, then the real kubectl through the proxy.
    let out = bob.ok(&["kubeconfig", "project", P, "--merge", "--use"]);
    assert_eq!(
        out,
        format!(
            "Merged context \"local-{T}-{P}\" into {} and made it the current context\n",
            bob.kubeconfig().display()
        )
    );
    let mode = std::fs::metadata(bob.kubeconfig())
        .expect("kubeconfig")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let out = bob
        .command("kubectl")
        .args(["get", "pods"])
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl get pods: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("No resources found in {T}-{P} namespace.\n")
    );
    let out = bob
        .command("kubectl")
        .args(["get", "pods", "-n", "kube-system"])
        .output()
        .expect("kubectl");
    assert!(!out.status.success(), "outside the project: refused");

    // Grafana from an image, waited for.
    let out = bob.ok(&[
        "app",
        "create",
        "grafana",
        "--image",
        "grafana/grafana",
        "--tag",
        "11.0.0",
        "--port",
        "3000",
        "--env",
        "GF_LOG_LEVEL=info",
        "--wait",
        "--timeout",
        "4m",
    ]);
    assert_eq!(out, "app/grafana running (revision grafana-v1)\n");
    bob.fails(
        &[
            "app",
            "create",
            "grafana",
            "--image",
            "grafana/grafana",
            "--tag",
            "11.0.0",
        ],
        5,
        Some("KN-409"),
    );
    bob.fails(&["app", "get", "nope"], 3, Some("KN-404"));
    snapshot("app-list.txt", &bob.ok(&["app", "list"]));
    let out = bob.kn(&[
        "app",
        "create",
        "bad",
        "--image",
        "grafana/grafana",
        "--tag",
        "no spaces allowed",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.starts_with("error: KN-422 "), "{out:?}");

    let out = bob.ok(&[
        "app",
        "set-image",
        "grafana",
        "--tag",
        "11.1.0",
        "--wait",
        "--timeout",
        "4m",
    ]);
    assert_eq!(out, "app/grafana running (revision grafana-v2)\n");
    assert_eq!(
        bob.json(&["app", "get", "grafana"])["spec"]["image"]["tag"],
        "11.1.0"
    );
    let revisions = bob.ok(&["app", "revisions", "grafana", "--no-headers"]);
    assert!(
        revisions.contains("grafana-v1") && revisions.contains("grafana-v2"),
        "{revisions}"
    );
    let out = bob.ok(&[
        "app",
        "rollback",
        "grafana",
        "--revision",
        "grafana-v1",
        "--wait",
        "--timeout",
        "4m",
    ]);
    assert_eq!(out, "app/grafana running (revision grafana-v3)\n");
    assert_eq!(
        bob.json(&["app", "get", "grafana"])["spec"]["image"]["tag"],
        "11.0.0"
    );
    let out = bob.ok(&["app", "suspend", "grafana", "--wait", "--timeout", "4m"]);
    assert_eq!(out, "app/grafana suspended (revision grafana-v4)\n");
    let out = bob.ok(&["app", "resume", "grafana", "--wait", "--timeout", "4m"]);
    assert_eq!(out, "app/grafana running (revision grafana-v5)\n");
    let out = bob.ok(&["app", "deploy", "grafana", "--wait", "--timeout", "4m"]);
    assert_eq!(out, "app/grafana running (revision grafana-v6)\n");
    assert_eq!(
        bob.ok(&["app", "action", "grafana", "deploy"]),
        "app/grafana deploy\n"
    );
    let status = bob.ok(&["app", "status", "grafana"]);
    assert!(
        status.contains("Name:          grafana\n") && status.contains("Pods:\n"),
        "{status}"
    );
    let json = bob.json(&["app", "status", "grafana"]);
    assert_eq!(json["name"], "grafana");

    // Traits, policies and an edit from a file.
    assert_eq!(
        bob.ok(&[
            "app",
            "traits",
            "grafana",
            "-f",
            "docs/examples/app-traits.json"
        ]),
        "app/grafana traits replaced\n"
    );
    let ran = bob.kn_in(
        &["app", "policies", "grafana", "-f", "-"],
        Some("policies: []\n"),
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    let ran = bob.kn_in(
        &[
            "app",
            "edit",
            "grafana",
            "-f",
            "-",
            "--wait",
            "--timeout",
            "4m",
        ],
        Some("name: grafana\nimage:\n  image: grafana/grafana\n  tag: 11.2.0\n  replicas: 2\n"),
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.starts_with("app/grafana running"), "{ran:?}");
    assert_eq!(
        bob.json(&["app", "get", "grafana"])["spec"]["image"]["replicas"],
        2
    );

    // logs, then logs -f shows a new line.
    let logs = bob.ok(&["app", "logs", "grafana", "--tail", "1"]);
    assert!(logs.starts_with("[grafana-"), "{logs}");
    let mut follow = bob
        .command(env!("CARGO_BIN_EXE_kubenova"))
        .args(["app", "logs", "grafana", "-f", "--tail", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("logs -f");
    let stdout = follow.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let marker = format!("cli-follow-{}", std::process::id());
    let start = Instant::now();
    let mut seen = false;
    while !seen && start.elapsed() < Duration::from_secs(60) {
        dev.log_line(&marker);
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
            seen = line.ends_with(&marker) && line.starts_with("[grafana-");
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(seen, "logs -f did not show {marker} within 60 s");

    wordpress(dev, bob);

    // Tokens: bob sees his own, revokes his kubeconfig's.
    let list = bob.json(&["token", "list"]);
    let kubeconfig_jti = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["kind"] != "api")
        .and_then(|t| t["jti"].as_str())
        .expect("bob's kubeconfig token")
        .to_owned();
    assert_eq!(
        bob.ok(&["token", "revoke", &kubeconfig_jti]),
        format!("token/{kubeconfig_jti} revoked\n")
    );
    eventually(
        "kubectl refused with the revoked kubeconfig",
        Duration::from_secs(30),
        || {
            !bob.command("kubectl")
                .args(["get", "pods"])
                .output()
                .expect("kubectl")
                .status
                .success()
        },
    );

    // A wait that cannot end well ends with the reason: a Secret the app needs is missing.
    let ran = bob.kn_in(
        &["app", "create", "-f", "-", "--wait", "--timeout", "30s"],
        Some(r#"{"name": "broken", "image": {"image": "nginx", "tag": "1.27", "env": [{"name": "P", "secretRef": {"name": "nope", "key": "k"}}]}}"#),
    );
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr
            .contains("error: app/broken did not get there within 30s: phase waitingForSecrets"),
        "{ran:?}"
    );
    assert!(ran.stderr.contains("SecretMissing"), "the reason: {ran:?}");
    assert_eq!(bob.ok(&["app", "delete", "broken"]), "app/broken deleted\n");
    assert_eq!(
        bob.ok(&["app", "delete", "grafana"]),
        "app/grafana deleted\n"
    );
    eventually("grafana gone", Duration::from_secs(60), || {
        bob.kn(&["app", "get", "grafana"]).code == 3
    });
}

/// WordPress from the environment's chart repository (docs/examples/wordpress-app.json with the
/// repository's URL and a host the tenant claims), waited for: the platform makes the volume its
/// claim binds to (no provisioner here), bob the database Secret with kubectl.
fn wordpress(dev: &Dev, bob: &User) {
    let ns = format!("{T}-{P}");
    let pv = format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {ns}-wordpress-data}}\nspec:\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  storageClassName: standard\n  hostPath: {{path: /tmp/kubenova-cli-pv}}\n  claimRef: {{namespace: {ns}, name: wordpress-data}}\n"
    );
    let mut apply = bob
        .command("kubectl")
        .args(["--kubeconfig", dev.var("KUBECONFIG"), "apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl apply");
    apply
        .stdin
        .take()
        .expect("stdin")
        .write_all(pv.as_bytes())
        .expect("the volume");
    let out = apply.wait_with_output().expect("kubectl apply");
    assert!(
        out.status.success(),
        "the volume: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bob
        .command("kubectl")
        .args([
            "create",
            "secret",
            "generic",
            "wordpress-db",
            "--from-literal=database=wordpress",
            "--from-literal=user=wordpress",
            "--from-literal=password=s3cret",
        ])
        .output()
        .expect("kubectl create secret");
    assert!(
        out.status.success(),
        "the Secret: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let example = std::fs::read_to_string(root().join("docs/examples/wordpress-app.json"))
        .expect("the example");
    let mut app: Value = serde_json::from_str(&example).expect("JSON");
    app["helm"]["repo"] = Value::from(dev.var("KUBENOVA_CHART_REPO"));
    app["helm"]["values"]["hostname"] = Value::from(format!("blog.{T}.example.com"));
    let ran = bob.kn_in(
        &["app", "create", "-f", "-", "--wait", "--timeout", "4m"],
        Some(&app.to_string()),
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        ran.stdout,
        "app/wordpress running (revision wordpress-v1)\n"
    );
    let status = bob.json(&["app", "status", "wordpress"]);
    assert_eq!(status["phase"], "running", "{status}");
    let pods: Vec<&str> = status["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["ready"] == true)
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        pods.iter().any(|p| p.starts_with("wordpress-wordpress-"))
            && pods.iter().any(|p| p.starts_with("wordpress-mariadb-")),
        "the chart's pods, ready: {status}"
    );
    let out = bob
        .command("kubectl")
        .args([
            "get",
            "pvc",
            "wordpress-data",
            "-o",
            "jsonpath={.status.phase}",
        ])
        .output()
        .expect("kubectl get pvc");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Bound");
    assert_eq!(
        bob.ok(&["app", "delete", "wordpress"]),
        "app/wordpress deleted\n"
    );
}

/// Kubeconfigs the admin fetches for others: a file 0600, a reader's by the GET form.
fn admin_kubeconfigs(admin: &User, dir: &Path) {
    let file = dir.join("alice.kubeconfig");
    let out = admin.ok(&[
        "kubeconfig",
        "tenant",
        T,
        "--subject",
        "alice",
        "--cluster",
        "local",
        "--file",
        file.to_str().expect("utf-8"),
    ]);
    assert_eq!(out, format!("Wrote {}\n", file.display()));
    let mode = std::fs::metadata(&file).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let printed = admin.ok(&[
        "kubeconfig",
        "project",
        P,
        "-t",
        T,
        "--subject",
        "carol",
        "--role",
        "readOnly",
        "--ttl",
        "1h",
    ]);
    assert!(
        printed.contains(&format!("namespace: {T}-{P}")),
        "{printed}"
    );
    let v = admin.json(&["kubeconfig", "project", P, "-t", T, "--subject", "bob"]);
    assert_eq!(v["role"], "projectDev");
    admin.fails(
        &["kubeconfig", "project", P, "-t", T, "--subject", "mallory"],
        4,
        Some("KN-403"),
    );
}

/// Tokens: list, revoke (alice's stops working), an expired one refused at login.
fn tokens(admin: &User, alice: &User, alice_jti: &str, server: &str) {
    let list = admin.ok(&["token", "list", "-o", "wide"]);
    assert!(list.contains(alice_jti), "{list}");
    assert_eq!(
        admin.ok(&["token", "revoke", alice_jti]),
        format!("token/{alice_jti} revoked\n")
    );
    let err = alice.fails(&["whoami"], 4, Some("KN-401"));
    assert!(err.contains("kubenova login"), "{err}");

    let short = admin.ok(&[
        "token",
        "create",
        "--subject",
        "robot",
        "--role",
        "readOnly",
        "--tenant",
        T,
        "--ttl",
        "1s",
    ]);
    // Past its exp and the server's 5 s clock skew.
    std::thread::sleep(Duration::from_secs(8));
    let robot = User::new(&alice.home, "robot", &alice.path);
    let ran = robot.kn_in(
        &["login", "--server", server, "--token-stdin"],
        Some(&short),
    );
    assert_eq!(ran.code, 4, "{ran:?}");
    assert!(ran.stderr.starts_with("error: KN-401 "), "{ran:?}");
    assert!(!robot.config().exists(), "a refused login wrote the config");
}

/// Deletion: a tenant with a project is refused (5), the project goes, then the tenant.
fn cleanup(admin: &User, _alice: &User) {
    admin.fails(&["tenant", "delete", T], 5, Some("KN-409"));
    assert_eq!(
        admin.ok(&["project", "delete", P, "-t", T]),
        format!("project/{P} deleting\n")
    );
    eventually("the project gone", Duration::from_secs(120), || {
        admin.kn(&["project", "get", P, "-t", T]).code == 3
    });
    assert_eq!(
        admin.ok(&["tenant", "delete", T]),
        format!("tenant/{T} deleted\n")
    );
    admin.fails(&["tenant", "get", T], 3, Some("KN-404"));
}
