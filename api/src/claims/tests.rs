use super::*;
use crate::testutil::claims;
use Role::{Admin, Ops, ProjectDev, ReadOnly, TenantOwner};

fn tenant(t: &str) -> Scope {
    Scope::Tenant {
        tenant: t.to_owned(),
    }
}

fn project(t: &str, p: &str) -> Scope {
    Scope::Project {
        tenant: t.to_owned(),
        project: p.to_owned(),
    }
}

#[test]
fn scope_rules() {
    let long = "p".repeat(60);
    let bad_name = |field: &str, ch, position| {
        Err(ClaimsError::InvalidName(NameError::InvalidChar {
            field: field.into(),
            ch,
            position,
        }))
    };
    // name, roles, tenant, project, expected scope
    type Case<'a> = (
        &'a str,
        &'a [Role],
        Option<&'a str>,
        Option<&'a str>,
        Result<Scope, ClaimsError>,
    );
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("admin alone is platform", &[Admin], None, None, Ok(Scope::Platform)),
        ("ops alone is platform", &[Ops], None, None, Ok(Scope::Platform)),
        ("admin and ops together are platform", &[Admin, Ops], None, None, Ok(Scope::Platform)),
        ("tenant owner is tenant scoped", &[TenantOwner], Some("acme"), None, Ok(tenant("acme"))),
        ("project dev is project scoped", &[ProjectDev], Some("acme"), Some("shop"), Ok(project("acme", "shop"))),
        ("read-only without project is tenant scoped", &[ReadOnly], Some("acme"), None, Ok(tenant("acme"))),
        ("read-only with project is project scoped", &[ReadOnly], Some("acme"), Some("shop"), Ok(project("acme", "shop"))),
        ("read-only beside project dev shares the project", &[ProjectDev, ReadOnly], Some("acme"), Some("shop"), Ok(project("acme", "shop"))),
        ("no roles", &[], Some("acme"), None, Err(ClaimsError::NoRoles)),
        ("duplicate role", &[ReadOnly, ReadOnly], Some("acme"), None, Err(ClaimsError::DuplicateRole(ReadOnly))),
        ("platform mixed with scoped", &[Admin, TenantOwner], Some("acme"), None,
            Err(ClaimsError::PlatformMixedWithScoped { platform: Admin, scoped: TenantOwner })),
        ("platform role with tenant", &[Ops], Some("acme"), None, Err(ClaimsError::PlatformRoleWithScope(Ops))),
        ("platform role with project", &[Admin], None, Some("shop"), Err(ClaimsError::PlatformRoleWithScope(Admin))),
        ("tenant owner without tenant", &[TenantOwner], None, None, Err(ClaimsError::MissingTenant(TenantOwner))),
        ("project dev without tenant", &[ProjectDev], None, Some("shop"), Err(ClaimsError::MissingTenant(ProjectDev))),
        ("read-only without tenant", &[ReadOnly], None, None, Err(ClaimsError::MissingTenant(ReadOnly))),
        ("project dev without project", &[ProjectDev], Some("acme"), None, Err(ClaimsError::MissingProject(ProjectDev))),
        ("tenant owner with project", &[TenantOwner], Some("acme"), Some("shop"), Err(ClaimsError::ProjectNotAllowed(TenantOwner))),
        ("tenant owner and project dev in one token", &[TenantOwner, ProjectDev], Some("acme"), Some("shop"),
            Err(ClaimsError::ConflictingRoles(TenantOwner, ProjectDev))),
        ("tenant is not a DNS label", &[TenantOwner], Some("Acme"), None, bad_name("tenant", 'A', 1)),
        ("project is not a DNS label", &[ProjectDev], Some("acme"), Some("s_p"), bad_name("project", '_', 2)),
        ("tenant with a colon cannot forge group names", &[ReadOnly], Some("a:b"), None, bad_name("tenant", ':', 2)),
        ("project namespace longer than 63", &[ProjectDev], Some("acme"), Some(&long),
            Err(ClaimsError::InvalidName(NameError::TooLong { field: "project namespace".into(), len: 65 }))),
    ];
    for (name, roles, t, p, want) in cases {
        assert_eq!(claims(roles, t, p).scope(), want, "{name}");
    }
}

#[test]
fn subject_and_jti_rules() {
    let colon = ClaimsError::InvalidSubject(
        "must not contain ':' (it becomes part of the Kubernetes user name `kubenova:<sub>`)",
    );
    let control = ClaimsError::InvalidSubject("must not contain control characters");
    let cases: [(&str, &str, Result<(), ClaimsError>); 6] = [
        ("alice", "jti-1", Ok(())),
        ("robot-ci@acme.example", "jti-1", Ok(())),
        ("", "jti-1", Err(ClaimsError::EmptySubject)),
        ("system:admin", "jti-1", Err(colon)),
        ("alice\r\nImpersonate-Group x", "jti-1", Err(control)),
        ("alice", "", Err(ClaimsError::EmptyJti)),
    ];
    for (sub, jti, want) in cases {
        let mut c = claims(&[ReadOnly], Some("acme"), None);
        c.sub = sub.to_owned();
        c.jti = jti.to_owned();
        assert_eq!(c.scope().map(|_| ()), want, "sub={sub:?} jti={jti:?}");
    }
}

#[test]
fn json_uses_claim_names_and_omits_absent_scope() {
    let mut c = claims(&[Admin], None, None);
    c.cluster = None;
    let json = serde_json::to_value(&c).expect("serialize");
    let mut keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["aud", "exp", "iat", "iss", "jti", "nbf", "roles", "sub"]
    );
    assert_eq!(json["roles"], serde_json::json!(["admin"]));
    let back: Claims = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, c);
}

#[test]
fn json_round_trips_scoped_claims() {
    let c = claims(&[ProjectDev], Some("acme"), Some("shop"));
    let json = serde_json::to_string(&c).expect("serialize");
    assert!(json.contains(r#""roles":["projectDev"]"#), "{json}");
    assert!(json.contains(r#""tenant":"acme""#) && json.contains(r#""project":"shop""#));
    assert_eq!(
        serde_json::from_str::<Claims>(&json).expect("deserialize"),
        c
    );
}

#[test]
fn error_messages_never_echo_the_subject() {
    let mut c = claims(&[ReadOnly], Some("acme"), None);
    c.sub = "secret:value".to_owned();
    let msg = c.scope().expect_err("colon").to_string();
    assert!(!msg.contains("secret"), "{msg}");
}
