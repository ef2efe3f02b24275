use super::*;

fn principal(roles: &[Role], tenant: Option<&str>, project: Option<&str>, sub: &str) -> Principal {
    let claims = Claims {
        iss: "i".into(),
        sub: sub.into(),
        aud: API_AUDIENCE.into(),
        exp: 0,
        nbf: 0,
        iat: 0,
        jti: "j".into(),
        roles: roles.to_vec(),
        tenant: tenant.map(str::to_owned),
        project: project.map(str::to_owned),
        cluster: None,
    };
    let scope = claims.scope().expect("valid claims");
    Principal {
        claims,
        scope,
        issued_by: sub.into(),
    }
}

#[test]
fn issuing_needs_entitlement_and_no_escalation() {
    let owners = vec!["alice".to_owned()];
    let access = Access {
        developers: vec!["bob".into()],
        readers: vec!["carol".into()],
    };
    let admin = principal(&[Role::Admin], None, None, "root");
    let bob = principal(&[Role::ProjectDev], Some("acme"), Some("shop"), "bob");
    let carol = principal(&[Role::ReadOnly], Some("acme"), Some("shop"), "carol");
    let alice = principal(&[Role::TenantOwner], Some("acme"), None, "alice");
    let ok = |p: &Principal, s: &str, r: Role, a: Option<&Access>| {
        may_issue(p, s, r, &owners, a).map_err(|e| e.status.as_u16())
    };
    // (caller, subject, role, project access, expected)
    assert_eq!(ok(&admin, "alice", Role::TenantOwner, None), Ok(()));
    assert_eq!(ok(&admin, "bob", Role::TenantOwner, None), Err(403));
    assert_eq!(ok(&admin, "bob", Role::ProjectDev, Some(&access)), Ok(()));
    assert_eq!(
        ok(&admin, "carol", Role::ProjectDev, Some(&access)),
        Err(403)
    );
    assert_eq!(ok(&admin, "carol", Role::ReadOnly, Some(&access)), Ok(()));
    assert_eq!(ok(&alice, "bob", Role::ProjectDev, Some(&access)), Ok(()));
    assert_eq!(ok(&bob, "bob", Role::ProjectDev, Some(&access)), Ok(()));
    assert_eq!(ok(&bob, "carol", Role::ReadOnly, Some(&access)), Err(403));
    assert_eq!(
        ok(&carol, "carol", Role::ProjectDev, Some(&access)),
        Err(403)
    );
    assert_eq!(ok(&carol, "carol", Role::ReadOnly, Some(&access)), Ok(()));
    assert_eq!(ok(&bob, "bob", Role::TenantOwner, None), Err(403));
}

#[test]
fn who_mints_which_api_tokens_where() {
    use Role::{Admin, Ops, ProjectDev, ReadOnly, TenantOwner};
    let mint = |caller: &[Role], mine: Option<&str>, roles: &[Role], tenant: Option<&str>| {
        may_mint(caller, mine, roles, tenant).map_err(|e| e.message)
    };
    assert_eq!(mint(&[Admin], None, &[Admin, Ops], None), Ok(()));
    assert_eq!(
        mint(&[Ops], None, &[Admin], None),
        Err("only admins mint admin tokens".into())
    );
    assert_eq!(mint(&[Ops], None, &[TenantOwner], Some("acme")), Ok(()));
    assert_eq!(
        mint(
            &[TenantOwner],
            Some("acme"),
            &[ProjectDev, ReadOnly],
            Some("acme")
        ),
        Ok(())
    );
    assert_eq!(
        mint(&[TenantOwner], Some("acme"), &[TenantOwner], Some("acme")),
        Err("a tenant owner mints only projectDev or readOnly tokens".into())
    );
    assert_eq!(
        mint(&[TenantOwner], Some("acme"), &[Ops], None),
        Err("a tenant owner mints only projectDev or readOnly tokens".into())
    );
    assert_eq!(
        mint(&[TenantOwner], Some("acme"), &[ReadOnly], Some("other")),
        Err("a tenant owner mints tokens only for its own tenant (acme)".into())
    );
    assert!(mint(&[TenantOwner], Some("acme"), &[ReadOnly], None).is_err());
}

#[test]
fn kubeconfig_never_skips_tls_verification() {
    let text = render_kubeconfig(
        "c-t",
        "https://proxy:8443",
        "-----BEGIN CERTIFICATE-----",
        "tok",
        None,
    );
    let v: serde_json::Value = serde_yaml::from_str(&text).expect("yaml");
    assert_eq!(v["clusters"][0]["cluster"]["server"], "https://proxy:8443");
    assert!(v["clusters"][0]["cluster"]["certificate-authority-data"].is_string());
    assert!(!text.contains("insecure-skip-tls-verify"));
    assert_eq!(v["users"][0]["user"]["token"], "tok");
    assert!(v["contexts"][0]["context"].get("namespace").is_none());
}

#[test]
fn a_project_kubeconfig_defaults_to_the_project_namespace() {
    let text = render_kubeconfig("c-t-p", "https://p", "ca", "tok", Some("t-p"));
    let v: serde_json::Value = serde_yaml::from_str(&text).expect("yaml");
    assert_eq!(v["contexts"][0]["context"]["namespace"], "t-p");
    assert_eq!(v["current-context"], "c-t-p");
}

#[test]
fn ttl_is_bounded() {
    let h = std::time::Duration::from_secs(3600);
    let day = 86_400;
    assert_eq!(ttl(None, h, h * 2, day), Ok(3600));
    assert_eq!(ttl(Some(7200), h, h * 2, day), Ok(7200));
    assert_eq!(
        ttl(Some(7201), h, h * 2, day).map_err(|e| e.status.as_u16()),
        Err(422)
    );
    assert_eq!(
        ttl(Some(0), h, h * 2, day).map_err(|e| e.status.as_u16()),
        Err(422)
    );
    // Never longer than the caller's own token: the default is shortened, a request for
    // more refused.
    assert_eq!(ttl(None, h, h * 2, 120), Ok(120));
    let e = ttl(Some(600), h, h * 2, 120).expect_err("too long");
    assert_eq!(e.status.as_u16(), 422);
    assert!(e.message.contains("at most 120"), "{}", e.message);
    assert_eq!(
        ttl(None, h, h * 2, 0).map_err(|e| e.status.as_u16()),
        Err(422)
    );
    assert_eq!(new_jti().len(), 32);
}

#[test]
fn an_exec_kubeconfig_runs_the_credential_plugin_and_holds_no_token() {
    let args = credential_args("main", "acme", Some("web"), Role::ReadOnly);
    let text = render_exec_kubeconfig("main-acme-web", "https://p", "ca", &args, Some("acme-web"));
    let v: serde_json::Value = serde_yaml::from_str(&text).expect("yaml");
    let user = &v["users"][0]["user"];
    assert!(user.get("token").is_none(), "{text}");
    assert_eq!(user["exec"]["apiVersion"], EXEC_API_VERSION);
    assert_eq!(user["exec"]["command"], "kubenova");
    assert_eq!(user["exec"]["interactiveMode"], "Never");
    assert_eq!(
        user["exec"]["args"],
        serde_json::json!([
            "credential",
            "--cluster",
            "main",
            "--tenant",
            "acme",
            "--project",
            "web",
            "--role",
            "readOnly"
        ])
    );
    assert_eq!(v["contexts"][0]["context"]["namespace"], "acme-web");
}
