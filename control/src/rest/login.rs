//! Signing in through an OpenID Connect provider (issue 19, ADR 0023): a person's ID token is
//! exchanged for a KubeNova API token whose role and scope come from the provider's groups
//! ([`crate::services::oidc`]). The token is recorded like every other issued token, with
//! `issuedBy: oidc:<provider>`; an ID token is exchanged at most once (the token's `jti` is made
//! from it, and a second record of the same `jti` is refused), so a replayed ID token, also one
//! whose sign-in was revoked, gets nothing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kube::Api;
use kubenova_api::Role;
use kubenova_api::crd::{IssuedToken, TokenKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::body::Json;
use super::error::ApiError;
use super::tenants::validate_subject;
use super::tokens::issuing::{Issue, issue_as, ttl};
use crate::services::audit::rfc3339;
use crate::services::keys::time_now;
use crate::services::oidc::{Grant, Oidc, Refused, grants};
use crate::services::state::{AppState, MANAGEMENT};

/// An identity provider people may sign in through.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    /// Its name here.
    pub name: String,
    /// Its issuer URL (discovery is under it).
    pub issuer_url: String,
    /// The client id to sign in with (a public client: authorization code with PKCE, or the
    /// device flow).
    pub client_id: String,
    /// The scopes to ask for.
    pub scopes: Vec<String>,
}

/// The identity providers this server trusts (empty when none is configured).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Providers {
    /// The providers.
    pub providers: Vec<ProviderView>,
}

/// An ID token to exchange, and which of the person's scopes to sign in to.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginInput {
    /// The provider's ID token (a JWT).
    pub id_token: String,
    /// The tenant to sign in to, when the person's groups give several scopes.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The project (with `tenant`).
    #[serde(default)]
    pub project: Option<String>,
    /// The API token's lifetime in seconds (default: the server's session lifetime,
    /// `--session-ttl`).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
}

/// The API token a sign-in gives. The token is shown once and never stored.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginView {
    /// The bearer token for `/api/v1`.
    pub token: String,
    /// Its id (revoke it with `DELETE /api/v1/tokens/{jti}`).
    pub jti: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
    /// Who it is for: the provider's username claim.
    pub subject: String,
    /// The role the person's groups give.
    pub role: Role,
    /// Its tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Its project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The provider signed in through.
    pub provider: String,
}

/// `GET /api/v1/login/oidc`: the providers people may sign in through.
pub async fn providers(State(state): State<AppState>) -> axum::Json<Providers> {
    let providers = state
        .settings()
        .oidc
        .as_ref()
        .map(|oidc| {
            oidc.issuers()
                .map(|i| ProviderView {
                    name: i.name.clone(),
                    issuer_url: i.issuer_url.clone(),
                    client_id: i.client_id.clone(),
                    scopes: i.scopes.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    axum::Json(Providers { providers })
}

/// `POST /api/v1/login/oidc`: exchanges an ID token for an API token.
pub async fn oidc(
    State(state): State<AppState>,
    Json(input): Json<LoginInput>,
) -> Result<Response, ApiError> {
    let oidc: &Oidc = state.settings().oidc.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "sign-in through an identity provider is not configured on this server \
             (kubenova-control --oidc-config); ask an admin for an API token",
        )
    })?;
    let person =
        oidc.verify(&input.id_token, time_now())
            .await
            .map_err(|refused| match refused {
                Refused::Unreachable(..) => {
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, refused.to_string())
                }
                other => ApiError::unauthorized(other.to_string()),
            })?;
    let mapping = oidc.mapping(&person.issuer);
    let granted = grants(mapping, &person.groups);
    if granted.is_empty() {
        let mut mapped: Vec<&str> = mapping.iter().map(|m| m.group.as_str()).collect();
        mapped.dedup();
        return Err(ApiError::forbidden(format!(
            "none of your groups at `{}` ({}) gives a KubeNova role; ask to be added to one of: {}",
            person.issuer,
            if person.groups.is_empty() {
                "you are in none".to_owned()
            } else {
                person.groups.join(", ")
            },
            mapped.join(", ")
        )));
    }
    let grant = choose(&granted, input.tenant.as_deref(), input.project.as_deref())?;
    validate_subject("username", &person.username).map_err(|_| {
        ApiError::forbidden(format!(
            "your username at `{}` cannot name a KubeNova subject (no ':' or control \
             characters); an admin can set the provider's usernameClaim to another claim",
            person.issuer
        ))
    })?;
    let settings = state.settings();
    let ttl_seconds = ttl(
        input.ttl_seconds,
        settings.session_ttl,
        settings.max_api_token_ttl,
        i64::MAX,
    )?;
    let records: Api<IssuedToken> = state.token_records();
    let jti = single_use_jti(&input.id_token);
    if records
        .get_opt(&jti)
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?
        .is_some()
    {
        return Err(already_used());
    }
    let (token, claims) = issue_as(
        &records,
        state.keys(),
        &settings.issuer,
        Issue {
            kind: TokenKind::Api,
            subject: person.username.clone(),
            roles: vec![grant.role],
            tenant: grant.tenant.clone(),
            project: grant.project.clone(),
            cluster: None,
            ttl_seconds,
            issued_by: format!("oidc:{}", person.issuer),
            issued_by_jti: None,
            not_after: None,
        },
        jti,
    )
    .await
    .map_err(|e| {
        if e.status == StatusCode::CONFLICT {
            already_used()
        } else {
            e
        }
    })?;
    let view = LoginView {
        token,
        jti: claims.jti,
        expires_at: rfc3339(claims.exp),
        subject: claims.sub,
        role: grant.role,
        tenant: grant.tenant,
        project: grant.project,
        provider: person.issuer,
    };
    // The audit log names the sign-in by the token it issued and the person it went to.
    let audit = super::auth::AuditTokenId(view.jti.clone(), Some(view.subject.clone()));
    let mut response = (StatusCode::CREATED, axum::Json(view)).into_response();
    response.extensions_mut().insert(audit);
    Ok(response)
}

fn already_used() -> ApiError {
    ApiError::unauthorized(
        "this ID token was exchanged before (each is good for one sign-in); sign in again",
    )
}

/// The `jti` of the API token an ID token is exchanged for: the first 32 hex digits of its
/// SHA-256 (a valid object name, so recording a second exchange conflicts).
fn single_use_jti(id_token: &str) -> String {
    Sha256::digest(id_token.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Which of the person's grants to sign in with: the one `tenant`/`project` name, else a
/// platform role (the first, admin before ops), else the only one.
fn choose(
    granted: &[Grant],
    tenant: Option<&str>,
    project: Option<&str>,
) -> Result<Grant, ApiError> {
    let describe = |g: &Grant| match (&g.tenant, &g.project) {
        (None, _) => format!("{:?} (platform)", g.role),
        (Some(t), None) => format!("{:?} in tenant {t}", g.role),
        (Some(t), Some(p)) => format!("{:?} in project {t}/{p}", g.role),
    };
    let choices = || granted.iter().map(describe).collect::<Vec<_>>().join("; ");
    if project.is_some() && tenant.is_none() {
        return Err(ApiError::invalid("project", "name its tenant too"));
    }
    if let Some(t) = tenant {
        return granted
            .iter()
            .find(|g| g.tenant.as_deref() == Some(t) && g.project.as_deref() == project)
            .cloned()
            .ok_or_else(|| {
                ApiError::forbidden(format!(
                    "your groups give no role in {}; they give: {}",
                    match project {
                        Some(p) => format!("project {t}/{p}"),
                        None => format!("tenant {t}"),
                    },
                    choices()
                ))
            });
    }
    if let Some(platform) = granted.iter().find(|g| g.tenant.is_none()) {
        return Ok(platform.clone());
    }
    match granted {
        [only] => Ok(only.clone()),
        _ => Err(ApiError::invalid(
            "tenant",
            format!(
                "your groups give several scopes; name one with `tenant` (and `project`): {}",
                choices()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(role: Role, tenant: Option<&str>, project: Option<&str>) -> Grant {
        Grant {
            role,
            tenant: tenant.map(str::to_owned),
            project: project.map(str::to_owned),
        }
    }

    #[test]
    fn the_scope_signed_in_to() {
        let owner = grant(Role::TenantOwner, Some("acme"), None);
        let dev = grant(Role::ProjectDev, Some("acme"), Some("web"));
        let admin = grant(Role::Admin, None, None);
        let both = [owner.clone(), dev.clone()];
        assert_eq!(
            choose(std::slice::from_ref(&owner), None, None).ok(),
            Some(owner.clone())
        );
        assert_eq!(choose(&both, Some("acme"), None).ok(), Some(owner.clone()));
        assert_eq!(choose(&both, Some("acme"), Some("web")).ok(), Some(dev));
        assert_eq!(
            choose(&[owner.clone(), admin.clone()], None, None).ok(),
            Some(admin)
        );
        let several = choose(&both, None, None).expect_err("ambiguous");
        assert_eq!(several.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            several
                .message
                .contains("TenantOwner in tenant acme; ProjectDev in project acme/web"),
            "{}",
            several.message
        );
        let other = choose(&both, Some("other"), None).expect_err("not granted");
        assert_eq!(other.status, StatusCode::FORBIDDEN);
        assert!(other.message.contains("no role in tenant other"));
        assert_eq!(
            choose(&both, None, Some("web"))
                .expect_err("no tenant")
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn an_id_token_names_one_jti() {
        let a = single_use_jti("header.payload.signature");
        assert_eq!(a.len(), 32);
        assert_eq!(a, single_use_jti("header.payload.signature"));
        assert_ne!(a, single_use_jti("header.payload.other"));
        kubenova_api::names::validate_dns1123_label("jti", &a).expect("an object name");
    }
}
