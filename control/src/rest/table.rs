//! The authorization table: every route, the roles that may call it and the scope it needs.
//! The [`authorize`](super::auth::authorize) middleware enforces it; handlers never decide who
//! may call them. A route that is missing here is refused (fail closed).

use axum::http::Method;
use kubenova_api::Role;

/// How a route's path relates to a token's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// No token needed (health, version, metrics, JWKS, OpenAPI).
    Public,
    /// Platform-wide: only platform roles (admin, ops) ever reach it.
    Platform,
    /// The tenant `{t}` in the path: a tenant-scoped token for that tenant (or a platform role).
    Tenant,
    /// The project `{t}`/`{p}` in the path: a tenant-scoped token for `{t}` or a project-scoped
    /// token for exactly that project (or a platform role).
    Project,
    /// Any valid token; the objects it acts on are filtered to the token's own scope
    /// ([`Principal::covers`](super::auth::Principal::covers)).
    Own,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path template, as axum matches it.
    pub path: &'static str,
    /// A stable name for logs, audit and OpenAPI (`tenants.create`).
    pub action: &'static str,
    /// Who may call it (ignored for [`Level::Public`]).
    pub roles: &'static [Role],
    /// The scope rule.
    pub level: Level,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
}

use Level::{Own, Platform, Project, Public, Tenant};
use Role::{Admin, Ops, ProjectDev, ReadOnly, TenantOwner};

const PLATFORM: &[Role] = &[Admin, Ops];
const ADMIN: &[Role] = &[Admin];
const OWNERS: &[Role] = &[Admin, Ops, TenantOwner];
const TENANT_READERS: &[Role] = &[Admin, Ops, TenantOwner, ReadOnly];
const APP_WRITERS: &[Role] = &[Admin, Ops, TenantOwner, ProjectDev];
const EVERYONE: &[Role] = &[Admin, Ops, TenantOwner, ProjectDev, ReadOnly];
const NONE: &[Role] = &[];

macro_rules! route {
    ($method:ident $path:literal, $action:literal, $roles:expr, $level:expr, $summary:literal) => {
        Route {
            method: Method::$method,
            path: $path,
            action: $action,
            roles: $roles,
            level: $level,
            summary: $summary,
        }
    };
}

/// Every route of the service.
pub const ROUTES: &[Route] = &[
    route!(GET "/healthz", "meta.healthz", NONE, Public, "Liveness: the process serves requests"),
    route!(GET "/readyz", "meta.readyz", NONE, Public, "Readiness: the management cluster answers and keys are loaded"),
    route!(GET "/version", "meta.version", NONE, Public, "The control plane's version"),
    route!(GET "/metrics", "meta.metrics", NONE, Public, "Prometheus metrics"),
    route!(GET "/.well-known/jwks.json", "meta.jwks", NONE, Public, "The public keys tokens are signed with (JWKS)"),
    route!(GET "/api/v1/openapi.json", "meta.openapi", NONE, Public, "This API's OpenAPI document"),
    // Clusters.
    route!(POST "/api/v1/clusters", "clusters.create", PLATFORM, Platform, "Register a workload cluster"),
    route!(GET "/api/v1/clusters", "clusters.list", PLATFORM, Platform, "List registered clusters"),
    route!(GET "/api/v1/clusters/{c}", "clusters.get", PLATFORM, Platform, "Get a cluster and its conditions (checked live)"),
    route!(DELETE "/api/v1/clusters/{c}", "clusters.delete", PLATFORM, Platform, "Unregister a cluster (refused while it has tenants)"),
    route!(GET "/api/v1/clusters/{c}/kubeconfig", "clusters.kubeconfig", ADMIN, Platform, "The cluster's admin kubeconfig (admin only)"),
    // Tenants.
    route!(POST "/api/v1/clusters/{c}/tenants", "tenants.create", PLATFORM, Platform, "Create a tenant"),
    route!(GET "/api/v1/clusters/{c}/tenants", "tenants.list", PLATFORM, Platform, "List the cluster's tenants"),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}", "tenants.get", TENANT_READERS, Tenant, "Get a tenant"),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}", "tenants.update", PLATFORM, Tenant, "Replace a tenant's settings"),
    route!(DELETE "/api/v1/clusters/{c}/tenants/{t}", "tenants.delete", PLATFORM, Tenant, "Delete a tenant"),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/owners", "tenants.owners", OWNERS, Tenant, "Replace a tenant's owners"),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/quotas", "tenants.quotas", PLATFORM, Tenant, "Replace a tenant's quota"),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/limits", "tenants.limits", PLATFORM, Tenant, "Replace a tenant's default limits"),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/network-policies", "tenants.network-policies", PLATFORM, Tenant, "Replace a tenant's network isolation: tenant or project, namespaces allowed in and out, egress address blocks"),
    route!(GET "/api/v1/tenants/{t}/usage", "tenants.usage", TENANT_READERS, Tenant, "A tenant's quota use, in total and per project"),
    // Projects.
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects", "projects.create", OWNERS, Tenant, "Create a project"),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects", "projects.list", TENANT_READERS, Tenant, "List a tenant's projects"),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}", "projects.get", TENANT_READERS, Project, "Get a project"),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/projects/{p}", "projects.update", OWNERS, Project, "Replace a project's settings"),
    route!(DELETE "/api/v1/clusters/{c}/tenants/{t}/projects/{p}", "projects.delete", OWNERS, Project, "Delete a project"),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/access", "projects.access", OWNERS, Project, "Replace who gets projectDev and readOnly kubeconfigs"),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/usage", "projects.usage", TENANT_READERS, Project, "A project's quota use"),
    // Kubeconfigs.
    route!(POST "/api/v1/tenants/{t}/kubeconfig", "kubeconfigs.tenant", OWNERS, Tenant, "Issue a tenant-scoped kubeconfig"),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/kubeconfig", "kubeconfigs.tenant", OWNERS, Tenant, "Issue a tenant-scoped kubeconfig"),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/kubeconfig", "kubeconfigs.project", EVERYONE, Project, "Issue a project-scoped kubeconfig (?role=projectDev|readOnly)"),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/kubeconfig", "kubeconfigs.project", APP_WRITERS, Project, "Issue a project-scoped kubeconfig"),
    // Tokens.
    route!(GET "/api/v1/tokens", "tokens.list", EVERYONE, Own, "List issued tokens in the caller's scope"),
    route!(POST "/api/v1/tokens", "tokens.create", OWNERS, Own, "Mint an API token (admin; ops not admin; tenantOwner narrower in its tenant)"),
    route!(DELETE "/api/v1/tokens/{jti}", "tokens.revoke", APP_WRITERS, Own, "Revoke a token (proxies refuse it within 2 s)"),
    route!(GET "/api/v1/me", "tokens.me", EVERYONE, Own, "Who the caller's token says they are"),
    // Apps.
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps", "apps.create", APP_WRITERS, Project, "Create an app (a Helm chart or a container image)"),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps", "apps.list", EVERYONE, Project, "List the project's apps"),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}", "apps.get", EVERYONE, Project, "Get an app: its spec and what the cluster reports"),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}", "apps.update", APP_WRITERS, Project, "Replace an app (credentials left out keep their Secret)"),
    route!(DELETE "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}", "apps.delete", APP_WRITERS, Project, "Delete an app and everything made for it"),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}", "apps.action", APP_WRITERS, Project, "An app action, `{a}` = `<app>:deploy|suspend|resume|rollback|image-update|delete`"),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/traits", "apps.traits", APP_WRITERS, Project, "Replace an app's pass-through KubeVela traits"),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/policies", "apps.policies", APP_WRITERS, Project, "Replace an app's pass-through KubeVela policies"),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/status", "apps.status", EVERYONE, Project, "An app's status: phase, revision, last deploy and edit, last error, components, pods"),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/revisions", "apps.revisions", EVERYONE, Project, "An app's KubeVela revisions"),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/logs", "apps.logs", EVERYONE, Project, "An app's pod logs (?component=&follow=&tail=)"),
];

/// The row for `method` on the matched path template, if any (HEAD counts as GET).
pub fn lookup(method: &Method, path: &str) -> Option<&'static Route> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    ROUTES
        .iter()
        .find(|r| r.method == *method && r.path == path)
}

/// Whether a method changes state (audited; never allowed to readOnly).
pub fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_never_reaches_a_mutating_route_and_routes_are_unique() {
        for (i, route) in ROUTES.iter().enumerate() {
            if is_mutating(&route.method) {
                assert!(!route.roles.contains(&ReadOnly), "{}", route.path);
            }
            assert!(
                !ROUTES[..i]
                    .iter()
                    .any(|r| r.method == route.method && r.path == route.path),
                "{} {} twice",
                route.method,
                route.path
            );
            assert_eq!(
                route.level == Public,
                route.roles.is_empty(),
                "{}",
                route.path
            );
            let needs_tenant = matches!(route.level, Tenant | Project);
            assert!(
                !needs_tenant || route.path.contains("{t}"),
                "{}",
                route.path
            );
            assert!(
                route.level != Project || route.path.contains("{p}"),
                "{}",
                route.path
            );
        }
    }

    #[test]
    fn ops_never_gets_cluster_kubeconfigs() {
        let route = lookup(&Method::GET, "/api/v1/clusters/{c}/kubeconfig").expect("route");
        assert_eq!(route.roles, &[Admin]);
    }
}
