//! Signing in through a real identity provider (issue 19): Dex (built from its source tree by
//! `make upstream`) with static users and groups, the real `kubenova-control` with
//! `--oidc-config`, and the provider's real flows driven the way a browser and a terminal
//! would: the authorization-code flow with PKCE through Dex's login form (an HTTP client that
//! keeps cookies and follows the provider's redirects), and the device flow.

mod flows;
mod terminal;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use testenv::control::{ControlOptions, RunningControl};
use testenv::dex::{DexOptions, OTHER_CLIENT_ID};
use testenv::proxy::ProxyOptions;
use testenv::{Options, TestEnv};

use flows::{Browser, authorization_code, device_flow};

/// ID tokens live this long here, so one test can watch one expire.
const ID_TOKEN_TTL: Duration = Duration::from_secs(20);

/// The proxy tokens `kubenova credential` gets live this long here (`--credential-ttl`), so a
/// test can watch kubectl go through several.
const CREDENTIAL_TTL: Duration = Duration::from_secs(20);

/// The name the environment is registered under as a workload cluster.
const MAIN: &str = "main";

struct Harness {
    env: &'static TestEnv,
    control: RunningControl,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        // Capsule and the agent: the exec-plugin test runs kubectl in a real tenant's project.
        let env = TestEnv::shared_with(Options {
            label: "identity".into(),
            dex: Some(DexOptions {
                id_token_ttl: ID_TOKEN_TTL,
            }),
            ..Options::default()
        });
        let dex = env.dex.as_ref().expect("dex");
        let config = env.dir().join("oidc.yaml");
        std::fs::write(
            &config,
            serde_json::to_string(&json!({"issuers": [{
                "name": "corp",
                "issuerUrl": dex.issuer,
                "clientId": dex.client_id,
                "caFile": env.ca_path(),
                "clockSkewSeconds": 0,
                "mapping": [
                    {"group": testenv::dex::PLATFORM_GROUP, "role": "admin"},
                    {"group": "tenant-acme-owners", "role": "tenantOwner", "tenant": "acme"},
                ],
            }]}))
            .expect("json"),
        )
        .expect("oidc config");
        let binary = PathBuf::from(env!("CARGO_BIN_EXE_kubenova-control"));
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let proxy_binary = testenv::workspace_binary(&root, "kubenova-proxy", "kubenova-proxy")
            .expect("kubenova-proxy builds");
        testenv::block_on(async move {
            let control = env
                .start_control(
                    &binary,
                    ControlOptions {
                        extra_args: vec![
                            format!("--oidc-config={}", config.display()),
                            format!("--credential-ttl={}s", CREDENTIAL_TTL.as_secs()),
                        ],
                        ..ControlOptions::default()
                    },
                )
                .await
                .expect("kubenova-control");
            let proxy = env
                .start_proxy_with(
                    &proxy_binary,
                    ProxyOptions {
                        jwks_url: Some(format!("{}/.well-known/jwks.json", control.url)),
                        cluster: Some(MAIN.into()),
                        extra_args: vec!["--clock-skew=1s".into()],
                        ..ProxyOptions::default()
                    },
                )
                .await
                .expect("kubenova-proxy");
            // The proxy verifies control's tokens; the exec plugin's tokens go there.
            control.register(MAIN, env, &proxy).expect("register");
            Harness { env, control }
        })
    })
}

/// `curl` to the control plane; (status, JSON body).
fn api(method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let h = harness();
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "30",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
    ])
    .arg(format!("{}{path}", h.control.url));
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
            .arg(b.to_string());
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("status line");
    (
        status.trim().parse().expect("status"),
        serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
    )
}

fn login(id_token: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({ "idToken": id_token });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    api("POST", "/api/v1/login/oidc", None, Some(&body))
}

fn id_token_of(user: &str) -> String {
    let h = harness();
    let dex = h.env.dex.as_ref().expect("dex");
    let person = dex.user(user).expect("a Dex user");
    // A browser of its own per sign-in: tests run in parallel, and two sharing a cookie jar and
    // a body file read each other's pages.
    static SIGN_INS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SIGN_INS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    authorization_code(
        &Browser::new(h.env, &format!("{user}-{n}")),
        dex,
        &dex.client_id,
        &person.email,
        &person.password,
    )
}

#[test]
fn the_providers_are_published_for_clients() {
    let h = harness();
    let (status, body) = api("GET", "/api/v1/login/oidc", None, None);
    assert_eq!(status, 200, "{body}");
    let dex = h.env.dex.as_ref().expect("dex");
    assert_eq!(
        body["providers"],
        json!([{"name": "corp", "issuerUrl": dex.issuer, "clientId": "kubenova",
                "scopes": ["openid", "email", "groups"]}])
    );
}

/// The authorization-code flow through Dex's login form; each person's groups decide the role.
#[test]
fn groups_decide_the_role_a_person_signs_in_with() {
    let alice = id_token_of("alice");
    let (status, body) = login(&alice, json!({}));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["role"], "admin");
    assert_eq!(body["subject"], "alice@example.test");
    assert_eq!(body["provider"], "corp");
    let token = body["token"].as_str().expect("token");
    let (status, me) = api("GET", "/api/v1/me", Some(token), None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["subject"], "alice@example.test", "{me}");
    assert_eq!(me["roles"], json!(["admin"]), "{me}");
    // The sign-in is recorded like every issued token, by the provider.
    let (_, records) = api("GET", "/api/v1/tokens", Some(token), None);
    let record = records["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["jti"] == body["jti"])
        .cloned()
        .unwrap_or_else(|| panic!("the sign-in is not recorded: {records}"));
    assert_eq!(record["issuedBy"], "oidc:corp", "{record}");

    let (status, bob) = login(&id_token_of("bob"), json!({}));
    assert_eq!(status, 201, "{bob}");
    assert_eq!(
        (&bob["role"], &bob["tenant"]),
        (&json!("tenantOwner"), &json!("acme"))
    );
    let (status, me) = api("GET", "/api/v1/me", bob["token"].as_str(), None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["tenant"], "acme", "{me}");

    let (status, carol) = login(&id_token_of("carol"), json!({}));
    assert_eq!(status, 403, "{carol}");
    let message = carol["message"].as_str().expect("message");
    assert!(
        message.contains("(everyone)") && message.contains("kubenova-platform"),
        "the refusal names her groups and the ones that would do: {message}"
    );
    assert_eq!(carol["code"], "KN-403", "{carol}");
}

/// The device flow, as on a machine without a browser: the code is approved in another
/// (HTTP) browser session, then the terminal's poll gets the ID token.
#[test]
fn the_device_flow_signs_in_too() {
    let h = harness();
    let dex = h.env.dex.as_ref().expect("dex");
    let person = dex.user("bob").expect("bob");
    let id_token = device_flow(
        &Browser::new(h.env, "bob-device"),
        dex,
        &person.email,
        &person.password,
    );
    let (status, body) = login(&id_token, json!({"tenant": "acme"}));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["role"], "tenantOwner");
}

/// Each bad ID token is refused with a KN code that says why, and nothing is issued.
#[test]
fn bad_id_tokens_are_refused_and_nothing_is_issued() {
    let h = harness();
    let dex = h.env.dex.as_ref().expect("dex");
    let admin = h.control.admin_token.as_str();
    // What a sign-in records is named after its ID token (first 32 hex digits of its SHA-256).
    let recorded = |id_token: &str| {
        use sha2::Digest as _;
        let jti: String = sha2::Sha256::digest(id_token.as_bytes())
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        let (_, list) = api("GET", "/api/v1/tokens", Some(admin), None);
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|r| r["jti"] == jti.as_str())
            .cloned()
            .collect::<Vec<Value>>()
    };

    // Replayed: exchanged once, then again (also after the API token was revoked).
    let alice = id_token_of("alice");
    let (status, first) = login(&alice, json!({}));
    assert_eq!(status, 201, "{first}");
    let jti = first["jti"].as_str().expect("jti");
    let (status, revoked) = api(
        "DELETE",
        &format!("/api/v1/tokens/{jti}"),
        Some(admin),
        None,
    );
    assert_eq!(status, 200, "{revoked}");

    let person = dex.user("alice").expect("alice");
    let other_audience = authorization_code(
        &Browser::new(h.env, "alice-other-app"),
        dex,
        OTHER_CLIENT_ID,
        &person.email,
        &person.password,
    );
    let (header, payload, signature) = parts(&alice);
    let tampered = {
        let mut claims: Value = serde_json::from_slice(&unb64(&payload)).expect("claims");
        claims["groups"] = json!(["kubenova-platform", "tenant-acme-owners"]);
        claims["email"] = json!("mallory@example.test");
        format!(
            "{header}.{}.{signature}",
            b64(claims.to_string().as_bytes())
        )
    };
    let unsigned = {
        let claims: Value = serde_json::from_slice(&unb64(&payload)).expect("claims");
        format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes())
        )
    };
    let wrong_issuer = {
        let mut claims: Value = serde_json::from_slice(&unb64(&payload)).expect("claims");
        claims["iss"] = json!("https://evil.example.test/dex");
        format!(
            "{header}.{}.{signature}",
            b64(claims.to_string().as_bytes())
        )
    };
    let unknown_key = flows::signed_by_a_stranger(h.env, &unb64(&payload));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "replayed after revocation",
            alice.clone(),
            "exchanged before",
        ),
        (
            "another application's",
            other_audience,
            "meant for another application",
        ),
        ("tampered claims", tampered, "signature does not verify"),
        ("unsigned (alg none)", unsigned, "not a JWT"),
        (
            "from an unknown issuer",
            wrong_issuer,
            "not one this server trusts",
        ),
        ("signed by an unknown key", unknown_key, "does not publish"),
        ("not a JWT at all", "garbage".into(), "not a JWT"),
    ];
    for (what, token, why) in cases {
        let (status, body) = login(&token, json!({}));
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["code"], "KN-401", "{what}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{what}: {why:?} not in {message:?}");
        let records = recorded(&token);
        if token == alice {
            // Only the first exchange's record, still revoked.
            assert_eq!(records.len(), 1, "{what}: {records:?}");
            assert_eq!(records[0]["revoked"], true, "{what}: {records:?}");
        } else {
            assert!(
                records.is_empty(),
                "{what}: a token was issued: {records:?}"
            );
        }
    }

    // Expired: a fresh ID token, kept past its lifetime (no clock skew configured here).
    let late = id_token_of("alice");
    std::thread::sleep(ID_TOKEN_TTL + Duration::from_secs(2));
    let (status, body) = login(&late, json!({}));
    assert_eq!(status, 401, "expired: {body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("it has expired"),
        "{body}"
    );
    assert!(
        recorded(&late).is_empty(),
        "an expired ID token was exchanged"
    );
}

/// Runs `cmd` to the end with `stdin` written to it: (exit code, stdout, stderr).
fn finish(mut cmd: Command, stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubenova");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("kubenova");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn parts(jwt: &str) -> (String, String, String) {
    let mut it = jwt.split('.').map(str::to_owned);
    (
        it.next().expect("header"),
        it.next().expect("payload"),
        it.next().expect("signature"),
    )
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url")
}

/// The CLI signs in with an ID token it is given (as a CI job holding its provider's token
/// would) and lists the providers.
#[test]
fn the_cli_signs_in_with_an_id_token() {
    let h = harness();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root");
    let cli = testenv::workspace_binary(&root, "kubenova-cli", "kubenova").expect("kubenova");
    let config = h.env.dir().join("cli-config.yaml");
    let kubenova = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = Command::new(&cli);
        cmd.env("KUBENOVA_CONFIG", &config).args(args);
        finish(cmd, stdin)
    };
    let server = h.control.url.as_str();
    let (code, out, err) = kubenova(&["login", "--server", server, "--list-providers"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("corp\t"), "{out}");

    let (code, _, err) = kubenova(
        &["login", "--server", server, "--id-token-stdin"],
        Some(&id_token_of("carol")),
    );
    assert_eq!(code, 4, "no mapped group: forbidden: {err}");
    assert!(err.contains("KN-403"), "{err}");
    assert!(!config.exists(), "a refused sign-in wrote the config");

    let (code, out, err) = kubenova(
        &[
            "login",
            "--server",
            server,
            "--id-token-stdin",
            "--name",
            "corp",
        ],
        Some(&id_token_of("bob")),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("bob@example.test"), "{out}");
    let (code, out, err) = kubenova(&["whoami", "-o", "json"], None);
    assert_eq!(code, 0, "{err}");
    let me: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (&me["subject"], &me["roles"], &me["tenant"]),
        (
            &json!("bob@example.test"),
            &json!(["tenantOwner"]),
            &json!("acme")
        ),
        "{me}"
    );

    // The audit log from the CLI: refused to an owner; an admin reads the sign-ins.
    let (code, _, err) = kubenova(&["audit"], None);
    assert_eq!(code, 4, "an owner reads no audit log: {err}");
    assert!(err.contains("KN-403"), "{err}");
    let (code, _, err) = kubenova(
        &[
            "login",
            "--server",
            server,
            "--id-token-stdin",
            "--name",
            "corp-admin",
        ],
        Some(&id_token_of("alice")),
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = kubenova(&["audit", "--limit", "200", "-o", "json"], None);
    assert_eq!(code, 0, "{err}");
    let list: Value = serde_json::from_str(&out).expect("json");
    let items = list["items"].as_array().expect("items");
    assert!(
        items.iter().any(|e| e["action"] == "login.oidc"
            && e["result"] == 201
            && e["subject"] == "bob@example.test"
            && e["issuedTo"] == "bob@example.test"),
        "no sign-in of bob in the audit log: {list}"
    );
    assert!(!out.contains("eyJ"), "a token in the audit log: {out}");
    let (code, out, err) = kubenova(
        &["audit", "--actor", "nobody@example.test", "-o", "json"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let list: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(list["items"], json!([]), "{list}");
}
