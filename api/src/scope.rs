//! Where a token applies: the whole platform, one tenant, or one project.

use crate::names;

/// The part of the platform a token's roles apply to. One token carries exactly one scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything; only platform roles (admin, ops) have it.
    Platform,
    /// One tenant and all its projects.
    Tenant {
        /// The tenant's name.
        tenant: String,
    },
    /// One project of one tenant.
    Project {
        /// The tenant's name.
        tenant: String,
        /// The project's name within the tenant.
        project: String,
    },
}

impl Scope {
    /// The tenant, for tenant and project scopes.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Scope::Platform => None,
            Scope::Tenant { tenant } | Scope::Project { tenant, .. } => Some(tenant),
        }
    }

    /// The project, for project scope.
    pub fn project(&self) -> Option<&str> {
        match self {
            Scope::Project { project, .. } => Some(project),
            Scope::Platform | Scope::Tenant { .. } => None,
        }
    }

    /// The project namespace (`<tenant>-<project>`) for project scope.
    pub fn project_namespace(&self) -> Option<String> {
        match self {
            Scope::Project { tenant, project } => Some(names::project_namespace(tenant, project)),
            Scope::Platform | Scope::Tenant { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_follow_the_scope_kind() {
        let tenant = Scope::Tenant {
            tenant: "acme".into(),
        };
        let project = Scope::Project {
            tenant: "acme".into(),
            project: "shop".into(),
        };
        // scope, tenant(), project(), project_namespace()
        type Case<'a> = (&'a Scope, Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let cases: [Case; 3] = [
            (&Scope::Platform, None, None, None),
            (&tenant, Some("acme"), None, None),
            (&project, Some("acme"), Some("shop"), Some("acme-shop")),
        ];
        for (scope, want_tenant, want_project, want_ns) in cases {
            assert_eq!(scope.tenant(), want_tenant, "{scope:?}");
            assert_eq!(scope.project(), want_project, "{scope:?}");
            assert_eq!(scope.project_namespace().as_deref(), want_ns, "{scope:?}");
        }
    }
}
