//! Issuing kubeconfigs and API tokens, listing and revoking them.
//!
//! Every token is recorded as an `IssuedToken` (jti, subject, scope, expiry, the jti of the
//! token that asked for it; never the token) before it is handed out. What is issued never
//! outlives the credential that asked for it, and is for an entitled subject only. Revoking a
//! token revokes everything it issued too ([`crate::revocation`], ADR 0010): kubeconfig tokens
//! go into the ConfigMap `kubenova-revocations` (labelled `kubenova.io/revocations=true`) in the
//! proxy's namespace of their cluster, which every proxy watches.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use kubenova_api::claims::{API_AUDIENCE, PROXY_AUDIENCE};
use kubenova_api::crd::{Access, IssuedToken, IssuedTokenSpec, Project, TokenKind};
use kubenova_api::{Claims, Role, labels};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use super::audit::rfc3339;
use super::auth::{AuditTokenId, PathNames, Principal};
use super::body::{Json, OptionalJson};
use super::clusters::name_path;
use super::dto::{
    KubeconfigQuery, KubeconfigRequest, KubeconfigView, Me, TokenInput, TokenList, TokenRecordView,
    TokenView,
};
use super::error::ApiError;
use super::keys::{KeyStore, time_now};
use super::state::{AppState, MANAGEMENT};
use super::tenants::{cluster_of, project_object_name, tenant_in, validate_subject};
use crate::revocation;

/// The revocation ConfigMap's name in each proxy namespace.
pub const REVOCATIONS_CONFIGMAP: &str = revocation::REVOCATIONS_CONFIGMAP;
/// The shortest lifetime of any token.
pub const MIN_TTL_SECONDS: u64 = 1;

/// A fresh token id: 32 hex characters (a valid object name).
pub fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What to issue.
#[derive(Debug, Clone)]
pub struct Issue {
    /// API or kubeconfig token.
    pub kind: TokenKind,
    /// `sub`.
    pub subject: String,
    /// `roles`.
    pub roles: Vec<Role>,
    /// `tenant`.
    pub tenant: Option<String>,
    /// `project`.
    pub project: Option<String>,
    /// `cluster`.
    pub cluster: Option<String>,
    /// Lifetime in seconds.
    pub ttl_seconds: u64,
    /// Who asked.
    pub issued_by: String,
    /// The `jti` of the token that asked (none for the bootstrap admin token).
    pub issued_by_jti: Option<String>,
    /// The expiry of the token that asked: the new one never ends later, even when the clock
    /// ticks between working out `ttl_seconds` and signing.
    pub not_after: Option<i64>,
}

/// Signs a token for `issue` and records it; returns the token and its claims. The record is
/// written first: a token is never handed out unrecorded.
pub async fn issue(
    records: &Api<IssuedToken>,
    keys: &KeyStore,
    issuer: &str,
    issue: Issue,
) -> Result<(String, Claims), ApiError> {
    let now = time_now();
    let exp = now.saturating_add(i64::try_from(issue.ttl_seconds).unwrap_or(i64::MAX));
    let exp = issue.not_after.map_or(exp, |cap| exp.min(cap));
    let claims = Claims {
        iss: issuer.to_owned(),
        sub: issue.subject.clone(),
        aud: match issue.kind {
            TokenKind::Api => API_AUDIENCE.into(),
            TokenKind::Kubeconfig => PROXY_AUDIENCE.into(),
        },
        exp,
        nbf: now,
        iat: now,
        jti: new_jti(),
        roles: issue.roles.clone(),
        tenant: issue.tenant.clone(),
        project: issue.project.clone(),
        cluster: issue.cluster.clone(),
    };
    claims
        .scope()
        .map_err(|e| ApiError::invalid("roles", e.to_string()))?;
    let current = keys.current();
    let token = current
        .active
        .sign(&claims)
        .map_err(|e| ApiError::internal(format!("signing: {e}")))?;
    let mut record = IssuedToken::new(
        &claims.jti,
        IssuedTokenSpec {
            kind: issue.kind,
            subject: issue.subject,
            roles: issue.roles,
            tenant: issue.tenant.clone(),
            project: issue.project.clone(),
            cluster: issue.cluster,
            issued_at: now,
            expires_at: exp,
            issued_by: issue.issued_by,
            issued_by_jti: issue.issued_by_jti.clone(),
            kid: current.active.kid().to_owned(),
            revoked: false,
        },
    );
    let mut l = BTreeMap::from([(
        labels::MANAGED_BY.to_owned(),
        labels::MANAGED_BY_VALUE.to_owned(),
    )]);
    if let Some(t) = &issue.tenant {
        l.insert(labels::TENANT.to_owned(), t.clone());
    }
    if let Some(p) = &issue.project {
        l.insert(labels::PROJECT.to_owned(), p.clone());
    }
    if let Some(parent) = &issue.issued_by_jti {
        l.insert(labels::ISSUED_BY.to_owned(), parent.clone());
    }
    record.metadata.labels = Some(l);
    records
        .create(&PostParams::default(), &record)
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?;
    Ok((token, claims))
}

/// The lifetime to issue: the requested one (or the default), at most the configured maximum
/// and at most what the caller's own token has left (`remaining`, seconds), so nothing issued
/// outlives the credential that asked for it. A default longer than that is shortened; an
/// explicit request for more is refused.
fn ttl(
    requested: Option<u64>,
    default: std::time::Duration,
    max: std::time::Duration,
    remaining: i64,
) -> Result<u64, ApiError> {
    let max = max.as_secs();
    let left = u64::try_from(remaining).unwrap_or(0);
    let ttl = requested.unwrap_or_else(|| default.as_secs().min(max).min(left));
    if ttl < MIN_TTL_SECONDS {
        if requested.is_none() {
            return Err(ApiError::invalid(
                "ttlSeconds",
                "your own token expires now; use a fresh token",
            ));
        }
        return Err(ApiError::invalid(
            "ttlSeconds",
            format!("must be at least {MIN_TTL_SECONDS}"),
        ));
    }
    if ttl > max {
        return Err(ApiError::invalid(
            "ttlSeconds",
            format!("must be at most {max} (the configured maximum)"),
        ));
    }
    if ttl > left {
        return Err(ApiError::invalid(
            "ttlSeconds",
            format!("must be at most {left} (your own token's remaining lifetime)"),
        ));
    }
    Ok(ttl)
}

/// What issuing for a tenant or project needs to know: who is entitled, and which objects (by
/// uid) the token is for.
struct ScopeObjects {
    owners: Vec<String>,
    access: Option<Access>,
    uids: (Option<String>, Option<String>),
}

/// Reads the tenant (and project) a token is to be issued for; refuses while they are being
/// deleted (their tokens are being revoked).
async fn scope_objects(
    state: &AppState,
    cluster: &str,
    tenant: &str,
    project: Option<&str>,
) -> Result<ScopeObjects, ApiError> {
    let (client, _, found) = tenant_in(state, cluster, tenant).await?;
    if found.metadata.deletion_timestamp.is_some() {
        return Err(ApiError::conflict(format!(
            "tenant `{tenant}` is being deleted; no tokens are issued for it"
        )));
    }
    let project_object = match project {
        None => None,
        Some(p) => {
            let api: Api<Project> = Api::all(client);
            let project = api
                .get_opt(&project_object_name(tenant, p))
                .await
                .map_err(|e| ApiError::from_kube(cluster, e))?
                .ok_or_else(|| ApiError::not_found("project", &format!("{tenant}/{p}")))?;
            if project.metadata.deletion_timestamp.is_some() {
                return Err(ApiError::conflict(format!(
                    "project `{tenant}/{p}` is being deleted; no tokens are issued for it"
                )));
            }
            Some(project)
        }
    };
    Ok(ScopeObjects {
        owners: found.spec.owners.clone(),
        access: project_object.as_ref().map(|p| p.spec.access.clone()),
        uids: (
            found.uid(),
            project_object.as_ref().and_then(ResourceExt::uid),
        ),
    })
}

/// After a token for `tenant`/`project` was recorded: if the objects were deleted (or replaced
/// by new ones of the same name) meanwhile, the deletion's revocation may have missed the new
/// record, so revoke it here and refuse. Together with the agent revoking only after the
/// deletion started, no token outlives its tenant or project.
async fn confirm_scope(
    state: &AppState,
    cluster: &str,
    tenant: &str,
    project: Option<&str>,
    before: &ScopeObjects,
    jti: &str,
    by: &str,
) -> Result<(), ApiError> {
    let now = match scope_objects(state, cluster, tenant, project).await {
        Ok(now) => Some(now),
        Err(e) if matches!(e.status.as_u16(), 404 | 409) => None,
        Err(e) => return Err(e),
    };
    if now.is_some_and(|n| n.uids == before.uids) {
        return Ok(());
    }
    let record = state
        .token_records()
        .get(jti)
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?;
    revoke_records(state, &[record], by).await?;
    Err(ApiError::conflict(format!(
        "the {} was deleted while the token was issued; it has been revoked",
        match project {
            Some(p) => format!("project `{tenant}/{p}`"),
            None => format!("tenant `{tenant}`"),
        }
    )))
}

/// Renders a kubeconfig that reaches `server` (verified with `ca_pem`) with `token`.
pub fn render_kubeconfig(context: &str, server: &str, ca_pem: &str, token: &str) -> String {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": context, "cluster": {
            "server": server,
            "certificate-authority-data": STANDARD.encode(ca_pem),
        }}],
        "users": [{ "name": context, "user": { "token": token } }],
        "contexts": [{ "name": context, "context": { "cluster": context, "user": context } }],
        "current-context": context,
    });
    serde_yaml::to_string(&config).unwrap_or_default()
}

fn rank(role: Role) -> u8 {
    match role {
        Role::Admin => 4,
        Role::Ops => 3,
        Role::TenantOwner => 2,
        Role::ProjectDev => 1,
        Role::ReadOnly => 0,
    }
}

/// Who may get a kubeconfig with `role` for `subject`: the caller may not ask for more than it
/// has, only platform roles and tenant owners issue for someone else, and the subject must be
/// entitled by the tenant's owners or the project's access lists.
pub fn may_issue(
    caller: &Principal,
    subject: &str,
    role: Role,
    owners: &[String],
    access: Option<&Access>,
) -> Result<(), ApiError> {
    let caller_rank = caller
        .claims
        .roles
        .iter()
        .map(|r| rank(*r))
        .max()
        .unwrap_or(0);
    if rank(role) > caller_rank {
        return Err(ApiError::forbidden(format!(
            "a {} token cannot issue a {role} kubeconfig",
            caller
                .claims
                .roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join("+")
        )));
    }
    if subject != caller.sub() && !(caller.is_platform() || caller.has(Role::TenantOwner)) {
        return Err(ApiError::forbidden(
            "only admins, ops and tenant owners issue kubeconfigs for someone else; leave out `subject`",
        ));
    }
    let is = |list: &[String]| list.iter().any(|s| s == subject);
    let entitled = match (role, access) {
        (Role::TenantOwner, _) => is(owners),
        (Role::ReadOnly, None) => is(owners),
        (Role::ProjectDev, Some(a)) => is(owners) || is(&a.developers),
        (Role::ReadOnly, Some(a)) => is(owners) || is(&a.developers) || is(&a.readers),
        _ => false,
    };
    if !entitled {
        let how = match (role, access) {
            (Role::TenantOwner, _) | (Role::ReadOnly, None) => {
                "add them to the tenant's owners (PUT .../tenants/{t}/owners)"
            }
            _ => "add them to the project's access (PUT .../projects/{p}/access)",
        };
        return Err(ApiError::forbidden(format!(
            "`{subject}` is not entitled to a {role} credential here; {how}"
        ))
        .with_details(json!({ "subject": subject, "role": role })));
    }
    Ok(())
}

async fn kubeconfig_for(
    state: &AppState,
    caller: &Principal,
    cluster: &str,
    tenant: &str,
    project: Option<&str>,
    request: KubeconfigRequest,
    yaml: bool,
) -> Result<Response, ApiError> {
    let role = match (project, request.role) {
        (None, None) => Role::TenantOwner,
        (Some(_), None) => Role::ProjectDev,
        (None, Some(r @ (Role::TenantOwner | Role::ReadOnly))) => r,
        (Some(_), Some(r @ (Role::ProjectDev | Role::ReadOnly))) => r,
        (None, Some(r)) => {
            return Err(ApiError::invalid(
                "role",
                format!("a tenant kubeconfig is tenantOwner or readOnly, not {r}"),
            ));
        }
        (Some(_), Some(r)) => {
            return Err(ApiError::invalid(
                "role",
                format!("a project kubeconfig is projectDev or readOnly, not {r}"),
            ));
        }
    };
    let subject = request.subject.unwrap_or_else(|| caller.sub().to_owned());
    validate_subject("subject", &subject)?;
    let ttl_seconds = ttl(
        request.ttl_seconds,
        state.settings().kubeconfig_ttl,
        state.settings().max_kubeconfig_ttl,
        caller.remaining(),
    )?;
    let (record, _) = state.cluster(cluster).await?;
    let objects = scope_objects(state, cluster, tenant, project).await?;
    may_issue(
        caller,
        &subject,
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
            subject: subject.clone(),
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
    let subject_for_audit = subject.clone();
    let context = match project {
        Some(p) => format!("{cluster}-{tenant}-{p}"),
        None => format!("{cluster}-{tenant}"),
    };
    let kubeconfig = render_kubeconfig(
        &context,
        &record.spec.proxy_url,
        &record.spec.proxy_ca,
        &token,
    );
    let mut response = if yaml {
        let mut r = kubeconfig.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml"),
        );
        r
    } else {
        axum::Json(KubeconfigView {
            kubeconfig,
            jti: claims.jti.clone(),
            subject: subject.clone(),
            role,
            expires_at: rfc3339(claims.exp),
        })
        .into_response()
    };
    *response.status_mut() = StatusCode::CREATED;
    response
        .extensions_mut()
        .insert(AuditTokenId(claims.jti, Some(subject_for_audit)));
    Ok(response)
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

fn query_of(
    query: Result<Query<KubeconfigQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<KubeconfigQuery, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("the query string: {}", e.body_text())))
}

/// `POST /api/v1/tenants/{t}/kubeconfig`.
pub async fn tenant_kubeconfig_short(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Extension(names): Extension<PathNames>,
    query: Result<Query<KubeconfigQuery>, axum::extract::rejection::QueryRejection>,
    OptionalJson(body): OptionalJson<KubeconfigRequest>,
) -> Result<Response, ApiError> {
    let tenant = name_path(&names, "t")?;
    let query = query_of(query)?;
    let yaml = wants_yaml(&query)?;
    let cluster = cluster_of(&state, &tenant).await?;
    kubeconfig_for(
        &state,
        &caller,
        &cluster,
        &tenant,
        None,
        merge(query, body)?,
        yaml,
    )
    .await
}

/// `POST /api/v1/clusters/{c}/tenants/{t}/kubeconfig`.
pub async fn tenant_kubeconfig(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Extension(names): Extension<PathNames>,
    query: Result<Query<KubeconfigQuery>, axum::extract::rejection::QueryRejection>,
    OptionalJson(body): OptionalJson<KubeconfigRequest>,
) -> Result<Response, ApiError> {
    let (cluster, tenant) = (name_path(&names, "c")?, name_path(&names, "t")?);
    let query = query_of(query)?;
    let yaml = wants_yaml(&query)?;
    kubeconfig_for(
        &state,
        &caller,
        &cluster,
        &tenant,
        None,
        merge(query, body)?,
        yaml,
    )
    .await
}

/// `GET|POST /api/v1/clusters/{c}/tenants/{t}/projects/{p}/kubeconfig`.
pub async fn project_kubeconfig(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Extension(names): Extension<PathNames>,
    query: Result<Query<KubeconfigQuery>, axum::extract::rejection::QueryRejection>,
    OptionalJson(body): OptionalJson<KubeconfigRequest>,
) -> Result<Response, ApiError> {
    let (cluster, tenant, project) = (
        name_path(&names, "c")?,
        name_path(&names, "t")?,
        name_path(&names, "p")?,
    );
    let query = query_of(query)?;
    let yaml = wants_yaml(&query)?;
    kubeconfig_for(
        &state,
        &caller,
        &cluster,
        &tenant,
        Some(&project),
        merge(query, body)?,
        yaml,
    )
    .await
}

/// `POST /api/v1/tokens`: admin mints anything; ops anything but admin; a tenant owner mints
/// projectDev or readOnly tokens in its own tenant, for subjects entitled to them there (its
/// owners, the project's developers or readers), as `may_issue` decides for kubeconfigs.
/// Nothing minted outlives the caller's own token.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Json(input): Json<TokenInput>,
) -> Result<Response, ApiError> {
    validate_subject("subject", &input.subject)?;
    if input.roles.is_empty() {
        return Err(ApiError::invalid("roles", "name at least one role"));
    }
    let ttl_seconds = ttl(
        input.ttl_seconds,
        state.settings().api_token_ttl,
        state.settings().max_api_token_ttl,
        caller.remaining(),
    )?;
    if !caller.has(Role::Admin) && input.roles.contains(&Role::Admin) {
        return Err(ApiError::forbidden("only admins mint admin tokens"));
    }
    if !caller.is_platform() {
        // A tenant owner: narrower roles, its own tenant.
        if input
            .roles
            .iter()
            .any(|r| r.is_platform() || *r == Role::TenantOwner)
        {
            return Err(ApiError::forbidden(
                "a tenant owner mints only projectDev or readOnly tokens",
            ));
        }
        if input.tenant.as_deref() != caller.scope.tenant() {
            return Err(ApiError::forbidden(format!(
                "a tenant owner mints tokens only for its own tenant ({})",
                caller.scope.tenant().unwrap_or_default()
            )));
        }
    }
    for (field, value) in [("tenant", &input.tenant), ("project", &input.project)] {
        if let Some(v) = value {
            kubenova_api::names::validate_dns1123_label(field, v)
                .map_err(|e| ApiError::invalid(field, e.to_string()))?;
        }
    }
    // The tenant must exist and not be being deleted; for a tenant owner's token, the subject
    // must be entitled to every role in it (so nobody mints in someone else's name). Platform
    // callers may mint for robots in no list, and for projects not created yet.
    let scoped = match &input.tenant {
        Some(t) => {
            let cluster = cluster_of(&state, t).await?;
            let project = if caller.is_platform() {
                None
            } else {
                input.project.clone()
            };
            let objects = scope_objects(&state, &cluster, t, project.as_deref()).await?;
            if !caller.is_platform() {
                for role in &input.roles {
                    may_issue(
                        &caller,
                        &input.subject,
                        *role,
                        &objects.owners,
                        objects.access.as_ref(),
                    )?;
                }
            }
            Some((cluster, t.clone(), project, objects))
        }
        None => None,
    };
    let subject = input.subject.clone();
    let (token, claims) = issue(
        &state.token_records(),
        state.keys(),
        &state.settings().issuer,
        Issue {
            kind: TokenKind::Api,
            subject: input.subject,
            roles: input.roles,
            tenant: input.tenant,
            project: input.project,
            cluster: None,
            ttl_seconds,
            issued_by: caller.sub().to_owned(),
            issued_by_jti: Some(caller.claims.jti.clone()),
            not_after: Some(caller.claims.exp),
        },
    )
    .await?;
    if let Some((cluster, tenant, project, objects)) = &scoped {
        confirm_scope(
            &state,
            cluster,
            tenant,
            project.as_deref(),
            objects,
            &claims.jti,
            caller.sub(),
        )
        .await?;
    }
    let mut response = (
        StatusCode::CREATED,
        axum::Json(TokenView {
            token,
            jti: claims.jti.clone(),
            expires_at: rfc3339(claims.exp),
        }),
    )
        .into_response();
    response
        .extensions_mut()
        .insert(AuditTokenId(claims.jti, Some(subject)));
    Ok(response)
}

/// Revokes `roots` and everything they issued (see [`crate::revocation`]); returns the ids of
/// the tokens revoked now.
pub async fn revoke_records(
    state: &AppState,
    roots: &[IssuedToken],
    by: &str,
) -> Result<Vec<String>, ApiError> {
    let records = state.token_records();
    let all = records
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .items;
    let roots: std::collections::BTreeSet<String> =
        roots.iter().map(ResourceExt::name_any).collect();
    let selected = revocation::closure(&all, |r| roots.contains(&r.name_any()));
    for (cluster, entries) in revocation::by_cluster(&selected) {
        let (cluster_record, client) = state.cluster(&cluster).await?;
        revocation::add_revocations(&client, &cluster_record.spec.proxy_namespace, &entries)
            .await
            .map_err(|e| match e {
                revocation::WriteError::Kube(e) => ApiError::from_kube(&cluster, e),
                revocation::WriteError::Busy => ApiError::unavailable(&cluster, e.to_string()),
            })?;
    }
    let mut revoked = Vec::new();
    for r in selected {
        let jti = r.name_any();
        revocation::mark_revoked(&records, &jti, by)
            .await
            .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?;
        revoked.push(jti);
    }
    Ok(revoked)
}

/// Revokes every token of `tenant` (or of its `project`) and what they issued: a deleted
/// tenant or project leaves no working token behind.
pub async fn revoke_scope(
    state: &AppState,
    tenant: &str,
    project: Option<&str>,
    by: &str,
) -> Result<Vec<String>, ApiError> {
    let mut selector = format!("{}={tenant}", labels::TENANT);
    if let Some(p) = project {
        selector.push_str(&format!(",{}={p}", labels::PROJECT));
    }
    let roots: Vec<IssuedToken> = state
        .token_records()
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .items
        .into_iter()
        .filter(|r| {
            r.spec.tenant.as_deref() == Some(tenant)
                && project.is_none_or(|p| r.spec.project.as_deref() == Some(p))
        })
        .collect();
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    revoke_records(state, &roots, by).await
}

fn record_view(r: &IssuedToken) -> TokenRecordView {
    TokenRecordView {
        jti: r.name_any(),
        kind: r.spec.kind,
        subject: r.spec.subject.clone(),
        roles: r.spec.roles.clone(),
        tenant: r.spec.tenant.clone(),
        project: r.spec.project.clone(),
        cluster: r.spec.cluster.clone(),
        issued_at: rfc3339(r.spec.issued_at),
        expires_at: rfc3339(r.spec.expires_at),
        issued_by: r.spec.issued_by.clone(),
        revoked: r.spec.revoked,
    }
}

/// `GET /api/v1/tokens`: the records in the caller's scope.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
) -> Result<axum::Json<TokenList>, ApiError> {
    let params = match caller.scope.tenant() {
        Some(t) => ListParams::default().labels(&format!("{}={t}", labels::TENANT)),
        None => ListParams::default(),
    };
    let mut records: Vec<IssuedToken> = state
        .token_records()
        .list(&params)
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .items
        .into_iter()
        .filter(|r| caller.covers(r.spec.tenant.as_deref(), r.spec.project.as_deref()))
        .collect();
    records.sort_by_key(|r| std::cmp::Reverse(r.spec.issued_at));
    Ok(axum::Json(TokenList {
        items: records.iter().map(record_view).collect(),
    }))
}

/// `DELETE /api/v1/tokens/{jti}`: revokes a token in the caller's scope (a projectDev only its
/// own), and every token it issued. Kubeconfig tokens go into their cluster's revocation
/// ConfigMap first, so a 503 leaves nothing half-done.
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Extension(names): Extension<PathNames>,
) -> Result<Response, ApiError> {
    let jti = name_path(&names, "jti")?;
    let records = state.token_records();
    let record = records
        .get_opt(&jti)
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .filter(|r| caller.covers(r.spec.tenant.as_deref(), r.spec.project.as_deref()))
        .ok_or_else(|| ApiError::not_found("token", &jti))?;
    if !caller.is_platform()
        && !caller.has(Role::TenantOwner)
        && record.spec.subject != caller.sub()
    {
        return Err(ApiError::forbidden(
            "a projectDev revokes only its own tokens",
        ));
    }
    // Also when the token itself was revoked already: what it issued may not be (yet).
    revoke_records(&state, std::slice::from_ref(&record), caller.sub()).await?;
    let mut view = record_view(&record);
    view.revoked = true;
    let mut response = axum::Json(view).into_response();
    response.extensions_mut().insert(AuditTokenId(jti, None));
    Ok(response)
}

/// Adds `jti` (expiring at `exp`) to the revocation ConfigMap in `namespace` of a workload
/// cluster, dropping entries whose tokens have expired anyway.
pub async fn add_revocation(
    client: &Client,
    cluster: &str,
    namespace: &str,
    jti: &str,
    exp: i64,
) -> Result<(), ApiError> {
    revocation::add_revocations(client, namespace, &[(jti.to_owned(), exp)])
        .await
        .map_err(|e| match e {
            revocation::WriteError::Kube(e) => ApiError::from_kube(cluster, e),
            revocation::WriteError::Busy => ApiError::unavailable(cluster, e.to_string()),
        })
}

/// `GET /api/v1/me`.
pub async fn me(Extension(caller): Extension<Principal>) -> axum::Json<Me> {
    axum::Json(Me {
        subject: caller.claims.sub.clone(),
        roles: caller.claims.roles.clone(),
        tenant: caller.scope.tenant().map(str::to_owned),
        project: caller.scope.project().map(str::to_owned),
        jti: caller.claims.jti.clone(),
        expires_at: rfc3339(caller.claims.exp),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(
        roles: &[Role],
        tenant: Option<&str>,
        project: Option<&str>,
        sub: &str,
    ) -> Principal {
        let claims = Claims {
            iss: "i".into(),
            sub: sub.into(),
            aud: API_AUDIENCE.into(),
            exp: 0,
            nbf: 0,
            iat: 0,
            jti: "j".into(),
            roles: roles.to_vec(),
            tenant: tenant.map(str::to_owned),
            project: project.map(str::to_owned),
            cluster: None,
        };
        let scope = claims.scope().expect("valid claims");
        Principal {
            claims,
            scope,
            issued_by: sub.into(),
        }
    }

    #[test]
    fn issuing_needs_entitlement_and_no_escalation() {
        let owners = vec!["alice".to_owned()];
        let access = Access {
            developers: vec!["bob".into()],
            readers: vec!["carol".into()],
        };
        let admin = principal(&[Role::Admin], None, None, "root");
        let bob = principal(&[Role::ProjectDev], Some("acme"), Some("shop"), "bob");
        let carol = principal(&[Role::ReadOnly], Some("acme"), Some("shop"), "carol");
        let alice = principal(&[Role::TenantOwner], Some("acme"), None, "alice");
        let ok = |p: &Principal, s: &str, r: Role, a: Option<&Access>| {
            may_issue(p, s, r, &owners, a).map_err(|e| e.status.as_u16())
        };
        // (caller, subject, role, project access, expected)
        assert_eq!(ok(&admin, "alice", Role::TenantOwner, None), Ok(()));
        assert_eq!(ok(&admin, "bob", Role::TenantOwner, None), Err(403));
        assert_eq!(ok(&admin, "bob", Role::ProjectDev, Some(&access)), Ok(()));
        assert_eq!(
            ok(&admin, "carol", Role::ProjectDev, Some(&access)),
            Err(403)
        );
        assert_eq!(ok(&admin, "carol", Role::ReadOnly, Some(&access)), Ok(()));
        assert_eq!(ok(&alice, "bob", Role::ProjectDev, Some(&access)), Ok(()));
        assert_eq!(ok(&bob, "bob", Role::ProjectDev, Some(&access)), Ok(()));
        assert_eq!(ok(&bob, "carol", Role::ReadOnly, Some(&access)), Err(403));
        assert_eq!(
            ok(&carol, "carol", Role::ProjectDev, Some(&access)),
            Err(403)
        );
        assert_eq!(ok(&carol, "carol", Role::ReadOnly, Some(&access)), Ok(()));
        assert_eq!(ok(&bob, "bob", Role::TenantOwner, None), Err(403));
    }

    #[test]
    fn kubeconfig_never_skips_tls_verification() {
        let text = render_kubeconfig(
            "c-t",
            "https://proxy:8443",
            "-----BEGIN CERTIFICATE-----",
            "tok",
        );
        let v: serde_json::Value = serde_yaml::from_str(&text).expect("yaml");
        assert_eq!(v["clusters"][0]["cluster"]["server"], "https://proxy:8443");
        assert!(v["clusters"][0]["cluster"]["certificate-authority-data"].is_string());
        assert!(!text.contains("insecure-skip-tls-verify"));
        assert_eq!(v["users"][0]["user"]["token"], "tok");
    }

    #[test]
    fn ttl_is_bounded() {
        let h = std::time::Duration::from_secs(3600);
        let day = 86_400;
        assert_eq!(ttl(None, h, h * 2, day), Ok(3600));
        assert_eq!(ttl(Some(7200), h, h * 2, day), Ok(7200));
        assert_eq!(
            ttl(Some(7201), h, h * 2, day).map_err(|e| e.status.as_u16()),
            Err(422)
        );
        assert_eq!(
            ttl(Some(0), h, h * 2, day).map_err(|e| e.status.as_u16()),
            Err(422)
        );
        // Never longer than the caller's own token: the default is shortened, a request for
        // more refused.
        assert_eq!(ttl(None, h, h * 2, 120), Ok(120));
        let e = ttl(Some(600), h, h * 2, 120).expect_err("too long");
        assert_eq!(e.status.as_u16(), 422);
        assert!(e.message.contains("at most 120"), "{}", e.message);
        assert_eq!(
            ttl(None, h, h * 2, 0).map_err(|e| e.status.as_u16()),
            Err(422)
        );
        assert_eq!(new_jti().len(), 32);
    }
}
