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
pub mod login;
pub mod meta;
pub mod openapi;
pub mod path;
pub mod projects;
mod replace;
pub mod table;
pub mod tenants;
pub mod tokens;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::MethodRouter;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use self::error::ApiError;
pub use crate::services::state::{AppState, Settings};

/// The crate version, as `/version` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The whole service.
pub fn router(state: AppState) -> Router {
    let timeout = state.settings().request_timeout;
    let api = routes()
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
        .layer(middleware::from_fn(
            crate::services::audit::take_client_request_id,
        ))
        .with_state(state)
}

/// The router of every row of [`table::ROUTES`], the rows of one path merged.
fn routes() -> Router<AppState> {
    let mut paths: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for route in table::ROUTES {
        let handler = (route.handler)();
        match paths.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, methods)) => *methods = std::mem::take(methods).merge(handler),
            None => paths.push((route.path, handler)),
        }
    }
    paths
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
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
