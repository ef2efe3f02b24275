//! THE mapping from verified claims to the Kubernetes identity the proxy impersonates.
//!
//! The names built here are a contract with the RBAC bindings and Capsule tenants that control
//! creates (ARCHITECTURE.md, "Identity: one mapping, used everywhere"); changing one is an ADR.

use crate::claims::{Claims, ClaimsError};
use crate::role::Role;
use crate::scope::Scope;

/// The group Capsule treats as its users (`capsule-user-group`); tenant owners need it for
/// Capsule to apply tenant rules to them.
pub const CAPSULE_USER_GROUP: &str = "projectcapsule.dev";

/// The Kubernetes user for a subject: `kubenova:<sub>`.
pub fn user_name(sub: &str) -> String {
    format!("kubenova:{sub}")
}

/// The group of a tenant's owners: `kubenova:tenant:<t>:owner`.
pub fn tenant_owner_group(t: &str) -> String {
    format!("kubenova:tenant:{t}:owner")
}

/// The group with read access to a whole tenant: `kubenova:tenant:<t>:view`.
pub fn tenant_view_group(t: &str) -> String {
    format!("kubenova:tenant:{t}:view")
}

/// The group of a project's developers: `kubenova:project:<t>:<p>:dev`.
pub fn project_dev_group(t: &str, p: &str) -> String {
    format!("kubenova:project:{t}:{p}:dev")
}

/// The group with read access to one project: `kubenova:project:<t>:<p>:view`.
pub fn project_view_group(t: &str, p: &str) -> String {
    format!("kubenova:project:{t}:{p}:view")
}

/// A Kubernetes user and groups, sent as `Impersonate-User` and `Impersonate-Group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `Impersonate-User` value.
    pub user: String,
    /// The `Impersonate-Group` values, without duplicates.
    pub groups: Vec<String>,
}

/// The Kubernetes identity the proxy impersonates for verified claims.
///
/// Checks the claims with [`Claims::scope`] first. Platform roles (admin, ops) are refused with
/// [`ClaimsError::PlatformRoleNotImpersonated`]: the proxy serves only tenant- and
/// project-scoped identities, and platform operators use the cluster's own credentials rather
/// than a KubeNova token.
pub fn identity(claims: &Claims) -> Result<Identity, ClaimsError> {
    let scope = claims.scope()?;
    let mut groups: Vec<String> = Vec::new();
    for &role in &claims.roles {
        for group in role_groups(role, &scope)? {
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
    }
    Ok(Identity {
        user: user_name(&claims.sub),
        groups,
    })
}

/// Relies on `scope` having been checked against the roles by [`Claims::scope`].
fn role_groups(role: Role, scope: &Scope) -> Result<Vec<String>, ClaimsError> {
    let groups = match (role, scope) {
        (Role::Admin | Role::Ops, _) | (_, Scope::Platform) => {
            return Err(ClaimsError::PlatformRoleNotImpersonated(role));
        }
        (Role::TenantOwner, Scope::Tenant { tenant }) => {
            vec![tenant_owner_group(tenant), CAPSULE_USER_GROUP.to_owned()]
        }
        (Role::ReadOnly, Scope::Tenant { tenant }) => vec![tenant_view_group(tenant)],
        (Role::ProjectDev, Scope::Project { tenant, project }) => {
            vec![project_dev_group(tenant, project)]
        }
        (Role::ReadOnly, Scope::Project { tenant, project }) => {
            vec![project_view_group(tenant, project)]
        }
        // `Claims::scope` never pairs tenantOwner with a project or projectDev with a tenant;
        // refusing keeps this function total without trusting that silently.
        (Role::TenantOwner, Scope::Project { .. }) => {
            return Err(ClaimsError::ProjectNotAllowed(role));
        }
        (Role::ProjectDev, Scope::Tenant { .. }) => {
            return Err(ClaimsError::MissingProject(role));
        }
    };
    Ok(groups)
}

#[cfg(test)]
mod tests;
