//! The public endpoints: health, readiness, version, metrics, the JWKS and the OpenAPI document.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemars::SchemaGenerator;
use serde_json::{Value, json};

use super::dto::VersionView;
use crate::services::state::AppState;

/// `GET /healthz`.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the management cluster answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.mgmt().apiserver_version().await {
        Ok(_) => "ok".into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the management cluster does not answer: {e}"),
        )
            .into_response(),
    }
}

/// `GET /version`.
pub async fn version() -> axum::Json<VersionView> {
    axum::Json(VersionView {
        version: super::VERSION.into(),
    })
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics_text().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// `GET /.well-known/jwks.json`.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(state.keys().current().jwks()).into_response();
    // Proxies re-read it every few seconds; no cache in between may hide a rotation.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi_json() -> Response {
    axum::Json(super::openapi::document()).into_response()
}

/// The JWKS's schema (RFC 7517).
pub fn jwks_schema(_: &mut SchemaGenerator) -> Value {
    json!({"type": "object", "description": "JWKS (RFC 7517): {\"keys\": [...]}",
           "properties": {"keys": {"type": "array", "items": {"type": "object"}}}})
}

/// The OpenAPI document's schema.
pub fn openapi_schema(_: &mut SchemaGenerator) -> Value {
    json!({"type": "object", "description": "This document, as JSON (OpenAPI 3.0)"})
}
