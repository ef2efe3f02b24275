//! The claims of a KubeNova JWT and the rules that make them consistent.

use serde::{Deserialize, Serialize};

use crate::names::{self, NameError};
use crate::role::Role;
use crate::scope::Scope;

/// `aud` of kubeconfig tokens, which the authenticating proxy accepts.
pub const PROXY_AUDIENCE: &str = "kubenova-proxy";
/// `aud` of tokens for the REST API.
pub const API_AUDIENCE: &str = "kubenova-api";

/// The payload of a KubeNova JWT. Field names are the JSON claim names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the control plane's URL.
    pub iss: String,
    /// Subject: the person or robot. Becomes the Kubernetes user `kubenova:<sub>`.
    pub sub: String,
    /// Audience: [`PROXY_AUDIENCE`] or [`API_AUDIENCE`].
    pub aud: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Not before, unix seconds.
    pub nbf: i64,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Token id; what revocation names.
    pub jti: String,
    /// What the holder may do, within the scope given by `tenant` and `project`.
    pub roles: Vec<Role>,
    /// The tenant, for scoped roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The project within the tenant, for project-scoped tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The workload cluster a kubeconfig token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// Why a token's claims are inconsistent or cannot be served. Messages are shown to the client
/// (in KN-401/KN-403 bodies), so they describe the claims and never quote the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// `roles` is empty.
    #[error("the token carries no roles")]
    NoRoles,
    /// A role is listed twice.
    #[error("the token lists role `{0}` more than once")]
    DuplicateRole(Role),
    /// A platform role is combined with a tenant or project role.
    #[error(
        "role `{platform}` is platform-wide and cannot be combined with the scoped role `{scoped}`"
    )]
    PlatformMixedWithScoped {
        /// The platform role.
        platform: Role,
        /// The scoped role.
        scoped: Role,
    },
    /// A platform role comes with a `tenant` or `project` claim.
    #[error("role `{0}` is platform-wide; the token must not name a tenant or project")]
    PlatformRoleWithScope(Role),
    /// A scoped role has no `tenant` claim.
    #[error("role `{0}` needs a `tenant` claim")]
    MissingTenant(Role),
    /// `projectDev` has no `project` claim.
    #[error("role `{0}` needs a `project` claim")]
    MissingProject(Role),
    /// `tenantOwner` comes with a `project` claim.
    #[error("role `{0}` is tenant-wide; the token must not name a project")]
    ProjectNotAllowed(Role),
    /// Two roles that need different scopes share one token.
    #[error("roles `{0}` and `{1}` need different scopes; one token carries one scope")]
    ConflictingRoles(Role, Role),
    /// `tenant` or `project` is not a valid name.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// `sub` is empty.
    #[error("the `sub` claim is empty")]
    EmptySubject,
    /// `sub` cannot be part of a Kubernetes user name.
    #[error("the `sub` claim {0}")]
    InvalidSubject(&'static str),
    /// `jti` is empty.
    #[error("the `jti` claim is empty")]
    EmptyJti,
    /// The proxy impersonates only tenant and project identities.
    #[error(
        "role `{0}` is platform-wide; the kubectl proxy serves only tenant and project tokens (platform operators use the cluster's own credentials)"
    )]
    PlatformRoleNotImpersonated(Role),
}

impl Claims {
    /// Checks the roles and scope claims are consistent and returns the scope.
    ///
    /// Also checks `sub` and `jti`, since every consumer of a scope also names the subject and
    /// the token.
    pub fn scope(&self) -> Result<Scope, ClaimsError> {
        check_subject(&self.sub)?;
        if self.jti.is_empty() {
            return Err(ClaimsError::EmptyJti);
        }
        if self.roles.is_empty() {
            return Err(ClaimsError::NoRoles);
        }
        for (index, role) in self.roles.iter().enumerate() {
            if self.roles[..index].contains(role) {
                return Err(ClaimsError::DuplicateRole(*role));
            }
        }
        let platform = self.roles.iter().copied().find(|r| r.is_platform());
        let scoped = self.roles.iter().copied().find(|r| !r.is_platform());
        match (platform, scoped) {
            (Some(platform), Some(scoped)) => {
                Err(ClaimsError::PlatformMixedWithScoped { platform, scoped })
            }
            (Some(platform), None) if self.tenant.is_some() || self.project.is_some() => {
                Err(ClaimsError::PlatformRoleWithScope(platform))
            }
            (Some(_), None) => Ok(Scope::Platform),
            (None, Some(first)) => self.scoped_scope(first),
            (None, None) => Err(ClaimsError::NoRoles),
        }
    }

    fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    fn scoped_scope(&self, first: Role) -> Result<Scope, ClaimsError> {
        if self.has(Role::TenantOwner) && self.has(Role::ProjectDev) {
            return Err(ClaimsError::ConflictingRoles(
                Role::TenantOwner,
                Role::ProjectDev,
            ));
        }
        let tenant = self
            .tenant
            .clone()
            .ok_or(ClaimsError::MissingTenant(first))?;
        names::validate_dns1123_label("tenant", &tenant)?;
        let Some(project) = self.project.clone() else {
            if self.has(Role::ProjectDev) {
                return Err(ClaimsError::MissingProject(Role::ProjectDev));
            }
            return Ok(Scope::Tenant { tenant });
        };
        if self.has(Role::TenantOwner) {
            return Err(ClaimsError::ProjectNotAllowed(Role::TenantOwner));
        }
        names::validate_dns1123_label("project", &project)?;
        // Two valid labels can still join into a namespace name Kubernetes refuses.
        let namespace = names::project_namespace(&tenant, &project);
        names::validate_dns1123_label("project namespace", &namespace)?;
        Ok(Scope::Project { tenant, project })
    }
}

fn check_subject(sub: &str) -> Result<(), ClaimsError> {
    if sub.is_empty() {
        return Err(ClaimsError::EmptySubject);
    }
    // `sub` is embedded in the user name `kubenova:<sub>`; a ':' could forge a different
    // prefix (e.g. `kubenova:system:...` parsed by tooling) and control characters would break
    // the Impersonate-User header.
    if sub.contains(':') {
        return Err(ClaimsError::InvalidSubject(
            "must not contain ':' (it becomes part of the Kubernetes user name `kubenova:<sub>`)",
        ));
    }
    if sub.chars().any(char::is_control) {
        return Err(ClaimsError::InvalidSubject(
            "must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
