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
