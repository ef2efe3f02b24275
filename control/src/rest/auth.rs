//! Who is calling (API token verification) and whether the authorization table lets them.
//!
//! [`authorize`] runs on every matched route: it finds the route's row in [`table::ROUTES`],
//! checks the bearer token (signature, issuer, `aud` = `kubenova-api`, times, claims, not
//! revoked), the rate limit, the path parameters, and the role and scope rule; then it audits
//! the outcome. Handlers get the [`Principal`] and never make access decisions of their own.

use std::collections::HashMap;

use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kubenova_api::claims::API_AUDIENCE;
use kubenova_api::{Claims, Role, Scope, Verifier};
use serde_json::json;

use super::error::ApiError;
use super::table::{self, Level, Route};
use crate::services::audit::{ClientRequestId, Event, rfc3339_now};
use crate::services::state::{AppState, MANAGEMENT};

/// The verified caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's claims.
    pub claims: Claims,
    /// The token's scope.
    pub scope: Scope,
    /// Who minted the token (its record's `issuedBy`): the subject itself when it asked for
    /// its own token, else the person who minted it for them.
    pub issued_by: String,
}

impl Principal {
    /// The subject.
    pub fn sub(&self) -> &str {
        &self.claims.sub
    }

    /// Whether the token has `role`.
    pub fn has(&self, role: Role) -> bool {
        self.claims.roles.contains(&role)
    }

    /// Whether the token is platform-wide (admin or ops).
    pub fn is_platform(&self) -> bool {
        self.scope == Scope::Platform
    }

    /// Whether an object in `tenant`/`project` lies within the token's scope. Platform objects
    /// (no tenant) are covered only by platform tokens.
    pub fn covers(&self, tenant: Option<&str>, project: Option<&str>) -> bool {
        match &self.scope {
            Scope::Platform => true,
            Scope::Tenant { tenant: mine } => tenant == Some(mine.as_str()),
            Scope::Project {
                tenant: mine,
                project: my_project,
            } => tenant == Some(mine.as_str()) && project == Some(my_project.as_str()),
        }
    }

    /// `platform`, `tenant:<t>` or `project:<t>/<p>`.
    pub fn scope_label(&self) -> String {
        scope_label(&self.scope)
    }

    /// Seconds the token has left.
    pub fn remaining(&self) -> i64 {
        self.claims.exp - crate::services::keys::time_now()
    }

    /// The rate-limit bucket: the subject, and who minted the token when that was someone
    /// else, so nobody can spend another person's requests by minting tokens in their name.
    pub fn rate_key(&self) -> String {
        if self.issued_by == self.claims.sub {
            self.claims.sub.clone()
        } else {
            format!("{}\u{0}minted-by\u{0}{}", self.claims.sub, self.issued_by)
        }
    }

    /// The minter, for the audit log, when it is not the subject.
    pub fn minted_by(&self) -> Option<&str> {
        (self.issued_by != self.claims.sub).then_some(self.issued_by.as_str())
    }
}

/// `platform`, `tenant:<t>` or `project:<t>/<p>`.
pub fn scope_label(scope: &Scope) -> String {
    match scope {
        Scope::Platform => "platform".into(),
        Scope::Tenant { tenant } => format!("tenant:{tenant}"),
        Scope::Project { tenant, project } => format!("project:{tenant}/{project}"),
    }
}

/// Set by handlers on their response when they issued or revoked a token, for the audit log:
/// the token's `jti` and, for a token issued, its subject.
#[derive(Debug, Clone)]
pub struct AuditTokenId(pub String, pub Option<String>);

/// The path parameters, validated, for the scope decision (handlers read theirs with the typed
/// extractors of [`super::path`]).
#[derive(Debug, Clone, Default)]
struct PathNames {
    params: HashMap<String, String>,
}

impl PathNames {
    /// The parameter `name` (`c`, `t`, `p`, `a`, `jti`).
    fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Decides whether `principal` may call `route` with the tenant/project in the path.
pub fn decide(
    route: &Route,
    principal: &Principal,
    tenant: Option<&str>,
    project: Option<&str>,
) -> Result<(), ApiError> {
    let Some(role) = principal
        .claims
        .roles
        .iter()
        .find(|r| route.roles.contains(r))
    else {
        let have: Vec<&str> = principal.claims.roles.iter().map(|r| r.as_str()).collect();
        let need: Vec<&str> = route.roles.iter().map(|r| r.as_str()).collect();
        return Err(ApiError::forbidden(format!(
            "{} needs one of the roles {}; this token has {}",
            route.action,
            need.join(", "),
            have.join(", ")
        ))
        .with_details(json!({ "action": route.action, "required": need, "have": have })));
    };
    if role.is_platform() {
        return Ok(());
    }
    let outside = || {
        ApiError::forbidden(format!(
            "{} is outside this token's scope ({})",
            match (tenant, project) {
                (Some(t), Some(p)) => format!("project {t}/{p}"),
                (Some(t), None) => format!("tenant {t}"),
                _ => "this platform-wide endpoint".into(),
            },
            principal.scope_label()
        ))
        .with_details(json!({ "action": route.action, "scope": principal.scope_label() }))
    };
    let allowed = match route.level {
        Level::Public | Level::Own => true,
        Level::Platform => false,
        Level::Tenant => {
            matches!(&principal.scope, Scope::Tenant { tenant: mine } if Some(mine.as_str()) == tenant)
        }
        Level::Project => match &principal.scope {
            Scope::Tenant { tenant: mine } => Some(mine.as_str()) == tenant,
            Scope::Project {
                tenant: mine,
                project: my_project,
            } => Some(mine.as_str()) == tenant && Some(my_project.as_str()) == project,
            Scope::Platform => false,
        },
    };
    if allowed { Ok(()) } else { Err(outside()) }
}

/// Verifies an API token: signature, issuer, audience, times, claims, and its record (it must
/// have been issued here and not revoked).
pub async fn verify_api_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let keys = state.keys().current();
    let key_set = keys
        .key_set()
        .map_err(|e| ApiError::internal(format!("signing keys: {e:#}")))?;
    let settings = state.settings();
    let verifier = Verifier::new(settings.issuer.clone(), API_AUDIENCE)
        .with_leeway(settings.clock_skew.as_secs());
    let claims = verifier
        .verify(token, &key_set, crate::services::keys::time_now())
        .map_err(|e| ApiError::unauthorized(format!("invalid API token: {e}")))?;
    let scope = claims
        .scope()
        .map_err(|e| ApiError::unauthorized(format!("invalid API token: {e}")))?;
    let record = state
        .token_records()
        .get_opt(&claims.jti)
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?;
    match record {
        None => Err(ApiError::unauthorized(
            "invalid API token: it was not issued by this control plane (no record)",
        )),
        Some(r) if r.spec.revoked => Err(ApiError::unauthorized(
            "invalid API token: it has been revoked",
        )),
        Some(r) => Ok(Principal {
            claims,
            scope,
            issued_by: r.spec.issued_by,
        }),
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ApiError::unauthorized(
            "send exactly one `Authorization: Bearer <API token>` header",
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not ASCII"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <API token>`",
        )),
    }
}

fn validate_params(raw: &RawPathParams) -> Result<PathNames, ApiError> {
    let mut params = HashMap::new();
    for (key, value) in raw.iter() {
        let field = match key {
            "c" => "cluster",
            "t" => "tenant",
            "p" => "project",
            "a" => "app",
            "jti" => "token id",
            _ => key,
        };
        let checked = if key == "a" {
            // `<app>` or `<app>:<action>`.
            let name = value.split_once(':').map_or(value, |(name, _)| name);
            kubenova_api::names::validate_dns1123_label(field, name)
        } else {
            kubenova_api::names::validate_dns1123_label(field, value)
        };
        checked.map_err(|e| {
            ApiError::bad_request(format!("in the path: {e}"))
                .with_details(json!({ "parameter": field }))
        })?;
        params.insert(key.to_owned(), value.to_owned());
    }
    Ok(PathNames { params })
}

/// Whether the request carries a body (declared or streamed).
fn has_body(req: &Request) -> bool {
    use http_body::Body as _;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0");
    declared
        || req.headers().contains_key(header::TRANSFER_ENCODING)
        || req.body().size_hint().lower() > 0
}

/// The request id the request-id layer set.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The authorization middleware (see the module docs).
pub async fn authorize(
    State(state): State<AppState>,
    matched: MatchedPath,
    raw: RawPathParams,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let request_id = request_id(req.headers());
    let client_request_id = req
        .extensions()
        .get::<ClientRequestId>()
        .map(|c| c.0.clone());
    let target = format!("{} {}", method, req.uri().path());
    let Some(route) = table::lookup(&method, matched.as_str()) else {
        tracing::error!(path = matched.as_str(), %method, "route missing from the authorization table");
        return ApiError::forbidden("this route is not in the authorization table").into_response();
    };
    let mutating = table::is_mutating(&method);
    if route.level == Level::Public {
        let response = next.run(req).await;
        let status = response.status().as_u16();
        state.count(route.action, status);
        // A public route that changes something is a sign-in: recorded under the person a token
        // was issued to, or `anonymous` when it was refused.
        if mutating {
            let issued = response.extensions().get::<AuditTokenId>().cloned();
            let subject = issued.as_ref().and_then(|t| t.1.clone());
            state.audit().record(&Event {
                time: rfc3339_now(),
                request_id: &request_id,
                client_request_id: client_request_id.as_deref(),
                subject: subject.as_deref().unwrap_or("anonymous"),
                roles: Vec::new(),
                scope: "none".into(),
                action: route.action,
                target,
                result: status,
                token_id: issued.as_ref().map(|t| t.0.clone()),
                minted_by: None,
                issued_to: subject.as_deref(),
            });
        }
        return response;
    }
    let audit_failure = |err: ApiError, principal: Option<&Principal>| {
        state.count(route.action, err.status.as_u16());
        if mutating || route.action.starts_with("kubeconfigs.") {
            state.audit().record(&Event {
                time: rfc3339_now(),
                request_id: &request_id,
                client_request_id: client_request_id.as_deref(),
                subject: principal.map_or("anonymous", |p| p.sub()),
                roles: principal
                    .map(|p| p.claims.roles.iter().map(|r| r.to_string()).collect())
                    .unwrap_or_default(),
                scope: principal.map_or_else(|| "none".into(), Principal::scope_label),
                action: route.action,
                target: target.clone(),
                result: err.status.as_u16(),
                token_id: None,
                minted_by: principal.and_then(Principal::minted_by),
                issued_to: None,
            });
        }
        err.into_response()
    };
    let token = match bearer(req.headers()) {
        Ok(token) => token.to_owned(),
        Err(e) => return audit_failure(e, None),
    };
    let principal = match verify_api_token(&state, &token).await {
        Ok(p) => p,
        Err(e) => return audit_failure(e, None),
    };
    if let Err(wait) = state.take_token(&principal.rate_key()) {
        return audit_failure(ApiError::too_many_requests(wait), Some(&principal));
    }
    let names = match validate_params(&raw) {
        Ok(n) => n,
        Err(e) => return audit_failure(e, Some(&principal)),
    };
    if let Err(e) = decide(route, &principal, names.get("t"), names.get("p")) {
        return audit_failure(e, Some(&principal));
    }
    if matches!(method, Method::GET | Method::HEAD | Method::DELETE) && has_body(&req) {
        return audit_failure(
            ApiError::bad_request(format!(
                "{method} takes no request body; send the request without one"
            )),
            Some(&principal),
        );
    }
    req.extensions_mut().insert(principal.clone());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    state.count(route.action, status);
    let issued = response.extensions().get::<AuditTokenId>().cloned();
    let token_id = issued.as_ref().map(|t| t.0.clone());
    let issued_to = issued.and_then(|t| t.1);
    if mutating || token_id.is_some() || route.action.starts_with("kubeconfigs.") {
        state.audit().record(&Event {
            time: rfc3339_now(),
            request_id: &request_id,
            client_request_id: client_request_id.as_deref(),
            subject: principal.sub(),
            roles: principal
                .claims
                .roles
                .iter()
                .map(|r| r.to_string())
                .collect(),
            scope: principal.scope_label(),
            action: route.action,
            target,
            result: status,
            token_id,
            minted_by: principal.minted_by(),
            issued_to: issued_to.as_deref(),
        });
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn principal(roles: &[Role], tenant: Option<&str>, project: Option<&str>) -> Principal {
        let claims = Claims {
            iss: "i".into(),
            sub: "s".into(),
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
        let scope = claims.scope().expect("valid");
        Principal {
            claims,
            scope,
            issued_by: "s".into(),
        }
    }

    #[test]
    fn decide_applies_roles_then_scope() {
        let route = |m: Method, p: &str| table::lookup(&m, p).expect("route");
        let owner = principal(&[Role::TenantOwner], Some("acme"), None);
        let dev = principal(&[Role::ProjectDev], Some("acme"), Some("shop"));
        let reader = principal(&[Role::ReadOnly], Some("acme"), Some("shop"));
        let ops = principal(&[Role::Ops], None, None);
        let projects = route(Method::GET, "/api/v1/clusters/{c}/tenants/{t}/projects/{p}");
        let kubeconfig = route(
            Method::GET,
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/kubeconfig",
        );
        let access = route(
            Method::PUT,
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/access",
        );
        let admin_kc = route(Method::GET, "/api/v1/clusters/{c}/kubeconfig");
        let ok =
            |r: &Route, p: &Principal, t: &str, pr: &str| decide(r, p, Some(t), Some(pr)).is_ok();
        assert!(ok(projects, &owner, "acme", "any"));
        assert!(!ok(projects, &owner, "other", "shop"));
        assert!(
            !ok(projects, &dev, "acme", "shop"),
            "projectDev: only apps and kubeconfig"
        );
        assert!(ok(kubeconfig, &dev, "acme", "shop"));
        assert!(!ok(kubeconfig, &dev, "acme", "other"));
        assert!(ok(projects, &reader, "acme", "shop"));
        assert!(!ok(access, &reader, "acme", "shop"), "readOnly: only GETs");
        assert!(ok(access, &ops, "anything", "at-all"));
        assert!(
            decide(admin_kc, &ops, None, None).is_err(),
            "ops never reads cluster kubeconfigs"
        );
    }

    #[test]
    fn bearer_needs_exactly_one_bearer_header() {
        let mut headers = HeaderMap::new();
        assert!(bearer(&headers).is_err());
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer(&headers).is_err());
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&headers).ok(), Some("abc"));
        headers.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer def"),
        );
        assert!(bearer(&headers).is_err());
    }
}
