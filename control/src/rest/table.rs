//! The route table: one declaration per endpoint, the single source of the axum router
//! ([`super::router`]), the authorization middleware ([`super::auth::authorize`]) and the OpenAPI
//! document ([`super::openapi::document`]). See ADR 0013 and `docs/control.md` (adding an
//! endpoint).
//!
//! Each row says the method and path, the handler, the action (audit and metrics label), the
//! operationId, the roles that may call it, the scope it needs, and what it takes and answers. The
//! [`route!`] macro builds the handler's `MethodRouter` through [`typed`], which fails to compile
//! when the body type declared here is not the one the handler extracts. A route that is not in
//! this table does not exist: the router is built from it, and the middleware refuses a matched
//! path it cannot find here (fail closed).

use axum::http::Method;
use axum::routing::MethodRouter;
use kubenova_api::Role;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::Value;

use super::apps::{self, AppStatusView, AppView, ImageUpdateInput, LogsQuery, RevisionView};
use super::body::NoBody;
use super::dto::*;
use super::error::ApiError;
use super::{audit, clusters, login, meta, projects, tenants, tokens};
use crate::services::state::AppState;
use kubenova_api::apps::request::AppRequest;

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

/// A JSON Schema for the OpenAPI document.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Value;

/// The schema of `T`, as a `$ref` to `components/schemas` where schemars names it.
pub fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

/// A request body.
#[derive(Debug, Clone, Copy)]
pub struct Payload {
    /// Its schema.
    pub schema: SchemaFn,
    /// Whether it must be sent.
    pub required: bool,
    /// The example file in `docs/examples/` that documents it.
    pub example: Option<&'static str>,
    /// Parses a body as the handler does (tests check the examples with it).
    pub check: fn(&[u8]) -> Result<(), ApiError>,
}

/// Parses `bytes` as `T`, as the body extractors do.
pub fn check_as<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<(), ApiError> {
    super::body::parse::<T>(bytes).map(drop)
}

/// What a successful call answers.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// No body (`204`).
    Empty,
    /// A JSON body.
    Json(SchemaFn),
    /// `text/plain` (or another text type), described.
    Text(&'static str, &'static str),
}

/// One endpoint.
#[derive(Debug, Clone)]
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path template, as axum matches it.
    pub path: &'static str,
    /// A stable name for logs, audit and metrics (`tenants.create`); two routes share one when
    /// they are the same action by another path.
    pub action: &'static str,
    /// The OpenAPI operationId (unique).
    pub operation_id: &'static str,
    /// Who may call it (ignored for [`Level::Public`]).
    pub roles: &'static [Role],
    /// The scope rule.
    pub level: Level,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
    /// The handler, as axum routes it.
    pub handler: fn() -> MethodRouter<AppState>,
    /// The request body, if it takes one.
    pub request: Option<Payload>,
    /// The query string's fields, if it reads one.
    pub query: Option<SchemaFn>,
    /// The success status.
    pub status: u16,
    /// The success body.
    pub reply: Reply,
}

/// Compile-time checks that a handler extracts what its row declares.
pub mod typed {
    use axum::handler::Handler;

    use super::super::body::{Json, OptionalJson};
    use super::AppState;

    /// The tuple axum's [`Handler`] impls use for a handler's arguments, `(M, T1, .., Tn)`,
    /// ends with `X`.
    pub trait EndsWith<X> {}
    impl<M, A> EndsWith<A> for (M, A) {}
    impl<M, A, B> EndsWith<B> for (M, A, B) {}
    impl<M, A, B, C> EndsWith<C> for (M, A, B, C) {}
    impl<M, A, B, C, D> EndsWith<D> for (M, A, B, C, D) {}
    impl<M, A, B, C, D, E> EndsWith<E> for (M, A, B, C, D, E) {}
    impl<M, A, B, C, D, E, F> EndsWith<F> for (M, A, B, C, D, E, F) {}

    /// A handler whose last argument is `Json<B>`.
    pub fn body<B, H: Handler<T, AppState>, T: EndsWith<Json<B>>>(h: H) -> H {
        h
    }

    /// A handler whose last argument is `OptionalJson<B>`.
    pub fn optional<B, H: Handler<T, AppState>, T: EndsWith<OptionalJson<B>>>(h: H) -> H {
        h
    }

    /// A handler whose last argument is `X` ([`NoBody`](super::super::body::NoBody): it
    /// refuses a body).
    pub fn last<X, H: Handler<T, AppState>, T: EndsWith<X>>(h: H) -> H {
        h
    }
}

/// Declares one row. Forms after the summary, in this order, each optional:
/// `op "<operationId>"` (default: the action), `body T ["example.json"]` (required JSON body),
/// `optional T ["example.json"]` (optional JSON body), `takes NoBody` (refuses a body),
/// `loose T` (documents an optional body the handler checks itself), `query Q`,
/// then the reply: `=> 201 T`, `=> 204`, `=> 200 text "text/plain" "what"`,
/// `=> 200 schema f` (a [`SchemaFn`]).
macro_rules! route {
    (
        $method:ident $path:literal => $handler:path,
        $action:literal, $roles:expr, $level:ident, $summary:literal
        $(, op $op:literal)?
        $(, body $body:ty $([$bex:literal])?)?
        $(, optional $opt:ty $([$oex:literal])?)?
        $(, takes $nb:ty)?
        $(, loose $loose:ty)?
        $(, query $query:ty)?
        => $status:literal $($reply:tt)*
    ) => {
        Route {
            method: Method::$method,
            path: $path,
            action: $action,
            operation_id: route!(@op $action $(, $op)?),
            roles: $roles,
            level: Level::$level,
            summary: $summary,
            handler: {
                fn make() -> MethodRouter<AppState> {
                    let h = $handler;
                    $(let h = typed::body::<$body, _, _>(h);)?
                    $(let h = typed::optional::<$opt, _, _>(h);)?
                    $(let h = typed::last::<$nb, _, _>(h);)?
                    axum::routing::on(axum::routing::MethodFilter::$method, h)
                }
                make
            },
            request: route!(@payload
                $(($body, true, route!(@ex $($bex)?)))?
                $(($opt, false, route!(@ex $($oex)?)))?
                $(($loose, false, None))?
            ),
            query: route!(@query $($query)?),
            status: $status,
            reply: route!(@reply $($reply)*),
        }
    };
    (@op $action:literal) => { $action };
    (@op $action:literal, $op:literal) => { $op };
    (@ex) => { None };
    (@ex $ex:literal) => { Some($ex) };
    (@payload) => { None };
    (@payload ($t:ty, $required:expr, $ex:expr)) => {
        Some(Payload {
            schema: schema_of::<$t>,
            required: $required,
            example: $ex,
            check: check_as::<$t>,
        })
    };
    (@query) => { None };
    (@query $query:ty) => { Some(schema_of::<$query>) };
    (@reply) => { Reply::Empty };
    (@reply text $ct:literal $what:literal) => { Reply::Text($ct, $what) };
    (@reply schema $f:path) => { Reply::Json($f) };
    (@reply $t:ty) => { Reply::Json(schema_of::<$t>) };
}

use Role::{Admin, Ops, ProjectDev, ReadOnly, TenantOwner};

const PLATFORM: &[Role] = &[Admin, Ops];
const ADMIN: &[Role] = &[Admin];
const OWNERS: &[Role] = &[Admin, Ops, TenantOwner];
const TENANT_READERS: &[Role] = &[Admin, Ops, TenantOwner, ReadOnly];
const APP_WRITERS: &[Role] = &[Admin, Ops, TenantOwner, ProjectDev];
const EVERYONE: &[Role] = &[Admin, Ops, TenantOwner, ProjectDev, ReadOnly];
const NONE: &[Role] = &[];

/// Every route of the service.
pub const ROUTES: &[Route] = &[
    route!(GET "/healthz" => meta::healthz, "meta.healthz", NONE, Public, "Liveness: the process serves requests"
        => 200 text "text/plain" "`ok`"),
    route!(GET "/readyz" => meta::readyz, "meta.readyz", NONE, Public, "Readiness: the management cluster answers and keys are loaded"
        => 200 text "text/plain" "`ok`, or 503 with the reason"),
    route!(GET "/version" => meta::version, "meta.version", NONE, Public, "The control plane's version"
        => 200 VersionView),
    route!(GET "/metrics" => meta::metrics, "meta.metrics", NONE, Public, "Prometheus metrics"
        => 200 text "application/openmetrics-text" "OpenMetrics text"),
    route!(GET "/.well-known/jwks.json" => meta::jwks, "meta.jwks", NONE, Public, "The public keys tokens are signed with (JWKS)"
        => 200 schema meta::jwks_schema),
    route!(GET "/api/v1/openapi.json" => meta::openapi_json, "meta.openapi", NONE, Public, "This API's OpenAPI document"
        => 200 schema meta::openapi_schema),
    // Clusters.
    route!(POST "/api/v1/clusters" => clusters::create, "clusters.create", PLATFORM, Platform, "Register a workload cluster",
        body ClusterInput ["cluster.json"] => 201 ClusterView),
    route!(GET "/api/v1/clusters" => clusters::list, "clusters.list", PLATFORM, Platform, "List registered clusters"
        => 200 List<ClusterView>),
    route!(GET "/api/v1/clusters/{c}" => clusters::get, "clusters.get", PLATFORM, Platform, "Get a cluster and its conditions (checked live)"
        => 200 ClusterView),
    route!(DELETE "/api/v1/clusters/{c}" => clusters::delete, "clusters.delete", PLATFORM, Platform, "Unregister a cluster (refused while it has tenants)"
        => 204),
    route!(GET "/api/v1/clusters/{c}/kubeconfig" => clusters::kubeconfig, "clusters.kubeconfig", ADMIN, Platform, "The cluster's admin kubeconfig (admin only)"
        => 200 ClusterKubeconfig),
    // Tenants.
    route!(POST "/api/v1/clusters/{c}/tenants" => tenants::create, "tenants.create", PLATFORM, Platform, "Create a tenant",
        body TenantInput ["tenant.json"] => 201 TenantView),
    route!(GET "/api/v1/clusters/{c}/tenants" => tenants::list, "tenants.list", PLATFORM, Platform, "List the cluster's tenants"
        => 200 List<TenantView>),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}" => tenants::get, "tenants.get", TENANT_READERS, Tenant, "Get a tenant"
        => 200 TenantView),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}" => tenants::update, "tenants.update", PLATFORM, Tenant, "Replace a tenant's settings",
        body TenantSettings => 200 TenantView),
    route!(DELETE "/api/v1/clusters/{c}/tenants/{t}" => tenants::delete, "tenants.delete", PLATFORM, Tenant, "Delete a tenant: 202 with it being deleted (refused while it has projects)"
        => 202 TenantView),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/owners" => tenants::owners, "tenants.owners", OWNERS, Tenant, "Replace a tenant's owners",
        body OwnersInput ["owners.json"] => 200 TenantView),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/quotas" => tenants::quotas, "tenants.quotas", PLATFORM, Tenant, "Replace a tenant's quota",
        body kubenova_api::crd::Quota ["quota.json"] => 200 TenantView),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/limits" => tenants::limits, "tenants.limits", PLATFORM, Tenant, "Replace a tenant's default limits",
        body kubenova_api::crd::Limits ["limits.json"] => 200 TenantView),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/network-policies" => tenants::network_policies, "tenants.network-policies", PLATFORM, Tenant,
        "Replace a tenant's network isolation: tenant or project, namespaces allowed in and out, egress address blocks",
        body kubenova_api::crd::NetworkPolicySettings ["network-policies.json"] => 200 TenantView),
    route!(GET "/api/v1/tenants" => tenants::list_all, "tenants.listAll", PLATFORM, Platform, "List every tenant of every registered cluster (clusters that do not answer are named in `unreachable`)"
        => 200 AllTenants),
    route!(GET "/api/v1/tenants/{t}" => tenants::get_by_name, "tenants.getByName", TENANT_READERS, Tenant, "Get a tenant by its name alone (its cluster is looked up)"
        => 200 TenantView),
    route!(GET "/api/v1/tenants/{t}/usage" => tenants::usage, "tenants.usage", TENANT_READERS, Tenant, "A tenant's quota use, in total and per project"
        => 200 TenantUsage),
    // Projects.
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects" => projects::create, "projects.create", OWNERS, Tenant, "Create a project",
        body ProjectInput ["project.json"] => 201 ProjectView),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects" => projects::list, "projects.list", TENANT_READERS, Tenant, "List a tenant's projects"
        => 200 List<ProjectView>),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}" => projects::get, "projects.get", TENANT_READERS, Project, "Get a project"
        => 200 ProjectView),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/projects/{p}" => projects::update, "projects.update", OWNERS, Project, "Replace a project's settings",
        body ProjectSettings => 200 ProjectView),
    route!(DELETE "/api/v1/clusters/{c}/tenants/{t}/projects/{p}" => projects::delete, "projects.delete", OWNERS, Project, "Delete a project: 202 with it being deleted; its apps go first, then its namespace"
        => 202 ProjectView),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/access" => projects::access, "projects.access", OWNERS, Project, "Replace who gets projectDev and readOnly kubeconfigs",
        body kubenova_api::crd::Access ["access.json"] => 200 ProjectView),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/usage" => projects::usage, "projects.usage", TENANT_READERS, Project, "A project's quota use"
        => 200 ProjectUsage),
    // Kubeconfigs.
    route!(POST "/api/v1/tenants/{t}/kubeconfig" => tokens::kubeconfigs::tenant_short, "kubeconfigs.tenant", OWNERS, Tenant,
        "Issue a tenant-scoped kubeconfig (the tenant's cluster is looked up)",
        op "kubeconfigs.tenantByName", optional KubeconfigRequest, query KubeconfigQuery => 201 KubeconfigView),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/kubeconfig" => tokens::kubeconfigs::tenant, "kubeconfigs.tenant", OWNERS, Tenant, "Issue a tenant-scoped kubeconfig",
        optional KubeconfigRequest, query KubeconfigQuery => 201 KubeconfigView),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/kubeconfig" => tokens::kubeconfigs::project, "kubeconfigs.project", EVERYONE, Project,
        "Issue a project-scoped kubeconfig (?role=projectDev|readOnly)",
        op "kubeconfigs.projectByQuery", optional KubeconfigRequest, query KubeconfigQuery => 201 KubeconfigView),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/kubeconfig" => tokens::kubeconfigs::project, "kubeconfigs.project", APP_WRITERS, Project, "Issue a project-scoped kubeconfig",
        optional KubeconfigRequest ["kubeconfig-project.json"], query KubeconfigQuery => 201 KubeconfigView),
    // Credentials: short-lived proxy tokens for `kubenova credential` (exec kubeconfigs).
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/credential" => tokens::kubeconfigs::tenant_credential, "credentials.tenant", OWNERS, Tenant,
        "Mint a short-lived tenant proxy token for the caller (the exec plugin's; revoked with the caller's token)",
        takes NoBody, query CredentialQuery => 201 CredentialView),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/credential" => tokens::kubeconfigs::project_credential, "credentials.project", EVERYONE, Project,
        "Mint a short-lived project proxy token for the caller (?role=projectDev|readOnly; the exec plugin's, revoked with the caller's token)",
        op "credentials.projectByQuery", takes NoBody, query CredentialQuery => 201 CredentialView),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/credential" => tokens::kubeconfigs::project_credential, "credentials.project", APP_WRITERS, Project,
        "Mint a short-lived project proxy token for the caller (the exec plugin's; revoked with the caller's token)",
        takes NoBody, query CredentialQuery => 201 CredentialView),
    // Tokens.
    route!(GET "/api/v1/tokens" => tokens::list, "tokens.list", EVERYONE, Own, "List issued tokens in the caller's scope"
        => 200 TokenList),
    route!(POST "/api/v1/tokens" => tokens::create, "tokens.create", OWNERS, Own, "Mint an API token (admin; ops not admin; tenantOwner narrower in its tenant)",
        body TokenInput ["token.json"] => 201 TokenView),
    route!(DELETE "/api/v1/tokens/{jti}" => tokens::revoke, "tokens.revoke", APP_WRITERS, Own, "Revoke a token (proxies refuse it within 2 s)"
        => 200 TokenRecordView),
    // The audit log.
    route!(GET "/api/v1/audit" => audit::list, "audit.list", ADMIN, Platform,
        "The recent audit events of every control replica, newest first (admin only)",
        query audit::AuditQuery => 200 audit::AuditList),
    // Signing in through an identity provider.
    route!(GET "/api/v1/login/oidc" => login::providers, "login.providers", NONE, Public, "The identity providers people may sign in through (empty when none is configured)"
        => 200 login::Providers),
    route!(POST "/api/v1/login/oidc" => login::oidc, "login.oidc", NONE, Public,
        "Exchange a provider's ID token for an API token; its role and scope come from the person's groups (each ID token once)",
        body login::LoginInput ["login-oidc.json"] => 201 login::LoginView),
    route!(GET "/api/v1/me" => tokens::me, "tokens.me", EVERYONE, Own, "Who the caller's token says they are"
        => 200 Me),
    // Apps.
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps" => apps::create, "apps.create", APP_WRITERS, Project, "Create an app (a Helm chart or a container image)",
        body AppRequest ["grafana-app.json"] => 201 AppView),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps" => apps::list, "apps.list", EVERYONE, Project, "List the project's apps"
        => 200 List<AppView>),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}" => apps::get, "apps.get", EVERYONE, Project, "Get an app: its spec and what the cluster reports"
        => 200 AppView),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}" => apps::update, "apps.update", APP_WRITERS, Project, "Replace an app (credentials left out keep their Secret)",
        body AppRequest ["wordpress-app.json"] => 200 AppView),
    route!(DELETE "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}" => apps::delete, "apps.delete", APP_WRITERS, Project, "Delete an app and everything made for it"
        => 204),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/deploy" => apps::actions::deploy, "apps.deploy", APP_WRITERS, Project,
        "Deliver the app again as a new revision (same spec)",
        takes NoBody => 200 AppView),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/suspend" => apps::actions::suspend, "apps.suspend", APP_WRITERS, Project,
        "Stop the app's pods; Services, Secrets and volumes stay",
        takes NoBody => 200 AppView),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/resume" => apps::actions::resume, "apps.resume", APP_WRITERS, Project,
        "Start a suspended app's pods again",
        takes NoBody => 200 AppView),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/rollback" => apps::actions::rollback, "apps.rollback", APP_WRITERS, Project,
        "Restore a revision's spec as a new revision (no body: the revision before the current one)",
        optional apps::RollbackInput => 200 AppView),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/image-update" => apps::actions::image_update, "apps.image-update", APP_WRITERS, Project,
        "Change an image app's tag (and image)",
        body ImageUpdateInput => 200 AppView),
    route!(POST "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}" => apps::actions::by_suffix, "apps.action", APP_WRITERS, Project,
        "An app action by the `<app>:<action>` form: `{a}` = `<app>:deploy|suspend|resume|rollback|image-update|delete`; the same as the action's own operation",
        loose apps::AppActionInput => 200 AppView),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/traits" => apps::traits, "apps.traits", APP_WRITERS, Project, "Replace an app's pass-through KubeVela traits",
        body apps::TraitsInput ["app-traits.json"] => 200 AppView),
    route!(PUT "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/policies" => apps::policies, "apps.policies", APP_WRITERS, Project, "Replace an app's pass-through KubeVela policies",
        body apps::PoliciesInput ["app-policies.json"] => 200 AppView),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/status" => apps::reads::status, "apps.status", EVERYONE, Project,
        "An app's status: phase, revision, last deploy and edit, last error, components, pods"
        => 200 AppStatusView),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/revisions" => apps::reads::revisions, "apps.revisions", EVERYONE, Project, "An app's KubeVela revisions"
        => 200 List<RevisionView>),
    route!(GET "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/logs" => apps::reads::logs, "apps.logs", EVERYONE, Project, "An app's pod logs",
        query LogsQuery => 200 text "text/plain" "`[pod] line` per line; streams with follow=true"),
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

/// The path parameters of a template (`{c}`, `{t}`, ...), in order.
pub fn params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
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
            assert!(
                !ROUTES[..i]
                    .iter()
                    .any(|r| r.operation_id == route.operation_id),
                "operationId {} twice",
                route.operation_id
            );
            assert_eq!(
                route.level == Level::Public,
                route.roles.is_empty(),
                "{}",
                route.path
            );
            let needs_tenant = matches!(route.level, Level::Tenant | Level::Project);
            assert!(
                !needs_tenant || route.path.contains("{t}"),
                "{}",
                route.path
            );
            assert!(
                route.level != Level::Project || route.path.contains("{p}"),
                "{}",
                route.path
            );
            assert!(
                params(route.path).all(|p| !super::super::path::describe(p).is_empty()),
                "{}: a path parameter without a typed extractor",
                route.path
            );
        }
    }

    #[test]
    fn ops_never_gets_cluster_kubeconfigs() {
        let route = lookup(&Method::GET, "/api/v1/clusters/{c}/kubeconfig").expect("route");
        assert_eq!(route.roles, &[Admin]);
    }

    const APP: &str = "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}";

    #[test]
    fn every_action_has_its_own_operation() {
        for verb in ["deploy", "suspend", "resume", "rollback", "image-update"] {
            let route = lookup(&Method::POST, &format!("{APP}/{verb}")).expect(verb);
            assert_eq!(route.operation_id, format!("apps.{verb}"));
        }
        let delete = lookup(&Method::DELETE, APP).expect("delete");
        assert_eq!(delete.operation_id, "apps.delete");
    }
}
