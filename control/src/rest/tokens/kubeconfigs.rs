//! Kubeconfigs: a tenant- or project-scoped token for the proxy, in a kubeconfig that reaches the
//! tenant's cluster through it; or (`mode=exec`) a kubeconfig whose user runs `kubenova
//! credential`, which gets short-lived proxy tokens from the caller's session
//! ([`tenant_credential`], [`project_credential`]; ADR 0025).

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kubenova_api::Role;
use kubenova_api::crd::TokenKind;

use super::super::auth::{AuditTokenId, Principal};
use super::super::body::NoBody;
use super::super::body::OptionalJson;
use super::super::dto::{
    CredentialQuery, CredentialView, KubeconfigQuery, KubeconfigRequest, KubeconfigView,
};
use super::super::error::ApiError;
use super::super::path::{Path, ProjectPath, TenantPath, TenantRef};
use super::super::tenants::{cluster_of, validate_subject};
use super::issuing::{
    Issue, confirm_scope, credential_args, issue, may_issue, render_exec_kubeconfig,
    render_kubeconfig, scope_objects, ttl,
};
use crate::services::audit::rfc3339;
use crate::services::state::AppState;

/// The role of a tenant (no `project`) or project credential: the one asked for, or the
/// scope's default.
fn role_for(project: Option<&str>, requested: Option<Role>) -> Result<Role, ApiError> {
    match (project, requested) {
        (None, None) => Ok(Role::TenantOwner),
        (Some(_), None) => Ok(Role::ProjectDev),
        (None, Some(r @ (Role::TenantOwner | Role::ReadOnly))) => Ok(r),
        (Some(_), Some(r @ (Role::ProjectDev | Role::ReadOnly))) => Ok(r),
        (None, Some(r)) => Err(ApiError::invalid(
            "role",
            format!("a tenant kubeconfig is tenantOwner or readOnly, not {r}"),
        )),
        (Some(_), Some(r)) => Err(ApiError::invalid(
            "role",
            format!("a project kubeconfig is projectDev or readOnly, not {r}"),
        )),
    }
}

/// What a kubeconfig carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A token.
    Token,
    /// The `kubenova credential` exec plugin.
    Exec,
}

async fn kubeconfig_for(
    state: &AppState,
    caller: &Principal,
    cluster: &str,
    tenant: &str,
    project: Option<&str>,
    request: KubeconfigRequest,
    (yaml, mode): (bool, Mode),
) -> Result<Response, ApiError> {
    let role = role_for(project, request.role)?;
    if mode == Mode::Exec {
        for (field, given) in [
            ("subject", request.subject.is_some()),
            ("ttlSeconds", request.ttl_seconds.is_some()),
        ] {
            if given {
                return Err(ApiError::invalid(
                    field,
                    "not with mode=exec: an exec kubeconfig is for the caller, and its tokens \
                     live for the server's credential lifetime",
                ));
            }
        }
        return exec_kubeconfig_for(state, caller, cluster, tenant, project, role, yaml).await;
    }
    let subject = request.subject.unwrap_or_else(|| caller.sub().to_owned());
    validate_subject("subject", &subject)?;
    let ttl_seconds = ttl(
        request.ttl_seconds,
        state.settings().kubeconfig_ttl,
        state.settings().max_kubeconfig_ttl,
        caller.remaining(),
    )?;
    let (record, _) = state.cluster(cluster).await?;
    let (token, claims) = issue_for_scope(
        state,
        caller,
        (cluster, tenant, project),
        &subject,
        role,
        ttl_seconds,
    )
    .await?;
    let subject_for_audit = subject.clone();
    let (context, namespace) = context_of(cluster, tenant, project);
    let kubeconfig = render_kubeconfig(
        &context,
        &record.spec.proxy_url,
        &record.spec.proxy_ca,
        &token,
        namespace.as_deref(),
    );
    let view = KubeconfigView {
        kubeconfig,
        jti: claims.jti.clone(),
        subject: subject.clone(),
        role,
        expires_at: rfc3339(claims.exp),
    };
    let mut response = created(view, yaml);
    response
        .extensions_mut()
        .insert(AuditTokenId(claims.jti, Some(subject_for_audit)));
    Ok(response)
}

/// The kubeconfig's context name and default namespace.
fn context_of(cluster: &str, tenant: &str, project: Option<&str>) -> (String, Option<String>) {
    match project {
        Some(p) => (
            format!("{cluster}-{tenant}-{p}"),
            Some(kubenova_api::names::project_namespace(tenant, p)),
        ),
        None => (format!("{cluster}-{tenant}"), None),
    }
}

/// A kubeconfig whose user runs `kubenova credential`: nothing is issued now, but the caller
/// must be entitled to the role already (a mistake shows here, not at the first kubectl call).
async fn exec_kubeconfig_for(
    state: &AppState,
    caller: &Principal,
    cluster: &str,
    tenant: &str,
    project: Option<&str>,
    role: Role,
    yaml: bool,
) -> Result<Response, ApiError> {
    let (record, _) = state.cluster(cluster).await?;
    let objects = scope_objects(state, cluster, tenant, project).await?;
    may_issue(
        caller,
        caller.sub(),
        role,
        &objects.owners,
        objects.access.as_ref(),
    )?;
    let (context, namespace) = context_of(cluster, tenant, project);
    let kubeconfig = render_exec_kubeconfig(
        &context,
        &record.spec.proxy_url,
        &record.spec.proxy_ca,
        &credential_args(cluster, tenant, project, role),
        namespace.as_deref(),
    );
    let view = KubeconfigView {
        kubeconfig,
        jti: caller.claims.jti.clone(),
        subject: caller.sub().to_owned(),
        role,
        expires_at: rfc3339(caller.claims.exp),
    };
    Ok(created(view, yaml))
}

/// 201 with the kubeconfig file itself (`format=yaml`) or `view` as JSON.
fn created(view: KubeconfigView, yaml: bool) -> Response {
    let mut response = if yaml {
        let mut r = view.kubeconfig.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml"),
        );
        r
    } else {
        axum::Json(view).into_response()
    };
    *response.status_mut() = StatusCode::CREATED;
    response
}

/// A proxy token for `subject` in the scope `(cluster, tenant, project)`, if `caller` may give
/// `subject` that `role` there: recorded as issued by the caller's token and never outliving it,
/// and refused (revoked at once) if the scope went away while it was issued.
async fn issue_for_scope(
    state: &AppState,
    caller: &Principal,
    (cluster, tenant, project): (&str, &str, Option<&str>),
    subject: &str,
    role: Role,
    ttl_seconds: u64,
) -> Result<(String, kubenova_api::Claims), ApiError> {
    let objects = scope_objects(state, cluster, tenant, project).await?;
    may_issue(
        caller,
        subject,
        role,
        &objects.owners,
        objects.access.as_ref(),
    )?;
    let (token, claims) = issue(
        &state.token_records(),
        state.keys(),
        &state.settings().issuer,
        Issue {
            kind: TokenKind::Kubeconfig,
            subject: subject.to_owned(),
            roles: vec![role],
            tenant: Some(tenant.to_owned()),
            project: project.map(str::to_owned),
            cluster: Some(cluster.to_owned()),
            ttl_seconds,
            issued_by: caller.sub().to_owned(),
            issued_by_jti: Some(caller.claims.jti.clone()),
            not_after: Some(caller.claims.exp),
        },
    )
    .await?;
    confirm_scope(
        state,
        cluster,
        tenant,
        project,
        &objects,
        &claims.jti,
        caller.sub(),
    )
    .await?;
    Ok((token, claims))
}

/// A short-lived proxy token for the caller, recorded as issued by the caller's token (so
/// revoking that token, the person's session, revokes it and every other one it got).
async fn credential_for(
    state: &AppState,
    caller: &Principal,
    cluster: &str,
    tenant: &str,
    project: Option<&str>,
    role: Option<Role>,
) -> Result<Response, ApiError> {
    let role = role_for(project, role)?;
    let settings = state.settings();
    let ttl_seconds = ttl(
        None,
        settings.credential_ttl,
        settings.credential_ttl,
        caller.remaining(),
    )?;
    // The cluster must be registered (its proxy is where the token goes).
    state.cluster(cluster).await?;
    let (token, claims) = issue_for_scope(
        state,
        caller,
        (cluster, tenant, project),
        caller.sub(),
        role,
        ttl_seconds,
    )
    .await?;
    let mut response = (
        StatusCode::CREATED,
        axum::Json(CredentialView {
            token,
            jti: claims.jti.clone(),
            subject: claims.sub.clone(),
            role,
            expires_at: rfc3339(claims.exp),
        }),
    )
        .into_response();
    response
        .extensions_mut()
        .insert(AuditTokenId(claims.jti, Some(claims.sub)));
    Ok(response)
}

/// The query string of a credential route.
type CredentialQueryOf = Result<Query<CredentialQuery>, axum::extract::rejection::QueryRejection>;

fn credential_query(query: CredentialQueryOf) -> Result<CredentialQuery, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("the query string: {}", e.body_text())))
}

/// `POST /api/v1/clusters/{c}/tenants/{t}/credential`.
pub async fn tenant_credential(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(TenantPath { c, t }): Path<TenantPath>,
    query: CredentialQueryOf,
    _: NoBody,
) -> Result<Response, ApiError> {
    let query = credential_query(query)?;
    credential_for(&state, &caller, &c, &t, None, query.role).await
}

/// `POST /api/v1/clusters/{c}/tenants/{t}/projects/{p}/credential`.
pub async fn project_credential(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(ProjectPath { c, t, p }): Path<ProjectPath>,
    query: CredentialQueryOf,
    _: NoBody,
) -> Result<Response, ApiError> {
    let query = credential_query(query)?;
    credential_for(&state, &caller, &c, &t, Some(&p), query.role).await
}

fn wants_exec(query: &KubeconfigQuery) -> Result<Mode, ApiError> {
    match query.mode.as_deref() {
        None | Some("token") => Ok(Mode::Token),
        Some("exec") => Ok(Mode::Exec),
        Some(other) => Err(ApiError::invalid(
            "mode",
            format!(
                "`{}` is not a mode; use token or exec",
                other.escape_default()
            ),
        )),
    }
}

fn wants_yaml(query: &KubeconfigQuery) -> Result<bool, ApiError> {
    match query.format.as_deref() {
        None | Some("json") => Ok(false),
        Some("yaml") => Ok(true),
        Some(other) => Err(ApiError::invalid(
            "format",
            format!(
                "`{}` is not a format; use json or yaml",
                other.escape_default()
            ),
        )),
    }
}

fn merge(
    query: KubeconfigQuery,
    body: Option<KubeconfigRequest>,
) -> Result<KubeconfigRequest, ApiError> {
    let body = body.unwrap_or_default();
    let pick = |field: &str, a: bool, b: bool| {
        if a && b {
            Err(ApiError::invalid(
                field,
                "given both in the query and in the body; give it once",
            ))
        } else {
            Ok(())
        }
    };
    pick("role", query.role.is_some(), body.role.is_some())?;
    pick(
        "ttlSeconds",
        query.ttl_seconds.is_some(),
        body.ttl_seconds.is_some(),
    )?;
    pick("subject", query.subject.is_some(), body.subject.is_some())?;
    Ok(KubeconfigRequest {
        role: query.role.or(body.role),
        ttl_seconds: query.ttl_seconds.or(body.ttl_seconds),
        subject: query.subject.or(body.subject),
    })
}

fn query_of(query: QueryOf) -> Result<KubeconfigQuery, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("the query string: {}", e.body_text())))
}

/// The query string of a kubeconfig route.
type QueryOf = Result<Query<KubeconfigQuery>, axum::extract::rejection::QueryRejection>;

/// The request, from the query and the body (a field in both is refused), whether the
/// answer is the kubeconfig file itself (`format=yaml`), and what its user carries (`mode`).
fn request(
    query: QueryOf,
    body: Option<KubeconfigRequest>,
) -> Result<(KubeconfigRequest, (bool, Mode)), ApiError> {
    let query = query_of(query)?;
    let yaml = wants_yaml(&query)?;
    let mode = wants_exec(&query)?;
    Ok((merge(query, body)?, (yaml, mode)))
}

/// `POST /api/v1/tenants/{t}/kubeconfig`.
pub async fn tenant_short(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(TenantRef { t }): Path<TenantRef>,
    query: QueryOf,
    OptionalJson(body): OptionalJson<KubeconfigRequest>,
) -> Result<Response, ApiError> {
    let (request, yaml) = request(query, body)?;
    let cluster = cluster_of(&state, &t).await?;
    kubeconfig_for(&state, &caller, &cluster, &t, None, request, yaml).await
}

/// `POST /api/v1/clusters/{c}/tenants/{t}/kubeconfig`.
pub async fn tenant(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(TenantPath { c, t }): Path<TenantPath>,
    query: QueryOf,
    OptionalJson(body): OptionalJson<KubeconfigRequest>,
) -> Result<Response, ApiError> {
    let (request, yaml) = request(query, body)?;
    kubeconfig_for(&state, &caller, &c, &t, None, request, yaml).await
}

/// `GET|POST /api/v1/clusters/{c}/tenants/{t}/projects/{p}/kubeconfig`.
pub async fn project(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(ProjectPath { c, t, p }): Path<ProjectPath>,
    query: QueryOf,
    OptionalJson(body): OptionalJson<KubeconfigRequest>,
) -> Result<Response, ApiError> {
    let (request, yaml) = request(query, body)?;
    kubeconfig_for(&state, &caller, &c, &t, Some(&p), request, yaml).await
}
