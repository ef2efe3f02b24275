//! The roles a KubeNova token can carry.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a token's holder may do. Platform roles apply everywhere; scoped roles apply to the
/// tenant or project named in the same token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Platform administrator.
    Admin,
    /// Platform operator.
    Ops,
    /// Owner of one tenant (a Capsule tenant owner).
    TenantOwner,
    /// Developer in one project.
    ProjectDev,
    /// Read-only access to one tenant or one project.
    ReadOnly,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Ops,
        Role::TenantOwner,
        Role::ProjectDev,
        Role::ReadOnly,
    ];

    /// Whether the role applies platform-wide rather than to one tenant or project.
    pub fn is_platform(self) -> bool {
        matches!(self, Role::Admin | Role::Ops)
    }

    /// The ordering of roles by what they may do: admin > ops > tenantOwner > projectDev >
    /// readOnly. Nothing issued outranks the caller's highest role.
    pub fn rank(self) -> u8 {
        match self {
            Role::Admin => 4,
            Role::Ops => 3,
            Role::TenantOwner => 2,
            Role::ProjectDev => 1,
            Role::ReadOnly => 0,
        }
    }

    /// The highest rank among `roles` (`None` for no roles).
    pub fn highest(roles: &[Role]) -> Option<u8> {
        roles.iter().map(|r| r.rank()).max()
    }

    /// Who may mint an API token carrying `other`: an admin any role, ops any but admin, a
    /// tenant owner projectDev and readOnly (in its own tenant), the others none.
    pub fn may_mint(self, other: Role) -> bool {
        match self {
            Role::Admin => true,
            Role::Ops => other != Role::Admin,
            Role::TenantOwner => matches!(other, Role::ProjectDev | Role::ReadOnly),
            Role::ProjectDev | Role::ReadOnly => false,
        }
    }

    /// The name used in JSON, in the `roles` claim and in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Ops => "ops",
            Role::TenantOwner => "tenantOwner",
            Role::ProjectDev => "projectDev",
            Role::ReadOnly => "readOnly",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`; allowed roles are admin, ops, tenantOwner, projectDev, readOnly")]
pub struct ParseRoleError(String);

impl FromStr for Role {
    type Err = ParseRoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            // The input is echoed back to the caller; cap it so a huge value cannot bloat errors.
            .ok_or_else(|| ParseRoleError(s.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [(Role, &str, bool); 5] = [
        (Role::Admin, "admin", true),
        (Role::Ops, "ops", true),
        (Role::TenantOwner, "tenantOwner", false),
        (Role::ProjectDev, "projectDev", false),
        (Role::ReadOnly, "readOnly", false),
    ];

    #[test]
    fn json_display_and_from_str_use_the_same_camel_case_name() {
        for (role, name, _) in NAMES {
            assert_eq!(role.as_str(), name);
            assert_eq!(role.to_string(), name);
            assert_eq!(name.parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).expect("serialize");
            assert_eq!(json, format!("\"{name}\""));
            let back: Role = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, role);
        }
    }

    #[test]
    fn only_admin_and_ops_are_platform_roles() {
        for (role, name, platform) in NAMES {
            assert_eq!(role.is_platform(), platform, "{name}");
        }
    }

    #[test]
    fn roles_are_ordered_and_mint_only_below_or_beside_themselves() {
        use Role::{Admin, Ops, ProjectDev, ReadOnly, TenantOwner};
        let order = [Admin, Ops, TenantOwner, ProjectDev, ReadOnly];
        for pair in order.windows(2) {
            assert!(pair[0].rank() > pair[1].rank(), "{} > {}", pair[0], pair[1]);
        }
        assert_eq!(
            Role::highest(&[ReadOnly, TenantOwner]),
            Some(TenantOwner.rank())
        );
        assert_eq!(Role::highest(&[]), None);
        // (minter, minted, allowed)
        let table = [
            (Admin, Admin, true),
            (Admin, Ops, true),
            (Ops, Admin, false),
            (Ops, Ops, true),
            (Ops, TenantOwner, true),
            (TenantOwner, Ops, false),
            (TenantOwner, TenantOwner, false),
            (TenantOwner, ProjectDev, true),
            (TenantOwner, ReadOnly, true),
            (ProjectDev, ProjectDev, false),
            (ProjectDev, ReadOnly, false),
            (ReadOnly, ReadOnly, false),
        ];
        for (minter, minted, allowed) in table {
            assert_eq!(minter.may_mint(minted), allowed, "{minter} mints {minted}");
            if allowed {
                assert!(minted.rank() <= minter.rank(), "{minter} mints {minted}");
            }
        }
    }

    #[test]
    fn unknown_role_error_names_the_allowed_values() {
        let err = "Admin".parse::<Role>().expect_err("case matters");
        let msg = err.to_string();
        assert!(msg.contains("`Admin`"), "{msg}");
        for (_, name, _) in NAMES {
            assert!(msg.contains(name), "{msg} lacks {name}");
        }
    }

    #[test]
    fn unknown_role_in_json_is_rejected() {
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }
}
