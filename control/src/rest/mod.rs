//! The `/api/v1` REST API (axum): clusters, tenants, projects, kubeconfigs, tokens, and the
//! route table the apps endpoints plug into.
//!
//! Layers, outermost first: the client's `x-request-id` taken aside (kept for the audit log as
//! `clientRequestId` when bounded), request id (always ours, echoed in `x-request-id`), the error envelope
//! (every failure becomes `{"code","message","details","requestId"}`), head limits
//! ([`head::check_head`]: 431, 414), timeout, body limit
//! (1 MiB, 413), then per route the authorization middleware ([`auth::authorize`]) that enforces
//! [`table::ROUTES`].

pub mod apps;
pub mod audit;
pub mod auth;
pub mod body;
pub mod clusters;
pub mod dto;
pub mod error;
pub mod head;
pub mod keys;
pub mod openapi;
mod replace;
pub mod state;
pub mod table;
pub mod tenants;
pub mod tokens;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use self::error::ApiError;
pub use self::state::{AppState, Settings};

/// The crate version, as `/version` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole service.
pub fn router(state: AppState) -> Router {
    let timeout = state.settings().request_timeout;
    let api = routes()
        .into_iter()
        .fold(Router::new(), |router, (path, method_router)| {
            router.route(path, method_router)
        })
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .fallback(|| async { error::for_status(StatusCode::NOT_FOUND) })
        .method_not_allowed_fallback(|| async {
            error::for_status(StatusCode::METHOD_NOT_ALLOWED)
        });
    api.layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(body::MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn(head::check_head))
        .layer(middleware::from_fn(envelope))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::from_fn(audit::take_client_request_id))
        .with_state(state)
}

/// Every path with its handlers. [`table::ROUTES`] must list each (method, path) pair; the
/// authorization middleware refuses any that it does not.
fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/healthz", get(|| async { "ok" })),
        ("/readyz", get(readyz)),
        (
            "/version",
            get(|| async {
                axum::Json(dto::VersionView {
                    version: VERSION.into(),
                })
            }),
        ),
        ("/metrics", get(metrics)),
        ("/.well-known/jwks.json", get(jwks)),
        ("/api/v1/openapi.json", get(openapi_json)),
        (
            "/api/v1/clusters",
            post(clusters::create).get(clusters::list),
        ),
        (
            "/api/v1/clusters/{c}",
            get(clusters::get).delete(clusters::delete),
        ),
        ("/api/v1/clusters/{c}/kubeconfig", get(clusters::kubeconfig)),
        (
            "/api/v1/clusters/{c}/tenants",
            post(tenants::create).get(tenants::list),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}",
            get(tenants::get)
                .put(tenants::update)
                .delete(tenants::delete),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/owners",
            put(tenants::owners),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/quotas",
            put(tenants::quotas),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/limits",
            put(tenants::limits),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/network-policies",
            put(tenants::network_policies),
        ),
        ("/api/v1/tenants/{t}/usage", get(tenants::usage)),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects",
            post(tenants::create_project).get(tenants::list_projects),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}",
            get(tenants::get_project)
                .put(tenants::update_project_settings)
                .delete(tenants::delete_project),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/access",
            put(tenants::access),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/usage",
            get(tenants::project_usage),
        ),
        (
            "/api/v1/tenants/{t}/kubeconfig",
            post(tokens::tenant_kubeconfig_short),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/kubeconfig",
            post(tokens::tenant_kubeconfig),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/kubeconfig",
            get(tokens::project_kubeconfig).post(tokens::project_kubeconfig),
        ),
        ("/api/v1/tokens", get(tokens::list).post(tokens::create)),
        ("/api/v1/tokens/{jti}", delete(tokens::revoke)),
        ("/api/v1/me", get(tokens::me)),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps",
            post(apps::create).get(apps::list),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}",
            get(apps::get)
                .put(apps::update)
                .delete(apps::delete)
                .post(apps::action),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/traits",
            put(apps::traits),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/policies",
            put(apps::policies),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/status",
            get(apps::status),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/revisions",
            get(apps::revisions),
        ),
        (
            "/api/v1/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}/logs",
            get(apps::logs),
        ),
    ]
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.mgmt().apiserver_version().await {
        Ok(_) => "ok".into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the management cluster does not answer: {e}"),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics_text().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(state.keys().current().jwks()).into_response();
    // Proxies re-read it every few seconds; no cache in between may hide a rotation.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn openapi_json() -> Response {
    axum::Json(openapi::document()).into_response()
}

/// Renders every error as the envelope with the request id, including responses that did not
/// come from an [`ApiError`] (axum's 404/405, tower-http's 413 and 408).
async fn envelope(req: Request, next: Next) -> Response {
    let request_id = auth::request_id(req.headers());
    let response = next.run(req).await;
    let status = response.status();
    if let Some(err) = response.extensions().get::<ApiError>() {
        let mut rendered = err.render(&request_id);
        if err.status.is_server_error() && err.status != StatusCode::NOT_IMPLEMENTED {
            tracing::warn!(request_id, code = %err.code(), "{}", err.message);
        }
        *rendered.status_mut() = err.status;
        return rendered;
    }
    if status.is_client_error() || status.is_server_error() {
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if !is_json {
            return error::for_status(status).render(&request_id);
        }
    }
    response
}
