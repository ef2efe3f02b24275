use super::*;
use crate::testutil::claims;
use Role::{Admin, Ops, ProjectDev, ReadOnly, TenantOwner};

#[test]
fn name_builders_follow_the_contract() {
    assert_eq!(user_name("alice"), "kubenova:alice");
    assert_eq!(tenant_owner_group("acme"), "kubenova:tenant:acme:owner");
    assert_eq!(tenant_view_group("acme"), "kubenova:tenant:acme:view");
    assert_eq!(
        project_dev_group("acme", "shop"),
        "kubenova:project:acme:shop:dev"
    );
    assert_eq!(
        project_view_group("acme", "shop"),
        "kubenova:project:acme:shop:view"
    );
    assert_eq!(CAPSULE_USER_GROUP, "projectcapsule.dev");
}

#[test]
fn each_scoped_role_maps_to_the_documented_identity() {
    // name, roles, project (tenant is acme), groups
    type Case = (
        &'static str,
        &'static [Role],
        Option<&'static str>,
        &'static [&'static str],
    );
    #[rustfmt::skip]
    let cases: [Case; 6] = [
        ("tenantOwner", &[TenantOwner], None, &["kubenova:tenant:acme:owner", "projectcapsule.dev"]),
        ("projectDev", &[ProjectDev], Some("shop"), &["kubenova:project:acme:shop:dev"]),
        ("readOnly (tenant)", &[ReadOnly], None, &["kubenova:tenant:acme:view"]),
        ("readOnly (project)", &[ReadOnly], Some("shop"), &["kubenova:project:acme:shop:view"]),
        ("tenantOwner + readOnly", &[TenantOwner, ReadOnly], None,
            &["kubenova:tenant:acme:owner", "projectcapsule.dev", "kubenova:tenant:acme:view"]),
        ("projectDev + readOnly", &[ProjectDev, ReadOnly], Some("shop"),
            &["kubenova:project:acme:shop:dev", "kubenova:project:acme:shop:view"]),
    ];
    for (name, roles, project, groups) in cases {
        let id = identity(&claims(roles, Some("acme"), project)).expect(name);
        assert_eq!(id.user, "kubenova:alice", "{name}");
        assert_eq!(id.groups, groups, "{name}");
    }
}

#[test]
fn platform_roles_are_not_impersonated() {
    for role in [Admin, Ops] {
        let err = identity(&claims(&[role], None, None)).expect_err("platform");
        assert_eq!(err, ClaimsError::PlatformRoleNotImpersonated(role));
        assert!(
            err.to_string().contains("cluster's own credentials"),
            "{err}"
        );
    }
}

#[test]
fn inconsistent_claims_are_refused_before_mapping() {
    let err = identity(&claims(
        &[TenantOwner, ProjectDev],
        Some("acme"),
        Some("shop"),
    ));
    assert_eq!(
        err,
        Err(ClaimsError::ConflictingRoles(TenantOwner, ProjectDev))
    );
}

#[test]
fn a_token_never_yields_a_system_user_or_group() {
    let subjects = [
        "system",
        "system-admin",
        "system:admin",
        "system:masters",
        "",
        "x:y",
    ];
    let tenants = ["system", "system-masters", "system:masters", "kube-system"];
    let roles: [&[Role]; 4] = [&[TenantOwner], &[ProjectDev], &[ReadOnly], &[Admin]];
    for sub in subjects {
        for tenant in tenants {
            for roles in roles {
                for project in [None, Some("system"), Some("masters:x")] {
                    let mut c = claims(roles, Some(tenant), project);
                    c.sub = sub.to_owned();
                    let Ok(id) = identity(&c) else { continue };
                    assert!(id.user.starts_with("kubenova:"), "{id:?}");
                    assert!(!id.user["kubenova:".len()..].contains(':'), "{id:?}");
                    for group in &id.groups {
                        assert!(!group.starts_with("system:"), "{id:?}");
                        let ok = group.starts_with("kubenova:") || group == CAPSULE_USER_GROUP;
                        assert!(ok, "{id:?}");
                    }
                }
            }
        }
    }
}
