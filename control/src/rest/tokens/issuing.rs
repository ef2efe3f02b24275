//! Issuing: signing and recording tokens, their lifetime, and who may get which role for whom
//! (pure functions over [`Role`], unit-tested here).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kubenova_api::claims::{API_AUDIENCE, PROXY_AUDIENCE};
use kubenova_api::crd::{Access, IssuedToken, IssuedTokenSpec, Project, TokenKind};
use kubenova_api::{Claims, Role, labels};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use super::super::auth::Principal;
use super::super::error::ApiError;
use super::super::projects::project_object_name;
use super::super::tenants::tenant_in;
use super::revoke_records;
use crate::services::keys::{KeyStore, time_now};
use crate::services::state::{AppState, MANAGEMENT};

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
    issue_as(records, keys, issuer, issue, new_jti()).await
}

/// [`issue`] with a given `jti`: recording it fails with a conflict when a token of that id was
/// issued before (what makes a sign-in's ID token single-use, `crate::rest::login`).
pub async fn issue_as(
    records: &Api<IssuedToken>,
    keys: &KeyStore,
    issuer: &str,
    issue: Issue,
    jti: String,
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
        jti,
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
pub(crate) fn ttl(
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
pub(crate) struct ScopeObjects {
    pub(crate) owners: Vec<String>,
    pub(crate) access: Option<Access>,
    uids: (Option<String>, Option<String>),
}

/// Reads the tenant (and project) a token is to be issued for; refuses while they are being
/// deleted (their tokens are being revoked).
pub(crate) async fn scope_objects(
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
pub(crate) async fn confirm_scope(
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

/// Renders a kubeconfig that reaches `server` (verified with `ca_pem`) with `token`; its context
/// defaults to `namespace` when given (a project's: `kubectl get pods` needs no `-n`).
pub fn render_kubeconfig(
    context: &str,
    server: &str,
    ca_pem: &str,
    token: &str,
    namespace: Option<&str>,
) -> String {
    render_with_user(
        context,
        server,
        ca_pem,
        json!({ "token": token }),
        namespace,
    )
}

/// The client-go exec plugin API version `kubenova credential` answers with.
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";

/// The arguments of `kubenova credential` for a cluster, tenant, optional project and role.
pub fn credential_args(
    cluster: &str,
    tenant: &str,
    project: Option<&str>,
    role: Role,
) -> Vec<String> {
    let mut args = vec![
        "credential".to_owned(),
        "--cluster".to_owned(),
        cluster.to_owned(),
        "--tenant".to_owned(),
        tenant.to_owned(),
    ];
    if let Some(p) = project {
        args.extend(["--project".to_owned(), p.to_owned()]);
    }
    args.extend(["--role".to_owned(), role.as_str().to_owned()]);
    args
}

/// Like [`render_kubeconfig`], but the user runs `kubenova <args>` as a client-go exec plugin
/// (ExecCredential `client.authentication.k8s.io/v1`) instead of carrying a token.
pub fn render_exec_kubeconfig(
    context: &str,
    server: &str,
    ca_pem: &str,
    args: &[String],
    namespace: Option<&str>,
) -> String {
    let exec = json!({ "exec": {
        "apiVersion": EXEC_API_VERSION,
        "command": "kubenova",
        "args": args,
        "interactiveMode": "Never",
        "provideClusterInfo": false,
        "installHint": "kubectl runs `kubenova credential` for a short-lived token: install the \
            kubenova CLI on your PATH and sign in with `kubenova login --oidc` (docs/identity.md)",
    }});
    render_with_user(context, server, ca_pem, exec, namespace)
}

fn render_with_user(
    context: &str,
    server: &str,
    ca_pem: &str,
    user: serde_json::Value,
    namespace: Option<&str>,
) -> String {
    let mut in_context = json!({ "cluster": context, "user": context });
    if let Some(ns) = namespace {
        in_context["namespace"] = json!(ns);
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": context, "cluster": {
            "server": server,
            "certificate-authority-data": STANDARD.encode(ca_pem),
        }}],
        "users": [{ "name": context, "user": user }],
        "contexts": [{ "name": context, "context": in_context }],
        "current-context": context,
    });
    serde_yaml::to_string(&config).unwrap_or_default()
}

/// Who may mint an API token with `roles` for `tenant` (pure; [`Role::may_mint`] per role): every
/// role must be mintable by one of the caller's, and a caller without a platform role mints only
/// in its own tenant (`caller_tenant`).
pub fn may_mint(
    caller: &[Role],
    caller_tenant: Option<&str>,
    roles: &[Role],
    tenant: Option<&str>,
) -> Result<(), ApiError> {
    for role in roles {
        if !caller.iter().any(|c| c.may_mint(*role)) {
            return Err(ApiError::forbidden(if *role == Role::Admin {
                "only admins mint admin tokens"
            } else {
                "a tenant owner mints only projectDev or readOnly tokens"
            }));
        }
    }
    if !caller.iter().any(|c| c.is_platform()) && tenant != caller_tenant {
        return Err(ApiError::forbidden(format!(
            "a tenant owner mints tokens only for its own tenant ({})",
            caller_tenant.unwrap_or_default()
        )));
    }
    Ok(())
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
    let caller_rank = Role::highest(&caller.claims.roles).unwrap_or(0);
    if role.rank() > caller_rank {
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

#[cfg(test)]
mod tests;
