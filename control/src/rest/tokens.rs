//! Issuing kubeconfigs and API tokens, listing and revoking them.
//!
//! Every token is recorded as an `IssuedToken` (jti, subject, scope, expiry, the jti of the
//! token that asked for it; never the token) before it is handed out. What is issued never
//! outlives the credential that asked for it, and is for an entitled subject only. Revoking a
//! token revokes everything it issued too ([`kubenova_revocation`], ADR 0010): kubeconfig tokens
//! go into the ConfigMap `kubenova-revocations` (labelled `kubenova.io/revocations=true`) in the
//! proxy's namespace of their cluster, which every proxy watches.

pub mod issuing;
pub mod kubeconfigs;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kube::api::ListParams;
use kube::{Client, ResourceExt};
use kubenova_api::crd::{IssuedToken, TokenKind};
use kubenova_api::{Role, labels};

use super::auth::{AuditTokenId, Principal};
use super::body::Json;
use super::dto::{Me, TokenInput, TokenList, TokenRecordView, TokenView};
use super::error::ApiError;
use super::path::{Path, TokenPath};
use super::tenants::{cluster_of, validate_subject};
use crate::services::audit::rfc3339;
use crate::services::state::{AppState, MANAGEMENT};
use kubenova_revocation as revocation;

/// The revocation ConfigMap's name in each proxy namespace.
pub const REVOCATIONS_CONFIGMAP: &str = revocation::REVOCATIONS_CONFIGMAP;

pub use self::issuing::{
    Issue, MIN_TTL_SECONDS, issue, may_issue, may_mint, new_jti, render_kubeconfig,
};
use self::issuing::{confirm_scope, scope_objects, ttl};

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
    may_mint(
        &caller.claims.roles,
        caller.scope.tenant(),
        &input.roles,
        input.tenant.as_deref(),
    )?;
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

/// Revokes `roots` and everything they issued (see [`kubenova_revocation`]); returns the ids of
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
    Path(TokenPath { jti }): Path<TokenPath>,
) -> Result<Response, ApiError> {
    let jti = jti.to_string();
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
/// A scoped token's cluster is looked up (the web UI starts there: a project developer may not
/// read its tenant, which would tell it); absent when the lookup fails.
pub async fn me(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
) -> axum::Json<Me> {
    let cluster = match caller.scope.tenant() {
        Some(t) => cluster_of(&state, t).await.ok(),
        None => None,
    };
    axum::Json(Me {
        subject: caller.claims.sub.clone(),
        roles: caller.claims.roles.clone(),
        tenant: caller.scope.tenant().map(str::to_owned),
        cluster,
        project: caller.scope.project().map(str::to_owned),
        jti: caller.claims.jti.clone(),
        expires_at: rfc3339(caller.claims.exp),
    })
}
